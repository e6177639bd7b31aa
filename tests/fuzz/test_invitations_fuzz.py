"""Fuzz: invite emails (and roles) through invite_member, and one address spelled twice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.services import invitations
from galaxyco_ui.services.validation import text_problem
from tests.factories import make_team
from tests.fuzz.support import PAYLOADS, fuzz, hostile_text, json_values, mostly, outcome, workspace_snapshot

_local = mostly(
    st.sampled_from(["ada", "Ada.Lovelace", "o'brien", "a+tag", "ß", "用户", "\u212aelvin"]),
    st.sampled_from([*PAYLOADS, "x" * 65, ".ada", "a..b", "İ"])
    | st.text(st.characters(exclude_categories=()), max_size=20),
)
_domain = mostly(
    st.sampled_from(["example.com", "EXAMPLE.COM", "exämple.com", "例え.jp", "mail.example.org"]),
    st.sampled_from([*PAYLOADS, "[127.0.0.1]", "localhost", "a..b", "-x.com"])
    | st.text(st.characters(exclude_categories=()), max_size=20),
)
emails = mostly(
    st.tuples(st.sampled_from(["", " ", "\t"]), _local, _domain, st.sampled_from(["", " ", "\n"])).map(
        lambda p: f"{p[0]}{p[1]}@{p[2]}{p[3]}"
    ),
    st.one_of(hostile_text(400), json_values(), st.just("a@" + "b" * 320 + ".com")),
)
roles = mostly(
    st.sampled_from(["member", "viewer", "admin"]), st.sampled_from(["owner", "Admin", ""]) | hostile_text(20)
)


@fuzz(150)
@given(emails, roles, hostile_text(40) | st.integers())
def test_an_invite_of_any_email_is_created_once_or_refused_cleanly(email, role, bogus_id):
    team = make_team()
    before = workspace_snapshot(team.workspace_id)

    result, error = outcome(lambda: invitations.invite_member(ctx=team.admin, email=email, role=role))

    if error is not None:
        assert isinstance(error, ValidationError), error
        assert workspace_snapshot(team.workspace_id) == before, "a refused invite wrote something"
        return
    invited = result.invitation
    assert invited.email == invited.email.strip().lower() and "@" in invited.email
    assert text_problem(invited.email) is None
    assert invitations.list_invitations(ctx=team.admin) == [invited]
    # The same address again, padded and with its ASCII letters upper-cased, is the same person.
    shouted = "".join(c.upper() if c.isascii() else c for c in invited.email)
    _, again = outcome(
        lambda: invitations.invite_member(ctx=team.admin, email=f"  {shouted}\t", role="member")
    )
    assert isinstance(again, ConflictError) and "email" in again.field_errors, (invited.email, again)
    assert invitations.list_invitations(ctx=team.admin) == [invited]
    # Revoking by an id a client made up leaves it pending.
    _, revoked = outcome(lambda: invitations.revoke_invitation(ctx=team.admin, invitation_id=bogus_id))
    assert isinstance(revoked, NotFoundError), revoked
    assert invitations.list_invitations(ctx=team.admin) == [invited]
