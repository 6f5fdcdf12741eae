"""The offers' view of the CTI (callcenter/callback_desks.py) on the real capture of scenario
01 (agents log in, a merchant waits in aftersales, 8001 answers)."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.callback_desks import CtiAgentDesks
from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.web.hub import Hub
from cti.service import CtiService
from tests.cti import test_service
from tests.cti.test_desktop_browser import SCENARIO, events
from tests.cti.test_service import BASE, seed
from tests.fakes.ami_actions import FakeAmiActions

template_db = test_service.template_db
cti_store = test_service.cti_store


async def test_waiting_callers_and_free_agents_follow_the_captured_call(
        cti_store: Store) -> None:
    await seed(cti_store)
    clock = [BASE]
    cti = CtiService(StoreCtiDirectory(cti_store), Hub(), clock=lambda: clock[0])
    cti.attach(FakeAmiActions())
    await cti.start()
    try:
        await cti.refresh_agents()
        desks = CtiAgentDesks(cti, cti_store)
        seen: dict[str, tuple[list[str], list[tuple[str, str, datetime]]]] = {}
        joined_at = 0.0
        for message, at in events(SCENARIO):
            clock[0] = at
            cti.on_message(message, at)
            if message.name == "QueueCallerJoin":
                joined_at = at
            if message.name in ("QueueMemberAdded", "QueueCallerJoin", "AgentConnect"):
                seen.setdefault(message.name, (desks.free_agents("aftersales"), [
                    (c.call_id, c.queue, c.arrived_at) for c in desks.waiting_callers()]))
        # 8001 logged in first: free in aftersales; then 8002 too (free longest first)
        assert seen["QueueMemberAdded"] == (["8001"], [])
        assert seen["QueueCallerJoin"] == (["8001", "8002"], [
            ("1795330137.0", "aftersales", datetime.fromtimestamp(joined_at, UTC))])
        # 8001 answered: no longer free, and the caller is out of the line
        assert seen["AgentConnect"] == (["8002"], [])
        assert not desks.is_free("8001") and desks.is_free("8002")
        assert not desks.is_free("9999")
    finally:
        await cti.stop()
