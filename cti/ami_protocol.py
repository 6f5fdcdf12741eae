"""The Asterisk Manager Interface wire format, with no I/O (h11-shaped).

What Asterisk 22 sends on the socket (``tests/fixtures/asterisk-22/*.ami``, byte-exact)::

    Asterisk Call Manager/11.0.0\\r\\n                  <- banner line, no blank line after it
    Response: Success\\r\\n
    ActionID: s01-001\\r\\n
    Message: Authentication accepted\\r\\n
    \\r\\n                                              <- a blank line ends every message
    Event: FullyBooted\\r\\n
    Privilege: system,all\\r\\n
    Uptime: 2\\r\\n
    ...

* ``AmiFramer.feed(bytes) -> list[AmiFrame]`` cuts the byte stream into ``AmiBanner``,
  ``AmiMessage`` and ``AmiMalformed`` items, whatever the recv() chunking.
* ``encode_action(name, headers, action_id) -> bytes`` is the only way out; it makes header
  injection through a value impossible.
* ``ActionTracker`` correlates responses, list items and list ends with the ActionID of the
  action that caused them; it completes ``ActionResult`` objects.

Tolerance, learned from real servers:

* the ``\\r\\n\\n`` terminator (asterisk issue #761, CoreShowChannelMap), bare ``\\n`` line ends
  and extra blank lines between messages are all accepted;
* repeated headers (``ChanVariable``, several ``Variable``) are kept, in order;
* a block whose header lines are not ``Name: value`` or a message longer than
  ``max_message_size`` becomes one ``AmiMalformed`` item and is skipped; the framer resumes at
  the next blank line, so one bad message never desynchronises the ones after it.

Performance (the CTI must keep up with a busy PBX; Asterisk drops an AMI client that reads
slower than its ``writetimeout``): the framer only splits blocks and reads the first header
line. The other headers of a message are parsed on first access (``fields``/``get``), so the
two thirds of the stream that a CTI ignores (DTMF, DeviceStateChange, Newexten…) cost almost
nothing. A header line without ``:`` inside such a lazily parsed message raises
``AmiProtocolError`` when the message is read (``AmiFramer(validate=True)`` checks every message
eagerly and reports it as ``AmiMalformed`` instead).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import methodcaller
from typing import Final, final

from cti.errors import AmiActionError, AmiEncodeError, AmiProtocolError

__all__ = [
    "BANNER_PREFIX",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ActionResult",
    "ActionTracker",
    "AmiBanner",
    "AmiFrame",
    "AmiFramer",
    "AmiMalformed",
    "AmiMessage",
    "MessageKind",
    "encode_action",
]

BANNER_PREFIX: Final = b"Asterisk Call Manager/"

# Why a limit at all: until the blank line arrives, every byte of a message stays buffered.
# A peer that never sends one (a bug, a wrong port, a hostile host) would otherwise grow the
# buffer without bound and make each feed() rescan it. The largest real AMI messages are
# CoreShowChannel/Status items and events with many ChanVariable headers: a few KB. 64 KiB is
# generous for those and still small enough to never matter for memory.
DEFAULT_MAX_MESSAGE_SIZE: Final = 64 * 1024

_CRLF: Final = b"\r\n"
_TERMINATOR: Final = b"\r\n\r\n"
_EXCERPT_BYTES: Final = 80
_BANNER_MAX: Final = 100  # "Asterisk Call Manager/11.0.0" is 28 bytes; longer is not a banner

_partition_header = methodcaller("partition", ": ")


class MessageKind(enum.Enum):
    """What the first header of a message says it is."""

    EVENT = "event"  # ``Event: …`` (also ``Event: OriginateResponse``, which has a Response:)
    RESPONSE = "response"  # ``Response: Success|Error|Goodbye|Follows``
    OTHER = "other"  # neither header: tolerated, never produced by Asterisk 22


# Enum member lookups cost ~150 ns each on CPython 3.11; the per-message paths use these.
_EVENT: Final = MessageKind.EVENT
_RESPONSE: Final = MessageKind.RESPONSE
_OTHER: Final = MessageKind.OTHER


class _Parsed:
    """The lazily built header views of one AmiMessage (private, written once each)."""

    __slots__ = ("fields", "lower", "pairs")

    def __init__(self, fields: dict[str, str], pairs: tuple[tuple[str, str], ...] | None) -> None:
        self.fields = fields
        self.pairs = pairs
        self.lower: dict[str, str] | None = None


@final
class AmiMessage:
    """One AMI message: its header lines in wire order, immutable.

    ``text`` is the canonical form, the header lines joined by ``\\r\\n`` without the blank
    terminator line, decoded as UTF-8 (undecodable bytes replaced). ``kind`` and ``name`` come
    from the first ``Event:``/``Response:`` header: ``AmiMessage("Event: Hangup\\r\\n…")`` has
    ``kind is MessageKind.EVENT`` and ``name == "Hangup"``.

    Header lookup is case-sensitive and exact (``get("Linkedid")``, Asterisk's spelling) or
    case-insensitive (``get_ci("linkedid")``). ``get`` returns the first of repeated headers;
    ``get_all`` returns them all and ``headers`` keeps every line in order.
    """

    __slots__ = ("_parsed", "kind", "name", "text")

    text: str
    kind: MessageKind
    name: str
    _parsed: _Parsed | None

    def __init__(self, text: str) -> None:
        """Build a message from its header lines (``\\r\\n``-separated, no blank line).

        Raises ``AmiProtocolError`` when the text has neither a first ``Event:``/``Response:``
        line nor well-formed header lines.
        """
        _set_text(self, text)
        _set_parsed(self, None)
        # The first line is where Asterisk puts Event:/Response:. Reading it by slicing keeps
        # classification cheap for messages nobody will look into.
        if text.startswith("Event: "):
            end = text.find("\r\n", 7)
            _set_kind(self, _EVENT)
            _set_name(self, text[7:] if end < 0 else text[7:end])
        elif text.startswith("Response: "):
            end = text.find("\r\n", 10)
            _set_kind(self, _RESPONSE)
            _set_name(self, text[10:] if end < 0 else text[10:end])
        else:
            fields = self.fields  # full parse; raises AmiProtocolError on a non-header line
            if "Event" in fields:
                _set_kind(self, _EVENT)
                _set_name(self, fields["Event"])
            elif "Response" in fields:
                _set_kind(self, _RESPONSE)
                _set_name(self, fields["Response"])
            else:
                _set_kind(self, _OTHER)
                _set_name(self, "")

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, str]]) -> AmiMessage:
        """Build a message from ``(name, value)`` pairs, e.g. to synthesise a list item.

        Raises ``AmiEncodeError`` if a name or value contains CR, LF or NUL.
        """
        lines = []
        for name, value in headers:
            _check_header(name, value)
            lines.append(f"{name}: {value}")
        return cls("\r\n".join(lines))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"AmiMessage is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"AmiMessage is immutable (cannot delete {name!r})")

    # -- parsed view ---------------------------------------------------------------------

    @property
    def fields(self) -> Mapping[str, str]:
        """All headers as a mapping, first occurrence wins. Parsed on first access.

        Raises ``AmiProtocolError`` if a line is not a header (``Name: value``).
        """
        parsed = self._parsed
        if parsed is None:
            parsed = self._parse()
        return parsed.fields

    def _parse(self) -> _Parsed:
        lines = self.text.split("\r\n")
        pairs: tuple[tuple[str, str], ...] | None = None
        fields: dict[str, str] = {}
        # A plain loop with str.partition measured faster here than dict(map(split)).
        for line in lines:
            name, sep, value = line.partition(": ")
            if not sep:
                pairs = _parse_lines_carefully(lines)  # "Name:" forms, or raises
                break
            fields[name] = value
        else:
            if len(fields) != len(lines):
                # Repeated header names (ChanVariable, Variable…): the dict kept the last
                # value; keep every line in order and make the first one win.
                pairs = tuple((n, v) for n, _, v in map(_partition_header, lines))
        if pairs is not None:
            fields = {}
            for name, value in pairs:
                fields.setdefault(name, value)
        parsed = _Parsed(fields, pairs)
        _set_parsed(self, parsed)
        return parsed

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header line as ``(name, value)``, in wire order, repeats included."""
        parsed = self._parsed
        if parsed is None:
            parsed = self._parse()
        if parsed.pairs is None:
            # No repeated names: the dict's insertion order is the wire order.
            parsed.pairs = tuple(parsed.fields.items())
        return parsed.pairs

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of header ``name`` (exact spelling, first occurrence) or ``default``."""
        return self.fields.get(name, default)

    def __getitem__(self, name: str) -> str:
        return self.fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def get_ci(self, name: str, default: str | None = None) -> str | None:
        """Value of header ``name`` compared case-insensitively (first occurrence)."""
        headers = self.headers
        parsed = self._parsed
        assert parsed is not None
        lower = parsed.lower
        if lower is None:
            lower = {}
            for key, value in headers:
                lower.setdefault(key.lower(), value)
            parsed.lower = lower
        return lower.get(name.lower(), default)

    def get_all(self, name: str) -> tuple[str, ...]:
        """Values of every ``name`` header in wire order (``ChanVariable``, ``Variable``)."""
        return tuple(value for key, value in self.headers if key == name)

    # -- cheap, unparsed access -----------------------------------------------------------

    def peek(self, name: str) -> str | None:
        """First value of header ``name`` without parsing the whole message.

        A substring search on ``text``; used on the hot path for ``ActionID`` and
        ``EventList``, which the action tracker needs on every message.
        """
        parsed = self._parsed
        if parsed is not None:
            return parsed.fields.get(name)
        text = self.text
        prefix = name + ": "
        if text.startswith(prefix):
            start = len(prefix)
        else:
            start = text.find("\r\n" + prefix)
            if start < 0:
                return None
            start += len(prefix) + 2
        end = text.find("\r\n", start)
        return text[start:] if end < 0 else text[start:end]

    @property
    def action_id(self) -> str | None:
        """The ``ActionID:`` header, if any (responses, list items, OriginateResponse)."""
        return self.peek("ActionID")

    # -- value semantics ------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AmiMessage):
            return self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"<AmiMessage {self.kind.value} {self.name!r}>"


# Writing the slots through their descriptors skips the frozen __setattr__ and measured ~40 %
# faster than object.__setattr__; a message is built for every message on the wire.
_set_text = AmiMessage.__dict__["text"].__set__
_set_kind = AmiMessage.__dict__["kind"].__set__
_set_name = AmiMessage.__dict__["name"].__set__
_set_parsed = AmiMessage.__dict__["_parsed"].__set__


def _parse_lines_carefully(lines: list[str]) -> tuple[tuple[str, str], ...]:
    """Parse header lines one by one: accept ``Name:`` and ``Name:value``; reject the rest."""
    pairs: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(": ")
        if not sep:
            name, sep, value = line.partition(":")
            if not sep or not name:
                raise AmiProtocolError(f"AMI header line without ':': {line[:_EXCERPT_BYTES]!r}")
        pairs.append((name, value))
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class AmiBanner:
    """The greeting line ``Asterisk Call Manager/11.0.0`` (``version == "11.0.0"``)."""

    version: str


@dataclass(frozen=True, slots=True)
class AmiMalformed:
    """A block that was skipped: ``reason`` says why, ``excerpt`` is its first line (≤80 bytes)."""

    reason: str
    excerpt: str


AmiFrame = AmiBanner | AmiMessage | AmiMalformed


def _excerpt(block: bytes, limit: int) -> str:
    # At most ``limit`` (the framer's max message size) bytes: an over-long message is
    # detected once more than that is buffered, so the excerpt is the same however the stream
    # was chunked.
    block = block.lstrip(b"\r\n")
    end = block.find(_CRLF)
    line = block if end < 0 else block[:end]
    return line[: min(_EXCERPT_BYTES, limit)].decode("utf-8", "replace")


def _canonical_line_ends(data: bytes) -> bytes:
    """Turn every line end into CRLF: ``\\r\\n`` stays, a bare ``\\n`` becomes ``\\r\\n``.

    Idempotent, so re-applying it to buffered bytes never changes them.
    """
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class AmiFramer:
    """Incremental AMI framer: ``feed(bytes) -> list[AmiBanner | AmiMessage | AmiMalformed]``.

    One framer per TCP connection (it expects the banner first). Feeding the same bytes in any
    chunking yields the same items. Never raises on input: anything unparseable comes out as
    ``AmiMalformed`` (or, for a bad line inside a lazily parsed message, as an
    ``AmiProtocolError`` when that message is read — see the module docstring).
    """

    __slots__ = ("_banner_pending", "_buf", "_max", "_skip_excerpt", "_skipping", "_validate")

    def __init__(
        self,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        expect_banner: bool = True,
        validate: bool = False,
    ) -> None:
        if max_message_size < 64:
            raise ValueError("max_message_size must be at least 64 bytes")
        self._buf = b""
        self._max = max_message_size
        self._banner_pending = expect_banner
        self._validate = validate
        self._skipping = False
        self._skip_excerpt = ""

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the end of a message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[AmiFrame]:
        """Add received bytes; return the items they complete, in stream order."""
        out: list[AmiFrame] = []
        if not data:
            return out
        buf = self._buf
        # Asterisk writes CRLF everywhere, except in known bugs (a \r\n\n terminator, a bare \n
        # line end). Counting is cheaper than rewriting, so pure-CRLF chunks pass untouched.
        crlf_split = data[0] == 10 and buf[-1:] == b"\r"  # a CRLF cut between two recv()s
        lf = data.count(b"\n")
        if lf and lf != data.count(b"\r\n") + crlf_split:
            if crlf_split:
                buf = buf[:-1]  # the canonical form of data starts with the full \r\n
            data = _canonical_line_ends(data)
        search_from = max(0, len(buf) - 3)
        buf += data

        if self._banner_pending:
            if len(buf) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(buf):
                self._buf = buf
                return out
            if buf.startswith(BANNER_PREFIX):
                end = buf.find(_CRLF)
                if end < 0 and len(buf) < _BANNER_MAX + 2:
                    self._buf = buf
                    return out
                if 0 <= end <= _BANNER_MAX:
                    version = buf[len(BANNER_PREFIX) : end].decode("utf-8", "replace").strip()
                    out.append(AmiBanner(version))
                    buf = buf[end + 2 :]
                    search_from = 0
            self._banner_pending = False

        if self._skipping:
            end = buf.find(_TERMINATOR)
            if end < 0:
                self._buf = buf[-3:]  # a terminator may straddle this chunk and the next
                return out
            out.append(AmiMalformed(f"message longer than {self._max} bytes", self._skip_excerpt))
            self._skipping = False
            buf = buf[end + 4 :]
            search_from = 0

        end = buf.rfind(_TERMINATOR, search_from)
        if end < 0:
            self._hold(buf)
            return out
        self._hold(buf[end + 4 :])

        limit = self._max
        validate = self._validate
        append = out.append
        for block in buf[:end].split(_TERMINATOR):
            if not block:
                continue  # extra blank lines between messages
            first, last = block[0], block[-1]
            if first == 13 or last == 13 or first == 10 or last == 10:  # CR or LF
                # Extra blank lines, a stray CR before the terminator: not part of the message.
                # _hold() trims a buffered message the same way, so that the size check below
                # sees the same bytes however the stream was chunked.
                block = block.strip(b"\r\n")
                if not block:
                    continue
            if len(block) > limit:
                reason = f"message longer than {limit} bytes"
                out.append(AmiMalformed(reason, _excerpt(block, limit)))
                continue
            try:
                message = AmiMessage(block.decode("utf-8", "replace"))
                if validate:
                    message.fields  # noqa: B018 - parse now to report bad lines here
            except AmiProtocolError as exc:
                append(AmiMalformed(str(exc), _excerpt(block, limit)))
                continue
            append(message)
        return out

    def _hold(self, rest: bytes) -> None:
        if rest[:1] in (b"\r", b"\n"):
            # Blank lines before a message carry nothing; dropping them keeps the size check
            # below independent of how the stream was chunked.
            rest = rest.lstrip(b"\r\n")
        if len(rest) > self._max and len(rest.rstrip(b"\r\n")) > self._max:
            # The message will be longer than the limit whatever comes next: skip it now
            # rather than buffer it. (rstrip: a partial terminator is not message bytes.)
            self._skipping = True
            self._skip_excerpt = _excerpt(rest, self._max)
            self._buf = rest[-3:]
        else:
            self._buf = rest


# -- encoding

_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*\Z")
_FORBIDDEN_RE: Final = re.compile(r"[\r\n\x00]")
_RESERVED: Final = frozenset({"action", "actionid"})


def _check_header(name: str, value: str) -> None:
    if _FORBIDDEN_RE.search(name) or _FORBIDDEN_RE.search(value):
        raise AmiEncodeError(f"AMI header {name[:40]!r}: CR, LF and NUL are not allowed")


def encode_action(
    name: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    action_id: str,
) -> bytes:
    """Encode one action, e.g. ``encode_action("QueuePause", {"Interface": "PJSIP/8001",
    "Paused": "true", "Reason": "lunch"}, "c-17")``::

        Action: QueuePause\\r\\nActionID: c-17\\r\\nInterface: PJSIP/8001\\r\\n
        Paused: true\\r\\nReason: lunch\\r\\n\\r\\n

    ``headers`` may be a mapping or ``(name, value)`` pairs (for repeated ``Variable:``).
    Raises ``AmiEncodeError`` when a value contains CR, LF or NUL (so a caller-controlled value
    such as a caller ID can never add a header or an action), when a name is not a plain token,
    or when ``headers`` tries to set ``Action``/``ActionID``.
    """
    if not _NAME_RE.match(name):
        raise AmiEncodeError(f"bad AMI action name {name[:40]!r}")
    if _FORBIDDEN_RE.search(action_id) or not action_id:
        raise AmiEncodeError("ActionID must be non-empty without CR, LF or NUL")
    items = headers.items() if isinstance(headers, Mapping) else headers
    parts = [f"Action: {name}\r\nActionID: {action_id}\r\n"]
    for key, value in items:
        if not isinstance(key, str) or not isinstance(value, str):
            raise AmiEncodeError(f"AMI header {key!r}: names and values must be str")
        if not _NAME_RE.match(key):
            raise AmiEncodeError(f"bad AMI header name {key[:40]!r}")
        if key.lower() in _RESERVED:
            raise AmiEncodeError(f"header {key!r} is set by encode_action itself")
        if _FORBIDDEN_RE.search(value):
            raise AmiEncodeError(f"AMI header {key!r}: CR, LF and NUL are not allowed in a value")
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


# -- response correlation

_SUCCESS: Final = frozenset({"Success", "Goodbye", "Follows"})


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What Asterisk answered to one action.

    Single action: ``response`` only. List action (QueueStatus, QueueSummary,
    CoreShowChannels, Status): ``response`` is ``Response: Success / EventList: start``,
    ``items`` are the events carrying the ActionID, ``complete`` the ``…Complete`` event
    (``EventList: Complete``, ``ListItems: N``). Action registered with ``final_event``
    (``Originate`` with ``Async: true``): ``final`` is that event (``OriginateResponse``).
    """

    action_id: str
    action: str
    response: AmiMessage
    items: tuple[AmiMessage, ...] = ()
    complete: AmiMessage | None = None
    final: AmiMessage | None = None

    @property
    def ok(self) -> bool:
        """``Response: Success`` (or ``Goodbye``/``Follows``)."""
        return self.response.name in _SUCCESS

    @property
    def message(self) -> str:
        """The response's ``Message:`` header ('' when absent, as after ``MixMonitor``)."""
        return self.response.peek("Message") or ""

    def raise_for_error(self) -> ActionResult:
        """Return ``self`` if ok, else raise ``AmiActionError`` carrying ``Message:``."""
        if not self.ok:
            raise AmiActionError(self.message, action=self.action, action_id=self.action_id)
        return self


@dataclass(slots=True)
class _Pending:
    action: str
    final_event: str | None
    response: AmiMessage | None = None
    listing: bool = False
    items: list[AmiMessage] | None = None


class ActionTracker:
    """Correlates incoming messages with the actions sent (pure; no futures, no clock).

    ``register(action_id, action)`` before sending; then pass every ``AmiMessage`` to
    ``feed``, which returns:

    * an ``ActionResult`` when this message completes a registered action;
    * ``None`` when it was consumed as part of a pending reply (list start, list item);
    * the message itself when it is not part of any pending reply — dispatch it as an event.

    Timeouts are the adapter's business: it calls ``cancel(action_id)`` when it gives up, and
    ``drain()`` on disconnect to fail every pending action.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def register(self, action_id: str, action: str = "", *, final_event: str | None = None) -> None:
        """Expect a reply to ``action_id``.

        ``final_event`` keeps the action pending after a successful response until an event of
        that name with the same ActionID arrives (``OriginateResponse`` after an async
        Originate). Raises ``AmiProtocolError`` if ``action_id`` is already pending.
        """
        if action_id in self._pending:
            raise AmiProtocolError(f"ActionID {action_id!r} is already pending")
        self._pending[action_id] = _Pending(action, final_event)

    def cancel(self, action_id: str) -> bool:
        """Forget a pending action (timed out); a late reply will then pass through."""
        return self._pending.pop(action_id, None) is not None

    def drain(self) -> list[str]:
        """Forget every pending action and return their ActionIDs (connection lost)."""
        ids = list(self._pending)
        self._pending.clear()
        return ids

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._pending

    def __iter__(self) -> Iterator[str]:
        return iter(self._pending)

    def feed(self, message: AmiMessage) -> ActionResult | AmiMessage | None:
        """Route one message; see the class docstring for the three outcomes."""
        if not self._pending:
            return message
        action_id = message.action_id
        if action_id is None:
            return message
        pending = self._pending.get(action_id)
        if pending is None:
            return message
        if message.kind is _RESPONSE and pending.response is None:
            pending.response = message
            if message.name == "Success" and message.peek("EventList") == "start":
                pending.listing = True
                pending.items = []
                return None
            if pending.final_event is not None and message.name in _SUCCESS:
                return None
            del self._pending[action_id]
            return ActionResult(action_id, pending.action, message)
        if message.kind is _EVENT and pending.response is not None:
            if pending.listing and pending.items is not None:
                if message.peek("EventList") == "Complete":
                    del self._pending[action_id]
                    return ActionResult(
                        action_id,
                        pending.action,
                        pending.response,
                        tuple(pending.items),
                        complete=message,
                    )
                pending.items.append(message)
                return None
            if message.name == pending.final_event:
                del self._pending[action_id]
                return ActionResult(action_id, pending.action, pending.response, final=message)
        return message
