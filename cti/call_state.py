"""Call tracker: pure, keyed on Linkedid.

Rules of the tracker
--------------------
1. A call is everything sharing one Linkedid: with Local channels the ``;1``/``;2`` halves of
   the caller and of every agent leg; with SIP one channel per party. Nothing here depends on
   Local pairs: channels are a set of Uniqueids, the call ends when the set is empty.
2. A call starts with the Newchannel whose ``unique_id == linked_id``. It is a merchant call
   (kind ``inbound``) when that channel starts in one of ``CallConfig.merchant_contexts``
   (``from-trunk``), else ``internal`` (the supervisor's ChanSpy originate has its own
   Linkedid and context ``supervisor``: it never creates a merchant call). A call that joins a
   queue is a merchant call whatever its context.
3. States of a merchant call::

       ivr --QueueCallerJoin--> queued --AgentCalled--> ringing --AgentConnect--> connected
                                  ^  <--RingNoAnswer (last ringing agent)--|           |
                                  |                                          agent leg ends
                                  +------------- QueueCallerJoin (transfer) -- wrap_up <-+
       any state --last channel Hangup--> ended

   Internal calls stay ``active`` until they end.
   A click-to-dial call (``OutboundDialled``: the bridge's own Originate was answered by the
   agent's phone) is kind ``outbound``: the merchant's number is its ``caller``, the agent's
   leg (the originated channel, whose Uniqueid is the Linkedid) its segment, ``connected``
   from the agent's answer; it is kept like a merchant call (row, timeline, recording).
4. The IVR result comes from ``UserEvent: CcIvrResult`` (before QueueCallerJoin). The first
   QueueCallerJoin emits ``PrefetchMerchant`` so the merchant record is loaded before any
   phone rings; each AgentCalled emits ``ScreenPop`` for that agent.
   Overflow: the dialplan moves a caller on to the queue's fallback when ``Queue()`` timed
   out, or at once when nobody of the queue is logged in. A QueueCallerJoin after a visit
   nobody answered, or a first one in another queue than the IVR's, is an overflow, not a
   transfer: ``overflow_from`` is the first queue the caller was sent to (the pop says
   so), ``CallQueued.overflow_from`` too, and it counts in no ``transfers``.
5. Ring-no-answer: the agent is dropped from the ringing set, the call keeps ringing the
   others (or waits, ``queued``, until the next AgentCalled).
6. An agent segment (one agent talking) starts at AgentConnect and ends at whichever comes
   first: AgentComplete naming its leg, Hangup of its leg, or the end of the call. After a
   Redirect to another queue, Asterisk sends the first queue's AgentComplete only at the final
   hang-up, without Dest headers and with a TalkTime covering the rest of the call: it is
   logged and ignored. Talk time = the sum of the segments on our own clock; wait time = the
   sum, over queue visits, of join -> answer (or leave).
7. Outcome at the end: ``answered`` if any agent talked; else ``callback_requested`` if the
   caller pressed 1 in a queue and the call-back was booked (``UserEvent: CcCallbackRequest``
   with ``CcCallbackOutcome: requested``, after ``QueueCallerLeave``; the dialplan then hangs
   up: capture ``12-queue-callback``); else ``abandoned`` if the caller gave up in a queue
   (QueueCallerAbandon, also during a ``core restart``); else ``failed`` if it was queued (left
   unanswered: timeout, or lost across a resync/shutdown); else ``ivr_only``. Internal calls
   end as ``internal``. A request not booked (cancelled, unknown merchant, FastAGI down) is
   logged and changes nothing: the caller is back in the queue.
8. Recording file: ``MIXMONITOR_FILENAME`` (VarSet, only with the ``dialplan`` read class)
   when seen, else derived from the dialplan's convention through ``CallConfig``'s templates:
   ``/var/spool/asterisk/monitor/{unique_id}.wav`` for the first queue visit,
   ``…/{unique_id}-{queue}.wav`` after a transfer, where ``unique_id`` is the Uniqueid of the
   recorded (caller) channel. ``parse_recording_path`` is the inverse.
9. ``resync`` rebuilds the calls from Status (every channel) + QueueStatus + QueueSummary
   after a reconnect: calls no longer there end (``lost``) at the instant the connection was
   lost when that is known, live ones not known are adopted. Each list may be missing (its
   action was refused or failed); a missing channel list ends nothing.
10. Legs: the call knows the channel name of every agent leg (``agent_channels``, leg Uniqueid
   -> channel, from AgentCalled/AgentConnect ``DestChannel`` or the resync's channel list) and
   of the caller (``caller_channel``): the agent actions Hangup/Atxfer the agent's leg and
   Redirect the caller's. They go when the call ends.
11. Spies: ChanSpyStart remembers the supervisor's spy channel (``CallBoard.spies``, by its
   Uniqueid). The spy ends at whichever comes first, ChanSpyStop for that channel or the
   Hangup of that channel (the supervisor hung up their phone; ChanSpy's ``E``: the spied
   call ended): one ``SpyEnded`` effect, and ``spy_stopped`` on the spied call's timeline.

State object: ``CallBoard`` is mutated in place, ONLY by this module's functions
(``transition``, ``resync``); they do no I/O and take the time as ``now``. Copying the board
per event would make an event O(calls); in place it is O(1), which the >100k events/s target
needs. Effects are frozen dataclasses.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from cti.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    AttendedTransfer,
    BlindTransfer,
    CallbackRequest,
    ChanSpyStart,
    ChanSpyStop,
    CoreShowChannel,
    Hangup,
    IvrResult,
    MixMonitorFilename,
    MixMonitorStart,
    MixMonitorStop,
    Newchannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueParams,
    QueueSummary,
    Shutdown,
)

__all__ = [
    "EVENT_HANDLERS",
    "Call",
    "CallBoard",
    "CallConfig",
    "CallConnected",
    "CallCreated",
    "CallEffect",
    "CallEnded",
    "CallEventLogged",
    "CallKind",
    "CallQueued",
    "CallState",
    "LiveChannel",
    "OutboundDialled",
    "Outcome",
    "PrefetchMerchant",
    "QueueInfo",
    "RecordingStarted",
    "RecordingStopped",
    "ScreenPop",
    "Spy",
    "SpyEnded",
    "busy_agents",
    "interface_channel_prefix",
    "new_board",
    "parse_recording_path",
    "recording_path",
    "resync",
    "talk_seconds",
    "transition",
    "wait_seconds",
]


class CallState(enum.Enum):
    """Rule 3."""

    IVR = "ivr"
    QUEUED = "queued"
    RINGING = "ringing"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    ENDED = "ended"
    ACTIVE = "active"  # internal (non-merchant) call


class CallKind(enum.Enum):
    """Rule 2."""

    INBOUND = "inbound"
    INTERNAL = "internal"
    OUTBOUND = "outbound"


class Outcome(enum.Enum):
    """Rule 7."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    CALLBACK_REQUESTED = "callback_requested"
    IVR_ONLY = "ivr_only"
    FAILED = "failed"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class CallConfig:
    """Policy of the call tracker, built once from settings.

    ``merchant_contexts``: dialplan contexts a merchant call's channels run in (the inbound
    context, and the transfer context which the caller channel shows after a Redirect).
    The templates know ``{unique_id}`` (recorded channel), ``{linked_id}`` and ``{queue}``.
    """

    merchant_contexts: frozenset[str] = frozenset({"from-trunk", "cc-transfer"})
    recording_template: str = "/var/spool/asterisk/monitor/{unique_id}.wav"
    transfer_recording_template: str = "/var/spool/asterisk/monitor/{unique_id}-{queue}.wav"


