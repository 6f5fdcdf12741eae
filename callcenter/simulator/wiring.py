"""How the PBX simulator joins the running product (``serve --simulate``, ``make run``).

``install(runtime, options)`` does nothing unless ``options["simulate"]``. Otherwise it:

* starts the simulated Asterisk's AMI server right away, on 127.0.0.1 and
  ``CALLCENTER_SIMULATOR_AMI_PORT`` (default 0: any free port), with one account: the product's
  own ``ami.username``/``ami.secret``. Binding at install time means the address is known
  before any component starts: ``ami_settings_for(runtime)`` gives the ``AmiSettings`` the CTI
  bridge should use (the settings' AMI account with the simulator's host and port);
* adds a ``simulator`` component to ``runtime.components``: when started it generates demo
  traffic (Poisson arrivals of merchants from the demo data, ``CALLCENTER_SIMULATOR_RATE``
  calls per second) that runs the product's IVR over FastAGI (the ``fastagi`` component's
  bound port, else ``fastagi.port``), queues and rings agents; stopping it hangs every call
  up, sends ``Shutdown`` to AMI clients and closes the server;
* adds the ``simulator`` health probe.

Agents who log in on the desktop get demo phones: ``simulator_of(runtime).phones`` is the
``DemoPhones`` whose ``answer(interface)``/``hangup(interface)``/``ringing()`` the desktop's
buttons call. ``CALLCENTER_SIMULATOR_AGENTS`` simulated agents (``PJSIP/8101``…) also log in
and answer by themselves, so calls get answered even with nobody at a desktop.

Recordings go to ``recording.dir`` as ``<caller Uniqueid>.wav`` (8 kHz, 16-bit mono).

Environment knobs (there is no ``[simulator]`` settings section yet): ``CALLCENTER_SIMULATOR_``
``AMI_PORT``, ``RATE``, ``AGENTS``, ``FIRST_AGENT``, ``HANDLE_TIME``, ``PATIENCE``,
``TIME_SCALE``, ``SEED``, ``SPEECH`` (0/1), ``WRAPUPS`` (0/1: simulated agents save their
wrap-ups), ``CHANNELS`` (pjsip/local).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callcenter.app import Runtime
from callcenter.settings import AmiSettings, Settings
from callcenter.simulator.agents import AgentProfile, DemoPhones
from callcenter.simulator.callers import CallerMix, Directory, make_caller
from callcenter.simulator.config import PRODUCT, AmiAccount, PbxConfig
from callcenter.simulator.errors import SimulatorConfigError
from callcenter.simulator.pbx import CallRecord
from callcenter.simulator.simulator import Simulator, SimulatorOptions

logger = logging.getLogger(__name__)

ENV_PREFIX = "CALLCENTER_SIMULATOR_"


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """The simulator's knobs for ``serve --simulate`` (see the module docstring)."""

    ami_port: int = 0
    # Demo defaults for `make run`: a call every ~12 s; demo agents 8013-8015 (accounts that
    # exist in the demo data) answer by themselves, 8001-8012 answer from the desktop.
    rate: float = 0.08
    agents: int = 3
    first_agent: int = 8013
    handle_time: float = 30.0
    patience: float = 180.0
    time_scale: float = 0.2
    seed: int = 1
    speech: bool = True
    channels: str = "pjsip"
    # the simulated agents save their calls' wrap-ups (callcenter/simulator/demo_agents.py)
    wrapups: bool = True

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SimulatorSettings:
        """Read ``CALLCENTER_SIMULATOR_*``; raises ``SimulatorConfigError`` naming the bad one."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, kind in (("ami_port", int), ("rate", float), ("agents", int),
                           ("first_agent", int),
                           ("handle_time", float), ("patience", float),
                           ("time_scale", float), ("seed", int), ("channels", str)):
            raw = env.get(f"{ENV_PREFIX}{name.upper()}")
            if raw is None:
                continue
            try:
                values[name] = kind(raw)
            except ValueError:
                raise SimulatorConfigError(f"{ENV_PREFIX}{name.upper()}: bad value {raw!r}") \
                    from None
        for flag in ("speech", "wrapups"):
            raw_flag = env.get(f"{ENV_PREFIX}{flag.upper()}")
            if raw_flag is not None:
                values[flag] = raw_flag.strip().lower() in ("1", "true", "yes", "on")
        settings = cls(**values)
        if settings.rate < 0 or settings.agents < 0 or settings.time_scale <= 0:
            raise SimulatorConfigError(f"{ENV_PREFIX}RATE/AGENTS must not be negative and "
                                       "TIME_SCALE must be positive")
        return settings


def simulator_options(settings: Settings, knobs: SimulatorSettings) -> SimulatorOptions:
    """The real-time simulator as the product's settings describe the PBX it stands in for."""
    recording_dir = str(Path(settings.recording.dir).resolve())
    host = settings.fastagi.host
    pbx = PbxConfig(profile=PRODUCT, channels=knobs.channels, monitor_dir=recording_dir,
                    agi_host="127.0.0.1" if host in ("", "0.0.0.0", "::") else host,  # noqa: S104
                    agi_port=settings.fastagi.port)
    return SimulatorOptions(
        pbx=pbx, ami_host="127.0.0.1", ami_port=knobs.ami_port,
        accounts=(AmiAccount(settings.ami.username, settings.ami.secret),),
        fastagi_host=pbx.agi_host, fastagi_port=pbx.agi_port, time_scale=knobs.time_scale,
        speech=knobs.speech, demo_phones=True,
        agents=tuple(f"PJSIP/{knobs.first_agent + i}" for i in range(knobs.agents)),
        agent_queues=("aftersales", "presales", "complaints", "techsupport", "night"),
        agent_profile=AgentProfile(answer_after=3.0, handle_time=knobs.handle_time),
        seed=knobs.seed)


