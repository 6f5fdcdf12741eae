"""Loading and validating the menu definition, holiday calendar and prompt catalogue; reload."""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.calendar import ServiceMode
from ivr.errors import IvrError, MenuConfigError
from ivr.menu_config import (
    DEFAULT_HOLIDAYS_PATH,
    DEFAULT_MENU_PATH,
    ChoiceNode,
    IdentifyNode,
    MenuRegistry,
    QueueNode,
    load_holidays,
    load_menu,
    parse_holidays,
    parse_menu,
)
from ivr.prompts import load_catalogue, parse_catalogue

PROMPTS = load_catalogue().ids
RAW = tomllib.loads(DEFAULT_MENU_PATH.read_text(encoding="utf-8"))


def test_default_menu_is_valid_against_the_prompt_catalogue() -> None:
    definition = load_menu(prompt_ids=PROMPTS)
    assert definition.start == "hello"
    assert isinstance(definition.nodes["agent"], QueueNode)
    main = definition.nodes["main"]
    assert isinstance(main, ChoiceNode)
    assert sorted(main.options) == ["0", "1", "2", "3"]
    assert main.max_tries == 3
    assert definition.queues == ("presales", "aftersales", "complaints", "techsupport", "night")
    assert definition.queue_in_mode("presales", ServiceMode.NIGHT) == "night"
    assert definition.queue_in_mode("complaints", ServiceMode.HOLIDAY) == "complaints"
    assert definition.queue_in_mode("presales", ServiceMode.DAY) == "presales"
    assert definition.prompt_ids() <= PROMPTS


def test_identify_without_on_fail_continues_to_next() -> None:
    node = load_menu().nodes["aftersales_id"]
    assert isinstance(node, IdentifyNode)
    assert node.on_fail == node.next == "aftersales"


