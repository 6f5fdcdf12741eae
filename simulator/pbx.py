"""The simulated PBX: calls, channels, queues and the AMI actions a CTI sends, as one pure
machine ``step(state, input, now) -> (state, effects)``.

No I/O, no clock, no randomness: ``now`` (epoch seconds) comes with every input, ids come from
counters in the state, so the same inputs at the same times give the same bytes. ``state`` is
a mutable record owned by the machine: ``step`` updates it and hands it back; a caller keeps
only the returned one. Adapters carry the effects out: ``Emit`` goes to every AMI session that
reads the event's class, ``Respond`` to the session that sent the action, timers are set and
fire back as ``TimerFired``, ``RunIvr`` runs a FastAGI session against the product, the phone
effects ring simulated agents or the demo phones, the recording effects write WAV files, and
``CallEnded`` reports each call's outcome exactly once.

A call's life (what the dialplan in ``config.DialplanProfile`` does, and app_queue after it)::

    CallArrives ─► IVR ──IvrDone──► UserEvent CcIvrResult ─► QUEUED ─ring─► TALKING ─┐
                    │                 (self_service: hang up)  │  ▲  timeout/decline   │
                    │ CallerHangup                              │  └─ retry ─┘          │
                    ▼                                           │ CallerHangup/patience │ agent
                  ENDED (ivr_hangup)            ENDED (abandoned)◄┘                      │ hangs up
                                                                                         ▼
                           Redirect to cc-transfer/<queue>: TALKING ─► QUEUED (new queue)
                           key 1 in the queue (``callback_after``): QUEUED ─► CALLBACK (the
                           ``callback`` AGI route) ─► UserEvent CcCallbackRequest ─► booked:
                           ENDED (callback_requested); not booked: QUEUED again
                           caller hangs up: ENDED (answered); agent hangs up: SURVEY (product
                           profile) then ENDED, or ENDED at once (lab profile)

The queue's exit key (``[cc-queue-exit]``, capture ``12-queue-callback``): a caller whose
``callback_after`` seconds in a queue run out presses 1: ``QueueCallerLeave`` from
``cc-queue-exit`` (no abandon), ``QUEUEWAIT``/``QUEUEPOSITION`` on the channel, the product's
FastAGI route ``callback`` runs (``RunIvr``), then ``UserEvent CcCallbackRequest`` with what it
set (``CC_CALLBACK_OUTCOME``, ``CC_CALLBACK_REF``); booked, the dialplan hangs up (``;2`` then
the merchant's ``;1``); else the caller is queued again. No DTMF events are simulated for
the key (the capture's account does not read the dtmf class).

Click to dial (the CTI's ``Originate`` of an agent's phone into ``[cc-outbound]``, capture
``11-click-to-dial``): the phone rings (``RingPhone``: a demo phone on the desk, or a
simulated agent); answered, ``OriginateResponse`` Success, MixMonitor, then the merchant is
dialled from the agent's leg (DialBegin, ringing, DialEnd ANSWER/BUSY) and bridged; a phone
that rings out or is rejected fails the Originate (``Response: Failure``).

``Shutdown(restart=True)`` acts out ``core restart now`` (scenario 08): calls end, members
survive with their pause state, statistics and counters start over.

Event order follows the captures (``tests/fixtures/asterisk-22``): e.g. on answer
``DialEnd ANSWER → MusicOnHoldStop → MixMonitorStart → QueueCallerLeave → AgentConnect →
BridgeCreate → BridgeEnter ×2``. Events Asterisk sends that a CTI has no use for are not
simulated: DeviceStateChange, NewCallerid, NewConnectedLine, LocalBridge, HangupRequest,
SoftHangupRequest, Newexten, AGIExec*, Cdr (``test_conformance.py`` lists them with reasons).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, TypeAlias

from simulator import ami_events as ev
from simulator import queue_engine as qe
from simulator.ami_wire import Action, Message, error, list_complete, list_start, success
from simulator.config import DIAL_CONTEXT, PbxConfig, QueueConfig
from simulator.model import (
    DEVICE_INUSE,
    DEVICE_NOT_INUSE,
    DEVICE_RINGING,
    RING,
    RINGING,
    UNKNOWN_ID,
    UP,
    Attempt,
    Bridge,
    Call,
    Channel,
    Device,
    Entry,
    EntryState,
    Leg,
    Member,
    Phase,
    QueueRuntime,
)

logger = logging.getLogger(__name__)

TimerKey: TypeAlias = tuple[str, str]

# Outcomes of a call (CallRecord.outcome).
ANSWERED = "answered"
ABANDONED = "abandoned"
IVR_HANGUP = "ivr_hangup"
SELF_SERVICE = "self_service"
QUEUE_TIMEOUT = "queue_timeout"
JOIN_EMPTY = "join_empty"
NO_SUCH_QUEUE = "no_such_queue"
SHUTDOWN = "shutdown"
CALLBACK_REQUESTED = "callback_requested"
OUTCOMES = frozenset({ANSWERED, ABANDONED, IVR_HANGUP, SELF_SERVICE, QUEUE_TIMEOUT, JOIN_EMPTY,
                      NO_SUCH_QUEUE, SHUTDOWN, CALLBACK_REQUESTED})

HOTLINE_ROUTE = "hotline"
# [cc-outbound] runs NoOp, Set and MixMonitor before its Dial: 1.3 ms in capture 11. The
# DialBegin goes out in its own write, after the OriginateResponse, as from Asterisk.
OUTBOUND_DIAL_DELAY_S = 0.002
SURVEY_ROUTE = "survey"
CALLBACK_ROUTE = "callback"
BOOKED = "requested"  # CC_CALLBACK_OUTCOME of a booked call-back (ivr/callback.py)
DTMF_DURATION_MS = 100


_IN_AGI = frozenset({Phase.IVR, Phase.SURVEY, Phase.CALLBACK})
"""Phases in which a FastAGI session runs on the caller's channel."""


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class CallArrives:
    """A merchant calls the hotline. ``patience``: seconds the caller waits in a queue before
    hanging up (None: forever); ``talk_limit``: seconds after the answer at which the caller
    hangs up (None: the agent ends the call); ``callback_after``: seconds in a queue after
    which the caller presses 1 for a call-back (None: never)."""

    ref: str
    caller_num: str
    caller_name: str = ""
    patience: float | None = None
    talk_limit: float | None = None
    callback_after: float | None = None


@dataclass(frozen=True, slots=True)
class VariableSet:
    """The IVR ran ``SET VARIABLE name value`` on the call's channel."""

    ref: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class DigitPressed:
    """The caller pressed a key while the IVR was reading (DTMFBegin/DTMFEnd)."""

    ref: str
    digit: str


@dataclass(frozen=True, slots=True)
class IvrDone:
    """The FastAGI session of ``route`` ended. ``failed``: the server could not be reached
    (``AGISTATUS=FAILURE``); ``hung_up``: the caller hung up during it."""

    ref: str
    route: str = HOTLINE_ROUTE
    hung_up: bool = False
    failed: bool = False


@dataclass(frozen=True, slots=True)
class CallerHangup:
    """The caller hangs up, wherever the call is."""

    ref: str


@dataclass(frozen=True, slots=True)
class AgentAnswer:
    attempt_id: int


@dataclass(frozen=True, slots=True)
class AgentDecline:
    """The ringing phone rejected the call (busy / declined)."""

    attempt_id: int


@dataclass(frozen=True, slots=True)
class AgentHangup:
    """The agent at ``interface`` hangs up (or rejects a ringing call)."""

    interface: str


@dataclass(frozen=True, slots=True)
class ActionReceived:
    """An AMI action from an authenticated session."""

    session: int
    action: Action


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: TimerKey


@dataclass(frozen=True, slots=True)
class AddMember:
    """A simulated agent logs in without AMI (same effect as a QueueAdd)."""

    queue: str
    interface: str
    name: str = ""
    penalty: int = 0
    paused: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The PBX stops: waiting callers abandon, every call ends, ``Shutdown`` is sent. With
    ``restart`` it comes back as after ``core restart now`` (members kept, see ``_reboot``)."""

    restart: bool = False


Input: TypeAlias = (CallArrives | VariableSet | DigitPressed | IvrDone | CallerHangup | AgentAnswer
                    | AgentDecline | AgentHangup | ActionReceived | TimerFired | AddMember
                    | Shutdown)


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Emit:
    """Send ``message`` to every AMI session that reads its class."""

    message: Message


@dataclass(frozen=True, slots=True)
class Respond:
    """Send the reply to an action (and its list items) to the session that sent it."""

    session: int
    messages: tuple[Message, ...]
    close: bool = False


@dataclass(frozen=True, slots=True)
class SetTimer:
    key: TimerKey
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: TimerKey


@dataclass(frozen=True, slots=True)
class IvrRequest:
    """What the FastAGI header block of a session says about the call."""

    route: str
    channel: str
    channel_type: str
    unique_id: str
    linked_id: str
    caller_num: str
    caller_name: str
    language: str
    dnid: str
    context: str
    exten: str
    priority: int
    account_code: str
    agi_host: str
    agi_port: int
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class RunIvr:
    """Run the FastAGI route for this call; answer with VariableSet/DigitPressed/IvrDone."""

    ref: str
    request: IvrRequest


@dataclass(frozen=True, slots=True)
class AbortIvr:
    """The caller hung up while the IVR ran: the AGI session must see the hang-up."""

    ref: str


@dataclass(frozen=True, slots=True)
class RingPhone:
    """The phone of ``interface`` rings; answer with AgentAnswer/AgentDecline(attempt_id)."""

    attempt_id: int
    interface: str
    ref: str
    queue: str
    caller_num: str
    caller_name: str
    channel: str


@dataclass(frozen=True, slots=True)
class StopRinging:
    attempt_id: int
    interface: str


@dataclass(frozen=True, slots=True)
class PhoneConnected:
    """The agent talks to the caller; answer with AgentHangup(interface) when done."""

    attempt_id: int
    interface: str
    ref: str


@dataclass(frozen=True, slots=True)
class PhoneReleased:
    """The agent's call is over (the caller hung up or was transferred away)."""

    interface: str
    ref: str


@dataclass(frozen=True, slots=True)
class StartRecording:
    ref: str
    path: str
    queue: str
    interface: str


@dataclass(frozen=True, slots=True)
class StopRecording:
    ref: str
    path: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    """How one call ended. ``hold_time``: seconds in the queue before the first answer;
    ``talk_time``: seconds spent with agents over every leg (both None when never answered).
    ``variables``: the CC_* channel variables at the end (what the IVR and transfers set)."""

    ref: str
    unique_id: str
    linked_id: str
    caller_num: str
    outcome: str
    queues: tuple[str, ...]
    agents: tuple[str, ...]
    arrived_at: float
    answered_at: float | None
    ended_at: float
    hold_time: int | None
    talk_time: int | None
    recordings: tuple[str, ...]
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class CallEnded:
    record: CallRecord


