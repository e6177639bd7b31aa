"""Tracing with OpenTelemetry: a trace per run and per ingested document, sent over OTLP.

``configure_tracing()`` (app and worker start-up) installs a tracer provider only when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: spans then go in batches (``BatchSpanProcessor``,
a background thread) to ``{endpoint}/v1/traces`` as OTLP/HTTP protobuf. Unset, nothing is
installed and every helper here returns after one ``None`` check: no span, id or
attribute is ever built, and runs record no trace id.

Spans (``gen_ai.*`` names follow OpenTelemetry's GenAI semantic conventions)::

    invoke_agent                  one run, the root of its own trace (``run_traced``)
    ├─ chat {model}               each model turn (``traced_stream``): provider, model,
    │                             step, input/output tokens, finish reason, tool calls
    └─ execute_tool {tool}        each tool call (``tool_span``): error kind if it failed
       └─ knowledge.search        each search (``search_span``): mode, limit, collection
                                  count, hits, whether vectors were used
    knowledge.ingest              one document (``ingest_traced``), the root of its trace
    ├─ ingest.extract             parse + chunk in an extraction process
    │  └─ ingest.chunk            the chunking part, timed in that process
    ├─ ingest.embed               embedding the chunks (when the workspace has a model)
    └─ ingest.index               writing them to the search index

What a span may carry: ids (run, workspace, agent, item, tool call), provider and model
names, tool names, counts, token numbers, statuses and error *type* names. Never input,
output, queries, tool arguments or results, document text, or exception messages (they
may quote any of those): those stay in the database and in the redacted logs, and every
log line written while a run or document is processed carries its ``trace_id`` (the log
context, ``infra.logging``), which leads from a trace to its lines and back. The run's
trace id is also stored on the run (``runs.metadata["trace_id"]``) and shown on its page.

    configure_tracing()                       once at start-up (idempotent)
    @run_traced / @ingest_traced              on the run and ingestion jobs
    current_trace_id()                        the trace being recorded, or None
    async for e in traced_stream(...):        a model turn
    with tool_span(name) as span: ...         a tool call
    with search_span(...) as span: ...        a knowledge search
    with ingest_stage_span("embed"): ...      an ingestion stage
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.logging import bind_log_context, log_context

log = logging.getLogger("galaxyco.tracing")

TRACER_NAME = "galaxyco"
TRACES_PATH = "/v1/traces"
NAME_CHARS = 64  # tool and model names come from agents and models: bounded in span names

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (as the SDK builds it)."""
    return base.rstrip("/") + TRACES_PATH


def configure_tracing(*, exporter: SpanExporter | None = None) -> bool:
    """Start recording spans if tracing is configured; returns whether it records.

    Args:
        exporter: where spans go instead of OTLP, exported synchronously as each span
            ends (tests pass an ``InMemorySpanExporter``). None: the OTLP exporter, when
            ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

    Idempotent: a second call keeps the provider already installed. Headers, timeouts,
    compression, certificates and sampling come from the SDK's own ``OTEL_EXPORTER_OTLP_*``
    and ``OTEL_TRACES_SAMPLER*`` variables.
    """
    global _provider, _tracer
    if _provider is not None:
        return True
    settings = get_settings()
    if exporter is None and not settings.otel_exporter_otlp_endpoint:
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = traces_endpoint(settings.otel_exporter_otlp_endpoint)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        log.info("tracing on", extra={"endpoint": endpoint})
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider, _tracer = provider, provider.get_tracer(TRACER_NAME)
    return True


def shutdown_tracing() -> None:
    """Send what is buffered and stop recording (tests; the SDK also flushes at exit)."""
    global _provider, _tracer
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def tracing_enabled() -> bool:
    """Whether spans are being recorded in this process."""
    return _tracer is not None


def current_trace_id() -> str | None:
    """The 32-hex-digit id of the trace being recorded here, or None (tracing off)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def _fail(span: Span, error: BaseException) -> None:
    """Mark ``span`` failed with the error's type only (its message may quote user text)."""
    kind = type(error).__qualname__
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))


