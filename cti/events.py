"""Typed CTI events decoded from AMI messages.

This is where Asterisk's spellings stop: ``Uniqueid``, ``Linkedid``, ``ActionID``,
``DestChannel`` become ``unique_id``, ``linked_id``, ``action_id``, ``dest_channel``; values
such as ``<unknown>`` caller IDs become ``None``, ``Paused: 1`` becomes ``True``. Nothing
after this module reads an ``AmiMessage`` header.

Example — these wire lines (scenario 01)::

    Event: AgentCalled
    Channel: Local/4008000000@from-trunk-00000000;2
    Uniqueid: 1795330137.1
    Linkedid: 1795330137.0
    DestChannel: Local/8001@agents-00000001;1
    DestUniqueid: 1795330149.2
    Queue: aftersales
    Interface: Local/8001@agents/n
    MemberName: Agent 8001

decode to ``AgentCalled(queue="aftersales", interface="Local/8001@agents/n", …,
linked_id="1795330137.0", dest_unique_id="1795330149.2")``.

Speed: ``decode_event`` is one dict lookup from the event name to its decoder; a decoder reads
only the headers it needs. Events without a decoder become ``UnknownEvent`` without their
headers ever being parsed, and ``VarSet`` is decoded only for ``MIXMONITOR_FILENAME``.
Callers that want no object at all for events they do not route use ``decoder_for(name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from cti.ami_protocol import AmiMessage, MessageKind
from cti.errors import AmiProtocolError

__all__ = [
    "DECODERS",
    "EVENT_TYPES",
    "IVR_RESULT_EVENT",
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentDump",
    "AgentRingNoAnswer",
    "AmiEvent",
    "AttendedTransfer",
    "BlindTransfer",
    "BridgeEnter",
    "BridgeLeave",
    "ChanSpyStart",
    "ChanSpyStop",
    "CoreShowChannel",
    "Decoder",
    "DialBegin",
    "DialEnd",
    "FullyBooted",
    "Hangup",
    "IvrResult",
    "MixMonitorFilename",
    "MixMonitorStart",
    "MixMonitorStop",
    "Newchannel",
    "Newstate",
    "OriginateResponse",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueEntry",
    "QueueMember",
    "QueueMemberAdded",
    "QueueMemberEvent",
    "QueueMemberPause",
    "QueueMemberRemoved",
    "QueueMemberStatus",
    "QueueParams",
    "QueueSummary",
    "Shutdown",
    "UnknownEvent",
    "UserEvent",
    "decode_event",
    "decode_with",
    "decoder_for",
]

IVR_RESULT_EVENT: Final = "CcIvrResult"
"""``UserEvent:`` name the hotline dialplan publishes after the IVR (see extensions.conf)."""


def _cid(value: str | None) -> str | None:
    # Asterisk writes "<unknown>" (and sometimes "") for an absent caller ID.
    if not value or value == "<unknown>":
        return None
    return value


def _opt(value: str | None) -> str | None:
    return value or None


def _int(value: str | None, default: int = 0) -> int:
    return int(value) if value else default


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "yes", "true", "on")


def _opt_flag(value: str | None) -> bool | None:
    if not value:
        return None
    return _flag(value)


def _hms(value: str | None) -> int:
    """``Duration: 00:01:05`` (CoreShowChannel) -> 65; a plain number is taken as seconds."""
    if not value:
        return 0
    seconds = 0
    for part in value.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


# -- events


@dataclass(frozen=True, slots=True)
class AmiEvent:
    """Base of every decoded event."""


@dataclass(frozen=True, slots=True)
class UnknownEvent(AmiEvent):
    """An event this module does not decode (DTMFBegin, DeviceStateChange, Newexten…)."""

    name: str
    message: AmiMessage


@dataclass(frozen=True, slots=True)
class FullyBooted(AmiEvent):
    """``Event: FullyBooted`` — Asterisk is up (also synthesised right after Login)."""

    status: str
    uptime: int | None


@dataclass(frozen=True, slots=True)
class Shutdown(AmiEvent):
    """``Event: Shutdown / Shutdown: Cleanly / Restart: True`` — the socket closes next."""

    shutdown: str
    restart: bool


@dataclass(frozen=True, slots=True)
class Newchannel(AmiEvent):
    """A channel was created; the first channel of a call has ``unique_id == linked_id``."""

    channel: str
    unique_id: str
    linked_id: str
    caller_id_num: str | None
    caller_id_name: str | None
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class Newstate(AmiEvent):
    """Channel state change (``ChannelState: 6`` / ``ChannelStateDesc: Up``)."""

    channel: str
    unique_id: str
    linked_id: str
    state: int
    state_desc: str


@dataclass(frozen=True, slots=True)
class Hangup(AmiEvent):
    """A channel is gone. ``cause`` is the Q.850 cause (16 normal, 0 on ``core restart``)."""

    channel: str
    unique_id: str
    linked_id: str
    cause: int
    cause_txt: str
    caller_id_num: str | None = None


@dataclass(frozen=True, slots=True)
class DialBegin(AmiEvent):
    """A dial attempt starts. ``channel`` is None for an originate (no calling channel)."""

    channel: str | None
    unique_id: str | None
    linked_id: str
    dest_channel: str
    dest_unique_id: str
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialEnd(AmiEvent):
    """A dial attempt ends: ``dial_status`` ANSWER, NOANSWER, BUSY, CANCEL…"""

    channel: str | None
    unique_id: str | None
    linked_id: str
    dest_channel: str
    dest_unique_id: str
    dial_status: str


@dataclass(frozen=True, slots=True)
class BridgeEnter(AmiEvent):
    """A channel entered a bridge (``num_channels`` counts it)."""

    bridge_id: str
    bridge_type: str
    num_channels: int
    channel: str
    unique_id: str
    linked_id: str


@dataclass(frozen=True, slots=True)
class BridgeLeave(AmiEvent):
    """A channel left a bridge (``num_channels`` no longer counts it)."""

    bridge_id: str
    bridge_type: str
    num_channels: int
    channel: str
    unique_id: str
    linked_id: str


@dataclass(frozen=True, slots=True)
class UserEvent(AmiEvent):
    """A dialplan ``UserEvent(name,…)`` other than the IVR result; headers kept raw."""

    user_event: str
    channel: str | None
    unique_id: str | None
    linked_id: str | None
    message: AmiMessage


@dataclass(frozen=True, slots=True)
class IvrResult(AmiEvent):
    """``UserEvent: CcIvrResult`` — what the IVR learnt, published before ``Queue()``.

    Wire headers: ``CcQueue``, ``CcMerchantId``, ``CcMerchantVerified``, ``CcIntent``,
    ``CcIvrPath``, ``CcPriority``, ``CcLang`` (empty or absent -> None).
    """

    channel: str
    unique_id: str
    linked_id: str
    caller_id_num: str | None
    caller_id_name: str | None
    queue: str | None
    merchant_id: str | None
    merchant_verified: bool | None
    intent: str | None
    ivr_path: str | None
    priority: int | None
    lang: str | None


@dataclass(frozen=True, slots=True)
class QueueCallerJoin(AmiEvent):
    """The caller channel entered ``queue`` at ``position`` (``count`` callers now)."""

    queue: str
    channel: str
    unique_id: str
    linked_id: str
    caller_id_num: str | None
    caller_id_name: str | None
    position: int
    count: int


@dataclass(frozen=True, slots=True)
class QueueCallerLeave(AmiEvent):
    """The caller left ``queue`` (answered, abandoned, timed out or redirected)."""

    queue: str
    channel: str
    unique_id: str
    linked_id: str
    position: int
    count: int


@dataclass(frozen=True, slots=True)
class QueueCallerAbandon(AmiEvent):
    """The caller hung up while waiting; ``hold_time`` in seconds. Comes before the Leave."""

    queue: str
    channel: str
    unique_id: str
    linked_id: str
    position: int
    original_position: int
    hold_time: int


@dataclass(frozen=True, slots=True)
class AgentCalled(AmiEvent):
    """``queue`` rings member ``interface``; ``dest_*`` is the new agent leg."""

    queue: str
    interface: str
    member_name: str
    channel: str
    unique_id: str
    linked_id: str
    caller_id_num: str | None
    dest_channel: str
    dest_unique_id: str


@dataclass(frozen=True, slots=True)
class AgentConnect(AmiEvent):
    """The member answered. ``ring_time`` is in SECONDS here (AgentRingNoAnswer: ms)."""

    queue: str
    interface: str
    member_name: str
    channel: str
    unique_id: str
    linked_id: str
    dest_channel: str
    dest_unique_id: str
    hold_time: int
    ring_time: int


@dataclass(frozen=True, slots=True)
class AgentComplete(AmiEvent):
    """A queue call ended for the member.

    After a Redirect out of the queue this comes only at the final hang-up, WITHOUT the
    ``Dest*`` headers (``dest_channel``/``dest_unique_id`` None) and with a ``talk_time`` that
    covers the rest of the call: do not use it for talk time.
    """

    queue: str
    interface: str
    member_name: str
    channel: str
    unique_id: str
    linked_id: str
    dest_channel: str | None
    dest_unique_id: str | None
    hold_time: int
    talk_time: int
    reason: str


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer(AmiEvent):
    """The member did not answer within the queue timeout; ``ring_time_ms`` in MILLISECONDS."""

    queue: str
    interface: str
    member_name: str
    channel: str
    unique_id: str
    linked_id: str
    dest_channel: str
    dest_unique_id: str
    ring_time_ms: int


@dataclass(frozen=True, slots=True)
class AgentDump(AmiEvent):
    """The member hung up on the caller before the bridge (e.g. during an announcement)."""

    queue: str
    interface: str
    member_name: str
    channel: str
    unique_id: str
    linked_id: str
    dest_channel: str | None
    dest_unique_id: str | None


@dataclass(frozen=True, slots=True)
class QueueMemberEvent(AmiEvent):
    """Fields shared by the QueueMember{Added,Removed,Pause,Status} events.

    ``status`` is the device state: 1 not in use, 2 in use (also a *ringing* Local member),
    5 unavailable, 6 ringing… ``paused_reason`` is empty after an unpause.
    """

    queue: str
    interface: str
    member_name: str
    membership: str
    paused: bool
    paused_reason: str
    in_call: bool
    status: int
    calls_taken: int


@dataclass(frozen=True, slots=True)
class QueueMemberAdded(QueueMemberEvent):
    """``QueueAdd`` (or a static member at load)."""


@dataclass(frozen=True, slots=True)
class QueueMemberRemoved(QueueMemberEvent):
    """``QueueRemove``."""


@dataclass(frozen=True, slots=True)
class QueueMemberPause(QueueMemberEvent):
    """``QueuePause``; without ``Queue:`` in the action one event per queue arrives."""


@dataclass(frozen=True, slots=True)
class QueueMemberStatus(QueueMemberEvent):
    """Device state or counters of a member changed."""


@dataclass(frozen=True, slots=True)
class QueueMember(AmiEvent):
    """A ``QueueStatus`` list item. On the wire the interface is ``Location:`` and the member
    name ``Name:`` (not ``Interface:``/``MemberName:`` as in the live events)."""

    queue: str
    interface: str
    member_name: str
    membership: str
    paused: bool
    paused_reason: str
    in_call: bool
    status: int
    calls_taken: int
    last_call: int
    login_time: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class QueueParams(AmiEvent):
    """A ``QueueStatus`` list item with the queue's counters."""

    queue: str
    strategy: str
    calls: int
    hold_time: int
    talk_time: int
    completed: int
    abandoned: int
    service_level: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class QueueEntry(AmiEvent):
    """A ``QueueStatus`` list item for a waiting caller (no ``Linkedid:`` on the wire)."""

    queue: str
    position: int
    channel: str
    unique_id: str
    caller_id_num: str | None
    caller_id_name: str | None
    wait: int
    priority: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class QueueSummary(AmiEvent):
    """A ``QueueSummary`` list item."""

    queue: str
    logged_in: int
    available: int
    callers: int
    hold_time: int
    talk_time: int
    longest_hold_time: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class CoreShowChannel(AmiEvent):
    """A ``CoreShowChannels`` list item: one live channel."""

    channel: str
    unique_id: str
    linked_id: str
    caller_id_num: str | None
    caller_id_name: str | None
    context: str
    exten: str
    channel_state: int
    bridge_id: str | None
    application: str | None
    application_data: str | None
    duration_s: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class MixMonitorStart(AmiEvent):
    """Recording of ``channel`` started (no file name in the event)."""

    channel: str
    unique_id: str
    linked_id: str


