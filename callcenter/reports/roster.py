"""The month's roster: shift bands, the scheduling rules of the regulation, and the independent
checker that lists every rule a roster breaks (pure; no solver here).

The checker is written from the rules, day by day and agent by agent, and shares nothing with
the solver's constraints (``callcenter/reports/roster_solver.py``), so it can judge a generated
roster, a hand-edited one and one edited by approved swaps alike.

Codes
-----
A roster gives every agent one code per day: a shift, ``O`` (rest day) or ``L`` (approved
leave). The shifts (``DEFAULT_SHIFTS``) are the regulation's three 12-hour bands (``D``
08:00-20:00, ``M`` 09:00-21:00, ``N`` 20:00-08:00 next day, 11 paid hours each) and the
working days of "7-8 hours a day" at every half hour: ``HHMM+7`` and ``HHMM+8`` start at
HH:MM and last 7 or 8 hours (``2200+8`` is 22:00-06:00, a big night), paid in full (breaks are
in the staffing table's shrinkage). A shift belongs to the day it starts on.

Rules (the regulation; ids are what the checker reports)
-------------------------------------------------------
``code``         every agent has one known code on every day of the month.
``hours``        paid hours within ``monthly_hours`` (176) ± ``hours_tolerance``; each leave
                 day lowers the target by ``leave_day_hours`` (8).
``rest_days``    at least ``rest_days`` (7) rest days (``O``) in the month.
``consecutive``  at most ``max_consecutive`` (5) working days in a row; up to
                 ``max_consecutive_exception`` (7) for an agent granted the exception.
``min_rest``     at least ``min_rest_hours`` (12) between the end of one shift and the start of
                 the next (no day shift straight after a night).
``leave``        approved leave days are ``L``, and ``L`` only on approved leave days.
``long_leave``   consecutive leave (连休, 3 days or more): after ``tenure_months`` (3) months'
                 tenure, at most once a quarter, at most 15 days; 3-5 days approved by the
                 direct supervisor (team lead or supervisor), more by the department manager.
``coverage``     every 30-minute interval has at least the regulation's floor on shift (8 in
                 the daytime, 2 at night).

Planning figure, not a rule: the staffing need (Erlang A per interval) is what the plan aims
at, and the issue's target is the month's answer rate and service level, not every interval's
Erlang figure. ``need_shortfall`` lists, per day, the intervals with fewer agents on shift than
the need (rule id ``need``, a warning); ``check`` never reports them.

Across the month boundary: given the previous month's roster (``previous``), its last days
count as fixed history: a run of working days that ends on its last day continues into this
month (``consecutive``), its last shift's end starts the rest before this month's first shift
(``min_rest``), and its night shifts cover this month's first hours (``coverage``, ``need``).
Without it the first night's hours before ``day_start`` are not judged (last month's shift).

Reported, not rules: each shift's night class ("small night" ends 22:00-23:00, "big night" ends
at 23:59 or 00:00-07:59) and the shifts worked on statutory holidays (paid triple).
"""

from __future__ import annotations

import calendar
import csv
import functools
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final

__all__ = [
    "BANDS",
    "DEFAULT_SHIFTS",
    "LeaveRequest",
    "Roster",
    "RosterRules",
    "Shift",
    "Swap",
    "Violation",
    "apply_swap",
    "check",
    "month_days",
    "need_shortfall",
    "night_class",
    "parse_csv",
    "shift_catalogue",
    "shortfall_slots",
    "to_csv",
]

OFF: Final = "O"
LEAVE: Final = "L"
SLOTS: Final = 48
HALF_HOUR: Final = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Shift:
    """A shift band: starts at ``start``, lasts ``length`` (may end the next day), pays
    ``paid_hours`` (the band minus its meal break)."""

    code: str
    start: time
    length: timedelta
    paid_hours: float

    def span(self, day: date) -> tuple[datetime, datetime]:
        begin = datetime.combine(day, self.start)
        return begin, begin + self.length