Effect: TypeAlias = (Emit | Respond | SetTimer | CancelTimer | RunIvr | AbortIvr | RingPhone
                     | StopRinging | PhoneConnected | PhoneReleased | StartRecording
                     | StopRecording | CallEnded)


# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class Spy:
    """A ChanSpy originated by the CTI (the supervisor's channels and whom they spy on)."""

    channels: list[Channel]
    spyee: str | None
    end_with_spyee: bool
    recording: str | None = None  # a click-to-dial call's MixMonitor file ([cc-outbound])
    options: str = ""  # ChanSpy's options (``qdE`` …)
    mode: str = "listen"  # listen, whisper, barge: from the options, then DTMF 4/5/6 (d)


@dataclass(slots=True)
class Outbound:
    """A click to dial: the CTI's Originate of an agent's phone into ``[cc-outbound]``
    (``DIAL_CONTEXT``). The phone rings (``RingPhone``); answered, the dialplan records and
    dials the merchant on the trunk, who answers after ``PbxConfig.outbound_answer_s`` (busy
    when the number is in ``busy_numbers``) and hangs up after ``outbound_talk_s``, unless the
    agent hangs up first. Event shapes: ``tests/fixtures/asterisk-22/11-click-to-dial``."""

    attempt_id: int
    action_id: str
    interface: str
    number: str
    target: list[tuple[str, str]]
    caller_num: str
    caller_name: str
    agent: Channel  # the originated leg (Local ;1, or PJSIP/8001-…): Uniqueid = Linkedid
    agent_peer: Channel | None  # Local ;2
    trunk: Channel | None = None
    trunk_peer: Channel | None = None
    bridge: Bridge | None = None
    answered: bool = False  # the agent's phone answered (OriginateResponse Success)
    recording: str | None = None

    @property
    def ref(self) -> str:
        return f"originate:{self.attempt_id}"


@dataclass(slots=True)
class PbxState:
    """Everything the PBX holds. Owned by ``step``; see the module docstring."""

    config: PbxConfig
    queue_configs: dict[str, QueueConfig]
    queues: dict[str, QueueRuntime]
    devices: dict[str, Device] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    attempts: dict[int, Attempt] = field(default_factory=dict)
    spies: dict[str, Spy] = field(default_factory=dict)
    outbound: dict[int, Outbound] = field(default_factory=dict)  # attempt id -> click to dial
    globals: dict[str, str] = field(default_factory=dict)
    unique_counter: int = 0
    name_counters: dict[str, int] = field(default_factory=dict)
    attempt_counter: int = 0
    entry_counter: int = 0
    bridge_counter: int = 0
    dtmf_counter: int = 0
    ended: int = 0


def new_state(config: PbxConfig) -> PbxState:
    """A freshly booted PBX: the configured queues with their static members."""
    state = PbxState(config=config, queue_configs={q.name: q for q in config.queues},
                     queues={q.name: QueueRuntime(q.name) for q in config.queues})
    login = int(config.boot_time)
    for queue in config.queues:
        for static in queue.static_members:
            state.queues[queue.name].members.append(Member(
                queue=queue.name, interface=static.interface,
                name=static.name or static.interface, state_interface=static.interface,
                login_time=login, penalty=static.penalty, dynamic=False))
            state.devices.setdefault(static.interface, Device(static.interface))
    return state


