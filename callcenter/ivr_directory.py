"""The IVR's directory on the domain store (implements ``ivr.ports.IvrDirectory``).

Calls are keyed on Asterisk's linked id everywhere: the IVR writes the path, intent and merchant
of the call it handled into the same row the CTI bridge fills with queue and agent data, both
through ``callcenter.call_records`` (which says who may overwrite which column).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from callcenter import call_records
from callcenter.call_records import CallWriteSpec, Writer, write_calls
from callcenter.db.models import CallEventRow, CallRow
from callcenter.db.repositories import Store
from callcenter.domain import CallOutcome, Merchant, caller_id_candidates
from ivr.ports import RECENT_CALL_WINDOW, IvrOutcome, IvrResult, MerchantRef, TaskRef


def _ref(m: Merchant) -> MerchantRef:
    return MerchantRef(id=m.id, merchant_number=m.merchant_number, name=m.name,
                       high_value=m.high_value)


class StoreIvrDirectory:
    """IVR look-ups and result recording, one short transaction each."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def merchants_by_phone(self, phone: str) -> list[MerchantRef]:
        found: list[MerchantRef] = []
        for key in caller_id_candidates(phone):
            found.extend(_ref(m) for m in await self.store.merchants.by_phone(key))
        return found

    async def merchant_by_number(self, number: str) -> MerchantRef | None:
        if not (len(number) == 15 and number.isascii() and number.isdigit()):
            return None
        merchant = await self.store.merchants.by_number(number)
        return _ref(merchant) if merchant else None

    async def latest_open_task(self, merchant_id: int) -> TaskRef | None:
        task = await self.store.tasks.latest_open(merchant_id)
        if task is None:
            return None
        return TaskRef(task_number=task.task_number, kind=task.kind.value,
                       status=task.status.value, appointment=task.appointment_at)

    async def called_recently(self, caller: str, now: datetime) -> bool:
        """A finished call from this number within 24 h. The call in progress (no end yet) does
        not count, so the bridge having already created its row does not matter."""
        keys = caller_id_candidates(caller)
        if not keys:
            return False
        async with self.store.transaction() as s:
            found = await s.scalar(
                select(CallRow.id).where(
                    CallRow.caller_number.in_(keys),
                    CallRow.started_at >= now - RECENT_CALL_WINDOW,
                    CallRow.started_at < now,
                    CallRow.ended_at.is_not(None),
                ).limit(1))
        return found is not None

    async def record_ivr_result(self, result: IvrResult) -> None:
        """The IVR's fields of the call's row (``callcenter.call_records``, IVR writer: it
        sets what it asked, fills ``unique_id`` and, after a hang-up in the menu,
        ``ended_at``) and the ``ivr`` timeline line, in one transaction."""
        linked_id = result.linked_id or result.unique_id
        keys = caller_id_candidates(result.caller)
        fields: list[tuple[str, object]] = [
            ("unique_id", result.unique_id),
            ("caller_number", keys[0] if keys else result.caller[:40]),
            ("merchant_id", result.merchant.id if result.merchant else None),
            ("merchant_verified", result.merchant_verified),
            ("ivr_path", result.path[:400]), ("intent", result.intent), ("lang", result.lang),
            ("priority", result.priority)]
        if result.queue:
            fields.append(("queue", result.queue))
        if result.outcome in (IvrOutcome.IVR_HANGUP, IvrOutcome.SELF_SERVICE):
            fields += [("outcome", CallOutcome.IVR_ONLY.value), ("ended_at", result.ended_at)]
        async with self.store.transaction() as s:
            await write_calls(s, Writer.IVR, [
                CallWriteSpec(linked_id, result.started_at, tuple(fields))])
            s.add(CallEventRow(linked_id=linked_id, at=result.ended_at, kind="ivr",
                               data={"path": result.path, "outcome": result.outcome.value,
                                     "intent": result.intent, "queue": result.queue,
                                     "mode": str(result.mode), "verified":
                                     result.merchant_verified}))

    async def record_satisfaction(self, unique_id: str, linked_id: str | None, score: int) -> None:
        if not 1 <= score <= 5:
            raise ValueError(f"satisfaction score must be 1-5, got {score}")
        async with self.store.transaction() as s:
            await call_records.record_satisfaction(s, unique_id, linked_id, score)
