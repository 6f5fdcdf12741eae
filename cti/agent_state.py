"""Agent state machine: pure, keyed by queue-member interface.

Rules of the machine
--------------------
1. An agent IS its queue-member interface as Asterisk reports it in ``Interface:``
   (``Local/8001@agents/n`` in the lab, ``PJSIP/8001`` with phones) — never a channel name
   (``Local/8001@agents-00000001;1`` is one *leg* of one call to that agent).
2. States: ``logged_out``, ``available``, ``unreachable``, ``ringing``, ``on_call``,
   ``wrap_up``, ``paused(reason)``. ``unreachable`` is a logged-in, unpaused agent whose
   phone cannot ring: the member's device state (``Status`` of QueueMember* events and
   QueueStatus items) is 4 invalid or 5 unavailable, so app_queue never rings it (rule 10).
3. Logged in means member of at least one queue (QueueMemberAdded / QueueStatus adds a
   membership, QueueMemberRemoved removes one; the last removal logs the agent out).
4. Paused means paused in EVERY queue the agent is a member of; the reason is the one of the
   latest pause. ``QueuePause`` without ``Queue:`` yields one QueueMemberPause per queue: the
   agent becomes paused with the last of them, not half-way.
5. A call: AgentCalled -> ringing; AgentConnect -> on_call; the agent leg ends (AgentComplete
   with Dest fields, or Hangup of the leg — the only signal after a Redirect) -> wrap_up for
   the queue's wrap-up time, then idle. A ring that ends unanswered (AgentRingNoAnswer,
   AgentDump, Hangup of the ringing leg when another member answered) -> idle.
   ``idle`` = ``paused(reason)`` if the agent is paused, else ``unreachable`` if its phone
   is offline, else ``available``.
6. Pausing or unpausing while ringing/on_call/wrap_up does not interrupt the call: it is
   remembered and decides the idle state when the call is over.
7. Asterisk is the truth: an event the table has no row for (a late AgentComplete without
   Dest fields after a transfer, a leg hang-up after AgentRingNoAnswer) changes nothing. An
   event for an unknown interface first adopts the agent (implicit login).
8. Accounting is the bridge's own: seconds per state and per pause reason, closed at every
   transition with the ``now`` passed in (Asterisk forgets a pause reason at unpause and
   resets LoginTime/LastPause on restart).
9. ``resync`` (after a reconnect) sets each agent to what QueueStatus says, bypassing the
   table; it is a transition too (cause ``resync``).
10. The phone: every member event and QueueStatus item carries the device state. Going to 4
   or 5 makes an available agent ``unreachable`` (cause ``phone offline``); leaving 4/5 makes
   an unreachable agent ``idle`` again (``phone back``). Busy or paused agents only note it:
   it decides their idle state later. An agent's phone is never counted as available.
11. Log-in is all or nothing (``login_rollback``): when one ``QueueAdd`` of a log-in fails,
   every queue that log-in already put the agent in is removed again, last first, so a
   failed log-in never leaves the agent half logged in (ringing in some queues).
   Log-out likewise (``logout_rollback``): when one ``QueueRemove`` fails, every queue that
   log-out already took the agent out of is added back, last first, paused as it was.
12. After-call work holds (``AgentConfig.hold_wrap_up_s`` > 0): the wrap-up lasts until the
   agent's wrap-up of that call is saved (``wrap_up_saved``) or ``hold_wrap_up_s`` pass,
   not Asterisk's short ``wrapuptime``. Entering the hold yields ``WrapUpHold(hold=True)``
   (the adapter pauses the member with ``hold_reason`` so app_queue does not ring it);
   leaving it for any reason but a log-out yields ``WrapUpHold(hold=False)`` (unpause), and
   a pause with ``hold_reason`` does not count when the idle state is chosen then.
13. Nobody at the desk: a logged-in, unpaused agent whose last desk (browser) closed
   ``desk_grace_s`` ago and did not come back is paused with ``disconnected_reason``
   (``AutoPause``), once per absence; a ring that ends with AgentRingNoAnswer pauses the
   agent with ``no_answer_reason`` (our own autopause: queues.conf keeps ``autopause = no``).
   Either reason empty (or the grace 0) turns that pause off.
14. Click to dial, the merchant's leg: once the agent's phone answered our Originate
   (``OutboundDialled``), the Dial from that leg reports ``ringing`` (DialBegin), then
   ``connected`` (DialEnd ANSWER) or ``failed`` (any other DialStatus) as ``OutboundProgress``
   effects; the agent's state does not change (it is on_call with its own phone). Asterisk
   sends the OriginateResponse from the originating thread while the answered leg already
   runs [cc-outbound], so under load the Dial's events can arrive before ``OutboundDialled``:
   Dial events of a leg nobody owns are kept (at most ``EARLY_DIALS`` legs, each for
   ``EARLY_DIAL_S``) and replayed, in order, when that leg turns out to be a click-to-dial.
15. A restart of the product keeps held after-call work (rule 12): the holds in progress
   (linked id, deadline) are stored and, after the first resync of a new board,
   ``restore_holds`` holds again each agent that Asterisk still reports paused with
   ``hold_reason``: until its deadline when that is still ahead (``wrap_up``, as before the
   restart), released at once (``WrapUpHold(hold=False)``: unpaused) when it has passed or
   holds are now off. An agent found on a call, or paused for another reason, was changed
   meanwhile and is left as the resync made it.

Every change of state or pause reason yields one ``AgentTransition`` effect, which the
dispatcher logs at INFO as ``agent Local/8001@agents/n: available -> ringing (AgentCalled)``.

State object: ``AgentBoard`` is a mutable record that ONLY the functions of this module mutate
(``transition``, ``tick``, ``resync``, ``on_shutdown``). They do no I/O and read no clock, so
they stay deterministic; mutating in place instead of copying keeps an event O(1) (the CTI
must sustain >100k events/s). Readers outside get values, not the records: ``snapshot()``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from cti.call_state import OutboundDialled
from cti.errors import AgentActionError
from cti.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    DialBegin,
    DialEnd,
    Hangup,
    QueueMember,
    QueueMemberAdded,
    QueueMemberEvent,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueMemberStatus,
)

__all__ = [
    "DEFAULT_ACW_REASONS",
    "EVENT_HANDLERS",
    "OFFLINE_DEVICE_STATES",
    "TRANSITIONS",
    "Agent",
    "AgentAction",
    "AgentBoard",
    "AgentConfig",
    "AgentSnapshot",
    "AgentStatus",
    "AgentTransition",
    "AutoPause",
    "OutboundProgress",
    "Trigger",
    "WrapUpHold",
    "check_action",
    "desk_closed",
    "desk_opened",
    "login_rollback",
    "logout_rollback",
    "new_board",
    "on_shutdown",
    "pause_seconds",
    "phone_offline",
    "restore_holds",
    "resync",
    "snapshot",
    "state_seconds",
    "tick",
    "transition",
    "wrap_up_saved",
]


class AgentStatus(enum.Enum):
    """The agent states (rule 2)."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    UNREACHABLE = "unreachable"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class Trigger(enum.Enum):
    """What happened to the agent, abstracted from the AMI event that said so."""

    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    RING = "ring"
    RING_END = "ring_end"
    CONNECT = "connect"
    HANG_UP = "hang_up"
    WRAP_UP_DONE = "wrap_up_done"
    WRAP_UP_SAVED = "wrap_up_saved"
    PHONE_OFFLINE = "phone_offline"
    PHONE_BACK = "phone_back"


