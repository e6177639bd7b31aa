"""Property-based fuzzing of every /api/v1 operation from the OpenAPI document it serves.

Schemathesis reads ``/api/v1/openapi.json`` from the app itself, so an operation a router
adds is fuzzed as soon as the router is included: nothing here lists endpoints. Each
operation gets positive cases (valid per its schema) and negative ones (invalid on
purpose), sent in-process over ASGI with a real admin API key of a seeded workspace, and
every response must:

- not be a 5xx (``not_a_server_error``);
- have a status code the operation documents (``status_code_conformance``);
- have a documented content type, documented headers and a body (each event, for an
  event stream) matching the documented schema (``content_type_conformance``,
  ``response_headers_conformance``, ``response_schema_conformance``);
- never be a success for another workspace's object named in the path or the body, and
  never show anything of that workspace (its rows carry a marker no request holds).

Ids are real some of the time: a generated ``agent_id``, ``run_id``, ``collection_id``…
(path, query or body) is replaced by one of the seeded workspace, or of another
workspace, so requests reach existing objects and not only 404s. The seeded agent runs
on the provider emulator, so started runs really execute and end (``engine`` runs them:
asyncio tasks embedded, a SAQ worker with Redis), which bounds the blocking and streaming
answers; a request is cut after ``REQUEST_TIMEOUT_SECONDS`` anyway (an event stream keeps
what it sent, anything else fails as a timeout). No operation is skipped. Deletes run
last, so the seeded objects exist for everything else.

The budget: at least ``TARGET_REQUESTS`` requests in all, spread over the operations (an
operation whose inputs run out early leaves its share to the others), derandomized like
``tests/fuzz`` so CI sends the same cases on every run.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import col, select
from starlette.types import ASGIApp, Receive, Scope, Send

from galaxyco_ui.api import create_api
from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import close_async_redis
from galaxyco_ui.jobs import close_job_queue
from galaxyco_ui.models import Run
from galaxyco_ui.services import agent_hooks, api_keys, provider_keys, runs
from galaxyco_ui.services import knowledge as knowledge_service
from galaxyco_ui.services import schedules as schedules_service
from tests.api.v1.conftest import bearer, make_key
from tests.factories import Team, make_agent

TARGET_REQUESTS = 1_000
# Share of each operation's budget given to negative (invalid on purpose) cases.
NEGATIVE_SHARE = 0.3
# Requests per minute per key during the fuzz: far above what the fuzz sends, so a 429
# never hides a response that should have been checked.
FUZZ_RATE_LIMIT = 100_000
REQUEST_TIMEOUT_SECONDS = 10
# On every row of the other workspace; no request ever holds it, so no answer may.
FOREIGN_MARKER = "F0REIGN-R0W"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Seeded:
    """Values a generated request may use instead of its own, by parameter name."""

    own: dict[str, list[str]] = field(default_factory=dict)
    foreign: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture
def fuzz_rate_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("API_MAX_REQUESTS_PER_MINUTE", str(FUZZ_RATE_LIMIT))
    reset_settings()
    api_keys.reset_limit_cache()
    yield
    monkeypatch.undo()
    reset_settings()
    api_keys.reset_limit_cache()


async def seed(
    team: Team, emulator: Emulator, wait: Callable[[str], Awaitable[Run]], label: str, *, marker: str = ""
) -> dict[str, list[str]]:
    """One object of each kind the API serves in ``team``'s workspace, by parameter name."""
    owner = team.owner
    provider_keys.set_provider_key(
        ctx=owner, provider="openai_compatible", api_key="emulator-key", base_url=emulator.openai_base_url
    )
    agent = make_agent(
        owner,
        name=f"Fuzz agent {label}",
        description=marker,
        provider="openai_compatible",
        model="fuzz-model",
    )
    hook = agent_hooks.enable_hook(ctx=owner, agent_id=agent.id)
    collection = knowledge_service.create_collection(
        ctx=owner, data={"name": f"Docs {label}", "description": marker}
    )
    upload = await knowledge_service.upload_item(
        ctx=owner,
        collection_id=collection.id,
        filename="notes.md",
        source=io.BytesIO(f"# Notes {marker}".encode()),
    )
    schedule = schedules_service.create_schedule(
        ctx=owner, agent_id=agent.id, cron="0 9 * * *", timezone="UTC", input=f"Daily digest {marker}"
    )
    run = await runs.start_run(ctx=owner, agent_id=agent.id, input=f"Hello {marker}", trigger="api")
    await wait(run.id)
    return {
        "agent_id": [agent.id],
        "model": [agent.name],
        "token": [hook.token],
        "collection_id": [collection.id],
        "knowledge_collection_ids": [collection.id],
        "item_id": [upload.item.id],
        "schedule_id": [schedule.id],
        "run_id": [run.id],
    }


async def test_every_operation_answers_generated_requests_as_its_schema_says(
    team: Team,
    other_team: Team,
    emulator: Emulator,
    engine: Callable[[str], Awaitable[Run]],
    fuzz_rate_limit: None,
) -> None:
    api_keys.set_api_rate_limit(ctx=team.owner, per_minute=FUZZ_RATE_LIMIT)
    foreign = await seed(other_team, emulator, engine, "foreign", marker=FOREIGN_MARKER)
    # A trigger URL's token is the credential of its own workspace: any workspace's works.
    foreign.pop("token")
    seeded = Seeded(own=await seed(team, emulator, engine, "own"), foreign=foreign)
    auth = bearer(make_key(team, "admin", name="fuzz"))

    report = await asyncio.to_thread(fuzz_every_operation, auth, seeded)

    # Runs the fuzz started end before the tables are emptied for the next test.
    with session_scope() as session:
        started = session.exec(select(Run.id).where(col(Run.workspace_id) == team.workspace_id)).all()
    for run_id in started:
        await engine(run_id)
    print(f"\n{report.summary()}")
    assert not report.failures, "\n\n".join(report.failures)
    assert report.total >= TARGET_REQUESTS, f"only {report.total} requests were generated: {report.summary()}"


