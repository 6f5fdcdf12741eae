"""WebSocket fan-out: one slow browser never delays the others.

Every connected browser has a bounded queue and its own writer task. ``publish`` serialises the
message once and puts it on each subscriber's queue without waiting; a subscriber whose queue is
full has fallen behind (a frozen tab, a bad network) and is disconnected — its page reconnects
and reloads its state — instead of stalling the publisher (the CTI event loop) or the others.

Topics are plain strings: ``agent:8001`` (one agent's desktop), ``board`` (dispatchers),
``wallboard`` (supervisors).

Observers (``observe``) are told every published message, in the publisher's call, before the
browsers: the wallboard keeps its standing alerts (complaint clocks, dead letters, speech
alerts) current from what the other features publish. An observer must not block; one that
raises is logged and never stops the publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256
_CLOSE = object()


@dataclass(eq=False, slots=True)
class Subscriber:
    """One browser connection."""

    ws: web.WebSocketResponse
    topics: frozenset[str]
    label: str
    queue: asyncio.Queue[str | object] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE))
    dropped: bool = False


class Hub:
    """Topic → subscribers; publish never awaits."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._topics: dict[str, set[Subscriber]] = defaultdict(set)
        self.dropped = 0
        self._observers: list[Callable[[str, dict[str, Any]], None]] = []

    def observe(self, observer: Callable[[str, dict[str, Any]], None]) -> None:
        """Tell ``observer(topic, message)`` every message published from now on."""
        self._observers.append(observer)

    def subscriber_count(self, topic: str | None = None) -> int:
        if topic is None:
            return len({s for subs in self._topics.values() for s in subs})
        return len(self._topics.get(topic, ()))

    def publish(self, topic: str, message: dict[str, Any]) -> int:
        """Queue ``message`` for every subscriber of ``topic``; returns how many got it."""
        for observer in self._observers:
            try:
                observer(topic, message)
            except Exception:
                logger.exception("hub observer %r failed on %s", observer, topic)
        subscribers = self._topics.get(topic)
        if not subscribers:
            return 0
        text = json.dumps(message, ensure_ascii=False, default=str)
        delivered = 0
        for sub in list(subscribers):
            try:
                sub.queue.put_nowait(text)
                delivered += 1
            except asyncio.QueueFull:
                self._drop(sub, "fell behind")
        return delivered

    def publish_many(self, topics: Iterable[str], message: dict[str, Any]) -> int:
        return sum(self.publish(t, message) for t in topics)

    def _drop(self, sub: Subscriber, why: str) -> None:
        if sub.dropped:
            return
        sub.dropped = True
        self.dropped += 1
        logger.warning("websocket %s disconnected: %s", sub.label, why)
        self._unsubscribe(sub)
        # Make room for the close marker so the writer wakes up and closes the socket.
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                sub.queue.get_nowait()
        sub.queue.put_nowait(_CLOSE)

    def _unsubscribe(self, sub: Subscriber) -> None:
        for topic in sub.topics:
            subs = self._topics.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._topics[topic]

    async def serve(self, ws: web.WebSocketResponse, topics: Iterable[str], label: str,
                    hello: dict[str, Any] | None = None) -> None:
        """Pump messages to an already prepared WebSocket until either side closes.

        Incoming text frames are ignored except ``ping`` (answered ``pong``): browsers act
        through the HTTP API, which keeps one authorisation path.
        """
        sub = Subscriber(ws=ws, topics=frozenset(topics), label=label,
                         queue=asyncio.Queue(maxsize=self.queue_size))
        for topic in sub.topics:
            self._topics[topic].add(sub)
        if hello is not None:
            sub.queue.put_nowait(json.dumps(hello, ensure_ascii=False, default=str))
        writer = asyncio.create_task(self._writer(sub), name=f"ws-writer {label}")
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and msg.data == "ping":
                    with contextlib.suppress(asyncio.QueueFull):
                        sub.queue.put_nowait('{"type":"pong"}')
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._unsubscribe(sub)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if not ws.closed:
                await ws.close()

    async def _writer(self, sub: Subscriber) -> None:
        while True:
            item = await sub.queue.get()
            if item is _CLOSE:
                await sub.ws.close(code=4008, message=b"too slow")
                return
            try:
                await sub.ws.send_str(str(item))
            except (ConnectionResetError, RuntimeError):
                self._unsubscribe(sub)
                return

    async def close_all(self) -> None:
        """Close every socket (call from the app's on_shutdown)."""
        subs = {s for subs in self._topics.values() for s in subs}
        self._topics.clear()
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.ws.close(code=1001, message=b"server shutdown")
