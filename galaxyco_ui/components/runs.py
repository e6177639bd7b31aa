"""Small pieces shared by the run screens."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.services import runs, usage

STATUS_COLORS = (
    ("queued", "gray"),
    ("running", "blue"),
    ("waiting_approval", "orange"),
    ("succeeded", "green"),
    ("failed", "red"),
    ("cancelled", "amber"),
)

# What started a run (models.runs.TRIGGERS), as the run screens and usage filters name it.
TRIGGER_LABELS = tuple(usage.TRIGGER_LABELS.items())


def trigger_label(trigger: rx.Var | str) -> rx.Var:
    """The name of a run's trigger (the raw value for one this list does not know)."""
    return rx.match(trigger, *TRIGGER_LABELS, trigger)


def trigger_badge(trigger: rx.Var) -> rx.Component:
    return rx.badge(trigger_label(trigger), variant="outline", color_scheme="gray", size="1")


def status_badge(status: rx.Var) -> rx.Component:
    return rx.badge(
        rx.cond(status == "running", rx.spinner(size="1"), rx.fragment()),
        # The other statuses show as their word, which tests and users already read.
        rx.match(status, ("waiting_approval", runs.STATUS_LABELS["waiting_approval"]), status),
        color_scheme=rx.match(status, *STATUS_COLORS, "gray"),
        variant="soft",
        size="2",
    )
