"""The records the simulated PBX keeps: channels, queue members, devices, waiting callers,
bridges, calls. Plain mutable records owned by one ``PbxState`` (see ``pbx.py``); no logic
beyond small derived properties, no I/O.

Names follow this codebase (``unique_id``, ``linked_id``); ``ami_events.py`` is where they
become Asterisk's ``Uniqueid``/``Linkedid``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Channel states (ast_channel_state) and their ChannelStateDesc.
DOWN = 0
RING = 4
RINGING = 5
UP = 6
STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing",
              6: "Up", 7: "Busy"}

# Device states as QueueMemberStatus/QueueMember report them.
DEVICE_UNKNOWN = 0
DEVICE_NOT_INUSE = 1
DEVICE_INUSE = 2
DEVICE_BUSY = 3
DEVICE_UNAVAILABLE = 5
DEVICE_RINGING = 6

UNKNOWN_ID = "<unknown>"


@dataclass(slots=True)
class Channel:
    """One channel and what a snapshot of it shows."""

    name: str
    unique_id: str
    linked_id: str
    created_at: float
    state: int = DOWN
    caller_num: str = UNKNOWN_ID
    caller_name: str = UNKNOWN_ID
    connected_num: str = UNKNOWN_ID
    connected_name: str = UNKNOWN_ID
    language: str = "en"
    account_code: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 1
    variables: dict[str, str] = field(default_factory=dict)
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""


@dataclass(slots=True)
class Member:
    """A queue member in one queue (the same interface in two queues is two members)."""

    queue: str
    interface: str
    name: str
    state_interface: str
    login_time: int
    penalty: int = 0
    dynamic: bool = True
    paused: bool = False
    paused_reason: str = ""
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    in_call: bool = False
    wrapuptime: int = 0
    ringinuse: bool = False


@dataclass(slots=True)
class Device:
    """A member's phone, shared by every queue it is in (``shared_lastcall = yes``)."""

    interface: str
    status: int = DEVICE_NOT_INUSE
    call_ref: str | None = None  # the call it rings for or talks in
    attempt_id: int | None = None
    last_call_end: float | None = None


class EntryState(enum.Enum):
    WAITING = "waiting"  # may be offered to a member
    RINGING = "ringing"  # a member rings for it
    BACKOFF = "backoff"  # after a ring without answer, waits ``retry`` seconds


@dataclass(slots=True)
class Entry:
    """A caller waiting in a queue."""

    ref: str
    priority: int
    joined_at: float
    original_position: int
    seq: int
    state: EntryState = EntryState.WAITING


@dataclass(slots=True)
class QueueRuntime:
    """A queue's members, waiting callers and statistics (what QueueStatus reports)."""

    name: str
    members: list[Member] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    rr_pos: int = 0
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0
    holdtime: int = 0
    talktime: int = 0

    def member(self, interface: str) -> Member | None:
        for member in self.members:
            if member.interface == interface:
                return member
        return None

    def position(self, ref: str) -> int:
        """1-based position of a waiting caller, 0 when not in this queue."""
        for index, entry in enumerate(self.entries):
            if entry.ref == ref:
                return index + 1
        return 0


@dataclass(slots=True)
class Attempt:
    """One ring of one member for one caller (a new agent channel each time)."""

    attempt_id: int
    ref: str
    queue: str
    interface: str
    member_name: str
    agent: Channel  # the queue side: DestChannel of the Agent* events
    agent_peer: Channel | None  # the Local ;2 half (the "phone"), None for PJSIP
    started_at: float


@dataclass(slots=True)
class Bridge:
    """A basic two-party bridge."""

    bridge_id: str
    channels: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Leg:
    """A completed or running agent leg of a call (what AgentComplete reports)."""

    queue: str
    interface: str
    member_name: str
    hold_time: int
    answered_at: float
    agent: Channel | None
    in_service_level: bool
    agent_peer: Channel | None = None


class Phase(enum.Enum):
    IVR = "ivr"
    QUEUED = "queued"
    TALKING = "talking"
    SURVEY = "survey"
    CALLBACK = "callback"  # [cc-queue-exit]: the call-back offer after key 1 in a queue
    ENDING = "ending"
    ENDED = "ended"


@dataclass(slots=True)
class Call:
    """One inbound call, from arrival to the caller's hang-up."""

    ref: str
    caller: Channel  # the call's channel: PJSIP/trunk-… or the Local ;2 half
    caller_peer: Channel | None  # the Local ;1 half (the simulated phone), None for PJSIP
    arrived_at: float
    patience: float | None
    talk_limit: float | None
    callback_after: float | None = None  # seconds in a queue before pressing 1 (once)
    phase: Phase = Phase.IVR
    queue: str | None = None
    queues: list[str] = field(default_factory=list)
    attempt_id: int | None = None
    leg: Leg | None = None
    deferred: list[Leg] = field(default_factory=list)  # legs before a blind transfer
    bridge: Bridge | None = None
    answered_at: float | None = None
    agents: list[str] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    first_hold: int | None = None
    talked: int = 0  # seconds with agents, over every leg
    ivr_hung_up: bool = False
    outcome: str | None = None
    hangup_cause: int = 16
