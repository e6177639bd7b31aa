"""Data tables: a header row of column names and one row per item of a list var."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx


def data_table(
    columns: list[str],
    items: rx.Var,
    row: Callable[[Any], rx.Component],
    **props: Any,
) -> rx.Component:
    """A table over ``items``; an empty column name becomes a screen-reader-only "Actions"."""
    header = rx.table.row(
        *[
            rx.table.column_header_cell(name if name else rx.text("Actions", class_name="gx-sr-only"))
            for name in columns
        ]
    )
    return rx.table.root(
        rx.table.header(header),
        rx.table.body(rx.foreach(items, row)),
        width="100%",
        **props,
    )
