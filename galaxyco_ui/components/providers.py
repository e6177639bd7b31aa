"""The Providers card of /settings."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.services.provider_keys import ProviderKeyView
from galaxyco_ui.states.providers import ProvidersState


def _reachability(p: ProviderKeyView) -> rx.Component:
    """ "Reachable · checked 3 minutes ago", "Unreachable: <why> · checked …", or "not checked yet"."""
    checked = rx.text(
        "· checked ", rx.moment(p.reachability_checked_at, from_now=True), size="1", color_scheme="gray"
    )
    return rx.cond(
        p.reachability_checked_at,
        rx.hstack(
            rx.cond(
                p.reachable,
                rx.badge("Reachable", color_scheme="green", variant="soft"),
                rx.badge("Unreachable", color_scheme="red", variant="soft"),
            ),
            rx.cond(~p.reachable, rx.text(p.reachability_error, size="1", color_scheme="red")),
            checked,
            spacing="2",
            align="center",
            wrap="wrap",
            aria_label="Reachability of the " + p.label + " base URL",
        ),
        rx.text("Reachability not checked yet", size="1", color_scheme="gray"),
    )


def _provider_row(p: ProviderKeyView) -> rx.Component:
    form_id = "provider-" + p.provider
    status = rx.cond(
        p.configured,
        rx.hstack(
            rx.cond(
                p.has_key,
                rx.badge("Key set", color_scheme="green"),
                rx.badge("No key", color_scheme=rx.cond(p.provider == "openai_compatible", "gray", "amber")),
            ),
            rx.text(p.key_hint, size="2", class_name="gx-code"),
            rx.cond(p.base_url != "", rx.text(p.base_url, size="1", color_scheme="gray")),
            rx.cond(
                p.last_test_message != "",
                rx.text(p.last_test_message, size="1", color_scheme=rx.cond(p.last_test_ok, "green", "red")),
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.badge("Not set", color_scheme="gray"),
    )
    editor = rx.form(
        rx.el.input(type="hidden", name="provider", value=p.provider),
        rx.flex(
            rx.box(
                rx.el.label("API key for " + p.label, html_for=form_id + "-key", class_name="gx-sr-only"),
                rx.input(
                    id=form_id + "-key",
                    name="api_key",
                    type="password",
                    auto_complete="off",
                    placeholder=rx.cond(p.configured, "Paste a new key to replace it", "Paste the API key"),
                    width="100%",
                ),
                rx.cond(
                    ProvidersState.errors.get(p.provider + ".api_key", "") != "",
                    rx.text(
                        ProvidersState.errors.get(p.provider + ".api_key", ""),
                        color_scheme="red",
                        size="1",
                        role="alert",
                    ),
                ),
                flex="2",
                min_width="220px",
            ),
            rx.box(
                rx.el.label("Base URL for " + p.label, html_for=form_id + "-url", class_name="gx-sr-only"),
                rx.input(
                    id=form_id + "-url",
                    name="base_url",
                    default_value=p.base_url,
                    placeholder=rx.cond(
                        p.provider == "openai_compatible", "http://localhost:11434/v1", "Base URL (optional)"
                    ),
                    width="100%",
                ),
                rx.cond(
                    ProvidersState.errors.get(p.provider + ".base_url", "") != "",
                    rx.text(
                        ProvidersState.errors.get(p.provider + ".base_url", ""),
                        color_scheme="red",
                        size="1",
                        role="alert",
                    ),
                    rx.cond(
                        p.has_key,
                        rx.text(
                            "Changing the base URL removes the stored key unless you paste the key again.",
                            size="1",
                            color_scheme="gray",
                        ),
                    ),
                ),
                flex="2",
                min_width="220px",
            ),
            rx.button("Save", type="submit", aria_label="Save " + p.label + " key"),
            spacing="2",
            wrap="wrap",
            width="100%",
        ),
        on_submit=ProvidersState.save,
        # A refused save keeps what was typed; a successful one bumps form_key, which
        # mounts a fresh form (the pasted key is never left in the page).
        reset_on_submit=False,
        key=ProvidersState.form_key,
        width="100%",
    )
    return rx.vstack(
        rx.hstack(
            rx.heading(p.label, size="3", as_="h3"),
            status,
            rx.spacer(),
            rx.cond(
                ProvidersState.can_manage & p.configured,
                rx.hstack(
                    rx.button(
                        "Test connection",
                        size="1",
                        variant="soft",
                        loading=ProvidersState.testing == p.provider,
                        on_click=ProvidersState.check(p.provider),
                        aria_label="Test the " + p.label + " connection",
                    ),
                    confirm_dialog(
                        rx.button(
                            "Remove",
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            aria_label="Remove the " + p.label + " key",
                        ),
                        title="Remove this key?",
                        body="Agents using " + p.label + " will fail until a key is set again.",
                        confirm_label="Remove key",
                        on_confirm=ProvidersState.remove(p.provider),
                    ),
                    spacing="2",
                ),
            ),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.cond(p.configured, _reachability(p)),
        rx.cond(ProvidersState.can_manage, editor),
        spacing="2",
        width="100%",
        padding_y="0.75em",
        border_bottom="1px solid var(--gray-a4)",
    )


def providers_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Providers", size="4", as_="h2"),
            rx.text(
                "API keys your agents use. Keys are encrypted and never shown again; only their last four "
                "characters are. A key is only sent to the base URL it was entered with: changing the base "
                "URL removes it. Local and private addresses (such as Ollama on localhost) work only when "
                "the server's operator lists them in ALLOWED_PRIVATE_PROVIDER_HOSTS. Whether this server "
                "can reach each base URL is checked regularly, without your key.",
                size="2",
                color_scheme="gray",
            ),
            rx.foreach(ProvidersState.providers, _provider_row),
            rx.cond(
                ~ProvidersState.can_manage,
                rx.text("Only admins and owners can change provider keys.", size="2", color_scheme="gray"),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )
