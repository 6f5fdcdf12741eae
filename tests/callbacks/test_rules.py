"""The callback rules (回访), table-driven: the state machine, due dates, the form, the 2-day
clock, the retry plan, planning and the monthly summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.business.sla import ClockState
from callcenter.callbacks import rules
from callcenter.callbacks.rules import (
    TRANSITIONS,
    CallbackEvent,
    CallbackKind,
    CallbackState,
    Candidate,
    Outcome,
    Record,
)
from callcenter.errors import Conflict, ValidationError

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
P, Q, D = CallbackState.PLANNED, CallbackState.PENDING, CallbackState.DONE
E = CallbackEvent


@pytest.mark.parametrize(("state", "event", "expected"), [
    (P, E.COMPLETED, D), (P, E.REFUSED, D), (P, E.FOLLOW_UP, Q), (P, E.UNREACHABLE, Q),
    (Q, E.COMPLETED, D), (Q, E.REFUSED, D), (Q, E.FOLLOW_UP, Q), (Q, E.UNREACHABLE, Q),
    (D, E.COMPLETED, None), (D, E.REFUSED, None), (D, E.FOLLOW_UP, None),
    (D, E.UNREACHABLE, None),
])
def test_the_transition_table_is_the_whole_machine(state: CallbackState, event: CallbackEvent,
                                                   expected: CallbackState | None) -> None:
    assert TRANSITIONS.get((state, event)) == expected
    if expected is None:
        with pytest.raises(Conflict):
            rules.step(state, event)
    else:
        assert rules.step(state, event) is expected


@pytest.mark.parametrize(("kind", "expected"), [
    (CallbackKind.SERVICE, datetime(2026, 11, 24, 18, 0, tzinfo=TZ)),  # end of planned day
    (CallbackKind.COMPLAINT_FOLLOWUP, NOW + timedelta(days=30)),  # within one month
    (CallbackKind.QUEUE_CALLBACK, NOW + timedelta(hours=4)),
])
def test_due_dates_by_kind(kind: CallbackKind, expected: datetime) -> None:
    assert rules.due_for(kind, date(2026, 11, 24), NOW, TZ) == expected


def test_a_closed_complaint_is_followed_up_within_one_month() -> None:
    plan = rules.complaint_followup(7, 3, NOW, TZ)
    assert plan.kind is CallbackKind.COMPLAINT_FOLLOWUP
    assert plan.source_ref == "complaint:7" and plan.complaint_id == 7
    assert plan.due_at - NOW == timedelta(days=30)
    assert NOW.astimezone(TZ).date() < plan.planned_for < plan.due_at.astimezone(TZ).date()


GOOD = {"identity_stated": True, "purpose_stated": True, "accepted": True,
        "outcome": "completed", "answers": {"satisfaction": 4, "attitude": 5, "solved": "yes"}}


@pytest.mark.parametrize(("change", "field"), [
    ({"identity_stated": False}, "identity_stated"),
    ({"purpose_stated": False}, "purpose_stated"),
    ({"accepted": None}, "accepted"),
    ({"accepted": False}, "outcome"),  # not accepted is refused, not completed
    ({"outcome": "maybe"}, "outcome"),
    ({"answers": {"satisfaction": 6, "attitude": 5, "solved": "yes"}}, "answers.satisfaction"),
    ({"answers": {"satisfaction": True, "attitude": 5, "solved": "yes"}},
     "answers.satisfaction"),
    ({"answers": {"satisfaction": 3, "attitude": 5, "solved": "?"}}, "answers.solved"),
    ({"answers": None}, "answers"),
    ({"outcome": "follow_up"}, "follow_up"),  # pending needs what is to be resolved
    ({"outcome": "refused"}, "accepted"),  # refused but accepted
    ({"follow_up": "x" * 201}, "follow_up"),
])
def test_a_bad_form_names_its_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        rules.form_from_json({**GOOD, **change})
    assert error.value.field == field


@pytest.mark.parametrize(("data", "outcome", "accepted"), [
    (GOOD, Outcome.COMPLETED, True),
    ({"identity_stated": True, "purpose_stated": True, "accepted": False,
      "outcome": "refused"}, Outcome.REFUSED, False),
    ({"outcome": "unreachable"}, Outcome.UNREACHABLE, None),  # nobody to state it to
    ({**GOOD, "outcome": "follow_up", "follow_up": "terminal swap"}, Outcome.FOLLOW_UP, True),
])
def test_good_forms(data: dict[str, object], outcome: Outcome, accepted: bool | None) -> None:
    form = rules.form_from_json(data)
    assert (form.outcome, form.accepted) == (outcome, accepted)


def _record(**kw: object) -> Record:
    base: dict[str, object] = {"id": 1, "merchant_id": 3, "kind": CallbackKind.SERVICE,
                               "state": P, "planned_for": date(2026, 11, 23),
                               "due_at": NOW + timedelta(hours=8)}
    base.update(kw)
    return Record(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("attempts", "expected"), [
    (1, NOW + timedelta(hours=2)),
    (2, NOW + timedelta(hours=4)),
    (3, datetime(2026, 11, 24, 10, 0, tzinfo=TZ)),  # next day, 10:00 local
    (4, None),  # gave up: the clock runs out unless someone resolves it
])
def test_the_retry_plan(attempts: int, expected: datetime | None) -> None:
    assert rules.retry_at(attempts, NOW, NOW, TZ) == expected


def test_no_retry_is_planned_past_the_two_day_limit() -> None:
    since = NOW - timedelta(days=2) + timedelta(hours=1)
    assert rules.retry_at(1, since, NOW, TZ) is None


def test_unreachable_leaves_it_pending_with_a_retry_and_starts_the_clock_once() -> None:
    form = rules.form_from_json({"outcome": "unreachable"})
    first = rules.record_form(_record(), form, NOW, TZ)
    assert (first.state, first.attempts, first.pending_since) == (Q, 1, NOW)
    assert first.next_attempt_at == NOW + timedelta(hours=2)
    later = NOW + timedelta(hours=2)
    second = rules.record_form(first, form, later, TZ)
    assert (second.attempts, second.pending_since) == (2, NOW)  # the clock is not restarted
    assert second.next_attempt_at == later + timedelta(hours=4)
    done = rules.record_form(second, rules.form_from_json(GOOD), later, TZ)
    assert (done.state, done.completed_at, done.next_attempt_at) == (D, later, None)
    assert done.answers["answers"]["satisfaction"] == 4
    with pytest.raises(Conflict):
        rules.record_form(done, rules.form_from_json(GOOD), later, TZ)


@pytest.mark.parametrize(("age", "state"), [
    (timedelta(hours=1), ClockState.RUNNING),
    (timedelta(days=2), ClockState.RUNNING),  # exactly at the limit: not yet
    (timedelta(days=2, seconds=1), ClockState.OVERDUE),
])
def test_the_two_day_clock_of_a_pending_callback(age: timedelta, state: ClockState) -> None:
    clock = rules.pending_clock(_record(state=Q, pending_since=NOW - age), NOW)
    assert clock is not None and clock.state is state
    assert clock.due_at == NOW - age + timedelta(days=2)


def test_planned_and_done_callbacks_run_no_clock() -> None:
    assert rules.pending_clock(_record(state=P), NOW) is None
    assert rules.pending_clock(_record(state=D, pending_since=NOW), NOW) is None


def test_review_once_and_only_when_done() -> None:
    with pytest.raises(Conflict):
        rules.review(_record(state=Q), "lead", NOW)
    reviewed = rules.review(_record(state=D), "lead", NOW)
    assert (reviewed.reviewed_by, reviewed.reviewed_at) == ("lead", NOW)
    with pytest.raises(Conflict):
        rules.review(reviewed, "lead", NOW)


def _candidate(ref: str, minutes: int, agent: str = "") -> Candidate:
    return Candidate(merchant_id=1, kind=CallbackKind.SERVICE, source_ref=ref, purpose="p",
                     source_at=NOW + timedelta(minutes=minutes), agent_number=agent)


def test_assign_spreads_by_load_skips_known_and_duplicate_refs() -> None:
    day = date(2026, 11, 24)
    plans = rules.assign([_candidate("task:1", 0), _candidate("task:2", 1),
                          _candidate("task:2", 2), _candidate("task:3", 3),
                          _candidate("task:4", 4)],
                         ["8001", "8002"], day, TZ, load={"8001": 2}, known={"task:4"})
    assert [(p.source_ref, p.agent_number) for p in plans] == [
        ("task:1", "8002"), ("task:2", "8002"), ("task:3", "8001")]
    assert all(p.planned_for == day for p in plans)


def test_assign_keeps_the_preferred_agent_and_leaves_plans_open_without_agents() -> None:
    plans = rules.assign([_candidate("a", 0, "8002")], ["8001", "8002"], date(2026, 11, 24), TZ)
    assert plans[0].agent_number == "8002"
    assert rules.assign([_candidate("a", 0)], [], date(2026, 11, 24), TZ)[0].agent_number == ""


@pytest.mark.parametrize(("rows", "expected"), [
    ([["merchant_number", "kind", "purpose"], ["102290058120001", "", "回访"]],
     [("102290058120001", CallbackKind.SERVICE, "回访")]),
    ([["102290058120001", "complaint_followup"]],
     [("102290058120001", CallbackKind.COMPLAINT_FOLLOWUP, "service quality")]),
    ([[""], []], []),
])
def test_csv_rows(rows: list[list[str]], expected: list[object]) -> None:
    assert rules.parse_csv_rows(rows) == expected


@pytest.mark.parametrize("rows", [[["abc"]], [["1022", "visit"]]])
def test_bad_csv_rows_name_the_line(rows: list[list[str]]) -> None:
    with pytest.raises(ValidationError, match="line 1"):
        rules.parse_csv_rows(rows)


def test_monthly_summary_by_kind_by_agent_and_total() -> None:
    done = rules.record_form(_record(agent_number="8001"), rules.form_from_json(GOOD), NOW, TZ)
    refused = rules.record_form(_record(id=2, agent_number="8001"), rules.form_from_json(
        {"identity_stated": True, "purpose_stated": True, "accepted": False,
         "outcome": "refused"}), NOW, TZ)
    late = _record(id=3, agent_number="8002", state=Q, attempts=4,
                   pending_since=NOW - timedelta(days=3))
    rows = {r["group"]: r for r in rules.monthly_summary(
        [done, refused, late, _record(id=4, kind=CallbackKind.COMPLAINT_FOLLOWUP)], NOW)}
    assert list(rows)[-1] == "total"
    total = rows["total"]
    assert (total["total"], total["done"], total["pending"], total["planned"]) == (4, 2, 1, 1)
    assert (total["accepted"], total["refused"], total["overdue"]) == (1, 1, 1)
    assert total["unreachable_attempts"] == 4 and total["avg_satisfaction"] == 4
    assert rows["agent:8001"]["done"] == 2 and rows["agent:-"]["total"] == 1
    assert rows["kind:complaint_followup"]["planned"] == 1
    assert set(total) == set(rules.SUMMARY_COLUMNS)
