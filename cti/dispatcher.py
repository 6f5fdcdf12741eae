"""The CTI's one routing table: decoded event type -> the machines it feeds.

``ROUTES`` below is the whole story of who reacts to what. A ``Dispatcher`` owns the two pure
machines' state (``cti.call_state`` and ``cti.agent_state``), decodes only the AMI events some
route wants (the rest cost a dict miss), runs the route, logs transitions at INFO and returns
the effects for an adapter to carry out (push a screen pop, prefetch a merchant, persist a
timeline line…).

The per-event boundary is here: an exception while decoding or applying one event is logged
with that event's Linkedid and swallowed, so one bad event never stops the AMI read loop
(panoramisk 1.4 kills its socket when a synchronous handler raises: manager.py, reproduced).

Typical read loop in an adapter (framer, tracker and dispatcher per connection)::

    for item in framer.feed(data):
        if isinstance(item, AmiMessage):
            routed = tracker.feed(item)
            if routed is item:
                effects = dispatcher.handle_message(item, now=clock())
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from cti import agent_state, call_state
from cti.agent_state import (
    AgentBoard,
    AgentConfig,
    AgentTransition,
    AutoPause,
    OutboundProgress,
    WrapUpHold,
)
from cti.ami_protocol import ActionResult, AmiMessage, MessageKind
from cti.call_state import (
    CallBoard,
    CallConfig,
    CallConnected,
    CallEffect,
    CallEnded,
    CallQueued,
    OutboundDialled,
)
from cti.events import (
    DECODERS,
    EVENT_TYPES,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    AttendedTransfer,
    BlindTransfer,
    CallbackRequest,
    ChannelStatus,
    ChanSpyStart,
    ChanSpyStop,
    CoreShowChannel,
    Decoder,
    DialBegin,
    DialEnd,
    FullyBooted,
    Hangup,
    IvrResult,
    MixMonitorFilename,
    MixMonitorStart,
    MixMonitorStop,
    Newchannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueMemberStatus,
    QueueParams,
    QueueSummary,
    Shutdown,
    decode_event,
    decode_with,
)

__all__ = ["ROUTES", "CtiState", "Dispatcher", "Effect"]

logger = logging.getLogger(__name__)

Effect = CallEffect | AgentTransition | WrapUpHold | AutoPause | OutboundProgress

_EVENT: Final = MessageKind.EVENT  # enum member lookups are slow on CPython 3.11


@dataclass(slots=True)
class CtiState:
    """Both machines' state. Mutated only through the routes below."""

    calls: CallBoard
    agents: AgentBoard


Route = Callable[[CtiState, AmiEvent, float], list[Effect]]
Items = ActionResult | Iterable[AmiMessage | AmiEvent]


def _calls(state: CtiState, event: AmiEvent, now: float) -> list[Effect]:
    effects: list[Effect] = []
    effects.extend(call_state.transition(state.calls, event, now)[1])
    return effects


def _agents(state: CtiState, event: AmiEvent, now: float) -> list[Effect]:
    effects: list[Effect] = []
    effects.extend(agent_state.transition(state.agents, event, now)[1])
    return effects


def _calls_and_agents(state: CtiState, event: AmiEvent, now: float) -> list[Effect]:
    effects: list[Effect] = []
    effects.extend(call_state.transition(state.calls, event, now)[1])
    effects.extend(agent_state.transition(state.agents, event, now)[1])
    return effects


def _shutdown(state: CtiState, event: AmiEvent, now: float) -> list[Effect]:
    assert isinstance(event, Shutdown)
    logger.warning("Asterisk is shutting down (restart=%s): ending what is left", event.restart)
    effects: list[Effect] = []
    effects.extend(call_state.transition(state.calls, event, now)[1])
    effects.extend(agent_state.on_shutdown(state.agents, now)[1])
    return effects


def _fully_booted(state: CtiState, event: AmiEvent, now: float) -> list[Effect]:
    assert isinstance(event, FullyBooted)
    logger.info("Asterisk fully booted (uptime %s s)", event.uptime)
    return []


