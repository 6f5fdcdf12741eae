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
