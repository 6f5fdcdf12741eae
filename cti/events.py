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

Each event field is declared once, on its class, with the header it is read from and how
(``field(metadata=_wire("Linkedid"))``: required; ``_wire("Cause", _INT)``: a number, 0 when
absent…); fields that several events carry in the same order live in a private base
(``_ChannelEvent``, ``_AgentEvent``…). A class marked ``@_decoded`` is decoded from the AMI
event of its own name. The decoders and both tables, ``DECODERS`` and ``EVENT_TYPES``, are
built from these declarations at import; only ``UserEvent`` and ``VarSet``, which pick their
result from a header, have a hand-written decoder (``_SELECTING``).

Speed: ``decode_event`` is one dict lookup from the event name to its decoder; a decoder reads
only the headers it needs. The decoder of a declared class is generated source, one straight
``Cls(f["Channel"], _int(f.get("Cause")), …)`` call with positional arguments. Measured on
every decodable event of the captures, headers already parsed: 1.1 µs an event, against
1.4 µs for the hand-written keyword-argument decoders it replaced and 1.9 µs for a loop over
(field, header, reading) tuples; ``bench/ami_ingest.py`` times the whole pipeline. Events
without a decoder become ``UnknownEvent`` without their headers ever being parsed, and
``VarSet`` is decoded only for ``MIXMONITOR_FILENAME``. Callers that want no object at all
for events they do not route use ``decoder_for(name)``.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, TypeVar

from cti.ami_protocol import AmiMessage, MessageKind
from cti.errors import AmiProtocolError

