"""Live monitoring use cases (rules in ``supervision.monitor``): start, switch, stop.

``Monitoring.start`` finds the agent's call in the CTI's state, reads the live channel list
(``Status``) to find the agent's device channel, and originates the supervisor's phone into
``ChanSpy``; it returns once the supervisor answered (the ``OriginateResponse``). Another mode
for the same agent switches the running ChanSpy in place (M4: ``PlayDTMF`` ``Receive: true``
of the mode's digit on the spy channel). The session ends on ``stop`` (Hangup of the spy
channel), when the supervisor hangs their phone up (the CTI's ``SpyEnded``: ChanSpyStop or
the Hangup of the spy channel) or when the spied call ends (ChanSpy's ``E``; the CTI's
``CallEnded``). Every start, switch and end is written to the audit log through the
``AuditLog`` port; an end the supervisor did not ask for is pushed on the ``wallboard`` topic
(``{"type": "monitor", "event": "ended", "supervisor": …}``) so their console shows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from callcenter.audit import AuditAction, AuditEntry, AuditLog
from callcenter.errors import ValidationError
from callcenter.topics import WALLBOARD_TOPIC, Publisher
from cti.ami_protocol import AmiMessage
from cti.call_state import CallEnded, SpyEnded
from cti.dispatcher import Effect
from cti.errors import AgentActionError, AmiActionError, CtiUnavailable
from cti.events import ChannelStatus, CoreShowChannel, decode_event
from cti.service import CtiService
from supervision.monitor import (
    MODES,
    SWITCH_DIGITS,
    MonitorSession,
    chanspy_data,
    device_channel,
    supervisor_channel,
)

__all__ = ["Monitoring"]

logger = logging.getLogger(__name__)

RING_MS = 30_000


def _extension(interface: str) -> str:
    """``PJSIP/9000`` and ``Local/9000@test-supervisor`` -> ``9000``."""
    return interface.rpartition("/")[2].partition("@")[0]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class Monitoring:
    """Monitoring sessions, one per supervisor (M4)."""

    def __init__(self, cti: CtiService, audit: AuditLog, *,
                 clock: Callable[[], float] = time.time, context: str = "supervisor",
                 hub: Publisher | None = None) -> None:
        self.cti = cti
        self.audit = audit
        self.clock = clock
        self.context = context
        self.hub = hub
        self.sessions: dict[str, MonitorSession] = {}  # supervisor username -> session
        self.ended: list[tuple[MonitorSession, str, float, dict[str, str]]] = []  # audit due
        self._flushing: asyncio.Task[None] | None = None
        cti.effects.listeners.append(self.on_effects)

    def _ami(self) -> Any:
        ami = self.cti.ami
        if ami is None:
            raise CtiUnavailable("no AMI connection")
        return ami

    async def _entry(self, actor: str, action: AuditAction, session: MonitorSession,
                     at: float | None = None, **details: Any) -> None:
        at = self.clock() if at is None else at
        await self.audit.record(AuditEntry(
            at=datetime.fromtimestamp(at, UTC), actor=actor, action=action,
            target=session.agent,
            details={"linked_id": session.linked_id, "mode": session.mode,
                     "device": session.device, "spy_channel": session.spy_channel or "",
                     "started_at": _iso(session.started_at), **details}))

    def _agent_leg(self, agent_number: str) -> tuple[str, str]:
        """(linked id, agent leg channel) of the call ``agent_number`` is on."""
        record = self.cti.roster.by_number.get(agent_number)
        if record is None:
            raise ValidationError("agent", f"no agent {agent_number}")
        state = self.cti.dispatcher.state
        agent = state.agents.agents.get(record.interface)
        if agent is None or agent.linked_id is None or agent.status.value != "on_call":
            raise AgentActionError("not_on_call", f"agent {agent_number} is not on a call")
        call = state.calls.calls.get(agent.linked_id)
        leg = call.agent_channels.get(agent.leg_unique_id or "") if call is not None else None
        if call is None or leg is None:
            raise AgentActionError("not_on_call", f"agent {agent_number}'s call is not known")
        return call.linked_id, leg

    async def _channels(self, linked_id: str) -> list[CoreShowChannel]:
        result = await self._ami().send("Status")
        out: list[CoreShowChannel] = []
        for item in result.items:
            try:
                event = decode_event(item) if isinstance(item, AmiMessage) else item
            except Exception:
                logger.debug("Status item %r skipped", item)
                continue
            if isinstance(event, ChannelStatus | CoreShowChannel) \
                    and event.linked_id == linked_id:
                out.append(event)
        return out

    async def start(self, supervisor: str, interface: str, agent_number: str, mode: str
                    ) -> dict[str, Any]:
        """Ring ``interface`` (the supervisor's phone) into ChanSpy on the agent's device in
        ``mode``; another mode on the same agent switches in place (M4)."""
        if mode not in MODES:
            raise ValidationError("mode", "listen, whisper or barge")
        running = self.sessions.get(supervisor)
        if running is not None and running.agent == agent_number and running.spy_channel:
            return await self._switch(running, mode)
        linked_id, leg = self._agent_leg(agent_number)
        device = device_channel(leg, await self._channels(linked_id))
        previous = self.sessions.pop(supervisor, None)
        if previous is not None:
            await self._hangup(previous)
        ami = self._ami()
        result = await ami.send("Originate", [
            ("Channel", supervisor_channel(interface, self.context)),
            ("Application", "ChanSpy"), ("Data", chanspy_data(device, mode)),
            ("CallerID", f'"Supervisor" <{_extension(interface)}>'),
            ("Timeout", str(RING_MS)), ("Async", "true")],
            final_event="OriginateResponse", timeout=RING_MS / 1000 + 5)
        final = result.final
        if final is not None and (final.peek("Response") or "") != "Success":
            raise AgentActionError("supervisor_phone_unanswered",
                                   "the supervisor's phone did not answer")
        session = MonitorSession(supervisor, agent_number, linked_id, mode, device,
                                 final.peek("Channel") if final is not None else None,
                                 self.clock(),
                                 final.peek("Uniqueid") if final is not None else None)
        self.sessions[supervisor] = session
        if previous is not None and previous.agent == agent_number:
            await self._entry(supervisor, AuditAction.MONITOR_MODE, session,
                              previous_mode=previous.mode)
        else:
            if previous is not None:
                await self._entry(supervisor, AuditAction.MONITOR_STOP, previous,
                                  reason="switched agent", ended_at=_iso(self.clock()))
            await self._entry(supervisor, AuditAction.MONITOR_START, session)
        logger.info("supervisor %s: %s agent %s (call %s, device %s)", supervisor, mode,
                    agent_number, linked_id, device)
        return self.session_json(session)

    async def _switch(self, session: MonitorSession, mode: str) -> dict[str, Any]:
        """M4: hand the mode's digit to the running ChanSpy, as if keyed on the phone."""
        if mode == session.mode:
            return self.session_json(session)
        try:
            result = await self._ami().send("PlayDTMF", [
                ("Channel", session.spy_channel or ""), ("Digit", SWITCH_DIGITS[mode]),
                ("Receive", "true")])
            result.raise_for_error()
        except AmiActionError as exc:  # the spy channel is gone: the session is over
            if "not found" not in exc.message.lower():
                raise
            self._end(session, "spy_gone", self.clock(), {"by": "PlayDTMF"})
            await self.flush()
            raise AgentActionError("not_monitoring",
                                   "the monitoring session had already ended") from exc
        previous = session.mode
        session.mode = mode
        await self._entry(session.supervisor, AuditAction.MONITOR_MODE, session,
                          previous_mode=previous, switched="in place")
        logger.info("supervisor %s: %s -> %s on agent %s (spy %s, in place)",
                    session.supervisor, previous, mode, session.agent, session.spy_channel)
        return self.session_json(session)

    async def _hangup(self, session: MonitorSession) -> None:
        if session.spy_channel:
            try:
                await self._ami().send("Hangup", [("Channel", session.spy_channel)])
            except Exception as exc:
                logger.info("hangup of spy %s: %s", session.spy_channel, exc)

    async def stop(self, supervisor: str) -> dict[str, Any]:
        """Hang the supervisor's spy up (M4)."""
        session = self.sessions.pop(supervisor, None)
        if session is None:
            raise AgentActionError("not_monitoring", "no monitoring session")
        await self._hangup(session)
        await self._entry(supervisor, AuditAction.MONITOR_STOP, session, reason="stopped",
                          ended_at=_iso(self.clock()))
        return {"stopped": True, "agent": session.agent}

    def session_of(self, supervisor: str) -> dict[str, Any] | None:
        """The running session of ``supervisor`` as JSON, or None."""
        session = self.sessions.get(supervisor)
        return None if session is None else self.session_json(session)

    # ------------------------------------------------------------------ session ends, M5

    def on_effects(self, effects: Sequence[Effect], now: float) -> None:
        """The supervisor hung up (``SpyEnded`` of a session's spy channel) or the spied call
        ended (``CallEnded``): the session is over; audited by ``flush``, pushed at once."""
        if not self.sessions:
            return
        for effect in effects:
            if isinstance(effect, SpyEnded):
                for session in list(self.sessions.values()):
                    if session.spy_channel == effect.spyer_channel:
                        self._end(session, "hung_up", effect.at,
                                  {"by": effect.by})
            elif isinstance(effect, CallEnded):
                for session in list(self.sessions.values()):
                    if session.linked_id == effect.linked_id:
                        self._end(session, "call_ended", effect.at, {})
                    elif session.spy_linked_id == effect.linked_id:
                        self._end(session, "hung_up", effect.at, {"by": "Hangup"})
        if self.ended:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            if self._flushing is None or self._flushing.done():
                self._flushing = loop.create_task(self.flush(), name="monitoring-audit")

    def _end(self, session: MonitorSession, reason: str, at: float,
             details: dict[str, str]) -> None:
        if self.sessions.get(session.supervisor) is not session:
            return
        del self.sessions[session.supervisor]
        self.ended.append((session, reason, at, details))
        logger.info("supervisor %s: monitoring of agent %s ended (%s)", session.supervisor,
                    session.agent, reason)
        if self.hub is not None:
            self.hub.publish(WALLBOARD_TOPIC, {
                "type": "monitor", "event": "ended", "supervisor": session.supervisor,
                "agent": session.agent, "mode": session.mode, "reason": reason,
                "ended_at": _iso(at)})

    async def flush(self) -> None:
        """Write the audit entries of the sessions that ended by themselves (M5)."""
        while self.ended:
            session, reason, at, details = self.ended.pop(0)
            await self._entry(session.supervisor, AuditAction.MONITOR_STOP, session, at=at,
                              reason=reason, ended_at=_iso(at), **details)

    @staticmethod
    def session_json(session: MonitorSession) -> dict[str, Any]:
        return {"agent": session.agent, "mode": session.mode, "linked_id": session.linked_id,
                "device": session.device, "spy_channel": session.spy_channel}
