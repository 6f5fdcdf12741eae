"""A scripted fake Asterisk Manager Interface on loopback, for the AMI client tests.

``FakeAmiServer`` listens on ``127.0.0.1`` port 0 and records every action it receives (per
connection, byte-exact and framed). Each connection is served either

* by the default script — what Asterisk 22 answers, wire lines taken from the captures:
  ``Login`` (``Response: Success`` + the login-time ``FullyBooted``, or ``Response: Error /
  Message: Authentication failed`` then close), ``Ping`` (``Ping: Pong``), ``Logoff``
  (``Response: Goodbye`` then close), the three list actions (empty lists), ``Originate``
  (``Originate successfully queued`` then ``OriginateResponse``), anything else
  ``Response: Error / Message: Invalid/unknown command``; a test can override any action with
  ``handlers[name]`` or leave it unanswered with ``silent``; or
* by a ``Replay`` of a real capture: the ``.ami`` bytes in the recv() chunks of its
  ``.ami-timing.tsv``. Before serving the bytes that followed an action in the capture
  (``.ami-actions.txt``: "sent when the .ami stream was at byte offset N"), the fake waits
  until the client has sent an action of the same name, and rewrites the capture's ActionID
  (``s08-006``) into the client's in what it serves. The client therefore has to send what
  the captured client sent; extra actions are recorded and left unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cti.ami_protocol import AmiFramer, AmiMessage

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LIST_COMPLETE = {
    "QueueStatus": "QueueStatusComplete",
    "QueueSummary": "QueueSummaryComplete",
    "CoreShowChannels": "CoreShowChannelsComplete",
    "Status": "StatusComplete",
}
LIST_MESSAGE = {
    "QueueStatus": "Queue status will follow",
    "QueueSummary": "Queue summary will follow",
    "CoreShowChannels": "Channels will follow",
    "Status": "Channel status will follow",
}

Handler = Callable[["FakeSession", AmiMessage], Awaitable[None] | None]


def wire(*pairs: tuple[str, str]) -> bytes:
    """One AMI message on the wire: ``wire(("Event", "Hangup"), ("Linkedid", "1.0"))``."""
    return "".join(f"{name}: {value}\r\n" for name, value in pairs).encode() + b"\r\n"


def event(name: str, *pairs: tuple[str, str]) -> bytes:
    """An event's wire bytes: ``event("Hangup", ("Linkedid", "1.0"))``."""
    return wire(("Event", name), *pairs)


FULLY_BOOTED = event("FullyBooted", ("Privilege", "system,all"), ("Uptime", "2"),
                     ("LastReload", "2"), ("Status", "Fully Booted"))


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class ScriptedAction:
    """An action the captured client sent when the stream was at ``offset``."""

    offset: int
    name: str
    action_id: str


@dataclass(frozen=True)
class Replay:
    """One captured connection: its bytes, recv() chunks and the actions sent during it."""

    data: bytes
    chunks: tuple[tuple[int, int, float], ...]  # (offset, length, seconds since connect)
    actions: tuple[ScriptedAction, ...]

    @classmethod
    def load(cls, ami_path: Path) -> Replay:
        """Read ``<name>.ami`` with its ``.ami-timing.tsv`` and ``.ami-actions.txt``."""
        data = ami_path.read_bytes()
        chunks = []
        for line in ami_path.with_suffix(".ami-timing.tsv").read_text().splitlines():
            if line.startswith("#"):
                continue
            start, length, seconds = line.split("\t")
            chunks.append((int(start), int(length), float(seconds)))
        actions = []
        sent_at: int | None = None
        name = ""
        for line in ami_path.with_suffix(".ami-actions.txt").read_text().splitlines():
            match = re.search(r"sent when the \.ami stream was at byte offset (\d+)", line)
            if match:
                sent_at = int(match.group(1))
            elif line.startswith("Action: "):
                name = line[len("Action: "):]
            elif line.startswith("ActionID: ") and sent_at is not None:
                actions.append(ScriptedAction(sent_at, name, line[len("ActionID: "):]))
                sent_at = None
        return cls(data, _whole_action_id_lines(data, chunks), tuple(actions))


