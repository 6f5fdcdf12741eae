"""Click to dial in the demo (``serve --simulate``), through the desk's outbound-call state:
the product's CTI sends its Originate to the PBX simulator over AMI; the agent's demo phone
rings on the desk (nothing is "answered" before the agent picks up), then the merchant's phone
rings and answers, all from the AMI events the simulator sends in the shapes of the real
capture ``11-click-to-dial`` (``tests/simulator/test_conformance.py``). A phone the agent
rejects fails the dial."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.app import Product, build_product
from callcenter.db import migrate
from callcenter.demo_data import generate
from callcenter.runtime import RunOptions
from callcenter.service import load_demo_data
from callcenter.settings import load_settings
from cti.agent_state import AgentStatus
from simulator.wiring import SimulatorComponent, stand_in

pytestmark = pytest.mark.timeout(90)
AGENT = "8001"  # a desk agent: the simulator gives it a demo phone


@pytest.fixture
def product_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}",
        "CALLCENTER_RECORDING_DIR": str(tmp_path / "recordings"),
        "CALLCENTER_WEB_PORT": "0", "CALLCENTER_FASTAGI_PORT": "0",
        "CALLCENTER_WEB_SESSION_SECRET": "sim", "CALLCENTER_SIMULATOR_RATE": "0",
        "CALLCENTER_SIMULATOR_AGENTS": "1", "CALLCENTER_SIMULATOR_FIRST_AGENT": "8015",
        "CALLCENTER_SIMULATOR_SPEECH": "0", "CALLCENTER_SIMULATOR_WRAPUPS": "0",
        "CALLCENTER_DESK_WRAP_UP_MAX_S": "0",
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


@dataclass
class Demo:
    product: Product
    simulator: SimulatorComponent
    desk: list[dict[str, Any]]  # what the hub pushed to the agent's desk
    phone: str  # a merchant's number


@pytest.fixture
async def demo(product_env: dict[str, str]) -> AsyncIterator[Demo]:
    settings = load_settings(environ=product_env)
    product = await build_product(settings, RunOptions(simulate=True), stand_in=stand_in)
    data = generate(merchants=20, agents=15)
    await load_demo_data(product.runtime.store, data, datetime.now(UTC))
    phone = next(m.phones[0] for m in data.merchants if m.phones[0].startswith("1"))
    hub = product.runtime.hub
    desk: list[dict[str, Any]] = []
    publish = hub.publish

    def recording(topic: str, message: dict[str, Any]) -> int:
        if topic == f"agent:{AGENT}":
            desk.append(message)
        return publish(topic, message)

    hub.publish = recording  # type: ignore[method-assign]
    await product.start()
    try:
        assert isinstance(product.pbx, SimulatorComponent)
        await product.cti.refresh_agents()
        yield Demo(product, product.pbx, desk, phone)
    finally:
        await product.stop()


async def until(check: Callable[[], bool], what: str, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.02)
    assert check(), what


def dials(demo: Demo) -> list[str]:
    return [m["status"] for m in demo.desk if m["type"] == "dial"]


async def logged_in(demo: Demo) -> Any:
    cti = demo.product.cti
    agent = cti.roster.by_number[AGENT]
    await cti.login(agent)
    board = cti.dispatcher.state.agents.agents
    await until(lambda: agent.interface in board
                and board[agent.interface].status is AgentStatus.AVAILABLE, "available")
    return agent


async def test_the_demo_phone_rings_first_then_the_merchant_and_the_desk_follows(
        demo: Demo) -> None:
    cti = demo.product.cti
    agent = await logged_in(demo)
    reply = await cti.dial(agent, demo.phone, idempotency_key="demo-dial-0001")
    assert reply["status"] == "dialling"  # not "answered" 1 ms after the Originate
    phones = demo.simulator.phones
    assert phones is not None
    await until(lambda: any(r.interface == agent.interface for r in phones.ringing()),
                "the agent's demo phone rings")
    assert dials(demo) == []
    assert cti.dispatcher.state.agents.agents[agent.interface].status is AgentStatus.AVAILABLE
    assert cti.phone(agent, "answer") == {"phone": "answer"}  # the desk's answer button
    await until(lambda: "connected" in dials(demo), "the merchant answered")
    assert dials(demo) == ["answered", "ringing", "connected"]
    record = cti.dispatcher.state.agents.agents[agent.interface]
    assert record.status is AgentStatus.ON_CALL
    linked_id = record.linked_id
    assert linked_id is not None
    assert cti.phone(agent, "hangup") == {"phone": "hangup"}  # the desk's hang-up button
    await until(lambda: any(m["type"] == "call" and m.get("event") == "ended"
                            and m.get("linked_id") == linked_id for m in demo.desk)
                or record.status is not AgentStatus.ON_CALL, "the call ended")
    await until(lambda: record.status is not AgentStatus.ON_CALL, "the agent is off the call")


async def test_a_rejected_demo_phone_fails_the_dial(demo: Demo) -> None:
    cti = demo.product.cti
    agent = await logged_in(demo)
    await cti.dial(agent, demo.phone, idempotency_key="demo-dial-0002")
    phones = demo.simulator.phones
    assert phones is not None
    await until(lambda: any(r.interface == agent.interface for r in phones.ringing()),
                "the agent's demo phone rings")
    assert cti.phone(agent, "hangup") == {"phone": "hangup"}  # rejected on the desk
    await until(lambda: "failed" in dials(demo), "the dial failed")
    assert dials(demo) == ["failed"]
    assert cti.dispatcher.state.agents.agents[agent.interface].status is AgentStatus.AVAILABLE
