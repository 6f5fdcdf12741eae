"""The wallboard's maths (supervision.wallboard): pure, table-driven, no event loop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcenter.reports.kpi import CallFact, kpis, tally_of, total
from cti.agent_state import Agent, AgentStatus
from cti.call_state import Call, CallKind, CallState, QueueVisit
from supervision.wallboard import (
    WallboardPolicy,
    add_call,
    agent_rows,
    alerts,
    board,
    forget_recent,
    new_day,
    queue_rows,
    waiting_callers,
)

NOW = 1_800_000_000.0
POLICY = WallboardPolicy()


def fact(key: str, outcome: str, wait: float, *, queue: str = "hotline", agent: str = "",
         talk: float = 0.0) -> CallFact:
    return CallFact(key=key, queue=queue, agent=agent, arrived_at=datetime.fromtimestamp(
        NOW, UTC), outcome=outcome, wait_s=wait, talk_s=talk)


def waiting_call(linked_id: str, queue: str, joined: float, state: CallState = CallState.QUEUED
                 ) -> Call:
    return Call(linked_id, CallKind.INBOUND, state, joined, visits=[QueueVisit(queue, joined, 1)])


def agent(interface: str, status: AgentStatus, *, since: float = NOW - 30,
          queues: tuple[str, ...] = ("hotline",), reason: str | None = None,
          linked_id: str | None = None) -> Agent:
    return Agent(interface, interface, status, since, reason,
                 memberships=dict.fromkeys(queues, status is AgentStatus.PAUSED),
                 linked_id=linked_id)


def test_the_day_counts_offered_answered_abandoned_and_service_level_as_the_reports_do() -> None:
    facts = [fact("a", "answered", 5, agent="8001", talk=60),
             fact("b", "answered", 25, agent="8001", talk=30),
             fact("c", "abandoned", 40), fact("d", "abandoned", 2),  # a short abandon
             fact("e", "ivr_only", 0), fact("f", "failed", 10)]
    day = new_day("2027-01-15")
    for f in facts:
        add_call(day, f, NOW - 60, POLICY)
    row = queue_rows(["hotline"], [], [], day, NOW, POLICY)[0]
    expected = kpis(total(tally_of(f, POLICY.kpi) for f in facts))
    assert (row["offered"], row["answered"], row["abandoned"]) == (3, 2, 1)
    for name in ("offered", "answered", "abandoned", "answer_rate", "service_level", "asa_s"):
        assert row[name] == expected[name]
    assert row["service_level"] == pytest.approx(1 / 3, abs=1e-4)
    assert row["asa_s"] == 15.0
    assert row["answer_rate_ok"] is False  # 2/3 < 90 %
    assert day.agents["8001"].calls == 2 and day.agents["8001"].handle_s == 90


def test_a_call_back_requested_is_shown_apart_and_raises_no_answer_rate_alert() -> None:
    facts = [fact(f"a{i}", "answered", 5, agent="8001", talk=60) for i in range(9)]
    facts += [fact("c", "abandoned", 40), fact("k1", "callback_requested", 95),
              fact("k2", "callback_requested", 3)]
    day = new_day("2027-01-15")
    for f in facts:
        add_call(day, f, NOW - 60, POLICY)
    row = queue_rows(["hotline"], [], [], day, NOW, POLICY)[0]
    assert (row["offered"], row["answered"], row["abandoned"], row["callback_requested"]) == (
        10, 9, 1, 2)
    assert row["answer_rate"] == 0.9 and row["answer_rate_ok"] is True  # kpi R11
    assert alerts([row], 8, 10, {}, POLICY) == []


def test_a_call_is_counted_once_whether_from_the_records_or_live() -> None:
    day = new_day("2027-01-15")
    assert add_call(day, fact("a", "answered", 5, agent="8001"), NOW, POLICY)
    assert not add_call(day, fact("a", "answered", 5, agent="8001"), NOW, POLICY)
    assert queue_rows(["hotline"], [], [], day, NOW, POLICY)[0]["answered"] == 1


def test_the_last_30_minutes_count_only_the_calls_that_arrived_in_them() -> None:
    day = new_day("2027-01-15")
    add_call(day, fact("old", "abandoned", 40), NOW - 3600, POLICY)
    add_call(day, fact("new", "answered", 3), NOW - 600, POLICY)
    row = queue_rows(["hotline"], [], [], day, NOW, POLICY)[0]
    assert row["service_level"] == 0.5
    assert row["service_level_30m"] == 1.0 and row["offered_30m"] == 1


def test_calls_that_arrived_before_the_window_are_forgotten_from_the_oldest() -> None:
    day = new_day("2027-01-15")
    add_call(day, fact("a", "answered", 3), NOW - 4000, POLICY)
    add_call(day, fact("b", "answered", 3), NOW - 100, POLICY)
    add_call(day, fact("c", "answered", 3), NOW - 3000, POLICY)  # long call, ended last
    forget_recent(day, NOW, POLICY.recent_s)
    assert [arrived for arrived, _, _ in day.recent] == [NOW - 100, NOW - 3000]
    row = queue_rows(["hotline"], [], [], day, NOW, POLICY)[0]
    assert (row["offered"], row["offered_30m"]) == (3, 1)


def test_no_calls_is_no_data_not_zero_percent() -> None:
    row = queue_rows(["hotline"], [], [], new_day("2027-01-15"), NOW, POLICY)[0]
    assert row["answer_rate"] is None and row["service_level"] is None
    assert row["answer_rate_ok"] is None and row["waiting"] == 0


def test_waiting_callers_are_the_open_queue_visits_longest_first() -> None:
    left = waiting_call("gone", "hotline", NOW - 90)
    left.visits[-1].left_at = NOW - 10
    calls = [waiting_call("w1", "hotline", NOW - 12), waiting_call("w2", "hotline", NOW - 45,
                                                                   CallState.RINGING),
             left, Call("talk", CallKind.INBOUND, CallState.CONNECTED, NOW - 100,
                        visits=[QueueVisit("hotline", NOW - 100, 1)]),
             waiting_call("p1", "presales", NOW - 5)]
    assert waiting_callers(calls, NOW) == {"hotline": [("w2", 45.0), ("w1", 12.0)],
                                           "presales": [("p1", 5.0)]}
    row = queue_rows(["hotline"], calls, [], new_day("d"), NOW, POLICY)
    assert (row[0]["waiting"], row[0]["longest_wait_s"]) == (2, 45.0)
    assert [r["queue"] for r in row] == ["hotline", "presales"]  # unlisted queues appear


def test_agents_of_a_queue_are_counted_by_state() -> None:
    agents = [agent("A", AgentStatus.AVAILABLE), agent("B", AgentStatus.RINGING),
              agent("C", AgentStatus.ON_CALL), agent("D", AgentStatus.WRAP_UP),
              agent("E", AgentStatus.PAUSED, reason="lunch"),
              agent("F", AgentStatus.AVAILABLE, queues=("presales",))]
    row = queue_rows(["hotline"], [], agents, new_day("d"), NOW, POLICY)[0]
    assert row["agents"] == {"available": 1, "on_call": 2, "wrap_up": 1, "paused": 1,
                             "unreachable": 0}


def test_agent_rows_show_state_time_in_state_pause_reason_call_and_today() -> None:
    call = waiting_call("L1", "hotline", NOW - 50, CallState.CONNECTED)
    call.caller = "13800138000"
    day = new_day("d")
    add_call(day, fact("x", "answered", 3, agent="8001", talk=120), NOW - 900, POLICY)
    rows = agent_rows([agent("PJSIP/8001", AgentStatus.ON_CALL, since=NOW - 42, linked_id="L1"),
                       agent("PJSIP/8002", AgentStatus.PAUSED, reason="lunch"),
                       agent("PJSIP/8003", AgentStatus.LOGGED_OUT)],
                      {"PJSIP/8001": "8001", "PJSIP/8002": "8002", "PJSIP/8003": "8003"},
                      {"L1": call}, day, NOW)
    assert [r["agent"] for r in rows] == ["8001", "8002"]  # logged out, no calls: not shown
    first, second = rows
    assert (first["state"], first["in_state_s"], first["calls_today"],
            first["handle_s_today"]) == ("on_call", 42.0, 1, 120.0)
    assert first["call"] == {"linked_id": "L1", "caller": "13800138000", "queue": "hotline",
                             "state": "connected"}
    assert (second["state"], second["pause_reason"], second["call"]) == ("paused", "lunch", None)


@pytest.mark.parametrize(("hour", "online", "raised"), [
    (9, 7, True), (9, 8, False), (20, 1, True), (23, 2, False), (7, 2, False), (8, 2, True)])
def test_staffing_alert_follows_the_floor_of_the_time_band(hour: int, online: int,
                                                             raised: bool) -> None:
    found = alerts([], online, hour, {}, POLICY)
    assert [a.kind for a in found] == (["staffing"] if raised else [])


def test_answer_rate_and_long_wait_alerts() -> None:
    rows = [{"queue": "hotline", "answer_rate": 0.8, "answer_rate_ok": False},
            {"queue": "presales", "answer_rate": None, "answer_rate_ok": None}]
    found = alerts(rows, 10, 10, {"hotline": [("L9", 75.0), ("L8", 30.0)]}, POLICY)
    assert [a.key for a in found] == ["answer_rate:hotline", "long_wait:L9"]
    assert found[1].as_json() == {"key": "long_wait:L9", "alert": "long_wait",
                                  "queue": "hotline", "linked_id": "L9", "wait_s": 75,
                                  "threshold_s": 60.0}


def test_the_board_puts_it_together() -> None:
    calls = {"w": waiting_call("w", "hotline", NOW - 70)}
    agents = {"A": agent("A", AgentStatus.AVAILABLE)}
    out = board(["hotline"], calls, agents, {"A": "8001"}, new_day("2027-01-15"), NOW, 10,
                POLICY)
    assert out["type"] == "wallboard" and out["online"] == 1 and out["floor"] == 8
    assert {a["alert"] for a in out["alerts"]} == {"staffing", "long_wait"}
    assert out["queues"][0]["waiting"] == 1 and out["agents"][0]["agent"] == "8001"
