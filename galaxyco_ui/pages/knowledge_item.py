"""/knowledge/items/[item_id]: one document, and its chunks as the agent sees them."""

from __future__ import annotations

from typing import cast

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.format import human_size, plural
from galaxyco_ui.components.knowledge import download_link, item_status
from galaxyco_ui.components.layout import back_link, empty_state
from galaxyco_ui.components.shell import shell
from galaxyco_ui.services.knowledge import ChunkView, ItemView
from galaxyco_ui.states.knowledge_item import ItemState


def _meta(label: str, value: rx.Component) -> rx.Component:
    return rx.fragment(
        rx.el.dt(label, class_name="gx-meta-label"), rx.el.dd(value, class_name="gx-meta-value")
    )


def _text(value: rx.Var | str) -> rx.Component:
    return rx.text(value, size="2")


def _item() -> ObjectVar[ItemView]:
    # At runtime the state var is an ObjectVar; mypy reads a model-typed state var as the
    # model (reflex's typed rx.Field overloads resolve scalars and lists only, under mypy).
    return cast("ObjectVar[ItemView]", ItemState.item)


def _metadata() -> rx.Component:
    item = _item()
    return rx.card(
        rx.el.dl(
            _meta(
                "Collection",
                rx.link(item.collection_name, href="/knowledge/" + item.collection_id.to(str), size="2"),
            ),
            _meta("Type", _text(item.kind_label)),
            _meta("Size", _text(human_size(item.size_bytes))),
            _meta(
                "Uploaded",
                rx.text(
                    item.uploaded_by_name,
                    " · ",
                    rx.moment(item.created_at, format="YYYY-MM-DD HH:mm"),
                    size="2",
                ),
            ),
            _meta("Status", item_status(item)),
            _meta("Chunks", _text(item.chunk_count.to_string())),
            _meta("Pages", _text(rx.cond(item.page_count.is_not_none(), item.page_count.to_string(), "—"))),
            _meta("Characters", _text(item.char_count.to_string())),
            _meta(
                "Indexed",
                rx.cond(
                    item.indexed_at.is_not_none(),
                    rx.text(rx.moment(item.indexed_at, format="YYYY-MM-DD HH:mm"), size="2"),
                    _text("not yet"),
                ),
            ),
            _meta(
                "Embedding model",
                _text(rx.cond(item.embedding_model != "", item.embedding_model, "none (full-text search)")),
            ),
            class_name="gx-meta",
        ),
        width="100%",
    )


def _actions() -> rx.Component:
    item = _item()
    return rx.cond(
        ItemState.found & ItemState.loaded,
        rx.hstack(
            rx.cond(
                item.can_edit,
                rx.button(
                    rx.icon("refresh-cw", size=16),
                    "Re-index",
                    variant="soft",
                    disabled=ItemState.pending,
                    on_click=ItemState.reindex,
                ),
            ),
            download_link(item.id, item.name, label=True),
            rx.cond(
                item.can_edit,
                confirm_dialog(
                    rx.button(rx.icon("trash-2", size=16), "Delete", color_scheme="red", variant="soft"),
                    title="Delete this document?",
                    body="“"
                    + item.name.to(str)
                    + "” and its "
                    + plural(item.chunk_count, "chunk")
                    + " will be deleted; "
                    "agents will no longer find it. This cannot be undone.",
                    confirm_label="Delete document",
                    on_confirm=ItemState.delete,
                    cancel_label="Keep it",
                ),
            ),
            spacing="2",
        ),
    )


def _chunk(chunk: ObjectVar[ChunkView]) -> rx.Component:
    selected = chunk.ordinal == ItemState.selected_chunk
    return rx.el.li(
        rx.hstack(
            rx.badge(
                "#", chunk.ordinal.to_string(), variant="soft", color_scheme="gray", class_name="gx-code"
            ),
            rx.cond(
                chunk.page.is_not_none(),
                rx.text("page ", chunk.page.to_string(), size="1", color_scheme="gray"),
            ),
            rx.cond(chunk.heading != "", rx.text(chunk.heading, size="1", weight="medium")),
            rx.spacer(),
            rx.text(chunk.token_count.to_string() + " tokens", size="1", color_scheme="gray"),
            align="center",
            spacing="2",
            wrap="wrap",
            width="100%",
        ),
        rx.el.p(chunk.text, class_name="gx-chunk-text"),
        id="chunk-" + chunk.ordinal.to_string(),
        tab_index=-1,
        aria_current=rx.cond(selected, "true", "false"),
        class_name=rx.cond(selected, "gx-chunk gx-chunk-selected", "gx-chunk"),
    )


def _chunks() -> rx.Component:
    pager = rx.cond(
        ItemState.chunk_total > 50,
        rx.hstack(
            rx.button(
                "Previous",
                variant="soft",
                size="1",
                disabled=ItemState.chunk_offset == 0,
                on_click=ItemState.show_chunks(-1),
            ),
            rx.text(ItemState.chunk_range, size="2", color_scheme="gray"),
            rx.button(
                "Next",
                variant="soft",
                size="1",
                disabled=~ItemState.has_newer_chunks,
                on_click=ItemState.show_chunks(1),
            ),
            align="center",
            spacing="2",
        ),
    )
    return rx.vstack(
        rx.hstack(
            rx.heading("Chunks", size="4", as_="h2", id="chunks"),
            rx.spacer(),
            pager,
            align="center",
            width="100%",
        ),
        rx.text(
            "What the agent sees: the document split into passages. Search finds passages, and "
            "agents cite them by number.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            ItemState.chunks.length() > 0,
            rx.el.ol(rx.foreach(ItemState.chunks, _chunk), class_name="gx-chunks"),
            rx.text(
                rx.match(
                    ItemState.item.status,
                    ("failed", "This document could not be indexed, so it has no chunks."),
                    ("ready", "No text was found in this document."),
                    "The chunks appear here once indexing finishes.",
                ),
                size="2",
                color_scheme="gray",
            ),
        ),
        pager,
        spacing="3",
        width="100%",
    )


def item_page() -> rx.Component:
    not_found = empty_state(
        "circle-help",
        "Document not found",
        "It may have been deleted, or it belongs to another workspace.",
        rx.link(rx.button("Back to knowledge", tab_index=-1), href="/knowledge"),
    )
    body = rx.vstack(
        back_link(ItemState.item.collection_name, "/knowledge/" + ItemState.item.collection_id),
        _metadata(),
        _chunks(),
        spacing="4",
        width="100%",
    )
    return shell(
        rx.cond(ItemState.found, ItemState.item.name, "Document not found"),
        rx.cond(
            ItemState.loaded,
            rx.cond(ItemState.found, body, not_found),
            rx.center(rx.spinner(), width="100%"),
        ),
        actions=_actions(),
    )