_Target = AgentStatus | Literal["idle", "after_call"]

S = AgentStatus
T = Trigger

# The machine (rules 3-7). "idle": paused(reason) if paused else available.
# "after_call": wrap_up if the queue has a wrap-up time, else idle.
TRANSITIONS: Final[Mapping[tuple[AgentStatus, Trigger], _Target]] = MappingProxyType(
    {
        (S.LOGGED_OUT, T.LOGIN): "idle",
        (S.LOGGED_OUT, T.RING): S.RINGING,
        (S.LOGGED_OUT, T.CONNECT): S.ON_CALL,
        (S.AVAILABLE, T.PAUSE): S.PAUSED,
        (S.AVAILABLE, T.RING): S.RINGING,
        (S.AVAILABLE, T.CONNECT): S.ON_CALL,
        (S.AVAILABLE, T.LOGOUT): S.LOGGED_OUT,
        (S.AVAILABLE, T.PHONE_OFFLINE): S.UNREACHABLE,
        (S.UNREACHABLE, T.PHONE_BACK): "idle",
        (S.UNREACHABLE, T.PAUSE): S.PAUSED,
        (S.UNREACHABLE, T.RING): S.RINGING,  # Asterisk rang it after all: it is the truth
        (S.UNREACHABLE, T.CONNECT): S.ON_CALL,
        (S.UNREACHABLE, T.LOGOUT): S.LOGGED_OUT,
        (S.PAUSED, T.PAUSE): S.PAUSED,  # reason changed (lunch -> training)
        (S.PAUSED, T.UNPAUSE): "idle",
        (S.PAUSED, T.RING): S.RINGING,  # Asterisk rang a member we thought paused
        (S.PAUSED, T.CONNECT): S.ON_CALL,
        (S.PAUSED, T.LOGOUT): S.LOGGED_OUT,
        (S.RINGING, T.RING_END): "idle",
        (S.RINGING, T.CONNECT): S.ON_CALL,
        (S.RINGING, T.LOGOUT): S.LOGGED_OUT,
        (S.ON_CALL, T.HANG_UP): "after_call",
        (S.ON_CALL, T.LOGOUT): S.LOGGED_OUT,
        (S.WRAP_UP, T.WRAP_UP_DONE): "idle",
        (S.WRAP_UP, T.WRAP_UP_SAVED): "idle",  # rule 12
        (S.WRAP_UP, T.RING): S.RINGING,  # Asterisk considers the wrap-up over
        (S.WRAP_UP, T.CONNECT): S.ON_CALL,
        (S.WRAP_UP, T.LOGOUT): S.LOGGED_OUT,
    }
)
# Not in the table, on purpose: PAUSE/UNPAUSE while ringing/on_call/wrap_up (rule 6: only the
# flag changes), RING_END/HANG_UP when the agent is not on that leg any more (rule 7).

