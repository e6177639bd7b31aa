"""Pick the adapter for a provider config."""

from __future__ import annotations

from galaxyco_ui.providers.base import ChatProvider, ProviderBadRequestError, ProviderConfig
from galaxyco_ui.providers.catalog import PROVIDER_KEYS


def make_provider(config: ProviderConfig) -> ChatProvider:
    """Build the ``ChatProvider`` for ``config.provider``.

    The SDKs are imported lazily, so a deployment that uses one vendor does not pay for
    importing the others. The caller owns the result and must ``await aclose()`` it.

    Raises:
        ProviderBadRequestError: unknown provider key, or a config the adapter refuses
            (e.g. an OpenAI-compatible provider without a base URL).
    """
    kind = config.provider
    if kind in ("openai", "openai_compatible"):
        from galaxyco_ui.providers.openai_chat import OpenAIChat

        return OpenAIChat(config)
    if kind == "anthropic":
        from galaxyco_ui.providers.anthropic_chat import AnthropicChat

        return AnthropicChat(config)
    if kind == "google":
        from galaxyco_ui.providers.google_chat import GoogleChat

        return GoogleChat(config)
    known = ", ".join(sorted(PROVIDER_KEYS))
    raise ProviderBadRequestError(f"Unknown provider {kind!r} (expected one of: {known}).", provider=kind)
