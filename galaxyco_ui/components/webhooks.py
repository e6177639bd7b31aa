"""The Webhooks card of /settings (admins and owners): endpoints, secrets, delivery logs."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import field_error, one_time_secret, text_input
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.webhooks import EVENT_LABELS, WebhookDeliveryView, WebhookEndpointView
from galaxyco_ui.states.webhooks import WebhooksState, event_field

_DELIVERY_COLORS = {"delivered": "green", "pending": "amber", "failed": "red"}


def _status_badge(status: rx.Var) -> rx.Component:
    return rx.badge(status, color_scheme=rx.match(status, *_DELIVERY_COLORS.items(), "gray"))


def _event_checkboxes(prefix: str, chosen: ArrayVar | None, error: rx.Var | str) -> rx.Component:
    """One labelled checkbox per event type; ``chosen`` (a list var) pre-checks them."""
    return rx.el.fieldset(
        rx.el.legend("Events", class_name="gx-label"),
        rx.flex(
            *[
                rx.el.label(
                    rx.el.input(
                        type="checkbox",
                        name=event_field(event_type),
                        id=f"{prefix}-{event_field(event_type)}",
                        default_checked=chosen.contains(event_type) if chosen is not None else False,
                    ),
                    rx.vstack(
                        rx.text(label, size="2", weight="medium"),
                        rx.code(event_type, size="1", variant="ghost"),
                        spacing="0",
                    ),
                    html_for=f"{prefix}-{event_field(event_type)}",
                    class_name="gx-check",
                )
                for event_type, label in EVENT_LABELS.items()
            ],
            spacing="4",
            wrap="wrap",
        ),
        field_error(error, field_id=f"{prefix}-events"),
        class_name="gx-fieldset",
    )


def _add_form() -> rx.Component:
    s = WebhooksState
    return rx.form(
        rx.vstack(
            rx.heading("Add an endpoint", size="3", as_="h3"),
            rx.flex(
                rx.box(
                    text_input(
                        "Endpoint URL",
                        "url",
                        form_id="webhook-new",
                        placeholder="https://example.com/webhooks/galaxyco",
                        max_length=2000,
                        error=s.errors.get("url", ""),
                    ),
                    flex="2",
                    min_width="260px",
                ),
                rx.box(
                    text_input(
                        "Description (optional)",
                        "description",
                        form_id="webhook-new",
                        max_length=200,
                        error=s.errors.get("description", ""),
                    ),
                    flex="1",
                    min_width="200px",
                ),
                spacing="3",
                width="100%",
                wrap="wrap",
            ),
            _event_checkboxes("webhook-new", None, s.errors.get("events", "")),
            rx.button("Add endpoint", type="submit", aria_label="Add webhook endpoint"),
            spacing="3",
            width="100%",
        ),
        on_submit=s.create,
        # A refused add keeps what was typed; a successful one bumps form_key.
        reset_on_submit=False,
        key=s.form_key,
        width="100%",
    )


def _edit_form(e: ObjectVar[WebhookEndpointView]) -> rx.Component:
    s = WebhooksState
    return rx.form(
        rx.vstack(
            text_input(
                "Endpoint URL",
                "url",
                form_id="webhook-edit",
                default_value=e.url,
                max_length=2000,
                error=s.edit_errors.get("url", ""),
            ),
            text_input(
                "Description (optional)",
                "description",
                form_id="webhook-edit",
                default_value=e.description,
                max_length=200,
                error=s.edit_errors.get("description", ""),
            ),
            _event_checkboxes("webhook-edit", e.events.to(list), s.edit_errors.get("events", "")),
            rx.hstack(
                rx.button("Save", type="submit", aria_label="Save the endpoint " + e.url.to(str)),
                rx.button(
                    "Cancel",
                    type="button",
                    variant="soft",
                    color_scheme="gray",
                    on_click=s.cancel_edit,
                    aria_label="Cancel editing the endpoint",
                ),
                spacing="2",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=s.save,
        reset_on_submit=False,
        key=e.id,
        width="100%",
        padding="0.75em",
        border="1px solid var(--gray-a5)",
        border_radius="var(--radius-3)",
    )


def _secret(e: ObjectVar[WebhookEndpointView]) -> rx.Component:
    s = WebhooksState
    return one_time_secret(
        s.secret,
        code_id="webhook-secret",
        heading=None,
        hint="Signing secret: your receiver verifies the webhook-signature header with it "
        "(Standard Webhooks). Keep it private.",
        what="the signing secret",
        copied="Signing secret copied.",
        dismiss_text="Hide",
        on_dismiss=s.hide_secret,
        color_scheme="blue",
    )


def _delivery_row(d: ObjectVar[WebhookDeliveryView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.moment(d.created_at, format="YYYY-MM-DD HH:mm:ss", size="2")),
        rx.table.cell(rx.code(d.event_type, variant="ghost", size="1")),
        rx.table.cell(_status_badge(d.status)),
        rx.table.cell(rx.text(rx.cond(d.last_status_code, d.last_status_code.to_string(), "—"), size="2")),
        rx.table.cell(
            rx.text(rx.cond(d.attempts.to(int) > 0, d.last_latency_ms.to_string() + " ms", "—"), size="2")
        ),
        rx.table.cell(rx.text(d.attempts, size="2")),
        rx.table.cell(
            # The receiver's answer is untrusted: plain text, never HTML or Markdown.
            rx.text(
                rx.cond(d.last_error != "", d.last_error, d.last_response_snippet),
                size="1",
                class_name="gx-code",
                white_space="pre-wrap",
                word_break="break-all",
                max_width="28em",
            )
        ),
    )


def _delivery_log(e: ObjectVar[WebhookEndpointView]) -> rx.Component:
    s = WebhooksState
    return rx.vstack(
        rx.hstack(
            rx.heading("Delivery log", size="2", as_="h4"),
            rx.button(
                "Refresh",
                size="1",
                variant="soft",
                on_click=s.refresh_log,
                aria_label="Refresh the delivery log of " + e.url.to(str),
            ),
            spacing="2",
            align="center",
        ),
        rx.cond(
            s.deliveries.length() > 0,
            data_table(
                ["When", "Event", "Status", "HTTP status", "Latency", "Attempts", "Response"],
                s.deliveries,
                _delivery_row,
                size="1",
            ),
            rx.text("Nothing delivered yet.", size="2", color_scheme="gray"),
        ),
        rx.cond(
            s.more_deliveries,
            rx.button(
                "Load older",
                size="1",
                variant="soft",
                on_click=s.load_older,
                aria_label="Load older deliveries",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _endpoint_row(e: ObjectVar[WebhookEndpointView]) -> rx.Component:
    s = WebhooksState
    url = e.url.to(str)
    actions = rx.hstack(
        rx.button(
            "Edit",
            size="1",
            variant="soft",
            on_click=s.start_edit(e.id),
            aria_label="Edit the endpoint " + url,
        ),
        rx.button(
            rx.cond(e.enabled, "Disable", "Enable"),
            size="1",
            variant="soft",
            on_click=s.set_enabled(e.id, ~e.enabled),
            aria_label=rx.cond(e.enabled, "Disable the endpoint ", "Enable the endpoint ") + url,
        ),
        rx.cond(
            s.secret_for == e.id,
            rx.fragment(),
            rx.button(
                "Reveal secret",
                size="1",
                variant="soft",
                on_click=s.reveal(e.id),
                aria_label="Reveal the signing secret of " + url,
            ),
        ),
        confirm_dialog(
            rx.button(
                "Rotate secret", size="1", variant="soft", aria_label="Rotate the signing secret of " + url
            ),
            title="Rotate the signing secret?",
            body="Deliveries are signed with the new secret at once: update your receiver right after.",
            confirm_label="Rotate secret",
            on_confirm=s.rotate(e.id),
        ),
        rx.button(
            "Send test event",
            size="1",
            variant="soft",
            loading=s.sending == e.id,
            disabled=~e.enabled,
            on_click=s.send_test(e.id),
            aria_label="Send a test event to " + url,
        ),
        rx.cond(
            s.log_for == e.id,
            rx.button(
                "Hide log", size="1", variant="soft", on_click=s.hide_log, aria_label="Hide the delivery log"
            ),
            rx.button(
                "Delivery log",
                size="1",
                variant="soft",
                on_click=s.show_log(e.id),
                aria_label="Show the delivery log of " + url,
            ),
        ),
        confirm_dialog(
            rx.button(
                "Delete",
                size="1",
                variant="soft",
                color_scheme="red",
                aria_label="Delete the endpoint " + url,
            ),
            title="Delete this endpoint?",
            body="It receives no more events, and deliveries still waiting are dropped.",
            confirm_label="Delete endpoint",
            on_confirm=s.delete(e.id),
        ),
        spacing="2",
        wrap="wrap",
    )
    return rx.vstack(
        rx.hstack(
            rx.code(e.url, size="2", class_name="gx-code", word_break="break-all"),
            rx.badge(
                rx.cond(e.enabled, "Enabled", "Disabled"), color_scheme=rx.cond(e.enabled, "green", "gray")
            ),
            rx.cond(
                e.last_delivery_status != "",
                rx.hstack(
                    rx.text("Last delivery:", size="1", color_scheme="gray"),
                    _status_badge(e.last_delivery_status),
                    rx.cond(e.last_delivery_code, rx.text(e.last_delivery_code.to_string(), size="1")),
                    spacing="1",
                    align="center",
                ),
                rx.text("No deliveries yet", size="1", color_scheme="gray"),
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.cond(e.description != "", rx.text(e.description, size="2")),
        rx.hstack(
            rx.foreach(e.events, lambda event: rx.badge(event, variant="outline", size="1")),
            spacing="1",
            wrap="wrap",
        ),
        rx.cond(
            e.disabled_reason != "",
            rx.text(e.disabled_reason, size="2", color_scheme="red", role="status"),
        ),
        actions,
        rx.cond(s.secret_for == e.id, _secret(e)),
        rx.cond(s.edit_id == e.id, _edit_form(e)),
        rx.cond(s.log_for == e.id, _delivery_log(e)),
        role="group",
        aria_label="Endpoint " + url,
        spacing="2",
        width="100%",
        padding_y="0.75em",
        border_bottom="1px solid var(--gray-a4)",
    )


def webhooks_card() -> rx.Component:
    s = WebhooksState
    return rx.card(
        rx.vstack(
            rx.heading("Webhooks", size="4", as_="h2"),
            rx.text(
                "Send signed events to your own URLs when runs finish or documents are indexed. Each "
                "request carries webhook-id, webhook-timestamp and webhook-signature headers (Standard "
                "Webhooks) signed with the endpoint's secret; failed deliveries are retried with backoff "
                "for 24 hours. Local and private addresses work only when the server's operator lists "
                "them in ALLOWED_PRIVATE_PROVIDER_HOSTS.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                s.endpoints.length() > 0,
                rx.vstack(rx.foreach(s.endpoints, _endpoint_row), spacing="0", width="100%"),
                rx.text("No webhook endpoints yet.", size="2", color_scheme="gray"),
            ),
            _add_form(),
            spacing="3",
            width="100%",
        ),
        id="webhooks",
        width="100%",
    )
