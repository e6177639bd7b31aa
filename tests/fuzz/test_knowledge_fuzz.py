"""Fuzz: collection names and descriptions, search queries, and uploads (names and bytes).

Uploads go through ``knowledge.upload_item``; the ingestion job it queues afterwards is
recorded instead of run (parsing is fuzzed by the parser's own tests, and a background
job per case would not fit the time budget).
"""

from __future__ import annotations

import asyncio
import io
import unicodedata
import zipfile
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from galaxyco_ui.errors import ConflictError, NotFoundError, ValidationError
from galaxyco_ui.knowledge import storage
from galaxyco_ui.knowledge.index import get_index
from galaxyco_ui.knowledge.types import ChunkRow
from galaxyco_ui.services import knowledge, knowledge_search
from galaxyco_ui.services.validation import name_key, one_line, text_problem
from tests.factories import make_team
from tests.fuzz.support import (
    PAYLOADS,
    fuzz,
    hostile_text,
    json_values,
    mostly,
    outcome,
    workspace_snapshot,
)

collection_data = st.fixed_dictionaries(
    {
        "name": mostly(
            st.sampled_from(["Handbook", " Policies  2026 ", "Ärger"]), hostile_text(100) | json_values()
        )
    },
    optional={
        "description": mostly(st.sampled_from(["", "Rules **we** follow"]), hostile_text(600) | json_values())
    },
)


@fuzz(150)
@given(collection_data, st.sampled_from(["create", "update"]))
def test_collection_names_and_descriptions_are_saved_or_refused_cleanly(data, action):
    team = make_team()
    existing = knowledge.create_collection(ctx=team.member, data={"name": "Existing"})
    before = workspace_snapshot(team.workspace_id)

    if action == "create":
        view, error = outcome(lambda: knowledge.create_collection(ctx=team.member, data=data))
    else:
        view, error = outcome(
            lambda: knowledge.update_collection(ctx=team.member, collection_id=existing.id, data=data)
        )

    if error is not None:
        assert isinstance(error, ValidationError), error
        assert workspace_snapshot(team.workspace_id) == before, "a refused call wrote something"
        for field in ("name", "description"):
            if text_problem(data.get(field)):
                assert field in error.field_errors
        return
    assert (
        view.name == one_line(data["name"]) and view.description == str(data.get("description", "")).strip()
    )
    assert knowledge.get_collection(ctx=team.member, collection_id=view.id) == view
    assert text_problem(view.name) is None and text_problem(view.description) is None


@fuzz(60)
@given(
    st.one_of(
        st.sampled_from(["İstanbul", "Straße", "ﬁle", "Ärger", "Σίσυφος", "Crème brûlée"]),
        st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=40),
    ),
    st.sampled_from(
        [str.upper, str.lower, str.swapcase, lambda s: f" {s}  ", lambda s: unicodedata.normalize("NFD", s)]
    ),
)
def test_collection_names_that_differ_only_in_case_spacing_or_unicode_form_collide(name, spell):
    team = make_team()
    first, error = outcome(lambda: knowledge.create_collection(ctx=team.member, data={"name": name}))
    variant = spell(name)
    if error is not None or not one_line(variant) or name_key(one_line(variant)) != name_key(first.name):
        return
    before = workspace_snapshot(team.workspace_id)

    _, again = outcome(lambda: knowledge.create_collection(ctx=team.admin, data={"name": variant}))

    assert isinstance(again, ConflictError) and "name" in again.field_errors, (name, variant, again)
    assert workspace_snapshot(team.workspace_id) == before


# ---------------------------------------------------------------- search


@fuzz(150)
@given(
    hostile_text(200)
    | json_values()
    | st.sampled_from(
        ['"leave', "leave AND NOT expenses", "title:leave", "leav*", "((((", "^~?\\", "-leave +days"]
    ),
    mostly(st.just(None), hostile_text(40) | st.just("OTHER")),
    mostly(st.just(10), st.integers(-(2**40), 2**40) | json_values()),
)
def test_a_search_query_returns_hits_or_a_clear_error_never_a_crash(query, collection_id, limit):
    team, collection, other = _searchable()
    if collection_id == "OTHER":
        collection_id = other
    elif collection_id is None and isinstance(query, str) and "leave" in query:
        collection_id = collection

    results, error = outcome(
        lambda: asyncio.run(
            knowledge_search.search(ctx=team.member, query=query, collection_id=collection_id, limit=limit)
        )
    )

    if error is not None:
        assert isinstance(error, NotFoundError | ValidationError), error
        return
    assert isinstance(results, list)
    for hit in results:
        assert hit.collection_id in (collection, other)
        assert "".join(text for text, _ in hit.segments) == hit.text


_SEARCHABLE: dict[str, tuple[object, str, str]] = {}


