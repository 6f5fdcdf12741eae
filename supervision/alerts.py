"""The wallboard's standing alerts (pure): what is still open in the business and speech
records, as the wallboard shows it at page load and after every change.

Rules
-----
S1  The live alerts of ``supervision.wallboard`` (staffing, answer rate, long wait) are
    conditions of the CTI's state. The standing alerts are conditions of the stored records,
    raised elsewhere the moment they happen (``callcenter.business``: complaints, complaint
    clocks, dead letters; ``speech.worker``: keywords heard) and still true until someone
    resolves them: a supervisor who opens the wallboard after the push sees them too.
S2  A complaint stands while it is open (not closed) and runs a clock that is not met
    (``running``: still within its limit, or ``overdue``). The clocks are the class-2
    escalation clocks of ``sla.complaint_clocks`` (report to the supervisor within 30
    minutes, temporary solution within 1 hour, second-line ticket within 30 minutes); met
    clocks are left out. Reporting, solving and closing (``complaint_step``) make them go.
    A complaint that went to the top tier at once (over 5,000 yuan or media exposure:
    ``sla.needs_top_tier``) stands while open, and for ``TOP_TIER_FOR`` after it was made
    when it was settled on the phone (class 1: closed when made), as on ``/alerts``.
S3  A dead-lettered delivery stands until it is requeued (it is then no longer ``dead``).
S4  A speech alert (keywords heard in a call's transcripts) stands for the local day it was
    raised; the newest ``SPEECH_LIMIT`` are shown, one per call.
S5  Each standing alert has a ``key`` (``complaint:<id>``, ``dead_letter:<outbox id>``,
    ``speech:<linked id>``); overdue complaints first, then top-tier ones, then by time.
S6  What makes the standing alerts worth reading again: a message another feature published
    (:func:`changes_standing`): a complaint recorded or stepped, a clock lapsed, a delivery
    that died or was requeued, keywords heard.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from callcenter.business.sla import ClockState, complaint_clocks, needs_top_tier
from callcenter.topics import BOARD_TOPIC, WALLBOARD_TOPIC
from supervision.ports import StandingState

__all__ = ["SPEECH_LIMIT", "TOP_TIER_FOR", "changes_standing", "standing_alerts"]

SPEECH_LIMIT: Final = 20
TOP_TIER_FOR: Final = timedelta(days=1)
_OPEN_CLOCK: Final = frozenset({ClockState.RUNNING, ClockState.OVERDUE})
_BUSINESS_ALERTS: Final = frozenset({"complaint", "complaint_clock", "dead_letter"})


def _complaints(state: StandingState, now: datetime) -> list[dict[str, Any]]:
    out = []
    for case in state.complaints:
        c = case.complaint
        settled_at_once = c.closed_at is not None and c.closed_at <= c.created_at
        if c.closed_at is not None and not settled_at_once:
            continue  # closed by a supervisor
        clocks = [k for k in complaint_clocks(
            complaint_class=c.complaint_class, created_at=c.created_at,
            reported_at=c.reported_at, temporary_solution_at=c.temporary_solution_at,
            second_line_at=case.second_line_at, closed_at=c.closed_at, now=now)
            if k.state in _OPEN_CLOCK]
        top = needs_top_tier(c.amount_yuan, c.media_exposure) and (
            c.closed_at is None or now - c.created_at < TOP_TIER_FOR)
        if not clocks and not top:
            continue
        out.append({
            "key": f"complaint:{c.id}", "alert": "complaint", "complaint_id": c.id,
            "task_number": case.task_number, "merchant_name": case.merchant_name,
            "class": c.complaint_class, "escalation_tier": c.escalation_tier,
            "top_tier": top, "at": c.created_at.isoformat(),
            "overdue": any(k.state is ClockState.OVERDUE for k in clocks),
            "clocks": [{"clock": k.name.value, "state": k.state.value,
                        "due_at": k.due_at.isoformat(), "due": k.due_at.timestamp()}
                       for k in sorted(clocks, key=lambda k: k.due_at)],
        })
    out.sort(key=lambda a: (not a["overdue"], not a["top_tier"], a["at"]))
    return out


def standing_alerts(state: StandingState, now: datetime) -> list[dict[str, Any]]:
    """The standing alerts (S1-S5) of ``state`` at ``now``, as wallboard JSON."""
    out = _complaints(state, now)
    for dead in state.dead_letters:
        entry = dead.entry
        out.append({"key": f"dead_letter:{entry.id}", "alert": "dead_letter",
                    "outbox_id": entry.id, "task_number": dead.task_number,
                    "at": entry.dead_at.isoformat() if entry.dead_at else None,
                    "error": entry.last_error[:200]})
    seen: set[str] = set()
    for speech in state.speech:
        if speech.linked_id in seen or len(seen) >= SPEECH_LIMIT:
            continue
        seen.add(speech.linked_id)
        out.append({"key": f"speech:{speech.linked_id}", "alert": "speech",
                    "linked_id": speech.linked_id, "recording": speech.recording,
                    "keywords": list(speech.keywords), "hits": list(speech.hits),
                    "at": speech.at.isoformat()})
    return out


def changes_standing(topic: str, message: Mapping[str, Any]) -> bool:
    """Whether ``message`` published on ``topic`` may change the standing alerts (S6)."""
    kind = message.get("type")
    if topic == WALLBOARD_TOPIC:
        return kind == "speech_alert" or (kind == "alert"
                                          and message.get("alert") in _BUSINESS_ALERTS)
    if topic == BOARD_TOPIC:
        # a delivery that died (also announced as an alert) or a dead letter requeued
        return kind == "complaint" or (kind == "delivery"
                                       and message.get("state") != "delivered")
    return False
