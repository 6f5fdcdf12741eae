"""Signed session cookies: ``<user id>.<expiry epoch>.<HMAC-SHA256>`` (pure; time passed in).

The cookie carries no role: every request reloads the user, so a deactivated account or a
changed role takes effect at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

COOKIE_NAME = "cc_session"
SESSION_SECONDS = 12 * 3600  # one shift


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode_session(secret: bytes, user_id: int, now: float,
                   lifetime: int = SESSION_SECONDS) -> str:
    payload = f"{user_id}.{int(now) + lifetime}"
    return f"{payload}.{_mac(secret, payload)}"


def decode_session(secret: bytes, value: str, now: float) -> int | None:
    """The user id of a valid, unexpired cookie, else None (never raises on garbage)."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_mac(secret, payload), parts[2]):
        return None
    if int(parts[1]) < now:
        return None
    return int(parts[0])
