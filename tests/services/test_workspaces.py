"""Workspaces: the personal one from sign-up, create, list, switch, rename."""

from __future__ import annotations

import pytest

from galaxyco_ui.auth.permissions import Role, TenantContext
from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.services import accounts, audit, workspaces
from galaxyco_ui.services import team as team_service
from tests.factories import BROWSER_BINDING, PASSWORD, add_member, make_user, sign_in_as


def _signed_up(name: str = "Ada Lovelace", email: str = "ada@example.com"):
    ticket = accounts.sign_up(email=email, name=name, password=PASSWORD, binding=BROWSER_BINDING)
    token = accounts.exchange_ticket(ticket=ticket, binding=BROWSER_BINDING)
    auth = accounts.resolve_session(token=token)
    assert auth is not None
    return token, auth


def test_sign_up_creates_a_personal_workspace_owned_by_the_new_user():
    _, auth = _signed_up()
    [personal] = workspaces.list_my_workspaces(user_id=auth.user_id)
    assert (personal.name, personal.role) == ("Ada's workspace", Role.OWNER)
    assert (auth.workspace_id, auth.role) == (personal.id, Role.OWNER)


def test_the_personal_workspace_creation_is_audited():
    _, auth = _signed_up()
    assert auth.workspace_id is not None and auth.role is not None
    ctx = TenantContext(user_id=auth.user_id, workspace_id=auth.workspace_id, role=auth.role)
    [event] = audit.list_audit_events(ctx=ctx).events
    assert (event.action, event.target_id) == ("workspace.created", auth.workspace_id)


def test_creating_a_workspace_makes_the_user_its_owner_and_switches_to_it():
    token, auth = _signed_up()
    created = workspaces.create_workspace(
        user_id=auth.user_id, name="  Side   project ", session_id=auth.session_id
    )
    assert (created.name, created.role) == ("Side project", Role.OWNER)
    now = accounts.resolve_session(token=token)
    assert now is not None and (now.workspace_id, now.role) == (created.id, Role.OWNER)


def test_creating_a_workspace_without_a_session_leaves_the_current_one():
    token, auth = _signed_up()
    workspaces.create_workspace(user_id=auth.user_id, name="Elsewhere")
    now = accounts.resolve_session(token=token)
    assert now is not None and now.workspace_id == auth.workspace_id


@pytest.mark.parametrize(("name", "message"), [("", "Workspace name is required."), ("w" * 81, "at most 80")])
def test_a_workspace_needs_a_reasonable_name(name, message):
    user = make_user()
    with pytest.raises(ValidationError, match=message) as exc:
        workspaces.create_workspace(user_id=user.id, name=name)
    assert "name" in exc.value.field_errors
    assert len(workspaces.list_my_workspaces(user_id=user.id)) == 1


def test_a_user_owns_at_most_the_configured_number_of_workspaces(monkeypatch):
    monkeypatch.setattr(get_settings(), "max_workspaces_per_user", 2)
    user = make_user()  # owns their personal workspace
    workspaces.create_workspace(user_id=user.id, name="Second")
    with pytest.raises(ValidationError, match="as many workspaces as allowed"):
        workspaces.create_workspace(user_id=user.id, name="Third")
    assert len(workspaces.list_my_workspaces(user_id=user.id)) == 2


def test_users_list_only_the_workspaces_they_belong_to_by_name_with_their_role(team, other_team):
    user = make_user(name="Zed Zulu")
    add_member(team.workspace_id, Role.VIEWER, user=user)
    workspaces.create_workspace(user_id=user.id, name="beta lab")
    listed = [(w.name, w.role) for w in workspaces.list_my_workspaces(user_id=user.id)]
    assert listed == [("Acme", Role.VIEWER), ("beta lab", Role.OWNER), ("Zed's workspace", Role.OWNER)]


def test_switching_to_a_workspace_one_belongs_to_changes_the_session(team):
    user = make_user()
    add_member(team.workspace_id, Role.MEMBER, user=user)
    signed = sign_in_as(user)
    view = workspaces.switch_workspace(
        user_id=user.id, session_id=signed.auth.session_id, workspace_id=team.workspace_id
    )
    assert (view.id, view.name, view.role) == (team.workspace_id, "Acme", Role.MEMBER)
    now = accounts.resolve_session(token=signed.token)
    assert now is not None and (now.workspace_id, now.role) == (team.workspace_id, Role.MEMBER)


def test_switching_to_a_workspace_one_is_not_a_member_of_is_not_found(other_team):
    signed = sign_in_as(make_user())
    with pytest.raises(NotFoundError):
        workspaces.switch_workspace(
            user_id=signed.user.id, session_id=signed.auth.session_id, workspace_id=other_team.workspace_id
        )
    now = accounts.resolve_session(token=signed.token)
    assert now is not None and now.workspace_id == signed.auth.workspace_id


def test_switching_someone_elses_session_is_not_found(team):
    user = make_user()
    add_member(team.workspace_id, Role.MEMBER, user=user)
    victim = sign_in_as(make_user())
    with pytest.raises(NotFoundError):
        workspaces.switch_workspace(
            user_id=user.id, session_id=victim.auth.session_id, workspace_id=team.workspace_id
        )
    now = accounts.resolve_session(token=victim.token)
    assert now is not None and now.workspace_id == victim.auth.workspace_id


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_rename_the_workspace_and_it_is_audited(team, role):
    view = workspaces.rename_workspace(ctx=team.ctx(role), name=" Acme  Labs ")
    assert view.name == "Acme Labs"
    assert workspaces.get_workspace(ctx=team.viewer).name == "Acme Labs"
    [event] = audit.list_audit_events(ctx=team.owner).events
    assert (event.action, event.summary) == ("workspace.renamed", "Renamed workspace “Acme” to “Acme Labs”")


def test_renaming_to_an_empty_name_is_refused(team):
    with pytest.raises(ValidationError):
        workspaces.rename_workspace(ctx=team.owner, name="   ")
    assert workspaces.get_workspace(ctx=team.owner).name == "Acme"


def test_get_workspace_reports_the_callers_role(team):
    for role in Role:
        view = workspaces.get_workspace(ctx=team.ctx(role))
        assert (view.id, view.name, view.role) == (team.workspace_id, "Acme", role)


def test_a_new_workspace_has_only_its_creator_as_member():
    user = make_user()
    created = workspaces.create_workspace(user_id=user.id, name="Solo")
    ctx = TenantContext(user_id=user.id, workspace_id=created.id, role=Role.OWNER)
    assert [(m.user_id, m.role) for m in team_service.list_members(ctx=ctx)] == [(user.id, Role.OWNER)]
