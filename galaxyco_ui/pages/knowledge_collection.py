"""/knowledge/[collection_id]: upload documents, watch them being indexed, search them."""

from __future__ import annotations

import reflex as rx
from reflex.vars import FunctionStringVar
from reflex_base.event import parse_args_spec, passthrough_event_spec

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.format import human_size, plural
from galaxyco_ui.components.knowledge import collection_dialog, download_link, item_status, search_panel
from galaxyco_ui.components.layout import back_link, empty_state
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.config import get_settings
from galaxyco_ui.knowledge.storage import MAX_FILES_PER_UPLOAD, max_upload_bytes
from galaxyco_ui.services.knowledge import ItemView
from galaxyco_ui.states.knowledge import CollectionFormState
from galaxyco_ui.states.knowledge_collection import CollectionState
from galaxyco_ui.states.knowledge_upload import (
    UPLOAD_ID,
    UploadRow,
    allowed_type_labels,
    upload_accept,
)

# What the backend needs of a drop, computed in the browser (File objects do not
# serialise): each accepted file's name and size, and why each rejected one was refused.
_FILES_META = FunctionStringVar.create("(fs) => fs.map((f) => ({name: f.name, size: f.size}))")
# The accepted files as the drop zone's onDrop receives them. rx.upload does not accept
# a lambda in a list of on_drop events, so the argument is named directly.
_DROPPED = parse_args_spec(passthrough_event_spec(list[rx.UploadFile]))[0][0]
_REJECTED_META = FunctionStringVar.create(
    "(rs) => rs.map((r) => ({name: r.file.name, size: r.file.size, codes: r.errors.map((e) => e.code)}))"
)


def _limits_text() -> str:
    settings = get_settings()
    return f"{allowed_type_labels()} files, up to {settings.knowledge_max_upload_mb} MB each."


# ---------------------------------------------------------------- upload


def _upload_zone() -> rx.Component:
    return rx.upload.root(
        rx.vstack(
            rx.icon("cloud-upload", size=32, aria_hidden="true", class_name="gx-muted"),
            rx.text(
                rx.cond(CollectionState.uploading, "Uploading…", "Drag and drop files here"),
                size="3",
                weight="medium",
            ),
            rx.text(_limits_text(), size="2", color_scheme="gray"),
            rx.button(
                rx.icon("folder-open", size=16, aria_hidden="true"),
                "Choose files",
                type="button",
                variant="soft",
                disabled=CollectionState.uploading,
                aria_label="Choose files to upload",
            ),
            align="center",
            spacing="2",
        ),
        id=UPLOAD_ID,
        accept=upload_accept(),
        max_size=max_upload_bytes(),
        max_files=MAX_FILES_PER_UPLOAD,
        multiple=True,
        # The button inside is the keyboard path; the zone itself is not a second tab stop.
        no_keyboard=True,
        disabled=CollectionState.uploading,
        on_drop=[
            CollectionState.begin_upload(_FILES_META.call(_DROPPED)),
            CollectionState.handle_upload(
                rx.upload_files(upload_id=UPLOAD_ID, on_upload_progress=CollectionState.upload_progress)
            ),
        ],
        on_drop_rejected=lambda rejected: CollectionState.rejected_files(_REJECTED_META.call(rejected)),
        drag_active_style={"border_color": "var(--accent-9)", "background": "var(--accent-a3)"},
        class_name="gx-dropzone",
    )


