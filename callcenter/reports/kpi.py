"""The hotline's KPIs: pure arithmetic on additive tallies (no I/O, no clock).

Every formula, with its edge cases, is written down in ``docs/kpi.md``; this module is that
page in code. The shape that makes reports fast and consistent:

1. A call becomes one :class:`CallFact` (from our ``calls`` row, or from Asterisk's
   ``queue_log`` in ``callcenter.reports.queue_log``).
2. :func:`tally_of` turns one fact into a :class:`Tally`: counters and sums only, so tallies
   add up (``a + b``). The report store keeps one tally per 15-minute interval × queue ×
   agent, maintained as calls end; a day, a week, a team or a queue is a sum of those.
3. :func:`kpis` turns a tally into the figures (rates, averages), :func:`against` compares
   them with the configured :class:`Targets`.

Rules
-----
R1  Only inbound merchant calls count. Internal legs (supervisor spy, agent-to-agent) and our
    own outbound callbacks (回访) never reach the tallies.
R2  A call that ends in the IVR (``ivr_only``) was never offered to agents: it counts in
    ``calls`` and ``ivr_only``, not in ``offered``.
R3  ``offered`` = calls that entered a queue, except short abandons (R4) and call-backs
    requested (R11): ``offered = answered + abandoned``.
R4  A caller who hangs up within ``short_abandon_s`` (default 5 s) of joining the queue is a
    *short abandon*: counted in ``short_abandoned``, neither offered nor abandoned.
R5  ``answer_rate`` (接通率) = answered / offered; ``service_level`` = answered within
    ``service_level_s`` (default 20 s) / offered (abandons count against it).
R6  ``asa_s`` = sum of the answered calls' queue wait / answered; ``aht_s`` = (talk + hold +
    after-call work) / answered.
R7  One call is one row however often it is transferred or overflows: it is counted once, in
    the queue that finally had it, answered if any agent answered it (its first answer's wait
    is its wait). ``transferred`` counts the calls that were transferred.
R8  First-contact resolution (一次性解决率) and repeat rates look back only: a contact is a
    *repeat* when the same merchant had a contact on the same problem within
    ``repeat_window_days`` before it; ``fcr = 1 - repeats / contacts``. Looking back keeps the
    figure additive and final the moment the call ends (see docs/kpi.md for why this equals
    "no follow-up within the window" counted forwards).
R9  Record completeness = answered calls with a wrap-up disposition / answered;
    satisfaction = mean survey score (1-5) and the share scoring >= ``satisfied_min``.
R10 A rate over zero calls is None ("no data"), never 0 % or 100 %.
R11 A caller who pressed 1 in a queue and had a call-back booked (``callback_requested``, the
    keep-my-place call-back) was deflected, not lost: counted in ``callback_requested``,
    neither offered, answered nor abandoned, whatever the wait. So ``answer_rate`` =
    answered / (entered a queue - short abandons - call-backs requested); the call-back is
    its own piece of work, measured by the call-backs (docs/kpi.md says why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from cti.call_state import Outcome

__all__ = [
    "KPI_FIELDS",
    "TALLY_FIELDS",
    "ZERO",
    "CallFact",
    "KpiPolicy",
    "Outcome",
    "Tally",
    "Targets",
    "against",
    "kpis",
    "repeat_flags",
    "tally_of",
    "total",
]

OUTCOMES: Final = frozenset(o.value for o in Outcome)
"""The ``calls.outcome`` values (the CTI tracker's rule 7)."""


@dataclass(frozen=True, slots=True)
class KpiPolicy:
    """The definitions' parameters (``[reports]`` settings)."""

    service_level_s: float = 20.0
    short_abandon_s: float = 5.0
    repeat_window_days: int = 7
    satisfied_min: int = 4


@dataclass(frozen=True, slots=True)
class Targets:
    """What the regulation asks (None: no target for that figure)."""

    answer_rate: float | None = 0.90
    service_level: float | None = 0.80
    asa_s: float | None = 20.0
    aht_s: float | None = None
    fcr: float | None = None
    record_completeness: float | None = 0.95
    satisfaction_avg: float | None = None


@dataclass(frozen=True, slots=True)
class CallFact:
    """One inbound call as the KPIs see it.

    ``arrived_at``: when it joined its first queue (its start when it never queued).
    ``wait_s``: queue wait until the first answer (answered) or until the hang-up (abandoned).
    ``talk_s``: talk and hold time; ``acw_s``: the agent's after-call work.
    ``repeat``: R8 (decided by the caller, which sees the merchant's history);
    ``contact``: the call has a merchant and a problem, so it counts for R8.
    """

    key: str
    queue: str
    agent: str
    arrived_at: datetime
    outcome: str
    wait_s: float = 0.0
    talk_s: float = 0.0
    acw_s: float = 0.0
    transferred: bool = False
    disposition: str | None = None
    satisfaction: int | None = None
    contact: bool = False
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Tally:
    """Additive counters and sums of a set of calls (the report store keeps these)."""

    calls: int = 0
    ivr_only: int = 0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_in_sl: int = 0
    wait_answered_s: float = 0.0
    wait_abandoned_s: float = 0.0
    talk_s: float = 0.0
    acw_s: float = 0.0
    transferred: int = 0
    wrapped_up: int = 0
    surveyed: int = 0
    satisfaction_sum: int = 0
    satisfied: int = 0
    contacts: int = 0
    repeats: int = 0
    callback_requested: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, n) + getattr(other, n) for n in TALLY_FIELDS))

    def as_dict(self) -> dict[str, int | float]:
        return {n: getattr(self, n) for n in TALLY_FIELDS}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Tally:
        """A tally from a row holding (at least) every counter."""
        return cls(**{n: values[n] for n in TALLY_FIELDS})


