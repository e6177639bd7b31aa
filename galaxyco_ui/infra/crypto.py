"""Encryption at rest for secrets (TOTP seeds, provider keys), and signed tokens for
links sent by email (``sign`` / ``unsign``: verification, password reset).

Keys are derived from ``SECRET_KEY`` with HKDF, one per purpose, so rotating one
use never exposes another, and a token signed for one purpose is refused by another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from galaxyco_ui.config import get_settings


@lru_cache(maxsize=16)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"galaxyco", info=purpose.encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plaintext: str, *, purpose: str) -> str:
    return _fernet(get_settings().secret_key_value(), purpose).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, *, purpose: str) -> str:
    """Decrypt ``ciphertext``; raises ``ValueError`` when it was not made with this key."""
    try:
        return _fernet(get_settings().secret_key_value(), purpose).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: wrong SECRET_KEY or corrupted value") from exc


# ---------------------------------------------------------------- signed tokens (links sent by email)


class BadSignatureError(ValueError):
    """The token was not made by this server for this purpose, or was altered."""


class ExpiredSignatureError(ValueError):
    """The token is genuine but past its expiry."""


@lru_cache(maxsize=16)
def _signing_key(secret_key: str, purpose: str) -> bytes:
    # Another HKDF ``info`` than the Fernet keys: a signing key never equals an encryption key.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"galaxyco", info=b"sign:" + purpose.encode()
    ).derive(secret_key.encode())


def signing_key(purpose: str) -> bytes:
    """The HMAC key for ``purpose`` (for keyed digests that are not tokens)."""
    return _signing_key(get_settings().secret_key_value(), purpose)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], *, purpose: str, ttl_seconds: int) -> str:
    """A URL-safe, tamper-proof, expiring token carrying ``payload`` (readable, not secret).

    The key is derived from ``SECRET_KEY`` per ``purpose``, so a token made for one use
    (say, email verification) is refused by another (password reset).
    """
    body = _b64(
        json.dumps({**payload, "exp": int(time.time()) + ttl_seconds}, separators=(",", ":")).encode()
    )
    mac = hmac.new(signing_key(purpose), body.encode(), hashlib.sha256)
    return f"{body}.{_b64(mac.digest())}"


def unsign(token: str, *, purpose: str) -> dict[str, Any]:
    """The payload of a token made by ``sign`` for ``purpose`` (``exp`` included).

    Raises:
        BadSignatureError: malformed, altered, or made for another purpose or key.
        ExpiredSignatureError: genuine but expired.
    """
    body, _, mac = (token or "").strip().partition(".")
    expected = hmac.new(
        _signing_key(get_settings().secret_key_value(), purpose), body.encode(), hashlib.sha256
    )
    try:
        genuine = hmac.compare_digest(_unb64(mac), expected.digest())
        payload = json.loads(_unb64(body)) if genuine else None
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise BadSignatureError("bad signature")
    if payload["exp"] < time.time():
        raise ExpiredSignatureError("expired")
    return payload
