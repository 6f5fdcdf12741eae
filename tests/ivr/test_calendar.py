"""Service mode (day / night / holiday) of the 7×24 hotline; pure, the moment is passed in."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ivr.calendar import Holiday, HolidayCalendar, Schedule, ServiceMode, service_mode
from ivr.menu_config import load_holidays, load_menu

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
SCHEDULE = Schedule()
NATIONAL_DAY = HolidayCalendar(
    (Holiday("国庆节", date(2026, 10, 1), date(2026, 10, 7)),), frozenset({date(2026, 10, 10)})
)


def at(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int = 0,
    *,
    tz: ZoneInfo = SHANGHAI,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=tz)


@pytest.mark.parametrize(
    ("moment", "mode"),
    [
        (at(2026, 11, 23, 10, 0), ServiceMode.DAY),  # Monday morning
        (at(2026, 11, 23, 7, 59), ServiceMode.NIGHT),
        (at(2026, 11, 23, 8, 0), ServiceMode.DAY),  # day_start is inclusive
        (at(2026, 11, 23, 19, 59, 59), ServiceMode.DAY),
        (at(2026, 11, 23, 20, 0), ServiceMode.NIGHT),  # day_end is exclusive
        (at(2026, 11, 23, 0, 0), ServiceMode.NIGHT),
        (at(2026, 11, 22, 11, 0), ServiceMode.DAY),  # Sunday: 7×24, an ordinary day
        (at(2026, 10, 3, 11, 0), ServiceMode.HOLIDAY),
        (at(2026, 10, 1, 8, 0), ServiceMode.HOLIDAY),  # first day of the holiday
        (at(2026, 10, 7, 19, 0), ServiceMode.HOLIDAY),  # last day (inclusive)
        (at(2026, 10, 8, 9, 0), ServiceMode.DAY),
        (at(2026, 10, 3, 22, 0), ServiceMode.NIGHT),  # night wins over holiday
        (at(2026, 10, 1, 0, 30, tz=UTC), ServiceMode.HOLIDAY),  # 08:30 in Shanghai
        (at(2026, 9, 30, 23, 30, tz=UTC), ServiceMode.NIGHT),  # 07:30 on Oct 1 in Shanghai
        (at(2026, 11, 23, 11, 59, tz=UTC), ServiceMode.DAY),  # 19:59 in Shanghai
        (at(2026, 11, 23, 12, 0, tz=UTC), ServiceMode.NIGHT),  # 20:00 in Shanghai
    ],
)
def test_service_mode_at_a_moment(moment: datetime, mode: ServiceMode) -> None:
    assert service_mode(moment, SCHEDULE, NATIONAL_DAY) is mode


def test_weekends_are_holidays_when_the_schedule_leaves_them_out() -> None:
    weekdays_only = Schedule(service_weekdays=frozenset({1, 2, 3, 4, 5}))
    assert (
        service_mode(at(2026, 11, 21, 10, 0), weekdays_only, NATIONAL_DAY) is ServiceMode.HOLIDAY
    )  # Saturday
    # Saturday 2026-10-10 is a make-up working day (调休上班)
    assert service_mode(at(2026, 10, 10, 10, 0), weekdays_only, NATIONAL_DAY) is ServiceMode.DAY


def test_make_up_working_days_change_nothing_with_seven_day_service() -> None:
    assert service_mode(at(2026, 10, 10, 10, 0), SCHEDULE, NATIONAL_DAY) is ServiceMode.DAY


def test_custom_day_window() -> None:
    late = Schedule(day_start=time(9, 0), day_end=time(21, 0))
    assert service_mode(at(2026, 11, 23, 8, 30), late, HolidayCalendar()) is ServiceMode.NIGHT
    assert service_mode(at(2026, 11, 23, 20, 30), late, HolidayCalendar()) is ServiceMode.DAY


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        service_mode(datetime(2026, 11, 23, 10, 0), SCHEDULE, NATIONAL_DAY)


def test_day_window_must_not_be_empty_or_reversed() -> None:
    with pytest.raises(ValueError, match="before day_end"):
        Schedule(day_start=time(20, 0), day_end=time(8, 0))


def test_holiday_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="ends"):
        Holiday("x", date(2026, 10, 7), date(2026, 10, 1))


def test_holiday_lookup_names_the_holiday() -> None:
    holiday = NATIONAL_DAY.holiday_on(date(2026, 10, 2))
    assert holiday is not None and holiday.name == "国庆节"
    assert NATIONAL_DAY.holiday_on(date(2026, 10, 8)) is None


def test_builtin_calendar_and_schedule_give_holiday_mode_during_spring_festival() -> None:
    schedule = load_menu().schedule
    holidays = load_holidays()
    assert service_mode(at(2026, 2, 17, 10, 0), schedule, holidays) is ServiceMode.HOLIDAY
    assert service_mode(at(2026, 2, 17, 21, 0), schedule, holidays) is ServiceMode.NIGHT
    assert service_mode(at(2027, 10, 2, 10, 0), schedule, holidays) is ServiceMode.HOLIDAY
    assert service_mode(at(2026, 3, 2, 10, 0), schedule, holidays) is ServiceMode.DAY
