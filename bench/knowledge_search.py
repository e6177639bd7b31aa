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
each (default 300) after 20 warm-up queries. Also: hybrid through LanceDB's own
``RRFReranker`` (sync API), vector recall@10 against an exact scan, and the cost of 1,000
rows added after the last ``optimize`` (unindexed rows are scanned).

Target: hybrid p95 ≤ 15 ms.

    .venv/bin/python -m bench.knowledge_search [--rows 100000] [--queries 300]   # ~4 min
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


def row(label: str, scope: str, ms: list[float], hits: list[int]) -> list[object]:
    p = _setup.pct
    return [label, scope, len(ms), p(ms, 50), p(ms, 95), p(ms, 99), max(ms), sum(hits) / len(hits)]


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
        results: dict[str, tuple[list[float], list[int]]] = {}
        for mode in modes:

            def search(q: Query, mode: str = mode) -> Sequence[object]:
                return index.search(
                    target, q.text, collection_ids=q.collection_ids, query_vector=q.vector, mode=mode
                )  # type: ignore[arg-type]

            results[mode] = timed(search, queries)
        for mode in modes:
            ms, hits = results[mode]
            rows.append(row(mode, "all", ms, hits))
            for scope in ("workspace", "1 collection", "3 collections"):
                picked = [i for i, q in enumerate(queries) if q.scope == scope]
                rows.append(row("", scope, [ms[i] for i in picked], [hits[i] for i in picked]))

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
        rows.append(row("hybrid via LanceDB RRFReranker (sync API)", "all", ms, hits))

        recall = []
        for q in queries[:50]:
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
            recall.append(len(truth & {h.row.chunk_id for h in ann}) / max(1, len(truth)))

        extra_texts, extra_vectors = make_chunks(corpus, rng, 1_000)
        fill(index, target, extra_texts, extra_vectors, collections)
        for mode in ("fts", "hybrid"):

            def search_unindexed(q: Query, mode: str = mode) -> Sequence[object]:
                return index.search(
                    target, q.text, collection_ids=q.collection_ids, query_vector=q.vector, mode=mode
                )  # type: ignore[arg-type]

            ms, hits = timed(search_unindexed, queries[:100])
            rows.append(row(f"{mode}, 1,000 rows added since optimize", "all", ms, hits))
        report = index.optimize(target)
        rows.append(["optimize after +1,000 rows", f"{report.seconds * 1000:.0f} ms", "", "", "", "", "", ""])
        ms, hits = timed(
            lambda q: index.search(target, q.text, collection_ids=q.collection_ids, query_vector=q.vector),
            queries[:100],
        )
        rows.append(row("hybrid, after that optimize", "all", ms, hits))

        print(
            f"\nP4 search latency, ms ({query_count} queries per mode, limit 8, one workspace of {total_rows:,} chunks)"
        )
        _setup.print_table(["mode", "scope", "n", "p50", "p95", "p99", "max", "hits"], rows)
        print(f"vector recall@10 vs exact scan (50 queries): {sum(recall) / len(recall):.3f}")
        print("target: hybrid p95 <= 15 ms")
    finally:
        shutil.rmtree(_setup.DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="chunks in the target workspace")
    parser.add_argument("--queries", type=int, default=300, help="timed queries per mode")
    args = parser.parse_args()
    main(args.rows, args.queries)
