"""The "no worker" banner of /runs and of a queued run's page (scale-out mode only).

``load`` reads whether a worker has been seen lately (``services.workers``) and, in the
scale-out mode, starts ``watch``, which checks again every ``POLL_SECONDS`` while this
browser stays on the page, so the banner appears and goes without a reload. Nothing in
it is tenant data; the loop still ends with the session, like every live loop.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.services import workers
from galaxyco_ui.states.guard import guarded, session_context
from galaxyco_ui.states.live import client_connected

POLL_SECONDS = 5.0


class WorkerBannerState(rx.State):
    no_worker: bool = False
    message: str = ""
    _generation: int = 0

    def _show(self, presence: workers.WorkerPresence) -> None:
        self.no_worker, self.message = presence.missing, presence.message

    @rx.event
    @guarded(load=True)
    async def load(self, ctx: TenantContext):
        presence = await workers.worker_presence()
        self._show(presence)
        self._generation += 1
        if presence.scale_out:
            return WorkerBannerState.watch(self._generation)  # type: ignore[misc]  # rx.event handler: untyped to mypy
        return None

    @rx.event(background=True)
    @guarded
    async def watch(self, ctx: TenantContext, generation: int):
        """Check for a worker every few seconds until the page changes or the browser leaves."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            async with self:
                if generation != self._generation or not client_connected(self):
                    return
            if session_context(self) is None:
                return
            presence = await workers.worker_presence()
            async with self:
                if generation != self._generation:
                    return
                self._show(presence)