TALLY_FIELDS: Final = tuple(f.name for f in fields(Tally))
"""The counters, in column order (the report store's aggregate table has one column each)."""

ZERO: Final = Tally()


def tally_of(fact: CallFact, policy: KpiPolicy) -> Tally:
    """The tally of one call (R1-R9, R11). Internal and failed calls tally to zero (R1)."""
    outcome = fact.outcome
    if outcome in (Outcome.INTERNAL.value, Outcome.FAILED.value) or outcome not in OUTCOMES:
        return ZERO
    if outcome == Outcome.IVR_ONLY.value:
        return Tally(calls=1, ivr_only=1)
    survey = fact.satisfaction if fact.satisfaction is not None and 1 <= fact.satisfaction <= 5 \
        else None
    common = {
        "calls": 1,
        "transferred": int(fact.transferred),
        "surveyed": int(survey is not None),
        "satisfaction_sum": survey or 0,
        "satisfied": int(survey is not None and survey >= policy.satisfied_min),
        "contacts": int(fact.contact),
        "repeats": int(fact.contact and fact.repeat),
    }
    wait = max(fact.wait_s, 0.0)
    if outcome == Outcome.CALLBACK_REQUESTED.value:
        return Tally(callback_requested=1, **common)
    if outcome == Outcome.ANSWERED.value:
        return Tally(offered=1, answered=1,
                     answered_in_sl=int(wait <= policy.service_level_s),
                     wait_answered_s=wait, talk_s=max(fact.talk_s, 0.0),
                     acw_s=max(fact.acw_s, 0.0),
                     wrapped_up=int(bool(fact.disposition)), **common)
    if wait < policy.short_abandon_s:
        return Tally(short_abandoned=1, **common)
    return Tally(offered=1, abandoned=1, wait_abandoned_s=wait, **common)


def total(tallies: Iterable[Tally]) -> Tally:
    """The sum of ``tallies`` (zero for none)."""
    out = ZERO
    for t in tallies:
        out = out + t
    return out


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


KPI_FIELDS: Final = ("offered", "answered", "abandoned", "short_abandoned",
                     "callback_requested", "ivr_only",
                     "answer_rate", "service_level", "asa_s", "aht_s", "avg_abandon_wait_s",
                     "transferred", "fcr", "repeat_rate", "record_completeness",
                     "satisfaction_avg", "satisfied_rate")
"""The figures of a report row, in display order."""


def kpis(t: Tally) -> dict[str, int | float | None]:
    """The figures of a tally (R3-R10), rounded for display (rates to 4 places, seconds
    to 1)."""
    repeat_rate = _ratio(t.repeats, t.contacts)
    return {
        "offered": t.offered,
        "answered": t.answered,
        "abandoned": t.abandoned,
        "short_abandoned": t.short_abandoned,
        "callback_requested": t.callback_requested,
        "ivr_only": t.ivr_only,
        "answer_rate": _round(_ratio(t.answered, t.offered), 4),
        "service_level": _round(_ratio(t.answered_in_sl, t.offered), 4),
        "asa_s": _round(_ratio(t.wait_answered_s, t.answered), 1),
        "aht_s": _round(_ratio(t.talk_s + t.acw_s, t.answered), 1),
        "avg_abandon_wait_s": _round(_ratio(t.wait_abandoned_s, t.abandoned), 1),
        "transferred": t.transferred,
        "fcr": _round(None if repeat_rate is None else 1.0 - repeat_rate, 4),
        "repeat_rate": _round(repeat_rate, 4),
        "record_completeness": _round(_ratio(t.wrapped_up, t.answered), 4),
        "satisfaction_avg": _round(_ratio(t.satisfaction_sum, t.surveyed), 2),
        "satisfied_rate": _round(_ratio(t.satisfied, t.surveyed), 4),
    }


_LOWER_IS_BETTER: Final = frozenset({"asa_s", "aht_s"})


def against(figures: Mapping[str, int | float | None], targets: Targets
            ) -> dict[str, bool | None]:
    """Per targeted figure: True when met, False when missed, None without data."""
    out: dict[str, bool | None] = {}
    for f in fields(Targets):
        goal = getattr(targets, f.name)
        if goal is None:
            continue
        value = figures.get(f.name)
        if value is None:
            out[f.name] = None
        elif f.name in _LOWER_IS_BETTER:
            out[f.name] = value <= goal
        else:
            out[f.name] = value >= goal
    return out


def repeat_flags(contacts: Iterable[tuple[str, int, str, datetime]], window_days: int
                 ) -> dict[str, bool]:
    """R8 over a history: ``(key, merchant_id, problem, at)`` → key → whether it is a repeat
    (the same merchant and problem had a contact less than ``window_days`` before it)."""
    last: dict[tuple[int, str], datetime] = {}
    out: dict[str, bool] = {}
    window = window_days * 86400.0
    for key, merchant, problem, at in sorted(contacts, key=lambda c: (c[3], c[0])):
        previous = last.get((merchant, problem))
        out[key] = previous is not None and (at - previous).total_seconds() < window
        last[(merchant, problem)] = at
    return out
