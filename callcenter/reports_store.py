"""The reports' storage (``callcenter.reports.ports.ReportStore``) on SQLAlchemy.

How the KPI cells stay current: a periodic refresher with a high-water mark
---------------------------------------------------------------------------
``report_cells`` holds one :class:`~callcenter.reports.kpi.Tally` per 15-minute interval ×
queue × agent (the interval of the call's queue arrival). :meth:`SqlReportStore.refresh`
(run every minute by the reports component) finds the calls whose ``ended_at`` is at or after
``high-water mark - settle`` (index ``ix_calls_ended_at``), recomputes every cell they fall
in from its calls (a cell holds a few calls: recomputing is cheap and idempotent), and moves
the mark to now. The overlap ``settle`` (1 hour) picks up what changes a call's figures after
it ended: the wrap-up disposition (due within 15 minutes by the regulation) and the survey
score; the nightly job rebuilds the previous day once more for later wrap-ups.

Why not in ``call_records.write_calls``, in the same transaction as the row: the CTI writes
rows in batches on its hot path, the outcome arrives before the wrap-up and the survey (so a
cell would be touched three times per call), and a recompute needs the merchant's history
(first-contact resolution) and the agent's state log (after-call work), which are not at
hand there. A report is at most one refresh period (60 s) behind the calls.

A cell's calls are recomputed, never incremented, so running the refresher twice, or two
processes at once, gives the same cells.

The service level of any threshold
----------------------------------
An administrator may change the service-level threshold at run time (``/admin`` settings), and
a report then counts every stored call with the new one, as the wallboard does. A counter
materialized with one threshold cannot answer for another, so beside each cell
``report_cell_waits`` keeps how many answered calls waited each whole millisecond count
(rounded up); :meth:`SqlReportStore.cells` sums the answered calls with
``wait_ms <= threshold`` for the threshold it is given and puts that in ``answered_in_sl``
(the cell's own ``answered_in_sl`` column, counted with the file's threshold, is not read).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.db.models import (
    AgentStateLogRow,
    CallEventRow,
    CallRow,
    ComplaintRow,
    ReportCellRow,
    ReportCellWaitRow,
    ReportStateRow,
)
from callcenter.db.repositories import Store
from callcenter.reports.kpi import TALLY_FIELDS, CallFact, KpiPolicy, Tally, repeat_flags, tally_of
from callcenter.reports.periods import CELL, Cell, Group, cell_start
from callcenter.reports.ports import CallLine, ComplaintLine

__all__ = ["SqlReportStore", "problem_of", "threshold_ms", "wait_ms"]

logger = logging.getLogger(__name__)

IVR_MAX = timedelta(hours=1)
"""Longest time from a call's start to its queue arrival (cells select calls by start)."""
ACW_MATCH = (timedelta(seconds=-2), timedelta(seconds=10))
"""An agent's wrap-up that starts this close to the call's end is the call's after-call work."""
ACW_MAX = timedelta(hours=1)
IN_CHUNK = 900  # bound parameters per IN list (SQLite's limit is 32766; keep statements small)


def problem_of(intent: str | None, disposition: str | None) -> str:
    """The "problem" of kpi rule R8: the agent's wrap-up classification, else the IVR's
    intent; empty when neither is known (then the call is not a contact)."""
    return disposition or intent or ""


def wait_ms(wait_s: float) -> int:
    """An answered call's wait in whole milliseconds, rounded up (the rounding to 3 places
    first drops float noise: 20.001 s is 20001 ms, not 20002)."""
    return math.ceil(round(max(wait_s, 0.0) * 1000, 3))


def threshold_ms(service_level_s: float) -> int:
    """The threshold in whole milliseconds, rounded down: ``wait_ms(w) <= threshold_ms(t)``
    exactly when ``w <= t`` for thresholds given to the millisecond (kpi rule R5)."""
    return math.floor(round(service_level_s * 1000, 3))


def _arrival(row: Any) -> datetime:
    return row.queued_at or row.started_at  # type: ignore[no-any-return]


def _wait(row: Any) -> float:
    """kpi rule R6: an answered call's wait is from its first queue arrival to its first
    answer (a transferred call's second wait is not the caller waiting for a first human);
    otherwise the tracker's queue time."""
    if row.outcome == "answered" and row.queued_at is not None and row.answered_at is not None:
        waited: float = (row.answered_at - row.queued_at).total_seconds()
        return max(waited, 0.0)
    return float(row.wait_s or 0.0)


