"""Settings an administrator may change while the product runs (pure: no I/O, no clock).

Which settings, their JSON form in the API and in the table ``runtime_settings``, and who
reads them:

=====================  ==========================================  ========================
key                    JSON value                                  read by
=====================  ==========================================  ========================
``answer_rate_pct``    answer-rate target, percent (90)            wallboard alert rules,
                                                                   reports' targets met
``service_level_s``    service level: answered within N s (20)     wallboard figures,
                                                                   reports (all stored calls)
``long_wait_s``        alert: a caller waiting longer than N s     wallboard alert rules
``day_floor``          agents online at least, business hours     wallboard alert rules
``night_floor``        agents online at least, outside them        wallboard alert rules
``business_hours``     ``{"start": "08:00", "end": "20:00"}``      IVR (day/night), wallboard
                                                                   staffing band (whole hours)
``holidays``           ``[{"name", "start", "end"}]`` (ISO dates)  IVR (holiday mode)
``workdays``           ``["2026-01-04"]`` make-up working days     IVR (holiday mode)
=====================  ==========================================  ========================

Rules
-----
R1  A setting nobody stored takes its value from the files (``[reports]`` settings,
    ``ivr/hotline.toml`` ``[schedule]``, ``ivr/holidays.toml``): :func:`effective`.
R2  A change is validated whole before anything is stored (:func:`validate_changes`): one bad
    value refuses the whole change, and the :class:`SettingProblem` names the key and says
    what is wrong in Chinese and in English.
R3  ``business_hours.start`` is before ``business_hours.end`` (the IVR's day window; the night
    runs from the end to the next start); a holiday ends on or after its start and lasts at
    most 60 days; dates lie in 2000..2100; names are 1..60 characters.
R4  A stored value that no longer validates (written by an older version, edited by hand) is
    ignored in favour of the file's value and reported (:func:`effective` returns it), never
    crashing a consumer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, time
from typing import Any, Final, Protocol

from ivr.calendar import Holiday, HolidayCalendar

__all__ = [
    "KEYS",
    "Effective",
    "RuntimeSettings",
    "RuntimeSettingsStore",
    "SettingProblem",
    "StoredSetting",
    "effective",
    "ivr_overrides",
    "settings_json",
    "to_json",
    "validate",
    "validate_changes",
]

KEYS: Final = ("answer_rate_pct", "service_level_s", "long_wait_s", "day_floor",
               "night_floor", "business_hours", "holidays", "workdays")
MAX_HOLIDAYS: Final = 200
MAX_WORKDAYS: Final = 100
MAX_HOLIDAY_DAYS: Final = 60
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """The values in force. ``overridden``: the keys whose value was stored (R1)."""

    answer_rate_target: float = 0.90  # a fraction
    service_level_s: float = 20.0
    long_wait_s: float = 60.0
    day_floor: int = 8
    night_floor: int = 2
    day_start: time = time(8, 0)
    day_end: time = time(20, 0)
    holidays: tuple[Holiday, ...] = ()
    workdays: frozenset[date] = frozenset()
    overridden: frozenset[str] = frozenset()

    @property
    def calendar(self) -> HolidayCalendar:
        return HolidayCalendar(self.holidays, self.workdays)


@dataclass(frozen=True, slots=True)
class StoredSetting:
    """One stored value (its JSON form) and who stored it when (an aware datetime)."""

    key: str
    value: Any
    updated_by: str
    updated_at: Any


class RuntimeSettingsStore(Protocol):
    """Where stored settings live (``callcenter.runtime_settings_store``)."""

    async def load(self) -> dict[str, StoredSetting]:
        """Every stored setting by key; raises DatabaseUnavailable."""

    async def save(self, values: Mapping[str, Any], reset: Sequence[str], *, actor: str,
                   at: Any) -> None:
        """Store ``values`` (JSON forms) and forget ``reset`` in one transaction."""


class SettingProblem(ValueError):
    """A value that breaks a rule (R2, R3): ``key`` and the explanation in both languages."""

    def __init__(self, key: str, zh: str, en: str) -> None:
        super().__init__(f"{key}: {en}")
        self.key = key
        self.zh = zh
        self.en = en

    def message(self, locale: str) -> str:
        return self.zh if locale == "zh-CN" else self.en


# --------------------------------------------------------------------------- validation


def _number(key: str, raw: Any, low: float, high: float, *, integer: bool = False) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise SettingProblem(key, "需要一个数字", "expected a number")
    if integer and raw != int(raw):
        raise SettingProblem(key, "需要一个整数", "expected a whole number")
    if not low <= raw <= high:
        lo, hi = (int(low), int(high)) if integer or low == int(low) else (low, high)
        raise SettingProblem(key, f"须在 {lo} 到 {hi} 之间", f"must be between {lo} and {hi}")
    return float(raw)


def _hhmm(key: str, raw: Any) -> time:
    if not isinstance(raw, str) or not _HHMM.match(raw):
        raise SettingProblem(key, "时间格式须为 HH:MM（如 08:00）",
                             "time must be HH:MM (e.g. 08:00)")
    hours, minutes = raw.split(":")
    return time(int(hours), int(minutes))


def _date(key: str, raw: Any) -> date:
    if not isinstance(raw, str) or not _DATE.match(raw):
        raise SettingProblem(key, f"日期格式须为 YYYY-MM-DD，收到 {str(raw)[:20]!r}",
                             f"date must be YYYY-MM-DD, got {str(raw)[:20]!r}")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise SettingProblem(key, f"日期 {raw} 不存在", f"{raw} is not a date") from None
    if not 2000 <= day.year <= 2100:
        raise SettingProblem(key, "日期须在 2000 年到 2100 年之间",
                             "dates must lie between 2000 and 2100")
    return day


def _holidays(raw: Any) -> tuple[Holiday, ...]:
    key = "holidays"
    if not isinstance(raw, list):
        raise SettingProblem(key, "需要节假日列表", "expected a list of holidays")
    if len(raw) > MAX_HOLIDAYS:
        raise SettingProblem(key, f"最多 {MAX_HOLIDAYS} 个节假日",
                             f"at most {MAX_HOLIDAYS} holidays")
    out = []
    for n, item in enumerate(raw, start=1):
        where = f"{key}[{n}]"
        if not isinstance(item, dict) or set(item) - {"name", "start", "end"}:
            raise SettingProblem(where, "每个节假日须有 name、start、end",
                                 "each holiday has exactly name, start and end")
        name = item.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 60:
            raise SettingProblem(where, "名称须为 1 到 60 个字符",
                                 "the name must be 1 to 60 characters")
        start = _date(where, item.get("start"))
        end = _date(where, item.get("end"))
        if end < start:
            raise SettingProblem(where, f"“{name.strip()}”的结束日期早于开始日期",
                                 f"{name.strip()!r} ends before it starts")
        if (end - start).days + 1 > MAX_HOLIDAY_DAYS:
            raise SettingProblem(where, f"一个节假日最长 {MAX_HOLIDAY_DAYS} 天",
                                 f"a holiday lasts at most {MAX_HOLIDAY_DAYS} days")
        out.append(Holiday(name.strip(), start, end))
    return tuple(sorted(out, key=lambda h: (h.start, h.end, h.name)))


def _workdays(raw: Any) -> frozenset[date]:
    if not isinstance(raw, list):
        raise SettingProblem("workdays", "需要日期列表", "expected a list of dates")
    if len(raw) > MAX_WORKDAYS:
        raise SettingProblem("workdays", f"最多 {MAX_WORKDAYS} 个调休上班日",
                             f"at most {MAX_WORKDAYS} make-up working days")
    return frozenset(_date("workdays", d) for d in raw)


def validate(key: str, raw: Any) -> Any:
    """The Python value of ``raw`` (the JSON form) for ``key``; raises :class:`SettingProblem`.

    ``answer_rate_pct`` gives a fraction, ``business_hours`` a ``(start, end)`` pair of
    times, ``holidays`` a sorted tuple of :class:`~ivr.calendar.Holiday`, ``workdays`` a
    frozenset of dates."""
    if key == "answer_rate_pct":
        return _number(key, raw, 1, 100) / 100
    if key in ("service_level_s", "long_wait_s"):
        return _number(key, raw, 1, 3600)
    if key in ("day_floor", "night_floor"):
        return int(_number(key, raw, 0, 1000, integer=True))
    if key == "business_hours":
        if not isinstance(raw, dict) or set(raw) != {"start", "end"}:
            raise SettingProblem(key, "需要开始和结束时间", "expected a start and an end time")
        start, end = _hhmm(key, raw["start"]), _hhmm(key, raw["end"])
        if not start < end:
            raise SettingProblem(key, "开始时间须早于结束时间（夜间从结束时间到次日开始时间）",
                                 "the start must be before the end (the night runs from "
                                 "the end to the next day's start)")
        return (start, end)
    if key == "holidays":
        return _holidays(raw)
    if key == "workdays":
        return _workdays(raw)
    raise SettingProblem(key, "没有这个设置项", "no such setting")


_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "answer_rate_pct": ("answer_rate_target",), "service_level_s": ("service_level_s",),
    "long_wait_s": ("long_wait_s",), "day_floor": ("day_floor",),
    "night_floor": ("night_floor",), "business_hours": ("day_start", "day_end"),
    "holidays": ("holidays",), "workdays": ("workdays",),
}


def _apply(settings: RuntimeSettings, key: str, value: Any) -> RuntimeSettings:
    names = _FIELDS[key]
    values = value if len(names) > 1 else (value,)
    return replace(settings, overridden=settings.overridden | {key},
                   **dict(zip(names, values, strict=True)))


def validate_changes(changes: Mapping[str, Any], reset: Sequence[str] = ()
                     ) -> dict[str, Any]:
    """Check a whole change (R2): the JSON forms to store, normalised (holidays sorted,
    names trimmed, workdays sorted). Raises :class:`SettingProblem` for the first bad one."""
    for key in reset:
        if key not in KEYS:
            raise SettingProblem(str(key)[:40], "没有这个设置项", "no such setting")
    out = {}
    for key, raw in changes.items():
        if key not in KEYS:
            raise SettingProblem(str(key)[:40], "没有这个设置项", "no such setting")
        if key in reset:
            raise SettingProblem(key, "不能同时修改和恢复默认", "cannot both change and reset")
        out[key] = to_json(key, validate(key, raw))
    return out


def to_json(key: str, value: Any) -> Any:
    """The JSON form of a value :func:`validate` returned for ``key``."""
    if key == "answer_rate_pct":
        return round(value * 100, 2)
    if key == "business_hours":
        start, end = value
        return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
    if key == "holidays":
        return [{"name": h.name, "start": h.start.isoformat(), "end": h.end.isoformat()}
                for h in value]
    if key == "workdays":
        return sorted(d.isoformat() for d in value)
    if key in ("day_floor", "night_floor"):
        return int(value)
    return value


def settings_json(settings: RuntimeSettings) -> dict[str, Any]:
    """Every key's JSON form as in force."""
    return {
        "answer_rate_pct": to_json("answer_rate_pct", settings.answer_rate_target),
        "service_level_s": settings.service_level_s, "long_wait_s": settings.long_wait_s,
        "day_floor": settings.day_floor, "night_floor": settings.night_floor,
        "business_hours": to_json("business_hours", (settings.day_start, settings.day_end)),
        "holidays": to_json("holidays", settings.holidays),
        "workdays": to_json("workdays", settings.workdays),
    }


def ivr_overrides(settings: RuntimeSettings
                  ) -> tuple[tuple[time, time] | None, HolidayCalendar | None]:
    """What the IVR's ``MenuRegistry.override`` takes: the business hours and the holiday
    calendar when an administrator changed them, else None (the files' stay in force, reloads
    of the files included)."""
    hours = ((settings.day_start, settings.day_end)
             if "business_hours" in settings.overridden else None)
    calendar = settings.calendar if {"holidays", "workdays"} & settings.overridden else None
    return hours, calendar


@dataclass(frozen=True, slots=True)
class Effective:
    """:func:`effective`'s answer: the settings and the stored values it ignored (R4)."""

    settings: RuntimeSettings
    ignored: tuple[SettingProblem, ...] = field(default=())


def effective(defaults: RuntimeSettings, stored: Mapping[str, Any]) -> Effective:
    """``defaults`` (the files' values) with each valid stored JSON value on top (R1, R4)."""
    out = replace(defaults, overridden=frozenset())
    ignored = []
    for key in KEYS:
        if key not in stored:
            continue
        try:
            out = _apply(out, key, validate(key, stored[key]))
        except SettingProblem as problem:
            ignored.append(problem)
    return Effective(out, tuple(ignored))
