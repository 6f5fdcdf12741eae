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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.errors import SettingsError

ENV_PREFIX = "CALLCENTER_"
DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///var/callcenter.db"


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


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The web app: agent desktop, wallboard, dispatcher board, admin."""

    host: str
    port: int
    cookie_secure: bool
    session_secret: str


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """Where recordings are stored (Asterisk's monitor directory, or a copy of it)."""

    dir: str


@dataclass(frozen=True, slots=True)
class BusinessSettings:
    """The external business management system. Empty url: the built-in task store is the
    system of record."""

    url: str
    secret: str
    timeout: float


@dataclass(frozen=True, slots=True)
class LocaleSettings:
    """Default language of the pages (zh-CN or en) and the time zone shown to users."""

    default: str
    timezone: str


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the ``serve`` process runs: ``uvloop`` (default where it is installed) or the
    standard ``asyncio`` event loop."""

    event_loop: str


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
    time_scale: float
    seed: int
    speech: bool
    channels: str
    wrapups: bool
    agent_password: str


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
    speech: SpeechSettings
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


def _word_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(_str(key, v).strip() for v in value if _str(key, v).strip())
    return tuple(w.strip() for w in _str(key, value).split(",") if w.strip())


def _fraction(key: str, value: Any) -> float:
    number = _non_negative_float(key, value)
    if number > 1:
        raise SettingsError(key, f"must be between 0 and 1, got {number}")
    return number


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
    },
    "fastagi": {
        "host": Key(_host, "127.0.0.1", "FastAGI bind address"),
        "port": Key(_int_range(0, 65535), 4573, "FastAGI port"),
        "menu_file": Key(_str, "", "menu definition TOML; empty = the built-in hotline menu"),
        "holidays_file": Key(_str, "", "holiday calendar TOML; empty = built-in example"),
    },
    "web": {
        "host": Key(_host, "127.0.0.1", "web bind address"),
        "port": Key(_int_range(0, 65535), 8080, "web port"),
        "cookie_secure": Key(_bool, False, "mark the session cookie Secure (behind HTTPS)"),
        "session_secret": Key(_str, "", "key signing session cookies; empty = random per start"),
    },
    "recording": {
        "dir": Key(_str, "var/recordings", "directory of call recordings"),
    },
    "business": {
        "url": Key(_url_or_empty, "", "business system base URL; empty = built-in task store"),
        "secret": Key(_str, "", "HMAC secret shared with the business system"),
        "timeout": Key(_positive_float, 10.0, "HTTP timeout in seconds"),
    },
    "locale": {
        "default": Key(_locale, "zh-CN", "default page language: zh-CN or en"),
        "timezone": Key(_timezone, "Asia/Shanghai", "time zone shown to users"),
    },
    "server": {
        "event_loop": Key(_event_loop, "uvloop",
                          "event loop of `callcenter serve`: uvloop or asyncio"),
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
        "time_scale": Key(_positive_float, 0.2, "factor on the IVR's waits (prompts, typing)"),
        "seed": Key(_int_range(0, 2**31 - 1), 1, "same seed, same demo callers"),
        "speech": Key(_bool, True, "spoken words in the recordings (else tones only)"),
        "channels": Key(_one_of("pjsip", "local"), "pjsip",
                        "how queue members are dialled: pjsip or local channels"),
        "wrapups": Key(_bool, True, "simulated agents save their calls' wrap-ups"),
        "agent_password": Key(_str, "demo1234",
                              "password the simulated agents log in to the web app with"),
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
