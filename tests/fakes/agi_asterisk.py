"""A scripted fake Asterisk for the AGI tests, and the transcripts of the real captures.

``load_transcript(path)`` reads a ``*.agi.txt`` capture (``< `` Asterisk, ``> `` AGI server,
``# `` notes) into the header block, the command → reply exchanges and what Asterisk sent after
the server half-closed; ``Transcript.asterisk_bytes()`` is then byte-identical to the matching
``*.agi-asterisk.raw``.

``FakeAsterisk`` is the Asterisk end of one FastAGI connection over loopback TCP: it sends a
header, reads the command lines the server writes (recording them), and answers them from a
script, a transcript or a responder function.

``capture_handler`` is an AGI handler that issues exactly the commands of the captured calls
(scenarios 1-3, 6-8), through the session's typed calls; it is used by the server test and,
through ``python -m ivr.agi_script --handler tests.fakes.agi_asterisk:capture_handler``, by the
classic script test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.agi_protocol import Command
from ivr.agi_server import AgiSession
from ivr.errors import AgiCommandError

CAPTURE_HEADER: dict[str, str] = {
    "agi_network": "yes",
    "agi_network_script": "hotline",
    "agi_request": "agi://127.0.0.1:4573/hotline",
    "agi_channel": "Local/4008000000@from-trunk-00000000;2",
    "agi_language": "en",
    "agi_type": "Local",
    "agi_uniqueid": "1795330137.1",
    "agi_version": "22.10.1",
    "agi_callerid": "13800138000",
    "agi_calleridname": "Merchant",
    "agi_callingpres": "0",
    "agi_callingani2": "0",
    "agi_callington": "0",
    "agi_callingtns": "0",
    "agi_dnid": "unknown",
    "agi_rdnis": "unknown",
    "agi_context": "from-trunk",
    "agi_extension": "4008000000",
    "agi_priority": "4",
    "agi_enhanced": "0.0",
    "agi_accountcode": "",
    "agi_threadid": "140028579907264",
}


def header_block(**overrides: str) -> bytes:
    """A header block like Asterisk's (scenario 1), with keys replaced or added:
    ``header_block(agi_uniqueid="1.2", agi_arg_1="x")``. A value of None-like "" is kept."""
    fields = {**CAPTURE_HEADER, **overrides}
    return "".join(f"{key}: {value}\n" for key, value in fields.items()).encode() + b"\n"


@dataclass(frozen=True)
class Exchange:
    """One command line the server sent (no LF) and the bytes Asterisk sent until the next
    command (the reply, with a ``HANGUP`` line before it when there was one)."""

    command: str
    reply: bytes


@dataclass(frozen=True)
class Transcript:
    header: bytes
    exchanges: tuple[Exchange, ...]
    trailer: bytes

    def asterisk_bytes(self) -> bytes:
        return self.header + b"".join(e.reply for e in self.exchanges) + self.trailer

    def segments(self) -> list[bytes]:
        """What Asterisk sent, cut where it waited for the server: header, each reply, trailer."""
        return [self.header, *(e.reply for e in self.exchanges), self.trailer]


def load_transcript(path: Path) -> Transcript:
    text = path.read_bytes().decode("utf-8")
    header = bytearray()
    exchanges: list[tuple[str, bytearray]] = []
    trailer = bytearray()
    in_trailer = False
    for line in text.split("\n"):
        if line.startswith("# ") and "half-closed" in line:
            in_trailer = True
        elif line.startswith("> "):
            exchanges.append((line[2:], bytearray()))
        elif line.startswith("<"):
            data = line[2:].encode("utf-8") + b"\n"
            if in_trailer:
                trailer += data
            elif exchanges:
                exchanges[-1][1].extend(data)
            else:
                header += data
    return Transcript(
        bytes(header), tuple(Exchange(c, bytes(r)) for c, r in exchanges), bytes(trailer)
    )


Responder = Callable[[str], bytes | None]


class FakeAsterisk:
    """The Asterisk end of one FastAGI connection (asyncio streams, loopback TCP)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[str] = []

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> FakeAsterisk:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_command(self, within: float = 10.0) -> str | None:
        """The next command line (no LF), or None when the server closed/half-closed."""
        try:
            line = await asyncio.wait_for(self.reader.readline(), within)
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not line:
            return None
        assert line.endswith(b"\n"), line
        command = line[:-1].decode("utf-8")
        self.received.append(command)
        return command

    async def expect(self, command: str, reply: bytes) -> None:
        got = await self.read_command()
        assert got == command, f"expected {command!r}, got {got!r}"
        await self.send(reply)

    async def serve(self, responder: Responder) -> None:
        """Answer commands with ``responder(command)`` until the server closes its side.
        A responder returning None sends nothing (the call stays silent)."""
        while (command := await self.read_command()) is not None:
            reply = responder(command)
            if reply is not None:
                await self.send(reply)

    async def wait_closed_by_server(self, within: float = 10.0) -> bool:
        """True when the server closed/half-closed its side (EOF) with nothing more sent."""
        try:
            data = await asyncio.wait_for(self.reader.read(), within)
        except (ConnectionResetError, BrokenPipeError):
            return True
        self.received.extend(line.decode() for line in data.splitlines())
        return not data

    async def finish(self) -> None:
        """Asterisk's end of a session: after the server's half-close, ``HANGUP`` and close."""
        try:
            self.writer.write(b"HANGUP\n")
            await self.writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            await self.writer.wait_closed()

    async def play_transcript(self, transcript: Transcript) -> None:
        """Send the header, check every command against the transcript and send its reply,
        then expect the half-close and finish the way Asterisk does."""
        await self.send(transcript.header)
        for exchange in transcript.exchanges:
            await self.expect(exchange.command, exchange.reply)
        assert await self.wait_closed_by_server(), "server did not half-close"
        await self.send(transcript.trailer)
        await self.close()


