"""``serve --simulate`` (``make run``): the PBX simulator stands in for Asterisk.

The product never imports this package on its own. ``callcenter serve --simulate`` imports
:func:`stand_in` in its CLI and hands it to the composition root (``callcenter.app``) as the
factory of a stand-in PBX; a production ``serve`` never imports the simulator. Everything the
stand-in does to the product goes over the product's own interfaces: AMI (the CTI logs in to
the simulated Asterisk), FastAGI (each call runs the product's IVR) and HTTP (the simulated
agents save their wrap-ups, ``demo_agents.py``). The one in-process link left is the demo
phones: the desktop's answer/hang-up buttons stand in for the agent's desk phone, which the
product reaches through the CTI's ``DemoPhonePort``.

``stand_in(settings, fastagi_address=…, web_address=…)``, with the ``[simulator]`` settings:

* starts the simulated Asterisk's AMI server right away, on 127.0.0.1 and
  ``simulator.ami_port`` (default 0: any free port), with one account: the product's own
  ``ami.username``/``ami.secret``. Binding at once means the address (``ami_address``) is
  known before the CTI bridge is built;
* returns a :class:`SimulatorComponent`: started (the composition root starts it last, once
  the product listens), it generates demo traffic (Poisson arrivals of the demo merchants,
  ``simulator.rate`` calls per second) that runs the product's IVR over FastAGI
  (``fastagi_address()``), queues and rings agents, and, with ``simulator.wrapups``, lets the
  simulated agents save their wrap-ups on the web app at ``web_address()``; stopping it
  hangs every call up, sends ``Shutdown`` to AMI clients and closes the server. Its
  ``health()`` is the ``simulator`` entry of ``/healthz``.

Agents who log in on the desktop get demo phones: ``SimulatorComponent.phones`` is the
``DemoPhones`` whose ``answer(interface)``/``hangup(interface)``/``ringing()`` the desktop's
buttons call. ``simulator.agents`` simulated agents (``PJSIP/8013``… from
``simulator.first_agent``) log in and answer by themselves, so calls get answered even with
nobody at a desktop.

Recordings go to ``recording.dir`` as ``<caller Uniqueid>.wav`` (8 kHz, 16-bit mono).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callcenter.settings import Settings, SimulatorSettings
from callcenter.shifts import login_queues
from simulator.agents import AgentProfile, DemoPhones
from simulator.callers import CallerMix, Directory, make_caller
from simulator.config import PRODUCT, AmiAccount, PbxConfig
from simulator.demo_agents import DemoWrapups
from simulator.pbx import CallRecord
from simulator.simulator import Simulator, SimulatorOptions

__all__ = ["SimulatorComponent", "simulator_options", "stand_in"]

# Share of demo callers who say their choice where the main menu invites it (speech.models
# has a model for their language); the others key it.
SPEAKING_CALLERS = 0.3

logger = logging.getLogger(__name__)


def simulator_options(settings: Settings) -> SimulatorOptions:
    """The real-time simulator as the product's settings describe the PBX it stands in for."""
    knobs = settings.simulator
    recording_dir = str(Path(settings.recording.dir).resolve())
    host = settings.fastagi.host
    pbx = PbxConfig(profile=PRODUCT, channels=knobs.channels, monitor_dir=recording_dir,
                    agi_host=_loopback(host), agi_port=settings.fastagi.port)
    return SimulatorOptions(
        pbx=pbx, ami_host="127.0.0.1", ami_port=knobs.ami_port,
        accounts=(AmiAccount(settings.ami.username, settings.ami.secret),),
        fastagi_host=pbx.agi_host, fastagi_port=pbx.agi_port, time_scale=knobs.time_scale,
        speech=knobs.speech, demo_phones=True,
        agents=tuple(f"PJSIP/{n}" for n in _agent_numbers(knobs)),
        # the simulated agents log in as a desk agent with every daytime queue would
        agent_queues=login_queues(("aftersales", "presales", "complaints", "techsupport")),
        agent_profile=AgentProfile(answer_after=3.0, handle_time=knobs.handle_time),
        seed=knobs.seed, agi_scripts=_installed_scripts(settings))


def _installed_scripts(settings: Settings) -> dict[str, str]:
    """The simulated Asterisk host has the EAGI relay installed where ``speech.eagi_script``
    says: the ``callcenter-eagi`` installed beside this Python (the same package)."""
    relay = Path(sys.executable).parent / "callcenter-eagi"
    return {settings.speech.eagi_script: str(relay)} if relay.is_file() else {}


def callback_after(rng: random.Random, knobs: SimulatorSettings) -> float | None:
    """Whether a demo caller presses 1 in the queue to be called back (a ``callback_share``
    of them), and after how many seconds (exponential, mean ``callback_after``)."""
    if rng.random() >= knobs.callback_share:
        return None
    return rng.expovariate(1.0 / knobs.callback_after)


