"""The KPI cells answer for any service-level threshold: the answered calls' waits are kept
per cell (``report_cell_waits``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from callcenter.db.repositories import Store
from callcenter.reports.kpi import CallFact, KpiPolicy, tally_of
from callcenter.reports.periods import Group
from callcenter.reports_store import threshold_ms, wait_ms
from tests.callcenter.reports.test_reports_store import call, service

T0 = datetime(2027, 1, 4, 0, 0, tzinfo=UTC)
DAY = date(2027, 1, 4)
WAITS = (0.0, 4.0, 19.999, 20.0, 20.001, 25.5, 30.0, 59.0)


@pytest.mark.parametrize("wait", [*WAITS, 0.0004, 20.0004, 3599.999])
@pytest.mark.parametrize("threshold", [1.0, 20.0, 20.001, 25.5, 30.0, 3600.0])
def test_the_millisecond_buckets_agree_with_the_kpi_rule(wait: float, threshold: float
                                                          ) -> None:
    fact = CallFact("c", "q", "8001", T0, "answered", wait_s=wait)
    in_sl = tally_of(fact, KpiPolicy(service_level_s=threshold)).answered_in_sl
    assert (wait_ms(wait) <= threshold_ms(threshold)) == bool(in_sl)


async def test_any_threshold_counts_the_stored_calls_as_the_kpi_rule_would(
        store: Store) -> None:
    reports = service(store)
    for n, wait in enumerate(WAITS):
        await call(store, n, T0 + timedelta(minutes=7 * n), "answered", wait=wait,
                   agent=f"80{n % 2:02d}")
    await call(store, 99, T0, "abandoned", wait=45.0)
    await reports.refresh(T0 + timedelta(hours=3))
    await reports.refresh(T0 + timedelta(hours=4))  # idempotent: no wait counted twice
    start, end = T0, T0 + timedelta(days=1)
    for threshold in (1.0, 20.0, 20.001, 25.5, 30.0, 60.0):
        expected = sum(w <= threshold for w in WAITS)
        for group in (Group.TOTAL, Group.QUEUE, Group.AGENT, Group.HOUR, Group.INTERVAL_15):
            cells = await reports.store.cells(start, end, group, service_level_s=threshold)
            got = sum(c.tally.answered_in_sl for c in cells)
            assert got == expected, (threshold, group)
    by_agent = await reports.store.cells(start, end, Group.AGENT, service_level_s=20.0)
    assert {c.agent: c.tally.answered_in_sl for c in by_agent} == {
        "": 0, "8000": sum(w <= 20 for w in WAITS[0::2]),
        "8001": sum(w <= 20 for w in WAITS[1::2])}
    # a rebuild of the day leaves the same counts
    await reports.store.rebuild(start, end)
    total = await reports.store.cells(start, end, Group.TOTAL, service_level_s=25.5)
    assert sum(c.tally.answered_in_sl for c in total) == 6
    assert (await reports.kpi(DAY, DAY, Group.TOTAL)).total.figures["answered"] == len(WAITS)
