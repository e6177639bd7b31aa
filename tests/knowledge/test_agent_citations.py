"""An agent with knowledge: the search tool is given, scoped, and its passages are cited."""

from __future__ import annotations

import io

from galaxyco_ui.devtools.docgen import make_pdf
from galaxyco_ui.devtools.script import Script, text, tool_call, usage
from galaxyco_ui.services import knowledge, runs
from galaxyco_ui.states.run_detail import link_citations, source_href
from tests.factories import make_agent
from tests.runs.conftest import MODEL


async def _ready_collection(ctx, ingested, name: str, body: str) -> str:  # type: ignore[no-untyped-def]
    collection = knowledge.create_collection(ctx=ctx, data={"name": name}).id
    outcome = await knowledge.upload_item(
        ctx=ctx,
        collection_id=collection,
        filename=f"{name}.pdf",
        source=io.BytesIO(make_pdf(["Intro page.", body])),
    )
    assert (await ingested(outcome.item.id)).status == "ready"
    return collection


async def test_an_agent_searches_only_its_collections_and_cites_numbered_sources(
    wired, emulator, engine, ingested
):
    team, _ = wired
    handbook = await _ready_collection(
        team.member, ingested, "Handbook", "Remote work is allowed three days a week."
    )
    await _ready_collection(team.member, ingested, "Board", "Remote work budget is secret board material.")
    agent = make_agent(
        team.member,
        name="HR",
        provider="openai_compatible",
        model=MODEL,
        instructions="Answer HR questions.",
        knowledge_collection_ids=[handbook],
    )
    emulator.enqueue(Script([tool_call("knowledge_search", {"query": "remote work"}), usage(10, 5)]))
    emulator.enqueue(Script([text("You may work remotely three days a week [1]."), usage(40, 9)]))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Remote policy?")).id)

    assert run.status == "succeeded", run.error
    first = emulator.requests[-2].body
    assert [t["function"]["name"] for t in first["tools"]] == ["calculator", "knowledge_search"]
    assert "cite each passage" in first["messages"][0]["content"]
    assert first["messages"][0]["content"].startswith("Answer HR questions.")
    steps = runs.get_steps(ctx=team.viewer, run_id=run.id)
    result = next(s for s in steps if s.kind == "tool_result")
    assert result.content.count("[1]") >= 1 and "three days a week" in result.content
    assert "board material" not in result.content  # the other collection is not the agent's
    [source] = result.data["sources"]
    assert source["n"] == 1 and source["item_name"] == "Handbook.pdf" and source["page"] == 2
    tool_message = next(m for m in emulator.requests[-1].body["messages"] if m["role"] == "tool")
    assert "[1] “Handbook.pdf”, page 2" in tool_message["content"]
    href = source_href(source["item_id"], source["chunk"])
    assert (
        link_citations(run.output, {1: href}) == f"You may work remotely three days a week [\\[1\\]]({href})."
    )


async def test_a_second_search_in_the_same_run_continues_the_numbering(wired, emulator, engine, ingested):
    team, _ = wired
    collection = knowledge.create_collection(ctx=team.member, data={"name": "Docs"}).id
    for name, body in (("a.md", "# A\n\nAlpha launches in May."), ("b.md", "# B\n\nBeta launches in June.")):
        outcome = await knowledge.upload_item(
            ctx=team.member, collection_id=collection, filename=name, source=io.BytesIO(body.encode())
        )
        await ingested(outcome.item.id)
    agent = make_agent(
        team.member,
        name="PM",
        provider="openai_compatible",
        model=MODEL,
        knowledge_collection_ids=[collection],
    )
    emulator.enqueue(Script([tool_call("knowledge_search", {"query": "alpha"})]))
    emulator.enqueue(Script([tool_call("knowledge_search", {"query": "beta june"})]))
    emulator.enqueue(Script([text("Alpha in May [1], beta in June [2].")]))

    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="When?")).id)

    assert run.status == "succeeded", run.error
    results = [s for s in runs.get_steps(ctx=team.viewer, run_id=run.id) if s.kind == "tool_result"]
    first = {s["item_name"]: s["n"] for s in results[0].data["sources"]}
    second = {s["item_name"]: s["n"] for s in results[1].data["sources"]}
    assert first["a.md"] == 1
    assert second["b.md"] == 2 and second.get("a.md", 1) == 1  # a chunk keeps its number


async def test_an_agent_without_collections_has_no_knowledge_tool(wired, emulator, engine):
    team, agent = wired
    emulator.enqueue(Script([text("Hi.")]))
    run = await engine((await runs.start_run(ctx=team.member, agent_id=agent.id, input="Hi")).id)
    assert run.status == "succeeded"
    assert [t["function"]["name"] for t in emulator.requests[-1].body["tools"]] == ["calculator"]
