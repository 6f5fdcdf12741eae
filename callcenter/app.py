"""Composition root: the one place that constructs everything and wires it together.

``callcenter serve`` builds a :class:`Product` from the settings and the :class:`RunOptions`
and runs its components in one process: the FastAGI IVR server, the business outbox worker,
the AMI CTI bridge and the web app (each switchable off). Every feature joins through its
package's ``wiring.install(runtime, options)``, which returns the feature's typed service;
components start in order and stop in reverse order on SIGINT/SIGTERM.

``serve --simulate`` (``make run``): the built-in PBX simulator (the top-level ``simulator``
package, a test double of Asterisk) stands in for Asterisk. This module does not import it:
the CLI imports ``simulator.wiring.stand_in`` only for ``--simulate`` and passes it in as a
:class:`StandInFactory`, so a production start never loads the simulator. Why a factory passed
in, rather than the simulator wrapping the product: the stand-in has to fit into the order
only this module knows (its AMI server bound before the CTI bridge is built, which is pointed
at it; its traffic started after the FastAGI server and the web app are bound, and stopped
first), and it should not need to know how the product is put together. It gets the
settings and the product's addresses, and reaches the product only over AMI, FastAGI and
HTTP, plus the demo phones that the desktop's answer/hang-up buttons press.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from aiohttp import web

from callcenter.admin.web import web_module as admin_module
from callcenter.business import wiring as business_wiring
from callcenter.business.service import BusinessService
from callcenter.callbacks import wiring as callbacks_wiring
from callcenter.callbacks.service import CallbackService
from callcenter.db.engine import check_database, create_engine, session_factory
from callcenter.db.migrate import check_schema
from callcenter.db.repositories import Store
from callcenter.errors import DatabaseUnavailable
from callcenter.event_loop import loop_name, settle_gc
from callcenter.metrics import ProductMetrics, metrics_module
from callcenter.reports import wiring as reports_wiring
from callcenter.reports.service import ReportService
from callcenter.runtime import Component, RunOptions, Runtime, database_probe
from callcenter.runtime_settings_store import (
    LiveRuntimeSettings,
    SqlRuntimeSettingsStore,
    file_defaults,
)
from callcenter.settings import Settings
from callcenter.web.app import build_web_app
from cti import wiring as cti_wiring
from cti.ports import DemoPhonePort
from cti.service import CtiService
from ivr import wiring as ivr_wiring
from ivr.wiring import FastAgiComponent
from recording import wiring as recording_wiring
from recording.repository import RecordingRepository
from speech import wiring as speech_wiring
from speech.service import SpeechService
from supervision import wiring as supervision_wiring
from supervision.service import SupervisionService

__all__ = ["Product", "StandInFactory", "StandInPbx", "WebComponent", "banner",
           "build_product", "serve"]

logger = logging.getLogger(__name__)


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
        logger.info("web app listening on http://%s:%s", self.host, self.bound_port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class StandInPbx(Component, Protocol):
    """A stand-in for Asterisk that runs inside the ``serve`` process (``serve --simulate``).

    Built before the CTI bridge, it already listens on ``ami_address``; ``phones`` stand in for
    the agents' desk phones (the desktop's answer/hang-up buttons); it is started last, once
    the product listens, and stopped first.
    """

    @property
    def ami_address(self) -> tuple[str, int]: ...

    @property
    def phones(self) -> DemoPhonePort | None: ...

    async def health(self) -> dict[str, Any]: ...


class StandInFactory(Protocol):
    """Builds the stand-in PBX from the settings and the product's addresses: where the FastAGI
    server and the web app are bound (asked when needed: they bind when the runtime starts;
    the web app's is None without one). Implemented by ``simulator.wiring.stand_in``."""

    async def __call__(self, settings: Settings, *,
                       fastagi_address: Callable[[], tuple[str, int]],
                       web_address: Callable[[], tuple[str, int] | None]) -> StandInPbx: ...


@dataclass(slots=True)
class Product:
    """The running product: the runtime every feature joined, and each feature's service."""

    runtime: Runtime
    business: BusinessService
    cti: CtiService
    recordings: RecordingRepository
    fastagi: FastAgiComponent | None = None
    web: WebComponent | None = None
    pbx: StandInPbx | None = None
    reports: ReportService | None = None
    speech: SpeechService | None = None
    callbacks: CallbackService | None = None
    supervision: SupervisionService | None = None

    async def start(self) -> None:
        """Start every component in order (see :meth:`Runtime.start`)."""
        await self.runtime.start()

    async def stop(self) -> None:
        """Stop the started components in reverse order, then the database engine."""
        await self.runtime.stop()


async def build_product(settings: Settings, options: RunOptions | None = None, *,
                        stand_in: StandInFactory | None = None) -> Product:
    """Construct the product from the settings: every feature's ``install`` in order (the IVR
    first, the stand-in PBX before the CTI bridge that connects to it, the web app last, as it
    serves the other features' modules). ``stand_in`` is required with ``options.simulate``
    and ignored without it.

    Raises ``DatabaseUnavailable`` when the database cannot be used (or is not migrated),
    ``ValueError`` for ``options.simulate`` without ``stand_in``, and what an ``install``
    raises (``MenuConfigError``, ``OSError`` for a port in use)."""
    options = options or RunOptions()
    if options.simulate and stand_in is None:
        raise ValueError("options.simulate needs a stand_in factory (the PBX simulator)")
    engine = create_engine(settings.database.url, echo=settings.database.echo)
    try:
        await check_database(engine)
        await check_schema(engine)
    except DatabaseUnavailable:
        await engine.dispose()
        raise
    runtime = Runtime(settings=settings, engine=engine, store=Store(session_factory(engine)))
    runtime.health["database"] = database_probe(engine)
    pbx: StandInPbx | None = None
    fastagi: FastAgiComponent | None = None
    web_part: WebComponent | None = None

    # The stand-in PBX asks for these once the runtime has started and the servers are bound.
    def fastagi_address() -> tuple[str, int]:
        bound = fastagi.bound_port if fastagi is not None else None
        return settings.fastagi.host, bound or settings.fastagi.port

    def web_address() -> tuple[str, int] | None:
        if web_part is None or web_part.bound_port is None:
            return None
        return settings.web.host, web_part.bound_port

    try:
        # first: its listeners (IVR calendar, wallboard rules) get the stored values at start
        runtime.live_settings = LiveRuntimeSettings(SqlRuntimeSettingsStore(runtime.store),
                                                    file_defaults(settings))
        runtime.components.append(runtime.live_settings)
        fastagi = await ivr_wiring.install(runtime, options)
        if options.simulate and stand_in is not None:
            pbx = await stand_in(settings, fastagi_address=fastagi_address,
                                 web_address=web_address)
            runtime.health["simulator"] = pbx.health
        business = await business_wiring.install(runtime, options)
        cti = await cti_wiring.install(
            runtime, options, demo_phones=pbx.phones if pbx is not None else None,
            ami_settings=None if pbx is None else replace(
                settings.ami, host=pbx.ami_address[0], port=pbx.ami_address[1]))
        supervision = await supervision_wiring.install(runtime, options, cti)
        business.on_wrapped_up = cti.wrapup_saved  # held after-call work ends (issue 13)
        recordings = await recording_wiring.install(runtime, options)
        reports = await reports_wiring.install(runtime, options)
        speech = await speech_wiring.install(runtime, options)
        callbacks = await callbacks_wiring.install(runtime, options, cti)
        runtime.modules.append(admin_module(runtime.live_settings))  # /admin (issue 13)
        if options.web and settings.metrics.enabled:
            metrics = ProductMetrics(engine, runtime.hub, runtime.health, cti=cti,
                                     fastagi=fastagi.server if fastagi is not None else None)
            runtime.modules.append(metrics_module(settings.metrics, metrics))
        if options.web:
            app = build_web_app(settings, runtime.store, modules=runtime.modules,
                                health=runtime.health, hub=runtime.hub)
            web_part = WebComponent(app, settings.web.host, settings.web.port)
            runtime.components.append(web_part)
        if pbx is not None:
            runtime.components.append(pbx)
    except BaseException:
        if pbx is not None:
            await pbx.stop()
        await engine.dispose()
        raise
    return Product(runtime, business, cti, recordings, fastagi, web_part, pbx, reports=reports,
                   speech=speech, callbacks=callbacks, supervision=supervision)


async def banner(product: Product) -> str:
    """What ``serve`` prints once everything listens: where to go, and how to log in."""
    runtime = product.runtime
    lines = ["callcenter is running"]
    if product.web is not None:
        base = f"http://{runtime.settings.web.host}:{product.web.bound_port}"
        lines += [f"  web               {base}/",
                  f"  agent desktop     {base}/desk",
                  f"  dispatcher board  {base}/board",
                  f"  wallboard         {base}/wallboard",
                  f"  recordings, QA    {base}/recordings  {base}/qa",
                  f"  reports, roster   {base}/reports  {base}/staffing  {base}/roster",
                  f"  callbacks         {base}/callbacks",
                  f"  administration    {base}/admin",
                  f"  health            {base}/healthz"]
    if product.fastagi is not None:
        fastagi = product.fastagi
        lines.append(f"  FastAGI IVR       agi://{fastagi.host}:{fastagi.bound_port}/hotline")
    lines.append(f"  event loop        {loop_name()}")
    report = await runtime.health["ami"]()
    lines.append(f"  AMI               {report.get('host') or report.get('state', '')}"
                 + (" (built-in PBX simulator)" if product.pbx is not None else ""))
    if product.pbx is not None and await runtime.store.users.count():
        lines += ["  demo logins (password demo1234, if loaded by `callcenter demo-data`):",
                  "    agents 8001-8012 (8013-8015 are simulated and answer by themselves),",
                  "    supervisor, teamlead, dispatcher, admin",
                  "  a simulated merchant calls every ~12 s; Ctrl-C stops"]
    return "\n".join(lines)


async def serve(settings: Settings, options: RunOptions, *,
                stand_in: StandInFactory | None = None) -> None:
    """Run until SIGINT/SIGTERM, then stop every component cleanly (see :func:`build_product`
    for ``stand_in``)."""
    product = await build_product(settings, options, stand_in=stand_in)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await product.start()
        settle_gc()  # the cyclic GC stalls every live call's IVR: see its docstring
        print(await banner(product), flush=True)
        await stop.wait()
        logger.info("shutting down")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await product.stop()
