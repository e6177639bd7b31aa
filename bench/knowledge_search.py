"""P4: knowledge search latency at 100,000 chunks (full text, vector, hybrid).

Builds a scratch LanceDB directory (``_setup.DATA_DIR``, removed at the end) holding one
target workspace of ``--rows`` chunks (default 100,000: 4,000 items of 25 chunks in 20
collections) and 3 other workspaces of 2,000 chunks each (their own tables, as in
production). Everything goes through ``KnowledgeIndex``: ``add_chunks`` in batches of
5,000 rows (the first batch creates the table with its FTS, BTREE and BITMAP indexes),
then one ``optimize`` (compaction, FTS update, HNSW_SQ vector index). No network.

Text: each chunk has 100 to 300 words drawn with Zipf-like frequencies from 120 English
function words (40%), the 120 words of its topic (35%, 300 topics) and a 20,000-word
generated vocabulary (25%). Vectors: 384-d feature-hashed bags of the chunk's
non-function words (``devtools.wire.word_feature``, the emulator's embedding), so
chunks of one topic cluster. Queries: 2 or 3 words of a topic (plus a function word one time
in three), their vector hashed the same way; a third search the whole workspace, a third
one collection, a third three collections.

Timed: ``KnowledgeIndex.search`` (``mode`` fts / vector / hybrid, limit 8), ``--queries``
each (default 300) after 20 warm-up queries. Then the floor, in the same run and paired query
by query with GalaxyCo's hybrid search (the two alternate, so load spikes hit both): LanceDB's
own bare queries on the same table, no GalaxyCo code (its async API: the full-text and the
vector query with the same filter, candidates and ``ef``, gathered, row ids only), and the same
legs run by LanceDB's Rust binding as GalaxyCo runs them (``index_search.collect``). Also:
hybrid through LanceDB's own ``RRFReranker`` (sync API), vector recall@10 against an exact
scan per scope, and the cost of 1,000 rows added after the last ``optimize`` (unindexed rows
are scanned). Every latency row records the 1-minute load average when it ended.

Target: hybrid p95 ≤ 15 ms with one collection filter, vector recall@10 ≥ 0.9 against exact.

    .venv/bin/python -m bench.knowledge_search [--rows 100000] [--queries 300]   # ~4 min
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import _setup

DIMENSIONS = 384
ITEM_CHUNKS = 25
COLLECTIONS = 20
TOPICS = 300
TOPIC_WORDS = 120
VOCABULARY = 20_000
BATCH_ROWS = 5_000
OTHER_WORKSPACES, OTHER_ROWS = 3, 2_000
WARMUP = 20
RECALL_QUERIES = 90
SCOPES = ("workspace", "1 collection", "3 collections")
_FUNCTION_TEXT = (
    "the of and to a in is that for it as was with be by on not he this are or his from at which but "
    "have an had they you were their one all we can her has there been if more when will would who so "
    "no she other its may these two them than some any into only could new also time should first what "
    "about after over such our most then out up each per how where before must between under while both "
    "since through those during without because same however among within upon again well very just "
    "like even here few many much own still whether yet"
)
FUNCTION_WORDS: list[str] = _FUNCTION_TEXT.split()


@dataclass
class Corpus:
    vocabulary: np.ndarray  # str words; FUNCTION_WORDS first
    topics: np.ndarray  # (TOPICS, TOPIC_WORDS) word ids
    feature_index: np.ndarray  # word id → hashed dimension
    feature_sign: np.ndarray  # word id → ±1 (0 for function words)


def zipf(n: int, s: float = 1.07) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


def make_corpus(rng: np.random.Generator) -> Corpus:
    from galaxyco_ui.devtools.wire import word_feature

    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "er")]
    made: dict[str, None] = {}
    while len(made) < VOCABULARY:
        made["".join(rng.choice(syllables, size=int(rng.integers(2, 5))))] = None
    words = FUNCTION_WORDS + [w for w in made if w not in FUNCTION_WORDS][:VOCABULARY]
    first = len(FUNCTION_WORDS)
    topics = np.stack(
        [rng.choice(np.arange(first, len(words)), TOPIC_WORDS, replace=False) for _ in range(TOPICS)]
    )
    features = [word_feature(w, DIMENSIONS) for w in words]
    sign = np.array([s for _, s in features], dtype=np.float32)
    sign[:first] = 0.0  # embeddings shrug off function words; hashing them would make every chunk alike
    return Corpus(np.array(words), topics, np.array([i for i, _ in features]), sign)


def embed_ids(corpus: Corpus, ids: np.ndarray) -> np.ndarray:
    vector = np.bincount(corpus.feature_index[ids], weights=corpus.feature_sign[ids], minlength=DIMENSIONS)
    norm = np.linalg.norm(vector)
    return (vector / norm if norm else np.eye(DIMENSIONS)[0]).astype(np.float32)


def make_chunks(corpus: Corpus, rng: np.random.Generator, count: int) -> tuple[list[str], np.ndarray]:
    """``count`` chunk texts and their vectors."""
    n_function, n_vocab = len(FUNCTION_WORDS), len(corpus.vocabulary)
    cdf_function, cdf_topic = np.cumsum(zipf(n_function)), np.cumsum(zipf(TOPIC_WORDS))
    cdf_vocab = np.cumsum(zipf(n_vocab - n_function))
    chunk_topics = rng.choice(TOPICS, size=count, p=zipf(TOPICS, 0.8))
    texts: list[str] = []
    vectors = np.empty((count, DIMENSIONS), dtype=np.float32)

    def draw(cdf: np.ndarray, size: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(size)), len(cdf) - 1)

    for i, topic in enumerate(chunk_topics):
        length = int(rng.integers(100, 301))
        source = np.searchsorted([0.40, 0.75], rng.random(length), side="right")
        ids = np.where(
            source == 0,
            draw(cdf_function, length),
            np.where(
                source == 1,
                corpus.topics[topic][draw(cdf_topic, length)],
                n_function + draw(cdf_vocab, length),
            ),
        )
        words = corpus.vocabulary[ids].tolist()
        words[0] = words[0].capitalize()
        texts.append(" ".join(words) + ".")
        vectors[i] = embed_ids(corpus, ids)
    return texts, vectors


def fill(
    index: object, workspace_id: str, texts: list[str], vectors: np.ndarray, collections: list[str]
) -> None:
    from galaxyco_ui.knowledge.index import KnowledgeIndex
    from galaxyco_ui.knowledge.types import ChunkRow

    assert isinstance(index, KnowledgeIndex)
    rows: list[ChunkRow] = []
    item_id, collection_id = "", ""
    for i, text in enumerate(texts):
        if i % ITEM_CHUNKS == 0:
            item_id, collection_id = uuid.uuid4().hex, collections[(i // ITEM_CHUNKS) % len(collections)]
        rows.append(ChunkRow(item_id, collection_id, i % ITEM_CHUNKS, text, "Section", None, len(text) // 5))
    for start in range(0, len(rows), BATCH_ROWS):
        end = start + BATCH_ROWS
        index.add_chunks(workspace_id, rows[start:end], vectors[start:end], embedding_model="bench:hash-384")


@dataclass
class Query:
    text: str
    vector: list[float]
    collection_ids: list[str] | None
    scope: str


def make_queries(corpus: Corpus, rng: np.random.Generator, collections: list[str], count: int) -> list[Query]:
    queries = []
    vocab_index = {w: i for i, w in enumerate(corpus.vocabulary.tolist())}
    for n in range(count):
        topic = corpus.topics[int(rng.choice(TOPICS, p=zipf(TOPICS, 0.8)))]
        picked = [
            corpus.vocabulary[i] for i in rng.choice(topic[:40], size=int(rng.integers(2, 4)), replace=False)
        ]
        if n % 3 == 0:
            picked.insert(1, str(rng.choice(FUNCTION_WORDS[:30])))
        text = " ".join(picked)
        vector = embed_ids(corpus, np.array([vocab_index[w] for w in picked])).tolist()
        scope = ("workspace", "1 collection", "3 collections")[n % 3]
        chosen = (
            None if n % 3 == 0 else [str(c) for c in rng.choice(collections, size=1 if n % 3 == 1 else 3)]
        )
        queries.append(Query(text, vector, chosen, scope))
    return queries


def timed(run: Callable[[Query], Sequence[object]], queries: list[Query]) -> tuple[list[float], list[int]]:
    for q in queries[:WARMUP]:
        run(q)
    ms, hits = [], []
    for q in queries:
        t0 = time.perf_counter()
        found = run(q)
        ms.append((time.perf_counter() - t0) * 1000)
        hits.append(len(found))
    return ms, hits


def row(label: str, scope: str, ms: list[float], hits: list[int], load: float | None = None) -> list[object]:
    p = _setup.pct
    shown = "" if load is None else f"{load:.1f}"
    return [label, scope, len(ms), p(ms, 50), p(ms, 95), p(ms, 99), max(ms), sum(hits) / len(hits), shown]


def load_average() -> float:
    return os.getloadavg()[0]


def paired(
    runs: dict[str, Callable[[Query], Sequence[object]]], queries: list[Query]
) -> dict[str, list[float]]:
    """Time every runner on each query in turn (the first runner alternates), after warm-up."""
    for q in queries[:WARMUP]:
        for run in runs.values():
            run(q)
    ms: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for n, q in enumerate(queries):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            t0 = time.perf_counter()
            runs[name](q)
            ms[name].append((time.perf_counter() - t0) * 1000)
    return ms


class BareLanceDB:
    """The floor: LanceDB's async API on the same table, no GalaxyCo code (its own event loop
    on the calling thread). ``legs`` is a hybrid search's two queries as GalaxyCo runs them
    (same filter, candidates and ``ef``), gathered, row ids only; the other methods take
    that apart (``stages``)."""

    def __init__(self, root: object, table_name: str) -> None:
        import lancedb

        from galaxyco_ui.knowledge.index_schema import ROW_COLUMNS
        from galaxyco_ui.knowledge.index_search import CANDIDATES_PER_RESULT

        self.loop = asyncio.new_event_loop()
        db = self.loop.run_until_complete(lancedb.connect_async(str(root)))
        self.table = self.loop.run_until_complete(db.open_table(table_name))
        self.candidates = 8 * CANDIDATES_PER_RESULT
        self.columns = ROW_COLUMNS
        self.winners: dict[int, list[int]] = {}

    def _text(self, q: Query, where: str | None, run: bool = True) -> Any:
        from lancedb.query import MatchQuery

        query = self.table.query().nearest_to_text(MatchQuery(q.text, "text"))  # type: ignore[call-arg]
        query = query.where(where) if where else query
        query = query.limit(self.candidates).select(["_rowid", "_score"])
        return query.to_arrow() if run else query

    def _vector(self, q: Query, where: str | None, run: bool = True) -> Any:
        from galaxyco_ui.knowledge.index_search import vector_ef

        query = self.table.query().nearest_to(np.asarray(q.vector, dtype=np.float32)).column("vector")
        query = query.distance_type("l2").ef(vector_ef(self.candidates, where is not None))
        query = query.where(where) if where else query
        query = query.limit(self.candidates).select(["_rowid", "_distance"])
        return query.to_arrow() if run else query

    @staticmethod
    def where(q: Query) -> str | None:
        if not q.collection_ids:
            return None
        return f"collection_id IN ({', '.join(repr(c) for c in q.collection_ids)})"

    def legs(self, q: Query, direct: bool = False) -> Sequence[object]:
        """Both legs at once; ``direct``: run by LanceDB's Rust binding as GalaxyCo does
        (``index_search.collect``), skipping ``to_arrow``'s schema look-up per query."""

        async def both() -> list[Any]:
            queries = (
                self._text(q, self.where(q), run=not direct),
                self._vector(q, self.where(q), run=not direct),
            )
            return list(await asyncio.gather(*(collect(x) if direct else x for x in queries)))

        from galaxyco_ui.knowledge.index_search import collect

        found = self.loop.run_until_complete(both())
        ids = [r for result in found for r in result.column("_rowid").to_pylist()]
        self.winners.setdefault(id(q), ids[:4] + ids[self.candidates : self.candidates + 4])
        return ids

    def text_leg(self, q: Query) -> Sequence[object]:
        return self.loop.run_until_complete(self._text(q, self.where(q))).column("_rowid").to_pylist()

    def vector_leg(self, q: Query) -> Sequence[object]:
        return self.loop.run_until_complete(self._vector(q, self.where(q))).column("_rowid").to_pylist()

    def vector_leg_unfiltered(self, q: Query) -> Sequence[object]:
        return self.loop.run_until_complete(self._vector(q, None)).column("_rowid").to_pylist()

    def read_winners(self, q: Query) -> Sequence[object]:
        """The columns of 8 winners (4 of each leg), by row id."""
        read = self.table.take_row_ids(self.winners[id(q)]).select(self.columns).to_arrow()
        return self.loop.run_until_complete(read).column("chunk_id").to_pylist()


