from galaxyco_ui.services import agents
from tests.factories import make_agent


def test_member_creates_and_lists_an_agent(team):
    created = make_agent(team.member, name="Helper")
    listed = agents.list_agents(ctx=team.viewer)
    assert [a.name for a in listed] == ["Helper"]
    assert created.can_edit
    assert not listed[0].can_edit
