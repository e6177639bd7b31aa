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

# What started a run (models.runs.TRIGGERS), as the run screens name it.
TRIGGER_LABELS = (
    ("manual", "Manual"),
    ("schedule", "Schedule"),
    ("api", "API"),
    ("webhook", "Webhook"),
)


def trigger_label(trigger: rx.Var | str) -> rx.Var:
    """The name of a run's trigger (the raw value for one this list does not know)."""
    return rx.match(trigger, *TRIGGER_LABELS, trigger)


def trigger_badge(trigger: rx.Var) -> rx.Component:
    return rx.badge(trigger_label(trigger), variant="outline", color_scheme="gray", size="1")


def status_badge(status: rx.Var) -> rx.Component:
    return rx.badge(
        rx.cond(status == "running", rx.spinner(size="1"), rx.fragment()),
        status,
        color_scheme=rx.match(status, *STATUS_COLORS, "gray"),
        variant="soft",
        size="2",
    )
