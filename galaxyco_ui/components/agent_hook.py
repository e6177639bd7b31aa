"""The Trigger URL section of an agent's page (webhooks in).

Those who may edit the agent turn the URL on, copy it, regenerate it, turn it off and
edit the input template; everyone else sees only whether it is on.
"""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import field, text_area
from galaxyco_ui.states.agent_hook import AgentHookState

TEMPLATE_HINT = (
    "How the request body becomes the run's input. {{ body }} is the whole body (JSON or text); "
    "{{ body.field }} or {{ body.items.0 }} is a part of a JSON body. Missing parts are left empty."
)


def _url_field() -> rx.Component:
    s = AgentHookState
    return rx.cond(
        s.url != "",
        field(
            "Trigger URL",
            rx.hstack(
                rx.input(
                    id="agent-hook-url",
                    value=s.url,
                    read_only=True,
                    width="100%",
                    size="3",
                    class_name="gx-code",
                ),
                rx.button(
                    rx.icon("copy", size=16),
                    "Copy",
                    type="button",
                    variant="soft",
                    size="3",
                    on_click=[rx.set_clipboard(s.url), rx.toast.success("Trigger URL copied.")],
                    aria_label="Copy the trigger URL",
                ),
                width="100%",
                spacing="2",
                align="center",
            ),
            field_id="agent-hook-url",
            hint="Anyone who has this URL can start this agent: keep it secret. Runs it starts act as "
            "the person who turned it on or last regenerated it.",
        ),
        rx.callout(
            "This URL works but cannot be shown (the server's secret key changed). Regenerate it to see "
            "a new one.",
            icon="triangle_alert",
            color_scheme="amber",
            width="100%",
        ),
    )


def _curl_example() -> rx.Component:
    return rx.cond(
        AgentHookState.curl_example != "",
        rx.vstack(
            rx.text("Try it", class_name="gx-label"),
            rx.code(AgentHookState.curl_example, id="agent-hook-curl", size="1", class_name="gx-code"),
            spacing="1",
            width="100%",
        ),
    )


def _template_form() -> rx.Component:
    s = AgentHookState
    return rx.form(
        rx.vstack(
            text_area(
                "Input template",
                "input_template",
                form_id="agent-hook",
                default_value=s.template,
                error=s.template_error,
                hint=TEMPLATE_HINT,
                rows="3",
                max_length=5000,
            ),
            rx.button("Save template", type="submit", variant="soft"),
            spacing="2",
            width="100%",
            align="start",
        ),
        on_submit=s.save_template,
        reset_on_submit=False,
        key=s.template_key,
        width="100%",
    )


def _actions() -> rx.Component:
    return rx.hstack(
        confirm_dialog(
            rx.button(rx.icon("refresh-cw", size=16), "Regenerate URL", variant="soft", type="button"),
            title="Regenerate the trigger URL?",
            body="The current URL stops working at once. Systems that call it need the new URL.",
            confirm_label="Regenerate URL",
            on_confirm=AgentHookState.regenerate,
        ),
        confirm_dialog(
            rx.button(
                rx.icon("power-off", size=16), "Disable", variant="soft", color_scheme="red", type="button"
            ),
            title="Turn off the trigger URL?",
            body="Requests to the URL are refused from now on. Turning it on again makes a new URL.",
            confirm_label="Disable trigger URL",
            on_confirm=AgentHookState.disable,
        ),
        spacing="2",
        wrap="wrap",
    )


def _editor() -> rx.Component:
    s = AgentHookState
    return rx.cond(
        s.enabled,
        rx.vstack(_url_field(), _curl_example(), _template_form(), _actions(), spacing="4", width="100%"),
        rx.vstack(
            rx.text(
                "Start this agent from another system with an HTTP POST: the request body becomes the "
                "run's input, and the run shows on the Runs page as a webhook run.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                s.has_hook,
                rx.text("The trigger URL is off. Turning it on makes a new URL.", size="2"),
            ),
            rx.button(rx.icon("webhook", size=16), "Enable trigger URL", on_click=s.enable, type="button"),
            spacing="3",
            width="100%",
            align="start",
        ),
    )


def agent_hook_panel() -> rx.Component:
    s = AgentHookState
    return rx.cond(
        s.loaded,
        rx.card(
            rx.vstack(
                rx.heading("Trigger URL", size="4", as_="h2"),
                rx.cond(
                    s.can_edit,
                    _editor(),
                    rx.text(
                        "Trigger URL: ",
                        rx.cond(s.enabled, "on", "off"),
                        size="2",
                        id="agent-hook-status",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            id="agent-hook",
            width="100%",
        ),
    )
