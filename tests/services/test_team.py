"""Team: invitations, accepting them, roles, removal, leaving and ownership transfer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role, TenantContext
from galaxyco_ui.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import get_engine, session_scope
from galaxyco_ui.models import AuditEvent, Invitation, UserSession, WorkspaceMember, utcnow
from galaxyco_ui.services import accounts, audit, invitations, workspaces
from galaxyco_ui.services import team as team_service
from tests.factories import add_member, make_user, membership_id, set_columns, sign_in_as


def _invite(team, email="invitee@example.com", role="member", by=None):
    result = invitations.invite_member(ctx=by or team.owner, email=email, role=role)
    return result.invitation, result.invitation.link.rsplit("/", 1)[1]


def _roles(team) -> dict[str, Role]:
    return {m.user_id: m.role for m in team_service.list_members(ctx=team.owner)}


def _actions(team) -> list[str]:
    return [e.action for e in audit.list_audit_events(ctx=team.owner).events]


def _membership(workspace_id: str, user_id: str) -> WorkspaceMember | None:
    with session_scope() as session:
        return session.exec(
            select(WorkspaceMember).where(
                WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id
            )
        ).first()


# ---------------------------------------------------------------- inviting


@pytest.mark.parametrize("by", ["owner", "admin"])
def test_inviting_someone_gives_a_link_containing_a_secret_token(team, by):
    result = invitations.invite_member(ctx=team.ctx(by), email=" Guest@Example.COM ", role="viewer")
    invitation = result.invitation
    token = invitation.link.rsplit("/", 1)[1]
    assert invitation.link == f"http://localhost:3000/invite/{token}"
    assert len(token) >= 32
    assert (invitation.email, invitation.role, invitation.status) == (
        "guest@example.com",
        Role.VIEWER,
        "pending",
    )
    assert invitation.expires_at > utcnow() + timedelta(days=6)
    assert result.emailed is False  # no SMTP configured: the link is shown to copy instead
    with session_scope() as session:
        row = session.get(Invitation, invitation.id)
        assert row is not None and token not in (row.token_hash, row.token_encrypted)
    assert _actions(team) == ["invitation.created"]


def test_a_second_pending_invitation_for_the_same_email_is_a_conflict(team):
    _invite(team, email="twice@example.com")
    with pytest.raises(ConflictError) as exc:
        _invite(team, email="TWICE@example.com", by=team.admin)
    assert "pending invitation" in exc.value.field_errors["email"]


def test_an_expired_invitation_does_not_block_a_new_one(team):
    old, _ = _invite(team, email="late@example.com")
    set_columns(Invitation, old.id, expires_at=utcnow() - timedelta(minutes=1))
    new, _ = _invite(team, email="late@example.com")
    assert new.id != old.id


def test_inviting_an_existing_member_is_a_conflict(team):
    member = make_user(email="already@example.com", personal=False)
    add_member(team.workspace_id, Role.VIEWER, user=member)
    with pytest.raises(ConflictError) as exc:
        _invite(team, email="already@example.com")
    assert "already a member" in exc.value.field_errors["email"]


@pytest.mark.parametrize("email", ["", "not-an-email", "a@", "@example.com"])
def test_inviting_an_invalid_email_is_refused(team, email):
    with pytest.raises(ValidationError) as exc:
        _invite(team, email=email)
    assert "email" in exc.value.field_errors


@pytest.mark.parametrize("role", ["owner", "superuser", ""])
def test_inviting_as_owner_or_an_unknown_role_is_refused(team, role):
    with pytest.raises(ValidationError) as exc:
        _invite(team, role=role)
    assert "role" in exc.value.field_errors
    assert invitations.list_invitations(ctx=team.owner) == []


def test_only_managers_see_invitation_links(team):
    _invite(team)
    assert invitations.list_invitations(ctx=team.admin)[0].link.startswith("http://localhost:3000/invite/")
    for ctx in (team.member, team.viewer):
        [seen] = invitations.list_invitations(ctx=ctx)
        assert (seen.email, seen.link) == ("invitee@example.com", "")


def test_expired_and_answered_invitations_are_not_listed(team):
    expired, _ = _invite(team, email="expired@example.com")
    set_columns(Invitation, expired.id, expires_at=utcnow() - timedelta(seconds=1))
    revoked, _ = _invite(team, email="revoked@example.com")
    invitations.revoke_invitation(ctx=team.admin, invitation_id=revoked.id)
    _invite(team, email="pending@example.com")
    assert [i.email for i in invitations.list_invitations(ctx=team.owner)] == ["pending@example.com"]


# ---------------------------------------------------------------- previewing and answering


def test_preview_shows_what_the_invitation_offers(team):
    invitation, token = _invite(team, email="new@example.com", role="admin")
    preview = invitations.preview_invitation(token=token)
    assert preview.workspace_name == "Acme"
    assert preview.inviter_name.startswith("User ")
    assert (preview.email, preview.role, preview.status) == ("new@example.com", Role.ADMIN, "pending")
    assert (preview.expired, preview.has_account) == (False, False)
    make_user(email="new@example.com")
    assert invitations.preview_invitation(token=token).has_account is True


def test_preview_reports_an_expired_invitation(team):
    invitation, token = _invite(team)
    set_columns(Invitation, invitation.id, expires_at=utcnow() - timedelta(hours=1))
    assert invitations.preview_invitation(token=token).expired is True


@pytest.mark.parametrize("token", ["", "made-up-token"])
def test_preview_of_an_unknown_token_is_not_found(team, token):
    with pytest.raises(NotFoundError):
        invitations.preview_invitation(token=token)


def test_the_invited_user_joins_with_the_role_of_the_invitation(team):
    invitation, token = _invite(team, email="joiner@example.com", role="admin")
    joiner = make_user(email="joiner@example.com")
    assert invitations.accept_invitation(user_id=joiner.id, token=token) == team.workspace_id
    assert _roles(team)[joiner.id] is Role.ADMIN
    assert invitations.preview_invitation(token=token).status == "accepted"
    assert invitations.list_invitations(ctx=team.owner) == []
    event = audit.list_audit_events(ctx=team.owner).events[0]
    assert (event.action, event.target_id) == ("invitation.accepted", invitation.id)
    assert "joined as Admin" in event.summary


def test_accepting_switches_the_session_to_the_new_workspace(team):
    _, token = _invite(team, email="switch@example.com")
    joiner = sign_in_as(make_user(email="switch@example.com"))
    assert joiner.auth.workspace_id != team.workspace_id  # their personal workspace
    invitations.accept_invitation(user_id=joiner.user.id, token=token, session_id=joiner.auth.session_id)
    now = accounts.resolve_session(token=joiner.token)
    assert now is not None
    assert (now.workspace_id, now.role) == (team.workspace_id, Role.MEMBER)


def test_accepting_does_not_switch_someone_elses_session(team):
    _, token = _invite(team, email="joiner@example.com")
    joiner = make_user(email="joiner@example.com")
    bystander = sign_in_as(make_user())
    invitations.accept_invitation(user_id=joiner.id, token=token, session_id=bystander.auth.session_id)
    with session_scope() as session:
        row = session.get(UserSession, bystander.auth.session_id)
        assert row is not None and row.current_workspace_id == bystander.auth.workspace_id


def test_an_invitation_cannot_be_accepted_by_another_email(team):
    _, token = _invite(team, email="intended@example.com")
    intruder = make_user(email="intruder@example.com")
    with pytest.raises(ValidationError) as exc:
        invitations.accept_invitation(user_id=intruder.id, token=token)
    assert "sent to intended@example.com" in exc.value.field_errors["invite"]
    assert _membership(team.workspace_id, intruder.id) is None
    assert invitations.preview_invitation(token=token).status == "pending"


def test_the_email_match_ignores_case(team):
    _, token = _invite(team, email="Mixed@Example.com")
    user = make_user(email="mixed@example.com")
    invitations.accept_invitation(user_id=user.id, token=token)
    assert _roles(team)[user.id] is Role.MEMBER


def test_an_invitation_can_be_used_only_once(team):
    _, token = _invite(team, email="once@example.com")
    user = make_user(email="once@example.com")
    invitations.accept_invitation(user_id=user.id, token=token)
    with pytest.raises(ValidationError, match="already been accepted"):
        invitations.accept_invitation(user_id=user.id, token=token)


def test_a_declined_invitation_cannot_be_accepted(team):
    invitation, token = _invite(team, email="no@example.com")
    user = make_user(email="no@example.com")
    invitations.decline_invitation(user_id=user.id, token=token)
    assert _actions(team)[0] == "invitation.declined"
    with pytest.raises(ValidationError, match="declined"):
        invitations.accept_invitation(user_id=user.id, token=token)
    assert _membership(team.workspace_id, user.id) is None


def test_a_revoked_invitation_cannot_be_accepted(team):
    invitation, token = _invite(team, email="late@example.com")
    invitations.revoke_invitation(ctx=team.admin, invitation_id=invitation.id)
    assert _actions(team)[0] == "invitation.revoked"
    user = make_user(email="late@example.com")
    with pytest.raises(ValidationError, match="withdrawn"):
        invitations.accept_invitation(user_id=user.id, token=token)
    assert _membership(team.workspace_id, user.id) is None


def test_an_expired_invitation_cannot_be_accepted_or_declined(team):
    invitation, token = _invite(team, email="slow@example.com")
    set_columns(Invitation, invitation.id, expires_at=utcnow() - timedelta(seconds=1))
    user = make_user(email="slow@example.com")
    for answer in (invitations.accept_invitation, invitations.decline_invitation):
        with pytest.raises(ValidationError, match="expired"):
            answer(user_id=user.id, token=token)
    assert _membership(team.workspace_id, user.id) is None


def test_a_revoked_invitation_cannot_be_revoked_again(team):
    invitation, _ = _invite(team)
    invitations.revoke_invitation(ctx=team.owner, invitation_id=invitation.id)
    with pytest.raises(NotFoundError):
        invitations.revoke_invitation(ctx=team.owner, invitation_id=invitation.id)


# ---------------------------------------------------------------- roles


def test_admin_changes_a_members_role_and_it_is_audited(team):
    view = team_service.change_role(ctx=team.admin, member_id=membership_id(team.member), role="viewer")
    assert (view.user_id, view.role) == (team.member.user_id, Role.VIEWER)
    assert _roles(team)[team.member.user_id] is Role.VIEWER
    event = audit.list_audit_events(ctx=team.owner).events[0]
    assert (event.action, event.target_id) == ("member.role_changed", team.member.user_id)
    assert "from Member to Viewer" in event.summary


def test_admin_may_promote_a_member_to_admin(team):
    team_service.change_role(ctx=team.admin, member_id=membership_id(team.viewer), role="admin")
    assert _roles(team)[team.viewer.user_id] is Role.ADMIN


def test_setting_the_same_role_writes_no_audit_event(team):
    team_service.change_role(ctx=team.owner, member_id=membership_id(team.member), role="member")
    assert _actions(team) == []


def test_admin_cannot_change_an_owners_role(team):
    with pytest.raises(PermissionDeniedError):
        team_service.change_role(ctx=team.admin, member_id=membership_id(team.owner), role="viewer")
    assert _roles(team)[team.owner.user_id] is Role.OWNER


def test_admin_cannot_make_anyone_an_owner(team):
    for target in (team.member, team.admin):
        with pytest.raises(PermissionDeniedError):
            team_service.change_role(ctx=team.admin, member_id=membership_id(target), role="owner")
    assert sorted(_roles(team).values()) == sorted(Role)


def test_owner_may_make_someone_a_second_owner(team):
    team_service.change_role(ctx=team.owner, member_id=membership_id(team.admin), role="owner")
    assert _roles(team)[team.admin.user_id] is Role.OWNER


def test_the_last_owner_cannot_be_demoted(team):
    with pytest.raises(ValidationError, match="at least one owner"):
        team_service.change_role(ctx=team.owner, member_id=membership_id(team.owner), role="admin")
    assert _roles(team)[team.owner.user_id] is Role.OWNER


def test_an_owner_can_be_demoted_when_another_owner_remains(team):
    second = add_member(team.workspace_id, Role.OWNER)
    team_service.change_role(ctx=second, member_id=membership_id(team.owner), role="admin")
    assert _roles(team)[team.owner.user_id] is Role.ADMIN


def test_an_unknown_role_is_refused(team):
    with pytest.raises(ValidationError) as exc:
        team_service.change_role(ctx=team.owner, member_id=membership_id(team.member), role="god")
    assert "role" in exc.value.field_errors


# ---------------------------------------------------------------- removing and leaving


def test_admin_removes_a_member_who_then_loses_the_workspace(team):
    removed = team.member
    team_service.remove_member(ctx=team.admin, member_id=membership_id(removed))
    assert removed.user_id not in _roles(team)
    event = audit.list_audit_events(ctx=team.owner).events[0]
    assert (event.action, event.target_id) == ("member.removed", removed.user_id)


def test_a_removed_users_session_falls_back_to_another_workspace(team):
    user = make_user()  # has a personal workspace
    ctx = add_member(team.workspace_id, Role.MEMBER, user=user)
    signed = sign_in_as(user)
    workspaces.switch_workspace(
        user_id=user.id, session_id=signed.auth.session_id, workspace_id=team.workspace_id
    )
    team_service.remove_member(ctx=team.owner, member_id=membership_id(ctx))
    now = accounts.resolve_session(token=signed.token)
    assert now is not None
    assert now.workspace_id not in (None, team.workspace_id)
    assert now.role is Role.OWNER


def test_admin_may_remove_another_admin(team):
    other_admin = add_member(team.workspace_id, Role.ADMIN)
    team_service.remove_member(ctx=team.admin, member_id=membership_id(other_admin))
    assert other_admin.user_id not in _roles(team)


def test_admin_cannot_remove_an_owner(team):
    with pytest.raises(PermissionDeniedError):
        team_service.remove_member(ctx=team.admin, member_id=membership_id(team.owner))
    assert team.owner.user_id in _roles(team)


def test_owner_may_remove_another_owner(team):
    second = add_member(team.workspace_id, Role.OWNER)
    team_service.remove_member(ctx=team.owner, member_id=membership_id(second))
    assert second.user_id not in _roles(team)


def test_nobody_removes_themselves_they_leave_instead(team):
    with pytest.raises(ValidationError, match="Leave workspace"):
        team_service.remove_member(ctx=team.admin, member_id=membership_id(team.admin))
    assert team.admin.user_id in _roles(team)


def test_removing_an_unknown_member_is_not_found(team):
    with pytest.raises(NotFoundError):
        team_service.remove_member(ctx=team.owner, member_id="nobody")


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_a_non_owner_leaves_and_it_is_audited(team, role):
    ctx = team.ctx(role)
    team_service.leave_workspace(ctx=ctx)
    assert ctx.user_id not in _roles(team)
    event = audit.list_audit_events(ctx=team.owner).events[0]
    assert (event.action, event.target_id) == ("member.left", ctx.user_id)


def test_the_last_owner_cannot_leave(team):
    with pytest.raises(ValidationError, match="only owner"):
        team_service.leave_workspace(ctx=team.owner)
    assert _roles(team)[team.owner.user_id] is Role.OWNER


def test_leaving_twice_is_not_found(team):
    team_service.leave_workspace(ctx=team.member)
    with pytest.raises(NotFoundError):
        team_service.leave_workspace(ctx=team.member)


# ---------------------------------------------------------------- ownership


def test_transferring_ownership_makes_the_old_owner_an_admin(team):
    team_service.transfer_ownership(ctx=team.owner, member_id=membership_id(team.member))
    roles = _roles(team)
    assert (roles[team.member.user_id], roles[team.owner.user_id]) == (Role.OWNER, Role.ADMIN)
    with session_scope() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "workspace.ownership_transferred")
        ).one()
    assert (event.workspace_id, event.target_id) == (team.workspace_id, team.member.user_id)


def test_transferring_ownership_to_oneself_is_refused(team):
    with pytest.raises(ValidationError):
        team_service.transfer_ownership(ctx=team.owner, member_id=membership_id(team.owner))
    assert _roles(team)[team.owner.user_id] is Role.OWNER


def test_every_membership_change_is_audited(team):
    invitation, token = _invite(team, email="cycle@example.com")
    joiner = make_user(email="cycle@example.com")
    invitations.accept_invitation(user_id=joiner.id, token=token)
    joined = membership_id(TenantContext(user_id=joiner.id, workspace_id=team.workspace_id, role=Role.MEMBER))
    team_service.change_role(ctx=team.owner, member_id=joined, role="admin")
    team_service.transfer_ownership(ctx=team.owner, member_id=joined)
    new_owner = TenantContext(user_id=joiner.id, workspace_id=team.workspace_id, role=Role.OWNER)
    team_service.remove_member(ctx=new_owner, member_id=membership_id(team.viewer))
    team_service.leave_workspace(ctx=team.member)
    assert _actions(team) == [
        "member.left",
        "member.removed",
        "workspace.ownership_transferred",
        "member.role_changed",
        "invitation.accepted",
        "invitation.created",
    ]


# ---------------------------------------------------------------- races on the last owner


@contextmanager
def _pause_after_counting_owners(racers: set[int]) -> Iterator[None]:
    """Make each racing thread wait (up to 1 s) for the other once it has counted owners.

    Without a lock both count two owners and both go on to write; with one, the second
    thread's count waits for the first transaction, so the first stops waiting after 1 s.
    """
    barrier = threading.Barrier(2)
    paused: set[int] = set()

    def after_execute(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        me = threading.get_ident()
        text = statement.lower()
        if me in racers and me not in paused and "count(" in text and "workspace_members" in text:
            paused.add(me)
            with suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=1)

    engine = get_engine()
    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        yield
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)


def _race(*calls: Callable[[], None]) -> list[str]:
    """Run ``calls`` in parallel threads; each result is "ok" or the error message."""
    racers: set[int] = set()
    results: list[str] = [""] * len(calls)

    def run(index: int, call: Callable[[], None]) -> None:
        racers.add(threading.get_ident())
        try:
            call()
            results[index] = "ok"
        except ValidationError as exc:
            results[index] = exc.message

    with _pause_after_counting_owners(racers):
        threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return results


def _owners(team) -> list[str]:
    return [user_id for user_id, role in _roles_any(team.workspace_id).items() if role is Role.OWNER]


def _roles_any(workspace_id: str) -> dict[str, Role]:
    with session_scope() as session:
        rows = session.exec(select(WorkspaceMember).where(WorkspaceMember.workspace_id == workspace_id)).all()
        return {m.user_id: Role(m.role) for m in rows}


@pytest.mark.parametrize(
    "action",
    ["demote each other", "remove each other", "both leave"],
)
def test_two_owners_acting_at_once_still_leave_the_workspace_an_owner(team, action):
    first, second = team.owner, add_member(team.workspace_id, Role.OWNER)
    first_id, second_id = membership_id(first), membership_id(second)
    calls = {
        "demote each other": (
            lambda: team_service.change_role(ctx=first, member_id=second_id, role="admin"),
            lambda: team_service.change_role(ctx=second, member_id=first_id, role="admin"),
        ),
        "remove each other": (
            lambda: team_service.remove_member(ctx=first, member_id=second_id),
            lambda: team_service.remove_member(ctx=second, member_id=first_id),
        ),
        "both leave": (
            lambda: team_service.leave_workspace(ctx=first),
            lambda: team_service.leave_workspace(ctx=second),
        ),
    }[action]
    results = _race(*calls)
    assert sorted(results)[1] == "ok"
    assert "owner" in sorted(results)[0]
    assert len(_owners(team)) == 1


# ---------------------------------------------------------------- invitations of people who left


def test_removing_a_member_revokes_the_invitations_they_sent(team):
    theirs, _ = _invite(team, email="friend@example.com", by=team.admin)
    ours, _ = _invite(team, email="colleague@example.com", by=team.owner)
    team_service.remove_member(ctx=team.owner, member_id=membership_id(team.admin))
    assert [i.id for i in invitations.list_invitations(ctx=team.owner)] == [ours.id]
    with session_scope() as session:
        assert session.get(Invitation, theirs.id).status == "revoked"


def test_leaving_revokes_the_invitations_one_sent(team):
    theirs, token = _invite(team, email="friend@example.com", by=team.admin)
    team_service.leave_workspace(ctx=team.admin)
    assert invitations.list_invitations(ctx=team.owner) == []
    friend = make_user(email="friend@example.com")
    with pytest.raises(ValidationError, match="withdrawn"):
        invitations.accept_invitation(user_id=friend.id, token=token)
    assert _membership(team.workspace_id, friend.id) is None


def test_an_invitation_whose_inviter_is_no_longer_a_member_cannot_be_accepted(team):
    # The inviter's membership is gone but the invitation is still pending (e.g. the
    # membership row was deleted by an older version): accepting must still refuse.
    _, token = _invite(team, email="friend@example.com", by=team.admin)
    with session_scope() as session:
        session.delete(session.get(WorkspaceMember, membership_id(team.admin)))
    friend = make_user(email="friend@example.com")
    with pytest.raises(ValidationError, match="no longer"):
        invitations.accept_invitation(user_id=friend.id, token=token)
    assert _membership(team.workspace_id, friend.id) is None


def test_demoting_an_admin_below_managing_members_revokes_their_invitations(team):
    _, token = _invite(team, email="friend@example.com", role="admin", by=team.admin)
    team_service.change_role(ctx=team.owner, member_id=membership_id(team.admin), role="viewer")
    assert invitations.list_invitations(ctx=team.owner) == []
    friend = make_user(email="friend@example.com")
    with pytest.raises(ValidationError):
        invitations.accept_invitation(user_id=friend.id, token=token)
    assert _membership(team.workspace_id, friend.id) is None


@pytest.mark.parametrize("invitation_id", ["inv\x00", "inv\udc80", "x" * 5000, 42])
def test_revoking_an_invitation_id_that_could_never_exist_is_not_found_without_a_crash(team, invitation_id):
    # Found by tests/fuzz: a NUL in the id reached PostgreSQL (DataError), a lone surrogate crashed both.
    invitations.invite_member(ctx=team.admin, email="new@example.com", role="member")

    with pytest.raises(NotFoundError):
        invitations.revoke_invitation(ctx=team.admin, invitation_id=invitation_id)

    assert [i.status for i in invitations.list_invitations(ctx=team.admin)] == ["pending"]