@dataclass(frozen=True, slots=True)
class MixMonitorStop(AmiEvent):
    """Recording stopped by ``StopMixMonitor`` — never sent when the call just hangs up."""

    channel: str
    unique_id: str
    linked_id: str


@dataclass(frozen=True, slots=True)
class MixMonitorFilename(AmiEvent):
    """``VarSet Variable: MIXMONITOR_FILENAME`` (only with the ``dialplan`` read class)."""

    channel: str
    unique_id: str
    linked_id: str
    path: str


@dataclass(frozen=True, slots=True)
class OriginateResponse(AmiEvent):
    """Result of an ``Async: true`` Originate; carries the Originate's ActionID."""

    action_id: str | None
    response: str
    channel: str
    unique_id: str | None
    reason: int
    application: str | None
    data: str | None
    context: str | None
    exten: str | None


@dataclass(frozen=True, slots=True)
class BlindTransfer(AmiEvent):
    """A bridge participant blind-transferred the other party to ``context``/``extension``."""

    result: str
    transferer_channel: str
    transferer_unique_id: str
    transferer_linked_id: str
    transferee_channel: str | None
    transferee_unique_id: str | None
    transferee_linked_id: str | None
    context: str
    extension: str
    is_external: bool


@dataclass(frozen=True, slots=True)
class AttendedTransfer(AmiEvent):
    """An attended transfer completed (``dest_type`` Bridge, App, Link, Threeway or Fail)."""

    result: str
    orig_transferer_channel: str
    orig_transferer_linked_id: str
    second_transferer_channel: str | None
    second_transferer_linked_id: str | None
    transferee_channel: str | None
    transferee_unique_id: str | None
    transferee_linked_id: str | None
    dest_type: str
    dest_app: str | None


