"""The AMI connection of the CTI bridge: an asyncio adapter around ``cti.ami_protocol``.

Why not panoramisk's ``Manager`` (the library the project chose for AMI)
------------------------------------------------------------------------
panoramisk 1.4 cannot meet the bridge's bars, each point reproduced against its own source:

* speed: its framing and dispatch (a case-insensitive dict of every header of every event,
  every registered pattern matched per event) ingests ~38,000 events/s on the 20-call burst
  capture where the bridge must sustain ≥100,000 (``bench/ami_ingest.py``: our framer +
  tracker + dispatcher ~120,000 on the same bytes). Asterisk disconnects a reader slower than
  its ``writetimeout``, so a slow reader loses the connection exactly when the PBX is busiest;
* it re-sends the actions that were pending when the connection dropped, once the new session
  sees ``FullyBooted``: a click-to-dial ``Originate`` can dial twice;
* its keep-alive ``Ping`` never checks the reply, so a half-open TCP connection stays "up";
* a synchronous event handler that raises kills the socket and loses the rest of the chunk;
* a wrong secret is not an error: it logs in again and again, silently, forever; and
  ``close()`` does not cancel a reconnect that is already scheduled;
* no action has a timeout, and ``Originate`` without ``Async:`` raises ``KeyError`` inside
  ``data_received``.

So the connection layer is ours: an ``asyncio.Protocol`` that feeds the pure, tested
``AmiFramer`` and ``ActionTracker``. panoramisk stays the peer in the benchmarks
(``bench/ami_ingest.py``, ``bench/ami_screenpop.py``), so the choice stays measured.

What this adapter guarantees
----------------------------
* ``start()`` returns once the first login attempt is over: logged in, or ``AmiLoginError``
  for a refused login (state ``auth_failed``, never retried: retrying a wrong secret only
  fills Asterisk's security log). A network failure is not an error for ``start()``: it is
  retried in the background with exponential backoff and full jitter (0.2 s, 0.4 s … 30 s).
* Every action is bounded by a timeout (``AmiTimeout``); an action pending when the
  connection drops fails with ``AmiDisconnected`` and is NEVER sent again by the client.
  ``originate(…, idempotency_key=…)`` sends at most one ``Originate`` per key.
* The read side never blocks (Asterisk drops a reader slower than ``writetimeout``):
  ``data_received`` only frames the bytes (the cheap part, measured) and queues the frames
  with their receive time; a consumer task routes them in stream order — replies resolve
  their action, events go to ``on_message(message, received_at)``. What ``on_message`` raises
  is logged with the event's Linkedid/Uniqueid and the next event goes on. Malformed blocks
  are skipped (logged at most every 10 s). The queue is bounded (``max_queued_events``): on
  overflow the event backlog is dropped, loudly, and a resync is requested.
* Replies are routed in the same stream order as the events (rather than in
  ``data_received``), so when ``await send(…)`` returns, every event received before that
  reply has been handed to ``on_message``: a resync snapshot is never older than the events
  already applied, and a reply that arrived just before the connection dropped still counts.
  The price: a reply waits behind the backlog; at the queue bound that is about a second of
  dispatcher work, well under ``ping_timeout``.
* A watchdog sends ``Ping`` every ``ping_interval``; no reply within ``ping_timeout`` aborts
  the transport (half-open connection) and the normal reconnect follows.
* After each login, once Asterisk says ``FullyBooted`` (or after ``fully_booted_wait`` if the
  account lacks the ``system`` class), and after any later ``FullyBooted``, ``on_connected()``
  runs (the service resyncs from Status, QueueStatus, QueueSummary: ``resync_snapshot``,
  each list on its own, with the instant the previous connection was lost). Requests that
  arrive while it runs coalesce into one more run.

The wire, as sent by ``start()`` (``Events`` is least privilege: ``system`` is needed for
``FullyBooted``/``Shutdown``)::

    Action: Login
    ActionID: c1:cc-1
    Username: callcenter
    Secret: ********
    Events: call,agent,system,user
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, cast

from cti.ami_protocol import (
    ActionResult,
    ActionTracker,
    AmiBanner,
    AmiFrame,
    AmiFramer,
    AmiMalformed,
    AmiMessage,
    MessageKind,
    encode_action,
)
from cti.errors import (
    AmiActionError,
    AmiDisconnected,
    AmiError,
    AmiLoginError,
    AmiTimeout,
)
from cti.ports import ResyncSnapshot

__all__ = [
    "DEFAULT_EVENTS",
    "AmiClient",
    "Backoff",
    "ConnectionState",
]

logger = logging.getLogger(__name__)

DEFAULT_EVENTS: Final = "call,agent,system,user"

# Why a bound: the queue only grows when on_message is slower than Asterisk for a long while.
# 100,000 events is about a minute of a very busy PBX (the 20-call burst is ~35 events/s) and
# ~1 s of the dispatcher's work; beyond that, memory would grow without limit and the state
# would lag by minutes anyway. The backlog is dropped and a resync rebuilds the state.
DEFAULT_MAX_QUEUED_EVENTS: Final = 100_000

_MALFORMED_LOG_EVERY_S: Final = 10.0
_LOGOFF_TIMEOUT_S: Final = 2.0
_DEFAULT_ORIGINATE_RING_S: Final = 30.0  # Asterisk's own default Originate Timeout (30000 ms)
_EVENT: Final = MessageKind.EVENT  # enum member lookups are slow on CPython 3.11
_SYSTEM_EVENTS: Final = frozenset({"FullyBooted", "Shutdown"})
# Never the first line (Event:/Response: is), and the framer makes every line end CRLF.
_ACTION_ID_LINE: Final = "\nActionID: "

OnMessage: TypeAlias = Callable[[AmiMessage, float], object]  # the result is ignored
OnConnected: TypeAlias = Callable[[], Awaitable[None]]
OnState: TypeAlias = Callable[[str], None]
Headers: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]


class ConnectionState(enum.StrEnum):
    """The client's state, as shown by ``AmiClient.state`` and ``/healthz``."""

    CONNECTING = "connecting"  # TCP connect + Login in progress
    CONNECTED = "connected"  # logged in; actions can be sent
    DISCONNECTED = "disconnected"  # not started yet, or waiting to reconnect
    AUTH_FAILED = "auth_failed"  # Asterisk refused the login: not retried
    STOPPED = "stopped"  # stop() was called


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: exponential with full jitter (AWS architecture blog's "full jitter").

    The ceiling of retry ``n`` (0-based) is ``min(maximum, initial * factor**n)``; with
    ``jitter`` the delay is uniform in ``[0, ceiling)``, so a fleet of bridges does not
    reconnect in lock step after an Asterisk restart. The first retry is at most ``initial``.
    """

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 30.0
    jitter: bool = True

    def delay(self, attempt: int, rand: float) -> float:
        """Delay before retry ``attempt`` (0-based); ``rand`` is uniform in [0, 1)."""
        ceiling = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return ceiling * rand if self.jitter else ceiling


# One recv() worth of frames of one connection with its receive time; frames None marks
# the end of that connection.
_QueueEntry: TypeAlias = tuple["_Connection", list[AmiFrame] | None, float]


class _Connection(asyncio.Protocol):
    """One TCP connection: framing, correlation, and nothing slow (runs in the read path)."""

    def __init__(self, client: AmiClient, number: int) -> None:
        self.client = client
        self.number = number
        self.framer = AmiFramer()
        self.tracker = ActionTracker()
        self.waiters: dict[str, tuple[str, asyncio.Future[ActionResult]]] = {}
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.booted = asyncio.Event()
        self.resync_armed = False
        self.shutdown_seen = False
        self.lost = False
        self.lost_at: float | None = None  # client clock when the socket closed
        self.abort_reason: str | None = None
        self._exc: Exception | None = None
        self.banner: str | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, but not always an asyncio.Transport subclass: uvloop's is its own.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        # Framing only. Correlation and delivery happen in the consumer task, in stream
        # order, so that a reply resolves its action after the events received before it.
        items = self.framer.feed(data)
        if items:
            self.client._enqueue(self, items)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost:
            return
        self.lost = True  # no new action from now on
        self.lost_at = self.client._clock()
        self._exc = exc
        # The end is handled when the consumer reaches this point of the stream: a reply that
        # arrived before it still resolves its action, a Shutdown before it still explains it.
        self.client._connection_lost(self)

    def end_reason(self) -> str:
        if self.abort_reason is not None:
            return self.abort_reason
        if self.shutdown_seen:
            return "Asterisk shut down"
        return f"connection lost ({self._exc or 'EOF'})"

    # -- used by the client -------------------------------------------------------------

    def fail_pending(self, why: str) -> None:
        """The connection is over: every action still waiting fails with AmiDisconnected;
        then ``closed`` is set (the client may reconnect)."""
        self.lost = True
        if self._close_timer is not None:
            self._close_timer.cancel()
        pending = list(self.waiters.items())
        self.waiters.clear()
        for action_id, (action, waiter) in pending:
            if not waiter.done():
                waiter.set_exception(AmiDisconnected(f"{action} [{action_id}]: {why}"))
        self.tracker.drain()
        if not self.closed.done():
            self.closed.set_result(None)

    def resolve(self, result: ActionResult) -> None:
        pending = self.waiters.pop(result.action_id, None)
        if pending is not None and not pending[1].done():
            pending[1].set_result(result)

    def note_frame(self, item: AmiFrame) -> None:
        """A frame that is not a message: the banner, or a malformed block (skipped)."""
        if type(item) is AmiBanner:
            self.banner = item.version
            logger.debug("AMI connection %d: banner version %s", self.number, item.version)
        elif type(item) is AmiMalformed:
            self.client._note_malformed(item)

    def submit(self, action: str, headers: Headers, final_event: str | None
               ) -> tuple[str, asyncio.Future[ActionResult]]:
        """Encode, register and write one action; nothing is written if this raises."""
        transport = self.transport
        if transport is None or self.lost or transport.is_closing():
            raise AmiDisconnected(f"{action}: the AMI connection is closed")
        action_id = f"c{self.number}:cc-{self.client._next_action_number()}"
        data = encode_action(action, headers, action_id)  # AmiEncodeError before any state
        self.tracker.register(action_id, action, final_event=final_event)
        waiter: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self.waiters[action_id] = (action, waiter)
        transport.write(data)
        return action_id, waiter

    def forget(self, action_id: str) -> None:
        """The caller gave up on ``action_id``: a late reply will be ignored."""
        self.tracker.cancel(action_id)
        self.waiters.pop(action_id, None)

    def abort(self, reason: str = "connection aborted") -> None:
        """Drop the connection now (no FIN handshake wait): used for half-open connections."""
        if self.transport is not None and not self.lost:
            if self.abort_reason is None:
                self.abort_reason = reason
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()

    def system_event(self, message: AmiMessage) -> None:
        """``FullyBooted`` (resync, unless it is the login's own) or ``Shutdown``."""
        if message.name == "FullyBooted":
            self.booted.set()
            if self.resync_armed:
                self.client._request_resync("FullyBooted")
            return
        self.shutdown_seen = True
        logger.warning("AMI connection %d: Asterisk is shutting down (Shutdown: %s, Restart: "
                       "%s); expecting the connection to close", self.number,
                       message.peek("Shutdown"), message.peek("Restart"))
        # Asterisk closes the socket right after Shutdown. Should it not, do it ourselves so
        # that the reconnect (and its resync) is not left waiting for the watchdog.
        if self._close_timer is None:
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(
                self.client._connect_timeout, self.abort, "no EOF after Shutdown")


@dataclass(slots=True)
class _Originate:
    """One idempotency key: the task awaiting the first (and only) Originate sent for it."""

    task: asyncio.Task[ActionResult]
    action_id: str
    done_at: float | None = None


class AmiClient:
    """A reconnecting, logged-in AMI connection for the CTI bridge.

    ``on_message(message, received_at)`` gets every event (not replies) in arrival order, with
    the ``clock()`` value read when its bytes arrived (Asterisk events carry no timestamp by
    default). It is synchronous and must be quick; what it raises is logged and skipped.
    ``on_connected()`` is awaited after each login and each later ``FullyBooted`` (see the
    module docstring). ``on_state(state)`` is told every state change.

    Not thread-safe: use it from one event loop.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        events: str = DEFAULT_EVENTS,
        on_message: OnMessage,
        on_connected: OnConnected | None = None,
        on_state: OnState | None = None,
        connect_timeout: float = 5.0,
        action_timeout: float = 5.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff = Backoff(),  # frozen: a shared default is safe
        rand: Callable[[], float] = random.random,  # jitter only, not security
        fully_booted_wait: float = 1.0,
        max_queued_events: int = DEFAULT_MAX_QUEUED_EVENTS,
        originate_key_ttl: float = 3600.0,
    ) -> None:
        self.host = host
        self.port = port
        self._username = username
        self._secret = secret
        self._events_classes = events
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_state = on_state
        self._connect_timeout = connect_timeout
        self._action_timeout = action_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._clock = clock
        self._backoff = backoff
        self._rand = rand
        self._fully_booted_wait = fully_booted_wait
        self._max_queued = max_queued_events
        self._originate_ttl = originate_key_ttl

        self._state = ConnectionState.DISCONNECTED
        self._since = clock()
        self._conn: _Connection | None = None
        self._connections = 0
        self._action_counter = 0
        self._logins = 0
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._resync_wanted = False
        self._session_tasks: set[asyncio.Task[None]] = set()
        self._originates: dict[str, _Originate] = {}
        # frames of each recv() in arrival order; _queued counts the frames in it
        self._queue: deque[_QueueEntry] = deque()
        self._queued = 0
        self._wakeup: asyncio.Future[None] | None = None
        # health counters
        self._delivered = 0
        self._handler_errors = 0
        self._dropped = 0
        self._malformed = 0
        self._malformed_suppressed = 0
        self._malformed_logged_at: float | None = None
        self._last_error: str | None = None
        self._retry_in: float | None = None
        self._lost_at: float | None = None  # earliest loss no channel list has covered

    def __repr__(self) -> str:  # never shows the secret
        return f"<AmiClient {self._username}@{self.host}:{self.port} {self._state.value}>"

    # ------------------------------------------------------------------ public API

    @property
    def state(self) -> ConnectionState:
        """``connecting``, ``connected``, ``disconnected``, ``auth_failed`` or ``stopped``."""
        return self._state

    @property
    def connected(self) -> bool:
        """Logged in right now (actions can be sent)."""
        return self._state is ConnectionState.CONNECTED

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` shows about AMI. ``since`` is the ``clock()`` value of the last
        state change (``for_s`` the seconds since); ``retry_in_s`` the delay chosen before the
        next connection attempt (None once connected); ``queued_events`` the frames waiting
        for ``on_message``."""
        now = self._clock()
        return {
            "ok": self._state is ConnectionState.CONNECTED,
            "state": self._state.value,
            "host": f"{self.host}:{self.port}",
            "since": self._since,
            "for_s": round(now - self._since, 3),
            "reconnects": max(0, self._logins - 1),
            "events": self._delivered,
            "last_error": self._last_error,
            "connection": self._connections,
            "queued_events": self._queued,
            "dropped_events": self._dropped,
            "handler_errors": self._handler_errors,
            "malformed": self._malformed,
            "retry_in_s": None if self._retry_in is None else round(self._retry_in, 3),
        }

    async def start(self) -> None:
        """Connect and log in; return when the first login attempt is over.

        Raises ``AmiLoginError`` when Asterisk refuses the login (state ``auth_failed``; the
        client does not retry; call ``stop()``). When Asterisk cannot be reached, returns with
        state ``disconnected`` and keeps retrying in the background.
        """
        if self._supervisor is not None:
            raise RuntimeError("AmiClient.start() was already called")
        loop = asyncio.get_running_loop()
        self._consumer = loop.create_task(self._consume(), name="ami-consumer")
        first: asyncio.Future[None] = loop.create_future()
        self._supervisor = loop.create_task(self._supervise(first), name="ami-supervisor")
        await first

    async def stop(self) -> None:
        """Log off if connected, close, and cancel everything, a scheduled reconnect too.

        Pending actions fail with ``AmiDisconnected``. Idempotent.
        """
        if self._state is ConnectionState.STOPPED:
            return
        self._stopping = True
        conn = self._conn
        if conn is not None and self._state is ConnectionState.CONNECTED and not conn.lost:
            # Goodbye, then Asterisk closes; a failure here changes nothing for the caller.
            with contextlib.suppress(AmiError):
                await self._send_on(conn, "Logoff", (), timeout=_LOGOFF_TIMEOUT_S,
                                    final_event=None, check=False)
        tasks = [t for t in (self._supervisor, self._resync_task, self._consumer,
                             *self._session_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if conn is not None:
            conn.close()
            # Fail what is still pending now rather than when the transport reports.
            conn.fail_pending("the AMI client was stopped")
        self._conn = None
        self._set_state(ConnectionState.STOPPED)

    async def send(
        self,
        action: str,
        headers: Headers = (),
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - an AMI deadline, not a sleep
        final_event: str | None = None,
        check: bool = True,
    ) -> ActionResult:
        """Send one action and await its complete reply (list actions: up to ``…Complete``;
        with ``final_event``: up to that event carrying our ActionID).

        ``timeout`` defaults to ``action_timeout``. Raises ``AmiTimeout`` (the connection
        stays up; a late reply is ignored), ``AmiDisconnected`` (not connected, or the
        connection dropped while waiting: the action is never re-sent), ``AmiEncodeError``
        (a value with CR/LF/NUL; nothing sent) and, with ``check``, ``AmiActionError`` for
        ``Response: Error`` (or a ``final_event`` whose ``Response:`` is not ``Success``).

        ``Originate`` always goes out with an explicit ``Async:`` header: when ``headers``
        has none, ``Async: true`` is added if ``final_event`` is set, else ``Async: false``.
        """
        if action.lower() == "originate":
            headers = _with_async(headers, final_event is not None)
        conn = self._require_connection(action)
        return await self._send_on(conn, action, headers, timeout=timeout,
                                   final_event=final_event, check=check)

    async def originate(
        self,
        channel: str,
        *,
        idempotency_key: str,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
        account: str | None = None,
        wait_for_answer: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 - an AMI deadline, not a sleep
        check: bool = True,
    ) -> ActionResult:
        """``Originate`` at most once per ``idempotency_key``.

        Dials ``channel`` (the agent's phone), then sends it to ``context``/``exten``/
        ``priority`` or to ``application``(``data``). With ``wait_for_answer`` (default) the
        action is ``Async: true`` and this awaits the ``OriginateResponse`` (answered or
        failed), within ``timeout`` (default: ``action_timeout`` + the ring time
        ``timeout_ms``, 30 s when not given). Without it: ``Async: false``.

        A key seen before — still pending, or finished less than ``originate_key_ttl`` ago —
        returns that first attempt's result or raises its exception: after a timeout or a
        disconnect nobody knows whether Asterisk dialled, so a reconnect, a retry or a double
        click never dials again. A key whose action could not be written at all (not
        connected, ``AmiEncodeError``) is not kept. Raises as ``send``; with ``check``, an
        ``OriginateResponse`` with ``Response: Failure`` raises ``AmiActionError``.
        """
        self._expire_originates()
        entry = self._originates.get(idempotency_key)
        if entry is not None:
            logger.info("AMI: Originate key %r already used (ActionID %s): not sent again",
                        idempotency_key, entry.action_id)
            return await asyncio.shield(entry.task)
        if application is None and (context is None or exten is None):
            raise ValueError("originate needs context and exten, or application")
        headers: list[tuple[str, str]] = [("Channel", channel)]
        if application is not None:
            headers.append(("Application", application))
            if data is not None:
                headers.append(("Data", data))
        else:
            assert context is not None
            assert exten is not None
            headers += [("Context", context), ("Exten", exten), ("Priority", str(priority))]
        if caller_id is not None:
            headers.append(("CallerID", caller_id))
        if timeout_ms is not None:
            headers.append(("Timeout", str(timeout_ms)))
        if account is not None:
            headers.append(("Account", account))
        for name, value in (variables or {}).items():
            headers.append(("Variable", f"{name}={value}"))
        headers.append(("Async", "true" if wait_for_answer else "false"))
        final_event = "OriginateResponse" if wait_for_answer else None
        if timeout is None:
            ring_s = _DEFAULT_ORIGINATE_RING_S if timeout_ms is None else timeout_ms / 1000
            timeout = self._action_timeout + ring_s

        conn = self._require_connection("Originate")
        # No await between the lookup above and this point: a concurrent second call with the
        # same key finds the entry below.
        action_id, waiter = conn.submit("Originate", headers, final_event)
        logger.info("AMI: Originate %s for key %r (ActionID %s)", channel, idempotency_key,
                    action_id)
        task = asyncio.get_running_loop().create_task(
            self._await_reply(conn, "Originate", action_id, waiter, timeout, check),
            name=f"ami-originate {idempotency_key}",
        )
        new = _Originate(task, action_id)
        self._originates[idempotency_key] = new

        def finished(done: asyncio.Task[ActionResult]) -> None:
            new.done_at = self._clock()
            if not done.cancelled():
                done.exception()  # retrieved here; every caller still gets it from the task

        task.add_done_callback(finished)
        return await asyncio.shield(task)

    async def resync_snapshot(
        self, *, timeout: float | None = None  # noqa: ASYNC109 - an AMI deadline
    ) -> ResyncSnapshot:
        """The ``Status`` (every channel), ``QueueStatus`` and ``QueueSummary`` results, for
        ``Dispatcher.resync``; each list on its own (``ResyncSnapshot``).

        ``Status`` and not ``CoreShowChannels``: manager.c allows ``Status`` to the ``call``
        write class the bridge has, ``CoreShowChannels`` only to ``system`` or ``reporting``
        (dialplans/manager.conf says why the bridge gets neither). The three are sent at once
        (Asterisk answers them in order on one session), each within ``timeout`` (default
        ``action_timeout``). A list that fails (refused, timed out, disconnected) is ``None``
        with its error in ``failures``; this never raises for one list. ``lost_at`` is the
        earliest connection loss no successful channel list has covered yet.
        """
        lost_at = self._lost_at
        results = await asyncio.gather(
            self.send("Status", timeout=timeout),
            self.send("QueueStatus", timeout=timeout),
            self.send("QueueSummary", timeout=timeout),
            return_exceptions=True,
        )
        lists: list[ActionResult | None] = []
        failures: list[tuple[str, Exception]] = []
        for action, result in zip(("Status", "QueueStatus", "QueueSummary"), results,
                                  strict=True):
            if isinstance(result, ActionResult):
                lists.append(result)
            elif isinstance(result, Exception):
                lists.append(None)
                failures.append((action, result))
            else:  # CancelledError and the like are not a list's failure
                raise result
        if lists[0] is not None and self._lost_at == lost_at:
            self._lost_at = None
        return ResyncSnapshot(lists[0], lists[1], lists[2], tuple(failures), lost_at)

    # ------------------------------------------------------------------ actions

    def _require_connection(self, action: str) -> _Connection:
        conn = self._conn
        if conn is None or conn.lost or self._state is not ConnectionState.CONNECTED:
            raise AmiDisconnected(f"{action}: AMI is not connected (state {self._state.value})")
        return conn

    def _next_action_number(self) -> int:
        self._action_counter += 1
        return self._action_counter

    async def _send_on(self, conn: _Connection, action: str, headers: Headers, *,
                       timeout: float | None, final_event: str | None,  # noqa: ASYNC109
                       check: bool) -> ActionResult:
        action_id, waiter = conn.submit(action, headers, final_event)
        return await self._await_reply(conn, action, action_id, waiter, timeout, check)

    async def _await_reply(self, conn: _Connection, action: str, action_id: str,
                           waiter: asyncio.Future[ActionResult], timeout: float | None,  # noqa: ASYNC109
                           check: bool) -> ActionResult:
        limit = self._action_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                result = await waiter
        except TimeoutError as exc:
            raise AmiTimeout(f"{action} [{action_id}]: no reply within {limit:g} s") from exc
        finally:
            if not waiter.done() or waiter.cancelled():
                conn.forget(action_id)
        if check:
            _check(result)
        return result

    def _expire_originates(self) -> None:
        horizon = self._clock() - self._originate_ttl
        expired = [key for key, entry in self._originates.items()
                   if entry.done_at is not None and entry.done_at < horizon]
        for key in expired:
            del self._originates[key]

    # ------------------------------------------------------------------ connection life

    async def _supervise(self, first: asyncio.Future[None]) -> None:
        """Connect, log in, wait for the connection to end, back off, again — until stop()
        or a refused login."""
        attempt = 0
        try:
            while not self._stopping:
                try:
                    conn = await self._open()
                except AmiLoginError as exc:
                    self._last_error = str(exc)
                    logger.error("AMI %s:%s: login refused (%s); not retrying", self.host,
                                 self.port, exc.args[0] if exc.args else exc)
                    self._set_state(ConnectionState.AUTH_FAILED)
                    if not first.done():
                        first.set_exception(exc)
                    return
                except (OSError, AmiError) as exc:
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    self._set_state(ConnectionState.DISCONNECTED)
                    if not first.done():
                        first.set_result(None)
                    await self._back_off(attempt, self._last_error)
                    attempt += 1
                    continue
                attempt = 0
                if not first.done():
                    first.set_result(None)
                await self._run_session(conn)
                if self._stopping:
                    return
                self._set_state(ConnectionState.DISCONNECTED)
                await self._back_off(attempt, self._last_error or "connection lost")
                attempt += 1
        finally:
            if not first.done():  # stopped before the first attempt ended
                first.set_result(None)

    async def _back_off(self, attempt: int, why: str) -> None:
        delay = self._backoff.delay(attempt, self._rand())
        self._retry_in = delay
        logger.warning("AMI %s:%s: %s; reconnecting in %.2f s", self.host, self.port, why,
                       delay)
        await asyncio.sleep(delay)

    async def _open(self) -> _Connection:
        """TCP connect and Login, both within ``connect_timeout``; a logged-in connection."""
        self._set_state(ConnectionState.CONNECTING)
        self._connections += 1
        loop = asyncio.get_running_loop()
        conn = _Connection(self, self._connections)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(lambda: conn, self.host, self.port)
                _, waiter = conn.submit("Login", [
                    ("Username", self._username),
                    ("Secret", self._secret),
                    ("Events", self._events_classes),
                ], None)
                result = await waiter
        except TimeoutError as exc:
            conn.abort()
            raise AmiTimeout(f"no login within {self._connect_timeout:g} s") from exc
        except BaseException:
            conn.abort()
            raise
        if not result.ok:
            conn.close()
            raise AmiLoginError(result.message or f"login refused ({result.response.name})")
        logger.info("AMI %s:%s: logged in as %s (connection %d, events %s)", self.host,
                    self.port, self._username, conn.number, self._events_classes)
        return conn

    async def _run_session(self, conn: _Connection) -> None:
        """A logged-in connection, from login to its end (EOF, reset, watchdog abort)."""
        self._conn = conn
        self._logins += 1
        self._retry_in = None
        self._set_state(ConnectionState.CONNECTED)
        loop = asyncio.get_running_loop()
        tasks = {
            loop.create_task(self._watchdog(conn), name=f"ami-watchdog {conn.number}"),
            loop.create_task(self._resync_after_boot(conn), name=f"ami-booted {conn.number}"),
        }
        self._session_tasks |= tasks
        try:
            await asyncio.shield(conn.closed)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._session_tasks -= tasks
            if self._conn is conn:
                self._conn = None

    def _connection_lost(self, conn: _Connection) -> None:
        self._queue.append((conn, None, 0.0))
        self._wake()

    def _connection_ended(self, conn: _Connection) -> None:
        """The consumer reached the end of ``conn``'s stream."""
        why = conn.end_reason()
        if conn is self._conn and not self._stopping:
            self._last_error = why
            if self._lost_at is None:
                self._lost_at = conn.lost_at if conn.lost_at is not None else self._clock()
            logger.warning("AMI %s:%s: connection %d ended: %s", self.host, self.port,
                           conn.number, why)
        conn.fail_pending(why)

    async def _watchdog(self, conn: _Connection) -> None:
        """Ping every ``ping_interval``; no reply within ``ping_timeout`` = half-open."""
        if self._ping_interval <= 0:
            return  # disabled
        while not conn.lost:
            await asyncio.sleep(self._ping_interval)
            try:
                await self._send_on(conn, "Ping", (), timeout=self._ping_timeout,
                                    final_event=None, check=False)
            except AmiTimeout:
                why = f"no reply to Ping within {self._ping_timeout:g} s"
                logger.warning("AMI %s:%s: %s: connection %d presumed dead, reconnecting",
                               self.host, self.port, why, conn.number)
                conn.abort(why)
                return
            except AmiDisconnected:
                return

    # ------------------------------------------------------------------ resync

    async def _resync_after_boot(self, conn: _Connection) -> None:
        # The login-time FullyBooted normally follows the Login reply at once; after a
        # restart it comes when Asterisk has loaded its modules (35 ms later in scenario 8).
        # Resyncing then, not before, reads queues that astdb has repopulated. Without the
        # `system` class it never comes: resync anyway after the wait.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._fully_booted_wait):
                await conn.booted.wait()
        conn.resync_armed = True
        self._request_resync("login" if conn.booted.is_set() else "login (no FullyBooted)")

    def _request_resync(self, reason: str) -> None:
        if self._on_connected is None or self._stopping:
            return
        logger.info("AMI: resync requested (%s)", reason)
        self._resync_wanted = True
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.get_running_loop().create_task(
                self._run_resyncs(), name="ami-resync")

    async def _run_resyncs(self) -> None:
        assert self._on_connected is not None
        while self._resync_wanted and self._state is ConnectionState.CONNECTED:
            self._resync_wanted = False
            conn = self._conn
            try:
                await self._on_connected()
            except asyncio.CancelledError:
                raise
            except AmiTimeout:
                # A PBX that does not answer its own list actions is as good as half-open:
                # a fresh connection (and its resync) is the way out.
                logger.exception("AMI: resync timed out; reconnecting")
                if conn is not None:
                    conn.abort("resync timed out")
            except AmiDisconnected as exc:
                logger.warning("AMI: resync interrupted: %s", exc)
            except Exception:
                logger.exception("AMI: on_connected failed; state may be stale until the "
                                 "next resync")

    # ------------------------------------------------------------------ event queue

    def _enqueue(self, conn: _Connection, frames: list[AmiFrame]) -> None:
        self._queue.append((conn, frames, self._clock()))
        self._queued += len(frames)
        if self._queued > self._max_queued:
            self._overflow()
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _overflow(self) -> None:
        # Keep what is not a plain event: replies and list items (their callers are waiting
        # and must not time out for our lag), FullyBooted/Shutdown, connection ends.
        dropped = 0
        kept: deque[_QueueEntry] = deque()
        for conn, frames, received_at in self._queue:
            if frames is not None:
                size = len(frames)
                frames = [item for item in frames if type(item) is not AmiMessage
                          or item.kind is not _EVENT or item.name in _SYSTEM_EVENTS
                          or item.action_id is not None]
                dropped += size - len(frames)
            kept.append((conn, frames, received_at))
        self._queue = kept
        self._queued = sum(len(frames) for _, frames, _ in kept if frames is not None)
        self._dropped += dropped
        logger.error("AMI: event queue overflow: on_message is more than %d messages behind; "
                     "dropped %d events, resyncing", self._max_queued, dropped)
        self._request_resync("event queue overflow")

    async def _consume(self) -> None:
        """Route queued frames in arrival order: replies resolve their actions, events go to
        ``on_message``, a connection's end fails what it left pending."""
        loop = asyncio.get_running_loop()
        while True:
            queue = self._queue
            if not queue:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            # Draining synchronously is safe: nothing is added before we yield, and each
            # entry is one recv() worth of bytes.
            while queue:
                conn, frames, received_at = queue.popleft()
                if frames is None:
                    self._connection_ended(conn)
                    continue
                self._queued -= len(frames)
                self._deliver(conn, frames, received_at)

    def _deliver(self, conn: _Connection, frames: list[AmiFrame], received_at: float) -> None:
        on_message = self._on_message
        waiters = conn.waiters
        tracker_feed = conn.tracker.feed
        delivered = 0
        for item in frames:
            if type(item) is not AmiMessage:
                conn.note_frame(item)
                continue
            # The tracker only sees messages that can belong to an action: some action waits
            # and the message has an ActionID line. While an Originate waits for its
            # OriginateResponse (tens of seconds), this C-level substring test spares every
            # other event the tracker's Python-level lookup (~1 µs each).
            if waiters and _ACTION_ID_LINE in item.text:
                routed = tracker_feed(item)
                if routed is not item:
                    if routed is not None:
                        conn.resolve(cast(ActionResult, routed))
                    continue
            if item.kind is not _EVENT:
                # A reply nobody waits for any more (its action timed out), or a Goodbye
                # racing our close: nothing to deliver.
                logger.debug("AMI: reply %r to no pending action (ActionID %s) ignored",
                             item.name, item.action_id)
                continue
            name = item.name
            if name == "FullyBooted" or name == "Shutdown":
                conn.system_event(item)
            delivered += 1
            try:
                on_message(item, received_at)
            except Exception:
                self._handler_errors += 1
                logger.exception("AMI: on_message failed on %s (linked id %s, unique id %s); "
                                 "skipped", name, item.peek("Linkedid"), item.peek("Uniqueid"))
        self._delivered += delivered

    # ------------------------------------------------------------------ bookkeeping

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        logger.info("AMI %s:%s: %s -> %s", self.host, self.port, self._state.value,
                    state.value)
        self._state = state
        self._since = self._clock()
        if self._on_state is not None:
            try:
                self._on_state(state.value)
            except Exception:
                logger.exception("AMI: on_state(%r) failed", state.value)

    def _note_malformed(self, item: AmiMalformed) -> None:
        self._malformed += 1
        now = self._clock()
        last = self._malformed_logged_at
        if last is not None and now - last < _MALFORMED_LOG_EVERY_S:
            self._malformed_suppressed += 1
            return
        logger.warning("AMI: skipped a malformed message (%s): %r (%d more not logged since "
                       "the previous report)", item.reason, item.excerpt,
                       self._malformed_suppressed)
        self._malformed_logged_at = now
        self._malformed_suppressed = 0


def _with_async(headers: Headers, wanted: bool) -> Headers:
    """``headers`` with an ``Async:`` header (added if absent; see ``AmiClient.send``)."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if any(name.lower() == "async" for name, _ in pairs):
        return pairs
    pairs.append(("Async", "true" if wanted else "false"))
    return pairs


def _check(result: ActionResult) -> None:
    result.raise_for_error()
    final = result.final
    if final is not None:
        response = final.peek("Response")
        if response is not None and response != "Success":
            raise AmiActionError(
                f"{final.name}: Response {response} (Reason {final.peek('Reason')})",
                action=result.action, action_id=result.action_id)