# Enum member lookups cost ~150 ns each on CPython 3.11: the handlers use these aliases.
_LOGGED_OUT: Final = AgentStatus.LOGGED_OUT
_AVAILABLE: Final = AgentStatus.AVAILABLE
_UNREACHABLE: Final = AgentStatus.UNREACHABLE
_RINGING: Final = AgentStatus.RINGING
_ON_CALL: Final = AgentStatus.ON_CALL
_WRAP_UP: Final = AgentStatus.WRAP_UP
_PAUSED: Final = AgentStatus.PAUSED
_T_LOGIN: Final = Trigger.LOGIN
_T_LOGOUT: Final = Trigger.LOGOUT
_T_PAUSE: Final = Trigger.PAUSE
_T_UNPAUSE: Final = Trigger.UNPAUSE
_T_RING: Final = Trigger.RING
_T_RING_END: Final = Trigger.RING_END
_T_CONNECT: Final = Trigger.CONNECT
_T_HANG_UP: Final = Trigger.HANG_UP
_T_WRAP_UP_DONE: Final = Trigger.WRAP_UP_DONE
_T_WRAP_UP_SAVED: Final = Trigger.WRAP_UP_SAVED
_T_PHONE_OFFLINE: Final = Trigger.PHONE_OFFLINE
_T_PHONE_BACK: Final = Trigger.PHONE_BACK

OFFLINE_DEVICE_STATES: Final = frozenset({4, 5})
"""Device states app_queue never rings: 4 invalid (no such device), 5 unavailable
(unregistered). Seen live: a member with ``StateInterface: PJSIP/8091`` on an Asterisk without
that endpoint is ``Status: 4`` (fixtures ``10-status-resync.ami``)."""

_BUSY: Final = frozenset({_RINGING, _ON_CALL, _WRAP_UP})

DEFAULT_ACW_REASONS: Final = frozenset({"acw", "after-call-work"})
"""Pause reasons that mean after-call work: the agent may still dial out."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Policy of the agent machine, built once from settings.

    ``wrap_up_s`` mirrors queues.conf ``wrapuptime`` (5 in the lab); ``wrap_up_by_queue``
    overrides it per queue. ``acw_reasons`` are pause reasons meaning "after-call work", in
    which an agent may still dial out. ``hold_wrap_up_s`` > 0 holds after-call work until
    the wrap-up is saved, at most that long (rule 12), pausing the member with
    ``hold_reason`` meanwhile; 0 keeps Asterisk's wrap-up time.
    """

    wrap_up_s: float = 5.0
    wrap_up_by_queue: Mapping[str, float] = field(default_factory=dict)
    acw_reasons: frozenset[str] = DEFAULT_ACW_REASONS
    hold_wrap_up_s: float = 0.0
    hold_reason: str = "acw"
    desk_grace_s: float = 0.0
    disconnected_reason: str = "disconnected"
    no_answer_reason: str = ""

    def wrap_up_for(self, queue: str | None) -> float:
        """Wrap-up seconds after a call from ``queue``."""
        if queue is not None and queue in self.wrap_up_by_queue:
            return self.wrap_up_by_queue[queue]
        return self.wrap_up_s


@dataclass(slots=True)
class Agent:
    """One agent's record; mutated only by this module's transition functions."""

    interface: str
    name: str
    status: AgentStatus = _LOGGED_OUT
    since: float = 0.0
    state_reason: str | None = None  # pause reason of the current paused(reason) interval
    memberships: dict[str, bool] = field(default_factory=dict)  # queue -> paused there
    paused: bool = False  # rule 4, as Asterisk has it now (may differ while busy)
    pause_reason: str | None = None
    linked_id: str | None = None  # the call being offered / handled
    leg_unique_id: str | None = None  # Uniqueid of the agent leg (DestUniqueid)
    queue: str | None = None
    wrap_up_until: float | None = None
    held: bool = False  # rule 12: we paused the member for after-call work
    desks: int = 0  # rule 13: desks (browsers) open now
    desk_gone_at: float | None = None  # rule 13: when the last desk closed
    device_status: int = 0  # the member's device state (rule 10); 0 = not reported
    seconds: dict[AgentStatus, float] = field(default_factory=dict)
    paused_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class AgentBoard:
    """All agents plus the indexes the events need; owned by the transition functions."""

    config: AgentConfig
    agents: dict[str, Agent] = field(default_factory=dict)
    by_leg: dict[str, str] = field(default_factory=dict)  # agent-leg Uniqueid -> interface
    # rule 14: Dial events of legs not (yet) known, Uniqueid -> [(seen at, event)], oldest first
    early_dials: dict[str, list[tuple[float, AmiEvent]]] = field(default_factory=dict)
    next_due: float = float("inf")  # earliest wrap-up end, so tick() is O(1) when idle


def new_board(config: AgentConfig | None = None) -> AgentBoard:
    """An empty board (no agent known yet)."""
    return AgentBoard(config or AgentConfig())


