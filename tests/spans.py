"""Tracing in tests: spans recorded in memory, and the JSON log lines written meanwhile."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from galaxyco_ui.infra import tracing
from galaxyco_ui.infra.logging import JsonFormatter


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, every finished span kept in memory."""
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(exporter=exporter)
    yield exporter
    tracing.shutdown_tracing()


class JsonLines(logging.Handler):
    """Formats each record as it is emitted (the log context is read in the emitting task)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, object]]]:
    """The JSON lines of every ``galaxyco.*`` record at INFO and above during the test."""
    logger = logging.getLogger("galaxyco")
    handler, level = JsonLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


async def finished_span(
    exporter: InMemorySpanExporter, match: Callable[[ReadableSpan], bool], timeout: float = 5.0
) -> ReadableSpan:
    """The first finished span matching ``match`` (a job's span ends just after its database update)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [s for s in exporter.get_finished_spans() if match(s)]
        if found:
            return found[0]
        if asyncio.get_running_loop().time() > deadline:
            names = [s.name for s in exporter.get_finished_spans()]
            raise AssertionError(f"no such span after {timeout} s; finished: {names}")
        await asyncio.sleep(0.02)


def in_trace(exporter: InMemorySpanExporter, root: ReadableSpan) -> list[ReadableSpan]:
    """Every finished span of ``root``'s trace, in the order they ended."""
    assert root.context is not None
    return [
        s for s in exporter.get_finished_spans() if s.context and s.context.trace_id == root.context.trace_id
    ]


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def attribute_text(spans: Sequence[ReadableSpan]) -> str:
    """Every name and attribute value of ``spans`` as one string (to look for leaks)."""
    parts: list[str] = []
    for span in spans:
        parts.append(span.name)
        parts.extend(str(value) for value in (span.attributes or {}).values())
        parts.extend(str(event.attributes) for event in span.events)
        if span.status.description:
            parts.append(span.status.description)
    return "\n".join(parts)
