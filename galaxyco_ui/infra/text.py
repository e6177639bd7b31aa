"""Text rules the databases and the search index impose, below every layer that needs them.

Neither database can store a NUL (PostgreSQL refuses it) or an unpaired surrogate (not
encodable as UTF-8), so such text can never match a stored row or indexed passage.
``services.validation`` builds the services' input rules on these and re-exports them.
"""

from __future__ import annotations

MAX_ID_CHARS = 64


def lookup_id(value: object) -> str | None:
    """``value`` if it could be the id of a stored row, else None (the caller answers "not found").

    Ids are short ASCII strings; anything else (a NUL, a lone surrogate, a number, a
    megabyte of text) would only reach the database to crash it or be scanned for nothing.
    """
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isascii() and "\x00" not in value:
        return value
    return None


def search_text(value: object, *, max_chars: int) -> str:
    """A search box's text as a query: whitespace collapsed, cut to ``max_chars``.

    A search never fails on odd input: characters that cannot be stored (NUL, lone
    surrogates) cannot be in what it searches either, so they are dropped; a non-string
    searches for nothing.
    """
    if not isinstance(value, str):
        return ""
    value = value.replace("\x00", " ").encode("utf-8", "ignore").decode("utf-8")
    return " ".join(value.split())[:max_chars].strip()