class _Step:
    """One transition: the state, the time and the effects produced so far."""

    __slots__ = ("effects", "now", "state")

    def __init__(self, state: PbxState, now: float) -> None:
        self.state = state
        self.now = now
        self.effects: list[Effect] = []

    # ---- small helpers

    @property
    def config(self) -> PbxConfig:
        return self.state.config

    @property
    def local(self) -> bool:
        return self.state.config.channels == "local"

    def emit(self, message: Message) -> None:
        self.effects.append(Emit(message))

    def respond(self, session: int, *messages: Message, close: bool = False) -> None:
        self.effects.append(Respond(session, messages, close))

    def timer(self, key: TimerKey, delay: float) -> None:
        self.effects.append(SetTimer(key, self.now + delay))

    def cancel(self, key: TimerKey) -> None:
        self.effects.append(CancelTimer(key))

    def new_unique_id(self) -> str:
        # Asterisk's Uniqueid: <epoch seconds at creation>.<global counter>
        uid = f"{int(self.now)}.{self.state.unique_counter}"
        self.state.unique_counter += 1
        return uid

    def next_seq(self, tech: str) -> int:
        value = self.state.name_counters.get(tech, 0)
        self.state.name_counters[tech] = value + 1
        return value

    def new_channel(self, name: str, linked_id: str | None, **attrs: object) -> Channel:
        uid = self.new_unique_id()
        channel = Channel(name=name, unique_id=uid, linked_id=linked_id or uid,
                          created_at=self.now)
        for key, value in attrs.items():
            setattr(channel, key, value)
        self.state.channels[name] = channel
        return channel

    def drop_channel(self, channel: Channel, cause: int) -> None:
        if self.state.channels.pop(channel.name, None) is None:
            return
        self.emit(ev.hangup(channel, cause))
        self._end_spies_of(channel)

    def device(self, interface: str) -> Device:
        return self.state.devices.setdefault(interface, Device(interface))

    def emit_member_status(self, interface: str) -> None:
        """QueueMemberStatus in every queue the device is a member of (config order)."""
        status = self.device(interface).status
        for queue in self.state.queues.values():
            member = queue.member(interface)
            if member is not None:
                self.emit(ev.queue_member_event("QueueMemberStatus", member, status))

    def members_of(self, interface: str) -> list[Member]:
        return [m for q in self.state.queues.values() if (m := q.member(interface)) is not None]

    # ---- arrival and IVR

    def call_arrives(self, inp: CallArrives) -> None:
        if inp.ref in self.state.calls:
            logger.warning("call %s: already in progress; arrival ignored", inp.ref)
            return
        profile = self.config.profile
        exten, context = profile.hotline_exten, profile.inbound_context
        caller_name = inp.caller_name or UNKNOWN_ID
        peer: Channel | None = None
        if self.local:
            # The lab's call file creates a Local pair; the ;2 half runs the dialplan.
            base = f"Local/{exten}@{context}-{self.next_seq('Local'):08x}"
            peer = self.new_channel(base + ";1", None, context=context, exten=exten)
            chan = self.new_channel(base + ";2", peer.unique_id, state=RING, context=context,
                                    exten=exten)
            self.emit(ev.newchannel(peer))
            self.emit(ev.newchannel(chan))
            for half in (peer, chan):
                half.caller_num = half.connected_num = inp.caller_num
                half.caller_name = half.connected_name = caller_name
            self.emit(ev.dial_begin(None, peer, f"{exten}@{context}"))
            chan.state, chan.priority = UP, 2
            self.emit(ev.newstate(chan))
            peer.state = UP
            self.emit(ev.newstate(peer))
            self.emit(ev.dial_end(None, peer, "ANSWER"))
            # The ;1 half runs the call file's [merchant-sim]: it waits at priority 9 and hangs
            # up at 10 when the merchant ends the call (see caller_hangup).
            peer.context, peer.exten, peer.priority = "merchant-sim", "s", 9
        else:
            name = f"PJSIP/{self.config.trunk}-{self.next_seq('PJSIP'):08x}"
            chan = self.new_channel(name, None, state=RING, context=context, exten=exten,
                                    caller_num=inp.caller_num, caller_name=caller_name)
            self.emit(ev.newchannel(chan))
            chan.state, chan.priority = UP, 2
            self.emit(ev.newstate(chan))
        chan.language = profile.language
        chan.priority = profile.agi_priority
        chan.application, chan.application_data = "AGI", self._agi_url(HOTLINE_ROUTE)
        call = Call(ref=inp.ref, caller=chan, caller_peer=peer, arrived_at=self.now,
                    patience=inp.patience, talk_limit=inp.talk_limit,
                    callback_after=inp.callback_after)
        self.state.calls[inp.ref] = call
        logger.debug("call %s: arrives on %s (%s)", inp.ref, chan.name, chan.unique_id)
        self.effects.append(RunIvr(inp.ref, self._ivr_request(call, HOTLINE_ROUTE)))

    def _agi_url(self, route: str) -> str:
        return f"agi://{self.config.agi_host}:{self.config.agi_port}/{route}"

    def _ivr_request(self, call: Call, route: str) -> IvrRequest:
        chan = call.caller
        return IvrRequest(
            route=route, channel=chan.name, channel_type=chan.name.split("/", 1)[0],
            unique_id=chan.unique_id, linked_id=chan.linked_id, caller_num=chan.caller_num,
            caller_name=chan.caller_name, language=chan.language,
            dnid="unknown" if self.local else self.config.profile.hotline_exten,
            context=chan.context, exten=chan.exten, priority=chan.priority,
            account_code=chan.account_code, agi_host=self.config.agi_host,
            agi_port=self.config.agi_port, variables=MappingProxyType(dict(chan.variables)))

    def set_variable(self, channel: Channel, name: str, value: str) -> None:
        if name.upper() == "CHANNEL(LANGUAGE)":
            channel.language = value
            return
        channel.variables[name] = value
        self.emit(ev.var_set(channel, name, value))

    def variable_set(self, inp: VariableSet) -> None:
        call = self.state.calls.get(inp.ref)
        if call is not None:
            self.set_variable(call.caller, inp.name, inp.value)

    def digit_pressed(self, inp: DigitPressed) -> None:
        call = self.state.calls.get(inp.ref)
        if call is None or call.phase not in _IN_AGI or call.ivr_hung_up:
            return
        self.emit(ev.dtmf_begin(call.caller, inp.digit))
        # DTMFEnd follows when the tone ends (DurationMs later), as on a real channel.
        self.state.dtmf_counter += 1
        self.timer(("dtmf", f"{inp.ref}|{inp.digit}|{self.state.dtmf_counter}"),
                   DTMF_DURATION_MS / 1000)

    def ivr_done(self, inp: IvrDone) -> None:
        call = self.state.calls.get(inp.ref)
        if call is None:
            return
        if inp.route == SURVEY_ROUTE:
            if call.phase is Phase.SURVEY:
                self.finish(call, cause=call.hangup_cause)
            return
        if inp.route == CALLBACK_ROUTE:
            if call.phase is Phase.CALLBACK:
                self._after_callback(call, hung_up=inp.hung_up or call.ivr_hung_up)
            return
        if call.phase is not Phase.IVR:
            return
        if call.ivr_hung_up or inp.hung_up:
            call.outcome = IVR_HANGUP
            self.finish(call, cause=call.hangup_cause)
            return
        profile = self.config.profile
        variables = call.caller.variables
        self_service = variables.get("CC_IVR_OUTCOME") == profile.self_service_outcome
        if inp.failed or (not variables.get("CC_QUEUE") and not self_service):
            # AGISTATUS=FAILURE or no queue set: the dialplan's noivr branch.
            for name, value in profile.noivr_variables.items():
                self.set_variable(call.caller, name, value)
            self_service = False
        call.caller.priority = profile.publish_priority
        call.caller.application, call.caller.application_data = "UserEvent", "CcIvrResult"
        self.emit(ev.user_event(call.caller, "CcIvrResult", [
            (header, call.caller.variables.get(var, ""))
            for header, var in profile.user_event_fields]))
        if self_service:
            call.outcome = SELF_SERVICE
            self.finish(call, cause=16)
            return
        self.join(call, call.caller.variables.get("CC_QUEUE", ""),
                  _int(call.caller.variables.get("CC_PRIORITY", "0")),
                  monitor=f"{self.config.recording_dir}/{call.caller.unique_id}",
                  line=profile.queue_priority)

    # ---- queues

    def join(self, call: Call, queue_name: str, priority: int, *, monitor: str,
             line: int) -> None:
        """``Set(MONITOR_FILENAME=…)`` then ``Queue(<queue>)`` at dialplan priority ``line``."""
        self.set_variable(call.caller, "MONITOR_FILENAME", monitor)
        call.caller.priority = line
        call.caller.application, call.caller.application_data = "Queue", queue_name
        runtime = self.state.queues.get(queue_name)
        config = self.state.queue_configs.get(queue_name)
        if runtime is None or config is None:
            logger.warning("call %s: Queue(%s): no such queue", call.ref, queue_name)
            call.outcome = call.outcome or NO_SUCH_QUEUE
            self.finish(call, cause=16)
            return
        if not config.joinempty and not any(not m.paused for m in runtime.members):
            logger.info("call %s: Queue(%s): JOINEMPTY", call.ref, queue_name)
            call.outcome = call.outcome or JOIN_EMPTY
            self.finish(call, cause=16)
            return
        self.state.entry_counter += 1
        entry = Entry(call.ref, priority, self.now, 0, self.state.entry_counter)
        position = qe.insert(runtime, entry)
        self.emit(ev.queue_caller_join(call.caller, queue_name, position, len(runtime.entries)))
        self.emit(ev.music_on_hold_start(call.caller))
        call.phase = Phase.QUEUED
        call.queue = queue_name
        call.queues.append(queue_name)
        self.timer(("maxwait", call.ref), config.max_wait)
        if call.patience is not None:
            self.timer(("patience", call.ref), call.patience)
        if call.callback_after is not None:
            self.timer(("exitkey", call.ref), call.callback_after)
        logger.info("call %s: joins %s at position %d", call.ref, queue_name, position)
        self.dispatch()

    def dispatch(self) -> None:
        """Offer waiting callers to available members until nobody else can be rung."""
        pairs = [(self.state.queues[name], cfg) for name, cfg in self.state.queue_configs.items()]
        for queue_name, entry in qe.offer_order(pairs):
            if entry.state is not EntryState.WAITING:
                continue
            runtime = self.state.queues[queue_name]
            config = self.state.queue_configs[queue_name]
            member = qe.pick_member(runtime, config, self.state.devices, self.now)
            if member is None:
                continue
            qe.rang(runtime, member)
            self.ring(self.state.calls[entry.ref], entry, member, config)

    def _agent_channels(self, call: Call, interface: str) -> tuple[Channel, Channel | None]:
        caller = call.caller
        match = _LOCAL_INTERFACE.fullmatch(interface)
        if match:
            exten, context = match.groups()
            base = f"Local/{exten}@{context}-{self.next_seq('Local'):08x}"
            one = self.new_channel(base + ";1", caller.linked_id, context=context, exten=exten)
            two = self.new_channel(base + ";2", caller.linked_id, state=RING, context=context,
                                   exten=exten)
            self.emit(ev.newchannel(one))
            self.emit(ev.newchannel(two))
            two.connected_num, two.connected_name = caller.caller_num, caller.caller_name
            for half in (one, two):
                half.caller_num, half.caller_name = caller.caller_num, caller.caller_name
            two.priority = 3  # the lab's [agents] phone: Ringing(), then Wait(2) at priority 3
            return one, two
        tech, _, resource = interface.partition("/")
        resource = resource.split("/", 1)[0] or interface
        name = f"{tech}/{resource}-{self.next_seq(tech):08x}"
        leg = self.new_channel(name, caller.linked_id, context="agents", exten=resource)
        self.emit(ev.newchannel(leg))
        leg.caller_num, leg.caller_name = caller.caller_num, caller.caller_name
        return leg, None

    def ring(self, call: Call, entry: Entry, member: Member, config: QueueConfig) -> None:
        self.state.attempt_counter += 1
        attempt_id = self.state.attempt_counter
        agent, peer = self._agent_channels(call, member.interface)
        # DialBegin carries the snapshot app_queue took before it set the connected line and
        # gave the leg the caller's extension; AgentCalled, published later, the new one.
        before = replace(agent, variables={})
        agent.connected_num, agent.connected_name = call.caller.caller_num, call.caller.caller_name
        agent.exten = call.caller.exten
        self.emit(ev.agent_called(call.caller, agent, config.name, member.interface, member.name))
        self.emit(ev.dial_begin(call.caller, before, member.interface))
        agent.state = RINGING
        self.emit(ev.newstate(agent))
        self.emit(ev.dial_state(call.caller, agent, "RINGING"))
        device = self.device(member.interface)
        device.attempt_id = attempt_id
        # A ringing Local member shows INUSE (2), a real phone RINGING (6) (fixture README).
        device.status = DEVICE_INUSE if self.local else DEVICE_RINGING
        self.emit_member_status(member.interface)
        self.state.attempts[attempt_id] = Attempt(
            attempt_id=attempt_id, ref=call.ref, queue=config.name, interface=member.interface,
            member_name=member.name, agent=agent, agent_peer=peer, started_at=self.now)
        entry.state = EntryState.RINGING
        call.attempt_id = attempt_id
        self.timer(("ring", str(attempt_id)), config.timeout)
        logger.info("call %s: %s rings %s (%s)", call.ref, config.name, member.interface,
                    member.name)
        self.effects.append(RingPhone(attempt_id, member.interface, call.ref, config.name,
                                      call.caller.caller_num, call.caller.caller_name,
                                      agent.name))

    def _end_attempt(self, attempt: Attempt, cause: int) -> None:
        """Hang up the agent leg of a ring that did not connect and free the device."""
        self.state.attempts.pop(attempt.attempt_id, None)
        self.cancel(("ring", str(attempt.attempt_id)))
        self.drop_channel(attempt.agent, cause)
        if attempt.agent_peer is not None:
            self.drop_channel(attempt.agent_peer, cause)
        device = self.device(attempt.interface)
        if device.attempt_id == attempt.attempt_id:
            device.attempt_id = None
            device.status = DEVICE_NOT_INUSE
        self.emit_member_status(attempt.interface)
        self.effects.append(StopRinging(attempt.attempt_id, attempt.interface))

    def ring_no_answer(self, attempt_id: int, status: str) -> None:
        out = self.state.outbound.get(attempt_id)
        if out is not None:
            if not out.answered:  # the phone declined (BUSY) or rang out (NOANSWER)
                self._originate_failed(out, status, 5 if status == "BUSY" else 3)
            return
        attempt = self.state.attempts.get(attempt_id)
        if attempt is None:
            return
        call = self.state.calls[attempt.ref]
        ring_ms = round((self.now - attempt.started_at) * 1000)
        self.emit(ev.agent_ring_no_answer(call.caller, attempt.agent, attempt.queue,
                                          attempt.interface, attempt.member_name, ring_ms))
        self.emit(ev.dial_end(call.caller, attempt.agent, status))
        if self.local and status == "NOANSWER":
            # The Local ;1 half reports the end of the dial a second time (scenario 03).
            self.emit(ev.dial_end(call.caller, attempt.agent, "CANCEL"))
        self._end_attempt(attempt, cause=0)
        call.attempt_id = None
        logger.info("call %s: %s did not answer (%d ms)", call.ref, attempt.interface, ring_ms)
        for entry in self.state.queues[attempt.queue].entries:
            if entry.ref == call.ref:
                entry.state = EntryState.BACKOFF
        self.timer(("retry", call.ref), self.state.queue_configs[attempt.queue].retry)
        self.dispatch()

    def agent_answer(self, attempt_id: int) -> None:
        out = self.state.outbound.get(attempt_id)
        if out is not None:
            if not out.answered:
                self.outbound_answered(out)
            return
        attempt = self.state.attempts.pop(attempt_id, None)
        if attempt is None:
            return
        call = self.state.calls[attempt.ref]
        runtime = self.state.queues[attempt.queue]
        config = self.state.queue_configs[attempt.queue]
        self.cancel(("ring", str(attempt_id)))
        agent = attempt.agent
        if attempt.agent_peer is not None:
            # [agents]: Answer() at priority 4, then Wait(talk) at 5 until the hang-up.
            attempt.agent_peer.state, attempt.agent_peer.priority = UP, 4
            self.emit(ev.newstate(attempt.agent_peer))
            attempt.agent_peer.priority = 5
        agent.state = UP
        self.emit(ev.newstate(agent))
        self.emit(ev.dial_end(call.caller, agent, "ANSWER"))
        self.emit(ev.music_on_hold_stop(call.caller))
        position = runtime.position(call.ref) or 1
        left = qe.leave(runtime, call.ref)
        joined = left[1].joined_at if left is not None else self.now
        hold = _seconds(self.now, joined)
        ring = _seconds(self.now, attempt.started_at)
        monitor = call.caller.variables.get("MONITOR_FILENAME", "")
        if self.config.record and monitor:
            # queues.conf monitor-format=wav: app_queue appends .wav and starts MixMonitor.
            path = f"{monitor}.wav"
            self.set_variable(call.caller, "MIXMONITOR_FILENAME", path)
            self.emit(ev.mixmonitor_start(call.caller))
            call.recordings.append(path)
            self.effects.append(StartRecording(call.ref, path, attempt.queue, attempt.interface))
        self.emit(ev.queue_caller_leave(call.caller, attempt.queue, position,
                                        len(runtime.entries)))
        self.emit(ev.agent_connect(call.caller, agent, attempt.queue, attempt.interface,
                                   attempt.member_name, hold, ring))
        qe.record_connect(runtime, hold)
        self.state.bridge_counter += 1
        bridge = Bridge(_bridge_id(self.state.bridge_counter, call.caller.unique_id))
        self.emit(ev.bridge_create(bridge))
        for channel in (agent, call.caller):
            bridge.channels.append(channel.name)
            channel.bridge_id = bridge.bridge_id
            self.emit(ev.bridge_enter(bridge, channel))
        device = self.device(attempt.interface)
        device.attempt_id = None
        device.call_ref = call.ref
        device.status = DEVICE_INUSE
        for member in self.members_of(attempt.interface):
            member.in_call = True
        if not self.local:
            self.emit_member_status(attempt.interface)  # RINGING (6) → INUSE (2)
        call.phase = Phase.TALKING
        call.attempt_id = None
        call.bridge = bridge
        call.leg = Leg(queue=attempt.queue, interface=attempt.interface,
                       member_name=attempt.member_name, hold_time=hold, answered_at=self.now,
                       agent=agent, in_service_level=hold <= config.servicelevel,
                       agent_peer=attempt.agent_peer)
        if call.answered_at is None:
            call.answered_at = self.now
            call.first_hold = hold
        call.agents.append(attempt.interface)
        self.cancel(("maxwait", call.ref))
        self.cancel(("patience", call.ref))
        self.cancel(("exitkey", call.ref))
        if call.talk_limit is not None:
            self.timer(("talk", call.ref), call.talk_limit)
        logger.info("call %s: %s answered after %d s in %s", call.ref, attempt.interface, hold,
                    attempt.queue)
        self.effects.append(PhoneConnected(attempt_id, attempt.interface, call.ref))

    def _release_member(self, leg: Leg, call: Call, talk: int) -> None:
        """The agent's part of the call is over: statistics, wrap-up, device free."""
        call.talked += talk
        qe.record_completed(self.state.queues[leg.queue], talk, leg.in_service_level)
        device = self.device(leg.interface)
        device.call_ref = None
        device.status = DEVICE_NOT_INUSE
        device.last_call_end = self.now
        for member in self.members_of(leg.interface):
            member.in_call = False
            member.last_call = int(self.now)  # shared_lastcall = yes
            if member.queue == leg.queue:
                member.calls_taken += 1
        self.effects.append(PhoneReleased(leg.interface, call.ref))
        for name, config in self.state.queue_configs.items():
            found = self.state.queues[name].member(leg.interface)
            if found is not None:
                self.effects.append(SetTimer(("wrapup", f"{name}|{leg.interface}"),
                                             self.now + qe.wrapup_of(found, config)))

    def _stop_recording(self, call: Call) -> None:
        if call.recordings and self.config.record:
            self.effects.append(StopRecording(call.ref, call.recordings[-1]))

    # ---- hang-ups

    def caller_hangup(self, ref: str, cause: int = 16) -> None:
        call = self.state.calls.get(ref)
        if call is None:
            return
        call.hangup_cause = cause
        if call.caller_peer is not None:
            call.caller_peer.priority = 10  # [merchant-sim]'s Hangup()
        if call.phase in _IN_AGI:
            if not call.ivr_hung_up:
                call.ivr_hung_up = True
                if call.caller_peer is not None:
                    self.drop_channel(call.caller_peer, cause)
                    call.caller_peer = None
                # The AGI session sees the hang-up; the channel goes when IvrDone arrives.
                self.effects.append(AbortIvr(ref))
        elif call.phase is Phase.QUEUED:
            self._abandon(call, cause)
        elif call.phase is Phase.TALKING:
            self._end_talk(call, reason="caller")

    def _cancel_ringing(self, call: Call) -> None:
        if call.attempt_id is None:
            return
        attempt = self.state.attempts.get(call.attempt_id)
        call.attempt_id = None
        if attempt is not None:
            self.emit(ev.dial_end(call.caller, attempt.agent, "CANCEL"))
            self._end_attempt(attempt, cause=0)

    def _abandon(self, call: Call, cause: int) -> None:
        # Order of scenario 02: Hangup ;1, MusicOnHoldStop, QueueCallerAbandon,
        # QueueCallerLeave, Hangup ;2.
        if call.caller_peer is not None:
            self.drop_channel(call.caller_peer, cause)
            call.caller_peer = None
        self._cancel_ringing(call)
        self.emit(ev.music_on_hold_stop(call.caller))
        queue_name = call.queue or ""
        runtime = self.state.queues[queue_name]
        position = runtime.position(call.ref)
        left = qe.leave(runtime, call.ref)
        if left is not None:
            hold = _seconds(self.now, left[1].joined_at)
            self.emit(ev.queue_caller_abandon(call.caller, queue_name, position,
                                              left[1].original_position, hold))
            qe.record_abandoned(runtime, hold, self.state.queue_configs[queue_name])
            self.emit(ev.queue_caller_leave(call.caller, queue_name, position,
                                            len(runtime.entries)))
        call.outcome = call.outcome or ABANDONED
        logger.info("call %s: abandoned in %s", call.ref, queue_name)
        self.finish(call, cause=cause)

    def _end_talk(self, call: Call, reason: str) -> None:
        """The bridge ends because the ``caller`` or the ``agent`` hung up."""
        leg, bridge = call.leg, call.bridge
        if leg is None or bridge is None or leg.agent is None:
            return
        agent, peer = leg.agent, leg.agent_peer
        talk = _seconds(self.now, leg.answered_at)
        complete = ev.agent_complete(call.caller, agent, leg.queue, leg.interface,
                                     leg.member_name, leg.hold_time, talk, reason)
        self.cancel(("talk", call.ref))
        self._stop_recording(call)
        call.outcome = call.outcome or ANSWERED
        call.leg, call.bridge = None, None
        if reason == "caller":
            # Order of scenario 01: AgentComplete, Hangup ;1, BridgeLeave ×2, BridgeDestroy,
            # Hangup agent ;1, Hangup caller, QueueMemberStatus, Hangup agent ;2.
            self.emit(complete)
            self._emit_deferred(call)
            if call.caller_peer is not None:
                self.drop_channel(call.caller_peer, call.hangup_cause)
                call.caller_peer = None
            self._leave_bridge(bridge, call.caller)
            self._leave_bridge(bridge, agent)
            self.emit(ev.bridge_destroy(bridge))
            self.drop_channel(agent, 16)
            self._release_member(leg, call, talk)
            self.finish(call, cause=call.hangup_cause, member_status=leg.interface, peer=peer)
            return
        # Order of scenario 03: Hangup agent ;2, AgentComplete, BridgeLeave agent, Hangup
        # agent ;1, BridgeLeave caller, BridgeDestroy, QueueMemberStatus, then the caller.
        if peer is not None:
            peer.priority = 6  # [agents]' Hangup()
            self.drop_channel(peer, 16)
        self.emit(complete)
        self._leave_bridge(bridge, agent)
        self.drop_channel(agent, 16)
        self._leave_bridge(bridge, call.caller)
        self.emit(ev.bridge_destroy(bridge))
        self._release_member(leg, call, talk)
        self.emit_member_status(leg.interface)
        survey = self._survey_priority(call)
        if survey is None:
            self.finish(call, cause=16)
            return
        # Queue(…,c,…): the caller continues in the dialplan, to the survey.
        call.phase = Phase.SURVEY
        call.caller.priority = survey
        call.caller.application = "AGI"
        call.caller.application_data = self._agi_url(SURVEY_ROUTE)
        self.effects.append(RunIvr(call.ref, self._ivr_request(call, SURVEY_ROUTE)))

    def _survey_priority(self, call: Call) -> int | None:
        profile = self.config.profile
        if call.caller.context == profile.transfer_context:
            return profile.transfer_survey_priority
        return profile.survey_priority

    def _leave_bridge(self, bridge: Bridge, channel: Channel) -> None:
        if channel.name in bridge.channels:
            bridge.channels.remove(channel.name)
            self.emit(ev.bridge_leave(bridge, channel))
            channel.bridge_id = ""

    def _emit_deferred(self, call: Call) -> None:
        """AgentComplete of the queues the caller was transferred out of: only now, without
        Dest* headers, talk time up to this hang-up (scenario 06)."""
        for leg in call.deferred:
            talk = _seconds(self.now, leg.answered_at)
            self.emit(ev.agent_complete(call.caller, None, leg.queue, leg.interface,
                                        leg.member_name, leg.hold_time, talk, "caller"))
        call.deferred.clear()

    def finish(self, call: Call, cause: int, member_status: str | None = None,
               peer: Channel | None = None) -> None:
        """Hang up the caller's channels and report the call, exactly once."""
        if call.phase is Phase.ENDED:
            return
        self._emit_deferred(call)
        if call.caller_peer is not None:
            self.drop_channel(call.caller_peer, cause)
            call.caller_peer = None
        self.drop_channel(call.caller, cause)
        if member_status is not None:
            self.emit_member_status(member_status)
        if peer is not None:
            self.drop_channel(peer, 16)
        for key in ("maxwait", "patience", "talk", "retry", "exitkey"):
            self.cancel((key, call.ref))
        call.phase = Phase.ENDED
        self.state.calls.pop(call.ref, None)
        self.state.ended += 1
        record = CallRecord(
            ref=call.ref, unique_id=call.caller.unique_id, linked_id=call.caller.linked_id,
            caller_num=call.caller.caller_num, outcome=call.outcome or ANSWERED,
            queues=tuple(call.queues), agents=tuple(call.agents), arrived_at=call.arrived_at,
            answered_at=call.answered_at, ended_at=self.now, hold_time=call.first_hold,
            talk_time=call.talked if call.answered_at is not None else None,
            recordings=tuple(call.recordings),
            variables=MappingProxyType({k: v for k, v in call.caller.variables.items()
                                        if k.startswith("CC_")}))
        logger.info("call %s: ended (%s)", call.ref, record.outcome)
        self.effects.append(CallEnded(record))

    def agent_hangup(self, interface: str) -> None:
        out = self.outbound_of_interface(interface)
        if out is not None:
            self.outbound_agent_hangs_up(out)
            return
        device = self.state.devices.get(interface)
        if device is None:
            return
        if device.attempt_id is not None:
            self.ring_no_answer(device.attempt_id, "BUSY")
        elif device.call_ref is not None:
            call = self.state.calls.get(device.call_ref)
            if call is not None and call.phase is Phase.TALKING:
                self._end_talk(call, reason="agent")

    # ---- transfer

    def redirect(self, call: Call, context: str, exten: str) -> None:
        """Redirect of the caller's channel: a blind transfer when it goes to
        ``cc-transfer/<queue>``; anywhere else the caller's call ends (no such extension)."""
        profile = self.config.profile
        if call.phase is Phase.TALKING and call.leg is not None and call.bridge is not None:
            leg, bridge = call.leg, call.bridge
            agent = leg.agent
            # The async goto moves the channel first: it leaves the bridge already in
            # cc-transfer/<queue>, priority 1.
            call.caller.context, call.caller.exten, call.caller.priority = context, exten, 1
            # Order of scenario 06: BridgeLeave caller, BridgeLeave agent, Hangup agent ;1,
            # BridgeDestroy, QueueMemberStatus, MixMonitorStop, Hangup agent ;2.
            self._leave_bridge(bridge, call.caller)
            if agent is not None:
                self._leave_bridge(bridge, agent)
                self.drop_channel(agent, 16)
            self.emit(ev.bridge_destroy(bridge))
            talk = _seconds(self.now, leg.answered_at)
            self._release_member(leg, call, talk)
            self.emit_member_status(leg.interface)
            self.cancel(("talk", call.ref))
            call.deferred.append(leg)
            call.leg, call.bridge = None, None
            call.caller.priority = profile.transfer_stop_priority
            if call.recordings and self.config.record:
                self.emit(ev.mixmonitor_stop(call.caller))
                self._stop_recording(call)
            if leg.agent_peer is not None:
                self.drop_channel(leg.agent_peer, 16)
        elif call.phase is Phase.QUEUED and call.queue is not None:
            self._cancel_ringing(call)
            self.emit(ev.music_on_hold_stop(call.caller))
            runtime = self.state.queues[call.queue]
            position = runtime.position(call.ref)
            qe.leave(runtime, call.ref)
            self.emit(ev.queue_caller_leave(call.caller, call.queue, position,
                                            len(runtime.entries)))
            self.cancel(("maxwait", call.ref))
            self.cancel(("patience", call.ref))
            self.cancel(("retry", call.ref))
            self.cancel(("exitkey", call.ref))
            call.caller.context, call.caller.exten = context, exten
        else:
            self.caller_hangup(call.ref)
            return
        if context != profile.transfer_context or exten not in self.state.queues:
            logger.info("call %s: redirected to %s@%s, which is not a queue: hang-up",
                        call.ref, exten, context)
            self.finish(call, cause=16)
            return
        previous = call.caller.variables.get("CC_QUEUE", call.queue or "")
        self.set_variable(call.caller, "CC_TRANSFERRED_FROM", previous)
        self.set_variable(call.caller, "CC_QUEUE", exten)
        call.outcome = None if call.answered_at is None else ANSWERED
        logger.info("call %s: blind transfer %s -> %s", call.ref, previous, exten)
        self.join(call, exten, _int(call.caller.variables.get("CC_PRIORITY", "0")),
                  monitor=f"{self.config.recording_dir}/{call.caller.unique_id}-{exten}",
                  line=profile.transfer_queue_priority)

    # ---- timers

    def timer_fired(self, key: TimerKey) -> None:
        kind, subject = key
        if kind.startswith("out"):
            out = self.state.outbound.get(int(subject))
            if out is None:
                return
            if kind == "outring":
                self.ring_no_answer(out.attempt_id, "NOANSWER")
            elif kind == "outdial":
                self.outbound_dial(out)
            elif kind == "outanswer":
                self.outbound_merchant_answers(out)
            elif kind == "outtalk":
                self.outbound_merchant_hangs_up(out)
            return
        if kind == "ring":
            self.ring_no_answer(int(subject), "NOANSWER")
        elif kind == "retry":
            call = self.state.calls.get(subject)
            if call is not None and call.queue is not None and call.phase is Phase.QUEUED:
                for entry in self.state.queues[call.queue].entries:
                    if entry.ref == subject and entry.state is EntryState.BACKOFF:
                        entry.state = EntryState.WAITING
            self.dispatch()
        elif kind == "wrapup":
            self.dispatch()
        elif kind in ("patience", "talk"):
            self.caller_hangup(subject)
        elif kind == "maxwait":
            self._queue_timeout(subject)
        elif kind == "exitkey":
            self._exit_with_key(subject)
        elif kind == "dtmf":
            ref, digit, _ = subject.split("|")
            call = self.state.calls.get(ref)
            if call is not None and not call.ivr_hung_up:
                self.emit(ev.dtmf_end(call.caller, digit, DTMF_DURATION_MS))

    def _queue_timeout(self, ref: str) -> None:
        call = self.state.calls.get(ref)
        if call is None or call.phase is not Phase.QUEUED or call.queue is None:
            return
        self._cancel_ringing(call)
        self.emit(ev.music_on_hold_stop(call.caller))
        runtime = self.state.queues[call.queue]
        position = runtime.position(ref)
        qe.leave(runtime, ref)
        self.emit(ev.queue_caller_leave(call.caller, call.queue, position, len(runtime.entries)))
        call.caller.priority = self.config.profile.after_queue_priority
        call.outcome = call.outcome or QUEUE_TIMEOUT
        logger.info("call %s: Queue(%s) timed out", ref, call.queue)
        self.finish(call, cause=16)

    def _exit_with_key(self, ref: str) -> None:
        """Key 1 while waiting: app_queue lets the caller out into ``[cc-queue-exit]``, which
        runs the ``callback`` route (module docstring; capture 12-queue-callback)."""
        call = self.state.calls.get(ref)
        if call is None or call.phase is not Phase.QUEUED or call.queue is None:
            return
        profile = self.config.profile
        self._cancel_ringing(call)
        self.emit(ev.music_on_hold_stop(call.caller))
        runtime = self.state.queues[call.queue]
        position = runtime.position(ref)
        left = qe.leave(runtime, ref)
        waited = _seconds(self.now, left[1].joined_at) if left is not None else 0
        for key in ("maxwait", "patience", "retry"):
            self.cancel((key, ref))
        chan = call.caller
        chan.context, chan.exten, chan.priority = profile.exit_context, profile.exit_key, 0
        self.emit(ev.queue_caller_leave(chan, call.queue, position, len(runtime.entries)))
        call.callback_after = None  # once per call
        self.set_variable(chan, "QUEUEWAIT", str(waited))
        self.set_variable(chan, "QUEUEPOSITION", str(position))
        chan.priority = profile.callback_agi_priority - 1
        self.set_variable(chan, "CC_CALLBACK_OUTCOME", "failed")
        chan.priority = profile.callback_agi_priority
        chan.application, chan.application_data = "AGI", self._agi_url(CALLBACK_ROUTE)
        call.phase = Phase.CALLBACK
        logger.info("call %s: key %s in %s after %d s", ref, profile.exit_key, call.queue, waited)
        self.dispatch()
        self.effects.append(RunIvr(ref, self._ivr_request(call, CALLBACK_ROUTE)))

    def _after_callback(self, call: Call, *, hung_up: bool) -> None:
        """The ``callback`` route ended: publish what it decided; booked, hang up; else back
        into the queue (``Goto(from-trunk,…,requeue)``)."""
        profile = self.config.profile
        chan = call.caller
        values = chan.variables
        booked = values.get("CC_CALLBACK_OUTCOME") == BOOKED
        if hung_up:  # AGI returned -1: the dialplan stops here, no UserEvent
            call.outcome = CALLBACK_REQUESTED if booked else IVR_HANGUP
            self.finish(call, cause=call.hangup_cause)
            return
        chan.priority = profile.callback_publish_priority
        chan.application, chan.application_data = "UserEvent", "CcCallbackRequest"
        self.emit(ev.user_event(chan, "CcCallbackRequest", [
            ("CcQueue", values.get("CC_QUEUE", "")),
            ("CcCallbackOutcome", values.get("CC_CALLBACK_OUTCOME", "")),
            ("CcCallbackRef", values.get("CC_CALLBACK_REF", "")),
            ("CcQueueWait", values.get("QUEUEWAIT", "")),
            ("CcQueuePosition", values.get("QUEUEPOSITION", ""))]))
        if booked:
            chan.priority = profile.callback_booked_priority
            chan.application, chan.application_data = "Hangup", ""
            call.outcome = CALLBACK_REQUESTED
            peer, call.caller_peer = call.caller_peer, None
            if peer is not None:
                peer.priority = 10  # [merchant-sim]'s Hangup(), after the caller's half
            logger.info("call %s: call-back booked in %s", call.ref, values.get("CC_QUEUE"))
            self.finish(call, cause=16, peer=peer)
            return
        chan.context, chan.exten = profile.inbound_context, profile.hotline_exten
        self.join(call, values.get("CC_QUEUE", ""), _int(values.get("CC_PRIORITY", "0")),
                  monitor=f"{self.config.recording_dir}/{chan.unique_id}",
                  line=profile.queue_priority)

    # ---- members

    def add_member(self, queue: str, interface: str, name: str, penalty: int, paused: bool,
                   reason: str, state_interface: str = "") -> tuple[str | None, Member | None]:
        """QueueAdd's rule; returns (error message, None) or (None, the new member)."""
        runtime = self.state.queues.get(queue)
        if runtime is None:
            return "Unable to add interface to queue: No such queue", None
        if runtime.member(interface) is not None:
            return "Unable to add interface: Already there", None
        device = self.device(interface)
        member = Member(queue=queue, interface=interface, name=name or interface,
                        state_interface=state_interface or interface, login_time=int(self.now),
                        penalty=penalty, paused=paused, paused_reason=reason if paused else "",
                        last_pause=int(self.now) if paused else 0,
                        in_call=device.call_ref is not None)
        runtime.members.append(member)
        logger.info("member %s added to %s", interface, queue)
        return None, member

    def member_added(self, member: Member) -> None:
        self.emit(ev.queue_member_event("QueueMemberAdded", member,
                                        self.device(member.interface).status))
        self.dispatch()

    # ---- spies

    def _end_spies_of(self, channel: Channel) -> None:
        """ChanSpy's ``E`` option: the spy ends when the spied-on channel hangs up."""
        for key, spy in list(self.state.spies.items()):
            if spy.spyee == channel.name and spy.end_with_spyee:
                self._end_spy(key, spyee=channel)

    def _end_spy(self, key: str, spyee: Channel | None = None) -> None:
        spy = self.state.spies.pop(key, None)
        if spy is None:
            return
        spyer = spy.channels[0]
        if spy.recording is not None:
            self.effects.append(StopRecording(key, spy.recording))
        target = spyee or self.state.channels.get(spy.spyee or "")
        # Order of scenario 07: Hangup of the supervisor's phone (;2), ChanSpyStop, Hangup ;1.
        for channel in reversed(spy.channels[1:]):
            self.drop_channel(channel, 16)
        if target is not None:
            self.emit(ev.chanspy("ChanSpyStop", spyer, target))
        self.drop_channel(spyer, 16)

    def spy_digit(self, channel_name: str, digit: str) -> None:
        """A digit received on a spy's channel: with ChanSpy's ``d`` option 4, 5 and 6 switch
        the running spy to listen, whisper and barge (app_chanspy.c ``change_spy_mode``)."""
        spy = self.state.spies.get(channel_name)
        if spy is not None and spy.spyee is not None and "d" in spy.options \
                and digit in _SPY_DIGITS:
            spy.mode = _SPY_DIGITS[digit]

    def shutdown(self, restart: bool) -> None:
        for call in list(self.state.calls.values()):
            call.outcome = call.outcome or (ANSWERED if call.answered_at is not None
                                            else SHUTDOWN)
            if call.phase is Phase.QUEUED:
                self._abandon(call, cause=0)
                continue
            self._cancel_ringing(call)
            leg, bridge = call.leg, call.bridge
            if leg is not None and bridge is not None and leg.agent is not None:
                self._leave_bridge(bridge, call.caller)
                self._leave_bridge(bridge, leg.agent)
                self.emit(ev.bridge_destroy(bridge))
                self.drop_channel(leg.agent, 0)
                if leg.agent_peer is not None:
                    self.drop_channel(leg.agent_peer, 0)
                self._release_member(leg, call, _seconds(self.now, leg.answered_at))
                self._stop_recording(call)
                call.leg = call.bridge = None
            if call.phase in (Phase.IVR, Phase.SURVEY):
                self.effects.append(AbortIvr(call.ref))
            self.finish(call, cause=0)
        for key in list(self.state.spies):
            self._end_spy(key)
        for out in list(self.state.outbound.values()):
            self._drop_trunk(out, 0)
            self._end_outbound(out, 0)
        self.emit(ev.shutdown(restart))
        if restart:
            self._reboot()

    def _reboot(self) -> None:
        """What a ``core restart`` leaves (scenario 08): dynamic members come back from astdb
        with their paused state and reason but fresh LoginTime/LastPause; statistics, calls
        and channel counters start over."""
        now = int(self.now)
        for queue in self.state.queues.values():
            queue.entries.clear()
            queue.rr_pos = queue.completed = queue.abandoned = 0
            queue.completed_in_sl = queue.abandoned_in_sl = queue.holdtime = queue.talktime = 0
            for member in queue.members:
                member.login_time = now
                member.last_pause = now if member.paused else 0
                member.calls_taken = member.last_call = 0
                member.in_call = False
        self.state.devices = {interface: Device(interface) for interface in self.state.devices}
        self.state.channels.clear()
        self.state.attempts.clear()
        self.state.outbound.clear()
        self.state.unique_counter = 0
        self.state.name_counters.clear()

    # ---- AMI actions (one routing table: ACTIONS below)

    def action(self, session: int, action: Action) -> None:
        handler = ACTIONS.get(action.name.lower())
        if handler is None:
            self.respond(session, error(
                action.action_id, f"Invalid/unknown command: {action.name}. Use Action: "
                "ListCommands to show available commands."))
            return
        handler(self, session, action)

    def find_channel(self, name: str) -> Channel | None:
        return self.state.channels.get(name)

    def call_of_channel(self, name: str) -> Call | None:
        for call in self.state.calls.values():
            if call.caller.name == name or (call.caller_peer is not None
                                             and call.caller_peer.name == name):
                return call
        return None

    def interface_of_agent_channel(self, name: str) -> str | None:
        for attempt in self.state.attempts.values():
            if name in (attempt.agent.name, getattr(attempt.agent_peer, "name", None)):
                return attempt.interface
        for call in self.state.calls.values():
            leg = call.leg
            if leg is not None and name in (getattr(leg.agent, "name", None),
                                            getattr(leg.agent_peer, "name", None)):
                return leg.interface
        return None

    def hangup_channel(self, name: str, cause: int) -> None:
        found = self.outbound_of_channel(name)
        if found is not None:
            out, trunk = found
            if trunk:
                self.outbound_merchant_hangs_up(out)
            else:
                self.outbound_agent_hangs_up(out)
            return
        call = self.call_of_channel(name)
        if call is not None:
            self.caller_hangup(call.ref, cause)
            return
        interface = self.interface_of_agent_channel(name)
        if interface is not None:
            self.agent_hangup(interface)
            return
        for key, spy in list(self.state.spies.items()):
            if any(channel.name == name for channel in spy.channels):
                self._end_spy(key)
                return
        channel = self.state.channels.get(name)
        if channel is not None:
            self.drop_channel(channel, cause)

    def read_variable(self, channel: Channel | None, name: str) -> str:
        """Getvar's value: a channel variable, a few dialplan functions, or a global."""
        if channel is None:
            return self.state.globals.get(name, "")
        functions: dict[str, Callable[[Channel], str]] = {
            "CHANNEL(LINKEDID)": lambda c: c.linked_id,
            "CHANNEL(UNIQUEID)": lambda c: c.unique_id,
            "UNIQUEID": lambda c: c.unique_id,
            "CHANNEL(LANGUAGE)": lambda c: c.language,
            "CHANNEL(NAME)": lambda c: c.name,
            "CALLERID(NUM)": lambda c: "" if c.caller_num == UNKNOWN_ID else c.caller_num,
            "CALLERID(NAME)": lambda c: "" if c.caller_name == UNKNOWN_ID else c.caller_name,
        }
        function = functions.get(name.upper())
        if function is not None:
            return function(channel)
        return channel.variables.get(name, self.state.globals.get(name, ""))

    def originate(self, session: int, action: Action) -> None:
        action_id = action.action_id
        spec = action.get("Channel")
        if not spec:
            self.respond(session, error(action_id, "Channel not specified"))
            return
        is_async = action.get("Async").lower() in ("true", "yes", "1", "on")
        application = action.get("Application")
        caller_num, caller_name = _parse_caller_id(action.get("CallerID"))
        local = _LOCAL_INTERFACE.fullmatch(spec)
        tech = spec.partition("/")[0]
        if local is None and tech not in ("PJSIP", "SIP", "IAX2", "DAHDI"):
            if is_async:
                self.respond(session, success(action_id, "Originate successfully queued"))
                self.emit(ev.originate_response(
                    action_id, "Failure", spec, self._originate_target(action), 0, UNKNOWN_ID,
                    caller_num, caller_name))
            else:
                self.respond(session, error(action_id, "Originate failed"))
            return
        if is_async:
            self.respond(session, success(action_id, "Originate successfully queued"))
        if not application and action.get("Context") == DIAL_CONTEXT:
            self.click_to_dial(action, spec, caller_num, caller_name)
            if not is_async:
                self.respond(session, success(action_id, "Originate successfully queued"))
            return
        channels: list[Channel] = []
        if local is not None:
            exten, context = local.groups()
            base = f"Local/{exten}@{context}-{self.next_seq('Local'):08x}"
            one = self.new_channel(base + ";1", None, context=context, exten=exten)
            two = self.new_channel(base + ";2", one.unique_id, state=RING, context=context,
                                   exten=exten)
            channels = [one, two]
        else:
            resource = spec.partition("/")[2].split("/", 1)[0]
            channels = [self.new_channel(f"{tech}/{resource}-{self.next_seq(tech):08x}", None,
                                         context="agents", exten=resource)]
        for channel in channels:
            self.emit(ev.newchannel(channel))
        for channel in channels:
            channel.caller_num, channel.caller_name = caller_num, caller_name
            channel.connected_num, channel.connected_name = caller_num, caller_name
        for channel in reversed(channels):
            channel.state = UP
            self.emit(ev.newstate(channel))
        first = channels[0]
        if application:
            first.application, first.application_data = application, action.get("Data")
        if is_async:
            self.emit(ev.originate_response(action_id, "Success", first.name,
                                            self._originate_target(action), 4, first.unique_id,
                                            caller_num, caller_name))
        else:
            self.respond(session, success(action_id, "Originate successfully queued"))
        key = first.name
        spy = Spy(channels=channels, spyee=None, end_with_spyee=False)
        if application.lower() == "chanspy":
            prefix, _, options = action.get("Data").partition(",")
            spy.end_with_spyee = "E" in options
            spy.options = options
            spy.mode = "barge" if "B" in options else "whisper" if "w" in options else "listen"
            target = next((c for n, c in self.state.channels.items()
                           if prefix and n.startswith(prefix) and c not in channels), None)
            if target is not None:
                spy.spyee = target.name
                self.emit(ev.chanspy("ChanSpyStart", first, target))
        self.state.spies[key] = spy

    # ---- click to dial (capture 11-click-to-dial)

    def click_to_dial(self, action: Action, spec: str, caller_num: str,
                      caller_name: str) -> None:
        """Originate of an agent's phone into ``[cc-outbound]``: the phone rings first; the
        OriginateResponse waits for its answer (``outbound_answered``) or its failure."""
        self.state.attempt_counter += 1
        attempt_id = self.state.attempt_counter
        local = _LOCAL_INTERFACE.fullmatch(spec)
        peer: Channel | None = None
        if local is not None:
            exten, context = local.groups()
            base = f"Local/{exten}@{context}-{self.next_seq('Local'):08x}"
            agent = self.new_channel(base + ";1", None, context=context, exten=exten)
            peer = self.new_channel(base + ";2", agent.unique_id, state=RING, context=context,
                                    exten=exten)
            dial_string = f"{exten}@{context}"
        else:
            tech, _, rest = spec.partition("/")
            resource = rest.split("/", 1)[0]
            agent = self.new_channel(f"{tech}/{resource}-{self.next_seq(tech):08x}", None,
                                     context="agents", exten=resource)
            dial_string = resource
        for channel in (agent, peer):
            if channel is not None:
                self.emit(ev.newchannel(channel))
                channel.caller_num, channel.caller_name = caller_num, caller_name
                channel.connected_num, channel.connected_name = caller_num, caller_name
        for value in action.get_all("Variable"):
            key, _, val = value.partition("=")
            if key:
                agent.variables[key.strip()] = val
        out = Outbound(attempt_id, action.action_id, spec, action.get("Exten"),
                       self._originate_target(action), caller_num, caller_name, agent, peer)
        self.state.outbound[attempt_id] = out
        # The originate dials the phone itself: DialBegin without a calling channel.
        self.emit(ev.dial_begin(None, agent, dial_string))
        if peer is None:
            agent.state = RINGING
            self.emit(ev.newstate(agent))
        device = self.device(spec)
        device.call_ref = out.ref  # busy for the queues while it rings and talks
        device.status = DEVICE_INUSE if self.local else DEVICE_RINGING
        self.emit_member_status(spec)
        timeout = _int(action.get("Timeout") or "30000") / 1000
        self.timer(("outring", str(attempt_id)), timeout if timeout > 0 else 30.0)
        logger.info("click to dial %s: %s rings for %s", out.ref, spec, out.number)
        self.effects.append(RingPhone(attempt_id, spec, out.ref, "", caller_num, caller_name,
                                      agent.name))

    def outbound_answered(self, out: Outbound) -> None:
        """The agent's phone answered: OriginateResponse Success (Reason 4); then
        ``[cc-outbound]`` runs on the leg: MixMonitor, and the trunk is dialled a moment
        later (in its own write, as Asterisk's dialplan does, 1.3 ms in the capture)."""
        self.cancel(("outring", str(out.attempt_id)))
        out.answered = True
        agent = out.agent
        if out.agent_peer is not None:
            out.agent_peer.state = UP
            self.emit(ev.newstate(out.agent_peer))
        agent.state = UP
        self.emit(ev.newstate(agent))
        self.emit(ev.dial_end(None, agent, "ANSWER"))
        self.emit(ev.originate_response(out.action_id, "Success", agent.name, out.target, 4,
                                        agent.unique_id, out.caller_num, out.caller_name))
        # [cc-outbound] 1 NoOp, 2 Set(CALLERID(num)=<hotline>), 3 MixMonitor, 4 Dial
        agent.context, agent.exten, agent.priority = DIAL_CONTEXT, out.number, 3
        agent.caller_num = self.config.profile.hotline_exten
        device = self.device(out.interface)
        device.status = DEVICE_INUSE
        if not self.local:
            self.emit_member_status(out.interface)
        if self.config.record:
            out.recording = f"{self.config.recording_dir}/{agent.unique_id}.wav"
            self.set_variable(agent, "MIXMONITOR_FILENAME", out.recording)
            self.emit(ev.mixmonitor_start(agent))
            self.effects.append(StartRecording(out.ref, out.recording, "", out.interface))
        self.effects.append(PhoneConnected(out.attempt_id, out.interface, out.ref))
        self.timer(("outdial", str(out.attempt_id)), OUTBOUND_DIAL_DELAY_S)

    def outbound_dial(self, out: Outbound) -> None:
        """``Dial(${CC_TRUNK}/<number>@trunk)`` from the agent's leg."""
        agent = out.agent
        if self.local:
            base = f"Local/{out.number}@{self.config.trunk}-{self.next_seq('Local'):08x}"
            trunk = self.new_channel(base + ";1", agent.linked_id, context=self.config.trunk,
                                     exten=out.number)
            peer = self.new_channel(base + ";2", agent.linked_id, state=RING,
                                    context=self.config.trunk, exten=out.number)
            channels = [trunk, peer]
            out.trunk_peer = peer
        else:
            trunk = self.new_channel(f"PJSIP/{self.config.trunk}-{self.next_seq('PJSIP'):08x}",
                                     agent.linked_id, context=self.config.trunk,
                                     exten=out.number)
            channels = [trunk]
        out.trunk = trunk
        hotline = self.config.profile.hotline_exten
        for channel in channels:
            self.emit(ev.newchannel(channel))
        # the dialled half shows the merchant, connected to the hotline; a Local ;2 the
        # reverse (capture 11)
        trunk.caller_num, trunk.caller_name = out.caller_num, out.caller_name
        trunk.connected_num, trunk.connected_name = hotline, out.caller_name
        if out.trunk_peer is not None:
            out.trunk_peer.caller_num, out.trunk_peer.caller_name = hotline, out.caller_name
            out.trunk_peer.connected_num = out.caller_num
            out.trunk_peer.connected_name = out.caller_name
        agent.priority = 4  # [cc-outbound]: NoOp, Set(CALLERID(num)), MixMonitor, Dial
        self.emit(ev.dial_begin(agent, trunk, f"{out.number}@{self.config.trunk}"))
        if not self.local:
            trunk.state = RINGING
            self.emit(ev.newstate(trunk))
            self.emit(ev.dial_state(agent, trunk, "RINGING"))
        if self.config.outbound_answer_s > 0:
            self.timer(("outanswer", str(out.attempt_id)), self.config.outbound_answer_s)
        else:
            self.outbound_merchant_answers(out)

    def outbound_merchant_answers(self, out: Outbound) -> None:
        """The merchant picks up (DialEnd ANSWER, bridged), or the line is busy."""
        trunk, agent = out.trunk, out.agent
        if trunk is None:
            return
        if out.number in self.config.busy_numbers:
            self.emit(ev.dial_end(agent, trunk, "BUSY"))
            self._drop_trunk(out, 17)
            self._end_outbound(out, 16)  # [cc-outbound]: Hangup() after the Dial
            return
        for channel in (out.trunk_peer, trunk):
            if channel is not None:
                channel.state = UP
                self.emit(ev.newstate(channel))
        if out.trunk_peer is not None:
            trunk.exten = ""  # the answered Local ;1 of a Dial shows no Exten (capture 11)
        self.emit(ev.dial_end(agent, trunk, "ANSWER"))
        self.state.bridge_counter += 1
        bridge = Bridge(_bridge_id(self.state.bridge_counter, agent.unique_id))
        self.emit(ev.bridge_create(bridge))
        for channel in (trunk, agent):
            bridge.channels.append(channel.name)
            channel.bridge_id = bridge.bridge_id
            self.emit(ev.bridge_enter(bridge, channel))
        out.bridge = bridge
        if self.config.outbound_talk_s is not None:
            self.timer(("outtalk", str(out.attempt_id)), self.config.outbound_talk_s)

    def outbound_merchant_hangs_up(self, out: Outbound) -> None:
        """Order of the capture: the trunk's halves leave, the bridge goes, then Dial
        returns and ``[cc-outbound]`` hangs the agent's leg up."""
        self._drop_trunk(out, 16)
        self._end_outbound(out, 16)

    def outbound_agent_hangs_up(self, out: Outbound) -> None:
        """The agent hangs up (or declines the ringing phone: the Originate fails)."""
        if not out.answered:
            self._originate_failed(out, "BUSY", 5)
            return
        agent, bridge = out.agent, out.bridge
        if out.trunk is not None and bridge is None:  # the merchant's phone still rings
            self.emit(ev.dial_end(agent, out.trunk, "CANCEL"))
        if out.agent_peer is not None:
            self.drop_channel(out.agent_peer, 16)
        if bridge is not None:
            self._leave_bridge(bridge, agent)
        self.drop_channel(agent, 16)
        self._drop_trunk(out, 16)
        self._end_outbound(out, 16)

    def _originate_failed(self, out: Outbound, status: str, reason: int) -> None:
        """The phone did not answer (``Timeout``: Reason 3, AST_CONTROL_RINGING) or declined
        (Reason 5, AST_CONTROL_BUSY): OriginateResponse Failure, as for an unknown channel
        type above."""
        self.emit(ev.dial_end(None, out.agent, status))
        if out.agent_peer is not None:
            self.drop_channel(out.agent_peer, 16)
        self.drop_channel(out.agent, 16)
        self.emit(ev.originate_response(out.action_id, "Failure", out.interface, out.target,
                                        reason, UNKNOWN_ID, out.caller_num, out.caller_name))
        self.effects.append(StopRinging(out.attempt_id, out.interface))
        self._end_outbound(out, 16)

    def _drop_trunk(self, out: Outbound, cause: int) -> None:
        bridge = out.bridge
        if out.trunk_peer is not None:
            self.drop_channel(out.trunk_peer, cause)
        if out.trunk is not None:
            if bridge is not None:
                self._leave_bridge(bridge, out.trunk)
            self.drop_channel(out.trunk, cause)
        out.trunk = out.trunk_peer = None

    def _end_outbound(self, out: Outbound, cause: int) -> None:
        """The rest of the call goes: the bridge, the agent's halves; the phone is free."""
        if self.state.outbound.pop(out.attempt_id, None) is None:
            return
        for key in ("outring", "outdial", "outanswer", "outtalk"):
            self.cancel((key, str(out.attempt_id)))
        bridge = out.bridge
        if bridge is not None and out.agent.name in self.state.channels:
            self._leave_bridge(bridge, out.agent)
        if bridge is not None:
            self.emit(ev.bridge_destroy(bridge))
            out.bridge = None
        if out.agent_peer is not None:
            self.drop_channel(out.agent_peer, cause)
        self.drop_channel(out.agent, cause)
        if out.recording is not None:
            self.effects.append(StopRecording(out.ref, out.recording))
        if out.answered:
            self.effects.append(PhoneReleased(out.interface, out.ref))
        device = self.device(out.interface)
        if device.call_ref == out.ref:
            device.call_ref = None
            device.status = DEVICE_NOT_INUSE
            self.emit_member_status(out.interface)
        logger.info("click to dial %s: over", out.ref)
        self.dispatch()

    def outbound_of_interface(self, interface: str) -> Outbound | None:
        wanted = self.state.devices.get(interface)
        ref = wanted.call_ref if wanted is not None else None
        return next((o for o in self.state.outbound.values() if o.ref == ref), None)

    def outbound_of_channel(self, name: str) -> tuple[Outbound, bool] | None:
        """The click to dial with a channel ``name``, and whether it is the trunk's."""
        for out in self.state.outbound.values():
            if name in (out.agent.name, getattr(out.agent_peer, "name", None)):
                return out, False
            if name in (getattr(out.trunk, "name", None), getattr(out.trunk_peer, "name", None)):
                return out, True
        return None

    @staticmethod
    def _originate_target(action: Action) -> list[tuple[str, str]]:
        if action.get("Application"):
            return [("Application", action.get("Application")), ("Data", action.get("Data"))]
        return [("Context", action.get("Context")), ("Exten", action.get("Exten"))]


