"""A staffing plan played through the simulated PBX in virtual time: the proof that Erlang's
figures hold for the queue the demo runs.

One queue (``aftersales`` of the product dialplan) is staffed interval by interval: members
are the agents of the plan, logged in from the start and paused (AMI ``QueuePause``, the
product's own action) while off shift; an agent going off shift finishes its call. Calls
arrive as a Poisson process at each interval's rate, the IVR routes them at once (the
forecast counts calls offered to the queue), the agent picks up at once, talks an exponential
time (the merchant's ``talk_limit``; the agent never hangs up first) and every caller has an
exponential patience. Wrap-up is 0, so the model is M/M/n+M, Erlang A's, driven through the
same engine (``pbx.step``, ``queue_engine``'s member choice, timers, AMI) as ``serve
--simulate``.

Per interval of arrival it counts offered, answered and answered within ``within_s`` seconds
(from the join to the answer, in virtual seconds), as docs/kpi.md defines the service level.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from simulator.agents import AgentProfile
from simulator.callers import CallerScript
from simulator.config import PRODUCT, PbxConfig, QueueConfig
from simulator.engine import Feed
from simulator.pbx import SURVEY_ROUTE, AddMember, CallRecord, IvrDone, RunIvr, VariableSet
from simulator.virtual import VirtualPbx

QUEUE = "aftersales"
EPOCH = 1795330000.0


@dataclass(frozen=True, slots=True)
class Interval:
    """A staffing interval: ``calls`` expected, mean talk ``aht_s``, ``agents`` on the phones."""

    calls: float
    aht_s: float
    agents: int


@dataclass(slots=True)
class Tally:
    """What the calls that arrived in one interval got."""

    offered: int = 0
    answered: int = 0
    within: int = 0


class _RouteAtOnce:
    """The IVR port: every call goes to ``QUEUE`` at once; the survey ends at once."""

    def start(self, run: RunIvr, feed: Feed) -> None:
        if run.request.route != SURVEY_ROUTE:
            feed(VariableSet(run.ref, "CC_QUEUE", QUEUE))
        feed(IvrDone(run.ref, run.request.route))

    def abort(self, ref: str) -> None:
        return None


def run_plan(intervals: Sequence[Interval], *, interval_s: float = 1800.0,
             patience_s: float, within_s: float = 20.0, seed: int = 1,
             drain_s: float = 3600.0) -> list[Tally]:
    """Play ``intervals`` back to back; one :class:`Tally` per interval."""
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    most = max((i.agents for i in intervals), default=0)
    config = PbxConfig(queues=(QueueConfig(QUEUE, wrapuptime=0.0, retry=0.0,
                                           max_wait=1e9),),
                       profile=PRODUCT, channels="pjsip", boot_time=EPOCH, record=False)
    pbx = VirtualPbx(config, start=EPOCH, ivr=_RouteAtOnce(), keep_records=False,
                     agent_default=AgentProfile(answer_after=0.0, handle_time=1e9,
                                                handle_spread=0.0), seed=seed)
    tallies = [Tally() for _ in intervals]
    slot_of: dict[str, int] = {}

    def ended(record: CallRecord) -> None:
        slot = slot_of.pop(record.ref)
        tally = tallies[slot]
        tally.offered += 1
        if record.answered_at is not None:
            tally.answered += 1
            tally.within += record.answered_at - record.arrived_at <= within_s

    pbx.engine.on_call_ended.append(ended)
    ami = pbx.connect()
    account = next(iter(pbx.hub.accounts.values()))
    ami.send_action("Login", "staffing-1", Username=account.username, Secret=account.secret,
                    Events="off")
    interfaces = [f"PJSIP/{8001 + k}" for k in range(most)]
    for interface in interfaces:
        pbx.feed(AddMember(QUEUE, interface, interface, paused=True))
    on_shift = 0
    number = 0
    for index, interval in enumerate(intervals):
        base = index * interval_s

        def staff(wanted: int = interval.agents) -> None:
            nonlocal on_shift
            for k in range(min(on_shift, wanted), max(on_shift, wanted)):
                ami.send_action("QueuePause", Interface=interfaces[k], Queue=QUEUE,
                                Paused="false" if k >= on_shift else "true")
            on_shift = wanted

        pbx.at(base, staff)
        rate = interval.calls / interval_s
        t = base
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= base + interval_s:
                break
            number += 1
            ref = f"staff-{number:07d}"
            slot_of[ref] = index
            script = CallerScript(phone=f"1380000{number % 10000:04d}",
                                  patience=rng.expovariate(1.0 / patience_s),
                                  talk_limit=rng.expovariate(1.0 / interval.aht_s))

            def arrive(ref: str = ref, script: CallerScript = script) -> None:
                pbx.arrive(ref, script)

            pbx.at(t, arrive)
        if index % 48 == 47:  # a day at a time keeps the timer heap small
            pbx.run_until(base + interval_s)
            ami.received.clear()
            ami.chunks.clear()
    pbx.run_until(len(intervals) * interval_s + drain_s)
    ami.received.clear()
    return tallies


def totals(tallies: Sequence[Tally]) -> Mapping[str, int]:
    """Offered, answered and answered within the target over ``tallies``."""
    return {"offered": sum(t.offered for t in tallies),
            "answered": sum(t.answered for t in tallies),
            "within": sum(t.within for t in tallies)}
