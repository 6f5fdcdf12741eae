"""The AGI wire format, as Asterisk 22's res_agi speaks it. Pure: no I/O, no clock.

h11-shaped: an ``AgiConnection`` is fed the bytes Asterisk sent (``feed(bytes) -> list[event]``)
and told what we send (``send(Command) -> bytes``); typed command builders encode arguments the
way res_agi's ``parse_args()`` reads them. The FastAGI server and the classic per-call script are
two thin adapters over this module.

The conversation (every line ends in a single LF; a CR before it is tolerated)::

    < agi_network: yes                                  header block: "agi_<key>: <value>" lines
    < agi_request: agi://127.0.0.1:4573/hotline
    < agi_accountcode:                                  (note the trailing space: empty value)
    <                                                   an empty line ends the block
    > GET VARIABLE CALLERID(num)                        one command ...
    < 200 result=1 (13800138000)                        ... one final reply, always in this order
    > GET DATA astcc-followed-by-the-pound-key 6000 20
    < 200 result=-1                                     the caller hung up while GET DATA ran
    > VERBOSE "hotline: caller hung up during IVR" 1
    < HANGUP                                            unsolicited, can come BEFORE the reply
    < 200 result=1
    > STREAM FILE goodbye ""
    < 511 Command Not Permitted on a dead channel or intercept routine
    (server half-closes)
    < HANGUP                                            sent at the end of every session, then EOF

Rules of the machine (states: HEADER → REPLIES ⇄ BLOCK / VALUE → CLOSED):

====================  ==========================================  ==============================
state                 line                                        effect
====================  ==========================================  ==============================
HEADER                ``agi_<key>: <value>``                      header entry
HEADER                anything else, before the first entry       ``AgiHeaderError`` (fatal)
HEADER                anything else, after an entry               continues the previous value
                                                                  (a value with a LF in it)
HEADER                empty line                                  ``AgiRequest`` → REPLIES
REPLIES               ``HANGUP``                                  ``HangupNotice`` (never a reply)
REPLIES               ``100 result=0 Trying...``                  ``Interim`` (not the reply)
REPLIES               ``NNN-text`` (``520-Invalid command…``)     → BLOCK
BLOCK                 any line but ``NNN text``                   usage text
BLOCK                 ``NNN text`` (``520 End of proper usage.``) ONE ``Reply`` → REPLIES
REPLIES               ``200 result=1 (val`` to a value command    → VALUE (the value had a LF)
VALUE                 a line ending in ``)``                      ONE ``Reply`` → REPLIES
REPLIES               ``NNN …`` with a command pending            ``Reply`` to the oldest command
REPLIES               ``NNN …`` with no command pending           ``ProtocolViolation`` (skipped)
REPLIES               anything else                               ``ProtocolViolation`` (skipped)
any                   EOF                                         ``ConnectionClosed`` → CLOSED
====================  ==========================================  ==============================

A ``ProtocolViolation`` never counts as a reply, so garbage can never shift the replies: the
n-th command gets the n-th reply. Too many violations, or a line beyond ``max_line`` bytes, raise
``AgiProtocolError``: the stream is not AGI.

Inside a BLOCK or a VALUE every line belongs to the reply, ``HANGUP`` included: res_agi writes a
reply and the ``HANGUP`` line from the same thread, never one inside the other. One ambiguity is
left to the wire format itself: a value whose first line ends in ``)`` (``a)\nb``) reads as the
value ``a``; the rest (``b)``) is skipped as a violation. Only a value line crafted to look like
a whole reply (``a)\n200 result=1``) could still answer the next command, and only if it arrived
after that command was sent; Asterisk writes the reply in one ``write()``, so it arrives with
the first line, while no command is pending, and is skipped too.

The lines after ``HANGUP`` are the same as before it; what changes is that Asterisk answers
``511`` to every command except those in ``DEAD_CHANNEL_COMMANDS``.

One command at a time: res_agi aborts a running STREAM FILE / GET DATA *without a reply* when the
next command arrives (``res == 1 /* new command */`` in res_agi.c), so ``send`` refuses to
pipeline.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from ivr.errors import AgiArgumentError, AgiHeaderError, AgiProtocolError

__all__ = [
    "DEAD_CHANNEL_COMMANDS",
    "MAX_COMMAND_LINE",
    "AgiConnection",
    "AgiEvent",
    "AgiRequest",
    "Command",
    "ConnectionClosed",
    "DigitsResult",
    "HangupNotice",
    "Interim",
    "ProtocolViolation",
    "Reply",
    "State",
    "answer",
    "channel_status",
    "command",
    "database_del",
    "database_get",
    "database_put",
    "decode_digit",
    "decode_get_data",
    "encode_command",
    "exec_",
    "get_data",
    "get_full_variable",
    "get_variable",
    "hangup",
    "noop",
    "parse_header_block",
    "parse_reply_line",
    "quote_argument",
    "record_file",
    "render_argument",
    "request_from_env",
    "route_of",
    "say_digits",
    "say_number",
    "set_music",
    "set_variable",
    "stream_file",
    "verbose",
    "wait_for_digit",
]

# res_agi reads a command with fgets() into ``char buf[AGI_BUF_LEN]`` (8192): a longer line is
# cut and its tail runs as the NEXT command. So a line (with its LF) must fit in 8191 bytes.
MAX_COMMAND_LINE: Final = 8191
# parse_args() keeps at most MAX_ARGS - 1 (127) words and silently drops the rest.
_MAX_WORDS: Final = 127

# Commands res_agi still runs after the channel hung up (the last field of its command table);
# every other command gets "511 Command Not Permitted on a dead channel or intercept routine".
DEAD_CHANNEL_COMMANDS: Final = frozenset(
    {
        "ASYNCAGI BREAK",
        "DATABASE DEL",
        "DATABASE DELTREE",
        "DATABASE GET",
        "DATABASE PUT",
        "EXEC",
        "GET FULL VARIABLE",
        "GET VARIABLE",
        "NOOP",
        "SET VARIABLE",
        "SPEECH DESTROY",
        "SPEECH UNLOAD GRAMMAR",
        "VERBOSE",
    }
)
# Every command of res_agi's command table (Asterisk 22).
_ALL_COMMANDS: Final = DEAD_CHANNEL_COMMANDS | frozenset(
    {
        "ANSWER",
        "CHANNEL STATUS",
        "CONTROL STREAM FILE",
        "GET DATA",
        "GET OPTION",
        "HANGUP",
        "RECEIVE CHAR",
        "RECEIVE TEXT",
        "RECORD FILE",
        "SAY ALPHA",
        "SAY DATE",
        "SAY DATETIME",
        "SAY DIGITS",
        "SAY NUMBER",
        "SAY PHONETIC",
        "SAY TIME",
        "SEND IMAGE",
        "SEND TEXT",
        "SET AUTOHANGUP",
        "SET CALLERID",
        "SET CONTEXT",
        "SET EXTENSION",
        "SET MUSIC",
        "SET PRIORITY",
        "SPEECH ACTIVATE GRAMMAR",
        "SPEECH CREATE",
        "SPEECH DEACTIVATE GRAMMAR",
        "SPEECH LOAD GRAMMAR",
        "SPEECH RECOGNIZE",
        "SPEECH SET",
        "STREAM FILE",
        "TDD MODE",
        "WAIT FOR DIGIT",
        "GOSUB",
    }
)
# Commands whose "(…)" is a value of arbitrary text ("200 result=1 (%s)\n" in res_agi), as
# opposed to a status word such as "(timeout)" followed by "endpos=…".
_VALUE_COMMANDS: Final = frozenset({"GET VARIABLE", "GET FULL VARIABLE", "DATABASE GET"})


# --------------------------------------------------------------------------------------------
# Header block
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """The ``agi_*`` header block of one AGI session, with Asterisk spellings translated.

    ``caller_id``, ``caller_id_name``, ``dnid`` and ``rdnis`` are ``""`` where Asterisk wrote
    ``unknown`` (no number). ``args`` are ``agi_arg_1``…``agi_arg_N`` in order. ``raw`` keeps
    every header line as received.
    """

    channel: str
    unique_id: str
    caller_id: str
    caller_id_name: str
    language: str
    context: str
    extension: str
    priority: str
    request: str
    network_script: str
    args: tuple[str, ...]
    version: str
    channel_type: str = ""
    dnid: str = ""
    rdnis: str = ""
    account_code: str = ""
    network: bool = False
    raw: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)

    @property
    def route(self) -> str:
        """The route this session asks for (``agi://host:4573/hotline?x`` → ``"hotline"``)."""
        return route_of(self.network_script, self.request)


def route_of(network_script: str, request: str = "") -> str:
    """The route name of an AGI request: the path of ``agi_network_script`` (or else of the
    ``agi_request`` URL), without a ``?query`` and without surrounding slashes."""
    script = network_script
    if not script and request:
        script = urlsplit(request).path if "://" in request else request
    script = script.split("?", 1)[0].split("#", 1)[0]
    return script.strip("/")


def _known(value: str | None) -> str:
    # Asterisk writes "unknown" for an absent number or name (S_COR(…, "unknown")).
    return "" if value is None or value == "unknown" else value


def request_from_env(env: Mapping[str, str]) -> AgiRequest:
    """Build an ``AgiRequest`` from a decoded header dict (``{"agi_channel": …}``); missing keys
    become empty strings. Used by the classic script, where pyst2 reads the header."""
    numbered = sorted(
        (int(key[8:]), value)
        for key, value in env.items()
        if key.startswith("agi_arg_") and key[8:].isdigit()
    )
    get = env.get
    return AgiRequest(
        channel=get("agi_channel", ""),
        unique_id=get("agi_uniqueid", ""),
        caller_id=_known(get("agi_callerid")),
        caller_id_name=_known(get("agi_calleridname")),
        language=get("agi_language", ""),
        context=get("agi_context", ""),
        extension=get("agi_extension", ""),
        priority=get("agi_priority", ""),
        request=get("agi_request", ""),
        network_script=get("agi_network_script", ""),
        args=tuple(value for _, value in numbered),
        version=get("agi_version", ""),
        channel_type=get("agi_type", ""),
        dnid=_known(get("agi_dnid")),
        rdnis=_known(get("agi_rdnis")),
        account_code=get("agi_accountcode", ""),
        network=get("agi_network", "") == "yes",
        raw=MappingProxyType(dict(env)),
    )


_HEADER_KEY = re.compile(r"agi_[a-z0-9_]+")


def _split_header_line(line: str) -> tuple[str, str] | None:
    key, colon, value = line.partition(":")
    if not colon or not _HEADER_KEY.fullmatch(key):
        return None
    # "agi_accountcode: " is an empty value: drop exactly the one separating space.
    return key, value[1:] if value.startswith(" ") else value


def parse_header_block(data: bytes) -> AgiRequest:
    """Parse a complete header block (up to and including the empty line).

    >>> parse_header_block(b"agi_network: yes\\nagi_uniqueid: 1795330137.1\\n\\n").unique_id
    '1795330137.1'

    Raises ``AgiHeaderError`` when the block is not AGI or has no empty line.
    """
    conn = AgiConnection()
    for event in conn.feed(data):
        if isinstance(event, AgiRequest):
            return event
    raise AgiHeaderError("header block has no terminating empty line")


# --------------------------------------------------------------------------------------------
# Replies and events
# --------------------------------------------------------------------------------------------

_NO_EXTRAS: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Reply:
    """The final reply to one command.

    ``200 result=0 endpos=6291``             → code 200, result "0", extras {"endpos": "6291"}
    ``200 result=1 (13800138000)``           → code 200, result "1", data "13800138000"
    ``200 result=123456789012345 (timeout)`` → code 200, result "123456789012345", data "timeout"
    ``510 Invalid or unknown command``       → code 510, result None, text "Invalid or unknown…"
    ``520-…`` … ``520 End of proper usage.`` → code 520, usage = the lines in between

    ``result`` stays a string: GET DATA digits keep their leading zeros.
    """

    code: int
    result: str | None
    data: str | None = None
    extras: Mapping[str, str] = field(default_factory=lambda: _NO_EXTRAS, hash=False)
    text: str = ""
    usage: str = ""

    @property
    def result_int(self) -> int | None:
        """``result`` as an int, or None when absent or not a number."""
        result = self.result
        if result is None:
            return None
        try:
            return int(result)
        except ValueError:
            return None

    @property
    def failed(self) -> bool:
        """``200 result=-1``: error or hang-up (res_agi cannot tell which)."""
        return self.result == "-1"


@dataclass(frozen=True, slots=True)
class Interim:
    """``100 result=0 Trying...`` (GOSUB): progress, the final reply follows."""

    text: str


@dataclass(frozen=True, slots=True)
class HangupNotice:
    """The unsolicited ``HANGUP`` line: the channel hung up (or the session ended)."""


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """A line that is not AGI, or a reply with no command waiting. Skipped, never a reply."""

    line: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """EOF from Asterisk. ``pending`` commands will never get their reply."""

    pending: int


AgiEvent = AgiRequest | Reply | Interim | HangupNotice | ProtocolViolation | ConnectionClosed

_HANGUP_NOTICE: Final = HangupNotice()


@dataclass(frozen=True, slots=True)
class DigitsResult:
    """What GET DATA collected: ``200 result=123456789012345`` → digits, not timed out;
    ``200 result=12 (timeout)`` → "12", timed out. The ``#`` terminator is never included."""

    digits: str
    timed_out: bool


def decode_digit(reply: Reply) -> str | None:
    """The DTMF digit of WAIT FOR DIGIT / STREAM FILE / SAY * (an ASCII code: ``200 result=49``
    → ``"1"``); ``result=0`` (timeout, or no digit pressed) → None.

    Raises ``AgiProtocolError`` for a negative or non-numeric result (check ``failed`` first).
    """
    code = reply.result_int
    if code is None or code < 0 or code > 0x10FFFF:
        raise AgiProtocolError(f"not a DTMF result: {reply.result!r}")
    return chr(code) if code else None


def decode_get_data(reply: Reply) -> DigitsResult:
    """The digits of a GET DATA reply (``200 result=<digits> [(timeout)]``)."""
    return DigitsResult(digits=reply.result or "", timed_out=reply.data == "timeout")


def _parse_extras(tail: str) -> Mapping[str, str]:
    extras: dict[str, str] = {}
    last = ""
    for word in tail.split(" "):
        key, eq, value = word.partition("=")
        if eq and key:
            extras[key] = value
            last = key
        elif last and word:
            # "results=1 score0=… text0=two words": a word without "=" continues the value.
            extras[last] += " " + word
    return MappingProxyType(extras) if extras else _NO_EXTRAS


_STATUS_WORD = re.compile(r"\(([^()]*)\)(?: (.*))?")


def _parse_final(code: int, rest: str, value: bool) -> Reply:
    if not rest.startswith("result="):
        return Reply(code, None, None, _NO_EXTRAS, rest)
    space = rest.find(" ", 7)
    if space < 0:
        return Reply(code, rest[7:], None, _NO_EXTRAS, rest)
    result = rest[7:space]
    tail = rest[space + 1 :]
    if not tail.startswith("("):
        return Reply(code, result, None, _parse_extras(tail), rest)
    if value:
        # "200 result=1 (%s)\n": the value is everything between the first "(" and the last ")".
        return Reply(code, result, tail[1:-1] if tail.endswith(")") else tail[1:], _NO_EXTRAS, rest)
    match = _STATUS_WORD.fullmatch(tail)
    if match is not None:
        extras = match.group(2)
        return Reply(
            code, result, match.group(1), _parse_extras(extras) if extras else _NO_EXTRAS, rest
        )
    close = tail.rfind(")")
    if close < 0:
        return Reply(code, result, tail[1:], _NO_EXTRAS, rest)
    return Reply(code, result, tail[1:close], _parse_extras(tail[close + 1 :].strip()), rest)


def parse_reply_line(line: str, *, value: bool = False) -> Reply | None:
    """Parse one complete single-line reply; None if the line is not a reply.

    ``value=True`` for GET VARIABLE / GET FULL VARIABLE / DATABASE GET, whose parentheses hold
    arbitrary text (``200 result=1 (a) b=c)`` is the value ``a) b=c``).

    >>> parse_reply_line("200 result=0 endpos=6291").extras["endpos"]
    '6291'
    """
    if len(line) < 4 or line[3] != " " or not line[:3].isdigit() or not line[:3].isascii():
        return None
    return _parse_final(int(line[:3]), line[4:], value)


def _opens_value(rest: str) -> bool:
    # "result=1 (first line of a value" with no closing parenthesis on this line.
    space = rest.find(" ")
    return space > 0 and rest[space + 1 : space + 2] == "(" and not rest.endswith(")")


# Parsed replies of short lines without a value ("200 result=1", "200 result=0 endpos=6291")
# are immutable and recur on every call: reuse them instead of parsing and allocating again.
_REPLY_CACHE: dict[bytes, Reply] = {}
_REPLY_CACHE_MAX: Final = 512
_CACHEABLE_LEN: Final = 48
# Status codes and ASCII digits only: GET DATA's collected digits (caller data) are not kept.
_CACHEABLE_RESULT: Final = 3


# --------------------------------------------------------------------------------------------
# The connection (both directions)
# --------------------------------------------------------------------------------------------


class State(Enum):
    """Where the reading side of an ``AgiConnection`` is."""

    HEADER = "header"
    REPLIES = "replies"
    BLOCK = "block"
    VALUE = "value"
    CLOSED = "closed"
    FAILED = "failed"


class AgiConnection:
    """One AGI session's protocol state: ``feed`` what Asterisk sent, ``send`` what we send.

    ``header=False`` starts after the header block (the classic script, where pyst2 read it).
    Raises ``AgiHeaderError``/``AgiProtocolError`` from ``feed`` when the stream is not AGI;
    after that the connection stays FAILED and must be closed.
    """

    __slots__ = (
        "_block",
        "_block_code",
        "_buffer",
        "_header",
        "_header_bytes",
        "_last_key",
        "_pending",
        "_value_lines",
        "_violations",
        "max_header",
        "max_line",
        "max_violations",
        "state",
    )

    def __init__(
        self,
        *,
        header: bool = True,
        max_line: int = 1 << 20,
        max_header: int = 64 * 1024,
        max_violations: int = 64,
    ) -> None:
        self.state = State.HEADER if header else State.REPLIES
        # A reply line longer than this (or a header block) is not Asterisk talking.
        self.max_line = max_line
        self.max_header = max_header
        self.max_violations = max_violations
        self._buffer = bytearray()
        self._header: dict[str, str] = {}
        self._header_bytes = 0
        self._last_key = ""
        self._pending: deque[Command] = deque()
        self._block: list[str] = []
        self._block_code = ""
        self._value_lines: list[str] = []
        self._violations = 0

    @property
    def pending(self) -> int:
        """Commands sent that have no reply yet (0 or 1: AGI does not pipeline)."""
        return len(self._pending)

    def send(self, command: Command) -> bytes:
        """Record ``command`` as sent and return its bytes.

        Raises ``AgiProtocolError`` before the header block, after EOF, or while another command
        still waits for its reply.
        """
        if self.state is State.HEADER:
            raise AgiProtocolError("cannot send a command before the agi_* header block")
        if self.state is State.CLOSED or self.state is State.FAILED:
            raise AgiProtocolError("connection is closed")
        if self._pending:
            raise AgiProtocolError(
                f"{self._pending[0].name} still waits for its reply; AGI does not pipeline"
            )
        self._pending.append(command)
        return command.line

    def abandon(self) -> None:
        """Forget the command waiting for its reply (its caller gave up; the connection is
        about to be closed, because the late reply would be taken as the next one's)."""
        self._pending.clear()
        self.state = State.FAILED

    def feed(self, data: bytes) -> list[AgiEvent]:
        """Parse bytes from Asterisk; returns the complete events in wire order."""
        events: list[AgiEvent] = []
        if self.state is State.CLOSED:
            if data:
                events.append(ProtocolViolation(bytes(data[:80]), "data after EOF"))
            return events
        if self.state is State.FAILED:
            raise AgiProtocolError("connection already failed")
        if not data:
            return events
        if type(data) is not bytes:
            data = bytes(data)
        buffer = self._buffer
        if not buffer:
            # Fast path: one chunk holding exactly one line (the usual reply).
            end = data.find(b"\n")
            if end == len(data) - 1:
                self._line(data[:end], events)
                return events
            if self.state is State.HEADER and not self._header and b"\r" not in data:
                # Fast path: the whole header block in one chunk, decoded once.
                end = data.find(b"\n\n")
                if 0 < end <= self.max_header:
                    self._header_bytes = end + 2
                    for line in data[:end].decode("utf-8", "replace").split("\n"):
                        self._header_text(line, events)
                    self._header_text("", events)
                    data = data[end + 2 :]
                    if not data:
                        return events
        buffer += data
        start = 0
        find = buffer.find
        while True:
            end = find(b"\n", start)
            if end < 0:
                break
            self._line(bytes(buffer[start:end]), events)
            start = end + 1
        if start:
            del buffer[:start]
        if self.state is State.HEADER:
            if len(buffer) + self._header_bytes > self.max_header:
                raise self._fail(AgiHeaderError(f"header block over {self.max_header} bytes"))
        elif len(buffer) > self.max_line:
            raise self._fail(AgiProtocolError(f"line over {self.max_line} bytes without LF"))
        return events

    def feed_eof(self) -> list[AgiEvent]:
        """Asterisk closed its side. A partial last line is reported as a violation."""
        events: list[AgiEvent] = []
        if self.state is State.CLOSED:
            return events
        if self._buffer:
            events.append(ProtocolViolation(bytes(self._buffer[:80]), "partial line at EOF"))
            self._buffer.clear()
        pending = len(self._pending)
        self._pending.clear()
        self.state = State.CLOSED
        events.append(ConnectionClosed(pending))
        return events

    # -- one line -------------------------------------------------------------------------

    def _line(self, raw: bytes, events: list[AgiEvent]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        state = self.state
        if state is State.REPLIES:
            self._reply_line(raw, events)
        elif state is State.HEADER:
            self._header_line(raw, events)
        elif state is State.BLOCK:
            self._block_line(raw, events)
        elif state is State.VALUE:
            self._value_line(raw, events)
        # CLOSED/FAILED: nothing more is read.

    def _fail(self, error: AgiProtocolError) -> AgiProtocolError:
        self.state = State.FAILED
        self._buffer.clear()
        return error

    def _header_line(self, raw: bytes, events: list[AgiEvent]) -> None:
        self._header_bytes += len(raw) + 1
        if self._header_bytes > self.max_header:
            raise self._fail(AgiHeaderError(f"header block larger than {self.max_header} bytes"))
        self._header_text(raw.decode("utf-8", "replace"), events)

    def _header_text(self, line: str, events: list[AgiEvent]) -> None:
        if not line:
            if not self._header:
                raise self._fail(AgiHeaderError("empty header block"))
            self.state = State.REPLIES
            events.append(request_from_env(self._header))
            self._header = {}
            return
        entry = _split_header_line(line)
        if entry is not None:
            self._header[entry[0]] = entry[1]
            self._last_key = entry[0]
        elif self._last_key:
            # Asterisk writes values raw ("agi_arg_1: %s\n"): a value holding a LF spills over.
            self._header[self._last_key] += "\n" + line
        else:
            raise self._fail(AgiHeaderError(f"not an agi_* header line: {line[:80]!r}"))

    def _violation(self, raw: bytes, reason: str, events: list[AgiEvent]) -> None:
        self._violations += 1
        if self._violations > self.max_violations:
            raise self._fail(
                AgiProtocolError(f"more than {self.max_violations} lines that are not AGI")
            )
        events.append(ProtocolViolation(raw[:200], reason))

    def _reply_line(self, raw: bytes, events: list[AgiEvent]) -> None:
        cached = _REPLY_CACHE.get(raw)
        if cached is not None and self._pending:
            self._pending.popleft()
            events.append(cached)
            return
        if raw == b"HANGUP":
            events.append(_HANGUP_NOTICE)
            return
        if len(raw) > self.max_line:
            raise self._fail(AgiProtocolError(f"reply line longer than {self.max_line} bytes"))
        if len(raw) < 4 or not raw[:3].isdigit() or raw[3:4] not in (b" ", b"-"):
            self._violation(raw, "not an AGI reply line", events)
            return
        line = raw.decode("utf-8", "replace")
        code = int(line[:3])
        if line[3] == "-":
            # "520-Invalid command syntax.  Proper usage follows:" opens a block that ends at
            # the line starting with "520 " ("520 End of proper usage.").
            self._block = [line[4:]]
            self._block_code = line[:3]
            self.state = State.BLOCK
            return
        rest = line[4:]
        if code == 100:
            events.append(Interim(rest))
            return
        if not self._pending:
            self._violation(raw, "reply with no command waiting", events)
            return
        value = self._pending[0].returns_value
        if value and code == 200 and _opens_value(rest):
            # "200 result=1 (first line" — the value itself holds a LF; Asterisk wrote the
            # rest and the closing ")" on the next line(s) in the same write.
            self._value_lines = [line]
            self.state = State.VALUE
            return
        reply = _parse_final(code, rest, value)
        self._pending.popleft()
        if (
            not value
            and len(raw) <= _CACHEABLE_LEN
            and reply.data is None
            and len(reply.result or "") <= _CACHEABLE_RESULT
        ):
            if len(_REPLY_CACHE) >= _REPLY_CACHE_MAX:
                _REPLY_CACHE.clear()
            _REPLY_CACHE[raw] = reply
        events.append(reply)

    def _block_line(self, raw: bytes, events: list[AgiEvent]) -> None:
        line = raw.decode("utf-8", "replace")
        block = self._block
        if line.startswith(self._block_code) and line[3:4] == " ":
            self.state = State.REPLIES
            first, usage = block[0], "\n".join(block[1:])
            self._block = []
            if not self._pending:
                self._violation(raw, "reply block with no command waiting", events)
                return
            self._pending.popleft()
            events.append(Reply(int(self._block_code), None, None, _NO_EXTRAS, first, usage))
            return
        if sum(len(part) for part in block) > self.max_line:
            raise self._fail(AgiProtocolError(f"reply block longer than {self.max_line} bytes"))
        block.append(line)

    def _value_line(self, raw: bytes, events: list[AgiEvent]) -> None:
        lines = self._value_lines
        lines.append(raw.decode("utf-8", "replace"))
        if lines[-1].endswith(")"):
            self.state = State.REPLIES
            joined = "\n".join(lines)
            self._value_lines = []
            self._pending.popleft()
            events.append(_parse_final(int(joined[:3]), joined[4:], True))
        elif sum(len(part) for part in lines) > self.max_line:
            raise self._fail(AgiProtocolError(f"reply value longer than {self.max_line} bytes"))


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """One encoded command. ``line`` is what goes on the wire (LF-terminated).

    ``dead_ok``: res_agi runs it after hang-up. ``returns_value``: its reply carries a
    value in parentheses. ``duration`` (seconds): how long it may legitimately run on top of the
    normal command timeout (GET DATA / WAIT FOR DIGIT wait for the caller).
    """

    name: str
    line: bytes
    dead_ok: bool = False
    returns_value: bool = False
    duration: float = 0.0

    @property
    def text(self) -> str:
        """The command line without its LF, for messages."""
        return self.line[:-1].decode("utf-8", "replace")

    @classmethod
    def from_line(cls, line: str | bytes) -> Command:
        """A command from its wire text, as written (``STREAMFILE hello ""`` included): for
        replaying captures and for a fake Asterisk that classifies what it receives.

        Raises ``AgiArgumentError`` for a CR/LF/NUL inside the line.
        """
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        text = text.removesuffix("\n")
        _check_text("line", text)
        words = text.split(" ")
        name = ""
        for size in (3, 2, 1):
            candidate = " ".join(words[:size]).upper()
            if candidate in _ALL_COMMANDS:
                name = candidate
                break
        if not name:
            leading = [word for word in words[:3] if word.isalpha() and word.isupper()]
            name = " ".join(leading) or words[0]
        return cls(
            name=name,
            line=(text + "\n").encode("utf-8"),
            dead_ok=name in DEAD_CHANNEL_COMMANDS,
            returns_value=name in _VALUE_COMMANDS,
        )


_COMMAND_NAME = re.compile(r"[A-Z]+(?: [A-Z]+)*")
# Printable ASCII except space, '"' and '\\': what parse_args() copies through unchanged.
_BARE = re.compile(r"[!#-\[\]-~]+")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_text(argument: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise AgiArgumentError(argument, "contains CR, LF or NUL (it would start a new command)")
    return value


def quote_argument(value: str, *, argument: str = "value") -> str:
    """``value`` as one double-quoted argument, escaped for res_agi's ``parse_args()``.

    ``parse_args`` drops an unescaped ``"`` (toggling quoting) and a single ``\\`` (escaping the
    next character), so both are written with a backslash: ``a "b" \\c`` → ``"a \\"b\\" \\\\c"``.
    Raises ``AgiArgumentError`` for CR, LF or NUL: no quoting protects the line framing.
    """
    _check_text(argument, value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_argument(value: str | int, *, argument: str = "value") -> str:
    """An argument as res_agi reads it back unchanged: bare when it is a plain token
    (``CALLERID(num)``, ``5000``), otherwise quoted (``""``, ``"two words"``)."""
    if isinstance(value, bool):
        raise AgiArgumentError(argument, "a bool is not an AGI argument")
    if isinstance(value, int):
        return str(value)
    if value and _BARE.fullmatch(value):
        return value
    return quote_argument(value, argument=argument)


def _make(name: str, parts: list[str], duration: float = 0.0) -> Command:
    if len(parts) + name.count(" ") + 1 > _MAX_WORDS:
        raise AgiArgumentError("arguments", f"more than {_MAX_WORDS} words (res_agi drops them)")
    text = " ".join([name, *parts]) if parts else name
    try:
        line = (text + "\n").encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AgiArgumentError("arguments", "not encodable as UTF-8") from exc
    if len(line) > MAX_COMMAND_LINE:
        raise AgiArgumentError(
            "line", f"{len(line)} bytes; res_agi splits lines over {MAX_COMMAND_LINE} bytes"
        )
    return Command(
        name=name,
        line=line,
        dead_ok=name in DEAD_CHANNEL_COMMANDS,
        returns_value=name in _VALUE_COMMANDS,
        duration=duration,
    )


def command(name: str, *args: str | int) -> Command:
    """Any command: ``command("EXEC", "Playback", "beep")`` → ``EXEC Playback beep``.

    Each argument is rendered by ``render_argument`` (bare token or quoted). ``name`` is
    upper-case words (an unknown name is sent as is: Asterisk answers 510).
    """
    if not _COMMAND_NAME.fullmatch(name):
        raise AgiArgumentError("name", f"not an AGI command name: {name!r}")
    parts = [render_argument(arg, argument=f"argument {i}") for i, arg in enumerate(args)]
    return _make(name, parts)


def encode_command(name: str, *args: str | int) -> bytes:
    """The wire bytes of ``command(name, *args)``."""
    return command(name, *args).line


_ESCAPE_DIGITS = re.compile(r"[0-9*#A-D]*")
_DIGITS = re.compile(r"[0-9*#]+")
_PROMPT = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_\-.:/]*")
_VARIABLE = re.compile(r"_{0,2}[A-Za-z][A-Za-z0-9_]*(?:\([A-Za-z0-9_,.:@/+=*#\-]*\))?")
_APP = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MSET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# What MSet passes through untouched: it splits its argument at "," and each pair at the
# first "=", and strips quotes and backslashes (AST_STANDARD_APP_ARGS), so only values made
# of these characters (what ivr.menu.channel_value leaves) may travel in one MSet.
_MSET_VALUE = re.compile(r"[A-Za-z0-9_.:>*#+\-]*")
MSET_MAX_PAIRS: Final = 99  # pbx_builtin_setvar_multiple parses up to 99 pairs
_FORMAT = re.compile(r"[a-z0-9]+")
_MUSIC_CLASS = re.compile(r"[A-Za-z0-9_\-]+")


def _prompt(prompt: str) -> str:
    if not _PROMPT.fullmatch(prompt) or ".." in prompt.split("/"):
        raise AgiArgumentError("prompt", f"not a prompt id: {prompt!r}")
    return prompt


def _escape_digits(digits: str) -> str:
    if not _ESCAPE_DIGITS.fullmatch(digits):
        raise AgiArgumentError("escape_digits", f"only 0-9 * # A-D allowed: {digits!r}")
    # Always quoted, as res_agi's own examples do: an empty string must stay an argument.
    return '"' + digits + '"'


def _variable(name: str) -> str:
    if not _VARIABLE.fullmatch(name):
        raise AgiArgumentError("name", f"not a channel variable or function: {name!r}")
    return name


def _int(argument: str, value: int, low: int, high: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AgiArgumentError(argument, f"must be an int in [{low}, {high}]: {value!r}")
    return str(value)


def _key(argument: str, value: str) -> str:
    if not value:
        raise AgiArgumentError(argument, "must not be empty")
    return render_argument(value, argument=argument)


def answer() -> Command:
    """``ANSWER`` → ``200 result=0`` (-1 on failure)."""
    return _ANSWER


def hangup(channel: str | None = None) -> Command:
    """``HANGUP [channel]`` → ``200 result=1``."""
    if channel is None:
        return _HANGUP
    return _make("HANGUP", [_key("channel", channel)])


def noop() -> Command:
    """``NOOP`` → ``200 result=0`` (works on a dead channel)."""
    return _NOOP


def channel_status() -> Command:
    """``CHANNEL STATUS`` → ``200 result=6`` (up); ``511`` once the channel is dead."""
    return _CHANNEL_STATUS


@lru_cache(maxsize=256)
def stream_file(prompt: str, escape_digits: str = "", offset: int | None = None) -> Command:
    """``STREAM FILE hello ""`` → ``200 result=0 endpos=6291`` (result = ASCII code of the
    escape digit pressed; ``-1`` missing file or hang-up)."""
    parts = [_prompt(prompt), _escape_digits(escape_digits)]
    if offset is not None:
        parts.append(_int("offset", offset, 0, 2**62))
    return _make("STREAM FILE", parts)


@lru_cache(maxsize=256)
def get_data(prompt: str, timeout_ms: int, max_digits: int) -> Command:
    """``GET DATA basic-pbx-ivr-main 5000 1`` → ``200 result=2``; ``200 result=12 (timeout)``.

    ``timeout_ms`` is the first-digit and inter-digit timeout (0: Asterisk's default), digits
    end at ``#`` or ``max_digits``.
    """
    timeout = _int("timeout_ms", timeout_ms, 0, 3_600_000)
    maximum = _int("max_digits", max_digits, 1, 1023)
    # Worst case: prompt (covered by the command timeout) + a timeout before every digit.
    duration = (timeout_ms or 6000) / 1000 * (max_digits + 1)
    return _make("GET DATA", [_prompt(prompt), timeout, maximum], duration)


@lru_cache(maxsize=64)
def wait_for_digit(timeout_ms: int) -> Command:
    """``WAIT FOR DIGIT 3000`` → ``200 result=49`` (ASCII "1"); ``result=0`` timeout; -1 forever
    is not allowed here (a menu always has a timeout)."""
    timeout = _int("timeout_ms", timeout_ms, 0, 3_600_000)
    return _make("WAIT FOR DIGIT", [timeout], timeout_ms / 1000)


@lru_cache(maxsize=256)
def say_digits(digits: str, escape_digits: str = "") -> Command:
    """``SAY DIGITS 2 ""`` → ``200 result=0``."""
    if not _DIGITS.fullmatch(digits):
        raise AgiArgumentError("digits", f"only 0-9 * # can be said as digits: {digits!r}")
    return _make("SAY DIGITS", [digits, _escape_digits(escape_digits)])


def say_number(number: int, escape_digits: str = "", gender: str | None = None) -> Command:
    """``SAY NUMBER 42 ""`` → ``200 result=0``."""
    parts = [_int("number", number, -(2**31), 2**31 - 1), _escape_digits(escape_digits)]
    if gender is not None:
        if gender not in ("f", "m", "n", "c"):
            raise AgiArgumentError("gender", f"one of f m n c: {gender!r}")
        parts.append(gender)
    return _make("SAY NUMBER", parts)


def set_variable(name: str, value: str) -> Command:
    """``SET VARIABLE CC_QUEUE "aftersales"`` → ``200 result=1``. The value is always quoted
    and escaped; CR/LF/NUL are refused (``AgiArgumentError``)."""
    return _make("SET VARIABLE", [_variable(name), quote_argument(value)])


@lru_cache(maxsize=256)
def get_variable(name: str) -> Command:
    """``GET VARIABLE CALLERID(num)`` → ``200 result=1 (13800138000)``; ``200 result=0`` unset."""
    return _make("GET VARIABLE", [_variable(name)])


def get_full_variable(expression: str, channel: str | None = None) -> Command:
    """``GET FULL VARIABLE "${CALLERID(num)}"`` → ``200 result=1 (13800138000)``.

    Asterisk evaluates the expression: never put caller-controlled text into it.
    """
    parts = [quote_argument(expression, argument="expression")]
    if channel is not None:
        parts.append(_key("channel", channel))
    return _make("GET FULL VARIABLE", parts)


def database_get(family: str, key: str) -> Command:
    """``DATABASE GET cc-merchant 13800138000`` → ``200 result=1 (value)``; ``200 result=0``
    absent. A key that is not a plain token is quoted."""
    return _make("DATABASE GET", [_key("family", family), _key("key", key)])


def database_put(family: str, key: str, value: str) -> Command:
    """``DATABASE PUT cc-merchant 13800138000 "123"`` → ``200 result=1`` (0 on failure)."""
    return _make("DATABASE PUT", [_key("family", family), _key("key", key), quote_argument(value)])


def database_del(family: str, key: str) -> Command:
    """``DATABASE DEL family key`` → ``200 result=1`` (0 if absent)."""
    return _make("DATABASE DEL", [_key("family", family), _key("key", key)])


def mset_safe(variables: Mapping[str, str]) -> bool:
    """Whether :func:`mset` can carry ``variables`` exactly (plain names, values of letters,
    digits and ``_ . : > * # + -``, at most 99 pairs)."""
    return 0 < len(variables) <= MSET_MAX_PAIRS and all(
        _MSET_NAME.fullmatch(name) and _MSET_VALUE.fullmatch(value)
        for name, value in variables.items()
    )


def mset(variables: Mapping[str, str]) -> Command:
    """``EXEC MSet "CC_QUEUE=aftersales,CC_LANG=zh"`` → ``200 result=0``: several channel
    variables in ONE round trip instead of one ``SET VARIABLE`` each (the IVR's hand-off sets
    eight). EXEC is allowed on a dead channel, like SET VARIABLE.

    Raises ``AgiArgumentError`` unless :func:`mset_safe`: a comma, ``=``, quote or backslash in
    a value would be re-parsed by MSet, so such values go through :func:`set_variable`.
    """
    if not mset_safe(variables):
        bad = [name for name, value in variables.items()
               if not (_MSET_NAME.fullmatch(name) and _MSET_VALUE.fullmatch(value))]
        raise AgiArgumentError(
            "variables", f"MSet takes 1-{MSET_MAX_PAIRS} plain names with values of letters, "
                         f"digits and _ . : > * # + - (offending: {bad or len(variables)})")
    pairs = ",".join(f"{name}={value}" for name, value in variables.items())
    return _make("EXEC", ["MSet", quote_argument(pairs, argument="variables")])


def exec_(app: str, args: str = "") -> Command:
    """``EXEC Playback beep`` → ``200 result=0`` (the application's return; -2 unknown app).

    ``args`` travels as ONE argument (quoted when needed). The application still splits it at
    ``,``, and with ``AGIEXECFULL=yes`` Asterisk substitutes ``${…}`` in it: keep
    caller-controlled text out of ``args``.
    """
    if not _APP.fullmatch(app):
        raise AgiArgumentError("app", f"not an application name: {app!r}")
    return _make("EXEC", [app, render_argument(args, argument="args")] if args else [app])


def verbose(message: str, level: int = 1) -> Command:
    """``VERBOSE "hotline: caller hung up during IVR" 1`` → ``200 result=1``.

    A log line: control characters (CR/LF/NUL included) become spaces instead of failing.
    """
    return _make(
        "VERBOSE", [quote_argument(_CONTROL.sub(" ", message)), _int("level", level, 1, 4)]
    )


def set_music(on: bool, music_class: str | None = None) -> Command:
    """``SET MUSIC ON [class]`` / ``SET MUSIC OFF`` → ``200 result=0``."""
    parts = ["ON" if on else "OFF"]
    if music_class is not None:
        if not _MUSIC_CLASS.fullmatch(music_class):
            raise AgiArgumentError("music_class", f"not a music class: {music_class!r}")
        parts.append(music_class)
    return _make("SET MUSIC", parts)


def record_file(
    filename: str,
    file_format: str = "wav",
    escape_digits: str = "#",
    timeout_ms: int = 10_000,
    *,
    beep: bool = True,
    silence_s: int | None = None,
) -> Command:
    """``RECORD FILE /var/spool/asterisk/tmp/x wav "#" 10000 BEEP s=3`` →
    ``200 result=35 (dtmf) endpos=20000`` / ``200 result=0 (timeout) endpos=…`` /
    ``200 result=-1 (hangup) endpos=…``."""
    if not _FORMAT.fullmatch(file_format):
        raise AgiArgumentError("file_format", f"not a sound file format: {file_format!r}")
    parts = [
        _prompt(filename),
        file_format,
        _escape_digits(escape_digits),
        _int("timeout_ms", timeout_ms, -1, 3_600_000),
    ]
    if beep:
        parts.append("BEEP")
    if silence_s is not None:
        parts.append("s=" + _int("silence_s", silence_s, 1, 3600))
    return _make("RECORD FILE", parts, max(timeout_ms, 0) / 1000)


_ANSWER: Final = _make("ANSWER", [])
_HANGUP: Final = _make("HANGUP", [])
_NOOP: Final = _make("NOOP", [])
_CHANNEL_STATUS: Final = _make("CHANNEL STATUS", [])
