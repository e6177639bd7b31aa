"""The model providers GalaxyCo speaks to, and suggested models for each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    key: str
    label: str
    suggested_models: tuple[str, ...]


# The first model of each provider is the one "Test connection" calls (services.provider_keys);
# every suggestion has a price in prices.json (tests/providers/test_pricing.py checks it).
# Claude Opus 4.1 left the list when Anthropic retired it from its own API.
PROVIDERS: tuple[ProviderInfo, ...] = (
    ProviderInfo(
        "openai",
        "OpenAI",
        ("gpt-4.1", "gpt-4.1-mini", "gpt-6.2-sol", "gpt-6-luna", "gpt-4o", "gpt-4o-mini", "o4-mini"),
    ),
    ProviderInfo(
        "anthropic",
        "Anthropic",
        (
            "claude-sonnet-4-5",
            "claude-sonnet-5-5",
            "claude-opus-5-5",
            "claude-haiku-5-5",
            "claude-opus-4-6",
            "claude-haiku-4-5",
        ),
    ),
    ProviderInfo(
        "google",
        "Google",
        (
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-3.5-flash",
            "gemini-3.1-pro-preview",
            "gemini-3-flash-preview",
            "gemini-3.1-flash-lite",
        ),
    ),
    ProviderInfo("openai_compatible", "OpenAI-compatible", ("llama3.1", "qwen2.5", "mistral")),
)

PROVIDER_KEYS: frozenset[str] = frozenset(p.key for p in PROVIDERS)
PROVIDER_LABELS: dict[str, str] = {p.key: p.label for p in PROVIDERS}
