"""Provider reachability: a periodic, keyless ``HEAD`` of each distinct base URL in use,
through the vetted transport, cached (Redis or this process) and shown by Settings →
Providers from the cache."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from galaxyco_ui.config import get_settings, reset_settings
from galaxyco_ui.infra.redis import get_async_redis
from galaxyco_ui.models import Workspace, utcnow
from galaxyco_ui.providers import reachability
from galaxyco_ui.providers.reachability import (
    LOCK_KEY,
    base_urls_in_use,
    cached_reachability,
    check_base_urls,
    probe,
    reachability_loop,
)
from galaxyco_ui.services import provider_keys
from tests.factories import set_columns

CLOSED = "http://127.0.0.1:9/v1"  # the discard port: listed in the test settings, nothing listens


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]] = []  # (method, path, Authorization header)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        self.send_response(404)  # any answer means the server is reachable
        self.end_headers()

    do_GET = do_HEAD  # noqa: N815

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server(allow_provider_hosts) -> Iterator[str]:
    """A local HTTP server that records requests; yields its base URL (``…/v1``), allowed
    like an operator allows a local Ollama."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    allow_provider_hosts("127.0.0.1:9", f"127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    reachability.reset_reachability_cache()
    yield
    reachability.reset_reachability_cache()


def use(ctx, base_url: str, *, api_key: str = "", provider: str = "openai_compatible") -> None:
    provider_keys.set_provider_key(ctx=ctx, provider=provider, api_key=api_key, base_url=base_url)


async def test_a_server_that_answers_is_reachable_and_gets_a_head_without_credentials(server: str) -> None:
    result = await probe(server)

    assert result.ok and result.error == ""
    assert _Recorder.seen == [("HEAD", "/v1", "")]


async def test_a_closed_port_is_unreachable_with_the_reason() -> None:
    result = await probe(CLOSED)

    assert not result.ok
    assert result.error == "the connection was refused"


async def test_an_address_the_policy_refuses_is_unreachable_and_says_why(allow_provider_hosts) -> None:
    allow_provider_hosts()  # the operator took the local server off the list since it was saved

    result = await probe(CLOSED)

    assert not result.ok
    assert "127.0.0.1 is a loopback address" in result.error
    assert "ALLOWED_PRIVATE_PROVIDER_HOSTS=127.0.0.1:9" in result.error


def test_the_urls_in_use_are_each_workspaces_base_url_or_the_vendor_default_once(
    team, other_team, server: str
) -> None:
    use(team.admin, server)
    use(other_team.admin, server)  # the same URL in two workspaces: checked once
    use(team.admin, "", api_key="sk-live-0000000000000000-1234", provider="anthropic")
    use(other_team.admin, CLOSED)
    set_columns(Workspace, other_team.workspace_id, deleted_at=utcnow())

    assert base_urls_in_use() == [server, "https://api.anthropic.com"]


async def test_a_pass_checks_each_url_once_and_settings_shows_the_cached_result(
    team, other_team, server
) -> None:
    use(team.admin, server)
    use(other_team.admin, server)
    use(other_team.owner, CLOSED, provider="openai", api_key="sk-live-0000000000000000-1234")

    results = await check_base_urls()

    assert {url: r.ok for url, r in results.items()} == {server: True, CLOSED: False}
    assert len(_Recorder.seen) == 1  # one request for two workspaces
    ours = {p.provider: p for p in provider_keys.list_provider_keys(ctx=team.viewer)}
    assert ours["openai_compatible"].reachable is True
    assert ours["openai_compatible"].reachability_error == ""
    assert ours["openai_compatible"].reachability_checked_at == results[server].checked_at
    assert ours["openai"].reachability_checked_at is None  # not configured here
    theirs = {p.provider: p for p in provider_keys.list_provider_keys(ctx=other_team.member)}
    assert theirs["openai"].reachable is False
    assert theirs["openai"].reachability_error == "the connection was refused"
    assert theirs["openai_compatible"].reachable is True
    # Reading the Settings view (many times) never connects: it reads the cache.
    for _ in range(3):
        provider_keys.list_provider_keys(ctx=team.admin)
    assert len(_Recorder.seen) == 1


async def test_a_url_no_longer_in_use_leaves_the_cache_and_a_changed_one_shows_unchecked(
    team, server
) -> None:
    use(team.admin, server)
    await check_base_urls()
    use(team.admin, CLOSED)  # the admin moves the provider elsewhere

    view = {p.provider: p for p in provider_keys.list_provider_keys(ctx=team.admin)}["openai_compatible"]
    assert view.reachability_checked_at is None  # the new URL was not checked yet

    await check_base_urls()

    assert cached_reachability([server]) == {}
    view = {p.provider: p for p in provider_keys.list_provider_keys(ctx=team.admin)}["openai_compatible"]
    assert view.reachable is False and view.reachability_checked_at is not None


async def test_the_test_button_keeps_the_rows_reachability(team, server) -> None:
    use(team.admin, server)
    await check_base_urls()

    view = await provider_keys.check_provider_key(
        ctx=team.admin, provider="openai_compatible", model="llama3.1"
    )

    assert view.last_tested_at is not None
    assert view.reachable is True and view.reachability_checked_at is not None


async def test_the_loop_checks_at_once_then_every_interval_and_one_process_per_interval(
    team, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(team.admin, server)
    monkeypatch.setenv("PROVIDER_REACHABILITY_CHECK_SECONDS", "3600")
    reset_settings()
    redis = get_async_redis()
    if redis is not None:  # another worker holds this interval's lock: this one does no pass
        await redis.set(LOCK_KEY, "1", ex=3600)
        blocked = asyncio.create_task(reachability_loop())
        await asyncio.sleep(0.3)
        blocked.cancel()
        assert _Recorder.seen == [] and cached_reachability([server]) == {}
        await redis.delete(LOCK_KEY)

    looping = asyncio.create_task(reachability_loop())
    try:
        for _ in range(100):
            if cached_reachability([server]):
                break
            await asyncio.sleep(0.05)
        assert cached_reachability([server])[server].ok
        assert len(_Recorder.seen) == 1  # and not again before the interval ends
    finally:
        looping.cancel()


async def test_the_check_is_off_when_the_interval_is_zero(
    team, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(team.admin, server)
    monkeypatch.setenv("PROVIDER_REACHABILITY_CHECK_SECONDS", "0")
    reset_settings()
    assert get_settings().provider_reachability_check_seconds == 0

    await asyncio.wait_for(reachability_loop(), timeout=1)  # returns at once

    assert _Recorder.seen == []
