"""Can this server reach the providers? A periodic, keyless check for Settings → Providers.

Every ``PROVIDER_REACHABILITY_CHECK_SECONDS`` (300; ``0`` turns it off) one process
checks each distinct base URL in use: a workspace's own base URL, or the vendor's
default (``DEFAULT_BASE_URLS``) for a workspace that keeps it. Each URL is checked once
per pass however many workspaces use it, and without any key: a vendor call with every
workspace's key would spend their quota, show in their vendor logs and time their keys.

The check is one ``HEAD`` of the base URL through ``providers.http.VettedTransport``,
the path the SDKs take: the address policy applies (a base URL that became private is
refused, and says so), the connection goes to the vetted address, TLS is verified. Any
HTTP answer, even 401 or 404, means reachable: the server answered. No answer within
``PROBE_TIMEOUT_SECONDS``, a refused connection, a failed DNS lookup or TLS handshake
means unreachable, with the reason.

Results are cached with the time of the check: in Redis (one hash, replaced by each pass,
read by every app process; the pass runs in one worker at a time under a lock) or in
this process (the embedded mode, where the app runs the pass). Settings → Providers reads
the cache (``cached_reachability``); nothing else triggers a check, least of all a
health call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx2
from sqlmodel import col, select

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.infra.redis import get_async_redis, get_redis
from galaxyco_ui.models import ProviderKey, Workspace, utcnow
from galaxyco_ui.providers.base import ProviderAddressError
from galaxyco_ui.providers.http import VettedTransport

log = logging.getLogger("galaxyco.providers.reachability")

# Where each SDK connects when the workspace leaves the base URL empty.
DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com",
}
PROBE_TIMEOUT_SECONDS = 5.0
PROBES_AT_ONCE = 8
CACHE_KEY = "galaxyco:provider-reachability"
LOCK_KEY = "galaxyco:provider-reachability:lock"

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]  # netguard's fake-DNS seam, for tests

_memory_cache: dict[str, Reachability] = {}


@dataclass(frozen=True, slots=True)
class Reachability:
    """The outcome of one check of one base URL.

    Attributes:
        ok: the server answered (any HTTP status).
        error: why it could not be reached ("" when it could).
        checked_at: when the check ran (UTC).
    """

    ok: bool
    error: str
    checked_at: datetime

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "error": self.error, "checked_at": self.checked_at.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> Reachability:
        data = json.loads(text)
        return cls(
            ok=bool(data["ok"]),
            error=str(data["error"]),
            checked_at=datetime.fromisoformat(data["checked_at"]),
        )


def effective_base_url(provider: str, base_url: str | None) -> str:
    """The URL a provider's SDK connects to: the workspace's base URL or the vendor's default ("" if none)."""
    return (base_url or "").rstrip("/") or DEFAULT_BASE_URLS.get(provider, "")


def base_urls_in_use() -> list[str]:
    """Each distinct base URL some live workspace's provider settings point at, sorted."""
    with session_scope() as session:
        rows = session.exec(
            select(ProviderKey.provider, ProviderKey.base_url)
            .join(Workspace, col(Workspace.id) == ProviderKey.workspace_id)
            .where(col(Workspace.deleted_at).is_(None))
            .distinct()
        ).all()
    return sorted({url for provider, base_url in rows if (url := effective_base_url(provider, base_url))})


async def probe(url: str, *, resolver: Resolver | None = None) -> Reachability:
    """``HEAD url`` through the vetted transport, without credentials; never raises."""
    client = httpx2.AsyncClient(
        transport=VettedTransport(resolver=resolver),
        timeout=PROBE_TIMEOUT_SECONDS,
        follow_redirects=False,
        trust_env=False,
    )
    error = ""
    try:
        await client.head(url)
    except ProviderAddressError as refused:
        error = refused.message
    except httpx2.TimeoutException:
        error = f"no answer within {PROBE_TIMEOUT_SECONDS:g} seconds"
    except httpx2.ConnectError as failed:
        error = _connect_failure(failed)
    except httpx2.HTTPError as failed:
        error = f"the connection failed ({type(failed).__name__})"
    finally:
        await client.aclose()
    return Reachability(ok=not error, error=error, checked_at=utcnow())


def _connect_failure(failed: httpx2.ConnectError) -> str:
    cause: BaseException | None = failed
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its TLS certificate was not accepted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused"
        cause = cause.__cause__ or cause.__context__
    text = str(failed).lower()
    if "refused" in text:
        return "the connection was refused"
    if "certificate" in text:
        return "its TLS certificate was not accepted"
    return "the connection failed"


async def check_base_urls(*, resolver: Resolver | None = None) -> dict[str, Reachability]:
    """Check every base URL in use and replace the cache with the results.

    Returns:
        The result per URL (the URLs no longer in use leave the cache).
    """
    urls = await asyncio.to_thread(base_urls_in_use)
    limit = asyncio.Semaphore(PROBES_AT_ONCE)

    async def one(url: str) -> Reachability:
        async with limit:
            return await probe(url, resolver=resolver)

    results = dict(zip(urls, await asyncio.gather(*(one(url) for url in urls)), strict=True))
    await _store(results)
    unreachable = sorted(url for url, result in results.items() if not result.ok)
    log.info("provider reachability checked", extra={"urls": len(urls), "unreachable": len(unreachable)})
    return results


async def _store(results: dict[str, Reachability]) -> None:
    redis = get_async_redis()
    if redis is None:
        _memory_cache.clear()
        _memory_cache.update(results)
        return
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(CACHE_KEY)
        if results:
            pipe.hset(CACHE_KEY, mapping={url: result.to_json() for url, result in results.items()})
        await pipe.execute()


def cached_reachability(urls: list[str]) -> dict[str, Reachability]:
    """The last check's results for ``urls`` (those never checked are missing). No network
    call but one Redis read (``HMGET``) when Redis is configured."""
    wanted = [url for url in dict.fromkeys(urls) if url]
    if not wanted:
        return {}
    redis = get_redis()
    if redis is None:
        return {url: _memory_cache[url] for url in wanted if url in _memory_cache}
    values: list[str | None] = redis.hmget(CACHE_KEY, wanted)  # type: ignore[assignment]  # the sync client returns a list
    return {
        url: Reachability.from_json(str(value)) for url, value in zip(wanted, values, strict=True) if value
    }


def reset_reachability_cache() -> None:
    """Forget the in-process results (tests)."""
    _memory_cache.clear()


async def reachability_loop() -> None:
    """Check the base URLs in use every ``PROVIDER_REACHABILITY_CHECK_SECONDS``, forever.

    With Redis, whichever process takes the lock for the interval does the pass, so a
    fleet of workers checks each URL once per interval. Off when the interval is 0.
    """
    interval = get_settings().provider_reachability_check_seconds
    if interval <= 0:
        return
    while True:
        try:
            redis = get_async_redis()
            if redis is None or await redis.set(LOCK_KEY, "1", nx=True, ex=max(interval - 1, 1)):
                await check_base_urls()
        except Exception:
            log.exception("provider reachability check failed")
        await asyncio.sleep(interval)
