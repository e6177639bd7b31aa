"""Settings → Webhooks: endpoints that receive the workspace's events (admins and owners).

An endpoint is a URL, a description, the event types it subscribed to
(``webhooks.events.EVENT_TYPES``) and a Standard Webhooks secret (``whsec_…``) that is
encrypted at rest (``infra.crypto``, purpose ``webhook-secret``) and shown to admins so
their receivers can verify signatures. URLs are vetted when saved and again before every
delivery (``webhooks.urls``: public addresses, or ``host:port`` pairs the operator
listed in ``ALLOWED_PRIVATE_PROVIDER_HOSTS``; never link-local or cloud metadata).

Creating, changing, enabling or disabling, deleting an endpoint and rotating its secret
are audited (``webhook.*``). Deliveries and their attempts are listed per endpoint,
newest first, with the shared keyset cursor (``services.paging``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from galaxyco_ui.auth.permissions import Permission, TenantContext, require
from galaxyco_ui.errors import NotFoundError, ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from galaxyco_ui.services import audit
from galaxyco_ui.services.paging import older_than, page_cursor
from galaxyco_ui.services.validation import check_text, lookup_id, one_line
from galaxyco_ui.webhooks.delivery import SECRET_PURPOSE
from galaxyco_ui.webhooks.events import (
    EVENT_LABELS,
    EVENT_TYPES,
    TEST_EVENT,
    enqueue_deliveries,
    record_event,
)
from galaxyco_ui.webhooks.signing import new_secret
from galaxyco_ui.webhooks.urls import webhook_url_problem

__all__ = ["EVENT_LABELS", "EVENT_TYPES", "TEST_EVENT"]

MAX_ENDPOINTS = 20  # per workspace
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
DELIVERY_PAGE = 20
MAX_DELIVERY_PAGE = 100


class WebhookEndpointView(BaseModel):
    id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str
    created_at: datetime
    last_delivery_status: str  # "" (none yet) | pending | delivered | failed
    last_delivery_code: int | None
    last_delivery_at: datetime | None


class WebhookAttemptView(BaseModel):
    attempt: int
    status_code: int | None
    latency_ms: int
    response_snippet: str
    error: str
    created_at: datetime


class WebhookDeliveryView(BaseModel):
    id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_latency_ms: int | None
    last_response_snippet: str
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempt_log: list[WebhookAttemptView]  # oldest first


class WebhookDeliveryPage(BaseModel):
    deliveries: list[WebhookDeliveryView]
    next_cursor: str  # "" when there is no older page


def list_webhook_endpoints(*, ctx: TenantContext) -> list[WebhookEndpointView]:
    """The workspace's live endpoints, oldest first, each with its latest delivery."""
    require(ctx, Permission.MANAGE_SETTINGS)
    with session_scope() as session:
        endpoints = session.exec(
            select(WebhookEndpoint)
            .where(
                WebhookEndpoint.workspace_id == ctx.workspace_id, col(WebhookEndpoint.deleted_at).is_(None)
            )
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        ).all()
        return [_endpoint_view(session, e) for e in endpoints]


def create_webhook_endpoint(
    *, ctx: TenantContext, url: str, description: str = "", events: list[str]
) -> WebhookEndpointView:
    """Add an endpoint with a new secret. Resolves the URL's host (blocking: call from a thread).

    Raises:
        ValidationError: ``url`` (malformed, or an address the policy refuses),
            ``description`` or ``events`` (none, or an unknown type); or the workspace
            already has ``MAX_ENDPOINTS``.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    clean_url, clean_description, clean_events = _clean(url, description, events)
    with session_scope() as session:
        count = session.exec(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(
                WebhookEndpoint.workspace_id == ctx.workspace_id, col(WebhookEndpoint.deleted_at).is_(None)
            )
        ).one()
        if count >= MAX_ENDPOINTS:
            raise ValidationError({"url": f"A workspace can have at most {MAX_ENDPOINTS} webhook endpoints."})
        endpoint = WebhookEndpoint(
            workspace_id=ctx.workspace_id,
            created_by=ctx.user_id,
            url=clean_url,
            description=clean_description,
            events=clean_events,
            secret_encrypted=crypto.encrypt(new_secret(), purpose=SECRET_PURPOSE),
        )
        session.add(endpoint)
        audit.record(
            session,
            ctx,
            "webhook.created",
            summary=f"Added the webhook endpoint {clean_url}",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            data={"url": clean_url, "events": clean_events},
        )
        return _endpoint_view(session, endpoint)


def update_webhook_endpoint(
    *, ctx: TenantContext, endpoint_id: str, url: str, description: str = "", events: list[str]
) -> WebhookEndpointView:
    """Change an endpoint's URL, description and events (the URL is vetted again, blocking).

    Raises:
        NotFoundError: no such live endpoint in this workspace.
        ValidationError: as ``create_webhook_endpoint``.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    checked = lookup_id(endpoint_id)
    with session_scope() as session:
        _endpoint(session, ctx, checked)  # a foreign id is "not found" before any vetting
    clean_url, clean_description, clean_events = _clean(url, description, events)
    with session_scope() as session:
        endpoint = _endpoint(session, ctx, checked)
        previous = {"url": endpoint.url, "events": list(endpoint.events)}
        endpoint.url, endpoint.description, endpoint.events = clean_url, clean_description, clean_events
        endpoint.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "webhook.updated",
            summary=f"Changed the webhook endpoint {clean_url}",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            data={"url": clean_url, "events": clean_events, "previous": previous},
        )
        return _endpoint_view(session, endpoint)


