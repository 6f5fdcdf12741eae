"""FastAGI load benchmark; prints one JSON document.

Three phases, all against the same AGI handler (``--handler module:function``; the default
``real_hotline()`` is the product's hotline menu, ``ivr.service``, over an in-memory directory
where the emulated caller is a known merchant; ``demo_handler`` below is a fixed 12-command
script; ``module:factory()`` calls a zero-argument factory first):

1. ``fastagi``: the FastAGI server in its own process, pinned to core 1, and ``--channels``
   emulated Asterisk channels in this process, pinned to core 0, each running calls back to
   back until ``--calls`` calls are done. "Media" commands (STREAM FILE, GET DATA, SAY *,
   WAIT FOR DIGIT, EXEC Playback) are answered after ``--media-delay-ms`` (±50 %, seeded), as
   if a prompt played; the others at once.
   The per-command turnaround runs from the moment a reply was written to the moment the next
   command reached the emulator's socket, stamped by the kernel (``SO_TIMESTAMPNS``): the
   server's whole share of a command plus loopback, as Asterisk would see it. The same
   interval as the Python emulator got round to reading it is ``turnaround_seen_ms`` (it adds
   the emulator's own scheduling lag). Channels start spread over a ramp-up of about one call;
   throughput and turnaround are reported for the steady window only (after the ramp-up, until
   channels run out of calls).
2. ``fastagi_saturation``: the same with no media delay and ``--saturation-channels`` channels:
   the most calls per second the server process sustains, and its CPU per call.
3. ``classic_agi``: the classic per-call AGI (``python -m ivr.agi_script``, one process per
   call, ``--classic-calls`` calls, ``--classic-concurrency`` at a time), no media delay.

``ratio`` compares the saturation phase with the classic one (calls/s and CPU per call).
``--loop uvloop`` (default, as ``callcenter serve``) or ``--loop asyncio`` picks the event
loop of both processes.

Run: ``.venv/bin/python bench/agi_load.py`` (defaults: 1000 channels, 10000 calls, 500 ms media
delay, 50 classic calls). The numbers depend on what else the machine runs: the JSON has the
load average and each process's CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
if str(ROOT) not in sys.path:  # run as a file: make ivr/ and bench/ importable
    sys.path.insert(0, str(ROOT))

from callcenter.event_loop import settle_gc  # noqa: E402
from ivr.agi_script import load_object  # noqa: E402
from ivr.agi_server import AgiSession, FastAgiServer  # noqa: E402

DEFAULT_HANDLER = "bench.agi_load:real_hotline()"
CALLER = "13800138000"
MERCHANT = "123456789012345"


# ---------------------------------------------------------------------------------- handler


async def demo_handler(session: AgiSession) -> None:
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


def real_hotline() -> Callable[[AgiSession], Awaitable[None]]:
    """The real hotline menu (``ivr.service``) over an in-memory directory where the emulated
    caller is a known merchant: ``--handler 'bench.agi_load:real_hotline()'``."""
    from ivr.menu_config import MenuRegistry  # imported only when selected
    from ivr.ports import InMemoryDirectory, MerchantRef
    from ivr.service import make_routes

    directory = InMemoryDirectory()
    directory.add_merchant(MerchantRef(1, MERCHANT, "Bench merchant"), [CALLER])
    return make_routes(directory, MenuRegistry())["hotline"]


def load_handler(spec: str) -> Callable[[AgiSession], Awaitable[None]]:
    """``module:function`` or ``module:factory()``."""
    handler: Callable[[AgiSession], Awaitable[None]] = load_object(spec)
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
MEDIA = (b"STREAM FILE", b"GET DATA", b"SAY ", b"WAIT FOR DIGIT", b"EXEC Playback",
         b"EXEC Background", b"GET OPTION")


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
    the moment the first channel finds no call left to make; only it is reported.

    ``turnarounds`` are kernel-stamped (see :class:`EmulatedChannel`); ``seen`` are the same
    intervals as the emulator's own event loop got round to them, for comparison."""

    def __init__(self) -> None:
        self.turnarounds: list[float] = []
        self.seen: list[float] = []
        self.finished_at: list[float] = []
        self.completed = 0
        self.failed = 0
        self.commands = 0
        self.window: list[tuple[float, int]] = []  # (time, len(turnarounds)) at start and end

    def mark(self) -> None:
        if len(self.window) < 2:
            self.window.append((time.perf_counter(), len(self.turnarounds)))

    def steady(self) -> tuple[float, list[float], list[float], int]:
        """(window seconds, turnarounds in it, as seen by the emulator, calls finished in it)."""
        (start, first), (end, last) = self.window
        calls = sum(1 for t in self.finished_at if start <= t <= end)
        return end - start, self.turnarounds[first:last], self.seen[first:last], calls


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESTAMP = struct.Struct("qq")  # struct timespec
ANCILLARY = socket.CMSG_SPACE(TIMESTAMP.size)


