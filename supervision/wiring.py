"""How supervision joins the running product (called from ``callcenter.app`` after the CTI).

``install(runtime, options, cti)`` adds the ``supervision`` component (loads today's calls
and the standing alerts, then pushes the wallboard; it observes the hub, so what the business
and speech features publish refreshes the standing alerts) and the web module
(``/wallboard``, ``/ws/wallboard``, the monitoring API); it returns the
:class:`SupervisionService`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from callcenter.reports.kpi import KpiPolicy
from callcenter.runtime import RunOptions, Runtime
from callcenter.runtime_settings import RuntimeSettings
from callcenter.supervision_store import StoreDayCalls, StoreStandingAlerts
from cti.service import CtiService
from supervision.monitoring import Monitoring
from supervision.service import SupervisionService
from supervision.wallboard import WallboardPolicy, new_day
from supervision.web import web_module

__all__ = ["SupervisionComponent", "apply_settings", "install"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class SupervisionComponent:
    service: SupervisionService
    name: str = "supervision"

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()


def policy_of(runtime: Runtime) -> WallboardPolicy:
    """The wallboard's definitions from the ``[reports]`` settings (the same as the reports)."""
    conf = runtime.settings.reports
    return WallboardPolicy(
        kpi=KpiPolicy(service_level_s=conf.service_level_s,
                      short_abandon_s=conf.short_abandon_s),
        answer_rate_target=conf.target_answer_rate, day_floor=conf.day_floor,
        night_floor=conf.night_floor, long_wait_s=conf.long_wait_s)


def apply_settings(service: SupervisionService, settings: RuntimeSettings) -> None:
    """The thresholds and targets in force (``callcenter.runtime_settings``) become the
    wallboard's policy for its next figures and alerts. The staffing floor's day band follows
    business hours changed at run time (whole hours). A new service-level threshold recounts
    the day from the stored calls, so today's figures use one definition."""
    old = service.policy
    day_hours = ((settings.day_start.hour, settings.day_end.hour)
                 if "business_hours" in settings.overridden else old.day_hours)
    service.policy = replace(
        old, kpi=replace(old.kpi, service_level_s=settings.service_level_s),
        answer_rate_target=settings.answer_rate_target, long_wait_s=settings.long_wait_s,
        day_floor=settings.day_floor, night_floor=settings.night_floor, day_hours=day_hours)
    if service.policy.kpi != old.kpi:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # before the loop runs: start() counts the day with the new policy
        service.day = new_day(service.day.day)
        task = loop.create_task(service.reload_day(), name="wallboard-recount")
        _RECOUNTS.add(task)
        task.add_done_callback(_recounted)


_RECOUNTS: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak refs)


def _recounted(task: asyncio.Task[None]) -> None:
    _RECOUNTS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("wallboard recount failed: %s", task.exception())


async def install(runtime: Runtime, options: RunOptions, cti: CtiService) -> SupervisionService:
    """Add the component and the web module to ``runtime``; returns the service."""
    service = SupervisionService(cti, StoreDayCalls(runtime.store), runtime.hub,
                                 policy=policy_of(runtime),
                                 tz=ZoneInfo(runtime.settings.locale.timezone),
                                 standing=StoreStandingAlerts(runtime.store))
    runtime.hub.observe(service.on_published)  # complaints, dead letters, speech alerts
    service.monitoring = Monitoring(cti, runtime.store.audit, hub=runtime.hub)
    if runtime.live_settings is not None:
        runtime.live_settings.subscribe(lambda settings: apply_settings(service, settings))
    runtime.components.append(SupervisionComponent(service))
    runtime.modules.append(web_module(service))
    return service
