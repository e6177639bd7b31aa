"""The bell (unread count and list, live) and the notification preferences card.

The bell's live loop holds no database poll: it waits on the member's subscription
(``services.notifications.subscribe``: one stream reader per process wakes it when a
notification for this member in this workspace is announced), then resolves the
session again and reads the count. While idle it only checks, every
``LIVE_WAIT_SECONDS``, that its browser is still connected (no lock, no I/O).
"""

from __future__ import annotations

import asyncio

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.services import notifications
from galaxyco_ui.services.notifications import NotificationView, PreferenceView, Subscription
from galaxyco_ui.states.guard import guarded, session_context
from galaxyco_ui.states.live import client_connected

LIVE_WAIT_SECONDS = 2.0  # how long the bell of a closed tab may linger (a dict lookup per turn)
MAX_BADGE = 99


class NotificationsState(rx.State):
    unread: int = 0
    items: rx.Field[list[NotificationView]] = rx.field(default_factory=list)
    next_cursor: str = ""
    open: bool = False
    _generation: int = 0

    @rx.var
    def bell_label(self) -> str:
        return f"Notifications, {self.unread} unread"

    @rx.var
    def badge(self) -> str:
        return f"{MAX_BADGE}+" if self.unread > MAX_BADGE else str(self.unread)

    @rx.event
    @guarded(load=True)
    def start(self, ctx: TenantContext):
        """The bell mounted (every signed-in page): read the count and follow it live."""
        self.unread = notifications.unread_count(ctx=ctx)
        if self.open:
            self._refresh(ctx)
        self._generation += 1
        return NotificationsState.watch(self._generation)  # type: ignore[misc]  # rx.event handler: untyped to mypy

    def _refresh(self, ctx: TenantContext) -> None:
        page = notifications.list_notifications(ctx=ctx)
        self.items, self.next_cursor, self.unread = page.items, page.next_cursor, page.unread

    @rx.event
    @guarded
    def set_open(self, ctx: TenantContext, is_open: bool):
        self.open = is_open is True
        if self.open:
            self._refresh(ctx)

    @rx.event
    @guarded
    def older(self, ctx: TenantContext):
        """Append the next page to the list."""
        if not self.next_cursor:
            return
        page = notifications.list_notifications(ctx=ctx, cursor=self.next_cursor)
        self.items = [*self.items, *page.items]
        self.next_cursor, self.unread = page.next_cursor, page.unread

    @rx.event
    @guarded
    def mark_all_read(self, ctx: TenantContext):
        notifications.mark_all_read(ctx=ctx)
        self._refresh(ctx)

    @rx.event
    @guarded
    def open_item(self, ctx: TenantContext, notification_id: str):
        """Mark one read and go where it points (an app path recorded with it)."""
        view = notifications.mark_read(ctx=ctx, notification_id=notification_id)
        self._refresh(ctx)
        if view.link:
            self.open = False
            return rx.redirect(view.link)
        return None

    @rx.event(background=True)
    @guarded
    async def watch(self, ctx: TenantContext, generation: int):
        """Refresh the count (and the open list) when this member gets something new.

        The subscription is the caller's own (user and workspace from the session, never
        from state); the session is resolved again before every read. Idle, a turn takes
        no lock and does no I/O: it checks that the tab is still connected and is still
        this tab's newest bell (a page change mounts a new one, which wakes this one).
        """
        token = self.router.session.client_token
        async with notifications.subscribe(ctx=ctx) as sub:
            older = _bells.get(token)
            _bells[token] = (generation, sub)
            if older is not None:
                older[1].notify()  # the previous page's bell of this tab: let it see it is replaced
            try:
                while True:
                    changed = await sub.wait(LIVE_WAIT_SECONDS)
                    current = _bells.get(token)
                    if current is None or current[1] is not sub or not client_connected(self):
                        return
                    if not changed:
                        continue
                    fresh = session_context(self)
                    if fresh is None or (fresh.user_id, fresh.workspace_id) != (
                        ctx.user_id,
                        ctx.workspace_id,
                    ):
                        return
                    ctx = fresh
                    try:
                        page = await asyncio.to_thread(notifications.list_notifications, ctx=ctx)
                    except GalaxyError:
                        return
                    async with self:
                        if generation != self._generation:
                            return
                        self.unread = page.unread
                        if self.open:
                            self.items, self.next_cursor = page.items, page.next_cursor
            finally:
                current = _bells.get(token)
                if current is not None and current[1] is sub:
                    del _bells[token]


# The newest bell loop of each tab connected to this process (client token -> its
# generation and subscription): a tab runs one loop, whatever the pages it went through.
_bells: dict[str, tuple[int, Subscription]] = {}


class NotificationPrefsState(rx.State):
    """The Notifications card of the profile: the signed-in user's own preferences
    (they hold for all the user's workspaces; the session's user, never an argument)."""

    prefs: rx.Field[list[PreferenceView]] = rx.field(default_factory=list)

    @rx.event
    @guarded(load=True)
    def load(self, ctx: TenantContext):
        self.prefs = notifications.get_preferences(user_id=ctx.user_id)

    @rx.event
    @guarded
    def set_pref(self, ctx: TenantContext, kind: str, channel: str, enabled: bool):
        changed = notifications.set_preference(
            user_id=ctx.user_id, kind=kind, channel=channel, enabled=enabled
        )
        self.prefs = [changed if p.kind == changed.kind else p for p in self.prefs]
