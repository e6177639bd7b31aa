"""Another workspace's rows stay invisible and untouchable.

Every tenant-scoped read or write, given the id of a row of ``other_team``, answers
"not found" (never "forbidden": no existence oracle) and leaves that row unchanged.
"""

from __future__ import annotations

import pytest

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.errors import NotFoundError
from galaxyco_ui.services import agents, audit, invitations
from galaxyco_ui.services import team as team_service
from tests.factories import agent_data, make_agent, membership_id, workspace_rows

ALL_ROLES = tuple(Role)
EDITORS = (Role.OWNER, Role.ADMIN, Role.MEMBER)
MANAGERS = (Role.OWNER, Role.ADMIN)


@pytest.fixture
def foreign_agent(other_team):
    return make_agent(other_team.member, name="Foreign secret", tags=["classified"])


# ---------------------------------------------------------------- agents


@pytest.mark.parametrize("role", ALL_ROLES)
def test_foreign_agent_is_not_found_when_read(team, other_team, foreign_agent, role):
    with pytest.raises(NotFoundError, match="not found"):
        agents.get_agent(ctx=team.ctx(role), agent_id=foreign_agent.id)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_foreign_agent_is_not_found_when_edited_and_stays_unchanged(team, other_team, foreign_agent, role):
    before = workspace_rows(other_team.workspace_id)
    with pytest.raises(NotFoundError, match="not found"):
        agents.update_agent(ctx=team.ctx(role), agent_id=foreign_agent.id, data=agent_data(name="Hijacked"))
    assert workspace_rows(other_team.workspace_id) == before


@pytest.mark.parametrize("role", ALL_ROLES)
def test_foreign_agent_is_not_found_when_deleted_and_stays_live(team, other_team, foreign_agent, role):
    before = workspace_rows(other_team.workspace_id)
    with pytest.raises(NotFoundError, match="not found"):
        agents.delete_agent(ctx=team.ctx(role), agent_id=foreign_agent.id)
    assert workspace_rows(other_team.workspace_id) == before
    assert agents.get_agent(ctx=other_team.viewer, agent_id=foreign_agent.id).name == "Foreign secret"


@pytest.mark.parametrize("role", EDITORS)
def test_foreign_agent_is_not_found_when_duplicated_and_nothing_is_copied(
    team, other_team, foreign_agent, role
):
    before = workspace_rows(other_team.workspace_id)
    with pytest.raises(NotFoundError, match="not found"):
        agents.duplicate_agent(ctx=team.ctx(role), agent_id=foreign_agent.id)
    assert workspace_rows(other_team.workspace_id) == before
    assert agents.list_agents(ctx=team.owner) == []


@pytest.mark.parametrize("role", ALL_ROLES)
def test_agent_list_and_search_never_show_foreign_agents(team, other_team, foreign_agent, role):
    own = make_agent(team.member, name="Home agent")
    ctx = team.ctx(role)
    assert [a.id for a in agents.list_agents(ctx=ctx)] == [own.id]
    for needle in ("foreign", "secret", "classified", foreign_agent.id):
        assert agents.list_agents(ctx=ctx, search=needle) == []


def test_an_agent_name_used_in_another_workspace_is_free_here(team, other_team, foreign_agent):
    created = make_agent(team.member, name="Foreign secret")
    assert created.name == "Foreign secret"
    assert agents.get_agent(ctx=other_team.viewer, agent_id=foreign_agent.id).name == "Foreign secret"


# ---------------------------------------------------------------- members and invitations


@pytest.mark.parametrize("role", MANAGERS)
def test_changing_the_role_of_a_foreign_member_is_not_found(team, other_team, role):
    foreign_member = membership_id(other_team.member)
    before = workspace_rows(other_team.workspace_id)
    with pytest.raises(NotFoundError, match="not found"):
        team_service.change_role(ctx=team.ctx(role), member_id=foreign_member, role="viewer")
    assert workspace_rows(other_team.workspace_id) == before


@pytest.mark.parametrize("role", MANAGERS)
def test_removing_a_foreign_member_is_not_found(team, other_team, role):
    foreign_member = membership_id(other_team.member)
    before = workspace_rows(other_team.workspace_id)
    with pytest.raises(NotFoundError, match="not found"):
        team_service.remove_member(ctx=team.ctx(role), member_id=foreign_member)
    assert workspace_rows(other_team.workspace_id) == before


def test_transferring_ownership_to_a_foreign_member_is_not_found(team, other_team):
    foreign_member = membership_id(other_team.member)
    before = workspace_rows(other_team.workspace_id)
    with pytest.raises(NotFoundError, match="not found"):
        team_service.transfer_ownership(ctx=team.owner, member_id=foreign_member)
    assert workspace_rows(other_team.workspace_id) == before
    assert {m.role for m in team_service.list_members(ctx=team.owner) if m.user_id == team.owner.user_id} == {
        Role.OWNER
    }


@pytest.mark.parametrize("role", MANAGERS)
def test_revoking_a_foreign_invitation_is_not_found(team, other_team, role):
    foreign = invitations.invite_member(ctx=other_team.owner, email="guest@example.com", role="member")
    before = workspace_rows(other_team.workspace_id)
    with pytest.raises(NotFoundError, match="not found"):
        invitations.revoke_invitation(ctx=team.ctx(role), invitation_id=foreign.invitation.id)
    assert workspace_rows(other_team.workspace_id) == before
    assert [i.status for i in invitations.list_invitations(ctx=other_team.owner)] == ["pending"]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_member_list_shows_only_this_workspace(team, other_team, role):
    listed = {m.user_id for m in team_service.list_members(ctx=team.ctx(role))}
    assert listed == {team.ctx(r).user_id for r in Role}
    assert not listed & {other_team.ctx(r).user_id for r in Role}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_invitation_list_shows_only_this_workspace(team, other_team, role):
    invitations.invite_member(ctx=other_team.owner, email="theirs@example.com", role="member")
    invitations.invite_member(ctx=team.owner, email="ours@example.com", role="member")
    assert [i.email for i in invitations.list_invitations(ctx=team.ctx(role))] == ["ours@example.com"]


# ---------------------------------------------------------------- audit log


@pytest.mark.parametrize("role", MANAGERS)
def test_audit_log_shows_only_this_workspace(team, other_team, foreign_agent, role):
    ours = make_agent(team.member, name="Ours")
    invitations.invite_member(ctx=other_team.owner, email="theirs@example.com", role="viewer")
    events = audit.list_audit_events(ctx=team.ctx(role)).events
    assert [(e.action, e.target_id) for e in events] == [("agent.created", ours.id)]
    assert all(foreign_agent.id not in (e.target_id, e.summary) for e in events)