ROUTES: Final[Mapping[type[AmiEvent], Route]] = MappingProxyType(
    {
        OutboundDialled: _calls_and_agents,
        FullyBooted: _fully_booted,
        Shutdown: _shutdown,
        Newchannel: _calls,
        Hangup: _calls_and_agents,  # ends calls, and agent legs (rule 5 of agent_state)
        IvrResult: _calls,
        QueueCallerJoin: _calls,
        QueueCallerLeave: _calls,
        QueueCallerAbandon: _calls,
        CallbackRequest: _calls,  # key 1 in a queue: a call-back booked (call_state rule 7)
        AgentCalled: _calls_and_agents,
        AgentRingNoAnswer: _calls_and_agents,
        AgentDump: _calls_and_agents,
        AgentConnect: _calls_and_agents,
        AgentComplete: _calls_and_agents,
        QueueMemberAdded: _agents,
        QueueMemberRemoved: _agents,
        QueueMemberPause: _agents,
        QueueMemberStatus: _agents,
        MixMonitorFilename: _calls,
        MixMonitorStart: _calls,
        MixMonitorStop: _calls,
        BlindTransfer: _calls,
        AttendedTransfer: _calls,
        ChanSpyStart: _calls,
        ChanSpyStop: _calls,  # the supervisor's spy ended (call_state rule 11)
        DialBegin: _agents,  # click to dial: the merchant rings (agent_state rule 14)
        DialEnd: _agents,
    }
)
"""The routing table. Decoded events of other types (Newstate, BridgeEnter…) and
unknown events are not routed: the dispatcher does not even decode them."""


def _routed_decoders(routes: Mapping[type[AmiEvent], Route]) -> dict[str, Decoder]:
    return {
        name: DECODERS[name]
        for name, types in EVENT_TYPES.items()
        if any(event_type in routes for event_type in types)
    }


_ROUTED_DECODERS: Final = _routed_decoders(ROUTES)


