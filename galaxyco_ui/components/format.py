"""Numbers and sizes as people read them, formatted from state vars."""

from __future__ import annotations

import reflex as rx
from reflex.vars import FunctionStringVar, FunctionVar, StringVar

_HUMAN_SIZE: FunctionVar = FunctionStringVar.create(
    "(b) => b < 1024 ? b + ' B' : b < 1048576 ? (b / 1024).toFixed(1) + ' KB' : (b / 1048576).toFixed(1) + ' MB'"
)


def human_size(size: rx.Var) -> StringVar:
    """Bytes as "812 B", "14.2 KB" or "3.4 MB" (rendered in the browser)."""
    return _HUMAN_SIZE.call(size).to(str)


def plural(count: rx.Var, noun: str) -> StringVar:
    """ "1 document", "3 documents"."""
    return rx.cond(count == 1, "1 " + noun, count.to_string() + " " + noun + "s").to(str)