def _agent_numbers(knobs: SimulatorSettings) -> list[str]:
    return [f"{knobs.first_agent + i}" for i in range(knobs.agents)]


def _loopback(host: str) -> str:
    """Where to connect to a server bound to ``host`` (a wildcard address means loopback)."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104


@dataclass(slots=True)
class SimulatorComponent:
    """The simulator as a runtime component: demo traffic (and the simulated agents'
    wrap-ups) while started; the AMI server listens from construction until ``stop``."""

    simulator: Simulator
    knobs: SimulatorSettings
    wrapups: DemoWrapups | None = None
    directory: Directory | None = None
    name: str = "simulator"
    outcomes: Counter[str] = field(default_factory=Counter)
    placed: int = 0
    _traffic: asyncio.Task[None] | None = None

    @property
    def ami_address(self) -> tuple[str, int]:
        """Where the CTI bridge connects (the bound AMI host and port)."""
        return self.simulator.ami_address

    @property
    def phones(self) -> DemoPhones | None:
        """The demo phones the agent desktop answers (``answer``/``hangup``/``ringing``)."""
        return self.simulator.phones

    async def start(self) -> None:
        if self.wrapups is not None:
            await self.wrapups.start()
        if self.knobs.rate > 0:
            self._traffic = asyncio.create_task(self._generate(), name="simulator-traffic")

    async def _generate(self) -> None:
        """Poisson arrivals of demo merchants, one task for the whole run."""
        directory = self.directory or Directory.demo()
        rng = random.Random(self.knobs.seed)  # noqa: S311 - simulation, not security
        mix = CallerMix(speak=SPEAKING_CALLERS)
        # A second generator for the call-back choice: the callers stay those of the seed.
        keys = random.Random(self.knobs.seed + 1)  # noqa: S311 - simulation, not security
        while True:
            await asyncio.sleep(rng.expovariate(self.knobs.rate))
            script = make_caller(rng, directory, mix)
            patience = rng.expovariate(1.0 / self.knobs.patience) if self.knobs.patience else None
            script = replace(script, patience=patience,
                             callback_after=callback_after(keys, self.knobs))
            future = self.simulator.place_call(script)
            self.placed += 1
            future.add_done_callback(self._count)

    def _count(self, future: asyncio.Future[CallRecord]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.outcomes[future.result().outcome] += 1

    async def stop(self) -> None:
        if self._traffic is not None:
            self._traffic.cancel()
            await asyncio.gather(self._traffic, return_exceptions=True)
        try:
            await self.simulator.stop()
        finally:
            if self.wrapups is not None:
                await self.wrapups.stop()

    async def health(self) -> dict[str, Any]:
        """``/healthz`` → ``simulator``: AMI address, calls placed, live and by outcome."""
        engine = self.simulator.engine
        host, port = self.ami_address
        report: dict[str, Any] = {
            "ok": True, "ami": f"{host}:{port}", "placed": self.placed,
            "live_calls": len(engine.state.calls) if engine is not None else 0,
            "outcomes": dict(self.outcomes),
            "ringing_demo_phones": len(self.phones.ringing()) if self.phones else 0}
        if self.wrapups is not None:
            report["wrapups"] = {"saved": self.wrapups.saved,
                                 "pending": len(self.wrapups.pending)}
        return report


Address = tuple[str, int]


async def stand_in(settings: Settings, *, fastagi_address: Callable[[], Address],
                   web_address: Callable[[], Address | None]) -> SimulatorComponent:
    """Start the simulated PBX's AMI server and return the simulator component (see the
    module docstring). ``fastagi_address()`` is where the product's FastAGI server is bound
    and ``web_address()`` its web app (None without one), both asked when needed (a wildcard
    host means loopback). Raises ``OSError`` when the AMI port is taken."""
    knobs = settings.simulator

    def fastagi() -> Address:
        host, port = fastagi_address()
        return _loopback(host), port

    def web_url() -> str | None:
        address = web_address()
        return None if address is None else f"http://{_loopback(address[0])}:{address[1]}"

    simulator = Simulator(simulator_options(settings), fastagi_address=fastagi)
    host, port = await simulator.start()
    wrapups = None
    if knobs.wrapups and knobs.agents and simulator.engine is not None:
        wrapups = DemoWrapups(web_url, knobs.agent_password, frozenset(_agent_numbers(knobs)))
        simulator.engine.on_call_ended.append(wrapups.call_ended)
    logger.info("serve --simulate: simulated Asterisk AMI at %s:%d (%d simulated agents, "
                "%.3f calls/s)", host, port, knobs.agents, knobs.rate)
    return SimulatorComponent(simulator, knobs, wrapups)