def main(total_rows: int, query_count: int) -> None:
    import lancedb
    from lancedb.rerankers import RRFReranker

    from galaxyco_ui.knowledge.index import KnowledgeIndex, table_name

    rng = np.random.default_rng(7)
    random.seed(7)
    root = _setup.DATA_DIR / "lancedb"
    index = KnowledgeIndex(root)
    target = uuid.uuid4().hex
    collections = [uuid.uuid4().hex for _ in range(COLLECTIONS)]
    phases: list[list[object]] = []
    try:
        t0 = time.perf_counter()
        corpus = make_corpus(rng)
        texts, vectors = make_chunks(corpus, rng, total_rows)
        words = sum(t.count(" ") + 1 for t in texts)
        phases.append(
            [
                "generate text + vectors",
                f"{total_rows:,} chunks, {words / total_rows:.0f} words each",
                time.perf_counter() - t0,
            ]
        )

        t0 = time.perf_counter()
        for _ in range(OTHER_WORKSPACES):
            other_texts, other_vectors = make_chunks(corpus, rng, OTHER_ROWS)
            other = uuid.uuid4().hex
            fill(index, other, other_texts, other_vectors, [uuid.uuid4().hex for _ in range(3)])
            index.optimize(other)
        phases.append(
            [
                "other workspaces (add + optimize)",
                f"{OTHER_WORKSPACES} x {OTHER_ROWS:,} chunks",
                time.perf_counter() - t0,
            ]
        )

        t0 = time.perf_counter()
        fill(index, target, texts, vectors, collections)
        phases.append(
            [
                "add_chunks (target)",
                f"{total_rows // BATCH_ROWS} batches of {BATCH_ROWS:,}",
                time.perf_counter() - t0,
            ]
        )

        report = index.optimize(target)
        detail = f"unindexed rows {report.unindexed_before:,} -> {report.unindexed_after}; vector index built: {report.vector_index_created}"
        phases.append(["optimize (FTS update, compaction, HNSW_SQ)", detail, report.seconds])
        size = sum(f.stat().st_size for f in (root / f"{table_name(target)}.lance").rglob("*") if f.is_file())
        phases.append(["target table on disk", f"{size / 1e6:,.0f} MB", 0.0])
        print(f"\nP4 build ({total_rows:,} chunks, {DIMENSIONS}-d vectors)")
        _setup.print_table(["phase", "detail", "seconds"], phases)

        queries = make_queries(corpus, rng, collections, query_count)
        rows: list[list[object]] = []
        modes = ("fts", "vector", "hybrid")
        results: dict[str, tuple[list[float], list[int], float]] = {}
        for mode in modes:

            def search(q: Query, mode: str = mode) -> Sequence[object]:
                return index.search(
                    target, q.text, collection_ids=q.collection_ids, query_vector=q.vector, mode=mode
                )  # type: ignore[arg-type]

            results[mode] = (*timed(search, queries), load_average())
        for mode in modes:
            ms, hits, load = results[mode]
            rows.append(row(mode, "all", ms, hits, load))
            for scope in SCOPES:
                picked = [i for i, q in enumerate(queries) if q.scope == scope]
                rows.append(row("", scope, [ms[i] for i in picked], [hits[i] for i in picked]))

        bare = BareLanceDB(root, table_name(target))
        pairs = paired(
            {
                "galaxyco": lambda q: index.search(
                    target, q.text, collection_ids=q.collection_ids, query_vector=q.vector, mode="hybrid"
                ),
                "floor": bare.legs,
                "floor, direct": lambda q: bare.legs(q, direct=True),
            },
            queries,
        )
        load = load_average()
        one = [q for q in queries if q.scope == "1 collection"]
        stages = paired(
            {
                "full-text leg": bare.text_leg,
                "vector leg": bare.vector_leg,
                "vector leg, no filter": bare.vector_leg_unfiltered,
                "both legs at once (the floor)": bare.legs,
                "read 8 winners' columns by row id": bare.read_winners,
            },
            one,
        )
        stage_rows = [[name, _setup.pct(ms, 50), _setup.pct(ms, 95)] for name, ms in stages.items()]
        stage_load = load_average()
        ratios: list[list[object]] = []
        for name, label in (
            ("galaxyco", "hybrid, paired with the floor"),
            ("floor", "floor: bare LanceDB legs"),
            ("floor, direct", "floor, queries run as GalaxyCo runs them"),
        ):
            for scope in ("all", *SCOPES):
                picked = [i for i, q in enumerate(queries) if scope in ("all", q.scope)]
                ms = [pairs[name][i] for i in picked]
                rows.append(row(label if scope == "all" else "", scope, ms, [0] * len(ms), load))
        for scope in ("all", *SCOPES):
            picked = [i for i, q in enumerate(queries) if scope in ("all", q.scope)]
            ours = [pairs["galaxyco"][i] for i in picked]
            ratio: list[object] = [scope]
            for floor in ("floor", "floor, direct"):
                floor_ms = [pairs[floor][i] for i in picked]
                ratio += [
                    _setup.pct(ours, 50) / _setup.pct(floor_ms, 50),
                    _setup.pct(ours, 95) / _setup.pct(floor_ms, 95),
                ]
            ratios.append(ratio)

        table = lancedb.connect(root).open_table(table_name(target))
        reranker = RRFReranker()

        def native_hybrid(q: Query) -> Sequence[object]:
            search = table.search(query_type="hybrid").vector(q.vector).text(q.text).distance_type("l2")
            if q.collection_ids:
                search = search.where(
                    f"collection_id IN ({', '.join(repr(c) for c in q.collection_ids)})", prefilter=True
                )
            return search.rerank(reranker).limit(8).select(["chunk_id", "text"]).to_list()

        ms, hits = timed(native_hybrid, queries[:100])
        rows.append(row("hybrid via LanceDB RRFReranker (sync API)", "all", ms, hits, load_average()))

        recall: dict[str, list[float]] = {scope: [] for scope in SCOPES}
        for q in queries[:RECALL_QUERIES]:
            ann = index.search(
                target,
                q.text,
                collection_ids=q.collection_ids,
                query_vector=q.vector,
                mode="vector",
                limit=10,
            )
            exact = table.search(q.vector).distance_type("l2").bypass_vector_index()
            if q.collection_ids:
                exact = exact.where(
                    f"collection_id IN ({', '.join(repr(c) for c in q.collection_ids)})", prefilter=True
                )
            truth = {r["chunk_id"] for r in exact.limit(10).select(["chunk_id", "_distance"]).to_list()}
            recall[q.scope].append(len(truth & {h.row.chunk_id for h in ann}) / max(1, len(truth)))

        extra_texts, extra_vectors = make_chunks(corpus, rng, 1_000)
        fill(index, target, extra_texts, extra_vectors, collections)
        for mode in ("fts", "hybrid"):

            def search_unindexed(q: Query, mode: str = mode) -> Sequence[object]:
                return index.search(
                    target, q.text, collection_ids=q.collection_ids, query_vector=q.vector, mode=mode
                )  # type: ignore[arg-type]

            ms, hits = timed(search_unindexed, queries[:100])
            rows.append(row(f"{mode}, 1,000 rows added since optimize", "all", ms, hits, load_average()))
        report = index.optimize(target)
        rows.append(
            ["optimize after +1,000 rows", f"{report.seconds * 1000:.0f} ms", "", "", "", "", "", "", ""]
        )
        ms, hits = timed(
            lambda q: index.search(target, q.text, collection_ids=q.collection_ids, query_vector=q.vector),
            queries[:100],
        )
        rows.append(row("hybrid, after that optimize", "all", ms, hits, load_average()))

        print(
            f"\nP4 search latency, ms ({query_count} queries per mode, limit 8, one workspace of {total_rows:,} chunks)"
        )
        _setup.print_table(["mode", "scope", "n", "p50", "p95", "p99", "max", "hits", "load"], rows)
        print("\nGalaxyCo hybrid / floor (bare LanceDB legs), same run, paired query by query")
        _setup.print_table(
            ["scope", "p50 ratio", "p95 ratio", "p50 / direct floor", "p95 / direct floor"],
            [[r[0], *(f"{x:.2f}" for x in r[1:])] for r in ratios],
        )
        print(
            f"\nWhere a 1-collection hybrid search's time goes: bare LanceDB, paired, {len(one)} queries, "
            f"load {stage_load:.1f}"
        )
        _setup.print_table(["stage", "p50 ms", "p95 ms"], stage_rows)
        every = [r for some in recall.values() for r in some]
        shown = ", ".join(f"{scope} {sum(r) / len(r):.3f}" for scope, r in recall.items())
        print(
            f"\nvector recall@10 vs exact scan ({len(every)} queries): {sum(every) / len(every):.3f} ({shown})"
        )
        print("target: hybrid p95 <= 15 ms with one collection filter, recall@10 >= 0.9")
    finally:
        shutil.rmtree(_setup.DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="chunks in the target workspace")
    parser.add_argument("--queries", type=int, default=300, help="timed queries per mode")
    args = parser.parse_args()
    main(args.rows, args.queries)