def _upload_state(row: UploadRow) -> rx.Component:
    return rx.match(
        row.state,
        (
            "uploading",
            rx.hstack(
                rx.progress(
                    value=row.progress, max=100, width="160px", aria_label="Upload progress of " + row.name
                ),
                rx.text(row.progress.to_string() + "%", size="1", color_scheme="gray", class_name="gx-code"),  # type: ignore[attr-defined]
                align="center",
                spacing="2",
            ),
        ),
        (
            "processing",
            rx.hstack(
                rx.spinner(size="1"), rx.text("Checking and storing…", size="2"), align="center", spacing="2"
            ),
        ),
        (
            "added",
            rx.hstack(
                rx.icon("circle-check", size=16, color="var(--green-11)", aria_hidden="true"),
                rx.text("Added", size="2", color_scheme="green", weight="medium"),
                rx.match(
                    row.indexed,
                    ("ready", rx.text("— indexed", size="2", color_scheme="gray")),
                    ("failed", rx.text("— indexing failed, see below", size="2", color_scheme="red")),
                    rx.text("— indexing now", size="2", color_scheme="gray"),
                ),
                align="center",
                spacing="1",
            ),
        ),
        (
            "duplicate",
            rx.hstack(
                rx.icon("copy", size=16, color="var(--amber-11)", aria_hidden="true"),
                rx.text("Already in this collection", size="2", color_scheme="amber", weight="medium"),
                rx.cond(
                    row.item_id != "",
                    rx.link("open it", href="/knowledge/items/" + row.item_id, size="2"),
                ),
                align="center",
                spacing="1",
            ),
        ),
        rx.hstack(
            rx.icon("circle-x", size=16, color="var(--red-11)", aria_hidden="true"),
            rx.text(row.message, size="2", color_scheme="red"),
            align="center",
            spacing="1",
        ),
    )


def _upload_row(row: UploadRow) -> rx.Component:
    return rx.el.li(
        rx.hstack(
            rx.icon("file-text", size=16, aria_hidden="true", class_name="gx-muted"),
            rx.text(row.name, size="2", weight="medium", class_name="gx-upload-name"),
            rx.text(human_size(row.size), size="1", color_scheme="gray", white_space="nowrap"),
            rx.spacer(),
            _upload_state(row),
            align="center",
            spacing="2",
            width="100%",
            wrap="wrap",
        ),
        class_name="gx-upload-row",
    )


def _upload_panel() -> rx.Component:
    return rx.cond(
        CollectionState.uploads.length() > 0,  # type: ignore[attr-defined]
        rx.box(
            rx.hstack(
                rx.heading(
                    rx.cond(CollectionState.uploading, "Uploading", "Last upload"), size="3", as_="h3"
                ),
                rx.spacer(),
                rx.cond(
                    CollectionState.uploading,
                    rx.button(
                        "Cancel upload",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        on_click=CollectionState.cancel_upload,
                    ),
                    rx.icon_button(
                        rx.icon("x", size=14),
                        size="1",
                        variant="ghost",
                        color_scheme="gray",
                        aria_label="Dismiss upload results",
                        on_click=CollectionState.dismiss_uploads,
                    ),
                ),
                align="center",
                width="100%",
            ),
            rx.el.ul(rx.foreach(CollectionState.uploads, _upload_row), class_name="gx-upload-list"),
            aria_live="polite",
            class_name="gx-upload-panel",
            width="100%",
        ),
    )


# ---------------------------------------------------------------- items


def _item_actions(item: ItemView) -> rx.Component:
    return rx.hstack(
        rx.cond(
            item.can_edit & (item.status != "queued") & (item.status != "processing"),
            rx.icon_button(
                rx.icon("refresh-cw", size=16),
                variant="ghost",
                color_scheme="gray",
                aria_label="Re-index " + item.name,
                title="Re-index",
                on_click=CollectionState.reindex(item.id),
            ),
        ),
        download_link(item.id, item.name),
        rx.cond(
            item.can_edit,
            confirm_dialog(
                rx.icon_button(
                    rx.icon("trash-2", size=16),
                    variant="ghost",
                    color_scheme="red",
                    aria_label="Delete " + item.name,
                    title="Delete",
                ),
                title="Delete this document?",
                body="“" + item.name + "” and its " + plural(item.chunk_count, "chunk") + " will be deleted; "
                "agents will no longer find it. This cannot be undone.",
                confirm_label="Delete document",
                on_confirm=CollectionState.delete_item(item.id),
                cancel_label="Keep it",
            ),
        ),
        spacing="3",
        align="center",
        justify="end",
    )


def _dash_or(value: rx.Var) -> rx.Component:
    return rx.text(rx.cond(value.is_not_none(), value.to_string(), "—"), size="2")  # type: ignore[attr-defined]


