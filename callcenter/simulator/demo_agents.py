"""Demo mode only: the simulated agents also fill in their wrap-up forms.

A simulated agent (``CALLCENTER_SIMULATOR_AGENTS``, demo accounts 8013-8015 by default) answers
calls by itself on the simulated PBX; without this component its calls would never get a
business record, and a newcomer watching ``make run`` would see an empty dispatcher board. So,
like a diligent agent, it saves the pre-filled wrap-up the product offers (the IVR's intent
decides repair / installation / consultation) through the same business service the desktop
uses. It never touches calls of human agents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from callcenter.business.errors import PossibleDuplicate
from callcenter.business.service import BusinessService
from callcenter.business.wrapup import form_from_json
from callcenter.db.models import CallRow
from callcenter.db.repositories import Store
from callcenter.errors import CallcenterError

logger = logging.getLogger(__name__)

DESCRIPTIONS = {
    "repair": "刷卡无反应，屏幕提示通讯失败（模拟坐席）",
    "installation": "新店开业，申请装机（模拟坐席）",
}


@dataclass(slots=True)
class DemoWrapups:
    """Every few seconds, wrap up the ended calls of the simulated agents."""

    store: Store
    service: BusinessService
    agent_numbers: frozenset[str]
    every: float = 3.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: str = "demo-wrapups"
    saved: int = 0
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.run_once()
            except Exception:  # a demo helper must never take the product down
                logger.exception("demo wrap-ups failed; trying again")

    async def run_once(self) -> int:
        async with self.store.transaction() as s:
            rows = (await s.execute(
                select(CallRow.linked_id, CallRow.agent_number).where(
                    CallRow.outcome == "answered", CallRow.ended_at.is_not(None),
                    CallRow.disposition.is_(None),
                    CallRow.agent_number.in_(sorted(self.agent_numbers)),
                ).limit(50))).all()
        done = 0
        for linked_id, agent_number in rows:
            if await self._wrap_up(linked_id, agent_number):
                done += 1
        self.saved += done
        return done

    async def _wrap_up(self, linked_id: str, agent_number: str) -> bool:
        view = await self.service.wrapup_form(linked_id)
        suggested = view.prefill.suggested_disposition
        disposition = suggested.value if suggested else "consultation"
        if view.context.merchant is None:
            disposition = "consultation"
        body: dict[str, Any] = dict(view.prefill.values)
        body["disposition"] = disposition
        body["description"] = DESCRIPTIONS.get(disposition, "已解答商户咨询（模拟坐席）")
        if disposition == "repair" and view.context.terminals and not body.get("terminal_serial"):
            body["terminal_serial"] = view.context.terminals[0].serial
            body["product_model"] = view.context.terminals[0].model
        try:
            await self.service.record_wrapup(linked_id, form_from_json(body),
                                             agent_number=agent_number, now=self.clock())
        except PossibleDuplicate:
            body.update(disposition="consultation",
                        description="商户询问已报修工单进度（模拟坐席）")
            await self.service.record_wrapup(linked_id, form_from_json(body),
                                             agent_number=agent_number, now=self.clock())
        except CallcenterError as exc:
            logger.warning("demo wrap-up of %s skipped: %s", linked_id, exc)
            return False
        return True
