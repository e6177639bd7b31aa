"""The model providers GalaxyCo speaks to, and suggested models for each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    key: str
    label: str
    suggested_models: tuple[str, ...]


PROVIDERS: tuple[ProviderInfo, ...] = (
    ProviderInfo("openai", "OpenAI", ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o4-mini")),
    ProviderInfo("anthropic", "Anthropic", ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")),
    ProviderInfo("google", "Google", ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")),
    ProviderInfo("openai_compatible", "OpenAI-compatible", ("llama3.1", "qwen2.5", "mistral")),
)

PROVIDER_KEYS: frozenset[str] = frozenset(p.key for p in PROVIDERS)
PROVIDER_LABELS: dict[str, str] = {p.key: p.label for p in PROVIDERS}
