"""Server-side sessions: the rules, pure (time passed in).

The browser holds ``cc_session=<random token>``; the ``sessions`` table holds the SHA-256 of
that token, the user, when it was created and last seen, and when it was revoked. Rules:

1. A session is live only while it is not revoked, was seen within ``idle_seconds`` and is
   younger than ``SESSION_SECONDS`` (one shift). Anything else is refused as if there were no
   cookie.
2. Revocation is server-side: logout revokes that session; a password change and disabling the
   account revoke every session of the user (``SessionRepository.revoke_user``).
3. The cookie carries no role: every request reloads the user, so a changed role or a disabled
   account takes effect at once.
4. ``last_seen_at`` is written at most once per ``TOUCH_SECONDS``, so a busy desktop does not
   turn every request into a database write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

COOKIE_NAME = "cc_session"
SESSION_SECONDS = 12 * 3600  # one shift, however active
DEFAULT_IDLE_SECONDS = 60 * 60
TOUCH_SECONDS = 60


class SessionState(StrEnum):
    LIVE = "live"
    REVOKED = "revoked"
    IDLE = "idle"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One row of ``sessions`` (``digest`` is the SHA-256 hex of the cookie's token)."""

    digest: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    revoked_at: datetime | None = None


def token_digest(token: str) -> str:
    """The key under which a cookie's token is stored (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def session_state(record: SessionRecord, now: datetime, *,
                  idle_seconds: float = DEFAULT_IDLE_SECONDS) -> SessionState:
    """Rule 1: whether ``record`` still logs its user in at ``now``."""
    if record.revoked_at is not None:
        return SessionState.REVOKED
    if now - record.created_at >= timedelta(seconds=SESSION_SECONDS):
        return SessionState.EXPIRED
    if now - record.last_seen_at >= timedelta(seconds=idle_seconds):
        return SessionState.IDLE
    return SessionState.LIVE


def needs_touch(record: SessionRecord, now: datetime) -> bool:
    """Rule 4: whether to write ``last_seen_at`` for this request."""
    return now - record.last_seen_at >= timedelta(seconds=TOUCH_SECONDS)
