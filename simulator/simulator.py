"""The simulated PBX in real time: an AMI server the product's CTI logs in to, calls that run
the product's IVR over FastAGI, agents' phones (simulated or answered from the desktop) and
recordings on disk. The stand-in for Asterisk 22 behind ``make run`` and ``serve --simulate``.

::

    sim = Simulator(SimulatorOptions(accounts=(AmiAccount("callcenter", "s3cret"),),
                                     agents=("PJSIP/8101", "PJSIP/8102")),
                    fastagi_address=lambda: ("127.0.0.1", 4573))
    host, port = await sim.start()                      # the CTI connects here
    records = await sim.run_calls(50, CallerScript(menu_key="2", merchant_number="1022900…"))
    [r.outcome for r in records]                        # "answered", "abandoned", …
    sim.phones.answer("PJSIP/8001")                     # the desktop's answer button
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from simulator.agents import AgentProfile, AutoAgents, DemoPhones, PhoneRouter
from simulator.agi_client import AgiIvr
from simulator.ami_server import AmiServer
from simulator.ami_session import SessionHub
from simulator.callers import CallerScript
from simulator.config import AmiAccount, PbxConfig, agent_login_queues
from simulator.eagi import ScriptHost
from simulator.engine import AsyncioScheduler, Engine, NullRecorder, RecorderPort
from simulator.pbx import AddMember, CallArrives, CallRecord, Shutdown
from simulator.recordings import WavRecorder

logger = logging.getLogger(__name__)

Scripts = CallerScript | Sequence[CallerScript] | Callable[[int], CallerScript]


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """How the real-time simulator runs.

    ``agents`` are interfaces of simulated agents (they log in to ``agent_queues`` at start and
    answer by themselves with ``agent_profile``); every other member's phone is a demo phone
    when ``demo_phones`` is on (answered from the desktop), or simulated too when it is off.
    ``time_scale`` multiplies the IVR's waits (prompts, typing, timeouts) so a demo call does not
    take a real minute in the menu.
    """

    pbx: PbxConfig = field(default_factory=PbxConfig)
    ami_host: str = "127.0.0.1"
    ami_port: int = 0
    accounts: tuple[AmiAccount, ...] = (AmiAccount("callcenter", "changeme"),)
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    time_scale: float = 0.2
    recordings: bool = True
    speech: bool = True
    demo_phones: bool = True
    agents: tuple[str, ...] = ()
    agent_queues: tuple[str, ...] = agent_login_queues(("aftersales", "presales"))
    agent_profile: AgentProfile = field(default_factory=AgentProfile)
    seed: int = 0
    # Scripts "installed on the Asterisk host" for EXEC EAGI/AGI: name → executable here.
    agi_scripts: Mapping[str, str] = field(default_factory=dict)


class Simulator:
    """The simulated PBX and its adapters (see the module docstring). One per event loop."""

    def __init__(self, options: SimulatorOptions | None = None, *,
                 fastagi_address: Callable[[], tuple[str, int]] | None = None) -> None:
        self.options = options or SimulatorOptions()
        self._fastagi_address = fastagi_address
        self.engine: Engine | None = None
        self.server: AmiServer | None = None
        self.ivr: AgiIvr | None = None
        self.phones: DemoPhones | None = None
        self.agents: AutoAgents | None = None
        self.recorder: RecorderPort = NullRecorder()
        self.records: list[CallRecord] = []
        self._waiters: dict[str, asyncio.Future[CallRecord]] = {}
        self._refs = itertools.count(1)

    def fastagi_address(self) -> tuple[str, int]:
        """Where the product's FastAGI server listens (asked at each call)."""
        if self._fastagi_address is not None:
            return self._fastagi_address()
        host = self.options.fastagi_host
        return ("127.0.0.1" if host in ("", "0.0.0.0", "::") else host,  # noqa: S104
                self.options.fastagi_port)

    @property
    def ami_address(self) -> tuple[str, int]:
        """The bound AMI (host, port); only after ``start``."""
        if self.server is None or self.server.address is None:
            raise RuntimeError("the simulator is not started")
        return self.server.address

    async def start(self) -> tuple[str, int]:
        """Start the AMI server and log the simulated agents in; returns the AMI address.
        Raises ``OSError`` when the port cannot be bound."""
        options = self.options
        scheduler = AsyncioScheduler()
        pbx = options.pbx
        if pbx.boot_time == 0.0:
            pbx = replace(pbx, boot_time=scheduler.now())
        hub = SessionHub({a.username: a for a in options.accounts}, pbx.boot_time)
        self.agents = AutoAgents(
            scheduler, default=None if options.demo_phones else options.agent_profile,
            profiles=dict.fromkeys(options.agents, options.agent_profile), seed=options.seed)
        self.phones = DemoPhones(scheduler.now) if options.demo_phones else None
        self.ivr = AgiIvr(self.fastagi_address, time_scale=options.time_scale,
                          script_host=ScriptHost(options.agi_scripts))
        if options.recordings and pbx.record:
            self.recorder = WavRecorder(use_speech=options.speech)
        self.engine = Engine(pbx, scheduler, ami=hub, ivr=self.ivr,
                             phones=PhoneRouter(self.agents, self.phones),
                             recorder=self.recorder)
        self.engine.on_call_ended.append(self._ended)
        self.server = AmiServer(hub, self.engine)
        address = await self.server.start(options.ami_host, options.ami_port)
        for interface in options.agents:
            for queue in options.agent_queues:
                self.engine.feed(AddMember(queue, interface, f"Agent {interface.split('/')[-1]}"))
        logger.info("PBX simulator started: AMI %s:%d, FastAGI target %s:%d, %d simulated "
                    "agents, demo phones %s", *address, *self.fastagi_address(),
                    len(options.agents), "on" if self.phones else "off")
        return address

    async def stop(self) -> None:
        """Hang every call up (Shutdown event to AMI clients), close the server, finish the
        recordings."""
        if self.engine is not None:
            self.engine.feed(Shutdown())
            self.engine.cancel_all_timers()
        if self.ivr is not None:
            await self.ivr.close()
        if self.server is not None:
            await self.server.stop()
        if isinstance(self.recorder, WavRecorder):
            await self.recorder.flush()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()

    async def restart(self) -> None:
        """Act out ``asterisk -rx 'core restart now'``: calls end (waiting callers abandon,
        cause 0), AMI clients get ``Shutdown`` (``Restart: True``) and then EOF without a
        Goodbye; the PBX comes back at once with its queue members (paused ones still paused,
        with their reason) and fresh statistics. Clients must log in again."""
        if self.engine is None or self.server is None:
            raise RuntimeError("the simulator is not started")
        self.engine.feed(Shutdown(restart=True))
        self.engine.cancel_all_timers()
        self.server.disconnect_all()
        self.server.hub.boot_time = self.engine.scheduler.now()

    def _ended(self, record: CallRecord) -> None:
        self.records.append(record)
        if self.ivr is not None:
            self.ivr.scripts.pop(record.ref, None)
        waiter = self._waiters.pop(record.ref, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(record)

    def place_call(self, script: CallerScript,
                   ref: str | None = None) -> asyncio.Future[CallRecord]:
        """A merchant calls now; the future resolves with the call's record when it ends."""
        if self.engine is None or self.ivr is None:
            raise RuntimeError("the simulator is not started")
        ref = ref or f"sim-{next(self._refs):06d}"
        future: asyncio.Future[CallRecord] = asyncio.get_running_loop().create_future()
        self._waiters[ref] = future
        self.ivr.scripts[ref] = script
        self.engine.feed(CallArrives(ref, script.phone, script.name, script.patience,
                                     script.talk_limit, script.callback_after))
        return future

    async def run_calls(self, count: int, scripts: Scripts, *,
                        interval: float = 1.0) -> list[CallRecord]:
        """Place ``count`` calls ``interval`` seconds apart and wait for all of them to end;
        returns their records in call order. ``scripts``: one script for every call, a list
        (cycled) or a function of the call's index. Bound it with ``asyncio.timeout``.
        """
        futures: list[asyncio.Future[CallRecord]] = []
        for index in range(count):
            futures.append(self.place_call(_script_for(scripts, index)))
            if index + 1 < count and interval > 0:
                await asyncio.sleep(interval)
        return list(await asyncio.gather(*futures))


def _script_for(scripts: Scripts, index: int) -> CallerScript:
    if isinstance(scripts, CallerScript):
        return scripts
    if callable(scripts):
        return scripts(index)
    return scripts[index % len(scripts)]
