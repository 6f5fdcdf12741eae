"""app_queue's rules, as pure functions over the queue records: who may be rung, in what
order, where a caller is inserted, and the statistics QueueStatus/QueueSummary report.

Rules (app_queue.c in Asterisk 22, with the lab's queues.conf):

=================  ============================================================================
rule               what the simulator does
=================  ============================================================================
available member   not paused, device not ringing or in a call (``ringinuse = no``), and its
                   wrap-up over: ``now >= last call end + wrapuptime`` (member value, or the
                   queue's when the member says 0). The last call end is per device, so the
                   wrap-up holds in every queue (``shared_lastcall = yes``).
rrmemory           ring the first available member at or after ``rr_pos`` (cyclic, in the
                   order members were added); ``rr_pos`` then points after the one rung.
linear             always the first available member in order.
leastrecent        the available member whose last call ended longest ago (never first).
fewestcalls        the available member with the fewest calls taken.
priority           a caller joins behind every caller of equal or higher ``QUEUE_PRIO`` and
                   ahead of the lower ones; ``Position`` counts from 1.
holdtime/talktime  the first completed call sets them, later ones blend in as
                   ``(3 * old + new) // 4`` (the exponential average of ``recalc_holdtime``).
service level      a call answered within ``servicelevel`` seconds counts in ServicelevelPerf;
                   ServicelevelPerf2 also counts callers who abandoned within it.
=================  ============================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from simulator.config import QueueConfig
from simulator.model import (
    DEVICE_NOT_INUSE,
    DEVICE_UNAVAILABLE,
    DEVICE_UNKNOWN,
    Device,
    Entry,
    EntryState,
    Member,
    QueueRuntime,
)


def wrapup_of(member: Member, config: QueueConfig) -> float:
    """The member's wrap-up in seconds (its own, or the queue's when 0)."""
    return float(member.wrapuptime) if member.wrapuptime > 0 else config.wrapuptime


def wrapup_ends(member: Member, device: Device | None, config: QueueConfig) -> float | None:
    """When the member's wrap-up ends, or None when it has no call behind it."""
    if device is None or device.last_call_end is None:
        return None
    return device.last_call_end + wrapup_of(member, config)


def is_available(member: Member, device: Device | None, config: QueueConfig, now: float) -> bool:
    """May this member be rung now? (see the module table)."""
    if member.paused:
        return False
    if device is not None:
        if device.call_ref is not None or device.attempt_id is not None:
            return False
        if device.status not in (DEVICE_NOT_INUSE, DEVICE_UNKNOWN):
            return False
    ends = wrapup_ends(member, device, config)
    return ends is None or now >= ends


def pick_member(queue: QueueRuntime, config: QueueConfig, devices: Mapping[str, Device],
                now: float) -> Member | None:
    """The member the strategy rings next, or None when nobody is available. Does not move
    ``rr_pos``: call :func:`rang` once the ring really starts."""
    members = queue.members
    if not members:
        return None
    available = [m for m in members if is_available(m, devices.get(m.interface), config, now)]
    if not available:
        return None
    if config.strategy == "rrmemory":
        count = len(members)
        start = queue.rr_pos % count
        for step in range(count):
            member = members[(start + step) % count]
            if member in available:
                return member
        return None
    if config.strategy == "leastrecent":
        def last_end(m: Member) -> float:
            device = devices.get(m.interface)
            end = device.last_call_end if device is not None else None
            return float("-inf") if end is None else end
        return min(available, key=last_end)
    if config.strategy == "fewestcalls":
        return min(available, key=lambda m: m.calls_taken)
    return available[0]  # linear


def rang(queue: QueueRuntime, member: Member) -> None:
    """rrmemory remembers where it left off: the next search starts after ``member``."""
    if member in queue.members:
        queue.rr_pos = (queue.members.index(member) + 1) % len(queue.members)