def responder_from(table: Mapping[str, bytes], default: bytes = b"200 result=1\n") -> Responder:
    """Reply by command prefix (``{"GET DATA": b"200 result=2\\n"}``), else ``default``."""

    def respond(command: str) -> bytes:
        for prefix, reply in table.items():
            if command.startswith(prefix):
                return reply
        return default

    return respond


async def _refused(session: AgiSession, line: str) -> AgiCommandError:
    try:
        await session.execute(Command.from_line(line))
    except AgiCommandError as exc:
        return exc
    raise AssertionError(f"{line!r} was accepted")


async def capture_handler(session: AgiSession) -> None:
    """The IVR of the captured calls, command for command (see the fixtures README table)."""
    caller = await session.get_variable("CALLERID(num)")
    assert caller == "13800138000", caller
    known = await session.database_get("cc-merchant", caller)
    assert known is None, known
    assert await session.stream_file("hello") is None
    menu = await session.get_data("basic-pbx-ivr-main", 5000, 1)
    assert (menu.digits, menu.timed_out) == ("2", False), menu
    await session.say_digits(menu.digits)
    merchant = await session.get_data("astcc-followed-by-the-pound-key", 6000, 20)
    assert merchant.digits == "123456789012345", merchant
    intent = await session.wait_for_digit(3000)
    assert intent == "1", intent
    unknown = await _refused(session, 'STREAMFILE hello ""')
    assert unknown.code == 510, unknown
    usage = await _refused(session, "SAY NUMBER")
    assert usage.code == 520 and "<literal>-1</literal>" in usage.usage, usage
    beep = await session.exec_app("Playback", "beep")
    assert beep.result == "0", beep
    await session.set_variable("CC_MERCHANT_ID", merchant.digits)
    await session.set_variable("CC_INTENT", "repair" if intent == "1" else "install")
    await session.set_variable("CC_QUEUE", "aftersales")
    await session.set_variable(
        "CC_IVR_PATH", f"hello>menu:{menu.digits}>merchant:ok>intent:{intent}"
    )


ROUTES: Mapping[str, Callable[[AgiSession], Awaitable[None]]] = {"hotline": capture_handler}
