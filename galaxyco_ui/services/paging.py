"""Keyset paging for lists shown newest first (runs, the audit log).

A page ends at a row; the next page starts strictly after it in the order
``(created_at DESC, id DESC)``. The cursor names that row by both keys, so rows that share
a timestamp are neither skipped nor shown twice (a timestamp alone would skip them), and
rows added meanwhile do not shift the pages as an offset would.

Cursors come back from the client: anything that is not a cursor this module made is a
``ValidationError`` on the ``cursor`` field, never a database error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement

from galaxyco_ui.errors import ValidationError
from galaxyco_ui.services.validation import lookup_id

STALE_CURSOR = "That page link is not valid any more."


def page_cursor(created_at: datetime, row_id: str) -> str:
    """The cursor of the page that continues after the row ``(created_at, row_id)``."""
    return f"{created_at.isoformat()}|{row_id}"


def older_than(cursor: str, created_at: Any, row_id: Any) -> ColumnElement[bool]:
    """A WHERE clause: the rows after ``cursor`` in ``(created_at DESC, id DESC)`` order.

    ``created_at`` and ``row_id`` are the table's columns (``col(Model.created_at)``).

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
    clause: ColumnElement[bool] = (created_at < at) | ((created_at == at) & (row_id < checked_id))
    return clause
