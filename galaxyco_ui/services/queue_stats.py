"""How much work is waiting, across every workspace: for operators (``/metrics``), not tenants.

Nothing here is tenant data: only counts and ages summed over all workspaces, so no
``TenantContext`` is taken. Both queries are answered from an index that leads with
``status`` (``ix_runs_status_heartbeat_at``, ``ix_knowledge_items_status``), so they stay
cheap with millions of finished rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select

from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import KnowledgeItem, Run, utcnow
from galaxyco_ui.models.knowledge import ItemStatus


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts now, and the age in seconds of the oldest waiting item (0 when none waits)."""

    runs_queued: int
    runs_running: int
    runs_oldest_queued_seconds: float
    items_queued: int
    items_processing: int
    items_oldest_queued_seconds: float


def queue_stats() -> QueueStats:
    """Read the run and ingestion queues from the database (two indexed aggregate queries)."""
    now = utcnow()
    with session_scope() as session:
        runs = {
            status: (count, oldest)
            for status, count, oldest in session.exec(
                select(Run.status, func.count(), func.min(Run.created_at))
                .where(col(Run.status).in_(("queued", "running")))
                .group_by(Run.status)
            ).all()
        }
        items = {
            status: (count, oldest)
            for status, count, oldest in session.exec(
                select(KnowledgeItem.status, func.count(), func.min(KnowledgeItem.updated_at))
                .where(col(KnowledgeItem.status).in_((ItemStatus.QUEUED, ItemStatus.PROCESSING)))
                .group_by(KnowledgeItem.status)
            ).all()
        }
    runs_queued, runs_oldest = runs.get("queued", (0, None))
    items_queued, items_oldest = items.get(ItemStatus.QUEUED, (0, None))
    return QueueStats(
        runs_queued=runs_queued,
        runs_running=runs.get("running", (0, None))[0],
        runs_oldest_queued_seconds=_age(now, runs_oldest),
        items_queued=items_queued,
        items_processing=items.get(ItemStatus.PROCESSING, (0, None))[0],
        items_oldest_queued_seconds=_age(now, items_oldest),
    )


def _age(now: datetime, oldest: datetime | None) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite hands an aggregate back without the column's zone
        oldest = oldest.replace(tzinfo=UTC)
    return max((now - oldest).total_seconds(), 0.0)
