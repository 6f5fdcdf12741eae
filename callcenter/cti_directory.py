"""The CTI bridge's storage on the domain store (implements ``cti.ports.CtiDirectory``).

* ``CallLogStore``: ``calls`` rows through ``callcenter.call_records`` (the CTI writer's
  rule), timeline lines (``call_events``), the agent state log, recordings
  (``recording.repository``);
* ``CardSource``: the screen-pop card's merchant part, read in one transaction;
* ``AgentDirectory``: the agents table and an agent's state log.

Driver errors worth a retry (IntegrityError, OperationalError, OSError, the store's own
``CallcenterError``) are translated once, here, into ``cti.errors.CtiStorageError``.

Plain column selects and inserts, no ORM instances: 50 cards a second and thousands of log
rows would otherwise leave reference cycles (rows, states, relationships) for the garbage
collector, whose full passes stall the event loop the screen pops run on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from callcenter.call_records import Writer, write_calls
from callcenter.db.models import (
    AgentStateLogRow,
    CallEventRow,
    CallRow,
    ComplaintRow,
    MerchantPhoneRow,
    MerchantRow,
    TaskRow,
    TerminalRow,
    UnsavedWrapupRow,
)
from callcenter.db.repositories import Store
from callcenter.domain import OPEN_TASK_STATUSES, Agent, caller_id_candidates
from callcenter.errors import CallcenterError
from cti.errors import CtiStorageError
from cti.ports import (
    AgentStateWrite,
    CallEventWrite,
    CallLine,
    CallWrite,
    CardDetails,
    ComplaintLine,
    MerchantCandidate,
    MerchantInfo,
    RecordingFinish,
    RecordingRegister,
    RowWrite,
    StateLogEntry,
    TaskLine,
    TerminalLine,
    UnsavedWrapup,
)
from recording.errors import RecordingPathError
from recording.paths import resolve
from recording.repository import RecordingRepository

__all__ = ["StoreCtiDirectory"]

logger = logging.getLogger(__name__)

_OPEN_STATUSES = [str(x) for x in OPEN_TASK_STATUSES]


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except (IntegrityError, OperationalError, OSError, CallcenterError) as exc:
        raise CtiStorageError(f"{type(exc).__name__}: {exc}") from exc


def _file_sizes(root: Path, names: Sequence[str]) -> dict[str, int]:
    """Sizes of the recording files ``names`` under ``root`` that exist (blocking: stat)."""
    sizes: dict[str, int] = {}
    for name in names:
        try:
            sizes[name] = resolve(root, name).stat().st_size
        except (OSError, RecordingPathError) as exc:
            # Asterisk may write to a directory this host does not see: no size, no error.
            logger.info("recording %s: no size (%s)", name, exc)
    return sizes


class StoreCtiDirectory:
    """The CTI's storage ports on ``store`` (see the module docstring). ``recording_dir``
    is where Asterisk's MixMonitor files are seen from here (settings ``[recording] dir``):
    a finished recording gets its size from it (None: sizes stay NULL)."""

    def __init__(self, store: Store, recording_dir: Path | None = None) -> None:
        self.store = store
        self.recordings = RecordingRepository(store)
        self.recording_dir = recording_dir

    # ------------------------------------------------------------------ UnsavedWrapupStore

    async def unsaved_wrapups(self) -> list[UnsavedWrapup]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(UnsavedWrapupRow)
                                   .order_by(UnsavedWrapupRow.due_at,
                                             UnsavedWrapupRow.linked_id))
            return [UnsavedWrapup(r.agent_number, r.linked_id, r.interface, r.due_at,
                                  r.held_until) for r in rows]

    async def keep_unsaved_wrapup(self, item: UnsavedWrapup) -> None:
        async with self.store.transaction() as s:
            await s.merge(UnsavedWrapupRow(
                agent_number=item.agent_number[:20], linked_id=item.linked_id[:64],
                interface=item.interface[:100], due_at=item.due_at,
                held_until=item.held_until))

    async def drop_unsaved_wrapup(self, linked_id: str) -> None:
        async with self.store.transaction() as s:
            await s.execute(delete(UnsavedWrapupRow)
                            .where(UnsavedWrapupRow.linked_id == linked_id))

    # ------------------------------------------------------------------ CallLogStore

    async def write_rows(self, jobs: Sequence[RowWrite]) -> None:
        """One transaction: the calls rows (CTI rule of ``callcenter.call_records``), then
        the timeline and state-log lines as one multi-row INSERT each. Rows of one table
        keep their order (ids ascend with it); the tables do not refer to each other."""
        calls: list[CallWrite] = []
        events: list[dict[str, Any]] = []
        states: list[dict[str, Any]] = []
        for job in jobs:
            if isinstance(job, CallWrite):
                calls.append(job)
            elif isinstance(job, CallEventWrite):
                events.append({"linked_id": job.linked_id, "at": job.at, "kind": job.kind,
                               "data": dict(job.data)})
            elif isinstance(job, AgentStateWrite):
                states.append({"agent_number": job.agent_number, "interface": job.interface,
                               "at": job.at, "old_state": job.old_state,
                               "new_state": job.new_state, "reason": job.reason,
                               "cause": job.cause})
        async with _translated(), self.store.transaction() as s:
            await write_calls(s, Writer.CTI, calls)
            if events:
                await s.execute(insert(CallEventRow), events)
            if states:
                await s.execute(insert(AgentStateLogRow), states)

    async def register_recording(self, job: RecordingRegister) -> None:
        async with _translated():
            await self.recordings.register(job.linked_id, job.path, job.at)

    async def finish_recordings(self, job: RecordingFinish) -> None:
        """Close the call's open recordings with each file's size, stat'ed off the event loop
        (the file is complete: Asterisk closes it when the call's channel hangs up)."""
        async with _translated():
            sizes: dict[str, int] | None = None
            if self.recording_dir is not None:
                names = [r.path for r in await self.recordings.for_call(job.linked_id)
                         if r.ended_at is None]
                if names:
                    sizes = await asyncio.to_thread(_file_sizes, self.recording_dir, names)
            await self.recordings.finish(job.linked_id, job.at, sizes)

    # ------------------------------------------------------------------ CardSource

    async def load_card(self, linked_id: str, *, caller: str | None,
                        merchant_number: str | None, ivr_verified: bool | None,
                        recent_calls: int, complaints: int) -> CardDetails:
        m = MerchantRow
        columns = (m.id, m.merchant_number, m.name, m.address, m.district, m.contact_person,
                   m.business_hours, m.tags)
        async with self.store.transaction() as s:
            found: list[Any] = []
            if merchant_number:
                found = list(await s.execute(select(*columns)
                                             .where(m.merchant_number == merchant_number)))
            candidates: list[Any] = []
            if not found and caller:
                keys = caller_id_candidates(caller)
                if keys:
                    candidates = list(await s.execute(
                        select(*columns).where(m.id.in_(
                            select(MerchantPhoneRow.merchant_id)
                            .where(MerchantPhoneRow.phone.in_(keys)))).order_by(m.id)))
                found = candidates if len(candidates) == 1 else []
            verified = ivr_verified
            if verified is None:
                verified = bool(found) and (bool(merchant_number) or len(candidates) == 1)
            several = tuple(MerchantCandidate(c.id, c.merchant_number, c.name)
                            for c in candidates) if len(candidates) > 1 else ()
            if not found:
                return CardDetails(candidates=several)
            row = found[0]
            merchant_id = row.id
            phones = await s.scalars(
                select(MerchantPhoneRow.phone).where(MerchantPhoneRow.merchant_id == merchant_id)
                .order_by(MerchantPhoneRow.position))
            merchant = MerchantInfo(
                merchant_id, row.merchant_number, row.name, row.address, row.district,
                row.contact_person, tuple(phones), row.business_hours,
                tuple(sorted(row.tags or ())), bool(verified))
            t = TerminalRow
            terminals = tuple(
                TerminalLine(r.serial, r.model, r.status, r.install_date)
                for r in await s.execute(
                    select(t.serial, t.model, t.status, t.install_date)
                    .where(t.merchant_id == merchant_id).order_by(t.serial)))
            k = TaskRow
            tasks = tuple(
                TaskLine(r.task_number, r.kind, r.status, r.created_at, r.appointment_at,
                         r.engineer, r.terminal_serial, r.description)
                for r in await s.execute(
                    select(k.task_number, k.kind, k.status, k.created_at, k.appointment_at,
                           k.engineer, k.terminal_serial, k.description)
                    .where(k.merchant_id == merchant_id, k.status.in_(_OPEN_STATUSES))
                    .order_by(k.created_at.desc(), k.id.desc()).limit(20)))
            c = CallRow
            calls = tuple(
                CallLine(r.linked_id, r.started_at, r.queue, r.agent_number, r.outcome,
                         r.disposition, r.intent, r.talk_s, r.wrapup_note)
                for r in await s.execute(
                    select(c.linked_id, c.started_at, c.queue, c.agent_number, c.outcome,
                           c.disposition, c.intent, c.talk_s, c.wrapup_note)
                    .where(c.merchant_id == merchant_id, c.linked_id != linked_id)
                    .order_by(c.started_at.desc()).limit(recent_calls)))
            p = ComplaintRow
            complaint_lines = tuple(
                ComplaintLine(r.id, r.complaint_class, r.description, r.result, r.created_at,
                              r.closed_at, r.escalation_tier)
                for r in await s.execute(
                    select(p.id, p.complaint_class, p.description, p.result, p.created_at,
                           p.closed_at, p.escalation_tier)
                    .where(p.merchant_id == merchant_id)
                    .order_by(p.created_at.desc()).limit(complaints)))
        return CardDetails(merchant, several, terminals, tasks, calls, complaint_lines)

    # ------------------------------------------------------------------ AgentDirectory

    async def agents(self) -> list[Agent]:
        return await self.store.agents.list()

    async def state_log(self, agent_number: str, since: datetime
                        ) -> tuple[StateLogEntry | None, list[StateLogEntry]]:
        log = AgentStateLogRow
        columns = (log.at, log.new_state, log.reason)
        async with self.store.transaction() as s:
            before = (await s.execute(
                select(*columns).where(log.agent_number == agent_number, log.at < since)
                .order_by(log.at.desc(), log.id.desc()).limit(1))).first()
            rows = [StateLogEntry(r.at, r.new_state, r.reason) for r in await s.execute(
                select(*columns).where(log.agent_number == agent_number, log.at >= since)
                .order_by(log.at, log.id))]
        return (StateLogEntry(before.at, before.new_state, before.reason)
                if before is not None else None), rows
