"""/knowledge: the collections list and workspace-wide search; pieces the other
knowledge screens share (status badges, sizes, search results, the collection dialog)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import FunctionStringVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import text_area, text_input
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.knowledge import CollectionView
from galaxyco_ui.services.knowledge_search import SearchResultView
from galaxyco_ui.states.knowledge import CollectionFormState, KnowledgeState

_HUMAN_SIZE = FunctionStringVar.create(
    "(b) => b < 1024 ? b + ' B' : b < 1048576 ? (b / 1024).toFixed(1) + ' KB' : (b / 1048576).toFixed(1) + ' MB'"
)


def human_size(size: rx.Var) -> rx.Var:
    """Bytes as "812 B", "14.2 KB" or "3.4 MB" (rendered in the browser)."""
    return _HUMAN_SIZE.call(size).to(str)


def plural(count: rx.Var, noun: str) -> rx.Var:
    """ "1 document", "3 documents"."""
    return rx.cond(count == 1, "1 " + noun, count.to_string() + " " + noun + "s")  # type: ignore[attr-defined]


def chunk_link(item_id: rx.Var, ordinal: rx.Var) -> rx.Var:
    """The item page scrolled to one chunk (the form run citations use too)."""
    n = ordinal.to_string()  # type: ignore[attr-defined]
    return "/knowledge/items/" + item_id + "?chunk=" + n + "#chunk-" + n


def item_status(item: Any) -> rx.Component:
    """Queued / processing with its progress / ready / failed with the reason, visible."""
    return rx.vstack(
        rx.match(
            item.status,
            ("queued", rx.badge("Queued", color_scheme="gray", variant="soft", size="2")),
            (
                "processing",
                rx.hstack(
                    rx.badge(
                        rx.spinner(size="1"), "Processing", color_scheme="blue", variant="soft", size="2"
                    ),
                    rx.progress(
                        value=item.progress,
                        max=100,
                        width="64px",
                        aria_label="Indexing progress",
                    ),
                    rx.text(item.progress.to_string() + "%", size="1", color_scheme="gray"),
                    align="center",
                    spacing="2",
                ),
            ),
            ("ready", rx.badge("Ready", color_scheme="green", variant="soft", size="2")),
            ("failed", rx.badge("Failed", color_scheme="red", variant="soft", size="2")),
            rx.badge(item.status, variant="soft", size="2"),
        ),
        rx.cond(
            (item.status == "failed") & (item.error != ""),
            rx.text(item.error, size="1", color_scheme="red", class_name="gx-item-error"),
        ),
        spacing="1",
        align="start",
    )


def back_link(label: rx.Var | str, href: rx.Var | str) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("arrow-left", size=14, aria_hidden="true"), rx.text(label, size="2"), align="center"
        ),
        href=href,
    )


# ---------------------------------------------------------------- search


def _segment(segment: rx.Var) -> rx.Component:
    return rx.cond(segment[1], rx.el.mark(segment[0]), rx.text.span(segment[0]))  # type: ignore[index]


def _result(r: SearchResultView, *, show_collection: bool) -> rx.Component:
    where = rx.hstack(
        rx.link(r.item_name, href=chunk_link(r.item_id, r.ordinal), weight="medium"),
        rx.badge("in " + r.collection_name, variant="outline", color_scheme="gray")
        if show_collection
        else rx.fragment(),
        rx.cond(r.page.is_not_none(), rx.text("page ", r.page.to_string(), size="1", color_scheme="gray")),  # type: ignore[union-attr]
        rx.cond(r.heading != "", rx.text(r.heading, size="1", color_scheme="gray", class_name="gx-clamp")),
        rx.spacer(),
        rx.text("score ", r.score.to_string(), size="1", color_scheme="gray", class_name="gx-code"),  # type: ignore[attr-defined]
        align="center",
        spacing="2",
        wrap="wrap",
        width="100%",
    )
    return rx.el.li(
        where,
        rx.el.p(rx.foreach(r.segments, _segment), class_name="gx-snippet"),
        class_name="gx-result",
    )


def search_panel(
    state: Any, *, title: str, label: str, input_id: str, placeholder: str, show_collection: bool
) -> rx.Component:
    """A search box over ``state.search`` and its ranked results with highlighted matches."""
    results = rx.cond(
        state.searched != "",
        rx.cond(
            state.results.length() > 0,
            rx.el.ol(
                rx.foreach(state.results, lambda r: _result(r, show_collection=show_collection)),
                class_name="gx-results",
                aria_label="Search results",
            ),
            rx.text("No passages match “", state.searched, "”.", size="2", color_scheme="gray"),
        ),
    )
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4", as_="h2"),
            rx.form(
                rx.hstack(
                    rx.box(
                        rx.el.label(label, html_for=input_id, class_name="gx-sr-only"),
                        rx.input(
                            rx.input.slot(rx.icon("search", size=16, aria_hidden="true")),
                            id=input_id,
                            name="query",
                            type="search",
                            default_value=state.query,
                            placeholder=placeholder,
                            max_length=500,
                            width="100%",
                            size="3",
                        ),
                        flex="1",
                    ),
                    rx.button("Search", type="submit", size="3", loading=state.searching),
                    rx.cond(
                        state.searched != "",
                        rx.button(
                            "Clear",
                            type="reset",
                            size="3",
                            variant="soft",
                            color_scheme="gray",
                            on_click=state.clear_search,
                        ),
                    ),
                    width="100%",
                    spacing="2",
                ),
                on_submit=state.search,
                reset_on_submit=False,
                width="100%",
            ),
            results,
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


# ---------------------------------------------------------------- collection dialog


def collection_dialog() -> rx.Component:
    """Create, rename or re-describe a collection (opened by CollectionFormState)."""
    f = CollectionFormState.form
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(CollectionFormState.is_new, "New collection", "Edit collection")),
            rx.dialog.description(
                "A collection groups documents that agents can search. Choose which collections an "
                "agent uses on the agent's page.",
                size="2",
                margin_bottom="1em",
            ),
            rx.form(
                rx.vstack(
                    text_input(
                        "Name",
                        "name",
                        form_id="collection",
                        default_value=f["name"],
                        error=CollectionFormState.errors.get("name", ""),
                        required=True,
                        max_length=80,
                        placeholder="Product manuals",
                    ),
                    text_area(
                        "Description",
                        "description",
                        form_id="collection",
                        default_value=f["description"],
                        error=CollectionFormState.errors.get("description", ""),
                        max_length=500,
                        rows="3",
                        hint="Optional. What is in it, so teammates know when to use it.",
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button(
                            rx.cond(CollectionFormState.is_new, "Create collection", "Save changes"),
                            type="submit",
                        ),
                        justify="end",
                        width="100%",
                    ),
                    spacing="4",
                ),
                on_submit=CollectionFormState.save,
                reset_on_submit=False,
                key=CollectionFormState.form_key,
            ),
        ),
        open=CollectionFormState.open,
        on_open_change=CollectionFormState.set_open,
    )


# ---------------------------------------------------------------- the list


def _new_button() -> rx.Component:
    return rx.cond(
        KnowledgeState.can_create,
        rx.button(
            rx.icon("plus", size=16), "New collection", size="3", on_click=CollectionFormState.open_create
        ),
    )


def _counts(c: CollectionView) -> rx.Component:
    return rx.cond(
        c.item_count > 0,
        rx.hstack(
            rx.cond(c.ready_count > 0, rx.badge(c.ready_count.to_string() + " ready", color_scheme="green")),  # type: ignore[attr-defined]
            rx.cond(
                c.pending_count > 0,
                rx.badge(c.pending_count.to_string() + " processing", color_scheme="blue"),  # type: ignore[attr-defined]
            ),
            rx.cond(c.failed_count > 0, rx.badge(c.failed_count.to_string() + " failed", color_scheme="red")),  # type: ignore[attr-defined]
            spacing="1",
            wrap="wrap",
        ),
        rx.text("Empty", size="2", color_scheme="gray"),
    )


def _collection_actions(c: CollectionView) -> rx.Component:
    return rx.cond(
        c.can_edit,
        rx.hstack(
            rx.icon_button(
                rx.icon("pencil", size=16),
                variant="ghost",
                color_scheme="gray",
                aria_label="Edit " + c.name,
                title="Rename or describe",
                on_click=CollectionFormState.open_edit(c.id, c.name, c.description),
            ),
            confirm_dialog(
                rx.icon_button(
                    rx.icon("trash-2", size=16),
                    variant="ghost",
                    color_scheme="red",
                    aria_label="Delete " + c.name,
                    title="Delete",
                ),
                title="Delete this collection?",
                body="“"
                + c.name
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


def _collection_row(c: CollectionView) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.link(c.name, href="/knowledge/" + c.id, weight="medium"),
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
                KnowledgeState.collections.length() > 0,  # type: ignore[attr-defined]
                rx.vstack(search, table, spacing="5", width="100%"),
                empty,
            ),
            rx.center(rx.spinner(), width="100%"),
        ),
        collection_dialog(),
        actions=_new_button(),
    )