# Enum member lookups cost ~150 ns each on CPython 3.11: the handlers use these aliases.
_S_IVR: Final = CallState.IVR
_S_QUEUED: Final = CallState.QUEUED
_S_RINGING: Final = CallState.RINGING
_S_CONNECTED: Final = CallState.CONNECTED
_S_WRAP_UP: Final = CallState.WRAP_UP
_S_ENDED: Final = CallState.ENDED
_S_ACTIVE: Final = CallState.ACTIVE
_K_INBOUND: Final = CallKind.INBOUND
_K_INTERNAL: Final = CallKind.INTERNAL
_K_OUTBOUND: Final = CallKind.OUTBOUND
_O_ANSWERED: Final = Outcome.ANSWERED
_O_ABANDONED: Final = Outcome.ABANDONED
_O_CALLBACK_REQUESTED: Final = Outcome.CALLBACK_REQUESTED
_O_IVR_ONLY: Final = Outcome.IVR_ONLY
_O_FAILED: Final = Outcome.FAILED
_O_INTERNAL: Final = Outcome.INTERNAL


# -- recording paths (template and inverse, kept together)


def recording_path(template: str, *, unique_id: str, linked_id: str, queue: str) -> str:
    """Fill a recording template: ``…/{unique_id}.wav`` -> ``…/1795330137.1.wav``."""
    return template.format(unique_id=unique_id, linked_id=linked_id, queue=queue)


_PLACEHOLDERS: Final = {
    "unique_id": r"(?P<unique_id>[0-9]+\.[0-9]+)",
    "linked_id": r"(?P<linked_id>[0-9]+\.[0-9]+)",
    "queue": r"(?P<queue>[^/]+?)",
}


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, group in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), group, 1)
    return re.compile(pattern + r"\Z")


def parse_recording_path(path: str, config: CallConfig) -> tuple[str, str | None] | None:
    """Inverse of ``recording_path`` for both templates: ``(unique_id, queue or None)``.

    ``…/1795330300.1-presales.wav`` -> ``("1795330300.1", "presales")``;
    ``…/1795330300.1.wav`` -> ``("1795330300.1", None)``; anything else -> None.
    """
    for template in (config.transfer_recording_template, config.recording_template):
        match = _template_regex(template).match(path)
        if match:
            groups = match.groupdict()
            if "unique_id" in groups:
                return groups["unique_id"], groups.get("queue")
    return None


# -- state


@dataclass(slots=True)
class QueueVisit:
    """One stay of the caller in one queue."""

    queue: str
    joined_at: float
    position: int
    left_at: float | None = None
    answered_at: float | None = None
    abandoned: bool = False


@dataclass(slots=True)
class AgentSegment:
    """One agent talking with the caller (rule 6)."""

    interface: str
    queue: str | None
    leg_unique_id: str | None
    started_at: float
    ended_at: float | None = None


