"""The agents' phones: simulated agents that answer by themselves, and the demo phones that
ring until someone clicks "answer" on the agent desktop.

Both implement the engine's ``PhonePort`` (``ring``/``stop_ringing``/``connected``/
``released``) and answer with ``AgentAnswer``/``AgentDecline``/``AgentHangup`` inputs.

``AutoAgents`` draws handle times from a log-normal distribution around a mean (calls are
mostly short with a long tail), reproducibly from a seed. An ``AgentProfile`` with
``answers=False`` never picks up (the lab's agent 8099: the ring-no-answer case).

``DemoPhones`` is the in-process API the desktop's buttons call when the product runs with
``--simulate``::

    phones.ringing()             -> [RingingCall(interface="PJSIP/8001", caller_num=…, …)]
    phones.answer("PJSIP/8001")  -> True   (AgentAnswer: the queue connects the call)
    phones.hangup("PJSIP/8001")  -> True   (rejects a ringing call, or ends the conversation)

An interface may be given as the queue member's (``Local/8001@agents/n``) or as the phone's
(``PJSIP/8001``): both name extension 8001.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from simulator.engine import Feed, Handle, Scheduler
from simulator.pbx import (
    AgentAnswer,
    AgentDecline,
    AgentHangup,
    PhoneConnected,
    PhoneReleased,
    RingPhone,
    StopRinging,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """How a simulated agent behaves: rings ``answer_after`` seconds before picking up, then
    talks a log-normal time of mean ``handle_time`` (``handle_spread`` is its sigma; 0 gives a
    fixed time), at least ``min_handle`` seconds."""

    answer_after: float = 2.0
    handle_time: float = 180.0
    handle_spread: float = 0.5
    min_handle: float = 5.0
    answers: bool = True

    def sample_handle(self, rng: random.Random) -> float:
        if self.handle_spread <= 0:
            return max(self.min_handle, self.handle_time)
        sigma = self.handle_spread
        mu = math.log(max(self.handle_time, 0.001)) - sigma * sigma / 2
        return max(self.min_handle, rng.lognormvariate(mu, sigma))


class AutoAgents:
    """Simulated agents. ``profiles`` by interface; ``default`` for any other interface (None:
    only the listed interfaces are simulated, the rest belong to the demo phones)."""

    def __init__(self, scheduler: Scheduler, *, default: AgentProfile | None = None,
                 profiles: Mapping[str, AgentProfile] | None = None, seed: int = 0) -> None:
        self.scheduler = scheduler
        self.default = default
        self.profiles = dict(profiles or {})
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._ringing: dict[int, Handle] = {}
        self._talking: dict[str, Handle] = {}

    def handles(self, interface: str) -> bool:
        return interface in self.profiles or self.default is not None

    def profile(self, interface: str) -> AgentProfile:
        return self.profiles.get(interface) or self.default or AgentProfile()

    def ring(self, effect: RingPhone, feed: Feed) -> None:
        profile = self.profile(effect.interface)
        if not profile.answers:
            return
        attempt_id = effect.attempt_id

        def answer() -> None:
            self._ringing.pop(attempt_id, None)
            feed(AgentAnswer(attempt_id))

        self._ringing[attempt_id] = self.scheduler.call_at(
            self.scheduler.now() + profile.answer_after, answer)

    def stop_ringing(self, effect: StopRinging) -> None:
        handle = self._ringing.pop(effect.attempt_id, None)
        if handle is not None:
            handle.cancel()

    def connected(self, effect: PhoneConnected, feed: Feed) -> None:
        talk = self.profile(effect.interface).sample_handle(self.rng)
        interface = effect.interface

        def hang_up() -> None:
            self._talking.pop(interface, None)
            feed(AgentHangup(interface))

        old = self._talking.pop(interface, None)
        if old is not None:
            old.cancel()
        self._talking[interface] = self.scheduler.call_at(self.scheduler.now() + talk, hang_up)

    def released(self, effect: PhoneReleased) -> None:
        handle = self._talking.pop(effect.interface, None)
        if handle is not None:
            handle.cancel()

    def pending(self) -> int:
        """Timers held for ringing and talking agents (soak leak check)."""
        return len(self._ringing) + len(self._talking)


@dataclass(frozen=True, slots=True)
class RingingCall:
    """A call ringing on a demo phone, as the desktop shows it."""

    interface: str
    attempt_id: int
    ref: str
    queue: str
    caller_num: str
    caller_name: str
    channel: str
    since: float


_EXTENSION = re.compile(r"^(?:[A-Za-z0-9]+)/([^@/;-]+)")


def extension_of(interface: str) -> str:
    """``Local/8001@agents/n`` and ``PJSIP/8001`` → ``8001``."""
    match = _EXTENSION.match(interface)
    return match.group(1) if match else interface


class DemoPhones:
    """Phones answered from the agent desktop (see the module docstring)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._ringing: dict[str, RingingCall] = {}
        self._talking: dict[str, str] = {}
        self._feed: Feed | None = None
        self._listeners: list[Callable[[], None]] = []

    # ---- PhonePort

    def ring(self, effect: RingPhone, feed: Feed) -> None:
        self._feed = feed
        self._ringing[effect.interface] = RingingCall(
            interface=effect.interface, attempt_id=effect.attempt_id, ref=effect.ref,
            queue=effect.queue, caller_num=effect.caller_num, caller_name=effect.caller_name,
            channel=effect.channel, since=self.clock())
        logger.info("demo phone %s rings (%s from %s)", effect.interface, effect.queue,
                    effect.caller_num)
        self._changed()

    def stop_ringing(self, effect: StopRinging) -> None:
        current = self._ringing.get(effect.interface)
        if current is not None and current.attempt_id == effect.attempt_id:
            del self._ringing[effect.interface]
            self._changed()

    def connected(self, effect: PhoneConnected, feed: Feed) -> None:
        self._feed = feed
        self._ringing.pop(effect.interface, None)
        self._talking[effect.interface] = effect.ref
        self._changed()

    def released(self, effect: PhoneReleased) -> None:
        if self._talking.get(effect.interface) == effect.ref:
            del self._talking[effect.interface]
            self._changed()

    # ---- the desktop's API

    def _find(self, table: Mapping[str, object], interface: str) -> str | None:
        if interface in table:
            return interface
        wanted = extension_of(interface)
        return next((key for key in table if extension_of(key) == wanted), None)

    def ringing(self) -> list[RingingCall]:
        """Calls ringing now, oldest first."""
        return sorted(self._ringing.values(), key=lambda r: r.since)

    def talking(self) -> dict[str, str]:
        """Interface → call ref of the phones in a conversation."""
        return dict(self._talking)

    def answer(self, interface: str) -> bool:
        """Pick up the phone of ``interface``; False when it does not ring."""
        key = self._find(self._ringing, interface)
        if key is None or self._feed is None:
            return False
        call = self._ringing.pop(key)
        self._feed(AgentAnswer(call.attempt_id))
        return True

    def hangup(self, interface: str) -> bool:
        """Reject the ringing call or end the conversation; False when the phone is idle."""
        if self._feed is None:
            return False
        key = self._find(self._ringing, interface)
        if key is not None:
            call = self._ringing.pop(key)
            self._feed(AgentDecline(call.attempt_id))
            return True
        key = self._find(self._talking, interface)
        if key is not None:
            self._feed(AgentHangup(key))
            return True
        return False

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every change; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            # A listener (the web hub) must not break the phone.
            except Exception:
                logger.exception("demo phone listener failed")


class PhoneRouter:
    """Simulated agents for the interfaces ``auto`` handles, the demo phones for the rest."""

    def __init__(self, auto: AutoAgents, demo: DemoPhones | None = None) -> None:
        self.auto = auto
        self.demo = demo

    def _port(self, interface: str) -> AutoAgents | DemoPhones:
        if self.demo is None or self.auto.handles(interface):
            return self.auto
        return self.demo

    def ring(self, effect: RingPhone, feed: Feed) -> None:
        self._port(effect.interface).ring(effect, feed)

    def stop_ringing(self, effect: StopRinging) -> None:
        self._port(effect.interface).stop_ringing(effect)

    def connected(self, effect: PhoneConnected, feed: Feed) -> None:
        self._port(effect.interface).connected(effect, feed)

    def released(self, effect: PhoneReleased) -> None:
        self._port(effect.interface).released(effect)
