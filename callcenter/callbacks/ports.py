"""What the callbacks need from storage (implemented in ``callcenter/callbacks_store.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from callcenter.callbacks.keep_place import Caller, Request
from callcenter.callbacks.rules import CallbackState, Candidate, Plan, Record


class CallbackStore(Protocol):
    async def find(self, *, state: CallbackState | None = None, agent_number: str | None = None,
                   planned_from: date | None = None, planned_to: date | None = None,
                   limit: int = 500) -> list[Record]: ...

    async def get(self, callback_id: int) -> Record | None: ...

    async def save(self, record: Record, now: datetime) -> None:
        """Write the state, form, attempts and review of ``record``."""

    async def insert(self, plans: Sequence[Plan], now: datetime) -> int:
        """Insert the plans whose ``source_ref`` is new; how many were inserted."""

    async def known_refs(self, refs: Sequence[str]) -> set[str]: ...

    async def load(self, day: date) -> dict[str, int]:
        """Callbacks each agent already holds on ``day``."""

    async def unassigned(self, up_to: date) -> list[Record]:
        """Planned callbacks without an agent, planned on or before ``up_to``."""

    async def assign(self, assignments: dict[int, tuple[str, date]], now: datetime) -> None: ...

    async def candidates(self, since: datetime, until: datetime) -> list[Candidate]:
        """Closed tasks and low satisfaction scores in ``[since, until)``."""

    async def merchant_ids(self, numbers: Sequence[str]) -> dict[str, int]: ...

    async def agents(self) -> list[str]:
        """Agent numbers that take callbacks (active agents)."""

    async def insert_place(self, plan: Plan, place: Request, position: int | None,
                           now: datetime) -> bool:
        """Insert a queue call-back with its kept place unless ``plan.source_ref`` exists."""

    async def places(self, queue: str | None = None) -> list[Record]:
        """Queue call-backs whose place is open (waiting or claimed)."""

    async def save_place(self, callback_id: int, before: Request, after: Request,
                         now: datetime) -> bool:
        """Write ``after`` only if the row still holds ``before``; whether it did."""

    async def add_event(self, linked_id: str, at: datetime, kind: str,
                        data: Mapping[str, Any]) -> None:
        """A line of the call's timeline (``call_events``)."""


class AgentDesks(Protocol):
    """What the keep-my-place offers need from the CTI (``callcenter/queue_callbacks.py``)."""

    def waiting_callers(self) -> list[Caller]:
        """The callers on the line in every queue now (arrival, priority)."""
        ...

    def free_agents(self, queue: str) -> list[str]:
        """Agent numbers of ``queue`` free for a call-back now (available, or in after-call
        work), the one free longest first."""
        ...

    def is_free(self, agent_number: str) -> bool: ...

    async def card(self, call_id: str, queue: str, number: str, merchant_number: str
                   ) -> dict[str, Any]:
        """The merchant's screen-pop card (as the desk's ``pop`` messages carry it)."""
        ...

    async def dial(self, agent_number: str, number: str, key: str, label: str
                   ) -> dict[str, Any]:
        """Click to dial from the agent's phone, once per ``key``; raises what the CTI
        raises (not available, AMI unavailable …)."""
        ...
