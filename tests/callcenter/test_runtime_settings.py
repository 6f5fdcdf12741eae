"""Run-time settings: the pure rules (validation with zh/en reasons, files' values under the
stored ones), the table on both backends, and the two consumers that follow a change without
a restart: the IVR's day/night/holiday decision and the wallboard's alert rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from callcenter.db.repositories import Store
from callcenter.runtime_settings import (
    RuntimeSettings,
    SettingProblem,
    effective,
    settings_json,
    validate,
    validate_changes,
)
from callcenter.runtime_settings_store import LiveRuntimeSettings, SqlRuntimeSettingsStore
from ivr.calendar import Holiday, ServiceMode, service_mode
from ivr.menu_config import MenuRegistry
from ivr.wiring import apply_settings as apply_to_ivr
from supervision.wallboard import WallboardPolicy, alerts

NOW = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
FILES = RuntimeSettings(holidays=(Holiday("国庆节", date(2026, 10, 1), date(2026, 10, 7)),))


@pytest.mark.parametrize(("key", "raw", "value"), [
    ("answer_rate_pct", 85, 0.85),
    ("answer_rate_pct", 92.5, 0.925),
    ("service_level_s", 30, 30.0),
    ("long_wait_s", 45.5, 45.5),
    ("day_floor", 10, 10),
    ("night_floor", 0, 0),
    ("business_hours", {"start": "08:30", "end": "21:00"}, (time(8, 30), time(21))),
    ("holidays", [{"name": " 公司年会 ", "start": "2026-12-31", "end": "2026-12-31"}],
     (Holiday("公司年会", date(2026, 12, 31), date(2026, 12, 31)),)),
    ("workdays", ["2026-01-04"], frozenset({date(2026, 1, 4)})),
])
def test_a_good_value_is_accepted_in_its_python_form(key: str, raw: Any, value: Any) -> None:
    assert validate(key, raw) == value


@pytest.mark.parametrize(("key", "raw", "zh", "en"), [
    ("answer_rate_pct", 0, "须在 1 到 100 之间", "must be between 1 and 100"),
    ("answer_rate_pct", "90", "需要一个数字", "expected a number"),
    ("answer_rate_pct", True, "需要一个数字", "expected a number"),
    ("service_level_s", 0, "须在 1 到 3600 之间", "must be between 1 and 3600"),
    ("long_wait_s", 99999, "须在 1 到 3600 之间", "must be between 1 and 3600"),
    ("day_floor", 2.5, "需要一个整数", "expected a whole number"),
    ("night_floor", -1, "须在 0 到 1000 之间", "must be between 0 and 1000"),
    ("business_hours", {"start": "20:00", "end": "08:00"}, "开始时间须早于结束时间",
     "the start must be before the end"),
    ("business_hours", {"start": "8:00", "end": "20:00"}, "HH:MM", "HH:MM"),
    ("business_hours", {"start": "08:00"}, "需要开始和结束时间", "expected a start and an end"),
    ("holidays", [{"name": "x", "start": "2026-10-07", "end": "2026-10-01"}],
     "结束日期早于开始日期", "ends before it starts"),
    ("holidays", [{"name": "", "start": "2026-10-01", "end": "2026-10-01"}],
     "1 到 60 个字符", "1 to 60 characters"),
    ("holidays", [{"name": "x", "start": "2026-02-30", "end": "2026-03-01"}],
     "不存在", "is not a date"),
    ("holidays", [{"name": "x", "start": "2026-01-01", "end": "2026-12-31"}],
     "最长 60 天", "at most 60 days"),
    ("holidays", {"name": "x"}, "需要节假日列表", "expected a list of holidays"),
    ("workdays", ["01/04/2026"], "YYYY-MM-DD", "YYYY-MM-DD"),
    ("nonsense", 1, "没有这个设置项", "no such setting"),
])
def test_a_bad_value_is_refused_with_a_reason_in_both_languages(
        key: str, raw: Any, zh: str, en: str) -> None:
    with pytest.raises(SettingProblem) as caught:
        validate(key, raw)
    assert zh in caught.value.message("zh-CN")
    assert en in caught.value.message("en")
    assert caught.value.key.startswith(key)


def test_one_bad_value_refuses_the_whole_change() -> None:
    with pytest.raises(SettingProblem) as caught:
        validate_changes({"long_wait_s": 30, "day_floor": "many"})
    assert caught.value.key == "day_floor"
    with pytest.raises(SettingProblem):
        validate_changes({"long_wait_s": 30}, reset=["long_wait_s"])


def test_stored_values_override_the_files_and_a_broken_one_is_ignored() -> None:
    result = effective(FILES, {"long_wait_s": 30, "day_floor": "many",
                               "holidays": [{"name": "年会", "start": "2026-12-31",
                                             "end": "2026-12-31"}]})
    assert result.settings.long_wait_s == 30
    assert result.settings.day_floor == FILES.day_floor  # R4: the file's value stays
    assert [p.key for p in result.ignored] == ["day_floor"]
    assert [h.name for h in result.settings.holidays] == ["年会"]
    assert result.settings.overridden == {"long_wait_s", "holidays"}
    assert effective(FILES, {}).settings == FILES


def test_the_json_form_round_trips() -> None:
    shown = settings_json(FILES)
    assert shown["answer_rate_pct"] == 90.0
    assert shown["business_hours"] == {"start": "08:00", "end": "20:00"}
    assert effective(RuntimeSettings(), shown).settings == FILES.__class__(
        holidays=FILES.holidays, overridden=frozenset(shown))


async def test_a_change_saved_in_one_process_reaches_another_and_its_listeners(
        store: Store) -> None:
    """Both backends: the web process saves; a second process (its own cache) sees the
    change at its next refresh and tells its consumers."""
    web = LiveRuntimeSettings(SqlRuntimeSettingsStore(store), FILES)
    other = LiveRuntimeSettings(SqlRuntimeSettingsStore(store), FILES)
    seen: list[RuntimeSettings] = []
    other.subscribe(seen.append)
    assert seen == [FILES]
    values = validate_changes({"long_wait_s": 30, "holidays": [
        {"name": "年会", "start": "2026-12-31", "end": "2026-12-31"}]})
    await web.save(values, [], actor="root", at=NOW)
    assert web.current.long_wait_s == 30
    assert await other.refresh() is True
    assert seen[-1].long_wait_s == 30 and seen[-1].holidays[0].name == "年会"
    assert other.stored["long_wait_s"].updated_by == "root"
    assert await other.refresh() is False  # nothing new: no second notice
    await web.save({}, ["long_wait_s"], actor="root", at=NOW)
    await other.refresh()
    assert other.current.long_wait_s == FILES.long_wait_s
    assert other.current.overridden == {"holidays"}


def test_the_ivr_follows_business_hours_and_holidays_and_a_reset_returns_to_the_file() -> None:
    registry = MenuRegistry()
    live = LiveRuntimeSettings(SqlRuntimeSettingsStore(None), registry_defaults(registry))
    live.subscribe(lambda s: apply_to_ivr(registry, s))
    morning = datetime(2026, 12, 31, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai, a Thursday

    def mode() -> ServiceMode:
        menu = registry.current
        return service_mode(morning, menu.definition.schedule, menu.holidays)

    assert mode() is ServiceMode.DAY
    generation = registry.current.generation
    live._apply(stored({"holidays": [{"name": "年会", "start": "2026-12-31",
                                      "end": "2026-12-31"}]}))
    assert mode() is ServiceMode.HOLIDAY and registry.current.generation == generation + 1
    live._apply(stored({"business_hours": {"start": "09:00", "end": "18:00"}}))
    assert mode() is ServiceMode.NIGHT  # 08:30 is before the new start; holiday reset
    registry.reload()  # the files are read again: the run-time values stay in force
    assert mode() is ServiceMode.NIGHT
    live._apply({})
    assert mode() is ServiceMode.DAY
    assert registry.current.definition.schedule.day_start == time(8)


def test_the_wallboard_alerts_follow_a_changed_threshold() -> None:
    from supervision.wiring import apply_settings as apply_to_wallboard

    class Board:
        policy = WallboardPolicy()
        day = None

    board: Any = Board()
    waiting = {"aftersales": [("c1", 45.0)]}
    assert alerts([], 8, 10, waiting, board.policy) == []
    apply_to_wallboard(board, effective(FILES, {"long_wait_s": 30, "day_floor": 9,
                                                "answer_rate_pct": 95}).settings)
    assert board.policy.long_wait_s == 30 and board.policy.answer_rate_target == 0.95
    kinds = [a.kind for a in alerts([], 8, 10, waiting, board.policy)]
    assert kinds == ["staffing", "long_wait"]
    apply_to_wallboard(board, effective(FILES, {"business_hours": {"start": "09:00",
                                                                   "end": "18:00"}}).settings)
    assert board.policy.day_hours == (9, 18) and board.policy.floor(8) == FILES.night_floor


def registry_defaults(registry: MenuRegistry) -> RuntimeSettings:
    schedule = registry.current.definition.schedule
    return RuntimeSettings(day_start=schedule.day_start, day_end=schedule.day_end,
                           holidays=registry.current.holidays.holidays,
                           workdays=registry.current.holidays.workdays)


def stored(values: dict[str, Any]) -> dict[str, Any]:
    from callcenter.runtime_settings import StoredSetting

    return {k: StoredSetting(k, v, "root", NOW) for k, v in values.items()}
