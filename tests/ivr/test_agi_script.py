"""The classic per-call AGI script: a subprocess with a scripted stdin, checked on the commands
it writes to stdout (and ScriptSession in-process over pipes)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from ivr import agi_protocol as agi
from ivr.agi_script import ScriptSession
from ivr.errors import AgiHangup, AgiTimeout
from tests.conftest import ASTERISK_FIXTURES, TESTS_DIR
from tests.fakes.agi_asterisk import header_block, load_transcript

REPO = TESTS_DIR.parent
HANDLER = "tests.fakes.agi_asterisk:capture_handler"


class ScriptedAsterisk:
    """Asterisk's side of a classic AGI: the script's stdin/stdout pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin = process.stdin
        self.stdout = process.stdout

    async def send(self, data: bytes) -> None:
        self.stdin.write(data)
        await self.stdin.drain()

    async def read_command(self) -> str | None:
        line = await asyncio.wait_for(self.stdout.readline(), 20)
        return line.decode().removesuffix("\n") if line else None

    async def expect(self, command: str, reply: bytes) -> None:
        assert await self.read_command() == command
        await self.send(reply)

    async def exit_status(self) -> int:
        assert await self.read_command() is None, "the script wrote more commands"
        return await asyncio.wait_for(self.process.wait(), 20)


@pytest.fixture
async def spawn() -> AsyncIterator:
    processes: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> ScriptedAsterisk:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ivr.agi_script",
            *args,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        processes.append(process)
        return ScriptedAsterisk(process)

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
        await process.communicate()


def classic_header() -> bytes:
    # A classic AGI header: no agi_network lines, agi_request is the script.
    return header_block(agi_request="/usr/local/bin/hotline-agi").replace(
        b"agi_network: yes\nagi_network_script: hotline\n", b""
    )


async def test_classic_script_runs_the_captured_call_command_for_command(spawn) -> None:  # type: ignore[no-untyped-def]
    transcript = load_transcript(ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi.txt")
    asterisk = await spawn("hotline", "--handler", HANDLER)
    await asterisk.send(classic_header())
    for exchange in transcript.exchanges:
        await asterisk.expect(exchange.command, exchange.reply)
    assert await asterisk.exit_status() == 0


async def test_sighup_lets_dead_channel_commands_through_and_stops_the_others(spawn) -> None:  # type: ignore[no-untyped-def]
    asterisk = await spawn("hotline", "--handler", HANDLER)
    await asterisk.send(classic_header())
    assert await asterisk.read_command() == "GET VARIABLE CALLERID(num)"
    asterisk.process.send_signal(signal.SIGHUP)  # the caller hung up
    await asyncio.sleep(0.2)
    await asterisk.send(b"200 result=1 (13800138000)\n")
    await asterisk.expect("DATABASE GET cc-merchant 13800138000", b"200 result=0\n")
    # STREAM FILE needs a live channel: not written; the handler ends with AgiHangup.
    assert await asterisk.exit_status() == 0


async def test_stdin_closed_mid_call_ends_the_script(spawn) -> None:  # type: ignore[no-untyped-def]
    asterisk = await spawn("hotline", "--handler", HANDLER)
    await asterisk.send(classic_header())
    assert await asterisk.read_command() == "GET VARIABLE CALLERID(num)"
    asterisk.stdin.close()
    assert await asterisk.exit_status() == 0


async def test_usage_block_cut_by_eof_does_not_hang(spawn) -> None:  # type: ignore[no-untyped-def]
    # pyst2 loops forever on "520-" followed by EOF.
    asterisk = await spawn("hotline", "--handler", HANDLER)
    await asterisk.send(classic_header())
    assert await asterisk.read_command() == "GET VARIABLE CALLERID(num)"
    await asterisk.send(b"520-Invalid command syntax.  Proper usage follows:\nusage\n")
    asterisk.stdin.close()
    assert await asterisk.exit_status() == 0


async def test_unknown_route_is_logged_to_asterisk(spawn) -> None:  # type: ignore[no-untyped-def]
    asterisk = await spawn("nope", "--routes", "tests.fakes.agi_asterisk:ROUTES")
    await asterisk.send(classic_header())
    await asterisk.expect("VERBOSE \"AGI script: no route 'nope'\" 1", b"200 result=1\n")
    assert await asterisk.exit_status() == 2


async def test_script_without_a_header_exits_with_a_usage_error(spawn) -> None:  # type: ignore[no-untyped-def]
    asterisk = await spawn("hotline", "--handler", HANDLER)
    asterisk.stdin.close()
    assert await asterisk.exit_status() == 2


async def test_failing_handler_exits_non_zero_after_logging(spawn) -> None:  # type: ignore[no-untyped-def]
    asterisk = await spawn("hotline", "--handler", HANDLER)
    await asterisk.send(classic_header())
    await asterisk.expect(
        "GET VARIABLE CALLERID(num)", b"200 result=1 (10086)\n"
    )  # assertion fails
    assert await asterisk.exit_status() == 1
    assert asterisk.process.stderr is not None
    assert b"1795330137.1" in await asterisk.process.stderr.read()


@pytest.fixture
def pipes() -> Iterator:
    opened: list[int] = []

    def make(**options: float) -> tuple[ScriptSession, int, int]:
        replies_r, replies_w = os.pipe()
        commands_r, commands_w = os.pipe()
        opened.extend([replies_r, replies_w, commands_r, commands_w])
        request = agi.parse_header_block(header_block())
        session = ScriptSession(request, stdin_fd=replies_r, stdout_fd=commands_w, **options)
        return session, replies_w, commands_r

    yield make
    for fd in opened:
        os.close(fd)


async def test_script_session_hangup_line_and_reply_in_one_read(pipes) -> None:  # type: ignore[no-untyped-def]
    session, replies, commands = pipes()
    os.write(replies, b"HANGUP\n200 result=1\n")
    await session.verbose("bye")
    assert session.hung_up
    assert os.read(commands, 1000) == b'VERBOSE "bye" 1\n'
    with pytest.raises(AgiHangup):
        await session.stream_file("hello")  # not written: needs a live channel
    os.write(replies, b"200 result=1\n")
    await session.set_variable("CC_IVR_PATH", "hangup")
    assert os.read(commands, 1000) == b'SET VARIABLE CC_IVR_PATH "hangup"\n'


async def test_script_session_times_out_a_silent_asterisk(pipes) -> None:  # type: ignore[no-untyped-def]
    session, _replies, _commands = pipes(command_timeout=0.1)
    with pytest.raises(AgiTimeout):
        await session.wait_for_digit(0)
    # A late reply would answer the next command: the session is over.
    with pytest.raises(AgiHangup):
        await session.verbose("after the timeout")
