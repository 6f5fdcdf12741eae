"""End to end: 50 simulated merchants call the whole product, as `make run` wires it.

The product runs as `callcenter serve --simulate` builds it (web app, FastAGI IVR, AMI bridge,
business records) against the built-in PBX simulator, which talks to it only over the real wire
protocols. Every call goes IVR → queue → agent (simulated agents answer) → the agent's wrap-up
through the HTTP API → a task; then every call and task is checked in the database.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callcenter.app import build_product
from callcenter.db import migrate
from callcenter.demo_data import DEMO_PASSWORD, generate
from callcenter.runtime import RunOptions
from callcenter.service import load_demo_data
from callcenter.settings import load_settings
from simulator.callers import CallerScript
from simulator.wiring import SimulatorComponent, stand_in

pytestmark = pytest.mark.slow

CALLS = 50
AGENTS = 10  # demo agents 8006…8015 answer by themselves


@pytest.fixture
def product_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}",
        "CALLCENTER_RECORDING_DIR": str(tmp_path / "recordings"),
        "CALLCENTER_WEB_PORT": "0",
        "CALLCENTER_FASTAGI_PORT": "0",
        "CALLCENTER_WEB_SESSION_SECRET": "e2e",
        "CALLCENTER_SIMULATOR_RATE": "0",
        "CALLCENTER_SIMULATOR_AGENTS": str(AGENTS),
        "CALLCENTER_SIMULATOR_FIRST_AGENT": str(8016 - AGENTS),
        "CALLCENTER_SIMULATOR_HANDLE_TIME": "0.5",
        "CALLCENTER_SIMULATOR_TIME_SCALE": "0.02",
        "CALLCENTER_SIMULATOR_SPEECH": "0",
        # the wrap-ups are what this test does itself, through the HTTP API
        "CALLCENTER_SIMULATOR_WRAPUPS": "0",
        # ... after the calls, like a back office: no agent is held in after-call work
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


def _script(index: int, phone: str) -> CallerScript:
    # Every 5th caller asks for an installation, the rest report a fault; all are known
    # merchants identified by caller ID (one merchant per phone, so no duplicate tasks).
    intent = "3" if index % 5 == 0 else "2"
    return CallerScript(phone=phone, lang_key="1", menu_key="2", intent_key=intent,
                        survey_key="5", key_delay=0.05)


async def test_fifty_calls_flow_from_ivr_to_tasks(product_env: dict[str, str]) -> None:
    settings = load_settings(environ=product_env)
    product = await build_product(settings, RunOptions(simulate=True), stand_in=stand_in)
    runtime = product.runtime
    now = datetime.now(UTC)
    data = generate(merchants=80, agents=15)
    await load_demo_data(runtime.store, data, now)
    merchants = [m for m in data.merchants if len(m.phones) == 1
                 and m.phones[0].startswith("1")][:CALLS]
    assert len(merchants) == CALLS
    await product.start()
    try:
        simulator = product.pbx
        assert isinstance(simulator, SimulatorComponent)
        async with asyncio.timeout(30):
            while (await runtime.health["ami"]()).get("cti", {}).get("agents_logged_in", 0) \
                    < AGENTS:
                await asyncio.sleep(0.1)
        async with asyncio.timeout(240):
            records = await simulator.simulator.run_calls(
                CALLS, lambda i: _script(i, merchants[i].phones[0]), interval=0.15)
        assert [r.outcome for r in records] == ["answered"] * CALLS

        assert product.web is not None
        base = f"http://127.0.0.1:{product.web.bound_port}"
        by_agent: dict[str, list[Any]] = {}
        for record in records:
            by_agent.setdefault(record.agents[-1].split("/")[-1], []).append(record)
        cti_settled = runtime.health["ami"]
        async with asyncio.timeout(30):  # the bridge writes asynchronously: let it catch up
            while (await cti_settled())["cti"]["write_backlog"]:
                await asyncio.sleep(0.05)
        for agent_number, calls in by_agent.items():
            # unsafe=True: aiohttp refuses cookies from IP-address hosts by default
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(base, cookie_jar=jar) as http:
                r = await http.post("/login", data={"username": agent_number,
                                                    "password": DEMO_PASSWORD})
                assert r.status == 200, await r.text()
                for record in calls:
                    got = await http.get(f"/api/calls/{record.linked_id}/wrapup")
                    form = await got.json()
                    assert got.status == 200, form
                    body = dict(form["form"])
                    body["disposition"] = form["suggested_disposition"]
                    terminal = form["terminals"][0]
                    body.update(terminal_serial=terminal["serial"],
                                product_model=terminal["model"],
                                description="刷卡无反应，屏幕提示通讯失败",
                                update_merchant=False)
                    saved = await http.post(f"/api/calls/{record.linked_id}/wrapup", json=body)
                    assert saved.status == 201, await saved.text()
    finally:
        await product.stop()

    # Everything is in the database: one answered call per simulated call, one task each.
    from sqlalchemy import func, select

    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.models import CallRow, TaskRow

    engine = create_engine(settings.database.url)
    try:
        async with session_factory(engine)() as s:
            calls = {row.linked_id: row for row in await s.scalars(select(CallRow))}
            kinds = dict((await s.execute(
                select(TaskRow.kind, func.count()).group_by(TaskRow.kind))).all())
            task_calls = set(await s.scalars(select(TaskRow.linked_id)))
    finally:
        await engine.dispose()
    for record in records:
        call = calls[record.linked_id]
        assert call.outcome == "answered"
        assert call.merchant_verified and call.merchant_id is not None
        assert call.intent in ("repair", "install")
        assert call.agent_number == record.agents[-1].split("/")[-1]
        assert call.talk_s is not None and call.wait_s is not None
        assert call.disposition in ("repair", "installation")
        assert call.ivr_path.startswith("hello")
        assert record.linked_id in task_calls
    assert kinds == {"repair": CALLS - CALLS // 5, "installation": CALLS // 5}
