"""cost_usd: list prices by longest known model prefix; unknown is None, never 0."""

from __future__ import annotations

from decimal import Decimal

import pytest

from galaxyco_ui.providers.base import ProviderBadRequestError, ProviderConfig, Usage
from galaxyco_ui.providers.catalog import PROVIDERS
from galaxyco_ui.providers.factory import make_provider
from galaxyco_ui.providers.pricing import cost_usd, price_for

MILLION = Usage(1_000_000, 1_000_000)


def test_known_model_costs_its_list_price() -> None:
    assert cost_usd("openai", "gpt-4.1-mini", Usage(1_000_000, 500_000)) == Decimal("0.40") + Decimal("0.80")
    assert cost_usd("anthropic", "claude-sonnet-4-5", Usage(2000, 1000)) == Decimal("0.021")


def test_dated_snapshot_matches_the_longest_known_prefix() -> None:
    assert cost_usd("openai", "gpt-4.1-mini-2025-04-14", MILLION) == Decimal("2.00")  # not gpt-4.1's 10.00
    assert cost_usd("anthropic", "claude-sonnet-4-5-20250929", MILLION) == Decimal("18.00")
    assert price_for("google", "models/gemini-2.5-flash-lite") == price_for("google", "gemini-2.5-flash-lite")


def test_a_prefix_only_matches_at_a_name_boundary() -> None:
    assert price_for("openai", "gpt-4.10") is None
    assert price_for("openai", "o3") != price_for("openai", "o4-mini")


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-9-ultra"),
        ("openai_compatible", "some-hosted-model"),
        ("nope", "gpt-4.1"),
        ("google", ""),
    ],
)
def test_unknown_model_cost_is_none_never_zero(provider: str, model: str) -> None:
    assert cost_usd(provider, model, MILLION) is None


def test_compatible_models_marked_free_cost_zero() -> None:
    assert cost_usd("openai_compatible", "llama3.1:8b", MILLION) == Decimal(0)


def test_every_suggested_model_has_a_price() -> None:
    for info in PROVIDERS:
        for model in info.suggested_models:
            assert price_for(info.key, model) is not None, (info.key, model)


def test_factory_refuses_unknown_providers_and_compatible_without_base_url() -> None:
    with pytest.raises(ProviderBadRequestError, match="Unknown provider"):
        make_provider(ProviderConfig("acme", "k"))
    with pytest.raises(ProviderBadRequestError, match="needs a base URL"):
        make_provider(ProviderConfig("openai_compatible", "k"))
