"""FastAGI server: the asyncio adapter over ``ivr.agi_protocol``.

Asterisk connects once per call (``AGI(agi://host:4573/hotline,arg1)``), sends the ``agi_*``
header block, then waits for commands. Each connection gets one task that runs the handler of
its route (``agi_network_script`` without ``?query``) with an ``AgiSession``::

    async def hotline(session: AgiSession) -> None:
        choice = await session.get_data("basic-pbx-ivr-main", 5000, 1)   # GET DATA … 5000 1
        await session.set_variable("CC_QUEUE", "aftersales")             # SET VARIABLE …

    server = FastAgiServer({"hotline": hotline})
    port = await server.start("127.0.0.1", 4573)
    ...
    await server.stop()

At the end of a session the server half-closes (``shutdown(SHUT_WR)``): Asterisk then writes its
final ``HANGUP`` line and closes, and the dialplan continues with the variables the handler set.
Closing completely instead would work too, but Asterisk would log a write error.

The socket side is an ``asyncio.Protocol`` feeding the pure ``AgiConnection``: a reply completes
one future, with no stream reader, no per-command task and no ``wait_for`` in the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import NoReturn, cast

from ivr import agi_protocol as agi
from ivr.agi_protocol import (
    AgiConnection,
    AgiRequest,
    Command,
    ConnectionClosed,
    DigitsResult,
    HangupNotice,
    ProtocolViolation,
    Reply,
)
from ivr.errors import (
    AgiCommandError,
    AgiCommandFailed,
    AgiHangup,
    AgiHeaderError,
    AgiProtocolError,
    AgiTimeout,
)

__all__ = ["AgiSession", "DigitsResult", "FastAgiServer", "FastAgiSession", "Handler",
           "IpNetwork", "parse_networks", "peer_allowed"]

logger = logging.getLogger(__name__)


class AgiSession:
    """One call's AGI session, as a handler sees it. Adapters implement ``_exchange``.

    ``request`` is the header block; ``hung_up`` turns True on the ``HANGUP`` line (or a
    ``511``). After that only the commands res_agi runs on a dead channel are sent (GET/SET
    VARIABLE, VERBOSE, DATABASE *, EXEC); the others raise ``AgiHangup`` without a round trip.

    One command at a time: AGI has no pipelining, and a command cancelled while in flight (or
    timed out) closes the session, because its late reply would answer the next command.
    """

    def __init__(self, request: AgiRequest, *, command_timeout: float = 30.0) -> None:
        self.request = request
        self.hung_up = False
        self.command_timeout = command_timeout

    async def _exchange(self, command: Command, limit: float) -> Reply:
        """Send ``command`` and await its final reply within ``limit`` seconds; raises
        ``AgiHangup`` (EOF), ``AgiTimeout``, ``AgiProtocolError``."""
        raise NotImplementedError

    # A timeout parameter rather than asyncio.timeout() around the call: cancelling a command in
    # flight costs the whole session (see the class docstring), a timeout here says so.
    async def execute(self, command: Command, *, timeout: float | None = None) -> Reply:  # noqa: ASYNC109
        """Send one command and return its ``200`` reply.

        ``timeout`` (seconds) defaults to ``command_timeout`` plus the time the command may
        legitimately wait for the caller (``Command.duration``: GET DATA, WAIT FOR DIGIT).

        Raises ``AgiHangup`` (511, EOF, or a command that needs a live channel after the
        ``HANGUP`` line), ``AgiCommandError`` (510 unknown command, 520 usage — with its text),
        ``AgiTimeout``.
        """
        if self.hung_up and not command.dead_ok:
            raise AgiHangup("hangup", command.name)
        if timeout is None:
            timeout = self.command_timeout + command.duration
        reply = await self._exchange(command, timeout)
        if reply.code == 200:
            return reply
        return self._refused(command, reply)

    def _refused(self, command: Command, reply: Reply) -> NoReturn:
        if reply.code == 511:
            self.hung_up = True
            raise AgiHangup("511", command.name)
        raise AgiCommandError(command.text, reply.code, reply.text, reply.usage)

    async def _failed(self, command: Command) -> NoReturn:
        # "200 result=-1" means "error or hang-up". After a hang-up res_agi marks the channel
        # dead before it reads the next command, so CHANNEL STATUS (not allowed on a dead
        # channel) tells the two apart: 511 → hang-up, 200 → a real failure (missing prompt).
        if not self.hung_up:
            try:
                await self.execute(agi.channel_status())
            except AgiHangup:
                pass
            else:
                if not self.hung_up:
                    raise AgiCommandFailed(command.text, 200, "result=-1 on a live channel")
        raise AgiHangup("result=-1", command.name)

    async def _digit_command(self, command: Command) -> str | None:
        reply = await self.execute(command)
        if reply.result == "-1":
            await self._failed(command)
        return agi.decode_digit(reply)

    # -- the calls the menu engine uses ------------------------------------------------------

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        """Play ``prompt``; returns the escape digit pressed, or None when it played to the end.

        Raises ``AgiHangup``, ``AgiCommandFailed`` (prompt missing), ``AgiArgumentError``.
        """
        return await self._digit_command(agi.stream_file(prompt, escape_digits))

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> DigitsResult:
        """Play ``prompt`` and collect up to ``max_digits`` digits (``#`` ends input and is not
        included). ``timed_out`` when the caller stopped typing before ``#``/``max_digits``.

        Raises ``AgiHangup``, ``AgiCommandFailed``, ``AgiArgumentError``.
        """
        command = agi.get_data(prompt, timeout_ms, max_digits)
        reply = await self.execute(command)
        if reply.result == "-1":
            await self._failed(command)
        return agi.decode_get_data(reply)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """One DTMF digit, or None after ``timeout_ms``. Raises ``AgiHangup``."""
        return await self._digit_command(agi.wait_for_digit(timeout_ms))

    async def say_digits(self, digits: str) -> None:
        """Say ``digits`` one by one (``SAY DIGITS 2 ""``). Raises ``AgiHangup``."""
        command = agi.say_digits(digits)
        reply = await self.execute(command)
        if reply.result == "-1":
            await self._failed(command)

    async def say_number(self, n: int) -> None:
        """Say the number ``n`` (``SAY NUMBER 42 ""``). Raises ``AgiHangup``."""
        command = agi.say_number(n)
        reply = await self.execute(command)
        if reply.result == "-1":
            await self._failed(command)

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable (works after hang-up). Raises ``AgiArgumentError`` for a value
        with CR/LF/NUL or a bad name."""
        await self.execute(agi.set_variable(name, value))

    async def set_variables(self, variables: Mapping[str, str]) -> None:
        """Set several channel variables; works after hang-up.

        One ``EXEC MSet`` round trip when every value is MSet-safe (``agi.mset_safe``: what
        the menu's ``channel_value`` produces), else one ``SET VARIABLE`` each. Asterisk
        without MSet (result -2, never in a stock build) gets them one by one as well."""
        if len(variables) > 1 and agi.mset_safe(variables):
            reply = await self.execute(agi.mset(variables))
            if reply.result != "-2":
                return
            logger.warning("call %s: no MSet application; setting variables one by one",
                           self.request.unique_id)
        for name, value in variables.items():
            await self.set_variable(name, value)

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or function value (``CALLERID(num)``), None when unset."""
        reply = await self.execute(agi.get_variable(name))
        if reply.result != "1":
            return None
        return reply.data or ""

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write ``message`` to the Asterisk log (works after hang-up)."""
        await self.execute(agi.verbose(message, level))

    async def exec_app(self, app: str, args: str = "") -> Reply:
        """Run a dialplan application (``EXEC Playback beep``); the reply's result is the
        application's return value (-2: no such application). Works after hang-up."""
        return await self.execute(agi.exec_(app, args))

    # -- more of the command set -------------------------------------------------------------

    async def answer(self) -> None:
        """Answer the channel. Raises ``AgiHangup``."""
        reply = await self.execute(agi.answer())
        if reply.result == "-1":
            await self._failed(agi.answer())

    async def hangup(self) -> None:
        """Hang up the channel (the session goes on in dead mode until it ends)."""
        await self.execute(agi.hangup())

    async def database_get(self, family: str, key: str) -> str | None:
        """An astdb value, None when absent."""
        reply = await self.execute(agi.database_get(family, key))
        return (reply.data or "") if reply.result == "1" else None

    async def database_put(self, family: str, key: str, value: str) -> bool:
        """Store an astdb value; False when Asterisk could not."""
        reply = await self.execute(agi.database_put(family, key, value))
        return reply.result == "1"

    async def set_music(self, on: bool, music_class: str | None = None) -> None:
        """Music on hold on/off while the handler works (a slow business look-up)."""
        await self.execute(agi.set_music(on, music_class))

    async def record_file(
        self,
        filename: str,
        file_format: str = "wav",
        escape_digits: str = "#",
        timeout_ms: int = 10_000,
        *,
        beep: bool = True,
        silence_s: int | None = None,
    ) -> Reply:
        """Record the caller (for speech recognition); the reply's ``data`` says why it ended
        (``dtmf``, ``timeout``, ``hangup``) and ``extras["endpos"]`` its length in samples."""
        command = agi.record_file(
            filename, file_format, escape_digits, timeout_ms, beep=beep, silence_s=silence_s
        )
        reply = await self.execute(command)
        if reply.data == "hangup":
            raise AgiHangup("result=-1", command.name)
        return reply