BANDS: Final = (
    Shift("D", time(8), timedelta(hours=12), 11.0),
    Shift("M", time(9), timedelta(hours=12), 11.0),
    Shift("N", time(20), timedelta(hours=12), 11.0),
)
"""The regulation's three shift bands (a 12-hour band pays 11 hours: one hour of meals)."""


def shift_catalogue(lengths_h: Sequence[float] = (7.0, 8.0), step_minutes: int = 30
                    ) -> tuple[Shift, ...]:
    """Working days of ``lengths_h`` hours starting every ``step_minutes``, coded
    ``HHMM+h`` (``0730+8``: 07:30-15:30), each paid its length."""
    out = []
    for length in lengths_h:
        for minute in range(0, 24 * 60, step_minutes):
            start = time(minute // 60, minute % 60)
            out.append(Shift(f"{start:%H%M}+{length:g}", start, timedelta(hours=length),
                             float(length)))
    return tuple(out)


DEFAULT_SHIFTS: Final = BANDS + shift_catalogue()


def night_class(shift: Shift) -> str:
    """"big" (ends at 23:59 or after midnight: it covers 00:00-07:59, so the 20:00-08:00 band
    is one), "small" (ends 22:00-23:00) or ""."""
    begin, end = shift.span(date(2000, 1, 1))
    if end.date() > begin.date() and end.time() <= time(8):
        return "big"
    if end.time() >= time(23, 59) or (end.date() > begin.date() and end.time() == time(0)):
        return "big"
    if time(22) <= end.time() <= time(23):
        return "small"
    return ""


@dataclass(frozen=True, slots=True)
class LeaveRequest:
    """Leave of ``agent`` from ``first`` to ``last`` (inclusive); ``approved_by`` is the
    approver's role (``team_lead``, ``supervisor``, ``manager``) or "" (not approved)."""

    agent: str
    first: date
    last: date
    approved_by: str = ""

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True, slots=True)
class Swap:
    """Agents ``a`` and ``b`` exchange their codes on ``day`` (调班), once approved."""

    a: str
    b: str
    day: date
    approved_by: str = ""


@dataclass(frozen=True, slots=True)
class RosterRules:
    """The rules' parameters (module docstring)."""

    shifts: tuple[Shift, ...] = DEFAULT_SHIFTS
    monthly_hours: float = 176.0
    hours_tolerance: float = 11.0
    leave_day_hours: float = 8.0
    rest_days: int = 7
    max_consecutive: int = 5
    max_consecutive_exception: int = 7
    min_rest_hours: float = 12.0
    tenure_months: int = 3
    max_long_leave_days: int = 15
    day_floor: int = 8
    night_floor: int = 2
    day_start: time = time(8)
    day_end: time = time(20)

    def shift(self, code: str) -> Shift | None:
        return _by_code(self.shifts).get(code)


@functools.cache
def _by_code(shifts: tuple[Shift, ...]) -> dict[str, Shift]:
    return {s.code: s for s in shifts}


@dataclass(slots=True)
class Roster:
    """``codes[agent][i]`` is the agent's code on day ``i + 1`` of ``year``-``month``."""

    year: int
    month: int
    codes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def days(self) -> list[date]:
        return month_days(self.year, self.month)

    def code(self, agent: str, day: date) -> str:
        return self.codes[agent][day.day - 1]


@dataclass(frozen=True, slots=True, order=True)
class Violation:
    """One broken rule: which, whose (agent or "" for the hotline), when, and why."""

    rule: str
    agent: str
    day: date | None
    detail: str

    def __str__(self) -> str:
        when = self.day.isoformat() if self.day else "month"
        who = self.agent or "hotline"
        return f"{self.rule}: {who} {when}: {self.detail}"


