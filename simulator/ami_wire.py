"""The AMI wire format, server side: frame the actions a client sends, encode what Asterisk 22
sends back. Pure: no I/O, no clock.

What a client sends (CRLF line ends; Asterisk also accepts a bare LF)::

    Action: QueueAdd\\r\\n
    ActionID: s01-002\\r\\n
    Queue: aftersales\\r\\n
    Interface: Local/8001@agents/n\\r\\n
    \\r\\n                                           <- a blank line ends the action

What Asterisk answers (``tests/fixtures/asterisk-22/01-….ami``, byte-exact)::

    Asterisk Call Manager/11.0.0\\r\\n              <- banner, once, no blank line after it
    Response: Success\\r\\n
    ActionID: s01-002\\r\\n                        <- only when the action had one
    Message: Added interface to queue\\r\\n
    \\r\\n
    Event: QueueMemberAdded\\r\\n
    Privilege: agent,all\\r\\n
    ...

* ``ActionFramer.feed(bytes) -> list[Action]`` cuts the client's stream into actions, whatever
  the recv() chunking. Header names are matched case-insensitively, as ``astman_get_header``
  does; a line without ``:`` is kept out of the headers (Asterisk ignores it too).
* ``Message`` is an ordered list of header lines; ``Message.encode()`` is the only way out and
  replaces CR/LF inside a value by a space, so no value can inject a header or end a message.
* The builders (``success``, ``error``, ``goodbye``, ``list_start``, ``list_complete``,
  ``event``) spell Asterisk's replies exactly as the captures show them.

Defensive limits, as in manager.c: a line longer than ``MAX_LINE`` bytes is cut (Asterisk reads
into a 1025-byte buffer and drops the rest of the line) and an action keeps at most
``MAX_HEADERS`` headers (``AST_MAX_MANHEADERS``). A client that never sends a blank line cannot
grow the buffer beyond ``MAX_ACTION_BYTES``: the framer raises ``AmiWireError`` and the server
drops that client.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from simulator.errors import AmiWireError

BANNER: Final = b"Asterisk Call Manager/11.0.0\r\n"
MAX_LINE: Final = 1024
MAX_HEADERS: Final = 128
MAX_ACTION_BYTES: Final = 64 * 1024


class EventClass(enum.IntFlag):
    """The AMI read/write classes (``EVENT_FLAG_*`` in manager.h), with Asterisk's names."""

    SYSTEM = 1
    CALL = 2
    LOG = 4
    VERBOSE = 8
    COMMAND = 16
    AGENT = 32
    USER = 64
    CONFIG = 128
    DTMF = 256
    REPORTING = 512
    CDR = 1024
    DIALPLAN = 2048
    ORIGINATE = 4096
    AGI = 8192
    CC = 32768
    AOC = 65536
    TEST = 131072
    SECURITY = 262144
    MESSAGE = 524288


ALL_CLASSES: Final = EventClass(sum(int(c) for c in EventClass))
NO_CLASSES: Final = EventClass(0)
_CLASS_BY_NAME: Final = {c.name.lower(): c for c in EventClass if c.name}


def parse_classes(text: str) -> EventClass:
    """``"call,agent,system,user,dtmf"`` → the flags; ``all`` → every class; unknown names are
    ignored (manager.c's ``get_perm`` does the same)."""
    flags = NO_CLASSES
    for word in text.split(","):
        name = word.strip().lower()
        if name == "all":
            return ALL_CLASSES
        flags |= _CLASS_BY_NAME.get(name, NO_CLASSES)
    return flags


def parse_events_header(text: str) -> EventClass:
    """The ``Events:`` header of Login: ``on``/``yes`` → every class, ``off``/``no`` → none,
    otherwise a class list (``call,agent``)."""
    value = text.strip().lower()
    if value in {"on", "yes", "true", "1"}:
        return ALL_CLASSES
    if value in {"off", "no", "false", "0", ""}:
        return NO_CLASSES
    return parse_classes(value)


