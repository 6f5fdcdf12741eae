"""What the simulated PBX is configured with: queues (queues.conf), the dialplan it pretends to
run (extensions.conf), channel naming and the AMI accounts (manager.conf). Frozen, built once.

Two dialplan profiles exist because two dialplans exist:

* ``PRODUCT`` is ``dialplans/extensions.conf`` of this repository: the UserEvent carries the
  eight ``Cc*`` fields, ``Queue(…,tc,…)`` continues to the ``survey`` AGI route when the agent
  hangs up first, and a failed IVR routes to ``aftersales`` with ``CC_IVR_PATH=noivr``.
* ``LAB`` is the lab dialplan the fixtures were captured with
  (``tests/fixtures/asterisk-22/config/extensions.conf``): four ``Cc*`` fields, no survey
  (app_queue hangs the caller up when the agent does). The conformance tests use it.

Priorities are those of the ``same => n`` lines, because Asterisk reports them in every channel
snapshot (``Priority: 8`` while the caller waits in ``Queue()`` in the lab).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from simulator.errors import SimulatorConfigError

STRATEGIES: Final = frozenset({"rrmemory", "linear", "leastrecent", "fewestcalls"})
CHANNEL_MODES: Final = frozenset({"pjsip", "local"})


@dataclass(frozen=True, slots=True)
class StaticMember:
    """A member listed in queues.conf: ``QueueRemove`` refuses it ("Member not dynamic")."""

    interface: str
    name: str = ""
    penalty: int = 0


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue of queues.conf (the lab's ``[hotline-queue]`` template by default).

    ``timeout`` is how long one member rings, ``retry`` the pause before the next try,
    ``wrapuptime`` the rest a member gets after a call (across queues: ``shared_lastcall``),
    ``servicelevel`` the hold time counted as "in service level", ``max_wait`` the dialplan's
    ``Queue(…,300)`` timeout. ``joinempty = False`` refuses callers while no member can answer.
    """

    name: str
    strategy: str = "rrmemory"
    timeout: float = 15.0
    retry: float = 2.0
    wrapuptime: float = 5.0
    servicelevel: int = 20
    joinempty: bool = True
    max_wait: float = 300.0
    weight: int = 0
    static_members: tuple[StaticMember, ...] = ()

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise SimulatorConfigError(
                f"queue {self.name}: strategy {self.strategy!r} is not simulated "
                f"(one of {', '.join(sorted(STRATEGIES))})")
        if self.timeout <= 0 or self.retry < 0 or self.wrapuptime < 0 or self.max_wait <= 0:
            raise SimulatorConfigError(f"queue {self.name}: timeout, retry, wrapuptime and "
                                       "max_wait must not be negative (timeout > 0)")


@dataclass(frozen=True, slots=True)
class DialplanProfile:
    """The dialplan the simulator acts out (see the module docstring)."""

    name: str
    hotline_exten: str = "4008000000"
    inbound_context: str = "from-trunk"
    language: str = "en"
    agi_priority: int = 4
    publish_priority: int = 6
    queue_priority: int = 8
    # None: Queue() without the 'c' option, app_queue hangs the caller up with the agent.
    survey_priority: int | None = None
    after_queue_priority: int = 9
    transfer_context: str = "cc-transfer"
    transfer_stop_priority: int = 2
    transfer_queue_priority: int = 6
    transfer_survey_priority: int | None = None
    # (UserEvent header, channel variable) in the order of the dialplan's UserEvent() line.
    user_event_fields: tuple[tuple[str, str], ...] = (
        ("CcQueue", "CC_QUEUE"), ("CcMerchantId", "CC_MERCHANT_ID"),
        ("CcIntent", "CC_INTENT"), ("CcIvrPath", "CC_IVR_PATH"),
    )
    # What the dialplan sets when the FastAGI server is unreachable (AGISTATUS=FAILURE) or the
    # IVR set no queue.
    noivr_variables: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"CC_QUEUE": "aftersales",
                                                  "CC_IVR_PATH": "noivr"}))
    # CC_IVR_OUTCOME value that ends the call in the IVR (no queue).
    self_service_outcome: str = "self_service"
    # Where Asterisk writes recordings, as it reports the path (MIXMONITOR_FILENAME).
    monitor_dir: str = "/var/spool/asterisk/monitor"
    # [cc-queue-exit] (queues.conf ``context``): the key that takes a waiting caller out of
    # Queue(), and the priorities of its AGI(…/callback), UserEvent(CcCallbackRequest) and
    # booked Hangup() lines (capture 12-queue-callback).
    exit_context: str = "cc-queue-exit"
    exit_key: str = "1"
    callback_agi_priority: int = 3
    callback_publish_priority: int = 4
    callback_booked_priority: int = 7


