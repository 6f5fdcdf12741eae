"""The whole simulated PBX in virtual time, for tests, conformance runs and soak runs.

``VirtualPbx`` wires the engine to a ``VirtualScheduler``, the sans-IO AMI sessions, a scripted
IVR and simulated agents. Nothing touches a socket or the wall clock: a ten-minute run of
ninety concurrent calls takes well under a second of CPU per few thousand calls, and the same
inputs give the same bytes::

    pbx = VirtualPbx(PbxConfig(channels="local", profile=LAB), start=1795330135.869)
    cti = pbx.connect()                          # a virtual AMI client
    pbx.at(0.0, lambda: cti.send(b"Action: Login\\r\\nUsername: …\\r\\n\\r\\n"))
    pbx.at(1.5, lambda: pbx.arrive("c1", CallerScript(phone="13800138000")))
    pbx.run_until(60.0)
    cti.received                                 # the exact bytes a socket would carry
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from simulator.agents import AgentProfile, AutoAgents
from simulator.ami_session import AmiSession, SessionHub
from simulator.callers import CallerScript, ScriptedIvr
from simulator.config import AmiAccount, PbxConfig
from simulator.engine import Engine, Feed, IvrPort, VirtualScheduler
from simulator.pbx import (
    ActionReceived,
    CallArrives,
    CallRecord,
    Input,
    IvrDone,
    RunIvr,
)

DEFAULT_ACCOUNTS = {"callcenter": AmiAccount("callcenter", "changeme")}


class ManualIvr:
    """An IVR port the test drives itself: ``runs`` lists every ``RunIvr``; an abort ends the
    session at once with ``hung_up``."""

    def __init__(self) -> None:
        self.runs: list[RunIvr] = []
        self._feed: Feed | None = None

    def start(self, run: RunIvr, feed: Feed) -> None:
        self._feed = feed
        self.runs.append(run)

    def abort(self, ref: str) -> None:
        if self._feed is not None:
            route = next((r.request.route for r in reversed(self.runs) if r.ref == ref),
                         "hotline")
            self._feed(IvrDone(ref, route, hung_up=True))


@dataclass(slots=True)
class VirtualClient:
    """An AMI client connected to a ``VirtualPbx``: what it sent and received, with times."""

    pbx: VirtualPbx
    session: AmiSession
    received: bytearray = field(default_factory=bytearray)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    closed: bool = False

    def write(self, data: bytes) -> None:
        self.received += data
        self.chunks.append((self.pbx.scheduler.now(), data))

    def send(self, data: bytes) -> None:
        """Send bytes as the client; session answers are written at once, PBX actions are
        applied in order."""
        if self.closed:
            return
        out = self.session.receive(data, self.pbx.scheduler.now())
        if out.data:
            self.write(out.data)
        if out.close:
            self.closed = True
            self.pbx.hub.close(self.session.session_id)
            return
        for action in out.actions:
            self.pbx.engine.feed(ActionReceived(self.session.session_id, action))

    def send_action(self, name: str, action_id: str = "", **headers: str) -> None:
        lines = [f"Action: {name}"]
        if action_id:
            lines.append(f"ActionID: {action_id}")
        lines += [f"{key}: {value}" for key, value in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())


class VirtualPbx:
    """Engine + virtual clock + AMI sessions + scripted IVR + simulated agents."""

    def __init__(self, config: PbxConfig, *, start: float,
                 accounts: Mapping[str, AmiAccount] | None = None,
                 ivr: IvrPort | None = None, agent_default: AgentProfile | None = None,
                 agent_profiles: Mapping[str, AgentProfile] | None = None, seed: int = 0,
                 keep_records: bool = True) -> None:
        self.scheduler = VirtualScheduler(start)
        self.start_time = start
        self.hub = SessionHub(accounts or DEFAULT_ACCOUNTS, config.boot_time or start)
        self.scripted = ScriptedIvr(self.scheduler)
        self.agents = AutoAgents(self.scheduler, default=agent_default,
                                 profiles=agent_profiles, seed=seed)
        self.engine = Engine(config, self.scheduler, ami=self.hub,
                             ivr=ivr if ivr is not None else self.scripted, phones=self.agents)
        self.records: list[CallRecord] = []
        self.ended = 0
        self.keep_records = keep_records
        self.engine.on_call_ended.append(self._ended)

    def _ended(self, record: CallRecord) -> None:
        self.ended += 1
        self.scripted.forget(record.ref)
        if self.keep_records:
            self.records.append(record)

    @property
    def now(self) -> float:
        """Seconds since the start."""
        return self.scheduler.now() - self.start_time

    def connect(self) -> VirtualClient:
        client: VirtualClient | None = None

        def write(data: bytes) -> None:
            assert client is not None
            client.write(data)

        def close() -> None:
            assert client is not None
            client.closed = True

        holder: list[bytes] = []
        session = self.hub.open(holder.append, close)
        client = VirtualClient(self, session)
        for data in holder:
            client.write(data)
        self.hub.sessions[session.session_id] = (session, write, close)
        return client

    def at(self, offset: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``offset`` seconds after the start."""
        self.scheduler.call_at(self.start_time + offset, action)

    def feed(self, inp: Input) -> None:
        self.engine.feed(inp)

    def arrive(self, ref: str, script: CallerScript) -> None:
        """A call from ``script``'s merchant arrives now."""
        self.scripted.scripts[ref] = script
        self.engine.feed(CallArrives(ref, script.phone, script.name, script.patience,
                                     script.talk_limit, script.callback_after))

    def run_until(self, offset: float) -> None:
        self.scheduler.run_until(self.start_time + offset)
