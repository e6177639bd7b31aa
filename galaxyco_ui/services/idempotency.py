"""Remembered answers for ``Idempotency-Key`` (the API's create POSTs), 24 hours per key.

``claim`` records that a key is being served, or hands back what it answered before;
``store`` saves the answer; ``release`` forgets a key whose request failed, so the
corrected request may use it. The HTTP side is ``api/v1/idempotency.py``. Answers older
than a day are ignored at once and deleted by ``purge_expired``, which ``claim`` runs at
most once an hour per process (no timer to keep).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from galaxyco_ui.auth.permissions import TenantContext
from galaxyco_ui.errors import ConflictError
from galaxyco_ui.infra.db import session_scope
from galaxyco_ui.models import IdempotencyRecord, utcnow

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)
_BUSY = "A request with this Idempotency-Key is still being served; retry shortly."
PURGE_EVERY_SECONDS = 3600.0
_purge_lock = threading.Lock()
_last_purge = 0.0


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    body: str


def claim(ctx: TenantContext, api_key_id: str, key: str, request_hash: str) -> StoredAnswer | None:
    """None when the caller should serve the request now (the key is now taken).

    Raises:
        ConflictError: the key was used with another request, or its first request is
            still being served.
    """
    _purge_now_and_then()
    with session_scope() as session:
        existing = session.exec(
            select(IdempotencyRecord).where(
                col(IdempotencyRecord.api_key_id) == api_key_id, col(IdempotencyRecord.key) == key
            )
        ).first()
        if existing is not None and existing.created_at < utcnow() - KEEP:
            session.delete(existing)
            session.flush()
            existing = None
        if existing is None:
            session.add(
                IdempotencyRecord(
                    workspace_id=ctx.workspace_id, api_key_id=api_key_id, key=key, request_hash=request_hash
                )
            )
            try:
                session.flush()
            except IntegrityError:  # the same key, at the same moment, from another request
                session.rollback()
                raise ConflictError({HEADER: _BUSY}) from None
            return None
        if existing.request_hash != request_hash:
            raise ConflictError({HEADER: "This Idempotency-Key was already used with a different request."})
        if existing.status_code == 0:
            raise ConflictError({HEADER: _BUSY})
        return StoredAnswer(existing.status_code, existing.response_body)


def store(api_key_id: str, key: str, status_code: int, body: str) -> None:
    with session_scope() as session:
        record = session.exec(
            select(IdempotencyRecord).where(
                col(IdempotencyRecord.api_key_id) == api_key_id, col(IdempotencyRecord.key) == key
            )
        ).first()
        if record is not None:
            record.status_code, record.response_body = status_code, body


def release(api_key_id: str, key: str) -> None:
    with session_scope() as session:
        session.exec(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.api_key_id) == api_key_id,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.status_code) == 0,
            )
        )


def purge_expired() -> int:
    """Forget answers older than 24 h (the maintenance loop calls this)."""
    with session_scope() as session:
        result = session.exec(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < utcnow() - KEEP)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _purge_now_and_then() -> None:
    global _last_purge
    with _purge_lock:
        if time.monotonic() - _last_purge < PURGE_EVERY_SECONDS and _last_purge:
            return
        _last_purge = time.monotonic()
    purge_expired()
