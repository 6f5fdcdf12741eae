"""The one writer of calls rows: the rule of who may write which column, per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter import call_records
from callcenter.call_records import CallWriteSpec, Writer, merge, write_calls

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
LINKED = "1795330137.0"


# --------------------------------------------------------------------------- the rule, pure


def test_a_later_writer_never_overwrites_a_filled_column() -> None:
    row: dict[str, Any] = {"ivr_path": "hello>menu:2", "intent": "repair", "merchant_id": 7}
    changes = merge(Writer.CTI, row, [("ivr_path", "noivr"), ("intent", "install"),
                                      ("merchant_id", 9)])
    assert changes == {}
    assert row == {"ivr_path": "hello>menu:2", "intent": "repair", "merchant_id": 7}


def test_a_fill_writes_an_empty_column() -> None:
    row: dict[str, Any] = {"ivr_path": "", "merchant_id": None}
    changes = merge(Writer.CTI, row, [("ivr_path", "noivr"), ("merchant_id", 9)])
    assert changes == {"ivr_path": "noivr", "merchant_id": 9} == row


def test_the_owner_of_a_column_sets_it_whatever_it_holds() -> None:
    row: dict[str, Any] = {"queue": "presales", "outcome": "ivr_only"}
    changes = merge(Writer.CTI, row, [("queue", "aftersales"), ("outcome", "answered")])
    assert changes == {"queue": "aftersales", "outcome": "answered"}
    assert merge(Writer.WRAPUP, {"merchant_id": 7}, [("merchant_id", 9)]) == {"merchant_id": 9}


def test_a_writer_may_not_write_a_column_it_has_no_rule_for() -> None:
    with pytest.raises(ValueError, match="cti writer may not write 'disposition'"):
        merge(Writer.CTI, {}, [("disposition", "repair")])
    with pytest.raises(ValueError, match="may not write 'agent_number'"):
        merge(Writer.IVR, {}, [("agent_number", "8001")])


def test_the_key_and_the_start_time_are_never_written_after_creation() -> None:
    for name in ("linked_id", "started_at", "id", "no_such_column"):
        with pytest.raises(ValueError, match="not a writable call column"):
            merge(Writer.SEED, {}, [(name, "x")])


def test_writes_of_one_batch_apply_in_order() -> None:
    row: dict[str, Any] = {"answered_at": None}
    first, second = NOW, NOW + timedelta(seconds=30)
    merge(Writer.CTI, row, [("answered_at", first)])
    merge(Writer.CTI, row, [("answered_at", second)])  # a second agent answers later
    assert row["answered_at"] == first


def test_the_seed_writer_sets_any_column() -> None:
    row: dict[str, Any] = {"ivr_path": "x"}
    assert merge(Writer.SEED, row, [("ivr_path", "y"), ("disposition", "repair")]) == {
        "ivr_path": "y", "disposition": "repair"}


def test_a_booked_call_back_is_not_undone_by_the_bridge_ending_the_call_failed() -> None:
    row: dict[str, Any] = {}
    merge(Writer.CALLBACK, row, [("outcome", "callback_requested")])
    assert merge(Writer.CTI, row, [("outcome", "failed"), ("wait_s", 4.0)]) == {"wait_s": 4.0}
    assert row["outcome"] == "callback_requested"
    # the tracker saw the UserEvent: the same value; an agent's answer is another outcome
    assert merge(Writer.CTI, row, [("outcome", "answered")]) == {"outcome": "answered"}
    assert merge(Writer.SEED, {"outcome": "callback_requested"}, [("outcome", "failed")]) == {
        "outcome": "failed"}


def test_only_the_bridge_the_ivr_and_the_call_back_request_write_the_outcome() -> None:
    assert set(call_records.RULES["outcome"]) == {Writer.IVR, Writer.CTI, Writer.CALLBACK}
    with pytest.raises(ValueError, match="callback writer may not write 'queue'"):
        merge(Writer.CALLBACK, {}, [("queue", "aftersales")])


# --------------------------------------------------------------------------- on the store


async def _row(store: Any, linked_id: str = LINKED) -> Any:
    call = await store.calls.get(linked_id)
    assert call is not None
    return call


async def test_one_row_per_linked_id_whoever_writes_first(store: Any) -> None:
    async with store.transaction() as s:
        await write_calls(s, Writer.CTI, [
            CallWriteSpec(LINKED, NOW, (("caller_number", "13800138000"),)),
            CallWriteSpec(LINKED, NOW + timedelta(seconds=5), (("queue", "aftersales"),))])
    async with store.transaction() as s:
        await write_calls(s, Writer.IVR, [
            CallWriteSpec(LINKED, NOW + timedelta(seconds=9), (("ivr_path", "hello"),))])
    assert await store.calls.count() == 1
    row = await _row(store)
    assert row.started_at == NOW  # the first writer's start stays
    assert (row.caller_number, row.queue, row.ivr_path) == ("13800138000", "aftersales",
                                                            "hello")


async def test_a_row_another_writer_created_after_the_read_gets_this_writers_fields(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race seen under load: the bridge inserts the new call between the IVR's read (no
    row yet) and the IVR's insert. The IVR's result must land on the row, not be lost."""
    async with store.transaction() as s:
        await write_calls(s, Writer.CTI, [CallWriteSpec(LINKED, NOW, (
            ("queue", "aftersales"), ("caller_number", "02150551234")))])
    stale_read = [True]
    real_read = call_records._current_rows

    async def read(s: Any, ids: set[str]) -> dict[str, dict[str, Any]]:
        if stale_read:  # the first read is from before the bridge's insert
            stale_read.clear()
            return {}
        return await real_read(s, ids)

    monkeypatch.setattr(call_records, "_current_rows", read)
    async with store.transaction() as s:
        await write_calls(s, Writer.IVR, [CallWriteSpec(LINKED, NOW + timedelta(seconds=1), (
            ("merchant_verified", True), ("ivr_path", "hello>menu:2"),
            ("caller_number", "13800138000")))])
    assert await store.calls.count() == 1
    row = await _row(store)
    assert row.merchant_verified and row.ivr_path == "hello>menu:2"
    assert row.caller_number == "13800138000"  # the IVR sets it; the bridge only filled it
    assert (row.queue, row.started_at) == ("aftersales", NOW)