Handler = Callable[[AgiSession], Awaitable[None]]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[IpNetwork, ...]:
    """``["127.0.0.0/8", "::1"]`` → networks. Raises ``ValueError`` for a malformed one."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def peer_allowed(host: str, networks: Iterable[IpNetwork]) -> bool:
    """True when the peer address ``host`` (as in ``peername``: ``"10.0.0.5"``, ``"::1"``,
    ``"::ffff:127.0.0.1"``, ``"fe80::1%eth0"``) lies in one of ``networks``. An IPv4 client of a
    dual-stack socket shows as IPv4-mapped IPv6 and is checked as the IPv4 address it is.
    Anything that is not an IP address is not allowed."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class FastAgiSession(AgiSession):
    """An ``AgiSession`` over one FastAGI TCP connection."""

    def __init__(self, request: AgiRequest, link: _FastAgiLink, *, command_timeout: float) -> None:
        super().__init__(request, command_timeout=command_timeout)
        self._link = link

    # The same contract as AgiSession.execute, written out: one coroutine frame and no timer
    # handle per command (the link keeps one lazily re-armed deadline timer per connection).
    async def execute(self, command: Command, *, timeout: float | None = None) -> Reply:  # noqa: ASYNC109
        if self.hung_up and not command.dead_ok:
            raise AgiHangup("hangup", command.name)
        link = self._link
        waiter = link.send(
            command, self.command_timeout + command.duration if timeout is None else timeout
        )
        try:
            reply = await waiter
        except asyncio.CancelledError:
            # The reply will still come, and would be taken as the next command's: give up the
            # connection (Asterisk sees EOF and carries on with the dialplan).
            link.abandon("command cancelled")
            raise
        if reply.code == 200:
            return reply
        return self._refused(command, reply)

    async def _exchange(self, command: Command, limit: float) -> Reply:
        return await self.execute(command, timeout=limit)


