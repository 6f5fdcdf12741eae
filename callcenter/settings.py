"""Settings: one validated, frozen object built once from a TOML file plus the environment.

Every key lives in a section of the TOML file (``[database] url = …``) and can be overridden by
an environment variable named after it: ``CALLCENTER_<SECTION>_<KEY>`` in upper case, e.g.
``CALLCENTER_DATABASE_URL``, ``CALLCENTER_AMI_SECRET``, ``CALLCENTER_WEB_PORT``. A bad or missing
value raises :class:`SettingsError` whose message names the key, and start-up stops there.

``callcenter.example.toml`` at the repository root documents every key; this module's ``SCHEMA``
is the single source of truth for names, types and defaults (the example file is tested against
it).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.domain import HOTLINE_QUEUES
from callcenter.errors import SettingsError

ENV_PREFIX = "CALLCENTER_"
DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///var/callcenter.db"
# The network docker/compose.yaml gives its services (the `callcenter` bridge network).
COMPOSE_SUBNET = "172.30.40.0/24"
# Where Asterisk may connect to the FastAGI server from: this host, and the compose network.
DEFAULT_ASTERISK_PEERS = f"127.0.0.0/8,::1/128,{COMPOSE_SUBNET}"
# The secrets `serve` refuses to start without in production mode (server.mode).
PRODUCTION_SECRETS = (("ami", "username"), ("ami", "secret"), ("web", "session_secret"))


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the domain store lives: SQLite (default) or PostgreSQL via asyncpg."""

    url: str
    echo: bool


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """The Asterisk Manager Interface account of the CTI bridge. Empty host: no AMI connection
    (``serve`` then needs ``--simulate`` or ``--no-ami``)."""

    host: str
    port: int
    username: str
    secret: str
    connect_timeout: float
    action_timeout: float
    ping_interval: float
    state_interface: str

    @property
    def configured(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True, slots=True)