@dataclass(frozen=True, slots=True)
class AgentTransition:
    """Effect: an agent changed state (or pause reason). Log it; persist it if wanted."""

    interface: str
    old: AgentStatus
    new: AgentStatus
    cause: str
    at: float
    old_reason: str | None = None
    new_reason: str | None = None
    linked_id: str | None = None

    def describe(self) -> str:
        """``agent Local/8001@agents/n: available -> paused(lunch) (QueueMemberPause)``."""
        return (
            f"agent {self.interface}: {_label(self.old, self.old_reason)} -> "
            f"{_label(self.new, self.new_reason)} ({self.cause})"
        )


def _label(status: AgentStatus, reason: str | None) -> str:
    if status is _PAUSED and reason:
        return f"paused({reason})"
    return status.value


@dataclass(frozen=True, slots=True)
class WrapUpHold:
    """Effect (rule 12): pause (``hold``) or unpause the member in every queue with
    ``reason`` so app_queue does not ring it while its wrap-up is not saved."""

    interface: str
    hold: bool
    reason: str
    linked_id: str | None = None


@dataclass(frozen=True, slots=True)
class AutoPause:
    """Effect (rule 13): pause the member in every queue with ``reason`` (nobody at the desk,
    or a ring left unanswered)."""

    interface: str
    reason: str
    cause: str


@dataclass(frozen=True, slots=True)
class OutboundProgress:
    """Effect (rule 14): the merchant leg of an agent's click-to-dial is ``ringing``,
    ``connected`` or ``failed`` (``dial_status`` says why: BUSY, NOANSWER, CHANUNAVAIL…)."""

    interface: str
    linked_id: str
    status: str
    dial_status: str = ""


Effects = list[AgentTransition | WrapUpHold | AutoPause | OutboundProgress]


# -- core moves


def _agent(board: AgentBoard, interface: str, name: str, now: float) -> Agent:
    agent = board.agents.get(interface)
    if agent is None:
        agent = Agent(interface, name or interface, since=now)
        board.agents[interface] = agent
    elif name and agent.name == agent.interface:
        agent.name = name
    return agent


def _move(
    agent: Agent,
    new: AgentStatus,
    reason: str | None,
    cause: str,
    at: float,
    effects: Effects,
) -> None:
    old = agent.status
    old_reason = agent.state_reason
    if new is not _PAUSED:
        reason = None
    if new is old and reason == old_reason:
        return
    elapsed = at - agent.since
    if elapsed > 0:
        agent.seconds[old] = agent.seconds.get(old, 0.0) + elapsed
        if old is _PAUSED:
            key = old_reason or ""
            agent.paused_seconds[key] = agent.paused_seconds.get(key, 0.0) + elapsed
    agent.status = new
    agent.state_reason = reason
    agent.since = at
    effects.append(
        AgentTransition(agent.interface, old, new, cause, at, old_reason, reason, agent.linked_id)
    )


def _fire(
    board: AgentBoard, agent: Agent, trigger: Trigger, cause: str, at: float, effects: Effects
) -> bool:
    target = TRANSITIONS.get((agent.status, trigger))
    if target is None:
        return False
    config = board.config
    if target == "after_call":
        hold = config.hold_wrap_up_s
        wrap = hold if hold > 0 else config.wrap_up_for(agent.queue)
        if wrap > 0:
            agent.wrap_up_until = at + wrap
            board.next_due = min(board.next_due, agent.wrap_up_until)
            target = _WRAP_UP
            if hold > 0 and not agent.held:
                agent.held = True
                effects.append(WrapUpHold(agent.interface, True, config.hold_reason,
                                          agent.linked_id))
        else:
            target = "idle"
    releasing = agent.held and target is not _WRAP_UP
    if releasing:
        agent.held = False
        if target is not _LOGGED_OUT:
            effects.append(WrapUpHold(agent.interface, False, config.hold_reason,
                                      agent.linked_id))
    if target == "idle":
        if releasing and agent.paused and agent.pause_reason == config.hold_reason:
            target = _UNREACHABLE if agent.device_status in OFFLINE_DEVICE_STATES else _AVAILABLE
        else:
            target = _idle(agent)
    assert isinstance(target, AgentStatus)
    if target is not _WRAP_UP:
        agent.wrap_up_until = None
    if target not in _BUSY:
        _drop_call(board, agent)
    _move(agent, target, agent.pause_reason, cause, at, effects)
    return True


def phone_offline(agent: Agent) -> bool:
    """The member's device cannot ring (rule 10)."""
    return agent.device_status in OFFLINE_DEVICE_STATES


def _idle(agent: Agent) -> AgentStatus:
    if agent.paused:
        return _PAUSED
    return _UNREACHABLE if agent.device_status in OFFLINE_DEVICE_STATES else _AVAILABLE


def _note_device(board: AgentBoard, agent: Agent, status: int, cause: str, now: float,
                 effects: Effects) -> None:
    """Rule 10: take the device state a member event carries."""
    was = agent.device_status in OFFLINE_DEVICE_STATES
    agent.device_status = status
    offline = status in OFFLINE_DEVICE_STATES
    if offline is not was:
        _fire(board, agent, _T_PHONE_OFFLINE if offline else _T_PHONE_BACK,
              f"{cause}: phone {'offline' if offline else 'back'}", now, effects)