@dataclass(slots=True)
class Recording:
    """One MixMonitor file of the call."""

    path: str
    unique_id: str
    started_at: float
    stopped_at: float | None = None


@dataclass(slots=True)
class Call:
    """One call's record; mutated only by this module's functions."""

    linked_id: str
    kind: CallKind
    state: CallState
    created_at: float
    channels: set[str] = field(default_factory=set)
    caller: str | None = None
    caller_name: str | None = None
    caller_unique_id: str | None = None  # the channel in the IVR/queue (;2, or the trunk)
    caller_channel: str | None = None  # its name: the channel to Redirect for a transfer
    merchant_id: str | None = None
    merchant_verified: bool | None = None
    intent: str | None = None
    ivr_path: str | None = None
    ivr_queue: str | None = None
    overflow_from: str | None = None  # the unanswered queue the caller overflowed from
    priority: int | None = None
    lang: str | None = None
    visits: list[QueueVisit] = field(default_factory=list)
    ringing: dict[str, str] = field(default_factory=dict)  # interface -> agent leg Uniqueid
    agent_channels: dict[str, str] = field(default_factory=dict)  # leg Uniqueid -> channel
    rang_no_answer: list[str] = field(default_factory=list)
    segments: list[AgentSegment] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    pending_paths: dict[str, str] = field(default_factory=dict)  # Uniqueid -> MIXMONITOR path
    abandoned: bool = False
    callback_requested: bool = False  # rule 7: a call-back was booked from the queue
    hangup_cause: int | None = None
    adopted: bool = False
    ended_at: float | None = None
    outcome: Outcome | None = None

    @property
    def queue(self) -> str | None:
        """The queue of the latest visit."""
        return self.visits[-1].queue if self.visits else None

    @property
    def agent(self) -> str | None:
        """The interface of the latest agent who answered."""
        return self.segments[-1].interface if self.segments else None


@dataclass(slots=True)
class QueueInfo:
    """What the tracker knows about one queue (live counts + last QueueStatus/Summary)."""

    name: str
    waiting: int = 0
    logged_in: int | None = None
    available: int | None = None
    completed: int | None = None
    abandoned: int | None = None
    strategy: str | None = None
    longest_hold_s: int | None = None


@dataclass(slots=True)
class CallBoard:
    """Calls in progress and queues; owned by ``transition``/``resync``."""

    config: CallConfig
    calls: dict[str, Call] = field(default_factory=dict)
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    spies: dict[str, Spy] = field(default_factory=dict)  # spyer Uniqueid -> spy (rule 11)


@dataclass(frozen=True, slots=True)
class Spy:
    """A running ChanSpy (rule 11): the supervisor's channel and the call it listens to."""

    spyer_channel: str
    spyer_linked_id: str
    spyee_channel: str
    spyee_linked_id: str
    started_at: float


def new_board(config: CallConfig | None = None) -> CallBoard:
    """An empty board."""
    return CallBoard(config or CallConfig())


# -- effects


@dataclass(frozen=True, slots=True)
class CallCreated:
    """A call appeared (or was adopted by a resync)."""

    linked_id: str
    kind: CallKind
    caller: str | None
    at: float
    adopted: bool = False


@dataclass(frozen=True, slots=True)
class CallQueued:
    """The caller joined ``queue`` (``transferred``: not the call's first queue)."""

    linked_id: str
    queue: str
    position: int
    at: float
    transferred: bool = False
    overflow_from: str | None = None


@dataclass(frozen=True, slots=True)
class PrefetchMerchant:
    """Load the merchant's record now, before an agent's phone rings."""

    linked_id: str
    merchant_number: str | None
    caller: str | None


@dataclass(frozen=True, slots=True)
class ScreenPop:
    """Show the call on ``agent_interface``'s browser: its phone is ringing."""

    agent_interface: str
    linked_id: str
    queue: str
    caller: str | None = None
    merchant_number: str | None = None


@dataclass(frozen=True, slots=True)
class CallConnected:
    """``agent_interface`` answered after ``wait_s`` seconds in ``queue``."""

    linked_id: str
    agent_interface: str
    queue: str
    at: float
    wait_s: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; times come from the tracker's own timeline (rule 6)."""

    linked_id: str
    kind: CallKind
    outcome: Outcome
    at: float
    wait_s: float
    talk_s: float
    caller: str | None = None
    merchant_number: str | None = None
    intent: str | None = None
    queue: str | None = None
    agent_interface: str | None = None
    hangup_cause: int | None = None
    transfers: int = 0
    adopted: bool = False
    lost: bool = False


@dataclass(frozen=True, slots=True)
class CallEventLogged:
    """One line of the call's timeline, for persistence (``kind`` e.g. ``connected``)."""

    linked_id: str
    kind: str
    at: float
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    """The queue started recording ``unique_id`` into ``path``."""

    linked_id: str
    path: str
    unique_id: str
    at: float


@dataclass(frozen=True, slots=True)
class RecordingStopped:
    """The recording at ``path`` is complete (StopMixMonitor, or the call ended)."""

    linked_id: str
    path: str
    at: float


