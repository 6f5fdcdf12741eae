"""app_queue's rules as tables: no event loop, no PBX, just the pure functions."""

from __future__ import annotations

import pytest

from simulator import queue_engine as qe
from simulator.config import QueueConfig
from simulator.model import (
    DEVICE_INUSE,
    DEVICE_NOT_INUSE,
    Device,
    Entry,
    EntryState,
    Member,
    QueueRuntime,
)

CONFIG = QueueConfig("aftersales", wrapuptime=5.0)


def queue_of(*interfaces: str) -> QueueRuntime:
    queue = QueueRuntime("aftersales")
    for interface in interfaces:
        queue.members.append(Member("aftersales", interface, interface, interface, login_time=0))
    return queue


def pick_sequence(queue: QueueRuntime, devices: dict[str, Device], rounds: int,
                  config: QueueConfig = CONFIG) -> list[str]:
    picked = []
    for _ in range(rounds):
        member = qe.pick_member(queue, config, devices, now=100.0)
        assert member is not None
        qe.rang(queue, member)
        picked.append(member.interface)
    return picked


def test_rrmemory_goes_round_in_the_order_members_were_added() -> None:
    queue = queue_of("A", "B", "C")
    assert pick_sequence(queue, {}, 5) == ["A", "B", "C", "A", "B"]


def test_rrmemory_skips_busy_paused_and_wrapping_up_members_but_remembers_its_place() -> None:
    queue = queue_of("A", "B", "C", "D")
    queue.members[1].paused = True
    devices = {"C": Device("C", DEVICE_INUSE, call_ref="x"),
               "D": Device("D", last_call_end=97.0)}  # wrap-up until 102
    assert pick_sequence(queue, devices, 3) == ["A", "A", "A"]
    queue.rr_pos = 2
    assert pick_sequence(queue, devices, 1) == ["A"]


@pytest.mark.parametrize(("last_end", "now", "available"), [
    (None, 100.0, True),
    (95.0, 99.9, False),
    (95.0, 100.0, True),
])
def test_wrapup_time_is_respected(last_end: float | None, now: float, available: bool) -> None:
    member = Member("aftersales", "A", "A", "A", login_time=0)
    device = Device("A", DEVICE_NOT_INUSE, last_call_end=last_end)
    assert qe.is_available(member, device, CONFIG, now) is available


def test_a_members_own_wrapuptime_overrides_the_queues() -> None:
    member = Member("aftersales", "A", "A", "A", login_time=0, wrapuptime=30)
    device = Device("A", last_call_end=100.0)
    assert not qe.is_available(member, device, CONFIG, 110.0)
    assert qe.is_available(member, device, CONFIG, 130.0)


def test_a_paused_member_is_never_rung() -> None:
    queue = queue_of("A")
    queue.members[0].paused = True
    assert qe.pick_member(queue, CONFIG, {}, 0.0) is None


def test_a_ringing_member_is_not_rung_twice() -> None:
    queue = queue_of("A")
    assert qe.pick_member(queue, CONFIG, {"A": Device("A", attempt_id=3)}, 0.0) is None


@pytest.mark.parametrize(("strategy", "expected"), [
    ("linear", "A"),
    ("leastrecent", "B"),   # never had a call
    ("fewestcalls", "C"),
])
def test_other_strategies(strategy: str, expected: str) -> None:
    queue = queue_of("A", "B", "C")
    queue.members[0].calls_taken, queue.members[1].calls_taken = 3, 5
    devices = {"A": Device("A", last_call_end=10.0), "C": Device("C", last_call_end=20.0)}
    config = QueueConfig("aftersales", strategy=strategy, wrapuptime=0)
    member = qe.pick_member(queue, config, devices, now=100.0)
    assert member is not None and member.interface == expected


@pytest.mark.parametrize(("priorities", "newcomer", "position"), [
    ([], 0, 1),
    ([0, 0], 0, 3),
    ([0, 0], 10, 1),
    ([10, 0], 10, 2),
    ([10, 5, 0], 5, 3),
])
def test_a_higher_priority_caller_is_inserted_ahead(priorities: list[int], newcomer: int,
                                                     position: int) -> None:
    queue = queue_of()
    for i, priority in enumerate(priorities):
        qe.insert(queue, Entry(f"c{i}", priority, 0.0, 0, i))
    entry = Entry("new", newcomer, 1.0, 0, 99)
    assert qe.insert(queue, entry) == position
    assert entry.original_position == position
    assert queue.position("new") == position


def test_higher_priority_callers_are_offered_first_then_who_came_first() -> None:
    queue = queue_of("A")
    qe.insert(queue, Entry("early", 0, 0.0, 0, 1))
    qe.insert(queue, Entry("vip", 10, 5.0, 0, 2))
    qe.insert(queue, Entry("late", 0, 6.0, 0, 3))
    ringing = Entry("ringing", 20, 0.0, 0, 0, EntryState.RINGING)
    queue.entries.append(ringing)
    order = [entry.ref for _, entry in qe.offer_order([(queue, CONFIG)])]
    assert order == ["vip", "early", "late"]


def test_removing_a_member_keeps_rrmemory_on_the_same_next_member() -> None:
    queue = queue_of("A", "B", "C")
    queue.rr_pos = 2  # C is next
    del queue.members[0]
    qe.removed(queue, 0)
    assert queue.members[queue.rr_pos].interface == "C"


@pytest.mark.parametrize(("old", "new", "first", "expected"), [
    (0, 2, True, 2),     # scenario 01: Holdtime 2 after the first call
    (2, 19, False, 6),   # (3 * 2 + 19) >> 2
    (12, 4, False, 10),
])
def test_hold_and_talk_time_averages_are_apps_queues(old: int, new: int, first: bool,
                                                      expected: int) -> None:
    assert qe.blend(old, new, first) == expected


def test_service_level_counts_answered_and_abandoned_within_it() -> None:
    queue = queue_of()
    qe.record_abandoned(queue, 8, CONFIG)  # scenario 02: Perf 0.0, Perf2 100.0
    assert qe.service_level(queue) == (0.0, 100.0)
    qe.record_connect(queue, 30)
    qe.record_completed(queue, 60, in_service_level=False)
    assert qe.service_level(queue) == (0.0, 50.0)


def test_summary_counts_logged_in_and_available_members_and_the_longest_wait() -> None:
    queue = queue_of("A", "B", "C")
    queue.members[0].paused = True
    qe.insert(queue, Entry("x", 0, 90.5, 0, 1))
    devices = {"B": Device("B", DEVICE_INUSE, call_ref="y")}
    assert qe.summary(queue, CONFIG, devices, 100.2) == (3, 1, 1, 10)
