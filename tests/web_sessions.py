"""Logged-in test clients: a real server-side session for a user, without the login form
(and without Argon2's 100 ms per login)."""

from __future__ import annotations

import secrets
from datetime import datetime

from callcenter.db.repositories import Store
from callcenter.web.session import COOKIE_NAME, token_digest


async def session_cookie(store: Store, user_id: int, now: datetime) -> str:
    """The token of a new session of ``user_id`` started at ``now``."""
    token = secrets.token_urlsafe(24)
    await store.web_sessions.add(token_digest(token), user_id, now)
    return token


async def session_headers(store: Store, user_id: int, now: datetime) -> dict[str, str]:
    """``{"Cookie": "cc_session=…"}`` of a new session."""
    return {"Cookie": f"{COOKIE_NAME}={await session_cookie(store, user_id, now)}"}