def privilege(event_class: EventClass) -> str:
    """The ``Privilege:`` header value of an event: ``agent`` → ``agent,all``."""
    names = [c.name.lower() for c in EventClass if c in event_class and c.name]
    return ",".join([*names, "all"])


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Action:
    """One action a client sent, its header lines in order (values stripped of the leading
    blanks after the colon, as ``astman_get_header`` returns them)."""

    headers: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        """The first header called ``name`` (case-insensitive), or ``default``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every header called ``name`` (``Variable:`` of Originate may repeat)."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)

    @property
    def name(self) -> str:
        """The ``Action:`` header (``QueueAdd``)."""
        return self.get("Action")

    @property
    def action_id(self) -> str:
        """The ``ActionID:`` header, ``""`` when absent."""
        return self.get("ActionID")

    @classmethod
    def of(cls, name: str, action_id: str = "", **headers: str) -> Action:
        """An action built in code (tests, the simulator's own bookkeeping)."""
        lines: list[tuple[str, str]] = [("Action", name)]
        if action_id:
            lines.append(("ActionID", action_id))
        lines.extend(headers.items())
        return cls(tuple(lines))


class ActionFramer:
    """Cuts a client's byte stream into :class:`Action` objects (``feed(bytes) -> list``)."""

    __slots__ = ("_buffer", "_lines")

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[tuple[str, str]] = []

    def feed(self, data: bytes) -> list[Action]:
        """Frame what arrived; keeps an incomplete line or action for the next call.

        Raises ``AmiWireError`` when the pending action exceeds ``MAX_ACTION_BYTES``.
        """
        self._buffer += data
        actions: list[Action] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            raw = self._buffer[:end]
            self._buffer = self._buffer[end + 1:]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw:
                if self._lines:
                    actions.append(Action(tuple(self._lines)))
                    self._lines = []
                continue
            line = raw[:MAX_LINE].decode("utf-8", "replace")
            key, sep, value = line.partition(":")
            if sep and len(self._lines) < MAX_HEADERS:
                self._lines.append((key.strip(), value.lstrip(" \t")))
        pending = len(self._buffer) + sum(len(k) + len(v) + 4 for k, v in self._lines)
        if pending > MAX_ACTION_BYTES:
            self._buffer = b""
            self._lines = []
            raise AmiWireError(f"action larger than {MAX_ACTION_BYTES} bytes without a blank line")
        return actions


# --------------------------------------------------------------------------- messages


def _clean(value: str) -> str:
    # A CR or LF inside a value would end the header line (or the message) early.
    return value.replace("\r", " ").replace("\n", " ")


@dataclass(frozen=True, slots=True)
class Message:
    """One message Asterisk sends (a response, an event or a list item), header lines in wire
    order. ``event_class`` is the class a session must read to receive it (``None`` for
    responses and list items, which go to the session that asked, whatever its classes)."""

    headers: tuple[tuple[str, str], ...]
    event_class: EventClass | None = None

    def encode(self) -> bytes:
        """``Key: Value\\r\\n`` lines and the blank line that ends the message."""
        text = "".join(f"{key}: {_clean(value)}\r\n" for key, value in self.headers)
        return (text + "\r\n").encode("utf-8")

    def get(self, name: str, default: str = "") -> str:
        """The first header called ``name`` (exact spelling)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def name(self) -> str:
        """The ``Event:`` value, or ``Response:<value>`` for a response."""
        first_key, first_value = self.headers[0]
        return first_value if first_key == "Event" else f"{first_key}:{first_value}"

    def with_action_id(self, action_id: str) -> Message:
        """A list item carries the ActionID of the action that asked for it, last."""
        if not action_id:
            return self
        return Message((*self.headers, ("ActionID", action_id)), self.event_class)


def _response(kind: str, action_id: str, rest: Iterable[tuple[str, str]]) -> Message:
    headers: list[tuple[str, str]] = [("Response", kind)]
    if action_id:
        headers.append(("ActionID", action_id))
    headers.extend(rest)
    return Message(tuple(headers))


def success(action_id: str, message: str | None = None,
            extra: Iterable[tuple[str, str]] = ()) -> Message:
    """``astman_send_ack``: ``Response: Success`` / ``ActionID`` / ``Message``; MixMonitor's
    success has no ``Message`` (``message=None``); Getvar adds ``Variable``/``Value``."""
    rest = [("Message", message)] if message is not None else []
    return _response("Success", action_id, [*rest, *extra])


def error(action_id: str, message: str) -> Message:
    """``astman_send_error``: ``Response: Error`` / ``ActionID`` / ``Message``."""
    return _response("Error", action_id, [("Message", message)])


def goodbye(action_id: str) -> Message:
    """The reply to Logoff, after which Asterisk closes the socket."""
    return _response("Goodbye", action_id, [("Message", "Thanks for all the fish.")])


def list_start(action_id: str, message: str) -> Message:
    """``astman_send_listack``: ``Response: Success`` / ``ActionID`` / ``EventList: start`` /
    ``Message: Queue status will follow``."""
    return _response("Success", action_id, [("EventList", "start"), ("Message", message)])


def list_complete(event_name: str, action_id: str, items: int) -> Message:
    """The end of a list: ``Event: QueueStatusComplete`` / ``ActionID`` / ``EventList:
    Complete`` / ``ListItems: 3`` (no Privilege: list items go to the asking session only)."""
    headers: list[tuple[str, str]] = [("Event", event_name)]
    if action_id:
        headers.append(("ActionID", action_id))
    headers += [("EventList", "Complete"), ("ListItems", str(items))]
    return Message(tuple(headers))


def event(name: str, event_class: EventClass, fields: Iterable[tuple[str, str]]) -> Message:
    """A broadcast event: ``Event: <name>`` / ``Privilege: <class>,all`` / the fields."""
    headers = (("Event", name), ("Privilege", privilege(event_class)), *fields)
    return Message(headers, event_class)


def list_item(name: str, fields: Iterable[tuple[str, str]], action_id: str) -> Message:
    """A list item (``QueueParams``, ``QueueMember`` …): no Privilege, the ActionID last."""
    return Message((("Event", name), *fields)).with_action_id(action_id)


def delivers(message: Message, read: EventClass, events: EventClass) -> bool:
    """Whether a session with these read classes (manager.conf ``read=``) and event mask
    (Login ``Events:``) receives this broadcast event (``(perm & category) == category`` in
    manager.c, for both masks)."""
    category = message.event_class
    if category is None:
        return True
    return (read & category) == category and (events & category) == category
