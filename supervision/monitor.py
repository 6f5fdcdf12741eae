"""Live monitoring (listen, whisper, barge): the pure rules.

Rules
-----
M1  The supervisor's own phone rings first: an AMI ``Originate`` of the interface on their
    account into the application ``ChanSpy``. ``PJSIP/9000`` (a phone) is dialled through the
    ``[supervisor]`` context of dialplans/extensions.conf (``Local/9000@supervisor``, as in
    the lab capture 07); an interface that is already a ``Local/…`` channel is used as is.
M2  ChanSpy spies on the agent's real device channel, never on the queue's Local half: for an
    agent leg ``Local/8001@agents-00000001;1`` the device is the channel bridged with the
    other half ``…;2`` (``PJSIP/8001-0000002a`` with phones); when ``;2`` is bridged to nothing
    (it runs the phone's dialplan itself, as in a Local-only test Asterisk) ``;2`` is the
    device end. A leg that is not a Local channel is the device itself.
M3  Modes and ChanSpy options (docs asterisk-notes): listen ``qdE`` (nobody hears the
    supervisor), whisper ``qdwE`` (only the agent), barge ``qdBE`` (both); ``E``: the spy ends
    when the spied channel hangs up, ``q``: no beep or channel name played, ``d``: the digits
    4, 5 and 6 switch the running spy to listen, whisper and barge (app_chanspy.c
    ``change_spy_mode``; with ``d`` the whisper audiohook is attached from the start).
M4  One session per supervisor. Another mode for the same agent switches IN PLACE: the mode's
    digit (``SWITCH_DIGITS``) is handed to ChanSpy as if the supervisor's phone had keyed it
    (AMI ``PlayDTMF`` with ``Receive: true`` on the spy channel: the frame is queued on the
    channel ChanSpy reads, whatever the phone's technology); the phone does not ring again
    and the spy channel stays the same. Another agent hangs the running spy up and
    originates a new one. Stop hangs the spy channel up.
M5  The session also ends when the supervisor hangs their phone up, or the spied call ends
    (ChanSpy's ``E``): the CTI's ``SpyEnded`` for the session's spy channel (ChanSpyStop or the
    Hangup of that channel, ``cti.call_state`` rule 11), or the spied call's ``CallEnded``.
    Every start, switch and end is audited (who, which agent, which call, which mode, when it
    started and ended) and pushed to the supervisor's console.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cti.events import CoreShowChannel

__all__ = ["MODES", "SWITCH_DIGITS", "MonitorSession", "chanspy_data", "device_channel",
           "supervisor_channel"]

MODES: Final = {"listen": "qdE", "whisper": "qdwE", "barge": "qdBE"}
"""Mode -> ChanSpy options (M3)."""

SWITCH_DIGITS: Final = {"listen": "4", "whisper": "5", "barge": "6"}
"""Mode -> the digit that switches a running ChanSpy with option ``d`` to it (M4)."""


def supervisor_channel(interface: str, context: str = "supervisor") -> str:
    """The Originate ``Channel`` that rings the supervisor's phone (M1).

    ``PJSIP/9000`` -> ``Local/9000@supervisor``; ``Local/9000@test-supervisor`` as is.
    """
    if interface.startswith("Local/"):
        return interface
    _tech, _, resource = interface.partition("/")
    return f"Local/{resource or interface}@{context}"


def _other_half(local: str) -> str | None:
    if local.endswith(";1"):
        return local[:-1] + "2"
    if local.endswith(";2"):
        return local[:-1] + "1"
    return None


def device_channel(leg: str, channels: Iterable[CoreShowChannel]) -> str:
    """The channel to spy on for the agent leg ``leg`` (M2), from the live channel list."""
    if not leg.startswith("Local/"):
        return leg
    half = _other_half(leg)
    if half is None:
        return leg
    live = list(channels)
    bridge = next((c.bridge_id for c in live if c.channel == half), None)
    if bridge:
        partner = next((c.channel for c in live
                        if c.bridge_id == bridge and c.channel not in (half, leg)), None)
        if partner is not None:
            return partner
    return half


def chanspy_data(device: str, mode: str) -> str:
    """ChanSpy's argument: the exact device channel name and the mode's options (M3)."""
    return f"{device},{MODES[mode]}"


@dataclass(slots=True)
class MonitorSession:
    """One supervisor spying on one agent's call."""

    supervisor: str  # username
    agent: str  # agent number
    linked_id: str
    mode: str
    device: str
    spy_channel: str | None
    started_at: float
    spy_linked_id: str | None = None  # the originated spy channel's Uniqueid (its Linkedid)