def _drop_call(board: AgentBoard, agent: Agent) -> None:
    if agent.leg_unique_id is not None:
        board.by_leg.pop(agent.leg_unique_id, None)
    agent.leg_unique_id = None
    agent.linked_id = None
    agent.queue = None


def _take_call(board: AgentBoard, agent: Agent, linked_id: str, leg: str, queue: str) -> None:
    if agent.leg_unique_id is not None and agent.leg_unique_id != leg:
        board.by_leg.pop(agent.leg_unique_id, None)
    agent.linked_id = linked_id
    agent.leg_unique_id = leg
    agent.queue = queue
    board.by_leg[leg] = agent.interface


def _sync_membership(
    board: AgentBoard, agent: Agent, queue: str, paused: bool, reason: str, cause: str,
    now: float, effects: Effects,
) -> None:
    """Apply rules 3-4 after a member event for ``queue``."""
    was_logged_out = agent.status is _LOGGED_OUT
    agent.memberships[queue] = paused
    all_paused = all(agent.memberships.values())
    if all_paused:
        new_reason = reason or (agent.pause_reason if agent.paused else None) or None
        changed = not agent.paused or new_reason != agent.pause_reason
        agent.paused = True
        agent.pause_reason = new_reason
    else:
        changed = agent.paused
        agent.paused = False
        agent.pause_reason = None
    if was_logged_out:
        _fire(board, agent, _T_LOGIN, cause, now, effects)
    elif changed:
        _fire(board, agent, _T_PAUSE if agent.paused else _T_UNPAUSE, cause, now, effects)


# -- event handlers


def _on_member_added(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, QueueMemberEvent)
    agent = _agent(board, ev.interface, ev.member_name, now)
    if agent.status is _LOGGED_OUT:
        agent.device_status = ev.status  # the login goes straight to the right idle state
    else:
        _note_device(board, agent, ev.status, "QueueMemberAdded", now, effects)
    _sync_membership(board, agent, ev.queue, ev.paused, ev.paused_reason, "QueueMemberAdded",
                     now, effects)


def _on_member_removed(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, QueueMemberRemoved)
    agent = board.agents.get(ev.interface)
    if agent is None:
        return
    agent.memberships.pop(ev.queue, None)
    if not agent.memberships:
        agent.paused = False
        agent.pause_reason = None
        agent.wrap_up_until = None
        _fire(board, agent, _T_LOGOUT, "QueueMemberRemoved", now, effects)
        _drop_call(board, agent)
        return
    # Leaving the only unpaused queue can make the agent paused everywhere (rule 4).
    paused_queues = [q for q, p in agent.memberships.items() if p]
    if len(paused_queues) == len(agent.memberships) and not agent.paused:
        agent.paused = True
        _fire(board, agent, _T_PAUSE, "QueueMemberRemoved", now, effects)


def _on_member_pause(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, QueueMemberEvent)
    agent = _agent(board, ev.interface, ev.member_name, now)
    cause = "QueueMemberPause" if isinstance(ev, QueueMemberPause) else "QueueMemberStatus"
    if agent.status is _LOGGED_OUT:
        agent.device_status = ev.status
    else:
        _note_device(board, agent, ev.status, cause, now, effects)
    known = agent.memberships.get(ev.queue)
    if known is None or known != ev.paused or (ev.paused and ev.paused_reason
                                                and ev.paused_reason != agent.pause_reason):
        _sync_membership(board, agent, ev.queue, ev.paused, ev.paused_reason, cause, now, effects)


def _on_agent_called(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentCalled)
    agent = _agent(board, ev.interface, ev.member_name, now)
    if ev.queue not in agent.memberships:
        agent.memberships[ev.queue] = False
    if agent.status is _ON_CALL:
        return  # ringinuse: a second offer does not change what the agent is doing
    _take_call(board, agent, ev.linked_id, ev.dest_unique_id, ev.queue)
    _fire(board, agent, _T_RING, "AgentCalled", now, effects)


def _on_ring_end(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentRingNoAnswer | AgentDump)
    agent = board.agents.get(ev.interface)
    if agent is None or agent.status is not _RINGING:
        return
    if ev.dest_unique_id is not None and agent.leg_unique_id != ev.dest_unique_id:
        return
    _fire(board, agent, _T_RING_END, type(ev).__name__, now, effects)
    reason = board.config.no_answer_reason
    if reason and isinstance(ev, AgentRingNoAnswer) and not agent.paused:
        effects.append(AutoPause(agent.interface, reason, "AgentRingNoAnswer"))


def _on_agent_connect(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentConnect)
    agent = _agent(board, ev.interface, ev.member_name, now)
    if ev.queue not in agent.memberships:
        agent.memberships[ev.queue] = False
    _take_call(board, agent, ev.linked_id, ev.dest_unique_id, ev.queue)
    _fire(board, agent, _T_CONNECT, "AgentConnect", now, effects)


def _on_outbound_dialled(board: AgentBoard, ev: AmiEvent, now: float,
                         effects: Effects) -> None:
    # The agent's own click-to-dial was answered on its phone: on_call until that leg hangs
    # up (rule 5; the leg is the originated channel, Uniqueid = Linkedid).
    assert isinstance(ev, OutboundDialled)
    agent = board.agents.get(ev.agent_interface)
    if agent is None:
        return
    _take_call(board, agent, ev.linked_id, ev.linked_id, "")
    _fire(board, agent, _T_CONNECT, "click-to-dial", now, effects)
    for seen, early in board.early_dials.pop(ev.linked_id, []):
        if now - seen <= EARLY_DIAL_S:
            _on_dial(board, early, now, effects)


