"""How the CTI bridge joins the running product (called from ``callcenter.app``).

``install(runtime, options, *, ami=None, demo_phones=None, ami_settings=None)`` adds:

* the ``cti`` component to ``runtime.components``: ``start`` starts the service (agents
  table, DB writer, 1-second dispatcher tick) and then the AMI client (which resyncs through
  ``CtiService.on_connected`` after each login); ``stop`` stops the client, then flushes the
  writer;
* the agent desktop web module (``/desk``, ``/ws/agent``, ``/api/agent/*``, a home-page link
  for role agent, zh-CN/en texts) to ``runtime.modules``;
* the ``ami`` health probe: the AMI client's ``health()`` plus the service's counters;
* a garbage-collection policy (:class:`GcPolicy`): objects that live as long as the process
  or a desktop connection are frozen, so that CPython's full collections do not stall the
  screen pops (measured in bench/ami_screenpop.py).

It returns the :class:`CtiService`.

Which AMI connection:

* ``ami`` given: used as is (a test double, or a client built elsewhere). Whoever built it
  routes its events to ``service_of(runtime).on_message``.
* otherwise, with ``options.ami`` true (the default) and an AMI host configured
  (``ami_settings`` or ``runtime.settings.ami``): a ``cti.ami_client.AmiClient`` whose
  ``on_message``/``on_connected`` are the service's, on the wall clock (rows are stamped with
  the receive time).
* otherwise none: the desktop works, actions answer 503 ``ami_unavailable``.

In demo mode (``serve --simulate``) the composition root passes the stand-in PBX's AMI
address and its demo phones (the desktop's answer/hang-up buttons)::

    await cti_wiring.install(runtime, options, ami_settings=replace(settings.ami, host=h, port=p),
                             demo_phones=pbx.phones)
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.runtime import RunOptions, Runtime, component_of
from callcenter.settings import AmiSettings
from callcenter.web.app import HealthProbe
from cti.agent_state import AgentConfig
from cti.config import DEFAULT_QUEUES, CtiConfig
from cti.ports import AmiActions, DemoPhonePort
from cti.service import CtiService
from cti.web import web_module

__all__ = ["AmiClientLike", "CtiComponent", "GcPolicy", "install", "service_of"]

logger = logging.getLogger(__name__)


class AmiClientLike(AmiActions, Protocol):
    """An AMI client the component can run: the service's actions plus a lifecycle."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> Any: ...