def _traced_job(
    span_name: str, id_name: str, attribute: str
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """A decorator starting a new trace around a job that takes ``id_name`` and returns a status.

    The span records the id, then the returned status (None: ``skipped``, the job found
    nothing to do); any status but the ``ok`` ones marks it failed. While the job runs, its
    log lines carry the trace id.
    """
    ok = {"succeeded", "ready", "skipped"}

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            tracer = _tracer
            if tracer is None:
                return await function(*args, **kwargs)
            job_id = kwargs.get(id_name, args[0] if args else "")
            with tracer.start_as_current_span(
                span_name,
                context=Context(),  # a trace of its own, whoever enqueued the job
                kind=SpanKind.INTERNAL,
                attributes={attribute: str(job_id)},
                record_exception=False,  # exception messages may quote user text
                set_status_on_exception=False,
            ) as span:
                trace_id = trace.format_trace_id(span.get_span_context().trace_id)
                # workspace_id is bound by annotate_* once the job knows it; restored on exit.
                with log_context(trace_id=trace_id, workspace_id=None):
                    try:
                        result = await function(*args, **kwargs)
                    except BaseException as error:
                        _fail(span, error)
                        raise
                status = "skipped" if result is None else str(result)
                span.set_attribute("galaxyco.status", status)
                if status not in ok:
                    span.set_status(Status(StatusCode.ERROR, status))
                return result

        return traced

    return decorate


run_traced = _traced_job("invoke_agent", "run_id", "galaxyco.run.id")
"""Decorates ``execute_run(run_id)``: one trace per run (status: the run's terminal state)."""

ingest_traced = _traced_job("knowledge.ingest", "item_id", "galaxyco.item.id")
"""Decorates ``ingest_item(item_id)``: one trace per ingestion of a document."""


def _set(span: Span, attributes: Mapping[str, AttributeValue | None]) -> None:
    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(key, value)


def annotate_run(
    *,
    workspace_id: str | None = None,
    agent_id: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> None:
    """Add what the executor learnt to the run's span, and its workspace to the log context."""
    if _tracer is None:
        return
    if workspace_id is not None:
        bind_log_context(workspace_id=workspace_id)
    _set(
        trace.get_current_span(),
        {
            "galaxyco.workspace.id": workspace_id,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": agent_id,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
        },
    )


def annotate_item(*, workspace_id: str, kind: str) -> None:
    """Add the document's workspace and type to its ingestion span and to the log context."""
    if _tracer is None:
        return
    bind_log_context(workspace_id=workspace_id)
    _set(trace.get_current_span(), {"galaxyco.workspace.id": workspace_id, "galaxyco.item.kind": kind})


def traced_stream(events: AsyncIterator[T], *, provider: str, model: str, step: int) -> AsyncIterator[T]:
    """``events`` (one model turn's stream) passed through, inside a ``chat {model}`` span.

    Reads the provider stream's own events as they pass: ``Usage`` (``input_tokens``,
    ``output_tokens``) sets the token attributes, ``Finish`` (``reason``) the finish
    reason, and ``ToolCallEvent``s (``call``) are counted. A stream that raises marks the
    span failed with the error's type; one abandoned by its reader (a cancelled run) ends
    as ``error.type=cancelled``. Tracing off: ``events`` itself, unwrapped.
    """
    tracer = _tracer
    if tracer is None:
        return events
    return _traced_stream(tracer, events, provider=provider, model=model, step=step)


async def _traced_stream(
    tracer: Tracer, events: AsyncIterator[T], *, provider: str, model: str, step: int
) -> AsyncIterator[T]:
    # Not made current: nothing runs inside a turn's span, and a context set in an async
    # generator would leak into its reader between items.
    span = tracer.start_span(
        f"chat {model[:NAME_CHARS]}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "galaxyco.run.step": step,
        },
    )
    tool_calls = 0
    try:
        async for event in events:
            if hasattr(event, "input_tokens") and hasattr(event, "output_tokens"):
                span.set_attribute("gen_ai.usage.input_tokens", int(event.input_tokens))
                span.set_attribute("gen_ai.usage.output_tokens", int(event.output_tokens))
            elif hasattr(event, "reason"):
                span.set_attribute("gen_ai.response.finish_reasons", (str(event.reason),))
            elif hasattr(event, "call"):
                tool_calls += 1
            yield event
    except GeneratorExit:
        span.set_attribute("error.type", "cancelled")
        raise
    except BaseException as error:
        _fail(span, error)
        raise
    finally:
        span.set_attribute("galaxyco.tool_calls", tool_calls)
        span.end()


class SpanHandle:
    """What a ``with`` block adds to its span: ``handle.set(hits=3)`` sets ``{prefix}hits``."""

    def __init__(self, span: Span | None, prefix: str) -> None:
        self._span, self._prefix = span, prefix

    def set(self, **attributes: AttributeValue | None) -> None:
        if self._span is not None:
            _set(self._span, {self._prefix + key: value for key, value in attributes.items()})

    def child(self, name: str, start_ns: int, end_ns: int, **attributes: AttributeValue) -> None:
        """Record a finished child span timed elsewhere (e.g. in an extraction process)."""
        if self._span is None or _tracer is None or not start_ns or end_ns < start_ns:
            return
        child = _tracer.start_span(
            name,
            context=trace.set_span_in_context(self._span),
            start_time=start_ns,
            attributes={self._prefix + key: value for key, value in attributes.items()},
        )
        child.end(end_time=end_ns)


_OFF = SpanHandle(None, "")
_NO_SPAN = nullcontext(_OFF)  # tracing off: nothing is built (a nullcontext is reusable)


def _span(
    name: str, prefix: str, attributes: Mapping[str, AttributeValue | None]
) -> AbstractContextManager[SpanHandle]:
    tracer = _tracer
    if tracer is None:
        return _NO_SPAN
    return _live_span(tracer, name, prefix, attributes)


@contextmanager
def _live_span(
    tracer: Tracer, name: str, prefix: str, attributes: Mapping[str, AttributeValue | None]
) -> Iterator[SpanHandle]:
    with tracer.start_as_current_span(name, record_exception=False, set_status_on_exception=False) as span:
        _set(span, attributes)
        try:
            yield SpanHandle(span, prefix)
        except BaseException as error:
            _fail(span, error)
            raise


def tool_span(name: str, *, known: bool) -> AbstractContextManager[SpanHandle]:
    """A tool call's span, ``execute_tool {name}``; an unregistered name is shown as ``unknown``.

    ``handle.set(error=...)`` records the kind of a failed call (``galaxyco.tool.error``).
    """
    if _tracer is None:
        return _NO_SPAN
    shown = name[:NAME_CHARS] if known else "unknown"
    return _span(
        f"execute_tool {shown}",
        "galaxyco.tool.",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": shown},
    )


def search_span(
    *, workspace_id: str, mode: str, limit: int, collections: int | None
) -> AbstractContextManager[SpanHandle]:
    """A knowledge search's span; ``handle.set(hits=..., vector=...)`` adds what it found."""
    if _tracer is None:
        return _NO_SPAN
    return _span(
        "knowledge.search",
        "galaxyco.search.",
        {
            "galaxyco.workspace.id": workspace_id,
            "galaxyco.search.mode": mode,
            "galaxyco.search.limit": limit,
            "galaxyco.search.collections": collections,
        },
    )


def ingest_stage_span(stage: str, **attributes: AttributeValue) -> AbstractContextManager[SpanHandle]:
    """An ingestion stage's span, ``ingest.{stage}`` (extract, embed, index)."""
    if _tracer is None:
        return _NO_SPAN
    prefix = "galaxyco.ingest."
    return _span(f"ingest.{stage}", prefix, {prefix + key: value for key, value in attributes.items()})


def annotate_search(*, vector: bool) -> None:
    """Record on the current search span whether the query was embedded (hybrid/vector)."""
    if _tracer is not None:
        trace.get_current_span().set_attribute("galaxyco.search.vector", vector)
