"""The effect table: how the adapter carries out the pure core's effects.

``EFFECTS`` maps each effect type of ``cti.call_state``/``cti.agent_state`` to its handler:

==================  ========================================================================
effect              what the handler does
==================  ========================================================================
CallCreated         queue the ``calls`` row (created on first sight, keyed on the linked id)
CallQueued          queue ``queue``/``queued_at`` (and the IVR's fields if the IVR did not
                    write them)
PrefetchMerchant    start loading the pop card (``cti.screen_pop``)
ScreenPop           publish the card on ``agent:<number>`` AT ONCE (no database query on the
                    ring path; a minimal card when the prefetch is still running, the full
                    one when it is done)
CallConnected       queue ``answered_at``/``agent_number``; push the call timer start
CallEnded           queue outcome, wait and talk time; close the recordings; forget the card
CallEventLogged     queue one ``call_events`` row (the timeline)
RecordingStarted    queue the recording's registration; push the recording indicator
RecordingStopped    push the indicator off (the row is closed at CallEnded)
AgentTransition     queue one ``agent_state_log`` row; push the agent's new state
WrapUpHold          pause (or unpause) the member for its unsaved wrap-up (``hold_member``)
AutoPause           pause the member: nobody at its desk, or a ring left unanswered
OutboundProgress    push the click-to-dial's merchant leg (ringing, connected, failed)
==================  ========================================================================

Writes go to the call log writer (``cti.call_log``), never awaited here. Which written fields
overwrite and which only fill empty columns is the store's rule (``callcenter/call_records.py``).
A browser that closes changes nothing: rows are written whether or not anybody watches.
Internal calls (a supervisor's spy leg, agent-to-agent calls) are not persisted as merchant
calls. One failing effect is logged and skipped: the next ones, and the AMI read loop, go on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from callcenter.domain import caller_id_candidates
from callcenter.topics import Publisher, agent_topic
from cti.agent_actions import AgentRoster
from cti.agent_state import (
    AgentStatus,
    AgentTransition,
    AutoPause,
    OutboundProgress,
    WrapUpHold,
)
from cti.call_log import CallLogWriter
from cti.call_state import (
    Call,
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
from cti.dispatcher import CtiState, Effect
from cti.ports import (
    AgentStateWrite,
    CallEventWrite,
    CallWrite,
    RecordingFinish,
    RecordingRegister,
)
from cti.presentation import Desks, agent_json
from cti.screen_pop import PopCard, ScreenPops

__all__ = ["EFFECTS", "EffectRunner"]

logger = logging.getLogger(__name__)

# Column sizes of the calls/call_events/agent_state_log tables: PostgreSQL refuses longer
# strings.
_MAX: Final = {"caller_number": 40, "queue": 64, "agent_number": 20, "unique_id": 64,
               "kind": 40, "reason": 40, "cause": 40, "interface": 100, "state": 20}

Fields = tuple[tuple[str, Any], ...]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _cut(value: str | None, key: str) -> str:
    return (value or "")[: _MAX[key]]


_KEPT: Final = frozenset({CallKind.INBOUND, CallKind.OUTBOUND})
"""Kinds of call that get a ``calls`` row, a timeline and recording rows: merchant calls and
the agents' click-to-dial calls to merchants (internal calls and supervisor spies do not)."""


def _first_fields(kind: CallKind, caller: str | None) -> tuple[tuple[str, Any], ...]:
    """The fields a call's row starts with; a click-to-dial call says so in ``intent``."""
    fields = _caller_fields(caller)
    if kind is CallKind.OUTBOUND:
        fields = (*fields, ("intent", "outbound"))
    return fields


def _caller_fields(caller: str | None) -> Fields:
    if not caller:
        return ()
    keys = caller_id_candidates(caller)
    return (("caller_number", _cut(keys[0] if keys else caller, "caller_number")),)


