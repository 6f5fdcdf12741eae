"""Night calls reach the agents on shift: the product's IVR (its clock set to 20:30 or 03:00
Asia/Shanghai) routes the call to ``night``, the CTI logs a demo-style agent in over real AMI
(its ``QueueAdd`` actions include ``night``), and the PBX simulator, standing in for Asterisk,
rings that agent, who answers.

20:30 is inside the 09–21 band and the night band; 03:00 inside the night band only. Either
way the agent was logged in with its account's queues ``aftersales,presales`` and nothing
else, as every demo agent is: membership of ``night`` comes from ``callcenter.shifts``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db import migrate
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.service import add_user
from cti.ami_client import AmiClient
from cti.service import CtiService
from ivr.agi_server import FastAgiServer
from ivr.menu_config import MenuRegistry
from ivr.ports import InMemoryDirectory
from ivr.service import make_routes
from simulator import AmiAccount, CallerScript, Simulator, SimulatorOptions
from simulator.agents import AgentProfile
from tests.fakes.hub import RecordingHub

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUICK = AgentProfile(answer_after=0.05, handle_time=0.2, handle_spread=0, min_handle=0.1)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url)
    try:
        yield Store(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("local", [datetime(2026, 11, 23, 20, 30, tzinfo=SHANGHAI),
                                   datetime(2026, 11, 24, 3, 0, tzinfo=SHANGHAI)],
                         ids=["20:30", "03:00"])
async def test_a_night_call_is_routed_to_night_and_answered_by_a_logged_in_agent(
        store: Store, tmp_path: Path, local: datetime) -> None:
    now = local.astimezone(UTC)
    # a general agent, as the demo data makes them, and a complaints specialist
    for number, queues in (("8001", ("aftersales", "presales")), ("8002", ("complaints",))):
        await add_user(store, now, username=number, display_name=f"坐席{number}",
                       role=Role.AGENT, password="password-1", agent_number=number,
                       interface=f"PJSIP/{number}", queues=queues)
    agi = FastAgiServer(make_routes(InMemoryDirectory(), MenuRegistry(), clock=lambda: now))
    agi_port = await agi.start("127.0.0.1", 0)
    # demo_phones off: a member the CTI adds is a simulated phone that answers by itself
    simulator = Simulator(SimulatorOptions(
        accounts=(AmiAccount("callcenter", "pw"),), time_scale=0.001, recordings=False,
        speech=False, demo_phones=False, agent_profile=QUICK),
        fastagi_address=lambda: ("127.0.0.1", agi_port))
    host, port = await simulator.start()
    cti = CtiService(StoreCtiDirectory(store), RecordingHub())
    client = AmiClient(host, port, "callcenter", "pw", on_message=cti.on_message,
                       on_connected=cti.on_connected, clock=time.time)
    cti.attach(client)
    await cti.start()
    await client.start()
    try:
        assert client.connected
        agents = {a.agent_number: a for a in await store.agents.list()}
        general = await cti.login(agents["8001"])
        specialist = await cti.login(agents["8002"])
        assert general["queues"] == ["aftersales", "presales", "night"]
        assert specialist["queues"] == ["complaints"]
        async with asyncio.timeout(30):
            # pre-sales (key 1) identifies by caller ID only: no merchant number to key in
            record = await simulator.place_call(CallerScript(menu_key="1", key_delay=0.01))
    finally:
        await client.stop()
        await cti.stop()
        await simulator.stop()
        await agi.stop()
    assert record.outcome == "answered"
    assert record.queues == ("night",)
    assert record.agents == ("PJSIP/8001",)