class EmulatedChannel:
    """One call as Asterisk runs it: header, commands answered, HANGUP after the half-close.

    A plain non-blocking socket read with ``recvmsg`` and ``SO_TIMESTAMPNS``: each command
    carries the kernel's receive time, so a command's turnaround (reply sent → next command
    in) is what Asterisk, a C program with no event-loop lag of its own, would measure. When
    this Python emulator is busy with other channels it reads the command later; that delay
    is the emulator's, not the server's, and is reported apart as ``turnaround_seen_ms``.
    """

    def __init__(
        self,
        sock: socket.socket,
        stats: Stats,
        seq: int,
        delay: float,
        done: asyncio.Future[None],
        rng: random.Random,
    ) -> None:
        self.rng = rng
        self.stats = stats
        self.seq = seq
        self.delay = delay
        self.done = done
        self.loop = asyncio.get_running_loop()
        self.sock = sock
        self.fd = sock.fileno()
        self.buffer = b""
        self.pending = b""  # unsent bytes (never seen on loopback, handled anyway)
        self.sent_at = 0  # time.time_ns() when the last reply left
        self.commands = 0
        self.closed = False

    def start(self) -> None:
        self.loop.add_reader(self.fd, self._readable)
        self._send(HEADER.format(seq=self.seq, caller=CALLER).encode())

    def _readable(self) -> None:
        try:
            data, ancillary, _flags, _addr = self.sock.recvmsg(65536, ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(failed=True)
            return
        if not data:
            self._eof()
            return
        seen = time.time_ns()
        arrived = seen
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                sec, nsec = TIMESTAMP.unpack(payload[: TIMESTAMP.size])
                arrived = sec * 1_000_000_000 + nsec
        buffer = self.buffer + data if self.buffer else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start:end]
            start = end + 1
            if self.sent_at:
                self.stats.turnarounds.append((arrived - self.sent_at) / 1e9)
                self.stats.seen.append((seen - self.sent_at) / 1e9)
                self.sent_at = 0
            self.commands += 1
            reply = reply_to(line)
            if self.delay and line.startswith(MEDIA):
                delay = self.delay * (0.5 + self.rng.random())
                self.loop.call_later(delay, self._reply, reply)
            else:
                self._reply(reply)
        self.buffer = buffer[start:]

    def _reply(self, reply: bytes) -> None:
        if not self.closed:
            self._send(reply)
            self.sent_at = time.time_ns()

    def _send(self, data: bytes) -> None:
        if self.pending:
            self.pending += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(failed=True)
            return
        if sent < len(data):
            self.pending = data[sent:]
            self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(failed=True)
            return
        self.pending = self.pending[sent:]
        if not self.pending:
            self.loop.remove_writer(self.fd)

    def _eof(self) -> None:
        # The server half-closed: the call is over; Asterisk writes HANGUP and closes.
        with contextlib.suppress(OSError):
            self.sock.send(b"HANGUP\n")
        self._close(failed=self.commands < 2)

    def _close(self, *, failed: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        if self.pending:
            self.loop.remove_writer(self.fd)
        self.sock.close()
        self.stats.commands += self.commands
        if failed:
            self.stats.failed += 1
        else:
            self.stats.completed += 1
            self.stats.finished_at.append(time.perf_counter())
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
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", port))
        except OSError:
            sock.close()
            stats.failed += 1
            await asyncio.sleep(0.01)
            return
        EmulatedChannel(sock, stats, seq, delay, done, rng).start()
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
    server = FastAgiServer({"hotline": load_handler(handler_spec)})
    port = await server.start("127.0.0.1", 0)
    pin(SERVER_CPU)
    settle_gc()  # as `callcenter serve` does once it is up (callcenter/app.py)
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
    async def start(cls, handler_spec: str, loop_kind: str) -> ServerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SELF),
            "serve",
            "--handler",
            handler_spec,
            "--loop",
            loop_kind,
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
    window, turnarounds, seen, window_calls = stats.steady()
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
        "turnaround_seen_ms": percentiles(seen),
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


SERVER_CPU = 1
EMULATOR_CPU = 0


def pin(cpu: int) -> None:
    """Give the server and the emulator a core each (when there are two): the emulator must
    not steal the server's core, nor the scheduler bounce either between cores mid-run."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


def unpin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def load_average() -> float:
    """The 1-minute load average: other work on the machine skews every number here."""
    return os.getloadavg()[0]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    load_before = load_average()
    pin(EMULATOR_CPU)
    server = await ServerProcess.start(args.handler, args.loop)
    try:
        load = await fastagi_phase(server, args.channels, args.calls, args.media_delay_ms)
        saturation = await fastagi_phase(server, args.saturation_channels, args.saturation_calls, 0)
    finally:
        await server.stop()
    unpin()  # the per-call scripts may use both cores, as Asterisk's children would
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
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    run = asyncio.run
    if args.loop == "uvloop":
        import uvloop
        run = uvloop.run
    if args.mode == "serve":
        run(serve(args.handler))
        return 0
    result = run(bench(args))
    print(json.dumps(result, indent=2))
    return 0


ROUTES: Mapping[str, Callable[[AgiSession], Awaitable[None]]] = {"hotline": demo_handler}

if __name__ == "__main__":
    sys.exit(main())
