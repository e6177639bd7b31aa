"""Tracing of runs: one trace per run with its model turns and tool calls, its id on the run
and in the run's log lines, and nothing recorded when tracing is off.

Spans go to the SDK's in-memory exporter (``tests.spans``); the OTLP test sends them to a
local HTTP server that reads the protobuf the way a collector would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from galaxyco_ui.config import reset_settings
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.infra import tracing
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import Run
from galaxyco_ui.services import runs
from tests.runs.conftest import MODEL
from tests.spans import attribute_text, children, finished_span, in_trace, log_lines, spans

__all__ = ["log_lines", "spans"]

SECRET_INPUT = "Project Nightingale launches 6 * 7 days from now"


def _is_run(run_id: str):  # type: ignore[no-untyped-def]
    return lambda s: s.name == "invoke_agent" and (s.attributes or {}).get("galaxyco.run.id") == run_id


async def test_a_run_is_one_trace_with_its_model_turns_and_tool_call(
    wired, emulator, engine, spans: InMemorySpanExporter, log_lines
):
    team, agent = wired
    emulator.enqueue(Script([tool_call("calculator", {"expression": "6 * 7"}), usage(20, 8)]))
    emulator.enqueue(Script([text("Forty-two days."), usage(30, 6)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input=SECRET_INPUT)
    run = await engine(view.id)
    assert run.status == "succeeded", run.error
    root = await finished_span(spans, _is_run(view.id))

    assert root.parent is None  # a trace of its own, not part of whoever started it
    assert root.status.status_code == StatusCode.UNSET
    attrs = dict(root.attributes or {})
    assert attrs["galaxyco.status"] == "succeeded"
    assert attrs["galaxyco.workspace.id"] == team.workspace_id
    assert attrs["gen_ai.agent.id"] == agent.id
    assert attrs["gen_ai.request.model"] == MODEL
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (50, 14)

    trace = in_trace(spans, root)
    turns = sorted(
        (s for s in children(trace, root) if s.name.startswith("chat ")), key=lambda s: s.start_time
    )
    assert [t.name for t in turns] == [f"chat {MODEL}", f"chat {MODEL}"]
    assert all(t.kind == SpanKind.CLIENT for t in turns)
    first, second = (dict(t.attributes or {}) for t in turns)
    assert first["gen_ai.provider.name"] == "openai_compatible"
    assert first["gen_ai.request.model"] == MODEL
    assert (first["gen_ai.usage.input_tokens"], first["gen_ai.usage.output_tokens"]) == (20, 8)
    assert (first["galaxyco.run.step"], first["galaxyco.tool_calls"]) == (0, 1)
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert (second["gen_ai.usage.input_tokens"], second["gen_ai.usage.output_tokens"]) == (30, 6)
    assert (second["galaxyco.run.step"], second["galaxyco.tool_calls"]) == (1, 0)

    [tool] = [s for s in children(trace, root) if s.name.startswith("execute_tool")]
    assert tool.name == "execute_tool calculator"
    assert (tool.attributes or {})["gen_ai.tool.name"] == "calculator"
    assert "galaxyco.tool.error" not in (tool.attributes or {})
    assert turns[0].end_time <= tool.start_time <= tool.end_time <= turns[1].start_time  # type: ignore[operator]

    # The id is stored on the run, shown by the service, and on every line the run logged.
    trace_id = format(root.context.trace_id, "032x")  # type: ignore[union-attr]
    with session_scope() as session:
        stored = session.get(Run, view.id)
        assert stored is not None and stored.meta["trace_id"] == trace_id
    assert runs.get_run(ctx=team.viewer, run_id=view.id).trace_id == trace_id
    finished = [line for line in log_lines if line["msg"] == "run finished" and line.get("run_id") == view.id]
    assert finished and finished[0]["trace_id"] == trace_id
    assert finished[0]["workspace_id"] == team.workspace_id

    # Ids and names only: no input, answer or tool arguments in any span.
    recorded = attribute_text(trace)
    for leak in ("Nightingale", "Forty-two", "6 * 7", "emulator-key"):
        assert leak not in recorded


async def test_a_failed_tool_call_and_a_failed_run_are_marked_without_their_messages(
    wired, emulator, engine, spans: InMemorySpanExporter
):
    team, agent = wired
    emulator.enqueue(Script([tool_call("calculator", {"expression": "import os"}), usage(5, 5)]))
    emulator.enqueue(Script.error(401))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Break it")
    run = await engine(view.id)
    assert run.status == "failed"
    root = await finished_span(spans, _is_run(view.id))

    assert root.status.status_code == StatusCode.ERROR
    assert (root.attributes or {})["galaxyco.status"] == "failed"
    trace = in_trace(spans, root)
    [tool] = [s for s in trace if s.name == "execute_tool calculator"]
    assert (tool.attributes or {})["galaxyco.tool.error"] == "tool_error"
    failed_turn = max((s for s in trace if s.name.startswith("chat ")), key=lambda s: s.start_time)
    assert failed_turn.status.status_code == StatusCode.ERROR
    assert (failed_turn.attributes or {})["error.type"]  # the error's type name
    assert "API key" not in attribute_text(trace) and "import os" not in attribute_text(trace)


async def test_a_run_handed_out_twice_is_traced_once_and_the_duplicate_as_skipped(
    wired, emulator, engine, spans: InMemorySpanExporter
):
    from galaxyco_ui.runs.executor import execute_run

    team, agent = wired
    emulator.enqueue(Script([text("Once."), usage(1, 1)]))
    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    await engine(view.id)
    first = await finished_span(spans, _is_run(view.id))

    assert await execute_run(view.id) is None  # already claimed and finished
    ends = [s for s in spans.get_finished_spans() if _is_run(view.id)(s)]
    assert len(ends) == 2
    duplicate = next(s for s in ends if s is not first)
    assert (duplicate.attributes or {})["galaxyco.status"] == "skipped"
    with session_scope() as session:
        stored = session.get(Run, view.id)
        assert stored is not None
        assert stored.meta["trace_id"] == format(first.context.trace_id, "032x")  # type: ignore[union-attr]


async def test_with_tracing_off_nothing_is_recorded_and_runs_carry_no_trace_id(
    wired, emulator, engine, log_lines, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    reset_settings()
    assert tracing.configure_tracing() is False
    assert not tracing.tracing_enabled() and tracing.current_trace_id() is None
    team, agent = wired
    emulator.enqueue(Script([text("Quiet."), usage(1, 1)]))

    view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
    run = await engine(view.id)

    assert run.status == "succeeded"
    assert "trace_id" not in run.meta
    assert runs.get_run(ctx=team.viewer, run_id=view.id).trace_id == ""
    for _ in range(250):  # the line follows the run's database update
        finished = [
            line for line in log_lines if line["msg"] == "run finished" and line.get("run_id") == view.id
        ]
        if finished:
            break
        await asyncio.sleep(0.02)
    assert finished and finished[0]["trace_id"] is None
    with tracing.tool_span("calculator", known=True) as span:
        span.set(error="nothing happens")
    assert not tracing.tracing_enabled()


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    """A local OTLP/HTTP endpoint that keeps what it receives; yields its base URL."""
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_with_an_otlp_endpoint_the_run_trace_is_exported_over_http(
    wired, emulator, engine, collector: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector + "/")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "galaxyco-test")
    reset_settings()
    try:
        assert tracing.configure_tracing() is True
        team, agent = wired
        emulator.enqueue(Script([text("Exported."), usage(3, 2)]))
        # The run's root span ends just after its database update: shutting tracing down as
        # soon as the run reads succeeded could drop it. A second processor shows it ended.
        ended = InMemorySpanExporter()
        assert tracing._provider is not None
        tracing._provider.add_span_processor(SimpleSpanProcessor(ended))
        view = await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")
        run = await engine(view.id)
        assert run.status == "succeeded"
        await finished_span(ended, _is_run(view.id))
    finally:
        tracing.shutdown_tracing()  # flushes the batch processor

    assert _Collector.received and {path for path, _ in _Collector.received} == {"/v1/traces"}
    exported = []
    for _path, body in _Collector.received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            for scope_spans in resource_spans.scope_spans:
                exported += [(service, s) for s in scope_spans.spans]
    names = {span.name for _service, span in exported}
    assert {"invoke_agent", f"chat {MODEL}"} <= names
    assert {service for service, _span in exported} == {"galaxyco-test"}
    root = next(span for _service, span in exported if span.name == "invoke_agent")
    assert root.trace_id.hex() == runs.get_run(ctx=team.viewer, run_id=view.id).trace_id
