"""Outgoing webhooks (issue 10, item 5): endpoints, signed deliveries, retries, the log.

A real HTTP receiver on 127.0.0.1 (listed for the test in ALLOWED_PRIVATE_PROVIDER_HOSTS)
checks every signature with an independent Standard Webhooks verifier. Retry timing is
driven by a controllable clock (``webhooks.delivery.utcnow``); the deliveries that go
through the queue run on the embedded queue or, with TEST_REDIS_URL, a real SAQ worker.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from galaxyco_ui.config import get_settings
from galaxyco_ui.errors import NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue
from galaxyco_ui.models import AuditEvent, Run, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from galaxyco_ui.runs import store
from galaxyco_ui.services import knowledge, runs, webhooks
from galaxyco_ui.webhooks import delivery
from galaxyco_ui.webhooks.events import emit, record_event
from tests.factories import Team, make_agent, set_columns
from tests.runs.conftest import wired
from tests.webhook_receiver import WEBHOOK_PATH, Receiver, verify

__all__ = ["wired"]  # the run engine's fixture: an agent wired to the emulator

RUN_EVENTS = ["run.succeeded", "run.failed", "run.cancelled"]


@pytest.fixture(autouse=True)
async def _close_async_clients() -> AsyncIterator[None]:
    """Close the Redis client and job queue a test's loop opened: disabling an endpoint
    announces a notification (live push, queued emails), and a client left open is
    collected in a later test as an "unclosed connection" warning that fails it."""
    yield
    await close_job_queue()
    await close_async_redis()


@pytest.fixture
def receiver(allow_provider_hosts: Callable[..., None]) -> Iterator[Receiver]:
    """A receiver whose ``host:port`` the operator allowed (besides the entries already set)."""
    server = Receiver()
    allow_provider_hosts(*get_settings().private_provider_hosts, server.host_port)
    yield server
    server.close()


class Clock:
    """The delivery module's notion of now: the real time until the test sets it."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or utcnow()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(delivery, "utcnow", fake)
    return fake


def endpoint(ctx, url: str, events: list[str] | None = None, description: str = "Ops"):  # type: ignore[no-untyped-def]
    return webhooks.create_webhook_endpoint(
        ctx=ctx, url=url, description=description, events=events or list(webhooks.EVENT_TYPES)
    )


def pending_delivery(workspace_id: str, endpoint_id: str, data: dict | None = None) -> str:
    """A delivery recorded as the engines record them, not handed to any queue."""
    with session_scope() as session:
        ids = record_event(
            session,
            workspace_id=workspace_id,
            event_type="run.succeeded",
            data=data or {"run_id": "r1"},
            endpoint_id=endpoint_id,
        )
    return ids[0]


def load_delivery(delivery_id: str) -> WebhookDelivery:
    with session_scope() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


def load_endpoint(endpoint_id: str) -> WebhookEndpoint:
    with session_scope() as session:
        row = session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row


def attempts_of(delivery_id: str) -> list[WebhookAttempt]:
    with session_scope() as session:
        return list(
            session.exec(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(col(WebhookAttempt.attempt))
            ).all()
        )


def deliveries_of(endpoint_id: str) -> list[WebhookDelivery]:
    with session_scope() as session:
        return list(
            session.exec(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)).all()
        )


