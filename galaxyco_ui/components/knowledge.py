"""Pieces the knowledge screens share: an item's indexing status, links to its original
file and its chunks, the search panel with highlighted matches, the collection dialog."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from galaxyco_ui.components.forms import text_area, text_input
from galaxyco_ui.services.knowledge_search import SearchResultView
from galaxyco_ui.states.knowledge import CollectionFormState


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


def download_href(item_id: rx.Var) -> rx.Var:
    return "/api/knowledge/items/" + item_id.to(str) + "/original"


def download_link(item_id: rx.Var, name: rx.Var, *, label: bool = False) -> rx.Component:
    """The original file, from the authenticated API route (a full browser request)."""
    content = (
        rx.button(rx.icon("download", size=16), "Download", variant="soft", tab_index=-1)
        if label
        else rx.icon("download", size=16, aria_hidden="true")
    )
    return rx.el.a(
        content,
        href=download_href(item_id),
        reload_document=True,
        download=name,
        aria_label="Download " + name.to(str),
        title="Download the original",
        class_name="gx-icon-link" if not label else "",
    )


def chunk_link(item_id: rx.Var, ordinal: rx.Var) -> rx.Var:
    """The item page scrolled to one chunk (the form run citations use too)."""
    n = ordinal.to_string()
    return "/knowledge/items/" + item_id.to(str) + "?chunk=" + n + "#chunk-" + n


# ---------------------------------------------------------------- search


def _segment(segment: ArrayVar) -> rx.Component:
    return rx.cond(segment[1], rx.el.mark(segment[0]), rx.text.span(segment[0]))


def _result(r: ObjectVar[SearchResultView], *, show_collection: bool) -> rx.Component:
    where = rx.hstack(
        rx.link(r.item_name, href=chunk_link(r.item_id, r.ordinal), weight="medium"),
        rx.badge("in " + r.collection_name.to(str), variant="outline", color_scheme="gray")
        if show_collection
        else rx.fragment(),
        rx.cond(r.page.is_not_none(), rx.text("page ", r.page.to_string(), size="1", color_scheme="gray")),
        rx.cond(r.heading != "", rx.text(r.heading, size="1", color_scheme="gray", class_name="gx-clamp")),
        rx.spacer(),
        rx.text("score ", r.score.to_string(), size="1", color_scheme="gray", class_name="gx-code"),
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
