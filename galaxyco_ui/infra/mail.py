"""Outgoing email over SMTP, and the texts GalaxyCo sends: invites, address
verification, password reset, and the notice that a sign-in provider was linked.

Mail is optional: with no ``SMTP_HOST`` ``send_email`` returns False and the caller
falls back (an invite link to copy; ``python -m galaxyco_ui.cli reset-link`` for a
password reset). A configured server that fails raises ``MailDeliveryError``, so the
caller can tell the person the email did not go out.
"""

from __future__ import annotations

import html as html_lib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from email.message import EmailMessage

from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import GalaxyError

SMTP_TIMEOUT_SECONDS = 10
SMTPS_PORT = 465

logger = logging.getLogger(__name__)


class MailDeliveryError(GalaxyError):
    """The mail server could not be reached or refused the message."""


def _build_message(sender: str, to: Sequence[str], subject: str, text: str, html: str | None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def send_email(to: str | Sequence[str], subject: str, text: str, html: str | None = None) -> bool:
    """Send one email through the configured SMTP server.

    Uses STARTTLS when ``smtp_starttls`` is set (implicit TLS on port 465), logs in
    when ``smtp_username`` is set, and gives up on a silent server after 10 seconds.
    This blocks: call it from a thread (``asyncio.to_thread``) in async code.

    Args:
        to: one address or several.
        subject: the subject line (line breaks are replaced by spaces).
        text: the plain-text body.
        html: an optional HTML alternative of the same content.

    Returns:
        True when the server accepted the message; False (with a warning logged) when
        SMTP is not configured.

    Raises:
        MailDeliveryError: the server was unreachable, refused the login or a recipient.
    """
    settings = get_settings()
    recipients = [to] if isinstance(to, str) else list(to)
    if not settings.smtp_host:
        logger.warning("Email not sent: SMTP is not configured", extra={"subject": subject})
        return False
    subject = " ".join(subject.splitlines())
    message = _build_message(settings.smtp_from, recipients, subject, text, html)
    server = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        if settings.smtp_port == SMTPS_PORT:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=SMTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if settings.smtp_starttls and settings.smtp_port != SMTPS_PORT:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        reason = _describe(exc)
        logger.warning(
            "Email delivery failed", extra={"smtp_server": server, "error": reason, "subject": subject}
        )
        raise MailDeliveryError(f"The email could not be sent: the mail server {server} {reason}.") from exc
    logger.info("Email sent", extra={"subject": subject, "recipient_count": len(recipients)})
    return True


_outbox = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")


def send_later(to: str, subject: str, text: str, html: str | None = None) -> Future[bool]:
    """Send an email from a background thread; failures are logged, never raised.

    For mail whose outcome the person must not wait for or learn from: the link after a
    sign-up, a password reset (answering at once, whether or not the account exists and
    however slow the server, leaves no timing oracle), the notice of a new sign-in link.
    """

    def deliver() -> bool:
        try:
            return send_email(to, subject, text, html)
        except MailDeliveryError:
            return False  # send_email logged it
        except Exception:
            logger.exception("Email delivery crashed", extra={"subject": subject})
            return False

    return _outbox.submit(deliver)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "rejected the SMTP username or password"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "refused the recipient address"
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return f"answered {exc.smtp_code} {detail}".rstrip()
    if isinstance(exc, ConnectionRefusedError):
        return "refused the connection"
    if isinstance(exc, TimeoutError):
        return "did not answer in time"
    return f"failed ({exc.__class__.__name__}: {exc})"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def invite_email(workspace_name: str, inviter_name: str, role: str, link: str) -> tuple[str, str, str]:
    """The invitation to join a workspace.

    Args:
        workspace_name: the workspace the person is invited to.
        inviter_name: who sent the invite.
        role: the role they will have (owner, admin, member, viewer).
        link: the URL that accepts the invite.

    Returns:
        ``(subject, text, html)``; user-supplied names are HTML-escaped in ``html`` and
        stripped of line breaks in ``subject``.
    """
    workspace_name = " ".join(workspace_name.split())
    inviter_name = " ".join(inviter_name.split())
    role = role.strip().lower()
    subject = f"{inviter_name} invited you to {workspace_name} on GalaxyCo"
    text = (
        f"Hi,\n\n"
        f"{inviter_name} has invited you to join the {workspace_name} workspace on GalaxyCo "
        f"as {_article(role)} {role}.\n\n"
        f"Accept the invitation here:\n{link}\n\n"
        f"If you weren't expecting this, you can ignore this email.\n\n"
        f"— The GalaxyCo team\n"
    )
    esc = html_lib.escape
    html = (
        "<!doctype html>\n"
        '<html><body style="font-family: sans-serif; line-height: 1.5; color: #1f2937;">\n'
        "<p>Hi,</p>\n"
        f"<p><strong>{esc(inviter_name)}</strong> has invited you to join the "
        f"<strong>{esc(workspace_name)}</strong> workspace on GalaxyCo as {_article(role)} {esc(role)}.</p>\n"
        f'<p><a href="{esc(link, quote=True)}" style="display: inline-block; padding: 10px 16px; '
        'background: #4f46e5; color: #ffffff; border-radius: 6px; text-decoration: none;">'
        "Accept the invitation</a></p>\n"
        f'<p style="font-size: 13px; color: #6b7280;">Or paste this link into your browser: '
        f"{esc(link)}</p>\n"
        '<p style="font-size: 13px; color: #6b7280;">If you weren\'t expecting this, '
        "you can ignore this email.</p>\n"
        "</body></html>\n"
    )
    return subject, text, html


def _account_email(name: str, lines: Sequence[str], action: str, link: str, footer: str) -> tuple[str, str]:
    """Plain text and HTML for a short account email: lines, one button, a footer."""
    name = " ".join(name.split())
    greeting = f"Hi {name}," if name else "Hi,"
    text = greeting + "\n\n" + "\n\n".join(lines) + "\n\n"
    if link:
        text += f"{action}:\n{link}\n\n"
    text += f"{footer}\n\n— The GalaxyCo team\n"
    esc = html_lib.escape
    body = "".join(f"<p>{esc(line)}</p>\n" for line in lines)
    if link:
        body += (
            f'<p><a href="{esc(link, quote=True)}" style="display: inline-block; padding: 10px 16px; '
            'background: #4f46e5; color: #ffffff; border-radius: 6px; text-decoration: none;">'
            f"{esc(action)}</a></p>\n"
            f'<p style="font-size: 13px; color: #6b7280;">Or paste this link into your browser: {esc(link)}</p>\n'
        )
    html = (
        "<!doctype html>\n"
        '<html><body style="font-family: sans-serif; line-height: 1.5; color: #1f2937;">\n'
        f"<p>{esc(greeting)}</p>\n{body}"
        f'<p style="font-size: 13px; color: #6b7280;">{esc(footer)}</p>\n'
        "</body></html>\n"
    )
    return text, html


def verification_email(name: str, link: str, hours: int) -> tuple[str, str, str]:
    """Confirm the address of a new account. Returns ``(subject, text, html)``."""
    text, html = _account_email(
        name,
        [f"Please confirm that this is your email address. The link works for {hours} hours."],
        "Confirm your email address",
        link,
        "If you did not create a GalaxyCo account, you can ignore this email.",
    )
    return "Confirm your email address for GalaxyCo", text, html


def password_reset_email(name: str, link: str, minutes: int) -> tuple[str, str, str]:
    """A single-use password reset link. Returns ``(subject, text, html)``."""
    text, html = _account_email(
        name,
        [
            "Someone (we hope you) asked to reset the password of your GalaxyCo account.",
            f"The link works once, for {minutes} minutes. Setting a new password signs out "
            "every browser signed in to your account.",
        ],
        "Choose a new password",
        link,
        "If you did not ask for this, ignore this email: your password stays as it is.",
    )
    return "Reset your GalaxyCo password", text, html


def oauth_linked_email(name: str, provider: str, settings_link: str) -> tuple[str, str, str]:
    """Tell a user that an identity provider can now sign in to their account."""
    provider = " ".join(provider.split())
    text, html = _account_email(
        name,
        [
            f"Your GalaxyCo account was just linked to your {provider} sign-in: "
            f"you can now sign in with {provider}.",
            "If this was not you, change your password now and sign out your other sessions.",
        ],
        "Review your sessions",
        settings_link,
        "You receive this email whenever a new sign-in method is added to your account.",
    )
    return f"{provider} can now sign in to your GalaxyCo account", text, html
