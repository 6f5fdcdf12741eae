"""The shift rule: which bands are at work, which queues an agent logs in to, and that at every
hour of the day each queue the IVR routes to has members among the agents on shift."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.demo_data import generate
from callcenter.domain import HOTLINE_QUEUES, Role
from callcenter.shifts import NIGHT_QUEUE, SHIFT_BANDS, bands_on_duty, login_queues
from ivr.calendar import ServiceMode, service_mode
from ivr.menu_config import QueueNode, load_holidays, load_menu

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("account", "logs_in_to"), [
    (("aftersales", "presales"), ("aftersales", "presales", "night")),
    (("presales",), ("presales", "night")),
    (("aftersales", "complaints", "techsupport", "presales"),
     ("aftersales", "complaints", "techsupport", "presales", "night")),
    (("complaints",), ("complaints",)),
    (("techsupport", "complaints"), ("techsupport", "complaints")),
    (("night",), ("night",)),
    (("night", "aftersales"), ("night", "aftersales")),
    ((" aftersales ", "", "aftersales"), ("aftersales", "night")),
    ((), ()),
])
def test_agents_of_the_general_queues_also_log_in_to_night(
        account: tuple[str, ...], logs_in_to: tuple[str, ...]) -> None:
    assert login_queues(account) == logs_in_to


@pytest.mark.parametrize(("at", "bands"), [
    (time(7, 59), ("night",)),
    (time(8, 0), ("day",)),
    (time(9, 0), ("day", "late")),
    (time(19, 59), ("day", "late")),
    (time(20, 0), ("late", "night")),
    (time(20, 30), ("late", "night")),
    (time(21, 0), ("night",)),
    (time(3, 0), ("night",)),
    (time(0, 0), ("night",)),
])
def test_the_regulations_bands_overlap_in_the_evening(at: time, bands: tuple[str, ...]) -> None:
    assert tuple(b.name for b in bands_on_duty(at)) == bands


def test_night_is_one_of_the_hotlines_queues() -> None:
    assert NIGHT_QUEUE in HOTLINE_QUEUES
    assert set(login_queues(HOTLINE_QUEUES)) == set(HOTLINE_QUEUES)


def half_hours(day: date) -> list[datetime]:
    start = datetime.combine(day, time(0, 0), SHANGHAI)
    return [start + timedelta(minutes=30 * i) for i in range(48)]


@pytest.mark.parametrize("day", [date(2026, 11, 23), date(2026, 11, 28), date(2026, 10, 2)],
                         ids=["weekday", "saturday", "national-day"])
def test_at_every_hour_the_queues_the_ivr_routes_to_have_agents_on_shift(day: date) -> None:
    """The hotline menu's queue nodes (and the dialplan's fallback ``aftersales``), mapped by the
    service mode of each half hour, are all among the queues the on-shift demo agents log in
    to; at night every general agent alone can take every call."""
    menu = load_menu()
    holidays = load_holidays()
    targets = {n.queue for n in menu.nodes.values() if isinstance(n, QueueNode)} | {"aftersales"}
    agents = [u.queues for u in generate(merchants=1).users if u.role is Role.AGENT]
    general_agent = login_queues(("aftersales", "presales"))
    for moment in half_hours(day):
        assert bands_on_duty(moment.time()), f"nobody on shift at {moment:%H:%M}"
        mode = service_mode(moment, menu.schedule, holidays)
        routed = {menu.queue_in_mode(q, mode) for q in targets}
        staffed = {q for account in agents for q in login_queues(account)}
        assert routed <= staffed, f"{moment:%H:%M} ({mode}): nobody in {routed - staffed}"
        if mode is ServiceMode.NIGHT:
            assert routed == {NIGHT_QUEUE}
            assert routed <= set(general_agent), f"{moment:%H:%M}: a general agent misses it"


def test_the_ivrs_night_hours_are_the_night_bands_hours() -> None:
    menu = load_menu()
    night_band = next(b for b in SHIFT_BANDS if b.name == "night")
    assert (night_band.start, night_band.end) == (menu.schedule.day_end, menu.schedule.day_start)


def test_the_demo_queues_table_has_every_hotline_queue_and_every_demo_agent_joins_night() -> None:
    data = generate(merchants=1)
    assert {name for name, _zh, _en in data.queues} == set(HOTLINE_QUEUES)
    assert ("night", "夜间值班", "Night shift") in data.queues
    agents = [u for u in data.users if u.role is Role.AGENT]
    assert len(agents) == 15
    assert all(NIGHT_QUEUE in login_queues(u.queues) for u in agents)
