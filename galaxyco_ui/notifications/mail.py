"""The email of a notification, sent by a background job (SMTP never blocks a run or a page).

The job takes the notification's text and its recipient's id; it reloads the member
and checks again that they are still in the workspace and still want this kind by
email (a preference changed since is honoured). The body is plain text: the title, the
body and the absolute link (``PUBLIC_URL`` + the app path).
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import col, select

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.mail import MailDeliveryError, send_email
from galaxyco_ui.jobs import job
from galaxyco_ui.models import NotificationPref, User, Workspace, WorkspaceMember
from galaxyco_ui.notifications.core import EMAIL_JOB
from galaxyco_ui.notifications.kinds import DEFAULTS, KIND_LABELS

log = logging.getLogger("galaxyco.notifications")


def notification_email(
    *, name: str, workspace_name: str, kind: str, title: str, body: str, link: str
) -> tuple[str, str]:
    """``(subject, text)`` of a notification email; names are flattened to one line."""
    base = get_settings().public_url.rstrip("/")
    workspace_name = " ".join(workspace_name.split())
    name = " ".join(name.split())
    lines = [f"Hi {name}," if name else "Hi,", "", title]
    if body:
        lines += ["", body]
    if link:
        lines += ["", f"Open it in GalaxyCo: {base}{link}"]
    lines += [
        "",
        f"Workspace: {workspace_name}",
        "",
        f"You receive this email because “{KIND_LABELS.get(kind, kind)}” notifications are sent "
        f"to you by email. Change that in your profile: {base}/profile",
        "",
        "— The GalaxyCo team",
    ]
    subject = f"[{workspace_name}] {title}" if workspace_name else title
    return subject, "\n".join(lines) + "\n"


def _prepare(user_id: str, workspace_id: str, kind: str) -> tuple[str, str, str] | None:
    """(address, name, workspace name) if the member still wants this email, else None."""
    with session_scope() as session:
        row = session.exec(
            select(User.email, User.name, Workspace.name)
            .join(WorkspaceMember, col(WorkspaceMember.user_id) == col(User.id))
            .join(Workspace, col(Workspace.id) == col(WorkspaceMember.workspace_id))
            .where(
                User.id == user_id,
                WorkspaceMember.workspace_id == workspace_id,
                col(User.deleted_at).is_(None),
                col(Workspace.deleted_at).is_(None),
            )
        ).first()
        if row is None:
            return None
        pref = session.get(NotificationPref, (user_id, kind))
        wants = pref.email if pref is not None else DEFAULTS[kind].email if kind in DEFAULTS else False
        return (row[0], row[1], row[2]) if wants else None


@job(EMAIL_JOB)
async def send_notification_email_job(
    *, user_id: str, workspace_id: str, kind: str, title: str, body: str = "", link: str = ""
) -> bool:
    """Mail one notification to one member. Returns whether the server accepted it."""
    target = await asyncio.to_thread(_prepare, user_id, workspace_id, kind)
    if target is None:
        return False
    address, name, workspace_name = target
    subject, text = notification_email(
        name=name, workspace_name=workspace_name, kind=kind, title=title, body=body, link=link
    )
    try:
        return await asyncio.to_thread(send_email, address, subject, text)
    except MailDeliveryError:
        log.warning(
            "notification email not delivered",
            extra={"user_id": user_id, "workspace_id": workspace_id, "kind": kind},
        )
        return False
