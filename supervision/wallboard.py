"""The wallboard's figures: pure arithmetic on the CTI's own state (no I/O, no clock).

Rules
-----
W1  Every figure comes from the product's own event stream: the live part (waiting callers,
    agents) from the CTI's call board and agent board (``cti.call_state``,
    ``cti.agent_state``), the day's part from the calls that ended today, counted with the
    reports' definitions (``callcenter.reports.kpi``: offered, answered, abandoned, short
    abandons, call-backs requested, service level, ASA), so the wallboard and ``/reports``
    agree for the same day.
W2  "Today" is the local day (``Asia/Shanghai``) of a call's arrival (its first queue join,
    else its start), as in the reports. A call is counted once (``DayTally.seen``), whether it
    came from the stored records (after a restart) or from the live ``CallEnded``.
W3  "Last 30 min" counts the calls that ARRIVED in the last ``recent_s`` seconds and ended.
W4  A waiting caller is a merchant call ``queued`` or ``ringing`` whose latest queue visit is
    still open; its wait is ``now - joined``.
W5  Agents of a queue are the logged-in members of that queue; ``on_call`` includes ringing.
    Agents online = logged in (any state but ``logged_out``).
W6  Alerts (each has a key; it is raised once, when it appears, and cleared when gone):
    ``staffing`` agents online below the floor of the time band (day ``day_floor`` from
    ``day_hours[0]`` to ``day_hours[1]`` local, else ``night_floor``); ``answer_rate`` a
    queue's answer rate today below ``answer_rate_target``; ``long_wait`` a caller waiting
    longer than ``long_wait_s``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callcenter.reports.kpi import ZERO, CallFact, KpiPolicy, Tally, kpis, tally_of
from cti.agent_state import Agent, AgentStatus
from cti.call_state import Call, CallKind, CallState

__all__ = [
    "Alert",
    "DayTally",
    "WallboardPolicy",
    "add_call",
    "agent_rows",
    "alerts",
    "board",
    "forget_recent",
    "new_day",
    "queue_rows",
    "waiting_callers",
]


@dataclass(frozen=True, slots=True)
class WallboardPolicy:
    """Definitions and thresholds (``[reports]`` and ``[supervision]`` settings)."""

    kpi: KpiPolicy = field(default_factory=KpiPolicy)
    answer_rate_target: float = 0.90
    recent_s: float = 1800.0
    long_wait_s: float = 60.0
    day_floor: int = 8
    night_floor: int = 2
    day_hours: tuple[int, int] = (8, 20)

    def floor(self, local_hour: int) -> int:
        """The minimum number of agents online at ``local_hour`` (W6)."""
        start, end = self.day_hours
        return self.day_floor if start <= local_hour < end else self.night_floor


@dataclass(slots=True)
class AgentDay:
    """One agent's answered calls and handle (talk) seconds today."""

    calls: int = 0
    handle_s: float = 0.0


@dataclass(slots=True)
class DayTally:
    """The day's ended calls (W2, W3); mutated only by :func:`add_call`."""

    day: str
    queues: dict[str, Tally] = field(default_factory=dict)
    recent: deque[tuple[float, str, Tally]] = field(default_factory=deque)
    agents: dict[str, AgentDay] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)


def new_day(day: str) -> DayTally:
    """An empty tally for the local date ``day`` (``2026-12-02``)."""
    return DayTally(day)


def add_call(day: DayTally, fact: CallFact, arrived_at: float, policy: WallboardPolicy
             ) -> bool:
    """Count one ended call (its ``arrived_at`` as an epoch); False if already counted."""
    if fact.key in day.seen:
        return False
    day.seen.add(fact.key)
    tally = tally_of(fact, policy.kpi)
    if tally == ZERO:
        return True
    day.queues[fact.queue] = day.queues.get(fact.queue, ZERO) + tally
    day.recent.append((arrived_at, fact.queue, tally))
    if tally.answered and fact.agent:
        agent = day.agents.setdefault(fact.agent, AgentDay())
        agent.calls += 1
        agent.handle_s += max(fact.talk_s, 0.0) + max(fact.acw_s, 0.0)
    return True


def forget_recent(day: DayTally, now: float, window_s: float) -> None:
    """Drop, from the oldest, the ended calls that arrived before the window (W3), so that the
    last-30-minutes figure costs the window's calls, not the day's. Calls are kept in the
    order they ended; one that arrived in the window stops the sweep."""
    recent = day.recent
    while recent and now - recent[0][0] > window_s:
        recent.popleft()


def _recent(day: DayTally, queue: str, now: float, window_s: float) -> Tally:
    out = ZERO
    for arrived_at, q, tally in day.recent:
        if q == queue and now - arrived_at <= window_s:
            out = out + tally
    return out


def waiting_callers(calls: Iterable[Call], now: float) -> dict[str, list[tuple[str, float]]]:
    """Queue -> ``(linked_id, waited seconds)`` of the callers waiting there (W4), longest
    first."""
    out: dict[str, list[tuple[str, float]]] = {}
    for call in calls:
        if call.kind is CallKind.INTERNAL or not call.visits:
            continue
        if call.state not in (CallState.QUEUED, CallState.RINGING):
            continue
        visit = call.visits[-1]
        if visit.left_at is not None:
            continue
        out.setdefault(visit.queue, []).append((call.linked_id, max(now - visit.joined_at, 0.0)))
    for items in out.values():
        items.sort(key=lambda item: -item[1])
    return out


_ON_CALL = frozenset({AgentStatus.ON_CALL, AgentStatus.RINGING})


