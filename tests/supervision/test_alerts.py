"""The standing alerts' rules (supervision.alerts, pure): which complaints, dead letters and
speech alerts stand at a given moment, in which order, and which published messages make the
wallboard read them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter.business.records import ComplaintCase, DeadLetter, OutboxEntry, OutboxState
from callcenter.domain import Complaint
from supervision.alerts import SPEECH_LIMIT, changes_standing, standing_alerts
from supervision.ports import SpeechAlertRecord, StandingState

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def case(cid: int, *, klass: int = 2, at: datetime = T0, reported: datetime | None = None,
         solved: datetime | None = None, closed: datetime | None = None,
         amount: float | None = None, media: bool = False,
         second_line: datetime | None = T0) -> ComplaintCase:
    return ComplaintCase(Complaint(
        id=cid, linked_id=None, merchant_id=1, complaint_class=klass, description="",
        handling="", result="", amount_yuan=amount, media_exposure=media, escalation_tier=2,
        created_at=at, reported_at=reported, temporary_solution_at=solved, closed_at=closed),
        task_id=cid, task_number=f"CP-{cid}", second_line_at=second_line, merchant_name="店")


def dead(oid: int) -> DeadLetter:
    return DeadLetter(OutboxEntry(
        id=oid, task_id=1, task_version=1, idempotency_key=f"k{oid}", payload={},
        state=OutboxState.DEAD, attempts=3, created_at=T0, next_attempt_at=T0,
        give_up_at=T0, delivered_at=None, dead_at=T0, last_error="HTTP 422", lease_owner=""),
        task_number=f"RP-{oid}")


def speech(sid: int, linked_id: str) -> SpeechAlertRecord:
    return SpeechAlertRecord(id=sid, linked_id=linked_id, recording=f"tok{sid}",
                             keywords=("投诉",), hits=({"keyword": "投诉"},), at=T0)


def keys(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["key"] for a in alerts]


@pytest.mark.parametrize(("complaint", "now", "expected"), [
    (case(1), T0 + timedelta(minutes=10), ["report_supervisor", "temporary_solution"]),
    (case(1, reported=T0 + timedelta(minutes=5)), T0 + timedelta(minutes=10),
     ["temporary_solution"]),
    (case(1, second_line=None), T0 + timedelta(minutes=10),
     ["report_supervisor", "second_line_ticket", "temporary_solution"]),
    (case(1, reported=T0, solved=T0), T0 + timedelta(minutes=10), None),  # all met
    (case(1, closed=T0 + timedelta(minutes=5)), T0 + timedelta(minutes=10), None),
    (case(1, klass=1, closed=T0), T0 + timedelta(minutes=10), None),  # settled, not top
    (case(1, klass=1, closed=T0, amount=5000.01), T0 + timedelta(hours=23), []),
    (case(1, klass=1, closed=T0, media=True), T0 + timedelta(hours=25), None),  # a day on
    (case(1, klass=2, media=True, reported=T0, solved=T0), T0 + timedelta(hours=30), []),
    (case(1, klass=2, media=True, closed=T0 + timedelta(hours=1)), T0 + timedelta(hours=2),
     None),  # a top-tier complaint a supervisor closed
])
def test_which_complaints_stand_and_with_which_clocks(
        complaint: ComplaintCase, now: datetime, expected: list[str] | None) -> None:
    alerts = standing_alerts(StandingState(complaints=[complaint]), now)
    if expected is None:
        assert alerts == []
        return
    [alert] = alerts
    assert [k["clock"] for k in alert["clocks"]] == expected


def test_overdue_complaints_first_then_top_tier_then_by_time() -> None:
    now = T0 + timedelta(minutes=40)
    state = StandingState(complaints=[
        case(1, at=T0 + timedelta(minutes=30)),  # running
        case(2, klass=1, closed=T0 + timedelta(minutes=20), at=T0 + timedelta(minutes=20),
             amount=9000.0),  # top tier
        case(3),  # report clock overdue
    ], dead_letters=[dead(7)], speech=[speech(1, "L1")])
    alerts = standing_alerts(state, now)
    assert keys(alerts) == ["complaint:3", "complaint:2", "complaint:1", "dead_letter:7",
                            "speech:L1"]
    overdue = alerts[0]
    assert overdue["overdue"] and overdue["clocks"][0] == {
        "clock": "report_supervisor", "state": "overdue",
        "due_at": (T0 + timedelta(minutes=30)).isoformat(),
        "due": (T0 + timedelta(minutes=30)).timestamp()}


def test_one_speech_alert_per_call_and_at_most_the_limit() -> None:
    many = [speech(i, f"L{i // 2}") for i in range(2 * SPEECH_LIMIT + 6)]
    alerts = standing_alerts(StandingState(speech=many), T0)
    assert keys(alerts) == [f"speech:L{i}" for i in range(SPEECH_LIMIT)]


@pytest.mark.parametrize(("topic", "message", "expected"), [
    ("wallboard", {"type": "alert", "alert": "complaint"}, True),
    ("wallboard", {"type": "alert", "alert": "complaint_clock"}, True),
    ("wallboard", {"type": "alert", "alert": "dead_letter"}, True),
    ("wallboard", {"type": "speech_alert"}, True),
    ("wallboard", {"type": "alert", "alert": "long_wait"}, False),  # the wallboard's own
    ("wallboard", {"type": "wallboard"}, False),
    ("board", {"type": "complaint", "action": "report"}, True),
    ("board", {"type": "delivery", "state": "pending"}, True),  # a dead letter requeued
    ("board", {"type": "delivery", "state": "delivered"}, False),
    ("board", {"type": "task", "event": "created"}, False),
    ("agent:8001", {"type": "alert", "alert": "dead_letter"}, False),
])
def test_what_makes_the_wallboard_read_its_standing_alerts_again(
        topic: str, message: dict[str, Any], expected: bool) -> None:
    assert changes_standing(topic, message) is expected
