"""What a running product is made of: run options, components, health probes, the runtime.

Each feature package has a ``wiring.py`` whose ``install(runtime, options)`` adds the feature's
components (started in order, stopped in reverse), web modules and health probes to a
:class:`Runtime`, and returns the feature's typed service. The composition root
(``callcenter.app``) builds the runtime and calls every ``install`` in order; the wiring modules
import this module, never the composition root, so there is no import cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.db.engine import check_database
from callcenter.db.repositories import Store
from callcenter.errors import DatabaseUnavailable
from callcenter.runtime_settings_store import LiveRuntimeSettings
from callcenter.settings import Settings
from callcenter.web.app import HealthProbe, WebModule
from callcenter.web.hub import Hub

__all__ = ["Component", "HealthProbe", "RunOptions", "Runtime", "component_of",
           "database_probe", "static_probe"]

logger = logging.getLogger(__name__)

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Which parts ``callcenter serve`` runs in this process (its command-line switches).

    ``simulate``: the built-in PBX simulator stands in for Asterisk (``--simulate``).
    ``outbox_worker`` False leaves the business outbox delivery out of this process, e.g. a
    web-only process while dedicated processes deliver (``--no-outbox-worker``).
    """

    web: bool = True
    fastagi: bool = True
    ami: bool = True
    simulate: bool = False
    outbox_worker: bool = True


class Component(Protocol):
    """Something ``serve`` runs: started in order, stopped in reverse order."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class Runtime:
    """Everything a running product holds that the features share."""

    settings: Settings
    engine: AsyncEngine
    store: Store
    hub: Hub = field(default_factory=Hub)
    components: list[Component] = field(default_factory=list)
    health: dict[str, HealthProbe] = field(default_factory=dict)
    modules: list[WebModule] = field(default_factory=list)
    started: list[Component] = field(default_factory=list)
    # the run-time settings an administrator may change in /admin (None: the files' only)
    live_settings: LiveRuntimeSettings | None = None

    async def start(self) -> None:
        """Start every component in order; a failure leaves the started ones to ``stop``."""
        for component in self.components:
            await component.start()
            self.started.append(component)

    async def stop(self) -> None:
        """Stop the started components in reverse order (logging failures), then the
        database engine."""
        while self.started:
            component = self.started.pop()
            try:
                await component.stop()
            except Exception:
                logger.exception("stopping %s failed", component.name)
        await self.engine.dispose()


def component_of(runtime: Runtime, kind: type[C]) -> C | None:
    """The first component of ``runtime`` that is a ``kind`` (None when there is none)."""
    return next((c for c in runtime.components if isinstance(c, kind)), None)


def database_probe(engine: AsyncEngine) -> HealthProbe:
    """``/healthz`` → ``database``: a round trip with a 2-second limit."""

    async def probe() -> dict[str, Any]:
        try:
            await check_database(engine, timeout=2.0)
        except DatabaseUnavailable as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "backend": engine.dialect.name}

    return probe


def static_probe(report: dict[str, Any]) -> HealthProbe:
    """A probe that always reports ``report`` (a part that is disabled or not configured)."""

    async def probe() -> dict[str, Any]:
        return dict(report)

    return probe
