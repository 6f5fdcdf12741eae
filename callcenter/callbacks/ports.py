"""What the callbacks need from storage (implemented in ``callcenter/callbacks_store.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from callcenter.callbacks.keep_place import Request
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