async def test_the_ivr_result_survives_the_bridge_and_the_bridge_fills_the_rest(
        store: Any) -> None:
    async with store.transaction() as s:
        await write_calls(s, Writer.IVR, [CallWriteSpec(LINKED, NOW, (
            ("ivr_path", "hello>menu:2"), ("intent", "repair"), ("lang", "zh"),
            ("caller_number", "13800138000")))])
    async with store.transaction() as s:
        await write_calls(s, Writer.CTI, [CallWriteSpec(LINKED, NOW, (
            ("ivr_path", "noivr"), ("intent", ""), ("caller_number", "02150551234"),
            ("queued_at", NOW), ("queue", "aftersales")))])
    row = await _row(store)
    assert (row.ivr_path, row.intent, row.lang) == ("hello>menu:2", "repair", "zh")
    assert row.caller_number == "13800138000"
    assert (row.queued_at, row.queue) == (NOW, "aftersales")


async def test_a_call_back_request_and_the_bridges_end_leave_callback_requested_in_the_row(
        store: Any) -> None:
    async with store.transaction() as s:
        await write_calls(s, Writer.CTI, [CallWriteSpec(LINKED, NOW, (
            ("queued_at", NOW), ("queue", "aftersales")))])
    async with store.transaction() as s:
        await write_calls(s, Writer.CALLBACK, [CallWriteSpec(LINKED, NOW, (
            ("outcome", "callback_requested"),))])
    async with store.transaction() as s:
        await write_calls(s, Writer.CTI, [CallWriteSpec(LINKED, NOW, (
            ("ended_at", NOW + timedelta(seconds=9)), ("outcome", "failed"),
            ("wait_s", 2.0)))])
    row = await _row(store)
    assert (row.outcome, row.wait_s, row.queue) == ("callback_requested", 2.0, "aftersales")
    assert row.ended_at == NOW + timedelta(seconds=9)


async def test_a_second_wrapup_save_replaces_disposition_and_note(store: Any) -> None:
    async with store.transaction() as s:
        await write_calls(s, Writer.CTI, [CallWriteSpec(LINKED, NOW, (("outcome", "answered"),))])
    async with store.transaction() as s:
        await call_records.record_disposition(s, LINKED, "repair", "first note", None)
    async with store.transaction() as s:
        await call_records.record_disposition(s, LINKED, "consultation", "second note", None)
    row = await _row(store)
    assert (row.disposition, row.wrapup_note, row.outcome) == ("consultation", "second note",
                                                              "answered")


async def test_the_survey_score_finds_the_call_by_linked_or_unique_id(store: Any) -> None:
    async with store.transaction() as s:
        await write_calls(s, Writer.IVR, [CallWriteSpec(LINKED, NOW, (
            ("unique_id", "1795330137.1"),))])
    async with store.transaction() as s:
        await call_records.record_satisfaction(s, "1795330137.1", None, 4)
    assert (await _row(store)).satisfaction == 4
    with pytest.raises(LookupError):
        async with store.transaction() as s:
            await call_records.record_satisfaction(s, "1.1", "2.0", 5)
