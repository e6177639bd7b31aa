"""/knowledge/[collection_id]: upload documents, watch them being indexed, search them."""

from __future__ import annotations

from typing import cast

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.format import human_size, plural
from galaxyco_ui.components.knowledge import collection_dialog, download_link, item_status, search_panel
from galaxyco_ui.components.layout import back_link, empty_state
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.components.upload import limits_text, upload_panel, upload_zone
from galaxyco_ui.services.knowledge import CollectionView, ItemView
from galaxyco_ui.states.knowledge import CollectionFormState
from galaxyco_ui.states.knowledge_collection import CollectionState

# ---------------------------------------------------------------- items


def _collection() -> ObjectVar[CollectionView]:
    # At runtime the state var is an ObjectVar; mypy reads a model-typed state var as the
    # model (reflex's typed rx.Field overloads resolve scalars and lists only, under mypy).
    return cast("ObjectVar[CollectionView]", CollectionState.collection)


def _item_actions(item: ObjectVar[ItemView]) -> rx.Component:
    return rx.hstack(
        rx.cond(
            item.can_edit & (item.status != "queued") & (item.status != "processing"),
            rx.icon_button(
                rx.icon("refresh-cw", size=16),
                variant="ghost",
                color_scheme="gray",
                aria_label="Re-index " + item.name.to(str),
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
                    aria_label="Delete " + item.name.to(str),
                    title="Delete",
                ),
                title="Delete this document?",
                body="“"
                + item.name.to(str)
                + "” and its "
                + plural(item.chunk_count, "chunk")
                + " will be deleted; "
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
    return rx.text(rx.cond(value.is_not_none(), value.to_string(), "—"), size="2")


def _item_row(item: ObjectVar[ItemView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.link(
                item.name,
                href="/knowledge/items/" + item.id.to(str),
                weight="medium",
                class_name="gx-item-name",
            )
        ),
        rx.table.cell(rx.text(item.kind_label, size="2")),
        rx.table.cell(rx.text(human_size(item.size_bytes), size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item.uploaded_by_name, size="2")),
        rx.table.cell(item_status(item)),
        rx.table.cell(rx.text(rx.cond(item.status == "ready", item.chunk_count.to_string(), "—"), size="2")),
        rx.table.cell(_dash_or(item.page_count)),
        rx.table.cell(rx.moment(item.created_at, from_now=True, size="2")),
        rx.table.cell(_item_actions(item)),
        align="center",
    )


def _items() -> rx.Component:
    empty = empty_state(
        "file-stack",
        "No documents yet",
        f"Upload {limits_text()[0].lower()}{limits_text()[1:]} "
        "Each one is split into passages and indexed; agents that use this collection search "
        "them and cite what they find. The same file is only stored once per collection.",
    )
    empty_viewer = empty_state(
        "file-stack",
        "No documents yet",
        "Members and admins can upload documents to this collection.",
    )
    return rx.cond(
        CollectionState.items.length() > 0,
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
    c = _collection()
    return rx.cond(
        CollectionState.found & c.can_edit,
        rx.hstack(
            rx.button(
                rx.icon("pencil", size=16),
                "Edit",
                variant="soft",
                on_click=CollectionFormState.open_edit(c.id, c.name, c.description),  # type: ignore[operator]  # rx.event handler: untyped to mypy
            ),
            confirm_dialog(
                rx.button(rx.icon("trash-2", size=16), "Delete", color_scheme="red", variant="soft"),
                title="Delete this collection?",
                body="“"
                + c.name.to(str)
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
    c = _collection()
    return rx.vstack(
        back_link("All collections", "/knowledge"),
        rx.cond(c.description != "", rx.text(c.description, size="3")),
        rx.text(
            plural(c.item_count, "document"),
            " · ",
            human_size(c.size_bytes),
            rx.cond(c.created_by_name != "", " · created by " + c.created_by_name.to(str), ""),
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
                    upload_zone(),
                    upload_panel(),
                    spacing="3",
                    width="100%",
                ),
                width="100%",
            ),
        ),
        rx.heading("Documents", size="4", as_="h2"),
        _items(),
        rx.cond(CollectionState.items.length() > 0, search),
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