@dataclass(frozen=True, slots=True)
class ChanSpyStart(AmiEvent):
    """A supervisor (spyer) started listening to ``spyee``; the mode is not in the event."""

    spyer_channel: str
    spyer_unique_id: str
    spyer_linked_id: str
    spyee_channel: str
    spyee_unique_id: str
    spyee_linked_id: str


@dataclass(frozen=True, slots=True)
class ChanSpyStop(AmiEvent):
    """The spy session ended."""

    spyer_channel: str
    spyer_unique_id: str
    spyer_linked_id: str
    spyee_channel: str | None
    spyee_unique_id: str | None
    spyee_linked_id: str | None


# -- decoders
# Each reads the headers it needs from the parsed mapping. A missing required header raises
# KeyError, turned into AmiProtocolError by decode_event().


def _fully_booted(m: AmiMessage) -> FullyBooted:
    f = m.fields
    uptime = f.get("Uptime")
    return FullyBooted(status=f.get("Status", ""), uptime=int(uptime) if uptime else None)


def _shutdown(m: AmiMessage) -> Shutdown:
    f = m.fields
    return Shutdown(shutdown=f.get("Shutdown", ""), restart=_flag(f.get("Restart")))


def _newchannel(m: AmiMessage) -> Newchannel:
    f = m.fields
    return Newchannel(
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        caller_id_num=_cid(f.get("CallerIDNum")),
        caller_id_name=_cid(f.get("CallerIDName")),
        context=f.get("Context", ""),
        exten=f.get("Exten", ""),
    )


