"""Runs the pure PBX (``pbx.step``) against a clock and the adapters that carry its effects out.

The same ``Engine`` runs in real time (``AsyncioScheduler``: the asyncio loop, epoch seconds
from ``time.time()``) and in virtual time (``VirtualScheduler``: a discrete-event clock that
jumps from one timer to the next, so ten simulated minutes take a fraction of a second).

Effects go to four ports, each a small protocol:

=================  ==========================================================================
port               effects
=================  ==========================================================================
``AmiPort``        ``Emit`` (to every session that reads the class), ``Respond`` (one session)
``IvrPort``        ``RunIvr`` / ``AbortIvr``: a FastAGI session per call (``agi_client``) or a
                   scripted stand-in (``callers.ScriptedIvr``)
``PhonePort``      ``RingPhone`` / ``StopRinging`` / ``PhoneConnected`` / ``PhoneReleased``:
                   simulated agents (``agents.AutoAgents``) or the demo phones
``RecorderPort``   ``StartRecording`` / ``StopRecording`` (``recordings.WavRecorder``)
=================  ==========================================================================

Timers (``SetTimer``/``CancelTimer``) stay in the engine. ``CallEnded`` goes to the
``on_call_ended`` callbacks. Ports feed their answers back with ``Engine.feed``; an input fed
while effects are being carried out waits for them to finish, so the machine always sees
inputs one at a time and in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from simulator.ami_wire import Message
from simulator.config import PbxConfig
from simulator.pbx import (
    AbortIvr,
    CallEnded,
    CallRecord,
    CancelTimer,
    Effect,
    Emit,
    Input,
    PbxState,
    PhoneConnected,
    PhoneReleased,
    Respond,
    RingPhone,
    RunIvr,
    SetTimer,
    StartRecording,
    StopRecording,
    StopRinging,
    TimerFired,
    TimerKey,
    new_state,
    step,
)

logger = logging.getLogger(__name__)

Feed = Callable[[Input], None]


class Handle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """A clock (epoch seconds) that can call back at a given time."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle: ...


