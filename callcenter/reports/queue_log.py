"""Asterisk's own ``queue_log``, read into KPI facts (pure): the cross-check of our figures.

A line is ``epoch|callid|queue|agent|event|data1|data2|...``; ``callid`` is the caller
channel's Uniqueid, ``agent`` the member name (``Agent 8001``). Real lines::

    1795330149|1795330137.1|aftersales|NONE|ENTERQUEUE||13800138000|1
    1795330151|1795330137.1|aftersales|Agent 8001|CONNECT|2|1795330149.2|2
    1795330163|1795330137.1|aftersales|Agent 8001|COMPLETECALLER|2|12|1
    1795330225|1795330205.1|aftersales|NONE|ABANDON|1|1|8

Two views:

* :func:`entries`: Asterisk's view, one fact per queue *entry* (a transferred caller is
  offered twice, once in each queue, and both entries report talk time up to the final
  hang-up);
* :func:`calls`: our view (kpi rule R7), one fact per caller: first arrival, the last queue,
  answered if any entry was, the first answer's wait, the answered entries' talk time; a
  caller whose last entry ended ``EXITWITHKEY`` left the queue with the call-back key (our
  queues' only exit key, ``[cc-queue-exit]``) and did not come back: ``callback_requested``
  (kpi rule R11; capture ``12-queue-callback``: ``EXITWITHKEY|1|1|1|2``).

``CONNECT`` data1 = hold time; ``COMPLETECALLER``/``COMPLETEAGENT`` data1 = hold, data2 =
talk; ``ABANDON`` data3 = wait; ``EXITWITHTIMEOUT``/``EXITEMPTY``/``EXITWITHKEY`` = the caller
left this queue unanswered (overflow: usually to another queue); ``TRANSFER`` data3 = hold,
data4 = talk. Malformed lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from callcenter.reports.kpi import CallFact

__all__ = ["QueueEntry", "QueueLine", "calls", "entries", "entry_facts", "parse"]

_UNANSWERED_EXITS = frozenset({"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"})
_ENDS = frozenset({"COMPLETECALLER", "COMPLETEAGENT", "TRANSFER"})


@dataclass(frozen=True, slots=True)
class QueueLine:
    at: datetime
    call_id: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One caller's stay in one queue."""

    call_id: str
    queue: str
    entered_at: datetime
    agent: str = ""
    wait_s: float = 0.0
    talk_s: float = 0.0
    answered: bool = False
    exit: str = ""  # the event that ended the stay (ABANDON, COMPLETECALLER, ...)


def parse(text: str) -> list[QueueLine]:
    """The lines of a queue_log file (malformed ones skipped)."""
    out = []
    for raw in text.splitlines():
        parts = raw.strip().split("|")
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        out.append(QueueLine(datetime.fromtimestamp(int(parts[0]), UTC), parts[1], parts[2],
                             parts[3], parts[4], tuple(parts[5:])))
    return out


def _agent(member: str) -> str:
    return member.removeprefix("Agent ").strip() if member != "NONE" else ""


def _num(data: tuple[str, ...], i: int) -> float:
    try:
        return float(data[i])
    except (IndexError, ValueError):
        return 0.0


def entries(lines: Iterable[QueueLine]) -> list[QueueEntry]:
    """Asterisk's view: every queue entry, in order of arrival."""
    open_: dict[tuple[str, str], QueueEntry] = {}
    done: list[QueueEntry] = []
    for line in lines:
        key = (line.call_id, line.queue)
        if line.event == "ENTERQUEUE":
            open_[key] = QueueEntry(line.call_id, line.queue, line.at)
            continue
        entry = open_.get(key)
        if entry is None:
            continue
        if line.event == "CONNECT":
            open_[key] = replace(entry, agent=_agent(line.agent), answered=True,
                                 wait_s=_num(line.data, 0))
        elif line.event in _ENDS:
            talk = _num(line.data, 3 if line.event == "TRANSFER" else 1)
            done.append(replace(entry, talk_s=talk, exit=line.event))
            del open_[key]
        elif line.event in _UNANSWERED_EXITS:
            wait = _num(line.data, 2) if line.event == "ABANDON" else \
                (line.at - entry.entered_at).total_seconds()
            done.append(replace(entry, wait_s=wait, exit=line.event))
            del open_[key]
    return sorted(done, key=lambda e: (e.entered_at, e.call_id, e.queue))


def entry_facts(found: Iterable[QueueEntry]) -> list[CallFact]:
    """Asterisk's view as KPI facts (one per entry; an overflow exit counts as abandoned)."""
    return [CallFact(key=f"{e.call_id}@{e.queue}", queue=e.queue, agent=e.agent,
                     arrived_at=e.entered_at,
                     outcome="answered" if e.answered else "abandoned",
                     wait_s=e.wait_s, talk_s=e.talk_s) for e in found]


def calls(found: Iterable[QueueEntry]) -> list[CallFact]:
    """Our view (kpi rule R7): one fact per caller."""
    by_call: dict[str, list[QueueEntry]] = {}
    for e in found:
        by_call.setdefault(e.call_id, []).append(e)
    # A blind transfer: both entries' COMPLETECALLER come at the final hang-up, so the first
    # answered entry's talk already covers the whole conversation (the longest one is it).
    out = []
    for call_id, stays in by_call.items():
        first, last = stays[0], stays[-1]
        answered = [e for e in stays if e.answered]
        if answered:
            # The first answer's wait, counted from the first arrival (as our tracker does).
            took = answered[0]
            wait = (took.entered_at - first.entered_at).total_seconds() + took.wait_s
            agent = answered[-1].agent
        else:
            wait = (last.entered_at - first.entered_at).total_seconds() + last.wait_s
            agent = ""
        outcome = "answered" if answered else \
            "callback_requested" if last.exit == "EXITWITHKEY" else "abandoned"
        out.append(CallFact(key=call_id, queue=last.queue, agent=agent,
                            arrived_at=first.entered_at, outcome=outcome, wait_s=wait,
                            talk_s=max((e.talk_s for e in answered), default=0.0),
                            transferred=len(stays) > 1))
    return sorted(out, key=lambda f: (f.arrived_at, f.key))
