"""Tracing of knowledge: a trace per ingested document with a span per stage, and a span
per search, under the agent's tool call when an agent searches."""

from __future__ import annotations

import io

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from galaxyco_ui.devtools.docgen import make_pdf
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.services import knowledge, knowledge_search, knowledge_settings, provider_keys, runs
from tests.factories import Team, make_agent
from tests.runs.conftest import MODEL
from tests.spans import attribute_text, children, finished_span, in_trace, log_lines, spans

__all__ = ["log_lines", "spans"]

BODY = "Remote work is allowed three days a week for the Nightingale team."


def _is_ingest(item_id: str):  # type: ignore[no-untyped-def]
    return lambda s: s.name == "knowledge.ingest" and (s.attributes or {}).get("galaxyco.item.id") == item_id


async def _upload(team: Team, name: str, data: bytes) -> str:
    collection = knowledge.create_collection(ctx=team.member, data={"name": f"C {name}"}).id
    outcome = await knowledge.upload_item(
        ctx=team.member, collection_id=collection, filename=name, source=io.BytesIO(data)
    )
    return outcome.item.id


async def test_an_ingested_document_is_one_trace_with_a_span_per_stage(
    team: Team, emulator, ingested, spans: InMemorySpanExporter, log_lines
):
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="emulator-key", base_url=emulator.openai_base_url
    )
    await knowledge_settings.set_embedding_model(ctx=team.admin, model_id="openai:text-embedding-3-small")
    item_id = await _upload(team, "policy.pdf", make_pdf(["Intro.", BODY]))

    item = await ingested(item_id)
    assert item.status == "ready", item.error
    root = await finished_span(spans, _is_ingest(item_id))

    assert root.parent is None
    attrs = dict(root.attributes or {})
    assert attrs["galaxyco.status"] == "ready"
    assert attrs["galaxyco.workspace.id"] == team.workspace_id and attrs["galaxyco.item.kind"] == "pdf"
    trace = in_trace(spans, root)
    stages = sorted(children(trace, root), key=lambda s: s.start_time)  # type: ignore[arg-type, return-value]
    assert [s.name for s in stages] == ["ingest.extract", "ingest.embed", "ingest.index"]
    extract, embed, index = stages
    [chunk] = children(trace, extract)
    assert chunk.name == "ingest.chunk"
    assert extract.start_time <= chunk.start_time <= chunk.end_time <= extract.end_time  # type: ignore[operator]
    chunks = item.chunk_count
    assert (chunk.attributes or {})["galaxyco.ingest.chunks"] == chunks
    assert (embed.attributes or {})["galaxyco.ingest.chunks"] == chunks
    assert (embed.attributes or {})["galaxyco.ingest.model"] == "openai:text-embedding-3-small"
    assert (index.attributes or {})["galaxyco.ingest.chunks"] == chunks
    assert "Nightingale" not in attribute_text(trace)
    trace_id = format(root.context.trace_id, "032x")  # type: ignore[union-attr]
    [indexed] = [
        line for line in log_lines if line["msg"] == "item indexed" and line.get("item_id") == item_id
    ]
    assert indexed["trace_id"] == trace_id and indexed["workspace_id"] == team.workspace_id


async def test_a_document_that_fails_to_read_marks_its_trace_failed(
    team: Team, ingested, spans: InMemorySpanExporter
):
    item_id = await _upload(team, "broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50)

    item = await ingested(item_id)
    assert item.status == "failed"
    root = await finished_span(spans, _is_ingest(item_id))

    assert root.status.status_code == StatusCode.ERROR
    assert (root.attributes or {})["galaxyco.status"] == "failed"
    [extract] = [s for s in children(in_trace(spans, root), root)]
    assert extract.name == "ingest.extract" and extract.status.status_code == StatusCode.ERROR
    assert (extract.attributes or {})["error.type"] == "DocumentError"


async def test_an_agents_search_is_a_span_under_its_tool_call(
    wired, emulator, engine, ingested, spans: InMemorySpanExporter
):
    team, _ = wired
    collection = knowledge.create_collection(ctx=team.member, data={"name": "Handbook"}).id
    outcome = await knowledge.upload_item(
        ctx=team.member,
        collection_id=collection,
        filename="h.pdf",
        source=io.BytesIO(make_pdf(["Intro.", BODY])),
    )
    assert (await ingested(outcome.item.id)).status == "ready"
    agent = make_agent(
        team.member,
        name="HR",
        provider="openai_compatible",
        model=MODEL,
        knowledge_collection_ids=[collection],
    )
    emulator.enqueue(Script([tool_call("knowledge_search", {"query": "remote work"}), usage(10, 5)]))
    emulator.enqueue(Script([text("Three days [1]."), usage(40, 9)]))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Remote?")).id)
    assert run.status == "succeeded", run.error
    root = await finished_span(
        spans, lambda s: s.name == "invoke_agent" and (s.attributes or {}).get("galaxyco.run.id") == run.id
    )

    trace = in_trace(spans, root)
    [tool] = [s for s in children(trace, root) if s.name == "execute_tool knowledge_search"]
    [search] = children(trace, tool)
    attrs = dict(search.attributes or {})
    assert search.name == "knowledge.search"
    assert attrs["galaxyco.workspace.id"] == team.workspace_id
    assert (attrs["galaxyco.search.mode"], attrs["galaxyco.search.limit"]) == ("auto", 5)
    assert attrs["galaxyco.search.collections"] == 1
    assert attrs["galaxyco.search.hits"] >= 1  # type: ignore[operator]
    assert attrs["galaxyco.search.vector"] is False  # no embedding model: full text only
    assert "remote work" not in attribute_text(trace)


async def test_a_search_from_the_console_is_traced_too(team: Team, ingested, spans: InMemorySpanExporter):
    item_id = await _upload(team, "notes.md", b"# Notes\n\nThe kettle boils water.")
    assert (await ingested(item_id)).status == "ready"
    spans.clear()

    hits = await knowledge_search.search(ctx=team.viewer, query="kettle")

    assert [h.item_name for h in hits] == ["notes.md"]
    [search] = [s for s in spans.get_finished_spans() if s.name == "knowledge.search"]
    assert search.parent is None  # not inside a run: a trace of its own
    assert (search.attributes or {})["galaxyco.search.hits"] == 1
    assert "galaxyco.search.collections" not in (search.attributes or {})  # the whole workspace
    assert "kettle" not in attribute_text([search])
