"""Password hashing with Argon2id (argon2-cffi), the vetted choice; never home-made crypto.

:class:`PasswordVerifier` runs the checks of the web login in a bounded thread pool, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callcenter.errors import AuthError

_HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """A salted Argon2id hash (the salt and parameters are inside the string)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; False for a wrong password or a corrupt hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


class LoginBusy(AuthError):
    """Too many password checks are already waiting: the server sheds load instead of queueing
    without bound (HTTP 503, try again in a moment)."""

    error_id = "login_busy"
    status = 503


class PasswordVerifier:
    """Argon2id checks off the event loop, in a bounded pool of threads.

    One check takes ~100 ms of CPU; on the event loop, six clients sending bad passwords pushed
    ``/healthz`` from 2.5 ms to 1.4 s and the IVR's FastAGI turnaround from 1.4 ms to 27 ms.
    argon2-cffi releases the GIL while it hashes, so ``workers`` threads run beside the loop;
    at most ``max_waiting`` checks queue (more raise :class:`LoginBusy`).

    An unknown (or disabled) user is checked against a dummy hash of the same parameters, so
    the answer takes as long as for a real one and does not tell which usernames exist.
    """

    def __init__(self, workers: int = 2, max_waiting: int = 32) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers,
                                        thread_name_prefix="password-verify")
        self._slots = asyncio.Semaphore(workers + max_waiting)
        self._dummy_hash: str | None = None

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches ``password_hash``; None (no such user) verifies
        against the dummy hash and returns False. Raises LoginBusy when the queue is full."""
        if self._slots.locked():
            raise LoginBusy("the server is busy checking passwords: try again in a moment")
        async with self._slots:
            loop = asyncio.get_running_loop()
            if password_hash is None:
                if self._dummy_hash is None:
                    self._dummy_hash = await loop.run_in_executor(
                        self._pool, hash_password, secrets.token_urlsafe(16))
                await loop.run_in_executor(self._pool, verify_password, self._dummy_hash,
                                           password)
                return False
            return await loop.run_in_executor(self._pool, verify_password, password_hash,
                                              password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
