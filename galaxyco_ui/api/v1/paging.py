"""Cursor pagination, the same on every list: ``?limit=`` (1 to 200) and ``?cursor=``.

A page answers ``{"items": [...], "next_cursor": "…"}``; ``next_cursor`` is null on the
last page. Cursors are opaque: pass back what the previous page gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from galaxyco_ui.services.paging import PagedRow, page_in_memory

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1 to 200).")]
Cursor = Annotated[
    str, Query(max_length=200, description="The `next_cursor` of the previous page; empty for the first.")
]

T = TypeVar("T")
R = TypeVar("R", bound=PagedRow)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def page(items: Sequence[T], next_cursor: str) -> Page[T]:
    return Page[T](items=list(items), next_cursor=next_cursor or None)


def page_of(rows: Sequence[R], cursor: str, limit: int) -> Page[R]:
    """A page of a short list that the service returns whole (newest first)."""
    items, next_cursor = page_in_memory(rows, cursor, limit)
    return page(items, next_cursor)
