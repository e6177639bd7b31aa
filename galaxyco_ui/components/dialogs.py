"""Confirmation before anything destructive."""

from __future__ import annotations

from typing import Any

import reflex as rx


def confirm_dialog(
    trigger: rx.Component,
    *,
    title: str,
    body: rx.Var | str,
    confirm_label: str,
    on_confirm: Any,
    cancel_label: str = "Cancel",
) -> rx.Component:
    """An alert dialog opened by ``trigger``; only ``confirm_label`` runs ``on_confirm``."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(body),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(cancel_label, variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button(confirm_label, color_scheme="red", on_click=on_confirm)),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
        ),
    )
