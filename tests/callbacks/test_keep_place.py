"""The keep-my-place call-back rules: position by original arrival, exactly one call-back per
request, and the same outcome when the events are replayed after a restart (hypothesis)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.callbacks import keep_place as kp
from callcenter.callbacks.keep_place import Caller, PlaceState, Request
from callcenter.errors import Conflict

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _req(call_id: str, minute: int, number: str = "", priority: int = 0) -> Request:
    return Request(call_id, number or f"138{call_id}", "aftersales",
                   T0 + timedelta(minutes=minute), priority)


def test_a_request_keeps_the_place_of_the_callers_arrival() -> None:
    callers = [Caller("a", "aftersales", T0), Caller("b", "aftersales", T0 + timedelta(minutes=2)),
               Caller("c", "aftersales", T0 + timedelta(minutes=3))]
    ledger, added = kp.request({}, _req("b", 2))  # b pressed the key, then hung up
    assert added
    live = [c for c in callers if c.call_id != "b"]
    assert kp.line("aftersales", live, ledger) == ["a", "b", "c"]
    assert kp.position("aftersales", live, ledger, "b") == 2
    assert kp.head("aftersales", live, ledger) is None  # a (on the line) is first
    assert kp.head("aftersales", live[1:], ledger) == ledger["b"]


def test_priority_goes_first_then_arrival() -> None:
    ledger, _ = kp.request({}, _req("late-vip", 9, priority=15))
    callers = [Caller("early", "aftersales", T0)]
    assert kp.line("aftersales", callers, ledger) == ["late-vip", "early"]


def test_one_request_per_call_and_per_open_number() -> None:
    ledger, _ = kp.request({}, _req("x", 1, number="13800138000"))
    again, added = kp.request(ledger, _req("x", 1, number="13800138000"))
    assert not added and again == ledger
    other_call, added = kp.request(ledger, _req("y", 5, number="13800138000"))
    assert not added and list(other_call) == ["x"]


def test_claim_once_then_unanswered_back_in_place_until_max_tries() -> None:
    ledger, _ = kp.request({}, _req("x", 1))
    ledger = kp.claim(ledger, "x", "8001", T0)
    with pytest.raises(Conflict):
        kp.claim(ledger, "x", "8002", T0 + timedelta(minutes=1))
    assert kp.finish(ledger, "x", "8002", answered=True, now=T0) == ledger  # stale report
    now = T0
    for tries in range(1, kp.MAX_TRIES):
        ledger = kp.finish(ledger, "x", "8001", answered=False, now=now)
        assert ledger["x"].state is PlaceState.WAITING
        assert ledger["x"].arrived_at == T0 + timedelta(minutes=1)  # same place
        now = ledger["x"].retry_at or now
        ledger = kp.claim(ledger, "x", "8001", now)
        assert ledger["x"].tries == tries + 1
    assert kp.finish(ledger, "x", "8001", answered=False, now=now)["x"].state \
        is PlaceState.FAILED


def test_the_configured_attempts_and_retry_delay_are_honoured() -> None:
    policy = kp.Policy(attempts=2, retry_after=timedelta(minutes=10))
    ledger, _ = kp.request({}, _req("x", 1))
    ledger, _ = kp.request(ledger, _req("y", 4))
    ledger = kp.claim(ledger, "x", "8001", T0)
    ledger = kp.finish(ledger, "x", "8001", answered=False, now=T0, policy=policy)
    assert ledger["x"].retry_at == T0 + timedelta(minutes=10)
    # resting: not offered, not claimable; y, who came later, is served meanwhile
    soon = T0 + timedelta(minutes=9, seconds=59)
    assert kp.line("aftersales", [], ledger, soon) == ["y"]
    assert kp.offer("aftersales", [], ledger, ["8002"], now=soon) == (ledger["y"], "8002")
    with pytest.raises(Conflict):
        kp.claim(ledger, "x", "8002", soon)
    # its retry time come, it is back in its original place, ahead of y
    due = T0 + timedelta(minutes=10)
    assert kp.line("aftersales", [], ledger, due) == ["x", "y"]
    assert kp.offer("aftersales", [], ledger, ["8002"], now=due) == (ledger["x"], "8002")
    assert kp.position("aftersales", [], ledger, "x") == 1  # the caller's place never moved
    ledger = kp.claim(ledger, "x", "8002", due)
    assert ledger["x"].retry_at is None
    # the second unanswered try is the last one of two
    assert kp.finish(ledger, "x", "8002", answered=False, now=due, policy=policy)["x"].state \
        is PlaceState.FAILED


def test_a_claim_whose_process_died_is_retaken_after_the_lease() -> None:
    ledger, _ = kp.request({}, _req("x", 1))
    ledger = kp.claim(ledger, "x", "8001", T0)
    retaken = kp.claim(ledger, "x", "8002", T0 + kp.CLAIM_LEASE + timedelta(seconds=1))
    assert (retaken["x"].claimed_by, retaken["x"].tries) == ("8002", 2)


# -- properties ----------------------------------------------------------------------------

ids = st.sampled_from([f"c{i}" for i in range(6)])
ops = st.lists(st.one_of(
    st.tuples(st.just("request"), ids, st.integers(0, 30), st.integers(0, 2)),
    st.tuples(st.just("claim"), ids, st.sampled_from(["8001", "8002"]), st.integers(0, 20)),
    st.tuples(st.just("finish"), ids, st.sampled_from(["8001", "8002"]), st.booleans(),
              st.integers(0, 20)),
), max_size=40)


def _run(steps: list[tuple[object, ...]]) -> tuple[dict[str, Request], list[tuple[str, int]]]:
    """Apply ``steps``; the dials made (call id, attempt), one per successful claim."""
    ledger: dict[str, Request] = {}
    dials: list[tuple[str, int]] = []
    for step in steps:
        kind, call_id = step[0], str(step[1])
        if kind == "request":
            ledger, _ = kp.request(ledger, _req(call_id, int(str(step[2])), number=call_id,
                                                priority=int(str(step[3]))))
        elif kind == "claim":
            try:
                ledger = kp.claim(ledger, call_id, str(step[2]),
                                  T0 + timedelta(minutes=int(str(step[3]))))
            except Conflict:
                continue
            dials.append((call_id, ledger[call_id].tries))
        else:
            ledger = kp.finish(ledger, call_id, str(step[2]), bool(step[3]),
                               T0 + timedelta(minutes=int(str(step[4]))))
    return ledger, dials


@given(ops)
def test_every_dial_is_a_new_attempt_and_a_done_request_is_never_dialled_again(
        steps: list[tuple[object, ...]]) -> None:
    ledger, dials = _run(steps)
    assert len(dials) == len(set(dials))  # no attempt dialled twice
    for call_id, r in ledger.items():
        made = [a for c, a in dials if c == call_id]
        assert made == list(range(1, len(made) + 1)) and r.tries == len(made)
    # replaying step by step: once a request is done, no claim of it succeeds any more
    done: set[str] = set()
    partial: list[tuple[object, ...]] = []
    for step in steps:
        partial.append(step)
        before = len(_run(partial[:-1])[1])
        current, now_dials = _run(partial)
        if len(now_dials) > before:
            assert now_dials[-1][0] not in done
        done = {c for c, r in current.items() if r.state is PlaceState.DONE}


@given(ops)
def test_replaying_the_same_events_after_a_restart_gives_the_same_ledger(
        steps: list[tuple[object, ...]]) -> None:
    first, dials = _run(steps)
    again, dials_again = _run(steps)
    assert (first, dials) == (again, dials_again)  # deterministic: storage replays it
    # a replay of the requests onto the kept ledger adds nothing (exactly one per call)
    for step in steps:
        if step[0] == "request":
            _, added = kp.request(first, _req(str(step[1]), int(str(step[2])),
                                              number=str(step[1])))
            assert not added


@given(st.lists(st.tuples(ids, st.integers(0, 30), st.integers(0, 2)), max_size=12),
       st.sets(ids))
def test_the_line_is_ordered_by_priority_then_original_arrival(
        arrivals: list[tuple[str, int, int]], asked: set[str]) -> None:
    seen: dict[str, tuple[int, int]] = {}
    for call_id, minute, priority in arrivals:
        seen.setdefault(call_id, (minute, priority))
    callers = [Caller(c, "aftersales", T0 + timedelta(minutes=m), p)
               for c, (m, p) in seen.items() if c not in asked]
    ledger: dict[str, Request] = {}
    for c in asked & set(seen):
        ledger, _ = kp.request(ledger, _req(c, seen[c][0], number=c, priority=seen[c][1]))
    order = kp.line("aftersales", callers, ledger)
    assert sorted(order) == sorted(seen)  # everyone once, requests keeping their place
    keys = [(-seen[c][1], seen[c][0], c) for c in order]
    assert keys == sorted(keys)


# -- offering to the agents (rule 5) ---------------------------------------------------------


def test_the_head_request_is_offered_to_the_first_free_agent_who_has_not_declined_it() -> None:
    ledger, _ = kp.request({}, _req("x", 1))
    live = [Caller("later", "aftersales", T0 + timedelta(minutes=5))]
    assert kp.offer("aftersales", live, ledger, ["8002", "8001"]) == (ledger["x"], "8002")
    assert kp.offer("aftersales", live, ledger, ["8002", "8001"],
                    {"x": frozenset({"8002"})}) == (ledger["x"], "8001")
    assert kp.offer("aftersales", live, ledger, ["8002"], {"x": frozenset({"8002"})}) is None
    assert kp.offer("aftersales", live, ledger, []) is None
    # a live caller who came earlier is first: app_queue gives them the free agent
    earlier = [Caller("early", "aftersales", T0)]
    assert kp.offer("aftersales", earlier, ledger, ["8001"]) is None
    assert kp.offer("presales", live, ledger, ["8001"]) is None


def test_a_declined_offer_goes_back_to_its_place_without_using_a_try() -> None:
    ledger, _ = kp.request({}, _req("x", 1))
    ledger, _ = kp.request(ledger, _req("y", 2))
    claimed = kp.claim(ledger, "x", "8001", T0)
    # while x is offered to 8001, y (next in line) may go to another free agent
    assert kp.offer("aftersales", [], claimed, ["8002"]) == (claimed["y"], "8002")
    assert kp.release(claimed, "x", "8002") == claimed  # not 8002's claim: stale
    released = kp.release(claimed, "x", "8001")
    assert released["x"] == ledger["x"]  # same place, same tries
    assert kp.head("aftersales", [], released) == ledger["x"]


@given(ops)
def test_release_never_dials_and_never_loses_a_request(script: list[tuple]) -> None:  # type: ignore[type-arg]
    ledger: dict[str, Request] = {}
    for op in script:
        if op[0] == "request":
            ledger, _ = kp.request(ledger, _req(op[1], op[2], priority=op[3]))
        elif op[0] == "claim" and op[1] in ledger:
            with contextlib.suppress(Conflict):
                ledger = kp.claim(ledger, op[1], op[2], T0 + timedelta(minutes=op[3]))
        elif op[1] in ledger:
            before = ledger[op[1]]
            ledger = kp.release(ledger, op[1], op[2])
            after = ledger[op[1]]
            assert after.arrived_at == before.arrived_at and after.tries <= before.tries
            assert set(ledger) >= {op[1]}


# -- attempts and the retry delay (product settings, passed in as a Policy) -----------------

policies = st.builds(kp.Policy, st.integers(1, 4),
                     st.integers(0, 10).map(lambda m: timedelta(minutes=m)))
timeline = st.lists(st.one_of(
    st.tuples(st.just("request"), ids, st.integers(0, 2)),  # the caller presses the key now
    st.tuples(st.just("free"), st.sampled_from(["8001", "8002", "8003"])),  # offer + claim
    st.tuples(st.just("answer"), ids, st.booleans()),  # the claimant's dial ended
    st.tuples(st.just("wait"), st.integers(1, 6)),  # minutes pass
), max_size=60)


@given(policies, timeline)
def test_an_unanswered_request_is_not_offered_before_its_retry_time_and_keeps_its_place(
        policy: kp.Policy, steps: list[tuple[object, ...]]) -> None:
    now = T0
    ledger: dict[str, Request] = {}
    arrived: dict[str, datetime] = {}
    unanswered_at: dict[str, datetime] = {}
    for step in steps:
        kind = step[0]
        if kind == "wait":
            now += timedelta(minutes=int(str(step[1])))
        elif kind == "request":
            call_id = str(step[1])
            ledger, added = kp.request(ledger, Request(call_id, call_id, "aftersales", now,
                                                       int(str(step[2]))))
            if added:
                arrived[call_id] = now
        elif kind == "free":
            pick = kp.offer("aftersales", [], ledger, [str(step[1])], now=now)
            ready = sorted((-r.priority, r.arrived_at, r.call_id) for r in ledger.values()
                           if r.state is PlaceState.WAITING
                           and (r.call_id not in unanswered_at
                                or now >= unanswered_at[r.call_id] + policy.retry_after))
            if pick is None:
                assert not ready  # nobody ready to be called back is passed over
                continue
            request, agent = pick
            assert (-request.priority, request.arrived_at, request.call_id) == ready[0]
            ledger = kp.claim(ledger, request.call_id, agent, now)
        else:
            call_id, answered = str(step[1]), bool(step[2])
            r = ledger.get(call_id)
            if r is None or r.state is not PlaceState.CLAIMED:
                continue
            ledger = kp.finish(ledger, call_id, r.claimed_by, answered, now, policy)
            after = ledger[call_id]
            assert after.tries == r.tries <= policy.attempts
            if answered:
                assert after.state is PlaceState.DONE
            elif r.tries < policy.attempts:
                assert after.state is PlaceState.WAITING
                assert after.retry_at == now + policy.retry_after
                unanswered_at[call_id] = now
            else:
                assert after.state is PlaceState.FAILED
        for call_id, r in ledger.items():  # the original arrival is never lost
            assert r.arrived_at == arrived[call_id]
        # the full line (no clock) is every waiting request by priority, then arrival
        keys = [(-ledger[c].priority, ledger[c].arrived_at, c)
                for c in kp.line("aftersales", [], ledger)]
        assert keys == sorted(keys)
