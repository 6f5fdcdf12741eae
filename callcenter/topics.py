"""The live-update vocabulary every feature shares: the publisher port and its topic names.

The WebSocket hub (``callcenter.web.hub.Hub``) carries messages from the features to the
browsers. A feature never imports the hub: it is handed a :class:`Publisher` and names its
topics with the functions and constants below, so a topic's spelling lives in one place.

=====================  ==========================================================
topic                  who listens
=====================  ==========================================================
``agent:<number>``     one agent's desk (``/ws/agent``): state, pop, call, wrap-up
``board``              the dispatcher board (``/ws/board``): tasks, deliveries
``wallboard``          supervisors: alerts, queue and agent figures
=====================  ==========================================================
"""

from __future__ import annotations

from typing import Any, Final, Protocol

BOARD_TOPIC: Final = "board"
WALLBOARD_TOPIC: Final = "wallboard"
AGENT_TOPIC_PREFIX: Final = "agent:"


def agent_topic(agent_number: str) -> str:
    """Hub topic of one agent's desktop: ``agent:8001``."""
    return f"{AGENT_TOPIC_PREFIX}{agent_number}"


class Publisher(Protocol):
    """The WebSocket hub: ``publish`` never awaits and returns how many clients were sent
    the message (a slow browser is dropped, never waited for)."""

    def publish(self, topic: str, message: dict[str, Any]) -> int: ...
