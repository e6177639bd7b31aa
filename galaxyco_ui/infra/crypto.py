"""Encryption at rest for secrets (TOTP seeds now, provider keys later).

Keys are derived from ``SECRET_KEY`` with HKDF, one per purpose, so rotating one
use never exposes another.
"""

from __future__ import annotations

import base64
from functools import lru_cache

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
