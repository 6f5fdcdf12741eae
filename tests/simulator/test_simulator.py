"""The real-time simulator end to end over loopback: a CTI-like AMI client, a small scripted
IVR of this test on FastAGI (not the product's menu), simulated agents and demo phones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulator import (
    AmiAccount,
    CallerScript,
    PbxConfig,
    QueueConfig,
    Simulator,
    SimulatorOptions,
)
from simulator.agents import AgentProfile

QUICK = AgentProfile(answer_after=0.05, handle_time=0.2, handle_spread=0, min_handle=0.1)


async def tiny_ivr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """hotline: menu digit 1 → presales, else aftersales. survey: one GET DATA."""
    header = {}
    while (line := (await reader.readline()).decode().rstrip("\n")):
        key, _, value = line.partition(": ")
        header[key] = value

    async def ask(command: str) -> str:
        writer.write(f"{command}\n".encode())
        await writer.drain()
        while (reply := (await reader.readline()).decode().rstrip("\n")) == "HANGUP":
            pass
        return reply

    if header.get("agi_network_script") == "hotline":
        digit = (await ask("GET DATA main_menu 5000 1")).removeprefix("200 result=")
        queue = "presales" if digit == "1" else "aftersales"
        await ask(f'SET VARIABLE CC_QUEUE "{queue}"')
        await ask('SET VARIABLE CC_IVR_PATH "hello>menu:' + digit + '"')
    else:
        await ask("GET DATA survey_ask 6000 1")
    writer.write_eof()
    await reader.read()
    writer.close()


@pytest.fixture
async def ivr_address() -> AsyncIterator[tuple[str, int]]:
    server = await asyncio.start_server(tiny_ivr, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[:2]
    server.close()
    await server.wait_closed()


async def cti(simulator: Simulator) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*simulator.ami_address)
    await reader.readline()
    writer.write(b"Action: Login\r\nUsername: callcenter\r\nSecret: pw\r\nEvents: on\r\n\r\n")
    await writer.drain()
    return reader, writer


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    data = b""
    async with asyncio.timeout(10):
        while marker not in data:
            data += await reader.readuntil(b"\r\n\r\n")
    return data


def options(tmp_path: Path, **extra: object) -> SimulatorOptions:
    values: dict[str, object] = {
        # No wrap-up: the agents take the next call at once and the test stays short.
        "pbx": PbxConfig(queues=(QueueConfig("presales", wrapuptime=0),
                                 QueueConfig("aftersales", wrapuptime=0)),
                         monitor_dir=str(tmp_path)),
        "accounts": (AmiAccount("callcenter", "pw"),),
        "time_scale": 0.001, "speech": False, "demo_phones": False,
        "agents": ("PJSIP/8101", "PJSIP/8102"), "agent_profile": QUICK, **extra}
    return SimulatorOptions(**values)  # type: ignore[arg-type]


async def test_calls_run_the_ivr_queue_and_get_answered_and_recorded(
        tmp_path: Path, ivr_address: tuple[str, int]) -> None:
    simulator = Simulator(options(tmp_path), fastagi_address=lambda: ivr_address)
    await simulator.start()
    reader, writer = await cti(simulator)
    try:
        async with asyncio.timeout(20):
            records = await simulator.run_calls(
                3, [CallerScript(menu_key="1"), CallerScript(menu_key="2")], interval=0.05)
        stream = await read_until(reader, b"Event: AgentComplete")
    finally:
        writer.close()
        await simulator.stop()
    assert [r.outcome for r in records] == ["answered"] * 3
    assert [r.queues for r in records] == [("presales",), ("aftersales",), ("presales",)]
    assert b"UserEvent: CcIvrResult\r\nCcQueue: presales\r\n" in stream
    assert b"Event: AgentConnect" in stream
    for record in records:
        assert Path(record.recordings[0]) == tmp_path / f"{record.unique_id}.wav"
        size = (await asyncio.to_thread(Path(record.recordings[0]).stat)).st_size
        assert size > 44


async def test_a_demo_phone_rings_until_the_desktop_answers(
        tmp_path: Path, ivr_address: tuple[str, int]) -> None:
    simulator = Simulator(options(tmp_path, demo_phones=True, agents=()),
                          fastagi_address=lambda: ivr_address)
    await simulator.start()
    reader, writer = await cti(simulator)
    try:
        writer.write(b"Action: QueueAdd\r\nQueue: aftersales\r\nInterface: PJSIP/8001\r\n\r\n")
        await writer.drain()
        future = simulator.place_call(CallerScript(menu_key="2"))
        assert simulator.phones is not None
        async with asyncio.timeout(10):
            while not simulator.phones.ringing():
                await asyncio.sleep(0.01)
        ringing = simulator.phones.ringing()[0]
        assert (ringing.interface, ringing.queue) == ("PJSIP/8001", "aftersales")
        assert simulator.phones.answer("8001")  # the extension is enough
        await read_until(reader, b"Event: AgentConnect")
        assert simulator.phones.talking() == {"PJSIP/8001": ringing.ref}
        assert simulator.phones.hangup("PJSIP/8001")
        async with asyncio.timeout(10):
            record = await future  # after the survey
        assert not simulator.phones.hangup("PJSIP/8001")  # idle now
    finally:
        writer.close()
        await simulator.stop()
    assert record.outcome == "answered" and record.agents == ("PJSIP/8001",)


async def test_with_the_ivr_down_the_caller_is_queued_anyway(tmp_path: Path) -> None:
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    address = closed.sockets[0].getsockname()[:2]
    closed.close()
    await closed.wait_closed()
    simulator = Simulator(options(tmp_path), fastagi_address=lambda: address)
    await simulator.start()
    reader, writer = await cti(simulator)
    try:
        async with asyncio.timeout(10):
            [record] = await simulator.run_calls(1, CallerScript())
        stream = await read_until(reader, b"Event: QueueCallerJoin")
    finally:
        writer.close()
        await simulator.stop()
    assert b"CcIvrPath: noivr" in stream and b"CcIvrOutcome: failed" in stream
    assert record.outcome == "answered" and record.queues == ("aftersales",)


async def test_stopping_tells_the_cti_and_ends_waiting_calls(
        tmp_path: Path, ivr_address: tuple[str, int]) -> None:
    simulator = Simulator(options(tmp_path, agents=()), fastagi_address=lambda: ivr_address)
    await simulator.start()
    reader, writer = await cti(simulator)
    future = simulator.place_call(CallerScript(menu_key="2"))
    await read_until(reader, b"Event: QueueCallerJoin")
    await simulator.stop()
    stream = await read_until(reader, b"Event: Shutdown")
    writer.close()
    assert b"Event: QueueCallerAbandon" in stream
    assert (await future).outcome == "shutdown"


async def test_a_restart_drops_the_cti_and_keeps_paused_members_like_scenario_08(
        tmp_path: Path, ivr_address: tuple[str, int]) -> None:
    simulator = Simulator(options(tmp_path, agents=()), fastagi_address=lambda: ivr_address)
    await simulator.start()
    reader, writer = await cti(simulator)
    try:
        writer.write(b"Action: QueueAdd\r\nQueue: aftersales\r\nInterface: PJSIP/8001\r\n\r\n"
                     b"Action: QueuePause\r\nInterface: PJSIP/8001\r\nPaused: true\r\n"
                     b"Reason: meeting\r\n\r\n")
        future = simulator.place_call(CallerScript(menu_key="2"))
        await read_until(reader, b"Event: QueueCallerJoin")
        await simulator.restart()
        stream = await read_until(reader, b"Restart: True")
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # EOF, no Goodbye
        assert b"Event: QueueCallerAbandon" in stream
        assert (await future).outcome == "shutdown"
        writer.close()
        reader, writer = await cti(simulator)
        writer.write(b"Action: QueueStatus\r\nActionID: q\r\nQueue: aftersales\r\n\r\n")
        status = await read_until(reader, b"QueueStatusComplete")
    finally:
        writer.close()
        await simulator.stop()
    assert b"Uptime: 0" in status
    assert b"Location: PJSIP/8001" in status
    assert b"Paused: 1\r\nPausedReason: meeting" in status
    assert b"Calls: 0\r\n" in status and b"Abandoned: 0\r\n" in status