def _newstate(m: AmiMessage) -> Newstate:
    f = m.fields
    return Newstate(
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        state=_int(f.get("ChannelState")),
        state_desc=f.get("ChannelStateDesc", ""),
    )


def _hangup(m: AmiMessage) -> Hangup:
    f = m.fields
    return Hangup(
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        cause=_int(f.get("Cause")),
        cause_txt=f.get("Cause-txt", ""),
        caller_id_num=_cid(f.get("CallerIDNum")),
    )


def _dial_begin(m: AmiMessage) -> DialBegin:
    f = m.fields
    return DialBegin(
        channel=f.get("Channel"),
        unique_id=f.get("Uniqueid"),
        linked_id=f.get("Linkedid") or f["DestLinkedid"],
        dest_channel=f["DestChannel"],
        dest_unique_id=f["DestUniqueid"],
        dial_string=f.get("DialString", ""),
    )


def _dial_end(m: AmiMessage) -> DialEnd:
    f = m.fields
    return DialEnd(
        channel=f.get("Channel"),
        unique_id=f.get("Uniqueid"),
        linked_id=f.get("Linkedid") or f["DestLinkedid"],
        dest_channel=f["DestChannel"],
        dest_unique_id=f["DestUniqueid"],
        dial_status=f.get("DialStatus", ""),
    )