__all__ = [
    "CALLBACK_REQUEST_EVENT",
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
    "CallbackRequest",
    "ChanSpyStart",
    "ChanSpyStop",
    "ChannelStatus",
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

CALLBACK_REQUEST_EVENT: Final = "CcCallbackRequest"
"""``UserEvent:`` name ``[cc-queue-exit]`` publishes after key 1 in a queue (extensions.conf)."""


def _cid(value: str | None) -> str | None:
    # Asterisk writes "<unknown>" (and sometimes "") for an absent caller ID.
    if not value or value == "<unknown>":
        return None
    return value


def _int(value: str | None) -> int:
    return int(value) if value else 0


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value else None


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


# -- how a field is read from its header
# A reading is a Python expression template: {h} is the header name, f the message's fields,
# m the message. _REQUIRED raises KeyError (the header name) and the number readings raise
# ValueError; decode_event() turns both into AmiProtocolError.

_REQUIRED: Final = "f[{h}]"  # str; absent -> error
_TEXT: Final = "f.get({h}, '')"  # str; absent -> ""
_RAW: Final = "f.get({h})"  # str | None, as sent
_OPT: Final = "(f.get({h}) or None)"  # str | None; absent or empty -> None
_CID: Final = "_cid(f.get({h}))"  # caller ID; absent, empty or "<unknown>" -> None
_INT: Final = "_int(f.get({h}))"  # int; absent or empty -> 0
_INT_OR_NONE: Final = "_int_or_none(f.get({h}))"  # int | None; absent or empty -> None
_FLAG: Final = "_flag(f.get({h}))"  # bool: 1/yes/true/on
_OPT_FLAG: Final = "_opt_flag(f.get({h}))"  # bool | None; absent or empty -> None
_IS_ONE: Final = "(f.get({h}) == '1')"  # bool: exactly "1" (Paused, InCall)
_HMS: Final = "_hms(f.get({h}))"  # int seconds from HH:MM:SS
_LINKEDID_OR_DEST: Final = "(f.get({h}) or f['DestLinkedid'])"  # Dial* of an originate
_MESSAGE: Final = "m"  # the AmiMessage itself (headers kept raw)

_HELPERS: Final = {
    "_cid": _cid, "_int": _int, "_int_or_none": _int_or_none, "_flag": _flag,
    "_opt_flag": _opt_flag, "_hms": _hms,
}
"""The names a reading may call."""

_WIRE: Final = "ami"
"""Field metadata key of a field's reading: ``(header, template)``."""


def _wire(header: str, reading: str = _REQUIRED) -> Mapping[str, tuple[str, str]]:
    """Field metadata: the field is read from ``header`` with ``reading``."""
    return {_WIRE: (header, reading)}


# -- events


@dataclass(frozen=True, slots=True)
class AmiEvent:
    """Base of every decoded event."""


_E = TypeVar("_E", bound=AmiEvent)
_OWN_NAME: Final[list[type[AmiEvent]]] = []


def _decoded(cls: type[_E]) -> type[_E]:
    """Class decorator: ``cls`` is decoded from the AMI event named like the class."""
    _OWN_NAME.append(cls)
    return cls


@dataclass(frozen=True, slots=True)
class UnknownEvent(AmiEvent):
    """An event this module does not decode (DTMFBegin, DeviceStateChange, Newexten…)."""

    name: str
    message: AmiMessage


@dataclass(frozen=True, slots=True)
class _ChannelEvent(AmiEvent):
    """The fields of an event about one channel, in Asterisk's order (private base)."""

    channel: str = field(metadata=_wire("Channel"))
    unique_id: str = field(metadata=_wire("Uniqueid"))
    linked_id: str = field(metadata=_wire("Linkedid"))


@_decoded
@dataclass(frozen=True, slots=True)
class FullyBooted(AmiEvent):
    """``Event: FullyBooted`` — Asterisk is up (also synthesised right after Login)."""

    status: str = field(metadata=_wire("Status", _TEXT))
    uptime: int | None = field(metadata=_wire("Uptime", _INT_OR_NONE))


@_decoded
@dataclass(frozen=True, slots=True)
class Shutdown(AmiEvent):
    """``Event: Shutdown / Shutdown: Cleanly / Restart: True`` — the socket closes next."""

    shutdown: str = field(metadata=_wire("Shutdown", _TEXT))
    restart: bool = field(metadata=_wire("Restart", _FLAG))


@_decoded
@dataclass(frozen=True, slots=True)
class Newchannel(_ChannelEvent):
    """A channel was created; the first channel of a call has ``unique_id == linked_id``."""

    caller_id_num: str | None = field(metadata=_wire("CallerIDNum", _CID))
    caller_id_name: str | None = field(metadata=_wire("CallerIDName", _CID))
    context: str = field(metadata=_wire("Context", _TEXT))
    exten: str = field(metadata=_wire("Exten", _TEXT))


@_decoded
@dataclass(frozen=True, slots=True)
class Newstate(_ChannelEvent):
    """Channel state change (``ChannelState: 6`` / ``ChannelStateDesc: Up``)."""

    state: int = field(metadata=_wire("ChannelState", _INT))
    state_desc: str = field(metadata=_wire("ChannelStateDesc", _TEXT))


@_decoded
@dataclass(frozen=True, slots=True)
class Hangup(_ChannelEvent):
    """A channel is gone. ``cause`` is the Q.850 cause (16 normal, 0 on ``core restart``)."""

    cause: int = field(metadata=_wire("Cause", _INT))
    cause_txt: str = field(metadata=_wire("Cause-txt", _TEXT))
    caller_id_num: str | None = field(default=None, metadata=_wire("CallerIDNum", _CID))


@dataclass(frozen=True, slots=True)
class _DialEvent(AmiEvent):
    """The fields of DialBegin and DialEnd (private base)."""

    channel: str | None = field(metadata=_wire("Channel", _RAW))
    unique_id: str | None = field(metadata=_wire("Uniqueid", _RAW))
    linked_id: str = field(metadata=_wire("Linkedid", _LINKEDID_OR_DEST))
    dest_channel: str = field(metadata=_wire("DestChannel"))
    dest_unique_id: str = field(metadata=_wire("DestUniqueid"))


@_decoded
@dataclass(frozen=True, slots=True)
class DialBegin(_DialEvent):
    """A dial attempt starts. ``channel`` is None for an originate (no calling channel)."""

    dial_string: str = field(metadata=_wire("DialString", _TEXT))


@_decoded
@dataclass(frozen=True, slots=True)
class DialEnd(_DialEvent):
    """A dial attempt ends: ``dial_status`` ANSWER, NOANSWER, BUSY, CANCEL…"""

    dial_status: str = field(metadata=_wire("DialStatus", _TEXT))


@dataclass(frozen=True, slots=True)
class _BridgeEvent(AmiEvent):
    """The fields of BridgeEnter and BridgeLeave (private base)."""

    bridge_id: str = field(metadata=_wire("BridgeUniqueid"))
    bridge_type: str = field(metadata=_wire("BridgeType", _TEXT))
    num_channels: int = field(metadata=_wire("BridgeNumChannels", _INT))
    channel: str = field(metadata=_wire("Channel"))
    unique_id: str = field(metadata=_wire("Uniqueid"))
    linked_id: str = field(metadata=_wire("Linkedid"))


@_decoded
@dataclass(frozen=True, slots=True)
class BridgeEnter(_BridgeEvent):
    """A channel entered a bridge (``num_channels`` counts it)."""


@_decoded
@dataclass(frozen=True, slots=True)
class BridgeLeave(_BridgeEvent):
    """A channel left a bridge (``num_channels`` no longer counts it)."""


@dataclass(frozen=True, slots=True)
class UserEvent(AmiEvent):
    """A dialplan ``UserEvent(name,…)`` other than the IVR result and the call-back request;
    headers kept raw."""

    user_event: str = field(metadata=_wire("UserEvent", _TEXT))
    channel: str | None = field(metadata=_wire("Channel", _RAW))
    unique_id: str | None = field(metadata=_wire("Uniqueid", _RAW))
    linked_id: str | None = field(metadata=_wire("Linkedid", _RAW))
    message: AmiMessage = field(metadata=_wire("", _MESSAGE))


@dataclass(frozen=True, slots=True)
class IvrResult(_ChannelEvent):
    """``UserEvent: CcIvrResult`` — what the IVR learnt, published before ``Queue()``.

    Wire headers: ``CcQueue``, ``CcMerchantId``, ``CcMerchantVerified``, ``CcIntent``,
    ``CcIvrPath``, ``CcPriority``, ``CcLang`` (empty or absent -> None).
    """

    caller_id_num: str | None = field(metadata=_wire("CallerIDNum", _CID))
    caller_id_name: str | None = field(metadata=_wire("CallerIDName", _CID))
    queue: str | None = field(metadata=_wire("CcQueue", _OPT))
    merchant_id: str | None = field(metadata=_wire("CcMerchantId", _OPT))
    merchant_verified: bool | None = field(metadata=_wire("CcMerchantVerified", _OPT_FLAG))
    intent: str | None = field(metadata=_wire("CcIntent", _OPT))
    ivr_path: str | None = field(metadata=_wire("CcIvrPath", _OPT))
    priority: int | None = field(metadata=_wire("CcPriority", _INT_OR_NONE))
    lang: str | None = field(metadata=_wire("CcLang", _OPT))


@dataclass(frozen=True, slots=True)
class CallbackRequest(_ChannelEvent):
    """``UserEvent: CcCallbackRequest`` — the caller pressed 1 in ``queue`` (after
    ``QueueCallerLeave``) and the FastAGI route ``callback`` ran.

    Wire headers: ``CcQueue``, ``CcCallbackOutcome`` (``requested`` = booked, the dialplan
    hangs up; else ``cancelled``, ``no_merchant``, ``invalid``, ``failed``: back in the queue),
    ``CcCallbackRef`` (the call's Linkedid when booked), ``CcQueueWait`` (seconds waited in
    this queue), ``CcQueuePosition`` (the place left). Capture ``12-queue-callback``.
    """

    queue: str | None = field(metadata=_wire("CcQueue", _OPT))
    outcome: str = field(metadata=_wire("CcCallbackOutcome", _TEXT))
    ref: str | None = field(metadata=_wire("CcCallbackRef", _OPT))
    queue_wait_s: int | None = field(metadata=_wire("CcQueueWait", _INT_OR_NONE))
    position: int | None = field(metadata=_wire("CcQueuePosition", _INT_OR_NONE))

    @property
    def booked(self) -> bool:
        """The request was stored: the caller hangs up and is called back."""
        return self.outcome == "requested"


@dataclass(frozen=True, slots=True)
class _QueueCallerEvent(AmiEvent):
    """The fields of the QueueCaller{Join,Leave,Abandon} events (private base)."""

    queue: str = field(metadata=_wire("Queue"))
    channel: str = field(metadata=_wire("Channel"))
    unique_id: str = field(metadata=_wire("Uniqueid"))
    linked_id: str = field(metadata=_wire("Linkedid"))


@_decoded
@dataclass(frozen=True, slots=True)
class QueueCallerJoin(_QueueCallerEvent):
    """The caller channel entered ``queue`` at ``position`` (``count`` callers now)."""

    caller_id_num: str | None = field(metadata=_wire("CallerIDNum", _CID))
    caller_id_name: str | None = field(metadata=_wire("CallerIDName", _CID))
    position: int = field(metadata=_wire("Position", _INT))
    count: int = field(metadata=_wire("Count", _INT))


@_decoded
@dataclass(frozen=True, slots=True)
class QueueCallerLeave(_QueueCallerEvent):
    """The caller left ``queue`` (answered, abandoned, timed out or redirected)."""

    position: int = field(metadata=_wire("Position", _INT))
    count: int = field(metadata=_wire("Count", _INT))


@_decoded
@dataclass(frozen=True, slots=True)
class QueueCallerAbandon(_QueueCallerEvent):
    """The caller hung up while waiting; ``hold_time`` in seconds. Comes before the Leave."""

    position: int = field(metadata=_wire("Position", _INT))
    original_position: int = field(metadata=_wire("OriginalPosition", _INT))
    hold_time: int = field(metadata=_wire("HoldTime", _INT))


@dataclass(frozen=True, slots=True)
class _AgentEvent(AmiEvent):
    """The fields of the Agent{Called,Connect,Complete,RingNoAnswer,Dump} events: the queue,
    the member and the caller channel (private base)."""

    queue: str = field(metadata=_wire("Queue"))
    interface: str = field(metadata=_wire("Interface"))
    member_name: str = field(metadata=_wire("MemberName", _TEXT))
    channel: str = field(metadata=_wire("Channel"))
    unique_id: str = field(metadata=_wire("Uniqueid"))
    linked_id: str = field(metadata=_wire("Linkedid"))


@_decoded
@dataclass(frozen=True, slots=True)
class AgentCalled(_AgentEvent):
    """``queue`` rings member ``interface``; ``dest_*`` is the new agent leg."""

    caller_id_num: str | None = field(metadata=_wire("CallerIDNum", _CID))
    dest_channel: str = field(metadata=_wire("DestChannel"))
    dest_unique_id: str = field(metadata=_wire("DestUniqueid"))


@_decoded
@dataclass(frozen=True, slots=True)
class AgentConnect(_AgentEvent):
    """The member answered. ``ring_time`` is in SECONDS here (AgentRingNoAnswer: ms)."""

    dest_channel: str = field(metadata=_wire("DestChannel"))
    dest_unique_id: str = field(metadata=_wire("DestUniqueid"))
    hold_time: int = field(metadata=_wire("HoldTime", _INT))
    ring_time: int = field(metadata=_wire("RingTime", _INT))


@_decoded
@dataclass(frozen=True, slots=True)
class AgentComplete(_AgentEvent):
    """A queue call ended for the member.

    After a Redirect out of the queue this comes only at the final hang-up, WITHOUT the
    ``Dest*`` headers (``dest_channel``/``dest_unique_id`` None) and with a ``talk_time`` that
    covers the rest of the call: do not use it for talk time.
    """

    dest_channel: str | None = field(metadata=_wire("DestChannel", _OPT))
    dest_unique_id: str | None = field(metadata=_wire("DestUniqueid", _OPT))
    hold_time: int = field(metadata=_wire("HoldTime", _INT))
    talk_time: int = field(metadata=_wire("TalkTime", _INT))
    reason: str = field(metadata=_wire("Reason", _TEXT))


@_decoded
@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer(_AgentEvent):
    """The member did not answer within the queue timeout; ``ring_time_ms`` in MILLISECONDS."""

    dest_channel: str = field(metadata=_wire("DestChannel"))
    dest_unique_id: str = field(metadata=_wire("DestUniqueid"))
    ring_time_ms: int = field(metadata=_wire("RingTime", _INT))


@_decoded
@dataclass(frozen=True, slots=True)
class AgentDump(_AgentEvent):
    """The member hung up on the caller before the bridge (e.g. during an announcement)."""

    dest_channel: str | None = field(metadata=_wire("DestChannel", _OPT))
    dest_unique_id: str | None = field(metadata=_wire("DestUniqueid", _OPT))


@dataclass(frozen=True, slots=True)
class _QueueMemberFields(AmiEvent):
    """A queue member as the QueueMember* events and QueueStatus items carry it (private base).

    ``status`` is the device state: 1 not in use, 2 in use (also a *ringing* Local member),
    5 unavailable, 6 ringing… ``paused_reason`` is empty after an unpause.
    """

    queue: str = field(metadata=_wire("Queue"))
    interface: str = field(metadata=_wire("Interface"))
    member_name: str = field(metadata=_wire("MemberName", _TEXT))
    membership: str = field(metadata=_wire("Membership", _TEXT))
    paused: bool = field(metadata=_wire("Paused", _IS_ONE))
    paused_reason: str = field(metadata=_wire("PausedReason", _TEXT))
    in_call: bool = field(metadata=_wire("InCall", _IS_ONE))
    status: int = field(metadata=_wire("Status", _INT))
    calls_taken: int = field(metadata=_wire("CallsTaken", _INT))


@dataclass(frozen=True, slots=True)
class QueueMemberEvent(_QueueMemberFields):
    """Fields shared by the QueueMember{Added,Removed,Pause,Status} events.

    ``status`` is the device state: 1 not in use, 2 in use (also a *ringing* Local member),
    5 unavailable, 6 ringing… ``paused_reason`` is empty after an unpause.
    """


@_decoded
@dataclass(frozen=True, slots=True)
class QueueMemberAdded(QueueMemberEvent):
    """``QueueAdd`` (or a static member at load)."""


@_decoded
@dataclass(frozen=True, slots=True)
class QueueMemberRemoved(QueueMemberEvent):
    """``QueueRemove``."""


@_decoded
@dataclass(frozen=True, slots=True)
class QueueMemberPause(QueueMemberEvent):
    """``QueuePause``; without ``Queue:`` in the action one event per queue arrives."""


@_decoded
@dataclass(frozen=True, slots=True)
class QueueMemberStatus(QueueMemberEvent):
    """Device state or counters of a member changed."""


@_decoded
@dataclass(frozen=True, slots=True)
class QueueMember(_QueueMemberFields):
    """A ``QueueStatus`` list item. On the wire the interface is ``Location:`` and the member
    name ``Name:`` (not ``Interface:``/``MemberName:`` as in the live events)."""

    # Redeclared fields keep their place (and type) and change only the header.
    interface: str = field(metadata=_wire("Location"))
    member_name: str = field(metadata=_wire("Name", _TEXT))
    last_call: int = field(metadata=_wire("LastCall", _INT))
    login_time: int = field(metadata=_wire("LoginTime", _INT))
    action_id: str | None = field(metadata=_wire("ActionID", _RAW))


@_decoded
@dataclass(frozen=True, slots=True)
class QueueParams(AmiEvent):
    """A ``QueueStatus`` list item with the queue's counters."""

    queue: str = field(metadata=_wire("Queue"))
    strategy: str = field(metadata=_wire("Strategy", _TEXT))
    calls: int = field(metadata=_wire("Calls", _INT))
    hold_time: int = field(metadata=_wire("Holdtime", _INT))  # sic: lower-case t here
    talk_time: int = field(metadata=_wire("TalkTime", _INT))
    completed: int = field(metadata=_wire("Completed", _INT))
    abandoned: int = field(metadata=_wire("Abandoned", _INT))
    service_level: int = field(metadata=_wire("ServiceLevel", _INT))
    action_id: str | None = field(metadata=_wire("ActionID", _RAW))


@_decoded
@dataclass(frozen=True, slots=True)
class QueueEntry(AmiEvent):
    """A ``QueueStatus`` list item for a waiting caller (no ``Linkedid:`` on the wire)."""

    queue: str = field(metadata=_wire("Queue"))
    position: int = field(metadata=_wire("Position", _INT))
    channel: str = field(metadata=_wire("Channel"))
    unique_id: str = field(metadata=_wire("Uniqueid"))
    caller_id_num: str | None = field(metadata=_wire("CallerIDNum", _CID))
    caller_id_name: str | None = field(metadata=_wire("CallerIDName", _CID))
    wait: int = field(metadata=_wire("Wait", _INT))
    priority: int = field(metadata=_wire("Priority", _INT))
    action_id: str | None = field(metadata=_wire("ActionID", _RAW))


@_decoded
@dataclass(frozen=True, slots=True)
class QueueSummary(AmiEvent):
    """A ``QueueSummary`` list item."""

    queue: str = field(metadata=_wire("Queue"))
    logged_in: int = field(metadata=_wire("LoggedIn", _INT))
    available: int = field(metadata=_wire("Available", _INT))
    callers: int = field(metadata=_wire("Callers", _INT))
    hold_time: int = field(metadata=_wire("HoldTime", _INT))
    talk_time: int = field(metadata=_wire("TalkTime", _INT))
    longest_hold_time: int = field(metadata=_wire("LongestHoldTime", _INT))
    action_id: str | None = field(metadata=_wire("ActionID", _RAW))


@_decoded
@dataclass(frozen=True, slots=True)
class CoreShowChannel(_ChannelEvent):
    """A ``CoreShowChannels`` list item: one live channel."""

    caller_id_num: str | None = field(metadata=_wire("CallerIDNum", _CID))
    caller_id_name: str | None = field(metadata=_wire("CallerIDName", _CID))
    context: str = field(metadata=_wire("Context", _TEXT))
    exten: str = field(metadata=_wire("Exten", _TEXT))
    channel_state: int = field(metadata=_wire("ChannelState", _INT))
    bridge_id: str | None = field(metadata=_wire("BridgeId", _OPT))
    application: str | None = field(metadata=_wire("Application", _OPT))
    application_data: str | None = field(metadata=_wire("ApplicationData", _OPT))
    duration_s: int = field(metadata=_wire("Duration", _HMS))
    action_id: str | None = field(metadata=_wire("ActionID", _RAW))


@dataclass(frozen=True, slots=True)
class ChannelStatus(CoreShowChannel):
    """A ``Status`` list item (``Event: Status``; the action without ``Channel:`` lists every
    channel): one live channel, the resync's channel list. The bridge's account may send
    ``Status`` (write class ``call``) but not ``CoreShowChannels`` (``system``/``reporting``).
    ``BridgeID`` (sic) is empty for a channel in no bridge; ``Seconds`` is its age.

    Captured (fixtures ``10-status-resync.ami``)::

        Event: Status
        Channel: Local/4008000000@from-trunk-00000000;2
        ChannelState: 6
        CallerIDNum: 13800138000
        Context: from-trunk
        Uniqueid: 1796199319.1
        Linkedid: 1796199319.0
        BridgeID: 440726ec-b538-457e-b32a-15ccb4d51905
        Application: Queue
        Seconds: 1
        ActionID: s10-005
    """

    # The fields of a CoreShowChannels item; three have another header here.
    bridge_id: str | None = field(metadata=_wire("BridgeID", _OPT))
    application_data: str | None = field(metadata=_wire("Data", _OPT))
    duration_s: int = field(metadata=_wire("Seconds", _INT))


@_decoded
@dataclass(frozen=True, slots=True)
class MixMonitorStart(_ChannelEvent):
    """Recording of ``channel`` started (no file name in the event)."""


@_decoded
@dataclass(frozen=True, slots=True)
class MixMonitorStop(_ChannelEvent):
    """Recording stopped by ``StopMixMonitor`` — never sent when the call just hangs up."""



@dataclass(frozen=True, slots=True)
class MixMonitorFilename(_ChannelEvent):
    """``VarSet Variable: MIXMONITOR_FILENAME`` (only with the ``dialplan`` read class)."""

    path: str = field(metadata=_wire("Value"))


@_decoded
@dataclass(frozen=True, slots=True)
class OriginateResponse(AmiEvent):
    """Result of an ``Async: true`` Originate; carries the Originate's ActionID."""

    action_id: str | None = field(metadata=_wire("ActionID", _RAW))
    response: str = field(metadata=_wire("Response", _TEXT))
    channel: str = field(metadata=_wire("Channel", _TEXT))
    unique_id: str | None = field(metadata=_wire("Uniqueid", _OPT))
    reason: int = field(metadata=_wire("Reason", _INT))
    application: str | None = field(metadata=_wire("Application", _OPT))
    data: str | None = field(metadata=_wire("Data", _OPT))
    context: str | None = field(metadata=_wire("Context", _OPT))
    exten: str | None = field(metadata=_wire("Exten", _OPT))


@_decoded
@dataclass(frozen=True, slots=True)
class BlindTransfer(AmiEvent):
    """A bridge participant blind-transferred the other party to ``context``/``extension``."""

    result: str = field(metadata=_wire("Result", _TEXT))
    transferer_channel: str = field(metadata=_wire("TransfererChannel"))
    transferer_unique_id: str = field(metadata=_wire("TransfererUniqueid"))
    transferer_linked_id: str = field(metadata=_wire("TransfererLinkedid"))
    transferee_channel: str | None = field(metadata=_wire("TransfereeChannel", _OPT))
    transferee_unique_id: str | None = field(metadata=_wire("TransfereeUniqueid", _OPT))
    transferee_linked_id: str | None = field(metadata=_wire("TransfereeLinkedid", _OPT))
    context: str = field(metadata=_wire("Context", _TEXT))
    extension: str = field(metadata=_wire("Extension", _TEXT))
    is_external: bool = field(metadata=_wire("IsExternal", _FLAG))


@_decoded
@dataclass(frozen=True, slots=True)
class AttendedTransfer(AmiEvent):
    """An attended transfer completed (``dest_type`` Bridge, App, Link, Threeway or Fail)."""

    result: str = field(metadata=_wire("Result", _TEXT))
    orig_transferer_channel: str = field(metadata=_wire("OrigTransfererChannel"))
    orig_transferer_linked_id: str = field(metadata=_wire("OrigTransfererLinkedid"))
    second_transferer_channel: str | None = field(
        metadata=_wire("SecondTransfererChannel", _OPT)
    )
    second_transferer_linked_id: str | None = field(
        metadata=_wire("SecondTransfererLinkedid", _OPT)
    )
    transferee_channel: str | None = field(metadata=_wire("TransfereeChannel", _OPT))
    transferee_unique_id: str | None = field(metadata=_wire("TransfereeUniqueid", _OPT))
    transferee_linked_id: str | None = field(metadata=_wire("TransfereeLinkedid", _OPT))
    dest_type: str = field(metadata=_wire("DestType", _TEXT))
    dest_app: str | None = field(metadata=_wire("DestApp", _OPT))


@dataclass(frozen=True, slots=True)
class _SpyEvent(AmiEvent):
    """The supervisor's channel in ChanSpyStart and ChanSpyStop (private base)."""

    spyer_channel: str = field(metadata=_wire("SpyerChannel"))
    spyer_unique_id: str = field(metadata=_wire("SpyerUniqueid"))
    spyer_linked_id: str = field(metadata=_wire("SpyerLinkedid"))


@_decoded
@dataclass(frozen=True, slots=True)
class ChanSpyStart(_SpyEvent):
    """A supervisor (spyer) started listening to ``spyee``; the mode is not in the event."""

    spyee_channel: str = field(metadata=_wire("SpyeeChannel"))
    spyee_unique_id: str = field(metadata=_wire("SpyeeUniqueid"))
    spyee_linked_id: str = field(metadata=_wire("SpyeeLinkedid"))


@_decoded
@dataclass(frozen=True, slots=True)
class ChanSpyStop(_SpyEvent):
    """The spy session ended."""

    spyee_channel: str | None = field(metadata=_wire("SpyeeChannel", _OPT))
    spyee_unique_id: str | None = field(metadata=_wire("SpyeeUniqueid", _OPT))
    spyee_linked_id: str | None = field(metadata=_wire("SpyeeLinkedid", _OPT))


# -- decoders, generated from the declarations above

Decoder = Callable[[AmiMessage], AmiEvent]


def _compile(cls: type[AmiEvent]) -> Decoder:
    """Generate the decoder of ``cls``: ``f = m.fields; return cls(<reading>, …)``.

    Why exec(): the generated function is the straight-line code a hand-written decoder would
    be, which a loop over (field, header, reading) tuples does not match on the hot path (see
    the module docstring). Its source holds only header names and readings declared in this
    module, quoted with repr(), never anything from the wire. One argument a line and the
    source in ``linecache``: a traceback through a decoder shows the header being read.
    """
    arguments = []
    for declared in fields(cls):
        if _WIRE not in declared.metadata or not declared.init or declared.kw_only is True:
            raise TypeError(f"{cls.__name__}.{declared.name}: declare it with _wire()")
        header, reading = declared.metadata[_WIRE]
        arguments.append(f"        {reading.format(h=repr(header))},\n")
    name = f"decode_{cls.__name__}"
    source = f"def {name}(m):\n    f = m.fields\n    return _cls(\n{''.join(arguments)}    )\n"
    filename = f"<cti.events {name}>"
    namespace: dict[str, Any] = {"_cls": cls, **_HELPERS}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - see the docstring
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    decoder: Decoder = namespace[name]
    return decoder


_ivr_result: Final = _compile(IvrResult)
_callback_request: Final = _compile(CallbackRequest)
_other_user_event: Final = _compile(UserEvent)
_mixmonitor_filename: Final = _compile(MixMonitorFilename)
_channel_status: Final = _compile(ChannelStatus)


def _user_event(m: AmiMessage) -> AmiEvent:
    name = m.fields.get("UserEvent")
    if name == IVR_RESULT_EVENT:
        return _ivr_result(m)
    if name == CALLBACK_REQUEST_EVENT:
        return _callback_request(m)
    return _other_user_event(m)


def _var_set(m: AmiMessage) -> AmiEvent:
    # VarSet is a third of a read=all stream: look for the one variable we want in the raw
    # text before paying for a parse.
    if "Variable: MIXMONITOR_FILENAME\r\n" not in m.text:
        return UnknownEvent("VarSet", m)
    if m.fields.get("Variable") != "MIXMONITOR_FILENAME":
        return UnknownEvent("VarSet", m)
    return _mixmonitor_filename(m)


_SELECTING: Final[Mapping[str, tuple[Decoder, tuple[type[AmiEvent], ...]]]] = {
    "UserEvent": (_user_event, (IvrResult, CallbackRequest, UserEvent)),
    "VarSet": (_var_set, (MixMonitorFilename,)),
    # Not @_decoded: a class named "Status" would read as a status of anything.
    "Status": (_channel_status, (ChannelStatus,)),
}
"""The AMI events whose decoder picks the event type from a header (or whose class is not
named like the event), with those types."""

if _SELECTING.keys() & {cls.__name__ for cls in _OWN_NAME}:  # pragma: no cover - a typo guard
    raise TypeError("an AMI event name is both @_decoded and in _SELECTING")

DECODERS: Final[Mapping[str, Decoder]] = {
    **{cls.__name__: _compile(cls) for cls in _OWN_NAME},
    **{name: decoder for name, (decoder, _) in _SELECTING.items()},
}
"""AMI event name -> decoder, derived from the ``@_decoded`` classes and ``_SELECTING``."""

EVENT_TYPES: Final[Mapping[str, tuple[type[AmiEvent], ...]]] = {
    **{cls.__name__: (cls,) for cls in _OWN_NAME},
    **{name: types for name, (_, types) in _SELECTING.items()},
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
