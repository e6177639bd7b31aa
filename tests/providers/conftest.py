"""Provider tests: the real vendor SDKs against the local provider emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from galaxyco_ui.devtools.emulator import Emulator
from galaxyco_ui.providers.base import ChatProvider, ChatRequest, ProviderConfig, StreamEvent
from galaxyco_ui.providers.factory import make_provider

KINDS = ("openai", "openai_compatible", "anthropic", "google")
MODELS = {
    "openai": "gpt-4.1-mini",
    "openai_compatible": "llama3.1",
    "anthropic": "claude-haiku-4-5",
    "google": "gemini-2.5-flash",
}


# The ``emulator`` fixture comes from tests/emulator.py (a plugin of tests/conftest.py).


def base_url(emulator: Emulator, kind: str) -> str:
    if kind in ("openai", "openai_compatible"):
        return emulator.openai_base_url
    return emulator.anthropic_base_url if kind == "anthropic" else emulator.google_base_url


ProviderFactory = Callable[..., ChatProvider]


@pytest.fixture
async def make(emulator: Emulator) -> AsyncIterator[ProviderFactory]:
    """Build providers pointed at the emulator; all are closed after the test."""
    made: list[ChatProvider] = []

    def factory(kind: str, *, api_key: str = "sk-test-key-1234", timeout: float = 10.0) -> ChatProvider:
        config = ProviderConfig(kind, api_key, base_url=base_url(emulator, kind), timeout_seconds=timeout)
        provider = make_provider(config)
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


async def collect(provider: ChatProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]
