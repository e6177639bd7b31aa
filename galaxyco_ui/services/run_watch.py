"""The Runs screen's live monitor: wake when a run of the caller's workspace changes status.

One reader per workspace per process serves every watcher (``infra/bus_watch.py``): an
idle browser on /runs holds no stream read and no Redis connection of its own, and 1,000
browsers of one workspace on a process cost one blocking read, not 1,000 every turn.

    async with watch_workspace_runs(ctx=ctx) as changes:
        moved = await changes.wait(seconds)  # True: a run changed since the last wait
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.infra.bus_watch import StreamWatch, watch
from galaxyco_ui.runs.events import workspace_stream


@contextlib.asynccontextmanager
async def watch_workspace_runs(*, ctx: TenantContext) -> AsyncIterator[StreamWatch]:
    """A watch on the run status changes of the caller's workspace, while inside."""
    require(ctx, Permission.VIEW_WORKSPACE)
    async with watch(workspace_stream(ctx.workspace_id)) as changes:
        yield changes
