"""What the CTI bridge needs from the rest of the system, and the data it hands over.

Ports (``callcenter/cti_directory.py`` implements the storage ones on the domain store; the
AMI client, the WebSocket hub and the simulator's phones implement the others):

==================  =====================================================================
port                what for
==================  =====================================================================
CallLogStore        write the call log in order: ``calls`` rows, timeline lines, the agent
                    state log, recordings (``cti.call_log`` is its one caller)
CardSource          read the screen-pop card's merchant part (``cti.screen_pop``)
AgentDirectory      the agents table and an agent's state log (``cti.service``)
AmiActions          send AMI actions (``cti.ami_client.AmiClient``)
Publisher           push JSON to a desktop topic (``callcenter.topics.Publisher``: the hub)
DemoPhonePort       the simulated desk phones of demo mode
==================  =====================================================================

``CtiDirectory`` is the three storage ports in one object, as the service takes them.

The data types are frozen dataclasses without Asterisk spellings. Storage adapters translate
their driver's errors into :class:`cti.errors.CtiStorageError` (worth a retry); anything else
they raise is a bug the caller logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from callcenter.domain import Agent as AgentRecord
from cti.ami_protocol import ActionResult

__all__ = [
    "AgentDirectory",
    "AgentRecord",
    "AgentStateWrite",
    "AmiActions",
    "CallEventWrite",
    "CallLine",
    "CallLogStore",
    "CallWrite",
    "CardDetails",
    "CardSource",
    "ComplaintLine",
    "CtiDirectory",
    "DemoPhonePort",
    "MerchantCandidate",
    "MerchantInfo",
    "RecordingFinish",
    "RecordingRegister",
    "ResyncSnapshot",
    "RowWrite",
    "StateLogEntry",
    "TaskLine",
    "TerminalLine",
]


# --------------------------------------------------------------------------- call log writes


@dataclass(frozen=True, slots=True)
class CallWrite:
    """Create or update the ``calls`` row of ``linked_id`` (created with ``started_at`` on
    first sight). Which of ``fields`` overwrite and which only fill an empty column is the
    store's rule for the CTI writer (``callcenter/call_records.py``)."""

    linked_id: str
    started_at: datetime
    fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class CallEventWrite:
    """One line of a call's timeline (``call_events``)."""

    linked_id: str
    at: datetime
    kind: str
    data: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AgentStateWrite:
    """One line of ``agent_state_log``."""

    agent_number: str
    interface: str
    at: datetime
    old_state: str
    new_state: str
    reason: str
    cause: str


@dataclass(frozen=True, slots=True)
class RecordingRegister:
    """Index the recording file ``path`` of the call (idempotent per call and file)."""

    linked_id: str
    path: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordingFinish:
    """Close the call's open recordings."""

    linked_id: str
    at: datetime


RowWrite = CallWrite | CallEventWrite | AgentStateWrite


class CallLogStore(Protocol):
    """Where the call log goes. Each coroutine raises ``CtiStorageError`` on a failure worth
    retrying (a lock, a constraint a concurrent writer hit, the database away)."""

    async def write_rows(self, jobs: Sequence[RowWrite]) -> None:
        """Apply ``jobs`` in order, in one transaction."""
        ...

    async def register_recording(self, job: RecordingRegister) -> None: ...

    async def finish_recordings(self, job: RecordingFinish) -> None: ...


# --------------------------------------------------------------------------- the pop card


@dataclass(frozen=True, slots=True)
class MerchantInfo:
    """The merchant the call is from; ``verified`` by the IVR, or by a unique match."""

    id: int
    merchant_number: str
    name: str
    address: str
    district: str
    contact_person: str
    phones: tuple[str, ...]
    business_hours: str
    tags: tuple[str, ...]  # sorted
    verified: bool


@dataclass(frozen=True, slots=True)
class MerchantCandidate:
    """One of several merchants sharing the caller's phone."""

    id: int
    merchant_number: str
    name: str


@dataclass(frozen=True, slots=True)
class TerminalLine:
    serial: str
    model: str
    status: str
    install_date: date | None


@dataclass(frozen=True, slots=True)
class TaskLine:
    """An open task of the merchant."""

    task_number: str
    kind: str
    status: str
    created_at: datetime | None
    appointment_at: datetime | None
    engineer: str
    terminal_serial: str
    description: str


@dataclass(frozen=True, slots=True)
class CallLine:
    """An earlier call of the merchant."""

    linked_id: str
    started_at: datetime | None
    queue: str
    agent_number: str
    outcome: str | None
    disposition: str | None
    intent: str
    talk_s: float | None
    note: str


