"""Supervision use cases: the live wallboard (and, in ``supervision.monitor``, listening in).

The wallboard reads the CTI's own machines (``CtiService.dispatcher.state``) and is told every
effect batch the CTI carries out (``EffectRunner.listeners``): calls that end are counted into
the day's tally (``supervision.wallboard.add_call``), anything else only marks the board as
changed. The board is pushed on ``WALLBOARD_TOPIC`` shortly after a change (coalesced, at most
every ``push_delay_s``) and every ``refresh_s`` anyway (waits and times in state grow);
alerts are pushed the moment they appear (``{"type": "alert", ...}``), once each.

Restart: ``start`` loads the day's ended calls from the stored records, so the day's figures
are the same after a restart of the product; a restart of Asterisk makes the CTI resync, and
the calls that vanished end through the same effects. A call is counted once either way.

Standing alerts (``supervision.alerts``: open complaints and their clocks, dead letters,
speech alerts): read from the stored records at start, and again (coalesced) whenever
another feature publishes something that may change them (``on_published``, a hub
observer) and every ``standing_refresh_s``; every board carries them (``standing``), so
the page and the WebSocket's hello show what was pushed before the page was opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.reports.kpi import CallFact
from callcenter.topics import WALLBOARD_TOPIC, Publisher
from cti.call_state import CallConnected, CallCreated, CallEnded, CallKind, CallQueued, Outcome
from cti.dispatcher import Effect
from cti.service import CtiService
from supervision import wallboard
from supervision.alerts import TOP_TIER_FOR, changes_standing, standing_alerts
from supervision.monitoring import Monitoring
from supervision.ports import DayCalls, StandingAlerts
from supervision.wallboard import DayTally, WallboardPolicy

__all__ = ["SupervisionService"]

logger = logging.getLogger(__name__)

_KEPT = frozenset({CallKind.INBOUND})


def _same_row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """An agent row without what only the clock changes (seconds in state)."""
    if row is None:
        return None
    return {k: v for k, v in row.items() if k != "in_state_s"}


class SupervisionService:
    """The wallboard's state and pushes (see the module docstring)."""

    def __init__(self, cti: CtiService, records: DayCalls, hub: Publisher, *,
                 policy: WallboardPolicy | None = None, tz: ZoneInfo | None = None,
                 clock: Callable[[], float] = time.time, push_delay_s: float = 0.1,
                 refresh_s: float = 5.0, standing: StandingAlerts | None = None,
                 standing_refresh_s: float = 60.0) -> None:
        self.cti = cti
        self.records = records
        self.hub = hub
        self.policy = policy or WallboardPolicy()
        self.tz = tz or ZoneInfo(cti.config.timezone)
        self.clock = clock
        self.push_delay_s = push_delay_s
        self.refresh_s = refresh_s
        self.day: DayTally = wallboard.new_day(self._local_day(clock()))
        self.active_alerts: dict[str, dict[str, Any]] = {}
        self._arrivals: dict[str, float] = {}
        self._first_wait: dict[str, float] = {}
        self._pending: asyncio.TimerHandle | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._last_push = float("-inf")
        self.monitoring: Monitoring | None = None
        self.standing_source = standing
        self.standing_refresh_s = standing_refresh_s
        self.standing: list[dict[str, Any]] = []
        self.standing_seq = 0  # how many times the standing alerts were read
        self._standing_task: asyncio.Task[None] | None = None
        self._standing_again = False
        self._standing_at = float("-inf")
        self._sent_rows: dict[str, dict[str, Any]] | None = None  # agent rows last pushed
        cti.effects.listeners.append(self.on_effects)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load today's ended calls and the standing alerts, then push every second when
        due."""
        await self.reload_day()
        await self.refresh_standing()
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_loop(), name="wallboard-tick")

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._standing_task is not None:
            self._standing_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._standing_task
            self._standing_task = None

    def _local_day(self, now: float) -> str:
        return datetime.fromtimestamp(now, self.tz).date().isoformat()

    def _midnight(self, now: float) -> datetime:
        local = datetime.fromtimestamp(now, self.tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    async def reload_day(self) -> None:
        """Count today's stored calls (those already counted live are skipped)."""
        now = self.clock()
        start = self._midnight(now)
        if self.day.day != self._local_day(now):
            self.day = wallboard.new_day(self._local_day(now))
        for fact, arrived_at in await self.records.ended_between(start,
                                                                 start + timedelta(days=1)):
            wallboard.add_call(self.day, fact, arrived_at, self.policy)
        self.push()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                if self.monitoring is not None:
                    await self.monitoring.flush()
                now = self.clock()
                if self._local_day(now) != self.day.day:
                    self.day = wallboard.new_day(self._local_day(now))
                if now - self._standing_at >= self.standing_refresh_s:
                    self._refresh_soon()
                if now - self._last_push >= self.refresh_s:
                    self.push(now)
                else:
                    self.check_alerts(self.board(now), now)
            except Exception:
                logger.exception("wallboard tick failed")

    # ------------------------------------------------------------------ standing alerts

    async def refresh_standing(self) -> list[dict[str, Any]]:
        """Read the standing alerts from the records, then push the board; returns them."""
        if self.standing_source is None:
            return self.standing
        now = self.clock()
        self._standing_at = now
        at = datetime.fromtimestamp(now, UTC)
        state = await self.standing_source.current(at - TOP_TIER_FOR, self._midnight(now))
        self.standing = standing_alerts(state, at)
        self.standing_seq += 1
        self.push()
        return self.standing

    def on_published(self, topic: str, message: dict[str, Any]) -> None:
        """A hub observer: another feature published ``message``; read the standing alerts
        again when it may change them (``supervision.alerts.changes_standing``)."""
        if changes_standing(topic, message):
            self._refresh_soon()

    def _refresh_soon(self) -> None:
        if self.standing_source is None:
            return
        if self._standing_task is not None and not self._standing_task.done():
            self._standing_again = True  # what was published after the read began counts
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._standing_task = loop.create_task(self._refresh_loop(), name="wallboard-standing")

    async def _refresh_loop(self) -> None:
        while True:
            self._standing_again = False
            try:
                await self.refresh_standing()
            except Exception:
                logger.exception("wallboard: reading the standing alerts failed")
            if not self._standing_again:
                return

    # ------------------------------------------------------------------ effects

    def on_effects(self, effects: Sequence[Effect], now: float) -> None:
        """The CTI carried ``effects`` out: count ended calls, schedule a push."""
        for effect in effects:
            if isinstance(effect, CallCreated):
                self._arrivals.setdefault(effect.linked_id, effect.at)
            elif isinstance(effect, CallQueued) and not effect.transferred:
                self._arrivals[effect.linked_id] = effect.at
            elif isinstance(effect, CallConnected):
                self._first_wait.setdefault(effect.linked_id, effect.wait_s)
            elif isinstance(effect, CallEnded):
                self._ended(effect)
        self._schedule()

    def _ended(self, effect: CallEnded) -> None:
        linked_id = effect.linked_id
        arrived_at = self._arrivals.pop(linked_id, effect.at)
        first_wait = self._first_wait.pop(linked_id, None)
        if effect.kind not in _KEPT:
            return
        answered = effect.outcome is Outcome.ANSWERED
        agent = ""
        if answered and effect.agent_interface:
            agent = self.cti.agent_number_of(effect.agent_interface) or ""
        wait = first_wait if answered and first_wait is not None else effect.wait_s
        fact = CallFact(key=linked_id, queue=effect.queue or "", agent=agent,
                        arrived_at=datetime.fromtimestamp(arrived_at, UTC),
                        outcome=effect.outcome.value, wait_s=wait, talk_s=effect.talk_s)
        if self._local_day(arrived_at) == self.day.day:
            wallboard.add_call(self.day, fact, arrived_at, self.policy)

    def _schedule(self) -> None:
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the loop (a synchronous test): push now
            self.push()
            return
        self._pending = loop.call_later(self.push_delay_s, self._flush)

    def _flush(self) -> None:
        self._pending = None
        try:
            self.push()
        except Exception:
            logger.exception("wallboard push failed")

    # ------------------------------------------------------------------ views

    def numbers(self) -> dict[str, str]:
        """Member interface -> agent number, for the agents the CTI knows."""
        out = {}
        for interface in self.cti.dispatcher.state.agents.agents:
            number = self.cti.agent_number_of(interface)
            if number:
                out[interface] = number
        return out

    def board(self, now: float | None = None) -> dict[str, Any]:
        """The wallboard as JSON (``supervision.wallboard.board``)."""
        now = self.clock() if now is None else now
        wallboard.forget_recent(self.day, now, self.policy.recent_s)
        state = self.cti.dispatcher.state
        hour = datetime.fromtimestamp(now, self.tz).hour
        names = {i: a.name for i, a in self.cti.roster.by_interface.items()}
        figures = wallboard.board(self.cti.config.queues, state.calls.calls,
                                  state.agents.agents, self.numbers(), self.day, now, hour,
                                  self.policy, names)
        figures["standing"] = self.standing
        figures["standing_seq"] = self.standing_seq
        return figures

    def push(self, now: float | None = None, *, full: bool = False) -> dict[str, Any]:
        """Publish the board, then any alert that just appeared; returns the board.

        After the first (whole) board a push carries only the agent rows that changed since
        the previous push (``"partial": true``, ``agents`` = the changed rows, ``removed`` =
        interfaces gone); a browser gets the whole board as its hello (and the page). With
        1,000 agents the whole board is ~240 KB for every socket, a push a few rows
        (bench/wallboard.py)."""
        now = self.clock() if now is None else now
        figures = self.board(now)
        self._last_push = now
        rows = {row["interface"]: row for row in figures["agents"]}
        if full or self._sent_rows is None:
            message = figures
        else:
            sent = self._sent_rows
            message = {**figures, "partial": True,
                       "agents": [row for interface, row in rows.items()
                                  if _same_row(sent.get(interface)) != _same_row(row)],
                       "removed": [i for i in sent if i not in rows]}
        self._sent_rows = rows
        self.hub.publish(WALLBOARD_TOPIC, message)
        self.check_alerts(figures, now)
        return figures

    def check_alerts(self, figures: dict[str, Any], now: float) -> None:
        """Push each alert of ``figures`` that was not active before (once), forget the
        ones that are gone."""
        current = {a["key"]: a for a in figures["alerts"]}
        for key, alert in current.items():
            if key not in self.active_alerts:
                logger.warning("wallboard alert: %s", alert)
                self.hub.publish(WALLBOARD_TOPIC, {"type": "alert", "at": now, **alert})
        self.active_alerts = current
