"""Ids sent by a browser that no row could have (NUL, lone surrogates, numbers, a
megabyte of text) are "not found", never a database crash, on both dialects."""

from __future__ import annotations

import pytest

from galaxyco_ui.errors import NotFoundError
from galaxyco_ui.services import profile, runs, team, workspaces
from tests.factories import make_team

HOSTILE_IDS = ["\x00", "ab\x00cd", "\ud800", "x" * 100_000, 2**63, None, ["id"]]


@pytest.mark.parametrize("bad_id", HOSTILE_IDS, ids=repr)
def test_a_run_id_no_row_could_have_is_not_found(bad_id):
    ctx = make_team().owner
    with pytest.raises(NotFoundError):
        runs.get_run(ctx=ctx, run_id=bad_id)


@pytest.mark.parametrize("bad_id", HOSTILE_IDS, ids=repr)
def test_a_member_id_no_row_could_have_is_not_found(bad_id):
    ctx = make_team().owner
    with pytest.raises(NotFoundError):
        team.remove_member(ctx=ctx, member_id=bad_id)


@pytest.mark.parametrize("bad_id", HOSTILE_IDS, ids=repr)
def test_a_session_id_no_row_could_have_is_not_found(bad_id):
    ctx = make_team().owner
    with pytest.raises(NotFoundError):
        profile.revoke_session(user_id=ctx.user_id, session_id=bad_id)


@pytest.mark.parametrize("bad_id", HOSTILE_IDS, ids=repr)
def test_switching_to_a_workspace_id_no_row_could_have_is_not_found(bad_id):
    ctx = make_team().owner
    with pytest.raises(NotFoundError):
        workspaces.switch_workspace(user_id=ctx.user_id, session_id="s" * 32, workspace_id=bad_id)