def _queue_add(step: _Step, session: int, action: Action) -> None:
    queue, interface = action.get("Queue"), action.get("Interface")
    if not queue or not interface:
        step.respond(session, error(action.action_id, "'Queue' and 'Interface' not set."))
        return
    paused = action.get("Paused").lower() in ("true", "yes", "1", "on")
    problem, member = step.add_member(queue, interface, action.get("MemberName"),
                                      _int(action.get("Penalty") or "0"), paused,
                                      action.get("Reason"), action.get("StateInterface"))
    if problem is not None or member is None:
        step.respond(session, error(action.action_id, problem or "Out of memory"))
        return
    step.respond(session, success(action.action_id, "Added interface to queue"))
    step.member_added(member)


def _queue_remove(step: _Step, session: int, action: Action) -> None:
    queue, interface = action.get("Queue"), action.get("Interface")
    if not queue or not interface:
        step.respond(session, error(action.action_id, "Need 'Queue' and 'Interface' parameters."))
        return
    runtime = step.state.queues.get(queue)
    if runtime is None:
        step.respond(session, error(action.action_id,
                                    "Unable to remove interface from queue: No such queue"))
        return
    member = runtime.member(interface)
    if member is None:
        step.respond(session, error(action.action_id, "Unable to remove interface: Not there"))
        return
    if not member.dynamic:
        step.respond(session, error(action.action_id, "Member not dynamic"))
        return
    index = runtime.members.index(member)
    del runtime.members[index]
    qe.removed(runtime, index)
    step.respond(session, success(action.action_id, "Removed interface from queue"))
    step.emit(ev.queue_member_event("QueueMemberRemoved", member,
                                    step.device(interface).status))
    logger.info("member %s removed from %s", interface, queue)


