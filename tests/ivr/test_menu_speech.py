"""Speech at the main menu, driven without I/O (rule 8 of ivr.menu): a spoken intent is chosen
and written into the path; silence, low confidence or an unknown phrase falls back to the keys.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.calendar import ServiceMode
from ivr.errors import MenuConfigError
from ivr.menu import (
    CallerLookedUp,
    CallInfo,
    CollectDigits,
    Digits,
    Event,
    Finish,
    Heard,
    Listen,
    MenuState,
    Transition,
    start,
    step,
)
from ivr.menu_config import load_menu
from ivr.ports import MerchantRef

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
MENU = load_menu()
SHOP = MerchantRef(id=7, merchant_number="310115000000001", name="浦东便利店")


def _at_main(speech_langs: frozenset[str]) -> Transition:
    call = CallInfo("1.1", "13800138000", NOW, ServiceMode.DAY, speech_langs=speech_langs)
    state, _ = start(MENU, call)
    state, _ = step(MENU, state, CallerLookedUp((SHOP,), False), now=NOW)
    return step(MENU, state, Digits("1"), now=NOW)  # 中文


def _feed(state: MenuState, *events: Event) -> Transition:
    effects: tuple[object, ...] = ()
    for event in events:
        state, effects = step(MENU, state, event, now=NOW)  # type: ignore[assignment]
    return state, effects  # type: ignore[return-value]


def test_main_menu_listens_and_invites_speaking_when_the_language_has_a_model() -> None:
    state, effects = _at_main(frozenset({"zh"}))
    assert state.node == "main"
    assert effects[-1] == Listen("main_menu_speech", 5000,
                                 ("repair", "install", "complaint", "status", "agent"))


def test_main_menu_is_keys_only_without_a_model_for_the_language() -> None:
    state, effects = _at_main(frozenset({"en"}))
    assert state.node == "main" and effects[-1] == CollectDigits("main_menu", 5000, 1)


@pytest.mark.parametrize(("intent", "queue", "path_end"), [
    ("repair", "aftersales", "menu:speech:repair>merchant:cid"),
    ("install", "aftersales", "menu:speech:install>merchant:cid"),
    ("complaint", "complaints", "menu:speech:complaint>merchant:cid"),
    ("agent", "aftersales", "menu:speech:agent>agent"),
])
def test_a_spoken_intent_routes_like_its_keys_and_is_in_the_path(
        intent: str, queue: str, path_end: str) -> None:
    state, _ = _at_main(frozenset({"zh"}))
    state, effects = _feed(state, Heard(intent))
    finish = effects[-1]
    assert isinstance(finish, Finish)
    assert (finish.result.queue, finish.result.intent) == (queue, intent)
    assert finish.result.path.endswith(path_end)


def test_spoken_status_goes_to_the_task_read_out() -> None:
    state, _ = _at_main(frozenset({"zh"}))
    state, _ = _feed(state, Heard("status"))
    assert state.node == "status" and state.intent == "status"
    assert state.path_text.endswith("menu:speech:status>merchant:cid")


@pytest.mark.parametrize("why", ["silence", "unsure", "unknown"])
def test_no_usable_answer_falls_back_to_the_keys_without_costing_a_try(why: str) -> None:
    state, _ = _at_main(frozenset({"zh"}))
    state, effects = _feed(state, Heard(None, why))
    assert effects == (CollectDigits("main_menu", 5000, 1),)
    assert state.node == "main" and state.tries == 0
    assert state.path_text.endswith(f"menu:speech:{why}")
    state, effects = _feed(state, Digits("0"))
    finish = effects[-1]
    assert isinstance(finish, Finish)
    assert finish.result.path.endswith(f"menu:speech:{why}>menu:0>agent")


def test_an_intent_the_node_does_not_offer_is_unknown() -> None:
    state, _ = _at_main(frozenset({"zh"}))
    state, _ = _feed(state, Heard("usage"))
    assert state.path_text.endswith("menu:speech:unknown")


def test_a_key_pressed_while_listening_is_an_ordinary_choice() -> None:
    state, _ = _at_main(frozenset({"zh"}))
    state, effects = _feed(state, Digits("0"))
    finish = effects[-1]
    assert isinstance(finish, Finish) and finish.result.path.endswith("menu:0>agent")


@pytest.mark.parametrize(("speech", "error"), [
    ('speech.fly = { next = "agent" }', "speech 'fly' is not an intent"),
    ('speech.repair = { next = "nowhere" }', "speech 'repair' points to unknown node"),
    ('speech.repair = { next = "agent", colour = "red" }', "colour"),
])
def test_bad_speech_options_are_refused_by_name(tmp_path, speech: str, error: str) -> None:  # type: ignore[no-untyped-def]
    from ivr.menu_config import DEFAULT_MENU_PATH

    text = DEFAULT_MENU_PATH.read_text(encoding="utf-8").replace(
        'speech.repair = { next = "repair_id", intent = "repair" }', speech)
    menu = tmp_path / "menu.toml"
    menu.write_text(text, encoding="utf-8")
    with pytest.raises(MenuConfigError, match=error):
        load_menu(menu)


@pytest.mark.parametrize(("edit", "error"), [
    ('speech_prompt = "main_menu_speech"\n', "need a 'speech_prompt'"),
])
def test_a_listening_menu_without_a_prompt_inviting_speech_is_refused(
        tmp_path, edit: str, error: str) -> None:  # type: ignore[no-untyped-def]
    from ivr.menu_config import DEFAULT_MENU_PATH

    text = DEFAULT_MENU_PATH.read_text(encoding="utf-8").replace(edit, "")
    menu = tmp_path / "menu.toml"
    menu.write_text(text, encoding="utf-8")
    with pytest.raises(MenuConfigError, match=error):
        load_menu(menu)


def test_a_speech_prompt_on_a_keys_only_menu_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ivr.menu_config import DEFAULT_MENU_PATH

    text = DEFAULT_MENU_PATH.read_text(encoding="utf-8").replace(
        'prompt = "aftersales_menu"',
        'prompt = "aftersales_menu"\nspeech_prompt = "main_menu_speech"')
    menu = tmp_path / "menu.toml"
    menu.write_text(text, encoding="utf-8")
    with pytest.raises(MenuConfigError, match=r"node 'aftersales'.*would never play"):
        load_menu(menu)


def test_an_unknown_speech_prompt_is_refused_against_the_catalogue(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ivr.menu_config import DEFAULT_MENU_PATH
    from ivr.prompts import load_catalogue

    text = DEFAULT_MENU_PATH.read_text(encoding="utf-8").replace(
        'speech_prompt = "main_menu_speech"', 'speech_prompt = "say_it"')
    menu = tmp_path / "menu.toml"
    menu.write_text(text, encoding="utf-8")
    with pytest.raises(MenuConfigError,
                       match="node 'main': speech_prompt 'say_it' is not in the prompt catalogue"):
        load_menu(menu, prompt_ids=load_catalogue().ids)
