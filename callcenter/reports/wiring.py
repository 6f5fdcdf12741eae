"""How the reports join the running product (called from ``callcenter.app``).

``install(runtime, options)`` adds:

* the web module (``/reports``, ``/api/reports/kpi``, ``/api/reports/calls``, ``/staffing``,
  ``/api/staffing``; the staffing forecast knows the holidays of ``fastagi.holidays_file``)
  and the roster module (``/roster``, uploads, swap requests and decisions, ``/api/roster``);
* the ``reports`` component: every ``reports.refresh_s`` seconds it brings the KPI cells up to
  date with the calls that ended (``callcenter/reports_store.py`` explains the high-water
  mark), and after local midnight it rebuilds the previous day once more and writes the daily
  report (``daily-YYYY-MM-DD.csv`` and ``.xlsx``, by queue, by agent and by hour) into
  ``reports.dir``, once per day;
* the ``reports`` health probe (when the cells were last refreshed).

It returns the :class:`ReportService`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.db.repositories import Store
from callcenter.reports import roster_web
from callcenter.reports.erlang import StaffingTarget
from callcenter.reports.export import to_csv, to_xlsx
from callcenter.reports.kpi import KpiPolicy, Targets
from callcenter.reports.periods import Group, day_bounds
from callcenter.reports.roster import RosterRules
from callcenter.reports.roster_service import RosterService
from callcenter.reports.service import ReportService
from callcenter.reports.staffing import StaffingPolicy
from callcenter.reports.web import web_module
from callcenter.reports_store import SqlReportStore
from callcenter.roster_store import SqlRosterStore
from callcenter.runtime import RunOptions, Runtime
from callcenter.runtime_settings_store import LiveRuntimeSettings, report_definitions
from callcenter.settings import ReportsSettings, Settings
from callcenter.team_directory import SqlTeamDirectory
from ivr.menu_config import load_holidays

__all__ = ["ReportsComponent", "build_service", "install", "write_daily_report"]

logger = logging.getLogger(__name__)

DAILY_GROUPS = (Group.QUEUE, Group.AGENT, Group.HOUR)


def build_service(settings: Settings, store: Store,
                  live: LiveRuntimeSettings | None = None) -> ReportService:
    """The report service on ``store``, with the ``[reports]`` settings; the service-level
    threshold and answer-rate target in force come from ``live`` (the run-time settings of
    ``/admin``) when given."""
    conf = settings.reports
    tz = ZoneInfo(settings.locale.timezone)
    policy = KpiPolicy(service_level_s=conf.service_level_s,
                       short_abandon_s=conf.short_abandon_s,
                       repeat_window_days=conf.repeat_window_days)
    targets = Targets(answer_rate=conf.target_answer_rate,
                      service_level=conf.target_service_level)
    staffing = StaffingPolicy(
        target=StaffingTarget(service_level=conf.target_service_level,
                              within_s=conf.service_level_s,
                              answer_rate=conf.target_answer_rate),
        shrinkage=min(conf.shrinkage, 0.95), day_floor=conf.day_floor,
        night_floor=conf.night_floor)
    holidays_file = settings.fastagi.holidays_file
    calendar = load_holidays(Path(holidays_file) if holidays_file else None)
    holidays = frozenset(h.start + timedelta(days=i) for h in calendar.holidays
                         for i in range((h.end - h.start).days + 1))
    return ReportService(SqlReportStore(store, policy=policy, tz=tz), policy=policy,
                         targets=targets, tz=tz, staffing=staffing, holidays=holidays,
                         workdays=calendar.workdays,
                         definitions=None if live is None else report_definitions(live))


async def write_daily_report(service: ReportService, day: date, directory: Path) -> list[Path]:
    """Write the day's report files (one CSV and one XLSX per grouping); their paths."""
    files: dict[Path, bytes] = {}
    for group in DAILY_GROUPS:
        report = await service.kpi(day, day, group)
        base = directory / f"daily-{day.isoformat()}-{group.value}"
        files[base.with_suffix(".csv")] = to_csv(report).encode("utf-8-sig")
        files[base.with_suffix(".xlsx")] = to_xlsx(report, title=group.value)
    await asyncio.to_thread(_write_files, directory, files)
    return list(files)


def _write_files(directory: Path, files: dict[Path, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        path.write_bytes(data)


@dataclass(slots=True)
class ReportsComponent:
    """The periodic refresh of the KPI cells and the daily report after midnight."""

    service: ReportService
    conf: ReportsSettings
    name: str = "reports"
    last_refresh: datetime | None = None
    task: asyncio.Task[None] | None = None
    errors: int = field(default=0)

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="reports-refresh")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def tick(self, now: datetime) -> None:
        """One round: refresh the cells, then yesterday's report if it is not written yet."""
        count = await self.service.refresh(now)
        self.last_refresh = now
        if count:
            logger.info("reports: %d KPI cells refreshed", count)
        yesterday = now.astimezone(self.service.tz).date() - timedelta(days=1)
        directory = Path(self.conf.dir)
        marker = directory / f"daily-{yesterday.isoformat()}-{DAILY_GROUPS[0].value}.csv"
        if not await asyncio.to_thread(marker.exists):
            start, end = day_bounds(yesterday, yesterday, self.service.tz)
            await self.service.store.rebuild(start, end)
            if not (await self.service.kpi(yesterday, yesterday, Group.TOTAL)).total \
                    .figures["offered"]:
                return  # a day without calls (a new installation): nothing to report
            paths = await write_daily_report(self.service, yesterday, directory)
            logger.info("reports: daily report of %s written (%d files)", yesterday, len(paths))

    async def _run(self) -> None:
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round retries; one bad round must not stop reports
                self.errors += 1
                logger.exception("reports: refresh failed")
            await asyncio.sleep(self.conf.refresh_s)

    async def health(self) -> dict[str, Any]:
        age = None if self.last_refresh is None else \
            int((datetime.now(UTC) - self.last_refresh).total_seconds())
        # Not refreshed yet (just started) is fine; a refresher that stopped is not.
        return {"ok": age is None or age < 5 * self.conf.refresh_s + 60,
                "last_refresh_s": age, "errors": self.errors}


async def install(runtime: Runtime, options: RunOptions) -> ReportService:
    """Add the reports' web module, refresher component and health probe to ``runtime``."""
    service = build_service(runtime.settings, runtime.store, runtime.live_settings)
    teams = SqlTeamDirectory(runtime.store)
    runtime.modules.append(web_module(service, teams))
    rules = RosterRules(day_floor=runtime.settings.reports.day_floor,
                        night_floor=runtime.settings.reports.night_floor)
    runtime.modules.append(roster_web.web_module(
        RosterService(SqlRosterStore(runtime.store), rules), teams))
    component = ReportsComponent(service, runtime.settings.reports)
    runtime.components.append(component)
    runtime.health["reports"] = component.health
    return service