def _queue_pause(step: _Step, session: int, action: Action) -> None:
    interface, paused_text = action.get("Interface"), action.get("Paused")
    if not interface or not paused_text:
        step.respond(session, error(action.action_id, "Need 'Interface' and 'Paused' parameters."))
        return
    paused = paused_text.lower() in ("true", "yes", "1", "on")
    queue = action.get("Queue")
    reason = action.get("Reason") if paused else ""
    members = [m for m in step.members_of(interface) if not queue or m.queue == queue]
    if not members:
        step.respond(session, error(action.action_id, "Interface not found"))
        return
    step.respond(session, success(action.action_id, "Interface paused successfully" if paused
                                  else "Interface unpaused successfully"))
    for member in members:
        member.paused = paused
        member.paused_reason = reason
        if paused:
            member.last_pause = int(step.now)
        step.emit(ev.queue_member_event("QueueMemberPause", member,
                                        step.device(interface).status))
    logger.info("member %s %s in %s (%s)", interface, "paused" if paused else "unpaused",
                queue or "all queues", reason)
    if not paused:
        step.dispatch()


def _queue_status(step: _Step, session: int, action: Action) -> None:
    action_id = action.action_id
    wanted, member_filter = action.get("Queue"), action.get("Member")
    items: list[Message] = []
    for name, runtime in step.state.queues.items():
        if wanted and name != wanted:
            continue
        config = step.state.queue_configs[name]
        perf, perf2 = qe.service_level(runtime)
        items.append(ev.queue_params(
            name, config.strategy, len(runtime.entries), runtime.holdtime, runtime.talktime,
            runtime.completed, runtime.abandoned, config.servicelevel, perf, perf2,
            config.weight, action_id))
        for member in runtime.members:
            if member_filter and member.interface != member_filter:
                continue
            items.append(ev.queue_member_item(member, step.device(member.interface).status,
                                              action_id))
        for position, entry in enumerate(runtime.entries, start=1):
            caller = step.state.calls[entry.ref].caller
            items.append(ev.queue_entry_item(name, position, caller,
                                             _seconds(step.now, entry.joined_at), entry.priority,
                                             action_id))
    step.respond(session, list_start(action_id, "Queue status will follow"), *items,
                 list_complete("QueueStatusComplete", action_id, len(items)))


