"""The menu machine, driven without I/O: (state, event) -> (new_state, effects).

Every case runs the real default menu (ivr/hotline.toml) through ivr.menu.start/step with the
events an adapter would feed, and checks where the call ends, its path and hand-off.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.calendar import ServiceMode
from ivr.errors import MenuStateError
from ivr.menu import (
    AWAITED_EFFECTS,
    HANDOFF_VARIABLES,
    MAX_PATH_CHARS,
    MAX_PATH_TOKENS,
    MERCHANT_MAX_DIGITS,
    Awaiting,
    CallerLookedUp,
    CallInfo,
    CollectDigits,
    Digits,
    Effect,
    Event,
    Finish,
    HungUp,
    LookupCaller,
    LookupFailed,
    LookupMerchantNumber,
    LookupOpenTask,
    MenuState,
    MerchantLookedUp,
    Play,
    SayDigits,
    SayNumber,
    SetLanguage,
    SetVariables,
    TaskLookedUp,
    caller_phone,
    channel_value,
    failed_result,
    handoff_variables,
    parse_score,
    start,
    step,
    task_speech,
)
from ivr.menu_config import MenuDefinition, load_menu
from ivr.ports import IvrOutcome, IvrResult, MerchantRef, TaskRef
from ivr.prompts import load_catalogue

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
DEFINITION: MenuDefinition = load_menu(prompt_ids=load_catalogue().ids)

SHOP = MerchantRef(1, "123456789012345", "Shop A")
MALL = MerchantRef(2, "888800000000010", "Big Mall", high_value=True)
CAFE = MerchantRef(3, "888800000000020", "Cafe C")
TASK = TaskRef(
    "R20261122-0007", "repair", "appointed", datetime(2026, 11, 24, 14, 30, tzinfo=SHANGHAI)
)

T = Digits("", timed_out=True)


def k(keys: str) -> Digits:
    return Digits(keys)


def cid(*merchants: MerchantRef, recent: bool = False) -> CallerLookedUp:
    return CallerLookedUp(tuple(merchants), recent)


@dataclass
class Run:
    state: MenuState
    effects: list[Effect] = field(default_factory=list)

    @property
    def result(self) -> IvrResult:
        assert self.state.result is not None
        return self.state.result

    @property
    def variables(self) -> dict[str, str]:
        sets = [e for e in self.effects if isinstance(e, SetVariables)]
        return dict(sets[-1].variables)

    @property
    def prompts(self) -> list[str]:
        return [e.prompt for e in self.effects if isinstance(e, Play | CollectDigits)]


def drive(
    events: list[Event], *, caller: str = "13800138000", mode: ServiceMode = ServiceMode.DAY
) -> Run:
    call = CallInfo("1795330137.1", caller, NOW, mode, linked_id="1795330137.0")
    state, effects = start(DEFINITION, call)
    run = Run(state, list(effects))
    for event in events:
        run.state, effects = step(DEFINITION, run.state, event, now=NOW)
        run.effects.extend(effects)
    return run


# --------------------------------------------------------------------------- table of paths


@dataclass(frozen=True)
class Case:
    id: str
    events: list[Event]
    queue: str
    intent: str
    path: str
    merchant: MerchantRef | None = None
    priority: int = 0
    outcome: IvrOutcome = IvrOutcome.QUEUED
    mode: ServiceMode = ServiceMode.DAY
    lang: str = "zh"


NUMBER = k(SHOP.merchant_number)
CASES = [
    Case(
        "presales_known_caller",
        [cid(SHOP), k("1"), k("1")],
        "presales",
        "consult",
        "hello>lang:1>menu:1>merchant:cid",
        SHOP,
    ),
    Case(
        "presales_unknown_caller_is_not_asked_for_a_number",
        [cid(), k("1"), k("1")],
        "presales",
        "consult",
        "hello>lang:1>menu:1>merchant:unknown",
    ),
    Case(
        "presales_shared_phone_stays_unverified",
        [cid(SHOP, CAFE), k("1"), k("1")],
        "presales",
        "consult",
        "hello>lang:1>menu:1>merchant:multi",
    ),
    Case(
        "usage_guidance_goes_to_techsupport",
        [cid(SHOP), k("1"), k("2"), k("1")],
        "techsupport",
        "usage",
        "hello>lang:1>menu:2>merchant:cid>intent:1",
        SHOP,
    ),
    Case(
        "fault_report_by_keyed_number",
        [cid(), k("1"), k("2"), NUMBER, MerchantLookedUp(SHOP), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:ok>intent:2",
        SHOP,
    ),
    Case(
        "installation_in_english",
        [cid(SHOP), k("2"), k("2"), k("3")],
        "aftersales",
        "install",
        "hello>lang:2>menu:2>merchant:cid>intent:3",
        SHOP,
        lang="en",
    ),
    Case(
        "complaint",
        [cid(SHOP), k("1"), k("2"), k("4")],
        "complaints",
        "complaint",
        "hello>lang:1>menu:2>merchant:cid>intent:4",
        SHOP,
    ),
    Case(
        "zero_asks_for_an_agent_with_the_caller_id_merchant",
        [cid(SHOP), k("1"), k("0")],
        "aftersales",
        "agent",
        "hello>lang:1>menu:0>agent",
        SHOP,
    ),
    Case(
        "zero_from_a_shared_phone_reaches_the_agent_unverified",
        [cid(SHOP, CAFE), k("1"), k("0")],
        "aftersales",
        "agent",
        "hello>lang:1>menu:0>agent",
    ),
    Case(
        "star_goes_back_to_the_main_menu",
        [cid(SHOP), k("1"), k("2"), k("*"), k("0")],
        "aftersales",
        "agent",
        "hello>lang:1>menu:2>merchant:cid>intent:*>menu:0>agent",
        SHOP,
    ),
    Case(
        "keyed_number_is_not_asked_again_after_going_back",
        [cid(), k("1"), k("2"), NUMBER, MerchantLookedUp(SHOP), k("*"), k("2"), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:ok>intent:*>menu:2>intent:2",
        SHOP,
    ),
    Case(
        "silence_at_language_menu_means_mandarin",
        [cid(SHOP), T, k("1")],
        "presales",
        "consult",
        "hello>lang:t>menu:1>merchant:cid",
        SHOP,
    ),
    Case(
        "three_timeouts_at_main_menu_go_to_an_agent",
        [cid(SHOP), k("1"), T, T, T],
        "aftersales",
        "agent",
        "hello>lang:1>menu:t>menu:t>menu:t>agent",
        SHOP,
    ),
    Case(
        "three_wrong_keys_go_to_an_agent",
        [cid(), k("1"), k("7"), k("9"), k("")],
        "aftersales",
        "agent",
        "hello>lang:1>menu:x7>menu:x9>menu:x>agent",
    ),
    Case(
        "wrong_language_key_three_times_goes_to_an_agent",
        [cid(), k("5"), k("5"), k("5")],
        "aftersales",
        "agent",
        "hello>lang:x5>lang:x5>lang:x5>agent",
    ),
    Case(
        "a_retry_then_a_valid_key_continues",
        [cid(SHOP), k("1"), T, k("2"), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:t>menu:2>merchant:cid>intent:2",
        SHOP,
    ),
    Case(
        "timeouts_in_aftersales_menu_go_to_an_agent",
        [cid(SHOP), k("1"), k("2"), T, k("8"), T],
        "aftersales",
        "agent",
        "hello>lang:1>menu:2>merchant:cid>intent:t>intent:x8>intent:t>agent",
        SHOP,
    ),
    Case(
        "night_maps_every_queue_to_the_night_queue",
        [cid(SHOP), k("1"), k("2"), k("2")],
        "night",
        "repair",
        "hello>lang:1>night>menu:2>merchant:cid>intent:2",
        SHOP,
        mode=ServiceMode.NIGHT,
    ),
    Case(
        "night_complaint_also_goes_to_night",
        [cid(SHOP), k("1"), k("2"), k("4")],
        "night",
        "complaint",
        "hello>lang:1>night>menu:2>merchant:cid>intent:4",
        SHOP,
        mode=ServiceMode.NIGHT,
    ),
    Case(
        "holiday_presales_is_taken_by_aftersales",
        [cid(SHOP), k("1"), k("1")],
        "aftersales",
        "consult",
        "hello>lang:1>holiday>menu:1>merchant:cid",
        SHOP,
        mode=ServiceMode.HOLIDAY,
    ),
    Case(
        "holiday_complaints_keep_their_queue",
        [cid(SHOP), k("1"), k("2"), k("4")],
        "complaints",
        "complaint",
        "hello>lang:1>holiday>menu:2>merchant:cid>intent:4",
        SHOP,
        mode=ServiceMode.HOLIDAY,
    ),
    Case(
        "shared_phone_asks_for_the_number",
        [cid(SHOP, CAFE), k("1"), k("2"), k(CAFE.merchant_number), MerchantLookedUp(CAFE), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:multi>merchant:ok>intent:2",
        CAFE,
    ),
    Case(
        "wrong_length_numbers_cost_a_try_each",
        [
            cid(),
            k("1"),
            k("2"),
            k("12345"),
            k("1234567890123456"),
            NUMBER,
            MerchantLookedUp(SHOP),
            k("2"),
        ],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:bad>merchant:bad>merchant:ok>intent:2",
        SHOP,
    ),
    Case(
        "star_inside_a_number_is_invalid",
        [cid(), k("1"), k("2"), k("12345678901234*"), NUMBER, MerchantLookedUp(SHOP), k("3")],
        "aftersales",
        "install",
        "hello>lang:1>menu:2>merchant:bad>merchant:ok>intent:3",
        SHOP,
    ),
    Case(
        "unknown_number_three_times_continues_unverified",
        [
            cid(),
            k("1"),
            k("2"),
            NUMBER,
            MerchantLookedUp(None),
            NUMBER,
            MerchantLookedUp(None),
            NUMBER,
            MerchantLookedUp(None),
            k("2"),
        ],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:nf>merchant:nf>merchant:nf>merchant:fail>intent:2",
    ),
    Case(
        "silence_at_number_prompt_three_times_continues_unverified",
        [cid(), k("1"), k("2"), T, T, T, k("4")],
        "complaints",
        "complaint",
        "hello>lang:1>menu:2>merchant:t>merchant:t>merchant:t>merchant:fail>intent:4",
    ),
    Case(
        "fifteen_digits_without_hash_are_accepted",
        [
            cid(),
            k("1"),
            k("2"),
            Digits(SHOP.merchant_number, timed_out=True),
            MerchantLookedUp(SHOP),
            k("2"),
        ],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:ok>intent:2",
        SHOP,
    ),
    Case(
        "caller_lookup_failure_asks_for_the_number",
        [LookupFailed("db down"), k("1"), k("2"), NUMBER, MerchantLookedUp(SHOP), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:ok>intent:2",
        SHOP,
    ),
    Case(
        "number_lookup_failure_continues_unverified_without_retyping",
        [cid(), k("1"), k("2"), NUMBER, LookupFailed("db down"), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:err>intent:2",
    ),
    Case(
        "high_value_merchant_gets_priority",
        [cid(MALL), k("1"), k("2"), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:cid>intent:2",
        MALL,
        priority=10,
    ),
    Case(
        "recent_caller_gets_priority",
        [cid(SHOP, recent=True), k("1"), k("2"), k("2")],
        "aftersales",
        "repair",
        "hello>lang:1>menu:2>merchant:cid>intent:2",
        SHOP,
        priority=5,
    ),
    Case(
        "high_value_recent_caller_gets_both_bonuses",
        [cid(MALL, recent=True), k("1"), k("0")],
        "aftersales",
        "agent",
        "hello>lang:1>menu:0>agent",
        MALL,
        priority=15,
    ),
    Case(
        "unknown_recent_caller_gets_the_recent_bonus",
        [cid(recent=True), k("1"), k("1")],
        "presales",
        "consult",
        "hello>lang:1>menu:1>merchant:unknown",
        priority=5,
    ),
    Case(
        "status_read_out_then_goodbye",
        [cid(SHOP), k("1"), k("3"), TaskLookedUp(TASK), k("9")],
        "",
        "status",
        "hello>lang:1>menu:3>merchant:cid>status:task>self:9>bye",
        SHOP,
        outcome=IvrOutcome.SELF_SERVICE,
    ),
    Case(
        "status_without_open_task_then_agent",
        [cid(SHOP), k("1"), k("3"), TaskLookedUp(None), k("0")],
        "aftersales",
        "status",
        "hello>lang:1>menu:3>merchant:cid>status:none>self:0>agent",
        SHOP,
    ),
    Case(
        "status_heard_twice",
        [cid(SHOP), k("1"), k("3"), TaskLookedUp(TASK), k("1"), TaskLookedUp(TASK), k("9")],
        "",
        "status",
        "hello>lang:1>menu:3>merchant:cid>status:task>self:1>status:task>self:9>bye",
        SHOP,
        outcome=IvrOutcome.SELF_SERVICE,
    ),
    Case(
        "status_for_unknown_caller_asks_the_number",
        [cid(), k("1"), k("3"), NUMBER, MerchantLookedUp(SHOP), TaskLookedUp(TASK), k("9")],
        "",
        "status",
        "hello>lang:1>menu:3>merchant:ok>status:task>self:9>bye",
        SHOP,
        outcome=IvrOutcome.SELF_SERVICE,
    ),
    Case(
        "status_unidentified_goes_to_an_agent",
        [cid(), k("1"), k("3"), NUMBER, MerchantLookedUp(None), T, k("1")],
        "aftersales",
        "status",
        "hello>lang:1>menu:3>merchant:nf>merchant:t>merchant:bad>merchant:fail>agent",
    ),
    Case(
        "status_lookup_failure_offers_the_agent",
        [cid(SHOP), k("1"), k("3"), LookupFailed("db down"), k("0")],
        "aftersales",
        "status",
        "hello>lang:1>menu:3>merchant:cid>status:err>self:0>agent",
        SHOP,
    ),
    Case(
        "silence_after_status_goes_to_an_agent",
        [cid(SHOP), k("1"), k("3"), TaskLookedUp(TASK), T, T, T],
        "aftersales",
        "agent",
        "hello>lang:1>menu:3>merchant:cid>status:task>self:t>self:t>self:t>agent",
        SHOP,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_menu_path_ends_where_expected(case: Case) -> None:
    run = drive(case.events, mode=case.mode)
    assert run.state.finished
    result = run.result
    assert (result.queue, result.intent, result.path) == (case.queue, case.intent, case.path)
    assert result.merchant == case.merchant
    assert result.merchant_verified is (case.merchant is not None)
    assert result.priority == case.priority
    assert result.outcome is case.outcome
    assert result.mode is case.mode
    assert result.lang == case.lang
    assert isinstance(run.effects[-1], Finish)
    assert run.variables == {
        "CC_MERCHANT_ID": case.merchant.merchant_number if case.merchant else "",
        "CC_MERCHANT_VERIFIED": "1" if case.merchant else "0",
        "CC_INTENT": case.intent,
        "CC_IVR_PATH": case.path,
        "CC_QUEUE": case.queue,
        "CC_PRIORITY": str(case.priority),
        "CC_LANG": case.lang,
        "CC_IVR_OUTCOME": case.outcome.value,
    }


# --------------------------------------------------------------------------- single steps


def test_call_starts_with_a_caller_lookup_and_nothing_else() -> None:
    state, effects = start(DEFINITION, CallInfo("u", "13800138000", NOW, ServiceMode.DAY))
    assert effects == (LookupCaller("13800138000"),)
    assert state.awaiting is Awaiting.CALLER


def test_anonymous_caller_gets_the_greeting_without_lookup() -> None:
    state, effects = start(DEFINITION, CallInfo("u", "", NOW, ServiceMode.DAY))
    assert effects == (Play("welcome"), CollectDigits("choose_language", 5000, 1))
    assert state.awaiting is Awaiting.DIGITS


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "8613800138000"),
        ("", ""),
        ("anonymous", ""),
        ("138 0013 8000", ""),
        ("12", ""),
        ("1" * 21, ""),
    ],
)
def test_only_numeric_caller_ids_are_looked_up(raw: str, phone: str) -> None:
    assert caller_phone(raw) == phone


def test_greeting_then_language_menu_after_caller_lookup() -> None:
    run = drive([cid(SHOP)])
    assert run.effects[1:] == [Play("welcome"), CollectDigits("choose_language", 5000, 1)]


def test_choosing_english_sets_the_language_before_the_next_prompt() -> None:
    run = drive([cid(SHOP), k("2")])
    assert run.effects[-2:] == [SetLanguage("en"), CollectDigits("main_menu", 5000, 1)]
    assert run.state.lang == "en"


def test_night_notice_is_played_before_the_main_menu() -> None:
    run = drive([cid(SHOP), k("1")], mode=ServiceMode.NIGHT)
    assert run.effects[-3:] == [
        SetLanguage("zh"),
        Play("night_notice"),
        CollectDigits("main_menu", 5000, 1),
    ]


def test_holiday_notice_is_played_before_the_main_menu() -> None:
    run = drive([cid(SHOP), k("1")], mode=ServiceMode.HOLIDAY)
    assert Play("holiday_notice") in run.effects


def test_day_mode_plays_no_notice() -> None:
    run = drive([cid(SHOP), k("1")])
    assert not {"night_notice", "holiday_notice"} & set(run.prompts)


def test_merchant_number_is_read_with_max_20_digits_so_hash_terminates() -> None:
    run = drive([cid(), k("1"), k("2")])
    assert run.effects[-1] == CollectDigits("enter_merchant_number", 8000, MERCHANT_MAX_DIGITS)
    assert MERCHANT_MAX_DIGITS == 20


def test_wrong_length_plays_the_invalid_prompt_then_asks_again() -> None:
    run = drive([cid(), k("1"), k("2"), k("123")])
    assert run.effects[-2:] == [
        Play("merchant_number_invalid"),
        CollectDigits("enter_merchant_number", 8000, 20),
    ]


def test_fifteen_digits_are_looked_up() -> None:
    run = drive([cid(), k("1"), k("2"), NUMBER])
    assert run.effects[-1] == LookupMerchantNumber(SHOP.merchant_number)
    assert run.state.awaiting is Awaiting.NUMBER


def test_unknown_number_plays_not_found_then_asks_again() -> None:
    run = drive([cid(), k("1"), k("2"), NUMBER, MerchantLookedUp(None)])
    assert run.effects[-2:] == [
        Play("merchant_number_not_found"),
        CollectDigits("enter_merchant_number", 8000, 20),
    ]


def test_main_menu_timeout_plays_no_input_then_the_menu_again() -> None:
    run = drive([cid(), k("1"), T])
    assert run.effects[-2:] == [Play("no_input"), CollectDigits("main_menu", 5000, 1)]


def test_invalid_key_plays_invalid_choice_then_the_menu_again() -> None:
    run = drive([cid(), k("1"), k("5")])
    assert run.effects[-2:] == [Play("invalid_choice"), CollectDigits("main_menu", 5000, 1)]


def test_queue_hand_off_sets_variables_before_the_connecting_prompt() -> None:
    run = drive([cid(SHOP), k("1"), k("2"), k("2")])
    kinds = [type(e) for e in run.effects[-3:]]
    assert kinds == [SetVariables, Play, Finish]
    assert run.effects[-2] == Play("connecting")


def test_status_asks_for_the_open_task_of_the_identified_merchant() -> None:
    run = drive([cid(SHOP), k("1"), k("3")])
    assert run.effects[-1] == LookupOpenTask(SHOP.id)


def test_status_read_out_in_mandarin() -> None:
    run = drive([cid(SHOP), k("1"), k("3"), TaskLookedUp(TASK)])
    assert run.effects[-13:] == [
        Play("task_intro"),
        SayDigits("202611220007"),
        Play("task_kind_repair"),
        Play("task_status_appointed"),
        Play("task_appointment"),
        Play("month_11"),
        SayNumber(24),
        Play("unit_day"),
        SayNumber(14),
        Play("unit_hour"),
        SayNumber(30),
        Play("unit_minute"),
        CollectDigits("status_options", 5000, 1),
    ]


def test_status_read_out_in_english_converts_the_appointment_to_local_time() -> None:
    utc_task = TaskRef(
        "T-9", "installation", "assigned", datetime(2026, 11, 24, 1, 0, tzinfo=ZoneInfo("UTC"))
    )
    assert task_speech(utc_task, "en", "Asia/Shanghai") == (
        Play("task_intro"),
        SayDigits("9"),
        Play("task_kind_installation"),
        Play("task_status_assigned"),
        Play("task_appointment"),
        Play("month_11"),
        SayNumber(24),
        Play("at"),
        SayNumber(9),
        Play("oclock"),
    )


def test_status_read_out_of_an_unknown_kind_and_status_without_appointment() -> None:
    odd = TaskRef("ABC", "callback", "waiting_parts")
    assert task_speech(odd, "zh", "Asia/Shanghai") == (
        Play("task_intro"),
        Play("task_kind_other"),
        Play("task_status_other"),
    )


def test_status_without_open_task_says_so() -> None:
    run = drive([cid(SHOP), k("1"), k("3"), TaskLookedUp(None)])
    assert run.effects[-2:] == [Play("status_none"), CollectDigits("status_options", 5000, 1)]


def test_self_service_goodbye_ends_the_call_in_the_ivr() -> None:
    run = drive([cid(SHOP), k("1"), k("3"), TaskLookedUp(None), k("9")])
    assert [type(e) for e in run.effects[-3:]] == [SetVariables, Play, Finish]
    assert run.effects[-2] == Play("goodbye")
    assert run.variables["CC_QUEUE"] == ""
    assert run.variables["CC_IVR_OUTCOME"] == "self_service"


# --------------------------------------------------------------------------- hang-up


def test_hangup_mid_menu_records_the_path_so_far() -> None:
    run = drive([cid(SHOP), k("1"), k("2"), HungUp()])
    result = run.result
    assert result.outcome is IvrOutcome.IVR_HANGUP
    assert result.path == "hello>lang:1>menu:2>merchant:cid>hangup"
    assert result.queue == ""
    assert result.merchant == SHOP
    assert [type(e) for e in run.effects[-2:]] == [SetVariables, Finish]
    assert run.variables["CC_IVR_OUTCOME"] == "ivr_hangup"
    assert run.variables["CC_IVR_PATH"] == "hello>lang:1>menu:2>merchant:cid>hangup"


def test_hangup_while_typing_the_merchant_number_like_fixture_05() -> None:
    run = drive([cid(), k("1"), k("2"), HungUp()])
    assert run.result.path == "hello>lang:1>menu:2>hangup"
    assert run.variables["CC_MERCHANT_VERIFIED"] == "0"


def test_hangup_before_the_caller_lookup_answered() -> None:
    run = drive([HungUp()])
    assert run.result.path == "hangup"
    assert run.result.outcome is IvrOutcome.IVR_HANGUP


def test_hangup_during_the_connecting_prompt_keeps_the_chosen_queue() -> None:
    run = drive([cid(SHOP), k("1"), k("0"), HungUp()])
    assert run.result.outcome is IvrOutcome.IVR_HANGUP
    assert run.result.queue == "aftersales"
    assert run.result.path == "hello>lang:1>menu:0>agent>hangup"


def test_a_second_hangup_changes_nothing() -> None:
    run = drive([cid(SHOP), HungUp()])
    state, effects = step(DEFINITION, run.state, HungUp(), now=NOW)
    assert (state, effects) == (run.state, ())


def test_failed_result_marks_error_without_a_queue() -> None:
    run = drive([cid(SHOP), k("1")])
    result = failed_result(run.state, now=NOW)
    assert result.outcome is IvrOutcome.FAILED
    assert result.path == "hello>lang:1>error"
    assert result.queue == ""


# --------------------------------------------------------------------------- misuse and bounds


def test_an_event_the_state_does_not_await_is_refused() -> None:
    run = drive([cid(SHOP)])
    with pytest.raises(MenuStateError, match="node 'lang' awaits digits, got TaskLookedUp"):
        step(DEFINITION, run.state, TaskLookedUp(None), now=NOW)


def test_input_after_the_menu_finished_is_refused() -> None:
    run = drive([cid(SHOP), k("1"), k("0")])
    with pytest.raises(MenuStateError):
        step(DEFINITION, run.state, k("1"), now=NOW)


def test_a_caller_looping_in_self_service_is_handed_to_an_agent() -> None:
    events: list[Event] = [cid(SHOP), k("1"), k("3"), TaskLookedUp(None)]
    events += [k("1"), TaskLookedUp(None)] * 40
    call = CallInfo("u", "13800138000", NOW, ServiceMode.DAY)
    state, _ = start(DEFINITION, call)
    for event in events:
        state, _ = step(DEFINITION, state, event, now=NOW)
        if state.finished:
            break
    assert state.result is not None
    assert state.result.queue == "aftersales"
    assert state.result.path.startswith("hello>lang:1>menu:3>merchant:cid>...>")
    assert state.result.path.endswith(">limit>agent")
    assert state.inputs == DEFINITION.max_inputs + 1


def test_full_path_keeps_its_start_and_its_latest_steps() -> None:
    run = drive([cid(SHOP), k("1")])
    full = ("a", "b", "c", "d", *("x",) * (MAX_PATH_TOKENS - 5), "z")
    state, _ = step(DEFINITION, replace(run.state, path=full), HungUp(), now=NOW)
    assert len(state.path) == MAX_PATH_TOKENS
    assert state.path[:5] == ("a", "b", "c", "d", "...")
    assert state.path[-2:] == ("z", "hangup")


def test_path_stops_growing_at_its_length_limit_and_matches_the_variable() -> None:
    run = drive([cid(SHOP), k("1")])
    long = replace(run.state, path=tuple(f"intent:t{i:03d}" for i in range(21)))
    state, effects = step(DEFINITION, long, HungUp(), now=NOW)
    assert state.path[4] == "..." and state.path[-1] == "hangup"
    assert len(state.path_text) <= MAX_PATH_CHARS
    [variables] = [e for e in effects if isinstance(e, SetVariables)]
    assert variables.variables["CC_IVR_PATH"] == state.path_text


def test_caller_controlled_text_is_sanitised_for_the_channel() -> None:
    assert channel_value('13800,"x"\r\nAGI') == "13800__x___AGI"
    run = drive([k("1"), k("0")], caller='138,"evil"\r\n')  # not a number: no look-up
    assert run.result.caller == "138__evil___"


def test_handoff_variables_are_exactly_the_documented_ones() -> None:
    run = drive([cid(SHOP), k("1"), k("0")])
    assert tuple(handoff_variables(run.result)) == HANDOFF_VARIABLES


@pytest.mark.parametrize(
    ("keys", "score"),
    [("1", 1), ("5", 5), ("0", None), ("6", None), ("", None), ("12", None), ("*", None)],
)
def test_survey_scores_are_one_to_five(keys: str, score: int | None) -> None:
    assert parse_score(keys) == score


# --------------------------------------------------------------------------- property


_keys = st.one_of(
    st.just(T), st.sampled_from(["0", "1", "2", "3", "4", "9", "*", "#", "7", ""]).map(Digits)
)
_number_answers = st.one_of(st.just(T), st.just(NUMBER), st.just(k("123")))


@settings(max_examples=150, deadline=None)
@given(
    st.data(),
    st.sampled_from(list(ServiceMode)),
    st.lists(st.sampled_from([SHOP, MALL, CAFE]), max_size=3, unique=True),
)
def test_no_key_sequence_drops_the_caller(
    data: st.DataObject, mode: ServiceMode, on_phone: list[MerchantRef]
) -> None:
    """Whatever the caller presses, the call ends in a queue, or in self-service goodbye; the
    awaited effect is always last and at most one; hand-off values stay channel-safe."""
    state, effects = start(DEFINITION, CallInfo("u", "13800138000", NOW, mode))
    for _ in range(200):
        awaited = [e for e in effects if isinstance(e, AWAITED_EFFECTS)]
        assert len(awaited) == 1 and effects[-1] is awaited[0]
        last = effects[-1]
        if isinstance(last, Finish):
            break
        event: Event
        if isinstance(last, LookupCaller):
            event = cid(*on_phone)
        elif isinstance(last, CollectDigits) and last.max_digits == MERCHANT_MAX_DIGITS:
            event = data.draw(_number_answers)
        elif isinstance(last, CollectDigits):
            event = data.draw(_keys)
        elif isinstance(last, LookupMerchantNumber):
            event = MerchantLookedUp(data.draw(st.sampled_from([SHOP, None])))
        else:
            assert isinstance(last, LookupOpenTask)
            event = TaskLookedUp(data.draw(st.sampled_from([TASK, None])))
        state, effects = step(DEFINITION, state, event, now=NOW)
    assert state.finished and state.result is not None
    result = state.result
    if result.outcome is IvrOutcome.QUEUED:
        assert result.queue in DEFINITION.queues
        if mode is ServiceMode.NIGHT:
            assert result.queue == "night"
    else:
        assert result.outcome is IvrOutcome.SELF_SERVICE
        assert result.path.endswith("self:9>bye")
    for value in handoff_variables(result).values():
        assert channel_value(value) == value