class Dispatcher:
    """Feeds decoded AMI events to the call tracker and the agent machine.

    Not thread-safe and not async: call it from the AMI read loop only. ``now`` is the
    adapter's receive clock (Asterisk events carry no timestamp by default).
    """

    __slots__ = ("state",)

    def __init__(
        self,
        call_config: CallConfig | None = None,
        agent_config: AgentConfig | None = None,
    ) -> None:
        self.state = CtiState(
            call_state.new_board(call_config), agent_state.new_board(agent_config)
        )

    def handle_message(self, message: AmiMessage, now: float) -> list[Effect]:
        """Decode and route one event message. Never raises (see the module docstring).

        Timers due by ``now`` (wrap-up ends) run first, whatever the event.
        """
        effects = self.tick(now) if now >= self.state.agents.next_due else []
        decoder = _ROUTED_DECODERS.get(message.name)
        if decoder is None or message.kind is not _EVENT:
            return effects
        try:
            event = decode_with(decoder, message)
            route = ROUTES.get(type(event))
            if route is None:
                return effects
            routed = route(self.state, event, now)
        except Exception:
            logger.exception(
                "CTI: %s event failed (linked id %s); skipped",
                message.name,
                message.peek("Linkedid"),
            )
            return effects
        if routed:
            _log_effects(routed)
            effects.extend(routed)
        return effects

    def handle(self, event: AmiEvent, now: float) -> list[Effect]:
        """Route one already decoded event. Never raises."""
        effects = self.tick(now) if now >= self.state.agents.next_due else []
        route = ROUTES.get(type(event))
        if route is None:
            return effects
        try:
            routed = route(self.state, event, now)
        except Exception:
            logger.exception(
                "CTI: %s failed (linked id %s); skipped",
                type(event).__name__,
                getattr(event, "linked_id", None),
            )
            return effects
        if routed:
            _log_effects(routed)
            effects.extend(routed)
        return effects

    def wrap_up_saved(self, linked_id: str, now: float) -> list[Effect]:
        """The wrap-up of ``linked_id`` was saved: end its agent's held after-call work."""
        effects: list[Effect] = list(agent_state.wrap_up_saved(self.state.agents, linked_id,
                                                               now)[1])
        if effects:
            _log_effects(effects)
        return effects

    def restore_holds(self, holds: Mapping[str, tuple[str, float]], now: float
                      ) -> list[Effect]:
        """Held after-call work from before a restart (``agent_state`` rule 15)."""
        effects: list[Effect] = list(agent_state.restore_holds(self.state.agents, holds,
                                                               now)[1])
        if effects:
            _log_effects(effects)
        return effects

    def tick(self, now: float) -> list[Effect]:
        """Run timers (wrap-up ends). Call it about once a second when no event arrives."""
        effects: list[Effect] = list(agent_state.tick(self.state.agents, now)[1])
        if effects:
            _log_effects(effects)
        return effects

    def resync(
        self,
        now: float,
        *,
        channels: Items | None,
        queue_status: Items | None = (),
        queue_summary: Items | None = (),
        lost_at: float | None = None,
    ) -> list[Effect]:
        """Rebuild calls and agents from the results of the three list actions.

        ``channels`` is the ``Status`` result (or ``CoreShowChannels``'s, or their items);
        ``queue_status``/``queue_summary`` are the ``QueueStatus``/``QueueSummary`` results.
        Each is ``None`` when that list could not be read, and then what it would rebuild is
        left as it is: no channel list ends no call (an empty list would end them all), no
        QueueStatus logs no agent out. ``lost_at`` is when the previous AMI connection was
        lost: the calls that vanished meanwhile end then (``call_state.resync``). Calls are
        resynced first so that agents found talking in a bridged call come back ``on_call``.
        Never raises; a bad item is logged and skipped.
        """
        channel_items: list[CoreShowChannel | ChannelStatus] = []
        entries: list[QueueEntry] = []
        members: list[QueueMember] = []
        params: list[QueueParams] = []
        summaries: list[QueueSummary] = []
        sinks: dict[type[AmiEvent], list[AmiEvent]] = {
            ChannelStatus: channel_items,  # type: ignore[dict-item]
            CoreShowChannel: channel_items,  # type: ignore[dict-item]
            QueueEntry: entries,  # type: ignore[dict-item]
            QueueMember: members,  # type: ignore[dict-item]
            QueueParams: params,  # type: ignore[dict-item]
            QueueSummary: summaries,  # type: ignore[dict-item]
        }
        for result in (channels or (), queue_status or (), queue_summary or ()):
            items = result.items if isinstance(result, ActionResult) else result
            for item in items:
                try:
                    event = decode_event(item) if isinstance(item, AmiMessage) else item
                except Exception:
                    logger.exception("CTI resync: bad list item %r skipped", item)
                    continue
                sink = sinks.get(type(event))
                if sink is not None:
                    sink.append(event)
        effects: list[Effect] = []
        try:
            effects.extend(
                call_state.resync(
                    self.state.calls, now, channels=None if channels is None else channel_items,
                    entries=entries, params=params, summaries=summaries, members=members,
                    lost_at=lost_at,
                )[1]
            )
            if queue_status is not None:
                busy = call_state.busy_agents(self.state.calls)
                effects.extend(agent_state.resync(self.state.agents, members, now,
                                                  busy=busy)[1])
        except Exception:
            logger.exception("CTI resync failed; state may be stale until the next resync")
        logger.info(
            "CTI resync: %d channels, %d waiting callers, %d memberships, %d effects",
            len(channel_items), len(entries), len(members), len(effects),
        )
        if effects:
            _log_effects(effects)
        return effects


def _log_effects(effects: list[Effect]) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    for effect in effects:
        if isinstance(effect, AgentTransition):
            logger.info("%s", effect.describe())
        elif isinstance(effect, AutoPause):
            logger.warning("agent %s: paused %s (%s)", effect.interface, effect.reason,
                           effect.cause)
        elif isinstance(effect, WrapUpHold):
            logger.info("agent %s: %s for the wrap-up of %s", effect.interface,
                        "held in after-call work" if effect.hold else "released",
                        effect.linked_id)
        elif isinstance(effect, CallQueued):
            logger.info("call %s: queued in %s (position %d)", effect.linked_id, effect.queue,
                        effect.position)
        elif isinstance(effect, CallConnected):
            logger.info("call %s: connected to %s after %.1f s", effect.linked_id,
                        effect.agent_interface, effect.wait_s)
        elif isinstance(effect, CallEnded):
            logger.info("call %s: ended %s (wait %.1f s, talk %.1f s)", effect.linked_id,
                        effect.outcome.value, effect.wait_s, effect.talk_s)
