"""Error reporting to Sentry, only when ``SENTRY_DSN`` is set, and never with secrets.

Two layers keep credentials out of events: Sentry's own ``EventScrubber`` (made
recursive, so nested dicts in local variables are covered) and ``_before_send``,
which drops request cookies and redacts every secret-looking key (same rule as the
logs, ``infra.logging.is_secret_key``: password, token, secret, api key,
authorization, cookie, ticket, one-time code, ...) in request headers, data and query
string, ``extra``, breadcrumbs and stack-frame variables, and the values of such
query parameters in any URL or text (request URL, messages, exception values).
Users are identified by id only (PII off: no email, IP address or cookies).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sentry_sdk
from sentry_sdk.scrubber import EventScrubber

from galaxyco_ui.config import get_settings
from galaxyco_ui.infra.logging import REDACTED, is_secret_key, redact, redact_text

RELEASE = "galaxyco@0.1.0"

logger = logging.getLogger(__name__)

_active_dsn: str | None = None


def _scrub_request(request: dict[str, Any]) -> None:
    request.pop("cookies", None)
    if isinstance(request.get("url"), str):
        request["url"] = redact_text(request["url"])
    if isinstance(request.get("headers"), dict):
        request["headers"] = redact(request["headers"])
    if "data" in request:
        request["data"] = redact(request["data"])
    query = request.get("query_string")
    if isinstance(query, str) and query:
        pairs = parse_qsl(query, keep_blank_values=True)
        request["query_string"] = urlencode(
            [(key, REDACTED if is_secret_key(key) else value) for key, value in pairs]
        )


def _before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """Redact secrets from an event just before it leaves the process."""
    if isinstance(event.get("request"), dict):
        _scrub_request(event["request"])
    if "extra" in event:
        event["extra"] = redact(event["extra"])
    if isinstance(event.get("message"), str):
        event["message"] = redact_text(event["message"])
    if isinstance(event.get("logentry"), dict):
        event["logentry"] = redact(event["logentry"])
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict):
        for crumb in breadcrumbs.get("values") or ():
            if not isinstance(crumb, dict):
                continue
            if "data" in crumb:
                crumb["data"] = redact(crumb["data"])
            if isinstance(crumb.get("message"), str):
                crumb["message"] = redact_text(crumb["message"])
    exceptions = event.get("exception")
    if isinstance(exceptions, dict):
        for exception in exceptions.get("values") or ():
            if isinstance(exception.get("value"), str):
                exception["value"] = redact_text(exception["value"])
            for frame in (exception.get("stacktrace") or {}).get("frames") or ():
                if "vars" in frame:
                    frame["vars"] = redact(frame["vars"])
    return event


def init_sentry() -> bool:
    """Start reporting errors to Sentry when ``settings.sentry_dsn`` is set.

    Idempotent: a second call with the same DSN does nothing.

    Returns:
        True when Sentry is active after the call, False when no DSN is configured.
    """
    global _active_dsn
    settings = get_settings()
    if not settings.sentry_dsn:
        return False
    if _active_dsn == settings.sentry_dsn and sentry_sdk.get_client().is_active():
        return True
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment or settings.galaxyco_env,
        release=RELEASE,
        # send_default_pii is left unset: that is send_default_pii=False (no user emails,
        # IPs or cookies), and naming it warns in sentry-sdk >= 2.7x, whose replacement
        # (data_collection) would disable the recursive EventScrubber below.
        event_scrubber=EventScrubber(recursive=True),
        # The SDK types events as TypedDicts; the scrubber reads and rewrites them as the
        # plain dicts they are at runtime, whatever keys they hold.
        before_send=_before_send,  # type: ignore[arg-type]  # dict[str, Any], not Event
    )
    _active_dsn = settings.sentry_dsn
    logger.info("Sentry error reporting enabled", extra={"sentry_environment": settings.sentry_environment})
    return True


def is_sentry_active() -> bool:
    """Whether ``init_sentry`` enabled reporting in this process."""
    return _active_dsn is not None and sentry_sdk.get_client().is_active()


def set_sentry_user(user_id: object, workspace_id: object | None = None) -> None:
    """Attach the signed-in user (id only) and the workspace tag to later events.

    Sets them on the current isolation scope, which Sentry's ASGI integration forks
    per request; a background job should wrap its work in
    ``sentry_sdk.isolation_scope()`` first. A no-op when Sentry is not active.

    Args:
        user_id: the user's id; ``None`` clears the user.
        workspace_id: the current workspace; ``None`` removes the tag.
    """
    if not is_sentry_active():
        return
    sentry_sdk.set_user(None if user_id is None else {"id": str(user_id)})
    if workspace_id is None:
        sentry_sdk.get_isolation_scope().remove_tag("workspace_id")
    else:
        sentry_sdk.set_tag("workspace_id", str(workspace_id))


def reset_sentry() -> None:
    """Flush and close the Sentry client and clear scope data (tests, shutdown)."""
    global _active_dsn
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=2.0)
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()
    _active_dsn = None
