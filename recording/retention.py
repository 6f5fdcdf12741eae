"""How long a recording is kept, as pure rules (the purge job in :mod:`recording.purge`
carries the decision out).

Rules:

1. A recording is kept for a period after its call ended: ``recording.retention_days``, or a
   period configured for its queue or its call's disposition (``queue:complaints=1095``,
   ``disposition:simple_fault=365``). When several apply, the longest wins: a rule only ever
   keeps a recording longer.
2. Legal hold: while a complaint about the call is open, the recording is never purged; the
   decision is looked at again a day later.
3. Once the complaint is closed, the recording is kept until the later of rule 1 and the
   closing plus the period.
4. A recording is purged when ``now`` has reached the date rules 1-3 give; otherwise that date
   is written down so the job does not look at it before then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.errors import ValidationError
from recording.ports import PurgeRecord
from recording.search import day_or_time

RECHECK_HELD = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Rule 1's periods, in days."""

    default_days: int
    by_queue: Mapping[str, int] = field(default_factory=dict)
    by_disposition: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, default_days: int, rules: str) -> RetentionPolicy:
        """``"queue:complaints=1095, disposition:simple_fault=365"``; raises ``ValueError``
        naming the bad item."""
        by: dict[str, dict[str, int]] = {"queue": {}, "disposition": {}}
        for item in (part.strip() for part in rules.split(",")):
            if not item:
                continue
            kind, _, rest = item.partition(":")
            name, _, days = rest.partition("=")
            if kind not in by or not name or not days.strip().isdigit() or int(days) < 1:
                raise ValueError(f"retention rule {item!r}: expected queue:<name>=<days> or "
                                 "disposition:<code>=<days>")
            by[kind][name.strip()] = int(days)
        return cls(default_days, by["queue"], by["disposition"])

    def period(self, queue: str, disposition: str) -> timedelta:
        days = [self.default_days]
        if queue in self.by_queue:
            days.append(self.by_queue[queue])
        if disposition in self.by_disposition:
            days.append(self.by_disposition[disposition])
        return timedelta(days=max(days))

    @property
    def shortest(self) -> timedelta:
        """No recording goes before this much time after its call (the job's first filter)."""
        return timedelta(days=min([self.default_days, *self.by_queue.values(),
                                   *self.by_disposition.values()]))


@dataclass(frozen=True, slots=True)
class Complaint:
    """A complaint about the recorded call: open while ``closed_at`` is None."""

    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    purge: bool
    keep_until: datetime
    reason: str


def decide(*, ended_at: datetime, queue: str, disposition: str,
           complaints: Sequence[Complaint], now: datetime, policy: RetentionPolicy) -> Decision:
    """Rules 1-4 for one recording."""
    period = policy.period(queue, disposition)
    until = ended_at + period
    reason = f"retention {period.days} days after the call"
    if any(c.closed_at is None for c in complaints):
        return Decision(False, now + RECHECK_HELD, "legal hold: complaint open")
    closed = [c.closed_at for c in complaints if c.closed_at is not None]
    if closed and max(closed) + period > until:
        until = max(closed) + period
        reason = f"retention {period.days} days after the complaint closed"
    return Decision(now >= until, until, reason)


# --------------------------------------------------------------------------- the purge log

PURGE_LOG_DEFAULT = 100
PURGE_LOG_MAX = 1000


@dataclass(frozen=True, slots=True)
class PurgeLogQuery:
    """What to read of the purge log (``callcenter recordings purge-log``, the page's
    section): the deletions at or after ``since`` (None: all), newest first, at most
    ``limit``."""

    since: datetime | None = None
    limit: int = PURGE_LOG_DEFAULT


def parse_purge_log_query(since: str, limit: str, tz: ZoneInfo) -> PurgeLogQuery:
    """``since``: a local day (``2026-11-22``: from its midnight in ``tz``) or an ISO time,
    empty for all; ``limit``: 1 … ``PURGE_LOG_MAX``, empty for the default. Raises
    ``ValidationError`` naming the parameter."""
    start = day_or_time("since", since.strip(), tz, end=False) if since.strip() else None
    count = PURGE_LOG_DEFAULT
    if limit.strip():
        try:
            count = int(limit)
        except ValueError:
            raise ValidationError("limit", f"not a whole number: {limit!r}") from None
        if not 1 <= count <= PURGE_LOG_MAX:
            raise ValidationError("limit", f"must be 1 … {PURGE_LOG_MAX}")
    return PurgeLogQuery(start, count)


def purge_json(p: PurgeRecord) -> dict[str, Any]:
    """One line of the purge log for ``GET /api/recordings/purges`` and
    ``callcenter recordings purge-log --json``."""
    return {"token": p.token, "linked_id": p.linked_id, "path": p.path,
            "size_bytes": p.size_bytes, "sha256": p.sha256,
            "started_at": p.started_at.isoformat() if p.started_at else None,
            "retain_until": p.retain_until.isoformat() if p.retain_until else None,
            "reason": p.reason, "purged_at": p.purged_at.isoformat()}
