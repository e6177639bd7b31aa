"""Knowledge end to end below the UI: upload → background ingestion → search → delete.

Runs in both modes: embedded (asyncio tasks) and, with TEST_REDIS_URL, through the SAQ
worker. Real files on disk, the real LanceDB index, the real database.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import timedelta

import pytest
from sqlmodel import select

from galaxyco_ui.auth.permissions import Role
from galaxyco_ui.config import get_settings
from galaxyco_ui.devtools.docgen import make_docx, make_encrypted_pdf, make_pdf, make_zip_bomb_docx
from galaxyco_ui.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.knowledge import extract, ingest, storage
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.knowledge.ingest import maintain_once, requeue_stalled_items
from galaxyco_ui.models import Agent, AuditEvent, ItemStatus, KnowledgeItem, utcnow
from galaxyco_ui.services import knowledge, knowledge_search, knowledge_settings, provider_keys
from tests.factories import Team, make_agent, set_columns
from tests.knowledge import slow_parsers

HANDBOOK_PAGES = [
    "Welcome to Acme. This handbook explains how we work together.",
    "Leave policy. Every employee receives twenty-seven days of paid leave per year.",
    "Expenses. Submit receipts within thirty days through the finance portal.",
]


def _collection(ctx, name: str = "Handbook") -> str:  # type: ignore[no-untyped-def]
    return knowledge.create_collection(ctx=ctx, data={"name": name, "description": "Company rules"}).id


async def _upload(ctx, collection_id: str, name: str, data: bytes) -> knowledge.UploadOutcome:  # type: ignore[no-untyped-def]
    return await knowledge.upload_item(
        ctx=ctx, collection_id=collection_id, filename=name, source=io.BytesIO(data)
    )


# ---------------------------------------------------------------- collections


def test_collections_are_named_uniquely_per_workspace(team: Team, other_team: Team):
    _collection(team.member, "Policies")
    with pytest.raises(ConflictError) as caught:
        _collection(team.admin, "policies")
    assert "already exists" in caught.value.field_errors["name"]
    _collection(other_team.member, "Policies")  # another workspace may use the name
    with pytest.raises(ValidationError):
        knowledge.create_collection(ctx=team.member, data={"name": "   "})


def test_viewers_read_members_edit_their_own_admins_any(team: Team):
    with pytest.raises(PermissionDeniedError):
        _collection(team.viewer)
    mine = _collection(team.member, "Mine")
    theirs = _collection(team.admin, "Theirs")
    assert [c.name for c in knowledge.list_collections(ctx=team.viewer)] == ["Mine", "Theirs"]
    knowledge.update_collection(ctx=team.member, collection_id=mine, data={"name": "Mine 2"})
    with pytest.raises(PermissionDeniedError):
        knowledge.update_collection(ctx=team.member, collection_id=theirs, data={"name": "Nope"})
    with pytest.raises(PermissionDeniedError):
        knowledge.delete_collection(ctx=team.member, collection_id=theirs)
    knowledge.delete_collection(ctx=team.admin, collection_id=mine)
    assert [c.name for c in knowledge.list_collections(ctx=team.member)] == ["Theirs"]


def test_foreign_ids_are_not_found(team: Team, other_team: Team):
    foreign = _collection(other_team.member)
    with pytest.raises(NotFoundError):
        knowledge.get_collection(ctx=team.owner, collection_id=foreign)
    with pytest.raises(NotFoundError):
        knowledge.list_items(ctx=team.owner, collection_id=foreign)
    with pytest.raises(NotFoundError):
        knowledge.delete_collection(ctx=team.owner, collection_id=foreign)


# ---------------------------------------------------------------- uploads


async def test_upload_is_sniffed_stored_privately_and_queued(team: Team, ingested):
    collection = _collection(team.member)
    outcome = await _upload(team.member, collection, "handbook.txt", make_pdf(HANDBOOK_PAGES))
    assert not outcome.duplicate
    assert outcome.item.kind == "pdf"  # decided by content, not by the ".txt" name
    assert outcome.item.status == ItemStatus.QUEUED
    path = storage.original_path(team.workspace_id, outcome.item.id)
    assert path.read_bytes()[:5] == b"%PDF-"
    assert get_settings().resolved_uploads_dir in path.parents
    assert not list(path.parent.glob(".upload-*")), "no staging file left behind"
    item = await ingested(outcome.item.id)
    assert item.status == ItemStatus.READY, item.error
    assert item.page_count == 3 and item.chunk_count >= 1 and item.progress == 100
    with session_scope() as session:
        actions = session.exec(
            select(AuditEvent.action).where(AuditEvent.workspace_id == team.workspace_id)
        ).all()
    assert "knowledge.item_uploaded" in actions


async def test_same_content_twice_in_one_collection_is_not_indexed_twice(team: Team, ingested):
    collection = _collection(team.member)
    first = await _upload(team.member, collection, "a.md", b"# Title\n\nSame words here.")
    await ingested(first.item.id)
    again = await _upload(team.admin, collection, "copy-of-a.md", b"# Title\n\nSame words here.")
    assert again.duplicate and again.item.id == first.item.id
    other = _collection(team.member, "Other")
    elsewhere = await _upload(team.member, other, "a.md", b"# Title\n\nSame words here.")
    assert not elsewhere.duplicate  # dedupe is per collection
    await ingested(elsewhere.item.id)
    with session_scope() as session:
        assert len(session.exec(select(KnowledgeItem)).all()) == 2


async def test_oversized_and_unsupported_uploads_are_refused_and_leave_nothing(team: Team, monkeypatch):
    collection = _collection(team.member)
    with pytest.raises(ValidationError, match="bomb.docx.*possible zip bomb"):  # its directory is read
        await _upload(team.member, collection, "bomb.docx", make_zip_bomb_docx(300))
    monkeypatch.setattr(get_settings(), "knowledge_max_upload_mb", 1)
    with pytest.raises(ValidationError, match="larger than the 1 MB limit"):
        await _upload(team.member, collection, "big.txt", b"word " * 300_000)
    spreadsheet = io.BytesIO()
    with zipfile.ZipFile(spreadsheet, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ValidationError, match="not supported"):
        await _upload(team.member, collection, "report.docx", spreadsheet.getvalue())
    with pytest.raises(ValidationError, match="empty"):
        await _upload(team.member, collection, "empty.txt", b"")
    monkeypatch.setattr(get_settings(), "knowledge_allowed_types", ["pdf"])
    with pytest.raises(ValidationError, match="does not accept"):
        await _upload(team.member, collection, "notes.md", b"# Notes\n\ntext")
    with pytest.raises(PermissionDeniedError):
        await _upload(team.viewer, collection, "x.pdf", make_pdf(["x"]))
    with session_scope() as session:
        assert session.exec(select(KnowledgeItem)).all() == []
    assert not [p for p in storage.workspace_dir(team.workspace_id).iterdir()]


# ---------------------------------------------------------------- ingestion


async def test_each_broken_file_fails_alone_with_a_clear_message(team: Team, ingested):
    collection = _collection(team.member)
    good = await _upload(team.member, collection, "good.md", b"# Good\n\nThe rollout starts on Monday.")
    encrypted = await _upload(team.member, collection, "secret.pdf", make_encrypted_pdf(["Top secret plan"]))
    truncated = await _upload(team.member, collection, "broken.pdf", make_pdf(HANDBOOK_PAGES)[:200])
    results = {
        name: await ingested(o.item.id)
        for name, o in {"good": good, "encrypted": encrypted, "truncated": truncated}.items()
    }
    assert results["good"].status == ItemStatus.READY
    assert results["encrypted"].status == ItemStatus.FAILED and "password" in results["encrypted"].error
    assert results["truncated"].status == ItemStatus.FAILED and "damaged" in results["truncated"].error
    hits = await knowledge_search.search(ctx=team.viewer, query="rollout Monday")
    assert [h.item_name for h in hits] == ["good.md"]


async def test_a_document_whose_parser_hangs_fails_at_the_time_limit_and_the_next_one_is_read(
    team: Team, ingested, monkeypatch
):
    monkeypatch.setattr(get_settings(), "knowledge_extract_timeout_seconds", 1)
    collection = _collection(team.member)
    monkeypatch.setattr(extract, "extract_chunks", slow_parsers.hang)
    stuck = await _upload(team.member, collection, "stuck.md", b"# Stuck\n\nNever read.")

    item = await ingested(stuck.item.id, timeout=15)

    assert item.status == ItemStatus.FAILED
    assert "took longer than 1 s" in item.error and "stopped" in item.error
    monkeypatch.undo()  # the real parser again, still under the 1 s limit
    monkeypatch.setattr(get_settings(), "knowledge_extract_timeout_seconds", 1)
    fine = await _upload(team.member, collection, "fine.md", b"# Fine\n\nThe pool recovered.")
    assert (await ingested(fine.item.id)).status == ItemStatus.READY


async def test_maintenance_leaves_an_item_that_is_still_being_read_alone(team: Team, ingested, monkeypatch):
    monkeypatch.setattr(ingest, "EXTRACT_HEARTBEAT_SECONDS", 0.2, raising=False)
    monkeypatch.setattr(extract, "extract_chunks", slow_parsers.slow)  # ~3 s to read
    collection = _collection(team.member)
    dead = await _upload(team.member, collection, "dead.md", b"# Dead\n\nIts worker died.")
    await ingested(dead.item.id)
    set_columns(
        KnowledgeItem,
        dead.item.id,
        status=ItemStatus.PROCESSING,
        updated_at=utcnow() - timedelta(hours=1),
    )
    slow = await _upload(team.member, collection, "long.md", b"# Long\n\nTakes a while to read.")
    for _ in range(200):  # until its ingestion has claimed it
        if _status(slow.item.id) == ItemStatus.PROCESSING:
            break
        await asyncio.sleep(0.02)

    await asyncio.sleep(2)  # well into the read: older than "stalled" below, unless it beats
    requeued = requeue_stalled_items(stalled_after=timedelta(seconds=1))

    assert requeued == [dead.item.id]
    assert _status(slow.item.id) == ItemStatus.PROCESSING
    assert (await ingested(slow.item.id)).status == ItemStatus.READY


def _status(item_id: str) -> str:
    with session_scope() as session:
        item = session.get(KnowledgeItem, item_id)
        assert item is not None
        return item.status


async def test_reindex_and_status_transitions(team: Team, ingested):
    collection = _collection(team.member)
    outcome = await _upload(
        team.member,
        collection,
        "doc.docx",
        make_docx([("heading1", "Travel"), ("para", "Book trains, not planes, under 500 km.")]),
    )
    item = await ingested(outcome.item.id)
    assert item.status == ItemStatus.READY and item.chunk_count >= 1
    with pytest.raises(PermissionDeniedError):
        await knowledge.reindex_item(ctx=team.viewer, item_id=item.id)
    view = await knowledge.reindex_item(ctx=team.member, item_id=item.id)
    assert view.status == ItemStatus.QUEUED and view.progress == 0
    again = await ingested(item.id)
    assert again.status == ItemStatus.READY and again.chunk_count == item.chunk_count
    chunks = knowledge.item_chunks(ctx=team.viewer, item_id=item.id)
    assert chunks[0].heading == "Travel" and "trains" in chunks[0].text
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))  # indexed once, not twice


# ---------------------------------------------------------------- search


async def test_search_finds_highlights_and_respects_collections(team: Team, ingested):
    handbook = _collection(team.member, "Handbook")
    notes = _collection(team.member, "Notes")
    a = await _upload(team.member, handbook, "handbook.pdf", make_pdf(HANDBOOK_PAGES))
    b = await _upload(team.member, notes, "notes.md", b"# Leave\n\nParental leave is sixteen weeks.")
    await ingested(a.item.id)
    await ingested(b.item.id)
    everywhere = await knowledge_search.search(ctx=team.viewer, query="paid leave")
    assert {h.item_name for h in everywhere} == {"handbook.pdf", "notes.md"}
    top = everywhere[0]
    assert top.item_name == "handbook.pdf" and top.page == 2
    assert any(marked and word.lower().startswith("leave") for word, marked in top.segments)
    only_notes = await knowledge_search.search(ctx=team.viewer, query="leave", collection_id=notes)
    assert {h.item_name for h in only_notes} == {"notes.md"}
    assert await knowledge_search.search(ctx=team.viewer, query="   ") == []
    assert await knowledge_search.search(ctx=team.viewer, query='"unbalanced (AND OR: * ~') is not None


async def test_a_foreign_workspace_is_never_searched(team: Team, other_team: Team, ingested):
    theirs = _collection(other_team.member, "Secrets")
    outcome = await _upload(
        other_team.member, theirs, "s.md", b"# Launch\n\nProject nightingale launches in May."
    )
    await ingested(outcome.item.id)
    mine = _collection(team.member, "Mine")
    assert await knowledge_search.search(ctx=team.owner, query="nightingale") == []
    with pytest.raises(NotFoundError):  # a crafted collection id from the other workspace
        await knowledge_search.search(ctx=team.owner, query="nightingale", collection_id=theirs)
    hits = await knowledge_search.search_chunks(
        workspace_id=team.workspace_id,
        query="nightingale",
        collection_ids=[theirs, mine, "x' OR '1'='1"],
        limit=5,
    )
    assert hits == []
    assert await knowledge_search.search(ctx=other_team.viewer, query="nightingale")


async def test_deleting_an_item_or_collection_removes_it_from_search(team: Team, ingested):
    collection = _collection(team.member)
    a = await _upload(team.member, collection, "a.md", b"# A\n\nThe password rotation happens quarterly.")
    b = await _upload(team.member, collection, "b.md", b"# B\n\nQuarterly reviews happen in March.")
    await ingested(a.item.id)
    await ingested(b.item.id)
    assert len(await knowledge_search.search(ctx=team.member, query="quarterly")) == 2
    with pytest.raises(PermissionDeniedError):
        knowledge.delete_item(ctx=team.viewer, item_id=a.item.id)
    knowledge.delete_item(ctx=team.member, item_id=a.item.id)
    assert [h.item_name for h in await knowledge_search.search(ctx=team.member, query="quarterly")] == [
        "b.md"
    ]
    assert not storage.original_path(team.workspace_id, a.item.id).exists()
    agent = make_agent(team.member, name="Helper", knowledge_collection_ids=[collection])
    knowledge.delete_collection(ctx=team.member, collection_id=collection)
    assert await knowledge_search.search(ctx=team.member, query="quarterly") == []
    assert get_index().item_chunks(team.workspace_id, b.item.id) == []
    with session_scope() as session:
        assert session.get(Agent, agent.id).knowledge_collection_ids == []  # type: ignore[union-attr]


def test_agents_only_take_their_own_workspaces_collections(team: Team, other_team: Team):
    foreign = _collection(other_team.member)
    with pytest.raises(ValidationError) as caught:
        make_agent(team.member, name="Spy", knowledge_collection_ids=[foreign])
    assert "knowledge_collection_ids" in caught.value.field_errors
    mine = _collection(team.member)
    agent = make_agent(team.member, name="Reader", knowledge_collection_ids=[mine, mine])
    assert agent.knowledge_collection_ids == [mine]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_download_context_needs_membership(team: Team, other_team: Team, role: Role):
    collection = _collection(other_team.member)
    with session_scope() as session:
        item = KnowledgeItem(
            workspace_id=other_team.workspace_id,
            collection_id=collection,
            name="x.md",
            kind="markdown",
            size_bytes=1,
            content_hash="0" * 64,
            created_by=other_team.member.user_id,
        )
        session.add(item)
    with pytest.raises(NotFoundError):
        knowledge.context_for_item(user_id=team.ctx(role).user_id, item_id=item.id)
    ctx = knowledge.context_for_item(user_id=other_team.ctx(role).user_id, item_id=item.id)
    assert ctx.workspace_id == other_team.workspace_id and ctx.role == role


async def test_new_chunks_are_brought_into_the_index_soon_after_ingestion(team: Team, ingested):
    collection = _collection(team.member)
    outcome = await _upload(team.member, collection, "fresh.md", b"# Fresh\n\nA freshly indexed sentence.")
    await ingested(outcome.item.id)
    index = get_index()
    for _ in range(200):  # the debounced optimize job follows the ingestion
        if not index.needs_optimize(team.workspace_id):
            break
        await asyncio.sleep(0.05)
    assert not index.needs_optimize(team.workspace_id)
    assert [h.item_name for h in await knowledge_search.search(ctx=team.viewer, query="freshly")] == [
        "fresh.md"
    ]


async def test_with_an_embedding_model_items_get_vectors_and_search_is_hybrid(team: Team, emulator, ingested):
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="emulator-key", base_url=emulator.openai_base_url
    )
    collection = _collection(team.member)
    first = await _upload(
        team.member, collection, "before.md", b"# Before\n\nThe kettle boils water for tea."
    )
    await ingested(first.item.id)
    with pytest.raises(PermissionDeniedError):
        await knowledge_settings.set_embedding_model(
            ctx=team.member, model_id="openai:text-embedding-3-small"
        )
    queued = await knowledge_settings.set_embedding_model(
        ctx=team.admin, model_id="openai:text-embedding-3-small"
    )
    assert queued == 1  # the existing document is embedded again with the new model
    second = await _upload(team.member, collection, "after.md", b"# After\n\nGreen tea needs cooler water.")
    for item_id in (first.item.id, second.item.id):
        item = await ingested(item_id)
        assert item.status == ItemStatus.READY, item.error
        assert item.embedding_model == "openai:text-embedding-3-small"
    assert any(r.path.endswith("/embeddings") for r in emulator.requests)
    hits = await knowledge_search.search(ctx=team.viewer, query="tea water")
    assert {h.item_name for h in hits} == {"before.md", "after.md"}
    assert all("vector" in h.matched_by for h in hits)
    assert any("fts" in h.matched_by for h in hits)
    # The provider fails: search still answers from the full-text index.
    provider_keys.set_provider_key(
        ctx=team.admin, provider="openai", api_key="bad-key", base_url=emulator.openai_base_url
    )
    hits = await knowledge_search.search(ctx=team.viewer, query="kettle")
    assert [h.item_name for h in hits] == ["before.md"] and hits[0].matched_by == ["fts"]


async def test_an_embedding_model_without_its_provider_key_is_refused(team: Team):
    with pytest.raises(ValidationError, match="API key for Google"):
        await knowledge_settings.set_embedding_model(ctx=team.admin, model_id="google:text-embedding-004")
    with pytest.raises(ValidationError, match="Choose a model"):
        await knowledge_settings.set_embedding_model(ctx=team.admin, model_id="made-up:model")


async def test_maintenance_requeues_items_whose_worker_died(team: Team, ingested):
    collection = _collection(team.member)
    outcome = await _upload(
        team.member, collection, "orphan.md", b"# Orphan\n\nLeft behind by a dead worker."
    )
    await ingested(outcome.item.id)
    # As if a worker had claimed it and died: processing, not touched for a long time.
    set_columns(
        KnowledgeItem,
        outcome.item.id,
        status=ItemStatus.PROCESSING,
        progress=50,
        updated_at=utcnow() - timedelta(hours=1),
    )
    fresh = await _upload(team.member, collection, "fresh.md", b"# Fresh\n\nJust uploaded.")
    set_columns(KnowledgeItem, fresh.item.id, status=ItemStatus.PROCESSING, progress=50)  # alive: leave it

    await maintain_once()

    item = await ingested(outcome.item.id)
    assert item.status == ItemStatus.READY and item.progress == 100
    with session_scope() as session:
        still = session.get(KnowledgeItem, fresh.item.id)
        assert still is not None and still.status == ItemStatus.PROCESSING
    set_columns(KnowledgeItem, fresh.item.id, status=ItemStatus.READY)  # let the engine fixture finish


# ---------------------------------------------------------------- hostile input (found by tests/fuzz)


def test_a_collection_name_or_description_with_a_nul_character_is_refused_before_the_database(team: Team):
    for data in ({"name": "Docs\x00"}, {"name": "Docs", "description": "\x00"}):
        with pytest.raises(ValidationError) as caught:
            knowledge.create_collection(ctx=team.member, data=data)
        assert "NUL" in next(iter(caught.value.field_errors.values()))
    assert knowledge.list_collections(ctx=team.member) == []


def test_collection_names_that_differ_only_in_non_ascii_case_are_one_name(team: Team):
    _collection(team.member, "Ärger")
    with pytest.raises(ConflictError):
        _collection(team.admin, "äRGER")


@pytest.mark.parametrize("collection_id", ["c\x00", "c\udc80", "x" * 5000])
async def test_a_collection_id_that_could_never_exist_is_not_found_for_upload_and_search(
    team: Team, collection_id: str
):
    with pytest.raises(NotFoundError):
        await _upload(team.member, collection_id, "a.txt", b"hello")
    with pytest.raises(NotFoundError):
        await knowledge_search.search(ctx=team.member, query="hello", collection_id=collection_id)


async def test_a_search_with_a_non_text_query_or_limit_finds_nothing_instead_of_crashing(team: Team):
    assert await knowledge_search.search(ctx=team.member, query=None, limit=10) == []  # type: ignore[arg-type]
    assert await knowledge_search.search(ctx=team.member, query="x", limit="5") == []  # type: ignore[arg-type]
