"""The outbox delivery machine and its back-off, without a database. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.business.outbox_state import (
    LEASE,
    Acknowledged,
    Claimed,
    Deliver,
    Failed,
    GiveUp,
    IllegalTransition,
    MarkDelivered,
    Requeued,
    ScheduleRetry,
    backoff,
    claimable,
    new_delivery,
    transition,
)
from callcenter.business.records import OutboxState

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("failed", "jitter", "delay"), [
    (1, 1.0, timedelta(seconds=5)),
    (2, 1.0, timedelta(seconds=10)),
    (3, 0.5, timedelta(seconds=10)),
    (10, 1.0, timedelta(minutes=30)),  # 5 s × 2⁹ = 42 min → capped
    (500, 1.0, timedelta(minutes=30)),
    (1, 0.0, timedelta(seconds=2.5)),  # jitter clamped to [0.5, 1]
    (1, 7.0, timedelta(seconds=5)),
])
def test_backoff_doubles_to_a_cap_with_jitter(failed: int, jitter: float,
                                              delay: timedelta) -> None:
    assert backoff(failed, jitter) == delay


def test_claim_takes_a_lease_and_counts_an_attempt() -> None:
    d = new_delivery(T0)
    assert claimable(d, T0)
    claimed, effects = transition(d, Claimed("w1"), T0)
    assert (claimed.state, claimed.attempts, claimed.lease_owner) == (
        OutboxState.IN_FLIGHT, 1, "w1")
    assert claimed.next_attempt_at == T0 + LEASE and effects == (Deliver(),)
    assert not claimable(claimed, T0 + LEASE - timedelta(seconds=1))
    # the worker died: after the lease another one may take it
    again, _ = transition(claimed, Claimed("w2"), T0 + LEASE)
    assert (again.lease_owner, again.attempts) == ("w2", 2)


def test_acknowledgement_delivers() -> None:
    claimed, _ = transition(new_delivery(T0), Claimed("w1"), T0)
    done, effects = transition(claimed, Acknowledged("BMS-1", duplicate=True), T0)
    assert done.state is OutboxState.DELIVERED and done.lease_owner == ""
    assert effects == (MarkDelivered("BMS-1", True),)
    with pytest.raises(IllegalTransition):
        transition(done, Claimed("w1"), T0)


def test_temporary_failure_schedules_a_retry_with_backoff() -> None:
    claimed, _ = transition(new_delivery(T0), Claimed("w1"), T0)
    retry, effects = transition(claimed, Failed("HTTP 503", retryable=True, jitter=1.0),
                                T0 + timedelta(seconds=1))
    at = T0 + timedelta(seconds=6)
    assert (retry.state, retry.next_attempt_at, retry.last_error) == (
        OutboxState.PENDING, at, "HTTP 503")
    assert effects == (ScheduleRetry(at, "HTTP 503"),)
    assert not claimable(retry, at - timedelta(microseconds=1)) and claimable(retry, at)


def test_rejection_is_dead_at_once() -> None:
    claimed, _ = transition(new_delivery(T0), Claimed("w1"), T0)
    dead, effects = transition(claimed, Failed("HTTP 422", retryable=False), T0)
    assert dead.state is OutboxState.DEAD and effects == (GiveUp("HTTP 422"),)
    assert not claimable(dead, T0 + timedelta(days=9))


def test_retries_stop_at_the_end_of_the_three_day_window() -> None:
    d = new_delivery(T0)
    now = T0
    attempts = 0
    while d.state is not OutboxState.DEAD:
        now = d.next_attempt_at
        d, _ = transition(d, Claimed("w1"), now)
        attempts += 1
        d, effects = transition(d, Failed("down", retryable=True, jitter=1.0), now)
        if d.state is OutboxState.PENDING:  # the last try is at the deadline, not after
            assert d.next_attempt_at <= T0 + timedelta(days=3)
    assert now == T0 + timedelta(days=3)
    assert isinstance(effects[0], GiveUp) and "retry window" in effects[0].error
    assert 140 < attempts < 160  # ~half-hour steps for three days


def test_requeue_gives_a_dead_row_a_new_window() -> None:
    claimed, _ = transition(new_delivery(T0), Claimed("w1"), T0)
    dead, _ = transition(claimed, Failed("HTTP 401", retryable=False), T0)
    later = T0 + timedelta(days=5)
    pending, effects = transition(dead, Requeued(), later)
    assert (pending.state, pending.next_attempt_at, pending.give_up_at) == (
        OutboxState.PENDING, later, later + timedelta(days=3))
    assert effects == ()
    with pytest.raises(IllegalTransition):
        transition(pending, Requeued(), later)


@pytest.mark.parametrize("event", [Acknowledged(), Failed("x", retryable=True)])
def test_results_for_a_row_not_in_flight_are_bugs(event: Acknowledged | Failed) -> None:
    with pytest.raises(IllegalTransition):
        transition(new_delivery(T0), event, T0)
