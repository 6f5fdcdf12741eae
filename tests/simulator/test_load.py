"""Load plans: Poisson arrivals with a day profile, caller mix, reproducibility."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from simulator.callers import (
    CallerMix,
    CallerScript,
    Directory,
    hotline_outcome,
    make_callers,
    prompt_id_of,
)
from simulator.errors import SimulatorConfigError
from simulator.load import (
    DAY_PROFILES,
    LoadConfig,
    arrival_times,
    plan_calls,
    run_virtual,
)

DIRECTORY = Directory.demo()


def test_the_same_seed_gives_the_same_calls() -> None:
    config = LoadConfig(calls_per_second=0.5, duration=600, seed=42)
    assert plan_calls(config, DIRECTORY) == plan_calls(config, DIRECTORY)


def test_another_seed_gives_other_calls() -> None:
    one = plan_calls(LoadConfig(calls_per_second=0.5, duration=600, seed=1), DIRECTORY)
    two = plan_calls(LoadConfig(calls_per_second=0.5, duration=600, seed=2), DIRECTORY)
    assert [c.at for c in one] != [c.at for c in two]


def test_the_same_seed_gives_the_same_outcomes_in_virtual_time() -> None:
    config = LoadConfig(calls_per_second=0.3, duration=300, agents=5, handle_time=60, seed=9)
    first, _ = run_virtual(config)
    second, _ = run_virtual(config)
    assert first.as_dict() | {"wall_seconds": 0} == second.as_dict() | {"wall_seconds": 0}


def test_arrivals_follow_the_rate() -> None:
    rng = random.Random(3)
    times = arrival_times(rng, 2.0, 3600.0, DAY_PROFILES["flat"], 10.0)
    assert 6800 < len(times) < 7600  # 7200 expected; Poisson sd ≈ 85
    assert times == sorted(times) and times[-1] < 3600.0


def test_the_day_profile_thins_arrivals_at_night() -> None:
    night = arrival_times(random.Random(5), 1.0, 3600.0, DAY_PROFILES["office"], 3.0)
    morning = arrival_times(random.Random(5), 1.0, 3600.0, DAY_PROFILES["office"], 10.0)
    assert len(night) * 20 < len(morning)


def test_a_bad_load_config_is_refused() -> None:
    with pytest.raises(SimulatorConfigError):
        LoadConfig(day_profile="weekend")
    with pytest.raises(SimulatorConfigError):
        LoadConfig(calls_per_second=-1)


def test_the_caller_mix_has_every_kind_and_known_callers_use_a_merchants_own_phone() -> None:
    callers = make_callers(11, 400, DIRECTORY)
    kinds = Counter(c.kind for c in callers)
    assert set(kinds) == {"known", "ambiguous", "unknown", "wrong_number", "timeout", "hangup"}
    owners = dict(DIRECTORY.unique_phones())
    for caller in callers:
        if caller.kind == "known":
            assert owners[caller.phone] == caller.merchant_number
        if caller.kind == "wrong_number":
            assert caller.merchant_number not in {n for n, _ in DIRECTORY.merchants}
        if caller.kind == "hangup":
            assert caller.hangup_after_prompts is not None


def test_the_shared_head_office_phone_makes_ambiguous_callers() -> None:
    shared = dict(DIRECTORY.shared_phones())
    assert "02158881234" in shared and len(shared["02158881234"]) == 3
    mix = CallerMix(known=0, ambiguous=1, unknown=0, wrong_number=0, timeout=0, hangup=0)
    callers = make_callers(1, 10, DIRECTORY, mix)
    assert {c.phone for c in callers} <= set(shared)


@pytest.mark.parametrize(("prompt", "prompt_id"), [
    ("/var/lib/callcenter/prompts/zh_CN/main_menu", "main_menu"),
    ("en/survey_ask.wav", "survey_ask"),
    ('"basic-pbx-ivr-main"', "basic-pbx-ivr-main"),
])
def test_prompts_are_recognised_by_their_id(prompt: str, prompt_id: str) -> None:
    assert prompt_id_of(prompt) == prompt_id


@pytest.mark.parametrize(("script", "queue", "intent", "outcome"), [
    (CallerScript(menu_key="1"), "presales", "consult", "queued"),
    (CallerScript(menu_key="2", intent_key="1"), "techsupport", "usage", "queued"),
    (CallerScript(menu_key="2", intent_key="4"), "complaints", "complaint", "queued"),
    (CallerScript(menu_key="3", status_key="9"), "", "status", "self_service"),
    (CallerScript(menu_key="", kind="timeout"), "aftersales", "agent", "queued"),
])
def test_the_virtual_ivr_stand_in_routes_like_the_hotline_menu(
        script: CallerScript, queue: str, intent: str, outcome: str) -> None:
    result = hotline_outcome(script)
    assert (result.variables["CC_QUEUE"], result.variables["CC_INTENT"],
            result.variables["CC_IVR_OUTCOME"]) == (queue, intent, outcome)
