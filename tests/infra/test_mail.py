from __future__ import annotations

import pytest

from galaxyco_ui.config import reset_settings
from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.infra.mail import MailDeliveryError, invite_email, send_email
from tests.smtp_server import Inbox, free_port


def test_send_email_delivers_text_and_html(inbox: Inbox) -> None:
    assert send_email("ada@example.com", "Welcome", "Plain body", html="<p>Rich body</p>") is True

    ((recipients, message),) = inbox.messages
    assert recipients == ["ada@example.com"]
    assert message["To"] == "ada@example.com"
    assert message["From"] == "GalaxyCo <no-reply@galaxyco.test>"
    assert message["Subject"] == "Welcome"
    assert message.get_body(("plain",)).get_content().strip() == "Plain body"
    assert message.get_body(("html",)).get_content().strip() == "<p>Rich body</p>"


def test_send_email_delivers_an_invite(inbox: Inbox) -> None:
    subject, text, html = invite_email("Acme Ops", "Grace", "admin", "https://galaxy.test/invite/abc")
    send_email(["bob@example.com", "eve@example.com"], subject, text, html)

    ((recipients, message),) = inbox.messages
    assert recipients == ["bob@example.com", "eve@example.com"]
    assert message["Subject"] == "Grace invited you to Acme Ops on GalaxyCo"
    body = message.get_body(("plain",)).get_content()
    assert "as an admin" in body
    assert "https://galaxy.test/invite/abc" in body


def test_send_email_returns_false_when_smtp_is_not_configured(caplog: pytest.LogCaptureFixture) -> None:
    assert send_email("ada@example.com", "Hi", "body") is False
    assert "SMTP is not configured" in caplog.text


def test_unreachable_server_raises_mail_delivery_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(free_port()))
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    reset_settings()

    with pytest.raises(MailDeliveryError) as caught:
        send_email("ada@example.com", "Hi", "body")
    assert isinstance(caught.value, GalaxyError)
    assert "could not be sent" in str(caught.value)
    assert "refused the connection" in str(caught.value)


def test_invite_email_escapes_names_in_html_and_subject() -> None:
    subject, text, html = invite_email(
        "Evil\r\nBcc: x@y.z", "<b>Mallory</b>", "viewer", "https://x.test/i?a=1&b=2"
    )
    assert "\n" not in subject and "\r" not in subject
    assert "<b>Mallory</b>" not in html
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in html
    assert 'href="https://x.test/i?a=1&amp;b=2"' in html
    assert "as a viewer" in text
