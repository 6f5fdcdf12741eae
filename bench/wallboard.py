"""Wallboard benchmark: what one board costs on a busy day (pure, no I/O).

A hotline of ``--agents`` agents over the five queues, ``--live`` calls in progress (a third
waiting, the rest talking), and ``--calls`` calls already ended today, ``--recent`` of them in
the last 30 minutes. Timed:

1. ``add_call`` per ended call (the day's tally: what each CallEnded costs the CTI's read loop);
2. ``board`` (queues, agents, alerts: what every push and every hello costs), p50/p95/max over
   ``--rounds`` boards, and the JSON size a browser receives.

Printed: one JSON document. Run: ``.venv/bin/python bench/wallboard.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter.reports.kpi import CallFact
from cti.agent_state import Agent, AgentStatus
from cti.call_state import AgentSegment, Call, CallKind, CallState, QueueVisit
from supervision.wallboard import WallboardPolicy, add_call, board, forget_recent, new_day

QUEUES = ("presales", "aftersales", "complaints", "techsupport", "night")
NOW = 1_800_000_000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--live", type=int, default=150)
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--recent", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    policy = WallboardPolicy()
    agents = {}
    for i in range(args.agents):
        interface = f"PJSIP/{8001 + i}"
        status = rng.choice(list(AgentStatus))
        agents[interface] = Agent(interface, f"agent {i}", status, NOW - rng.uniform(0, 3600),
                                  "lunch" if status is AgentStatus.PAUSED else None,
                                  memberships={rng.choice(QUEUES): False})
    numbers = {interface: interface.split("/")[1] for interface in agents}
    calls = {}
    for i in range(args.live):
        queue = rng.choice(QUEUES)
        joined = NOW - rng.uniform(0, 300)
        call = Call(f"L{i}", CallKind.INBOUND, CallState.QUEUED, joined,
                    visits=[QueueVisit(queue, joined, 1)], caller="13800138000")
        if i % 3:
            call.state = CallState.CONNECTED
            call.visits[-1].left_at = call.visits[-1].answered_at = joined + 10
            call.segments.append(AgentSegment(rng.choice(list(agents)), queue, f"l{i}",
                                              joined + 10))
        calls[call.linked_id] = call

    day = new_day("2027-01-15")
    facts = []
    for i in range(args.calls):
        recent = i >= args.calls - args.recent
        arrived = NOW - (rng.uniform(0, 1700) if recent else rng.uniform(1800, 50_000))
        outcome = "answered" if rng.random() < 0.92 else "abandoned"
        facts.append((CallFact(key=f"c{i}", queue=rng.choice(QUEUES),
                               agent=str(8001 + rng.randrange(args.agents)),
                               arrived_at=datetime.fromtimestamp(arrived, UTC), outcome=outcome,
                               wait_s=rng.uniform(0, 60), talk_s=rng.uniform(30, 600)),
                      arrived))
    facts.sort(key=lambda item: item[1])
    started = time.perf_counter()
    for fact, arrived in facts:
        add_call(day, fact, arrived, policy)
    add_us = (time.perf_counter() - started) / len(facts) * 1e6

    times = []
    size = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        forget_recent(day, NOW, policy.recent_s)
        figures = board(QUEUES, calls, agents, numbers, day, NOW, 10, policy)
        times.append((time.perf_counter() - started) * 1000)
        size = len(json.dumps(figures, ensure_ascii=False))
    times.sort()
    print(json.dumps({
        "agents": args.agents, "live_calls": args.live, "calls_today": args.calls,
        "recent_calls": args.recent,
        "add_call_us": round(add_us, 2),
        "board_ms": {"p50": round(statistics.median(times), 2),
                     "p95": round(times[int(len(times) * 0.95) - 1], 2),
                     "max": round(times[-1], 2)},
        "board_json_bytes": size,
    }, indent=2))


if __name__ == "__main__":
    main()