class GcPolicy:
    """Keeps CPython's full garbage-collection passes off the ring path.

    A full (generation 2) pass walks every long-lived container object and stalls the event
    loop meanwhile; 1,000 connected desktops alone hold about 200,000 of them, and on the
    benchmark's 2-core machine such a pass took 100-500 ms: every screen pop due during it
    waited (bench/ami_screenpop.py, ``screen_pop``). Objects that live as long as the process
    or a desktop connection never need collecting, so they are moved out of the collector's
    view (``gc.freeze()``): at start, and ``settle_s`` after desktops stop connecting (the
    shift's log-in wave). Frozen objects are not collected: once ``refresh_after`` desktops
    have disconnected, and at most every ``refresh_s``, the policy unfreezes, collects once
    (one pause, at a known rate) and freezes again.
    """

    def __init__(self, *, settle_s: float = 2.0, refresh_s: float = 3600.0,
                 refresh_after: int = 200, clock: Any = time.monotonic) -> None:
        self.settle_s = settle_s
        self.refresh_s = refresh_s
        self.refresh_after = refresh_after
        self.clock = clock
        self.closed_since_refresh = 0
        self.freezes = 0
        self._last_refresh = clock()
        self._pending: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Collect once and freeze what the process holds after start-up."""
        gc.collect()
        self._freeze()

    def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def desktop(self, connected: bool) -> None:
        """A desktop WebSocket connected (True) or closed (False)."""
        if not connected:
            self.closed_since_refresh += 1
            return
        if self._pending is not None:
            self._pending.cancel()
        self._pending = asyncio.get_running_loop().call_later(self.settle_s, self._settled)

    def _settled(self) -> None:
        self._pending = None
        now = self.clock()
        if (self.closed_since_refresh >= self.refresh_after
                and now - self._last_refresh >= self.refresh_s):
            gc.unfreeze()
            gc.collect()
            self._last_refresh = now
            self.closed_since_refresh = 0
        self._freeze()

    def _freeze(self) -> None:
        gc.freeze()
        self.freezes += 1
        logger.debug("gc: %d objects frozen", gc.get_freeze_count())


@dataclass(slots=True)
class CtiComponent:
    """The CTI service and its AMI client as one runtime component."""

    service: CtiService
    client: AmiClientLike | None
    name: str = "cti"
    gc_policy: GcPolicy = field(default_factory=GcPolicy)

    async def start(self) -> None:
        await self.service.start()
        if self.client is not None:
            await self.client.start()
        self.gc_policy.start()

    async def stop(self) -> None:
        self.gc_policy.stop()
        try:
            if self.client is not None:
                await self.client.stop()
        finally:
            await self.service.stop()

    async def health(self) -> dict[str, Any]:
        """``/healthz`` → ``ami``: the client's state (``ok`` only when logged in and the last
        resync read all its lists) and the service's counters (calls, agents logged in, pops,
        write backlog, the last resync)."""
        if self.client is None:
            report: dict[str, Any] = {"ok": True, "state": "not configured"}
        else:
            health = self.client.health()
            if inspect.isawaitable(health):
                health = await health
            report = dict(health)
        report["cti"] = cti = self.service.health()
        if not cti["resync"]["ok"]:
            # A resync that could not read its lists leaves calls or agents stale: degraded.
            report["ok"] = False
            report["resync_failed"] = cti["resync"]["failed"]
        return report


def service_of(runtime: Runtime) -> CtiService | None:
    """The CTI service of ``runtime`` (None when not installed)."""
    component = component_of(runtime, CtiComponent)
    return component.service if component is not None else None


async def install(runtime: Runtime, options: RunOptions, *,
                  ami: AmiClientLike | None = None, demo_phones: DemoPhonePort | None = None,
                  ami_settings: AmiSettings | None = None) -> CtiService:
    """Add the CTI component, the agent desktop and the ``ami`` health probe to ``runtime``
    (see the module docstring); returns the service."""
    settings = runtime.settings
    queues = await runtime.store.queues.list()
    names = list(DEFAULT_QUEUES)
    names += [q.name for q in queues if q.name not in names]
    agent_config = AgentConfig(
        wrap_up_by_queue={q.name: float(q.wrapup_s) for q in queues},
        hold_wrap_up_s=settings.desk.wrap_up_max_s,
        desk_grace_s=settings.desk.disconnect_grace_s,
        no_answer_reason="no_answer" if settings.desk.pause_on_no_answer else "")
    config = CtiConfig(queues=tuple(names), timezone=settings.locale.timezone,
                       action_timeout=settings.ami.action_timeout,
                       state_interface=settings.ami.state_interface)
    directory = StoreCtiDirectory(runtime.store, Path(settings.recording.dir))
    service = CtiService(directory, runtime.hub, config=config,
                         agent_config=agent_config, demo_phones=demo_phones,
                         wrapups=directory)
    client = ami
    account = ami_settings or settings.ami
    if client is None and options.ami and account.configured:
        from cti.ami_client import AmiClient

        client = AmiClient(
            account.host, account.port, account.username, account.secret,
            on_message=service.on_message, on_connected=service.on_connected,
            connect_timeout=account.connect_timeout, action_timeout=account.action_timeout,
            ping_interval=account.ping_interval, clock=time.time)
        logger.info("CTI: AMI %s@%s:%s", account.username, account.host, account.port)
    elif client is None:
        logger.info("CTI: no AMI connection (%s)",
                 "disabled" if not options.ami else "no ami.host configured")
    service.attach(client)
    component = CtiComponent(service, client)
    runtime.components.append(component)
    runtime.modules.append(web_module(service, desktop_hook=component.gc_policy.desktop))
    probe: HealthProbe = component.health
    runtime.health["ami"] = probe
    return service