LAB: Final = DialplanProfile(name="lab")

PRODUCT: Final = DialplanProfile(
    name="product",
    language="zh_CN",
    agi_priority=4,
    publish_priority=8,
    queue_priority=12,
    survey_priority=17,
    after_queue_priority=13,
    transfer_stop_priority=2,
    transfer_queue_priority=7,
    transfer_survey_priority=11,
    user_event_fields=(
        ("CcQueue", "CC_QUEUE"), ("CcMerchantId", "CC_MERCHANT_ID"),
        ("CcMerchantVerified", "CC_MERCHANT_VERIFIED"), ("CcIntent", "CC_INTENT"),
        ("CcIvrPath", "CC_IVR_PATH"), ("CcPriority", "CC_PRIORITY"), ("CcLang", "CC_LANG"),
        ("CcIvrOutcome", "CC_IVR_OUTCOME"),
    ),
    noivr_variables=MappingProxyType({
        "CC_QUEUE": "aftersales", "CC_INTENT": "agent", "CC_PRIORITY": "0",
        "CC_MERCHANT_VERIFIED": "0", "CC_LANG": "zh", "CC_IVR_OUTCOME": "failed",
        "CC_IVR_PATH": "noivr",
    }),
)

PROFILES: Final = MappingProxyType({"lab": LAB, "product": PRODUCT})


@dataclass(frozen=True, slots=True)
class AmiAccount:
    """A manager.conf user: its secret and read classes (``read = call,agent,…``)."""

    username: str
    secret: str
    read: str = "call,agent,system,user,dtmf"


DEFAULT_QUEUES: Final = ("presales", "aftersales", "complaints", "techsupport", "night")

NIGHT_QUEUE: Final = "night"
GENERAL_QUEUES: Final = frozenset({"aftersales", "presales"})


def agent_login_queues(queues: Iterable[str]) -> tuple[str, ...]:
    """The queues a simulated agent logs in to: ``queues`` (blanks dropped, no repeats) plus
    ``night`` when it serves ``aftersales`` or ``presales``, because the product's IVR routes
    every call to ``night`` from 20:00 to 08:00 and its agents join it the same way.

    A copy of the product's rule ``callcenter.shifts.login_queues`` (the simulator does not
    import the product); ``tests/simulator/test_shift_queues.py`` proves the two agree.
    """
    names = tuple(dict.fromkeys(q.strip() for q in queues if q.strip()))
    if NIGHT_QUEUE not in names and GENERAL_QUEUES.intersection(names):
        names += (NIGHT_QUEUE,)
    return names

DIAL_CONTEXT: Final = "cc-outbound"
"""The product dialplan's click-to-dial context (extensions.conf ``[cc-outbound]``): an
Originate into it records ``${CC_MONITOR_DIR}/${UNIQUEID}.wav`` and dials the trunk."""


@dataclass(frozen=True, slots=True)
class PbxConfig:
    """Everything the pure core needs to know about the PBX it simulates.

    ``channels``: ``pjsip`` gives one channel per party (``PJSIP/trunk-0000000a`` for the
    caller, ``PJSIP/8001-0000000b`` for the agent leg), as in production; ``local`` mimics the
    lab's Local channel pairs (``Local/4008000000@from-trunk-00000000;1``/``;2``) for the
    conformance tests. ``boot_time`` (epoch seconds) gives FullyBooted's ``Uptime``.
    ``agi_url`` is what the simulated dialplan puts in ``AGI(agi://…/hotline)``.
    """

    queues: tuple[QueueConfig, ...] = tuple(QueueConfig(name) for name in DEFAULT_QUEUES)
    profile: DialplanProfile = PRODUCT
    channels: str = "pjsip"
    trunk: str = "trunk"
    boot_time: float = 0.0
    record: bool = True
    monitor_dir: str | None = None  # None: the profile's (Asterisk's spool) directory
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    # click to dial ([cc-outbound]): the merchant answers this long after the trunk is
    # dialled, hangs up this long after answering (None: the agent ends the call), and these
    # numbers are busy
    outbound_answer_s: float = 3.0
    outbound_talk_s: float | None = None
    busy_numbers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.channels not in CHANNEL_MODES:
            raise SimulatorConfigError(f"channels must be pjsip or local, got {self.channels!r}")
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise SimulatorConfigError(f"queue names repeat: {names}")

    @property
    def recording_dir(self) -> str:
        """The directory reported in MIXMONITOR_FILENAME (and written to by the recorder)."""
        return self.monitor_dir if self.monitor_dir is not None else self.profile.monitor_dir
