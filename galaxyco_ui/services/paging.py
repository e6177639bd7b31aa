"""Keyset paging for lists shown newest first (runs, the audit log).

A page ends at a row; the next page starts strictly after it in the order
``(created_at DESC, id DESC)``. The cursor names that row by both keys, so rows that share
a timestamp are neither skipped nor shown twice (a timestamp alone would skip them), and
rows added meanwhile do not shift the pages as an offset would.

Cursors come back from the client: anything that is not a cursor this module made is a
``ValidationError`` on the ``cursor`` field, never a database error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement

from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services.validation import lookup_id

STALE_CURSOR = "That page link is not valid any more."


class PagedRow(Protocol):
    """A row that can be paged: it has a creation time and an id."""

    @property
    def created_at(self) -> datetime: ...
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=PagedRow)


def page_cursor(created_at: datetime, row_id: str) -> str:
    """The cursor of the page that continues after the row ``(created_at, row_id)``."""
    return f"{created_at.isoformat()}|{row_id}"


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    """The row ``(created_at, id)`` a cursor names.

    Raises:
        ValidationError: ``cursor`` is not one that ``page_cursor`` made.
    """
    created, _, last_id = cursor.partition("|")
    try:
        at = datetime.fromisoformat(created)
    except ValueError:
        raise ValidationError({"cursor": STALE_CURSOR}) from None
    checked_id = lookup_id(last_id)
    # The column only compares with aware datetimes; an id no row could have would only
    # reach the database to crash it (a NUL) or compare for nothing.
    if at.tzinfo is None or checked_id is None:
        raise ValidationError({"cursor": STALE_CURSOR})
    return at, checked_id


def older_than(cursor: str, created_at: Any, row_id: Any) -> ColumnElement[bool]:
    """A WHERE clause: the rows after ``cursor`` in ``(created_at DESC, id DESC)`` order.

    ``created_at`` and ``row_id`` are the table's columns (``col(Model.created_at)``).

    Raises:
        ValidationError: ``cursor`` is not one that ``page_cursor`` made.
    """
    at, checked_id = parse_cursor(cursor)
    # The leading ``created_at <= at`` says the same thing again in a form an index on
    # (..., created_at) can bound; without it PostgreSQL scans from the newest row down to
    # the page (tens of thousands of rows deep in a long history).
    clause: ColumnElement[bool] = (created_at <= at) & (
        (created_at < at) | ((created_at == at) & (row_id < checked_id))
    )
    return clause


def page_in_memory(rows: Sequence[T], cursor: str, limit: int) -> tuple[list[T], str]:
    """One page of an already loaded list (short lists: agents, collections, schedules).

    Rows need ``created_at`` and ``id``; the order and the cursors are those of the
    database pages, so clients page every list the same way. Returns the page and the
    cursor of the next one ("" when this is the last).
    """
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    if cursor:
        at, last_id = parse_cursor(cursor)
        ordered = [r for r in ordered if (r.created_at, r.id) < (at, last_id)]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, (page_cursor(page[-1].created_at, page[-1].id) if more and page else "")
