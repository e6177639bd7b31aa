"""/runs/[run_id]: a run as it happens, and afterwards its full history."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.approvals import run_approval_card
from galaxyco_ui.components.layout import empty_state
from galaxyco_ui.components.markdown import untrusted_markdown
from galaxyco_ui.components.runs import status_badge, trigger_label
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.worker_banner import no_worker_banner
from galaxyco_ui.states.run_detail import RunState, TimelineItem


def _stat(label: str, value: rx.Var | str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="2", weight="medium"),
        spacing="0",
    )


def _pending_tool_badge() -> rx.Component:
    """A call without a result: running, waiting for a person, or never run (the run ended)."""
    return rx.match(
        RunState.status,
        ("waiting_approval", rx.badge("waiting for approval", color_scheme="orange")),
        ("queued", rx.badge(rx.spinner(size="1"), "running", color_scheme="blue")),
        ("running", rx.badge(rx.spinner(size="1"), "running", color_scheme="blue")),
        rx.badge("not run", color_scheme="gray"),
    )


def _tool_card(item: TimelineItem) -> rx.Component:
    return rx.el.details(
        rx.el.summary(
            rx.hstack(
                rx.icon("wrench", size=14, aria_hidden="true"),
                rx.text("Tool: ", rx.code(item.name), size="2", weight="medium"),
                rx.cond(
                    item.done,
                    rx.cond(
                        item.is_error,
                        rx.badge("error", color_scheme="red"),
                        rx.badge("done", color_scheme="green"),
                    ),
                    _pending_tool_badge(),
                ),
                align="center",
                spacing="2",
            ),
            class_name="gx-summary",
        ),
        rx.vstack(
            rx.text("Arguments", size="1", color_scheme="gray"),
            rx.code_block(item.arguments, language="json", width="100%"),
            rx.cond(
                item.done,
                rx.vstack(
                    rx.text("Result", size="1", color_scheme="gray"),
                    rx.el.pre(item.result, class_name="gx-pre"),
                    width="100%",
                    spacing="1",
                ),
            ),
            spacing="2",
            width="100%",
            padding_top="0.5em",
        ),
        class_name="gx-tool-card",
        open=~item.done,
    )


def _timeline_item(item: TimelineItem) -> rx.Component:
    return rx.cond(
        item.kind == "tool",
        _tool_card(item),
        untrusted_markdown(item.text, class_name="gx-answer"),
    )


def _source(src: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.el.li(
        rx.link(
            rx.text.strong("[", src["n"].to_string(), "] "),
            src["item_name"],
            href=src["href"],
        ),
        rx.cond(src["page"] != "", rx.text.span(" · ", src["page"], color_scheme="gray")),
        rx.cond(src["heading"] != "", rx.text.span(" · ", src["heading"], color_scheme="gray")),
        class_name="gx-source",
    )


def _sources() -> rx.Component:
    return rx.cond(
        RunState.sources.length() > 0,
        rx.card(
            rx.vstack(
                rx.heading("Sources", size="3", as_="h3"),
                rx.el.ol(rx.foreach(RunState.sources, _source), class_name="gx-sources"),
                spacing="2",
                width="100%",
            ),
            width="100%",
            id="run-sources",
        ),
    )


def _trace() -> rx.Component:
    """The run's trace id (tracing on while it ran), to look it up in the tracing backend."""
    return rx.cond(
        RunState.trace_id != "",
        rx.hstack(
            rx.text("Trace", size="1", color_scheme="gray"),
            rx.code(RunState.trace_label, title=RunState.trace_id, size="1"),
            rx.icon_button(
                rx.icon("copy", size=12),
                size="1",
                variant="ghost",
                type="button",
                on_click=[rx.set_clipboard(RunState.trace_id), rx.toast.success("Trace id copied.")],
                aria_label="Copy the trace id",
                title="Copy the trace id",
            ),
            spacing="2",
            align="center",
            id="run-trace",
            margin_top="0.75em",
        ),
    )


def _actions() -> rx.Component:
    return rx.hstack(
        rx.cond(
            RunState.can_cancel & ~RunState.finished,
            rx.button(
                rx.icon("square", size=14),
                "Cancel",
                color_scheme="red",
                variant="soft",
                loading=RunState.cancelling,
                on_click=RunState.cancel,
            ),
        ),
        rx.cond(
            RunState.can_retry & RunState.finished,
            rx.button(rx.icon("rotate-ccw", size=14), "Retry", variant="soft", on_click=RunState.retry),
        ),
        spacing="2",
    )


def run_page() -> rx.Component:
    body = rx.vstack(
        no_worker_banner(RunState.status == "queued"),
        rx.hstack(
            status_badge(RunState.status),
            rx.link(rx.text("Agent: ", RunState.agent_name, size="2"), href="/agents/" + RunState.agent_id),
            rx.cond(
                RunState.agent_version > 0,
                rx.link(
                    rx.text("Agent version ", RunState.agent_version.to(str), size="2"),
                    href="/agents/"
                    + RunState.agent_id
                    + "?tab=history&version="
                    + RunState.agent_version.to(str),
                ),
            ),
            rx.link(rx.text("All runs", size="2"), href="/runs"),
            spacing="4",
            align="center",
            wrap="wrap",
        ),
        rx.card(
            rx.grid(
                _stat("Model", RunState.model),
                _stat("Trigger", trigger_label(RunState.trigger)),
                _stat("Started by", RunState.started_by),
                _stat("Tokens", RunState.tokens_label),
                _stat("Cost", RunState.cost),
                _stat("Elapsed", RunState.elapsed_label),
                columns=rx.breakpoints(initial="2", md="6"),
                spacing="4",
                width="100%",
            ),
            _trace(),
            width="100%",
        ),
        rx.card(
            rx.vstack(
                rx.text("Input", size="1", color_scheme="gray"),
                rx.text(RunState.input, white_space="pre-wrap"),
                spacing="1",
            ),
            width="100%",
        ),
        rx.vstack(
            rx.heading("Answer", size="4", as_="h2"),
            rx.foreach(RunState.timeline, _timeline_item),
            rx.cond(
                RunState.live_text != "",
                untrusted_markdown(RunState.live_text_linked, class_name="gx-answer"),
            ),
            rx.cond(
                (RunState.status == "queued") | ((RunState.status == "running") & (RunState.live_text == "")),
                rx.hstack(
                    rx.spinner(size="2"), rx.text("Working…", size="2", color_scheme="gray"), align="center"
                ),
            ),
            run_approval_card(),
            rx.cond(
                RunState.error != "",
                rx.callout(
                    RunState.error,
                    icon="triangle_alert",
                    color_scheme=rx.cond(RunState.status == "cancelled", "gray", "red"),
                    width="100%",
                    role="alert",
                ),
            ),
            spacing="3",
            width="100%",
            id="run-timeline",
            aria_live="polite",
        ),
        _sources(),
        spacing="4",
        width="100%",
    )
    missing = empty_state(
        "circle-help",
        "Run not found",
        "It may belong to another workspace.",
        rx.link(rx.button("All runs", tab_index=-1), href="/runs"),
    )
    return shell(
        rx.cond(RunState.found, "Run of " + RunState.agent_name, "Run not found"),
        rx.cond(RunState.found, body, missing),
        actions=_actions(),
    )