def _whole_action_id_lines(
    data: bytes, chunks: list[tuple[int, int, float]]
) -> tuple[tuple[int, int, float], ...]:
    """Move a chunk cut that falls inside an ``ActionID:`` line to the end of that line, so
    that each chunk can be rewritten on its own (the only change to the capture's chunking)."""
    cuts = [offset for offset, _, _ in chunks[1:]]
    times = [t for _, _, t in chunks]
    moved: list[int] = []
    for cut in cuts:
        line_start = data.rfind(b"\r\n", 0, cut) + 2
        line_end = data.find(b"\r\n", line_start)
        if data.startswith(b"ActionID: ", line_start) and line_start < cut <= line_end + 1:
            cut = line_end + 2
        moved.append(cut)
    bounds = [0, *moved, len(data)]
    out = []
    for index in range(len(chunks)):
        start, end = bounds[index], bounds[index + 1]
        if end > start:
            out.append((start, end - start, times[index]))
    return tuple(out)


# --------------------------------------------------------------------------- sessions


@dataclass(eq=False)
class FakeSession:
    """The Asterisk end of one AMI connection."""

    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    raw: bytearray = field(default_factory=bytearray)
    received: list[AmiMessage] = field(default_factory=list)
    closed: bool = False
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, data: bytes) -> None:
        """Write bytes to the client (nothing happens once closed)."""
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def send_event(self, name: str, *pairs: tuple[str, str]) -> None:
        self.send(event(name, *pairs))

    def reply(self, action: AmiMessage, response: str = "Success",
              *pairs: tuple[str, str]) -> None:
        """``Response: <response>`` with the action's ActionID and ``pairs``."""
        self.send(wire(("Response", response), ("ActionID", action.get("ActionID") or ""),
                       *pairs))

    def close(self) -> None:
        """Close the TCP connection (the client reads EOF), like Asterisk after Shutdown."""
        self.closed = True
        self.writer.close()

    def actions(self, name: str | None = None) -> list[AmiMessage]:
        return [a for a in self.received if name is None or a.get("Action") == name]