@dataclass(frozen=True, slots=True)
class ComplaintLine:
    id: int
    complaint_class: int
    description: str
    result: str
    created_at: datetime | None
    closed_at: datetime | None
    escalation_tier: int | None


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What the store knows about the caller: the merchant (None when not found or not
    unique), the candidates when several merchants share the phone, and the merchant's
    terminals, open tasks (newest first), earlier calls and complaints (newest first)."""

    merchant: MerchantInfo | None = None
    candidates: tuple[MerchantCandidate, ...] = ()
    terminals: tuple[TerminalLine, ...] = ()
    open_tasks: tuple[TaskLine, ...] = ()
    recent_calls: tuple[CallLine, ...] = ()
    complaints: tuple[ComplaintLine, ...] = ()


class CardSource(Protocol):
    """The merchant part of the screen-pop card (never called on the ring path)."""

    async def load_card(self, linked_id: str, *, caller: str | None,
                        merchant_number: str | None, ivr_verified: bool | None,
                        recent_calls: int, complaints: int) -> CardDetails:
        """The merchant with ``merchant_number``, else the one merchant whose phones match
        ``caller``; ``ivr_verified`` (None: the IVR did not say) decides ``verified``, else a
        merchant found by number or by a unique phone match counts as verified. Earlier
        calls exclude ``linked_id``."""
        ...


# --------------------------------------------------------------------------- agents


@dataclass(frozen=True, slots=True)
class StateLogEntry:
    """One ``agent_state_log`` line as the day's figures need it."""

    at: datetime
    new_state: str
    reason: str


class AgentDirectory(Protocol):
    """The agents table and the agent state log."""

    async def agents(self) -> list[AgentRecord]: ...

    async def state_log(self, agent_number: str, since: datetime
                        ) -> tuple[StateLogEntry | None, list[StateLogEntry]]:
        """The last line before ``since`` (None if none) and the lines from ``since`` on,
        in order."""
        ...


@dataclass(frozen=True, slots=True)
class UnsavedWrapup:
    """A call whose wrap-up its agent has not saved yet (the desk lists it), and until when
    after-call work holds the agent for it (``held_until``; None: not held). Aware datetimes."""

    agent_number: str
    linked_id: str
    interface: str
    due_at: datetime
    held_until: datetime | None = None


class UnsavedWrapupStore(Protocol):
    """Where the unsaved wrap-ups outlive a restart (``cti.agent_state`` rule 15)."""

    async def unsaved_wrapups(self) -> list[UnsavedWrapup]:
        """Every unsaved wrap-up, oldest first."""
        ...

    async def keep_unsaved_wrapup(self, item: UnsavedWrapup) -> None:
        """Insert or replace the row of (``agent_number``, ``linked_id``)."""
        ...

    async def drop_unsaved_wrapup(self, linked_id: str) -> None:
        """The wrap-up of ``linked_id`` was saved: forget it (for every agent)."""
        ...


class CtiDirectory(CallLogStore, CardSource, AgentDirectory, Protocol):
    """The storage ports in one object (``callcenter.cti_directory.StoreCtiDirectory``)."""


# --------------------------------------------------------------------------- AMI, hub, phones


@dataclass(frozen=True, slots=True)
class ResyncSnapshot:
    """What a resync read from Asterisk: each list independently (``None``: not read).

    ``channels`` is the ``Status`` result (every live channel), ``queue_status`` and
    ``queue_summary`` those of ``QueueStatus``/``QueueSummary``. ``failures`` names each list
    that could not be read with the error (a refusal such as ``Permission denied``, a timeout,
    a disconnect), so one refusal does not discard the others. ``lost_at`` is when the
    previous AMI connection was lost (the client's clock), if no resync has read the channels
    since: calls that vanished meanwhile ended then.
    """

    channels: ActionResult | None
    queue_status: ActionResult | None
    queue_summary: ActionResult | None
    failures: tuple[tuple[str, Exception], ...] = ()
    lost_at: float | None = None



class AmiActions(Protocol):
    """What the service needs from the AMI client (``cti.ami_client.AmiClient``).

    ``send`` raises ``AmiTimeout``/``AmiDisconnected``/``AmiActionError``; ``originate`` sends
    an ``Originate`` at most once per ``idempotency_key`` (a reconnect or a double click
    never dials twice); ``resync_snapshot`` reads the Status, QueueStatus and QueueSummary lists,
    each on its own (it never raises for one list: see ``ResyncSnapshot``).
    """

    async def send(
        self,
        action: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the AMI client's own deadline
        final_event: str | None = None,
    ) -> ActionResult: ...

    async def originate(
        self,
        channel: str,
        *,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> ActionResult: ...

    async def resync_snapshot(self) -> ResyncSnapshot: ...


class DemoPhonePort(Protocol):
    """The simulator's ``DemoPhones``: stands in for the desk phone in demo mode."""

    def answer(self, interface: str) -> bool: ...

    def hangup(self, interface: str) -> bool: ...
