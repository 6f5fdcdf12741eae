"""Run-time settings on the database, and the copy in force that consumers read.

* :class:`SqlRuntimeSettingsStore`: the ``callcenter.runtime_settings.RuntimeSettingsStore``
  port on the table ``runtime_settings``.
* :class:`LiveRuntimeSettings`: the settings in force in this process (the files' values with
  the stored ones on top, ``callcenter.runtime_settings.effective``). Consumers read
  ``current`` (no I/O) and register a listener; a change saved here is applied and told to
  the listeners at once, and :meth:`LiveRuntimeSettings.run` re-reads the table every
  ``refresh_s`` so a change saved by another process (a second web process, a restore) is
  picked up within seconds too.
* :func:`file_defaults`: the values of the files (``[reports]``, the menu's ``[schedule]``,
  the holiday calendar), used where nothing is stored.
* :func:`report_definitions`: the reports' ``LiveDefinitions`` port on the settings in force
  (the service-level threshold and the answer-rate target, as the wallboard has them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from callcenter.db.models import RuntimeSettingRow
from callcenter.db.repositories import Store
from callcenter.errors import DatabaseUnavailable
from callcenter.reports.ports import Definitions, LiveDefinitions
from callcenter.runtime_settings import (
    RuntimeSettings,
    RuntimeSettingsStore,
    StoredSetting,
    effective,
)
from callcenter.settings import Settings
from ivr.menu_config import load_holidays, load_menu

__all__ = ["LiveRuntimeSettings", "SqlRuntimeSettingsStore", "file_defaults",
           "report_definitions"]

logger = logging.getLogger(__name__)

Listener = Callable[[RuntimeSettings], object]


class SqlRuntimeSettingsStore:
    """The settings port on ``runtime_settings`` (one row per changed key)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def load(self) -> dict[str, StoredSetting]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(RuntimeSettingRow))
            return {r.key: StoredSetting(r.key, r.value, r.updated_by, r.updated_at)
                    for r in rows}

    async def save(self, values: Mapping[str, Any], reset: Sequence[str], *, actor: str,
                   at: datetime) -> None:
        async with self.store.transaction() as s:
            if reset:
                await s.execute(delete(RuntimeSettingRow)
                                .where(RuntimeSettingRow.key.in_(list(reset))))
            for key, value in values.items():
                await s.merge(RuntimeSettingRow(key=key, value=value, updated_by=actor[:64],
                                                updated_at=at))


def file_defaults(settings: Settings) -> RuntimeSettings:
    """The values of the files (R1 of ``callcenter.runtime_settings``). Raises
    ``MenuConfigError`` when the menu or holiday file is invalid (as the IVR would)."""
    fastagi = settings.fastagi
    menu = load_menu(Path(fastagi.menu_file) if fastagi.menu_file else None)
    calendar = load_holidays(Path(fastagi.holidays_file) if fastagi.holidays_file else None)
    reports = settings.reports
    return RuntimeSettings(
        answer_rate_target=reports.target_answer_rate, service_level_s=reports.service_level_s,
        long_wait_s=reports.long_wait_s, day_floor=reports.day_floor,
        night_floor=reports.night_floor, day_start=menu.schedule.day_start,
        day_end=menu.schedule.day_end, holidays=calendar.holidays,
        workdays=calendar.workdays)


@dataclass(slots=True)
class LiveRuntimeSettings:
    """The settings in force in this process (see the module docstring). Also a runtime
    component (``name``, ``start``, ``stop``): it loads the table at start, then refreshes."""

    port: RuntimeSettingsStore
    defaults: RuntimeSettings
    refresh_s: float = 5.0
    name: str = "runtime-settings"
    current: RuntimeSettings = field(init=False)
    stored: dict[str, StoredSetting] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.current = self.defaults

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(settings)`` now and after every change."""
        self.listeners.append(listener)
        self._tell(listener, self.current)

    def _tell(self, listener: Listener, settings: RuntimeSettings) -> None:
        try:
            listener(settings)
        except Exception:  # one broken consumer must not keep the others on old values
            logger.exception("run-time settings listener %r failed", listener)

    def _apply(self, stored: dict[str, StoredSetting]) -> bool:
        self.stored = stored
        result = effective(self.defaults, {k: v.value for k, v in stored.items()})
        for problem in result.ignored:
            logger.error("stored run-time setting ignored, the file's value stays: %s",
                         problem)
        if result.settings == self.current:
            return False
        self.current = result.settings
        logger.info("run-time settings in force: %s changed (%s)",
                    ", ".join(sorted(result.settings.overridden)) or "none",
                    "from the database")
        for listener in list(self.listeners):
            self._tell(listener, result.settings)
        return True

    async def refresh(self) -> bool:
        """Read the table again; True when the settings in force changed."""
        return self._apply(await self.port.load())

    async def save(self, values: Mapping[str, Any], reset: Sequence[str], *, actor: str,
                   at: datetime) -> RuntimeSettings:
        """Store a change already validated (``validate_changes``) and apply it at once."""
        await self.port.save(values, reset, actor=actor, at=at)
        await self.refresh()
        return self.current

    async def start(self) -> None:
        try:
            await self.refresh()
        except DatabaseUnavailable as exc:
            logger.error("run-time settings not loaded, the files' values stay: %s", exc)
        self._task = asyncio.create_task(self._run(), name="runtime-settings")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:
                logger.exception("run-time settings refresh failed; the values stay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def report_definitions(live: LiveRuntimeSettings) -> LiveDefinitions:
    """The reports' definitions in force: ``live.current`` at each call (no I/O), so a
    change saved in ``/admin`` (or picked up from another process) applies to the next
    report."""

    def definitions() -> Definitions:
        current = live.current
        return Definitions(service_level_s=current.service_level_s,
                           answer_rate_target=current.answer_rate_target)

    return definitions
