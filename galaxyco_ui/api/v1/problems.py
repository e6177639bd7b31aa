"""Errors as RFC 9457 problem details (``application/problem+json``), from one mapping.

Routes raise the ``GalaxyError`` tree of ``galaxyco_ui.errors`` like every other layer;
the handlers installed here turn each class into its status code. A request that FastAPI
itself refuses (a missing field, a wrong type) becomes the same 422 problem with an
``errors`` map from field to message, so clients parse one shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from galaxyco_ui.errors import (
    AuthenticationError,
    ConflictError,
    GalaxyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TooLargeError,
    ValidationError,
)

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
DOCS = "/api/v1/docs"


class Problem(BaseModel):
    """An error, per RFC 9457."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int
    detail: str = Field(description="What went wrong, in words fit to show to a person.")
    errors: dict[str, str] | None = Field(default=None, description="Field → message, for 422.")


# status, slug, title: the order matters (ConflictError is a ValidationError).
_KINDS: list[tuple[type[GalaxyError], int, str, str]] = [
    (NotFoundError, 404, "not-found", "Not found"),
    (PermissionDeniedError, 403, "forbidden", "Forbidden"),
    (ConflictError, 409, "conflict", "Conflict"),
    (ValidationError, 422, "invalid", "Invalid request"),
    (AuthenticationError, 401, "unauthenticated", "Not authenticated"),
    (RateLimitedError, 429, "rate-limited", "Too many requests"),
    (TooLargeError, 413, "too-large", "Request too large"),
]

_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Not authenticated"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem(
    status: int,
    detail: str,
    *,
    slug: str = "",
    title: str = "",
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json response."""
    default_slug, default_title = _STATUS_SLUGS.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": f"{DOCS}#problem-{slug or default_slug}",
        "title": title or default_title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def problem_for(error: GalaxyError) -> Response:
    """The response for a ``GalaxyError`` raised by a service."""
    for kind, status, slug, title in _KINDS:
        if isinstance(error, kind):
            headers = None
            if isinstance(error, RateLimitedError):
                headers = {"Retry-After": str(max(1, int(error.retry_after)))}
            elif isinstance(error, AuthenticationError):
                headers = {"WWW-Authenticate": 'Bearer realm="GalaxyCo API"'}
            errors = error.field_errors if isinstance(error, ValidationError) else None
            return problem(status, error.message, slug=slug, title=title, errors=errors, headers=headers)
    return problem(400, error.message)


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "input") → "input"; ("query", "limit") → "limit"; ("body",) → "body".
    parts = [str(p) for p in loc[1:]] or [str(loc[0]) if loc else "body"]
    return ".".join(parts)


async def _on_galaxy_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, GalaxyError)
    return problem_for(error)


async def _on_request_validation(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors: dict[str, str] = {}
    for item in error.errors():
        if item.get("type") == "json_invalid":
            # Its loc is ("body", <character offset>): the offset is no field name.
            position = item.get("loc", ("body", 0))[-1]
            errors.setdefault("body", f"The body is not valid JSON (error at character {position}).")
            continue
        errors.setdefault(_field_name(tuple(item.get("loc", ()))), str(item.get("msg", "Invalid value.")))
    first = next(iter(errors.values()), "Invalid request.")
    return problem(422, first, slug="invalid", title="Invalid request", errors=errors)


async def _on_http_exception(_request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        # FastAPI refuses a body it cannot even decode (not UTF-8) with a bare 400: for a
        # client that is invalid input like any other, so the same documented 422.
        detail = "The body could not be read: send JSON encoded in UTF-8."
        return problem(422, detail, slug="invalid", title="Invalid request", errors={"body": detail})
    detail = error.detail if isinstance(error.detail, str) else "The request could not be served."
    return problem(error.status_code, detail, headers=dict(error.headers or {}))


async def _on_unexpected(_request: Request, error: Exception) -> Response:
    log.exception("api.unhandled_error", exc_info=error)
    return problem(
        500, "Something went wrong on our side. Try again.", slug="internal", title="Internal error"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(GalaxyError, _on_galaxy_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)


def _doc(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"model": Problem, "description": description, "content": {PROBLEM_TYPE: {"schema": schema}}}


# Every operation documents these (FastAPI(responses=...)).
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _doc("No API key, or a wrong, revoked or expired one."),
    403: _doc("The key's role does not allow this."),
    404: _doc("No such object in this workspace."),
    409: _doc("A duplicate, or an Idempotency-Key reused with another request."),
    413: _doc("The body is larger than allowed (2 MB for JSON; uploads have their own cap)."),
    422: _doc("Invalid input; `errors` maps each field to a message."),
    429: _doc("Too many requests; retry after `Retry-After` seconds."),
}
TOO_LARGE: dict[int | str, dict[str, Any]] = {413: PROBLEMS[413]}