class VirtualScheduler:
    """Discrete-event time: ``run_until(t)`` runs every callback due up to ``t`` in time order
    (first scheduled first among equal times) and leaves the clock at ``t``."""

    class _Handle:
        __slots__ = ("cancelled",)

        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self, start: float) -> None:
        self._now = start
        self._queue: list[tuple[float, int, VirtualScheduler._Handle, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        handle = VirtualScheduler._Handle()
        heapq.heappush(self._queue, (max(when, self._now), next(self._seq), handle, callback))
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        return self.call_at(self._now + delay, callback)

    def pending(self) -> int:
        return sum(1 for item in self._queue if not item[2].cancelled)

    def next_time(self) -> float | None:
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    def run_until(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            when, _, handle, callback = heapq.heappop(self._queue)
            if handle.cancelled:
                continue
            self._now = when
            callback()
        self._now = max(self._now, until)

    def run(self, limit: float) -> None:
        """Run until nothing is scheduled or the clock reaches ``limit``."""
        while (when := self.next_time()) is not None and when <= limit:
            self.run_until(when)


class AsyncioScheduler:
    """Real time on the running asyncio loop; ``now()`` is the wall clock (epoch seconds),
    because Asterisk's Uniqueids and LoginTime are epoch based."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._wall = wall

    def now(self) -> float:
        return self._wall()

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        return self._loop.call_later(max(0.0, when - self._wall()), callback)


class AmiPort(Protocol):
    def broadcast(self, message: Message) -> None: ...

    def reply(self, session: int, messages: tuple[Message, ...], close: bool) -> None: ...


class IvrPort(Protocol):
    def start(self, run: RunIvr, feed: Feed) -> None: ...

    def abort(self, ref: str) -> None: ...


class PhonePort(Protocol):
    def ring(self, effect: RingPhone, feed: Feed) -> None: ...

    def stop_ringing(self, effect: StopRinging) -> None: ...

    def connected(self, effect: PhoneConnected, feed: Feed) -> None: ...

    def released(self, effect: PhoneReleased) -> None: ...


class RecorderPort(Protocol):
    def start(self, effect: StartRecording, now: float) -> None: ...

    def stop(self, effect: StopRecording, now: float) -> None: ...


class NullAmi:
    """No AMI clients (virtual runs that only look at call records)."""

    def broadcast(self, message: Message) -> None:
        return None

    def reply(self, session: int, messages: tuple[Message, ...], close: bool) -> None:
        return None


class RecordingAmi:
    """Keeps every emitted message (tests, conformance): ``messages`` in emission order, with
    the time they were emitted."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.messages: list[tuple[float, Message]] = []
        self.replies: dict[int, list[tuple[float, Message]]] = {}

    def broadcast(self, message: Message) -> None:
        self.messages.append((self.clock(), message))

    def reply(self, session: int, messages: tuple[Message, ...], close: bool) -> None:
        now = self.clock()
        self.replies.setdefault(session, []).extend((now, m) for m in messages)
        self.messages.extend((now, m) for m in messages)


class NullRecorder:
    def start(self, effect: StartRecording, now: float) -> None:
        return None

    def stop(self, effect: StopRecording, now: float) -> None:
        return None


class Engine:
    """The PBX state, its timers and its ports. Not thread-safe: feed it from one loop."""

    def __init__(self, config: PbxConfig, scheduler: Scheduler, *, ami: AmiPort, ivr: IvrPort,
                 phones: PhonePort, recorder: RecorderPort | None = None) -> None:
        self.scheduler = scheduler
        self.state: PbxState = new_state(config)
        self.ami = ami
        self.ivr = ivr
        self.phones = phones
        self.recorder: RecorderPort = recorder or NullRecorder()
        self.on_call_ended: list[Callable[[CallRecord], None]] = []
        self._timers: dict[TimerKey, Handle] = {}
        self._inbox: deque[Input] = deque()
        self._busy = False

    def feed(self, inp: Input) -> None:
        """Apply an input now (or right after the input being applied, when called from an
        effect handler)."""
        self._inbox.append(inp)
        if self._busy:
            return
        self._busy = True
        try:
            while self._inbox:
                current = self._inbox.popleft()
                self.state, effects = step(self.state, current, self.scheduler.now())
                for effect in effects:
                    self._carry_out(effect)
        finally:
            self._busy = False

    def _carry_out(self, effect: Effect) -> None:
        match effect:
            case Emit(message=message):
                self.ami.broadcast(message)
            case Respond(session=session, messages=messages, close=close):
                self.ami.reply(session, messages, close)
            case SetTimer(key=key, at=at):
                self._set_timer(key, at)
            case CancelTimer(key=key):
                handle = self._timers.pop(key, None)
                if handle is not None:
                    handle.cancel()
            case RunIvr():
                self.ivr.start(effect, self.feed)
            case AbortIvr(ref=ref):
                self.ivr.abort(ref)
            case RingPhone():
                self.phones.ring(effect, self.feed)
            case StopRinging():
                self.phones.stop_ringing(effect)
            case PhoneConnected():
                self.phones.connected(effect, self.feed)
            case PhoneReleased():
                self.phones.released(effect)
            case StartRecording():
                self.recorder.start(effect, self.scheduler.now())
            case StopRecording():
                self.recorder.stop(effect, self.scheduler.now())
            case CallEnded():
                self._call_ended(effect)

    def _set_timer(self, key: TimerKey, at: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.feed(TimerFired(key))

        self._timers[key] = self.scheduler.call_at(at, fire)

    def _call_ended(self, effect: CallEnded) -> None:
        for callback in self.on_call_ended:
            try:
                callback(effect.record)
            # A listener's bug must not stop the PBX: this is the per-call boundary.
            except Exception:
                logger.exception("call %s: on_call_ended listener failed", effect.record.ref)

    def timers(self) -> int:
        """How many timers are set (for leak checks in soak runs)."""
        return len(self._timers)

    def cancel_all_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
