"""What a model turn cost, from the list prices in ``prices.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from galaxyco_ui.providers.base import Usage

_PRICES_FILE = Path(__file__).with_name("prices.json")
_PER_TOKENS = Decimal(1_000_000)
# What may follow a known name in a longer model id: a date or variant ("-2025-04-14"),
# an Ollama tag (":8b"), a Vertex version ("@20250929").
_SEPARATORS = ("-", ":", "@")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million input and output tokens."""

    input: Decimal
    output: Decimal


@cache
def price_table() -> dict[str, dict[str, ModelPrice]]:
    """Load ``prices.json`` once: provider → model prefix → price."""
    raw = json.loads(_PRICES_FILE.read_text(encoding="utf-8"), parse_float=Decimal)
    table: dict[str, dict[str, ModelPrice]] = {}
    for provider, models in raw["providers"].items():
        entries = table.setdefault(provider, {})
        for model, spec in models.items():
            if spec.get("free") is True:
                entries[model] = ModelPrice(Decimal(0), Decimal(0))
            elif "input" in spec and "output" in spec:
                entries[model] = ModelPrice(Decimal(spec["input"]), Decimal(spec["output"]))
    return table


def price_for(provider: str, model: str) -> ModelPrice | None:
    """The price of ``model`` at ``provider``: the longest known name that prefixes it.

    A known name matches the model itself or the model followed by ``-``, ``:`` or ``@``
    (``gpt-4.1-mini-2025-04-14`` → ``gpt-4.1-mini``; ``llama3.1:8b`` → ``llama3.1``).
    Returns ``None`` when nothing matches.
    """
    models = price_table().get(provider, {})
    name = model.strip().lower().removeprefix("models/")
    best: str | None = None
    for known in models:
        if (name == known or (name.startswith(known) and name[len(known)] in _SEPARATORS)) and (
            best is None or len(known) > len(best)
        ):
            best = known
    return models[best] if best is not None else None


def cost_usd(provider: str, model: str, usage: Usage) -> Decimal | None:
    """Cost of one turn in USD, or ``None`` when the model's price is unknown (never 0 for unknown)."""
    price = price_for(provider, model)
    if price is None:
        return None
    return (price.input * usage.input_tokens + price.output * usage.output_tokens) / _PER_TOKENS
