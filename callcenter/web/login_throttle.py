"""Login throttling: a sliding window of failed logins per account and per address (pure).

Rules:

1. Only failed logins count. A login is refused (HTTP 429, ``too_many_logins``) while the
   account has had ``limit`` failures within the last ``window`` seconds, or the address has.
   The right password does not get through while the window is full: otherwise guessing would
   only need patience.
2. Both keys count, so one address cannot try many accounts, and many addresses cannot try
   one account, faster than the limit.
3. A successful login forgets the account's failures (not the address's: one good account
   must not unlock guessing others from the same place).
4. ``retry_after`` is when the oldest failure in the full window leaves it.

Default: 20 failures a minute per account and per address — a typing agent never reaches it,
a guesser gets 20 tries a minute instead of thousands. The clock is passed in (``now``,
epoch seconds); :class:`MemoryThrottle` keeps the windows in this process (a restart forgets
them, which only gives a guesser one more minute).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

DEFAULT_LIMIT = 20
DEFAULT_WINDOW_S = 60.0
MAX_KEYS = 100_000  # a flood of distinct names must not grow memory without bound


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed`` False means refuse with 429 and ``Retry-After: retry_after``."""

    allowed: bool
    retry_after: int = 0
    key: str = ""


@dataclass(slots=True)
class MemoryThrottle:
    """The windows of failed logins, in memory. Keys are ``account:<name>`` and
    ``address:<ip>``; every method takes ``now`` (epoch seconds)."""

    limit: int = DEFAULT_LIMIT
    window: float = DEFAULT_WINDOW_S
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, account: str, address: str, now: float) -> Verdict:
        """Rule 1: may this login be tried now?"""
        for key in (f"account:{account.lower()}", f"address:{address}"):
            times = self._window(key, now)
            if times is not None and len(times) >= self.limit:
                wait = times[len(times) - self.limit] + self.window - now
                return Verdict(False, max(1, math.ceil(wait)), key)
        return Verdict(True)

    def failed(self, account: str, address: str, now: float) -> None:
        if len(self.failures) >= MAX_KEYS:
            self._prune_all(now)
        for key in (f"account:{account.lower()}", f"address:{address}"):
            self.failures.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        """Rule 3."""
        self.failures.pop(f"account:{account.lower()}", None)

    def _window(self, key: str, now: float) -> deque[float] | None:
        times = self.failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[key]
            return None
        return times

    def _prune_all(self, now: float) -> None:
        for key in list(self.failures):
            self._window(key, now)
        while len(self.failures) >= MAX_KEYS:  # still full: drop the oldest keys
            del self.failures[next(iter(self.failures))]