def nodes(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data["nodes"]
    return result


Mutation = Callable[[dict[str, Any]], None]
BROKEN: list[tuple[str, Mutation, str]] = [
    (
        "option_to_unknown_node",
        lambda d: nodes(d)["aftersales"]["options"].update({"5": {"next": "foo"}}),
        "node 'aftersales': option '5' points to unknown node 'foo'",
    ),
    (
        "next_to_unknown_node",
        lambda d: nodes(d)["hello"].update(next="lnag"),
        "node 'hello': next points to unknown node 'lnag'",
    ),
    (
        "mode_branch_to_unknown_node",
        lambda d: nodes(d)["by_mode"].update(night="nite"),
        "node 'by_mode': night points to unknown node 'nite'",
    ),
    (
        "on_exhausted_to_unknown_node",
        lambda d: nodes(d)["main"].update(on_exhausted="x"),
        "node 'main': on_exhausted points to unknown node 'x'",
    ),
    (
        "typo_in_a_key",
        lambda d: nodes(d)["main"].update(on_exausted="agent"),
        "node 'main': unknown key 'on_exausted'",
    ),
    (
        "unknown_kind",
        lambda d: nodes(d)["hello"].update(kind="playback"),
        "node 'hello': unknown kind 'playback'",
    ),
    (
        "choice_without_prompt",
        lambda d: nodes(d)["main"].pop("prompt"),
        "node 'main': missing key 'prompt'",
    ),
    (
        "queue_not_declared",
        lambda d: nodes(d)["repair"].update(queue="repairs"),
        "node 'repair': queue 'repairs' is not in [menu] queues",
    ),
    (
        "unknown_intent",
        lambda d: nodes(d)["repair"].update(intent="fix"),
        "node 'repair': unknown intent 'fix'",
    ),
    (
        "unknown_option_intent",
        lambda d: nodes(d)["main"]["options"]["1"].update(intent="buy"),
        "node 'main': option '1': unknown intent 'buy'",
    ),
    (
        "unknown_language",
        lambda d: nodes(d)["lang"]["options"]["2"].update(lang="fr"),
        "node 'lang': option '2': 'lang' must be one of zh, en",
    ),
    (
        "default_not_an_option",
        lambda d: nodes(d)["lang"].update(default="3"),
        "node 'lang': 'default' = '3' is not one of the options",
    ),
    (
        "two_digit_option",
        lambda d: nodes(d)["main"]["options"].update({"12": {"next": "agent"}}),
        "node 'main': option '12' is not a single key",
    ),
    (
        "max_tries_zero",
        lambda d: nodes(d)["main"].update(max_tries=0),
        "node 'main': 'max_tries' must be between 1 and 9",
    ),
    (
        "label_with_a_comma",
        lambda d: nodes(d)["main"].update(label="me,nu"),
        "node 'main': 'label' = 'me,nu' is not a valid name",
    ),
    (
        "queue_name_with_a_comma",
        lambda d: d["menu"].update(queues=["a,b"]),
        "[menu]: queue name 'a,b' is not a valid name",
    ),
    (
        "node_id_in_capitals",
        lambda d: nodes(d).update(Main={"kind": "end"}),
        "node 'Main': not a valid node id",
    ),
    (
        "start_unknown",
        lambda d: d["menu"].update(start="welcome"),
        "[menu]: start points to unknown node 'welcome'",
    ),
    (
        "agent_node_is_not_a_queue",
        lambda d: d["menu"].update(agent_node="main"),
        "[menu]: agent_node 'main' must be a queue node",
    ),
    (
        "unreachable_node",
        lambda d: nodes(d).update(orphan={"kind": "end"}),
        "node 'orphan': unreachable from start 'hello'",
    ),
    (
        "loop_without_input",
        lambda d: nodes(d)["night_notice"].update(next="by_mode"),
        "loops back to itself without waiting for a key",
    ),
    (
        "prompt_not_in_catalogue",
        lambda d: nodes(d)["hello"].update(prompt="welcom"),
        "node 'hello': prompt 'welcom' is not in the prompt catalogue",
    ),
    (
        "survey_prompt_not_in_catalogue",
        lambda d: d["survey"].update(thanks="thx"),
        "[survey]: thanks 'thx' is not in the prompt catalogue",
    ),
    (
        "day_window_reversed",
        lambda d: d["schedule"].update(day_start="21:00"),
        "[schedule]: day_start 21:00 must be before day_end 20:00",
    ),
    (
        "bad_time",
        lambda d: d["schedule"].update(day_end="8pm"),
        "[schedule]: 'day_end' must be a time like",
    ),
    (
        "unknown_timezone",
        lambda d: d["schedule"].update(timezone="Asia/Beijing"),
        "[schedule]: unknown time zone 'Asia/Beijing'",
    ),
    (
        "weekday_eight",
        lambda d: d["schedule"].update(service_weekdays=[1, 8]),
        "[schedule]: 'service_weekdays' must be a list of ISO weekdays",
    ),
    (
        "mode_maps_to_unknown_queue",
        lambda d: d["modes"]["night"]["queue_map"].update(presales="nightshift"),
        "[modes.night]: queue_map names unknown queue 'nightshift'",
    ),
    ("unknown_mode", lambda d: d["modes"].update(evening={}), "[modes]: unknown mode 'evening'"),
    (
        "priority_not_a_number",
        lambda d: d["priority"].update(high_value="high"),
        "[priority]: 'high_value' must be an integer",
    ),
    ("unknown_table", lambda d: d.update(extras={}), "menu file: unknown key 'extras'"),
    ("no_menu_table", lambda d: d.pop("menu"), "menu file: missing key 'menu'"),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [(m, e) for _, m, e in BROKEN], ids=[i for i, _, _ in BROKEN]
)
def test_invalid_definition_error_names_the_node(mutate: Mutation, message: str) -> None:
    data = copy.deepcopy(RAW)
    mutate(data)
    with pytest.raises(MenuConfigError) as caught:
        parse_menu(data, prompt_ids=PROMPTS)
    assert message in str(caught.value)
    assert isinstance(caught.value, IvrError)


def test_prompts_are_not_checked_without_a_catalogue() -> None:
    data = copy.deepcopy(RAW)
    nodes(data)["hello"]["prompt"] = "studio-welcome-2027"
    assert parse_menu(data).nodes["hello"].prompt == "studio-welcome-2027"  # type: ignore[union-attr]


def test_invalid_toml_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "menu.toml"
    path.write_text("[menu\nstart = 'x'\n", encoding="utf-8")
    with pytest.raises(MenuConfigError, match=r"menu\.toml: invalid TOML"):
        load_menu(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MenuConfigError, match="cannot read"):
        load_menu(tmp_path / "absent.toml")


# --------------------------------------------------------------------------- holidays


def test_builtin_holiday_calendar_loads() -> None:
    calendar = load_holidays()
    assert len(calendar.holidays) >= 14
    assert calendar.holiday_on(__import__("datetime").date(2026, 10, 1)) is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[holidays]]\nname = "国庆节"\nstart = 2026-10-07\nend = 2026-10-01\n',
            "holiday '国庆节': holiday '国庆节' ends (2026-10-01) before it starts",
        ),
        (
            '[[holidays]]\nname = "x"\nstart = "2026-10-01"\nend = 2026-10-07\n',
            "holiday 'x': 'start' must be a date",
        ),
        ("[[holidays]]\nstart = 2026-10-01\nend = 2026-10-07\n", "holiday #1: missing key 'name'"),
        (
            '[[holidays]]\nname = "x"\nstart = 2026-10-01\nend = 2026-10-07\nnote = 1\n',
            "holiday 'x': unknown key 'note'",
        ),
        ('workdays = ["2026-10-10"]\n', "'workdays' must be a list of dates"),
    ],
)
def test_invalid_holiday_calendar_names_the_holiday(text: str, message: str) -> None:
    with pytest.raises(MenuConfigError) as caught:
        parse_holidays(tomllib.loads(text))
    assert message in str(caught.value)


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"welcome": {"zh": "您好"}}, "prompt 'welcome': needs exactly the keys 'zh' and 'en'"),
        ({"welcome": {"zh": "您好", "en": " "}}, "prompt 'welcome': 'en' must be a non-empty"),
        ({"Welcome": {"zh": "您好", "en": "Hi"}}, "prompt 'Welcome': not a valid prompt id"),
    ],
)
def test_invalid_catalogue_names_the_prompt(data: dict[str, Any], message: str) -> None:
    with pytest.raises(MenuConfigError) as caught:
        parse_catalogue(data)
    assert message in str(caught.value)


