"""What the IVR needs from the rest of the system, and the data it hands back.

Two ports:

* :class:`IvrDirectory`: merchant/task look-ups and result recording. The lead implements it on
  the domain store; :class:`InMemoryDirectory` here is the implementation for tests and the
  benchmark.
* :class:`CallSession`: the part of ``ivr.agi_server.AgiSession`` the menu drives (structural
  typing, so this module does not import the server and a small fake satisfies it in tests).

The data types are frozen dataclasses that carry no Asterisk spellings: ``unique_id`` and
``linked_id``, not ``Uniqueid``/``Linkedid``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from ivr.calendar import ServiceMode

RECENT_CALL_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class MerchantRef:
    """A merchant as the IVR sees it. ``merchant_number`` is the 15-digit 商户号."""

    id: int
    merchant_number: str
    name: str
    high_value: bool = False


@dataclass(frozen=True, slots=True)
class TaskRef:
    """The latest open task of a merchant, as read out by self-service.

    ``kind`` and ``status`` are the domain's values (``repair``, ``installation`` …;
    ``new``, ``assigned``, ``appointed`` …); ``appointment`` is aware, or naive in the
    hotline's local time.
    """

    task_number: str
    kind: str
    status: str
    appointment: datetime | None = None


class IvrOutcome(StrEnum):
    """How the call left the IVR."""

    QUEUED = "queued"  # handed to a queue (the dialplan runs Queue())
    SELF_SERVICE = "self_service"  # ended in the IVR after self-service, by the caller's choice
    IVR_HANGUP = "ivr_hangup"  # the caller hung up inside the menu
    FAILED = "failed"  # the IVR broke; the dialplan's fallback queues the caller


@dataclass(frozen=True, slots=True)
class IvrResult:
    """One call's passage through the IVR, recorded for every call, hang-ups included.

    ``path`` is the same string as the ``CC_IVR_PATH`` channel variable, e.g.
    ``hello>lang:1>menu:2>merchant:ok>intent:2``. ``merchant`` is set only when verified
    (caller ID matching exactly one merchant, or a keyed merchant number that exists).
    """

    unique_id: str
    linked_id: str | None
    caller: str
    started_at: datetime
    ended_at: datetime
    mode: ServiceMode
    lang: str
    merchant: MerchantRef | None
    merchant_verified: bool
    intent: str
    queue: str
    priority: int
    path: str
    outcome: IvrOutcome


@dataclass(frozen=True, slots=True)
class SatisfactionRecord:
    """A post-call survey score (1–5) as stored by :class:`InMemoryDirectory`."""

    unique_id: str
    linked_id: str | None
    score: int


class IvrDirectory(Protocol):
    """Look-ups and recording the IVR awaits. Implementations may raise anything on a broken
    store: the IVR logs it and carries on without the answer (the caller still reaches an agent).
    """

    async def merchants_by_phone(self, phone: str) -> list[MerchantRef]:
        """Merchants whose registered phones include ``phone`` (a raw caller ID; the
        implementation normalises it). Several merchants may share one phone."""
        ...

    async def merchant_by_number(self, number: str) -> MerchantRef | None:
        """The merchant with this 15-digit merchant number, or None."""
        ...

    async def latest_open_task(self, merchant_id: int) -> TaskRef | None:
        """The merchant's most recent task that is not done or cancelled, or None."""
        ...

    async def called_recently(self, caller: str, now: datetime) -> bool:
        """Whether ``caller`` had an earlier call to the hotline that started within 24 h
        before ``now``. The call in progress must not count: the IVR asks at its start, but
        the CTI may already have stored it (exclude calls started less than a minute ago)."""
        ...

    async def record_ivr_result(self, result: IvrResult) -> None:
        """Store the IVR path and hand-off of one call (hang-ups included)."""
        ...

    async def record_satisfaction(self, unique_id: str, linked_id: str | None, score: int) -> None:
        """Store the post-call satisfaction score (1–5) of the call ``unique_id``."""
        ...


