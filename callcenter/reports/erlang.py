"""Agents needed per interval: Erlang C and Erlang A (pure arithmetic, no I/O).

Erlang C (M/M/n): Poisson arrivals at rate λ, exponential handling with mean ``aht``, ``n``
agents, callers wait forever. Offered load ``a = λ·aht`` (Erlangs). The probability of waiting
is Erlang's C formula, computed through the numerically stable Erlang B recursion
``B(0) = 1, B(k) = a·B(k-1) / (k + a·B(k-1))``, ``C = n·B / (n - a·(1 - B))`` for ``n > a``;
the service level is ``1 - C·exp(-(n - a)·t / aht)``.

Erlang A (M/M/n+M, Palm/Garnett–Mandelbaum–Reiman): the same, but every waiting caller hangs
up after an exponential patience with mean ``patience_s`` (1/γ) — the abandonment the hotline
actually observes. Erlang C ignores it and therefore over-staffs; with patience the queue is
stable for any ``n``. Here the stationary distribution of the birth-death chain (births λ,
deaths ``min(k, n)·μ + max(k - n, 0)·γ``) is summed directly (truncated where the tail is
negligible); the answer rate is ``1 - γ·E[queue] / λ``; the service level (answered within
``t`` / offered, as in docs/kpi.md) follows a tagged arrival through its place in the queue by
uniformization (each step: the queue ahead moves at ``n·μ + i·γ``, the caller abandons at γ).

Rules
-----
1. ``agents_*`` return the smallest ``n`` meeting every target (service level and, for
   Erlang A, the answer rate); zero calls need zero agents (the floor is applied later).
2. Scheduled agents = ``ceil(needed / (1 - shrinkage))`` (breaks, training, meetings, sickness),
   never below the regulation's floor for that time of day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "ErlangA",
    "StaffingTarget",
    "agents_erlang_a",
    "agents_erlang_c",
    "erlang_a",
    "erlang_c",
    "scheduled",
    "service_level_c",
]

MAX_AGENTS = 2000


@dataclass(frozen=True, slots=True)
class StaffingTarget:
    """What an interval must achieve: ``service_level`` answered within ``within_s``, and
    (Erlang A) at least ``answer_rate`` answered."""

    service_level: float = 0.80
    within_s: float = 20.0
    answer_rate: float = 0.90


def erlang_c(n: int, load: float) -> float:
    """Probability that a caller waits (M/M/n); 1.0 when ``n <= load`` (unstable)."""
    if load <= 0:
        return 0.0
    if n <= load:
        return 1.0
    b = 1.0
    for k in range(1, n + 1):
        b = load * b / (k + load * b)
    return n * b / (n - load * (1 - b))


def service_level_c(n: int, calls: float, aht_s: float, interval_s: float, within_s: float
                    ) -> float:
    """Erlang C: share of calls answered within ``within_s`` (``calls`` per interval)."""
    if calls <= 0:
        return 1.0
    load = calls * aht_s / interval_s
    if n <= load:
        return 0.0
    return 1.0 - erlang_c(n, load) * math.exp(-(n - load) * within_s / aht_s)


def asa_c(n: int, calls: float, aht_s: float, interval_s: float) -> float:
    """Erlang C: mean wait in seconds (infinite when unstable)."""
    load = calls * aht_s / interval_s
    if calls <= 0:
        return 0.0
    if n <= load:
        return math.inf
    return erlang_c(n, load) * aht_s / (n - load)


def agents_erlang_c(calls: float, aht_s: float, interval_s: float,
                    target: StaffingTarget) -> int:
    """Smallest ``n`` whose Erlang C service level meets the target (rule 1)."""
    if calls <= 0:
        return 0
    load = calls * aht_s / interval_s
    n = max(1, math.floor(load) + 1)
    while n < MAX_AGENTS and service_level_c(n, calls, aht_s, interval_s,
                                             target.within_s) < target.service_level:
        n += 1
    return n


@dataclass(frozen=True, slots=True)
class ErlangA:
    """Erlang A figures of one staffing level."""

    agents: int
    answer_rate: float
    service_level: float
    p_wait: float
    occupancy: float


def _stationary(n: int, lam: float, mu: float, gamma: float) -> list[float]:
    """π_k of the M/M/n+M chain, truncated where the mass left is below 1e-12."""
    weights = [1.0]
    k = 0
    total = 1.0
    while True:
        k += 1
        death = min(k, n) * mu + max(k - n, 0) * gamma
        if death <= 0:
            break
        w = weights[-1] * lam / death
        weights.append(w)
        total += w
        if k > n and w < 1e-12 * total:
            break
        if k > 100_000:  # defensive: γ tiny and load far above n
            break
    return [w / total for w in weights]


def erlang_a(n: int, calls: float, aht_s: float, interval_s: float, patience_s: float,
             within_s: float) -> ErlangA:
    """Erlang A figures for ``n`` agents (``calls`` per interval, mean patience)."""
    if calls <= 0:
        return ErlangA(n, 1.0, 1.0, 0.0, 0.0)
    lam = calls / interval_s
    mu = 1.0 / aht_s
    gamma = 1.0 / patience_s if patience_s > 0 else 0.0
    if n == 0:
        return ErlangA(0, 0.0, 0.0, 1.0, 0.0)
    if gamma == 0.0:
        sl = service_level_c(n, calls, aht_s, interval_s, within_s)
        load = lam * aht_s
        stable = n > load
        return ErlangA(n, 1.0 if stable else 0.0, sl, erlang_c(n, load),
                       min(load / n, 1.0))
    pi = _stationary(n, lam, mu, gamma)
    p_wait = sum(pi[n:])
    queue = sum((k - n) * p for k, p in enumerate(pi) if k > n)
    abandon = gamma * queue / lam
    busy = sum(min(k, n) * p for k, p in enumerate(pi))
    # A tagged arrival finds j callers waiting with probability π_{n+j} (PASTA).
    waiting = pi[n:]
    served = sum(pi[:n])  # answered at once
    served += _served_within(waiting, n * mu, gamma, within_s)
    return ErlangA(n, 1.0 - abandon, served, p_wait, busy / n)


def _served_within(waiting: list[float], front: float, gamma: float, t: float) -> float:
    """Probability mass answered within ``t`` for arrivals that found ``j`` waiting with
    probability ``waiting[j]`` (uniformization of the tagged caller's place in the queue)."""
    if t <= 0 or not waiting:
        return 0.0
    size = len(waiting)
    rate = front + size * gamma + gamma  # at least every outgoing rate
    mass = list(waiting)
    steps_mean = rate * t
    # Poisson(steps_mean) weights, iterated until the tail is negligible.
    log_p = -steps_mean
    served_total = 0.0
    served_by_step = 0.0
    m = 0
    cumulative = 0.0
    limit = int(steps_mean + 12 * math.sqrt(steps_mean + 1) + 20)
    while m <= limit:
        p_m = math.exp(log_p)
        served_total += p_m * served_by_step
        cumulative += p_m
        # one uniformized step
        new = [0.0] * size
        for i, x in enumerate(mass):
            if x == 0.0:
                continue
            advance = (front + i * gamma) / rate
            quit_ = gamma / rate
            if i == 0:
                served_by_step += x * advance
            else:
                new[i - 1] += x * advance
            new[i] += x * (1.0 - advance - quit_)
        mass = new
        m += 1
        log_p += math.log(steps_mean) - math.log(m) if steps_mean > 0 else -math.inf
    # Poisson mass beyond the limit: those paths had at least `limit` steps.
    served_total += max(0.0, 1.0 - cumulative) * served_by_step
    return served_total


def agents_erlang_a(calls: float, aht_s: float, interval_s: float, patience_s: float,
                    target: StaffingTarget) -> int:
    """Smallest ``n`` whose Erlang A service level and answer rate meet the target."""
    if calls <= 0:
        return 0
    n = 1
    while n < MAX_AGENTS:
        r = erlang_a(n, calls, aht_s, interval_s, patience_s, target.within_s)
        if r.service_level >= target.service_level and r.answer_rate >= target.answer_rate:
            return n
        n += 1
    return n


def scheduled(needed: int, shrinkage: float, floor: int) -> int:
    """Agents to put on the roster for ``needed`` on the phones (rule 2)."""
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage must be in [0, 1), got {shrinkage}")
    return max(math.ceil(needed / (1 - shrinkage) - 1e-9), floor)