def _bridge_enter(m: AmiMessage) -> BridgeEnter:
    f = m.fields
    return BridgeEnter(
        bridge_id=f["BridgeUniqueid"],
        bridge_type=f.get("BridgeType", ""),
        num_channels=_int(f.get("BridgeNumChannels")),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
    )


def _bridge_leave(m: AmiMessage) -> BridgeLeave:
    f = m.fields
    return BridgeLeave(
        bridge_id=f["BridgeUniqueid"],
        bridge_type=f.get("BridgeType", ""),
        num_channels=_int(f.get("BridgeNumChannels")),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
    )


def _user_event(m: AmiMessage) -> UserEvent | IvrResult:
    f = m.fields
    name = f.get("UserEvent", "")
    if name == IVR_RESULT_EVENT:
        priority = f.get("CcPriority")
        return IvrResult(
            channel=f["Channel"],
            unique_id=f["Uniqueid"],
            linked_id=f["Linkedid"],
            caller_id_num=_cid(f.get("CallerIDNum")),
            caller_id_name=_cid(f.get("CallerIDName")),
            queue=_opt(f.get("CcQueue")),
            merchant_id=_opt(f.get("CcMerchantId")),
            merchant_verified=_opt_flag(f.get("CcMerchantVerified")),
            intent=_opt(f.get("CcIntent")),
            ivr_path=_opt(f.get("CcIvrPath")),
            priority=int(priority) if priority else None,
            lang=_opt(f.get("CcLang")),
        )
    return UserEvent(
        user_event=name,
        channel=f.get("Channel"),
        unique_id=f.get("Uniqueid"),
        linked_id=f.get("Linkedid"),
        message=m,
    )


def _queue_caller_join(m: AmiMessage) -> QueueCallerJoin:
    f = m.fields
    return QueueCallerJoin(
        queue=f["Queue"],
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        caller_id_num=_cid(f.get("CallerIDNum")),
        caller_id_name=_cid(f.get("CallerIDName")),
        position=_int(f.get("Position")),
        count=_int(f.get("Count")),
    )


def _queue_caller_leave(m: AmiMessage) -> QueueCallerLeave:
    f = m.fields
    return QueueCallerLeave(
        queue=f["Queue"],
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        position=_int(f.get("Position")),
        count=_int(f.get("Count")),
    )


def _queue_caller_abandon(m: AmiMessage) -> QueueCallerAbandon:
    f = m.fields
    return QueueCallerAbandon(
        queue=f["Queue"],
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        position=_int(f.get("Position")),
        original_position=_int(f.get("OriginalPosition")),
        hold_time=_int(f.get("HoldTime")),
    )


def _agent_called(m: AmiMessage) -> AgentCalled:
    f = m.fields
    return AgentCalled(
        queue=f["Queue"],
        interface=f["Interface"],
        member_name=f.get("MemberName", ""),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        caller_id_num=_cid(f.get("CallerIDNum")),
        dest_channel=f["DestChannel"],
        dest_unique_id=f["DestUniqueid"],
    )


def _agent_connect(m: AmiMessage) -> AgentConnect:
    f = m.fields
    return AgentConnect(
        queue=f["Queue"],
        interface=f["Interface"],
        member_name=f.get("MemberName", ""),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        dest_channel=f["DestChannel"],
        dest_unique_id=f["DestUniqueid"],
        hold_time=_int(f.get("HoldTime")),
        ring_time=_int(f.get("RingTime")),
    )


def _agent_complete(m: AmiMessage) -> AgentComplete:
    f = m.fields
    return AgentComplete(
        queue=f["Queue"],
        interface=f["Interface"],
        member_name=f.get("MemberName", ""),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        dest_channel=_opt(f.get("DestChannel")),
        dest_unique_id=_opt(f.get("DestUniqueid")),
        hold_time=_int(f.get("HoldTime")),
        talk_time=_int(f.get("TalkTime")),
        reason=f.get("Reason", ""),
    )


def _agent_ring_no_answer(m: AmiMessage) -> AgentRingNoAnswer:
    f = m.fields
    return AgentRingNoAnswer(
        queue=f["Queue"],
        interface=f["Interface"],
        member_name=f.get("MemberName", ""),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        dest_channel=f["DestChannel"],
        dest_unique_id=f["DestUniqueid"],
        ring_time_ms=_int(f.get("RingTime")),
    )