def set_webhook_endpoint_enabled(
    *, ctx: TenantContext, endpoint_id: str, enabled: bool
) -> WebhookEndpointView:
    """Enable or disable an endpoint. Enabling clears an automatic disable and its failure count.

    Raises:
        NotFoundError: no such live endpoint in this workspace.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    with session_scope() as session:
        endpoint = _endpoint(session, ctx, lookup_id(endpoint_id))
        endpoint.enabled = bool(enabled)
        if endpoint.enabled:
            endpoint.disabled_reason, endpoint.consecutive_failures = "", 0
        endpoint.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "webhook.updated",
            summary=("Enabled" if endpoint.enabled else "Disabled") + f" the webhook endpoint {endpoint.url}",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            data={"enabled": endpoint.enabled},
        )
        return _endpoint_view(session, endpoint)


def delete_webhook_endpoint(*, ctx: TenantContext, endpoint_id: str) -> None:
    """Delete an endpoint (softly: its delivery log stays); pending deliveries are not sent.

    Raises:
        NotFoundError: no such live endpoint in this workspace.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    with session_scope() as session:
        endpoint = _endpoint(session, ctx, lookup_id(endpoint_id))
        endpoint.deleted_at = endpoint.updated_at = utcnow()
        endpoint.enabled = False
        audit.record(
            session,
            ctx,
            "webhook.deleted",
            summary=f"Deleted the webhook endpoint {endpoint.url}",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            data={"url": endpoint.url},
        )


def reveal_webhook_secret(*, ctx: TenantContext, endpoint_id: str) -> str:
    """The endpoint's signing secret (``whsec_…``), for the receiver's configuration.

    Raises:
        NotFoundError: no such live endpoint in this workspace.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    with session_scope() as session:
        endpoint = _endpoint(session, ctx, lookup_id(endpoint_id))
        return crypto.decrypt(endpoint.secret_encrypted, purpose=SECRET_PURPOSE)


def rotate_webhook_secret(*, ctx: TenantContext, endpoint_id: str) -> str:
    """Give the endpoint a new secret at once (every later attempt is signed with it).

    Returns:
        The new secret.

    Raises:
        NotFoundError: no such live endpoint in this workspace.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    secret = new_secret()
    with session_scope() as session:
        endpoint = _endpoint(session, ctx, lookup_id(endpoint_id))
        endpoint.secret_encrypted = crypto.encrypt(secret, purpose=SECRET_PURPOSE)
        endpoint.updated_at = utcnow()
        audit.record(
            session,
            ctx,
            "webhook.secret_rotated",
            summary=f"Rotated the signing secret of the webhook endpoint {endpoint.url}",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
        )
    return secret


