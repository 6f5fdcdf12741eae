"""The one writer of ``calls`` rows, and the rule of who may write which column.

A call's row is keyed on Asterisk's linked id and written by several parties as the call goes:
the IVR (``callcenter/ivr_directory.py``: path, intent, merchant), the CTI bridge (through
``callcenter/cti_directory.py``: queue, agent, times, outcome), the keep-my-place call-back
request (``callcenter/queue_callbacks.py``: outcome ``callback_requested``), the wrap-up
(``callcenter/business/repository.py``: disposition and note) and the post-call survey
(satisfaction). They all write through this module, and ``RULES`` says, per column and writer:

* ``SET``: the writer's value replaces whatever the column holds (the writer owns it);
* ``FILL``: the value is written only while the column is empty (None or ""): a later writer
  never overwrites what an earlier one filled;
* absent: the writer may not write the column (``merge`` raises ValueError).

Rules of the row
----------------
1. One row per linked id: the first writer creates it with ``started_at``, later ones update
   it; ``linked_id`` and ``started_at`` never change after that.
2. Each written column follows ``RULES`` for its writer (``SET`` or ``FILL``).
3. Writes of one writer apply in order: within a batch a later write sees the earlier ones.
4. ``SEED`` (test fixtures, data imports) sets any column.
5. ``KEPT_VALUES``: some values stand against a later writer's value: a call whose call-back
   was booked from the queue stays ``callback_requested`` when the bridge ends it as
   ``failed`` (the caller hung up while the IVR said "booked", so the dialplan never sent
   ``UserEvent CcCallbackRequest`` and the tracker saw a caller who left the queue unanswered).
   Any other outcome (``answered``) replaces it.

``merge`` is the rule alone (pure); ``write_calls`` applies it with plain statements (one
SELECT of the rows concerned, one INSERT of the new ones, one UPDATE per changed row; no ORM
instances, which would leave reference cycles for the garbage collector at every batch).
``record_disposition`` keeps prebuilt statements for the wrap-up's speed; the table is
checked against them at import.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.db.models import CallRow

__all__ = [
    "KEPT_VALUES",
    "RULES",
    "CallFields",
    "CallWriteLike",
    "CallWriteSpec",
    "Rule",
    "Writer",
    "merge",
    "record_disposition",
    "record_satisfaction",
    "write_calls",
]


class Writer(enum.Enum):
    """Who writes a call row."""

    IVR = "ivr"
    CTI = "cti"
    WRAPUP = "wrapup"
    SURVEY = "survey"
    CALLBACK = "callback"  # the keep-my-place call-back request (callcenter/queue_callbacks.py)
    SEED = "seed"


class Rule(enum.Enum):
    SET = "set"
    FILL = "fill"


_S: Final = Rule.SET
_F: Final = Rule.FILL
_IVR, _CTI, _WRAPUP, _SURVEY = Writer.IVR, Writer.CTI, Writer.WRAPUP, Writer.SURVEY
_CALLBACK = Writer.CALLBACK

RULES: Final[Mapping[str, Mapping[Writer, Rule]]] = MappingProxyType({
    "unique_id": {_IVR: _F, _CTI: _F},
    # The IVR knows the caller and the merchant best (it asked); the CTI only fills them
    # when the IVR did not run (FastAGI down) and once the pop card found the merchant.
    "caller_number": {_IVR: _S, _CTI: _F},
    "merchant_id": {_IVR: _S, _CTI: _F, _WRAPUP: _S},  # the agent's verification wins
    "merchant_verified": {_IVR: _S, _WRAPUP: _S},
    "ivr_path": {_IVR: _S, _CTI: _F},
    "intent": {_IVR: _S, _CTI: _F},
    "lang": {_IVR: _S, _CTI: _F},
    "priority": {_IVR: _S},
    "queue": {_IVR: _S, _CTI: _S},  # the latest queue: after a transfer, the new one
    "agent_number": {_CTI: _S},
    "queued_at": {_CTI: _F},  # the first queue's join
    "answered_at": {_CTI: _F},  # the first answer
    "ended_at": {_IVR: _F, _CTI: _S},
    "wait_s": {_CTI: _S},
    "talk_s": {_CTI: _S},
    # The CTI's final word (cti.call_state rule 7); the IVR's for a call that ended in it; the
    # call-back request's once a call-back is booked from the queue (and rule 5).
    "outcome": {_IVR: _S, _CTI: _S, _CALLBACK: _S},
    "disposition": {_WRAPUP: _S},
    "wrapup_note": {_WRAPUP: _S},
    "satisfaction": {_SURVEY: _S},
})
"""Column -> writer -> rule (see the module docstring)."""

KEPT_VALUES: Final[Mapping[str, Mapping[Any, frozenset[Any]]]] = MappingProxyType({
    "outcome": {"callback_requested": frozenset({"failed"})},
})
"""Rule 5: column -> value it holds -> the values that do not replace it (SEED excepted)."""

_NEW_CALL: Final[Mapping[str, Any]] = MappingProxyType({
    "unique_id": "", "caller_number": "", "merchant_id": None, "merchant_verified": False,
    "ivr_path": "", "intent": "", "lang": "", "queue": "", "priority": 0, "agent_number": "",
    "queued_at": None, "answered_at": None, "ended_at": None, "wait_s": None, "talk_s": None,
    "outcome": None, "disposition": None, "wrapup_note": "", "satisfaction": None})
"""A new row's columns before anybody wrote them."""

