"""Call load: when merchants call, who they are, how long they wait and talk, how many agents
answer; reproducible from a seed, runnable in virtual time (soak, capacity what-ifs) or in real
time against the product (``Simulator``).

Arrivals are a non-homogeneous Poisson process: ``calls_per_second`` at a day-profile factor of
1.0, scaled by the factor of the hour of day (``DAY_PROFILES``), drawn by thinning (draw at the
peak rate, keep an arrival with probability rate(t) / peak). Patience is exponential around its
mean, handle time log-normal (``agents.AgentProfile``). The same ``LoadConfig`` (seed included)
gives the same calls, the same scripts and, in virtual time, the same outcomes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

from simulator.agents import AgentProfile
from simulator.callers import CallerMix, CallerScript, Directory, make_caller
from simulator.config import PRODUCT, PbxConfig
from simulator.errors import SimulatorConfigError
from simulator.pbx import OUTCOMES, AddMember, CallRecord
from simulator.virtual import VirtualPbx

logger = logging.getLogger(__name__)

# Hour-of-day factors (0–23). "office": a merchant hotline's working day, peaks late morning
# and mid-afternoon, a trickle at night.
DAY_PROFILES: Final[Mapping[str, tuple[float, ...]]] = MappingProxyType({
    "flat": (1.0,) * 24,
    "office": (0.05, 0.03, 0.02, 0.02, 0.03, 0.05, 0.15, 0.4, 0.8, 1.2, 1.5, 1.4,
               1.0, 1.1, 1.4, 1.5, 1.3, 1.0, 0.7, 0.5, 0.35, 0.2, 0.12, 0.08),
})

# Virtual runs start at this instant (the fixtures' lab clock), so that their Uniqueids look
# like the captures' and runs are comparable.
VIRTUAL_EPOCH: Final = 1795330000.0


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One load run. ``patience`` is the mean wait before a caller gives up (0: never);
    ``start_hour`` is the time of day the run starts (for the day profile)."""

    calls_per_second: float = 0.1
    duration: float = 600.0
    day_profile: str = "flat"
    start_hour: float = 10.0
    agents: int = 10
    agent_queues: tuple[str, ...] = ("presales", "aftersales", "complaints", "techsupport")
    handle_time: float = 180.0
    handle_spread: float = 0.5
    answer_after: float = 2.0
    patience: float = 120.0
    mix: CallerMix = field(default_factory=CallerMix)
    seed: int = 1

    def __post_init__(self) -> None:
        if self.calls_per_second < 0 or self.duration < 0:
            raise SimulatorConfigError("calls_per_second and duration must not be negative")
        if self.day_profile not in DAY_PROFILES:
            raise SimulatorConfigError(f"unknown day profile {self.day_profile!r} "
                                       f"(one of {', '.join(DAY_PROFILES)})")
        if self.agents < 0:
            raise SimulatorConfigError("agents must not be negative")

    @property
    def agent_profile(self) -> AgentProfile:
        return AgentProfile(answer_after=self.answer_after, handle_time=self.handle_time,
                            handle_spread=self.handle_spread,
                            min_handle=min(5.0, self.handle_time))

    def agent_interfaces(self, first: int = 8001) -> list[str]:
        return [f"PJSIP/{first + i}" for i in range(self.agents)]


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A call of the plan: ``at`` seconds after the start, by ``script``'s merchant."""

    ref: str
    at: float
    script: CallerScript


def arrival_times(rng: random.Random, calls_per_second: float, duration: float,
                  profile: tuple[float, ...], start_hour: float) -> list[float]:
    """Arrival offsets in ``[0, duration)`` (thinning of a Poisson process at the peak rate)."""
    peak = calls_per_second * max(profile)
    if peak <= 0:
        return []
    times: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration:
            return times
        hour = int((start_hour + t / 3600.0) % 24)
        if rng.random() * peak < calls_per_second * profile[hour]:
            times.append(t)


def plan_calls(config: LoadConfig, directory: Directory | None = None) -> list[PlannedCall]:
    """The calls of a run: same config and seed, same list."""
    directory = directory or Directory.demo()
    rng = random.Random(config.seed)  # noqa: S311 - simulation, not security
    times = arrival_times(rng, config.calls_per_second, config.duration,
                          DAY_PROFILES[config.day_profile], config.start_hour)
    calls = []
    for index, at in enumerate(times, start=1):
        script = make_caller(rng, directory, config.mix)
        patience = rng.expovariate(1.0 / config.patience) if config.patience > 0 else None
        calls.append(PlannedCall(f"load-{index:06d}", at, replace(script, patience=patience)))
    return calls


