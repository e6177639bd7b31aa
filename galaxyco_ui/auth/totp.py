"""TOTP two-factor authentication (RFC 6238) and single-use recovery codes.

``verify_code`` says *which* time step a code matched, so the caller can record it and
refuse that step (and every earlier one) next time: a code is good once, even though
it stays valid for up to 90 seconds (the current step and one either side).
"""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp

ISSUER = "GalaxyCo"
RECOVERY_CODE_COUNT = 10


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def verify_code(secret: str, code: str, *, for_time: float | None = None) -> int | None:
    """Check a 6-digit code against the current step and one step either side (clock drift).

    Returns:
        The time step (``unix_time // 30``) the code belongs to, or None when it matches
        none of the three. Spaces in the code are ignored.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    otp = pyotp.TOTP(secret)
    current = otp.timecode(time.time() if for_time is None else for_time)
    matched = None
    for step in (current - 1, current, current + 1):  # all three: no timing hint of which one
        if hmac.compare_digest(otp.generate_otp(step), code) and matched is None:
            matched = step
    return matched


def new_recovery_codes() -> list[str]:
    """Ten codes like ``a1b2c-3d4e5``, shown once to the user, stored hashed."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")
