"""CTI use cases: the facade the AMI client, the web layer and the wiring talk to.

``CtiService`` owns the :class:`~cti.dispatcher.Dispatcher` (the routing table; the pure
machines' state) and joins the parts, each in the module named for it:

====================  ====================================================================
module                what
====================  ====================================================================
``cti.effects``       the effect table: how each effect of the machines is carried out
``cti.call_log``      the ordered write-behind writer of the call log (never awaited on the
                      AMI path)
``cti.screen_pop``    the pop card: prefetch, cache, the typed card and its JSON
``cti.agent_actions`` handler -> rule check -> the one AMI action; dial idempotency
``cti.presentation``  what each desktop shows: the hello snapshot, agent JSON, today's figures
``cti.ports``         what the bridge needs from storage, AMI, hub and demo phones
====================  ====================================================================

The AMI client calls ``on_message(msg, received_at)`` for every event (synchronously, from its
read loop); the service feeds the dispatcher and hands the effects to the effect table. After
a reconnect the dispatcher's resync adopts the calls in progress; their rows are updated,
never duplicated.

Errors raised to the web layer: ``AgentActionError`` (refused by the rules; stable
``error_id``), ``ValidationError`` (bad input), ``NotFound``, ``CtiUnavailable`` (no AMI
connection) and the AMI errors of ``cti.errors`` (``AmiActionError``, ``AmiTimeout``,
``AmiDisconnected``); ``cti.web`` maps each to an HTTP status once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.domain import Agent as AgentRecord
from callcenter.topics import Publisher, agent_topic
from cti import agent_state
from cti.agent_actions import AgentActions, AgentRoster
from cti.agent_state import AgentConfig, AgentStatus, AgentTransition, WrapUpHold
from cti.ami_protocol import AmiMessage
from cti.call_log import CallLogWriter
from cti.call_state import Call, CallConfig
from cti.config import CtiConfig
from cti.dispatcher import Dispatcher, Effect
from cti.effects import EffectRunner
from cti.errors import AmiDisconnected, AmiTimeout
from cti.events import AmiEvent
from cti.ports import (
    AmiActions,
    CtiDirectory,
    DemoPhonePort,
    UnsavedWrapup,
    UnsavedWrapupStore,
)
from cti.presentation import Desks, agent_json, midnight_before, snapshot_json, today_json
from cti.screen_pop import ScreenPops

__all__ = ["CtiService"]

logger = logging.getLogger(__name__)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(slots=True)
class _Ingest:
    messages: int = 0
    last_event_at: float | None = None


class CtiService:
    """The CTI bridge's use cases (see the module docstring).

    ``directory`` is the storage (``callcenter.cti_directory.StoreCtiDirectory``); ``hub`` the
    desktops' WebSocket hub. ``on_message`` is synchronous and never awaits: call it from the
    AMI read loop. ``start`` launches the writer and the 1-second tick; ``stop`` flushes the
    writer. Agent actions are coroutines that raise the errors listed in the module docstring.
    """

    def __init__(
        self,
        directory: CtiDirectory,
        hub: Publisher,
        *,
        config: CtiConfig | None = None,
        call_config: CallConfig | None = None,
        agent_config: AgentConfig | None = None,
        clock: Callable[[], float] = time.time,
        demo_phones: DemoPhonePort | None = None,
        wrapups: UnsavedWrapupStore | None = None,
    ) -> None:
        self.directory = directory
        # unsaved wrap-ups and held after-call work kept across restarts (agent_state rule 15)
        self.wrapups = wrapups
        self._unsaved: dict[str, UnsavedWrapup] = {}  # linked id -> the row as stored
        self._holds_to_restore: dict[str, tuple[str, float]] = {}
        self._wrapup_writes: asyncio.Queue[Coroutine[Any, Any, None]] | None = None
        self._wrapup_writer: asyncio.Task[None] | None = None
        self.hub = hub
        self.config = config = config or CtiConfig()
        self.clock = clock
        self.tz = ZoneInfo(config.timezone)
        self.dispatcher = Dispatcher(call_config, agent_config)
        self.ingest = _Ingest()
        self.roster = AgentRoster(directory, clock)
        self.writer = CallLogWriter(directory, batch=config.writer_batch,
                                    linger_s=config.writer_linger_s,
                                    queue_max=config.writer_queue_max)
        self.desks = Desks()
        self.pops = ScreenPops(
            directory, hub, call_of=self._call,
            on_call=lambda number, linked_id: self.effects.agent_on(number, linked_id),
            on_loaded=lambda linked_id, card: self.effects.card_loaded(linked_id, card),
            recent_calls=config.recent_calls, complaint_history=config.complaint_history,
            concurrency=config.prefetch_concurrency)
        self.effects = EffectRunner(self.dispatcher.state, writer=self.writer, pops=self.pops,
                                    desks=self.desks, roster=self.roster, hub=hub, clock=clock,
                                    spawn=self._spawn, today=self.today)
        self.actions = AgentActions(self.dispatcher.state, self.roster, hub, config,
                                    clock=clock, demo_phones=demo_phones)
        self.actions.on_dialled = self.on_event
        self.effects.hold_member = self.actions.hold_member
        if wrapups is not None:
            self.effects.listeners.append(self._keep_wrapups)
        self._ticker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # the last resync: ok, when, and which lists failed (``health()``)
        self.last_resync: dict[str, Any] = {"ok": True, "at": None, "failed": {}}

    # ------------------------------------------------------------------ lifecycle

    @property
    def ami(self) -> AmiActions | None:
        """The AMI connection agent actions and resyncs use (None: not configured)."""
        return self.actions.ami

    @property
    def demo_phones(self) -> DemoPhonePort | None:
        """The simulated desk phones (demo mode), else None."""
        return self.actions.demo_phones

    @demo_phones.setter
    def demo_phones(self, phones: DemoPhonePort | None) -> None:
        self.actions.demo_phones = phones

    def attach(self, ami: AmiActions | None) -> None:
        """Use ``ami`` for agent actions and resyncs (None: actions raise CtiUnavailable)."""
        self.actions.ami = ami

    async def start(self) -> None:
        """Load the agents table, start the writer task and the 1-second tick."""
        await self.refresh_agents()
        self.writer.start()
        if self.wrapups is not None and self._wrapup_writer is None:
            await self.restore_unsaved()
            self._wrapup_writes = asyncio.Queue()
            self._wrapup_writer = asyncio.create_task(self._write_wrapups(),
                                                      name="cti-unsaved-wrapups")
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_loop(), name="cti-tick")

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Stop ticking, write what is queued (up to ``flush_timeout`` s), stop the writer."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for task in [*self.pops.loading, *self._background]:
            task.cancel()
        await self.writer.stop(flush_timeout)
        if self._wrapup_writer is not None and self._wrapup_writes is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wrapup_writes.join(), flush_timeout)
            self._wrapup_writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._wrapup_writer
            self._wrapup_writer = None

    async def flush(self) -> None:
        """Wait until every write queued so far is committed (or given up)."""
        await self.writer.flush()

    async def settle(self) -> None:
        """Wait for running card loads and background pushes, then ``flush`` (tests, bench)."""
        while self.pops.loading or self._background:
            await asyncio.gather(*self.pops.loading, *self._background,
                                 return_exceptions=True)
        await self.flush()

    @property
    def backlog(self) -> int:
        """Writes queued and not yet committed."""
        return self.writer.backlog

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.clock()
            try:
                self.tick(now)
                if now - self.roster.loaded_at >= self.config.agent_refresh_s:
                    await self.refresh_agents()
                self.actions.expire_dials(now)
            except Exception:  # the tick must survive a bad effect or a database hiccup
                logger.exception("CTI tick failed")

    def tick(self, now: float | None = None) -> None:
        """Run the dispatcher's timers (wrap-up ends) and carry out their effects."""
        now = self.clock() if now is None else now
        self.apply(self.dispatcher.tick(now), now)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
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

    # ------------------------------------------------------------------ agents

    async def refresh_agents(self) -> None:
        """Reload interface → agent number from the agents table (never on the ring path)."""
        await self.roster.refresh()

    def remember_agent(self, agent: AgentRecord) -> None:
        """Make sure ``agent`` is known (the desktop looked it up before an action)."""
        self.roster.remember(agent)

    def agent_number_of(self, interface: str) -> str | None:
        """Agent number (工号) of a queue-member interface, from the cached agents table."""
        return self.roster.number_of(interface)

    # ------------------------------------------------------------------ AMI ingest

    def on_message(self, message: AmiMessage, received_at: float) -> None:
        """Feed one AMI event to the dispatcher and carry its effects out. Never awaits."""
        ingest = self.ingest
        ingest.messages += 1
        ingest.last_event_at = received_at
        effects = self.dispatcher.handle_message(message, received_at)
        if effects:
            self.effects.apply(effects, received_at)

    def on_event(self, event: AmiEvent, now: float) -> None:
        """Feed one event the bridge itself observed (``OutboundDialled``) to the machines."""
        effects = self.dispatcher.handle(event, now)
        if effects:
            self.effects.apply(effects, now)

    async def on_connected(self) -> None:
        """The AMI client (re)connected and logged in: resync from Asterisk's lists."""
        await self.resync()

    async def resync(self) -> None:
        """Rebuild calls and agents from Status + QueueStatus + QueueSummary.

        Calls in progress are adopted (rows updated, not duplicated); calls that vanished end,
        at the instant the AMI connection was lost if they vanished during an outage. Each list
        counts on its own: a refused or failed one leaves what it would rebuild as it is, and
        the resync is reported failed in ``health()`` (``/healthz`` then says ``degraded``)
        until one reads all three. Raises ``AmiTimeout``/``AmiDisconnected`` after applying
        what was read when a list timed out or the connection dropped (the AMI client
        reconnects on a timeout).
        """
        if self.ami is None:
            return
        snapshot = await self.ami.resync_snapshot()
        now = self.clock()
        effects = self.dispatcher.resync(now, channels=snapshot.channels,
                                         queue_status=snapshot.queue_status,
                                         queue_summary=snapshot.queue_summary,
                                         lost_at=snapshot.lost_at)
        self.apply(effects, now)
        if self._holds_to_restore and snapshot.queue_status is not None:
            holds, self._holds_to_restore = self._holds_to_restore, {}
            self.apply(self.dispatcher.restore_holds(holds, now), now)
        failed = {action: f"{type(exc).__name__}: {exc}" for action, exc in snapshot.failures}
        self.last_resync = {"ok": not failed, "at": now, "failed": failed}
        for action, why in failed.items():
            logger.error("CTI resync: %s could not be read (%s); what it lists stays as it "
                         "was until the next resync", action, why)
        for _action, exc in snapshot.failures:
            if isinstance(exc, AmiTimeout | AmiDisconnected):
                raise exc

    def desk_opened(self, agent: AgentRecord) -> None:
        """A desk (browser) of ``agent`` connected (``cti.agent_state`` rule 13)."""
        agent_state.desk_opened(self.dispatcher.state.agents, agent.interface, agent.name,
                                self.clock())

    def desk_closed(self, agent: AgentRecord) -> None:
        """A desk of ``agent`` closed: with none left for the grace, the agent is paused."""
        agent_state.desk_closed(self.dispatcher.state.agents, agent.interface, self.clock())

    def wrapup_saved(self, linked_id: str) -> None:
        """The wrap-up of ``linked_id`` was saved (``BusinessService.on_wrapped_up``): its agent
        leaves held after-call work (``cti.agent_state`` rule 12) and the desk's list of
        unsaved wrap-ups drops it."""
        now = self.clock()
        if self.wrapups is not None and self._unsaved.pop(linked_id, None) is not None:
            self._keep(self.wrapups.drop_unsaved_wrapup(linked_id))
        for number in [n for n, ids in self.desks.unsaved.items() if linked_id in ids]:
            self.desks.saved(number, linked_id)
            self.hub.publish(agent_topic(number), {"type": "wrapup_saved",
                                                   "linked_id": linked_id})
        self.apply(self.dispatcher.wrap_up_saved(linked_id, now), now)

    # ------------------------------------------------------------------ unsaved wrap-ups

    async def restore_unsaved(self) -> None:
        """Start-up: the unsaved wrap-ups stored before a restart are listed on the desks
        again, and the held after-call work among them waits for the first resync
        (``agent_state`` rule 15)."""
        assert self.wrapups is not None
        items = await self.wrapups.unsaved_wrapups()
        for item in items:
            self._unsaved[item.linked_id] = item
            self.desks.wrapup_due(item.agent_number, item.linked_id)
            if item.held_until is not None:
                self._holds_to_restore[item.interface] = (item.linked_id,
                                                          item.held_until.timestamp())
        if items:
            logger.info("CTI: %d unsaved wrap-ups restored (%d agents held in after-call "
                        "work)", len(items), len(self._holds_to_restore))

    def _keep(self, write: Coroutine[Any, Any, None]) -> None:
        if self._wrapup_writes is None:
            write.close()  # not started (a synchronous test): nothing to keep
            return
        self._wrapup_writes.put_nowait(write)

    async def _write_wrapups(self) -> None:
        """The unsaved wrap-up writes, one at a time in order (a save right after a call
        must not be overtaken by the call's own insert)."""
        assert self._wrapup_writes is not None
        while True:
            write = await self._wrapup_writes.get()
            try:
                await write
            except Exception:
                logger.exception("CTI: an unsaved wrap-up could not be stored")
            finally:
                self._wrapup_writes.task_done()

    def _keep_wrapups(self, effects: Sequence[Effect], now: float) -> None:
        """Effect listener: store each wrap-up that became due, and the end of its hold."""
        assert self.wrapups is not None
        for effect in effects:
            if isinstance(effect, AgentTransition):
                if effect.old is not AgentStatus.ON_CALL or effect.new is AgentStatus.ON_CALL:
                    continue
                number = self.roster.number_of(effect.interface)
                linked_id = self.desks.pending_wrapup.get(number) if number else None
                if number is None or linked_id is None:
                    continue
                agent = self.dispatcher.state.agents.agents.get(effect.interface)
                until = (agent.wrap_up_until if agent is not None and agent.held
                         and agent.linked_id == linked_id else None)
                item = UnsavedWrapup(number, linked_id, effect.interface, _utc(effect.at),
                                     None if until is None else _utc(until))
            elif isinstance(effect, WrapUpHold) and not effect.hold and effect.linked_id:
                found = self._unsaved.get(effect.linked_id)
                if found is None or found.held_until is None:
                    continue
                item = replace(found, held_until=None)
            else:
                continue
            self._unsaved[item.linked_id] = item
            self._keep(self.wrapups.keep_unsaved_wrapup(item))

    def apply(self, effects: Iterable[Effect], now: float) -> None:
        """Carry out effects (the table ``cti.effects.EFFECTS``)."""
        self.effects.apply(effects, now)

    def _call(self, linked_id: str) -> Call | None:
        return self.dispatcher.state.calls.calls.get(linked_id)

    # ------------------------------------------------------------------ desktop views

    def snapshot(self, agent: AgentRecord) -> dict[str, Any]:
        """The desktop's live state of ``agent`` (no database query)."""
        now = self.clock()
        record = self.dispatcher.state.agents.agents.get(agent.interface)
        number = agent.agent_number
        return snapshot_json(
            now=now, agent=agent_json(record, agent.interface, now), agent_number=number,
            name=agent.name, call=self.desks.call_json(number),
            card=self.pops.last_card.get(number), wrapup=self.desks.pending_wrapup.get(number),
            queues=self.config.queues, pause_reasons=self.config.pause_reasons,
            demo_phone=self.demo_phones is not None,
            unsaved=self.desks.unsaved.get(number, ()),
            # AmiClient.connected; a client without that attribute counts as connected
            ami=self.ami is not None and bool(getattr(self.ami, "connected", True)))

    async def desk_state(self, agent: AgentRecord) -> dict[str, Any]:
        """``snapshot`` plus today's figures (one database read): the WebSocket's hello."""
        self.remember_agent(agent)
        state = self.snapshot(agent)
        state["today"] = await self.today(agent.agent_number)
        return state

    async def today(self, agent_number: str, now: float | None = None) -> dict[str, Any]:
        """Today's (Asia/Shanghai) own figures from the agent state log (our accounting, not
        Asterisk's): calls taken, talk time, pause time in total and per reason, and seconds
        per state (``cti.presentation.today_json``)."""
        now_dt = datetime.fromtimestamp(self.clock() if now is None else now, UTC)
        midnight = midnight_before(now_dt, self.tz)
        before, rows = await self.directory.state_log(agent_number, midnight)
        return today_json(before, rows, midnight, now_dt)

    # ------------------------------------------------------------------ agent actions

    async def login(self, agent: AgentRecord) -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.login``."""
        return await self.actions.login(agent)

    async def logout(self, agent: AgentRecord) -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.logout``."""
        return await self.actions.logout(agent)

    async def pause(self, agent: AgentRecord, reason: str) -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.pause``."""
        return await self.actions.pause(agent, reason)

    async def resume(self, agent: AgentRecord) -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.resume``."""
        return await self.actions.resume(agent)

    async def dial(self, agent: AgentRecord, number: str, *, idempotency_key: str,
                   label: str = "") -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.dial``."""
        return await self.actions.dial(agent, number, idempotency_key=idempotency_key,
                                       label=label)

    async def transfer(self, agent: AgentRecord, target: str, *,
                       attended: bool = False) -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.transfer``."""
        return await self.actions.transfer(agent, target, attended=attended)

    async def hangup(self, agent: AgentRecord) -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.hangup``."""
        return await self.actions.hangup(agent)

    def phone(self, agent: AgentRecord, what: str) -> dict[str, Any]:
        """``cti.agent_actions.AgentActions.phone``."""
        return self.actions.phone(agent, what)

    # ------------------------------------------------------------------ health

    def health(self) -> dict[str, Any]:
        """Counters for ``/healthz`` (merged with the AMI client's own health); ``resync``
        is the last resync's ``ok``, ``at`` and ``failed`` lists (action -> error)."""
        board = self.dispatcher.state
        return {
            "calls": len(board.calls.calls),
            "agents_logged_in": sum(1 for a in board.agents.agents.values()
                                    if a.status is not AgentStatus.LOGGED_OUT),
            "events": self.ingest.messages, "pops": self.pops.stats.pops,
            "partial_pops": self.pops.stats.partial_pops, "write_backlog": self.backlog,
            "write_failures": self.writer.stats.write_failures,
            "dropped_writes": self.writer.stats.dropped_writes,
            "resync": dict(self.last_resync),
        }
