"""Form fields with visible labels bound to their inputs and errors beside them."""

from __future__ import annotations

from typing import Any

import reflex as rx


def field_error(error: rx.Var | str, *, field_id: str) -> rx.Component:
    return rx.cond(
        error != "",
        rx.text(error, id=f"{field_id}-error", color_scheme="red", size="2", role="alert"),
    )


def field(
    label: str,
    control: rx.Component,
    *,
    field_id: str,
    error: rx.Var | str = "",
    hint: str = "",
) -> rx.Component:
    """A label, its control and (when set) its error message, stacked."""
    return rx.flex(
        rx.el.label(label, html_for=field_id, class_name="gx-label"),
        control,
        rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")) if hint else rx.fragment(),
        field_error(error, field_id=field_id),
        direction="column",
        spacing="1",
        width="100%",
    )


def text_input(
    label: str,
    name: str,
    *,
    error: rx.Var | str = "",
    hint: str = "",
    form_id: str = "",
    **props: Any,
) -> rx.Component:
    field_id = f"{form_id}-{name}" if form_id else name
    return field(
        label,
        rx.input(
            id=field_id,
            name=name,
            aria_describedby=f"{field_id}-error",
            aria_invalid=rx.cond(error != "", "true", "false"),
            width="100%",
            size="3",
            **props,
        ),
        field_id=field_id,
        error=error,
        hint=hint,
    )


def text_area(
    label: str, name: str, *, error: rx.Var | str = "", hint: str = "", form_id: str = "", **props: Any
) -> rx.Component:
    field_id = f"{form_id}-{name}" if form_id else name
    return field(
        label,
        rx.text_area(
            id=field_id,
            name=name,
            aria_describedby=f"{field_id}-error",
            width="100%",
            **props,
        ),
        field_id=field_id,
        error=error,
        hint=hint,
    )


def select_input(
    label: str,
    name: str,
    options: list[tuple[str, str]],
    *,
    error: rx.Var | str = "",
    form_id: str = "",
    **props: Any,
) -> rx.Component:
    """A native <select>: labelled, keyboard friendly, and part of the form's data."""
    field_id = f"{form_id}-{name}" if form_id else name
    return field(
        label,
        rx.el.select(
            *[rx.el.option(text, value=value) for value, text in options],
            id=field_id,
            name=name,
            class_name="gx-select",
            aria_describedby=f"{field_id}-error",
            **props,
        ),
        field_id=field_id,
        error=error,
    )


def form_error(message: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
    )