@dataclass(slots=True)
class SimulatorComponent:
    """The simulator as a runtime component: demo traffic while started."""

    simulator: Simulator
    knobs: SimulatorSettings
    directory: Directory | None = None
    name: str = "simulator"
    outcomes: Counter[str] = field(default_factory=Counter)
    placed: int = 0
    _traffic: asyncio.Task[None] | None = None

    @property
    def ami_address(self) -> tuple[str, int]:
        return self.simulator.ami_address

    @property
    def phones(self) -> DemoPhones | None:
        """The demo phones the agent desktop answers (``answer``/``hangup``/``ringing``)."""
        return self.simulator.phones

    async def start(self) -> None:
        if self.knobs.rate > 0:
            self._traffic = asyncio.create_task(self._generate(), name="simulator-traffic")

    async def _generate(self) -> None:
        """Poisson arrivals of demo merchants, one task for the whole run."""
        directory = self.directory or Directory.demo()
        rng = random.Random(self.knobs.seed)  # noqa: S311 - simulation, not security
        mix = CallerMix()
        while True:
            await asyncio.sleep(rng.expovariate(self.knobs.rate))
            script = make_caller(rng, directory, mix)
            patience = rng.expovariate(1.0 / self.knobs.patience) if self.knobs.patience else None
            future = self.simulator.place_call(replace(script, patience=patience))
            self.placed += 1
            future.add_done_callback(self._count)

    def _count(self, future: asyncio.Future[CallRecord]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.outcomes[future.result().outcome] += 1

    async def stop(self) -> None:
        if self._traffic is not None:
            self._traffic.cancel()
            await asyncio.gather(self._traffic, return_exceptions=True)
        await self.simulator.stop()

    async def health(self) -> dict[str, Any]:
        engine = self.simulator.engine
        host, port = self.ami_address
        return {"ok": True, "ami": f"{host}:{port}", "placed": self.placed,
                "live_calls": len(engine.state.calls) if engine is not None else 0,
                "outcomes": dict(self.outcomes),
                "ringing_demo_phones": len(self.phones.ringing()) if self.phones else 0}


def simulator_of(runtime: Runtime) -> SimulatorComponent | None:
    """The simulator component of a runtime built with ``simulate``, or None."""
    return next((c for c in runtime.components if isinstance(c, SimulatorComponent)), None)


def ami_settings_for(runtime: Runtime) -> AmiSettings | None:
    """The AMI settings that point the CTI bridge at the simulator (None without one)."""
    component = simulator_of(runtime)
    if component is None:
        return None
    host, port = component.ami_address
    return replace(runtime.settings.ami, host=host, port=port)


def _fastagi_address(runtime: Runtime) -> tuple[str, int]:
    settings = runtime.settings.fastagi
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host  # noqa: S104
    for component in runtime.components:
        if component.name == "fastagi":
            bound = getattr(component, "bound_port", None)
            if isinstance(bound, int) and bound:
                return host, bound
    return host, settings.port


async def install(runtime: Runtime, options: dict[str, bool]) -> None:
    """Start the simulated PBX's AMI server and add the simulator component (see above).
    Raises ``SimulatorConfigError`` for a bad knob and ``OSError`` when the port is taken."""
    if not options.get("simulate"):
        return
    knobs = SimulatorSettings.from_environ()
    simulator = Simulator(simulator_options(runtime.settings, knobs),
                          fastagi_address=lambda: _fastagi_address(runtime))
    host, port = await simulator.start()
    component = SimulatorComponent(simulator, knobs)
    runtime.components.append(component)
    runtime.health["simulator"] = component.health
    logger.info("serve --simulate: simulated Asterisk AMI at %s:%d (%d simulated agents, "
                "%.3f calls/s)", host, port, knobs.agents, knobs.rate)
