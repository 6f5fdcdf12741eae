"""``GET /metrics``: the running product in the Prometheus text format, for allowed scrapers
only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from callcenter.app import build_product
from callcenter.db.engine import create_engine
from callcenter.db.models import CallRow
from callcenter.metrics import ProductMetrics, allowed
from callcenter.runtime import RunOptions
from callcenter.settings import MetricsSettings, Settings, load_settings
from callcenter.web.hub import Hub
from cti.agent_state import Agent, AgentStatus
from cti.call_state import Call, CallKind, CallState, QueueVisit

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SERIES = ("callcenter_calls_total", "callcenter_queue_waiting",
          "callcenter_queue_longest_wait_seconds", "callcenter_agents",
          "callcenter_fastagi_sessions_active", "callcenter_fastagi_sessions_total",
          "callcenter_fastagi_refused_peers_total", "callcenter_fastagi_command_seconds_bucket",
          "callcenter_ami_connected", "callcenter_ami_reconnects_total",
          "callcenter_outbox_backlog", "callcenter_outbox_dead_letters",
          "callcenter_websocket_clients")


def settings_for(url: str, **env: str) -> Settings:
    return load_settings(environ={"CALLCENTER_DATABASE_URL": url, "CALLCENTER_WEB_PORT": "0",
                                  "CALLCENTER_FASTAGI_PORT": "0",
                                  "CALLCENTER_AMI_HOST": "127.0.0.1",
                                  "CALLCENTER_AMI_PORT": "9",  # nobody: stays disconnected
                                  "CALLCENTER_WEB_SESSION_SECRET": "x", **env})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def add_calls(url: str, outcomes: list[str | None]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for n, outcome in enumerate(outcomes):
                await conn.execute(insert(CallRow).values(
                    linked_id=f"m.{n}", started_at=datetime(2026, 1, 5, 9, tzinfo=UTC),
                    outcome=outcome))
    finally:
        await engine.dispose()


async def test_metrics_report_calls_fastagi_ami_outbox_and_websockets(sqlite_url: str) -> None:
    await add_calls(sqlite_url, ["answered", "answered", "abandoned", None])
    product = await build_product(settings_for(sqlite_url), RunOptions())
    try:
        await product.start()
        assert product.fastagi is not None and product.web is not None
        # one AGI command answered, so the turnaround histogram has an observation
        reader, writer = await asyncio.open_connection("127.0.0.1", product.fastagi.bound_port)
        writer.write(b"agi_network_script: hotline\nagi_uniqueid: 1.1\n"
                     b"agi_callerid: 13800138000\n\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"GET VARIABLE")
        writer.write(b"200 result=0\n")
        await writer.drain()
        await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{product.web.bound_port}") as web:
            response = await web.get("/metrics")
    finally:
        await product.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    got = samples(response.text)
    names = {name for name, _ in got}
    assert set(SERIES) <= names, set(SERIES) - names
    assert got[("callcenter_calls_total", (("outcome", "answered"),))] == 2
    assert got[("callcenter_calls_total", (("outcome", "abandoned"),))] == 1
    assert got[("callcenter_calls_total", (("outcome", "none"),))] == 1
    assert got[("callcenter_fastagi_sessions_total", ())] == 1
    assert got[("callcenter_fastagi_command_seconds_count", ())] >= 1
    assert got[("callcenter_ami_connected", ())] == 0
    assert got[("callcenter_outbox_dead_letters", ())] == 0
    assert got[("callcenter_metrics_source_up", (("source", "database"),))] == 1


async def test_queue_waits_and_agent_states_come_from_the_cti_board(sqlite_url: str) -> None:
    def call(linked_id: str, queue: str, joined_at: float, state: CallState) -> Call:
        return Call(linked_id, CallKind.INBOUND, state, joined_at,
                    visits=[QueueVisit(queue, joined_at, 1)])

    calls = {c.linked_id: c for c in (
        call("a", "aftersales", 100.0, CallState.QUEUED),
        call("b", "aftersales", 130.0, CallState.QUEUED),
        call("c", "complaints", 150.0, CallState.QUEUED),
        call("d", "presales", 90.0, CallState.CONNECTED))}  # answered: not waiting
    agents = {i: Agent(i, i, status) for i, status in (
        ("PJSIP/8001", AgentStatus.AVAILABLE), ("PJSIP/8002", AgentStatus.ON_CALL),
        ("PJSIP/8003", AgentStatus.ON_CALL), ("PJSIP/8004", AgentStatus.PAUSED))}
    board = SimpleNamespace(calls=SimpleNamespace(calls=calls),
                            agents=SimpleNamespace(agents=agents))
    cti = SimpleNamespace(dispatcher=SimpleNamespace(state=board), clock=lambda: 160.0)
    engine = create_engine(sqlite_url)
    try:
        metrics = ProductMetrics(engine, Hub(), {}, cti=cti)  # type: ignore[arg-type]
        got = samples((await metrics.render()).decode())
    finally:
        await engine.dispose()
    assert got[("callcenter_queue_waiting", (("queue", "aftersales"),))] == 2
    assert got[("callcenter_queue_longest_wait_seconds", (("queue", "aftersales"),))] == 60.0
    assert got[("callcenter_queue_waiting", (("queue", "complaints"),))] == 1
    assert got[("callcenter_queue_waiting", (("queue", "presales"),))] == 0
    assert got[("callcenter_queue_longest_wait_seconds", (("queue", "night"),))] == 0
    assert got[("callcenter_agents", (("state", "on_call"),))] == 2
    assert got[("callcenter_agents", (("state", "available"),))] == 1
    assert got[("callcenter_agents", (("state", "logged_out"),))] == 0


async def test_a_broken_source_is_reported_down_and_the_rest_still_scraped(
        sqlite_url: str) -> None:
    async def broken() -> dict[str, object]:
        raise RuntimeError("probe broke")

    engine = create_engine(sqlite_url)
    await engine.dispose()
    bad = create_engine("sqlite+aiosqlite:////nonexistent/dir/x.db")
    try:
        metrics = ProductMetrics(bad, Hub(), {"ami": broken})
        got = samples((await metrics.render()).decode())
    finally:
        await bad.dispose()
    assert got[("callcenter_metrics_source_up", (("source", "database"),))] == 0
    assert got[("callcenter_metrics_source_up", (("source", "ami"),))] == 0
    assert got[("callcenter_websocket_clients", ())] == 0


@pytest.mark.parametrize(("remote", "authorization", "token", "ok"), [
    ("127.0.0.1", "", "", True),
    ("172.30.40.9", "", "", True),           # the compose network (Prometheus container)
    ("10.1.2.3", "", "", False),             # outside the allowed networks
    ("10.1.2.3", "Bearer t0ken", "t0ken", False),  # a token does not open other networks
    ("127.0.0.1", "", "t0ken", False),
    ("127.0.0.1", "Bearer wrong", "t0ken", False),
    ("127.0.0.1", "Bearer t0ken", "t0ken", True),
    ("127.0.0.1", "bearer t0ken", "t0ken", True),
    (None, "", "", False),
])
def test_only_allowed_networks_and_the_token_may_scrape(
        remote: str | None, authorization: str, token: str, ok: bool) -> None:
    settings = load_settings(environ={"CALLCENTER_METRICS_TOKEN": token}).metrics
    assert allowed(settings, remote, authorization) is ok


async def test_a_refused_scrape_gets_403_and_no_figures(sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, CALLCENTER_METRICS_TOKEN="t0ken")
    product = await build_product(settings, RunOptions(fastagi=False, ami=False))
    try:
        await product.start()
        assert product.web is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{product.web.bound_port}") as web:
            refused = await web.get("/metrics")
            granted = await web.get("/metrics", headers={"Authorization": "Bearer t0ken"})
    finally:
        await product.stop()
    assert refused.status_code == 403 and "callcenter_" not in refused.text
    assert granted.status_code == 200 and "callcenter_calls_total" in granted.text


async def test_metrics_disabled_means_no_route(sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, CALLCENTER_METRICS_ENABLED="false")
    product = await build_product(settings, RunOptions(fastagi=False, ami=False))
    try:
        assert "metrics" not in [m.name for m in product.runtime.modules]
    finally:
        await product.stop()


def test_metrics_settings_default_to_the_asterisk_networks_without_a_token() -> None:
    assert load_settings(environ={}).metrics == MetricsSettings(
        enabled=True, token="", allowed_networks=("127.0.0.0/8", "::1/128", "172.30.40.0/24"))


async def test_the_sample_dashboard_and_alerts_use_only_series_the_product_exports(
        sqlite_url: str) -> None:
    import json
    import re

    import yaml

    from ivr.agi_server import FastAgiServer

    async def ami() -> dict[str, object]:
        return {"ok": True, "reconnects": 0}

    async def business() -> dict[str, object]:
        return {"ok": True, "pending": 0, "in_flight": 0, "dead": 0}

    await add_calls(sqlite_url, ["answered"])
    board = SimpleNamespace(calls=SimpleNamespace(calls={}), agents=SimpleNamespace(agents={}))
    cti = SimpleNamespace(dispatcher=SimpleNamespace(state=board), clock=lambda: 0.0)
    engine = create_engine(sqlite_url)
    try:
        metrics = ProductMetrics(engine, Hub(), {"ami": ami, "business": business},
                                 cti=cti, fastagi=FastAgiServer({}))  # type: ignore[arg-type]
        metrics.turnaround.observe(0.002)
        exported = {s.name for family in text_string_to_metric_families(
            (await metrics.render()).decode()) for s in family.samples}
    finally:
        await engine.dispose()
    dashboard = json.loads((DOCKER / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((DOCKER / "prometheus-alerts.yaml").read_text(encoding="utf-8"))
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {name for expr in exprs for name in re.findall(r"\bcallcenter_\w+", expr)}
    assert used and used <= exported, used - exported
    assert {"callcenter_queue_waiting", "callcenter_agents", "callcenter_ami_connected",
            "callcenter_outbox_dead_letters"} <= used
