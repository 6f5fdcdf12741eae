"""``callcenter simulate`` (or ``python -m simulator``): the PBX simulator and load generator
on its own.

Two ways to run, both reproducible with ``--seed``::

    callcenter simulate --virtual --calls-per-second 0.5 --duration 600 --agents 60
        No product, no sockets: the simulated PBX in virtual time with a scripted IVR and
        simulated agents. Prints a JSON report (outcomes, concurrency, hold times, lost calls).

    callcenter simulate --fastagi 127.0.0.1:4573 --ami-port 5038 --calls 50 --agents 5
        Real time: an AMI server for the product's CTI (point ``ami.host``/``ami.port`` at
        it) and calls that run the product's IVR over FastAGI. Prints the AMI address at once
        and a JSON report when the calls are done (or at Ctrl-C).

``callcenter simulate ARGS`` hands ARGS to :func:`main` unparsed, so the product's command
line does not import this package for its other commands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from simulator.callers import CallerMix, Directory
from simulator.config import PROFILES, AmiAccount, PbxConfig, QueueConfig, agent_login_queues
from simulator.errors import SimulatorConfigError
from simulator.load import (
    DAY_PROFILES,
    LoadConfig,
    PlannedCall,
    plan_calls,
    run_live,
    run_virtual,
)
from simulator.simulator import Simulator, SimulatorOptions

logger = logging.getLogger(__name__)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}") from None


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to ``parser`` (see the module docstring)."""
    load = parser.add_argument_group("load")
    load.add_argument("--calls", type=int, default=0,
                      help="place exactly N calls, --interval apart (default: Poisson arrivals "
                           "for --duration)")
    load.add_argument("--interval", type=float, default=2.0, help="seconds between --calls")
    load.add_argument("--calls-per-second", type=float, default=0.1,
                      help="mean arrival rate at day-profile factor 1.0")
    load.add_argument("--duration", type=float, default=600.0, help="seconds of arrivals")
    load.add_argument("--day-profile", choices=sorted(DAY_PROFILES), default="flat")
    load.add_argument("--start-hour", type=float, default=10.0,
                      help="time of day the run starts (for --day-profile)")
    load.add_argument("--seed", type=int, default=1, help="same seed, same calls")
    load.add_argument("--patience", type=float, default=120.0,
                      help="mean seconds a caller waits in a queue (0: forever)")
    agents = parser.add_argument_group("agents")
    agents.add_argument("--agents", type=int, default=10, help="simulated agents")
    agents.add_argument("--first-agent", type=int, default=8001,
                        help="extension of the first simulated agent (PJSIP/<n>)")
    agents.add_argument("--handle-time", type=float, default=180.0, help="mean talk seconds")
    agents.add_argument("--answer-after", type=float, default=2.0, help="ring seconds")
    agents.add_argument("--queues", default="presales,aftersales,complaints,techsupport",
                        help="queues the simulated agents log in to (and night, when "
                             "aftersales or presales is one of them)")
    pbx = parser.add_argument_group("PBX")
    pbx.add_argument("--virtual", action="store_true",
                     help="virtual time, scripted IVR, no sockets: a capacity/soak run")
    pbx.add_argument("--channels", choices=("pjsip", "local"), default="pjsip")
    pbx.add_argument("--profile", choices=sorted(PROFILES), default="product",
                     help="the dialplan acted out (lab: the fixtures' dialplan)")
    pbx.add_argument("--ami-host", default="127.0.0.1")
    pbx.add_argument("--ami-port", type=int, default=5038)
    pbx.add_argument("--ami-user", default="callcenter")
    pbx.add_argument("--ami-secret", default="changeme")
    pbx.add_argument("--ami-read", default="call,agent,system,user,dtmf",
                     help="read classes of the AMI account (manager.conf read=)")
    pbx.add_argument("--fastagi", type=_address, default=("127.0.0.1", 4573),
                     metavar="HOST:PORT", help="the product's FastAGI server")
    pbx.add_argument("--time-scale", type=float, default=0.2,
                     help="factor on the IVR's waits (prompts, typing, timeouts)")
    pbx.add_argument("--recording-dir", type=Path, default=Path("var/recordings"))
    pbx.add_argument("--no-recordings", action="store_true")
    pbx.add_argument("--no-speech", action="store_true", help="tones only in recordings")


