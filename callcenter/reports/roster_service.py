"""Roster use cases: the month's roster with every rule it breaks, hand edits (an uploaded
CSV), swap requests between agents and the team lead's decision.

Every roster shown or changed goes through the independent checker
(``callcenter.reports.roster.check``), with the previous month's stored roster as history
across the boundary: an uploaded roster is kept even when it breaks rules
(the supervisor sees the list and fixes it), and a swap shows, before it is decided, what it
would break.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from callcenter.errors import NotFound, ValidationError
from callcenter.reports.ports import RosterStore, StoredRoster, SwapLine
from callcenter.reports.roster import (
    LeaveRequest,
    Roster,
    RosterRules,
    Swap,
    Violation,
    apply_swap,
    check,
    parse_csv,
    to_csv,
)

__all__ = ["RosterService", "RosterView", "parse_leave"]


def parse_leave(text: str) -> list[LeaveRequest]:
    """``agent,first,last,approved_by`` lines (a header line is skipped); raises
    ValidationError for a bad line."""
    out = []
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        cells = [c.strip() for c in line.split(",")]
        if not cells[0] or cells[0] == "agent":
            continue
        try:
            out.append(LeaveRequest(cells[0], date.fromisoformat(cells[1]),
                                    date.fromisoformat(cells[2]),
                                    cells[3] if len(cells) > 3 else ""))
        except (IndexError, ValueError):
            raise ValidationError("leave", f"line {number}: agent,first,last,approved_by"
                                  ) from None
    return out


def leave_csv(requests: list[LeaveRequest]) -> str:
    """The inverse of :func:`parse_leave`."""
    lines = ["agent,first,last,approved_by"]
    lines += [f"{r.agent},{r.first.isoformat()},{r.last.isoformat()},{r.approved_by}"
              for r in requests]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class SwapPreview:
    """A swap and the violations the roster would have after it (pending swaps only)."""

    swap: SwapLine
    breaks: tuple[Violation, ...]


@dataclass(frozen=True, slots=True)
class RosterView:
    """A month: its roster (None when there is none yet), what it breaks, its swaps."""

    month: str
    roster: Roster | None
    stored: StoredRoster | None
    violations: tuple[Violation, ...]
    swaps: tuple[SwapPreview, ...]


def _month(month: str) -> tuple[int, int]:
    try:
        year, number = (int(p) for p in month.split("-"))
        date(year, number, 1)
    except ValueError:
        raise ValidationError("month", "YYYY-MM") from None
    return year, number


class RosterService:
    """Rosters on a :class:`RosterStore`, judged with ``rules``."""

    def __init__(self, store: RosterStore, rules: RosterRules) -> None:
        self.store = store
        self.rules = rules

    def _check(self, roster: Roster, leave: list[LeaveRequest], previous: Roster | None
               ) -> tuple[Violation, ...]:
        return tuple(check(roster, self.rules, leave=leave, previous=previous))

    async def previous(self, year: int, month: int) -> Roster | None:
        """The stored roster of the month before (history across the boundary), if any and
        readable."""
        before = date(year, month, 1) - timedelta(days=1)
        stored = await self.store.roster(f"{before.year}-{before.month:02d}")
        if stored is None:
            return None
        try:
            return parse_csv(stored.roster_csv)
        except ValueError:
            return None

    async def view(self, month: str) -> RosterView:
        """The month's roster, its violations and its swaps (with what each pending swap
        would break)."""
        _month(month)
        stored = await self.store.roster(month)
        if stored is None:
            return RosterView(month, None, None, (), ())
        roster = parse_csv(stored.roster_csv)
        leave = parse_leave(stored.leave_csv)
        previous = await self.previous(roster.year, roster.month)
        swaps = []
        for line in await self.store.swaps(month):
            breaks: tuple[Violation, ...] = ()
            if line.state == "pending":
                after = apply_swap(roster, Swap(line.agent_a, line.agent_b, line.day, "preview"))
                breaks = tuple(v for v in self._check(after, leave, previous)
                               if v.agent in (line.agent_a, line.agent_b))
            swaps.append(SwapPreview(line, breaks))
        return RosterView(month, roster, stored, self._check(roster, leave, previous),
                          tuple(swaps))

    async def upload(self, month: str, roster_text: str, leave_text: str, by: str,
                     at: datetime) -> tuple[Violation, ...]:
        """Keep a (hand-edited or generated) roster for ``month``; returns what it breaks.
        Raises ValidationError when the file is not that month's roster."""
        year, number = _month(month)
        try:
            roster = parse_csv(roster_text)
        except ValueError as exc:
            raise ValidationError("roster", str(exc)) from None
        if (roster.year, roster.month) != (year, number):
            raise ValidationError("roster", f"the file is for {roster.year}-{roster.month:02d}")
        leave = parse_leave(leave_text)
        await self.store.save_roster(month, to_csv(roster), leave_csv(leave), by, at)
        return self._check(roster, leave, await self.previous(year, number))

    async def request_swap(self, month: str, agent: str, other: str, day: date, by: str,
                           at: datetime) -> int:
        """Agent ``agent`` asks to exchange its day ``day`` with ``other``."""
        stored = await self.store.roster(month)
        if stored is None:
            raise NotFound(f"no roster for {month}")
        roster = parse_csv(stored.roster_csv)
        if agent == other:
            raise ValidationError("other", "choose another agent")
        for who in (agent, other):
            if who not in roster.codes:
                raise ValidationError("other", f"agent {who} is not on the {month} roster")
        if (day.year, day.month) != (roster.year, roster.month):
            raise ValidationError("day", f"not a day of {month}")
        return await self.store.add_swap(month, agent, other, day, by, at)

    async def decide(self, swap_id: int, approve: bool, by: str, at: datetime) -> SwapLine:
        """The team lead approves (the roster changes) or rejects a pending swap."""
        roster_csv = None
        if approve:
            line = await self.store.swap(swap_id)
            if line is None:
                raise NotFound(f"no swap {swap_id}")
            stored = await self.store.roster(line.month)
            if stored is None:
                raise NotFound(f"no roster for {line.month}")
            roster = apply_swap(parse_csv(stored.roster_csv),
                                Swap(line.agent_a, line.agent_b, line.day, by))
            roster_csv = to_csv(roster)
        try:
            return await self.store.decide_swap(swap_id, "approved" if approve else "rejected",
                                                by, at, roster_csv)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
