"""The kinds of notification, their labels, and each one's default delivery.

A member's choice for a kind is a ``NotificationPref`` row; a kind without a row uses
``DEFAULTS``: every kind shows under the bell, and the ones that need someone to act
soon (a scheduled run failed, a budget is used up and stops runs, a webhook endpoint
stopped receiving events) are also mailed. A tool call that waits for approval is shown
in the app only: the run page and the Approvals inbox are where it is decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from galaxyco_ui.models.notifications import NOTIFICATION_KINDS

KIND_LABELS: dict[str, str] = {
    "schedule_failed": "Scheduled run failed",
    "schedule_skipped": "Scheduled run skipped",
    "budget_80": "Budget 80% used",
    "budget_100": "Budget used up",
    "document_failed": "Document failed to index",
    "invite_accepted": "Invitation accepted",
    "webhook_disabled": "Webhook endpoint disabled",
    "approval_requested": "Tool call waits for approval",
}
assert tuple(KIND_LABELS) == NOTIFICATION_KINDS, "a kind without a label (or a label without a kind)"

EMAILED_BY_DEFAULT = frozenset({"schedule_failed", "budget_100", "webhook_disabled"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a kind of notification goes for one member."""

    in_app: bool
    email: bool


DEFAULTS: dict[str, Delivery] = {
    kind: Delivery(in_app=True, email=kind in EMAILED_BY_DEFAULT) for kind in NOTIFICATION_KINDS
}
