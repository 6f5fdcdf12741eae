"""Service-level clocks and complaint escalation, from the service standard. Pure: ``now`` is
always passed in.

Clocks (shared/docs/domain.md, "Record standards", "Callbacks", "Complaints"):

=====================  ==============================  ====================  ===============
clock                  starts                          limit                 stopped by
=====================  ==============================  ====================  ===============
task_entry             the call ends                   15 min                the record exists
progress               the task's last update          3 h (open tasks)      the next update
callback_pending       the callback becomes pending    2 days                resolving it
report_supervisor      a class-2 complaint is made     30 min                reported_at
temporary_solution     a class-2 complaint is made     1 h                   temporary_solution_at
second_line_ticket     a class-2 complaint is made     30 min                second_line_at
=====================  ==============================  ====================  ===============

A class-1 complaint is settled on the phone (the merchant is satisfied): it runs no clock and is
listed in the team lead's daily summary instead. Closing a complaint stops its clocks. Amounts
over 5,000 yuan or media exposure put a complaint on the top tier at once, whatever its class.
:func:`complaint_step` is what a supervisor's report / temporary solution / close does.
The server pushes the complaint clocks (``callcenter/business/clock_timer.py``): :func:`lapsed`
says which clocks to raise now (each once), :func:`next_lapse` when to look again.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from callcenter.domain import OPEN_TASK_STATUSES, Complaint, TaskStatus
from callcenter.errors import Conflict, ValidationError

TASK_ENTRY_LIMIT = timedelta(minutes=15)
PROGRESS_LIMIT = timedelta(hours=3)
CALLBACK_PENDING_LIMIT = timedelta(days=2)
REPORT_LIMIT = timedelta(minutes=30)
TEMPORARY_SOLUTION_LIMIT = timedelta(hours=1)
SECOND_LINE_LIMIT = timedelta(minutes=30)
TOP_TIER_AMOUNT_YUAN = 5000.0


class ClockName(StrEnum):
    TASK_ENTRY = "task_entry"
    PROGRESS = "progress"
    CALLBACK_PENDING = "callback_pending"
    REPORT_SUPERVISOR = "report_supervisor"
    TEMPORARY_SOLUTION = "temporary_solution"
    SECOND_LINE_TICKET = "second_line_ticket"


class ClockState(StrEnum):
    RUNNING = "running"  # not met, still within the limit
    MET = "met"  # met within the limit
    MET_LATE = "met_late"  # met, after the limit
    OVERDUE = "overdue"  # not met and past the limit: raise it


@dataclass(frozen=True, slots=True)
class Clock:
    """One clock at ``now``."""

    name: ClockName
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    state: ClockState

    @property
    def flagged(self) -> bool:
        return self.state in (ClockState.OVERDUE, ClockState.MET_LATE)


def clock(name: ClockName, started_at: datetime, limit: timedelta, met_at: datetime | None,
          now: datetime) -> Clock:
    """Evaluate one clock. Exactly at the due time it is not yet overdue."""
    due = started_at + limit
    if met_at is not None:
        state = ClockState.MET if met_at <= due else ClockState.MET_LATE
    else:
        state = ClockState.OVERDUE if now > due else ClockState.RUNNING
    return Clock(name, started_at, due, met_at, state)


def task_clocks(*, status: TaskStatus, created_at: datetime, call_ended_at: datetime | None,
                last_progress_at: datetime, now: datetime) -> tuple[Clock, ...]:
    """The entry clock (when the task came from a call that has ended) and, while the task is
    open, the progress clock."""
    clocks: list[Clock] = []
    if call_ended_at is not None:
        # A record entered during the call (the usual case) meets the clock at once.
        start = min(call_ended_at, created_at)
        clocks.append(clock(ClockName.TASK_ENTRY, start, TASK_ENTRY_LIMIT, created_at, now))
    if status in OPEN_TASK_STATUSES:
        clocks.append(clock(ClockName.PROGRESS, last_progress_at, PROGRESS_LIMIT, None, now))
    return tuple(clocks)


def unlogged_call_clock(ended_at: datetime, now: datetime) -> Clock:
    """An answered call that has no business record yet: overdue 15 min after it ended."""
    return clock(ClockName.TASK_ENTRY, ended_at, TASK_ENTRY_LIMIT, None, now)


def callback_clock(pending_since: datetime, due_at: datetime | None, now: datetime) -> Clock:
    """A pending (待处理) callback: resolved and answered within 2 days, or by its own due
    time when the plan set an earlier one."""
    limit = CALLBACK_PENDING_LIMIT
    if due_at is not None and due_at - pending_since < limit:
        limit = max(due_at - pending_since, timedelta(0))
    return clock(ClockName.CALLBACK_PENDING, pending_since, limit, None, now)


# --------------------------------------------------------------------------- complaints


class Tier(IntEnum):
    """Who holds a complaint."""

    AGENT = 0  # settled by the agent (class 1)
    SUPERVISOR = 1  # reported to the supervisor / team lead
    SECOND_LINE = 2  # business management department (class 2)
    TOP = 3  # company management: over 5,000 yuan or media exposure


def needs_top_tier(amount_yuan: float | None, media_exposure: bool) -> bool:
    return media_exposure or (amount_yuan is not None and amount_yuan > TOP_TIER_AMOUNT_YUAN)


def escalation_tier(complaint_class: int, amount_yuan: float | None, media_exposure: bool
                    ) -> Tier:
    """The tier a new complaint goes to at once."""
    if complaint_class not in (1, 2):
        raise ValueError(f"complaint class is 1 or 2, got {complaint_class}")
    if needs_top_tier(amount_yuan, media_exposure):
        return Tier.TOP
    return Tier.AGENT if complaint_class == 1 else Tier.SECOND_LINE


def complaint_clocks(*, complaint_class: int, created_at: datetime,
                     reported_at: datetime | None, temporary_solution_at: datetime | None,
                     second_line_at: datetime | None, closed_at: datetime | None,
                     now: datetime) -> tuple[Clock, ...]:
    """The escalation clocks of a class-2 complaint (none for class 1)."""
    if complaint_class != 2:
        return ()

    def met(at: datetime | None) -> datetime | None:
        if at is not None:
            return at
        return closed_at  # closing the complaint settles what was still open

    return (
        clock(ClockName.REPORT_SUPERVISOR, created_at, REPORT_LIMIT, met(reported_at), now),
        clock(ClockName.TEMPORARY_SOLUTION, created_at, TEMPORARY_SOLUTION_LIMIT,
              met(temporary_solution_at), now),
        clock(ClockName.SECOND_LINE_TICKET, created_at, SECOND_LINE_LIMIT, met(second_line_at),
              now),
    )


class ComplaintStep(StrEnum):
    """What a supervisor does about an escalated complaint."""

    REPORT = "report"  # reported to the supervisor: stops the 30-minute clock
    TEMPORARY_SOLUTION = "temporary_solution"  # stops the 1-hour clock
    CLOSE = "close"  # the result; settles whatever was still running


def complaint_step(complaint: Complaint, step: str, text: str, now: datetime) -> Complaint:
    """The complaint after ``step``. The first report and the first temporary solution count
    for the clocks; solutions accumulate in ``handling``. Raises ValidationError (unknown step,
    missing or long text) and Conflict (already closed)."""
    try:
        kind = ComplaintStep(step)
    except ValueError:
        raise ValidationError("action", "one of " + ", ".join(ComplaintStep)) from None
    text = text.strip()
    if len(text) > 200:
        raise ValidationError("text", "at most 200 characters")
    if kind is not ComplaintStep.REPORT and not text:
        raise ValidationError("text", "required: the solution or the result")
    if complaint.closed_at is not None:
        raise Conflict(f"complaint {complaint.id} is closed")
    if kind is ComplaintStep.REPORT:
        return replace(complaint, reported_at=complaint.reported_at or now,
                       escalation_tier=max(complaint.escalation_tier, int(Tier.SUPERVISOR)))
    if kind is ComplaintStep.TEMPORARY_SOLUTION:
        handling = f"{complaint.handling} | {text}" if complaint.handling else text
        return replace(complaint, handling=handling[:400],
                       temporary_solution_at=complaint.temporary_solution_at or now)
    return replace(complaint, result=text, closed_at=now)


# --------------------------------------------------------------------------- pushed clocks


def lapsed(clocks: Iterable[tuple[int, Clock]], raised: Set[tuple[int, ClockName]]
           ) -> list[tuple[int, Clock]]:
    """The ``(owner id, clock)`` pairs that are overdue and not raised yet (the server's
    timer raises each lapse once)."""
    return [(owner, k) for owner, k in clocks
            if k.state is ClockState.OVERDUE and (owner, k.name) not in raised]


def next_lapse(clocks: Iterable[tuple[int, Clock]]) -> datetime | None:
    """When the next running clock lapses (its due time; it is overdue just after), or None."""
    dues = [k.due_at for _, k in clocks if k.state is ClockState.RUNNING]
    return min(dues) if dues else None
