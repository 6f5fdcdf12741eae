"""The reports component: refreshes the cells and writes the daily report after midnight."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from callcenter.db.repositories import Store
from callcenter.reports.wiring import ReportsComponent
from callcenter.settings import load_settings
from tests.callcenter.reports.test_reports_store import T0, call, service


async def test_the_daily_report_is_written_once_after_midnight(sqlite_store: Store,
                                                               tmp_path: Path) -> None:
    store = sqlite_store
    await call(store, 1, T0, "answered")
    await call(store, 2, T0 + timedelta(hours=3), "abandoned", wait=50.0)
    tmp_path = tmp_path / "reports"
    conf = load_settings(environ={"CALLCENTER_REPORTS_DIR": str(tmp_path)}).reports
    component = ReportsComponent(service(store), conf)

    await component.tick(T0 + timedelta(hours=4))  # 2027-01-04 12:00 local: the day goes on
    assert not tmp_path.exists()

    after_midnight = T0 + timedelta(hours=16, minutes=5)  # 2027-01-05 00:05 local
    await component.tick(after_midnight)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"daily-2027-01-04-{g}.{ext}" for g in ("agent", "hour", "queue")
                     for ext in ("csv", "xlsx")]
    with (tmp_path / "daily-2027-01-04-queue.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [(r["group"], r["offered"], r["answer_rate"]) for r in rows] == [
        ("aftersales", "2", "0.5"), ("total", "2", "0.5")]

    (tmp_path / "daily-2027-01-04-agent.csv").unlink()
    await component.tick(after_midnight + timedelta(minutes=1))
    assert not (tmp_path / "daily-2027-01-04-agent.csv").exists()  # written once, not again
    assert (await component.health())["ok"]