def list_webhook_deliveries(
    *, ctx: TenantContext, endpoint_id: str, cursor: str = "", limit: int = DELIVERY_PAGE
) -> WebhookDeliveryPage:
    """An endpoint's deliveries, newest first, each with its attempts.

    Raises:
        NotFoundError: no such endpoint in this workspace (deleted ones keep their log).
        ValidationError: ``cursor`` is not one this function returned.
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    limit = max(1, min(int(limit), MAX_DELIVERY_PAGE))
    with session_scope() as session:
        endpoint = _endpoint(session, ctx, lookup_id(endpoint_id), live_only=False)
        query = select(WebhookDelivery).where(
            WebhookDelivery.workspace_id == ctx.workspace_id, WebhookDelivery.endpoint_id == endpoint.id
        )
        if cursor:
            query = query.where(older_than(cursor, col(WebhookDelivery.created_at), col(WebhookDelivery.id)))
        rows = session.exec(
            query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()).limit(
                limit + 1
            )
        ).all()
        page, more = rows[:limit], len(rows) > limit
        attempts: dict[str, list[WebhookAttemptView]] = {d.id: [] for d in page}
        if page:
            for a in session.exec(
                select(WebhookAttempt)
                .where(
                    WebhookAttempt.workspace_id == ctx.workspace_id,
                    col(WebhookAttempt.delivery_id).in_(list(attempts)),
                )
                .order_by(col(WebhookAttempt.attempt), col(WebhookAttempt.created_at))
            ).all():
                attempts[a.delivery_id].append(
                    WebhookAttemptView(
                        attempt=a.attempt,
                        status_code=a.status_code,
                        latency_ms=a.latency_ms,
                        response_snippet=a.response_snippet,
                        error=a.error,
                        created_at=a.created_at,
                    )
                )
        views = [_delivery_view(d, attempts[d.id]) for d in page]
    next_cursor = page_cursor(page[-1].created_at, page[-1].id) if more else ""
    return WebhookDeliveryPage(deliveries=views, next_cursor=next_cursor)


async def send_test_event(*, ctx: TenantContext, endpoint_id: str) -> WebhookDeliveryView:
    """Send a ``webhook.test`` event to one endpoint now, whatever it subscribed to.

    Raises:
        NotFoundError: no such live endpoint in this workspace.
        ValidationError: the endpoint is disabled (enable it first).
    """
    require(ctx, Permission.MANAGE_SETTINGS)
    view = await asyncio.to_thread(_record_test, ctx, lookup_id(endpoint_id))
    await enqueue_deliveries([view.id])
    return view


def _record_test(ctx: TenantContext, endpoint_id: str | None) -> WebhookDeliveryView:
    with session_scope() as session:
        endpoint = _endpoint(session, ctx, endpoint_id)
        if not endpoint.enabled:
            raise ValidationError({"endpoint": "This endpoint is disabled: enable it to send a test event."})
        data = {
            "message": "A test event from GalaxyCo: the signature of this request can be verified "
            "with the endpoint's signing secret.",
            "endpoint_id": endpoint.id,
            "workspace_id": ctx.workspace_id,
        }
        ids = record_event(
            session, workspace_id=ctx.workspace_id, event_type=TEST_EVENT, data=data, endpoint_id=endpoint.id
        )
        session.flush()
        delivery = session.get(WebhookDelivery, ids[0])
        assert delivery is not None
        return _delivery_view(delivery, [])


def _clean(url: object, description: object, events: object) -> tuple[str, str, list[str]]:
    """The checked fields, or one ``ValidationError`` naming every bad one."""
    errors: dict[str, str] = {}
    clean_url, clean_description = "", ""
    try:
        clean_url = check_text(url, field="url").strip()
        if not clean_url:
            errors["url"] = "Enter the URL that should receive the events."
        elif len(clean_url) > MAX_URL_LENGTH:
            errors["url"] = f"That URL is too long ({MAX_URL_LENGTH} characters at most)."
        elif problem := webhook_url_problem(clean_url):
            errors["url"] = problem
    except ValidationError as exc:
        errors |= exc.field_errors
    try:
        clean_description = one_line(check_text(description, field="description"))
        if len(clean_description) > MAX_DESCRIPTION_LENGTH:
            errors["description"] = f"Keep the description under {MAX_DESCRIPTION_LENGTH} characters."
    except ValidationError as exc:
        errors |= exc.field_errors
    except ValueError as exc:
        errors["description"] = str(exc)
    chosen = list(events) if isinstance(events, list | tuple) else []
    clean_events = [e for e in EVENT_TYPES if e in chosen]
    if not isinstance(events, list | tuple) or any(
        not isinstance(e, str) or e not in EVENT_TYPES for e in chosen
    ):
        errors["events"] = "Choose events from the list."
    elif not clean_events:
        errors["events"] = "Choose at least one event."
    if errors:
        raise ValidationError(errors)
    return clean_url, clean_description, clean_events


def _endpoint(
    session: Session, ctx: TenantContext, endpoint_id: str | None, *, live_only: bool = True
) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id) if endpoint_id is not None else None
    if (
        endpoint is None
        or endpoint.workspace_id != ctx.workspace_id
        or (live_only and endpoint.deleted_at is not None)
    ):
        raise NotFoundError("That webhook endpoint")
    return endpoint


def _endpoint_view(session: Session, endpoint: WebhookEndpoint) -> WebhookEndpointView:
    last = session.exec(
        select(WebhookDelivery.status, WebhookDelivery.last_status_code, WebhookDelivery.created_at)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
        .limit(1)
    ).first()
    return WebhookEndpointView(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        events=list(endpoint.events),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        created_at=endpoint.created_at,
        last_delivery_status=last[0] if last else "",
        last_delivery_code=last[1] if last else None,
        last_delivery_at=last[2] if last else None,
    )


def _delivery_view(delivery: WebhookDelivery, attempts: list[WebhookAttemptView]) -> WebhookDeliveryView:
    return WebhookDeliveryView(
        id=delivery.id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_latency_ms=delivery.last_latency_ms,
        last_response_snippet=delivery.last_response_snippet,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        delivered_at=delivery.delivered_at,
        attempt_log=attempts,
    )
