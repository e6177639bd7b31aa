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
    options: list[tuple[str, str]] | rx.Var,
    *,
    error: rx.Var | str = "",
    form_id: str = "",
    **props: Any,
) -> rx.Component:
    """A native <select>: labelled, keyboard friendly, and part of the form's data.

    ``options`` are (value, text) pairs, or a state var holding them.
    """
    field_id = f"{form_id}-{name}" if form_id else name
    choices = (
        [rx.foreach(options, lambda o: rx.el.option(o[1], value=o[0]))]
        if isinstance(options, rx.Var)
        else [rx.el.option(text, value=value) for value, text in options]
    )
    return field(
        label,
        rx.el.select(
            *choices,
            id=field_id,
            name=name,
            class_name="gx-select",
            aria_describedby=f"{field_id}-error",
            **props,
        ),
        field_id=field_id,
        error=error,
    )


def limit_input(
    label: str,
    name: str,
    *,
    form_id: str,
    value: rx.Var,
    operator_max: rx.Var,
    error: rx.Var | str = "",
    **box_props: Any,
) -> rx.Component:
    """A whole-number limit from 1 to the operator's maximum, which is said beneath it."""
    return rx.box(
        text_input(
            label,
            name,
            form_id=form_id,
            type="number",
            min=1,
            max=operator_max,
            default_value=value.to_string(),
            error=error,
        ),
        rx.text("At most ", operator_max, " (set by the server's operator).", size="1", color_scheme="gray"),
        flex="1",
        min_width="220px",
        **box_props,
    )


def form_error(message: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
    )


def download_csv_button(on_click: Any, *, aria_label: str) -> rx.Component:
    """The "Download CSV" button of a filtered list (audit log, usage table)."""
    return rx.button(
        rx.icon("download", size=14, aria_hidden="true"),
        "Download CSV",
        type="button",
        variant="soft",
        size="2",
        on_click=on_click,
        aria_label=aria_label,
    )


def copy_button(value: rx.Var | str, *, what: str, copied: str) -> rx.Component:
    """A "Copy" button putting ``value`` on the clipboard; ``what`` names it in the button's label."""
    return rx.button(
        rx.icon("copy", size=14, aria_hidden="true"),
        "Copy",
        type="button",
        size="1",
        variant="soft",
        on_click=[rx.set_clipboard(value), rx.toast.success(copied)],
        aria_label=f"Copy {what}",
    )


def one_time_secret(
    secret: rx.Var | str,
    *,
    code_id: str,
    heading: rx.Component | None,
    hint: str,
    what: str,
    copied: str,
    dismiss_text: str,
    on_dismiss: Any,
    color_scheme: str = "green",
) -> rx.Component:
    """A secret shown once (an API key, a signing secret) with Copy and a way to hide it.

    ``what`` names the secret in the buttons' labels ("the new API key"); ``copied`` is the
    toast shown after copying it.
    """
    return rx.callout.root(
        rx.callout.icon(rx.icon("key_round")),
        rx.vstack(
            *([heading] if heading is not None else []),
            rx.text(hint, size="2"),
            rx.hstack(
                rx.code(secret, id=code_id, size="2", class_name="gx-code"),
                copy_button(secret, what=what, copied=copied),
                rx.button(
                    dismiss_text, size="1", variant="ghost", on_click=on_dismiss, aria_label=f"Hide {what}"
                ),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            spacing="2",
        ),
        color_scheme=color_scheme,
        role="status",
        width="100%",
    )