# --------------------------------------------------------------------------- call-back port


@dataclass(frozen=True, slots=True)
class QueueCallbackRequest:
    """A caller in a queue asked to be called back, keeping their place (route ``callback``).

    ``call_id`` is the call's linked id: one request per call. ``arrived_at`` is when the
    caller joined ``queue`` (now minus Asterisk's ``QUEUEWAIT``), not when the key was
    pressed; ``position`` the place they left (``QUEUEPOSITION``). ``number`` is the confirmed
    or keyed number, normalised digits."""

    call_id: str
    unique_id: str
    merchant_number: str
    number: str
    queue: str
    arrived_at: datetime
    priority: int
    position: int | None
    requested_at: datetime


class CallbackBooking(StrEnum):
    """What became of a request."""

    BOOKED = "booked"  # stored now, in the caller's place
    KEPT = "kept"  # already stored (same call, or an open request of the same number)
    NO_MERCHANT = "no_merchant"  # not a merchant of ours: nobody to call back as


class CallbackRequests(Protocol):
    """Where the IVR hands call-back requests (``callcenter/queue_callbacks.py``)."""

    async def request_callback(self, request: QueueCallbackRequest) -> CallbackBooking:
        """Store ``request`` exactly once. May raise anything on a broken store: the IVR
        then sends the caller back into the queue."""
        ...


# --------------------------------------------------------------------------- AGI session port


class AgiRequestLike(Protocol):
    """The ``agi_*`` header fields the IVR reads."""

    @property
    def channel(self) -> str: ...
    @property
    def unique_id(self) -> str: ...
    @property
    def caller_id(self) -> str: ...
    @property
    def language(self) -> str: ...


class DigitsLike(Protocol):
    """GET DATA's answer: the digits without the terminating ``#``, and whether it timed out."""

    @property
    def digits(self) -> str: ...
    @property
    def timed_out(self) -> bool: ...


class CallSession(Protocol):
    """The subset of ``ivr.agi_server.AgiSession`` the menu drives.

    Every coroutine raises ``ivr.errors.AgiHangup`` once the caller has hung up; after that
    ``set_variable(s)``, ``get_variable`` and ``verbose`` still work (Asterisk allows them on a
    dead channel).
    """

    @property
    def request(self) -> AgiRequestLike: ...
    @property
    def hung_up(self) -> bool: ...

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None: ...
    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> DigitsLike: ...
    async def say_digits(self, digits: str) -> None: ...
    async def say_number(self, n: int) -> None: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def set_variables(self, variables: Mapping[str, str]) -> None: ...
    async def get_variable(self, name: str) -> str | None: ...
    async def verbose(self, message: str, level: int = 1) -> None: ...
    async def exec_app(self, app: str, args: str = "") -> object: ...
    async def record_file(self, filename: str, file_format: str = "wav",
                          escape_digits: str = "#", timeout_ms: int = 10_000, *,
                          beep: bool = True, silence_s: int | None = None) -> RecordReplyLike: ...


