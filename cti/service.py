"""CTI use cases: the adapter that carries out the pure core's effects, and the agent actions.

``CtiService`` owns the :class:`~cti.dispatcher.Dispatcher`. The AMI client calls
``on_message(msg, received_at)`` for every event (synchronously, from its read loop); the
service feeds the dispatcher and carries the effects out through one table (``_EFFECTS``):

==================  ========================================================================
effect              what the service does
==================  ========================================================================
CallCreated         queue the ``calls`` row (created on first sight, keyed on the linked id)
CallQueued          queue ``queue``/``queued_at``
PrefetchMerchant    start loading the pop card (merchant, terminals, tasks, calls, complaints)
ScreenPop           publish the cached card on ``agent:<number>`` AT ONCE (no database query
                    on the ring path; a minimal card when the prefetch is still running, the
                    full one when it is done)
CallConnected       queue ``answered_at``/``agent_number``; push the call timer start
CallEnded           queue outcome, wait and talk time; close the recordings
CallEventLogged     queue one ``call_events`` row (the timeline)
RecordingStarted    ``RecordingRepository.register`` (queued); push the recording indicator
RecordingStopped    push the indicator off (the row is closed at CallEnded)
AgentTransition     queue one ``agent_state_log`` row; push the agent's new state
==================  ========================================================================

Nothing on the AMI path awaits the database: writes go to one bounded queue drained by one
writer task, in arrival order (so in order per call), several per transaction. A browser that
closes changes nothing: rows are written whether or not anybody watches. After a reconnect the
dispatcher's resync adopts the calls in progress; their rows are updated, never duplicated
(upsert on the linked id), and the IVR's fields of the row (``ivr_path``, ``intent``,
``merchant_id``…, written by ``callcenter/ivr_directory.py``) are only ever filled when empty.
Internal calls (a supervisor's spy leg, agent-to-agent calls) are not persisted as merchant
calls.

Agent actions are handler → rule check (:func:`cti.agent_state.check_action`) → the one AMI
action: ``QueueAdd`` per queue (log in), ``QueueRemove`` per queue (log out), ``QueuePause``
without ``Queue:`` (pause/resume in every queue, ``Reason:`` kept), ``Originate`` (click to
dial, ``Async: true``, guarded by an idempotency key), ``Redirect`` (blind transfer),
``Atxfer`` (attended transfer) and ``Hangup``. Caller-controlled text never reaches an AMI
header unchecked: numbers are normalised to digits, names stripped of control characters, and
an ``AmiEncodeError`` that would still happen becomes a ``ValidationError``.

Errors raised to the web layer: ``AgentActionError`` (refused by the rules; stable
``error_id``), ``ValidationError`` (bad input), ``NotFound``, ``CtiUnavailable`` (no AMI
connection) and the AMI errors of ``cti.errors`` (``AmiActionError``, ``AmiTimeout``,
``AmiDisconnected``); ``cti.web`` maps each to an HTTP status once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.db.models import (
    AgentStateLogRow,
    CallEventRow,
    CallRow,
    ComplaintRow,
    MerchantPhoneRow,
    MerchantRow,
    TaskRow,
    TerminalRow,
)
from callcenter.db.repositories import Store
from callcenter.domain import OPEN_TASK_STATUSES, caller_id_candidates, normalise_phone
from callcenter.domain import Agent as AgentRecord
from callcenter.errors import CallcenterError, ValidationError
from cti import agent_state
from cti.agent_state import AgentAction, AgentConfig, AgentStatus, AgentTransition, check_action
from cti.ami_protocol import ActionResult, AmiMessage
from cti.call_state import (
    Call,
    CallConfig,
    CallConnected,
    CallCreated,
    CallEnded,
    CallEventLogged,
    CallKind,
    CallQueued,
    PrefetchMerchant,
    RecordingStarted,
    RecordingStopped,
    ScreenPop,
)
from cti.dispatcher import Dispatcher, Effect
from cti.errors import (
    AgentActionError,
    AmiActionError,
    AmiEncodeError,
    CtiError,
    CtiUnavailable,
)
from cti.events import AgentCalled, AgentConnect, decode_event
from recording.repository import RecordingRepository

__all__ = [
    "DEFAULT_PAUSE_REASONS",
    "DEFAULT_QUEUES",
    "AmiActions",
    "CtiConfig",
    "CtiService",
    "CtiUnavailable",
    "DemoPhonePort",
    "Publisher",
    "agent_topic",
]

logger = logging.getLogger(__name__)

DEFAULT_QUEUES: Final = ("presales", "aftersales", "complaints", "techsupport", "night")
"""The queues of dialplans/queues.conf (the IVR's hotline.toml routes to these five)."""

DEFAULT_PAUSE_REASONS: Final = ("lunch", "training", "acw", "meeting", "restroom", "break")
"""Pause reason codes the desktop offers; ``acw`` (after-call work) still allows dialling."""


def agent_topic(agent_number: str) -> str:
    """Hub topic of one agent's desktop: ``agent:8001``."""
    return f"agent:{agent_number}"


# --------------------------------------------------------------------------- ports


class AmiActions(Protocol):
    """What the service needs from the AMI client (``cti.ami_client.AmiClient``).

    ``send`` raises ``AmiTimeout``/``AmiDisconnected``/``AmiActionError``; ``originate`` sends
    an ``Originate`` at most once per ``idempotency_key`` (a reconnect or a double click
    never dials twice); ``resync_snapshot`` returns the CoreShowChannels, QueueStatus and
    QueueSummary results.
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

    async def resync_snapshot(self) -> tuple[ActionResult, ActionResult, ActionResult]: ...


class Publisher(Protocol):
    """The WebSocket hub (``callcenter.web.hub.Hub``): ``publish`` never awaits."""

    def publish(self, topic: str, message: dict[str, Any]) -> int: ...


class DemoPhonePort(Protocol):
    """The simulator's ``DemoPhones``: stands in for the desk phone in demo mode."""

    def answer(self, interface: str) -> bool: ...

    def hangup(self, interface: str) -> bool: ...


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class CtiConfig:
    """Policy of the CTI service, built once (``cti.wiring`` fills it from the settings).

    ``dial_context`` is the dialplan context an ``Originate`` sends the agent's answered phone
    to (``Exten`` = the merchant's digits); ``transfer_context`` the one a blind transfer to a
    queue redirects the caller to (``Exten`` = queue, dialplans/extensions.conf
    ``[cc-transfer]``); ``extension_context`` the one that rings an agent extension
    (``[agents]``). ``state_interface`` gives queue members added as a Local interface the
    device whose state they take (``PJSIP/{ext}``), as the dialplan README describes.
    """

    queues: tuple[str, ...] = DEFAULT_QUEUES
    pause_reasons: tuple[str, ...] = DEFAULT_PAUSE_REASONS
    dial_context: str = "cc-outbound"
    transfer_context: str = "cc-transfer"
    extension_context: str = "agents"
    state_interface: str = "PJSIP/{ext}"
    dial_timeout_ms: int = 30_000
    action_timeout: float = 5.0
    timezone: str = "Asia/Shanghai"
    recent_calls: int = 5
    complaint_history: int = 10
    writer_batch: int = 500
    writer_linger_s: float = 0.05
    writer_queue_max: int = 100_000
    prefetch_concurrency: int = 8
    dial_key_ttl_s: float = 600.0
    dial_reply_wait: float = 1.0
    agent_refresh_s: float = 60.0


# --------------------------------------------------------------------------- write jobs
# Frozen descriptions of one write each; the writer task carries them out in order.


@dataclass(frozen=True, slots=True)
class _CallWrite:
    """Upsert of one ``calls`` row: ``values`` always, ``fill`` only where the row is empty."""

    linked_id: str
    started_at: datetime
    values: tuple[tuple[str, Any], ...] = ()
    fill: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class _EventWrite:
    linked_id: str
    at: datetime
    kind: str
    data: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _AgentLogWrite:
    agent_number: str
    interface: str
    at: datetime
    old_state: str
    new_state: str
    reason: str
    cause: str


@dataclass(frozen=True, slots=True)
class _RecordingRegister:
    linked_id: str
    path: str
    at: datetime


@dataclass(frozen=True, slots=True)
class _RecordingFinish:
    linked_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class _AfterCommit:
    """Run ``callback`` once every write queued before it is committed (or given up)."""

    callback: Callable[[], None]


_RowJob = _CallWrite | _EventWrite | _AgentLogWrite
_Job = _RowJob | _RecordingRegister | _RecordingFinish | _AfterCommit

# Column sizes of callcenter/db/models.py: PostgreSQL refuses longer strings.
_MAX = {"caller_number": 40, "queue": 64, "agent_number": 20, "unique_id": 64, "kind": 40,
        "reason": 40, "cause": 40, "interface": 100, "state": 20}


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A dial's outcome is published to the desktop; nobody may await the task any more.
    if not task.cancelled():
        task.exception()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _cut(value: str | None, key: str) -> str:
    return (value or "")[: _MAX[key]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_CONTROL = re.compile(r"[\x00-\x1f\x7f|,;\"<>]")
_EXTENSION = re.compile(r"^[0-9]{2,8}\Z")
_LOCAL_EXT = re.compile(r"^Local/([0-9]+)@")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,80}\Z")


def _clean_label(text: str, limit: int = 40) -> str:
    """A name safe inside an AMI header value and a queue_log line (no CR/LF, ``|``, ``,``,
    quotes or angle brackets: it goes into ``CallerID: "name" <num>`` and ``MemberName``)."""
    return _CONTROL.sub(" ", text).strip()[:limit]


# --------------------------------------------------------------------------- the service


@dataclass(slots=True)
class _Dial:
    """One click-to-dial request, remembered under its idempotency key."""

    agent_number: str
    number: str
    created: float
    task: asyncio.Task[dict[str, Any]]


@dataclass(slots=True)
class _Stats:
    messages: int = 0
    pops: int = 0
    partial_pops: int = 0
    writes: int = 0
    write_failures: int = 0
    dropped_writes: int = 0
    prefetches: int = 0
    prefetch_failures: int = 0
    last_event_at: float | None = None
    extra: dict[str, int] = field(default_factory=dict)


OnEffect = Callable[["CtiService", Any, float], None]


class CtiService:
    """The CTI bridge's use cases (see the module docstring).

    ``on_message`` is synchronous and never awaits: call it from the AMI read loop. ``start``
    launches the writer and the 1-second tick; ``stop`` flushes the writer. Agent actions are
    coroutines that raise the errors listed in the module docstring.
    """

    def __init__(
        self,
        store: Store,
        hub: Publisher,
        *,
        config: CtiConfig | None = None,
        call_config: CallConfig | None = None,
        agent_config: AgentConfig | None = None,
        clock: Callable[[], float] = time.time,
        demo_phones: DemoPhonePort | None = None,
    ) -> None:
        self.store = store
        self.hub = hub
        self.config = config or CtiConfig()
        self.clock = clock
        self.demo_phones = demo_phones
        self.dispatcher = Dispatcher(call_config, agent_config)
        self.ami: AmiActions | None = None
        self.tz = ZoneInfo(self.config.timezone)
        self.recordings = RecordingRepository(store)
        self.stats = _Stats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=self.config.writer_queue_max)
        self._writer: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()  # a flush() is waiting: write without lingering
        self._ticker: asyncio.Task[None] | None = None
        self._agents_by_interface: dict[str, AgentRecord] = {}
        self._agents_by_number: dict[str, AgentRecord] = {}
        self._agents_loaded_at = float("-inf")
        self._merchant_calls: set[str] = set()
        self._cards: dict[str, dict[str, Any]] = {}
        self._prefetching: dict[str, asyncio.Task[None]] = {}
        self._partial_pops: dict[str, set[str]] = {}  # linked id -> agents shown a minimal card
        self._last_card: dict[str, dict[str, Any]] = {}  # agent number -> last card shown
        self._legs: dict[str, dict[str, str]] = {}  # linked id -> agent leg uid -> channel
        self._talking: dict[str, str] = {}  # agent number -> linked id of the call taken
        self._call_agents: dict[str, set[str]] = {}  # linked id -> agents who talked
        self._connected_at: dict[str, float] = {}  # agent number -> when the call connected
        self._recording: set[str] = set()  # linked ids being recorded now
        self._pending_wrapup: dict[str, str] = {}  # agent number -> linked id to wrap up
        self._dials: dict[str, _Dial] = {}
        self._unknown_interfaces: set[str] = set()
        self._prefetch_slots = asyncio.Semaphore(self.config.prefetch_concurrency)
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    def attach(self, ami: AmiActions | None) -> None:
        """Use ``ami`` for agent actions and resyncs (None: actions raise CtiUnavailable)."""
        self.ami = ami

    async def start(self) -> None:
        """Load the agents table, start the writer task and the 1-second tick."""
        await self.refresh_agents()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="cti-writer")
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_loop(), name="cti-tick")

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Stop ticking, write what is queued (up to ``flush_timeout`` s), stop the writer."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for task in [*self._prefetching.values(), *self._background]:
            task.cancel()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self.flush(), flush_timeout)
            except TimeoutError:
                logger.error("CTI writer: %d writes not flushed at stop", self._queue.qsize())
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    async def flush(self) -> None:
        """Wait until every write queued so far is committed (or given up)."""
        if self._writer is None:
            raise RuntimeError("the CTI writer is not running (call start() first)")
        done = asyncio.get_running_loop().create_future()

        def release() -> None:
            if not done.done():
                done.set_result(None)

        self._enqueue(_AfterCommit(release))
        self._hurry.set()
        await done

    async def settle(self) -> None:
        """Wait for running card loads and background pushes, then ``flush`` (tests, bench)."""
        while self._prefetching or self._background:
            await asyncio.gather(*self._prefetching.values(), *self._background,
                                 return_exceptions=True)
        await self.flush()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.clock()
            try:
                self.tick(now)
                if now - self._agents_loaded_at >= self.config.agent_refresh_s:
                    await self.refresh_agents()
                self._expire_dials(now)
            except Exception:  # the tick must survive a bad effect or a database hiccup
                logger.exception("CTI tick failed")

    def tick(self, now: float | None = None) -> None:
        """Run the dispatcher's timers (wrap-up ends) and carry out their effects."""
        now = self.clock() if now is None else now
        self.apply(self.dispatcher.tick(now), now)

    async def refresh_agents(self) -> None:
        """Reload interface → agent number from the agents table (never on the ring path)."""
        agents = await self.store.agents.list()
        self._agents_by_interface = {a.interface: a for a in agents}
        self._agents_by_number = {a.agent_number: a for a in agents}
        self._agents_loaded_at = self.clock()

    def remember_agent(self, agent: AgentRecord) -> None:
        """Make sure ``agent`` is known (the desktop looked it up before an action)."""
        self._agents_by_interface[agent.interface] = agent
        self._agents_by_number[agent.agent_number] = agent

    def agent_number_of(self, interface: str) -> str | None:
        """Agent number (工号) of a queue-member interface, from the cached agents table."""
        agent = self._agents_by_interface.get(interface)
        return agent.agent_number if agent is not None else None

    # ------------------------------------------------------------------ AMI ingest

    def on_message(self, message: AmiMessage, received_at: float) -> None:
        """Feed one AMI event to the dispatcher and carry its effects out. Never awaits.

        AgentCalled/AgentConnect are decoded here (once) because the service also needs the
        agent leg's channel name (``DestChannel``) for Hangup and Atxfer.
        """
        self.stats.messages += 1
        self.stats.last_event_at = received_at
        name = message.name
        if name == "AgentConnect" or name == "AgentCalled":
            try:
                event = decode_event(message)
            except CtiError:
                effects = self.dispatcher.handle_message(message, received_at)  # logs it
            else:
                if isinstance(event, AgentCalled | AgentConnect):
                    self._legs.setdefault(event.linked_id, {})[event.dest_unique_id] = (
                        event.dest_channel)
                effects = self.dispatcher.handle(event, received_at)
        else:
            effects = self.dispatcher.handle_message(message, received_at)
        if effects:
            self.apply(effects, received_at)

    async def on_connected(self) -> None:
        """The AMI client (re)connected and logged in: resync from Asterisk's lists."""
        await self.resync()

    async def resync(self) -> None:
        """Rebuild calls and agents from CoreShowChannels + QueueStatus + QueueSummary.

        Calls in progress are adopted (rows updated, not duplicated); calls that vanished end.
        Raises the AMI client's errors when the lists cannot be fetched.
        """
        if self.ami is None:
            return
        channels, queue_status, queue_summary = await self.ami.resync_snapshot()
        now = self.clock()
        effects = self.dispatcher.resync(now, channels=channels, queue_status=queue_status,
                                         queue_summary=queue_summary)
        self.apply(effects, now)

    def apply(self, effects: Iterable[Effect], now: float) -> None:
        """Carry out effects (the table ``_EFFECTS``). One failing effect is logged and
        skipped: the next ones, and the AMI read loop, go on."""
        for effect in effects:
            handler = _EFFECTS.get(type(effect))
            if handler is None:
                continue
            try:
                handler(self, effect, now)
            except Exception:
                logger.exception("CTI: carrying out %r failed", effect)

    # ------------------------------------------------------------------ effect handlers

    def _call(self, linked_id: str) -> Call | None:
        return self.dispatcher.state.calls.calls.get(linked_id)

    def _is_merchant_call(self, linked_id: str) -> bool:
        if linked_id in self._merchant_calls:
            return True
        call = self._call(linked_id)
        if call is not None and call.kind is CallKind.INBOUND:
            # Reclassified (it joined a queue): persist from now on, row first.
            self._merchant_calls.add(linked_id)
            self._enqueue(_CallWrite(linked_id, _utc(call.created_at),
                                     fill=self._caller_fill(call.caller)))
            return True
        return False

    @staticmethod
    def _caller_fill(caller: str | None) -> tuple[tuple[str, Any], ...]:
        if not caller:
            return ()
        keys = caller_id_candidates(caller)
        return (("caller_number", _cut(keys[0] if keys else caller, "caller_number")),)

    def _on_call_created(self, effect: CallCreated, now: float) -> None:
        if effect.kind is not CallKind.INBOUND:
            return
        self._merchant_calls.add(effect.linked_id)
        self._enqueue(_CallWrite(effect.linked_id, _utc(effect.at),
                                 fill=self._caller_fill(effect.caller)))

    def _on_call_queued(self, effect: CallQueued, now: float) -> None:
        if not self._is_merchant_call(effect.linked_id):
            return
        call = self._call(effect.linked_id)
        started = call.created_at if call is not None else effect.at
        fill: list[tuple[str, Any]] = [("queued_at", _utc(effect.at))]
        if call is not None:
            fill.extend(self._caller_fill(call.caller))
            if call.caller_unique_id:
                fill.append(("unique_id", _cut(call.caller_unique_id, "unique_id")))
            # The IVR writes these itself before the caller is queued; the dialplan's
            # UserEvent only fills them when it did not (FastAGI down: path "noivr").
            for name, value, size in (("ivr_path", call.ivr_path, 400),
                                      ("intent", call.intent, 32), ("lang", call.lang, 8)):
                if value:
                    fill.append((name, value[:size]))
        self._enqueue(_CallWrite(effect.linked_id, _utc(started),
                                 values=(("queue", _cut(effect.queue, "queue")),),
                                 fill=tuple(fill)))

    def _on_call_connected(self, effect: CallConnected, now: float) -> None:
        number = self.agent_number_of(effect.agent_interface)
        if self._is_merchant_call(effect.linked_id):
            call = self._call(effect.linked_id)
            started = call.created_at if call is not None else effect.at
            values: list[tuple[str, Any]] = [("queue", _cut(effect.queue, "queue"))]
            if number is not None:
                values.append(("agent_number", _cut(number, "agent_number")))
            self._enqueue(_CallWrite(effect.linked_id, _utc(started), values=tuple(values),
                                     fill=(("answered_at", _utc(effect.at)),)))
        if number is None:
            return
        self._talking[number] = effect.linked_id
        self._connected_at[number] = effect.at
        self._call_agents.setdefault(effect.linked_id, set()).add(number)
        self.hub.publish(agent_topic(number), {
            "type": "call", "event": "connected", "linked_id": effect.linked_id,
            "queue": effect.queue, "at": effect.at, "wait_s": round(effect.wait_s, 1),
            "recording": effect.linked_id in self._recording,
        })

    def _on_call_ended(self, effect: CallEnded, now: float) -> None:
        linked_id = effect.linked_id
        merchant = linked_id in self._merchant_calls and effect.kind is CallKind.INBOUND
        self._merchant_calls.discard(linked_id)
        if merchant:
            values: list[tuple[str, Any]] = [
                ("ended_at", _utc(effect.at)), ("outcome", effect.outcome.value),
                ("wait_s", round(effect.wait_s, 3)), ("talk_s", round(effect.talk_s, 3)),
            ]
            if effect.queue:
                values.append(("queue", _cut(effect.queue, "queue")))
            number = (self.agent_number_of(effect.agent_interface)
                      if effect.agent_interface else None)
            if number is not None:
                values.append(("agent_number", _cut(number, "agent_number")))
            self._enqueue(_CallWrite(linked_id, _utc(effect.at), values=tuple(values),
                                     fill=self._caller_fill(effect.caller)))
            self._enqueue(_RecordingFinish(linked_id, _utc(effect.at)))
        # Forget the call; the agents keep their last card for the wrap-up.
        task = self._prefetching.pop(linked_id, None)
        if task is not None:
            task.cancel()
        self._cards.pop(linked_id, None)
        self._partial_pops.pop(linked_id, None)
        self._legs.pop(linked_id, None)
        self._recording.discard(linked_id)
        agents = self._call_agents.pop(linked_id, set())
        for number in agents:
            if self._talking.get(number) == linked_id:
                del self._talking[number]
            message = {"type": "call", "event": "ended", "linked_id": linked_id,
                       "at": effect.at, "outcome": effect.outcome.value,
                       "talk_s": round(effect.talk_s, 1)}
            self.hub.publish(agent_topic(number), message)

    def _on_event_logged(self, effect: CallEventLogged, now: float) -> None:
        if self._is_merchant_call(effect.linked_id):
            self._enqueue(_EventWrite(effect.linked_id, _utc(effect.at),
                                      _cut(effect.kind, "kind"), effect.data))

    def _on_recording_started(self, effect: RecordingStarted, now: float) -> None:
        if self._is_merchant_call(effect.linked_id):
            self._enqueue(_RecordingRegister(effect.linked_id, effect.path, _utc(effect.at)))
        self._recording.add(effect.linked_id)
        self._push_recording(effect.linked_id, True, effect.at)

    def _on_recording_stopped(self, effect: RecordingStopped, now: float) -> None:
        call = self._call(effect.linked_id)
        if call is not None and any(r.stopped_at is None for r in call.recordings):
            return  # another file of the call (after a transfer) is still recording
        self._recording.discard(effect.linked_id)
        self._push_recording(effect.linked_id, False, effect.at)

    def _push_recording(self, linked_id: str, on: bool, at: float) -> None:
        for number in self._call_agents.get(linked_id, ()):
            if self._talking.get(number) == linked_id:
                self.hub.publish(agent_topic(number), {
                    "type": "call", "event": "recording", "linked_id": linked_id,
                    "recording": on, "at": at})

    def _on_agent_transition(self, effect: AgentTransition, now: float) -> None:
        number = self.agent_number_of(effect.interface) or ""
        self._enqueue(_AgentLogWrite(
            _cut(number, "agent_number"), _cut(effect.interface, "interface"), _utc(effect.at),
            _cut(effect.old.value, "state"), _cut(effect.new.value, "state"),
            _cut(effect.new_reason, "reason"), _cut(effect.cause, "cause")))
        if not number:
            return
        if effect.old is AgentStatus.ON_CALL and effect.new is not AgentStatus.ON_CALL:
            linked_id = self._talking.pop(number, None) or effect.linked_id
            self._connected_at.pop(number, None)
            if linked_id:
                self._pending_wrapup[number] = linked_id
                self._after_commit(functools.partial(self._publish_wrapup, number, linked_id))
        agent = self.dispatcher.state.agents.agents.get(effect.interface)
        self.hub.publish(agent_topic(number), {
            "type": "state", "agent": self._agent_json(agent, effect.interface, now),
            "cause": effect.cause})

    def _publish_wrapup(self, number: str, linked_id: str) -> None:
        # After the commit: the wrap-up API (callcenter.business) reads the row we wrote.
        self.hub.publish(agent_topic(number), {"type": "wrapup", "linked_id": linked_id})
        self._spawn(self._push_today(number))

    # ------------------------------------------------------------------ screen pop

    def _on_prefetch(self, effect: PrefetchMerchant, now: float) -> None:
        self._start_prefetch(effect.linked_id)

    def _start_prefetch(self, linked_id: str) -> None:
        if linked_id in self._prefetching or linked_id in self._cards:
            return
        base = self._minimal_card(linked_id)
        task = asyncio.get_running_loop().create_task(
            self._prefetch(linked_id, base), name=f"cti-prefetch {linked_id}")
        self._prefetching[linked_id] = task
        self.stats.prefetches += 1

    def _minimal_card(self, linked_id: str, queue: str | None = None) -> dict[str, Any]:
        """What the board knows about the call, without any database query."""
        call = self._call(linked_id)
        card: dict[str, Any] = {"linked_id": linked_id, "queue": queue, "caller": None,
                                "caller_name": None, "merchant_number": None,
                                "ivr": None, "merchant": None, "candidates": [],
                                "terminals": [], "open_tasks": [], "recent_calls": [],
                                "complaints": [], "complete": False}
        if call is not None:
            card.update(
                queue=queue or call.queue, caller=call.caller, caller_name=call.caller_name,
                merchant_number=call.merchant_id,
                ivr={"path": call.ivr_path, "intent": call.intent,
                     "verified": call.merchant_verified, "lang": call.lang,
                     "priority": call.priority, "queue": call.ivr_queue},
            )
        return card

    async def _prefetch(self, linked_id: str, base: dict[str, Any]) -> None:
        try:
            async with self._prefetch_slots:
                card = await self.load_card(linked_id, base)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.prefetch_failures += 1
            logger.exception("CTI: loading the pop card of call %s failed", linked_id)
            card = dict(base, complete=True, error="load_failed")
        finally:
            self._prefetching.pop(linked_id, None)
        if self._call(linked_id) is None:
            return  # the call ended meanwhile
        self._cards[linked_id] = card
        if card.get("merchant") and linked_id in self._merchant_calls:
            merchant_id = card["merchant"]["id"]
            self._enqueue(_CallWrite(linked_id, _utc(self.clock()),
                                     fill=(("merchant_id", merchant_id),)))
        # Agents who got the minimal card while this ran get the full one now.
        for number in self._partial_pops.pop(linked_id, set()):
            agent = self._agents_by_number.get(number)
            live = agent is not None and self._agent_on(agent.interface, linked_id)
            if live:
                self._push_pop(number, card, partial=False)

    def _agent_on(self, interface: str, linked_id: str) -> bool:
        agent = self.dispatcher.state.agents.agents.get(interface)
        return agent is not None and agent.linked_id == linked_id

    def _on_screen_pop(self, effect: ScreenPop, now: float) -> None:
        number = self.agent_number_of(effect.agent_interface)
        if number is None:
            if effect.agent_interface not in self._unknown_interfaces:
                # Once per interface: a queue member whose interface matches no row of the
                # agents table (a misconfiguration, or the simulator's own agents).
                self._unknown_interfaces.add(effect.agent_interface)
                logger.warning("screen pop for %s: no agent has this interface",
                               effect.agent_interface)
            return
        card = self._cards.get(effect.linked_id)
        if card is not None:
            if card.get("queue") != effect.queue:
                card = dict(card, queue=effect.queue)
            self._push_pop(number, card, partial=False)
            return
        # Still loading (or never asked: a call adopted after a reconnect): show what the
        # board knows now, the full card follows from _prefetch.
        self._partial_pops.setdefault(effect.linked_id, set()).add(number)
        self._start_prefetch(effect.linked_id)
        self._push_pop(number, self._minimal_card(effect.linked_id, effect.queue), partial=True)

    def _push_pop(self, number: str, card: dict[str, Any], *, partial: bool) -> None:
        self._last_card[number] = card
        self.stats.pops += 1
        if partial:
            self.stats.partial_pops += 1
        self.hub.publish(agent_topic(number), {"type": "pop", "partial": partial,
                                               "linked_id": card["linked_id"], "card": card})

    async def load_card(self, linked_id: str, base: dict[str, Any]) -> dict[str, Any]:
        """The full pop card: ``base`` (from :meth:`_minimal_card`) plus the merchant, its
        terminals, open tasks, last calls and complaints, read in one transaction.

        Plain column selects, no ORM instances: 50 cards a second would otherwise leave
        thousands of reference cycles (rows, states, relationships) for the garbage
        collector, whose full passes stall the event loop the screen pops run on.
        """
        card = dict(base)
        caller = card.get("caller")
        number = card.get("merchant_number")
        m = MerchantRow
        columns = (m.id, m.merchant_number, m.name, m.address, m.district, m.contact_person,
                   m.business_hours, m.tags)
        async with self.store.transaction() as s:
            found: list[Any] = []
            if number:
                found = list(await s.execute(select(*columns)
                                             .where(m.merchant_number == number)))
            candidates: list[Any] = []
            if not found and caller:
                keys = caller_id_candidates(caller)
                if keys:
                    candidates = list(await s.execute(
                        select(*columns).where(m.id.in_(
                            select(MerchantPhoneRow.merchant_id)
                            .where(MerchantPhoneRow.phone.in_(keys)))).order_by(m.id)))
                found = candidates if len(candidates) == 1 else []
            ivr = card.get("ivr") or {}
            verified = ivr.get("verified")
            if verified is None:
                verified = bool(found) and (bool(number) or len(candidates) == 1)
            card["candidates"] = [
                {"id": c.id, "merchant_number": c.merchant_number, "name": c.name}
                for c in candidates] if len(candidates) > 1 else []
            if found:
                row = found[0]
                merchant_id = row.id
                phones = await s.scalars(
                    select(MerchantPhoneRow.phone).where(MerchantPhoneRow.merchant_id
                                                         == merchant_id)
                    .order_by(MerchantPhoneRow.position))
                card["merchant"] = {
                    "id": merchant_id, "merchant_number": row.merchant_number,
                    "name": row.name, "address": row.address, "district": row.district,
                    "contact_person": row.contact_person, "phones": list(phones),
                    "business_hours": row.business_hours, "tags": sorted(row.tags or ()),
                    "verified": bool(verified)}
                card["merchant_number"] = row.merchant_number
                t = TerminalRow
                card["terminals"] = [
                    {"serial": r.serial, "model": r.model, "status": r.status,
                     "install_date": r.install_date.isoformat() if r.install_date else None}
                    for r in await s.execute(
                        select(t.serial, t.model, t.status, t.install_date)
                        .where(t.merchant_id == merchant_id).order_by(t.serial))]
                k = TaskRow
                card["open_tasks"] = [
                    {"task_number": r.task_number, "kind": r.kind, "status": r.status,
                     "created_at": _iso(r.created_at), "appointment_at": _iso(r.appointment_at),
                     "engineer": r.engineer, "terminal_serial": r.terminal_serial,
                     "description": r.description}
                    for r in await s.execute(
                        select(k.task_number, k.kind, k.status, k.created_at, k.appointment_at,
                               k.engineer, k.terminal_serial, k.description)
                        .where(k.merchant_id == merchant_id,
                               k.status.in_([str(x) for x in OPEN_TASK_STATUSES]))
                        .order_by(k.created_at.desc(), k.id.desc()).limit(20))]
                c = CallRow
                card["recent_calls"] = [
                    {"linked_id": r.linked_id, "started_at": _iso(r.started_at),
                     "queue": r.queue, "agent_number": r.agent_number, "outcome": r.outcome,
                     "disposition": r.disposition, "intent": r.intent,
                     "talk_s": round(r.talk_s, 1) if r.talk_s is not None else None,
                     "note": r.wrapup_note}
                    for r in await s.execute(
                        select(c.linked_id, c.started_at, c.queue, c.agent_number, c.outcome,
                               c.disposition, c.intent, c.talk_s, c.wrapup_note)
                        .where(c.merchant_id == merchant_id, c.linked_id != linked_id)
                        .order_by(c.started_at.desc()).limit(self.config.recent_calls))]
                p = ComplaintRow
                card["complaints"] = [
                    {"id": r.id, "class": r.complaint_class, "description": r.description,
                     "result": r.result, "created_at": _iso(r.created_at),
                     "closed_at": _iso(r.closed_at), "escalation_tier": r.escalation_tier}
                    for r in await s.execute(
                        select(p.id, p.complaint_class, p.description, p.result, p.created_at,
                               p.closed_at, p.escalation_tier)
                        .where(p.merchant_id == merchant_id)
                        .order_by(p.created_at.desc()).limit(self.config.complaint_history))]
        card["complete"] = True
        return card

    # ------------------------------------------------------------------ desktop views

    def _agent_json(self, agent: agent_state.Agent | None, interface: str,
                    now: float) -> dict[str, Any]:
        if agent is None:
            return {"interface": interface, "status": AgentStatus.LOGGED_OUT.value,
                    "reason": None, "since": None, "queues": [], "paused": False,
                    "pause_reason": None, "linked_id": None, "state_seconds": {},
                    "pause_seconds": {}}
        return {
            "interface": interface, "status": agent.status.value,
            "reason": agent.state_reason, "since": agent.since,
            "queues": sorted(agent.memberships), "paused": agent.paused,
            "pause_reason": agent.pause_reason, "linked_id": agent.linked_id,
            "state_seconds": {k.value: round(v, 1)
                              for k, v in agent_state.state_seconds(agent, now).items()},
            "pause_seconds": {k: round(v, 1)
                              for k, v in agent_state.pause_seconds(agent, now).items()},
        }

    def snapshot(self, agent: AgentRecord) -> dict[str, Any]:
        """The desktop's live state of ``agent`` (no database query)."""
        now = self.clock()
        record = self.dispatcher.state.agents.agents.get(agent.interface)
        state = self._agent_json(record, agent.interface, now)
        number = agent.agent_number
        linked_id = self._talking.get(number)
        call: dict[str, Any] | None = None
        if linked_id is not None:
            call = {"linked_id": linked_id, "connected_at": self._connected_at.get(number),
                    "recording": linked_id in self._recording}
        return {
            "type": "hello", "now": now, "agent": state,
            "agent_number": number, "name": agent.name,
            "call": call, "card": self._last_card.get(number),
            "wrapup": self._pending_wrapup.get(number),
            "queues": list(self.config.queues),
            "pause_reasons": list(self.config.pause_reasons),
            "demo_phone": self.demo_phones is not None,
            # AmiClient.connected; a client without that attribute counts as connected
            "ami": self.ami is not None and bool(getattr(self.ami, "connected", True)),
        }

    async def desk_state(self, agent: AgentRecord) -> dict[str, Any]:
        """``snapshot`` plus today's figures (one database read): the WebSocket's hello."""
        self.remember_agent(agent)
        state = self.snapshot(agent)
        state["today"] = await self.today(agent.agent_number)
        return state

    async def _push_today(self, number: str) -> None:
        figures = await self.today(number)
        self.hub.publish(agent_topic(number), {"type": "today", "today": figures})

    async def today(self, agent_number: str, now: float | None = None) -> dict[str, Any]:
        """Today's (Asia/Shanghai) own figures from ``agent_state_log`` (our accounting, not
        Asterisk's): calls taken (entries into ``on_call``), talk time (seconds ``on_call``),
        pause time in total and per reason, and seconds per state."""
        now = self.clock() if now is None else now
        now_dt = _utc(now)
        midnight = now_dt.astimezone(self.tz).replace(hour=0, minute=0, second=0,
                                                      microsecond=0).astimezone(UTC)
        log = AgentStateLogRow
        columns = (log.at, log.new_state, log.reason)
        async with self.store.transaction() as s:
            before = (await s.execute(
                select(*columns).where(log.agent_number == agent_number, log.at < midnight)
                .order_by(log.at.desc(), log.id.desc()).limit(1))).first()
            rows = list(await s.execute(
                select(*columns).where(log.agent_number == agent_number, log.at >= midnight)
                .order_by(log.at, log.id)))
        states, pauses = _accumulate(before, rows, midnight, now_dt)
        calls = sum(1 for r in rows if r.new_state == AgentStatus.ON_CALL.value)
        return {"calls": calls, "talk_s": round(states.get(AgentStatus.ON_CALL.value, 0.0), 1),
                "pause_s": round(sum(pauses.values()), 1),
                "pause_by_reason": {k: round(v, 1) for k, v in pauses.items()},
                "state_seconds": {k: round(v, 1) for k, v in states.items()},
                "since": midnight.isoformat()}

    # ------------------------------------------------------------------ agent actions

    def _require_ami(self) -> AmiActions:
        if self.ami is None:
            raise CtiUnavailable("no AMI connection is configured")
        return self.ami

    def _check(self, agent: AgentRecord, action: AgentAction) -> agent_state.Agent | None:
        self.remember_agent(agent)
        record = self.dispatcher.state.agents.agents.get(agent.interface)
        check_action(record, action, acw_reasons=self.dispatcher.state.agents.config.acw_reasons)
        return record

    async def _send(self, action: str, headers: list[tuple[str, str]],
                    field_name: str) -> ActionResult:
        ami = self._require_ami()
        try:
            result = await ami.send(action, headers, timeout=self.config.action_timeout)
        except AmiEncodeError as exc:
            raise ValidationError(field_name, "contains characters not allowed") from exc
        return result.raise_for_error()

    async def login(self, agent: AgentRecord) -> dict[str, Any]:
        """Log ``agent`` in to its queues: one ``QueueAdd`` per queue (dynamic member).

        A queue that answers ``Already there`` counts as done (the member came back from
        astdb). Raises AgentActionError ``already_logged_in``.
        """
        self._check(agent, AgentAction.LOGIN)
        queues = [q for q in agent.queues if q] or [self.config.queues[0]]
        ami = self._require_ami()
        added: list[str] = []
        for queue in queues:
            headers = [("Queue", queue), ("Interface", agent.interface),
                       ("MemberName", _clean_label(f"{agent.agent_number} {agent.name}")),
                       ("Penalty", "0"), ("Paused", "false")]
            match = _LOCAL_EXT.match(agent.interface)
            if match and self.config.state_interface:
                headers.append(("StateInterface",
                                self.config.state_interface.format(ext=match.group(1))))
            try:
                result = await ami.send("QueueAdd", headers, timeout=self.config.action_timeout)
                result.raise_for_error()
            except AmiEncodeError as exc:
                raise ValidationError("interface", "contains characters not allowed") from exc
            except AmiActionError as exc:
                if "Already there" not in exc.message:
                    raise
            added.append(queue)
        logger.info("agent %s: logged in to %s", agent.agent_number, ", ".join(added))
        return {"queues": added}

    async def logout(self, agent: AgentRecord) -> dict[str, Any]:
        """``QueueRemove`` from every queue the agent is in (``Not there`` counts as done).

        Raises AgentActionError ``not_logged_in`` / ``agent_busy``.
        """
        record = self._check(agent, AgentAction.LOGOUT)
        queues = sorted(record.memberships) if record is not None else list(agent.queues)
        ami = self._require_ami()
        for queue in queues:
            try:
                result = await ami.send("QueueRemove",
                                        [("Queue", queue), ("Interface", agent.interface)],
                                        timeout=self.config.action_timeout)
                result.raise_for_error()
            except AmiEncodeError as exc:
                raise ValidationError("interface", "contains characters not allowed") from exc
            except AmiActionError as exc:
                if "Not there" not in exc.message:
                    raise
        return {"queues": queues}

    async def pause(self, agent: AgentRecord, reason: str) -> dict[str, Any]:
        """``QueuePause`` in every queue (no ``Queue:``) with ``Reason: <code>``.

        Raises ValidationError for a reason code not in the configured list, AgentActionError
        ``not_logged_in`` / ``already_paused``.
        """
        if reason not in self.config.pause_reasons:
            raise ValidationError("reason", f"unknown pause reason {reason[:40]!r}")
        self._check(agent, AgentAction.PAUSE)
        await self._send("QueuePause", [("Interface", agent.interface), ("Paused", "true"),
                                        ("Reason", reason)], "reason")
        return {"paused": True, "reason": reason}

    async def resume(self, agent: AgentRecord) -> dict[str, Any]:
        """``QueuePause Paused: false`` in every queue. Raises AgentActionError
        ``not_logged_in`` / ``not_paused``."""
        self._check(agent, AgentAction.RESUME)
        await self._send("QueuePause", [("Interface", agent.interface), ("Paused", "false")],
                         "interface")
        return {"paused": False}

    async def dial(self, agent: AgentRecord, number: str, *, idempotency_key: str,
                   label: str = "") -> dict[str, Any]:
        """Click to dial: ``Originate`` from the agent's phone (``Channel`` = its interface)
        to ``number`` in ``dial_context``, ``Async: true``.

        The same ``idempotency_key`` never dials twice: a second request (double click, a
        retry after a timeout) waits for and returns the first one's result, and the key goes
        to the AMI client, which does not re-send it after a reconnect. Raises
        ValidationError (``number``, ``idempotency_key``), AgentActionError
        ``not_available``, and the AMI errors.
        """
        if not _KEY.match(idempotency_key):
            raise ValidationError("idempotency_key", "8-80 letters, digits or . _ : -")
        existing = self._dials.get(idempotency_key)
        if existing is not None:
            if existing.agent_number != agent.agent_number:
                raise ValidationError("idempotency_key", "this key belongs to another request")
            return dict(await self._dial_reply(existing), repeated=True)
        digits = normalise_phone(number)  # raises ValidationError("phone", …)
        self._check(agent, AgentAction.DIAL)
        ami = self._require_ami()
        caller_id = f'"{_clean_label(label)}" <{digits}>' if label.strip() else f"<{digits}>"
        variables = {"CC_AGENT": agent.agent_number, "CC_DIAL_KEY": idempotency_key}
        topic = agent_topic(agent.agent_number)

        async def run() -> dict[str, Any]:
            try:
                result = await ami.originate(
                    agent.interface, context=self.config.dial_context, exten=digits,
                    priority=1, caller_id=caller_id, timeout_ms=self.config.dial_timeout_ms,
                    variables=variables, idempotency_key=idempotency_key)
                result.raise_for_error()
            except AmiEncodeError as exc:
                raise ValidationError("number", "contains characters not allowed") from exc
            except Exception as exc:
                error_id = ("ami_refused" if isinstance(exc, AmiActionError) else
                            "ami_timeout" if isinstance(exc, TimeoutError) else
                            "ami_unavailable")
                self.hub.publish(topic, {"type": "dial", "status": "failed", "number": digits,
                                         "key": idempotency_key, "error_id": error_id})
                raise
            logger.info("agent %s: click-to-dial %s answered (key %s)", agent.agent_number,
                        digits, idempotency_key)
            self.hub.publish(topic, {"type": "dial", "status": "answered", "number": digits,
                                     "key": idempotency_key})
            return {"number": digits, "status": "answered", "action_id": result.action_id}

        # The key stays used whatever happens: after a refusal a retry gets the same answer,
        # and after a timeout or a disconnect nobody knows whether Asterisk dialled, so only
        # the agent can decide to dial again (the desktop then makes a new key).
        task = asyncio.get_running_loop().create_task(run(), name=f"dial {idempotency_key}")
        task.add_done_callback(_retrieve)
        dial = _Dial(agent.agent_number, digits, self.clock(), task)
        self._dials[idempotency_key] = dial
        return await self._dial_reply(dial)

    async def _dial_reply(self, dial: _Dial) -> dict[str, Any]:
        """The Originate's result if it comes within ``dial_reply_wait`` (a refusal, a
        disconnect), else ``status: dialling``: the agent's phone rings, and the answer or
        failure reaches the desktop as a ``dial`` message."""
        done, _ = await asyncio.wait({dial.task}, timeout=self.config.dial_reply_wait)
        if dial.task in done:
            return dict(dial.task.result())
        return {"number": dial.number, "status": "dialling"}

    def _expire_dials(self, now: float) -> None:
        ttl = self.config.dial_key_ttl_s
        for key in [k for k, d in self._dials.items()
                    if now - d.created > ttl and d.task.done()]:
            self._dials.pop(key, None)

    def _current_call(self, agent: AgentRecord) -> tuple[str, Call, str | None]:
        record = self.dispatcher.state.agents.agents.get(agent.interface)
        linked_id = record.linked_id if record is not None else None
        call = self._call(linked_id) if linked_id else None
        if record is None or call is None or linked_id is None:
            raise AgentActionError("not_on_call", "the agent has no call")
        leg = record.leg_unique_id
        channel = self._legs.get(linked_id, {}).get(leg) if leg else None
        return linked_id, call, channel

    async def transfer(self, agent: AgentRecord, target: str, *,
                       attended: bool = False) -> dict[str, Any]:
        """Blind: ``Redirect`` the caller's channel to ``transfer_context``/<queue>, or to
        ``extension_context``/<extension>. Attended: ``Atxfer`` on the agent's channel to an
        extension. Raises ValidationError (``target``), AgentActionError ``not_on_call``."""
        target = target.strip()
        is_queue = target in self.config.queues
        if not is_queue and not _EXTENSION.match(target):
            raise ValidationError("target", "a queue name or an extension (digits)")
        if attended and is_queue:
            raise ValidationError("target", "an attended transfer goes to an extension")
        self._check(agent, AgentAction.TRANSFER)
        linked_id, call, agent_channel = self._current_call(agent)
        if attended:
            if agent_channel is None:
                raise AgentActionError("no_agent_channel", "the agent's channel is not known")
            await self._send("Atxfer", [("Channel", agent_channel), ("Exten", target),
                                        ("Context", self.config.extension_context)], "target")
            return {"linked_id": linked_id, "mode": "attended", "target": target}
        if not call.caller_channel:
            raise AgentActionError("no_caller_channel", "the caller's channel is not known")
        context = self.config.transfer_context if is_queue else self.config.extension_context
        await self._send("Redirect", [("Channel", call.caller_channel), ("Context", context),
                                      ("Exten", target), ("Priority", "1")], "target")
        return {"linked_id": linked_id, "mode": "blind", "target": target}

    async def hangup(self, agent: AgentRecord) -> dict[str, Any]:
        """``Hangup`` the agent's leg of its call. Raises AgentActionError ``not_on_call``."""
        self._check(agent, AgentAction.HANGUP)
        linked_id, _call, channel = self._current_call(agent)
        if channel is None:
            raise AgentActionError("no_agent_channel", "the agent's channel is not known")
        await self._send("Hangup", [("Channel", channel), ("Cause", "16")], "channel")
        return {"linked_id": linked_id}

    def phone(self, agent: AgentRecord, what: str) -> dict[str, Any]:
        """Demo mode: answer or hang up the simulated desk phone of ``agent``.

        Raises CtiUnavailable without demo phones, AgentActionError ``phone_idle`` when there
        is nothing to answer or hang up.
        """
        if self.demo_phones is None:
            raise CtiUnavailable("there is no demo phone (a real PBX is configured)")
        self.remember_agent(agent)
        done = (self.demo_phones.answer(agent.interface) if what == "answer"
                else self.demo_phones.hangup(agent.interface))
        if not done:
            raise AgentActionError("phone_idle", f"nothing to {what} on the phone")
        return {"phone": what}

    # ------------------------------------------------------------------ writer

    def _enqueue(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats.dropped_writes += 1
            if self.stats.dropped_writes % 1000 == 1:
                logger.error("CTI writer backlog full (%d): dropping %s", self._queue.qsize(),
                             type(job).__name__)
            if isinstance(job, _AfterCommit):
                job.callback()
            return

    def _after_commit(self, callback: Callable[[], None]) -> None:
        if self._writer is None:
            callback()
        else:
            self._enqueue(_AfterCommit(callback))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("CTI background job failed")

        task = asyncio.get_running_loop().create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def backlog(self) -> int:
        """Writes queued and not yet committed."""
        return self._queue.qsize()

    async def _write_loop(self) -> None:
        while True:
            job = await self._queue.get()
            if not self._hurry.is_set():
                # Linger a moment so that one transaction carries many writes: far fewer
                # round trips to the database thread, which the AMI path shares the CPU with.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self.config.writer_linger_s)
            self._hurry.clear()
            batch = [job]
            while len(batch) < self.config.writer_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Job]) -> None:
        """Carry out ``batch`` in order: runs of row writes share one transaction."""
        rows: list[_RowJob] = []
        for job in batch:
            if isinstance(job, _CallWrite | _EventWrite | _AgentLogWrite):
                rows.append(job)
                continue
            if rows:
                await self._write_rows(rows)
                rows = []
            if isinstance(job, _AfterCommit):
                try:
                    job.callback()
                except Exception:
                    logger.exception("CTI after-commit callback failed")
            else:
                await self._write_one(job)
        if rows:
            await self._write_rows(rows)

    async def _write_rows(self, jobs: list[_RowJob]) -> None:
        try:
            async with self.store.transaction() as s:
                await _apply_rows(s, jobs)
            self.stats.writes += len(jobs)
        except Exception:
            # One bad job (or a row the IVR inserted meanwhile) must not lose the others:
            # write them one by one, each with a few retries.
            logger.warning("CTI writer: batch of %d failed; writing one by one", len(jobs),
                           exc_info=True)
            for job in jobs:
                await self._write_one(job)

    async def _write_one(self, job: _Job, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            try:
                if isinstance(job, _RecordingRegister):
                    await self.recordings.register(job.linked_id, job.path, job.at)
                elif isinstance(job, _RecordingFinish):
                    await self.recordings.finish(job.linked_id, job.at)
                elif isinstance(job, _CallWrite | _EventWrite | _AgentLogWrite):
                    async with self.store.transaction() as s:
                        await _apply_rows(s, [job])
                self.stats.writes += 1
                return
            except (IntegrityError, OperationalError, OSError, CallcenterError) as exc:
                if attempt == attempts:
                    self.stats.write_failures += 1
                    logger.error("CTI writer: giving up %r after %d attempts: %s", job,
                                 attempts, exc)
                    return
                await asyncio.sleep(0.05 * 4 ** attempt)
            except Exception:
                self.stats.write_failures += 1
                logger.exception("CTI writer: %r failed", job)
                return

    # ------------------------------------------------------------------ health

    def health(self) -> dict[str, Any]:
        """Counters for ``/healthz`` (merged with the AMI client's own health)."""
        board = self.dispatcher.state
        return {
            "calls": len(board.calls.calls),
            "agents_logged_in": sum(1 for a in board.agents.agents.values()
                                    if a.status is not AgentStatus.LOGGED_OUT),
            "events": self.stats.messages, "pops": self.stats.pops,
            "partial_pops": self.stats.partial_pops, "write_backlog": self.backlog,
            "write_failures": self.stats.write_failures,
            "dropped_writes": self.stats.dropped_writes,
        }


# --------------------------------------------------------------------------- rows


_NEW_CALL: Final = {"unique_id": "", "caller_number": "", "merchant_id": None,
                    "merchant_verified": False, "ivr_path": "", "intent": "", "lang": "",
                    "queue": "", "priority": 0, "agent_number": "", "queued_at": None,
                    "answered_at": None, "ended_at": None, "wait_s": None, "talk_s": None,
                    "outcome": None, "disposition": None, "wrapup_note": "",
                    "satisfaction": None}
_FILLABLE: Final = ("unique_id", "caller_number", "merchant_id", "ivr_path", "intent", "lang",
                    "queued_at", "answered_at")


async def _apply_rows(s: AsyncSession, jobs: list[_RowJob]) -> None:
    """Apply row jobs in order inside one transaction, as plain statements: one SELECT of
    the calls concerned, one INSERT for new calls, one UPDATE per changed call, one
    multi-row INSERT each for timeline and state-log rows. (No ORM instances: they would
    leave reference cycles for the garbage collector at every batch.)"""
    ids = {j.linked_id for j in jobs if isinstance(j, _CallWrite)}
    current: dict[str, dict[str, Any]] = {}
    if ids:
        c = CallRow
        found = await s.execute(select(c.linked_id, *(getattr(c, n) for n in _FILLABLE))
                                .where(c.linked_id.in_(ids)))
        current = {r.linked_id: dict(r._mapping) for r in found}
    new: dict[str, dict[str, Any]] = {}
    changed: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    for job in jobs:
        if isinstance(job, _CallWrite):
            row = current.get(job.linked_id)
            if row is None:
                row = current[job.linked_id] = dict(_NEW_CALL, linked_id=job.linked_id,
                                                    started_at=job.started_at)
                new[job.linked_id] = row
            target = row if job.linked_id in new else changed.setdefault(job.linked_id, {})
            for name, value in job.fill:
                if row.get(name) in (None, ""):
                    row[name] = value
                    target[name] = value
            for name, value in job.values:
                row[name] = value
                target[name] = value
        elif isinstance(job, _EventWrite):
            events.append({"linked_id": job.linked_id, "at": job.at, "kind": job.kind,
                           "data": dict(job.data)})
        else:
            states.append({"agent_number": job.agent_number, "interface": job.interface,
                           "at": job.at, "old_state": job.old_state,
                           "new_state": job.new_state, "reason": job.reason,
                           "cause": job.cause})
    if new:
        await s.execute(insert(CallRow), list(new.values()))
    for linked_id, values in changed.items():
        if values:
            await s.execute(update(CallRow).where(CallRow.linked_id == linked_id)
                            .values(**values))
    # Rows of one table keep their order (ids ascend with it); the tables do not refer to
    # each other, so their relative order does not matter.
    if events:
        await s.execute(insert(CallEventRow), events)
    if states:
        await s.execute(insert(AgentStateLogRow), states)


def _accumulate(before: Any, rows: list[Any], start: datetime, end: datetime
                ) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per state and per pause reason between ``start`` and ``end`` from the log
    (rows with ``at``, ``new_state``, ``reason``; ``before`` the last one before ``start``)."""
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


_EFFECTS: Final[Mapping[type[Any], OnEffect]] = {
    CallCreated: CtiService._on_call_created,
    CallQueued: CtiService._on_call_queued,
    PrefetchMerchant: CtiService._on_prefetch,
    ScreenPop: CtiService._on_screen_pop,
    CallConnected: CtiService._on_call_connected,
    CallEnded: CtiService._on_call_ended,
    CallEventLogged: CtiService._on_event_logged,
    RecordingStarted: CtiService._on_recording_started,
    RecordingStopped: CtiService._on_recording_stopped,
    AgentTransition: CtiService._on_agent_transition,
}
"""Effect type -> how the service carries it out (the adapter's one table)."""
