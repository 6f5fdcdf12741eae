"""Composition root: the one place that constructs everything and wires it together.

``callcenter serve`` builds a :class:`Runtime` from the settings and runs its components in one
process: the web app, the FastAGI IVR server and the AMI CTI bridge (each switchable off), plus
the built-in PBX simulator when no Asterisk is configured. Components start in order and stop in
reverse order on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.db.engine import check_database, create_engine, session_factory
from callcenter.db.migrate import check_schema
from callcenter.db.repositories import Store
from callcenter.errors import DatabaseUnavailable
from callcenter.event_loop import loop_name, settle_gc
from callcenter.ivr_directory import StoreIvrDirectory
from callcenter.settings import Settings
from callcenter.web.app import HealthProbe, WebModule, build_web_app
from callcenter.web.hub import Hub
from ivr.agi_server import FastAGIServer
from ivr.menu_config import MenuRegistry
from ivr.prompts import load_catalogue
from ivr.service import make_routes

log = logging.getLogger(__name__)


class Component(Protocol):
    """Something ``serve`` runs: started in order, stopped in reverse order."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class WebComponent:
    """The aiohttp app on the configured host and port."""

    app: web.Application
    host: str
    port: int
    name: str = "web"
    runner: web.AppRunner | None = None
    bound_port: int | None = None

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, shutdown_timeout=2.0, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        server = site._server  # aiohttp exposes no public accessor for the bound socket
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("web app listening on http://%s:%s", self.host, self.bound_port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass(slots=True)
class Runtime:
    """Everything a running product holds."""

    settings: Settings
    engine: AsyncEngine
    store: Store
    hub: Hub = field(default_factory=Hub)
    components: list[Component] = field(default_factory=list)
    # use-case services other features call in-process (e.g. "business")
    services: dict[str, Any] = field(default_factory=dict)
    health: dict[str, HealthProbe] = field(default_factory=dict)
    modules: list[WebModule] = field(default_factory=list)
    started: list[Component] = field(default_factory=list)

    async def start(self) -> None:
        for component in self.components:
            await component.start()
            self.started.append(component)

    async def stop(self) -> None:
        while self.started:
            component = self.started.pop()
            try:
                await component.stop()
            except Exception:
                log.exception("stopping %s failed", component.name)
        await self.engine.dispose()


def database_probe(engine: AsyncEngine) -> HealthProbe:
    async def probe() -> dict[str, Any]:
        try:
            await check_database(engine, timeout=2.0)
        except DatabaseUnavailable as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "backend": engine.dialect.name}

    return probe


def static_probe(report: dict[str, Any]) -> HealthProbe:
    async def probe() -> dict[str, Any]:
        return dict(report)

    return probe


async def build_runtime(settings: Settings, *, web_enabled: bool = True,
                        fastagi_enabled: bool = True, ami_enabled: bool = True,
                        simulate: bool = False) -> Runtime:
    """Construct the product from the settings. Fails fast when the database is unreachable."""
    engine = create_engine(settings.database.url, echo=settings.database.echo)
    try:
        await check_database(engine)
        await check_schema(engine)
    except DatabaseUnavailable:
        await engine.dispose()
        raise
    store = Store(session_factory(engine))
    runtime = Runtime(settings=settings, engine=engine, store=store)
    runtime.health["database"] = database_probe(engine)
    for extension in EXTENSIONS:
        await extension(runtime, {"fastagi": fastagi_enabled, "ami": ami_enabled,
                                  "simulate": simulate})
    if "ami" not in runtime.health:
        state = "disabled" if not ami_enabled else "not configured"
        runtime.health["ami"] = static_probe({"ok": True, "state": state})
    if web_enabled:
        app = build_web_app(settings, store, modules=runtime.modules, health=runtime.health,
                            hub=runtime.hub)
        runtime.components.append(WebComponent(app, settings.web.host, settings.web.port))
    return runtime


@dataclass(slots=True)
class FastAgiComponent:
    """The IVR's FastAGI server, plus a watcher that reloads the menu file when it changes."""

    server: FastAGIServer
    registry: MenuRegistry
    host: str
    port: int
    reload_every: float = 5.0
    name: str = "fastagi"
    bound_port: int | None = None
    _watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.bound_port = await self.server.start(self.host, self.port)
        self._watcher = asyncio.create_task(self._watch(), name="menu-reload")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.reload_every)
            report = self.registry.reload_if_changed()
            if report is not None:
                log.info("menu reload: %s", report)

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        await self.server.stop()

    async def health(self) -> dict[str, Any]:
        return {"ok": True, "port": self.bound_port, "active_sessions":
                self.server.active_sessions, "max_concurrent": self.server.max_concurrent}