def _agent_dump(m: AmiMessage) -> AgentDump:
    f = m.fields
    return AgentDump(
        queue=f["Queue"],
        interface=f["Interface"],
        member_name=f.get("MemberName", ""),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        dest_channel=_opt(f.get("DestChannel")),
        dest_unique_id=_opt(f.get("DestUniqueid")),
    )


def _member_decoder(cls: type[QueueMemberEvent]) -> Callable[[AmiMessage], AmiEvent]:
    def decode(m: AmiMessage) -> AmiEvent:
        f = m.fields
        return cls(
            queue=f["Queue"],
            interface=f["Interface"],
            member_name=f.get("MemberName", ""),
            membership=f.get("Membership", ""),
            paused=f.get("Paused") == "1",
            paused_reason=f.get("PausedReason", ""),
            in_call=f.get("InCall") == "1",
            status=_int(f.get("Status")),
            calls_taken=_int(f.get("CallsTaken")),
        )

    return decode


def _queue_member(m: AmiMessage) -> QueueMember:
    f = m.fields
    return QueueMember(
        queue=f["Queue"],
        interface=f["Location"],
        member_name=f.get("Name", ""),
        membership=f.get("Membership", ""),
        paused=f.get("Paused") == "1",
        paused_reason=f.get("PausedReason", ""),
        in_call=f.get("InCall") == "1",
        status=_int(f.get("Status")),
        calls_taken=_int(f.get("CallsTaken")),
        last_call=_int(f.get("LastCall")),
        login_time=_int(f.get("LoginTime")),
        action_id=f.get("ActionID"),
    )


def _queue_params(m: AmiMessage) -> QueueParams:
    f = m.fields
    return QueueParams(
        queue=f["Queue"],
        strategy=f.get("Strategy", ""),
        calls=_int(f.get("Calls")),
        hold_time=_int(f.get("Holdtime")),
        talk_time=_int(f.get("TalkTime")),
        completed=_int(f.get("Completed")),
        abandoned=_int(f.get("Abandoned")),
        service_level=_int(f.get("ServiceLevel")),
        action_id=f.get("ActionID"),
    )


def _queue_entry(m: AmiMessage) -> QueueEntry:
    f = m.fields
    return QueueEntry(
        queue=f["Queue"],
        position=_int(f.get("Position")),
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        caller_id_num=_cid(f.get("CallerIDNum")),
        caller_id_name=_cid(f.get("CallerIDName")),
        wait=_int(f.get("Wait")),
        priority=_int(f.get("Priority")),
        action_id=f.get("ActionID"),
    )


def _queue_summary(m: AmiMessage) -> QueueSummary:
    f = m.fields
    return QueueSummary(
        queue=f["Queue"],
        logged_in=_int(f.get("LoggedIn")),
        available=_int(f.get("Available")),
        callers=_int(f.get("Callers")),
        hold_time=_int(f.get("HoldTime")),
        talk_time=_int(f.get("TalkTime")),
        longest_hold_time=_int(f.get("LongestHoldTime")),
        action_id=f.get("ActionID"),
    )


def _core_show_channel(m: AmiMessage) -> CoreShowChannel:
    f = m.fields
    return CoreShowChannel(
        channel=f["Channel"],
        unique_id=f["Uniqueid"],
        linked_id=f["Linkedid"],
        caller_id_num=_cid(f.get("CallerIDNum")),
        caller_id_name=_cid(f.get("CallerIDName")),
        context=f.get("Context", ""),
        exten=f.get("Exten", ""),
        channel_state=_int(f.get("ChannelState")),
        bridge_id=_opt(f.get("BridgeId")),
        application=_opt(f.get("Application")),
        application_data=_opt(f.get("ApplicationData")),
        duration_s=_hms(f.get("Duration")),
        action_id=f.get("ActionID"),
    )


def _mixmonitor_start(m: AmiMessage) -> MixMonitorStart:
    f = m.fields
    return MixMonitorStart(channel=f["Channel"], unique_id=f["Uniqueid"], linked_id=f["Linkedid"])