@dataclass(frozen=True, slots=True)
class SpyEnded:
    """The supervisor's spy channel stopped spying (rule 11): ``by`` is ``ChanSpyStop`` or
    ``Hangup``, whichever came first."""

    spyer_channel: str
    spyer_linked_id: str
    spyee_linked_id: str
    at: float
    by: str


CallEffect = (
    CallCreated
    | CallQueued
    | PrefetchMerchant
    | ScreenPop
    | CallConnected
    | CallEnded
    | CallEventLogged
    | RecordingStarted
    | RecordingStopped
    | SpyEnded
)
Effects = list[CallEffect]


# -- helpers


def _overflow_from(call: Call, queue: str) -> str | None:
    """Rule 4: the queue the caller overflowed from when joining ``queue``, or None (the
    IVR's queue, a transfer). The first queue the caller was sent to is kept."""
    if not call.visits:  # skipped straight past an unstaffed queue: not the IVR's queue
        return call.ivr_queue if call.ivr_queue and call.ivr_queue != queue else None
    if call.visits[-1].answered_at is not None:
        return None  # an agent talked: a transfer
    return call.overflow_from or call.visits[-1].queue


def _transferred(call: Call) -> bool:
    """An agent answered an earlier visit: the caller is in this queue by a transfer."""
    return any(v.answered_at is not None for v in call.visits[:-1])


def _log(effects: Effects, call: Call, what: str, at: float, /, **data: object) -> None:
    pairs = tuple((key, str(value)) for key, value in data.items() if value is not None)
    effects.append(CallEventLogged(call.linked_id, what, at, pairs))


def _create(
    board: CallBoard,
    linked_id: str,
    kind: CallKind,
    now: float,
    effects: Effects,
    *,
    caller: str | None = None,
    adopted: bool = False,
    **log: object,
) -> Call:
    call = Call(
        linked_id,
        kind,
        _S_IVR if kind is _K_INBOUND else _S_ACTIVE,
        now,
        caller=caller,
        adopted=adopted,
    )
    board.calls[linked_id] = call
    effects.append(CallCreated(linked_id, kind, caller, now, adopted))
    _log(effects, call, "adopted" if adopted else "created", now, kind=kind.value, **log)
    return call


def _merchant_call(
    board: CallBoard, linked_id: str, unique_id: str, caller: str | None, now: float,
    effects: Effects,
) -> Call:
    """The call an IVR/queue event belongs to, created or reclassified if needed (rule 2)."""
    call = board.calls.get(linked_id)
    if call is None:
        # Missed the Newchannel (bridge started mid-call): adopt from the first queue event.
        call = _create(board, linked_id, _K_INBOUND, now, effects, caller=caller,
                       adopted=True)
        call.channels.add(unique_id)
    elif call.kind is _K_INTERNAL:
        call.kind = _K_INBOUND
        call.state = _S_IVR
        _log(effects, call, "reclassified", now, kind=_K_INBOUND.value)
    if caller and call.caller is None:
        call.caller = caller
    return call


def _visit(call: Call, queue: str) -> QueueVisit | None:
    for visit in reversed(call.visits):
        if visit.queue == queue:
            return visit
    return None


def _queue(board: CallBoard, name: str) -> QueueInfo:
    info = board.queues.get(name)
    if info is None:
        info = board.queues[name] = QueueInfo(name)
    return info


def _end_segment(
    call: Call, segment: AgentSegment, now: float, cause: str, effects: Effects
) -> None:
    segment.ended_at = now
    _log(effects, call, "agent_leg_ended", now, agent=segment.interface, cause=cause,
         talk_s=f"{now - segment.started_at:.3f}")
    if call.state is _S_CONNECTED and all(s.ended_at is not None for s in call.segments):
        call.state = _S_WRAP_UP


def wait_seconds(call: Call, now: float) -> float:
    """Seconds spent waiting in queues (rule 6), open visit counted up to ``now``."""
    total = 0.0
    for visit in call.visits:
        end = visit.answered_at or visit.left_at or now
        total += max(0.0, end - visit.joined_at)
    return total


def talk_seconds(call: Call, now: float) -> float:
    """Seconds agents talked with the caller (rule 6), open segment counted up to ``now``."""
    total = 0.0
    for segment in call.segments:
        end = segment.ended_at if segment.ended_at is not None else now
        total += max(0.0, end - segment.started_at)
    return total


def _end_call(
    board: CallBoard, call: Call, now: float, effects: Effects, *, lost: bool = False,
    cause: str = "Hangup",
) -> None:
    for segment in call.segments:
        if segment.ended_at is None:
            _end_segment(call, segment, now, cause, effects)
    for recording in call.recordings:
        if recording.stopped_at is None:
            recording.stopped_at = now
            effects.append(RecordingStopped(call.linked_id, recording.path, now))
    for visit in call.visits:
        if visit.left_at is None:
            visit.left_at = now
    if call.kind is _K_INTERNAL:
        outcome = _O_INTERNAL
    elif call.segments:
        outcome = _O_ANSWERED
    elif call.callback_requested:
        outcome = _O_CALLBACK_REQUESTED
    elif call.abandoned:
        outcome = _O_ABANDONED
    elif call.visits:
        outcome = _O_FAILED
    else:
        outcome = _O_IVR_ONLY
    call.state = _S_ENDED
    call.outcome = outcome
    call.ended_at = now
    call.ringing.clear()
    wait_s = wait_seconds(call, now)
    talk_s = talk_seconds(call, now)
    del board.calls[call.linked_id]
    _log(effects, call, "ended", now, outcome=outcome.value, cause=cause,
         hangup_cause=call.hangup_cause, lost=lost or None)
    effects.append(
        CallEnded(
            call.linked_id,
            call.kind,
            outcome,
            now,
            wait_s,
            talk_s,
            caller=call.caller,
            merchant_number=call.merchant_id,
            intent=call.intent,
            queue=call.queue,
            agent_interface=call.agent,
            hangup_cause=call.hangup_cause,
            transfers=sum(v.answered_at is not None for v in call.visits[:-1]),  # not overflows
            adopted=call.adopted,
            lost=lost,
        )
    )