_FILLED_COLUMNS: Final = tuple(c for c, rules in RULES.items()
                               if _F in rules.values() or c in KEPT_VALUES)
"""The columns whose current value decides a write (FILL somewhere, or rule 5)."""

CallFields = Iterable[tuple[str, Any]]


def _empty(value: Any) -> bool:
    return value is None or value == ""


def merge(writer: Writer, current: dict[str, Any], fields: CallFields) -> dict[str, Any]:
    """Apply ``fields`` of ``writer`` to ``current`` (a row's columns, updated in place) by
    ``RULES``; returns the columns that change. Raises ValueError for a column the writer may
    not write (``linked_id``/``started_at`` included)."""
    changes: dict[str, Any] = {}
    for name, value in fields:
        rules = RULES.get(name)
        if rules is None:
            raise ValueError(f"{name!r} is not a writable call column")
        rule = _S if writer is Writer.SEED else rules.get(writer)
        if rule is None:
            raise ValueError(f"the {writer.value} writer may not write {name!r}")
        if rule is _F and not _empty(current.get(name)):
            continue
        kept = KEPT_VALUES.get(name)
        if kept and writer is not Writer.SEED and value in kept.get(current.get(name), ()):
            continue
        current[name] = value
        changes[name] = value
    return changes


class CallWriteLike(Protocol):
    """One write of a row (``cti.ports.CallWrite`` is one)."""

    @property
    def linked_id(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def fields(self) -> tuple[tuple[str, Any], ...]: ...


@dataclass(frozen=True, slots=True)
class CallWriteSpec:
    """One write of a row: created with ``started_at`` if missing, then ``fields``."""

    linked_id: str
    started_at: datetime
    fields: tuple[tuple[str, Any], ...]


async def _current_rows(s: AsyncSession, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The rows of ``ids`` that exist now: the columns a FILL rule reads."""
    c = CallRow
    found = await s.execute(select(c.linked_id, *(getattr(c, n) for n in _FILLED_COLUMNS))
                            .where(c.linked_id.in_(ids)))
    return {r.linked_id: dict(r._mapping) for r in found}


def _insert_new(s: AsyncSession, rows: list[dict[str, Any]]) -> Any:
    """``INSERT … ON CONFLICT (linked_id) DO NOTHING RETURNING linked_id`` on the session's
    backend (both SQLite and PostgreSQL have it)."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    return (insert(CallRow).values(rows)
            .on_conflict_do_nothing(index_elements=["linked_id"]).returning(CallRow.linked_id))


async def write_calls(s: AsyncSession, writer: Writer, writes: Sequence[CallWriteLike]
                      ) -> None:
    """Apply ``writes`` in order inside ``s`` (rules 1-3).

    A row created by another writer between this SELECT and this INSERT (the IVR's result and
    the bridge's first event of a new call arrive together: seen under load as
    ``UNIQUE constraint failed: calls.linked_id``, and the IVR result was lost) is not an
    error: the INSERT skips it, and the writes of that row are applied to it as it is now."""
    if not writes:
        return
    current = await _current_rows(s, {w.linked_id for w in writes})
    new: dict[str, dict[str, Any]] = {}
    changed: dict[str, dict[str, Any]] = {}
    for write in writes:
        row = current.get(write.linked_id)
        if row is None:
            row = current[write.linked_id] = dict(_NEW_CALL, linked_id=write.linked_id,
                                                  started_at=write.started_at)
            new[write.linked_id] = row
        changes = merge(writer, row, write.fields)
        if write.linked_id not in new:
            changed.setdefault(write.linked_id, {}).update(changes)
    if new:
        inserted = set((await s.execute(_insert_new(s, list(new.values())))).scalars())
        raced = set(new) - inserted
        if raced:
            await write_calls(s, writer, [w for w in writes if w.linked_id in raced])
    for linked_id, values in changed.items():
        if values:
            await s.execute(update(CallRow).where(CallRow.linked_id == linked_id)
                            .values(**values))


# The wrap-up's statements, built once: building one costs more CPU than running it. No
# session synchronisation (nothing in the transaction holds the call as an instance; the
# 'auto' default searched the identity map, a fifth of a wrap-up's CPU). Every column they
# write is SET for the wrap-up writer: checked just below.
_RECORD_DISPOSITION = (
    update(CallRow).where(CallRow.linked_id == bindparam("b_linked_id"))
    .values(disposition=bindparam("b_disposition"), wrapup_note=bindparam("b_note")))
_RECORD_VERIFIED_DISPOSITION = _RECORD_DISPOSITION.values(
    merchant_id=bindparam("b_merchant_id"), merchant_verified=True)
if any(RULES[c].get(Writer.WRAPUP) is not Rule.SET
       for c in ("disposition", "wrapup_note", "merchant_id", "merchant_verified")):
    raise AssertionError("record_disposition's statements disagree with RULES")


async def record_disposition(s: AsyncSession, linked_id: str, disposition: str, note: str,
                             merchant_id: int | None) -> None:
    """The call's wrap-up (``Writer.WRAPUP``); ``merchant_id`` (when given) is the merchant
    the agent verified. An unknown linked id changes nothing."""
    values: dict[str, Any] = {"b_linked_id": linked_id, "b_disposition": disposition,
                              "b_note": note[:400]}
    stmt = _RECORD_DISPOSITION
    if merchant_id is not None:
        values["b_merchant_id"] = merchant_id
        stmt = _RECORD_VERIFIED_DISPOSITION
    await s.execute(stmt, values, execution_options={"synchronize_session": False})


async def record_satisfaction(s: AsyncSession, unique_id: str, linked_id: str | None,
                              score: int) -> None:
    """The post-call survey's score (``Writer.SURVEY``) on the call ``linked_id``, else the
    call whose caller channel was ``unique_id``. Raises LookupError when there is none."""
    row_id = None
    if linked_id:
        row_id = await s.scalar(select(CallRow.id).where(CallRow.linked_id == linked_id))
    if row_id is None:
        row_id = await s.scalar(select(CallRow.id).where(CallRow.unique_id == unique_id))
    if row_id is None:
        raise LookupError(f"no call with unique id {unique_id}")
    values = merge(Writer.SURVEY, {}, [("satisfaction", score)])
    await s.execute(update(CallRow).where(CallRow.id == row_id).values(**values))
