"""The wallboard service on real Asterisk 22 captures replayed into the CTI service (SQLite):
it follows the call live, and its day's figures agree with the stored call records, also
after a restart (a new service that only has the records)."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.reports.kpi import kpis, tally_of, total
from callcenter.supervision_store import StoreDayCalls
from callcenter.topics import WALLBOARD_TOPIC
from supervision.service import SupervisionService
from supervision.wallboard import WallboardPolicy
from tests.cti import test_service
from tests.cti.test_service import Env, replay

template_db = test_service.template_db
cti_store = test_service.cti_store
env = test_service.env


def boards(env: Env) -> list[dict[str, Any]]:
    return [m for m in env.hub.to(WALLBOARD_TOPIC) if m["type"] == "wallboard"]


def wallboard(env: Env) -> SupervisionService:
    return SupervisionService(env.service, StoreDayCalls(env.store), env.hub,
                              clock=lambda: env.clock[-1], push_delay_s=0.0)


def queue(board: dict[str, Any], name: str) -> dict[str, Any]:
    return next(q for q in board["queues"] if q["queue"] == name)


async def test_the_wallboard_follows_a_call_wait_answer_and_end(env: Env) -> None:
    service = wallboard(env)
    await service.reload_day()
    await replay(env, "01-agent-login-and-answered-call.ami")
    await asyncio.sleep(0.01)
    seen = boards(env)
    waited = [b for b in seen if queue(b, "aftersales")["waiting"] == 1]
    assert waited, "the waiting caller was never pushed"
    on_call = [b for b in seen if any(a["state"] == "on_call" and a["agent"] == "8001"
                                      and a["call"] for a in b["agents"])]
    assert on_call, "the agent on the call was never pushed"
    last = seen[-1]
    row = queue(last, "aftersales")
    assert (row["waiting"], row["offered"], row["answered"], row["abandoned"]) == (0, 1, 1, 0)
    agent = next(a for a in last["agents"] if a["agent"] == "8001")
    assert agent["calls_today"] == 1 and agent["handle_s_today"] > 0


async def test_the_day_agrees_with_the_stored_records_and_survives_a_restart(env: Env) -> None:
    live = wallboard(env)
    await live.reload_day()
    for name in ("01-agent-login-and-answered-call.ami", "02-abandoned-in-queue.ami",
                 "03-ring-no-answer-then-answer.ami", "12-queue-callback.ami"):
        await replay(env, name, offset=env.clock[-1] + 60)
    await env.service.settle()
    now = env.clock[-1]
    start = live._midnight(now)
    stored = [f for f, _ in await StoreDayCalls(env.store).ended_between(
        start, start.replace(year=start.year + 1))]
    assert len(stored) >= 4
    assert [f.outcome for f in stored].count("callback_requested") == 1
    policy = WallboardPolicy()
    by_queue: dict[str, Any] = {}
    for f in stored:
        by_queue.setdefault(f.queue, []).append(tally_of(f, policy.kpi))
    restarted = wallboard(env)
    await restarted.reload_day()
    for service in (live, restarted):
        board = service.board(now)
        for name, tallies in by_queue.items():
            expected = kpis(total(tallies))
            row = queue(board, name)
            for field in ("offered", "answered", "abandoned", "callback_requested",
                          "answer_rate", "service_level", "asa_s"):
                assert row[field] == expected[field], (service, name, field)
    assert live.board(now)["agents"] == restarted.board(now)["agents"]


async def test_an_alert_is_pushed_once_when_it_appears(env: Env) -> None:
    service = wallboard(env)
    service.policy = WallboardPolicy(long_wait_s=1.0, day_floor=0, night_floor=0)
    await replay(env, "02-abandoned-in-queue.ami", stop_before="QueueCallerAbandon")
    env.clock.append(env.clock[-1] + 30)
    service.push()
    service.push()
    alerts = [m for m in env.hub.to(WALLBOARD_TOPIC) if m["type"] == "alert"]
    assert [a["alert"] for a in alerts] == ["long_wait"]


async def test_pushes_between_full_boards_carry_only_the_agent_rows_that_changed(env: Env
                                                                                 ) -> None:
    service = wallboard(env)
    await service.reload_day()
    await replay(env, "01-agent-login-and-answered-call.ami")
    await asyncio.sleep(0.01)
    seen = boards(env)
    assert "partial" not in seen[0]  # the first push is the whole board
    partial = [b for b in seen[1:] if b.get("partial")]
    assert partial, "no partial push"
    assert any(b["agents"] == [] for b in partial)  # nothing changed: no row at all
    rows: dict[str, dict[str, Any]] = {}
    for board in seen:  # what a browser does with them (wallboard.js)
        if not board.get("partial"):
            rows = {}
        for gone in board.get("removed", []):
            rows.pop(gone, None)
        rows.update({a["interface"]: a for a in board["agents"]})
    expected = service.board(env.clock[-1])["agents"]
    assert [{k: v for k, v in a.items() if k != "in_state_s"} for a in rows.values()] == [
        {k: v for k, v in a.items() if k != "in_state_s"} for a in expected]