# -- event handlers


@dataclass(frozen=True, slots=True)
class OutboundDialled(AmiEvent):
    """The bridge's click-to-dial ``Originate`` was answered by the agent's phone (its
    ``OriginateResponse``): ``channel`` is the originated agent leg, whose Uniqueid is the
    call's Linkedid; ``number`` the merchant's digits sent as ``Exten``. Not an Asterisk event:
    the agent actions build it from the Originate's result (rule 3)."""

    linked_id: str
    channel: str
    agent_interface: str
    number: str


def _on_outbound_dialled(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, OutboundDialled)
    call = board.calls.get(ev.linked_id)
    if call is None:
        call = _create(board, ev.linked_id, _K_OUTBOUND, now, effects, caller=ev.number,
                       channel=ev.channel)
        call.channels.add(ev.linked_id)
    else:
        call.kind = _K_OUTBOUND
        call.caller = ev.number
        _log(effects, call, "reclassified", now, kind=_K_OUTBOUND.value)
        # [cc-outbound] may start MixMonitor before the Originate's answer reaches us: say it
        # again now that the call is kept (registering a recording is idempotent).
        for recording in call.recordings:
            effects.append(RecordingStarted(call.linked_id, recording.path, recording.unique_id,
                                            recording.started_at))
    call.state = _S_CONNECTED
    call.agent_channels[ev.linked_id] = ev.channel
    call.segments.append(AgentSegment(ev.agent_interface, None, ev.linked_id, now))
    effects.append(CallConnected(ev.linked_id, ev.agent_interface, "", now, 0.0))
    _log(effects, call, "agent_connected", now, agent=ev.agent_interface, outbound=ev.number)


def _on_newchannel(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, Newchannel)
    call = board.calls.get(ev.linked_id)
    if call is None:
        if ev.unique_id != ev.linked_id:
            return  # a later channel of a call we never saw begin: resync adopts it
        kind = (
            _K_INBOUND if ev.context in board.config.merchant_contexts else _K_INTERNAL
        )
        call = _create(board, ev.linked_id, kind, now, effects, caller=ev.caller_id_num,
                       channel=ev.channel, context=ev.context, exten=ev.exten)
    call.channels.add(ev.unique_id)


def _on_hangup(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, Hangup)
    if board.spies and ev.unique_id in board.spies:
        _end_spy(board, ev.unique_id, now, "Hangup", effects)
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    call.channels.discard(ev.unique_id)
    if call.caller is None and ev.caller_id_num and ev.unique_id == call.linked_id:
        call.caller = ev.caller_id_num  # e.g. hung up in the IVR: no queue event named it
    if ev.unique_id == call.linked_id or (
        ev.unique_id == call.caller_unique_id and call.hangup_cause is None
    ):
        call.hangup_cause = ev.cause
    for segment in call.segments:
        if segment.ended_at is None and segment.leg_unique_id == ev.unique_id:
            _end_segment(call, segment, now, "Hangup", effects)
    if call.ringing:
        for interface, leg in list(call.ringing.items()):
            if leg == ev.unique_id:
                del call.ringing[interface]  # this agent's phone stopped ringing
        if not call.ringing and call.state is _S_RINGING:
            call.state = _S_QUEUED
    if not call.channels:
        _end_call(board, call, now, effects)


def _on_ivr_result(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, IvrResult)
    call = _merchant_call(board, ev.linked_id, ev.unique_id, ev.caller_id_num, now, effects)
    call.caller_unique_id = ev.unique_id
    call.caller_channel = ev.channel
    call.caller_name = call.caller_name or ev.caller_id_name
    call.merchant_id = ev.merchant_id
    call.merchant_verified = ev.merchant_verified
    call.intent = ev.intent
    call.ivr_path = ev.ivr_path
    call.ivr_queue = ev.queue
    call.priority = ev.priority
    call.lang = ev.lang
    _log(effects, call, "ivr_result", now, queue=ev.queue, merchant=ev.merchant_id,
         verified=ev.merchant_verified, intent=ev.intent, path=ev.ivr_path)