async def settled(delivery_id: str, timeout: float = 15.0) -> WebhookDelivery:
    """The delivery once it is no longer pending (sent by the queue)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = load_delivery(delivery_id)
        if row.status != "pending":
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"delivery {delivery_id} still pending after {timeout} s")
        await asyncio.sleep(0.02)


async def first_delivery(endpoint_id: str, timeout: float = 15.0) -> WebhookDelivery:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (rows := deliveries_of(endpoint_id)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("no delivery was recorded")
        await asyncio.sleep(0.02)
    return await settled(rows[0].id, timeout)


# ---------------------------------------------------------------- managing endpoints


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_admins_and_owners_manage_endpoints_and_every_change_is_audited(team: Team, receiver, role):
    ctx = team.ctx(role)
    created = endpoint(ctx, receiver.url, ["run.failed"], description="  Pager   duty ")
    assert (created.url, created.description, created.events) == (receiver.url, "Pager duty", ["run.failed"])
    assert created.enabled and created.last_delivery_status == ""
    secret = webhooks.reveal_webhook_secret(ctx=ctx, endpoint_id=created.id)
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 32
    assert secret not in load_endpoint(created.id).secret_encrypted  # encrypted at rest

    changed = webhooks.update_webhook_endpoint(
        ctx=ctx, endpoint_id=created.id, url=receiver.url + "/v2", description="", events=RUN_EVENTS
    )
    assert changed.events == RUN_EVENTS and changed.url.endswith("/v2")
    assert not webhooks.set_webhook_endpoint_enabled(ctx=ctx, endpoint_id=created.id, enabled=False).enabled
    assert webhooks.set_webhook_endpoint_enabled(ctx=ctx, endpoint_id=created.id, enabled=True).enabled
    rotated = webhooks.rotate_webhook_secret(ctx=ctx, endpoint_id=created.id)
    assert rotated != secret and webhooks.reveal_webhook_secret(ctx=ctx, endpoint_id=created.id) == rotated
    assert [e.id for e in webhooks.list_webhook_endpoints(ctx=ctx)] == [created.id]

    webhooks.delete_webhook_endpoint(ctx=ctx, endpoint_id=created.id)
    assert webhooks.list_webhook_endpoints(ctx=ctx) == []
    with pytest.raises(NotFoundError):
        webhooks.reveal_webhook_secret(ctx=ctx, endpoint_id=created.id)
    with session_scope() as session:
        actions = session.exec(
            select(AuditEvent.action)
            .where(AuditEvent.workspace_id == team.workspace_id, AuditEvent.target_id == created.id)
            .order_by(col(AuditEvent.created_at))
        ).all()
    assert actions == [
        "webhook.created",
        "webhook.updated",
        "webhook.updated",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]
    assert not any(secret in str(a) or rotated in str(a) for a in actions)


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_members_and_viewers_are_refused_every_webhook_action(team: Team, receiver, role):
    existing = endpoint(team.admin, receiver.url).id
    ctx = team.ctx(role)
    calls = [
        lambda: webhooks.list_webhook_endpoints(ctx=ctx),
        lambda: endpoint(ctx, receiver.url),
        lambda: webhooks.update_webhook_endpoint(
            ctx=ctx, endpoint_id=existing, url=receiver.url, events=RUN_EVENTS
        ),
        lambda: webhooks.set_webhook_endpoint_enabled(ctx=ctx, endpoint_id=existing, enabled=False),
        lambda: webhooks.delete_webhook_endpoint(ctx=ctx, endpoint_id=existing),
        lambda: webhooks.reveal_webhook_secret(ctx=ctx, endpoint_id=existing),
        lambda: webhooks.rotate_webhook_secret(ctx=ctx, endpoint_id=existing),
        lambda: webhooks.list_webhook_deliveries(ctx=ctx, endpoint_id=existing),
    ]
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            call()
    with pytest.raises(PermissionDeniedError):
        await webhooks.send_test_event(ctx=ctx, endpoint_id=existing)
    assert load_endpoint(existing).enabled and deliveries_of(existing) == []
    assert receiver.requests == []


async def test_another_workspaces_endpoint_is_not_found(team: Team, other_team: Team, receiver):
    foreign = endpoint(other_team.owner, receiver.url).id
    secret = webhooks.reveal_webhook_secret(ctx=other_team.owner, endpoint_id=foreign)
    ctx = team.owner
    for endpoint_id in (foreign, "missing", "\x00", "x" * 5000):
        calls = [
            lambda: webhooks.update_webhook_endpoint(
                ctx=ctx, endpoint_id=endpoint_id, url=receiver.url, events=RUN_EVENTS
            ),
            lambda: webhooks.set_webhook_endpoint_enabled(ctx=ctx, endpoint_id=endpoint_id, enabled=False),
            lambda: webhooks.delete_webhook_endpoint(ctx=ctx, endpoint_id=endpoint_id),
            lambda: webhooks.reveal_webhook_secret(ctx=ctx, endpoint_id=endpoint_id),
            lambda: webhooks.rotate_webhook_secret(ctx=ctx, endpoint_id=endpoint_id),
            lambda: webhooks.list_webhook_deliveries(ctx=ctx, endpoint_id=endpoint_id),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()
        with pytest.raises(NotFoundError):
            await webhooks.send_test_event(ctx=ctx, endpoint_id=endpoint_id)
    assert webhooks.list_webhook_endpoints(ctx=ctx) == []
    row = load_endpoint(foreign)
    assert row.enabled and row.deleted_at is None and row.events == list(webhooks.EVENT_TYPES)
    assert webhooks.reveal_webhook_secret(ctx=other_team.owner, endpoint_id=foreign) == secret
    assert deliveries_of(foreign) == []


def test_a_local_url_is_refused_unless_the_operator_lists_it(team: Team, allow_provider_hosts):
    allow_provider_hosts()  # nothing listed, as out of the box
    for url in ("http://127.0.0.1:8123/hook", "http://localhost:8123/hook", "http://10.1.2.3/hook"):
        with pytest.raises(ValidationError) as caught:
            endpoint(team.admin, url)
        message = caught.value.field_errors["url"]
        assert "ALLOWED_PRIVATE_PROVIDER_HOSTS=" in message, message
    allow_provider_hosts("127.0.0.1:8123")
    assert endpoint(team.admin, "http://127.0.0.1:8123/hook").url == "http://127.0.0.1:8123/hook"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_a_metadata_url_is_refused_even_when_listed(team: Team, allow_provider_hosts, url):
    host_port = url.split("/")[2]
    allow_provider_hosts(
        host_port if ":" in host_port and not host_port.startswith("[") else f"{host_port}:80"
    )
    with pytest.raises(ValidationError) as caught:
        endpoint(team.admin, url)
    assert "never" in caught.value.field_errors["url"]
    assert webhooks.list_webhook_endpoints(ctx=team.admin) == []


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"events": []}, "events", "at least one"),
        ({"events": ["run.succeeded", "run.exploded"]}, "events", "from the list"),
        ({"events": "run.succeeded"}, "events", "from the list"),
        ({"url": "ftp://example.com/hook"}, "url", "http and https"),
        ({"url": "https://user:pass@example.com/hook"}, "url", "user name or password"),
        ({"url": ""}, "url", "Enter the URL"),
        ({"url": "https://exa\x00mple.com/"}, "url", "NUL"),
        ({"description": "x" * 201}, "description", "under 200"),
        ({"description": "bad\x00"}, "description", "NUL"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_nothing_is_saved(
    team: Team, receiver, fields, field, fragment
):
    values = {"url": receiver.url, "description": "", "events": RUN_EVENTS, **fields}
    with pytest.raises(ValidationError) as caught:
        webhooks.create_webhook_endpoint(ctx=team.admin, **values)
    assert fragment in caught.value.field_errors[field]
    assert webhooks.list_webhook_endpoints(ctx=team.admin) == []


# ---------------------------------------------------------------- deliveries


async def test_a_succeeded_run_is_delivered_signed_to_the_subscribed_endpoints_only(
    wired, engine, receiver: Receiver, emulator
):
    from galaxyco_ui.devtools.script import Script, text, usage

    team, agent = wired
    subscribed = endpoint(team.admin, receiver.url, ["run.succeeded"])
    elsewhere = endpoint(team.admin, receiver.url + "/failures", ["run.failed", "knowledge.item.ready"])
    emulator.enqueue(Script([text("Done."), usage(12, 5)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Say done")
    assert (await engine(view.id)).status == "succeeded"
    sent = await first_delivery(subscribed.id)

    assert sent.status == "delivered" and sent.attempts == 1 and sent.last_status_code == 200
    assert deliveries_of(elsewhere.id) == []
    assert [r.path for r in receiver.requests] == [WEBHOOK_PATH]
    request = receiver.requests[0]
    secret = webhooks.reveal_webhook_secret(ctx=team.admin, endpoint_id=subscribed.id)
    assert verify(secret, request.headers, request.body)
    assert not verify(
        webhooks.reveal_webhook_secret(ctx=team.admin, endpoint_id=elsewhere.id),
        request.headers,
        request.body,
    )
    assert request.headers["webhook-id"] == sent.id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "GalaxyCo-Webhooks/1"
    body = request.json
    assert body["type"] == "run.succeeded" and datetime.fromisoformat(body["timestamp"])
    data = body["data"]
    assert (data["run_id"], data["agent_id"], data["agent_name"]) == (view.id, agent.id, "Calc")
    assert (data["status"], data["error"], data["trigger"]) == ("succeeded", "", "manual")
    assert (data["input_tokens"], data["output_tokens"], data["cost_usd"]) == (12, 5, None)
    assert data["urls"]["run"] == f"http://localhost:3000/runs/{view.id}"
    assert "input" not in data and "output" not in data


async def test_a_run_cancelled_in_the_queue_sends_its_event(team: Team, receiver: Receiver, engine):
    subscribed = endpoint(team.admin, receiver.url, ["run.cancelled"])
    agent = make_agent(team.member)
    with session_scope() as session:
        run = Run(workspace_id=team.workspace_id, created_by=team.member.user_id, agent_id=agent.id, input="x",
                  agent_snapshot={"name": agent.name})  # fmt: skip
        session.add(run)
    await runs.cancel_run(ctx=team.member, run_id=run.id)

    sent = await first_delivery(subscribed.id)
    assert (sent.event_type, sent.status) == ("run.cancelled", "delivered")
    data = receiver.requests[0].json["data"]
    assert (data["run_id"], data["status"], data["error"]) == (
        run.id,
        "cancelled",
        "Cancelled before it started.",
    )


async def test_a_500_is_retried_after_the_backoff_and_then_delivered(
    team: Team, receiver: Receiver, clock: Clock
):
    target = endpoint(team.admin, receiver.url)
    delivery_id = pending_delivery(team.workspace_id, target.id)
    receiver.script = [500]
    clock.now = utcnow()

    assert await delivery.deliver(delivery_id) == "pending"
    first = load_delivery(delivery_id)
    assert (first.attempts, first.last_status_code) == (1, 500)
    assert first.next_attempt_at == clock.now + timedelta(seconds=5)
    assert await delivery.deliver(delivery_id) is None  # not due yet: nothing sent
    assert delivery.due_deliveries(clock.now + timedelta(seconds=4)) == []
    assert delivery.due_deliveries(clock.now + timedelta(seconds=5)) == [(delivery_id, 1)]

    clock.now += timedelta(seconds=5)
    assert await delivery.deliver(delivery_id) == "delivered"
    assert [(a.attempt, a.status_code) for a in attempts_of(delivery_id)] == [(1, 500), (2, 200)]
    assert all(a.latency_ms >= 0 for a in attempts_of(delivery_id))
    assert '"status": 500' in attempts_of(delivery_id)[0].response_snippet
    assert len(receiver.requests) == 2
    # The same message id and body, each attempt signed with its own timestamp.
    assert (
        receiver.requests[0].headers["webhook-id"]
        == receiver.requests[1].headers["webhook-id"]
        == delivery_id
    )
    assert receiver.requests[0].body == receiver.requests[1].body
    secret = webhooks.reveal_webhook_secret(ctx=team.admin, endpoint_id=target.id)
    assert all(verify(secret, r.headers, r.body) for r in receiver.requests)
    page = webhooks.list_webhook_deliveries(ctx=team.admin, endpoint_id=target.id)
    (shown,) = page.deliveries
    assert (shown.status, shown.attempts, shown.last_status_code) == ("delivered", 2, 200)
    assert [a.status_code for a in shown.attempt_log] == [500, 200]
    assert webhooks.list_webhook_endpoints(ctx=team.admin)[0].last_delivery_status == "delivered"


async def test_a_delivery_still_failing_24_hours_after_the_event_fails(
    team: Team, receiver: Receiver, clock: Clock
):
    target = endpoint(team.admin, receiver.url)
    delivery_id = pending_delivery(team.workspace_id, target.id)
    created = load_delivery(delivery_id).created_at
    clock.now = created
    receiver.script = [503] * 100

    times: list[datetime] = []
    while (row := load_delivery(delivery_id)).status == "pending":
        assert row.next_attempt_at is not None
        clock.now = row.next_attempt_at
        times.append(clock.now)
        await delivery.deliver(delivery_id)
        assert len(times) < 60, "retries never stopped"

    assert row.status == "failed" and row.next_attempt_at is None
    gaps = [int((b - a).total_seconds()) for a, b in zip(times, times[1:], strict=False)]
    assert gaps[:6] == [5, 30, 120, 600, 1800, 3600]
    assert set(gaps[6:]) == {3600}
    assert times[-1] <= created + timedelta(hours=24) < times[-1] + timedelta(hours=1)
    assert len(attempts_of(delivery_id)) == row.attempts == len(times) == len(receiver.requests)
    assert load_endpoint(target.id).consecutive_failures == 1


async def test_an_endpoint_is_disabled_after_twenty_failed_deliveries_in_a_row(
    team: Team, receiver: Receiver, clock: Clock
):
    target = endpoint(team.admin, receiver.url)
    set_columns(WebhookEndpoint, target.id, consecutive_failures=delivery.DISABLE_AFTER - 1)
    delivery_id = pending_delivery(team.workspace_id, target.id)
    clock.now = load_delivery(delivery_id).created_at + timedelta(hours=24)
    set_columns(WebhookDelivery, delivery_id, next_attempt_at=clock.now)
    receiver.script = [500]

    assert await delivery.deliver(delivery_id) == "failed"
    view = webhooks.list_webhook_endpoints(ctx=team.admin)[0]
    assert not view.enabled and "Disabled automatically" in view.disabled_reason
    with session_scope() as session:  # a disabled endpoint gets no new events
        assert (
            record_event(session, workspace_id=team.workspace_id, event_type="run.succeeded", data={}) == []
        )
    with pytest.raises(ValidationError, match="disabled"):
        await webhooks.send_test_event(ctx=team.admin, endpoint_id=target.id)

    enabled = webhooks.set_webhook_endpoint_enabled(ctx=team.admin, endpoint_id=target.id, enabled=True)
    assert enabled.enabled and enabled.disabled_reason == ""
    assert load_endpoint(target.id).consecutive_failures == 0


async def test_a_success_resets_the_failure_count(team: Team, receiver: Receiver, clock: Clock):
    target = endpoint(team.admin, receiver.url)
    set_columns(WebhookEndpoint, target.id, consecutive_failures=7)
    assert await delivery.deliver(pending_delivery(team.workspace_id, target.id)) == "delivered"
    assert load_endpoint(target.id).consecutive_failures == 0


async def test_a_url_the_operator_no_longer_allows_is_refused_at_delivery(
    team: Team, receiver: Receiver, allow_provider_hosts, clock: Clock
):
    target = endpoint(team.admin, receiver.url)
    delivery_id = pending_delivery(team.workspace_id, target.id)
    allow_provider_hosts("127.0.0.1:9")  # the receiver's entry is withdrawn

    assert await delivery.deliver(delivery_id) == "pending"
    (attempt,) = attempts_of(delivery_id)
    assert attempt.status_code is None and "ALLOWED_PRIVATE_PROVIDER_HOSTS" in attempt.error
    assert receiver.requests == []


async def test_deliveries_of_a_deleted_or_disabled_endpoint_are_not_sent(
    team: Team, receiver: Receiver, clock: Clock
):
    gone = endpoint(team.admin, receiver.url)
    paused = endpoint(team.admin, receiver.url)
    first = pending_delivery(team.workspace_id, gone.id)
    second = pending_delivery(team.workspace_id, paused.id)
    webhooks.delete_webhook_endpoint(ctx=team.admin, endpoint_id=gone.id)
    webhooks.set_webhook_endpoint_enabled(ctx=team.admin, endpoint_id=paused.id, enabled=False)

    assert await delivery.deliver(first) is None and await delivery.deliver(second) is None
    assert (load_delivery(first).status, load_delivery(first).last_error) == (
        "failed",
        "Not sent: the endpoint was deleted.",
    )
    assert load_delivery(second).last_error == "Not sent: the endpoint is disabled."
    assert receiver.requests == []
    # A deleted endpoint's log stays readable.
    assert (
        webhooks.list_webhook_deliveries(ctx=team.admin, endpoint_id=gone.id).deliveries[0].status == "failed"
    )


async def test_the_sweep_sends_deliveries_left_behind_by_a_restart(team: Team, receiver: Receiver, engine):
    target = endpoint(team.admin, receiver.url)
    left = pending_delivery(team.workspace_id, target.id)  # recorded, never enqueued

    assert await delivery.enqueue_due_deliveries() == 1
    assert (await settled(left)).status == "delivered"
    assert len(receiver.requests) == 1


async def test_send_test_event_reaches_the_endpoint_and_shows_in_its_log(
    team: Team, receiver: Receiver, engine
):
    target = endpoint(team.admin, receiver.url, ["knowledge.item.failed"])
    queued = await webhooks.send_test_event(ctx=team.owner, endpoint_id=target.id)
    assert (queued.event_type, queued.status) == ("webhook.test", "pending")

    assert (await settled(queued.id)).status == "delivered"
    (request,) = receiver.requests
    assert verify(
        webhooks.reveal_webhook_secret(ctx=team.admin, endpoint_id=target.id), request.headers, request.body
    )
    assert request.json["type"] == "webhook.test" and request.json["data"]["endpoint_id"] == target.id
    (shown,) = webhooks.list_webhook_deliveries(ctx=team.admin, endpoint_id=target.id).deliveries
    assert (shown.event_type, shown.status, shown.last_status_code) == ("webhook.test", "delivered", 200)
    assert shown.attempt_log[0].response_snippet == '{"received": true, "status": 200}'


async def test_a_knowledge_item_ready_event_is_delivered(team: Team, receiver: Receiver, ingested):
    target = endpoint(team.admin, receiver.url, ["knowledge.item.ready"])
    collection = knowledge.create_collection(ctx=team.member, data={"name": "Docs"}).id
    outcome = await knowledge.upload_item(
        ctx=team.member,
        collection_id=collection,
        filename="notes.md",
        source=io.BytesIO(b"# Notes\n\nLeave is 27 days."),
    )
    assert (await ingested(outcome.item.id)).status == "ready"

    sent = await first_delivery(target.id)
    assert sent.status == "delivered" and sent.event_type == "knowledge.item.ready"
    data = receiver.requests[0].json["data"]
    assert (data["item_id"], data["collection_id"], data["name"]) == (outcome.item.id, collection, "notes.md")
    assert (data["status"], data["error"]) == ("ready", "")
    assert data["urls"]["item"] == f"http://localhost:3000/knowledge/items/{outcome.item.id}"


def test_the_delivery_log_pages_newest_first(team: Team, receiver: Receiver):
    target = endpoint(team.admin, receiver.url)
    ids = [pending_delivery(team.workspace_id, target.id, {"n": n}) for n in range(3)]
    for n, delivery_id in enumerate(ids):  # distinct times, oldest first
        set_columns(WebhookDelivery, delivery_id, created_at=utcnow() - timedelta(minutes=10 - n))

    first = webhooks.list_webhook_deliveries(ctx=team.admin, endpoint_id=target.id, limit=2)
    assert [d.id for d in first.deliveries] == [ids[2], ids[1]] and first.next_cursor
    older = webhooks.list_webhook_deliveries(
        ctx=team.admin, endpoint_id=target.id, limit=2, cursor=first.next_cursor
    )
    assert [d.id for d in older.deliveries] == [ids[0]] and older.next_cursor == ""
    with pytest.raises(ValidationError):
        webhooks.list_webhook_deliveries(ctx=team.admin, endpoint_id=target.id, cursor="not|a\x00cursor")


def test_a_workspace_holds_at_most_twenty_endpoints(team: Team, receiver: Receiver):
    for n in range(webhooks.MAX_ENDPOINTS):
        endpoint(team.admin, f"{receiver.url}/{n}")
    with pytest.raises(ValidationError, match="at most"):
        endpoint(team.admin, receiver.url)


async def test_emit_records_one_delivery_per_enabled_subscribed_endpoint_of_the_workspace(
    team: Team, other_team: Team, receiver: Receiver, engine
):
    assert await emit(team.workspace_id, "run.failed", {"run_id": "r1"}) == []  # no endpoints: nothing
    subscribed = endpoint(team.admin, receiver.url, ["run.failed"])
    endpoint(team.admin, receiver.url + "/other", ["run.succeeded"])
    paused = endpoint(team.admin, receiver.url + "/paused", ["run.failed"])
    webhooks.set_webhook_endpoint_enabled(ctx=team.admin, endpoint_id=paused.id, enabled=False)
    foreign = endpoint(other_team.admin, receiver.url + "/foreign", ["run.failed"])

    (delivery_id,) = await emit(team.workspace_id, "run.failed", {"run_id": "r1"})
    assert load_delivery(delivery_id).endpoint_id == subscribed.id
    assert (await settled(delivery_id)).status == "delivered"
    assert deliveries_of(foreign.id) == [] and deliveries_of(paused.id) == []
    assert [r.path for r in receiver.requests] == [WEBHOOK_PATH]
    assert receiver.requests[0].json["data"] == {"run_id": "r1"}


def test_a_run_failed_as_worker_lost_records_its_event_for_the_sweep(team: Team, receiver: Receiver):
    subscribed = endpoint(team.admin, receiver.url, ["run.failed"])
    agent = make_agent(team.member)
    stale = utcnow() - timedelta(minutes=5)
    with session_scope() as session:
        run = Run(workspace_id=team.workspace_id, created_by=team.member.user_id, agent_id=agent.id, input="x",
                  status="running", started_at=stale, heartbeat_at=stale, agent_snapshot={"name": agent.name})  # fmt: skip
        session.add(run)

    assert store.sweep_lost_runs(stale_after=timedelta(seconds=30)) == [(run.id, team.workspace_id)]
    (recorded,) = deliveries_of(subscribed.id)
    assert (recorded.event_type, recorded.status) == ("run.failed", "pending")
    assert recorded.payload["data"]["error"] == store.WORKER_LOST
    assert delivery.due_deliveries(utcnow()) == [(recorded.id, 0)]  # the next sweep sends it
