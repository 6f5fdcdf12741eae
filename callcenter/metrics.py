"""``GET /metrics``: the running product in the Prometheus text format (``prometheus-client``).

The series (``docs/operations.md`` says what to alert on):

=============================================  =========  ==================================
``callcenter_calls_total{outcome}``            counter    call rows by outcome (the domain
                                                          store; ``none`` = not ended yet)
``callcenter_queue_waiting{queue}``            gauge      callers waiting in each queue now
``callcenter_queue_longest_wait_seconds``      gauge      the longest current wait per queue
``callcenter_agents{state}``                   gauge      agents known to the CTI, by state
``callcenter_fastagi_sessions_active``         gauge      AGI sessions running now
``callcenter_fastagi_sessions_total``          counter    AGI sessions started
``callcenter_fastagi_refused_peers_total``     counter    connections closed: peer not allowed
``callcenter_fastagi_command_seconds``         histogram  AGI command sent → final reply
``callcenter_ami_connected``                   gauge      1 while logged in to the AMI
``callcenter_ami_reconnects_total``            counter    logins after the first
``callcenter_outbox_backlog``                  gauge      outbox messages pending or in flight
``callcenter_outbox_dead_letters``             gauge      outbox messages given up on
``callcenter_websocket_clients``               gauge      open WebSockets (desktops, boards)
``callcenter_metrics_source_up{source}``       gauge      0 when a source could not be read
=============================================  =========  ==================================

Most values are read when Prometheus scrapes (:meth:`ProductMetrics.refresh`, one grouped
query on ``calls`` and the health probes), so nothing is counted twice; only the command
turnaround histogram is fed as it happens, by the FastAGI server's ``on_turnaround`` hook.

Protected: only peers in ``metrics.allowed_networks``, and with ``metrics.token`` set only with
``Authorization: Bearer <token>`` too; anyone else gets 403 and no figures.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.db.models import CallRow
from callcenter.domain import HOTLINE_QUEUES
from callcenter.settings import MetricsSettings
from callcenter.web.app import HealthProbe, WebModule
from callcenter.web.hub import Hub
from cti.agent_state import AgentStatus
from cti.call_state import CallState
from cti.service import CtiService
from ivr.agi_server import FastAgiServer, parse_networks, peer_allowed

__all__ = ["ProductMetrics", "Snapshot", "metrics_module"]

logger = logging.getLogger(__name__)

# AGI commands answer in ~1 ms on a LAN; GET DATA waits for the caller's keys (seconds).
TURNAROUND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                      10.0, 30.0)


@dataclass(slots=True)
class Snapshot:
    """The figures read at one scrape."""

    calls_by_outcome: dict[str, int] = field(default_factory=dict)
    queue_waiting: dict[str, int] = field(default_factory=dict)
    queue_longest_wait: dict[str, float] = field(default_factory=dict)
    agents_by_state: dict[str, int] = field(default_factory=dict)
    fastagi: dict[str, int] = field(default_factory=dict)
    ami: dict[str, Any] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    websocket_clients: int = 0
    sources_up: dict[str, bool] = field(default_factory=dict)


class _SnapshotCollector(Collector):
    """Yields the families of the last :class:`Snapshot` (prometheus-client calls
    ``collect`` synchronously, so the async reads happen before, in ``refresh``)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterable[Metric]:
        s = self.snapshot
        calls = CounterMetricFamily("callcenter_calls", "Call rows by outcome",
                                    labels=["outcome"])
        for outcome, n in sorted(s.calls_by_outcome.items()):
            calls.add_metric([outcome], n)
        waiting = GaugeMetricFamily("callcenter_queue_waiting", "Callers waiting in the queue",
                                    labels=["queue"])
        longest = GaugeMetricFamily("callcenter_queue_longest_wait_seconds",
                                    "Longest current wait in the queue", labels=["queue"])
        for queue in sorted(s.queue_waiting):
            waiting.add_metric([queue], s.queue_waiting[queue])
            longest.add_metric([queue], s.queue_longest_wait.get(queue, 0.0))
        agents = GaugeMetricFamily("callcenter_agents", "Agents by state", labels=["state"])
        for state, n in sorted(s.agents_by_state.items()):
            agents.add_metric([state], n)
        yield from (calls, waiting, longest, agents)
        if s.fastagi:
            yield GaugeMetricFamily("callcenter_fastagi_sessions_active",
                                    "AGI sessions running now", value=s.fastagi["active"])
            yield CounterMetricFamily("callcenter_fastagi_sessions", "AGI sessions started",
                                      value=s.fastagi["total"])
            yield CounterMetricFamily("callcenter_fastagi_refused_peers",
                                      "FastAGI connections refused: peer not allowed",
                                      value=s.fastagi["refused"])
        if s.ami:
            yield GaugeMetricFamily("callcenter_ami_connected", "1 while logged in to the AMI",
                                    value=1 if s.ami.get("ok") else 0)
            yield CounterMetricFamily("callcenter_ami_reconnects", "AMI logins after the first",
                                      value=int(s.ami.get("reconnects", 0)))
        if s.outbox:
            yield GaugeMetricFamily("callcenter_outbox_backlog",
                                    "Outbox messages pending or in flight",
                                    value=s.outbox["backlog"])
            yield GaugeMetricFamily("callcenter_outbox_dead_letters",
                                    "Outbox messages given up on", value=s.outbox["dead"])
        yield GaugeMetricFamily("callcenter_websocket_clients", "Open WebSockets",
                                value=s.websocket_clients)
        up = GaugeMetricFamily("callcenter_metrics_source_up",
                               "0 when a source could not be read at this scrape",
                               labels=["source"])
        for source, ok in sorted(s.sources_up.items()):
            up.add_metric([source], 1 if ok else 0)
        yield up


