"""The simulator's AMI TCP server: the socket side of ``ami_session`` (asyncio).

Each connection gets an ``asyncio.Protocol`` that feeds received bytes to its ``AmiSession``,
writes the session's answers, and passes PBX actions to the engine. Events and replies reach
the socket through the ``SessionHub`` (the engine's ``AmiPort``).

Like Asterisk's ``writetimeout``, a client that does not read is dropped instead of making the
PBX buffer for it without bound: when a transport holds more than ``max_backlog`` unsent bytes,
the connection is aborted (the other clients and the PBX go on).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final, cast

from simulator.ami_session import AmiSession, SessionHub
from simulator.engine import Engine
from simulator.errors import AmiWireError
from simulator.pbx import ActionReceived

logger = logging.getLogger(__name__)

MAX_BACKLOG: Final = 4 * 1024 * 1024


class _AmiProtocol(asyncio.Protocol):
    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: AmiSession | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, but not always an asyncio.Transport subclass: uvloop's is its own.
        self.transport = cast(asyncio.Transport, transport)
        self.session = self.server.hub.open(self._write, self._close)
        self.server.connections.add(self)
        logger.info("AMI connection %d from %s", self.session.session_id,
                    transport.get_extra_info("peername"))

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > self.server.max_backlog:
            logger.warning("AMI connection %s does not read: dropped",
                           self.session.session_id if self.session else "?")
            self._abort()
            return
        transport.write(data)

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _abort(self) -> None:
        if self.session is not None:
            self.server.hub.close(self.session.session_id)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return
        try:
            out = session.receive(data, self.server.engine.scheduler.now())
        except AmiWireError as exc:
            logger.warning("AMI connection %d: %s: dropped", session.session_id, exc)
            self._abort()
            return
        if out.data:
            self._write(out.data)
        if out.close:
            self.server.hub.close(session.session_id)
            self._close()
            return
        for action in out.actions:
            self.server.engine.feed(ActionReceived(session.session_id, action))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.server.hub.close(self.session.session_id)
            logger.info("AMI connection %d closed", self.session.session_id)
        self.server.connections.discard(self)
        self.transport = None


class AmiServer:
    """Listens for AMI clients on ``host:port`` (0: any free port; see ``address``)."""

    def __init__(self, hub: SessionHub, engine: Engine, *, max_backlog: int = MAX_BACKLOG) -> None:
        self.hub = hub
        self.engine = engine
        self.max_backlog = max_backlog
        self.connections: set[_AmiProtocol] = set()
        self._server: asyncio.Server | None = None
        self.address: tuple[str, int] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Bind and listen; returns the bound (host, port). Raises ``OSError``."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _AmiProtocol(self), host, port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        logger.info("simulated Asterisk AMI listening on %s:%d", *self.address)
        return self.address

    def disconnect_all(self) -> None:
        """Close every client connection (after what was written) but keep listening."""
        for connection in list(self.connections):
            if connection.session is not None:
                self.hub.close(connection.session.session_id)
            connection._close()

    async def stop(self) -> None:
        """Stop listening and close every connection (after what was already written)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection._close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