def month_days(year: int, month: int) -> list[date]:
    return [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


# --------------------------------------------------------------------------- the checker


def check(roster: Roster, rules: RosterRules, *,
          leave: Sequence[LeaveRequest] = (),
          hired: Mapping[str, date] | None = None,
          exceptions: frozenset[str] = frozenset(),
          earlier_long_leave: Mapping[str, Sequence[date]] | None = None,
          previous: Roster | None = None) -> list[Violation]:
    """Every rule ``roster`` breaks (empty: none); the staffing need is a planning figure,
    judged by :func:`need_shortfall`, not here. ``hired``: tenure start per
    agent (unknown: tenure is not checked); ``exceptions``: agents allowed up to
    ``max_consecutive_exception`` days in a row this month; ``earlier_long_leave``: start
    days of the agent's earlier consecutive leaves this year; ``previous``: the month before
    (fixed history across the boundary, module docstring)."""
    out: list[Violation] = []
    days = roster.days
    approved = [r for r in leave if r.approved_by]
    for agent, codes in sorted(roster.codes.items()):
        out += _check_codes(agent, codes, days, rules)
        if len(codes) != len(days) or any(c not in _known(rules) for c in codes):
            continue  # the other rules need a complete, valid row
        run, last_end = history_of(previous, agent, rules)
        out += _check_hours(agent, codes, rules)
        out += _check_rest_and_runs(agent, codes, days, rules, agent in exceptions, run)
        out += _check_min_rest(agent, codes, days, rules, last_end)
        out += _check_leave(agent, codes, days, [r for r in approved if r.agent == agent])
        out += _check_long_leave(agent, [r for r in approved if r.agent == agent], rules,
                                 (hired or {}).get(agent),
                                 (earlier_long_leave or {}).get(agent, ()))
    out += _check_coverage(roster, rules, previous)
    return sorted(out)


def need_shortfall(roster: Roster, rules: RosterRules, need: Mapping[datetime, int],
                   previous: Roster | None = None) -> list[Violation]:
    """Planning warnings: per day, the intervals above the regulation's floor but below
    ``need`` (agents per 30-minute interval, local start). Not broken rules (``check`` lists
    those): a roster planned to the month's answer-rate and service-level target may leave
    quiet intervals below their Erlang figure."""
    have = coverage(roster, rules, previous)
    first_night_end = datetime.combine(roster.days[0], rules.day_start)
    short: dict[date, list[str]] = {}
    for at, count in sorted(have.items()):
        if at < first_night_end and previous is None:
            continue  # the previous month's night shift covers it (not given: not judged)
        if slot_floor(at, rules) <= count < need.get(at, 0):
            short.setdefault(at.date(), []).append(f"{at:%H:%M} {count}<{need[at]}")
    return [Violation("need", "", day, "below need " + ", ".join(slots))
            for day, slots in sorted(short.items())]


def shortfall_slots(roster: Roster, rules: RosterRules, need: Mapping[datetime, int],
                    previous: Roster | None = None) -> int:
    """Agent-intervals on shift below ``need`` (or the floor) over the month."""
    have = coverage(roster, rules, previous)
    first_night_end = datetime.combine(roster.days[0], rules.day_start)
    return sum(max(0, max(need.get(at, 0), slot_floor(at, rules)) - count)
               for at, count in have.items() if previous is not None or at >= first_night_end)


def history_of(previous: Roster | None, agent: str, rules: RosterRules
               ) -> tuple[int, datetime | None]:
    """From the month before: the working days in a row up to its last day, and the end of
    its last shift (0 and None without that month or that agent, or with unknown codes)."""
    if previous is None or agent not in previous.codes:
        return 0, None
    codes = previous.codes[agent]
    run = 0
    for code in reversed(codes):
        if rules.shift(code) is None:
            break
        run += 1
    last_end = None
    for day, code in reversed(list(zip(previous.days, codes, strict=False))):
        shift = rules.shift(code)
        if shift is not None:
            last_end = shift.span(day)[1]
            break
    return run, last_end


def _known(rules: RosterRules) -> set[str]:
    return {s.code for s in rules.shifts} | {OFF, LEAVE}


def _check_codes(agent: str, codes: list[str], days: list[date], rules: RosterRules
                 ) -> list[Violation]:
    out = []
    if len(codes) != len(days):
        out.append(Violation("code", agent, None,
                             f"{len(codes)} days given, the month has {len(days)}"))
    known = _known(rules)
    for day, code in zip(days, codes, strict=False):
        if code not in known:
            out.append(Violation("code", agent, day, f"unknown code {code!r}"))
    return out


def _check_hours(agent: str, codes: list[str], rules: RosterRules) -> list[Violation]:
    paid = 0.0
    for code in codes:
        shift = rules.shift(code)
        if shift is not None:
            paid += shift.paid_hours
    target = rules.monthly_hours - rules.leave_day_hours * codes.count(LEAVE)
    if abs(paid - target) > rules.hours_tolerance + 1e-9:
        return [Violation("hours", agent, None,
                          f"{paid:g} paid hours, the target is {target:g} "
                          f"± {rules.hours_tolerance:g}")]
    return []


def _check_rest_and_runs(agent: str, codes: list[str], days: list[date], rules: RosterRules,
                         exception: bool, run_before: int = 0) -> list[Violation]:
    out = []
    rests = codes.count(OFF)
    if rests < rules.rest_days:
        out.append(Violation("rest_days", agent, None,
                             f"{rests} rest days, at least {rules.rest_days}"))
    limit = rules.max_consecutive_exception if exception else rules.max_consecutive
    run = run_before
    for day, code in zip(days, codes, strict=True):
        run = run + 1 if rules.shift(code) is not None else 0
        if run == limit + 1 or (day == days[0] and run > limit + 1):
            out.append(Violation("consecutive", agent, day,
                                 f"working day {run} in a row (at most {limit})"))
    return out


def _check_min_rest(agent: str, codes: list[str], days: list[date], rules: RosterRules,
                    last_end: datetime | None = None) -> list[Violation]:
    out = []
    for day, code in zip(days, codes, strict=True):
        shift = rules.shift(code)
        if shift is None:
            continue
        begin, end = shift.span(day)
        if last_end is not None:
            rest = (begin - last_end).total_seconds() / 3600
            if rest < rules.min_rest_hours:
                out.append(Violation("min_rest", agent, day,
                                     f"{rest:g} h rest before this {code} shift "
                                     f"(at least {rules.min_rest_hours:g})"))
        last_end = end
    return out


def _check_leave(agent: str, codes: list[str], days: list[date],
                 approved: Sequence[LeaveRequest]) -> list[Violation]:
    out = []
    on_leave = {r.first + timedelta(days=i) for r in approved for i in range(r.days)}
    for day, code in zip(days, codes, strict=True):
        if day in on_leave and code != LEAVE:
            out.append(Violation("leave", agent, day, f"approved leave, rostered {code}"))
        elif code == LEAVE and day not in on_leave:
            out.append(Violation("leave", agent, day, "leave without an approved request"))
    return out


def _months_between(first: date, later: date) -> int:
    months = (later.year - first.year) * 12 + later.month - first.month
    return months - (later.day < first.day)


def _check_long_leave(agent: str, approved: Sequence[LeaveRequest], rules: RosterRules,
                      hired: date | None, earlier: Sequence[date]) -> list[Violation]:
    out = []
    runs = sorted((r for r in approved if r.days >= 3), key=lambda r: r.first)
    taken = sorted(earlier)
    for r in runs:
        if r.days > rules.max_long_leave_days:
            out.append(Violation("long_leave", agent, r.first,
                                 f"{r.days} days of consecutive leave "
                                 f"(at most {rules.max_long_leave_days})"))
        if r.days > 5 and r.approved_by != "manager":
            out.append(Violation("long_leave", agent, r.first,
                                 f"{r.days} days need the department manager's approval "
                                 f"(approved by {r.approved_by})"))
        if hired is not None and _months_between(hired, r.first) < rules.tenure_months:
            out.append(Violation("long_leave", agent, r.first,
                                 f"consecutive leave before {rules.tenure_months} months' "
                                 f"tenure (hired {hired.isoformat()})"))
        quarter = (r.first.year, (r.first.month - 1) // 3)
        if any((d.year, (d.month - 1) // 3) == quarter for d in taken):
            out.append(Violation("long_leave", agent, r.first,
                                 "a second consecutive leave in the quarter"))
        taken.append(r.first)
    return out


def slot_floor(start: datetime, rules: RosterRules) -> int:
    return rules.day_floor if rules.day_start <= start.time() < rules.day_end \
        else rules.night_floor


def coverage(roster: Roster, rules: RosterRules, previous: Roster | None = None
             ) -> dict[datetime, int]:
    """Agents on shift per 30-minute interval of the month (the month's first night hours
    count only the month's own shifts, and ``previous``'s shifts that run into the month)."""
    out: dict[datetime, int] = {}
    first = datetime.combine(roster.days[0], time())
    for i in range(len(roster.days) * SLOTS):
        out[first + i * HALF_HOUR] = 0
    months = [roster] if previous is None else [previous, roster]
    for month in months:
        _add_coverage(out, month, rules)
    return out


def _add_coverage(out: dict[datetime, int], roster: Roster, rules: RosterRules) -> None:
    for codes in roster.codes.values():
        for day, code in zip(roster.days, codes, strict=False):
            shift = rules.shift(code)
            if shift is None:
                continue
            begin, end = shift.span(day)
            at = begin
            while at < end:
                if at in out:
                    out[at] += 1
                at += HALF_HOUR


def _check_coverage(roster: Roster, rules: RosterRules, previous: Roster | None
                    ) -> list[Violation]:
    out = []
    have = coverage(roster, rules, previous)
    first_night_end = datetime.combine(roster.days[0], rules.day_start)
    short: dict[date, list[str]] = {}
    for at, count in sorted(have.items()):
        if at < first_night_end and previous is None:
            continue  # the previous month's night shift covers it (not given: not judged)
        wanted = slot_floor(at, rules)
        if count < wanted:
            short.setdefault(at.date(), []).append(f"{at:%H:%M} {count}<{wanted}")
    for day, slots in sorted(short.items()):
        out.append(Violation("coverage", "", day, "understaffed " + ", ".join(slots)))
    return out


# --------------------------------------------------------------------------- edits and files


def apply_swap(roster: Roster, swap: Swap) -> Roster:
    """The roster with ``swap`` applied (a copy; raises ValueError if it is not approved or
    names an agent who is not on it)."""
    if not swap.approved_by:
        raise ValueError("a swap needs the team lead's approval")
    for agent in (swap.a, swap.b):
        if agent not in roster.codes:
            raise ValueError(f"agent {agent} is not on the roster")
    codes = {a: list(c) for a, c in roster.codes.items()}
    i = swap.day.day - 1
    codes[swap.a][i], codes[swap.b][i] = codes[swap.b][i], codes[swap.a][i]
    return Roster(roster.year, roster.month, codes)


def holiday_shifts(roster: Roster, rules: RosterRules, holidays: Iterable[date]
                   ) -> dict[str, int]:
    """Shifts per agent on statutory holidays (paid triple)."""
    days = set(holidays)
    return {a: sum(1 for d, c in zip(roster.days, codes, strict=False)
                   if d in days and rules.shift(c) is not None)
            for a, codes in sorted(roster.codes.items())}


def to_csv(roster: Roster) -> str:
    """``agent,2027-01-01,…`` then one line per agent (opens in a spreadsheet)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["agent", *(d.isoformat() for d in roster.days)])
    for agent, codes in sorted(roster.codes.items()):
        writer.writerow([agent, *codes])
    return out.getvalue()


def parse_csv(text: str) -> Roster:
    """The inverse of :func:`to_csv`; raises ValueError for a header that is not one month's
    consecutive days from the 1st."""
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if r]
    if not rows or rows[0][0].strip() != "agent" or len(rows[0]) < 2:
        raise ValueError("the first line must be: agent,YYYY-MM-01,YYYY-MM-02,…")
    try:
        header = [date.fromisoformat(c.strip()) for c in rows[0][1:]]
    except ValueError as exc:
        raise ValueError(f"bad date in the header: {exc}") from None
    first = header[0]
    if first.day != 1 or header != month_days(first.year, first.month)[:len(header)]:
        raise ValueError("the header must list the month's days from the 1st, in order")
    roster = Roster(first.year, first.month)
    for row in rows[1:]:
        roster.codes[row[0].strip()] = [c.strip().upper() for c in row[1:]]
    return roster
