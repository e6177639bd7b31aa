"""The LanceDB chunk index: full text, vectors, hybrid fusion, isolation, maintenance."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from galaxyco_ui.config import get_settings
from galaxyco_ui.devtools.wire import hashed_embedding
from galaxyco_ui.knowledge import index as index_module
from galaxyco_ui.knowledge import index_maintenance, index_schema, index_search
from galaxyco_ui.knowledge.highlight import highlight, snippet
from galaxyco_ui.knowledge.index import IndexMismatchError, KnowledgeIndex, get_index, reset_index
from galaxyco_ui.knowledge.index_schema import commit
from galaxyco_ui.knowledge.types import ChunkRow


def new_id() -> str:
    return uuid.uuid4().hex


def rows_for(item_id: str, collection_id: str, texts: Sequence[str]) -> list[ChunkRow]:
    return [ChunkRow(item_id, collection_id, i, t, heading=f"H{i}", page=i + 1) for i, t in enumerate(texts)]


def unit(dimensions: int, axis: int) -> list[float]:
    vector = [0.0] * dimensions
    vector[axis] = 1.0
    return vector


@pytest.fixture
def index(tmp_path: Path) -> KnowledgeIndex:
    return KnowledgeIndex(tmp_path / "lancedb")


@pytest.fixture
def ws() -> str:
    return new_id()


# ---------------------------------------------------------------- full text


def test_full_text_finds_a_word_of_a_phrase_and_ranks_the_best_chunk_first(index: KnowledgeIndex, ws: str):
    item, coll = new_id(), new_id()
    index.add_chunks(
        ws,
        rows_for(
            item,
            coll,
            [
                "The quarterly revenue report covers the northern region.",
                "Revenue grew; revenue targets were met and revenue per customer rose.",
                "Holiday schedule for the warehouse team.",
            ],
        ),
    )

    hits = index.search(ws, "revenue", collection_ids=None)

    assert [h.row.ordinal for h in hits] == [1, 0]
    assert all(h.matched_by == ("fts",) and h.score > 0 for h in hits)
    assert hits[0].row.heading == "H1" and hits[0].row.page == 2


def test_full_text_is_case_insensitive_stemmed_and_keeps_common_words(index: KnowledgeIndex, ws: str):
    item, coll = new_id(), new_id()
    index.add_chunks(ws, rows_for(item, coll, ["Runners were running to be or not to be", "Nothing here"]))

    assert [h.row.ordinal for h in index.search(ws, "RUNS", collection_ids=None)] == [0]
    assert [h.row.ordinal for h in index.search(ws, "to be or not", collection_ids=None)] == [0]


def test_blank_query_empty_collection_list_and_missing_table_find_nothing(index: KnowledgeIndex, ws: str):
    assert index.search(ws, "anything", collection_ids=None) == []  # no table yet
    item, coll = new_id(), new_id()
    index.add_chunks(ws, rows_for(item, coll, ["alpha beta"]))

    assert index.search(ws, "   ", collection_ids=None) == []
    assert index.search(ws, "alpha", collection_ids=[]) == []
    assert index.search(ws, "alpha", collection_ids=None, limit=0) == []


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced quote',
        "it's",
        "text:alpha",
        "field:(alpha OR beta)",
        "(((",
        ")",
        "AND",
        "alpha AND OR NOT beta",
        "+alpha -beta",
        "alpha~2",
        "alpha^3",
        "*",
        "?",
        "\\",
        "%_%",
        "' OR '1'='1",
        "alpha; DROP TABLE ws",
        "💥🔥",
        "Grüße straße ß",
        "数据 検索",
        "\x00\x01",
        "a" * 5000,
        " ".join(["word"] * 500),
        "",
    ],
)
def test_any_user_input_is_searchable_without_raising(index: KnowledgeIndex, ws: str, query: str):
    item, coll = new_id(), new_id()
    index.add_chunks(ws, rows_for(item, coll, ["alpha beta gamma"]), [unit(4, 0)], embedding_model="m")

    for mode in ("auto", "fts", "hybrid"):
        hits = index.search(ws, query, collection_ids=[coll], query_vector=unit(4, 0), mode=mode)
        assert isinstance(hits, list)
    assert isinstance(index.search(ws, query, collection_ids=None), list)


# ---------------------------------------------------------------- filters and isolation


def test_collection_filter_returns_only_the_chosen_collections(index: KnowledgeIndex, ws: str):
    a, b, c = new_id(), new_id(), new_id()
    for coll in (a, b, c):
        index.add_chunks(ws, rows_for(new_id(), coll, ["shared onboarding checklist"]))

    assert {h.row.collection_id for h in index.search(ws, "onboarding", collection_ids=[a, c])} == {a, c}
    assert {h.row.collection_id for h in index.search(ws, "onboarding", collection_ids=None)} == {a, b, c}
    assert index.search(ws, "onboarding", collection_ids=[new_id()]) == []


def test_workspaces_never_see_each_others_chunks(index: KnowledgeIndex):
    mine, theirs = new_id(), new_id()
    my_coll, their_coll = new_id(), new_id()
    index.add_chunks(mine, rows_for(new_id(), my_coll, ["mine: the launch plan"]))
    index.add_chunks(theirs, rows_for(new_id(), their_coll, ["theirs: the secret launch plan"]))

    hits = index.search(mine, "launch secret", collection_ids=None)
    assert [h.row.collection_id for h in hits] == [my_coll]
    # Naming the other workspace's collection finds nothing in mine.
    assert index.search(mine, "launch", collection_ids=[their_coll]) == []
    assert sorted(index.workspace_ids()) == sorted([mine, theirs])


@pytest.mark.parametrize(
    "crafted",
    ["x' OR '1'='1", "') OR ('1'='1", new_id().upper(), new_id()[:31], new_id() + "'", "", "../" + new_id()],
)
def test_crafted_ids_are_refused_before_reaching_a_filter(index: KnowledgeIndex, ws: str, crafted: str):
    coll = new_id()
    index.add_chunks(ws, rows_for(new_id(), coll, ["payroll data"]))

    with pytest.raises(ValueError):
        index.search(ws, "payroll", collection_ids=[coll, crafted])
    with pytest.raises(ValueError):
        index.search(crafted, "payroll", collection_ids=None)
    with pytest.raises(ValueError):
        index.delete_item(ws, crafted)
    with pytest.raises(ValueError):
        index.delete_collection(ws, crafted)
    with pytest.raises(ValueError):
        index.item_chunks(ws, crafted)
    with pytest.raises(ValueError):
        index.add_chunks(ws, rows_for(new_id(), crafted, ["x"]))
    assert len(index.search(ws, "payroll", collection_ids=None)) == 1  # nothing was deleted


# ---------------------------------------------------------------- items and deletion


def test_item_chunks_are_all_returned_in_order(index: KnowledgeIndex, ws: str):
    item, coll = new_id(), new_id()
    texts = [f"chunk number {i}" for i in range(25)]
    rows = rows_for(item, coll, texts)
    index.add_chunks(ws, list(reversed(rows)))
    index.add_chunks(ws, rows_for(new_id(), coll, ["another item"]))

    chunks = index.item_chunks(ws, item)

    assert chunks == rows
    assert index.item_chunks(ws, new_id()) == []
    assert index.item_chunks(new_id(), item) == []


def test_delete_item_and_delete_collection_remove_chunks_from_search(index: KnowledgeIndex, ws: str):
    coll_a, coll_b = new_id(), new_id()
    item_1, item_2, item_3 = new_id(), new_id(), new_id()
    index.add_chunks(ws, rows_for(item_1, coll_a, ["budget memo one"]))
    index.add_chunks(ws, rows_for(item_2, coll_a, ["budget memo two"]))
    index.add_chunks(ws, rows_for(item_3, coll_b, ["budget memo three"]))

    index.delete_item(ws, item_1)
    assert {h.row.item_id for h in index.search(ws, "budget", collection_ids=None)} == {item_2, item_3}

    index.delete_collection(ws, coll_b)
    assert {h.row.item_id for h in index.search(ws, "budget", collection_ids=None)} == {item_2}

    index.delete_item(ws, new_id())  # nothing to delete is fine
    index.delete_item(new_id(), item_2)  # so is a workspace without a table


def test_drop_workspace_removes_its_table_only(index: KnowledgeIndex):
    gone, kept = new_id(), new_id()
    index.add_chunks(gone, rows_for(new_id(), new_id(), ["quarterly plan"]))
    index.add_chunks(kept, rows_for(new_id(), new_id(), ["quarterly plan"]))

    index.drop_workspace(gone)
    index.drop_workspace(gone)  # twice is fine

    assert index.search(gone, "plan", collection_ids=None) == []
    assert len(index.search(kept, "plan", collection_ids=None)) == 1
    assert index.workspace_ids() == [kept]


# ---------------------------------------------------------------- vectors and hybrid


def test_hybrid_fuses_both_searches_with_reciprocal_rank_fusion(index: KnowledgeIndex, ws: str):
    coll = new_id()
    by_words, by_meaning, neither = new_id(), new_id(), new_id()
    index.add_chunks(
        ws, rows_for(by_words, coll, ["How to reset a password"]), [unit(8, 1)], embedding_model="test:8"
    )
    index.add_chunks(
        ws, rows_for(by_meaning, coll, ["Regaining account access"]), [unit(8, 0)], embedding_model="test:8"
    )
    index.add_chunks(ws, rows_for(neither, coll, ["Cafeteria menu"]), [unit(8, 5)], embedding_model="test:8")
    query_vector = [0.9, 0.3, 0, 0, 0, 0, 0, 0]

    hybrid = index.search(ws, "reset password", collection_ids=[coll], query_vector=query_vector)
    fts = index.search(ws, "reset password", collection_ids=[coll], query_vector=query_vector, mode="fts")
    vector = index.search(
        ws, "reset password", collection_ids=[coll], query_vector=query_vector, mode="vector"
    )

    found = {h.row.item_id: h for h in hybrid}
    assert found[by_meaning].matched_by == ("vector",)  # no word in common, still returned
    assert found[by_words].matched_by == ("fts", "vector")
    assert hybrid[0].row.item_id == by_words  # first in full text, second in vectors
    assert found[by_words].score == pytest.approx(1 / 61 + 1 / 62)
    assert found[by_meaning].score == pytest.approx(1 / 61)
    assert [h.row.item_id for h in fts] == [by_words]
    assert vector[0].row.item_id == by_meaning and vector[0].matched_by == ("vector",)
    assert vector[0].score == pytest.approx(0.9 / (0.9**2 + 0.3**2) ** 0.5, abs=1e-5)


def test_hybrid_reads_the_winners_of_the_version_it_searched_even_when_compaction_moves_rows(
    index: KnowledgeIndex, ws: str, monkeypatch: pytest.MonkeyPatch
):
    # Hybrid search finds row ids first and reads the winners' columns afterwards. A row id
    # is a place in a data file: here the first item is deleted and the table compacted in
    # between (for real, on the same table), so every row id the searches returned is stale
    # in the table's latest version. The read must still return the rows the searches found.
    coll, other = new_id(), new_id()
    first, items = new_id(), [new_id() for _ in range(3)]
    index.add_chunks(
        ws,
        rows_for(first, coll, [f"ledger entry {i}" for i in range(5)]),
        [unit(8, 1)] * 5,
        embedding_model="t:8",
    )
    for n, item in enumerate(items):
        texts = [f"ledger audit {n} part {i}" for i in range(5)]
        index.add_chunks(ws, rows_for(item, coll, texts), [unit(8, n)] * 5, embedding_model="t:8")
    index.add_chunks(ws, rows_for(new_id(), other, ["ledger elsewhere"]), [unit(8, 0)], embedding_model="t:8")
    real_winners = index_search.winners
    versions: list[tuple[int, int]] = []
    read_at_latest: list[dict[int, object]] = []

    async def compacted_meanwhile(table, row_ids, collections):  # type: ignore[no-untyped-def]
        live = index._tables[index_module.table_name(ws)]
        await live.delete(f"item_id = '{first}'")
        await live.optimize()
        versions.append((await table.version(), await live.version()))
        read_at_latest.append(await real_winners(live, row_ids, collections))
        return await real_winners(table, row_ids, collections)

    monkeypatch.setattr(index_search, "winners", compacted_meanwhile)
    hits = index.search(ws, "ledger audit", collection_ids=[coll], query_vector=unit(8, 0), limit=6)

    [(searched, latest)] = versions
    assert searched < latest  # the table moved on under the search ...
    assert len(read_at_latest[0]) < 6  # ... and the row ids found no longer hold those rows there
    assert len(hits) == len({h.row.chunk_id for h in hits}) == 6
    assert all(h.row.item_id in items and h.row.text.startswith("ledger audit") for h in hits)
    assert hits[0].row.item_id == items[0] and hits[0].matched_by == ("fts", "vector")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_sees_every_write_including_another_process_s(tmp_path: Path, ws: str):
    # Hybrid search runs on a snapshot of the table, cached per version: a write here or in
    # another process (another KnowledgeIndex on the same directory) must show up at once.
    app, worker = KnowledgeIndex(tmp_path / "lancedb"), KnowledgeIndex(tmp_path / "lancedb")
    coll = new_id()
    app.add_chunks(ws, rows_for(new_id(), coll, ["harbour tide tables"]), [unit(8, 0)], embedding_model="t:8")

    def found(ix: KnowledgeIndex) -> set[str]:
        hits = ix.search(ws, "harbour pilot", collection_ids=[coll], query_vector=unit(8, 2), limit=10)
        return {h.row.text for h in hits}

    assert found(app) == found(worker) == {"harbour tide tables"}
    app.add_chunks(
        ws, rows_for(new_id(), coll, ["harbour pilot roster"]), [unit(8, 2)], embedding_model="t:8"
    )
    assert found(app) == found(worker) == {"harbour tide tables", "harbour pilot roster"}
    worker.delete_collection(ws, coll)
    assert found(app) == found(worker) == set()


def test_hybrid_winners_keep_their_columns_and_rank(index: KnowledgeIndex, ws: str):
    # The two-phase read returns the rows, scores and sources that fusing the full-text and
    # vector searches' own hits (every candidate's columns read by the search) gives.
    coll = new_id()
    texts = [f"quarterly {'budget' if i % 2 else 'report'} note {i}" for i in range(40)]
    vectors = [hashed_embedding(t, 16) for t in texts]
    index.add_chunks(ws, rows_for(new_id(), coll, texts), vectors, embedding_model="t:16")
    query_vector = hashed_embedding("quarterly budget", 16)

    hits = index.search(ws, "quarterly budget", collection_ids=[coll], query_vector=query_vector, limit=8)

    candidates = 8 * index_search.CANDIDATES_PER_RESULT
    legs = {
        mode: index.search(
            ws,
            "quarterly budget",
            collection_ids=[coll],
            query_vector=query_vector,
            mode=mode,
            limit=candidates,
        )
        for mode in ("fts", "vector")
    }
    rows = {h.row.chunk_id: h.row for some in legs.values() for h in some}
    fused = index_search.fuse({mode: [h.row.chunk_id for h in some] for mode, some in legs.items()}, 8)
    assert [(h.row, h.score, h.matched_by) for h in hits] == [(rows[key], s, m) for key, s, m in fused]
    assert len(hits) == 8 and all(h.row.heading == f"H{h.row.ordinal}" for h in hits)
    assert all(h.row.page == h.row.ordinal + 1 for h in hits)
    assert {m for h in hits for m in h.matched_by} == {"fts", "vector"}


def test_queries_run_by_their_rust_half_return_what_to_arrow_returns(index: KnowledgeIndex, ws: str):
    # index_search.collect skips LanceDB's Python wrapper (its schema look-up per query):
    # the full-text, vector and by-row-id queries must still return the same tables.
    coll = new_id()
    texts = [f"invoice {'paid' if i % 3 else 'overdue'} line {i}" for i in range(30)]
    vectors = [hashed_embedding(t, 16) for t in texts]
    index.add_chunks(ws, rows_for(new_id(), coll, texts), vectors, embedding_model="t:16")
    where = f"collection_id IN ('{coll}')"

    async def both_ways(table):  # type: ignore[no-untyped-def]
        import numpy as np

        vector = np.asarray(hashed_embedding("overdue invoice", 16), dtype=np.float32)
        vector /= np.linalg.norm(vector)
        columns = ["_rowid", *index_schema.ROW_COLUMNS]
        queries = {
            "fts": lambda: index_search.full_text_query(
                table, "overdue invoice", where, 12, [*columns, "_score"]
            ),
            "vector": lambda: index_search.nearest_query(table, vector, where, 12, [*columns, "_distance"]),
        }
        found = {}
        for name, make in queries.items():
            found[name] = (await index_search.collect(make()), await make().to_arrow())
        row_ids = found["fts"][0].column("_rowid").to_pylist()[:5]
        take = lambda: table.take_row_ids(row_ids).select(index_schema.ROW_COLUMNS).with_row_id()  # noqa: E731
        found["take"] = (await index_search.collect(take()), await take().to_arrow())
        return found

    found = index_module._loop_thread().run(index._on_table(index_module.table_name(ws), both_ways, {}))
    assert set(found) == {"fts", "vector", "take"}
    for name, (collected, expected) in found.items():
        assert collected.num_rows > 0, name
        assert collected.equals(expected), name


def test_auto_mode_is_full_text_without_a_query_vector(index: KnowledgeIndex, ws: str):
    coll = new_id()
    index.add_chunks(ws, rows_for(new_id(), coll, ["solar panels"]), [unit(4, 0)], embedding_model="m")

    hits = index.search(ws, "solar", collection_ids=None)

    assert [h.matched_by for h in hits] == [("fts",)]
    with pytest.raises(ValueError):
        index.search(ws, "solar", collection_ids=None, mode="vector")


def test_vector_search_on_a_full_text_only_table_finds_nothing_and_hybrid_is_full_text(
    index: KnowledgeIndex, ws: str
):
    index.add_chunks(ws, rows_for(new_id(), new_id(), ["wind turbines"]))

    assert index.search(ws, "wind", collection_ids=None, query_vector=unit(4, 0), mode="vector") == []
    hits = index.search(ws, "wind", collection_ids=None, query_vector=unit(4, 0), mode="hybrid")
    assert [h.matched_by for h in hits] == [("fts",)]


def test_hashed_embeddings_rank_texts_sharing_words_first(index: KnowledgeIndex, ws: str):
    coll = new_id()
    texts = ["invoice payment terms net thirty", "office plants watering", "payment schedule for invoice"]
    vectors = [hashed_embedding(t, 64) for t in texts]
    index.add_chunks(ws, rows_for(new_id(), coll, texts), vectors, embedding_model="emu:64")

    hits = index.search(
        ws,
        "invoice payment",
        collection_ids=None,
        query_vector=hashed_embedding("invoice payment", 64),
        mode="vector",
    )

    assert {h.row.ordinal for h in hits[:2]} == {0, 2}


def test_another_model_or_dimension_is_refused_until_the_workspace_is_reset(index: KnowledgeIndex, ws: str):
    coll = new_id()
    index.add_chunks(ws, rows_for(new_id(), coll, ["first"]), [unit(8, 0)], embedding_model="model-a")

    with pytest.raises(IndexMismatchError, match="re-index"):
        index.add_chunks(ws, rows_for(new_id(), coll, ["second"]), [unit(16, 0)], embedding_model="model-a")
    with pytest.raises(IndexMismatchError, match="model-a"):
        index.add_chunks(ws, rows_for(new_id(), coll, ["second"]), [unit(8, 0)], embedding_model="model-b")
    with pytest.raises(IndexMismatchError):
        index.add_chunks(ws, rows_for(new_id(), coll, ["second"]))
    # A query vector of the wrong size: full text still answers; vector mode says why not.
    assert len(index.search(ws, "first", collection_ids=None, query_vector=unit(16, 0))) == 1
    with pytest.raises(IndexMismatchError):
        index.search(ws, "first", collection_ids=None, query_vector=unit(16, 0), mode="vector")

    index.reset_workspace_vectors(ws)
    index.add_chunks(ws, rows_for(new_id(), coll, ["second"]), [unit(16, 0)], embedding_model="model-b")
    hits = index.search(ws, "second", collection_ids=None, query_vector=unit(16, 0))
    assert [h.matched_by for h in hits] == [("fts", "vector")]


def test_vectors_must_match_the_rows(index: KnowledgeIndex, ws: str):
    rows = rows_for(new_id(), new_id(), ["a", "b"])
    with pytest.raises(ValueError):
        index.add_chunks(ws, rows, [unit(4, 0)], embedding_model="m")
    with pytest.raises(ValueError):
        index.add_chunks(ws, rows, [unit(4, 0), unit(5, 0)], embedding_model="m")
    with pytest.raises(ValueError):
        index.add_chunks(ws, rows, [unit(4, 0), unit(4, 1)])  # no model named
    with pytest.raises(ValueError):
        index.add_chunks(ws, rows, [unit(4, 0), [float("nan")] * 4], embedding_model="m")
    with pytest.raises(ValueError):
        index.add_chunks(ws, rows, [unit(4, 0), [0.0] * 4], embedding_model="m")
    index.add_chunks(ws, [])  # nothing to add: no table is created
    assert index.workspace_ids() == []


# ---------------------------------------------------------------- maintenance


def test_optimize_indexes_new_rows_and_keeps_results(index: KnowledgeIndex, ws: str):
    coll = new_id()
    for batch in range(4):
        texts = [f"batch {batch} ledger entry {i}" for i in range(20)]
        index.add_chunks(ws, rows_for(new_id(), coll, texts))
    before = index.search(ws, "ledger", collection_ids=None, limit=100)
    assert index.needs_optimize(ws)

    report = index.optimize(ws)

    assert report.rows == 80
    assert report.unindexed_before == 60  # the first batch was indexed with the table
    assert report.unindexed_after == 0
    assert report.seconds > 0
    assert not index.needs_optimize(ws)
    after = index.search(ws, "ledger", collection_ids=None, limit=100)
    assert {h.row.chunk_id for h in after} == {h.row.chunk_id for h in before}


def test_optimize_builds_the_vector_index_once_the_table_is_big_enough(
    index: KnowledgeIndex, ws: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(index_maintenance, "VECTOR_INDEX_MIN_ROWS", 300)
    coll = new_id()
    texts = [f"topic{i % 30} note {i}" for i in range(300)]
    vectors = [hashed_embedding(t, 32) for t in texts]
    index.add_chunks(ws, rows_for(new_id(), coll, texts[:100]), vectors[:100], embedding_model="emu:32")
    assert not index.needs_optimize(ws)  # indexed, and too small for a vector index
    index.add_chunks(ws, rows_for(new_id(), coll, texts[100:]), vectors[100:], embedding_model="emu:32")

    report = index.optimize(ws)

    assert report.vector_index_created and report.unindexed_after == 0
    assert not index.needs_optimize(ws)
    hits = index.search(ws, "x", collection_ids=None, query_vector=vectors[123], mode="vector", limit=1)
    assert hits[0].row.text == texts[123]
    assert hits[0].score == pytest.approx(1.0, abs=0.01)  # cosine similarity, as without the index


def test_optimize_all_covers_every_workspace_needing_it(index: KnowledgeIndex):
    busy, quiet = new_id(), new_id()
    for _ in range(2):
        index.add_chunks(busy, rows_for(new_id(), new_id(), ["more text"]))
    index.add_chunks(quiet, rows_for(new_id(), new_id(), ["text"]))

    reports = index.optimize_all()

    assert [r.workspace_id for r in reports] == [busy]
    assert index.optimize(new_id()).rows == 0  # no table: nothing to do
    assert not index.needs_optimize(new_id())


# ---------------------------------------------------------------- concurrency


def test_concurrent_writers_and_maintenance_lose_nothing(tmp_path: Path, ws: str):
    """Two index objects (separate connections and caches, as in two processes) write the
    same table while one of them optimizes: commit conflicts are retried."""
    app, worker = KnowledgeIndex(tmp_path / "db"), KnowledgeIndex(tmp_path / "db")
    coll = new_id()
    app.add_chunks(ws, rows_for(new_id(), coll, ["seed row"]))
    errors: list[BaseException] = []
    items: list[str] = []

    def write(ix: KnowledgeIndex, n: int) -> None:
        try:
            for i in range(n):
                item = new_id()
                items.append(item)
                ix.add_chunks(ws, rows_for(item, coll, [f"concurrent chunk {i}", f"more words {i}"]))
                if i % 3 == 0:
                    ix.delete_item(ws, item)
                    items.remove(item)
        except BaseException as error:
            errors.append(error)

    def maintain() -> None:
        try:
            for _ in range(4):
                worker.optimize(ws)
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(app, 12)),
        threading.Thread(target=write, args=(worker, 12)),
        threading.Thread(target=write, args=(app, 12)),
        threading.Thread(target=maintain),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    for reader in (app, worker):
        hits = reader.search(ws, "concurrent", collection_ids=None, limit=100)
        assert {h.row.item_id for h in hits} == set(items)


def test_a_table_rebuilt_by_another_process_is_reopened(tmp_path: Path, ws: str):
    app, other = KnowledgeIndex(tmp_path / "db"), KnowledgeIndex(tmp_path / "db")
    coll = new_id()
    app.add_chunks(ws, rows_for(new_id(), coll, ["old model text"]), [unit(4, 0)], embedding_model="old")
    assert len(app.search(ws, "old", collection_ids=None)) == 1  # the handle is cached

    other.reset_workspace_vectors(ws)
    other.add_chunks(ws, rows_for(new_id(), coll, ["new model text"]), [unit(8, 0)], embedding_model="new")

    assert [h.row.text for h in app.search(ws, "text", collection_ids=None)] == ["new model text"]
    hits = app.search(ws, "text", collection_ids=None, query_vector=unit(8, 0))
    assert [h.matched_by for h in hits] == [("fts", "vector")]
    with pytest.raises(IndexMismatchError):
        app.add_chunks(ws, rows_for(new_id(), coll, ["late write"]), [unit(4, 0)], embedding_model="old")
    other.drop_workspace(ws)
    assert app.search(ws, "text", collection_ids=None) == []
    app.add_chunks(ws, rows_for(new_id(), coll, ["after drop"]))
    assert len(other.search(ws, "drop", collection_ids=None)) == 1


def test_get_index_follows_the_configured_path():
    reset_index()
    first = get_index()
    assert first.root == get_settings().resolved_lancedb_path
    assert get_index() is first
    reset_index()
    assert get_index() is not first


# ---------------------------------------------------------------- highlight and snippet


def test_highlight_marks_whole_short_words_and_prefixes_of_long_ones():
    segments = highlight(
        "Installing the API on Linux: see installation notes, not the apiary.", "install API"
    )

    assert (
        "".join(s for s, _ in segments)
        == "Installing the API on Linux: see installation notes, not the apiary."
    )
    assert [s for s, marked in segments if marked] == ["Installing", "API", "installation"]


def test_highlight_strips_a_common_suffix_and_ignores_punctuation_only_queries():
    assert [s for s, m in highlight("He runs; running runners ran.", "running") if m] == [
        "running",
        "runners",
    ]
    assert highlight("Nothing (to) mark.", '"()" 💥') == [("Nothing (to) mark.", False)]
    assert highlight("", "x") == []


def test_snippet_picks_the_window_with_the_most_matches():
    filler = " ".join(f"filler{i}" for i in range(80))
    text = f"{filler} budget review: the budget and the forecast. {filler}"

    excerpt = snippet(text, "budget forecast", max_chars=120)

    assert len(excerpt) <= 120
    assert "budget review: the budget and the forecast" in excerpt
    assert excerpt.startswith("…") and excerpt.endswith("…")


def test_snippet_without_a_match_is_the_start_and_short_text_is_whole():
    text = "word " * 200
    assert snippet(text, "absent", max_chars=50).startswith("word word")
    assert snippet(text, "absent", max_chars=50).endswith("…")
    assert snippet("Short\n\ntext.", "text") == "Short text."


def _process_writer(root: str, ws: str, coll: str, tag: int, n: int) -> list[str]:
    """Runs in a spawned process: add, delete and optimize the shared table."""
    ix = KnowledgeIndex(Path(root))
    kept = []
    for i in range(n):
        item = new_id()
        ix.add_chunks(ws, rows_for(item, coll, [f"process {tag} chunk {i}", "shared words"]))
        if i % 4 == 1:
            ix.delete_item(ws, item)
        else:
            kept.append(item)
        if i % 5 == 4:
            ix.optimize(ws)
    return kept


def test_processes_writing_and_optimizing_one_table_lose_nothing(tmp_path: Path, ws: str):
    import multiprocessing

    coll = new_id()
    root = tmp_path / "db"
    KnowledgeIndex(root).add_chunks(ws, rows_for(new_id(), coll, ["seed"]))
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        kept = pool.starmap(_process_writer, [(str(root), ws, coll, tag, 12) for tag in range(3)])

    hits = KnowledgeIndex(root).search(ws, "chunk", collection_ids=None, limit=100)
    assert {h.row.item_id for h in hits} == {item for items in kept for item in items}


def test_commit_conflicts_are_retried_then_given_up(index: KnowledgeIndex, monkeypatch: pytest.MonkeyPatch):
    calls = 0

    async def conflicted() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError(
                "lance error: Retryable commit conflict for version 7: preempted. Please retry."
            )
        return "committed"

    async def always_conflicted() -> str:
        raise RuntimeError("lance error: Retryable commit conflict for version 7")

    async def broken() -> str:
        raise RuntimeError("lance error: disk full")

    loop = index_module._loop_thread()
    assert loop.run(commit(conflicted)) == "committed" and calls == 3
    with pytest.raises(RuntimeError, match="conflict"):
        loop.run(commit(always_conflicted))
    with pytest.raises(RuntimeError, match="disk full"):
        loop.run(commit(broken))
