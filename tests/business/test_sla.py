"""Service-level clocks and complaint escalation, table-driven with ``now`` passed in. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.business.sla import (
    Clock,
    ClockName,
    ClockState,
    Tier,
    callback_clock,
    complaint_clocks,
    complaint_step,
    escalation_tier,
    lapsed,
    next_lapse,
    task_clocks,
    unlogged_call_clock,
)
from callcenter.domain import Complaint, TaskStatus
from callcenter.errors import Conflict, ValidationError

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(("ended", "created", "now", "state"), [
    (m(0), m(10), m(60), ClockState.MET),  # entered 10 min after the call
    (m(0), m(15), m(60), ClockState.MET),  # exactly at the limit
    (m(0), m(16), m(60), ClockState.MET_LATE),
    (m(10), m(5), m(60), ClockState.MET),  # entered during the call
])
def test_task_entry_clock(ended: datetime, created: datetime, now: datetime,
                          state: ClockState) -> None:
    clocks = task_clocks(status=TaskStatus.DONE, created_at=created, call_ended_at=ended,
                         last_progress_at=created, now=now)
    assert [(c.name, c.state) for c in clocks] == [(ClockName.TASK_ENTRY, state)]


def test_no_entry_clock_while_the_call_is_still_going() -> None:
    clocks = task_clocks(status=TaskStatus.NEW, created_at=m(0), call_ended_at=None,
                         last_progress_at=m(0), now=m(1))
    assert [c.name for c in clocks] == [ClockName.PROGRESS]


@pytest.mark.parametrize(("status", "last", "now", "expected"), [
    (TaskStatus.NEW, m(0), m(179), ClockState.RUNNING),
    (TaskStatus.NEW, m(0), m(180), ClockState.RUNNING),
    (TaskStatus.ACCEPTED, m(0), m(181), ClockState.OVERDUE),
    (TaskStatus.APPOINTED, m(120), m(181), ClockState.RUNNING),  # updated since: clock restarts
    (TaskStatus.ON_SITE, m(0), m(600), ClockState.OVERDUE),
    (TaskStatus.DONE, m(0), m(600), None),  # closed tasks run no progress clock
    (TaskStatus.CANCELLED, m(0), m(600), None),
])
def test_progress_clock_runs_three_hours_from_the_last_update(
        status: TaskStatus, last: datetime, now: datetime, expected: ClockState | None) -> None:
    clocks = task_clocks(status=status, created_at=m(0), call_ended_at=None,
                         last_progress_at=last, now=now)
    progress = [c for c in clocks if c.name is ClockName.PROGRESS]
    if expected is None:
        assert progress == []
    else:
        assert progress[0].state is expected
        assert progress[0].due_at == last + timedelta(hours=3)


@pytest.mark.parametrize(("now", "state"), [
    (m(14), ClockState.RUNNING), (m(15), ClockState.RUNNING), (m(16), ClockState.OVERDUE)])
def test_unlogged_call_is_overdue_after_fifteen_minutes(now: datetime,
                                                        state: ClockState) -> None:
    assert unlogged_call_clock(m(0), now).state is state


@pytest.mark.parametrize(("due", "now", "state", "due_at"), [
    (None, m(2 * 24 * 60 - 1), ClockState.RUNNING, m(2 * 24 * 60)),
    (None, m(2 * 24 * 60 + 1), ClockState.OVERDUE, m(2 * 24 * 60)),
    (m(60), m(61), ClockState.OVERDUE, m(60)),  # the plan asked for sooner
    (m(5 * 24 * 60), m(2 * 24 * 60 + 1), ClockState.OVERDUE, m(2 * 24 * 60)),  # never later
])
def test_pending_callback_is_resolved_within_two_days(due: datetime | None, now: datetime,
                                                      state: ClockState,
                                                      due_at: datetime) -> None:
    c = callback_clock(m(0), due, now)
    assert (c.state, c.due_at) == (state, due_at)


@pytest.mark.parametrize(("klass", "amount", "media", "tier"), [
    (1, None, False, Tier.AGENT),
    (2, None, False, Tier.SECOND_LINE),
    (2, 5000.0, False, Tier.SECOND_LINE),  # "over 5,000": 5,000 itself is not
    (2, 5000.01, False, Tier.TOP),
    (1, 12000.0, False, Tier.TOP),
    (1, None, True, Tier.TOP),
])
def test_escalation_tier(klass: int, amount: float | None, media: bool, tier: Tier) -> None:
    assert escalation_tier(klass, amount, media) is tier


def test_complaint_class_must_be_one_or_two() -> None:
    with pytest.raises(ValueError, match="1 or 2"):
        escalation_tier(3, None, False)


def _states(now: datetime, **marks: datetime | None) -> dict[str, str]:
    values: dict[str, datetime | None] = {"reported_at": None, "temporary_solution_at": None,
                                          "second_line_at": None, "closed_at": None}
    values.update(marks)
    clocks = complaint_clocks(complaint_class=2, created_at=m(0), now=now, **values)
    return {c.name.value: c.state.value for c in clocks}


@pytest.mark.parametrize(("now", "marks", "expected"), [
    (m(10), {}, {"report_supervisor": "running", "temporary_solution": "running",
                 "second_line_ticket": "running"}),
    (m(31), {}, {"report_supervisor": "overdue", "temporary_solution": "running",
                 "second_line_ticket": "overdue"}),
    (m(61), {"reported_at": m(20), "second_line_at": m(0)},
     {"report_supervisor": "met", "temporary_solution": "overdue",
      "second_line_ticket": "met"}),
    (m(90), {"reported_at": m(40), "temporary_solution_at": m(50), "second_line_at": m(1)},
     {"report_supervisor": "met_late", "temporary_solution": "met",
      "second_line_ticket": "met"}),
    (m(500), {"closed_at": m(25)},  # closed early: everything settled
     {"report_supervisor": "met", "temporary_solution": "met", "second_line_ticket": "met"}),
])
def test_class_two_complaint_escalation_clocks(now: datetime, marks: dict[str, datetime],
                                               expected: dict[str, str]) -> None:
    assert _states(now, **marks) == expected


def test_class_one_complaint_runs_no_clock() -> None:
    assert complaint_clocks(complaint_class=1, created_at=m(0), reported_at=None,
                            temporary_solution_at=None, second_line_at=None, closed_at=None,
                            now=m(999)) == ()


def _complaint(**changes: object) -> Complaint:
    base = Complaint(id=7, linked_id="c1", merchant_id=1, complaint_class=2, description="x",
                     handling="", result="", amount_yuan=None, media_exposure=False,
                     escalation_tier=2, created_at=m(0), reported_at=None,
                     temporary_solution_at=None, closed_at=None)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_complaint_steps_stop_their_clocks_once() -> None:
    reported = complaint_step(_complaint(), "report", "", m(20))
    assert (reported.reported_at, reported.escalation_tier) == (m(20), 2)
    assert complaint_step(reported, "report", "", m(25)).reported_at == m(20)  # first counts
    first = complaint_step(reported, "temporary_solution", "先行退款", m(40))
    second = complaint_step(first, "temporary_solution", "补发机具", m(50))
    assert (second.temporary_solution_at, second.handling) == (m(40), "先行退款 | 补发机具")
    closed = complaint_step(second, "close", "已解决", m(90))
    assert (closed.closed_at, closed.result) == (m(90), "已解决")
    with pytest.raises(Conflict):
        complaint_step(closed, "report", "", m(91))


def test_a_class_one_complaint_reported_goes_up_to_the_supervisor() -> None:
    assert complaint_step(_complaint(complaint_class=1, escalation_tier=0), "report", "",
                          m(1)).escalation_tier == Tier.SUPERVISOR


@pytest.mark.parametrize(("step", "text", "field"), [
    ("escalate", "", "action"), ("close", " ", "text"), ("temporary_solution", "", "text"),
    ("close", "长" * 201, "text")])
def test_complaint_step_needs_its_text(step: str, text: str, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        complaint_step(_complaint(), step, text, m(1))
    assert exc.value.field == field


# --------------------------------------------------------------------------- pushed clocks


def _class_two_clocks(now: datetime) -> list[tuple[int, Clock]]:
    return [(7, k) for k in complaint_clocks(
        complaint_class=2, created_at=T0, reported_at=None, temporary_solution_at=None,
        second_line_at=T0 + timedelta(minutes=5), closed_at=None, now=now)]


@pytest.mark.parametrize(("minutes", "raised", "expected_lapsed", "next_due"), [
    (10, set(), [], T0 + timedelta(minutes=30)),  # report clock first; second line met
    (30, set(), [], T0 + timedelta(minutes=30)),  # exactly at the due time: not yet
    (31, set(), [ClockName.REPORT_SUPERVISOR], T0 + timedelta(hours=1)),
    (31, {(7, ClockName.REPORT_SUPERVISOR)}, [], T0 + timedelta(hours=1)),  # raised once
    (61, {(7, ClockName.REPORT_SUPERVISOR)}, [ClockName.TEMPORARY_SOLUTION], None),
])
def test_lapsed_clocks_are_raised_once_and_the_next_lapse_is_known(
        minutes: int, raised: set[tuple[int, ClockName]], expected_lapsed: list[ClockName],
        next_due: datetime | None) -> None:
    clocks = _class_two_clocks(T0 + timedelta(minutes=minutes))
    assert [k.name for _, k in lapsed(clocks, raised)] == expected_lapsed
    assert next_lapse(clocks) == next_due
