"""Structured logs: one JSON object per line on stderr, with the ids of the request.

Every line carries ``ts``, ``level``, ``logger``, ``msg`` and the ``request_id``,
``workspace_id``, ``user_id`` and ``trace_id`` (the OpenTelemetry trace of the run or
document being processed, ``infra.tracing``) of the current context (``null`` when unknown), plus
any ``extra={...}`` fields. A field whose name looks secret (password, token, secret,
api key, authorization, cookie, ticket, one-time code, ...) is logged as
``"[redacted]"``, never its value; so is the value of such a parameter in any URL
query string inside a logged text (``...?ticket=[redacted]&next=/agents``), in the
message and exception text too. ``infra/sentry.py`` applies the same rule.

    configure_logging()                      once at startup (idempotent)
    with log_context(workspace_id=ws.id):    ids for a block (restored on exit)
    bind_log_context(user_id=user.id)        ids for the rest of this context
    app.add_middleware(RequestContextMiddleware)   request id + one line per request
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from galaxyco_ui.config import get_settings

REDACTED = "[redacted]"
REQUEST_ID_HEADER = "X-Request-ID"

# "token" but not "tokens": token counts (input_tokens, max_tokens) are not secrets.
# "code" only as a word of the name (code, totp_code, recovery_code, auth_code), and
# "otp"/"totp"/"hotp" likewise; sign-in tickets and anything "ticket" always.
_SECRET_KEY = re.compile(
    r"password|passwd|secret|api[_-]?key|authorization|cookie|credential|private[_-]?key|token(?!s)"
    r"|session[_-]?(id|key)|(^|[_-])auth([_-]|$)|ticket|(^|[_-])[th]?otp([_-]|$)|(^|[_-])code([_-]|$)",
    re.IGNORECASE,
)
# Codes that are not secrets: taken out of a name before it is checked, so that
# "status_code" is logged but "password_error_code" is still redacted.
_PUBLIC_CODE = re.compile(
    r"(status|error|exit|http|response|return|reason|country|currency|language|lang|locale|postal|zip)"
    r"[_-]code",
    re.IGNORECASE,
)
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# One ``name=value`` of a query string (or form body) inside any text.
_QUERY_PAIR = re.compile(r"(?P<lead>^|[?&;])(?P<name>[^=&;#?\s\"']+)=(?P<value>[^&;#\s\"']*)")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_CONTEXT_VARS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"galaxyco_log_{name}", default=None)
    for name in ("request_id", "workspace_id", "user_id", "trace_id")
}

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

_request_logger = logging.getLogger("galaxyco.request")


def is_secret_key(name: str) -> bool:
    """Whether a field called ``name`` probably holds a credential.

    Case, camelCase and ``-``/``_`` do not matter: ``accessToken``, ``X-Api-Key``,
    ``Set-Cookie``, ``totp_code`` and ``ticket`` all count; ``status_code`` and
    ``input_tokens`` do not.
    """
    words = _PUBLIC_CODE.sub("", _CAMEL_HUMP.sub("_", name))
    return bool(_SECRET_KEY.search(words))


def redact_text(text: str) -> str:
    """``text`` with the value of every secret-looking query parameter replaced.

    ``"GET /api/auth/session?ticket=abc&next=/agents"`` becomes
    ``"GET /api/auth/session?ticket=[redacted]&next=/agents"``.
    """
    if "=" not in text:
        return text
    return _QUERY_PAIR.sub(
        lambda m: f"{m['lead']}{m['name']}={REDACTED}" if is_secret_key(unquote(m["name"])) else m[0],
        text,
    )


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced, recursively,
    and secret query parameters in its strings replaced (``redact_text``)."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_key(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def get_log_context() -> dict[str, str | None]:
    """The ids currently bound: ``{"request_id": ..., "workspace_id": ..., "user_id": ..., "trace_id": ...}``."""
    return {name: var.get() for name, var in _CONTEXT_VARS.items()}


def _check_names(ids: Mapping[str, object]) -> None:
    unknown = set(ids) - set(_CONTEXT_VARS)
    if unknown:
        raise TypeError(f"Unknown log context ids: {sorted(unknown)}; expected {sorted(_CONTEXT_VARS)}.")


def bind_log_context(**ids: object) -> None:
    """Bind ids for the rest of the current context (task, thread or request).

    Args:
        **ids: any of ``request_id``, ``workspace_id``, ``user_id``, ``trace_id``; ``None`` unbinds.

    Raises:
        TypeError: on any other keyword.
    """
    _check_names(ids)
    for name, value in ids.items():
        _CONTEXT_VARS[name].set(None if value is None else str(value))


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Bind ids inside a ``with`` block and restore the previous ones on exit.

    Args:
        **ids: any of ``request_id``, ``workspace_id``, ``user_id``, ``trace_id``; ``None`` unbinds.

    Raises:
        TypeError: on any other keyword.
    """
    _check_names(ids)
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    for name, value in ids.items():
        var = _CONTEXT_VARS[name]
        tokens.append((var, var.set(None if value is None else str(value))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with context ids and redacted extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
            **get_log_context(),
        }
        for key, value in vars(record).items():
            if key in _RECORD_ATTRS or key in payload:
                continue
            payload[key] = REDACTED if is_secret_key(key) else redact(value)
        if record.exc_info:
            payload["exc"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exc"] = redact_text(record.exc_text)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is at emit time (it is swapped by test runners)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging() -> None:
    """Send all logging through one JSON handler on stderr, at ``settings.log_level``.

    Idempotent: calling it again only re-applies the level. An unknown level name
    falls back to ``INFO``.
    """
    root = logging.getLogger()
    level = logging.getLevelName(get_settings().log_level.upper())
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SAFE_REQUEST_ID.fullmatch(candidate) else None
    return None


class RequestContextMiddleware:
    """Pure ASGI middleware: a request id per HTTP request, and one log line for it.

    Honours an incoming ``X-Request-ID`` when it is a short safe token, otherwise
    generates one; binds it to the log context for the whole request; echoes it in
    the response's ``X-Request-ID`` header; logs method, path (no query string, which
    may carry tokens), status and ``duration_ms``. Websocket and lifespan scopes pass
    through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with log_context(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                _request_logger.log(
                    logging.ERROR if status >= 500 else logging.INFO,
                    "%s %s %s",
                    scope.get("method", ""),
                    scope.get("path", ""),
                    status,
                    extra={
                        "method": scope.get("method", ""),
                        "path": scope.get("path", ""),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