def _on_queue_caller_join(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, QueueCallerJoin)
    call = _merchant_call(board, ev.linked_id, ev.unique_id, ev.caller_id_num, now, effects)
    call.caller_unique_id = ev.unique_id
    call.caller_channel = ev.channel
    call.caller_name = call.caller_name or ev.caller_id_name
    for segment in call.segments:  # a transfer: whoever talked before is done
        if segment.ended_at is None:
            _end_segment(call, segment, now, "QueueCallerJoin", effects)
    first = not call.visits
    overflow = _overflow_from(call, ev.queue)
    if overflow is not None:
        call.overflow_from = overflow
    call.visits.append(QueueVisit(ev.queue, now, ev.position))
    call.ringing.clear()
    call.state = _S_QUEUED
    _queue(board, ev.queue).waiting = ev.count
    effects.append(CallQueued(call.linked_id, ev.queue, ev.position, now,
                              not first and overflow is None, overflow))
    if first:
        effects.append(PrefetchMerchant(call.linked_id, call.merchant_id, call.caller))
    _log(effects, call, "queued", now, queue=ev.queue, position=ev.position,
         transfer=None if first or overflow else "yes", overflow_from=overflow)


def _on_queue_caller_leave(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, QueueCallerLeave)
    _queue(board, ev.queue).waiting = ev.count
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    visit = _visit(call, ev.queue)
    if visit is not None and visit.left_at is None:
        visit.left_at = now
    _log(effects, call, "left_queue", now, queue=ev.queue)


def _on_queue_caller_abandon(
    board: CallBoard, ev: AmiEvent, now: float, effects: Effects
) -> None:
    assert isinstance(ev, QueueCallerAbandon)
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    visit = _visit(call, ev.queue)
    if visit is not None:
        visit.abandoned = True
        if visit.left_at is None:
            visit.left_at = now
    call.abandoned = True
    call.ringing.clear()
    _log(effects, call, "abandoned", now, queue=ev.queue, position=ev.position,
         hold_time=ev.hold_time)


def _on_callback_request(board: CallBoard, ev: AmiEvent, now: float, effects: Effects
                         ) -> None:
    assert isinstance(ev, CallbackRequest)
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    if ev.booked:
        call.callback_requested = True
        call.ringing.clear()
        if ev.queue is not None:
            visit = _visit(call, ev.queue)
            if visit is not None and visit.left_at is None:
                visit.left_at = now
    # Not "callback_*": those timeline kinds are the call-back's own (callcenter/callbacks).
    _log(effects, call, "queue_exit_key", now, queue=ev.queue, callback=ev.outcome,
         wait_s=ev.queue_wait_s, position=ev.position)


def _on_agent_called(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentCalled)
    call = _merchant_call(board, ev.linked_id, ev.unique_id, ev.caller_id_num, now, effects)
    call.ringing[ev.interface] = ev.dest_unique_id
    call.agent_channels[ev.dest_unique_id] = ev.dest_channel
    if call.state in (_S_QUEUED, _S_IVR, _S_WRAP_UP):
        call.state = _S_RINGING
    effects.append(ScreenPop(ev.interface, call.linked_id, ev.queue, call.caller, call.merchant_id))
    _log(effects, call, "agent_called", now, agent=ev.interface, queue=ev.queue)


def _on_ring_end(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentRingNoAnswer | AgentDump)
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    call.ringing.pop(ev.interface, None)
    if isinstance(ev, AgentRingNoAnswer):
        call.rang_no_answer.append(ev.interface)
        _log(effects, call, "ring_no_answer", now, agent=ev.interface, ring_ms=ev.ring_time_ms)
    else:
        _log(effects, call, "agent_dump", now, agent=ev.interface)
    if not call.ringing and call.state is _S_RINGING:
        call.state = _S_QUEUED


def _on_agent_connect(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentConnect)
    call = _merchant_call(board, ev.linked_id, ev.unique_id, None, now, effects)
    visit = _visit(call, ev.queue)
    if visit is None:  # adopted mid-queue without a visit: start one now
        visit = QueueVisit(ev.queue, now - ev.hold_time, 0)
        call.visits.append(visit)
    if visit.answered_at is None:
        visit.answered_at = now
    call.ringing.clear()
    call.agent_channels[ev.dest_unique_id] = ev.dest_channel
    call.segments.append(AgentSegment(ev.interface, ev.queue, ev.dest_unique_id, now))
    call.state = _S_CONNECTED
    wait_s = now - visit.joined_at
    effects.append(CallConnected(call.linked_id, ev.interface, ev.queue, now, wait_s))
    _log(effects, call, "connected", now, agent=ev.interface, queue=ev.queue,
         wait_s=f"{wait_s:.3f}")


def _on_agent_complete(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AgentComplete)
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    if ev.dest_unique_id is None:
        # Rule 6: the first queue's AgentComplete after a Redirect. Its TalkTime is wrong.
        _log(effects, call, "agent_complete_late", now, agent=ev.interface, queue=ev.queue,
             asterisk_talk_time=ev.talk_time)
        return
    for segment in call.segments:
        if segment.ended_at is None and segment.leg_unique_id == ev.dest_unique_id:
            _end_segment(call, segment, now, f"AgentComplete({ev.reason})", effects)


def _on_mixmonitor_filename(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, MixMonitorFilename)
    call = board.calls.get(ev.linked_id)
    if call is not None:
        call.pending_paths[ev.unique_id] = ev.path