@dataclass(slots=True)
class LoadReport:
    """What a run produced. ``lost`` lists calls that arrived and never ended."""

    generated: int = 0
    ended: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    max_concurrent: int = 0
    max_waiting: int = 0
    answered_in_20s: int = 0
    hold_times: list[int] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unknown_outcomes: list[str] = field(default_factory=list)
    virtual_seconds: float = 0.0
    wall_seconds: float = 0.0
    ami_bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        holds = sorted(self.hold_times)
        answered = self.outcomes.get("answered", 0)
        return {
            "generated": self.generated, "ended": self.ended, "lost": len(self.lost),
            "outcomes": dict(sorted(self.outcomes.items())),
            "max_concurrent_calls": self.max_concurrent, "max_waiting": self.max_waiting,
            "service_level_20s": round(self.answered_in_20s / answered, 3) if answered else None,
            "hold_p50_s": holds[len(holds) // 2] if holds else None,
            "hold_p95_s": holds[int(len(holds) * 0.95)] if holds else None,
            "virtual_seconds": round(self.virtual_seconds, 1),
            "wall_seconds": round(self.wall_seconds, 3), "ami_bytes": self.ami_bytes,
        }


def run_virtual(config: LoadConfig, *, pbx: PbxConfig | None = None,
                calls: list[PlannedCall] | None = None, drain: float = 1800.0,
                sample_every: float = 30.0,
                on_sample: Callable[[float, VirtualPbx], None] | None = None,
                keep_records: bool = False) -> tuple[LoadReport, VirtualPbx]:
    """Run the plan in virtual time: agents log in at 0, calls arrive as planned, then the
    run goes on up to ``drain`` seconds after the last arrival so that every call can end.
    ``on_sample(t, pbx)`` is called every ``sample_every`` virtual seconds. An AMI client
    logged in with ``Events: on`` receives the whole stream (its bytes are counted, then
    dropped), so the soak also exercises encoding and class filtering."""
    pbx_config = pbx or PbxConfig(profile=PRODUCT, channels="pjsip", boot_time=VIRTUAL_EPOCH)
    calls = plan_calls(config) if calls is None else calls
    vpbx = VirtualPbx(pbx_config, start=VIRTUAL_EPOCH, agent_default=config.agent_profile,
                      seed=config.seed, keep_records=keep_records)
    report = LoadReport(generated=len(calls))
    records: dict[str, CallRecord] = {}
    arrived: set[str] = set()

    def ended(record: CallRecord) -> None:
        records[record.ref] = record
        report.ended += 1
        report.outcomes[record.outcome] += 1
        if record.outcome not in OUTCOMES:
            report.unknown_outcomes.append(record.ref)
        if record.hold_time is not None and record.answered_at is not None:
            report.hold_times.append(record.hold_time)
            if record.hold_time <= 20:
                report.answered_in_20s += 1

    vpbx.engine.on_call_ended.append(ended)
    client = vpbx.connect()
    account = next(iter(vpbx.hub.accounts.values()))
    client.send_action("Login", "load-1", Username=account.username, Secret=account.secret,
                       Events="on")

    def count_and_drop() -> None:
        report.ami_bytes += len(client.received)
        client.received.clear()
        client.chunks.clear()

    for interface in config.agent_interfaces():
        for queue in config.agent_queues:
            vpbx.feed(AddMember(queue, interface, f"Agent {interface.split('/')[-1]}"))
    for call in calls:
        def arrive(call: PlannedCall = call) -> None:
            arrived.add(call.ref)
            vpbx.arrive(call.ref, call.script)
        vpbx.at(call.at, arrive)
    started = time.perf_counter()
    last_arrival = calls[-1].at if calls else 0.0
    horizon = max(config.duration, last_arrival) + drain
    t = 0.0
    while t < horizon:
        t = min(horizon, t + sample_every)
        vpbx.run_until(t)
        live = len(vpbx.engine.state.calls)
        report.max_concurrent = max(report.max_concurrent, live)
        report.max_waiting = max(report.max_waiting,
                                 sum(len(q.entries) for q in vpbx.engine.state.queues.values()))
        count_and_drop()
        if on_sample is not None:
            on_sample(t, vpbx)
        if t >= last_arrival and not vpbx.engine.state.calls and len(arrived) == len(calls):
            break
    report.virtual_seconds = t
    report.wall_seconds = time.perf_counter() - started
    report.lost = sorted(arrived - set(records)) + [c.ref for c in calls if c.ref not in arrived]
    return report, vpbx


async def run_live(simulator: object, calls: list[PlannedCall]) -> list[CallRecord]:
    """Place the planned calls on a started ``Simulator`` at their times (real time) and wait
    for all of them to end."""
    from simulator.simulator import Simulator

    assert isinstance(simulator, Simulator)
    loop = asyncio.get_running_loop()
    start = loop.time()
    futures = []
    for call in calls:
        delay = start + call.at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        futures.append(simulator.place_call(call.script, call.ref))
    return list(await asyncio.gather(*futures))
