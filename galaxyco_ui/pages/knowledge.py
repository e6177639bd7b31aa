"""/knowledge: the collections list and workspace-wide search."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.format import human_size, plural
from galaxyco_ui.components.knowledge import collection_dialog, search_panel
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.knowledge import CollectionView
from galaxyco_ui.states.knowledge import CollectionFormState, KnowledgeState


def _new_button() -> rx.Component:
    return rx.cond(
        KnowledgeState.can_create,
        rx.button(
            rx.icon("plus", size=16), "New collection", size="3", on_click=CollectionFormState.open_create
        ),
    )


def _counts(c: ObjectVar[CollectionView]) -> rx.Component:
    return rx.cond(
        c.item_count.to(int) > 0,
        rx.hstack(
            rx.cond(
                c.ready_count.to(int) > 0,
                rx.badge(c.ready_count.to_string() + " ready", color_scheme="green"),
            ),
            rx.cond(
                c.pending_count.to(int) > 0,
                rx.badge(c.pending_count.to_string() + " processing", color_scheme="blue"),
            ),
            rx.cond(
                c.failed_count.to(int) > 0,
                rx.badge(c.failed_count.to_string() + " failed", color_scheme="red"),
            ),
            spacing="1",
            wrap="wrap",
        ),
        rx.text("Empty", size="2", color_scheme="gray"),
    )


def _collection_actions(c: ObjectVar[CollectionView]) -> rx.Component:
    return rx.cond(
        c.can_edit,
        rx.hstack(
            rx.icon_button(
                rx.icon("pencil", size=16),
                variant="ghost",
                color_scheme="gray",
                aria_label="Edit " + c.name.to(str),
                title="Rename or describe",
                on_click=CollectionFormState.open_edit(c.id, c.name, c.description),  # type: ignore[operator]  # rx.event handler: untyped to mypy
            ),
            confirm_dialog(
                rx.icon_button(
                    rx.icon("trash-2", size=16),
                    variant="ghost",
                    color_scheme="red",
                    aria_label="Delete " + c.name.to(str),
                    title="Delete",
                ),
                title="Delete this collection?",
                body="“"
                + c.name.to(str)
                + "” and the "
                + plural(c.item_count, "document")
                + " in it will be deleted, "
                "and agents will stop searching it. This cannot be undone.",
                confirm_label="Delete collection",
                on_confirm=KnowledgeState.delete_collection(c.id),
                cancel_label="Keep it",
            ),
            spacing="3",
            justify="end",
        ),
    )


def _collection_row(c: ObjectVar[CollectionView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.link(c.name, href="/knowledge/" + c.id.to(str), weight="medium"),
                rx.cond(
                    c.description != "",
                    rx.text(c.description, size="1", color_scheme="gray", class_name="gx-clamp"),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(c.item_count, size="2")),
        rx.table.cell(_counts(c)),
        rx.table.cell(rx.text(human_size(c.size_bytes), size="2", white_space="nowrap")),
        rx.table.cell(rx.text(c.created_by_name, size="2")),
        rx.table.cell(rx.moment(c.updated_at, from_now=True, size="2")),
        rx.table.cell(_collection_actions(c)),
        align="center",
    )


def knowledge_page() -> rx.Component:
    table = data_table(
        ["Collection", "Documents", "Status", "Size", "Created by", "Updated", ""],
        KnowledgeState.collections,
        _collection_row,
        variant="surface",
    )
    empty = empty_state(
        "library",
        "No collections yet",
        "Collections group documents your agents can search: manuals, policies, notes, exported "
        "pages. Upload PDF, Word, Markdown, HTML, text or CSV files to a collection, then choose it "
        "on an agent's page; the agent finds the relevant passages and cites them.",
        _new_button(),
    )
    search = search_panel(
        KnowledgeState,
        title="Search all knowledge",
        label="Search all knowledge",
        input_id="knowledge-search",
        placeholder="Search every collection, e.g. refund policy",
        show_collection=True,
    )
    return shell(
        "Knowledge",
        rx.cond(
            KnowledgeState.loaded,
            rx.cond(
                KnowledgeState.collections.length() > 0,
                rx.vstack(search, table, spacing="5", width="100%"),
                empty,
            ),
            rx.center(rx.spinner(), width="100%"),
        ),
        collection_dialog(),
        actions=_new_button(),
    )
