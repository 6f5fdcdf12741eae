"""Capture click to dial on a real Asterisk 22, as the bridge's account sees it.

Run by hand (not a test)::

    CALLCENTER_TEST_ASTERISK=/opt/ast22/sbin/asterisk \\
        .venv/bin/python -m tests.asterisk.capture_click_to_dial tests/fixtures/asterisk-22

It starts a private Asterisk from a temporary directory as ``conftest.py`` does (our
dialplans, our ``manager.conf`` with its least-privilege ``callcenter`` account), sets
``CC_TRUNK = Local`` (the test dialplan's ``[trunk]`` answers, beeps 3 s and hangs up), logs in
with ``Events: call,agent,system,user`` and sends the Originate the desk's click to dial sends
(``cti.agent_actions.AgentActions.dial``): ``Channel`` = the agent's phone
``Local/8090@test-agent`` (answers at once; stays on the line: ``TEST_AGENT_TALK 60``),
``Context: cc-outbound``, ``Exten`` = the merchant's number, ``Async: true``, the ``CC_AGENT``
and ``CC_DIAL_KEY`` variables. The merchant hangs up after 3 s, then the agent's leg. Then
Logoff. The exact bytes received go to ``11-click-to-dial.ami``, the actions sent to
``11-click-to-dial.ami-actions.txt``, one line per ``recv()`` to
``11-click-to-dial.ami-timing.tsv``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tests.asterisk.conftest import AMI_SECRET, AsteriskProcess

NAME = "11-click-to-dial"


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
        action_id = f"s11-{self.number:03d}"
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
            pbx.box.cli("dialplan set global CC_TRUNK Local")
            reader, writer = await asyncio.open_connection("127.0.0.1", pbx.box.ami_port)
            rec = Recorder(reader, writer)
            pump = asyncio.create_task(rec.pump())
            login = rec.send("Login", ("Username", "callcenter"), ("Secret", AMI_SECRET),
                             ("Events", "call,agent,system,user"))
            await rec.until(f"ActionID: {login}".encode())
            await rec.until(b"Event: FullyBooted")
            rec.send("Originate", ("Channel", "Local/8090@test-agent"),
                     ("Context", "cc-outbound"), ("Exten", "13800138000"), ("Priority", "1"),
                     ("CallerID", '"Merchant" <13800138000>'), ("Timeout", "30000"),
                     ("Variable", "CC_AGENT=8090"), ("Variable", "CC_DIAL_KEY=capture-0001"),
                     ("Async", "true"),
                     note="click to dial: the agent's phone, then the merchant on the trunk")
            await rec.until(b"Event: OriginateResponse")
            await rec.until(b"Event: DialEnd")
            # the merchant hangs up after 3 s; then the agent's leg ends (Dial returns)
            deadline = time.monotonic() + 20
            while rec.received.count(b"Event: Hangup\r\n") < 4:
                if time.monotonic() > deadline:
                    raise TimeoutError("the call did not end")
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
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
