"""How the business records join the running product (called from ``callcenter.app``).

``install(runtime, options)`` adds:

* the web module (dispatcher board, task page, alerts, daily complaints, the JSON API and the
  business-system webhook) to ``runtime.modules``;
* when ``business.url`` is set, the outbox delivery worker to ``runtime.components`` (it closes
  its HTTP client when stopped). ``options.outbox_worker`` False (``serve --no-outbox-worker``)
  leaves it out of this process — e.g. a web-only process while dedicated processes deliver
  (PostgreSQL);
* the complaint clock timer (``clock_timer.py``): lapsed complaint clocks raised on the
  ``wallboard`` topic as they lapse;
* the ``business`` health probe (outbox backlog and dead letters; a dead letter makes
  ``/healthz`` report ``degraded``) to ``runtime.health``.

It returns the :class:`BusinessService`.

With no ``business.url`` the built-in task store is the system of record: records are
``local``, nothing is delivered, and dispatchers work on the built-in board.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.business.board import web_module
from callcenter.business.business_client import BusinessClient
from callcenter.business.clock_timer import ComplaintClockTimer
from callcenter.business.outbox_worker import OutboxWorker
from callcenter.business.service import BusinessService
from callcenter.runtime import RunOptions, Runtime
from callcenter.web.app import HealthProbe

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class OutboxComponent:
    """The worker plus the HTTP client it owns, as one runtime component."""

    worker: OutboxWorker
    client: BusinessClient
    name: str = "business-outbox"

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        try:
            await self.worker.stop()
        finally:
            await self.client.aclose()


def health_probe(service: BusinessService) -> HealthProbe:
    async def probe() -> dict[str, Any]:
        stats = await service.repo.outbox_stats()
        oldest = None
        if stats.oldest_pending_at is not None:
            oldest = int((datetime.now(UTC) - stats.oldest_pending_at).total_seconds())
        answer = {"ok": stats.dead == 0, "mode": "external" if service.external else "local",
                  "pending": stats.pending, "in_flight": stats.in_flight, "dead": stats.dead,
                  "oldest_pending_s": oldest}
        if service.external:  # tasks kept local on purpose (business.backlog = keep_local)
            answer["local_backlog"] = await service.repo.count_local()
        return answer

    return probe


def build_service(runtime: Runtime) -> tuple[BusinessService, OutboxComponent | None]:
    """The service and, with a business system configured, its delivery component."""
    settings = runtime.settings
    external = bool(settings.business.url)
    service = BusinessService(runtime.store, runtime.hub,
                              tz=ZoneInfo(settings.locale.timezone), external=external,
                              locale=settings.locale.default)
    if not external:
        return service, None
    if not settings.business.secret:
        logger.warning("business.secret is empty: deliveries are signed with an empty key and "
                    "the webhook refuses every request")
    client = BusinessClient(settings.business)
    worker = OutboxWorker(service.repo, client.deliver, clock=lambda: datetime.now(UTC),
                          on_completed=service.delivered)
    service.on_enqueued = worker.wake
    return service, OutboxComponent(worker, client)


async def _backlog(service: BusinessService, policy: str) -> None:
    """Tasks recorded before the business system was configured: deliver them, or say
    plainly that they stay local (``business.backlog``)."""
    if policy == "deliver":
        await service.deliver_backlog(datetime.now(UTC))
        return
    left = await service.repo.count_local()
    if left:
        logger.warning("%d task(s) recorded before the business system was configured stay "
                       "local (business.backlog = keep_local): the business system does not "
                       "know them", left)


async def install(runtime: Runtime, options: RunOptions) -> BusinessService:
    """Add the business module, worker and health probe to ``runtime``; returns the service."""
    service, component = build_service(runtime)
    runtime.modules.append(web_module(service))
    if component is not None and options.outbox_worker:
        runtime.components.append(component)
    elif component is not None:
        await component.client.aclose()
    runtime.health["business"] = health_probe(service)
    timer = ComplaintClockTimer(service, clock=lambda: datetime.now(UTC))
    service.on_complaint = timer.wake
    runtime.components.append(timer)
    if service.external:
        await _backlog(service, runtime.settings.business.backlog)
    logger.info("business records: %s", f"delivered to {runtime.settings.business.url}"
             if service.external else "built-in task store is the system of record")
    return service
