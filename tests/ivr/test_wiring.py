"""``install(runtime, options)``: the IVR's FastAGI server joins the running product."""

from __future__ import annotations

import asyncio
import contextlib

from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.runtime import RunOptions, Runtime
from callcenter.settings import load_settings
from ivr.wiring import FastAgiComponent, install


def runtime_on(url: str) -> Runtime:
    settings = load_settings(environ={"CALLCENTER_FASTAGI_PORT": "0"})
    engine = create_engine(url)
    return Runtime(settings=settings, engine=engine, store=Store(session_factory(engine)))


async def test_the_fastagi_server_answers_on_its_bound_port(sqlite_url: str) -> None:
    runtime = runtime_on(sqlite_url)
    component = await install(runtime, RunOptions())
    assert isinstance(component, FastAgiComponent) and runtime.components == [component]
    try:
        await runtime.start()
        assert component.bound_port
        reader, writer = await asyncio.open_connection("127.0.0.1", component.bound_port)
        writer.write(b"agi_network_script: hotline\nagi_uniqueid: 1.1\n"
                     b"agi_callerid: 13800138000\n\n")
        await writer.drain()
        first = await asyncio.wait_for(reader.readline(), 5)
        assert first.startswith(b"GET VARIABLE ")  # the hotline route's first AGI command
        writer.close()
        report = await runtime.health["fastagi"]()
        assert report["ok"] and report["port"] == component.bound_port
    finally:
        await runtime.stop()


async def test_disabled_it_only_reports_so(sqlite_url: str) -> None:
    runtime = runtime_on(sqlite_url)
    try:
        assert await install(runtime, RunOptions(fastagi=False)) is None
        assert runtime.components == []
        assert await runtime.health["fastagi"]() == {"ok": True, "state": "disabled"}
    finally:
        await runtime.engine.dispose()


async def test_only_the_configured_asterisk_addresses_may_connect(sqlite_url: str) -> None:
    settings = load_settings(environ={"CALLCENTER_FASTAGI_PORT": "0",
                                      "CALLCENTER_FASTAGI_ALLOWED_PEERS": "10.9.9.9"})
    engine = create_engine(sqlite_url)
    runtime = Runtime(settings=settings, engine=engine, store=Store(session_factory(engine)))
    component = await install(runtime, RunOptions())
    assert component is not None
    try:
        await runtime.start()
        assert component.bound_port
        reader, writer = await asyncio.open_connection("127.0.0.1", component.bound_port)
        writer.write(b"agi_network_script: hotline\nagi_uniqueid: 1.1\n\n")
        with contextlib.suppress(ConnectionResetError):  # an abort may arrive as a reset
            assert await asyncio.wait_for(reader.read(), 5) == b""  # no AGI command: closed
        writer.close()
        report = await runtime.health["fastagi"]()
        assert report["refused_peers"] == 1 and report["active_sessions"] == 0
    finally:
        await runtime.stop()