def queue_rows(queues: Sequence[str], calls: Iterable[Call], agents: Iterable[Agent],
               day: DayTally, now: float, policy: WallboardPolicy) -> list[dict[str, Any]]:
    """One row per queue: waiting callers, longest wait, today's and the last 30 minutes'
    figures, agents by state."""
    waiting = waiting_callers(calls, now)
    members = list(agents)
    rows = []
    for queue in [*queues, *sorted(set(waiting) - set(queues))]:
        today = kpis(day.queues.get(queue, ZERO))
        recent = kpis(_recent(day, queue, now, policy.recent_s))
        counts = {"available": 0, "on_call": 0, "wrap_up": 0, "paused": 0, "unreachable": 0}
        for agent in members:
            if queue not in agent.memberships:
                continue
            status = agent.status
            if status in _ON_CALL:
                counts["on_call"] += 1
            elif status.value in counts:
                counts[status.value] += 1
        here = waiting.get(queue, [])
        rate = today["answer_rate"]
        rows.append({
            "queue": queue,
            "waiting": len(here),
            "longest_wait_s": round(here[0][1], 1) if here else 0.0,
            "offered": today["offered"], "answered": today["answered"],
            "abandoned": today["abandoned"], "short_abandoned": today["short_abandoned"],
            "callback_requested": today["callback_requested"],  # kpi R11: not offered
            "answer_rate": rate,
            "answer_rate_ok": None if rate is None else rate >= policy.answer_rate_target,
            "service_level": today["service_level"],
            "service_level_30m": recent["service_level"],
            "offered_30m": recent["offered"],
            "asa_s": today["asa_s"],
            "agents": counts,
        })
    return rows


def agent_rows(agents: Iterable[Agent], numbers: Mapping[str, str],
               calls: Mapping[str, Call], day: DayTally, now: float,
               names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per known agent (logged out ones too, when they have calls today): number,
    state and seconds in it, pause reason, current call, calls and handle time today.
    ``numbers`` maps a member interface to its agent number, ``names`` to the name on its
    account (else Asterisk's MemberName)."""
    rows = []
    for agent in agents:
        number = numbers.get(agent.interface, "")
        today = day.agents.get(number, AgentDay()) if number else AgentDay()
        if agent.status is AgentStatus.LOGGED_OUT and not today.calls:
            continue
        call = calls.get(agent.linked_id) if agent.linked_id else None
        current = None
        if call is not None:
            current = {"linked_id": call.linked_id, "caller": call.caller,
                       "queue": call.queue, "state": call.state.value}
        rows.append({
            "agent": number, "interface": agent.interface,
            "name": (names or {}).get(agent.interface) or agent.name,
            "state": agent.status.value, "in_state_s": round(max(now - agent.since, 0.0), 1),
            "since": agent.since,
            "pause_reason": agent.state_reason if agent.status is AgentStatus.PAUSED else None,
            "queues": sorted(agent.memberships), "call": current,
            "calls_today": today.calls, "handle_s_today": round(today.handle_s, 1),
        })
    rows.sort(key=lambda row: (row["agent"] or "~", row["interface"]))
    return rows


@dataclass(frozen=True, slots=True)
class Alert:
    """One condition a supervisor must see (W6): ``key`` identifies it while it lasts."""

    key: str
    kind: str
    data: tuple[tuple[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "alert": self.kind, **dict(self.data)}


def alerts(queues: Sequence[Mapping[str, Any]], agents_online: int, local_hour: int,
           waiting: Mapping[str, Sequence[tuple[str, float]]], policy: WallboardPolicy
           ) -> list[Alert]:
    """The conditions true now (W6), from :func:`queue_rows` and :func:`waiting_callers`."""
    out = []
    floor = policy.floor(local_hour)
    if agents_online < floor:
        out.append(Alert("staffing", "staffing", (("online", agents_online), ("floor", floor))))
    for row in queues:
        if row["answer_rate_ok"] is False:
            out.append(Alert(f"answer_rate:{row['queue']}", "answer_rate", (
                ("queue", row["queue"]), ("answer_rate", row["answer_rate"]),
                ("target", policy.answer_rate_target))))
    for queue, callers in waiting.items():
        for linked_id, waited in callers:
            if waited > policy.long_wait_s:
                out.append(Alert(f"long_wait:{linked_id}", "long_wait", (
                    ("queue", queue), ("linked_id", linked_id), ("wait_s", round(waited)),
                    ("threshold_s", policy.long_wait_s))))
    return out


def board(queues: Sequence[str], calls: Mapping[str, Call], agents: Mapping[str, Agent],
          numbers: Mapping[str, str], day: DayTally, now: float, local_hour: int,
          policy: WallboardPolicy, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The whole wallboard as JSON: ``queues``, ``agents``, ``alerts`` (active), totals."""
    q_rows = queue_rows(queues, calls.values(), agents.values(), day, now, policy)
    online = sum(1 for a in agents.values() if a.status is not AgentStatus.LOGGED_OUT)
    active = alerts(q_rows, online, local_hour, waiting_callers(calls.values(), now), policy)
    return {
        "type": "wallboard", "now": now, "day": day.day,
        "queues": q_rows,
        "agents": agent_rows(agents.values(), numbers, calls, day, now, names),
        "online": online, "floor": policy.floor(local_hour),
        "targets": {"answer_rate": policy.answer_rate_target,
                    "service_level_s": policy.kpi.service_level_s},
        "alerts": [a.as_json() for a in active],
    }