def _item_row(item: ItemView) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.link(item.name, href="/knowledge/items/" + item.id, weight="medium", class_name="gx-item-name")
        ),
        rx.table.cell(rx.text(item.kind_label, size="2")),
        rx.table.cell(rx.text(human_size(item.size_bytes), size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item.uploaded_by_name, size="2")),
        rx.table.cell(item_status(item)),
        rx.table.cell(rx.text(rx.cond(item.status == "ready", item.chunk_count.to_string(), "—"), size="2")),  # type: ignore[attr-defined]
        rx.table.cell(_dash_or(item.page_count)),
        rx.table.cell(rx.moment(item.created_at, from_now=True, size="2")),
        rx.table.cell(_item_actions(item)),
        align="center",
    )


def _items() -> rx.Component:
    empty = empty_state(
        "file-stack",
        "No documents yet",
        f"Upload {_limits_text()[0].lower()}{_limits_text()[1:]} "
        "Each one is split into passages and indexed; agents that use this collection search "
        "them and cite what they find. The same file is only stored once per collection.",
    )
    empty_viewer = empty_state(
        "file-stack",
        "No documents yet",
        "Members and admins can upload documents to this collection.",
    )
    return rx.cond(
        CollectionState.items.length() > 0,  # type: ignore[attr-defined]
        data_table(
            ["Name", "Type", "Size", "Uploaded by", "Status", "Chunks", "Pages", "Uploaded", ""],
            CollectionState.items,
            _item_row,
            variant="surface",
        ),
        rx.cond(CollectionState.can_upload, empty, empty_viewer),
    )


# ---------------------------------------------------------------- header


def _header_actions() -> rx.Component:
    c = CollectionState.collection
    return rx.cond(
        CollectionState.found & c.can_edit,
        rx.hstack(
            rx.button(
                rx.icon("pencil", size=16),
                "Edit",
                variant="soft",
                on_click=CollectionFormState.open_edit(c.id, c.name, c.description),
            ),
            confirm_dialog(
                rx.button(rx.icon("trash-2", size=16), "Delete", color_scheme="red", variant="soft"),
                title="Delete this collection?",
                body="“"
                + c.name
                + "” and the "
                + plural(c.item_count, "document")
                + " in it will be deleted, "
                "and agents will stop searching it. This cannot be undone.",
                confirm_label="Delete collection",
                on_confirm=CollectionState.delete_collection,
                cancel_label="Keep it",
            ),
            spacing="2",
        ),
    )


def _summary() -> rx.Component:
    c = CollectionState.collection
    return rx.vstack(
        back_link("All collections", "/knowledge"),
        rx.cond(c.description != "", rx.text(c.description, size="3")),
        rx.text(
            plural(c.item_count, "document"),
            " · ",
            human_size(c.size_bytes),
            rx.cond(c.created_by_name != "", " · created by " + c.created_by_name, ""),
            size="2",
            color_scheme="gray",
        ),
        spacing="2",
        width="100%",
    )


def collection_page() -> rx.Component:
    not_found = empty_state(
        "circle-help",
        "Collection not found",
        "It may have been deleted, or it belongs to another workspace.",
        rx.link(rx.button("Back to knowledge", tab_index=-1), href="/knowledge"),
    )
    search = search_panel(
        CollectionState,
        title="Search this collection",
        label="Search this collection",
        input_id="collection-search",
        placeholder="Search the documents in this collection",
        show_collection=False,
    )
    body = rx.vstack(
        _summary(),
        rx.cond(
            CollectionState.can_upload,
            rx.card(
                rx.vstack(
                    rx.heading("Upload documents", size="4", as_="h2"),
                    _upload_zone(),
                    _upload_panel(),
                    spacing="3",
                    width="100%",
                ),
                width="100%",
            ),
        ),
        rx.heading("Documents", size="4", as_="h2"),
        _items(),
        rx.cond(CollectionState.items.length() > 0, search),  # type: ignore[attr-defined]
        spacing="4",
        width="100%",
    )
    return shell(
        rx.cond(CollectionState.found, CollectionState.collection.name, "Collection not found"),
        rx.cond(
            CollectionState.loaded,
            rx.cond(CollectionState.found, body, not_found),
            rx.center(rx.spinner(), width="100%"),
        ),
        collection_dialog(),
        actions=_header_actions(),
    )