def _mixmonitor_stop(m: AmiMessage) -> MixMonitorStop:
    f = m.fields
    return MixMonitorStop(channel=f["Channel"], unique_id=f["Uniqueid"], linked_id=f["Linkedid"])


def _var_set(m: AmiMessage) -> AmiEvent:
    # VarSet is a third of a read=all stream: look for the one variable we want in the raw
    # text before paying for a parse.
    if "Variable: MIXMONITOR_FILENAME\r\n" not in m.text:
        return UnknownEvent("VarSet", m)
    f = m.fields
    if f.get("Variable") != "MIXMONITOR_FILENAME":
        return UnknownEvent("VarSet", m)
    return MixMonitorFilename(
        channel=f["Channel"], unique_id=f["Uniqueid"], linked_id=f["Linkedid"], path=f["Value"]
    )


def _originate_response(m: AmiMessage) -> OriginateResponse:
    f = m.fields
    return OriginateResponse(
        action_id=f.get("ActionID"),
        response=f.get("Response", ""),
        channel=f.get("Channel", ""),
        unique_id=_opt(f.get("Uniqueid")),
        reason=_int(f.get("Reason")),
        application=_opt(f.get("Application")),
        data=_opt(f.get("Data")),
        context=_opt(f.get("Context")),
        exten=_opt(f.get("Exten")),
    )


def _blind_transfer(m: AmiMessage) -> BlindTransfer:
    f = m.fields
    return BlindTransfer(
        result=f.get("Result", ""),
        transferer_channel=f["TransfererChannel"],
        transferer_unique_id=f["TransfererUniqueid"],
        transferer_linked_id=f["TransfererLinkedid"],
        transferee_channel=_opt(f.get("TransfereeChannel")),
        transferee_unique_id=_opt(f.get("TransfereeUniqueid")),
        transferee_linked_id=_opt(f.get("TransfereeLinkedid")),
        context=f.get("Context", ""),
        extension=f.get("Extension", ""),
        is_external=_flag(f.get("IsExternal")),
    )


def _attended_transfer(m: AmiMessage) -> AttendedTransfer:
    f = m.fields
    return AttendedTransfer(
        result=f.get("Result", ""),
        orig_transferer_channel=f["OrigTransfererChannel"],
        orig_transferer_linked_id=f["OrigTransfererLinkedid"],
        second_transferer_channel=_opt(f.get("SecondTransfererChannel")),
        second_transferer_linked_id=_opt(f.get("SecondTransfererLinkedid")),
        transferee_channel=_opt(f.get("TransfereeChannel")),
        transferee_unique_id=_opt(f.get("TransfereeUniqueid")),
        transferee_linked_id=_opt(f.get("TransfereeLinkedid")),
        dest_type=f.get("DestType", ""),
        dest_app=_opt(f.get("DestApp")),
    )


def _chanspy_start(m: AmiMessage) -> ChanSpyStart:
    f = m.fields
    return ChanSpyStart(
        spyer_channel=f["SpyerChannel"],
        spyer_unique_id=f["SpyerUniqueid"],
        spyer_linked_id=f["SpyerLinkedid"],
        spyee_channel=f["SpyeeChannel"],
        spyee_unique_id=f["SpyeeUniqueid"],
        spyee_linked_id=f["SpyeeLinkedid"],
    )


def _chanspy_stop(m: AmiMessage) -> ChanSpyStop:
    f = m.fields
    return ChanSpyStop(
        spyer_channel=f["SpyerChannel"],
        spyer_unique_id=f["SpyerUniqueid"],
        spyer_linked_id=f["SpyerLinkedid"],
        spyee_channel=_opt(f.get("SpyeeChannel")),
        spyee_unique_id=_opt(f.get("SpyeeUniqueid")),
        spyee_linked_id=_opt(f.get("SpyeeLinkedid")),
    )


Decoder = Callable[[AmiMessage], AmiEvent]

