"""``serve --simulate``: the simulator standing in for Asterisk, built from the ``[simulator]``
settings and the product's addresses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from callcenter.errors import SettingsError
from callcenter.settings import Settings, load_settings
from simulator.wiring import stand_in
from tests.simulator.test_simulator import tiny_ivr


def settings(tmp_path: Path, **simulator: Any) -> Settings:
    return load_settings(environ={}, overrides={
        "ami": {"secret": "demo-secret"}, "recording": {"dir": str(tmp_path / "rec")},
        "fastagi": {"port": 0}, "simulator": simulator})


def no_web() -> None:
    return None


async def test_the_cti_is_pointed_at_the_simulators_ami_with_the_products_account(
        tmp_path: Path) -> None:
    component = await stand_in(settings(tmp_path, rate=0, agents=1),
                               fastagi_address=lambda: ("127.0.0.1", 9), web_address=no_web)
    assert component.phones is not None
    host, port = component.ami_address
    try:
        await component.start()
        reader, writer = await asyncio.open_connection(host, port)
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
        health = await component.health()
        assert health["ok"] and health["ami"] == f"{host}:{port}"
        writer.close()
    finally:
        await component.stop()


async def test_demo_traffic_runs_the_products_fastagi_route(tmp_path: Path) -> None:
    server = await asyncio.start_server(tiny_ivr, "127.0.0.1", 0)
    bound = server.sockets[0].getsockname()[1]
    component = await stand_in(
        # patience 0.05: callers give up in the queue at once
        settings(tmp_path, rate=40, time_scale=0.001, speech=False, patience=0.05),
        fastagi_address=lambda: ("0.0.0.0", bound), web_address=no_web)
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
    with pytest.raises(SettingsError, match="CALLCENTER_SIMULATOR_RATE"):
        load_settings(environ={"CALLCENTER_SIMULATOR_RATE": "fast"})
    with pytest.raises(SettingsError, match=r"simulator\.rate"):
        load_settings(environ={"CALLCENTER_SIMULATOR_RATE": "-1"})
    with pytest.raises(SettingsError, match=r"simulator\.time_scale"):
        load_settings(environ={"CALLCENTER_SIMULATOR_TIME_SCALE": "0"})
    with pytest.raises(SettingsError, match=r"simulator\.channels"):
        load_settings(environ={"CALLCENTER_SIMULATOR_CHANNELS": "sip"})
    knobs = load_settings(environ={"CALLCENTER_SIMULATOR_AGENTS": "4",
                                   "CALLCENTER_SIMULATOR_SPEECH": "no"}).simulator
    assert (knobs.agents, knobs.speech) == (4, False)


def test_the_simulated_asterisk_host_has_the_eagi_relay_where_the_settings_say() -> None:
    import sys

    from simulator.wiring import simulator_options

    settings = load_settings(environ={"CALLCENTER_SPEECH_EAGI_SCRIPT": "/opt/cc/eagi-relay"})
    installed = simulator_options(settings).agi_scripts
    relay = Path(sys.executable).parent / "callcenter-eagi"
    assert installed == ({"/opt/cc/eagi-relay": str(relay)} if relay.is_file() else {})


def test_some_demo_callers_say_their_choice_in_their_language() -> None:
    import random

    from simulator.callers import CallerMix, Directory, make_caller

    directory = Directory((("123456789012345", ("13800138000",)),))
    everyone = CallerMix(speak=1.0, known=1.0, ambiguous=0, unknown=0, wrong_number=0,
                         timeout=0, hangup=0)
    rng = random.Random(7)
    callers = [make_caller(rng, directory, everyone) for _ in range(200)]
    said = {(c.lang_key, c.menu_key, c.intent_key if c.menu_key == "2" else "",
             c.speech.get("main_menu_speech"), c.voice) for c in callers if c.speech}
    assert ("1", "2", "2", "报修", "cmn") in said and ("2", "2", "2", "repair", "en-us") in said
    # pre-sales has no spoken choice: those callers key it
    assert all(not c.speech for c in callers if c.menu_key == "1")
    # without speakers the random choices are the ones drawn before speech existed
    plain = [make_caller(random.Random(7), directory, CallerMix()) for _ in range(1)]
    assert not plain[0].speech
