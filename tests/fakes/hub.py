"""``RecordingHub``: the real WebSocket hub (so WebSockets work) that also remembers what was
published, by topic and in order."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from callcenter.web.hub import Hub


class RecordingHub(Hub):
    """``callcenter.web.hub.Hub`` plus a record of every publish: ``sent[topic]`` (in order per
    topic) and ``messages`` (``(topic, message)`` in order overall)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, message: dict[str, Any]) -> int:
        self.sent[topic].append(message)
        self.messages.append((topic, message))
        return super().publish(topic, message)

    def to(self, topic: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The messages published to ``topic`` (of ``type`` ``kind`` when given)."""
        return [m for m in self.sent.get(topic, []) if kind is None or m["type"] == kind]