class RecordReplyLike(Protocol):
    """``RECORD FILE``'s reply: ``data`` is ``dtmf`` / ``timeout`` / …, ``result`` the key's
    character code after ``dtmf``."""

    @property
    def result(self) -> str | None: ...
    @property
    def data(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SpokenAnswer:
    """What the caller said: an intent, or None and why not (``silence``, ``unknown``,
    ``unsure``), with the words heard and their mean confidence (for the log)."""

    intent: str | None
    why: str
    text: str = ""
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class EagiListen:
    """Listening through EAGI: run ``EXEC EAGI <args>``, then await ``decision``."""

    listen_id: str
    args: str
    decision: Awaitable[SpokenAnswer] = field(compare=False)


class SpeechInput(Protocol):
    """Spoken answers at the menu. Two ways to hear the caller (README "Speech" has their
    measured delays): ``eagi_listen(…)`` gives an EAGI relay to run, which streams the audio
    to this process as it is spoken; when it returns None, the IVR records the answer with
    ``RECORD FILE`` into ``record_target(…)`` (a path Asterisk writes and this process reads)
    and asks ``recognise``. Implemented by ``speech.listener.VoskSpeechInput``."""

    @property
    def menu_langs(self) -> frozenset[str]: ...
    @property
    def listen_ms(self) -> int: ...
    @property
    def silence_s(self) -> int: ...

    def eagi_listen(self, unique_id: str, lang: str, intents: Sequence[str]
                    ) -> EagiListen | None: ...
    def end_listen(self, listen_id: str) -> None: ...
    def record_target(self, unique_id: str) -> str: ...
    async def recognise(self, target: str, lang: str, intents: Sequence[str]) -> SpokenAnswer: ...
    def discard(self, target: str) -> None: ...


# --------------------------------------------------------------------------- in-memory directory


def _digits(phone: str) -> str:
    return "".join(c for c in phone if c.isascii() and c.isdigit())


@dataclass
class InMemoryDirectory:
    """An :class:`IvrDirectory` in memory, for tests and the benchmark.

    Phones match on their digits only (``138-0013-8000`` = ``13800138000``); the real store
    normalises country prefixes too. ``called_recently`` looks at the recorded IVR results and
    at calls seeded with :meth:`add_call`. Recorded results and scores are kept in ``results``
    and ``scores`` for assertions.
    """

    merchants: dict[int, MerchantRef] = field(default_factory=dict)
    phones: dict[str, list[int]] = field(default_factory=dict)
    tasks: dict[int, TaskRef] = field(default_factory=dict)
    calls: list[tuple[str, datetime]] = field(default_factory=list)
    results: list[IvrResult] = field(default_factory=list)
    scores: list[SatisfactionRecord] = field(default_factory=list)
    # caller digits -> start times of their calls (seeded and recorded), so that
    # ``called_recently`` costs one caller's history, not every call ever made (the
    # benchmark records tens of thousands of results in one directory).
    _call_times: dict[str, list[datetime]] = field(default_factory=dict, repr=False)

    def add_merchant(self, merchant: MerchantRef, phones: Iterable[str] = ()) -> MerchantRef:
        self.merchants[merchant.id] = merchant
        for phone in phones:
            ids = self.phones.setdefault(_digits(phone), [])
            if merchant.id not in ids:
                ids.append(merchant.id)
        return merchant

    def add_task(self, merchant_id: int, task: TaskRef) -> None:
        """Make ``task`` the merchant's latest open task."""
        self.tasks[merchant_id] = task

    def add_call(self, caller: str, at: datetime) -> None:
        """Seed an earlier call (for ``called_recently``)."""
        key = _digits(caller)
        self.calls.append((key, at))
        self._call_times.setdefault(key, []).append(at)

    async def merchants_by_phone(self, phone: str) -> list[MerchantRef]:
        return [self.merchants[i] for i in self.phones.get(_digits(phone), [])]

    async def merchant_by_number(self, number: str) -> MerchantRef | None:
        for merchant in self.merchants.values():
            if merchant.merchant_number == number:
                return merchant
        return None

    async def latest_open_task(self, merchant_id: int) -> TaskRef | None:
        return self.tasks.get(merchant_id)

    async def called_recently(self, caller: str, now: datetime) -> bool:
        key = _digits(caller)
        if not key:
            return False
        since = now - RECENT_CALL_WINDOW
        return any(since <= at < now for at in reversed(self._call_times.get(key, ())))

    async def record_ivr_result(self, result: IvrResult) -> None:
        self.results.append(result)
        key = _digits(result.caller)
        if key:
            self._call_times.setdefault(key, []).append(result.started_at)

    async def record_satisfaction(self, unique_id: str, linked_id: str | None, score: int) -> None:
        self.scores.append(SatisfactionRecord(unique_id, linked_id, score))
