"""Service-quality callbacks (回访): the rules. Pure: ``now`` and the time zone are passed in.

From shared/docs/domain.md, "Callbacks (回访)":

1. The business management department plans each day's callbacks; agents call per plan.
   Sources: tasks closed the day before, complaints closed (a follow-up within one month,
   《投诉后续跟踪回访表》), low satisfaction scores (1 or 2 of 5), a CSV the department
   uploads, and callers who asked to be called back from the queue. Each source item has a
   ``source_ref`` (``task:T…``, ``complaint:7``, ``survey:<linked id>``, ``csv:<day>:<n>``)
   so planning twice plans nothing twice.
2. Kinds: ``service`` (the service-quality callback, 《服务质量电话回访表》),
   ``complaint_followup`` and ``queue_callback``.
3. States: ``planned`` -> ``done`` | ``pending`` (待处理); ``pending`` -> ``done``. The
   :data:`TRANSITIONS` table is the whole machine; anything else is a Conflict.
4. The form: identity and purpose stated (both required before any answer), does the merchant
   accept the callback, the answers, the outcome, the follow-up. Outcomes:
   ``completed`` and ``refused`` finish the callback (done); ``follow_up`` (the merchant
   raised something to resolve) and ``unreachable`` leave it pending.
5. Pending must be resolved within 2 days (``sla.callback_clock``); the clock starts the
   first time the callback becomes pending and is not restarted by later attempts.
6. Unreachable: retry after 2 h, then 4 h, then the next day at 10:00 local, never after the
   2-day limit; after :data:`MAX_ATTEMPTS` (4) unreachable attempts no retry is planned and the
   clock runs out (an alert on the wallboard) unless someone resolves it.
7. Done forms go to the team lead (the supervisor role until a team-lead role exists) for
   review: ``review`` marks a done callback reviewed once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Final

from callcenter.business.sla import CALLBACK_PENDING_LIMIT, Clock, callback_clock
from callcenter.callbacks.keep_place import Request
from callcenter.errors import Conflict, ValidationError

__all__ = [
    "COMPLAINT_FOLLOWUP_DELAY",
    "COMPLAINT_FOLLOWUP_LIMIT",
    "LOW_SATISFACTION",
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "TRANSITIONS",
    "CallbackEvent",
    "CallbackForm",
    "CallbackKind",
    "CallbackState",
    "Candidate",
    "Outcome",
    "Plan",
    "Record",
    "assign",
    "complaint_followup",
    "due_for",
    "form_from_json",
    "monthly_summary",
    "parse_csv_rows",
    "pending_clock",
    "record_form",
    "retry_at",
    "review",
    "step",
]

LOW_SATISFACTION: Final = 2  # a survey score of 1 or 2 (of 5) asks for a callback
COMPLAINT_FOLLOWUP_DELAY: Final = timedelta(days=7)  # planned a week after the close …
COMPLAINT_FOLLOWUP_LIMIT: Final = timedelta(days=30)  # … due within one month
QUEUE_CALLBACK_LIMIT: Final = timedelta(hours=4)
RETRY_DELAYS: Final = (timedelta(hours=2), timedelta(hours=4))
NEXT_DAY_AT: Final = time(10, 0)
MAX_ATTEMPTS: Final = 4
WORKDAY_END: Final = time(18, 0)


class CallbackKind(StrEnum):
    SERVICE = "service"
    COMPLAINT_FOLLOWUP = "complaint_followup"
    QUEUE_CALLBACK = "queue_callback"


class CallbackState(StrEnum):
    PLANNED = "planned"
    PENDING = "pending"  # 待处理: resolved within 2 days
    DONE = "done"


class Outcome(StrEnum):
    COMPLETED = "completed"  # accepted and answered
    REFUSED = "refused"  # the merchant does not accept the callback
    FOLLOW_UP = "follow_up"  # something to resolve: pending
    UNREACHABLE = "unreachable"  # no answer / busy / switched off: pending, retry planned


class CallbackEvent(StrEnum):
    COMPLETED = "completed"
    REFUSED = "refused"
    FOLLOW_UP = "follow_up"
    UNREACHABLE = "unreachable"


TRANSITIONS: Final[Mapping[tuple[CallbackState, CallbackEvent], CallbackState]] = {
    (CallbackState.PLANNED, CallbackEvent.COMPLETED): CallbackState.DONE,
    (CallbackState.PLANNED, CallbackEvent.REFUSED): CallbackState.DONE,
    (CallbackState.PLANNED, CallbackEvent.FOLLOW_UP): CallbackState.PENDING,
    (CallbackState.PLANNED, CallbackEvent.UNREACHABLE): CallbackState.PENDING,
    (CallbackState.PENDING, CallbackEvent.COMPLETED): CallbackState.DONE,
    (CallbackState.PENDING, CallbackEvent.REFUSED): CallbackState.DONE,
    (CallbackState.PENDING, CallbackEvent.FOLLOW_UP): CallbackState.PENDING,
    (CallbackState.PENDING, CallbackEvent.UNREACHABLE): CallbackState.PENDING,
}
"""(state, event) -> next state. A done callback takes no more forms."""


def step(state: CallbackState, event: CallbackEvent) -> CallbackState:
    """The next state, or Conflict when the table has no row."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise Conflict(f"a {state.value} callback cannot take {event.value}") from None


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Record:
    """A callback as the rules see it (the storage port reads and writes these)."""

    id: int
    merchant_id: int
    kind: CallbackKind
    state: CallbackState
    planned_for: date
    due_at: datetime
    agent_number: str = ""
    purpose: str = ""
    complaint_id: int | None = None
    source_ref: str | None = None
    pending_since: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)
    result: str = ""
    completed_at: datetime | None = None
    reviewed_by: str = ""
    reviewed_at: datetime | None = None
    merchant_name: str = ""
    merchant_number: str = ""
    place: Request | None = None  # a queue call-back's kept place (keep_place.py)


