"""The credentials of an MCP server: a bearer token and ``Name: value`` headers.

They are checked here (names, values, the transport's own headers refused), stored as
one JSON object encrypted with ``infra.crypto`` (purpose ``mcp-headers``) and never shown
back. An edit is write-only: an empty field keeps its stored part (``edited_headers``).
"""

from __future__ import annotations

import json
import re

from galaxyco_ui.errors import ValidationError
from galaxyco_ui.infra import crypto
from galaxyco_ui.models import McpServer
from galaxyco_ui.services.validation import check_text
from galaxyco_ui.tools.mcp_client import HEADERS_PURPOSE

MAX_HEADERS = 20
MAX_HEADER_VALUE = 4000
# Headers the HTTP client or the MCP transport set themselves.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
    }
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def encrypted_headers(headers: dict[str, str]) -> str:
    return crypto.encrypt(json.dumps(headers), purpose=HEADERS_PURPOSE) if headers else ""


def clean_headers(value: object, token: object) -> dict[str, str]:
    """``Name: value`` lines (and a bearer token) as a header dict, checked."""
    text = check_text(value, field="headers")
    bearer = check_text(token, field="token").strip()
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, content = line.partition(":")
        name, content = name.strip(), content.strip()
        if not sep or not _HEADER_NAME.match(name):
            raise ValidationError({"headers": f"Line {number}: write each header as Name: value."})
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError({"headers": f"Line {number}: the {name} header is set by GalaxyCo itself."})
        if not content or len(content) > MAX_HEADER_VALUE or not content.isprintable():
            raise ValidationError(
                {"headers": f"Line {number}: the value must be 1 to {MAX_HEADER_VALUE} printable characters."}
            )
        if any(existing.lower() == name.lower() for existing in headers):
            raise ValidationError({"headers": f"Line {number}: the {name} header is given twice."})
        headers[name] = content
    if bearer:
        if any(existing.lower() == "authorization" for existing in headers):
            raise ValidationError(
                {"token": "Give either a bearer token or an Authorization header, not both."}
            )
        if len(bearer) > MAX_HEADER_VALUE or not bearer.isprintable() or " " in bearer:
            raise ValidationError({"token": "The token must be printable characters without spaces."})
        headers["Authorization"] = f"Bearer {bearer}"
    if len(headers) > MAX_HEADERS:
        raise ValidationError({"headers": f"Use at most {MAX_HEADERS} headers."})
    return headers


def stored_headers(row: McpServer) -> dict[str, str]:
    if not row.headers_encrypted:
        return {}
    try:
        return dict(json.loads(crypto.decrypt(row.headers_encrypted, purpose=HEADERS_PURPOSE)))
    except ValueError:  # made with another SECRET_KEY: unusable, so nothing to keep
        return {}


def edited_headers(stored: dict[str, str], data: dict[str, object]) -> dict[str, str]:
    """The stored headers with the edit's token and headers applied (write-only fields).

    A given token replaces the stored bearer token and given headers replace the other
    stored headers; an empty field keeps its part, ``clear_credentials`` drops both first.
    """
    text = check_text(data.get("headers", ""), field="headers")
    token = check_text(data.get("token", ""), field="token")
    given = clean_headers(text, token)  # checks the two fields together
    clear = data.get("clear_credentials") in (True, "on", "true", "1")
    kept = {} if clear else stored
    bearer = {k: v for k, v in kept.items() if k.lower() == "authorization" and v.startswith("Bearer ")}
    others = {k: v for k, v in kept.items() if k not in bearer}
    if token.strip():
        bearer = {"Authorization": given.pop("Authorization")}
    if text.strip():
        others = given
        if any(k.lower() == "authorization" for k in others):  # with a token, _clean_headers refused it
            bearer = {}  # an Authorization header given now replaces the stored bearer token
    elif bearer and any(k.lower() == "authorization" for k in others):
        raise ValidationError(
            {
                "token": "The stored headers hold an Authorization header: give the headers again "
                "without it, or clear the credentials first."
            }
        )
    headers = {**others, **bearer}
    if len(headers) > MAX_HEADERS:
        raise ValidationError({"headers": f"Use at most {MAX_HEADERS} headers."})
    return headers