class FakeAmiServer:
    """A fake Asterisk AMI server; see the module docstring.

    ``replays[i]`` (if given) serves the i-th connection; later ones get the default script.
    """

    def __init__(
        self,
        *,
        username: str = "callcenter",
        secret: str = "changeme",
        fully_booted: bool = True,
        answer_ping: bool = True,
        replays: list[Replay] | None = None,
        replay_time_scale: float = 0.0,
        stand_ins: dict[str, str] | None = None,
    ) -> None:
        self.username = username
        self.secret = secret
        self.fully_booted = fully_booted
        self.answer_ping = answer_ping
        self.replays = list(replays or [])
        self.replay_time_scale = replay_time_scale
        # captured action -> the action today's client sends in its place (the replayed reply
        # answers it): the 2026-11-22 lab client resynced with CoreShowChannels, ours with
        # Status; both lists were empty there, and their replies differ only in the name of
        # the ...Complete event
        self.stand_ins = dict(stand_ins or {})
        self.handlers: dict[str, Handler] = {}
        self.silent: set[str] = set()
        self.sessions: list[FakeSession] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:``port`` (0: any free port); return the port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in self.sessions:
            if not session.closed:
                session.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def __aenter__(self) -> FakeAmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- observation ----------------------------------------------------------------------

    @property
    def current(self) -> FakeSession:
        return self.sessions[-1]

    def actions(self, name: str | None = None) -> list[AmiMessage]:
        """Every action received, over all connections, in order."""
        return [a for s in self.sessions for a in s.actions(name)]

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (re-checked whenever the fake sees something)."""
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):  # also re-check on the client's changes
                        await self._changed.wait()

    async def wait_connections(self, count: int, within: float = 5.0) -> FakeSession:
        await self.wait_until(lambda: len(self.sessions) >= count, within)
        return self.sessions[count - 1]

    async def wait_action(self, name: str, count: int = 1, within: float = 5.0) -> AmiMessage:
        await self.wait_until(lambda: len(self.actions(name)) >= count, within)
        return self.actions(name)[count - 1]

    # -- serving --------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = FakeSession(len(self.sessions), reader, writer)
        self.sessions.append(session)
        self._changed.set()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if session.index < len(self.replays):
                reading = asyncio.create_task(self._read(session, scripted=False))
                try:
                    await self._replay(session, self.replays[session.index])
                finally:
                    reading.cancel()
                    await asyncio.gather(reading, return_exceptions=True)
            else:
                session.send(BANNER)
                await self._read(session, scripted=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if not session.closed:
                session.close()
            self._changed.set()
            self._tasks.discard(task)

    async def _read(self, session: FakeSession, *, scripted: bool) -> None:
        framer = AmiFramer(expect_banner=False)
        while not session.closed:
            data = await session.reader.read(65536)
            if not data:
                return
            session.raw += data
            for item in framer.feed(data):
                if not isinstance(item, AmiMessage):
                    continue
                session.received.append(item)
                session._arrived.set()
                self._changed.set()
                if scripted:
                    await self._answer(session, item)

    async def _answer(self, session: FakeSession, action: AmiMessage) -> None:
        name = action.get("Action") or ""
        if name in self.silent:
            return
        handler = self.handlers.get(name)
        if handler is not None:
            result = handler(session, action)
            if result is not None:
                await result
            return
        action_id = action.get("ActionID") or ""
        if name == "Login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                session.reply(action, "Success", ("Message", "Authentication accepted"))
                if self.fully_booted:
                    session.send(FULLY_BOOTED)
            else:
                # Asterisk answers, then ends the session (manager.c returns -1).
                session.reply(action, "Error", ("Message", "Authentication failed"))
                await session.writer.drain()
                session.close()
        elif name == "Ping":
            if self.answer_ping:
                session.reply(action, "Success", ("Ping", "Pong"),
                              ("Timestamp", "1795330401.000000"))
        elif name == "Logoff":
            session.reply(action, "Goodbye", ("Message", "Thanks for all the fish."))
            await session.writer.drain()
            session.close()
        elif name in LIST_COMPLETE:
            session.reply(action, "Success", ("EventList", "start"),
                          ("Message", LIST_MESSAGE[name]))
            session.send(event(LIST_COMPLETE[name], ("ActionID", action_id),
                               ("EventList", "Complete"), ("ListItems", "0")))
        elif name == "Originate":
            session.reply(action, "Success", ("Message", "Originate successfully queued"))
            if (action.get("Async") or "").lower() == "true":
                session.send(event(
                    "OriginateResponse", ("Privilege", "call,all"), ("ActionID", action_id),
                    ("Response", "Success"), ("Channel", action.get("Channel") or ""),
                    ("Context", action.get("Context") or ""),
                    ("Exten", action.get("Exten") or ""), ("Reason", "4"),
                    ("Uniqueid", "1795330364.4"), ("CallerIDNum", "<unknown>"),
                    ("CallerIDName", "<unknown>")))
        else:
            session.reply(action, "Error", ("Message", "Invalid/unknown command"))

    async def _replay(self, session: FakeSession, replay: Replay) -> None:
        ids: dict[bytes, bytes] = {}
        used: set[int] = set()
        pending = list(replay.actions)
        start = asyncio.get_running_loop().time()
        for offset, length, seconds in replay.chunks:
            while pending and pending[0].offset <= offset:
                scripted = pending.pop(0)
                ours = await self._next_action(
                    session, self.stand_ins.get(scripted.name, scripted.name), used)
                ids[scripted.action_id.encode()] = (ours.get("ActionID") or "").encode()
            if self.replay_time_scale > 0:
                delay = start + seconds * self.replay_time_scale - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
            chunk = replay.data[offset:offset + length]
            for theirs, ours_id in ids.items():
                chunk = chunk.replace(b"ActionID: " + theirs + b"\r\n",
                                      b"ActionID: " + ours_id + b"\r\n")
            session.send(chunk)
            await session.writer.drain()
            await asyncio.sleep(0)  # one write per captured recv(), as far as TCP allows
        session.close()  # every capture ends with Asterisk closing the socket

    async def _next_action(self, session: FakeSession, name: str, used: set[int],
                           within: float = 5.0) -> AmiMessage:
        async with asyncio.timeout(within):
            while True:
                for index, action in enumerate(session.received):
                    if index not in used and action.get("Action") == name:
                        used.add(index)
                        return action
                session._arrived.clear()
                await session._arrived.wait()
