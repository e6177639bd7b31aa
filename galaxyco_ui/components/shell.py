"""The signed-in app shell: sidebar navigation, workspace switcher, user menu, the bell."""

from __future__ import annotations

import reflex as rx

from galaxyco_ui.components.approvals import nav_count
from galaxyco_ui.components.forms import text_input
from galaxyco_ui.components.notifications import notification_bell
from galaxyco_ui.states.approvals import ApprovalsState
from galaxyco_ui.states.session import SessionState

NAV = (
    ("Agents", "/agents", "bot"),
    ("Knowledge", "/knowledge", "library"),
    ("Runs", "/runs", "activity"),
    ("Approvals", "/approvals", "shield-question"),
    ("Usage", "/usage", "chart-column"),
    ("Team", "/team", "users"),
    ("Settings", "/settings", "settings"),
)


def _nav_link(label: str, href: str, icon: str) -> rx.Component:
    active = rx.State.router.url.path.startswith(href)
    return rx.link(
        rx.hstack(
            rx.icon(icon, size=18, aria_hidden="true"),
            rx.text(label, size="3"),
            nav_count() if href == "/approvals" else rx.fragment(),
            spacing="3",
            align="center",
        ),
        href=href,
        class_name=rx.cond(active, "gx-nav-link gx-nav-link-active", "gx-nav-link"),
        aria_current=rx.cond(active, "page", "false"),
        underline="none",
    )


def _new_workspace_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(rx.icon("plus", size=16), "New workspace", variant="ghost", size="2", width="100%"),
        ),
        rx.dialog.content(
            rx.dialog.title("Create a workspace"),
            rx.dialog.description(
                "A workspace has its own agents, knowledge, team and settings. You will be its owner.",
                size="2",
                margin_bottom="1em",
            ),
            rx.form(
                rx.vstack(
                    text_input(
                        "Workspace name",
                        "name",
                        form_id="new-workspace",
                        error=SessionState.new_workspace_error,
                        required=True,
                        max_length=80,
                        placeholder="Marketing team",
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Create workspace", type="submit"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="4",
                ),
                on_submit=SessionState.create_workspace,
                reset_on_submit=False,
            ),
        ),
        open=SessionState.new_workspace_open,
        on_open_change=SessionState.set_new_workspace_open,
    )


def workspace_switcher() -> rx.Component:
    return rx.vstack(
        rx.el.label("Workspace", html_for="workspace-switcher", class_name="gx-label gx-muted"),
        rx.el.select(
            rx.foreach(
                SessionState.workspaces,
                lambda w: rx.el.option(w.name, value=w.id),
            ),
            id="workspace-switcher",
            value=SessionState.workspace_id,
            on_change=SessionState.switch_workspace,
            class_name="gx-select",
        ),
        _new_workspace_dialog(),
        spacing="2",
        width="100%",
    )


def user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.avatar(fallback=SessionState.user_initials, size="2", radius="full"),
                rx.vstack(
                    rx.text(SessionState.user_name, size="2", weight="medium", trim="both"),
                    rx.text(SessionState.role_label, size="1", color_scheme="gray", trim="both"),
                    spacing="1",
                    align="start",
                ),
                variant="ghost",
                color_scheme="gray",
                size="3",
                aria_label="Account menu",
                class_name="gx-user-button",
            ),
        ),
        rx.menu.content(
            rx.box(rx.text(SessionState.user_email, size="1", color_scheme="gray"), padding="0.25em 0.75em"),
            rx.menu.item(rx.icon("user", size=16), "Profile", on_click=rx.redirect("/profile")),
            rx.menu.item(
                rx.icon("shield-check", size=16),
                "Two-factor authentication",
                on_click=rx.redirect("/profile/security"),
            ),
            rx.menu.item(
                rx.icon("monitor-smartphone", size=16), "Sessions", on_click=rx.redirect("/profile/sessions")
            ),
            rx.menu.item(rx.icon("sun-moon", size=16), "Toggle light/dark", on_click=rx.toggle_color_mode),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("log-out", size=16),
                "Sign out",
                # Sign-out is a POST (a link or image elsewhere cannot sign anyone out).
                on_click=rx.call_script(
                    "const f = document.createElement('form'); f.method = 'post';"
                    " f.action = '/api/auth/logout'; document.body.appendChild(f); f.submit();"
                ),
                color_scheme="red",
            ),
        ),
    )


def sidebar() -> rx.Component:
    return rx.el.nav(
        rx.vstack(
            rx.link(
                rx.hstack(
                    rx.icon("orbit", size=24, aria_hidden="true"),
                    rx.heading("GalaxyCo", size="5"),
                    align="center",
                    spacing="2",
                ),
                href="/agents",
                underline="none",
                color_scheme="gray",
                high_contrast=True,
                aria_label="GalaxyCo home",
            ),
            workspace_switcher(),
            rx.separator(),
            rx.vstack(
                *[_nav_link(*item) for item in NAV],
                spacing="1",
                width="100%",
                on_mount=ApprovalsState.load_count,
            ),
            rx.spacer(),
            user_menu(),
            spacing="4",
            height="100%",
            width="100%",
        ),
        class_name="gx-sidebar",
        aria_label="Main",
    )


def shell(title: rx.Var | str, *children: rx.Component, actions: rx.Component | None = None) -> rx.Component:
    """A signed-in page: sidebar plus a main area with a title row (and the bell) and content."""
    return rx.box(
        rx.el.a("Skip to content", href="#main", class_name="gx-skip-link"),
        sidebar(),
        rx.el.main(
            rx.cond(
                SessionState.signed_in,
                rx.vstack(
                    rx.hstack(
                        rx.heading(title, size="7", as_="h1"),
                        rx.spacer(),
                        actions if actions is not None else rx.fragment(),
                        notification_bell(),
                        align="center",
                        width="100%",
                        wrap="wrap",
                        spacing="3",
                    ),
                    *children,
                    spacing="5",
                    width="100%",
                    max_width="1100px",
                ),
                rx.center(rx.spinner(size="3"), height="50vh"),
            ),
            id="main",
            class_name="gx-main",
        ),
        class_name="gx-app",
    )
