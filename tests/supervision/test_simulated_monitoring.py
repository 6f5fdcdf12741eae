"""Monitoring on the PBX simulator, as `make run` wires it: the demo supervisor (phone
PJSIP/9000) listens in on a simulated agent's call; the simulator answers the Originate into
ChanSpy over AMI and reports ChanSpyStart, which the CTI logs on the call's timeline; a
switch to whisper keys the same spy (PlayDTMF received, ChanSpy's d option), and the
supervisor's phone hanging up ends the session (ChanSpyStop)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.app import build_product
from callcenter.db import migrate
from callcenter.db.models import CallEventRow
from callcenter.demo_data import generate
from callcenter.runtime import RunOptions
from callcenter.service import load_demo_data
from callcenter.settings import load_settings
from cti.agent_state import AgentStatus
from simulator.callers import CallerScript
from simulator.wiring import SimulatorComponent, stand_in

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def product_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}",
        "CALLCENTER_RECORDING_DIR": str(tmp_path / "recordings"),
        "CALLCENTER_WEB_PORT": "0", "CALLCENTER_FASTAGI_PORT": "0",
        "CALLCENTER_WEB_SESSION_SECRET": "sim", "CALLCENTER_SIMULATOR_RATE": "0",
        "CALLCENTER_SIMULATOR_AGENTS": "1", "CALLCENTER_SIMULATOR_FIRST_AGENT": "8015",
        "CALLCENTER_SIMULATOR_HANDLE_TIME": "6", "CALLCENTER_SIMULATOR_TIME_SCALE": "0.02",
        "CALLCENTER_SIMULATOR_SPEECH": "0", "CALLCENTER_SIMULATOR_WRAPUPS": "0",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    migrate.upgrade(env["CALLCENTER_DATABASE_URL"])
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_the_demo_supervisor_listens_in_on_a_simulated_call(
        product_env: dict[str, str]) -> None:
    settings = load_settings(environ=product_env)
    product = await build_product(settings, RunOptions(simulate=True), stand_in=stand_in)
    runtime = product.runtime
    data = generate(merchants=20, agents=15)
    await load_demo_data(runtime.store, data, datetime.now(UTC))
    phone = next(m.phones[0] for m in data.merchants if m.phones[0].startswith("1"))
    await product.start()
    try:
        simulator = product.pbx
        assert isinstance(simulator, SimulatorComponent)
        assert product.supervision is not None and product.supervision.monitoring is not None
        cti = product.cti
        await cti.refresh_agents()
        script = CallerScript(phone=phone, lang_key="1", menu_key="2", intent_key="2",
                              survey_key="5", key_delay=0.05)
        call = asyncio.ensure_future(simulator.simulator.run_calls(1, [script]))
        agents = cti.dispatcher.state.agents.agents
        async with asyncio.timeout(30):
            while not any(a.status is AgentStatus.ON_CALL for a in agents.values()):
                await asyncio.sleep(0.05)
        talking = next(a for a in agents.values() if a.status is AgentStatus.ON_CALL)
        number = cti.agent_number_of(talking.interface)
        assert number is not None
        session = await product.supervision.monitoring.start("supervisor", "PJSIP/9000",
                                                             number, "listen")
        assert session["spy_channel"].startswith("Local/9000@supervisor-")
        monitoring = product.supervision.monitoring
        switched = await monitoring.start("supervisor", "PJSIP/9000", number, "whisper")
        assert switched["spy_channel"] == session["spy_channel"]
        engine = simulator.simulator.engine
        assert engine is not None
        spy = engine.state.spies[session["spy_channel"]]
        assert (spy.options, spy.mode) == ("qdE", "whisper")
        assert cti.ami is not None
        await cti.ami.send("Hangup", [("Channel", session["spy_channel"][:-1] + "2")])
        async with asyncio.timeout(10):
            while monitoring.sessions:
                await asyncio.sleep(0.05)
        await call
        await cti.settle()
        async with runtime.store.transaction() as s:
            kinds = list(await s.scalars(select(CallEventRow.kind).where(
                CallEventRow.linked_id == session["linked_id"])))
        assert "spy_started" in kinds
        await product.supervision.monitoring.flush()
        trail = [e.action for e in await runtime.store.audit.recent(limit=10)]
        # started, switched in place, ended by the supervisor's phone hanging up
        assert trail[:3] == ["monitor.stop", "monitor.mode", "monitor.start"]
    finally:
        await product.stop()