class EffectRunner:
    """Carries effects out (``apply``), through ``EFFECTS``. Never awaits.

    ``spawn`` runs a coroutine in the background (the day's figures after a wrap-up);
    ``today(number)`` is the coroutine that computes them.
    """

    def __init__(self, state: CtiState, *, writer: CallLogWriter, pops: ScreenPops,
                 desks: Desks, roster: AgentRoster, hub: Publisher,
                 clock: Callable[[], float],
                 spawn: Callable[[Coroutine[Any, Any, None]], None],
                 today: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        self.state = state
        self.writer = writer
        self.pops = pops
        self.desks = desks
        self.roster = roster
        self.hub = hub
        self.clock = clock
        self.spawn = spawn
        self.today = today
        self.merchant_calls: set[str] = set()
        # agent_state rule 12: pauses/unpauses a member (AgentActions.hold_member)
        self.hold_member: Callable[[WrapUpHold | AutoPause],
                                   Coroutine[Any, Any, None]] | None = None
        self.unknown_interfaces: set[str] = set()
        # Told every batch after it was carried out (the supervisors' wallboard): they read
        # the same machines' state and must never raise or await.
        self.listeners: list[Callable[[Sequence[Effect], float], None]] = []

    def apply(self, effects: Iterable[Effect], now: float) -> None:
        """Carry out ``effects`` in order; one that fails is logged and skipped. Then tell
        the ``listeners``."""
        if self.listeners and not isinstance(effects, Sequence):
            effects = list(effects)
        for effect in effects:
            handler = EFFECTS.get(type(effect))
            if handler is None:
                continue
            try:
                handler(self, effect, now)
            except Exception:
                logger.exception("CTI: carrying out %r failed", effect)
        for listener in self.listeners:
            try:
                listener(effects, now)  # type: ignore[arg-type]
            except Exception:
                logger.exception("CTI: effect listener %r failed", listener)

    # ------------------------------------------------------------------ helpers

    def call(self, linked_id: str) -> Call | None:
        return self.state.calls.calls.get(linked_id)

    def agent_on(self, number: str, linked_id: str) -> bool:
        """Whether agent ``number`` is ringing or talking on ``linked_id``."""
        agent = self.roster.by_number.get(number)
        if agent is None:
            return False
        record = self.state.agents.agents.get(agent.interface)
        return record is not None and record.linked_id == linked_id

    def card_loaded(self, linked_id: str, card: PopCard) -> None:
        """The pop card found the merchant: the row gets it if empty."""
        details = card.details
        if details is not None and details.merchant is not None \
                and linked_id in self.merchant_calls:
            self.writer.enqueue(CallWrite(linked_id, _utc(self.clock()),
                                          (("merchant_id", details.merchant.id),)))

    def _is_merchant_call(self, linked_id: str) -> bool:
        if linked_id in self.merchant_calls:
            return True
        call = self.call(linked_id)
        if call is not None and call.kind in _KEPT:
            # Reclassified (it joined a queue, or it is our click-to-dial): persist from now
            # on, row first.
            self.merchant_calls.add(linked_id)
            self.writer.enqueue(CallWrite(linked_id, _utc(call.created_at),
                                          _first_fields(call.kind, call.caller)))
            return True
        return False

    # ------------------------------------------------------------------ call effects

    def on_call_created(self, effect: CallCreated, now: float) -> None:
        if effect.kind not in _KEPT:
            return
        self.merchant_calls.add(effect.linked_id)
        self.writer.enqueue(CallWrite(effect.linked_id, _utc(effect.at),
                                      _first_fields(effect.kind, effect.caller)))

    def on_call_queued(self, effect: CallQueued, now: float) -> None:
        if not self._is_merchant_call(effect.linked_id):
            return
        call = self.call(effect.linked_id)
        started = call.created_at if call is not None else effect.at
        fields: list[tuple[str, Any]] = [("queue", _cut(effect.queue, "queue")),
                                         ("queued_at", _utc(effect.at))]
        if call is not None:
            fields.extend(_caller_fields(call.caller))
            if call.caller_unique_id:
                fields.append(("unique_id", _cut(call.caller_unique_id, "unique_id")))
            # The IVR writes these itself before the caller is queued; the dialplan's
            # UserEvent only fills them when it did not (FastAGI down: path "noivr").
            for name, value, size in (("ivr_path", call.ivr_path, 400),
                                      ("intent", call.intent, 32), ("lang", call.lang, 8)):
                if value:
                    fields.append((name, value[:size]))
        self.writer.enqueue(CallWrite(effect.linked_id, _utc(started), tuple(fields)))

    def on_prefetch(self, effect: PrefetchMerchant, now: float) -> None:
        self.pops.prefetch(effect.linked_id)

    def on_screen_pop(self, effect: ScreenPop, now: float) -> None:
        number = self.roster.number_of(effect.agent_interface)
        if number is None:
            if effect.agent_interface not in self.unknown_interfaces:
                # Once per interface: a queue member whose interface matches no row of the
                # agents table (a misconfiguration, or the simulator's own agents).
                self.unknown_interfaces.add(effect.agent_interface)
                logger.warning("screen pop for %s: no agent has this interface",
                               effect.agent_interface)
            return
        self.pops.pop(number, effect.linked_id, effect.queue)

    def on_call_connected(self, effect: CallConnected, now: float) -> None:
        number = self.roster.number_of(effect.agent_interface)
        if self._is_merchant_call(effect.linked_id):
            call = self.call(effect.linked_id)
            started = call.created_at if call is not None else effect.at
            fields: list[tuple[str, Any]] = [("queue", _cut(effect.queue, "queue"))]
            if number is not None:
                fields.append(("agent_number", _cut(number, "agent_number")))
            fields.append(("answered_at", _utc(effect.at)))
            self.writer.enqueue(CallWrite(effect.linked_id, _utc(started), tuple(fields)))
        if number is None:
            return
        self.desks.connected(number, effect.linked_id, effect.at)
        self.hub.publish(agent_topic(number), {
            "type": "call", "event": "connected", "linked_id": effect.linked_id,
            "queue": effect.queue, "at": effect.at, "wait_s": round(effect.wait_s, 1),
            "recording": effect.linked_id in self.desks.recording,
        })

    def on_call_ended(self, effect: CallEnded, now: float) -> None:
        linked_id = effect.linked_id
        merchant = linked_id in self.merchant_calls and effect.kind in _KEPT
        self.merchant_calls.discard(linked_id)
        if merchant:
            fields: list[tuple[str, Any]] = [
                ("ended_at", _utc(effect.at)), ("outcome", effect.outcome.value),
                ("wait_s", round(effect.wait_s, 3)), ("talk_s", round(effect.talk_s, 3)),
            ]
            if effect.queue:
                fields.append(("queue", _cut(effect.queue, "queue")))
            number = (self.roster.number_of(effect.agent_interface)
                      if effect.agent_interface else None)
            if number is not None:
                fields.append(("agent_number", _cut(number, "agent_number")))
            fields.extend(_caller_fields(effect.caller))
            self.writer.enqueue(CallWrite(linked_id, _utc(effect.at), tuple(fields)))
            self.writer.enqueue(RecordingFinish(linked_id, _utc(effect.at)))
        # Forget the call; the agents keep their last card for the wrap-up.
        self.pops.forget(linked_id)
        for number in self.desks.ended(linked_id):
            message = {"type": "call", "event": "ended", "linked_id": linked_id,
                       "at": effect.at, "outcome": effect.outcome.value,
                       "talk_s": round(effect.talk_s, 1)}
            self.hub.publish(agent_topic(number), message)

    def on_event_logged(self, effect: CallEventLogged, now: float) -> None:
        if self._is_merchant_call(effect.linked_id):
            self.writer.enqueue(CallEventWrite(effect.linked_id, _utc(effect.at),
                                               _cut(effect.kind, "kind"), effect.data))

    def on_recording_started(self, effect: RecordingStarted, now: float) -> None:
        if self._is_merchant_call(effect.linked_id):
            self.writer.enqueue(RecordingRegister(effect.linked_id, effect.path,
                                                  _utc(effect.at)))
        self.desks.recording.add(effect.linked_id)
        self._push_recording(effect.linked_id, True, effect.at)

    def on_recording_stopped(self, effect: RecordingStopped, now: float) -> None:
        call = self.call(effect.linked_id)
        if call is not None and any(r.stopped_at is None for r in call.recordings):
            return  # another file of the call (after a transfer) is still recording
        self.desks.recording.discard(effect.linked_id)
        self._push_recording(effect.linked_id, False, effect.at)

    def _push_recording(self, linked_id: str, on: bool, at: float) -> None:
        for number in self.desks.talking_on(linked_id):
            self.hub.publish(agent_topic(number), {
                "type": "call", "event": "recording", "linked_id": linked_id,
                "recording": on, "at": at})

    # ------------------------------------------------------------------ agent effects

    def on_agent_transition(self, effect: AgentTransition, now: float) -> None:
        number = self.roster.number_of(effect.interface) or ""
        self.writer.enqueue(AgentStateWrite(
            _cut(number, "agent_number"), _cut(effect.interface, "interface"), _utc(effect.at),
            _cut(effect.old.value, "state"), _cut(effect.new.value, "state"),
            _cut(effect.new_reason, "reason"), _cut(effect.cause, "cause")))
        if not number:
            return
        if effect.old is AgentStatus.ON_CALL and effect.new is not AgentStatus.ON_CALL:
            linked_id = self.desks.left_call(number) or effect.linked_id
            if linked_id:
                self.desks.wrapup_due(number, linked_id)
                self.writer.after_commit(functools.partial(self._publish_wrapup, number,
                                                           linked_id))
        agent = self.state.agents.agents.get(effect.interface)
        self.hub.publish(agent_topic(number), {
            "type": "state", "agent": agent_json(agent, effect.interface, now),
            "cause": effect.cause})

    def on_wrap_up_hold(self, effect: WrapUpHold, now: float) -> None:
        if self.hold_member is not None:
            self.spawn(self.hold_member(effect))

    def on_auto_pause(self, effect: AutoPause, now: float) -> None:
        if self.hold_member is not None:
            self.spawn(self.hold_member(effect))

    def on_outbound_progress(self, effect: OutboundProgress, now: float) -> None:
        number = self.roster.number_of(effect.interface)
        if number:
            self.hub.publish(agent_topic(number), {
                "type": "dial", "status": effect.status, "linked_id": effect.linked_id,
                "dial_status": effect.dial_status, "at": now})

    def _publish_wrapup(self, number: str, linked_id: str) -> None:
        # After the commit: the wrap-up API (callcenter.business) reads the row we wrote.
        self.hub.publish(agent_topic(number), {"type": "wrapup", "linked_id": linked_id})
        self.spawn(self._push_today(number))

    async def _push_today(self, number: str) -> None:
        figures = await self.today(number)
        self.hub.publish(agent_topic(number), {"type": "today", "today": figures})


OnEffect = Callable[[EffectRunner, Any, float], None]

EFFECTS: Final[Mapping[type[Any], OnEffect]] = {
    CallCreated: EffectRunner.on_call_created,
    CallQueued: EffectRunner.on_call_queued,
    PrefetchMerchant: EffectRunner.on_prefetch,
    ScreenPop: EffectRunner.on_screen_pop,
    CallConnected: EffectRunner.on_call_connected,
    CallEnded: EffectRunner.on_call_ended,
    CallEventLogged: EffectRunner.on_event_logged,
    RecordingStarted: EffectRunner.on_recording_started,
    RecordingStopped: EffectRunner.on_recording_stopped,
    AgentTransition: EffectRunner.on_agent_transition,
    WrapUpHold: EffectRunner.on_wrap_up_hold,
    AutoPause: EffectRunner.on_auto_pause,
    OutboundProgress: EffectRunner.on_outbound_progress,
}
"""Effect type -> how it is carried out (the adapter's one table)."""
