"""What each agent's desktop shows, and its JSON. Pure: no I/O, times passed in.

``Desks`` remembers, per agent number, what the board alone does not: the call the agent is
talking on and since when, the calls being recorded, and the call waiting for its wrap-up.
The effect handlers (``cti.effects``) update it; ``snapshot_json`` renders the WebSocket's
``hello``; ``agent_json`` the ``state`` pushes; ``today_json`` the day's own figures from the
agent state log (our accounting, not Asterisk's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from cti import agent_state
from cti.agent_state import AgentStatus
from cti.ports import StateLogEntry

__all__ = ["Desks", "agent_json", "midnight_before", "snapshot_json", "today_json"]


@dataclass(slots=True)
class Desks:
    """Per-agent desktop state (see the module docstring)."""

    talking: dict[str, str] = field(default_factory=dict)  # agent -> linked id of its call
    connected_at: dict[str, float] = field(default_factory=dict)  # agent -> when connected
    call_agents: dict[str, set[str]] = field(default_factory=dict)  # linked id -> agents
    recording: set[str] = field(default_factory=set)  # linked ids being recorded now
    pending_wrapup: dict[str, str] = field(default_factory=dict)  # agent -> linked id
    # agent -> linked ids of its calls whose wrap-up is not saved yet, oldest first: a new
    # call never drops an unsaved one (the desk lists them)
    unsaved: dict[str, list[str]] = field(default_factory=dict)

    def wrapup_due(self, number: str, linked_id: str) -> None:
        """Agent ``number`` left call ``linked_id``: its wrap-up is due."""
        self.pending_wrapup[number] = linked_id
        ids = self.unsaved.setdefault(number, [])
        if linked_id not in ids:
            ids.append(linked_id)

    def saved(self, number: str, linked_id: str) -> None:
        """The wrap-up of ``linked_id`` was saved."""
        ids = self.unsaved.get(number, [])
        if linked_id in ids:
            ids.remove(linked_id)
        if not ids:
            self.unsaved.pop(number, None)
        if self.pending_wrapup.get(number) == linked_id:
            del self.pending_wrapup[number]

    def connected(self, number: str, linked_id: str, at: float) -> None:
        self.talking[number] = linked_id
        self.connected_at[number] = at
        self.call_agents.setdefault(linked_id, set()).add(number)

    def left_call(self, number: str) -> str | None:
        """The agent stopped talking: the linked id it was talking on, if any."""
        self.connected_at.pop(number, None)
        return self.talking.pop(number, None)

    def ended(self, linked_id: str) -> set[str]:
        """The call is over: forget it; the agents who talked on it."""
        self.recording.discard(linked_id)
        agents = self.call_agents.pop(linked_id, set())
        for number in agents:
            if self.talking.get(number) == linked_id:
                del self.talking[number]
        return agents

    def talking_on(self, linked_id: str) -> list[str]:
        """Agents talking on ``linked_id`` now."""
        return [n for n in self.call_agents.get(linked_id, ()) if self.talking.get(n) == linked_id]

    def call_json(self, number: str) -> dict[str, Any] | None:
        linked_id = self.talking.get(number)
        if linked_id is None:
            return None
        return {"linked_id": linked_id, "connected_at": self.connected_at.get(number),
                "recording": linked_id in self.recording}


def agent_json(agent: agent_state.Agent | None, interface: str, now: float) -> dict[str, Any]:
    """One agent's state as the desktop shows it (``state`` pushes, the hello's ``agent``).
    ``phone`` is ``online``, ``offline`` (status ``unreachable`` unless busy or paused) or
    ``unknown`` (not logged in)."""
    if agent is None:
        return {"interface": interface, "status": AgentStatus.LOGGED_OUT.value,
                "phone": "unknown", "reason": None, "since": None, "queues": [],
                "paused": False,
                "pause_reason": None, "linked_id": None, "wrap_up_until": None,
                "state_seconds": {},
                "pause_seconds": {}}
    return {
        "interface": interface, "status": agent.status.value,
        # "offline": the member's device is invalid/unavailable, Asterisk never rings it
        "phone": "offline" if agent_state.phone_offline(agent) else "online",
        "reason": agent.state_reason, "since": agent.since,
        "queues": sorted(agent.memberships), "paused": agent.paused,
        "pause_reason": agent.pause_reason, "linked_id": agent.linked_id,
        # held after-call work (agent_state rule 12): when the hold ends at the latest
        "wrap_up_until": agent.wrap_up_until if agent.held else None,
        "state_seconds": {k.value: round(v, 1)
                          for k, v in agent_state.state_seconds(agent, now).items()},
        "pause_seconds": {k: round(v, 1)
                          for k, v in agent_state.pause_seconds(agent, now).items()},
    }


def snapshot_json(*, now: float, agent: dict[str, Any], agent_number: str, name: str,
                  call: dict[str, Any] | None, card: dict[str, Any] | None,
                  wrapup: str | None, queues: Sequence[str], pause_reasons: Sequence[str],
                  demo_phone: bool, ami: bool,
                  unsaved: Sequence[str] = ()) -> dict[str, Any]:
    """The WebSocket's ``hello`` (without ``today``, which needs a read). ``unsaved``: the
    linked ids of the agent's calls whose wrap-up is not saved yet, oldest first."""
    return {
        "type": "hello", "now": now, "agent": agent,
        "agent_number": agent_number, "name": name,
        "call": call, "card": card, "wrapup": wrapup, "unsaved": list(unsaved),
        "queues": list(queues), "pause_reasons": list(pause_reasons),
        "demo_phone": demo_phone, "ami": ami,
    }


def midnight_before(now: datetime, tz: tzinfo) -> datetime:
    """The last midnight in ``tz`` at or before ``now``, in UTC."""
    return now.astimezone(tz).replace(hour=0, minute=0, second=0,
                                      microsecond=0).astimezone(UTC)


def _accumulate(before: StateLogEntry | None, rows: Sequence[StateLogEntry], start: datetime,
                end: datetime) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per state and per pause reason between ``start`` and ``end`` from the log
    (``before`` the last line before ``start``)."""
    states: dict[str, float] = {}
    pauses: dict[str, float] = {}
    state = before.new_state if before is not None else AgentStatus.LOGGED_OUT.value
    reason = before.reason if before is not None else ""
    since = start
    for row in [*rows, None]:
        at = end if row is None else max(row.at, start)
        seconds = max(0.0, (min(at, end) - since).total_seconds())
        if seconds:
            states[state] = states.get(state, 0.0) + seconds
            if state == AgentStatus.PAUSED.value:
                pauses[reason or ""] = pauses.get(reason or "", 0.0) + seconds
        if row is None:
            break
        state, reason, since = row.new_state, row.reason, at
    states.pop(AgentStatus.LOGGED_OUT.value, None)
    return states, pauses


def today_json(before: StateLogEntry | None, rows: Sequence[StateLogEntry], midnight: datetime,
               now: datetime) -> dict[str, Any]:
    """Today's own figures: calls taken (entries into ``on_call``), talk time (seconds
    ``on_call``), pause time in total and per reason, and seconds per state."""
    states, pauses = _accumulate(before, rows, midnight, now)
    calls = sum(1 for r in rows if r.new_state == AgentStatus.ON_CALL.value)
    return {"calls": calls, "talk_s": round(states.get(AgentStatus.ON_CALL.value, 0.0), 1),
            "pause_s": round(sum(pauses.values()), 1),
            "pause_by_reason": {k: round(v, 1) for k, v in pauses.items()},
            "state_seconds": {k: round(v, 1) for k, v in states.items()},
            "since": midnight.isoformat()}
