"""Invitations go out by email when SMTP is configured (a real local SMTP server)."""

from galaxyco_ui.config import reset_settings
from galaxyco_ui.services import invitations
from tests.smtp_server import free_port


def test_invite_is_emailed_with_its_link_when_smtp_is_configured(team, inbox):
    result = team_invite(team)

    assert result.emailed is True
    ((recipients, message),) = inbox.messages
    assert recipients == ["grace@example.com"]
    assert "Acme" in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert result.invitation.link in body
    assert result.invitation.link.startswith("http://localhost:3000/invite/")


def test_invite_survives_a_mail_server_that_is_down(team, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(free_port()))
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    reset_settings()
    try:
        result = team_invite(team)
    finally:
        monkeypatch.undo()
        reset_settings()

    assert result.emailed is False
    assert "could not be sent" in result.email_error
    assert [i.email for i in team_list(team)] == ["grace@example.com"]  # the invitation itself is kept


def team_invite(t):
    return invitations.invite_member(ctx=t.admin, email="grace@example.com", role="member")


def team_list(t):
    return invitations.list_invitations(ctx=t.admin)
