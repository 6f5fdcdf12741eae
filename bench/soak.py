"""Soak / capacity run of the PBX simulator; prints one JSON document.

Virtual time (default): the pure PBX, AMI encoding for one ``Events: on`` session, the scripted
IVR and simulated agents, with Poisson arrivals at ``--calls-per-second`` for ``--duration``
simulated seconds. It reports the outcomes, the concurrency reached, whether any call record
was lost, how fast the simulator runs (simulated seconds and calls per wall second, AMI bytes
per second) and the process's memory at start, end and peak, sampled along the run (a leak
shows as a climbing ``rss_mb`` series).

Live (``--live --fastagi HOST:PORT``): the real-time simulator places the same planned calls on
the product's FastAGI server and listens for the CTI on ``--ami-port``; the product must run
with its AMI pointed there. Same JSON, wall-clock based.

Run: ``.venv/bin/python bench/soak.py --calls-per-second 2 --duration 3600 --agents 300``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.config import AmiAccount
from simulator.load import LoadConfig, plan_calls, run_live, run_virtual
from simulator.simulator import Simulator, SimulatorOptions
from simulator.virtual import VirtualPbx


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 1e6, 1)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls-per-second", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=3600.0, help="seconds of arrivals")
    p.add_argument("--agents", type=int, default=150)
    p.add_argument("--handle-time", type=float, default=120.0)
    p.add_argument("--patience", type=float, default=120.0)
    p.add_argument("--day-profile", default="flat")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--live", action="store_true", help="real time against the product")
    p.add_argument("--fastagi", default="127.0.0.1:4573", help="HOST:PORT (with --live)")
    p.add_argument("--ami-port", type=int, default=5038, help="with --live")
    p.add_argument("--time-scale", type=float, default=0.2, help="with --live")
    return p.parse_args()


def virtual(args: argparse.Namespace, config: LoadConfig) -> dict[str, object]:
    samples: list[dict[str, float]] = []

    def sample(t: float, pbx: VirtualPbx) -> None:
        if int(t) % 600 == 0:
            samples.append({"t": t, "live_calls": len(pbx.engine.state.calls),
                            "rss_mb": rss_mb()})

    gc.collect()
    rss_start, cpu_start = rss_mb(), cpu_seconds()
    report, pbx = run_virtual(config, sample_every=10.0, on_sample=sample)
    gc.collect()
    cpu = cpu_seconds() - cpu_start
    wall = report.wall_seconds
    return {
        **report.as_dict(),
        "simulated_seconds_per_wall_second": round(report.virtual_seconds / wall, 1),
        "calls_per_wall_second": round(report.generated / wall, 1),
        "ami_mb_per_wall_second": round(report.ami_bytes / wall / 1e6, 2),
        "cpu_seconds": round(cpu, 2),
        "left_behind": {"calls": len(pbx.engine.state.calls),
                        "channels": len(pbx.engine.state.channels),
                        "rings": len(pbx.engine.state.attempts)},
        "rss_mb_start": rss_start, "rss_mb_end": rss_mb(), "rss_mb_peak": peak_rss_mb(),
        "samples": samples,
    }


async def live(args: argparse.Namespace, config: LoadConfig) -> dict[str, object]:
    host, _, port = args.fastagi.rpartition(":")
    simulator = Simulator(SimulatorOptions(
        ami_port=args.ami_port, accounts=(AmiAccount("callcenter", "changeme"),),
        fastagi_host=host or "127.0.0.1", fastagi_port=int(port), time_scale=args.time_scale,
        demo_phones=False, agents=tuple(config.agent_interfaces()),
        agent_queues=config.agent_queues, agent_profile=config.agent_profile,
        seed=config.seed))
    calls = plan_calls(config)
    rss_start, cpu_start, started = rss_mb(), cpu_seconds(), time.perf_counter()
    await simulator.start()
    try:
        records = await run_live(simulator, calls)
    finally:
        await simulator.stop()
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    return {"mode": "live", "generated": len(calls), "ended": len(records),
            "lost": len(calls) - len(records), "outcomes": dict(sorted(outcomes.items())),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(cpu_seconds() - cpu_start, 2),
            "rss_mb_start": rss_start, "rss_mb_end": rss_mb(), "rss_mb_peak": peak_rss_mb()}


def main() -> int:
    args = parse()
    config = LoadConfig(calls_per_second=args.calls_per_second, duration=args.duration,
                        day_profile=args.day_profile, agents=args.agents,
                        handle_time=args.handle_time, patience=args.patience, seed=args.seed)
    result = asyncio.run(live(args, config)) if args.live else virtual(args, config)
    print(json.dumps({"bench": "simulator_soak", "calls_per_second": args.calls_per_second,
                      "duration_s": args.duration, "agents": args.agents, "seed": args.seed,
                      **result}, indent=2))
    return 0 if result.get("lost") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
