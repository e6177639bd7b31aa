"""Request headers and bodies going out, response bodies coming back as text.

Helpers of ``http_request``: what the model may send (``clean_headers``, ``encode_body``)
and how a response body is shown to it (``render_body``).
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from galaxyco_ui.tools.base import ToolError

MAX_REQUEST_BODY_BYTES = 100_000

_FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "accept-encoding",
    }
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TEXT_TYPES = frozenset(
    {
        "application/javascript",
        "application/ecmascript",
        "application/xml",
        "application/xhtml+xml",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/x-ndjson",
        "application/yaml",
        "application/x-yaml",
        "application/csv",
        "image/svg+xml",
    }
)


def clean_headers(headers: dict[str, str]) -> dict[str, str]:
    """Check the model's request headers.

    Returns:
        The headers to send.

    Raises:
        ToolError: a header is forbidden (Host, hop-by-hop, ...) or malformed.
    """
    cleaned: dict[str, str] = {}
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ToolError(f"Invalid header name {name[:60]!r}")
        if name.lower() in _FORBIDDEN_HEADERS:
            raise ToolError(f"The {name} header cannot be set by the tool caller")
        if any(c in value for c in "\r\n\x00"):
            raise ToolError(f"The value of header {name} contains a line break or NUL character")
        cleaned[name] = value
    return cleaned


def encode_body(method: str, arguments: dict[str, Any], headers: dict[str, str]) -> bytes | None:
    """Encode the request body and set its Content-Type unless the caller did."""
    has_json, has_body = "json" in arguments, "body" in arguments
    if not has_json and not has_body:
        return None
    if method != "POST":
        raise ToolError("A request body (json or body) can only be sent with method POST")
    if has_json and has_body:
        raise ToolError("Send either json or body, not both")
    if has_json:
        content = json.dumps(arguments["json"], ensure_ascii=False).encode()
        default_type = "application/json"
    else:
        content = arguments["body"].encode()
        default_type = "text/plain; charset=utf-8"
    if len(content) > MAX_REQUEST_BODY_BYTES:
        raise ToolError(f"The request body is larger than {MAX_REQUEST_BODY_BYTES} bytes")
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = default_type
    return content


def _looks_like_text(body: bytes) -> bool:
    sample = body[:4096]
    if b"\x00" in sample:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def render_body(body: bytes, content_type: str, charset: str | None) -> str:
    """Turn a response body into text for the model.

    JSON is pretty-printed (when complete enough to parse), text is decoded by its
    charset (UTF-8 by default, undecodable bytes replaced), anything else is described
    as ``binary content of N bytes, type X``.
    """
    mime = content_type.split(";", 1)[0].strip().lower()
    is_json = mime == "application/json" or mime.endswith("+json")
    is_text = is_json or mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith("+xml")
    if not is_text and not (not mime and _looks_like_text(body)):
        return f"[binary content of {len(body)} bytes, type {mime or 'unknown'}]"
    encoding = charset or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    text = body.decode(encoding, errors="replace")
    if is_json:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text  # truncated or invalid JSON: show it as it came
    return text
