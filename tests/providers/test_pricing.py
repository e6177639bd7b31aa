"""cost_usd: list prices by longest known model prefix; unknown is None, never 0."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from galaxyco_ui.providers.base import ProviderBadRequestError, ProviderConfig, Usage
from galaxyco_ui.providers.catalog import PROVIDERS
from galaxyco_ui.providers.factory import make_provider
from galaxyco_ui.providers.pricing import UNVERIFIED, cost_usd, price_for, price_table

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
    ("provider", "model", "priced_as"),
    [
        ("openai", "o3-2025-04-16", "o3"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("anthropic", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("google", "gemini-2.5-flash-001", "gemini-2.5-flash"),
    ],
)
def test_snapshots_take_their_base_models_price(provider: str, model: str, priced_as: str) -> None:
    assert price_for(provider, model) == price_table()[provider][priced_as]


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "o3-pro"),  # ten times o3's price: a variant is not its family's base
        ("openai", "gpt-6-sol-pro"),
        ("anthropic", "claude-opus-4-9"),  # a new minor version is not Opus 4's $15/$75
        ("google", "gemini-3.5-flash-image"),
    ],
)
def test_an_unlisted_variant_has_no_price(provider: str, model: str) -> None:
    assert price_for(provider, model) is None


def test_newer_minor_versions_get_their_own_price_not_their_familys() -> None:
    opus_4 = price_for("anthropic", "claude-opus-4")
    assert opus_4 is not None and (opus_4.input, opus_4.output) == (Decimal(15), Decimal(75))
    for model in ("claude-opus-4-5", "claude-opus-4-7", "claude-opus-4-8", "claude-opus-5"):
        price = price_for("anthropic", model)
        assert price is not None and (price.input, price.output) == (Decimal(5), Decimal(25)), model
    assert cost_usd("anthropic", "claude-opus-5-5", MILLION) == Decimal(24)
    assert cost_usd("anthropic", "claude-sonnet-5-5", MILLION) == Decimal(12)


def test_current_models_are_priced() -> None:
    assert cost_usd("openai", "gpt-6.2-sol", MILLION) == Decimal(12)
    assert cost_usd("openai", "gpt-6-luna", MILLION) == Decimal("0.60")
    assert cost_usd("google", "gemini-3.1-pro-preview", MILLION) == Decimal(14)
    assert cost_usd("google", "gemini-3-flash-preview", Usage(2_000_000, 1_000_000)) == Decimal(4)


PRICES = json.loads(Path(__file__).parents[2].joinpath("galaxyco_ui/providers/prices.json").read_text())


def test_every_price_says_where_and_when_it_was_read() -> None:
    for provider, models in PRICES["providers"].items():
        for model, spec in models.items():
            if spec.get("free") is True:
                continue
            assert re.fullmatch(r"https://[a-z.]+/\S+", spec["source"]), (provider, model)
            assert spec["checked"] in (PRICES["checked"], UNVERIFIED), (provider, model)
            price = price_for(provider, model)
            assert price is not None and price.source == spec["source"]
            assert price.verified == (spec["checked"] != UNVERIFIED)


def test_unverified_prices_are_named_in_the_files_list() -> None:
    named = " ".join(PRICES["unverified"])
    for provider, models in PRICES["providers"].items():
        unverified = [m for m, spec in models.items() if spec.get("checked") == UNVERIFIED]
        for model in unverified:
            assert f"{provider}: every entry" in named or re.search(rf"\b{re.escape(model)}\b", named), model


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
