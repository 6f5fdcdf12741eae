"""The wrap-up form's rules, pre-fill, record diff, duplicates and task numbers. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from callcenter.business.errors import WrapupInvalid
from callcenter.business.wrapup import (
    RECORDS,
    WrapupForm,
    check_link,
    check_terminal,
    duplicate_candidates,
    form_from_json,
    merchant_changes,
    parse_task_number,
    prefill,
    task_number,
    updated_merchant,
    validate,
)
from callcenter.domain import (
    Call,
    DeliveryState,
    Disposition,
    Merchant,
    Task,
    TaskKind,
    TaskStatus,
    Terminal,
)

from .conftest import SERIAL, repair_form

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
MERCHANT = Merchant(
    id=1, merchant_number="102290054110001", name="鑫源便利店",
    address="上海市浦东新区张杨路 100 号", district="浦东新区", contact_person="王伟",
    phones=("02150551234", "13800138000"), business_hours="09:00-21:00",
    tags=frozenset(), created_at=T0, updated_at=T0)


def _call(**changes: object) -> Call:
    call = Call(id=1, linked_id="1795330137.1", unique_id="1795330137.1",
                caller_number="13800138000", merchant_id=1, merchant_verified=True,
                ivr_path="", intent="repair", lang="zh", queue="hotline", priority=0,
                agent_number="8001", started_at=T0, queued_at=None, answered_at=T0,
                ended_at=None, wait_s=None, talk_s=None, outcome=None, disposition=None,
                wrapup_note="", satisfaction=None)
    return replace(call, **changes)  # type: ignore[arg-type]


def _task(number: str, kind: TaskKind, status: TaskStatus = TaskStatus.NEW,
          serial: str = SERIAL, merchant_id: int = 1) -> Task:
    return Task(id=1, task_number=number, kind=kind, status=status, merchant_id=merchant_id,
                linked_id=None, agent_number="8001", terminal_serial=serial,
                product_model="LANDI A8", address="", site_phone="", business_hours="",
                contact_person="", description="", engineer="", appointment_at=None,
                cancel_reason="", external_id="", delivery_state=DeliveryState.LOCAL,
                version=1, created_at=T0, updated_at=T0)


def _fields(exc: pytest.ExceptionInfo[WrapupInvalid]) -> list[str]:
    return [e.field for e in exc.value.errors]


# --------------------------------------------------------------------------- validation


def test_complete_repair_is_valid_and_normalised() -> None:
    wrapup = validate(repair_form(merchant_id=1, business_hours="09:00 – 21:00"))
    assert wrapup.spec.kind is TaskKind.REPAIR and wrapup.spec.prefix == "RP"
    assert wrapup.site_phone == "02150551234"
    assert wrapup.business_hours == "09:00-21:00"


def test_empty_repair_names_every_missing_field_at_once() -> None:
    with pytest.raises(WrapupInvalid) as exc:
        validate(WrapupForm(disposition="repair"))
    assert _fields(exc) == ["merchant_id", "address", "site_phone", "business_hours",
                            "contact_person", "product_model", "terminal_serial", "description"]
    assert exc.value.field == "merchant_id" and exc.value.status == 422


def test_installation_needs_address_site_phone_and_hours_only() -> None:
    with pytest.raises(WrapupInvalid) as exc:
        validate(WrapupForm(disposition="installation", merchant_id=1))
    assert _fields(exc) == ["address", "site_phone", "business_hours"]
    ok = validate(WrapupForm(disposition="installation", merchant_id=1, address="x",
                             site_phone="13800138000", business_hours="24h"))
    assert ok.business_hours == "00:00-24:00"


@pytest.mark.parametrize(("changes", "field"), [
    ({"description": "坏" * 201}, "description"),
    ({"site_phone": "12345"}, "site_phone"),
    ({"business_hours": "9-21"}, "business_hours"),
    ({"terminal_serial": "LANDI A8/0001"}, "terminal_serial"),
    ({"address": "路" * 201}, "address"),
    ({"link_task_number": "RP-1"}, "link_task_number"),
    ({"link_task_number": "IN20261122-0001"}, "link_task_number"),
    ({"note": "n" * 201}, "note"),
])
def test_a_broken_rule_names_its_field(changes: dict[str, str], field: str) -> None:
    with pytest.raises(WrapupInvalid) as exc:
        validate(repair_form(merchant_id=1, **changes))
    assert _fields(exc) == [field]


def test_description_of_exactly_200_characters_is_accepted() -> None:
    assert len(validate(repair_form(merchant_id=1, description="坏" * 200)).description) == 200


def test_unknown_disposition_is_refused() -> None:
    with pytest.raises(WrapupInvalid) as exc:
        validate(WrapupForm(disposition="gossip", merchant_id=1))
    assert _fields(exc) == ["disposition"]


@pytest.mark.parametrize(("disposition", "required"), [
    ("consultation", []),
    ("simple_fault", ["description"]),
    ("complaint_1", ["description", "handling", "result"]),
    ("complaint_2", ["description"]),
    ("tech_support", ["description"]),
    ("forwarded", ["description", "department"]),
])
def test_each_disposition_requires_its_fields(disposition: str, required: list[str]) -> None:
    if not required:
        validate(WrapupForm(disposition=disposition))  # a caller who is no merchant is fine
        return
    with pytest.raises(WrapupInvalid) as exc:
        validate(WrapupForm(disposition=disposition, merchant_id=1))
    assert _fields(exc) == required


def test_every_disposition_has_a_record() -> None:
    assert set(RECORDS) == set(Disposition)


def test_complaint_amount_is_kept_and_dropped_elsewhere() -> None:
    complaint = validate(WrapupForm(disposition="complaint_2", merchant_id=1, description="x",
                                    amount_yuan=8000.0, media_exposure=True))
    assert complaint.amount_yuan == 8000.0 and complaint.media_exposure
    repair = validate(repair_form(merchant_id=1, amount_yuan=8000.0, media_exposure=True))
    assert repair.amount_yuan is None and not repair.media_exposure
    with pytest.raises(WrapupInvalid) as exc:
        validate(WrapupForm(disposition="complaint_2", merchant_id=1, description="x",
                            amount_yuan=-1.0))
    assert _fields(exc) == ["amount_yuan"]


def test_json_of_the_wrong_types_names_each_field() -> None:
    with pytest.raises(WrapupInvalid) as exc:
        form_from_json({"disposition": 3, "merchant_id": "7", "address": ["x"],
                        "update_merchant": "yes", "amount_yuan": "lots", "adress": "typo"})
    assert sorted(_fields(exc)) == sorted(["adress", "disposition", "merchant_id", "address",
                                           "update_merchant", "amount_yuan"])
    with pytest.raises(WrapupInvalid):
        form_from_json(["not", "an", "object"])


def test_json_form_round_trips() -> None:
    form = form_from_json({"disposition": "repair", "merchant_id": 1, "address": "a",
                           "amount_yuan": "12.5", "update_merchant": True, "note": None})
    assert form == WrapupForm(disposition="repair", merchant_id=1, address="a",
                              amount_yuan=12.5, update_merchant=True)


# --------------------------------------------------------------------------- pre-fill


def test_prefill_takes_merchant_record_ivr_intent_and_only_terminal() -> None:
    terminals = [Terminal(1, SERIAL, "LANDI A8", 1, None, "active"),
                 Terminal(2, "OLD-1", "LANDI A8", 1, None, "removed")]
    filled = prefill(_call(), MERCHANT, terminals)
    assert filled.suggested_disposition is Disposition.REPAIR
    assert filled.values == {"address": MERCHANT.address, "site_phone": "13800138000",
                             "business_hours": "09:00-21:00", "contact_person": "王伟",
                             "terminal_serial": SERIAL, "product_model": "LANDI A8"}
    assert filled.terminal_source == "only_terminal"


def test_prefill_prefers_the_terminal_keyed_in_the_ivr_and_leaves_a_choice_open() -> None:
    terminals = [Terminal(1, "A-1", "LANDI A8", 1, None, "active"),
                 Terminal(2, "B-2", "PAX A920", 1, None, "active")]
    assert prefill(_call(), MERCHANT, terminals, ivr_terminal="B-2").values[
        "product_model"] == "PAX A920"
    open_choice = prefill(_call(caller_number="13911112222", intent="install"), MERCHANT,
                          terminals)
    assert open_choice.values["terminal_serial"] == "" and open_choice.terminal_source == ""
    assert open_choice.values["site_phone"] == "02150551234"  # caller is not the shop's phone
    assert open_choice.suggested_disposition is Disposition.INSTALLATION


def test_prefill_without_merchant_is_blank() -> None:
    filled = prefill(_call(merchant_id=None, intent="agent"), None, [])
    assert filled.suggested_disposition is None and set(filled.values.values()) == {""}


# --------------------------------------------------------------------------- diff


def test_changes_list_only_reverified_values_that_differ() -> None:
    wrapup = validate(repair_form(merchant_id=1, address="上海市浦东新区张杨路 200 号",
                                  site_phone="13800138000"))
    assert [(c.field, c.stored, c.entered) for c in merchant_changes(MERCHANT, wrapup)] == [
        ("address", MERCHANT.address, "上海市浦东新区张杨路 200 号")]


def test_new_site_phone_is_a_change_and_is_added_to_the_phones() -> None:
    wrapup = validate(repair_form(merchant_id=1, site_phone="0755-8888 6666",
                                  business_hours="08:00-22:00"))
    changes = merchant_changes(MERCHANT, wrapup)
    assert [c.field for c in changes] == ["business_hours", "site_phone"]
    updated = updated_merchant(MERCHANT, changes)
    assert updated.phones == ("02150551234", "13800138000", "075588886666")
    assert updated.business_hours == "08:00-22:00" and updated.address == MERCHANT.address


# --------------------------------------------------------------------------- duplicates


def test_open_repair_of_the_same_terminal_is_a_duplicate_other_terminals_are_not() -> None:
    open_tasks = [_task("RP20261121-0003", TaskKind.REPAIR),
                  _task("RP20261121-0004", TaskKind.REPAIR, serial="OTHER"),
                  _task("RP20261120-0001", TaskKind.REPAIR, TaskStatus.DONE),
                  _task("IN20261121-0001", TaskKind.INSTALLATION)]
    found = duplicate_candidates(RECORDS[Disposition.REPAIR], SERIAL.lower(), open_tasks)
    assert [t.task_number for t in found] == ["RP20261121-0003"]
    installs = duplicate_candidates(RECORDS[Disposition.INSTALLATION], "", open_tasks)
    assert [t.task_number for t in installs] == ["IN20261121-0001"]
    assert duplicate_candidates(RECORDS[Disposition.COMPLAINT_2], "", open_tasks) == []


def test_a_call_links_only_to_an_open_task_of_its_merchant_and_kind() -> None:
    wrapup = validate(repair_form(merchant_id=1, link_task_number="RP20261121-0003"))
    check_link(wrapup, 1, _task("RP20261121-0003", TaskKind.REPAIR))
    for target, words in [
        (_task("RP20261121-0003", TaskKind.REPAIR, merchant_id=2), "another merchant"),
        (_task("RP20261121-0003", TaskKind.REPAIR, TaskStatus.DONE), "only open tasks"),
        (_task("RP20261121-0003", TaskKind.INSTALLATION), "installation task"),
    ]:
        with pytest.raises(WrapupInvalid, match=words) as exc:
            check_link(wrapup, 1, target)
        assert exc.value.field == "link_task_number"


def test_a_serial_of_another_merchant_is_refused() -> None:
    wrapup = validate(repair_form(merchant_id=1))
    check_terminal(wrapup, 1, Terminal(1, SERIAL, "LANDI A8", 1, None, "active"))
    check_terminal(wrapup, 1, None)  # not in the register yet
    with pytest.raises(WrapupInvalid) as exc:
        check_terminal(wrapup, 1, Terminal(1, SERIAL, "LANDI A8", 2, None, "active"))
    assert exc.value.field == "terminal_serial"


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(("prefix", "day", "seq", "text"), [
    ("RP", date(2026, 11, 22), 1, "RP20261122-0001"),
    ("IN", date(2026, 1, 2), 42, "IN20260102-0042"),
    ("CP", date(2026, 11, 22), 12345, "CP20261122-12345"),
])
def test_task_numbers_round_trip(prefix: str, day: date, seq: int, text: str) -> None:
    assert task_number(prefix, day, seq) == text
    assert parse_task_number(text) == (prefix, day, seq)


@pytest.mark.parametrize("text", ["RP2026112-0001", "XX20261122-0001", "RP20261122-01",
                                  "rp20261122-0001", "RP20261122-0001x"])
def test_malformed_task_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a task number"):
        parse_task_number(text)
