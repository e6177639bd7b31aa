"""/team: who is in the workspace, with which role, and who is invited."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from galaxyco_ui.components.dialogs import confirm_dialog
from galaxyco_ui.components.forms import select_input, text_input
from galaxyco_ui.components.shell import shell
from galaxyco_ui.components.tables import data_table
from galaxyco_ui.services.invitations import InvitationView
from galaxyco_ui.services.team import MemberView
from galaxyco_ui.states.session import SessionState
from galaxyco_ui.states.team import TeamState

ROLE_OPTIONS = [("admin", "Admin"), ("member", "Member"), ("viewer", "Viewer")]
ROLE_HELP = {
    "owner": "Everything, including ownership and deleting the workspace.",
    "admin": "Manages members, agents, knowledge, schedules, settings and provider keys.",
    "member": "Creates and edits their own agents, runs any agent, uploads knowledge.",
    "viewer": "Reads everything, runs and changes nothing.",
}


def role_badge(role: rx.Var) -> rx.Component:
    return rx.badge(
        role,
        color_scheme=rx.match(role, ("owner", "amber"), ("admin", "indigo"), ("member", "green"), "gray"),
        variant="soft",
        text_transform="capitalize",
    )


def _role_cell(m: ObjectVar[MemberView]) -> rx.Component:
    # Owners' roles change only through an owner; admins see them read-only.
    editable = (
        SessionState.can_manage_members
        & ~m.is_you
        & ((m.role != "owner") | SessionState.can_transfer_ownership)
    )
    return rx.cond(
        editable,
        rx.box(
            rx.el.label(
                "Role for " + m.name.to(str), html_for="role-" + m.id.to(str), class_name="gx-sr-only"
            ),
            rx.el.select(
                rx.cond(SessionState.can_transfer_ownership, rx.el.option("Owner", value="owner")),
                *[rx.el.option(label, value=value) for value, label in ROLE_OPTIONS],
                id="role-" + m.id.to(str),
                value=m.role,
                on_change=lambda role: TeamState.change_role(m.id, role),
                class_name="gx-select",
                width="9em",
            ),
        ),
        role_badge(m.role),
    )


def _member_actions(m: ObjectVar[MemberView]) -> rx.Component:
    return rx.hstack(
        rx.cond(
            SessionState.can_transfer_ownership & ~m.is_you & (m.role != "owner"),
            confirm_dialog(
                rx.button("Make owner", size="1", variant="soft"),
                title="Transfer ownership?",
                body=m.name.to(str) + " becomes the owner of this workspace and you become an admin.",
                confirm_label="Transfer ownership",
                on_confirm=TeamState.transfer(m.id),
            ),
        ),
        rx.cond(
            SessionState.can_manage_members
            & ~m.is_you
            & ((m.role != "owner") | SessionState.can_transfer_ownership),
            confirm_dialog(
                rx.button(
                    "Remove",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    aria_label="Remove " + m.name.to(str),
                ),
                title="Remove this member?",
                body=m.name.to(str) + " (" + m.email.to(str) + ") will lose access to this workspace.",
                confirm_label="Remove member",
                on_confirm=TeamState.remove(m.id),
            ),
        ),
        rx.cond(
            m.is_you,
            confirm_dialog(
                rx.button("Leave workspace", size="1", variant="soft", color_scheme="red"),
                title="Leave this workspace?",
                body="You will lose access to its agents and knowledge until someone invites you again.",
                confirm_label="Leave",
                on_confirm=TeamState.leave,
            ),
        ),
        spacing="2",
        justify="end",
    )


def _member_row(m: ObjectVar[MemberView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.hstack(
                rx.text(m.name, weight="medium"),
                rx.cond(m.is_you, rx.badge("you", variant="outline", color_scheme="gray")),
                spacing="2",
                align="center",
            ),
        ),
        rx.table.cell(rx.text(m.email, size="2")),
        rx.table.cell(_role_cell(m)),
        rx.table.cell(rx.moment(m.joined_at, format="YYYY-MM-DD", size="2")),
        rx.table.cell(_member_actions(m)),
        align="center",
    )


def _invite_form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Invite someone", size="4", as_="h2"),
            rx.form(
                rx.flex(
                    rx.box(
                        text_input(
                            "Email address",
                            "email",
                            form_id="invite",
                            type="email",
                            required=True,
                            placeholder="name@company.com",
                            error=TeamState.invite_errors.get("email", ""),
                        ),
                        flex="2",
                        min_width="240px",
                    ),
                    rx.box(
                        select_input(
                            "Role",
                            "role",
                            ROLE_OPTIONS,
                            form_id="invite",
                            default_value="member",
                            error=TeamState.invite_errors.get("role", ""),
                        ),
                        flex="1",
                        min_width="140px",
                    ),
                    rx.button(
                        rx.icon("send", size=16), "Send invite", type="submit", size="3", margin_top="1.6em"
                    ),
                    spacing="3",
                    wrap="wrap",
                    align="start",
                    width="100%",
                ),
                on_submit=TeamState.invite,
                # A refused invite keeps the typed address; a sent one bumps the key,
                # which mounts an empty form.
                reset_on_submit=False,
                key=TeamState.invite_form_key,
                width="100%",
            ),
            rx.cond(
                TeamState.last_invite_link != "",
                rx.callout(
                    rx.vstack(
                        rx.text(TeamState.last_invite_note, size="2"),
                        rx.hstack(
                            rx.code(TeamState.last_invite_link, class_name="gx-code", id="invite-link"),
                            rx.button(
                                rx.icon("copy", size=14),
                                "Copy link",
                                size="1",
                                on_click=TeamState.copy_link(TeamState.last_invite_link),  # type: ignore[operator]  # rx.event handler: untyped to mypy
                            ),
                            rx.icon_button(
                                rx.icon("x", size=14),
                                size="1",
                                variant="ghost",
                                aria_label="Dismiss",
                                on_click=TeamState.dismiss_invite_link,
                            ),
                            align="center",
                            wrap="wrap",
                        ),
                        spacing="2",
                    ),
                    icon="link",
                    color_scheme="green",
                    width="100%",
                ),
            ),
            rx.vstack(
                *[
                    rx.text(rx.text.strong(label + ": "), ROLE_HELP[key], size="1", color_scheme="gray")
                    for key, label in ROLE_OPTIONS
                ],
                spacing="1",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _invitation_row(inv: ObjectVar[InvitationView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(inv.email),
        rx.table.cell(role_badge(inv.role)),
        rx.table.cell(rx.text(inv.invited_by, size="2")),
        rx.table.cell(rx.moment(inv.expires_at, from_now=True, size="2")),
        rx.table.cell(
            rx.cond(
                SessionState.can_manage_members,
                rx.hstack(
                    rx.button(
                        rx.icon("copy", size=14),
                        "Copy link",
                        size="1",
                        variant="soft",
                        on_click=TeamState.copy_link(inv.link),  # type: ignore[operator]  # rx.event handler: untyped to mypy
                    ),
                    rx.button(
                        "Revoke",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=TeamState.revoke(inv.id),
                        aria_label="Revoke invitation for " + inv.email.to(str),
                    ),
                    spacing="2",
                    justify="end",
                ),
            )
        ),
        align="center",
    )


def team_page() -> rx.Component:
    members = data_table(
        ["Name", "Email", "Role", "Joined", ""], TeamState.members, _member_row, variant="surface"
    )
    invitations = rx.cond(
        TeamState.invitations.length() > 0,
        rx.vstack(
            rx.heading("Pending invitations", size="4", as_="h2"),
            data_table(
                ["Email", "Role", "Invited by", "Expires", ""],
                TeamState.invitations,
                _invitation_row,
                variant="surface",
            ),
            width="100%",
            spacing="3",
        ),
    )
    return shell(
        "Team",
        rx.text(
            "Everyone in ",
            rx.text.strong(SessionState.workspace_name),
            " and what they may do.",
            color_scheme="gray",
        ),
        rx.cond(SessionState.can_manage_members, _invite_form()),
        rx.vstack(rx.heading("Members", size="4", as_="h2"), members, width="100%", spacing="3"),
        invitations,
    )
