"""The keep-my-place offers' view of the CTI (implements
``callcenter.callbacks.ports.AgentDesks``): live callers and free agents from the CTI's
machines, and the dial through the CTI's click to dial (same rules, same idempotency)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from callcenter.callbacks.keep_place import Caller
from callcenter.db.repositories import Store
from callcenter.errors import NotFound
from cti.agent_state import Agent, AgentStatus
from cti.call_state import CallState
from cti.screen_pop import PopCard, card_json
from cti.service import CtiService

__all__ = ["CtiAgentDesks"]

_IN_LINE = (CallState.QUEUED, CallState.RINGING)


class CtiAgentDesks:
    """Reads ``cti.dispatcher.state`` (synchronously, on the event loop: no lock needed)."""

    def __init__(self, cti: CtiService, store: Store) -> None:
        self.cti = cti
        self.store = store

    def waiting_callers(self) -> list[Caller]:
        out: list[Caller] = []
        for call in self.cti.dispatcher.state.calls.calls.values():
            if call.state not in _IN_LINE or not call.visits:
                continue
            visit = call.visits[-1]
            if visit.left_at is not None:
                continue
            out.append(Caller(call.linked_id, visit.queue,
                              datetime.fromtimestamp(visit.joined_at, UTC), call.priority or 0))
        return out

    def _free(self, agent: Agent) -> bool:
        """Available (not paused), or held in after-call work (paused with an ACW reason:
        app_queue does not ring them meanwhile): the two states click to dial allows
        (``cti.agent_state.check_action``). Asterisk's own short wrap-up is not: the dial
        would be refused."""
        if agent.status is AgentStatus.AVAILABLE:
            return not agent.paused
        acw = self.cti.dispatcher.state.agents.config.acw_reasons
        return agent.status is AgentStatus.PAUSED and agent.state_reason in acw

    def free_agents(self, queue: str) -> list[str]:
        free: list[tuple[float, str]] = []
        for agent in self.cti.dispatcher.state.agents.agents.values():
            number = self.cti.agent_number_of(agent.interface)
            if number and queue in agent.memberships and self._free(agent):
                free.append((agent.since, number))
        return [number for _, number in sorted(free)]

    def is_free(self, agent_number: str) -> bool:
        return any(self.cti.agent_number_of(a.interface) == agent_number and self._free(a)
                   for a in self.cti.dispatcher.state.agents.agents.values())

    async def card(self, call_id: str, queue: str, number: str, merchant_number: str
                   ) -> dict[str, Any]:
        """The CTI's own card (merchant, terminals, open tasks, recent calls, complaints)."""
        config = self.cti.config
        details = await self.cti.directory.load_card(
            call_id, caller=number, merchant_number=merchant_number, ivr_verified=True,
            recent_calls=config.recent_calls, complaints=config.complaint_history)
        return card_json(PopCard(call_id, queue, number, None, merchant_number,
                                 details=details, complete=True))

    async def dial(self, agent_number: str, number: str, key: str, label: str
                   ) -> dict[str, Any]:
        agent = await self.store.agents.by_number(agent_number)
        if agent is None:
            raise NotFound(f"no agent {agent_number}")
        self.cti.remember_agent(agent)
        return await self.cti.dial(agent, number, idempotency_key=key, label=label)