def _on_mixmonitor_start(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, MixMonitorStart)
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    path = call.pending_paths.pop(ev.unique_id, None)
    if path is None:
        config = board.config
        template = (
            config.transfer_recording_template if _transferred(call)
            else config.recording_template  # the first queue, or after an overflow
        )
        path = recording_path(template, unique_id=ev.unique_id, linked_id=call.linked_id,
                              queue=call.queue or "")
    call.recordings.append(Recording(path, ev.unique_id, now))
    effects.append(RecordingStarted(call.linked_id, path, ev.unique_id, now))
    _log(effects, call, "recording_started", now, path=path)


def _on_mixmonitor_stop(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, MixMonitorStop)
    call = board.calls.get(ev.linked_id)
    if call is None:
        return
    for recording in reversed(call.recordings):
        if recording.unique_id == ev.unique_id and recording.stopped_at is None:
            recording.stopped_at = now
            effects.append(RecordingStopped(call.linked_id, recording.path, now))
            _log(effects, call, "recording_stopped", now, path=recording.path)
            break


def _on_blind_transfer(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, BlindTransfer)
    call = board.calls.get(ev.transferee_linked_id or ev.transferer_linked_id)
    if call is not None:
        _log(effects, call, "blind_transfer", now, result=ev.result, context=ev.context,
             extension=ev.extension, by=ev.transferer_channel)


def _on_attended_transfer(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, AttendedTransfer)
    call = board.calls.get(ev.transferee_linked_id or ev.orig_transferer_linked_id)
    if call is not None:
        _log(effects, call, "attended_transfer", now, result=ev.result, dest_type=ev.dest_type,
             by=ev.orig_transferer_channel)


def _on_chanspy_start(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, ChanSpyStart)
    spyer = board.calls.get(ev.spyer_linked_id)
    if spyer is not None and spyer.kind is _K_INBOUND and not spyer.visits:
        spyer.kind = _K_INTERNAL  # a spy leg is never a merchant call (rule 2)
        spyer.state = _S_ACTIVE
    spied = board.calls.get(ev.spyee_linked_id)
    board.spies[ev.spyer_unique_id] = Spy(ev.spyer_channel, ev.spyer_linked_id,
                                          ev.spyee_channel, ev.spyee_linked_id, now)
    if spied is not None:
        _log(effects, spied, "spy_started", now, spyer=ev.spyer_channel, spyee=ev.spyee_channel)


def _end_spy(board: CallBoard, spyer_unique_id: str, now: float, by: str,
             effects: Effects) -> None:
    spy = board.spies.pop(spyer_unique_id, None)
    if spy is None:
        return
    spied = board.calls.get(spy.spyee_linked_id)
    if spied is not None:
        _log(effects, spied, "spy_stopped", now, spyer=spy.spyer_channel, by=by)
    effects.append(SpyEnded(spy.spyer_channel, spy.spyer_linked_id, spy.spyee_linked_id, now,
                            by))


def _on_chanspy_stop(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, ChanSpyStop)
    _end_spy(board, ev.spyer_unique_id, now, "ChanSpyStop", effects)


def _on_shutdown(board: CallBoard, ev: AmiEvent, now: float, effects: Effects) -> None:
    assert isinstance(ev, Shutdown)
    for call in list(board.calls.values()):
        _end_call(board, call, now, effects, lost=True, cause="Shutdown")


_Handler = Callable[[CallBoard, AmiEvent, float, Effects], None]

EVENT_HANDLERS: Final[Mapping[type[AmiEvent], _Handler]] = MappingProxyType(
    {
        OutboundDialled: _on_outbound_dialled,
        Newchannel: _on_newchannel,
        Hangup: _on_hangup,
        IvrResult: _on_ivr_result,
        QueueCallerJoin: _on_queue_caller_join,
        QueueCallerLeave: _on_queue_caller_leave,
        QueueCallerAbandon: _on_queue_caller_abandon,
        CallbackRequest: _on_callback_request,
        AgentCalled: _on_agent_called,
        AgentRingNoAnswer: _on_ring_end,
        AgentDump: _on_ring_end,
        AgentConnect: _on_agent_connect,
        AgentComplete: _on_agent_complete,
        MixMonitorFilename: _on_mixmonitor_filename,
        MixMonitorStart: _on_mixmonitor_start,
        MixMonitorStop: _on_mixmonitor_stop,
        BlindTransfer: _on_blind_transfer,
        AttendedTransfer: _on_attended_transfer,
        ChanSpyStart: _on_chanspy_start,
        ChanSpyStop: _on_chanspy_stop,
        Shutdown: _on_shutdown,
    }
)
"""Event type -> how it changes the calls (the tracker's transition table)."""


def transition(board: CallBoard, event: AmiEvent, now: float) -> tuple[CallBoard, Effects]:
    """Apply one decoded event; returns the (same, updated) board and its effects."""
    effects: Effects = []
    handler = EVENT_HANDLERS.get(type(event))
    if handler is not None:
        handler(board, event, now, effects)
    return board, effects


# -- resync

LiveChannel = CoreShowChannel
"""A live channel as a resync reads it: a ``Status`` item (``ChannelStatus``, what the
bridge's account may ask for) or a ``CoreShowChannels`` item (the same fields)."""


