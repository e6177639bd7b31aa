"""Recording notifications in the causing transaction, and announcing them after commit.

    record(session, workspace_id=..., kind=..., title=..., user_ids=..., roles=...)
        -> Announcement    (rows added to the caller's session; nothing sent yet)
    await announce(announcement)
        -> bells of the recipients update live; emails are queued as jobs

The recipients are the current members of the workspace who hold one of ``roles`` or
are named in ``user_ids`` (each once; a removed member or a deleted account gets
nothing). Each one's preference for the kind (``NotificationPref``, else
``kinds.DEFAULTS``) decides whether a row is written (in the app) and whether an email
is queued. ``announce`` never raises: a live push or an email that could not be queued
is logged, and the rows stay under the bell.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_
from sqlmodel import Session, col, select

from galaxyco_ui.jobs import get_job_queue
from galaxyco_ui.models import Notification, NotificationPref, User, WorkspaceMember, new_id, utcnow
from galaxyco_ui.models.notifications import NOTIFICATION_KINDS
from galaxyco_ui.notifications import live
from galaxyco_ui.notifications.kinds import DEFAULTS

log = logging.getLogger("galaxyco.notifications")

EMAIL_JOB = "send_notification_email_job"
TITLE_MAX = 200
BODY_MAX = 2000
LINK_MAX = 500


@dataclass(frozen=True, slots=True)
class Announcement:
    """What must happen once the transaction that recorded a notification commits.

    Attributes:
        workspace_id: where it happened.
        kind, title, body, link: the notification (link app-relative, or "").
        in_app: the recipients who got a row (their bells update live).
        email: the recipients who chose email for this kind.
    """

    workspace_id: str
    kind: str
    title: str
    body: str = ""
    link: str = ""
    in_app: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    id: str = field(default_factory=new_id)

    def __bool__(self) -> bool:
        return bool(self.in_app or self.email)


def clean_link(link: str) -> str:
    """An app-relative path ("/runs/…"), or "" for anything else (an outside URL, "//host")."""
    link = link.strip()
    if not link.startswith("/") or link.startswith("//") or "\\" in link or len(link) > LINK_MAX:
        return ""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in link):
        return ""
    return link


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record(
    session: Session,
    *,
    workspace_id: str,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    user_ids: Iterable[str] = (),
    roles: Iterable[str] = (),
) -> Announcement:
    """Insert one Notification per recipient, honouring each one's in-app preference.

    Recipients: members of ``workspace_id`` with one of ``roles``, and those of
    ``user_ids`` who are members (deduplicated; deleted accounts skipped). The rows are
    added to ``session`` and commit with the caller's transaction.

    Args:
        session: the caller's transaction.
        workspace_id: the workspace the notification is about.
        kind: one of ``NOTIFICATION_KINDS``.
        title: plain text, one line (cut to 200 characters).
        body: plain text (cut to 2,000 characters).
        link: an app-relative path; anything else is dropped.
        user_ids: members to notify by id.
        roles: roles whose members are notified ("owner", "admin", ...).

    Returns:
        The ``Announcement`` to pass to ``announce`` after commit (falsy when nobody
        is to be told).

    Raises:
        ValueError: ``kind`` is not a notification kind (a programming error).
    """
    if kind not in NOTIFICATION_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    wanted_users = {u for u in user_ids if u}
    wanted_roles = {str(r) for r in roles if r}
    title, body, link = _one_line(title, TITLE_MAX), body.strip()[:BODY_MAX], clean_link(link)
    if not wanted_users and not wanted_roles:
        return Announcement(workspace_id=workspace_id, kind=kind, title=title, body=body, link=link)
    match = or_(
        col(WorkspaceMember.user_id).in_(sorted(wanted_users)),
        col(WorkspaceMember.role).in_(sorted(wanted_roles)),
    )
    # Read before the caller's pending changes are flushed (on SQLite a flush takes the
    # write lock, which these reads need not hold).
    with session.no_autoflush:
        recipients = sorted(
            set(
                session.exec(
                    select(WorkspaceMember.user_id)
                    .join(User, col(User.id) == col(WorkspaceMember.user_id))
                    .where(
                        WorkspaceMember.workspace_id == workspace_id,
                        match,
                        col(User.deleted_at).is_(None),
                    )
                ).all()
            )
        )
        prefs = (
            {
                p.user_id: p
                for p in session.exec(
                    select(NotificationPref).where(
                        col(NotificationPref.user_id).in_(recipients), NotificationPref.kind == kind
                    )
                ).all()
            }
            if recipients
            else {}
        )
    now = utcnow()
    in_app: list[str] = []
    email: list[str] = []
    default = DEFAULTS[kind]
    for user_id in recipients:
        pref = prefs.get(user_id)
        shows, mails = (pref.in_app, pref.email) if pref is not None else (default.in_app, default.email)
        if shows:
            session.add(
                Notification(
                    workspace_id=workspace_id,
                    user_id=user_id,
                    kind=kind,
                    title=title,
                    body=body,
                    link=link,
                    created_at=now,
                )
            )
            in_app.append(user_id)
        if mails:
            email.append(user_id)
    return Announcement(
        workspace_id=workspace_id,
        kind=kind,
        title=title,
        body=body,
        link=link,
        in_app=tuple(in_app),
        email=tuple(email),
    )


async def announce(announcement: Announcement | None) -> None:
    """After commit: tell connected bells (live) and queue the emails of those who chose email.

    Never raises (the notification is already recorded; a failure here is logged).
    """
    if not announcement:
        return
    if announcement.in_app:
        await live.publish(announcement.workspace_id, announcement.in_app)
    if not announcement.email:
        return
    try:
        queue = get_job_queue()
        for user_id in announcement.email:
            await queue.enqueue(
                EMAIL_JOB,
                key=f"notify-{announcement.id}-{user_id}",
                user_id=user_id,
                workspace_id=announcement.workspace_id,
                kind=announcement.kind,
                title=announcement.title,
                body=announcement.body,
                link=announcement.link,
            )
    except Exception:
        log.exception(
            "could not queue notification emails",
            extra={"workspace_id": announcement.workspace_id, "kind": announcement.kind},
        )


_pending: set[asyncio.Task[None]] = set()


def announce_soon(announcement: Announcement | None) -> None:
    """``announce`` from synchronous code that runs on an event loop (a sync Reflex handler).

    Without a running loop in this thread (a script, a worker thread) nothing is pushed
    or mailed: the rows are recorded, and each bell shows them when it next loads.
    """
    if not announcement:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        log.info(
            "notification recorded without a live push or email (no event loop)",
            extra={"workspace_id": announcement.workspace_id, "kind": announcement.kind},
        )
        return
    task = loop.create_task(announce(announcement))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def announce_all(announcements: Iterable[Announcement | None]) -> None:
    """``announce`` each of several (a transaction that recorded more than one)."""
    for announcement in announcements:
        await announce(announcement)
