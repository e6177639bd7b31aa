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
workspace, and fields whose rules a schema cannot say (provider, tools, cron, zone,
chat messages) sometimes get a valid value, so requests reach existing objects and
creates succeed, not only 404s and 422s: every operation with a seeded path parameter
must answer at least one 2xx. The seeded agent runs on the provider emulator, so started
runs really execute and end (``engine`` runs them: asyncio tasks embedded, a SAQ worker
with Redis), which bounds the blocking and streaming answers; a request is cut after
``REQUEST_TIMEOUT_SECONDS`` anyway (an event stream keeps what it sent, anything else
fails as a timeout). No operation is skipped. Deletes run last, so the seeded objects
exist for everything else.

The budget: at least ``TARGET_REQUESTS`` requests in all, spread over the operations (an
operation whose inputs run out early leaves its share to the others), derandomized like
``tests/fuzz`` so CI sends the same cases on every run. ``pytest -s`` prints the count,
seconds and statuses per operation.
"""

from __future__ import annotations

import asyncio
import io
import math
import re
import time
import traceback
from collections import Counter, defaultdict
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
from galaxyco_ui.models import Run, ToolApproval, utcnow
from galaxyco_ui.services import agent_hooks, api_keys, provider_keys, runs
from galaxyco_ui.services import knowledge as knowledge_service
from galaxyco_ui.services import schedules as schedules_service
from tests.api.v1.conftest import bearer, make_key
from tests.factories import Team, edit_agent, make_agent

TARGET_REQUESTS = 1_000
# Share of each operation's budget given to negative (invalid on purpose) cases.
NEGATIVE_SHARE = 0.3
# Requests per minute per key, and run starts per minute per user, during the fuzz: far
# above what it sends, so a 429 seldom hides the answer that should have been checked.
FUZZ_RATE_LIMIT = 100_000
# Generous: a loaded CI machine must not turn a slow blocking answer into a failure.
REQUEST_TIMEOUT_SECONDS = 30
# On every row of the other workspace; no request ever holds it, so no answer may.
FOREIGN_MARKER = "F0REIGN-R0W"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Valid values for fields whose rules a JSON schema cannot say (a known provider, a cron
# line, an IANA zone...), so that some generated creates and updates succeed too.
VALID_VALUES: dict[str, list[Any]] = {
    "provider": ["openai_compatible"],
    "tools": [["calculator"], ["calculator", "current_time"], []],
    "cron": ["*/5 * * * *", "0 9 * * 1-5"],
    "timezone": ["UTC", "Europe/Paris"],
    "messages": [[{"role": "user", "content": "Say hi."}]],
}


@dataclass
class Seeded:
    """Values a generated request may use instead of its own, by field or parameter name."""

    own: dict[str, list[Any]] = field(default_factory=dict)
    foreign: dict[str, list[Any]] = field(default_factory=dict)


@pytest.fixture
def fuzz_rate_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("API_MAX_REQUESTS_PER_MINUTE", str(FUZZ_RATE_LIMIT))
    monkeypatch.setenv("USER_RUN_STARTS_PER_MINUTE", str(FUZZ_RATE_LIMIT))
    reset_settings()
    api_keys.reset_limit_cache()
    yield
    monkeypatch.undo()
    reset_settings()
    api_keys.reset_limit_cache()


async def seed(
    team: Team, emulator: Emulator, wait: Callable[[str], Awaitable[Run]], label: str, *, marker: str = ""
) -> dict[str, list[Any]]:
    """One object of each kind the API serves in ``team``'s workspace, by parameter name.

    ``marker`` goes into text of every kind (descriptions, a document, a run's input and
    so its output), where no request can have put it.
    """
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
    edit_agent(owner, agent.id, instructions=f"Version 2 {marker}")  # so that version 1 can be restored
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
    with session_scope() as session:  # as if it had asked once (``GET /runs/{id}/approval``)
        session.add(
            ToolApproval(
                workspace_id=team.workspace_id,
                run_id=run.id,
                agent_id=agent.id,
                tool_call_id="0:call_0000",
                tool_name="calculator",
                arguments={"expression": marker or "1 + 1"},
                status="denied",
                note="Seeded.",
                decided_by=owner.user_id,
                decided_at=utcnow(),
                expires_at=utcnow(),
            )
        )
    return {
        "agent_id": [agent.id],
        "model": [agent.name, agent.id],
        "token": [hook.token],
        "collection_id": [collection.id],
        "knowledge_collection_ids": [[collection.id]],
        "item_id": [upload.item.id],
        "schedule_id": [schedule.id],
        "run_id": [run.id],
        "number": [1],  # an agent version
        "other": [2, 1],  # the version the diff compares it with
    }


# Hypothesis warns when the global `random` state changes while a case is drawn; here the
# app's background work (runs, ingestion, the SAQ worker) uses `random` in other threads
# while the fuzz draws in its own, which it cannot tell from a strategy doing so.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)
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
    seeded = Seeded(own={**VALID_VALUES, **await seed(team, emulator, engine, "own")}, foreign=foreign)
    auth = bearer(make_key(team, "admin", name="fuzz"))

    report = await asyncio.to_thread(fuzz_every_operation, auth, seeded)

    # Runs the fuzz started end before the tables are emptied for the next test.
    with session_scope() as session:
        started = session.exec(select(Run.id).where(col(Run.workspace_id) == team.workspace_id)).all()
    for run_id in started:
        await engine(run_id)
    print(f"\n{report.summary()}")
    assert report.sent, "the OpenAPI document lists no operation"
    assert not report.failures, "\n\n".join(report.failures)
    never_found = [
        label
        for label in report.sent
        if set(re.findall(r"{(\w+)}", label)) & set(seeded.own)
        and not any(200 <= status < 300 for status in report.statuses[label])
    ]
    assert not never_found, f"no request reached an existing object: {never_found}"
    assert report.total >= TARGET_REQUESTS, f"only {report.total} requests were generated: {report.summary()}"


@dataclass
class Report:
    """What the fuzz sent, per operation: requests, answers by status, seconds, failures."""

    sent: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def summary(self) -> str:
        lines = [
            f"{label}: {n} in {self.seconds[label]:.1f} s {dict(sorted(self.statuses[label].items()))}"
            for label, n in self.sent.items()
        ]
        total_seconds = sum(self.seconds.values())
        return "\n".join(
            [f"{len(self.sent)} operations, {self.total} requests in {total_seconds:.1f} s", *lines]
        )


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
    """Fuzz each operation of the served document in turn (deletes last); never raises."""
    app = ClosingApp(create_api())
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    everything = [result.ok() for result in schema.get_all_operations()]
    # Deletes last, so everything else finds the seeded objects, and in reverse order of
    # their paths: /schedules before /agents, /knowledge/items before /knowledge/collections.
    deletes = sorted(
        (op for op in everything if op.method.upper() == "DELETE"), key=lambda op: op.path, reverse=True
    )
    operations = [op for op in everything if op.method.upper() != "DELETE"] + deletes
    report = Report()
    try:
        with asgi.get_client(app) as client:
            for index, operation in enumerate(operations):
                # An operation whose inputs ran out early left its share to the ones after it.
                budget = math.ceil(max(0, TARGET_REQUESTS - report.total) / (len(operations) - index)) + 2
                for mode, share in (
                    (GenerationMode.POSITIVE, 1 - NEGATIVE_SHARE),
                    (GenerationMode.NEGATIVE, NEGATIVE_SHARE),
                ):
                    fuzz_operation(
                        report,
                        operation,
                        mode,
                        max(1, round(budget * share)),
                        client=client,
                        auth=auth,
                        seeded=seeded,
                    )
    finally:
        asgi.shutdown_lifespans()
    return report


def fuzz_operation(
    report: Report,
    operation: Any,
    mode: GenerationMode,
    max_examples: int,
    *,
    client: Any,
    auth: dict[str, str],
    seeded: Seeded,
) -> None:
    """Send up to ``max_examples`` generated requests; count them and note a failure in ``report``."""
    label = operation.label

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
        used_foreign = use_seeded_values(case, choices, seeded)
        report.sent[label] += 1
        response = case.call(session=client, headers=auth, timeout=REQUEST_TIMEOUT_SECONDS)
        report.statuses[label][response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        if used_foreign:
            assert not 200 <= response.status_code < 300, (
                f"{label} answered {response.status_code} for another workspace's object"
            )
        assert FOREIGN_MARKER not in response.text, f"{label} showed another workspace's data"

    began = time.monotonic()
    try:
        run()
    except (Exception, FailureGroup) as error:  # reported with the operation, after all of them ran
        report.failures.append(
            f"{label} ({mode.value}):\n" + "".join(traceback.format_exception(error))[-6000:]
        )
    report.seconds[label] += time.monotonic() - began


def use_seeded_values(case: Case, choices: st.DataObject, seeded: Seeded) -> bool:
    """Replace some generated values with seeded ones (a real id, a valid cron line...).

    Returns:
        True when another workspace's object was put in the path or the body (a query value
        only filters a list, where another workspace's id rightly finds nothing).
    """
    used_foreign = False
    for location, values in (("path", case.path_parameters), ("query", case.query), ("body", case.body)):
        if not isinstance(values, dict):
            continue
        for name in [name for name in values if name in seeded.own]:
            # An id names one object everywhere; "model" names an agent only in the OpenAI
            # operations (an agent's own "model" field takes any model name).
            openai = case.operation.path.startswith("/openai/")
            foreign = name in seeded.foreign and (name.endswith(("_id", "_ids")) or openai)
            picks = ["generated", "own", "own", "foreign"] if foreign else ["generated", "own"]
            pick = choices.draw(st.sampled_from(picks), label=name)
            if pick == "generated":
                continue
            pool = seeded.own if pick == "own" else seeded.foreign
            values[name] = choices.draw(st.sampled_from(pool[name]), label=f"{pick} {name}")
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
