"""The upload zone of a collection's page and the per-file progress of the last upload."""

from __future__ import annotations

import reflex as rx
from reflex.vars import FunctionStringVar, FunctionVar, ObjectVar
from reflex_base.event import parse_args_spec, passthrough_event_spec

from galaxyco_ui.components.format import human_size
from galaxyco_ui.config import get_settings
from galaxyco_ui.knowledge.storage import MAX_FILES_PER_UPLOAD, max_upload_bytes
from galaxyco_ui.states.knowledge_collection import CollectionState
from galaxyco_ui.states.knowledge_upload import (
    UPLOAD_ID,
    UploadRow,
    allowed_type_labels,
    upload_accept,
)

# What the backend needs of a drop, computed in the browser (File objects do not
# serialise): each accepted file's name and size, and why each rejected one was refused.
_FILES_META: FunctionVar = FunctionStringVar.create("(fs) => fs.map((f) => ({name: f.name, size: f.size}))")
# The accepted files as the drop zone's onDrop receives them. rx.upload does not accept
# a lambda in a list of on_drop events, so the argument is named directly.
_DROPPED = parse_args_spec(passthrough_event_spec(list[rx.UploadFile]))[0][0]
_REJECTED_META: FunctionVar = FunctionStringVar.create(
    "(rs) => rs.map((r) => ({name: r.file.name, size: r.file.size, codes: r.errors.map((e) => e.code)}))"
)


def limits_text() -> str:
    settings = get_settings()
    return f"{allowed_type_labels()} files, up to {settings.knowledge_max_upload_mb} MB each."


def upload_zone() -> rx.Component:
    return rx.upload.root(
        rx.vstack(
            rx.icon("cloud-upload", size=32, aria_hidden="true", class_name="gx-muted"),
            rx.text(
                rx.cond(CollectionState.uploading, "Uploading…", "Drag and drop files here"),
                size="3",
                weight="medium",
            ),
            rx.text(limits_text(), size="2", color_scheme="gray"),
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
            CollectionState.begin_upload(_FILES_META.call(_DROPPED)),  # type: ignore[operator]  # rx.event handler: untyped to mypy
            CollectionState.handle_upload(
                rx.upload_files(upload_id=UPLOAD_ID, on_upload_progress=CollectionState.upload_progress)  # type: ignore[arg-type]  # rx.event handler: untyped to mypy
            ),
        ],
        on_drop_rejected=lambda rejected: CollectionState.rejected_files(_REJECTED_META.call(rejected)),  # type: ignore[operator]  # rx.event handler: untyped to mypy
        drag_active_style={"border_color": "var(--accent-9)", "background": "var(--accent-a3)"},
        class_name="gx-dropzone",
    )


def _upload_state(row: ObjectVar[UploadRow]) -> rx.Component:
    return rx.match(
        row.state,
        (
            "uploading",
            rx.hstack(
                rx.progress(
                    value=row.progress,
                    max=100,
                    width="160px",
                    aria_label="Upload progress of " + row.name.to(str),
                ),
                rx.text(row.progress.to_string() + "%", size="1", color_scheme="gray", class_name="gx-code"),
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
                    rx.link("open it", href="/knowledge/items/" + row.item_id.to(str), size="2"),
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


def _upload_row(row: ObjectVar[UploadRow]) -> rx.Component:
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


def upload_panel() -> rx.Component:
    return rx.cond(
        CollectionState.uploads.length() > 0,
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
