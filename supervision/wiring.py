"""How supervision joins the running product (called from ``callcenter.app`` after the CTI).

``install(runtime, options, cti)`` adds the ``supervision`` component (loads today's calls
and the standing alerts, then pushes the wallboard; it observes the hub, so what the business
and speech features publish refreshes the standing alerts) and the web module
(``/wallboard``, ``/ws/wallboard``, the monitoring API); it returns the
:class:`SupervisionService`.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from callcenter.reports.kpi import KpiPolicy
from callcenter.runtime import RunOptions, Runtime
from callcenter.supervision_store import StoreDayCalls, StoreStandingAlerts
from cti.service import CtiService
from supervision.monitoring import Monitoring
from supervision.service import SupervisionService
from supervision.wallboard import WallboardPolicy
from supervision.web import web_module

__all__ = ["SupervisionComponent", "install"]


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


async def install(runtime: Runtime, options: RunOptions, cti: CtiService) -> SupervisionService:
    """Add the component and the web module to ``runtime``; returns the service."""
    service = SupervisionService(cti, StoreDayCalls(runtime.store), runtime.hub,
                                 policy=policy_of(runtime),
                                 tz=ZoneInfo(runtime.settings.locale.timezone),
                                 standing=StoreStandingAlerts(runtime.store))
    runtime.hub.observe(service.on_published)  # complaints, dead letters, speech alerts
    service.monitoring = Monitoring(cti, runtime.store.audit, hub=runtime.hub)
    runtime.components.append(SupervisionComponent(service))
    runtime.modules.append(web_module(service))
    return service
