"""/usage: what the workspace's runs did and cost, per day, with filters and a CSV (everyone)."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.usage import usage_body
from galaxyco_ui.states.usage import UsageState


def usage_page() -> rx.Component:
    return shell("Usage", rx.cond(UsageState.loaded, usage_body()))