def removed(queue: QueueRuntime, index: int) -> None:
    """Keep ``rr_pos`` on the same next member when the member at ``index`` leaves."""
    if index < queue.rr_pos:
        queue.rr_pos -= 1
    if queue.members:
        queue.rr_pos %= len(queue.members)
    else:
        queue.rr_pos = 0


def insert(queue: QueueRuntime, entry: Entry) -> int:
    """Insert a caller by priority (FIFO among equals); returns its 1-based position."""
    index = len(queue.entries)
    for i, other in enumerate(queue.entries):
        if entry.priority > other.priority:
            index = i
            break
    queue.entries.insert(index, entry)
    entry.original_position = index + 1
    return index + 1


def leave(queue: QueueRuntime, ref: str) -> tuple[int, Entry] | None:
    """Take a caller out; returns (its position before leaving, the entry)."""
    for index, entry in enumerate(queue.entries):
        if entry.ref == ref:
            del queue.entries[index]
            return index + 1, entry
    return None


def offer_order(queues: Iterable[tuple[QueueRuntime, QueueConfig]]) -> list[tuple[str, Entry]]:
    """Callers that may be offered to a member now, in the order they get one: by queue
    weight, then priority, then who came first. (In app_queue each caller polls on its own;
    with several queues sharing members, the first to poll wins. The simulator decides it the
    same way every time.)"""
    waiting: list[tuple[int, int, int, str, Entry]] = []
    for queue, config in queues:
        for entry in queue.entries:
            if entry.state is EntryState.WAITING:
                waiting.append((-config.weight, -entry.priority, entry.seq, queue.name, entry))
    waiting.sort(key=lambda item: item[:3])
    return [(name, entry) for _, _, _, name, entry in waiting]


def blend(old: int, new: int, first: bool) -> int:
    """``recalc_holdtime``'s exponential average (integer, filter coefficient 4)."""
    return new if first else ((old << 2) - old + new) >> 2


def record_connect(queue: QueueRuntime, hold_time: int) -> None:
    """A member answered: the hold time enters the average (before the call counts)."""
    queue.holdtime = blend(queue.holdtime, hold_time, queue.completed + queue.abandoned == 0)


def record_completed(queue: QueueRuntime, talk_time: int, in_service_level: bool) -> None:
    """The member's part of the call ended (hang-up or transfer): ``update_queue``."""
    queue.completed += 1
    if in_service_level:
        queue.completed_in_sl += 1
    queue.talktime = blend(queue.talktime, talk_time, queue.completed == 1)


def record_abandoned(queue: QueueRuntime, hold_time: int, config: QueueConfig) -> None:
    queue.abandoned += 1
    if hold_time <= config.servicelevel:
        queue.abandoned_in_sl += 1


def service_level(queue: QueueRuntime) -> tuple[float, float]:
    """(ServicelevelPerf, ServicelevelPerf2) in percent."""
    perf = 100.0 * queue.completed_in_sl / queue.completed if queue.completed else 0.0
    total = queue.completed + queue.abandoned
    perf2 = 100.0 * (queue.completed_in_sl + queue.abandoned_in_sl) / total if total else 0.0
    return perf, perf2


def summary(queue: QueueRuntime, config: QueueConfig, devices: Mapping[str, Device],
            now: float) -> tuple[int, int, int, int]:
    """QueueSummary's (LoggedIn, Available, Callers, LongestHoldTime). Available ignores
    wrap-up, as Asterisk's does (scenario 06 shows Available=1 inside the wrap-up)."""
    logged_in = available = 0
    for member in queue.members:
        device = devices.get(member.interface)
        status = device.status if device is not None else DEVICE_NOT_INUSE
        if status == DEVICE_UNAVAILABLE:
            continue
        logged_in += 1
        busy = device is not None and (device.call_ref is not None or device.attempt_id is not None)
        if not member.paused and not busy and status in (DEVICE_NOT_INUSE, DEVICE_UNKNOWN):
            available += 1
    longest = max((int(now) - int(e.joined_at) for e in queue.entries), default=0)
    return logged_in, available, len(queue.entries), longest