def _queue_summary(step: _Step, session: int, action: Action) -> None:
    action_id = action.action_id
    wanted = action.get("Queue")
    items: list[Message] = []
    for name, runtime in step.state.queues.items():
        if wanted and name != wanted:
            continue
        config = step.state.queue_configs[name]
        logged_in, available, callers, longest = qe.summary(runtime, config,
                                                            step.state.devices, step.now)
        items.append(ev.queue_summary_item(name, logged_in, available, callers,
                                           runtime.holdtime, runtime.talktime, longest,
                                           action_id))
    step.respond(session, list_start(action_id, "Queue summary will follow"), *items,
                 list_complete("QueueSummaryComplete", action_id, len(items)))


def _core_show_channels(step: _Step, session: int, action: Action) -> None:
    action_id = action.action_id
    items = [ev.core_show_channel(channel, _seconds(step.now, channel.created_at), action_id)
             for channel in step.state.channels.values()]
    step.respond(session, list_start(action_id, "Channels will follow"), *items,
                 list_complete("CoreShowChannelsComplete", action_id, len(items)))


def _status(step: _Step, session: int, action: Action) -> None:
    """``Status``: every channel, or the one named by ``Channel:`` (``No such channel``).
    Its end is ``StatusComplete`` with ``ListItems`` and ``Items`` (both, as captured)."""
    action_id, name = action.action_id, action.get("Channel")
    if name:
        found = step.find_channel(name)
        if found is None:
            step.respond(session, error(action_id, "No such channel"))
            return
        channels = [found]
    else:
        channels = list(step.state.channels.values())
    items = [ev.channel_status(channel, _seconds(step.now, channel.created_at), action_id)
             for channel in channels]
    complete = list_complete("StatusComplete", action_id, len(items))
    complete = Message((*complete.headers, ("Items", str(len(items)))))
    step.respond(session, list_start(action_id, "Channel status will follow"), *items,
                 complete)


