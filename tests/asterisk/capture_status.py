"""Capture the resync lists of a real Asterisk 22 with a call up, as the bridge's account.

Run by hand (not a test)::

    CALLCENTER_TEST_ASTERISK=/opt/ast22/sbin/asterisk \\
        .venv/bin/python -m tests.asterisk.capture_status tests/fixtures/asterisk-22

It starts a private Asterisk from a temporary directory as ``conftest.py`` does (our
dialplans, our ``manager.conf`` with its least-privilege ``callcenter`` account), logs in with
``Events: call,agent,system,user``, adds two dynamic members (``Local/8090@test-agent/n``
without a state interface; ``Local/8091@test-agent/n`` with ``StateInterface: PJSIP/8091``, a
device this Asterisk cannot have), places a merchant call with no FastAGI server (default
routing to ``aftersales``), and once the agent talks sends what the bridge's resync sends:
``Status`` (no Channel: every channel), ``QueueStatus``, ``QueueSummary``, and
``CoreShowChannels`` (refused to this account). Then Logoff. The exact bytes received go to
``10-status-resync.ami``, the actions sent to ``10-status-resync.ami-actions.txt``, one line per
``recv()`` to ``10-status-resync.ami-timing.tsv``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tests.asterisk.conftest import AMI_SECRET, AsteriskProcess

NAME = "10-status-resync"


class Recorder:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received = bytearray()
        self.actions: list[str] = []
        self.started = time.monotonic()
        self.number = 0
        self.chunks: list[tuple[int, int, float]] = []

    async def pump(self) -> None:
        while chunk := await self.reader.read(65536):
            self.chunks.append((len(self.received), len(chunk),
                                time.monotonic() - self.started))
            self.received += chunk

    def send(self, action: str, *headers: tuple[str, str], note: str = "") -> str:
        self.number += 1
        action_id = f"s10-{self.number:03d}"
        lines = [f"Action: {action}", f"ActionID: {action_id}",
                 *(f"{k}: {v}" for k, v in headers)]
        t = time.monotonic() - self.started
        if note:
            self.actions.append(f"--- {note}")
        shown = [line if not line.startswith("Secret:") else "Secret: ********" for line in lines]
        self.actions.append(f"# t={t:.3f} offset={len(self.received)}\n" + "\n".join(shown) + "\n")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    async def until(self, marker: bytes, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while marker not in self.received:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {marker!r} within {within} s")
            await asyncio.sleep(0.05)


async def capture(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pbx = AsteriskProcess.create(Path(tmp))
        pbx.start()
        try:
            pbx.box.cli("dialplan set global TEST_AGENT_TALK 60")
            reader, writer = await asyncio.open_connection("127.0.0.1", pbx.box.ami_port)
            rec = Recorder(reader, writer)
            pump = asyncio.create_task(rec.pump())
            login = rec.send("Login", ("Username", "callcenter"), ("Secret", AMI_SECRET),
                             ("Events", "call,agent,system,user"))
            await rec.until(f"ActionID: {login}".encode())
            await rec.until(b"Event: FullyBooted")
            added = rec.send("QueueAdd", ("Queue", "aftersales"),
                             ("Interface", "Local/8090@test-agent/n"),
                             ("MemberName", "8090 Agent"), ("Paused", "false"),
                             note="agent 8090: no state interface (rings its Local channel)")
            await rec.until(f"ActionID: {added}".encode())
            offline = rec.send("QueueAdd", ("Queue", "aftersales"),
                               ("Interface", "Local/8091@test-agent/n"),
                               ("MemberName", "8091 Agent"), ("Paused", "false"),
                               ("StateInterface", "PJSIP/8091"),
                               note="agent 8091: StateInterface PJSIP/8091 (no such device)")
            await rec.until(f"ActionID: {offline}".encode())
            rec.send("Originate", ("Channel", "Local/4008000000@from-trunk"),
                     ("Context", "merchant-sim"), ("Exten", "s"), ("Priority", "1"),
                     ("CallerID", '"Merchant" <13800138000>'), ("Variable", "MS_KEYS="),
                     ("Timeout", "10000"), ("Async", "true"),
                     note="a merchant call (no FastAGI server: default routing)")
            await rec.until(b"Event: AgentConnect")
            await asyncio.sleep(1.0)
            status = rec.send("Status", note="the resync: every channel")
            await rec.until(b"Event: StatusComplete\r\nActionID: " + status.encode())
            queue_status = rec.send("QueueStatus")
            await rec.until(b"Event: QueueStatusComplete\r\nActionID: "
                            + queue_status.encode())
            summary = rec.send("QueueSummary")
            await rec.until(b"Event: QueueSummaryComplete\r\nActionID: " + summary.encode())
            refused = rec.send("CoreShowChannels",
                               note="refused: needs the system or reporting write class")
            await rec.until(f"ActionID: {refused}".encode())
            rec.send("Logoff")
            await asyncio.wait_for(pump, 10)
            writer.close()
        finally:
            pbx.stop()
    (out / f"{NAME}.ami").write_bytes(bytes(rec.received))
    (out / f"{NAME}.ami-actions.txt").write_text("\n".join(rec.actions), encoding="utf-8")
    (out / f"{NAME}.ami-timing.tsv").write_text(
        "# offset\tlength\tseconds since connect\n"
        + "".join(f"{o}\t{n}\t{t:.6f}\n" for o, n, t in rec.chunks), encoding="utf-8")
    print(f"{len(rec.received)} bytes -> {out / (NAME + '.ami')}")


if __name__ == "__main__":
    asyncio.run(capture(Path(sys.argv[1])))