def _on_agent_complete(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentComplete)
    if ev.dest_unique_id is None:
        return  # the late, Dest-less form after a Redirect: the leg hang-up already counted
    agent = board.agents.get(ev.interface)
    if agent is None or agent.leg_unique_id != ev.dest_unique_id:
        return
    _fire(board, agent, _T_HANG_UP, "AgentComplete", now, effects)


def _on_hangup(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, Hangup)
    interface = board.by_leg.pop(ev.unique_id, None)
    if interface is None:
        return
    agent = board.agents.get(interface)
    if agent is None or agent.leg_unique_id != ev.unique_id:
        return
    if agent.status is _RINGING:
        _fire(board, agent, _T_RING_END, "Hangup", now, effects)
    elif agent.status is _ON_CALL:
        _fire(board, agent, _T_HANG_UP, "Hangup", now, effects)


def _on_dial(board: AgentBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    # rule 14: only the Dial from the leg of an agent's own click-to-dial (queue "")
    assert isinstance(ev, DialBegin | DialEnd)
    interface = board.by_leg.get(ev.unique_id) if ev.unique_id else None
    if interface is None:
        if ev.unique_id:
            _keep_early_dial(board, ev.unique_id, ev, now)
        return
    agent = board.agents.get(interface)
    if agent is None or agent.queue != "" or agent.linked_id != ev.linked_id:
        return
    if isinstance(ev, DialBegin):
        effects.append(OutboundProgress(interface, ev.linked_id, "ringing"))
    else:
        status = "connected" if ev.dial_status == "ANSWER" else "failed"
        effects.append(OutboundProgress(interface, ev.linked_id, status, ev.dial_status))


EARLY_DIAL_S: Final = 30.0
"""Rule 14: how long a Dial event of an unknown leg waits for its ``OutboundDialled``."""
EARLY_DIALS: Final = 256
"""Rule 14: at most this many unknown legs are remembered (queue calls dial too)."""


def _keep_early_dial(board: AgentBoard, unique_id: str, ev: AmiEvent, now: float) -> None:
    early = board.early_dials
    if unique_id not in early and len(early) >= EARLY_DIALS:
        for key in [k for k, seen in early.items() if now - seen[0][0] > EARLY_DIAL_S]:
            del early[key]
        if len(early) >= EARLY_DIALS:
            del early[next(iter(early))]  # the oldest leg (dicts keep insertion order)
    early.setdefault(unique_id, []).append((now, ev))


_Handler = Callable[[AgentBoard, AmiEvent, float, Effects], None]

EVENT_HANDLERS: Final[Mapping[type[AmiEvent], _Handler]] = MappingProxyType(
    {
        QueueMemberAdded: _on_member_added,
        QueueMemberRemoved: _on_member_removed,
        QueueMemberPause: _on_member_pause,
        QueueMemberStatus: _on_member_pause,
        AgentCalled: _on_agent_called,
        AgentRingNoAnswer: _on_ring_end,
        AgentDump: _on_ring_end,
        AgentConnect: _on_agent_connect,
        AgentComplete: _on_agent_complete,
        Hangup: _on_hangup,
        OutboundDialled: _on_outbound_dialled,
        DialBegin: _on_dial,
        DialEnd: _on_dial,
    }
)
"""Event type -> how it moves an agent. Events not listed do not concern agents."""


def transition(board: AgentBoard, event: AmiEvent, now: float) -> tuple[AgentBoard, Effects]:
    """Apply one decoded event; returns the (same, updated) board and the transitions."""
    effects: Effects = []
    if now >= board.next_due:
        _expire_wrap_ups(board, now, effects)
    handler = EVENT_HANDLERS.get(type(event))
    if handler is not None:
        handler(board, event, now, effects)
    return board, effects


def tick(board: AgentBoard, now: float) -> tuple[AgentBoard, Effects]:
    """Advance timers: end every wrap-up due by ``now`` (at its due time, for accounting);
    pause agents whose desk stayed closed past the grace (rule 13)."""
    effects: Effects = []
    if now >= board.next_due:
        _expire_wrap_ups(board, now, effects)
    return board, effects


def wrap_up_saved(board: AgentBoard, linked_id: str, now: float) -> tuple[AgentBoard, Effects]:
    """The wrap-up of call ``linked_id`` was saved: end the held after-call work of the agent
    who took it (rule 12). Without a hold (or for another call) nothing changes."""
    effects: Effects = []
    if now >= board.next_due:
        _expire_wrap_ups(board, now, effects)
    for agent in board.agents.values():
        if agent.held and agent.status is _WRAP_UP and agent.linked_id == linked_id:
            _fire(board, agent, _T_WRAP_UP_SAVED, "wrap-up saved", now, effects)
    return board, effects


def desk_opened(board: AgentBoard, interface: str, name: str, now: float) -> None:
    """A desk (browser) of the agent of ``interface`` connected (rule 13)."""
    agent = _agent(board, interface, name, now)
    agent.desks += 1
    agent.desk_gone_at = None


def desk_closed(board: AgentBoard, interface: str, now: float) -> None:
    """A desk of the agent of ``interface`` disconnected: with none left, the grace starts."""
    agent = board.agents.get(interface)
    if agent is None:
        return
    agent.desks = max(0, agent.desks - 1)
    grace = board.config.desk_grace_s
    if agent.desks == 0 and grace > 0 and board.config.disconnected_reason:
        agent.desk_gone_at = now
        board.next_due = min(board.next_due, now + grace)


def _desk_gone(board: AgentBoard, agent: Agent, now: float, effects: Effects) -> float:
    """Rule 13 for one agent whose desk is gone: pause it when the grace is over; returns when
    to look again (inf: never)."""
    gone = agent.desk_gone_at
    if gone is None:
        return float("inf")
    due = gone + board.config.desk_grace_s
    if now < due:
        return due
    agent.desk_gone_at = None
    if agent.status is not _LOGGED_OUT and not agent.paused:
        effects.append(AutoPause(agent.interface, board.config.disconnected_reason,
                                 "desk closed"))
    return float("inf")


def _expire_wrap_ups(board: AgentBoard, now: float, effects: Effects) -> None:
    next_due = float("inf")
    for agent in board.agents.values():
        if agent.desk_gone_at is not None:
            next_due = min(next_due, _desk_gone(board, agent, now, effects))
        until = agent.wrap_up_until
        if until is None:
            continue
        if until <= now and agent.status is _WRAP_UP:
            cause = "wrap-up not saved in time" if agent.held else "wrap-up time over"
            _fire(board, agent, _T_WRAP_UP_DONE, cause, until, effects)
        elif agent.status is _WRAP_UP:
            next_due = min(next_due, until)
        else:
            agent.wrap_up_until = None
    board.next_due = next_due


def on_shutdown(
    board: AgentBoard, now: float, cause: str = "Shutdown"
) -> tuple[AgentBoard, Effects]:
    """Asterisk is going away: every ring and call of every agent is over.

    Memberships and pauses are kept: dynamic members come back from astdb after a restart
    (``persistentmembers = yes``), and ``resync`` confirms them.
    """
    effects: Effects = []
    for agent in board.agents.values():
        if agent.status is _RINGING:
            _fire(board, agent, _T_RING_END, cause, now, effects)
        elif agent.status is _ON_CALL:
            _fire(board, agent, _T_HANG_UP, cause, now, effects)
    return board, effects


def resync(
    board: AgentBoard,
    members: Iterable[QueueMember],
    now: float,
    *,
    busy: Mapping[str, str] | None = None,
) -> tuple[AgentBoard, Effects]:
    """Rebuild every agent from QueueStatus ``QueueMember`` items (rule 9).

    ``busy`` maps interfaces found bridged in a call (by the call resync) to that call's
    linked id. Agents absent from ``members`` are logged out.
    """
    busy = busy or {}
    effects: Effects = []
    seen: dict[str, list[QueueMember]] = {}
    for item in members:
        seen.setdefault(item.interface, []).append(item)
    for interface in [i for i in board.agents if i not in seen]:
        agent = board.agents[interface]
        if agent.status is not _LOGGED_OUT:
            _drop_call(board, agent)
            agent.memberships.clear()
            agent.paused = False
            agent.pause_reason = None
            agent.wrap_up_until = None
            agent.held = False
            _move(agent, _LOGGED_OUT, None, "resync", now, effects)
    for interface, items in seen.items():
        agent = _agent(board, interface, items[0].member_name, now)
        agent.memberships = {item.queue: item.paused for item in items}
        agent.paused = all(agent.memberships.values())
        reasons = [item.paused_reason for item in items if item.paused and item.paused_reason]
        agent.pause_reason = reasons[0] if agent.paused and reasons else None
        agent.device_status = items[0].status
        linked_id = busy.get(interface)
        if linked_id is not None or any(item.in_call for item in items):
            if agent.linked_id != linked_id:
                _drop_call(board, agent)
                agent.linked_id = linked_id
            target = _ON_CALL
        elif (agent.held and agent.status is _WRAP_UP and agent.wrap_up_until is not None
              and agent.paused and agent.pause_reason == board.config.hold_reason):
            target = _WRAP_UP  # rule 12: the hold survives a reconnect
            _move(agent, target, None, "resync", now, effects)
            continue
        else:
            if agent.held:  # the hold cannot be resumed: release it (rule 12)
                agent.held = False
                effects.append(WrapUpHold(interface, False, board.config.hold_reason,
                                          agent.linked_id))
            _drop_call(board, agent)
            target = _idle(agent)
        agent.wrap_up_until = None
        _move(agent, target, agent.pause_reason, "resync", now, effects)
    return board, effects


def restore_holds(board: AgentBoard, holds: Mapping[str, tuple[str, float]], now: float
                  ) -> tuple[AgentBoard, Effects]:
    """Rule 15: ``holds`` maps an interface to the (linked id, deadline) of the held
    after-call work it was in before a restart; call it after the first ``resync``."""
    effects: Effects = []
    config = board.config
    for interface, (linked_id, until) in holds.items():
        agent = board.agents.get(interface)
        if (agent is None or agent.held or agent.status is not _PAUSED
                or agent.pause_reason != config.hold_reason):
            continue
        if config.hold_wrap_up_s > 0 and until > now:
            agent.held = True
            agent.linked_id = linked_id
            agent.wrap_up_until = until
            board.next_due = min(board.next_due, until)
            _move(agent, _WRAP_UP, None, "hold restored", now, effects)
        else:
            effects.append(WrapUpHold(interface, False, config.hold_reason, linked_id))
    return board, effects


# -- log-in plan (rule 11)


def login_rollback(succeeded: Sequence[str]) -> tuple[str, ...]:
    """The queues to ``QueueRemove`` after a log-in failed: every queue whose ``QueueAdd``
    succeeded (``Already there`` included: the desk shows the agent logged out), last first."""
    return tuple(reversed(succeeded))


def logout_rollback(removed: Sequence[str], paused: Mapping[str, bool]
                    ) -> tuple[tuple[str, bool], ...]:
    """The ``(queue, paused)`` members to ``QueueAdd`` back after a log-out failed: every
    queue whose ``QueueRemove`` succeeded, last first, paused as the agent was there."""
    return tuple((queue, paused.get(queue, False)) for queue in reversed(removed))


# -- reading


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """A frozen view of one agent for readers (web UI, API)."""

    interface: str
    name: str
    status: AgentStatus
    state_reason: str | None  # reason of the current paused(reason) state
    since: float
    queues: tuple[str, ...]
    linked_id: str | None
    paused: bool  # paused in Asterisk (may be pending while ringing/on a call)
    pause_reason: str | None
    phone_offline: bool = False  # rule 10


def snapshot(board: AgentBoard) -> tuple[AgentSnapshot, ...]:
    """Frozen views of every known agent."""
    return tuple(
        AgentSnapshot(
            a.interface, a.name, a.status, a.state_reason, a.since,
            tuple(sorted(a.memberships)), a.linked_id, a.paused, a.pause_reason,
            phone_offline(a),
        )
        for a in board.agents.values()
    )


def state_seconds(agent: Agent, now: float) -> dict[AgentStatus, float]:
    """Seconds spent in each state, including the current, still open interval."""
    totals = dict(agent.seconds)
    if now > agent.since:
        totals[agent.status] = totals.get(agent.status, 0.0) + (now - agent.since)
    return totals


def pause_seconds(agent: Agent, now: float) -> dict[str, float]:
    """Seconds paused per reason ('' for a pause without reason), open interval included."""
    totals = dict(agent.paused_seconds)
    if agent.status is _PAUSED and now > agent.since:
        key = agent.state_reason or ""
        totals[key] = totals.get(key, 0.0) + (now - agent.since)
    return totals


# -- rule checks for agent actions


class AgentAction(enum.Enum):
    """What an agent asks for from the web UI."""

    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    RESUME = "resume"
    DIAL = "dial"
    TRANSFER = "transfer"
    HANGUP = "hangup"


def check_action(
    agent: Agent | AgentSnapshot | None,
    action: AgentAction,
    *,
    acw_reasons: frozenset[str] = DEFAULT_ACW_REASONS,
) -> None:
    """Refuse an action the agent's state does not allow; ``None`` means allowed.

    Raises ``AgentActionError`` with a stable ``error_id``:

    * login only when logged out (``already_logged_in``);
    * logout only when logged in (``not_logged_in``) and not ringing/on a call (``agent_busy``);
    * pause only when logged in and not already paused (``already_paused``);
    * resume only when paused (``not_paused``);
    * dial only when available, or paused for after-call work (``not_available``);
    * transfer and hangup only when on a call (``not_on_call``).
    """
    if agent is None:
        status, paused, reason = _LOGGED_OUT, False, None
    else:
        status = agent.status
        paused = agent.paused or status is _PAUSED
        reason = agent.pause_reason if agent.paused else agent.state_reason
    logged_in = status is not _LOGGED_OUT
    if action is AgentAction.LOGIN:
        if logged_in:
            raise AgentActionError("already_logged_in", "the agent is already logged in")
        return
    if not logged_in:
        raise AgentActionError("not_logged_in", "the agent is not logged in")
    if action is AgentAction.LOGOUT:
        if status in (_RINGING, _ON_CALL):
            raise AgentActionError("agent_busy", f"cannot log out while {status.value}")
    elif action is AgentAction.PAUSE:
        if paused:
            raise AgentActionError("already_paused", "the agent is already paused")
    elif action is AgentAction.RESUME:
        if not paused:
            raise AgentActionError("not_paused", "the agent is not paused")
    elif action is AgentAction.DIAL:
        acw = status is _PAUSED and reason is not None and reason in acw_reasons
        if status is not _AVAILABLE and not acw:
            raise AgentActionError(
                "not_available", f"cannot dial while {_label(status, reason)}"
            )
    elif action in (AgentAction.TRANSFER, AgentAction.HANGUP) and status is not _ON_CALL:
        raise AgentActionError("not_on_call", f"no call to {action.value} ({status.value})")