# --------------------------------------------------------------------------- registry


@pytest.fixture
def menu_file(tmp_path: Path) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(DEFAULT_MENU_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.fixture
def holidays_file(tmp_path: Path) -> Path:
    path = tmp_path / "holidays.toml"
    path.write_text(DEFAULT_HOLIDAYS_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    # a distinct mtime even on coarse file systems
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_registry_loads_both_files(menu_file: Path, holidays_file: Path) -> None:
    registry = MenuRegistry(menu_file, holidays_file, prompt_ids=PROMPTS)
    assert registry.current.generation == 1
    assert registry.current.definition.source == str(menu_file)
    assert registry.current.holidays == load_holidays()


def test_registry_refuses_to_start_with_an_invalid_menu(menu_file: Path) -> None:
    edit(menu_file, 'agent_node = "agent"', 'agent_node = "nobody"')
    with pytest.raises(MenuConfigError, match="agent_node points to unknown node 'nobody'"):
        MenuRegistry(menu_file)


def test_reload_applies_a_valid_change(menu_file: Path, holidays_file: Path) -> None:
    registry = MenuRegistry(menu_file, holidays_file, prompt_ids=PROMPTS)
    edit(menu_file, "max_tries = 3", "max_tries = 2")
    report = registry.reload()
    assert (report.ok, report.changed, report.generation, report.error) == (True, True, 2, None)
    main = registry.current.definition.nodes["main"]
    assert isinstance(main, ChoiceNode) and main.max_tries == 2


def test_reload_keeps_the_old_menu_when_the_new_one_is_invalid(
    menu_file: Path, holidays_file: Path
) -> None:
    registry = MenuRegistry(menu_file, holidays_file, prompt_ids=PROMPTS)
    before = registry.current
    edit(menu_file, 'options."*" = { next = "main" }', 'options."*" = { next = "foo" }')
    report = registry.reload()
    assert not report.ok and not report.changed
    assert report.error is not None
    assert "node 'aftersales': option '*' points to unknown node 'foo'" in report.error
    assert registry.current is before
    assert registry.last_error == report.error


def test_reload_keeps_the_old_calendar_when_the_new_one_is_invalid(
    menu_file: Path, holidays_file: Path
) -> None:
    registry = MenuRegistry(menu_file, holidays_file)
    before = registry.current
    edit(holidays_file, "end = 2026-10-07", "end = 2026-09-07")
    report = registry.reload()
    assert not report.ok
    assert report.error is not None and "holidays.toml" in report.error
    assert registry.current is before


def test_reload_of_unchanged_files_keeps_the_generation(
    menu_file: Path, holidays_file: Path
) -> None:
    registry = MenuRegistry(menu_file, holidays_file)
    report = registry.reload()
    assert (report.ok, report.changed, report.generation) == (True, False, 1)


def test_reload_if_changed_only_acts_on_a_changed_file(
    menu_file: Path, holidays_file: Path
) -> None:
    registry = MenuRegistry(menu_file, holidays_file)
    assert registry.reload_if_changed() is None
    edit(menu_file, "timeout_ms = 5000", "timeout_ms = 6000")
    report = registry.reload_if_changed()
    assert report is not None and report.changed and report.generation == 2
    assert registry.reload_if_changed() is None


def test_reload_if_changed_reports_a_broken_file_once(menu_file: Path, holidays_file: Path) -> None:
    registry = MenuRegistry(menu_file, holidays_file)
    edit(menu_file, "[nodes.hello]", "[nodes.hello")
    first = registry.reload_if_changed()
    assert first is not None and not first.ok and "invalid TOML" in (first.error or "")
    assert registry.reload_if_changed() is None
    assert registry.current.generation == 1
