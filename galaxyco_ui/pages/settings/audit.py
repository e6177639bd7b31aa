"""/settings/audit: the workspace's audit log, filtered, paged and exported (admins and owners)."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.audit_log import audit_events, audit_filters, audit_refused
from galaxyco_ui.components.layout import back_link
from galaxyco_ui.components.shell import shell
from galaxyco_ui.states.audit_log import AuditLogState


def audit_page() -> rx.Component:
    return shell(
        "Audit log",
        back_link("Settings", "/settings"),
        rx.cond(
            AuditLogState.loaded,
            rx.cond(
                AuditLogState.can_view,
                rx.vstack(
                    rx.text(
                        "Who did what in this workspace, newest first: membership, settings, agents, "
                        "keys and sign-ins. Times on this page are in your browser's time zone; the From and To "
                        "dates and the CSV file are in UTC.",
                        size="2",
                        color_scheme="gray",
                    ),
                    audit_filters(),
                    audit_events(),
                    spacing="4",
                    width="100%",
                ),
                audit_refused(),
            ),
        ),
    )