class ProductMetrics:
    """The product's registry. ``cti``/``fastagi`` None: that part does not run in this
    process (its series are left out). ``health`` are the runtime's probes (``ami``,
    ``business``)."""

    def __init__(self, engine: AsyncEngine, hub: Hub, health: Mapping[str, HealthProbe], *,
                 cti: CtiService | None = None, fastagi: FastAgiServer | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self.hub = hub
        self.health = health
        self.cti = cti
        self.fastagi = fastagi
        self.clock = clock or (cti.clock if cti is not None else None)
        self.registry = CollectorRegistry(auto_describe=True)
        self._collector = _SnapshotCollector()
        self.registry.register(self._collector)
        self.turnaround = Histogram(
            "callcenter_fastagi_command_seconds", "AGI command sent to its final reply",
            buckets=TURNAROUND_BUCKETS, registry=self.registry)
        if fastagi is not None:
            fastagi.on_turnaround = self.turnaround.observe

    async def refresh(self) -> Snapshot:
        """Read every source now; a source that fails is reported down, not raised."""
        s = Snapshot()
        try:
            async with self.engine.connect() as conn:
                rows = await conn.execute(
                    select(CallRow.outcome, func.count()).group_by(CallRow.outcome))
                s.calls_by_outcome = {str(o or "none"): int(n) for o, n in rows.all()}
            s.sources_up["database"] = True
        except Exception:  # a scrape reports a broken source; it never fails as a whole
            logger.warning("metrics: the calls could not be counted", exc_info=True)
            s.sources_up["database"] = False
        if self.cti is not None:
            self._cti(s, self.cti)
        if self.fastagi is not None:
            server = self.fastagi
            s.fastagi = {"active": server.active_sessions, "total": server.sessions_total,
                         "refused": server.refused_peers}
        for name in ("ami", "business"):
            probe = self.health.get(name)
            if probe is None:
                continue
            try:
                report = await probe()
            except Exception:  # as above: one source down, the rest still scraped
                logger.warning("metrics: the %s probe failed", name, exc_info=True)
                s.sources_up[name] = False
                continue
            s.sources_up[name] = True
            if name == "ami" and "reconnects" in report:
                s.ami = report
            elif name == "business" and "pending" in report:
                s.outbox = {"backlog": int(report["pending"]) + int(report["in_flight"]),
                            "dead": int(report["dead"])}
        s.websocket_clients = self.hub.subscriber_count()
        self._collector.snapshot = s
        return s

    def _cti(self, s: Snapshot, cti: CtiService) -> None:
        now = cti.clock() if self.clock is None else self.clock()
        board = cti.dispatcher.state
        s.queue_waiting = dict.fromkeys(HOTLINE_QUEUES, 0)
        s.queue_longest_wait = dict.fromkeys(HOTLINE_QUEUES, 0.0)
        for call in board.calls.calls.values():
            if call.state is not CallState.QUEUED or not call.visits:
                continue
            visit = call.visits[-1]
            s.queue_waiting[visit.queue] = s.queue_waiting.get(visit.queue, 0) + 1
            waited = max(0.0, now - visit.joined_at)
            s.queue_longest_wait[visit.queue] = max(s.queue_longest_wait.get(visit.queue, 0.0),
                                                    waited)
        s.agents_by_state = {state.value: 0 for state in AgentStatus}
        for agent in board.agents.agents.values():
            s.agents_by_state[agent.status.value] += 1

    async def render(self) -> bytes:
        """The text exposition after a fresh read."""
        await self.refresh()
        return generate_latest(self.registry)


def allowed(settings: MetricsSettings, remote: str | None, authorization: str) -> bool:
    """Whether a scrape from ``remote`` with this ``Authorization`` header may read."""
    if not peer_allowed(remote or "", parse_networks(settings.allowed_networks)):
        return False
    if not settings.token:
        return True
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                              settings.token.encode())


def metrics_module(settings: MetricsSettings, metrics: ProductMetrics) -> WebModule:
    """The ``/metrics`` route as a web module (no page, no link)."""

    async def handler(request: web.Request) -> web.Response:
        if not allowed(settings, request.remote, request.headers.get("Authorization", "")):
            logger.info("metrics: refused a scrape from %s", request.remote)
            return web.Response(status=403, text="forbidden\n")
        body = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def setup(app: web.Application) -> None:
        app.router.add_get("/metrics", handler)

    return WebModule(name="metrics", setup=setup)
