"""Capture a keep-my-place call-back (key 1 in the queue) on a real Asterisk 22.

Run by hand (not a test)::

    CALLCENTER_TEST_ASTERISK=/opt/ast22/sbin/asterisk \\
        .venv/bin/python -m tests.asterisk.capture_queue_callback tests/fixtures/asterisk-22

It starts a private Asterisk from a temporary directory as ``conftest.py`` does, with our
FastAGI IVR (the product's routes, the call-back port on a seeded SQLite database) on the port
``CC_FASTAGI`` names, logs in as the bridge's account (``Events: call,agent,system,user``),
adds a paused member to ``aftersales`` (nobody answers and the caller does not overflow),
places a merchant call (``13800138000`` keys 1-2-2: Chinese, after-sales, fault), and once
the caller waits sends ``PlayDTMF 1`` on the merchant's half: app_queue lets the caller out
into ``[cc-queue-exit]``, our ``callback`` route reads the caller ID out, a second ``1``
confirms it, the request is stored, the dialplan sends ``UserEvent CcCallbackRequest`` and
hangs up. Then Logoff. The exact bytes received go to ``12-queue-callback.ami``, the actions
sent to ``12-queue-callback.ami-actions.txt``, one line per ``recv()`` to
``12-queue-callback.ami-timing.tsv``, Asterisk's ``queue_log`` to ``12-queue-callback.queue_log``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

from callcenter.callbacks.service import CallbackService
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db import migrate
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.ivr_directory import StoreIvrDirectory
from callcenter.queue_callbacks import StoreCallbackRequests
from ivr.agi_server import FastAgiServer
from ivr.service import make_routes
from tests.asterisk.conftest import AMI_SECRET, AsteriskProcess
from tests.asterisk.test_queue_callback import MEMBER, Hub, daytime, watched
from tests.asterisk.test_real_asterisk import HOTLINE, menu_with_prompts
from tests.business.conftest import TZ, seed

NAME = "12-queue-callback"


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
        action_id = f"s12-{self.number:03d}"
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
        base = Path(tmp)
        url = f"sqlite+aiosqlite:///{base / 'cc.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_engine(url)
        store = Store(session_factory(engine))
        await seed(store)
        (base / "pbx").mkdir()
        pbx = AsteriskProcess.create(base / "pbx")
        pbx.start()
        server: FastAgiServer | None = None
        try:
            reading: dict[str, asyncio.Event] = {}
            service = CallbackService(SqlCallbackStore(store), Hub(), TZ)
            routes = make_routes(StoreIvrDirectory(store), menu_with_prompts(base / "prompts"),
                                 daytime, callbacks=StoreCallbackRequests(store, service))
            server = FastAgiServer(watched(routes, reading))
            await server.start("127.0.0.1", pbx.box.fastagi_port)
            reader, writer = await asyncio.open_connection("127.0.0.1", pbx.box.ami_port)
            rec = Recorder(reader, writer)
            pump = asyncio.create_task(rec.pump())
            login = rec.send("Login", ("Username", "callcenter"), ("Secret", AMI_SECRET),
                             ("Events", "call,agent,system,user"))
            await rec.until(f"ActionID: {login}".encode())
            await rec.until(b"Event: FullyBooted")
            rec.send("QueueAdd", ("Queue", "aftersales"), ("Interface", MEMBER),
                     ("Paused", "true"), note="a paused agent: nobody answers, no overflow")
            await rec.until(b"Event: QueueMemberAdded")
            rec.send("Originate", ("Channel", HOTLINE), ("Context", "merchant-sim"),
                     ("Exten", "s"), ("Priority", "1"),
                     ("CallerID", '"Merchant" <13800138000>'), ("Variable", "MS_KEYS=122"),
                     ("Timeout", "10000"), ("Async", "true"),
                     note="the merchant calls and keys 1-2-2 (Chinese, after-sales, fault)")
            await rec.until(b"Event: QueueCallerJoin", within=30)
            found = re.search(rb"Event: QueueCallerJoin\r\n(?:.*\r\n)*?Channel: (\S+);2\r\n",
                              bytes(rec.received))
            assert found is not None
            merchant = found.group(1).decode() + ";1"
            await asyncio.sleep(2)  # the caller has waited a little
            rec.send("PlayDTMF", ("Channel", merchant), ("Digit", "1"), ("Duration", "250"),
                     note="key 1 in the queue: call me back")
            await rec.until(b"Event: QueueCallerLeave", within=10)
            confirm = reading.setdefault("callback_confirm_keys", asyncio.Event())
            await asyncio.wait_for(confirm.wait(), 15)
            await asyncio.sleep(0.2)
            rec.send("PlayDTMF", ("Channel", merchant), ("Digit", "1"), ("Duration", "250"),
                     note="key 1: the caller ID read out is the number to call back")
            await rec.until(b"UserEvent: CcCallbackRequest", within=15)
            deadline = time.monotonic() + 15
            while rec.received.count(b"Event: Hangup\r\n") < 2:
                if time.monotonic() > deadline:
                    raise TimeoutError("the call did not end")
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            rec.send("QueueRemove", ("Queue", "aftersales"), ("Interface", MEMBER))
            await rec.until(b"Event: QueueMemberRemoved")
            rec.send("Logoff")
            await asyncio.wait_for(pump, 10)
            writer.close()
            print(f"stored call-backs: {len(await service.find())}")
            queue_log = (pbx.box.log.parent / "queue_log").read_bytes()
        finally:
            pbx.stop()
            if server is not None:
                await server.stop()
            await engine.dispose()
    (out / f"{NAME}.ami").write_bytes(bytes(rec.received))
    (out / f"{NAME}.queue_log").write_bytes(queue_log)
    (out / f"{NAME}.ami-actions.txt").write_text("\n".join(rec.actions), encoding="utf-8")
    (out / f"{NAME}.ami-timing.tsv").write_text(
        "# offset\tlength\tseconds since connect\n"
        + "".join(f"{o}\t{n}\t{t:.6f}\n" for o, n, t in rec.chunks), encoding="utf-8")
    print(f"{len(rec.received)} bytes -> {out / (NAME + '.ami')}")


if __name__ == "__main__":
    asyncio.run(capture(Path(sys.argv[1])))
