"""``serve --simulate``: the simulator installed into the product's runtime."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.app import Runtime
from callcenter.settings import load_settings
from callcenter.simulator.errors import SimulatorConfigError
from callcenter.simulator.wiring import (
    SimulatorSettings,
    ami_settings_for,
    install,
    simulator_of,
)
from tests.simulator.test_simulator import tiny_ivr


def runtime(tmp_path: Path) -> Runtime:
    settings = load_settings(environ={}, overrides={
        "ami": {"secret": "demo-secret"}, "recording": {"dir": str(tmp_path / "rec")},
        "fastagi": {"port": 0}})
    return Runtime(settings=settings, engine=None, store=None)  # type: ignore[arg-type]


@dataclass
class FakeFastAgi:
    """Stands for the product's FastAGI component: only its name and bound port matter."""

    bound_port: int
    name: str = "fastagi"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def test_without_simulate_nothing_is_installed(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    await install(rt, {"simulate": False})
    assert rt.components == [] and "simulator" not in rt.health
    assert simulator_of(rt) is None and ami_settings_for(rt) is None


async def test_the_cti_is_pointed_at_the_simulators_ami_with_the_products_account(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_SIMULATOR_RATE", "0")
    monkeypatch.setenv("CALLCENTER_SIMULATOR_AGENTS", "1")
    rt = runtime(tmp_path)
    await install(rt, {"simulate": True})
    component = simulator_of(rt)
    assert component is not None and component.phones is not None
    ami = ami_settings_for(rt)
    assert ami is not None and (ami.host, ami.port) == component.ami_address
    assert (ami.username, ami.secret) == ("callcenter", "demo-secret")
    try:
        await component.start()
        reader, writer = await asyncio.open_connection(ami.host, ami.port)
        await reader.readline()
        writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: callcenter\r\n"
                     b"Secret: demo-secret\r\n\r\nAction: QueueStatus\r\nActionID: 2\r\n"
                     b"Queue: aftersales\r\n\r\n")
        data = b""
        async with asyncio.timeout(5):
            while b"QueueStatusComplete" not in data:
                data += await reader.readuntil(b"\r\n\r\n")
        assert b"Message: Authentication accepted" in data
        assert b"Location: PJSIP/8013" in data  # a simulated demo agent logged in
        health = await rt.health["simulator"]()
        assert health["ok"] and health["ami"] == f"{ami.host}:{ami.port}"
        writer.close()
    finally:
        await component.stop()


async def test_demo_traffic_runs_the_products_fastagi_route(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_SIMULATOR_RATE", "40")
    monkeypatch.setenv("CALLCENTER_SIMULATOR_TIME_SCALE", "0.001")
    monkeypatch.setenv("CALLCENTER_SIMULATOR_SPEECH", "0")
    monkeypatch.setenv("CALLCENTER_SIMULATOR_PATIENCE", "0.05")  # give up in the queue at once
    server = await asyncio.start_server(tiny_ivr, "127.0.0.1", 0)
    rt = runtime(tmp_path)
    rt.components.append(FakeFastAgi(server.sockets[0].getsockname()[1]))
    await install(rt, {"simulate": True})
    component = simulator_of(rt)
    assert component is not None
    try:
        await component.start()
        async with asyncio.timeout(10):
            while sum(component.outcomes.values()) < 3:
                await asyncio.sleep(0.05)
    finally:
        await component.stop()
        server.close()
        await server.wait_closed()
    assert component.placed >= 3
    assert any(record.queues for record in component.simulator.records)  # IVR → queue


def test_bad_knobs_are_refused_with_their_name() -> None:
    with pytest.raises(SimulatorConfigError, match="CALLCENTER_SIMULATOR_RATE"):
        SimulatorSettings.from_environ({"CALLCENTER_SIMULATOR_RATE": "fast"})
    with pytest.raises(SimulatorConfigError):
        SimulatorSettings.from_environ({"CALLCENTER_SIMULATOR_TIME_SCALE": "0"})
    knobs = SimulatorSettings.from_environ({"CALLCENTER_SIMULATOR_AGENTS": "4",
                                            "CALLCENTER_SIMULATOR_SPEECH": "no"})
    assert (knobs.agents, knobs.speech) == (4, False)
