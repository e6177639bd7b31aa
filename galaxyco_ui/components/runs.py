"""Small pieces shared by the run screens."""

from __future__ import annotations

import reflex as rx

STATUS_COLORS = (
    ("queued", "gray"),
    ("running", "blue"),
    ("succeeded", "green"),
    ("failed", "red"),
    ("cancelled", "amber"),
)


def status_badge(status: rx.Var) -> rx.Component:
    return rx.badge(
        rx.cond(status == "running", rx.spinner(size="1"), rx.fragment()),
        status,
        color_scheme=rx.match(status, *STATUS_COLORS, "gray"),
        variant="soft",
        size="2",
    )
