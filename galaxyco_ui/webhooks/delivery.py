"""Sending a delivery: one signed POST per job, retried with backoff for 24 hours.

``deliver(delivery_id)`` is the job ``deliver_webhook_job``. It

1. claims the attempt with one compare-and-set (``status = 'pending' AND
   next_attempt_at <= now``), which also pushes ``next_attempt_at`` out by ``LEASE`` so
   no sweep hands the delivery to a second job while this one works (a job that dies is
   retried once the lease is over); a delivery that is not due is left alone;
2. vets the endpoint's URL again (``urls.vet_webhook_url``: the DNS answer may have
   changed since it was saved, or the operator may have withdrawn an allowance) and
   POSTs the stored body to the vetted address, signed (``signing``), without following
   redirects, within ``TIMEOUT_SECONDS``;
3. records the attempt (status code, latency, the first 500 characters of the answer,
   or the error). A 2xx answer delivers it; anything else schedules the next attempt
   after ``BACKOFF_SECONDS`` (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hourly) until
   ``RETRY_WINDOW`` (24 h) after the event, when it fails. ``DISABLE_AFTER`` failed
   deliveries in a row disable the endpoint, with the reason shown in Settings.

Retries need no timer that a restart would lose: ``enqueue_due_deliveries`` (the
scheduler loop, every few seconds, in the app or in each worker) enqueues what is due.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlmodel import col, select, update

from galaxyco_ui import notifications
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.jobs import get_job_queue, job
from galaxyco_ui.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from galaxyco_ui.tools.http_request import build_request
from galaxyco_ui.tools.netguard import Target
from galaxyco_ui.webhooks.events import DELIVERY_JOB, delivery_key
from galaxyco_ui.webhooks.signing import signed_headers
from galaxyco_ui.webhooks.urls import WebhookUrlRefused, shown_url, vet_webhook_url

log = logging.getLogger("galaxyco.webhooks")

SECRET_PURPOSE = "webhook-secret"  # noqa: S105  (an HKDF purpose label, not a secret)
USER_AGENT = "GalaxyCo-Webhooks/1"
TIMEOUT_SECONDS = 10.0
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600)  # after the 1st, 2nd, ... failed attempt; then hourly
RETRY_WINDOW = timedelta(hours=24)
DISABLE_AFTER = 20  # failed deliveries in a row
LEASE = timedelta(seconds=60)  # longer than one attempt can take
SNIPPET_CHARS = 500
_READ_BYTES = 4096  # of the answer: enough for the snippet
_SWEEP_BATCH = 500


def _job_options() -> dict[str, object]:
    # The job retries itself through the sweep; SAQ must not run an attempt twice.
    return {"timeout": int(TIMEOUT_SECONDS) + 50, "retries": 0}


@dataclass(frozen=True, slots=True)
class Claimed:
    """One attempt of a delivery, loaded when it was claimed."""

    delivery_id: str
    workspace_id: str
    endpoint_id: str
    url: str
    secret: str
    body: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt got: an HTTP status, or an error before or instead of one."""

    status_code: int | None
    latency_ms: int
    snippet: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1 for the first)."""
    index = max(attempt, 1) - 1
    return timedelta(seconds=BACKOFF_SECONDS[index] if index < len(BACKOFF_SECONDS) else BACKOFF_SECONDS[-1])


@job(DELIVERY_JOB, options=_job_options)
async def deliver(delivery_id: str) -> str | None:
    """Job: make the due attempt of one delivery. Returns its status after it, or None if not due."""
    claimed = await asyncio.to_thread(_claim, delivery_id, utcnow())
    if claimed is None:
        return None
    outcome = await send(claimed)
    notices: list[notifications.Announcement] = []
    status = await asyncio.to_thread(_record, claimed, outcome, utcnow(), notices)
    await notifications.announce_all(notices)
    log.info(
        "webhook attempt",
        extra={
            "delivery_id": claimed.delivery_id,
            "workspace_id": claimed.workspace_id,
            "endpoint_id": claimed.endpoint_id,
            "url": shown_url(claimed.url),
            "attempt": claimed.attempt,
            "status_code": outcome.status_code,
            "delivery_status": status,
        },
    )
    return status


def _claim(delivery_id: str, now: datetime) -> Claimed | None:
    with session_scope() as session:
        won = session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .values(attempts=col(WebhookDelivery.attempts) + 1, next_attempt_at=now + LEASE)
        ).rowcount
        if won != 1:
            return None
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or endpoint.deleted_at is not None or not endpoint.enabled:
            delivery.status, delivery.next_attempt_at = "failed", None
            delivery.last_error = (
                "Not sent: the endpoint was deleted."
                if endpoint is None or endpoint.deleted_at is not None
                else "Not sent: the endpoint is disabled."
            )
            return None
        return Claimed(
            delivery_id=delivery.id,
            workspace_id=delivery.workspace_id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            secret=crypto.decrypt(endpoint.secret_encrypted, purpose=SECRET_PURPOSE),
            body=json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False),
            attempt=delivery.attempts,
        )


async def send(claimed: Claimed) -> Outcome:
    """POST one attempt to the vetted address of the endpoint (never raises)."""
    began = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - began) * 1000)

    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            target = await vet_webhook_url(claimed.url)
            headers = {
                **signed_headers(claimed.secret, claimed.delivery_id, int(time.time()), claimed.body),
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            }
            return await _post(target, headers, claimed.body.encode(), elapsed)
    except WebhookUrlRefused as refused:
        return Outcome(None, elapsed(), error=f"Refused: {refused.message}"[:SNIPPET_CHARS])
    except TimeoutError:
        return Outcome(None, elapsed(), error=f"No answer within {TIMEOUT_SECONDS:g} seconds.")


async def _post(target: Target, headers: dict[str, str], body: bytes, elapsed: Callable[[], int]) -> Outcome:
    failure = "connection failed"
    # No keep-alive: a pooled connection to an IP must never carry another host's request.
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(retries=0, limits=httpx.Limits(max_keepalive_connections=0)),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
    ) as client:
        for address in target.addresses[:3]:
            request = build_request(client, target, address, "POST", headers, body)
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError as error:
                failure = (
                    "TLS certificate verification failed"
                    if "CERTIFICATE" in str(error)
                    else "connection failed"
                )
                continue
            except httpx.TimeoutException:
                raise TimeoutError from None
            except httpx.HTTPError as broken:
                return Outcome(None, elapsed(), error=f"The request failed: {type(broken).__name__}")
            try:
                read = b""
                async for chunk in response.aiter_bytes():
                    read += chunk
                    if len(read) >= _READ_BYTES:
                        break
            except httpx.TimeoutException:
                raise TimeoutError from None
            except httpx.HTTPError:
                pass  # the status is what counts; a broken body only shortens the snippet
            finally:
                await response.aclose()
            snippet = read.decode("utf-8", errors="replace")[:SNIPPET_CHARS]
            note = (
                "Redirects are not followed: use the final URL." if 300 <= response.status_code < 400 else ""
            )
            return Outcome(response.status_code, elapsed(), snippet=snippet, error=note)
    return Outcome(
        None, elapsed(), error=f"Could not connect to {target.host} on port {target.port} ({failure})."
    )


def _record(
    claimed: Claimed, outcome: Outcome, now: datetime, notices: list[notifications.Announcement] | None = None
) -> str:
    """Store the attempt and decide what follows it; returns the delivery's status.

    Disabling the endpoint notifies the workspace's owners and admins (appended to
    ``notices``: announce them after this returns).
    """
    with session_scope() as session:
        delivery = session.get(WebhookDelivery, claimed.delivery_id)
        endpoint = session.get(WebhookEndpoint, claimed.endpoint_id)
        assert delivery is not None and endpoint is not None
        session.add(
            WebhookAttempt(
                workspace_id=delivery.workspace_id,
                delivery_id=delivery.id,
                attempt=claimed.attempt,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_snippet=outcome.snippet,
                error=outcome.error,
                created_at=now,
            )
        )
        delivery.last_status_code = outcome.status_code
        delivery.last_latency_ms = outcome.latency_ms
        delivery.last_response_snippet = outcome.snippet
        delivery.last_error = outcome.error
        if outcome.delivered:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
            endpoint.consecutive_failures = 0
            return delivery.status
        following = now + backoff(claimed.attempt)
        if following <= delivery.created_at + RETRY_WINDOW:
            delivery.next_attempt_at = following
            return delivery.status
        delivery.status, delivery.next_attempt_at = "failed", None
        endpoint.consecutive_failures += 1
        if endpoint.enabled and endpoint.consecutive_failures >= DISABLE_AFTER:
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"Disabled automatically: the last {DISABLE_AFTER} deliveries all failed for 24 hours. "
                "Fix the receiver, then enable the endpoint again."
            )
            endpoint.updated_at = now
            log.warning(
                "webhook endpoint disabled",
                extra={"endpoint_id": endpoint.id, "workspace_id": endpoint.workspace_id},
            )
            described = f" ({endpoint.description})" if endpoint.description else ""
            note = notifications.record(
                session,
                workspace_id=endpoint.workspace_id,
                kind="webhook_disabled",
                title="Webhook endpoint disabled",
                body=f"{shown_url(endpoint.url)}{described}: {endpoint.disabled_reason}",
                link="/settings",
                roles=["owner", "admin"],
            )
            if notices is not None:
                notices.append(note)
        return delivery.status


def due_deliveries(now: datetime, limit: int = _SWEEP_BATCH) -> list[tuple[str, int]]:
    """Pending deliveries whose next attempt is due: ``(id, attempts so far)``, oldest first."""
    with session_scope() as session:
        rows = session.exec(
            select(WebhookDelivery.id, WebhookDelivery.attempts)
            .where(WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now)
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
        ).all()
    return [(row[0], row[1]) for row in rows]


async def enqueue_due_deliveries(now: datetime | None = None) -> int:
    """Enqueue every due delivery (the scheduler loop calls this). Returns how many."""
    due = await asyncio.to_thread(due_deliveries, now or utcnow())
    queue = get_job_queue()
    for delivery_id, attempts in due:
        await queue.enqueue(DELIVERY_JOB, key=delivery_key(delivery_id, attempts), delivery_id=delivery_id)
    return len(due)