class FastAgiSettings:
    """Where the FastAGI IVR server listens (Asterisk runs AGI(agi://host:port/hotline))."""

    host: str
    port: int
    menu_file: str
    holidays_file: str
    # CIDR networks (normalised text, e.g. "127.0.0.0/8") whose connections the server
    # accepts: the Asterisk hosts. Anyone else is closed at once and counted.
    allowed_peers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The web app: agent desktop, wallboard, dispatcher board, admin."""

    host: str
    port: int
    cookie_secure: bool
    session_secret: str
    session_idle_minutes: int
    trusted_proxies: str

    @property
    def trusted_proxy_addresses(self) -> frozenset[str]:
        """The addresses whose ``X-Forwarded-Proto``/``-Host``/``-For`` are believed."""
        return frozenset(a.strip() for a in self.trusted_proxies.split(",") if a.strip())


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """Where recordings are stored (Asterisk's monitor directory, or a copy of it), how they
    are kept (the storage pipeline: Ogg/Opus, sealed with ``keys``) and for how long."""

    dir: str
    keys: str = ""
    pipeline: bool = True
    pipeline_interval: float = 5.0
    retention_days: int = 730
    retention_rules: str = ""
    qa_per_agent: int = 20
    qa_min_seconds: float = 30.0
    qa_fails_per_point: int = 4
    qa_form_file: str = ""
    whole_call: bool = False


@dataclass(frozen=True, slots=True)
class BusinessSettings:
    """The external business management system. Empty url: the built-in task store is the
    system of record."""

    url: str
    secret: str
    timeout: float
    # tasks recorded while no business system was configured ("local"): "deliver" them once
    # one is, or "keep_local" (declared at start-up and on /healthz)
    backlog: str = "deliver"


@dataclass(frozen=True, slots=True)
class LocaleSettings:
    """Default language of the pages (zh-CN or en) and the time zone shown to users."""

    default: str
    timezone: str


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the ``serve`` process runs: ``uvloop`` (default where it is installed) or the
    standard ``asyncio`` event loop; ``mode`` ``production`` makes every secret required
    (:func:`require_production_secrets`) instead of defaulted."""

    event_loop: str
    mode: str = "development"

    @property
    def production(self) -> bool:
        return self.mode == "production"


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """The built-in PBX simulator of ``serve --simulate`` (``make run``): where its AMI server
    listens, how much demo traffic it makes, and its simulated agents (extensions
    ``first_agent`` … ``first_agent + agents - 1``), who answer by themselves and, with
    ``wrapups``, save their wrap-ups through the web API, logged in with ``agent_password``."""

    ami_port: int
    rate: float
    agents: int
    first_agent: int
    handle_time: float
    patience: float
    callback_share: float
    callback_after: float
    time_scale: float
    seed: int
    speech: bool
    channels: str
    wrapups: bool
    agent_password: str


@dataclass(frozen=True, slots=True)
class AsteriskSettings:
    """What ``callcenter asterisk config`` renders into the PBX's configuration
    (``callcenter/asterisk_config.py``): where Asterisk finds the FastAGI server, the shared
    recording and prompt directories, the AMI account's network, the phones and the SIP
    trunk. Empty ``fastagi_address``/``monitor_dir``: taken from ``fastagi.host:port`` and
    ``recording.dir``."""

    templates_dir: str
    fastagi_address: str
    monitor_dir: str
    prompts_dir: str
    ami_bindaddr: str
    ami_permit: tuple[str, ...]
    agent_phones: int
    supervisor_phones: int
    sip_port: int
    rtp_start: int
    rtp_end: int
    local_net: tuple[str, ...]
    external_address: str
    trunk_host: str
    trunk_port: int
    trunk_username: str
    trunk_password: str
    overflow_wait: int = 60
    overflow: tuple[tuple[str, str], ...] = (("presales", "aftersales"), ("aftersales", "night"))
    callback_offer_every: int = 45


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """``GET /metrics`` (Prometheus text format): served only to ``allowed_networks``, and,
    when ``token`` is set, only with ``Authorization: Bearer <token>`` as well."""

    enabled: bool
    token: str
    allowed_networks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """``callcenter backup schedule``: an archive every ``interval_hours`` into ``dir``, the
    newest ``keep`` kept."""

    dir: str
    keep: int
    interval_hours: float


@dataclass(frozen=True, slots=True)
class ReportsSettings:
    """KPI definitions and targets (docs/kpi.md) and where the daily reports are kept."""

    dir: str
    service_level_s: float
    short_abandon_s: float
    repeat_window_days: int
    target_answer_rate: float
    target_service_level: float
    refresh_s: float
    shrinkage: float
    day_floor: int
    night_floor: int
    long_wait_s: float = 60.0


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    """On-premises speech (vosk): a model directory per language, the language of the calls,
    the transcription worker's share of the machine, the alert keywords and the IVR's spoken
    choice. A missing model switches speech off with one log line; the rest runs."""

    models: tuple[tuple[str, str], ...]
    language: str
    workers: int
    nice: int
    keywords: tuple[str, ...]
    ivr: bool
    min_confidence: float
    listen_seconds: float
    silence_seconds: int
    phrases_file: str
    record_dir: str
    ivr_input: str
    eagi_script: str
    stream_host: str
    stream_port: int
    end_silence_ms: int

    def model_dir(self, language: str | None = None) -> str:
        """The model directory configured for ``language`` (default: the calls' language),
        or '' when there is none."""
        return dict(self.models).get(language or self.language, "")


@dataclass(frozen=True, slots=True)
class DeskSettings:
    """The agent desk over a whole shift (issue 13)."""

    wrap_up_max_s: float
    disconnect_grace_s: float
    pause_on_no_answer: bool


@dataclass(frozen=True, slots=True)
class CallbacksSettings:
    """Keep-my-place call-backs (issue 17): tries before one is given up (pending, for a
    person), and the seconds an unanswered one rests before it is offered again (in its
    original place)."""

    queue_callback_attempts: int = 3
    queue_callback_retry_s: int = 300


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings, one frozen object per concern."""

    database: DatabaseSettings
    ami: AmiSettings
    fastagi: FastAgiSettings
    web: WebSettings
    recording: RecordingSettings
    business: BusinessSettings
    locale: LocaleSettings
    server: ServerSettings
    simulator: SimulatorSettings
    asterisk: AsteriskSettings
    metrics: MetricsSettings
    backup: BackupSettings
    speech: SpeechSettings
    reports: ReportsSettings = field(default_factory=lambda: ReportsSettings(
        "var/reports", 20.0, 5.0, 7, 0.90, 0.80, 60.0, 0.25, 8, 2))
    desk: DeskSettings = field(default_factory=lambda: DeskSettings(300.0, 60.0, True))
    callbacks: CallbacksSettings = field(default_factory=CallbacksSettings)
    source: str = "defaults"


# --------------------------------------------------------------------------- validation

Parser = Callable[[str, Any], Any]


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingsError(key, f"expected a string, got {type(value).__name__}")
    if any(c in value for c in "\r\n\x00"):
        raise SettingsError(key, "must not contain line breaks or NUL")
    return value


def _int_range(lo: int, hi: int) -> Parser:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, bool):
            raise SettingsError(key, "expected an integer, got a boolean")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SettingsError(key, f"expected an integer, got {value!r}") from None
        if not lo <= number <= hi:
            raise SettingsError(key, f"must be between {lo} and {hi}, got {number}")
        return number

    return parse


def _positive_float(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(key, f"expected a number, got {value!r}") from None
    if number <= 0:
        raise SettingsError(key, f"must be positive, got {number}")
    return number


def _non_negative_float(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(key, f"expected a number, got {value!r}") from None
    if not number >= 0:  # also refuses NaN
        raise SettingsError(key, f"must not be negative, got {number}")
    return number


def _one_of(*choices: str) -> Parser:
    def parse(key: str, value: Any) -> str:
        text = _str(key, value)
        if text not in choices:
            raise SettingsError(key, f"must be one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(key, f"expected true or false, got {value!r}")


def _host(key: str, value: Any) -> str:
    text = _str(key, value).strip()
    if text and not _looks_like_host(text):
        raise SettingsError(key, f"not a host name or IP address: {text!r}")
    return text


def _looks_like_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        labels = text.split(".")
        return all(
            label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label)
            for label in labels
        )
    return True


def _ip_list(key: str, value: Any) -> str:
    text = _str(key, value).strip()
    for part in text.split(","):
        if part.strip():
            try:
                ipaddress.ip_address(part.strip())
            except ValueError:
                raise SettingsError(key, f"not an IP address: {part.strip()!r}") from None
    return text


def _database_url(key: str, value: Any) -> str:
    text = _str(key, value).strip()
    if not text:
        raise SettingsError(key, "must not be empty")
    scheme = text.split("://", 1)[0] if "://" in text else ""
    allowed = {"sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg", "postgres"}
    if scheme not in allowed:
        raise SettingsError(
            key,
            f"unsupported database URL scheme {scheme or text!r}; use sqlite:///path.db or "
            "postgresql://user:pass@host/db",
        )
    return normalise_database_url(text)


def normalise_database_url(url: str) -> str:
    """Pick the async driver for a plain URL: sqlite → aiosqlite, postgresql → asyncpg."""
    scheme, rest = url.split("://", 1)
    if scheme == "sqlite":
        scheme = "sqlite+aiosqlite"
    elif scheme in {"postgresql", "postgres"}:
        scheme = "postgresql+asyncpg"
    return f"{scheme}://{rest}"


def _locale(key: str, value: Any) -> str:
    text = _str(key, value)
    if text not in {"zh-CN", "en"}:
        raise SettingsError(key, f"must be 'zh-CN' or 'en', got {text!r}")
    return text


def _timezone(key: str, value: Any) -> str:
    text = _str(key, value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(key, f"unknown time zone {text!r}") from None
    return text


def _event_loop(key: str, value: Any) -> str:
    text = _str(key, value)
    if text not in {"uvloop", "asyncio"}:
        raise SettingsError(key, f"must be 'uvloop' or 'asyncio', got {text!r}")
    return text


def _networks(key: str, value: Any) -> tuple[str, ...]:
    """A list of CIDR networks: a TOML array, or a comma-separated string (environment)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise SettingsError(key, f"expected a list of networks, got {type(value).__name__}")
    networks: list[str] = []
    for item in items:
        text = _str(key, item).strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise SettingsError(key, f"not an IP network (CIDR): {text!r}") from None
    return tuple(networks)


def _fraction(key: str, value: Any) -> float:
    number = _non_negative_float(key, value)
    if number > 1:
        raise SettingsError(key, f"must be between 0 and 1, got {number}")
    return number


def _url_or_empty(key: str, value: Any) -> str:
    text = _str(key, value).strip()
    if text and not text.startswith(("http://", "https://")):
        raise SettingsError(key, f"must be an http(s) URL or empty, got {text!r}")
    return text.rstrip("/")


def _language_paths(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``"zh-CN=/opt/vosk/cn, en=/opt/vosk/en"`` (or a TOML table) → pairs."""
    if isinstance(value, dict):
        items = [(str(k), _str(key, v)) for k, v in value.items()]
    else:
        items = []
        for part in _str(key, value).split(","):
            if not part.strip():
                continue
            language, sep, path = part.partition("=")
            if not sep or not language.strip() or not path.strip():
                raise SettingsError(key, f"expected LANGUAGE=DIRECTORY, got {part.strip()!r}")
            items.append((language.strip(), path.strip()))
    return tuple(items)


def _overflow(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``presales=aftersales,aftersales=night``: each queue's fallback. Both names must be
    hotline queues, a queue has one fallback, and no chain may come back to a queue it left
    (a caller would overflow round it for ever)."""
    pairs: dict[str, str] = {}
    for part in _word_list(key, value):
        source, sep, target = (w.strip() for w in part.partition("="))
        if not sep or not source or not target:
            raise SettingsError(key, f"expected QUEUE=FALLBACK, got {part!r}")
        for name in (source, target):
            if name not in HOTLINE_QUEUES:
                raise SettingsError(key, f"unknown queue {name!r} (the queues are "
                                         f"{', '.join(HOTLINE_QUEUES)})")
        if source in pairs:
            raise SettingsError(key, f"{source} has two fallbacks")
        pairs[source] = target
    for start in pairs:
        seen, queue = {start}, start
        while queue in pairs:
            queue = pairs[queue]
            if queue in seen:
                raise SettingsError(key, f"the overflow from {start} comes back to {queue}")
            seen.add(queue)
    return tuple(pairs.items())


def _word_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(_str(key, v).strip() for v in value if _str(key, v).strip())
    return tuple(w.strip() for w in _str(key, value).split(",") if w.strip())


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: its parser and default (``None`` default means required)."""

    parse: Parser
    default: Any
    doc: str


SCHEMA: dict[str, dict[str, Key]] = {
    "database": {
        "url": Key(_database_url, DEFAULT_SQLITE_URL, "SQLAlchemy URL: sqlite or postgresql"),
        "echo": Key(_bool, False, "log every SQL statement"),
    },
    "ami": {
        "host": Key(_host, "", "Asterisk AMI host; empty = none (serve --simulate / --no-ami)"),
        "port": Key(_int_range(1, 65535), 5038, "AMI TCP port"),
        "username": Key(_str, "callcenter", "AMI user (manager.conf section)"),
        "secret": Key(_str, "", "AMI secret; set it from the environment in production"),
        "connect_timeout": Key(_positive_float, 5.0, "seconds to connect and log in"),
        "action_timeout": Key(_positive_float, 5.0, "seconds to wait for an action's response"),
        "ping_interval": Key(_positive_float, 10.0, "watchdog Ping interval in seconds"),
        "state_interface": Key(_str, "PJSIP/{ext}",
                               "device a Local/<ext>@… queue member follows ({ext} = its "
                               "digits; empty = none) unless its account names one"),
    },
    "fastagi": {
        "host": Key(_host, "127.0.0.1", "FastAGI bind address"),
        "port": Key(_int_range(0, 65535), 4573, "FastAGI port"),
        "menu_file": Key(_str, "", "menu definition TOML; empty = the built-in hotline menu"),
        "holidays_file": Key(_str, "", "holiday calendar TOML; empty = built-in example"),
        "allowed_peers": Key(_networks, DEFAULT_ASTERISK_PEERS,
                             "networks Asterisk connects from; others are refused"),
    },
    "web": {
        "host": Key(_host, "127.0.0.1", "web bind address"),
        "port": Key(_int_range(0, 65535), 8080, "web port"),
        "cookie_secure": Key(_bool, False, "mark the session cookie Secure (behind HTTPS)"),
        "session_secret": Key(_str, "", "unused since sessions are server-side (accepted so "
                              "older files still load)"),
        "session_idle_minutes": Key(_int_range(1, 720), 60,
                                    "a session ends after this many minutes without a request"),
        "trusted_proxies": Key(_ip_list, "",
                               "comma-separated addresses of reverse proxies whose "
                               "X-Forwarded-Proto/-Host/-For are believed; empty = none"),
    },
    "recording": {
        "dir": Key(_str, "var/recordings", "directory of call recordings"),
        "keys": Key(_str, "", "encryption keys <id>:<base64 32 bytes>, comma-separated, the "
                    "last one current; empty = stored unencrypted"),
        "pipeline": Key(_bool, True, "compress, seal and index finished recordings in serve"),
        "pipeline_interval": Key(_positive_float, 5.0, "seconds between pipeline passes"),
        "retention_days": Key(_int_range(1, 36500), 730,
                              "days a recording is kept after its call (default period)"),
        "retention_rules": Key(_str, "", "other periods: queue:<name>=<days> or "
                               "disposition:<code>=<days>, comma-separated"),
        "qa_per_agent": Key(_int_range(0, 1000), 20,
                            "recorded calls drawn per agent per day for quality inspection"),
        "qa_min_seconds": Key(_non_negative_float, 30.0,
                              "calls shorter than this are never drawn for QA"),
        "qa_fails_per_point": Key(_int_range(1, 1000), 4,
                                  "failing QA records that cost the agent one point"),
        "qa_form_file": Key(_str, "", "QA score sheet TOML (version, [[criteria]]); empty = "
                            "the built-in hotline form"),
        "whole_call": Key(_bool, False, "record inbound calls from the answer, IVR included "
                          "(rendered by `asterisk config`); off: from the agent's answer"),
    },
    "business": {
        "url": Key(_url_or_empty, "", "business system base URL; empty = built-in task store"),
        "secret": Key(_str, "", "HMAC secret shared with the business system"),
        "timeout": Key(_positive_float, 10.0, "HTTP timeout in seconds"),
        "backlog": Key(_one_of("deliver", "keep_local"), "deliver",
                       "tasks recorded before a business system was configured: deliver "
                       "them once url is set, or keep_local (declared in the log and "
                       "/healthz)"),
    },
    "locale": {
        "default": Key(_locale, "zh-CN", "default page language: zh-CN or en"),
        "timezone": Key(_timezone, "Asia/Shanghai", "time zone shown to users"),
    },
    "server": {
        "event_loop": Key(_event_loop, "uvloop",
                          "event loop of `callcenter serve`: uvloop or asyncio"),
        "mode": Key(_one_of("development", "production"), "development",
                    "production: secrets are required, never defaulted"),
    },
    "simulator": {
        "ami_port": Key(_int_range(0, 65535), 0, "AMI port of the simulated PBX; 0 = any free"),
        # Demo defaults for `make run`: a call every ~12 s; demo agents 8013-8015 (accounts
        # that exist in the demo data) answer by themselves, 8001-8012 from the desktop.
        "rate": Key(_non_negative_float, 0.08, "demo calls per second (Poisson); 0 = none"),
        "agents": Key(_int_range(0, 1000), 3, "simulated agents that answer by themselves"),
        "first_agent": Key(_int_range(1, 99_999_999), 8013,
                           "extension and agent number of the first simulated agent"),
        "handle_time": Key(_positive_float, 30.0, "mean talk seconds of a simulated agent"),
        "patience": Key(_non_negative_float, 180.0,
                        "mean seconds a caller waits in a queue; 0 = forever"),
        "callback_share": Key(_fraction, 0.1,
                              "share of demo callers who press 1 in a queue to be called back"),
        "callback_after": Key(_positive_float, 20.0,
                              "mean seconds in a queue before such a caller presses 1"),
        "time_scale": Key(_positive_float, 0.2, "factor on the IVR's waits (prompts, typing)"),
        "seed": Key(_int_range(0, 2**31 - 1), 1, "same seed, same demo callers"),
        "speech": Key(_bool, True, "spoken words in the recordings (else tones only)"),
        "channels": Key(_one_of("pjsip", "local"), "pjsip",
                        "how queue members are dialled: pjsip or local channels"),
        "wrapups": Key(_bool, True, "simulated agents save their calls' wrap-ups"),
        "agent_password": Key(_str, "demo1234",
                              "password the simulated agents log in to the web app with"),
    },
    "reports": {
        "dir": Key(_str, "var/reports", "directory of the daily report files"),
        "service_level_s": Key(_positive_float, 20.0,
                               "service level: answered within this many seconds"),
        "short_abandon_s": Key(_non_negative_float, 5.0,
                               "a hang-up within this many seconds in queue is not offered"),
        "repeat_window_days": Key(_int_range(1, 365), 7,
                                  "days in which a same merchant + problem contact is a repeat"),
        "target_answer_rate": Key(_fraction, 0.90, "answer rate target (接通率)"),
        "target_service_level": Key(_fraction, 0.80, "service level target"),
        "refresh_s": Key(_positive_float, 60.0, "seconds between refreshes of the KPI cells"),
        "shrinkage": Key(_fraction, 0.25, "share of rostered time not on the phones"),
        "day_floor": Key(_int_range(0, 1000), 8, "agents online at least, 08:00-20:00"),
        "night_floor": Key(_int_range(0, 1000), 2, "agents online at least, 20:00-08:00"),
        "long_wait_s": Key(_positive_float, 60.0,
                           "wallboard alert: a caller waiting longer than this many seconds"),
    },
    "speech": {
        "models": Key(_language_paths, "",
                      "vosk model directory per language: zh-CN=/DIR,en=/DIR; empty = no speech"),
        "language": Key(_str, "zh-CN", "language of the calls (picks the model)"),
        "workers": Key(_int_range(0, 64), 1,
                       "transcription processes; 0 = no transcription worker in this process"),
        "nice": Key(_int_range(0, 19), 19, "CPU priority of the transcription processes"),
        "keywords": Key(_word_list, "投诉,媒体,曝光,报警,退款",
                        "words in a transcript that alert supervisors and mark the call for QA"),
        "ivr": Key(_bool, True, "callers may say their choice at the main menu"),
        "min_confidence": Key(_fraction, 0.6, "below this the IVR falls back to the keys"),
        "listen_seconds": Key(_positive_float, 4.0, "longest spoken answer the IVR records"),
        "silence_seconds": Key(_int_range(1, 10), 1,
                               "silence that ends a spoken answer (RECORD FILE s=)"),
        "phrases_file": Key(_str, "", "intent → phrases TOML; empty = speech/phrases.toml"),
        "record_dir": Key(_str, "var/speech",
                          "where Asterisk records spoken answers and the IVR reads them"),
        "ivr_input": Key(_one_of("eagi", "record_file"), "eagi",
                         "how the IVR hears an answer: eagi (streamed) or record_file"),
        "eagi_script": Key(_str, "/usr/local/bin/callcenter-eagi",
                           "the EAGI relay on the Asterisk host (callcenter-eagi)"),
        "stream_host": Key(_host, "127.0.0.1", "where the EAGI relays' audio is received"),
        "stream_port": Key(_int_range(0, 65535), 4574, "port for the EAGI relays' audio"),
        "end_silence_ms": Key(_int_range(200, 5000), 500,
                              "silence after speech that ends an answer (eagi)"),
    },
}

SCHEMA["asterisk"] = {
    "templates_dir": Key(_str, "", "dialplans/ to render from; empty = the repository's"),
    "fastagi_address": Key(_str, "", "host:port Asterisk reaches FastAGI at; empty = "
                           "fastagi.host:port"),
    "monitor_dir": Key(_str, "", "MixMonitor directory, shared; empty = recording.dir"),
    "prompts_dir": Key(_str, "/var/lib/callcenter/prompts", "CC_PROMPTS: the built prompts"),
    "ami_bindaddr": Key(_host, "127.0.0.1", "address the AMI listens on"),
    "ami_permit": Key(_networks, "127.0.0.1/32", "networks the CTI may log in to AMI from"),
    "agent_phones": Key(_int_range(1, 99), 20, "agent phones 8001 … 8000+N"),
    "supervisor_phones": Key(_int_range(0, 99), 2, "supervisor phones 9001 … 9000+N"),
    "sip_port": Key(_int_range(1, 65535), 5060, "PJSIP UDP port"),
    "rtp_start": Key(_int_range(1024, 65535), 10000, "first RTP port"),
    "rtp_end": Key(_int_range(1024, 65535), 10199, "last RTP port"),
    "local_net": Key(_networks, "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
                     "networks PJSIP treats as local (NAT)"),
    "external_address": Key(_host, "", "public address behind NAT; empty = none"),
    "trunk_host": Key(_host, "", "the carrier's SIP server; empty = no trunk"),
    "trunk_port": Key(_int_range(1, 65535), 5060, "the carrier's SIP port"),
    "trunk_username": Key(_str, "", "trunk user name; empty = the carrier checks our IP"),
    "trunk_password": Key(_str, "", "trunk password; set it from the environment"),
    "overflow_wait": Key(_int_range(1, 3600), 60,
                         "CC_OVERFLOW_WAIT: seconds unanswered in a queue with a fallback "
                         "before the caller moves on"),
    "overflow": Key(_overflow, "presales=aftersales,aftersales=night",
                    "CC_OVERFLOW_<queue>: QUEUE=FALLBACK, comma-separated; a queue without "
                    "one waits the full 300 s"),
    "callback_offer_every": Key(_int_range(0, 3600), 45,
                                "seconds between the queue's call-back offers (key 1 keeps "
                                "the caller's place); 0 = not announced"),
}

SCHEMA["metrics"] = {
    "enabled": Key(_bool, True, "serve GET /metrics"),
    "token": Key(_str, "", "bearer token /metrics also requires; empty = network only"),
    "allowed_networks": Key(_networks, DEFAULT_ASTERISK_PEERS,
                            "networks that may scrape /metrics"),
}

SCHEMA["desk"] = {
    "wrap_up_max_s": Key(_non_negative_float, 300.0,
                         "after-call work lasts until the wrap-up is saved, at most this many "
                         "seconds (the agent is paused 'acw' meanwhile); 0 = Asterisk's "
                         "wrapuptime only"),
    "disconnect_grace_s": Key(_non_negative_float, 60.0,
                              "a logged-in agent whose desk is closed this long is paused "
                              "'disconnected'; 0 = never"),
    "pause_on_no_answer": Key(_bool, True, "a ring the agent leaves unanswered pauses it "
                                           "'no_answer' (queues.conf keeps autopause = no)"),
}

SCHEMA["callbacks"] = {
    "queue_callback_attempts": Key(_int_range(1, 10), 3,
                                   "tries of a keep-my-place call-back before it is given up "
                                   "(pending: a person follows it up within 2 days)"),
    "queue_callback_retry_s": Key(_int_range(0, 86_400), 300,
                                  "seconds an unanswered call-back waits before it is offered "
                                  "again (it keeps its original place in the line)"),
}

SCHEMA["backup"] = {
    "dir": Key(_str, "var/backups", "where `backup schedule` writes its archives"),
    "keep": Key(_int_range(1, 10_000), 14, "archives kept (the newest)"),
    "interval_hours": Key(_positive_float, 24.0, "hours between scheduled backups"),
}

_SECTION_TYPES: dict[str, type[Any]] = {
    "database": DatabaseSettings,
    "ami": AmiSettings,
    "fastagi": FastAgiSettings,
    "web": WebSettings,
    "recording": RecordingSettings,
    "business": BusinessSettings,
    "locale": LocaleSettings,
    "server": ServerSettings,
    "simulator": SimulatorSettings,
    "asterisk": AsteriskSettings,
    "metrics": MetricsSettings,
    "backup": BackupSettings,
    "desk": DeskSettings,
    "callbacks": CallbacksSettings,
    "reports": ReportsSettings,
    "speech": SpeechSettings,
}


def env_name(section: str, key: str) -> str:
    """``("database", "url")`` → ``CALLCENTER_DATABASE_URL``."""
    return f"{ENV_PREFIX}{section}_{key}".upper()


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build the settings from an optional TOML file, then the environment, then overrides.

    ``path`` None means ``$CALLCENTER_CONFIG`` if set, else ``./callcenter.toml`` when it exists.
    Raises :class:`SettingsError` naming the key on any bad value, unknown key or unreadable file.
    """
    env = os.environ if environ is None else environ
    if path is None:
        configured = env.get(f"{ENV_PREFIX}CONFIG", "")
        if configured:
            path = Path(configured)
        elif Path("callcenter.toml").exists():
            path = Path("callcenter.toml")
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError("config", f"file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError("config", f"{path}: invalid TOML: {exc}") from exc
        source = str(path)
    for section, table in raw.items():
        if section not in SCHEMA:
            raise SettingsError(section, f"unknown section [{section}] in {source}")
        if not isinstance(table, dict):
            raise SettingsError(section, "must be a table")
        for key in table:
            if key not in SCHEMA[section]:
                raise SettingsError(f"{section}.{key}", f"unknown key in {source}")
    sections: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        values: dict[str, Any] = {}
        for key, spec in keys.items():
            dotted = f"{section}.{key}"
            value: Any = spec.default
            if key in raw.get(section, {}):
                value = raw[section][key]
            env_value = env.get(env_name(section, key))
            if env_value is not None:
                value = env_value
                dotted = f"{dotted} (${env_name(section, key)})"
            if overrides and key in overrides.get(section, {}):
                value = overrides[section][key]
            values[key] = spec.parse(dotted, value)
        sections[section] = _SECTION_TYPES[section](**values)
    return Settings(**sections, source=source)


def require_production_secrets(settings: Settings) -> None:
    """In production mode (``server.mode = "production"``) every secret that development
    defaults (the AMI credentials, the key that signs session cookies) must be set.

    Raises :class:`SettingsError` naming the first missing one and its environment variable;
    does nothing in development mode."""
    if not settings.server.production:
        return
    for section, key in PRODUCTION_SECRETS:
        if not getattr(getattr(settings, section), key):
            raise SettingsError(
                f"{section}.{key}", "required in production mode (server.mode = production): "
                f"set ${env_name(section, key)}")
