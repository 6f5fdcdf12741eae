"""The KPI rules of docs/kpi.md, table-driven on facts (no database, no event loop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.reports.kpi import (
    CallFact,
    KpiPolicy,
    Tally,
    Targets,
    against,
    kpis,
    repeat_flags,
    tally_of,
    total,
)
from callcenter.reports.periods import Cell, Group, cell_start, group_cells, group_key

T0 = datetime(2027, 1, 4, 0, 7, tzinfo=UTC)  # 08:07 in Shanghai, a Monday
TZ = ZoneInfo("Asia/Shanghai")
POLICY = KpiPolicy()


def fact(outcome: str, wait: float = 0.0, talk: float = 0.0, **more: object) -> CallFact:
    return CallFact(key="k", queue="aftersales", agent="8001" if outcome == "answered" else "",
                    arrived_at=T0, outcome=outcome, wait_s=wait, talk_s=talk,
                    **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(("call", "expected"), [
    # R5: answered within the service level
    (fact("answered", 20.0, 60.0), Tally(calls=1, offered=1, answered=1, answered_in_sl=1,
                                          wait_answered_s=20.0, talk_s=60.0)),
    # R5: answered after it
    (fact("answered", 20.5, 60.0), Tally(calls=1, offered=1, answered=1,
                                          wait_answered_s=20.5, talk_s=60.0)),
    # R6: after-call work belongs to the handling time
    (fact("answered", 1.0, 60.0, acw_s=15.0, disposition="consultation"),
     Tally(calls=1, offered=1, answered=1, answered_in_sl=1, wait_answered_s=1.0, talk_s=60.0,
           acw_s=15.0, wrapped_up=1)),
    # R3: an abandon after the short-abandon threshold is offered and abandoned
    (fact("abandoned", 5.0), Tally(calls=1, offered=1, abandoned=1, wait_abandoned_s=5.0)),
    # R4: within it, a short abandon: neither offered nor abandoned
    (fact("abandoned", 4.9), Tally(calls=1, short_abandoned=1)),
    # R11: a call-back booked from the queue: neither offered nor abandoned, however long or
    # short the wait
    (fact("callback_requested", 95.0), Tally(calls=1, callback_requested=1)),
    (fact("callback_requested", 2.0), Tally(calls=1, callback_requested=1)),
    # R2: ended in the IVR: not offered
    (fact("ivr_only"), Tally(calls=1, ivr_only=1)),
    # R1: internal legs and failed calls do not count at all
    (fact("internal"), Tally()),
    (fact("failed"), Tally()),
    (fact("nonsense"), Tally()),
    # R9: survey scores out of 1..5 are ignored; 4 and 5 are "satisfied"
    (fact("answered", 0.0, 10.0, satisfaction=4),
     Tally(calls=1, offered=1, answered=1, answered_in_sl=1, talk_s=10.0, surveyed=1,
           satisfaction_sum=4, satisfied=1)),
    (fact("answered", 0.0, 10.0, satisfaction=9),
     Tally(calls=1, offered=1, answered=1, answered_in_sl=1, talk_s=10.0)),
    # R7/R8: a transferred repeat contact
    (fact("answered", 0.0, 10.0, transferred=True, contact=True, repeat=True),
     Tally(calls=1, offered=1, answered=1, answered_in_sl=1, talk_s=10.0, transferred=1,
           contacts=1, repeats=1)),
])
def test_one_call_tallies_by_the_rules(call: CallFact, expected: Tally) -> None:
    assert tally_of(call, POLICY) == expected


def test_figures_are_ratios_of_the_summed_tallies() -> None:
    calls = [fact("answered", 10.0, 100.0, acw_s=20.0), fact("answered", 30.0, 50.0),
             fact("abandoned", 40.0), fact("abandoned", 2.0), fact("ivr_only")]
    figures = kpis(total(tally_of(c, POLICY) for c in calls))
    assert figures["offered"] == 3 == figures["answered"] + figures["abandoned"]  # type: ignore[operator]
    assert figures["short_abandoned"] == 1
    assert figures["ivr_only"] == 1
    assert figures["answer_rate"] == round(2 / 3, 4)
    assert figures["service_level"] == round(1 / 3, 4)
    assert figures["asa_s"] == 20.0
    assert figures["aht_s"] == 85.0
    assert figures["avg_abandon_wait_s"] == 40.0


def test_call_backs_requested_leave_the_answer_rate_and_service_level_denominators() -> None:
    # 9 answered within the service level, 1 abandoned, 5 call-backs booked:
    # 9 / (15 - 5) = 90 %, not 9 / 15 = 60 % (R3, R5, R11)
    calls = ([fact("answered", 10.0, 60.0)] * 9 + [fact("abandoned", 30.0)]
             + [fact("callback_requested", 120.0)] * 5)
    figures = kpis(total(tally_of(c, POLICY) for c in calls))
    assert (figures["offered"], figures["callback_requested"], figures["abandoned"]) == (10, 5, 1)
    assert figures["answer_rate"] == figures["service_level"] == 0.9
    assert figures["avg_abandon_wait_s"] == 30.0  # the call-back requesters' wait is not in it


def test_a_rate_over_no_calls_is_no_data_not_zero() -> None:
    figures = kpis(Tally())
    assert figures["answer_rate"] is None
    assert figures["asa_s"] is None
    assert figures["fcr"] is None
    assert against(figures, Targets()) == {"answer_rate": None, "service_level": None,
                                           "asa_s": None, "record_completeness": None}


def test_targets_are_met_or_missed_in_the_right_direction() -> None:
    met = against({"answer_rate": 0.9, "service_level": 0.79, "asa_s": 25.0,
                   "record_completeness": 1.0}, Targets())
    assert met == {"answer_rate": True, "service_level": False, "asa_s": False,
                   "record_completeness": True}


def test_repeat_contacts_look_back_within_the_window_per_merchant_and_problem() -> None:
    day = timedelta(days=1)
    flags = repeat_flags([
        ("a", 1, "repair", T0),
        ("b", 1, "repair", T0 + 6 * day),        # within 7 days of a: repeat
        ("c", 1, "repair", T0 + 13 * day + timedelta(hours=1)),  # > 7 days after b
        ("d", 1, "consultation", T0 + day),     # another problem
        ("e", 2, "repair", T0 + day),           # another merchant
    ], window_days=7)
    assert flags == {"a": False, "b": True, "c": False, "d": False, "e": False}


def test_fcr_is_one_minus_the_repeat_share() -> None:
    t = Tally(contacts=4, repeats=1)
    assert kpis(t)["fcr"] == 0.75
    assert kpis(t)["repeat_rate"] == 0.25


@pytest.mark.parametrize(("group", "key"), [
    (Group.INTERVAL_15, "2027-01-04 08:00"), (Group.INTERVAL_30, "2027-01-04 08:00"),
    (Group.HOUR, "2027-01-04 08:00"), (Group.HOUR_OF_DAY, "08:00"), (Group.DAY, "2027-01-04"),
    (Group.WEEK, "2027-W01"), (Group.MONTH, "2027-01"), (Group.QUEUE, "aftersales"),
    (Group.AGENT, "8001"), (Group.TOTAL, "total"),
])
def test_cells_are_keyed_in_local_time(group: Group, key: str) -> None:
    assert group_key(group, cell_start(T0), "aftersales", "8001", TZ) == key


def test_cells_that_share_a_key_are_summed() -> None:
    one = Tally(calls=1, offered=1, answered=1)
    cells = [Cell(cell_start(T0 + timedelta(minutes=m)), "aftersales", "8001", one)
             for m in (0, 15, 30, 60)]
    assert group_cells(cells, Group.INTERVAL_30, TZ) == {
        "2027-01-04 08:00": one + one, "2027-01-04 08:30": one, "2027-01-04 09:00": one}
    assert group_cells(cells, Group.DAY, TZ)["2027-01-04"].answered == 4