def _getvar(step: _Step, session: int, action: Action) -> None:
    variable, name = action.get("Variable"), action.get("Channel")
    if not variable:
        step.respond(session, error(action.action_id, "No variable specified"))
        return
    channel = step.find_channel(name) if name else None
    if name and channel is None:
        step.respond(session, error(action.action_id, "No such channel"))
        return
    value = step.read_variable(channel, variable)
    step.respond(session, success(action.action_id, None,
                                  [("Variable", variable), ("Value", value)]))


def _setvar(step: _Step, session: int, action: Action) -> None:
    variable, name = action.get("Variable"), action.get("Channel")
    if not variable:
        step.respond(session, error(action.action_id, "No variable specified"))
        return
    channel = step.find_channel(name) if name else None
    if name and channel is None:
        step.respond(session, error(action.action_id, "No such channel"))
        return
    step.respond(session, success(action.action_id, "Variable Set"))
    if channel is None:
        step.state.globals[variable] = action.get("Value")
    else:
        step.set_variable(channel, variable, action.get("Value"))


def _hangup(step: _Step, session: int, action: Action) -> None:
    name = action.get("Channel")
    if not name:
        step.respond(session, error(action.action_id, "No channel specified"))
        return
    if step.find_channel(name) is None:
        step.respond(session, error(action.action_id, "No such channel"))
        return
    step.respond(session, success(action.action_id, "Channel Hungup"))
    step.hangup_channel(name, _int(action.get("Cause") or "16") or 16)


