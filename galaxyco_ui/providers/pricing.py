"""What a model turn cost, from the list prices in ``prices.json``.

Each price there records its ``source`` (the vendor's page) and ``checked`` (the day it was
read there, or ``"unverified"``); ``ModelPrice`` carries both, so a price can say where it
comes from. Only ``input`` and ``output`` take part in comparisons and costs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

from galaxyco_ui.providers.base import Usage

_PRICES_FILE = Path(__file__).with_name("prices.json")
_PER_TOKENS = Decimal(1_000_000)
# What may follow a known name in a longer model id: a dated snapshot ("-2025-04-14",
# "-20250929"), a numbered version ("-001"), "-latest", then an Ollama tag (":8b") or a
# Vertex version ("@20250929"). Nothing else: "claude-opus-4-8" is not "claude-opus-4",
# nor "o3-pro" "o3" (a variant priced like its family's base would be a wrong price).
_SNAPSHOT = re.compile(r"(?:-\d{4}-?\d{2}-?\d{2}|-\d{3}|-latest)?(?:[:@].+)?")


UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million input and output tokens, with where and when the price was read.

    ``checked`` is an ISO date, or ``"unverified"`` when the price could not be read on
    the vendor's page (see ``prices.json``); ``source`` is that page ("" for free models).
    """

    input: Decimal
    output: Decimal
    source: str = field(default="", compare=False)
    checked: str = field(default="", compare=False)

    @property
    def verified(self) -> bool:
        """Whether the price was read on the vendor's own page (free models count as read)."""
        return self.checked != UNVERIFIED


@cache
def price_table() -> dict[str, dict[str, ModelPrice]]:
    """Load ``prices.json`` once: provider → model prefix → price."""
    raw = json.loads(_PRICES_FILE.read_text(encoding="utf-8"), parse_float=Decimal)
    table: dict[str, dict[str, ModelPrice]] = {}
    for provider, models in raw["providers"].items():
        entries = table.setdefault(provider, {})
        for model, spec in models.items():
            source, checked = str(spec.get("source", "")), str(spec.get("checked", ""))
            if spec.get("free") is True:
                entries[model] = ModelPrice(Decimal(0), Decimal(0), source, checked)
            elif "input" in spec and "output" in spec:
                entries[model] = ModelPrice(Decimal(spec["input"]), Decimal(spec["output"]), source, checked)
    return table


def price_for(provider: str, model: str) -> ModelPrice | None:
    """The price of ``model`` at ``provider``: the longest known name that prefixes it.

    A known name matches the model itself or a snapshot of it (``_SNAPSHOT``:
    ``gpt-4.1-mini-2025-04-14`` → ``gpt-4.1-mini``; ``llama3.1:8b`` → ``llama3.1``).
    Returns ``None`` when nothing matches: an unlisted variant has an unknown cost.
    """
    models = price_table().get(provider, {})
    name = model.strip().lower().removeprefix("models/")
    best: str | None = None
    for known in models:
        if (
            name.startswith(known)
            and _SNAPSHOT.fullmatch(name[len(known) :])
            and (best is None or len(known) > len(best))
        ):
            best = known
    return models[best] if best is not None else None


def cost_usd(provider: str, model: str, usage: Usage) -> Decimal | None:
    """Cost of one turn in USD, or ``None`` when the model's price is unknown (never 0 for unknown)."""
    price = price_for(provider, model)
    if price is None:
        return None
    return (price.input * usage.input_tokens + price.output * usage.output_tokens) / _PER_TOKENS
