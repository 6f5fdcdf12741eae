"""Demo mode only: the simulated agents also fill in their wrap-up forms, over HTTP.

A simulated agent (``[simulator] agents``, demo accounts 8013-8015 by default) answers calls by
itself on the simulated PBX; without this component its calls would never get a business
record, and a newcomer watching ``make run`` would see an empty dispatcher board. So, like a
diligent agent at the desk, it saves the pre-filled wrap-up the product offers (the IVR's intent
decides repair / installation / consultation). It goes through the product's web API exactly as
the desk's browser does: it logs in on ``/login`` with its demo password, reads
``GET /api/calls/{linked_id}/wrapup`` and saves with ``POST /api/calls/{linked_id}/wrapup``
(JSON, the app's own ``Origin``). It never touches calls of human agents.

The simulator learns which calls to wrap up from its own call records (``call_ended``). The
product writes a call asynchronously, so a wrap-up the product does not offer yet (404, or 403
before the call's agent is written) is tried again every ``every`` seconds, for at most
``give_up_after`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from simulator.pbx import CallRecord

logger = logging.getLogger(__name__)

DESCRIPTIONS = {
    "repair": "刷卡无反应，屏幕提示通讯失败（模拟坐席）",
    "installation": "新店开业，申请装机（模拟坐席）",
    "complaint_1": "商户投诉维修人员未按约定时间上门（模拟坐席）",
    "complaint_2": "商户投诉维修人员未按约定时间上门（模拟坐席）",
}
# A class-1 complaint is settled on the phone: the product requires how and with what result.
COMPLAINT_SETTLED = {"handling": "已致歉并重新预约上门时间（模拟坐席）",
                     "result": "商户接受，同意结案（模拟坐席）"}
CONSULTATION = "已解答商户咨询（模拟坐席）"
FOLLOW_UP = "商户询问已报修工单进度（模拟坐席）"


class NotYet(Exception):
    """The product does not offer this wrap-up yet (or the agent's session expired): try the
    call again on the next round."""


@dataclass(slots=True)
class Pending:
    """A call a simulated agent still has to wrap up."""

    agent_number: str
    since: float


@dataclass(slots=True)
class DemoWrapups:
    """Every few seconds, wrap up the ended calls of the simulated agents through the web API.

    ``base_url`` gives the product's web address (``http://127.0.0.1:8080``; None while there
    is none); ``password`` is the simulated agents' password (their username is their agent
    number, as in the demo data).
    """

    base_url: Callable[[], str | None]
    password: str
    agent_numbers: frozenset[str]
    every: float = 3.0
    give_up_after: float = 120.0
    clock: Callable[[], float] = time.monotonic
    name: str = "demo-wrapups"
    saved: int = 0
    pending: dict[str, Pending] = field(default_factory=dict)
    _sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def call_ended(self, record: CallRecord) -> None:
        """The simulated PBX's hook (``Engine.on_call_ended``): queue the answered calls whose
        last agent is simulated."""
        if record.outcome != "answered" or not record.agents:
            return
        agent_number = record.agents[-1].rsplit("/", 1)[-1]
        if agent_number in self.agent_numbers:
            self.pending[record.linked_id] = Pending(agent_number, self.clock())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.run_once()
            except Exception:  # a demo helper must never take the product down
                logger.exception("demo wrap-ups failed; trying again")

    async def run_once(self) -> int:
        """Try every pending call once; returns how many were saved."""
        base = self.base_url()
        if base is None:
            return 0
        done = 0
        for linked_id, pending in list(self.pending.items()):
            try:
                saved = await self._wrap_up(base, linked_id, pending.agent_number)
            except (NotYet, aiohttp.ClientError, TimeoutError) as exc:
                if self.clock() - pending.since < self.give_up_after:
                    continue
                logger.warning("demo wrap-up of %s given up: %s", linked_id, exc)
                saved = False
            del self.pending[linked_id]
            done += saved
        self.saved += done
        return done

    async def _session(self, base: str, agent_number: str) -> aiohttp.ClientSession:
        """The agent's logged-in browser session (log in on first use)."""
        session = self._sessions.get(agent_number)
        if session is not None:
            return session
        # unsafe=True: keep cookies of an IP-address host (127.0.0.1), as a browser does
        session = aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                        timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with session.post("/login", data={"username": agent_number,
                                                    "password": self.password},
                                    allow_redirects=False) as answer:
                if answer.status not in (302, 303):
                    raise NotYet(f"agent {agent_number} cannot log in (HTTP {answer.status})")
        except BaseException:
            await session.close()
            raise
        self._sessions[agent_number] = session
        return session

    async def _call(self, base: str, agent_number: str, method: str, path: str,
                    body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One JSON request as the desk's browser sends it; returns (status, JSON body)."""
        session = await self._session(base, agent_number)
        headers = {"Accept": "application/json", "Origin": base}
        async with session.request(method, path, json=body, headers=headers,
                                   allow_redirects=False) as answer:
            data = await answer.json(content_type=None)
        if answer.status == 401:  # the session ended: log in again next round
            await self._sessions.pop(agent_number).close()
            raise NotYet("logged out")
        return answer.status, data

    async def _wrap_up(self, base: str, linked_id: str, agent_number: str) -> bool:
        path = f"/api/calls/{linked_id}/wrapup"
        status, view = await self._call(base, agent_number, "GET", path)
        if status in (403, 404):
            raise NotYet(f"HTTP {status}: {view.get('message', '')}")
        if status != 200:
            logger.warning("demo wrap-up of %s skipped: HTTP %d %s", linked_id, status, view)
            return False
        if view["call"]["disposition"] is not None:
            return False  # already wrapped up
        body = _form(view)
        status, answer = await self._call(base, agent_number, "POST", path, body)
        if status == 409 and answer.get("error_id") == "possible_duplicate":
            # the merchant already has this task open: a follow-up question, not a new task
            body.update(disposition="consultation", description=FOLLOW_UP)
            status, answer = await self._call(base, agent_number, "POST", path, body)
        if status != 201:
            logger.warning("demo wrap-up of %s skipped: HTTP %d %s", linked_id, status, answer)
            return False
        return True


def _form(view: dict[str, Any]) -> dict[str, Any]:
    """The wrap-up a diligent agent saves from the product's pre-filled form."""
    disposition = view.get("suggested_disposition") or "consultation"
    if view.get("merchant") is None:
        disposition = "consultation"
    body: dict[str, Any] = dict(view["form"])
    body["disposition"] = disposition
    body["description"] = DESCRIPTIONS.get(disposition, CONSULTATION)
    terminals = view.get("terminals") or []
    if disposition == "repair" and terminals and not body.get("terminal_serial"):
        body["terminal_serial"] = terminals[0]["serial"]
        body["product_model"] = terminals[0]["model"]
    if disposition == "complaint_1":
        for key, text in COMPLAINT_SETTLED.items():
            body[key] = body.get(key) or text
    return body
