"""The bell in the shell (unread badge, the list in a popover) and the preferences card.

Titles and bodies are plain text written by GalaxyCo around names users chose: they
are rendered as text, never as Markdown or HTML.
"""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.services.notifications import NotificationView, PreferenceView
from galaxyco_ui.states.notifications import NotificationPrefsState, NotificationsState


def _item(n: ObjectVar[NotificationView]) -> rx.Component:
    return rx.el.li(
        rx.el.button(
            rx.hstack(
                rx.box(
                    width="8px",
                    height="8px",
                    border_radius="50%",
                    flex_shrink="0",
                    margin_top="6px",
                    background=rx.cond(n.read, "transparent", "var(--accent-9)"),
                    aria_hidden="true",
                ),
                rx.vstack(
                    rx.text(n.title, size="2", weight=rx.cond(n.read, "regular", "bold")),
                    rx.cond(
                        n.body != "",
                        rx.text(n.body, size="1", color_scheme="gray", class_name="gx-notification-body"),
                    ),
                    rx.text(
                        n.kind_label,
                        " · ",
                        rx.moment(n.created_at, from_now=True),
                        rx.cond(n.read, "", " · unread"),
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="1",
                    align="start",
                    width="100%",
                ),
                spacing="2",
                align="start",
                width="100%",
            ),
            type="button",
            on_click=NotificationsState.open_item(n.id),
            class_name="gx-notification",
            style={
                "width": "100%",
                "text_align": "left",
                "padding": "8px",
                "border_radius": "6px",
                "background": rx.cond(n.read, "transparent", "var(--accent-a3)"),
                "cursor": "pointer",
                "border": "none",
                "color": "inherit",
                "white_space": "pre-wrap",
                "overflow_wrap": "anywhere",
            },
        ),
        list_style="none",
    )


def notification_bell() -> rx.Component:
    """The bell: its label and badge say how many are unread; it opens the list."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.box(
                rx.icon_button(
                    rx.icon("bell", size=18, aria_hidden="true"),
                    variant="ghost",
                    color_scheme="gray",
                    size="3",
                    aria_label=NotificationsState.bell_label,
                    id="notification-bell",
                ),
                rx.cond(
                    NotificationsState.unread > 0,
                    rx.badge(
                        NotificationsState.badge,
                        color_scheme="red",
                        variant="solid",
                        radius="full",
                        size="1",
                        aria_hidden="true",
                        id="notification-badge",
                        position="absolute",
                        top="-4px",
                        right="-6px",
                        pointer_events="none",
                    ),
                ),
                position="relative",
                display="inline-flex",
                on_mount=NotificationsState.start,
            ),
        ),
        rx.popover.content(
            rx.vstack(
                rx.hstack(
                    rx.heading("Notifications", size="3", as_="h2"),
                    rx.spacer(),
                    rx.button(
                        "Mark all as read",
                        size="1",
                        variant="soft",
                        on_click=NotificationsState.mark_all_read,
                        disabled=NotificationsState.unread == 0,
                    ),
                    align="center",
                    width="100%",
                ),
                rx.cond(
                    NotificationsState.items.length() > 0,
                    rx.el.ul(
                        rx.foreach(NotificationsState.items, _item),
                        aria_label="Notifications",
                        style={"padding": "0", "margin": "0", "width": "100%"},
                    ),
                    rx.text(
                        "Nothing yet. Failed or skipped scheduled runs, budgets and more show up here.",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                rx.cond(
                    NotificationsState.next_cursor != "",
                    rx.button("Show older", size="1", variant="ghost", on_click=NotificationsState.older),
                ),
                rx.link("Notification settings", href="/profile", size="1"),
                spacing="2",
                width="100%",
            ),
            width="380px",
            max_height="70vh",
            overflow_y="auto",
            aria_label="Notifications",
        ),
        open=NotificationsState.open,
        on_open_change=NotificationsState.set_open,
    )


def _pref_row(p: ObjectVar[PreferenceView]) -> rx.Component:
    def switch(channel: str, label: str, checked: rx.Var) -> rx.Component:
        control_id = "pref-" + p.kind.to(str) + "-" + channel
        return rx.hstack(
            rx.switch(
                id=control_id,
                checked=checked,
                on_change=lambda value: NotificationPrefsState.set_pref(p.kind, channel, value),
                aria_label=label + ": " + p.label.to(str),
            ),
            rx.el.label(label, html_for=control_id, class_name="gx-label"),
            spacing="2",
            align="center",
        )

    return rx.table.row(
        rx.table.row_header_cell(rx.text(p.label, size="2")),
        rx.table.cell(switch("in_app", "In app", p.in_app)),
        rx.table.cell(switch("email", "Email", p.email)),
    )


def notification_prefs_card() -> rx.Component:
    """Profile → Notifications: in the app and by email, per kind."""
    return rx.card(
        rx.vstack(
            rx.heading("Notifications", size="4", as_="h2"),
            rx.text(
                "Choose what shows under the bell and what is also emailed to you. "
                "Your choices apply in every workspace you belong to.",
                size="2",
                color_scheme="gray",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Notification"),
                        rx.table.column_header_cell("In app"),
                        rx.table.column_header_cell("Email"),
                    )
                ),
                rx.table.body(rx.foreach(NotificationPrefsState.prefs, _pref_row)),
                width="100%",
                size="1",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        max_width="640px",
        on_mount=NotificationPrefsState.load,
        id="notification-preferences",
    )