def _redirect(step: _Step, session: int, action: Action) -> None:
    name = action.get("Channel")
    if not name:
        step.respond(session, error(action.action_id, "Channel not specified"))
        return
    if step.find_channel(name) is None:
        step.respond(session, error(action.action_id, f"Channel does not exist: {name}"))
        return
    step.respond(session, success(action.action_id, "Redirect successful"))
    call = step.call_of_channel(name)
    if call is not None:
        step.redirect(call, action.get("Context"), action.get("Exten"))
        return
    interface = step.interface_of_agent_channel(name)
    if interface is not None:
        # The agent leg leaves for another extension: for the queue call it hung up.
        step.agent_hangup(interface)


def _mixmonitor(step: _Step, session: int, action: Action) -> None:
    name = action.get("Channel")
    channel = step.find_channel(name) if name else None
    if channel is None:
        step.respond(session, error(action.action_id, "No such channel"))
        return
    step.respond(session, success(action.action_id))  # no Message: as Asterisk answers it
    if action.name.lower() == "mixmonitor":
        step.emit(ev.mixmonitor_start(channel))
    else:
        step.emit(ev.mixmonitor_stop(channel))


def _originate(step: _Step, session: int, action: Action) -> None:
    step.originate(session, action)


_SPY_DIGITS: Mapping[str, str] = MappingProxyType({"4": "listen", "5": "whisper", "6": "barge"})


def _play_dtmf(step: _Step, session: int, action: Action) -> None:
    """app_senddtmf.c ``manager_play_dtmf``: ``Receive: true`` queues the digit as if received
    on the channel (what ChanSpy reads), else it is sent out."""
    name = action.get("Channel")
    if not name or step.find_channel(name) is None:
        step.respond(session, error(action.action_id, "Channel not found"))
        return
    digit = action.get("Digit")
    if not digit:
        step.respond(session, error(action.action_id, "No digit specified"))
        return
    step.respond(session, success(action.action_id, "DTMF successfully queued"))
    if action.get("Receive").lower() in ("yes", "true", "y", "t", "1", "on"):
        step.spy_digit(name, digit[0])


ACTIONS: Mapping[str, Callable[[_Step, int, Action], None]] = MappingProxyType({
    "queueadd": _queue_add,
    "queueremove": _queue_remove,
    "queuepause": _queue_pause,
    "queuestatus": _queue_status,
    "queuesummary": _queue_summary,
    "coreshowchannels": _core_show_channels,
    "status": _status,
    "getvar": _getvar,
    "setvar": _setvar,
    "hangup": _hangup,
    "redirect": _redirect,
    "originate": _originate,
    "mixmonitor": _mixmonitor,
    "stopmixmonitor": _mixmonitor,
    "playdtmf": _play_dtmf,
})


# --------------------------------------------------------------------------- the machine


def _on_add_member(step: _Step, inp: AddMember) -> None:
    problem, member = step.add_member(inp.queue, inp.interface, inp.name, inp.penalty,
                                      inp.paused, inp.reason)
    if member is not None:
        step.member_added(member)
    else:
        logger.warning("member %s not added to %s: %s", inp.interface, inp.queue, problem)


_INPUTS: Mapping[type, Callable[[_Step, Any], None]] = MappingProxyType({
    CallArrives: _Step.call_arrives,
    VariableSet: _Step.variable_set,
    DigitPressed: _Step.digit_pressed,
    IvrDone: _Step.ivr_done,
    CallerHangup: lambda step, inp: step.caller_hangup(inp.ref),
    AgentAnswer: lambda step, inp: step.agent_answer(inp.attempt_id),
    AgentDecline: lambda step, inp: step.ring_no_answer(inp.attempt_id, "BUSY"),
    AgentHangup: lambda step, inp: step.agent_hangup(inp.interface),
    ActionReceived: lambda step, inp: step.action(inp.session, inp.action),
    TimerFired: lambda step, inp: step.timer_fired(inp.key),
    AddMember: _on_add_member,
    Shutdown: lambda step, inp: step.shutdown(inp.restart),
})


def step(state: PbxState, inp: Input, now: float) -> tuple[PbxState, list[Effect]]:
    """Apply one input at time ``now``; returns the state and the effects, in order.

    Inputs about things that no longer exist (a timer of a call that ended, an answer to a
    ring that timed out) are ignored: adapters and timers race with the machine by nature.
    """
    transition = _Step(state, now)
    _INPUTS[type(inp)](transition, inp)
    return state, transition.effects


_LOCAL_INTERFACE = re.compile(r"Local/([^@/]+)@([^/;]+)(?:/.*)?")


def _seconds(now: float, then: float) -> int:
    """Whole seconds between two instants as app_queue counts them: both are ``time_t``
    (``time(NULL) - qe->start``), so 15.9 → 27.1 is 12 s, not 11."""
    return int(now) - int(then)


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0


def _bridge_id(counter: int, seed: str) -> str:
    """A stable UUID-shaped bridge id (Asterisk uses a random UUID; a CTI only compares them)."""
    digits = "".join(c for c in seed if c.isdigit())[-12:].rjust(12, "0")
    return f"{counter:08x}-0000-4000-8000-{digits}"


def _parse_caller_id(text: str) -> tuple[str, str]:
    """``"Supervisor" <9000>`` → (``9000``, ``Supervisor``)."""
    match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    if match:
        name, num = match.groups()
        return num or UNKNOWN_ID, name or UNKNOWN_ID
    text = text.strip()
    return (text, UNKNOWN_ID) if text else (UNKNOWN_ID, UNKNOWN_ID)