DECODERS: Final[Mapping[str, Decoder]] = {
    "FullyBooted": _fully_booted,
    "Shutdown": _shutdown,
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "Hangup": _hangup,
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "UserEvent": _user_event,
    "QueueCallerJoin": _queue_caller_join,
    "QueueCallerLeave": _queue_caller_leave,
    "QueueCallerAbandon": _queue_caller_abandon,
    "AgentCalled": _agent_called,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "AgentRingNoAnswer": _agent_ring_no_answer,
    "AgentDump": _agent_dump,
    "QueueMemberAdded": _member_decoder(QueueMemberAdded),
    "QueueMemberRemoved": _member_decoder(QueueMemberRemoved),
    "QueueMemberPause": _member_decoder(QueueMemberPause),
    "QueueMemberStatus": _member_decoder(QueueMemberStatus),
    "QueueMember": _queue_member,
    "QueueParams": _queue_params,
    "QueueEntry": _queue_entry,
    "QueueSummary": _queue_summary,
    "CoreShowChannel": _core_show_channel,
    "MixMonitorStart": _mixmonitor_start,
    "MixMonitorStop": _mixmonitor_stop,
    "VarSet": _var_set,
    "OriginateResponse": _originate_response,
    "BlindTransfer": _blind_transfer,
    "AttendedTransfer": _attended_transfer,
    "ChanSpyStart": _chanspy_start,
    "ChanSpyStop": _chanspy_stop,
}
"""AMI event name -> decoder. The one table of this module."""

EVENT_TYPES: Final[Mapping[str, tuple[type[AmiEvent], ...]]] = {
    "FullyBooted": (FullyBooted,),
    "Shutdown": (Shutdown,),
    "Newchannel": (Newchannel,),
    "Newstate": (Newstate,),
    "Hangup": (Hangup,),
    "DialBegin": (DialBegin,),
    "DialEnd": (DialEnd,),
    "BridgeEnter": (BridgeEnter,),
    "BridgeLeave": (BridgeLeave,),
    "UserEvent": (IvrResult, UserEvent),
    "QueueCallerJoin": (QueueCallerJoin,),
    "QueueCallerLeave": (QueueCallerLeave,),
    "QueueCallerAbandon": (QueueCallerAbandon,),
    "AgentCalled": (AgentCalled,),
    "AgentConnect": (AgentConnect,),
    "AgentComplete": (AgentComplete,),
    "AgentRingNoAnswer": (AgentRingNoAnswer,),
    "AgentDump": (AgentDump,),
    "QueueMemberAdded": (QueueMemberAdded,),
    "QueueMemberRemoved": (QueueMemberRemoved,),
    "QueueMemberPause": (QueueMemberPause,),
    "QueueMemberStatus": (QueueMemberStatus,),
    "QueueMember": (QueueMember,),
    "QueueParams": (QueueParams,),
    "QueueEntry": (QueueEntry,),
    "QueueSummary": (QueueSummary,),
    "CoreShowChannel": (CoreShowChannel,),
    "MixMonitorStart": (MixMonitorStart,),
    "MixMonitorStop": (MixMonitorStop,),
    "VarSet": (MixMonitorFilename,),
    "OriginateResponse": (OriginateResponse,),
    "BlindTransfer": (BlindTransfer,),
    "AttendedTransfer": (AttendedTransfer,),
    "ChanSpyStart": (ChanSpyStart,),
    "ChanSpyStop": (ChanSpyStop,),
}
"""AMI event name -> the typed events its decoder can return (besides ``UnknownEvent``).
Lets a router decide from the name alone whether a message is worth decoding."""


def decoder_for(name: str) -> Decoder | None:
    """The decoder of AMI event ``name``, or None if this module does not decode it."""
    return DECODERS.get(name)


def decode_event(message: AmiMessage) -> AmiEvent:
    """Decode one event message; unknown event names give ``UnknownEvent``.

    Raises ``AmiProtocolError`` for a message that is not an event, for a decoded event that
    lacks a required header or has a non-numeric number, or for a malformed header line.
    """
    if message.kind is not MessageKind.EVENT:
        raise AmiProtocolError(f"not an event: {message!r}")
    decoder = DECODERS.get(message.name)
    if decoder is None:
        return UnknownEvent(message.name, message)
    return _run(decoder, message)


def _run(decoder: Decoder, message: AmiMessage) -> AmiEvent:
    try:
        return decoder(message)
    except KeyError as exc:
        raise AmiProtocolError(f"{message.name} event without a {exc.args[0]!r} header") from exc
    except ValueError as exc:
        raise AmiProtocolError(f"{message.name} event with a bad value: {exc}") from exc


def decode_with(decoder: Decoder, message: AmiMessage) -> AmiEvent:
    """Run a decoder obtained from ``decoder_for`` with ``decode_event``'s error translation."""
    return _run(decoder, message)