def load_config(options: argparse.Namespace) -> LoadConfig:
    return LoadConfig(
        calls_per_second=options.calls_per_second, duration=options.duration,
        day_profile=options.day_profile, start_hour=options.start_hour, agents=options.agents,
        agent_queues=agent_login_queues(options.queues.split(",")),
        handle_time=options.handle_time, answer_after=options.answer_after,
        patience=options.patience, mix=CallerMix(), seed=options.seed)


def _pbx_config(options: argparse.Namespace) -> PbxConfig:
    queues = tuple(dict.fromkeys([*options.queues.split(","), "presales", "aftersales",
                                  "complaints", "techsupport", "night"]))
    return PbxConfig(queues=tuple(QueueConfig(q) for q in queues if q),
                     profile=PROFILES[options.profile], channels=options.channels,
                     monitor_dir=str(options.recording_dir.resolve()),
                     record=not options.no_recordings, agi_host=options.fastagi[0],
                     agi_port=options.fastagi[1])


def _planned(options: argparse.Namespace, config: LoadConfig) -> list[PlannedCall]:
    calls = plan_calls(config, Directory.demo())
    if options.calls > 0:
        # Exactly N calls, evenly spaced: reuse the Poisson plan's scripts, or make more.
        if len(calls) < options.calls:
            longer = replace(config, duration=max(config.duration, 1.0) * (
                options.calls / max(len(calls), 1) + 1))
            calls = plan_calls(longer, Directory.demo())
        calls = [replace(c, at=i * options.interval) for i, c in enumerate(calls[:options.calls])]
    return calls


async def run_simulation(options: argparse.Namespace) -> int:
    """Run ``callcenter simulate`` with parsed ``options``; returns the exit code (0 when
    every generated call ended with a known outcome)."""
    try:
        config = load_config(options)
        pbx = _pbx_config(options)
    except SimulatorConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    calls = _planned(options, config)
    if options.virtual:
        report, _ = run_virtual(config, pbx=replace(pbx, record=False), calls=calls)
        print(json.dumps({"mode": "virtual", "seed": config.seed, **report.as_dict()},
                         indent=2))
        return 0 if not report.lost and not report.unknown_outcomes else 1
    return await _run_live(options, config, pbx, calls)


async def _run_live(options: argparse.Namespace, config: LoadConfig, pbx: PbxConfig,
                    calls: list[PlannedCall]) -> int:
    simulator = Simulator(SimulatorOptions(
        pbx=pbx, ami_host=options.ami_host, ami_port=options.ami_port,
        accounts=(AmiAccount(options.ami_user, options.ami_secret, options.ami_read),),
        fastagi_host=options.fastagi[0], fastagi_port=options.fastagi[1],
        time_scale=options.time_scale, recordings=not options.no_recordings,
        speech=not options.no_speech, demo_phones=False,
        agents=tuple(f"PJSIP/{options.first_agent + i}" for i in range(options.agents)),
        agent_queues=config.agent_queues,
        agent_profile=config.agent_profile,
        seed=options.seed))
    host, port = await simulator.start()
    print(json.dumps({"ami": f"{host}:{port}", "fastagi": "{}:{}".format(*options.fastagi),
                      "calls": len(calls)}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(run_live(simulator, calls))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stopper.cancel()
        runner.cancel()
        await simulator.stop()
    records = simulator.records
    outcomes = Counter(r.outcome for r in records)
    ended = {r.ref for r in records}
    print(json.dumps({"mode": "live", "seed": options.seed, "generated": len(calls),
                      "ended": len(records), "outcomes": dict(sorted(outcomes.items())),
                      "lost": len([c for c in calls if c.ref not in ended])}, indent=2))
    return 0 if len(records) == len(calls) else 1


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m simulator") -> int:
    """Parse ``argv`` (see the module docstring) and run; returns the exit code (2: usage)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="PBX simulator and load generator (a stand-in for Asterisk 22)")
    add_simulate_arguments(parser)
    return asyncio.run(run_simulation(parser.parse_args(argv)))
