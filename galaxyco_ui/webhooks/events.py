"""Webhook events: what happened, to which endpoints it goes, and handing it to the queue.

An event becomes one ``WebhookDelivery`` per enabled endpoint of the workspace that
subscribed to its type. ``record_run_event`` and ``record_item_event`` add them inside
the transaction that moved the run or the item to its final state, so an event is never
lost between the two (the sweep in ``delivery`` sends whatever is due after a restart);
the caller enqueues the returned ids once it has committed. A workspace without
endpoints costs one indexed query (``ix_webhook_endpoints_workspace_id``).

The body of every delivery is the Standard Webhooks payload
``{"type": ..., "timestamp": <ISO 8601>, "data": {...}}``, stored as sent (retries send
the same body, signed again with their own timestamp).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.jobs import get_job_queue
from galaxyco_ui.models import KnowledgeItem, Run, WebhookDelivery, WebhookEndpoint, utcnow

log = logging.getLogger("galaxyco.webhooks")

DELIVERY_JOB = "deliver_webhook_job"

EVENT_LABELS: dict[str, str] = {
    "run.succeeded": "Run succeeded",
    "run.failed": "Run failed",
    "run.cancelled": "Run cancelled",
    "knowledge.item.ready": "Document indexed",
    "knowledge.item.failed": "Document failed to index",
}
EVENT_TYPES = tuple(EVENT_LABELS)
TEST_EVENT = "webhook.test"

_RUN_EVENTS = {"succeeded": "run.succeeded", "failed": "run.failed", "cancelled": "run.cancelled"}
_ITEM_EVENTS = {"ready": "knowledge.item.ready", "failed": "knowledge.item.failed"}


def payload(event_type: str, data: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """The Standard Webhooks body of an event."""
    return {"type": event_type, "timestamp": (at or utcnow()).isoformat(), "data": data}


def record_event(
    session: Session,
    *,
    workspace_id: str,
    event_type: str,
    data: dict[str, Any],
    endpoint_id: str | None = None,
) -> list[str]:
    """Add a pending delivery of the event for each subscribed, enabled endpoint.

    Args:
        session: the caller's transaction (the deliveries commit with it).
        workspace_id: whose endpoints receive it.
        event_type: one of ``EVENT_TYPES``, or ``TEST_EVENT`` with ``endpoint_id``.
        data: the event's ``data`` object.
        endpoint_id: only this endpoint, whatever it subscribed to (the test event).

    Returns:
        The new deliveries' ids (enqueue them with ``enqueue_deliveries`` after commit).
    """
    query = select(WebhookEndpoint.id, WebhookEndpoint.events).where(
        WebhookEndpoint.workspace_id == workspace_id,
        col(WebhookEndpoint.enabled).is_(True),
        col(WebhookEndpoint.deleted_at).is_(None),
    )
    if endpoint_id is not None:
        query = query.where(WebhookEndpoint.id == endpoint_id)
    # Read before the caller's pending changes are flushed: on SQLite the flush takes the
    # write lock, which this query need not hold.
    with session.no_autoflush:
        endpoints = session.exec(query).all()
    if not endpoints:
        return []
    now = utcnow()
    body = payload(event_type, data, now)
    ids: list[str] = []
    for target_id, events in endpoints:
        if endpoint_id is None and event_type not in (events or []):
            continue
        delivery = WebhookDelivery(
            workspace_id=workspace_id,
            endpoint_id=target_id,
            event_type=event_type,
            payload=body,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        ids.append(delivery.id)
    return ids


def run_data(run: Run) -> dict[str, Any]:
    """The ``data`` of a run event."""
    base = get_settings().public_url.rstrip("/")
    return {
        "run_id": run.id,
        "agent_id": run.agent_id,
        "agent_name": str(run.agent_snapshot.get("name", "")),
        "status": run.status,
        "error": run.error,
        "trigger": run.trigger,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        # A decimal string (like the API), or null when a model's price is unknown.
        "cost_usd": None if run.cost_usd is None else f"{run.cost_usd:.6f}",
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "urls": {"run": f"{base}/runs/{run.id}", "api": f"{base}/api/v1/runs/{run.id}"},
    }


def item_data(item: KnowledgeItem) -> dict[str, Any]:
    """The ``data`` of a knowledge item event."""
    base = get_settings().public_url.rstrip("/")
    return {
        "item_id": item.id,
        "collection_id": item.collection_id,
        "name": item.name,
        "status": str(item.status),
        "error": item.error,
        "chunk_count": item.chunk_count,
        "urls": {
            "item": f"{base}/knowledge/items/{item.id}",
            "collection": f"{base}/knowledge/{item.collection_id}",
        },
    }


def record_run_event(session: Session, run: Run) -> list[str]:
    """Record the event of a run that just reached a terminal state (in its transaction)."""
    event_type = _RUN_EVENTS.get(run.status)
    if event_type is None:
        return []
    return record_event(session, workspace_id=run.workspace_id, event_type=event_type, data=run_data(run))


def record_item_event(session: Session, item: KnowledgeItem) -> list[str]:
    """Record the event of an item that just became ready or failed (in its transaction)."""
    event_type = _ITEM_EVENTS.get(str(item.status))
    if event_type is None:
        return []
    return record_event(session, workspace_id=item.workspace_id, event_type=event_type, data=item_data(item))


def delivery_key(delivery_id: str, attempts: int) -> str:
    """The job key of a delivery's next attempt (one key per attempt: SAQ keeps finished keys)."""
    return f"webhook-{delivery_id}-{attempts}"


async def enqueue_deliveries(delivery_ids: list[str]) -> None:
    """Hand new deliveries to the job queue (after their transaction committed).

    Never raises: a delivery the queue did not take is still pending, and the sweep
    (``delivery.enqueue_due_deliveries``) sends it within a few seconds.
    """
    if not delivery_ids:
        return
    try:
        queue = get_job_queue()
        for delivery_id in delivery_ids:
            await queue.enqueue(DELIVERY_JOB, key=delivery_key(delivery_id, 0), delivery_id=delivery_id)
    except Exception:
        log.exception(
            "could not enqueue webhook deliveries; the sweep will send them",
            extra={"count": len(delivery_ids)},
        )


async def emit(workspace_id: str, event_type: str, data: dict[str, Any]) -> list[str]:
    """Record an event in a transaction of its own and enqueue its deliveries.

    For callers that have no transaction to join; the engines use ``record_*_event``.

    Returns:
        The deliveries' ids (none when no enabled endpoint subscribed to ``event_type``).
    """

    def record() -> list[str]:
        with session_scope() as session:
            return record_event(session, workspace_id=workspace_id, event_type=event_type, data=data)

    ids = await asyncio.to_thread(record)
    await enqueue_deliveries(ids)
    return ids