def interface_channel_prefix(interface: str) -> str:
    """Channel-name prefix of a member interface's legs.

    ``PJSIP/8001`` -> ``PJSIP/8001-`` (legs ``PJSIP/8001-0000002a``);
    ``Local/8001@agents/n`` -> ``Local/8001@agents-`` (legs ``Local/8001@agents-00000001;1``).
    """
    base = interface
    if base.startswith("Local/"):
        head, _, _options = base.rpartition("/")
        if head != "Local":
            base = head  # drop Local channel options (/n, /m, /b)
    return base + "-"


def busy_agents(board: CallBoard) -> dict[str, str]:
    """Interfaces talking right now -> linked id of their call (for the agent resync)."""
    busy: dict[str, str] = {}
    for call in board.calls.values():
        for segment in call.segments:
            if segment.ended_at is None:
                busy[segment.interface] = call.linked_id
    return busy


def resync(
    board: CallBoard,
    now: float,
    *,
    channels: Iterable[LiveChannel] | None,
    entries: Iterable[QueueEntry] = (),
    params: Iterable[QueueParams] = (),
    summaries: Iterable[QueueSummary] = (),
    members: Iterable[QueueMember] = (),
    lost_at: float | None = None,
) -> tuple[CallBoard, Effects]:
    """Rebuild the calls from list-action results after a (re)connect (rule 9).

    * tracked calls with no live channel end (``lost=True``; their outcome follows rule 7),
      at ``lost_at`` when given (the instant the previous AMI connection was lost: after a
      crash they ended then, and the outage is not talk time), else at ``now``;
    * live Linkedids not tracked are adopted: ``queued`` if a channel is a QueueEntry,
      ``connected`` if a channel is the leg of a queue member (matched by channel-name prefix),
      else ``ivr`` (merchant context) or ``active``;
    * tracked calls keep their state; their channel set is replaced by the live one.

    ``channels`` are ``Status`` items (``ChannelStatus``) or ``CoreShowChannels`` items;
    ``channels=None`` (the list could not be read) leaves the calls alone and only refreshes
    the queues.
    """
    effects: Effects = []
    config = board.config
    groups: dict[str, list[LiveChannel]] = {}
    for channel in channels or ():
        groups.setdefault(channel.linked_id, []).append(channel)
    entry_by_uid = {entry.unique_id: entry for entry in entries}
    prefixes = {interface_channel_prefix(m.interface): m for m in members}

    vanished = [] if channels is None else [lid for lid in board.calls if lid not in groups]
    ended_at = now if lost_at is None else min(lost_at, now)
    for linked_id in vanished:
        gone = board.calls[linked_id]
        _end_call(board, gone, max(ended_at, gone.created_at), effects, lost=True,
                  cause="resync")

    for linked_id, group in groups.items():
        call = board.calls.get(linked_id)
        if call is not None:
            call.channels = {c.unique_id for c in group}
            continue
        group.sort(key=lambda c: (c.unique_id != linked_id, -c.duration_s))
        first = group[0]
        entry = next((entry_by_uid[c.unique_id] for c in group if c.unique_id in entry_by_uid),
                     None)
        merchant = entry is not None or any(c.context in config.merchant_contexts for c in group)
        kind = _K_INBOUND if merchant else _K_INTERNAL
        caller = next((c.caller_id_num for c in group if c.caller_id_num), None)
        call = _create(board, linked_id, kind, now - first.duration_s, effects, caller=caller,
                       adopted=True, channel=first.channel)
        call.channels = {c.unique_id for c in group}
        if entry is not None:
            call.caller_unique_id = entry.unique_id
            call.caller_channel = entry.channel
            call.visits.append(QueueVisit(entry.queue, now - entry.wait, entry.position))
            call.state = _S_QUEUED
            effects.append(CallQueued(linked_id, entry.queue, entry.position, now))
            effects.append(PrefetchMerchant(linked_id, None, caller))
        elif kind is _K_INBOUND:
            for channel in group:
                member = next((m for p, m in prefixes.items() if channel.channel.startswith(p)),
                              None)
                if member is not None and channel.bridge_id:
                    call.segments.append(AgentSegment(member.interface, member.queue,
                                                      channel.unique_id, now - channel.duration_s))
                    call.agent_channels[channel.unique_id] = channel.channel
                    call.visits.append(QueueVisit(member.queue, call.created_at, 0,
                                                  left_at=now - channel.duration_s,
                                                  answered_at=now - channel.duration_s))
                    call.state = _S_CONNECTED
                    break
            for channel in group:
                if channel.context in config.merchant_contexts and call.caller_unique_id is None:
                    call.caller_unique_id = channel.unique_id
                    call.caller_channel = channel.channel
        _log(effects, call, "adopted_state", now, state=call.state.value, queue=call.queue,
             agent=call.agent)

    waiting: dict[str, int] = {}
    for entry in entry_by_uid.values():
        waiting[entry.queue] = waiting.get(entry.queue, 0) + 1
    for item in params:
        info = _queue(board, item.queue)
        info.strategy = item.strategy
        info.completed = item.completed
        info.abandoned = item.abandoned
        info.waiting = item.calls
    for summary in summaries:
        info = _queue(board, summary.queue)
        info.logged_in = summary.logged_in
        info.available = summary.available
        info.waiting = summary.callers
        info.longest_hold_s = summary.longest_hold_time
    for queue, count in waiting.items():
        _queue(board, queue).waiting = count
    return board, effects