@dataclass
class Report:
    sent: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def summary(self) -> str:
        per_operation = ", ".join(
            f"{label}: {n} in {self.timings[label]:.1f} s" for label, n in self.sent.items()
        )
        return f"{len(self.sent)} operations, {self.total} requests in {self.seconds:.1f} s ({per_operation})"


class ClosingApp:
    """The app, with an ASGI lifespan whose shutdown closes what requests opened.

    Schemathesis runs the app on an event loop of its own: the job queue (with its
    in-process tasks: runs and ingestion) and the Redis clients of that loop are drained
    and closed when the lifespan ends, as the app server does at shutdown.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await close_job_queue()
                await close_async_redis()
                await send({"type": "lifespan.shutdown.complete"})
                return


def fuzz_every_operation(auth: dict[str, str], seeded: Seeded) -> Report:
    app = ClosingApp(create_api())
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    try:
        return fuzz_operations(schema, app, auth, seeded)
    finally:
        asgi.shutdown_lifespans()


def fuzz_operations(schema: Any, app: ClosingApp, auth: dict[str, str], seeded: Seeded) -> Report:
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (op.method.upper() == "DELETE", op.path, op.method),
    )
    assert operations, "the OpenAPI document lists no operation"
    report = Report()
    started = time.monotonic()
    with asgi.get_client(app) as client:
        for index, operation in enumerate(operations):
            remaining = max(0, TARGET_REQUESTS - report.total)
            budget = math.ceil(remaining / (len(operations) - index)) + 2
            for mode, share in (
                (GenerationMode.POSITIVE, 1 - NEGATIVE_SHARE),
                (GenerationMode.NEGATIVE, NEGATIVE_SHARE),
            ):
                began = time.monotonic()
                count, failure = fuzz_operation(
                    operation, mode, max(1, round(budget * share)), client=client, auth=auth, seeded=seeded
                )
                report.sent[operation.label] = report.sent.get(operation.label, 0) + count
                report.timings[operation.label] = (
                    report.timings.get(operation.label, 0) + time.monotonic() - began
                )
                if failure:
                    report.failures.append(f"{operation.label} ({mode.value}):\n{failure}")
    report.seconds = time.monotonic() - started
    return report


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    max_examples: int,
    *,
    client: Any,
    auth: dict[str, str],
    seeded: Seeded,
) -> tuple[int, str]:
    """Send up to ``max_examples`` generated requests; (how many were sent, the failure or "")."""
    count = 0

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), choices=st.data())
    def run(case: Case, choices: st.DataObject) -> None:
        nonlocal count
        count += 1
        used_foreign = use_seeded_values(case, choices, seeded)
        response = case.call(session=client, headers=auth, timeout=REQUEST_TIMEOUT_SECONDS)
        case.validate_response(response, checks=CHECKS)
        if used_foreign:
            assert not 200 <= response.status_code < 300, (
                f"{case.operation.label} answered {response.status_code} for another workspace's object"
            )
        assert FOREIGN_MARKER not in response.text, f"{case.operation.label} showed another workspace's data"

    try:
        run()
    except (Exception, FailureGroup) as error:  # reported with the operation, after all of them ran
        return count, "".join(traceback.format_exception(error))[-6000:]
    return count, ""


def use_seeded_values(case: Case, choices: st.DataObject, seeded: Seeded) -> bool:
    """Replace some generated values with seeded ones.

    Returns:
        True when another workspace's object was put in the path or the body (a query value
        only filters a list, where another workspace's id rightly finds nothing).
    """
    used_foreign = False
    for location, values in (("path", case.path_parameters), ("query", case.query), ("body", case.body)):
        if not isinstance(values, dict):
            continue
        for name in list(values):
            if name not in seeded.own:
                continue
            picks = ["generated", "own", "own", "foreign"] if name in seeded.foreign else ["generated", "own"]
            pick = choices.draw(st.sampled_from(picks), label=name)
            if pick == "generated":
                continue
            pool = seeded.own if pick == "own" else seeded.foreign
            values[name] = pool[name] if name.endswith("_ids") else pool[name][0]
            used_foreign |= pick == "foreign" and location != "query"
    return used_foreign


async def test_every_event_stream_documents_one_event_not_a_string(api) -> None:
    # Before OpenAPI 3.2 a text/event-stream `schema` describes each event; POST /hooks/{token}
    # documented `{"type": "string"}`, which no event (id, event, data) can match.
    spec = (await api.get("/openapi.json")).json()
    streams = [
        (f"{method.upper()} {path} {status}", media["schema"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        for status, response in operation.get("responses", {}).items()
        for media_type, media in response.get("content", {}).items()
        if media_type == "text/event-stream"
    ]
    assert len(streams) >= 3, streams  # run events, streaming starts, trigger URLs
    for where, schema in streams:
        schema = (
            spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
        )
        assert schema.get("type") == "object" and "data" in schema["properties"], where
