"""Standard Webhooks signing (https://www.standardwebhooks.com/).

A secret is ``whsec_`` + base64 of 24 random bytes. A message is signed as

    signature = "v1," + base64(HMAC-SHA256(base64decode(secret without "whsec_"),
                                           f"{webhook-id}.{webhook-timestamp}.{body}"))

and sent with the headers ``webhook-id`` (the delivery's id, the same on every retry, so
receivers can drop duplicates), ``webhook-timestamp`` (integer seconds) and
``webhook-signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105  (the Standard Webhooks prefix, not a secret)
SECRET_BYTES = 24


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of one message.

    Raises:
        ValueError: ``secret`` is not base64 after its prefix.
    """
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for a message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
