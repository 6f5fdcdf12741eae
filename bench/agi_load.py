"""FastAGI load benchmark; prints one JSON document.

Three phases, all against the same AGI handler (``--handler module:function``, default the
hotline-like ``demo_handler`` below; ``module:factory()`` calls a zero-argument factory first):

1. ``fastagi``: the FastAGI server in its own process (a core to itself), ``--channels``
   emulated Asterisk channels in this process, each running calls back to back until
   ``--calls`` calls are done. "Media" commands (STREAM FILE, GET DATA, SAY *, WAIT FOR DIGIT,
   EXEC) are answered after ``--media-delay-ms`` (±50 %, seeded), as if a prompt played; the
   others at once.
   The per-command turnaround is measured at the emulated Asterisk, from the moment a reply was
   written to the moment the next command arrived: the server's whole share of a command.
   Channels start spread over a ramp-up of about one call; throughput and turnaround are
   reported for the steady window only (after the ramp-up, until channels run out of calls).
2. ``fastagi_saturation``: the same with no media delay and ``--saturation-channels`` channels:
   the most calls per second the server process sustains, and its CPU per call.
3. ``classic_agi``: the classic per-call AGI (``python -m ivr.agi_script``, one process per
   call, ``--classic-calls`` calls, ``--classic-concurrency`` at a time), no media delay.

``ratio`` compares the saturation phase with the classic one (calls/s and CPU per call).

Run: ``.venv/bin/python bench/agi_load.py`` (defaults: 1000 channels, 10000 calls, 500 ms media
delay, 50 classic calls); ``--handler 'bench.agi_load:real_hotline()'`` runs the real menu.
The numbers depend on what else the machine runs: the JSON has each process's CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
if str(ROOT) not in sys.path:  # run as a file: make ivr/ and bench/ importable
    sys.path.insert(0, str(ROOT))

from ivr.agi_script import load_object  # noqa: E402
from ivr.agi_server import AGISession, FastAGIServer  # noqa: E402

DEFAULT_HANDLER = "bench.agi_load:demo_handler"
CALLER = "13800138000"
MERCHANT = "123456789012345"


# ---------------------------------------------------------------------------------- handler


async def demo_handler(session: AGISession) -> None:
    """A hotline-like menu of 12 commands, as in capture 01 (the real menu replaces it later)."""
    caller = await session.get_variable("CALLERID(num)") or ""
    await session.database_get("cc-merchant", caller or "unknown")
    await session.stream_file("hello")
    menu = await session.get_data("basic-pbx-ivr-main", 5000, 1)
    await session.say_digits(menu.digits or "0")
    merchant = await session.get_data("astcc-followed-by-the-pound-key", 6000, 20)
    intent = await session.wait_for_digit(3000)
    await session.exec_app("Playback", "beep")
    await session.set_variable("CC_MERCHANT_ID", merchant.digits)
    await session.set_variable("CC_INTENT", "repair" if intent == "1" else "install")
    await session.set_variable("CC_QUEUE", "aftersales" if menu.digits == "2" else "presales")
    await session.set_variable(
        "CC_IVR_PATH", f"hello>menu:{menu.digits}>merchant:ok>intent:{intent}"
    )


def real_hotline() -> Callable[[AGISession], Awaitable[None]]:
    """The real hotline menu (``ivr.service``) over an in-memory directory where the emulated
    caller is a known merchant: ``--handler 'bench.agi_load:real_hotline()'``."""
    from ivr.menu_config import MenuRegistry  # imported only when selected
    from ivr.ports import InMemoryDirectory, MerchantRef
    from ivr.service import make_routes

    directory = InMemoryDirectory()
    directory.add_merchant(MerchantRef(1, MERCHANT, "Bench merchant"), [CALLER])
    return make_routes(directory, MenuRegistry())["hotline"]


def load_handler(spec: str) -> Callable[[AGISession], Awaitable[None]]:
    """``module:function`` or ``module:factory()``."""
    handler: Callable[[AGISession], Awaitable[None]] = load_object(spec)
    return handler


# ---------------------------------------------------------------------- emulated Asterisk

HEADER = (
    "agi_network: yes\nagi_network_script: hotline\nagi_request: agi://127.0.0.1/hotline\n"
    "agi_channel: Local/4008000000@from-trunk-{seq:08x};2\nagi_language: en\nagi_type: Local\n"
    "agi_uniqueid: 1795330137.{seq}\nagi_version: 22.10.1\nagi_callerid: {caller}\n"
    "agi_calleridname: Merchant\nagi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\n"
    "agi_callingtns: 0\nagi_dnid: unknown\nagi_rdnis: unknown\nagi_context: from-trunk\n"
    "agi_extension: 4008000000\nagi_priority: 4\nagi_enhanced: 0.0\nagi_accountcode: \n"
    "agi_threadid: 140028579907264\n\n"
)
MEDIA = (b"STREAM FILE", b"GET DATA", b"SAY ", b"WAIT FOR DIGIT", b"EXEC", b"GET OPTION")


def reply_to(command: bytes) -> bytes:
    """What the lab Asterisk answered to this command in capture 01 (or a plain success)."""
    if command.startswith(b"GET VARIABLE CALLERID(num)"):
        return b"200 result=1 (" + CALLER.encode() + b")\n"
    if command.startswith((b"GET VARIABLE", b"DATABASE GET")):
        return b"200 result=0\n"
    if command.startswith(b"STREAM FILE"):
        return b"200 result=0 endpos=6291\n"
    if command.startswith(b"GET DATA"):
        maximum = command.rsplit(b" ", 1)[-1]
        return b"200 result=2\n" if maximum == b"1" else b"200 result=" + MERCHANT.encode() + b"\n"
    if command.startswith(b"WAIT FOR DIGIT"):
        return b"200 result=49\n"
    if command.startswith((b"SET VARIABLE", b"VERBOSE", b"DATABASE PUT")):
        return b"200 result=1\n"
    return b"200 result=0\n"


class Stats:
    """What the emulated channels saw. The steady window runs from the end of the ramp-up to
    the moment the first channel finds no call left to make; only it is reported."""

    def __init__(self) -> None:
        self.turnarounds: list[float] = []
        self.finished_at: list[float] = []
        self.completed = 0
        self.failed = 0
        self.commands = 0
        self.window: list[tuple[float, int]] = []  # (time, len(turnarounds)) at start and end

    def mark(self) -> None:
        if len(self.window) < 2:
            self.window.append((time.perf_counter(), len(self.turnarounds)))

    def steady(self) -> tuple[float, list[float], int]:
        """(window seconds, turnarounds in it, calls finished in it)."""
        (start, first), (end, last) = self.window
        calls = sum(1 for t in self.finished_at if start <= t <= end)
        return end - start, self.turnarounds[first:last], calls


class EmulatedChannel(asyncio.Protocol):
    """One call as Asterisk runs it: header, commands answered, HANGUP after the half-close."""

    def __init__(
        self, stats: Stats, seq: int, delay: float, done: asyncio.Future[None], rng: random.Random
    ) -> None:
        self.rng = rng
        self.stats = stats
        self.seq = seq
        self.delay = delay
        self.done = done
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sent_at = 0.0
        self.commands = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(HEADER.format(seq=self.seq, caller=CALLER).encode())

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self.buffer + data if self.buffer else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end]
            start = end + 1
            if self.sent_at:
                self.stats.turnarounds.append(now - self.sent_at)
                self.sent_at = 0.0
            self.commands += 1
            reply = reply_to(line)
            if self.delay and line.startswith(MEDIA):
                delay = self.delay * (0.5 + self.rng.random())
                self.loop.call_later(delay, self._reply, reply)
            else:
                self._reply(reply)
        self.buffer = buffer[start:]

    def _reply(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)
            self.sent_at = time.perf_counter()

    def eof_received(self) -> bool:
        # The server half-closed: the call is over; Asterisk writes HANGUP and closes.
        if self.transport is not None:
            self.transport.write(b"HANGUP\n")
        self.stats.commands += self.commands
        if self.commands >= 2:
            self.stats.completed += 1
            self.stats.finished_at.append(time.perf_counter())
        else:
            self.stats.failed += 1
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def run_channels(
    port: int, channels: int, calls: int, delay: float, stats: Stats, ramp: float
) -> float:
    """Run ``calls`` calls over ``channels`` channels whose first calls start spread over
    ``ramp`` seconds (so that they do not run in lockstep); returns the elapsed seconds."""
    loop = asyncio.get_running_loop()
    rng = random.Random(4573)
    next_call = 0

    async def call(seq: int) -> None:
        done: asyncio.Future[None] = loop.create_future()
        try:
            await loop.create_connection(
                lambda: EmulatedChannel(stats, seq, delay, done, rng), "127.0.0.1", port
            )
        except OSError:
            stats.failed += 1
            await asyncio.sleep(0.01)
            return
        await done

    async def channel(index: int) -> None:
        nonlocal next_call
        await asyncio.sleep(ramp * index / channels)
        while next_call < calls:
            seq = next_call
            next_call += 1
            await call(seq)
        stats.mark()  # the first channel out of work ends the steady window

    started = time.perf_counter()
    loop.call_later(ramp, stats.mark)
    await asyncio.gather(*(channel(i) for i in range(channels)))
    stats.mark()
    return time.perf_counter() - started


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)}


# ---------------------------------------------------------------------- server process


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


async def serve(handler_spec: str) -> None:
    """The server process: prints {"port": N}; then answers "stats"/"reset" lines on stdin."""
    server = FastAGIServer({"hotline": load_handler(handler_spec)})
    port = await server.start("127.0.0.1", 0)
    print(json.dumps({"port": port}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    cpu0 = os.times()
    while line := await reader.readline():
        if line.strip() == b"reset":
            server.max_concurrent = server.active_sessions
            cpu0 = os.times()
            print("{}", flush=True)
        elif line.strip() == b"stats":
            cpu = os.times()
            print(
                json.dumps(
                    {
                        "max_concurrent_sessions": server.max_concurrent,
                        "active_sessions": server.active_sessions,
                        "rss_mb": rss_mb(),
                        "peak_rss_mb": round(
                            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                        ),
                        "cpu_s": round(cpu.user + cpu.system - cpu0.user - cpu0.system, 3),
                    }
                ),
                flush=True,
            )
    await server.stop()


class ServerProcess:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls, handler_spec: str) -> ServerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SELF),
            "serve",
            "--handler",
            handler_spec,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert process.stdout is not None
        port = json.loads(await process.stdout.readline())["port"]
        return cls(process, port)

    async def ask(self, what: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(what.encode() + b"\n")
        await self.process.stdin.drain()
        answer: dict[str, Any] = json.loads(await self.process.stdout.readline())
        return answer

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def fastagi_phase(
    server: ServerProcess, channels: int, calls: int, delay_ms: float
) -> dict[str, Any]:
    await server.ask("reset")
    stats = Stats()
    cpu0 = os.times()
    delay = delay_ms / 1000
    ramp = max(1.0, 8 * delay)  # about one call's length
    elapsed = await run_channels(server.port, channels, calls, delay, stats, ramp)
    cpu = os.times()
    await asyncio.sleep(0.2)  # let the last sessions finish their drain
    server_stats = await server.ask("stats")
    window, turnarounds, window_calls = stats.steady()
    return {
        "channels": channels,
        "calls": calls,
        "media_delay_ms": delay_ms,
        "ramp_up_s": round(ramp, 2),
        "completed_calls": stats.completed,
        "failed_calls": stats.failed,
        "elapsed_s": round(elapsed, 3),
        "steady_window_s": round(window, 3),
        "calls_per_s": round(window_calls / window, 1) if window > 0 else None,
        "commands": stats.commands,
        "commands_per_call": round(stats.commands / max(stats.completed, 1), 2),
        "turnaround_samples": len(turnarounds),
        "turnaround_ms": percentiles(turnarounds),
        "max_concurrent_sessions": server_stats["max_concurrent_sessions"],
        "server_rss_mb": server_stats["rss_mb"],
        "server_peak_rss_mb": server_stats["peak_rss_mb"],
        "server_cpu_s": server_stats["cpu_s"],
        "server_cpu_ms_per_call": round(1000 * server_stats["cpu_s"] / max(stats.completed, 1), 3),
        "server_cpu_busy": round(server_stats["cpu_s"] / elapsed, 2),
        "emulator_cpu_busy": round((cpu.user + cpu.system - cpu0.user - cpu0.system) / elapsed, 2),
    }


# ---------------------------------------------------------------------- classic AGI


async def classic_call(handler_spec: str, seq: int, stats: Stats) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr.agi_script",
        "hotline",
        "--handler",
        handler_spec,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    header = HEADER.format(seq=seq, caller=CALLER).replace(
        "agi_network: yes\nagi_network_script: hotline\n", ""
    )
    process.stdin.write(header.encode())
    await process.stdin.drain()
    sent_at = 0.0
    commands = 0
    while line := await process.stdout.readline():
        if sent_at:
            stats.turnarounds.append(time.perf_counter() - sent_at)
        commands += 1
        process.stdin.write(reply_to(line.rstrip(b"\n")))
        await process.stdin.drain()
        sent_at = time.perf_counter()
    process.stdin.close()
    status = await process.wait()
    stats.commands += commands
    if status == 0 and commands >= 2:
        stats.completed += 1
    else:
        stats.failed += 1


async def classic_phase(handler_spec: str, calls: int, concurrency: int) -> dict[str, Any]:
    stats = Stats()
    gate = asyncio.Semaphore(concurrency)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)

    async def one(seq: int) -> None:
        async with gate:
            await classic_call(handler_spec, seq, stats)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    elapsed = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = cpu.ru_utime + cpu.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return {
        "calls": calls,
        "concurrency": concurrency,
        "media_delay_ms": 0,
        "completed_calls": stats.completed,
        "failed_calls": stats.failed,
        "elapsed_s": round(elapsed, 3),
        "calls_per_s": round(stats.completed / elapsed, 2),
        "turnaround_ms": percentiles(stats.turnarounds),
        "cpu_ms_per_call": round(1000 * cpu_s / max(stats.completed, 1), 1),
    }


def load_average() -> float:
    """The 1-minute load average: other work on the machine skews every number here."""
    return os.getloadavg()[0]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_before = load_average()
    server = await ServerProcess.start(args.handler)
    try:
        load = await fastagi_phase(server, args.channels, args.calls, args.media_delay_ms)
        saturation = await fastagi_phase(server, args.saturation_channels, args.saturation_calls, 0)
    finally:
        await server.stop()
    classic = await classic_phase(args.handler, args.classic_calls, args.classic_concurrency)
    return {
        "benchmark": "agi_load",
        "handler": args.handler,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_avg_1m_before_after": [round(load_before, 2), round(load_average(), 2)],
        "fastagi": load,
        "fastagi_saturation": saturation,
        "classic_agi": classic,
        "ratio": {
            "calls_per_s_fastagi_over_classic": round(
                saturation["calls_per_s"] / max(classic["calls_per_s"], 1e-9), 1
            ),
            "cpu_per_call_classic_over_fastagi": round(
                classic["cpu_ms_per_call"] / max(saturation["server_cpu_ms_per_call"], 1e-9), 1
            ),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--handler", default=DEFAULT_HANDLER)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--media-delay-ms", type=float, default=500.0)
    parser.add_argument("--saturation-channels", type=int, default=100)
    parser.add_argument("--saturation-calls", type=int, default=5000)
    parser.add_argument("--classic-calls", type=int, default=50)
    parser.add_argument("--classic-concurrency", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        asyncio.run(serve(args.handler))
        return 0
    result = asyncio.run(bench(args))
    print(json.dumps(result, indent=2))
    return 0


ROUTES: Mapping[str, Callable[[AGISession], Awaitable[None]]] = {"hotline": demo_handler}

if __name__ == "__main__":
    sys.exit(main())
