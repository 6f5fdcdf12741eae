"""One AMI client connection as Asterisk's manager.c handles it, without I/O.

``AmiSession`` answers what concerns the session itself (Login, Logoff, Ping, Events,
Challenge, anything sent before a successful Login) and hands every other action to the PBX
(``pbx.step`` with ``ActionReceived``). ``SessionHub`` holds the sessions and turns the PBX's
``Emit``/``Respond`` effects into bytes for each of them, filtered by the session's classes.

Login, as the captures show it::

    > Action: Login / ActionID: s01-001 / Username: callcenter / Secret: … / Events: on
    < Response: Success / ActionID: s01-001 / Message: Authentication accepted
    < Event: FullyBooted / Privilege: system,all / Uptime: 2 / LastReload: 2 / Status: Fully Booted

A wrong user or secret gets ``Response: Error`` / ``Message: Authentication failed`` and the
connection is closed (manager.c returns -1 from the action). An event goes to a session only if
both its account's ``read=`` classes and its Login ``Events:`` mask contain the event's class;
FullyBooted is sent only to sessions that read ``system`` (the CTI notes: keep ``system``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from simulator import ami_events as ev
from simulator.ami_wire import (
    ALL_CLASSES,
    BANNER,
    NO_CLASSES,
    Action,
    ActionFramer,
    EventClass,
    Message,
    delivers,
    error,
    goodbye,
    parse_classes,
    parse_events_header,
    success,
)
from simulator.config import AmiAccount

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionOutput:
    """What feeding bytes to a session produced: bytes to write back now, actions for the PBX,
    and whether to close the connection after writing."""

    data: bytes
    actions: tuple[Action, ...]
    close: bool


class AmiSession:
    """A client connection's login state, class masks and framer."""

    __slots__ = ("accounts", "authenticated", "boot_time", "events", "framer", "read",
                 "session_id", "username")

    def __init__(self, session_id: int, accounts: Mapping[str, AmiAccount],
                 boot_time: float) -> None:
        self.session_id = session_id
        self.accounts = accounts
        self.boot_time = boot_time
        self.framer = ActionFramer()
        self.authenticated = False
        self.username = ""
        self.read = NO_CLASSES
        self.events = ALL_CLASSES

    def banner(self) -> bytes:
        return BANNER

    def receive(self, data: bytes, now: float) -> SessionOutput:
        """Frame the client's bytes and answer the session-level actions.

        Raises ``AmiWireError`` when the client sends an action too large to frame.
        """
        out = bytearray()
        for_pbx: list[Action] = []
        for action in self.framer.feed(data):
            name = action.name.lower()
            if name == "login":
                reply, ok = self._login(action, now)
                out += reply
                if not ok:
                    return SessionOutput(bytes(out), tuple(for_pbx), close=True)
            elif name == "logoff":
                out += goodbye(action.action_id).encode()
                return SessionOutput(bytes(out), tuple(for_pbx), close=True)
            elif not self.authenticated and name != "challenge":
                out += error(action.action_id, "Permission denied").encode()
            elif name == "ping":
                out += _pong(action.action_id, now)
            elif name == "events":
                out += self._event_mask(action)
            elif name == "challenge":
                # Only plaintext Login is simulated; MD5 challenge logins are refused.
                out += error(action.action_id, "Must specify AuthType").encode()
            elif not name:
                out += error(action.action_id, "Missing action in request").encode()
            else:
                for_pbx.append(action)
        return SessionOutput(bytes(out), tuple(for_pbx), close=False)

    def _login(self, action: Action, now: float) -> tuple[bytes, bool]:
        account = self.accounts.get(action.get("Username"))
        if account is None or account.secret != action.get("Secret"):
            logger.warning("AMI session %d: authentication failed for %r", self.session_id,
                           action.get("Username"))
            return error(action.action_id, "Authentication failed").encode(), False
        self.authenticated = True
        self.username = account.username
        self.read = parse_classes(account.read)
        events = action.get("Events")
        if events:
            self.events = parse_events_header(events)
        logger.info("AMI session %d: %s logged in (read=%s)", self.session_id, self.username,
                    account.read)
        data = success(action.action_id, "Authentication accepted").encode()
        uptime = max(0, int(now - self.boot_time))
        if EventClass.SYSTEM in self.read and EventClass.SYSTEM in self.events:
            data += ev.fully_booted(uptime, uptime).encode()
        return data, True

    def _event_mask(self, action: Action) -> bytes:
        self.events = parse_events_header(action.get("EventMask"))
        state = "On" if self.events else "Off"
        return success(action.action_id, None, [("Events", state)]).encode()

    def deliver(self, message: Message) -> bytes:
        """The bytes of a broadcast event for this session, or ``b""`` when it does not read
        the event's class (or has not logged in)."""
        if not self.authenticated or not delivers(message, self.read, self.events):
            return b""
        return message.encode()


def _pong(action_id: str, now: float) -> bytes:
    seconds = int(now)
    micros = min(round((now - seconds) * 1_000_000), 999_999)
    return success(action_id, None, [("Ping", "Pong"),
                                     ("Timestamp", f"{seconds}.{micros:06d}")]).encode()


Writer = Callable[[bytes], None]


class SessionHub:
    """The sessions of one PBX and where their bytes go (the engine's ``AmiPort``)."""

    def __init__(self, accounts: Mapping[str, AmiAccount], boot_time: float) -> None:
        self.accounts = dict(accounts)
        self.boot_time = boot_time
        self.sessions: dict[int, tuple[AmiSession, Writer, Callable[[], None]]] = {}
        self._next_id = 0

    def open(self, writer: Writer, closer: Callable[[], None]) -> AmiSession:
        """A new connection: writes the banner and returns its session."""
        self._next_id += 1
        session = AmiSession(self._next_id, self.accounts, self.boot_time)
        self.sessions[session.session_id] = (session, writer, closer)
        writer(session.banner())
        return session

    def close(self, session_id: int) -> None:
        self.sessions.pop(session_id, None)

    def broadcast(self, message: Message) -> None:
        for session, writer, _ in list(self.sessions.values()):
            data = session.deliver(message)
            if data:
                writer(data)

    def reply(self, session_id: int, messages: tuple[Message, ...], close: bool) -> None:
        entry = self.sessions.get(session_id)
        if entry is None:
            return
        _, writer, closer = entry
        writer(b"".join(m.encode() for m in messages))
        if close:
            self.close(session_id)
            closer()