def _end_of(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, WORKDAY_END, tz)


def due_for(kind: CallbackKind, planned_for: date, source_at: datetime, tz: tzinfo
            ) -> datetime:
    """When a callback is due: a service callback by the end of its planned day (18:00
    local), a complaint follow-up within one month of the close, a queue callback within
    4 hours of the request."""
    if kind is CallbackKind.COMPLAINT_FOLLOWUP:
        return source_at + COMPLAINT_FOLLOWUP_LIMIT
    if kind is CallbackKind.QUEUE_CALLBACK:
        return source_at + QUEUE_CALLBACK_LIMIT
    return _end_of(planned_for, tz)


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something that asks for a callback, before it is planned and assigned."""

    merchant_id: int
    kind: CallbackKind
    source_ref: str
    purpose: str
    source_at: datetime
    complaint_id: int | None = None
    agent_number: str = ""  # preferred agent (the one who took the call), if any


@dataclass(frozen=True, slots=True)
class Plan:
    """A new callback row: what planning inserts."""

    merchant_id: int
    kind: CallbackKind
    source_ref: str
    purpose: str
    planned_for: date
    due_at: datetime
    agent_number: str
    complaint_id: int | None = None


def complaint_followup(complaint_id: int, merchant_id: int, closed_at: datetime, tz: tzinfo
                       ) -> Plan:
    """The follow-up callback a closed complaint gets: planned a week later, due within one
    month of the close; assigned when the day is planned."""
    planned = (closed_at + COMPLAINT_FOLLOWUP_DELAY).astimezone(tz).date()
    return Plan(merchant_id=merchant_id, kind=CallbackKind.COMPLAINT_FOLLOWUP,
                source_ref=f"complaint:{complaint_id}", purpose="complaint follow-up",
                planned_for=planned,
                due_at=due_for(CallbackKind.COMPLAINT_FOLLOWUP, planned, closed_at, tz),
                agent_number="", complaint_id=complaint_id)


def assign(candidates: Iterable[Candidate], agents: Sequence[str], day: date, tz: tzinfo, *,
           load: Mapping[str, int] | None = None, known: Iterable[str] = ()) -> list[Plan]:
    """Plan ``day``'s callbacks: one per new ``source_ref`` (``known`` ones and duplicates are
    skipped), each to the least-loaded agent (``load``: callbacks they already hold that
    day), ties by agent number. A candidate's preferred agent keeps it when on the list.
    With no agents the plans stay unassigned (``agent_number`` "")."""
    counts = Counter(dict.fromkeys(agents, 0))
    counts.update({a: n for a, n in (load or {}).items() if a in counts})
    seen = set(known)
    plans: list[Plan] = []
    for c in sorted(candidates, key=lambda c: (c.source_at, c.source_ref)):
        if c.source_ref in seen:
            continue
        seen.add(c.source_ref)
        if c.agent_number in counts:
            agent = c.agent_number
        elif counts:
            agent = min(counts, key=lambda a: (counts[a], a))
        else:
            agent = ""
        if agent:
            counts[agent] += 1
        plans.append(Plan(merchant_id=c.merchant_id, kind=c.kind, source_ref=c.source_ref,
                          purpose=c.purpose, planned_for=day,
                          due_at=due_for(c.kind, day, c.source_at, tz), agent_number=agent,
                          complaint_id=c.complaint_id))
    return plans


# --------------------------------------------------------------------------- the form

ANSWER_SCORES: Final = ("satisfaction", "attitude")  # 1..5
SOLVED: Final = ("yes", "partly", "no")


@dataclass(frozen=True, slots=True)
class CallbackForm:
    """《服务质量电话回访表》 as filled in by the agent."""

    identity_stated: bool
    purpose_stated: bool
    accepted: bool | None  # None: not reached
    outcome: Outcome
    answers: Mapping[str, Any]
    follow_up: str = ""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"identity_stated": self.identity_stated, "purpose_stated": self.purpose_stated,
                "accepted": self.accepted, "outcome": self.outcome.value,
                "answers": dict(self.answers), "follow_up": self.follow_up, "note": self.note}


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ValidationError(name, "text")
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(name, f"at most {limit} characters")
    return value


def form_from_json(data: Mapping[str, Any]) -> CallbackForm:
    """Validate a submitted form. Raises ValidationError naming the first bad field."""
    try:
        outcome = Outcome(str(data.get("outcome", "")))
    except ValueError:
        raise ValidationError("outcome", "one of " + ", ".join(Outcome)) from None
    follow_up = _text(data, "follow_up", 200)
    note = _text(data, "note", 200)
    if outcome is Outcome.UNREACHABLE:
        return CallbackForm(False, False, None, outcome, {}, follow_up, note)
    identity, purpose = data.get("identity_stated"), data.get("purpose_stated")
    if identity is not True:
        raise ValidationError("identity_stated", "state who is calling first")
    if purpose is not True:
        raise ValidationError("purpose_stated", "state the purpose of the call first")
    accepted = data.get("accepted")
    if not isinstance(accepted, bool):
        raise ValidationError("accepted", "does the merchant accept the callback?")
    if outcome is Outcome.REFUSED:
        if accepted:
            raise ValidationError("accepted", "a refused callback was not accepted")
        return CallbackForm(True, True, False, outcome, {}, follow_up, note)
    if not accepted:
        raise ValidationError("outcome", "a callback not accepted is refused")
    raw = data.get("answers")
    if not isinstance(raw, Mapping):
        raise ValidationError("answers", "required")
    answers: dict[str, Any] = {}
    for name in ANSWER_SCORES:
        score = raw.get(name)
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise ValidationError(f"answers.{name}", "a score from 1 to 5")
        answers[name] = score
    solved = raw.get("solved")
    if solved not in SOLVED:
        raise ValidationError("answers.solved", "one of " + ", ".join(SOLVED))
    answers["solved"] = solved
    answers["comments"] = _text(raw, "comments", 400)
    if outcome is Outcome.FOLLOW_UP and not follow_up:
        raise ValidationError("follow_up", "what is to be resolved")
    return CallbackForm(True, True, True, outcome, answers, follow_up, note)


def retry_at(attempts: int, pending_since: datetime, now: datetime, tz: tzinfo
             ) -> datetime | None:
    """The next attempt after ``attempts`` unreachable ones (rule 6), or None."""
    if attempts >= MAX_ATTEMPTS:
        return None
    if attempts < 1:
        at = now
    elif attempts <= len(RETRY_DELAYS):
        at = now + RETRY_DELAYS[attempts - 1]
    else:
        at = datetime.combine(now.astimezone(tz).date() + timedelta(days=1), NEXT_DAY_AT, tz)
    limit = pending_since + CALLBACK_PENDING_LIMIT
    return at if at < limit else None


def record_form(record: Record, form: CallbackForm, now: datetime, tz: tzinfo) -> Record:
    """The callback after the agent submits ``form`` (Conflict when it is done)."""
    state = step(record.state, CallbackEvent(form.outcome.value))
    answers = {**form.as_json()}
    if state is CallbackState.DONE:
        return replace(record, state=state, answers=answers, result=form.follow_up or
                       form.note or form.outcome.value, completed_at=now, next_attempt_at=None)
    pending_since = record.pending_since or now
    attempts = record.attempts
    next_at = None
    if form.outcome is Outcome.UNREACHABLE:
        attempts += 1
        next_at = retry_at(attempts, pending_since, now, tz)
    return replace(record, state=state, answers=answers, result=form.follow_up or
                   form.outcome.value, pending_since=pending_since, attempts=attempts,
                   next_attempt_at=next_at)


def review(record: Record, reviewer: str, now: datetime) -> Record:
    """The team lead reviews a done form once (Conflict otherwise)."""
    if record.state is not CallbackState.DONE:
        raise Conflict(f"callback {record.id} is {record.state.value}, not done")
    if record.reviewed_at is not None:
        raise Conflict(f"callback {record.id} was reviewed by {record.reviewed_by}")
    return replace(record, reviewed_by=reviewer, reviewed_at=now)


def pending_clock(record: Record, now: datetime) -> Clock | None:
    """The 2-day clock of a pending callback (None when it is not pending)."""
    if record.state is not CallbackState.PENDING or record.pending_since is None:
        return None
    return callback_clock(record.pending_since, None, now)


# --------------------------------------------------------------------------- CSV and summary


def parse_csv_rows(rows: Sequence[Sequence[str]]) -> list[tuple[str, CallbackKind, str]]:
    """A department's upload: ``merchant_number,kind,purpose`` (a header row is skipped;
    kind defaults to service). Raises ValidationError naming the line."""
    out: list[tuple[str, CallbackKind, str]] = []
    for n, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells):
            continue
        if n == 1 and cells[0].lower() in ("merchant_number", "商户号"):
            continue
        number = cells[0]
        if not number.isdigit():
            raise ValidationError(f"line {n}", "merchant number: digits")
        raw_kind = cells[1] if len(cells) > 1 and cells[1] else CallbackKind.SERVICE.value
        try:
            kind = CallbackKind(raw_kind)
        except ValueError:
            raise ValidationError(f"line {n}", "kind: one of " + ", ".join(CallbackKind)
                                  ) from None
        purpose = cells[2][:40] if len(cells) > 2 else ""
        out.append((number, kind, purpose or "service quality"))
    return out


SUMMARY_COLUMNS: Final = ("group", "total", "planned", "pending", "done", "accepted",
                          "refused", "unreachable_attempts", "overdue", "reviewed",
                          "avg_satisfaction")


def monthly_summary(records: Iterable[Record], now: datetime) -> list[dict[str, Any]]:
    """One row per kind, one per agent, and the total (rows keyed by SUMMARY_COLUMNS)."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(f"kind:{r.kind.value}", []).append(r)
        groups.setdefault(f"agent:{r.agent_number or '-'}", []).append(r)
        groups.setdefault("total", []).append(r)

    def row(name: str, items: list[Record]) -> dict[str, Any]:
        scores = [r.answers["answers"]["satisfaction"] for r in items
                  if isinstance(r.answers.get("answers"), Mapping)
                  and "satisfaction" in r.answers["answers"]]
        overdue = 0
        for r in items:
            clock = pending_clock(r, now)
            overdue += clock is not None and clock.flagged
        return {"group": name, "total": len(items),
                "planned": sum(r.state is CallbackState.PLANNED for r in items),
                "pending": sum(r.state is CallbackState.PENDING for r in items),
                "done": sum(r.state is CallbackState.DONE for r in items),
                "accepted": sum(r.answers.get("accepted") is True for r in items),
                "refused": sum(r.answers.get("outcome") == Outcome.REFUSED for r in items),
                "unreachable_attempts": sum(r.attempts for r in items),
                "overdue": overdue,
                "reviewed": sum(r.reviewed_at is not None for r in items),
                "avg_satisfaction": round(sum(scores) / len(scores), 2) if scores else None}

    order = sorted(groups, key=lambda g: (g == "total", g))
    return [row(g, groups[g]) for g in order]