async def install_ivr(runtime: Runtime, options: dict[str, bool]) -> None:
    """The hotline IVR on FastAGI, looking merchants up in the domain store."""
    if not options.get("fastagi", True):
        runtime.health["fastagi"] = static_probe({"ok": True, "state": "disabled"})
        return
    cfg = runtime.settings.fastagi
    registry = MenuRegistry(Path(cfg.menu_file) if cfg.menu_file else None,
                            Path(cfg.holidays_file) if cfg.holidays_file else None,
                            prompt_ids=load_catalogue().ids)
    server = FastAGIServer(make_routes(StoreIvrDirectory(runtime.store), registry))
    component = FastAgiComponent(server, registry, cfg.host, cfg.port)
    runtime.components.append(component)
    runtime.health["fastagi"] = component.health


async def install_simulator(runtime: Runtime, options: dict[str, bool]) -> None:
    """``serve --simulate``: the built-in PBX simulator stands in for Asterisk."""
    from callcenter.simulator import wiring

    await wiring.install(runtime, options)


async def install_business(runtime: Runtime, options: dict[str, bool]) -> None:
    """Wrap-up records, tasks, complaints, outbox delivery and the dispatcher board."""
    from callcenter.business import wiring

    await wiring.install(runtime, options)


async def install_demo_agents(runtime: Runtime, options: dict[str, bool]) -> None:
    """``serve --simulate``: the simulated agents save their wrap-ups, so the board fills."""
    from callcenter.simulator.demo_agents import DemoWrapups
    from callcenter.simulator.wiring import simulator_of

    simulator = simulator_of(runtime)
    business = runtime.services.get("business")
    if simulator is None or business is None or not simulator.knobs.wrapups:
        return
    agents = frozenset(f"{simulator.knobs.first_agent + i}" for i in range(simulator.knobs.agents))
    runtime.components.append(DemoWrapups(runtime.store, business, agents))


async def install_cti(runtime: Runtime, options: dict[str, bool]) -> None:
    """The AMI bridge and the agent desktop; pointed at the simulator when there is one."""
    from callcenter.simulator.wiring import ami_settings_for, simulator_of
    from cti import wiring

    simulator = simulator_of(runtime)
    await wiring.install(runtime, options,
                         ami_settings=ami_settings_for(runtime) if simulator else None,
                         demo_phones=simulator.phones if simulator else None)


async def install_recordings(runtime: Runtime, options: dict[str, bool]) -> None:
    """Recordings played by opaque id after a role check."""
    from recording.web import MODULE

    runtime.modules.append(MODULE)


# Feature packages add themselves to the runtime in this order (the simulator before the CTI,
# which connects to it): each may append components, web modules and health probes.
Extension = Callable[[Runtime, dict[str, bool]], Awaitable[None]]
EXTENSIONS: list[Extension] = [install_ivr, install_simulator, install_business,
                               install_demo_agents, install_cti, install_recordings]


async def banner(runtime: Runtime, *, simulate: bool) -> str:
    """What ``serve`` prints once everything listens: where to go, and how to log in."""
    lines = ["callcenter is running"]
    for component in runtime.components:
        if isinstance(component, WebComponent):
            base = f"http://{runtime.settings.web.host}:{component.bound_port}"
            lines += [f"  web               {base}/",
                      f"  agent desktop     {base}/desk",
                      f"  dispatcher board  {base}/board",
                      f"  health            {base}/healthz"]
        if isinstance(component, FastAgiComponent):
            lines.append(f"  FastAGI IVR       agi://{component.host}:{component.bound_port}/hotline")
    lines.append(f"  event loop        {loop_name()}")
    ami = runtime.health.get("ami")
    if ami is not None:
        report = await ami()
        lines.append(f"  AMI               {report.get('host') or report.get('state', '')}"
                     + (" (built-in PBX simulator)" if simulate else ""))
    if simulate and await runtime.store.users.count():
        lines += ["  demo logins (password demo1234, if loaded by `callcenter demo-data`):",
                  "    agents 8001-8012 (8013-8015 are simulated and answer by themselves),",
                  "    supervisor, dispatcher, admin",
                  "  a simulated merchant calls every ~12 s; Ctrl-C stops"]
    return "\n".join(lines)


async def serve(settings: Settings, **options: bool) -> None:
    """Run until SIGINT/SIGTERM, then stop every component cleanly."""
    runtime = await build_runtime(settings, **options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
        settle_gc()  # the cyclic GC stalls every live call's IVR: see its docstring
        print(await banner(runtime, simulate=options.get("simulate", False)), flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runtime.stop()
