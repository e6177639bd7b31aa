"""/approvals: the tool calls waiting for a person in the workspace, with Approve / Deny."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.approvals import approvals_inbox
from galaxyco_ui.components.shell import shell
from galaxyco_ui.states.approvals import ApprovalsState


def approvals_page() -> rx.Component:
    return shell("Approvals", rx.cond(ApprovalsState.loaded, approvals_inbox()))
