"""Notifications: what a member should know about, under the bell and optionally by email.

The engines and services record them in the transaction that causes them and announce
them once it has committed, as they do webhook deliveries::

    with session_scope() as session:
        ...                                   # the run fails, the item fails, ...
        note = notifications.record(session, workspace_id=ws, kind="schedule_failed",
                                    title="...", link=f"/runs/{run.id}", user_ids=[owner])
    await notifications.announce(note)        # live bells + queued emails

``core`` records and announces, ``kinds`` holds the labels and default preferences,
``live`` is the bell's push path over the event bus, ``mail`` the email job. The
member-facing reads and writes (the list, the count, preferences) are in
``services/notifications.py``. See docs/notifications.md.
"""

from galaxyco_ui.notifications import mail  # registers the email job wherever notifications are sent
from galaxyco_ui.notifications.core import Announcement, announce, announce_all, announce_soon, record
from galaxyco_ui.notifications.kinds import DEFAULTS, KIND_LABELS

__all__ = [
    "DEFAULTS",
    "KIND_LABELS",
    "Announcement",
    "announce",
    "announce_all",
    "announce_soon",
    "mail",
    "record",
]
