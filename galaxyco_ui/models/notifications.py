"""Notifications: what a member should know about, shown under the bell and optionally mailed.

One ``Notification`` row per recipient (``user_id``) in a workspace. ``kind`` is one of
``NOTIFICATION_KINDS``; ``title`` and ``body`` are plain text written by GalaxyCo (names in
them come from users: render as text, never as Markdown or HTML); ``link`` is an
app-relative path ("/runs/…"), never an outside URL. ``read_at`` is None while unread.

``NotificationPref`` holds a member's choice per kind (in the app, by email); a kind
without a row uses the defaults in ``notifications.kinds``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from galaxyco_ui.models.base import new_id, utcnow

NOTIFICATION_KINDS = (
    "schedule_failed",
    "schedule_skipped",
    "budget_80",
    "budget_100",
    "document_failed",
    "invite_accepted",
    "webhook_disabled",
    "approval_requested",
)


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        # The bell's unread count and the list, newest first.
        Index("ix_notifications_user_id_workspace_id_read_at", "user_id", "workspace_id", "read_at"),
        Index("ix_notifications_user_id_workspace_id_created_at", "user_id", "workspace_id", "created_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    kind: str = Field(max_length=32)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_type=Text)
    link: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None


class NotificationPref(SQLModel, table=True):
    __tablename__ = "notification_prefs"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    kind: str = Field(primary_key=True, max_length=32)
    in_app: bool = Field(default=True)
    email: bool = Field(default=False)