class _FastAgiLink(asyncio.Protocol):
    """The protocol object of one connection: bytes in → events → the waiting command."""

    __slots__ = (
        "_closed",
        "_deadline",
        "_deadline_timer",
        "_header_timer",
        "_limit",
        "_peer",
        "_sent_at",
        "_timer_at",
        "command",
        "conn",
        "eof",
        "loop",
        "server",
        "session",
        "task",
        "transport",
        "waiter",
    )

    def __init__(self, server: FastAgiServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.conn = AgiConnection()
        self.transport: asyncio.Transport | None = None
        self.session: FastAgiSession | None = None
        self.task: asyncio.Task[None] | None = None
        self.waiter: asyncio.Future[Reply] | None = None
        self.eof = False
        self._closed: asyncio.Future[None] | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._peer = ""
        self._sent_at = 0.0
        self.command: Command | None = None
        self._limit = 0.0
        self._deadline = 0.0
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, but not always an asyncio.Transport subclass: uvloop's is its own.
        self.transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        self._peer = str(peername)
        if not self.server.admits(peername):
            self.transport.abort()  # before a byte is read: a stray peer never creates a call
            return
        self.server._links.add(self)
        self._header_timer = self.loop.call_later(
            self.server.header_timeout, self._header_timed_out
        )

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.feed(data)
        except AgiHeaderError as exc:
            logger.warning("FastAGI peer %s: not an AGI header (%s); closing", self._peer, exc)
            self._abort(exc)
            return
        except AgiProtocolError as exc:
            logger.warning("call %s: %s; closing", self._call_id(), exc)
            self._abort(exc)
            return
        for event in events:
            if isinstance(event, Reply):
                if self.server.on_turnaround is not None:
                    self.server.on_turnaround(self.loop.time() - self._sent_at)
                waiter = self.waiter
                self.waiter = None
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
            elif isinstance(event, HangupNotice):
                if self.session is not None:
                    self.session.hung_up = True
            elif isinstance(event, AgiRequest):
                self._start(event)
            elif isinstance(event, ProtocolViolation):
                logger.warning(
                    "call %s: skipped a line that is not AGI (%s): %r",
                    self._call_id(),
                    event.reason,
                    event.line,
                )
            # Interim ("100 result=0 Trying...") only announces the final reply.

    def eof_received(self) -> bool:
        self.eof = True
        for event in self.conn.feed_eof():
            if isinstance(event, ConnectionClosed) and self.task is None:
                logger.debug("FastAGI peer %s closed before its header", self._peer)
        self._fail_waiter(AgiHangup("eof", "Asterisk closed the connection"))
        return False  # close our side too: Asterisk has closed the whole socket

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._fail_waiter(AgiHangup("eof", "connection lost"))
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self.server._links.discard(self)

    # -- used by the session -----------------------------------------------------------------

    def send(self, command: Command, limit: float) -> asyncio.Future[Reply]:
        transport = self.transport
        if self.eof or transport is None or transport.is_closing():
            raise AgiHangup("eof", command.name)
        line = self.conn.send(command)
        loop = self.loop
        waiter: asyncio.Future[Reply] = loop.create_future()
        self.waiter = waiter
        self.command = command
        self._limit = limit
        now = self._sent_at = loop.time()
        deadline = self._deadline = now + limit
        # Lazy deadline: the armed timer is only replaced when this deadline is earlier. A
        # later deadline is picked up when the old timer fires (_check_deadline re-arms).
        if self._deadline_timer is None or deadline < self._timer_at:
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()
            self._deadline_timer = loop.call_at(deadline, self._check_deadline)
            self._timer_at = deadline
        transport.write(line)
        return waiter

    def _check_deadline(self) -> None:
        self._deadline_timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # no command in flight; the next send arms a new timer
        if self.loop.time() < self._deadline:
            self._deadline_timer = self.loop.call_at(self._deadline, self._check_deadline)
            self._timer_at = self._deadline
            return
        command = self.command
        waiter.set_exception(AgiTimeout(command.text if command else "?", self._limit))
        self.abandon("command timed out")

    def abandon(self, why: str) -> None:
        self.conn.abandon()
        self.waiter = None
        if self.transport is not None and not self.transport.is_closing():
            if not self.server.stopping:  # at shutdown every session is cancelled: no news
                logger.warning("call %s: %s; closing the connection", self._call_id(), why)
            self.transport.abort()

    # -- internals ---------------------------------------------------------------------------

    def _call_id(self) -> str:
        return self.session.request.unique_id if self.session is not None else self._peer

    def _fail_waiter(self, exc: Exception) -> None:
        waiter = self.waiter
        self.waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _abort(self, exc: Exception) -> None:
        self._fail_waiter(exc)
        if self.transport is not None:
            self.transport.abort()

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.session is None and self.transport is not None:
            logger.info(
                "FastAGI peer %s sent no header within %g s; closing",
                self._peer,
                self.server.header_timeout,
            )
            self.transport.abort()

    def _start(self, request: AgiRequest) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        server = self.server
        self.session = FastAgiSession(request, self, command_timeout=server.command_timeout)
        self.task = self.loop.create_task(self._run(self.session))
        server._tasks.add(self.task)
        self.task.add_done_callback(server._tasks.discard)

    async def _run(self, session: FastAgiSession) -> None:
        server = self.server
        request = session.request
        route = request.route
        handler = server.routes.get(route)
        server.active_sessions += 1
        server.sessions_total += 1
        if server.active_sessions > server.max_concurrent:
            server.max_concurrent = server.active_sessions
        try:
            if handler is None:
                logger.warning("call %s: no AGI route %r; closing", request.unique_id, route)
                await self._unknown_route(session, route)
            else:
                await self._call(handler, session, route)
            await self._finish()
        except asyncio.CancelledError:
            # Server shutdown: no error log, just drop the connection.
            if self.transport is not None:
                self.transport.abort()
            raise
        finally:
            server.active_sessions -= 1
            # Break the link <-> session cycle now rather than in a full GC pass.
            self.session = None

    async def _call(self, handler: Handler, session: FastAgiSession, route: str) -> None:
        unique_id = session.request.unique_id
        try:
            await handler(session)
        except AgiHangup as exc:
            logger.info("call %s: %s ended, channel hung up (%s)", unique_id, route, exc.reason)
        except (AgiTimeout, AgiProtocolError) as exc:
            logger.warning("call %s: %s ended: %s", unique_id, route, exc)
        except Exception:
            # The per-call boundary: one broken call never affects the others.
            logger.exception("call %s: handler of route %r failed", unique_id, route)
        else:
            logger.debug("call %s: %s finished", unique_id, route)

    async def _unknown_route(self, session: FastAgiSession, route: str) -> None:
        with contextlib.suppress(AgiHangup, AgiTimeout, AgiCommandError, AgiProtocolError):
            await session.verbose(f"FastAGI: no route {route!r} on this server", 1)

    async def _finish(self) -> None:
        """Half-close and read until Asterisk closes (it writes ``HANGUP`` first), bounded."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.eof:
            transport.close()
            return
        self._closed = self.loop.create_future()
        try:
            transport.write_eof()
        except (OSError, RuntimeError):
            transport.abort()
            return
        timer = self.loop.call_later(self.server.drain_timeout, transport.abort)
        try:
            await self._closed
        finally:
            timer.cancel()


class FastAgiServer:
    """The FastAGI listener: one task per connection, routed by the ``agi_request`` path.

    ``routes`` maps a route name (``"hotline"`` for ``agi://host:4573/hotline?x=1``) to a
    handler. ``header_timeout`` bounds the wait for the ``agi_*`` block; ``command_timeout`` is
    the default per-command timeout (GET DATA / WAIT FOR DIGIT get their own wait on top, and
    ``AgiSession.execute(…, timeout=)`` overrides it); ``drain_timeout`` bounds the wait for
    Asterisk's close after the half-close.

    ``allowed_peers`` (None: anyone) are the networks Asterisk connects from: a connection from
    elsewhere is closed at once, before its header is read, and counted in ``refused_peers``
    (logged at WARNING the first time per address, so a scanner cannot flood the log).

    ``active_sessions`` counts the handlers running now, ``max_concurrent`` the peak so far,
    ``sessions_total`` every session started. ``on_turnaround`` (None: not measured) is called
    with each command's seconds from sending it to its final reply (``/metrics``).
    """

    # How many refused addresses are remembered for the once-per-address warning.
    _REFUSED_MEMORY = 1024

    def __init__(
        self,
        routes: Mapping[str, Handler],
        *,
        header_timeout: float = 5.0,
        command_timeout: float = 30.0,
        drain_timeout: float = 2.0,
        allowed_peers: Iterable[IpNetwork] | None = None,
    ) -> None:
        self.routes = routes
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.drain_timeout = drain_timeout
        self.allowed_peers = None if allowed_peers is None else tuple(allowed_peers)
        self.refused_peers = 0
        self._refused_seen: set[str] = set()
        self.active_sessions = 0
        self.max_concurrent = 0
        self.sessions_total = 0
        self.on_turnaround: Callable[[float], None] | None = None
        self.stopping = False
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._links: set[_FastAgiLink] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def admits(self, peername: object) -> bool:
        """Whether a connection from ``peername`` (the transport's) may go on; counts and logs
        a refusal."""
        if self.allowed_peers is None:
            return True
        host = str(peername[0]) if isinstance(peername, tuple) and peername else ""
        if peer_allowed(host, self.allowed_peers):
            return True
        self.refused_peers += 1
        if host not in self._refused_seen:
            if len(self._refused_seen) < self._REFUSED_MEMORY:
                self._refused_seen.add(host)
            logger.warning("FastAGI: refused a connection from %s (not in fastagi.allowed_peers)",
                           host or peername)
        else:
            logger.debug("FastAGI: refused a connection from %s", host)
        return False

    async def start(self, host: str = "127.0.0.1", port: int = 4573, *, backlog: int = 4096) -> int:
        """Listen on ``host:port`` (0: any free port); returns the bound port.

        Raises ``OSError`` when the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        self.stopping = False
        self._server = await loop.create_server(
            lambda: _FastAgiLink(self), host, port, backlog=backlog, reuse_address=True
        )
        sockname = self._server.sockets[0].getsockname()
        self.port = int(sockname[1])
        logger.info("FastAGI server listening on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening, cancel the running sessions (their connections are dropped; Asterisk
        continues each call's dialplan) and wait until they are gone."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for link in list(self._links):
            if link.task is None and link.transport is not None:
                link.transport.abort()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        logger.info("FastAGI server stopped")