class SqlReportStore:
    """``ReportStore`` on the product's database (SQLite and PostgreSQL)."""

    def __init__(self, store: Store, *, policy: KpiPolicy, tz: ZoneInfo,
                 settle: timedelta = timedelta(hours=1)) -> None:
        self.store = store
        self.policy = policy
        self.tz = tz
        self.settle = settle

    # ------------------------------------------------------------------ reading

    async def cells(self, start: datetime, end: datetime, by: Group, *,
                    queue: str | None = None, agent: str | None = None,
                    agents: frozenset[str] | None = None,
                    service_level_s: float | None = None) -> list[Cell]:
        """``service_level_s``: the threshold ``answered_in_sl`` counts with (the store's
        policy's when None); see "The service level of any threshold" above."""
        c, w = ReportCellRow, ReportCellWaitRow

        def grouped(table: Any, *columns: Any) -> Any:
            keys: list[Any]
            if by is Group.QUEUE:
                keys = [table.queue]
            elif by is Group.AGENT:
                keys = [table.agent_number]
            elif by in (Group.DAY, Group.WEEK, Group.MONTH, Group.TOTAL):
                keys = [table.day]
            else:
                keys = [table.start]
            stmt = select(*keys, *columns).where(table.start >= start, table.start < end
                                                 ).group_by(*keys)
            if queue is not None:
                stmt = stmt.where(table.queue == queue)
            if agent is not None:
                stmt = stmt.where(table.agent_number == agent)
            if agents is not None:  # a team: its agents' cells only
                stmt = stmt.where(table.agent_number.in_(sorted(agents)))
            return stmt

        threshold = threshold_ms(self.policy.service_level_s if service_level_s is None
                                 else service_level_s)
        stmt = grouped(c, *(func.sum(getattr(c, n)).label(n) for n in TALLY_FIELDS))
        within = grouped(w, func.sum(w.answered).label("n")).where(w.wait_ms <= threshold)
        async with self.store.transaction() as s:
            rows = (await s.execute(stmt)).all()
            in_sl = {tuple(r)[:-1]: int(r.n or 0) for r in (await s.execute(within)).all()}
        out = []
        for row in rows:
            m = row._mapping
            tally = Tally.from_mapping({n: m[n] or 0 for n in TALLY_FIELDS})
            tally = replace(tally, answered_in_sl=in_sl.get(tuple(row)[:1], 0))
            at = start
            if "start" in m:
                at = m["start"]
            elif "day" in m:
                at = datetime.combine(m["day"], time(), self.tz).astimezone(UTC)
            out.append(Cell(at, m.get("queue", queue or ""), m.get("agent_number", agent or ""),
                            tally))
        return out

    async def calls(self, start: datetime, end: datetime, *, queue: str | None,
                    agent: str | None, limit: int,
                    agents: frozenset[str] | None = None) -> Sequence[CallLine]:
        c = CallRow
        arrival = func.coalesce(c.queued_at, c.started_at)
        stmt = (select(c).where(c.started_at >= start - IVR_MAX, c.started_at < end,
                                arrival >= start, arrival < end,
                                c.outcome.in_(("answered", "abandoned", "callback_requested",
                                               "ivr_only")))
                .order_by(c.started_at.desc()).limit(limit))
        if queue is not None:
            stmt = stmt.where(c.queue == queue)
        if agent is not None:
            stmt = stmt.where(c.agent_number == agent)
        if agents is not None:
            stmt = stmt.where(c.agent_number.in_(sorted(agents)))
        async with self.store.transaction() as s:
            rows = (await s.scalars(stmt)).all()
        return [CallLine(r.linked_id, _arrival(r), r.queue, r.agent_number, r.outcome or "",
                         r.wait_s, r.talk_s, r.disposition, r.satisfaction) for r in rows]

    async def complaints(self, start: datetime, end: datetime, window_days: int
                         ) -> Sequence[ComplaintLine]:
        k, c = ComplaintRow, CallRow
        stmt = (select(k.id, k.merchant_id, k.created_at, c.intent, c.disposition)
                .outerjoin(c, c.linked_id == k.linked_id)
                .where(k.created_at >= start - timedelta(days=window_days), k.created_at < end))
        async with self.store.transaction() as s:
            rows = (await s.execute(stmt)).all()
        return [ComplaintLine(f"complaint-{r.id}", r.merchant_id,
                              problem_of(r.intent, r.disposition) or "complaint", r.created_at)
                for r in rows]

    async def staffed(self, start: datetime, end: datetime, slot: timedelta,
                      agents: frozenset[str] | None = None) -> dict[datetime, float]:
        """Mean agents logged in (any state but ``logged_out``) per ``slot`` of
        ``[start, end)`` (UTC slot starts), from ``agent_state_log``. An agent's state at
        ``start`` is its last transition in the day before (longer silences count as logged
        out)."""
        a = AgentStateLogRow
        stmt = (select(a.agent_number, a.at, a.new_state)
                .where(a.at >= start - timedelta(days=1), a.at < end)
                .order_by(a.agent_number, a.at, a.id))
        if agents is not None:  # a team: its agents only
            stmt = stmt.where(a.agent_number.in_(sorted(agents)))
        async with self.store.transaction() as s:
            log = (await s.execute(stmt)).all()
        seconds: dict[datetime, float] = defaultdict(float)
        step = slot.total_seconds()
        for i, row in enumerate(log):
            if row.new_state == "logged_out":
                continue
            nxt = log[i + 1] if i + 1 < len(log) else None
            until = nxt.at if nxt is not None and nxt.agent_number == row.agent_number else end
            lo, hi = max(row.at, start), min(until, end)
            while lo < hi:
                index = int((lo - start).total_seconds() // step)
                slot_start = start + index * slot
                cut = min(hi, slot_start + slot)
                seconds[slot_start] += (cut - lo).total_seconds()
                lo = cut
        return {k: v / step for k, v in sorted(seconds.items())}

    # ------------------------------------------------------------------ maintaining

    async def refresh(self, now: datetime) -> int:
        async with self.store.transaction() as s:
            mark = await s.scalar(select(ReportStateRow.at)
                                  .where(ReportStateRow.name == "cells"))
        if mark is None:
            async with self.store.transaction() as s:
                first = await s.scalar(select(func.min(CallRow.started_at)))
            count = 0 if first is None else await self.rebuild(cell_start(first), now + CELL)
        else:
            c = CallRow
            async with self.store.transaction() as s:
                found = await s.execute(select(c.started_at, c.queued_at).where(
                    c.ended_at >= mark - self.settle, c.ended_at < now))
                starts = {cell_start(_arrival(r)) for r in found}
            count = await self._recompute(starts)
        await self._set_mark("cells", now)
        return count

    async def rebuild(self, start: datetime, end: datetime) -> int:
        """Recompute every cell of ``[start, end)``, one day at a time."""
        count = 0
        day = cell_start(start)
        while day < end:
            upto = min(day + timedelta(days=1), end)
            async with self.store.transaction() as s:
                for table in (ReportCellRow, ReportCellWaitRow):
                    await s.execute(delete(table).where(table.start >= day,
                                                        table.start < upto))
                count += await self._write_range(s, day, upto, None)
            day = upto
        return count

    async def _set_mark(self, name: str, at: datetime) -> None:
        async with self.store.transaction() as s:
            row = await s.get(ReportStateRow, name)
            if row is None:
                s.add(ReportStateRow(name=name, at=at))
            else:
                row.at = at

    async def _recompute(self, starts: set[datetime]) -> int:
        """Recompute the cells starting at ``starts`` (grouped into one pass per day)."""
        by_day: dict[datetime, set[datetime]] = defaultdict(set)
        for at in starts:
            by_day[at.replace(hour=0, minute=0)].add(at)
        count = 0
        for _day, wanted in sorted(by_day.items()):
            async with self.store.transaction() as s:
                for table in (ReportCellRow, ReportCellWaitRow):
                    await s.execute(delete(table).where(table.start.in_(wanted)))
                count += await self._write_range(s, min(wanted), max(wanted) + CELL, wanted)
        return count

    async def _write_range(self, s: AsyncSession, start: datetime, end: datetime,
                           only: set[datetime] | None) -> int:
        """Insert the cells of the calls that arrived in ``[start, end)`` (only those whose
        cell is in ``only``, when given); returns how many."""
        c = CallRow
        rows = [r for r in (await s.execute(
            select(c.linked_id, c.started_at, c.queued_at, c.answered_at, c.ended_at, c.queue,
                   c.agent_number,
                   c.outcome, c.wait_s, c.talk_s, c.disposition, c.satisfaction,
                   c.merchant_id, c.intent)
            .where(c.started_at >= start - IVR_MAX, c.started_at < end,
                   c.outcome.is_not(None)))).all()
            if start <= _arrival(r) < end and (only is None or cell_start(_arrival(r)) in only)]
        if not rows:
            return 0
        transferred = await self._transferred(s, [r.linked_id for r in rows])
        acw = await self._after_call_work(s, rows)
        repeats = await self._repeats(s, rows, start, end)
        cells: dict[tuple[datetime, str, str], Tally] = {}
        waits: dict[tuple[datetime, str, str, int], int] = defaultdict(int)
        for r in rows:
            answered = r.outcome == "answered"
            fact = CallFact(
                key=r.linked_id, queue=r.queue, agent=r.agent_number if answered else "",
                arrived_at=_arrival(r), outcome=r.outcome, wait_s=_wait(r),
                talk_s=r.talk_s or 0.0, acw_s=acw.get(r.linked_id, 0.0),
                transferred=r.linked_id in transferred, disposition=r.disposition,
                satisfaction=r.satisfaction, contact=r.linked_id in repeats,
                repeat=repeats.get(r.linked_id, False))
            tally = tally_of(fact, self.policy)
            if tally.calls == 0:
                continue
            key = (cell_start(fact.arrived_at), fact.queue, fact.agent)
            cells[key] = cells[key] + tally if key in cells else tally
            if tally.answered:
                waits[(*key, wait_ms(tally.wait_answered_s))] += 1
        values = [{"start": at, "queue": queue, "agent_number": agent,
                   "day": at.astimezone(self.tz).date(), **tally.as_dict()}
                  for (at, queue, agent), tally in cells.items()]
        if values:
            await s.execute(insert(ReportCellRow), values)
        wait_values = [{"start": at, "queue": queue, "agent_number": agent, "wait_ms": ms,
                        "day": at.astimezone(self.tz).date(), "answered": n}
                       for (at, queue, agent, ms), n in waits.items()]
        if wait_values:
            await s.execute(insert(ReportCellWaitRow), wait_values)
        return len(values)

    async def _transferred(self, s: AsyncSession, ids: Sequence[str]) -> set[str]:
        """The calls that joined a queue more than once (kpi rule R7)."""
        e = CallEventRow
        out: set[str] = set()
        for chunk in _chunks(ids):
            found = await s.execute(select(e.linked_id).where(
                e.linked_id.in_(chunk), e.kind == "queued").group_by(e.linked_id)
                .having(func.count() > 1))
            out.update(found.scalars())
        return out

    async def _after_call_work(self, s: AsyncSession, rows: Sequence[Any]) -> dict[str, float]:
        """Per answered call: the answering agent's wrap-up that began at its end."""
        answered = [r for r in rows if r.outcome == "answered" and r.agent_number
                    and r.ended_at is not None]
        if not answered:
            return {}
        lo = min(r.ended_at for r in answered) + ACW_MATCH[0]
        hi = max(r.ended_at for r in answered) + ACW_MATCH[1] + ACW_MAX
        a = AgentStateLogRow
        agents = sorted({r.agent_number for r in answered})
        segments: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        for chunk in _chunks(agents):
            log = (await s.execute(select(a.agent_number, a.at, a.new_state)
                                   .where(a.agent_number.in_(chunk), a.at >= lo, a.at < hi)
                                   .order_by(a.agent_number, a.at, a.id))).all()
            for this, after in itertools.pairwise(log):
                if this.new_state == "wrap_up" and after.agent_number == this.agent_number:
                    segments[this.agent_number].append(
                        (this.at, (after.at - this.at).total_seconds()))
        out: dict[str, float] = {}
        for r in answered:
            starts = segments.get(r.agent_number, [])
            i = bisect.bisect_left(starts, (r.ended_at + ACW_MATCH[0], -1.0))
            if i < len(starts) and starts[i][0] <= r.ended_at + ACW_MATCH[1]:
                out[r.linked_id] = starts[i][1]
        return out

    async def _repeats(self, s: AsyncSession, rows: Sequence[Any], start: datetime,
                       end: datetime) -> dict[str, bool]:
        """kpi rule R8 for the answered calls with a merchant and a problem: linked id ->
        repeat (calls that are not contacts are absent)."""
        merchants = sorted({r.merchant_id for r in rows if r.merchant_id is not None
                            and r.outcome == "answered"})
        if not merchants:
            return {}
        window = timedelta(days=self.policy.repeat_window_days)
        c = CallRow
        history: list[tuple[str, int, str, datetime]] = []
        for chunk in _chunks(merchants):
            found = await s.execute(select(c.linked_id, c.merchant_id, c.intent, c.disposition,
                                           c.started_at, c.queued_at).where(
                c.merchant_id.in_(chunk), c.outcome == "answered",
                c.started_at >= start - window - IVR_MAX, c.started_at < end))
            history += [(r.linked_id, r.merchant_id, problem_of(r.intent, r.disposition),
                         _arrival(r)) for r in found if problem_of(r.intent, r.disposition)]
        flags = repeat_flags(history, self.policy.repeat_window_days)
        return {r.linked_id: flags[r.linked_id] for r in rows if r.linked_id in flags}


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), IN_CHUNK):
        yield items[i:i + IN_CHUNK]


def local_day(at: datetime, tz: ZoneInfo) -> date:
    """The local day of ``at``."""
    return at.astimezone(tz).date()

