"""Service mode of the 7×24 hotline at a given moment: DAY, NIGHT or HOLIDAY.

Pure: the moment is passed in (an aware datetime), the schedule and the holiday calendar are
data loaded by :mod:`ivr.menu_config`. The rules, in order:

1. Outside the day window (``day_start`` ≤ local time < ``day_end``) it is NIGHT, every day
   of the year. Night staffing (at least 2 agents overnight) is the thinnest, so night wins
   over holiday.
2. Inside the day window, a date inside a statutory holiday (法定节假日) is HOLIDAY.
3. Inside the day window, a weekday not listed in ``service_weekdays`` is HOLIDAY too, unless
   the calendar lists the date as a make-up working day (调休上班). With the default
   ``service_weekdays = [1..7]`` weekends are ordinary days and make-up days change nothing.
4. Otherwise DAY.

Local time is the schedule's time zone (``Asia/Shanghai``): a call at 2026-10-01 00:30 UTC is
08:30 in Shanghai, a holiday morning, not the night before.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum

ISO_WEEKDAYS = frozenset(range(1, 8))


class ServiceMode(StrEnum):
    """Which variant of the menu a call gets."""

    DAY = "day"
    NIGHT = "night"
    HOLIDAY = "holiday"


@dataclass(frozen=True, slots=True)
class Schedule:
    """The daily staffing window in local time. ``day_end`` is exclusive."""

    timezone: str = "Asia/Shanghai"
    day_start: time = time(8, 0)
    day_end: time = time(20, 0)
    service_weekdays: frozenset[int] = ISO_WEEKDAYS  # ISO: 1 = Monday … 7 = Sunday

    def __post_init__(self) -> None:
        if not self.day_start < self.day_end:
            raise ValueError(
                f"day_start {self.day_start:%H:%M} must be before day_end {self.day_end:%H:%M}"
            )
        if not self.service_weekdays <= ISO_WEEKDAYS:
            raise ValueError(f"service_weekdays must be within 1..7, got {self.service_weekdays}")


@dataclass(frozen=True, slots=True)
class Holiday:
    """A statutory holiday, both ends inclusive (``2026-10-01`` … ``2026-10-07``)."""

    name: str
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"holiday {self.name!r} ends ({self.end}) before it starts")

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    """Holidays and make-up working days (调休: a weekend day that is worked)."""

    holidays: tuple[Holiday, ...] = ()
    workdays: frozenset[date] = frozenset()

    def holiday_on(self, day: date) -> Holiday | None:
        for holiday in self.holidays:
            if holiday.covers(day):
                return holiday
        return None


def local_time(now: datetime, schedule: Schedule) -> datetime:
    """``now`` in the schedule's time zone; a naive datetime is refused (ValueError)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"service_mode needs an aware datetime, got naive {now.isoformat()}")
    return now.astimezone(zoneinfo.ZoneInfo(schedule.timezone))


def service_mode(now: datetime, schedule: Schedule, calendar: HolidayCalendar) -> ServiceMode:
    """The mode at ``now`` (see the module docstring for the rules)."""
    local = local_time(now, schedule)
    if not schedule.day_start <= local.time() < schedule.day_end:
        return ServiceMode.NIGHT
    today = local.date()
    if calendar.holiday_on(today) is not None:
        return ServiceMode.HOLIDAY
    if today.isoweekday() not in schedule.service_weekdays and today not in calendar.workdays:
        return ServiceMode.HOLIDAY
    return ServiceMode.DAY