def _searchable():  # type: ignore[no-untyped-def]
    """One workspace with indexed chunks, built on the first case of this test.

    Built lazily inside the test rather than by a fixture: search writes nothing, so
    sharing it across cases is sound, and no function-scoped fixture is held by @given.
    The table cleanup between tests empties the database, so the cache is keyed by the
    workspace still existing.
    """
    cached = _SEARCHABLE.get("team")
    if cached is not None:
        team, collection, other = cached
        try:
            knowledge.get_collection(ctx=team.member, collection_id=collection)  # type: ignore[attr-defined]
            return cached
        except NotFoundError:
            pass
    team = make_team()
    collection = knowledge.create_collection(ctx=team.member, data={"name": "Handbook"}).id
    other = knowledge.create_collection(ctx=team.member, data={"name": "Other"}).id
    texts = [*PAYLOADS, "Leave policy: twenty-seven days of paid leave.", "Expenses within thirty days."]
    rows = []
    for n, text in enumerate(t.encode("utf-8", "ignore").decode() for t in texts):
        item = _item(team, collection if n % 2 else other, f"doc{n}.md")
        rows.append(
            ChunkRow(item_id=item, collection_id=collection if n % 2 else other, ordinal=0, text=text or ".")
        )
    get_index().add_chunks(team.workspace_id, rows)
    _SEARCHABLE["team"] = (team, collection, other)
    return _SEARCHABLE["team"]


def _item(team, collection_id: str, name: str) -> str:  # type: ignore[no-untyped-def]
    with mock.patch("galaxyco_ui.knowledge.ingest.enqueue_ingest", _record):
        outcome_ = asyncio.run(
            knowledge.upload_item(
                ctx=team.member, collection_id=collection_id, filename=name, source=io.BytesIO(name.encode())
            )
        )
    return outcome_.item.id


async def _record(item_id: str) -> None:
    _QUEUED.append(item_id)


_QUEUED: list[str] = []


# ---------------------------------------------------------------- uploads


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


_heads = st.sampled_from(
    [
        b"",
        b"%PDF-1.7\n",
        b"PK\x03\x04",
        b"PK\x05\x06" + b"\x00" * 18,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\xfe\xff",
        b"<html><body>",
        b"# Title\n",
        b"a,b,c\n1,2,3\n4,5,6\n",
        b"\x00\x00\x00",
    ]
)
upload_bytes = st.one_of(
    st.tuples(_heads, st.binary(max_size=600)).map(b"".join),
    st.builds(
        _zip,
        st.dictionaries(
            st.sampled_from(
                ["word/document.xml", "xl/workbook.xml", "ppt/presentation.xml", "a.txt", "../x"]
            ),
            st.binary(max_size=40),
            max_size=3,
        ),
    ),
    st.builds(lambda b: b[: len(b) // 2], st.builds(_zip, st.just({"word/document.xml": b"<w/>" * 50}))),
    hostile_text(300).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
upload_names = mostly(
    st.sampled_from(["notes.txt", "report.pdf", "deck.docx", "page.html", "data.csv", "readme.md", ""]),
    st.one_of(
        hostile_text(300),
        json_values(),
        st.sampled_from(
            ["\u202etxt.exe", "..\\..\\boot.ini", "a/b/../../c.md", "con.txt", "x" * 400 + ".pdf"]
        ),
    ),
    tenths=5,
)


@fuzz(150)
@given(upload_names, upload_bytes, mostly(st.just("OWN"), hostile_text(40) | st.integers()))
def test_an_upload_of_any_name_and_bytes_is_stored_and_queued_or_refused_with_nothing_kept(
    filename, data, collection_id
):
    team = make_team()
    own = knowledge.create_collection(ctx=team.member, data={"name": "Inbox"}).id
    target = own if collection_id == "OWN" else collection_id
    before = workspace_snapshot(team.workspace_id)
    _QUEUED.clear()

    with mock.patch("galaxyco_ui.knowledge.ingest.enqueue_ingest", _record):
        result, error = outcome(
            lambda: asyncio.run(
                knowledge.upload_item(
                    ctx=team.member, collection_id=target, filename=filename, source=io.BytesIO(data)
                )
            )
        )

    after = workspace_snapshot(team.workspace_id)
    if error is not None:
        assert isinstance(error, ValidationError | NotFoundError), error
        assert after == before, "a refused upload kept a row or a file"
        assert not _QUEUED, "a refused upload queued a job"
        return
    item = result.item
    assert not result.duplicate
    assert [item.id] == _QUEUED, "the new item, and only it, is queued for ingestion"
    assert storage.original_path(team.workspace_id, item.id).read_bytes() == data
    assert item.name and text_problem(item.name) is None and len(item.name) <= 255
    assert all(ch.isprintable() for ch in item.name) and "/" not in item.name and "\\" not in item.name
    assert knowledge.get_item(ctx=team.member, item_id=item.id) == item
    assert after["files"] == sorted([*before["files"], item.id])
