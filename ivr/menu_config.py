"""Load and validate the menu definition (TOML) and the holiday calendar; hold them for reload.

The menu is data: ``ivr/hotline.toml`` is the default. A definition file has these tables::

    [menu]       start = "hello", agent_node = "agent", default_lang = "zh", max_tries = 3,
                 timeout_ms = 5000, timeout_prompt, invalid_prompt, max_inputs = 30,
                 prompt_base = "/var/lib/callcenter/prompts", queues = ["presales", …]
    [schedule]   timezone = "Asia/Shanghai", day_start = "08:00", day_end = "20:00",
                 service_weekdays = [1, 2, 3, 4, 5, 6, 7]
    [modes.night] / [modes.holiday]   queue_map = { presales = "night", … }
    [priority]   default = 0, high_value = 10, recent_caller = 5
    [survey]     prompt, thanks, invalid_prompt, timeout_ms, max_tries
    [nodes.<id>] kind = "play" | "choice" | "identify" | "status" | "mode" | "queue" | "end"

Node kinds and their keys (``label`` is the token the node writes into the IVR path):

* ``play``: ``prompt``, ``next``, ``label``.
* ``choice``: ``prompt``, ``label``, ``options.<digit> = { next, intent?, lang? }``,
  ``default`` (digit taken on timeout, e.g. the language menu), ``timeout_ms``, ``max_tries``,
  ``timeout_prompt``, ``invalid_prompt``, ``on_exhausted`` (default ``menu.agent_node``),
  ``speech.<intent> = { next, intent? }``: what a caller may *say* instead of keying (the
  phrases of each intent are the speech package's table, ``speech/phrases.toml``), and then
  ``speech_prompt``: the prompt played instead of ``prompt`` when the call can be heard (the
  caller's language has a model), which must say that the caller may speak or press. Without
  a model, and again after an answer that was not understood, the keys-only ``prompt`` plays.
* ``identify``: ``next``, ``on_fail`` (default ``next``), ``ask_number`` (default true),
  ``prompt``, ``invalid_prompt``, ``not_found_prompt``, ``timeout_prompt``, ``timeout_ms``,
  ``max_tries``, ``label`` (default ``merchant``).
* ``status``: ``next``, ``none_prompt``, ``no_merchant_prompt``, ``unavailable_prompt``,
  ``label`` (default ``status``).
* ``mode``: ``day``, ``night``, ``holiday``: the node to go to in each service mode.
* ``queue``: ``queue``, ``intent``, ``prompt``, ``label``: ends the menu in a queue.
* ``end``: ``prompt``, ``label``: ends the call in the IVR (self-service done).

Every error is a :class:`~ivr.errors.MenuConfigError` that names the node or table::

    node 'aftersales': option '5' points to unknown node 'foo'

Unknown keys are errors too (a typo such as ``on_exausted`` must not silently fall back).

The holiday calendar file (``ivr/holidays.toml``)::

    workdays = [2026-01-04]                      # make-up working days (调休上班)
    [[holidays]]
    name = "元旦"
    start = 2026-01-01
    end = 2026-01-03

:class:`MenuRegistry` holds the current definition and calendar and reloads them from disk
without a restart; an invalid new file keeps the old definition and reports the error.
"""

from __future__ import annotations

import logging
import re
import tomllib
import zoneinfo
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias

from ivr.calendar import ISO_WEEKDAYS, Holiday, HolidayCalendar, Schedule, ServiceMode
from ivr.errors import MenuConfigError

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MENU_PATH = PACKAGE_DIR / "hotline.toml"
DEFAULT_HOLIDAYS_PATH = PACKAGE_DIR / "holidays.toml"
# The node fields that name a prompt (what the catalogue must hold).
PROMPT_FIELDS = ("prompt", "speech_prompt", "timeout_prompt", "invalid_prompt",
                 "not_found_prompt", "none_prompt", "no_merchant_prompt", "unavailable_prompt")
# Where `callcenter prompts build` writes by default; Asterisk reads the same directory.
DEFAULT_PROMPT_BASE = "/var/lib/callcenter/prompts"

LANGS = ("zh", "en")
INTENTS = frozenset({"consult", "usage", "repair", "install", "complaint", "status", "agent"})
MENU_DIGITS = frozenset("0123456789*#")
# Names end up in channel variables and dialplan arguments (CC_QUEUE, CC_IVR_PATH), where a
# comma, quote or parenthesis would split or break Queue()/UserEvent() arguments: keep them tame.
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_PROMPT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PROMPT_BASE = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")
_REQUIRED: Any = object()


# --------------------------------------------------------------------------- definition


@dataclass(frozen=True, slots=True)
class Option:
    """One digit of a choice node."""

    digit: str
    next: str
    intent: str | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class PlayNode:
    id: str
    prompt: str
    next: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class ChoiceNode:
    id: str
    prompt: str
    label: str
    options: Mapping[str, Option]
    timeout_ms: int
    max_tries: int
    timeout_prompt: str | None
    invalid_prompt: str | None
    on_exhausted: str
    default: str | None = None
    # Spoken choices: intent name (the phrase table's key) → where it leads. Empty: keys only.
    speech: Mapping[str, Option] = field(default_factory=lambda: MappingProxyType({}))
    # Played instead of ``prompt`` while spoken choices are on: "say … or press …".
    speech_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class IdentifyNode:
    id: str
    next: str
    on_fail: str
    ask_number: bool
    prompt: str | None
    invalid_prompt: str | None
    not_found_prompt: str | None
    timeout_prompt: str | None
    timeout_ms: int
    max_tries: int
    label: str = "merchant"


@dataclass(frozen=True, slots=True)
class StatusNode:
    id: str
    next: str
    none_prompt: str
    no_merchant_prompt: str
    unavailable_prompt: str
    label: str = "status"


@dataclass(frozen=True, slots=True)
class ModeNode:
    id: str
    day: str
    night: str
    holiday: str

    def target(self, mode: ServiceMode) -> str:
        return {ServiceMode.DAY: self.day, ServiceMode.NIGHT: self.night,
                ServiceMode.HOLIDAY: self.holiday}[mode]


@dataclass(frozen=True, slots=True)
class QueueNode:
    id: str
    queue: str
    intent: str
    prompt: str | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class EndNode:
    id: str
    prompt: str | None = None
    label: str | None = None


Node: TypeAlias = PlayNode | ChoiceNode | IdentifyNode | StatusNode | ModeNode | QueueNode | EndNode


@dataclass(frozen=True, slots=True)
class ModeRule:
    """What changes in a service mode: queues are renamed (``presales`` → ``night``)."""

    queue_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def queue_for(self, queue: str) -> str:
        return self.queue_map.get(queue, queue)


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """QUEUE_PRIO is ``default`` plus each bonus that applies (higher is answered first)."""

    default: int = 0
    high_value: int = 10
    recent_caller: int = 5


@dataclass(frozen=True, slots=True)
class SurveyConfig:
    """The post-call satisfaction survey (score 1–5)."""

    prompt: str = "survey_ask"
    thanks: str = "survey_thanks"
    invalid_prompt: str = "survey_invalid"
    timeout_ms: int = 6000
    max_tries: int = 2


@dataclass(frozen=True, slots=True)
class MenuDefinition:
    """A validated menu: every reference resolves, every name is safe for the dialplan."""

    start: str
    agent_node: str
    default_lang: str
    max_inputs: int
    prompt_base: str
    queues: tuple[str, ...]
    schedule: Schedule
    modes: Mapping[ServiceMode, ModeRule]
    priority: PriorityRule
    survey: SurveyConfig
    nodes: Mapping[str, Node]
    source: str = "<memory>"

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def queue_in_mode(self, queue: str, mode: ServiceMode) -> str:
        rule = self.modes.get(mode)
        return rule.queue_for(queue) if rule is not None else queue

    def prompt_ids(self) -> frozenset[str]:
        """Every prompt the definition names (the status read-out prompts are in ivr.menu)."""
        found: set[str] = set()
        for node in self.nodes.values():
            for name in PROMPT_FIELDS:
                value = getattr(node, name, None)
                if value:
                    found.add(value)
        found.update({self.survey.prompt, self.survey.thanks, self.survey.invalid_prompt})
        return frozenset(found)


# --------------------------------------------------------------------------- field reader


class _Fields:
    """Typed access to one TOML table; every error names ``where`` (``node 'main'``)."""

    def __init__(self, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise MenuConfigError(f"{where}: must be a table, got {type(data).__name__}")
        self.where = where
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def error(self, problem: str) -> MenuConfigError:
        return MenuConfigError(f"{self.where}: {problem}")

    def raw(self, key: str, default: Any = _REQUIRED) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(f"missing key '{key}'")
            return default
        return self.data[key]

    def text(self, key: str, default: Any = _REQUIRED, pattern: re.Pattern[str] | None = None,
             what: str = "value") -> Any:
        value = self.raw(key, default)
        if value is None or (value is default and key not in self.data):
            return value
        if not isinstance(value, str):
            raise self.error(f"'{key}' must be a string, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise self.error(f"'{key}' = {value!r} is not a valid {what}")
        return value

    def name(self, key: str, default: Any = _REQUIRED) -> Any:
        return self.text(key, default, _NAME, "name (lower-case letters, digits, _ and -)")

    def prompt(self, key: str, default: Any = _REQUIRED) -> Any:
        return self.text(key, default, _PROMPT, "prompt id")

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"'{key}' must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise self.error(f"'{key}' must be between {lo} and {hi}, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(f"'{key}' must be true or false, got {value!r}")
        return value

    def clock_time(self, key: str, default: time) -> time:
        value = self.raw(key, default)
        if isinstance(value, time):
            return value
        if isinstance(value, str):
            match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
            if match:
                return time(int(match.group(1)), int(match.group(2)))
        raise self.error(f"'{key}' must be a time like \"08:00\", got {value!r}")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(f"unknown key '{unknown[0]}'")


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class _MenuDefaults:
    max_tries: int
    timeout_ms: int
    timeout_prompt: str | None
    invalid_prompt: str | None
    agent_node: str


def parse_menu(data: Mapping[str, Any], *, source: str = "<memory>",
               prompt_ids: Collection[str] | None = None) -> MenuDefinition:
    """Build and validate a :class:`MenuDefinition` from parsed TOML.

    ``prompt_ids``, when given, is the prompt catalogue: every prompt the menu names must be in
    it. Raises :class:`MenuConfigError` naming the node or table.
    """
    top = _Fields("menu file", dict(data))
    menu = _Fields("[menu]", top.raw("menu"))
    start = menu.name("start")
    agent_node = menu.name("agent_node")
    default_lang = menu.text("default_lang", "zh")
    if default_lang not in LANGS:
        raise menu.error(f"'default_lang' must be one of {', '.join(LANGS)}, got {default_lang!r}")
    defaults = _MenuDefaults(
        max_tries=menu.integer("max_tries", 3, 1, 9),
        timeout_ms=menu.integer("timeout_ms", 5000, 500, 60000),
        timeout_prompt=menu.prompt("timeout_prompt", None),
        invalid_prompt=menu.prompt("invalid_prompt", None),
        agent_node=agent_node,
    )
    max_inputs = menu.integer("max_inputs", 30, 3, 500)
    prompt_base = menu.text("prompt_base", DEFAULT_PROMPT_BASE, _PROMPT_BASE, "directory")
    raw_queues = menu.raw("queues")
    if not isinstance(raw_queues, list) or not raw_queues:
        raise menu.error("'queues' must be a non-empty list of queue names")
    queues: list[str] = []
    for queue in raw_queues:
        if not isinstance(queue, str) or not _NAME.match(queue):
            raise menu.error(f"queue name {queue!r} is not a valid name")
        if queue in queues:
            raise menu.error(f"queue '{queue}' is listed twice")
        queues.append(queue)
    menu.done()

    schedule = _parse_schedule(top.raw("schedule", {}))
    modes = _parse_modes(top.raw("modes", {}), queues)
    priority = _parse_priority(top.raw("priority", {}))
    survey = _parse_survey(top.raw("survey", {}))

    raw_nodes = top.raw("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise MenuConfigError("[nodes]: the menu has no nodes")
    top.done()
    nodes: dict[str, Node] = {}
    for node_id, raw in raw_nodes.items():
        if not _NAME.match(node_id):
            raise MenuConfigError(f"node {node_id!r}: not a valid node id "
                                  "(lower-case letters, digits, _ and -)")
        nodes[node_id] = _parse_node(node_id, raw, defaults, queues)

    definition = MenuDefinition(
        start=start, agent_node=agent_node, default_lang=default_lang, max_inputs=max_inputs,
        prompt_base=prompt_base, queues=tuple(queues), schedule=schedule,
        modes=MappingProxyType(modes), priority=priority, survey=survey,
        nodes=MappingProxyType(nodes), source=source,
    )
    _check_graph(definition)
    if prompt_ids is not None:
        _check_prompts(definition, frozenset(prompt_ids))
    return definition


def _parse_schedule(raw: Any) -> Schedule:
    table = _Fields("[schedule]", raw)
    timezone = table.text("timezone", "Asia/Shanghai")
    _check_timezone(table, timezone)
    day_start = table.clock_time("day_start", time(8, 0))
    day_end = table.clock_time("day_end", time(20, 0))
    weekdays = table.raw("service_weekdays", sorted(ISO_WEEKDAYS))
    if (not isinstance(weekdays, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in weekdays)
            or not set(weekdays) <= ISO_WEEKDAYS):
        raise table.error(f"'service_weekdays' must be a list of ISO weekdays 1..7, "
                          f"got {weekdays!r}")
    table.done()
    try:
        return Schedule(timezone, day_start, day_end, frozenset(weekdays))
    except ValueError as exc:
        raise table.error(str(exc)) from exc


def _check_timezone(table: _Fields, name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise table.error(f"unknown time zone {name!r}") from None


def _parse_modes(raw: Any, queues: list[str]) -> dict[ServiceMode, ModeRule]:
    table = _Fields("[modes]", raw)
    modes: dict[ServiceMode, ModeRule] = {}
    for name in list(table.data):
        if name not in {m.value for m in ServiceMode}:
            raise table.error(f"unknown mode '{name}' (day, night or holiday)")
        mode_table = _Fields(f"[modes.{name}]", table.raw(name))
        raw_map = mode_table.raw("queue_map", {})
        if not isinstance(raw_map, dict):
            raise mode_table.error("'queue_map' must be a table of queue = queue")
        for src, dst in raw_map.items():
            for queue in (src, dst):
                if queue not in queues:
                    raise mode_table.error(f"queue_map names unknown queue {queue!r} "
                                           "(not in [menu] queues)")
        mode_table.done()
        modes[ServiceMode(name)] = ModeRule(MappingProxyType(dict(raw_map)))
    table.done()
    return modes


def _parse_priority(raw: Any) -> PriorityRule:
    table = _Fields("[priority]", raw)
    rule = PriorityRule(
        default=table.integer("default", 0, 0, 1000),
        high_value=table.integer("high_value", 10, 0, 1000),
        recent_caller=table.integer("recent_caller", 5, 0, 1000),
    )
    table.done()
    return rule


def _parse_survey(raw: Any) -> SurveyConfig:
    table = _Fields("[survey]", raw)
    survey = SurveyConfig(
        prompt=table.prompt("prompt", "survey_ask"),
        thanks=table.prompt("thanks", "survey_thanks"),
        invalid_prompt=table.prompt("invalid_prompt", "survey_invalid"),
        timeout_ms=table.integer("timeout_ms", 6000, 500, 60000),
        max_tries=table.integer("max_tries", 2, 1, 9),
    )
    table.done()
    return survey


def _parse_node(node_id: str, raw: Any, defaults: _MenuDefaults, queues: list[str]) -> Node:
    f = _Fields(f"node '{node_id}'", raw)
    kind = f.text("kind")
    node: Node
    if kind == "play":
        node = PlayNode(node_id, f.prompt("prompt"), f.name("next"), f.name("label", None))
    elif kind == "choice":
        node = _parse_choice(node_id, f, defaults)
    elif kind == "identify":
        ask = f.boolean("ask_number", True)
        after = f.name("next")
        node = IdentifyNode(
            id=node_id, next=after, on_fail=f.name("on_fail", after), ask_number=ask,
            prompt=f.prompt("prompt") if ask else f.prompt("prompt", None),
            invalid_prompt=f.prompt("invalid_prompt", None),
            not_found_prompt=f.prompt("not_found_prompt", None),
            timeout_prompt=f.prompt("timeout_prompt", defaults.timeout_prompt),
            timeout_ms=f.integer("timeout_ms", 8000, 500, 60000),
            max_tries=f.integer("max_tries", defaults.max_tries, 1, 9),
            label=f.name("label", "merchant"),
        )
    elif kind == "status":
        node = StatusNode(
            id=node_id, next=f.name("next"), none_prompt=f.prompt("none_prompt"),
            no_merchant_prompt=f.prompt("no_merchant_prompt"),
            unavailable_prompt=f.prompt("unavailable_prompt"),
            label=f.name("label", "status"),
        )
    elif kind == "mode":
        node = ModeNode(node_id, f.name("day"), f.name("night"), f.name("holiday"))
    elif kind == "queue":
        queue = f.name("queue")
        if queue not in queues:
            raise f.error(f"queue '{queue}' is not in [menu] queues")
        intent = f.text("intent")
        if intent not in INTENTS:
            raise f.error(f"unknown intent {intent!r} (one of {', '.join(sorted(INTENTS))})")
        node = QueueNode(node_id, queue, intent, f.prompt("prompt", None), f.name("label", None))
    elif kind == "end":
        node = EndNode(node_id, f.prompt("prompt", None), f.name("label", None))
    else:
        raise f.error(f"unknown kind {kind!r} "
                      "(play, choice, identify, status, mode, queue or end)")
    f.done()
    return node


def _parse_choice(node_id: str, f: _Fields, defaults: _MenuDefaults) -> ChoiceNode:
    raw_options = f.raw("options")
    if not isinstance(raw_options, dict) or not raw_options:
        raise f.error("'options' must be a non-empty table of digit = { next = … }")
    options: dict[str, Option] = {}
    for digit, raw in raw_options.items():
        if digit not in MENU_DIGITS:
            raise f.error(f"option {digit!r} is not a single key 0-9, * or #")
        of = _Fields(f"node '{node_id}': option '{digit}'", raw)
        intent = of.text("intent", None)
        if intent is not None and intent not in INTENTS:
            raise of.error(f"unknown intent {intent!r} (one of {', '.join(sorted(INTENTS))})")
        lang = of.text("lang", None)
        if lang is not None and lang not in LANGS:
            raise of.error(f"'lang' must be one of {', '.join(LANGS)}, got {lang!r}")
        options[digit] = Option(digit, of.name("next"), intent, lang)
        of.done()
    default = f.text("default", None)
    if default is not None and default not in options:
        raise f.error(f"'default' = {default!r} is not one of the options")
    spoken: dict[str, Option] = {}
    raw_speech = f.raw("speech", {})
    if not isinstance(raw_speech, dict):
        raise f.error("'speech' must be a table of intent = { next = … }")
    for name, raw in raw_speech.items():
        if name not in INTENTS:
            raise f.error(f"speech {name!r} is not an intent "
                          f"(one of {', '.join(sorted(INTENTS))})")
        sf = _Fields(f"node '{node_id}': speech '{name}'", raw)
        intent = sf.text("intent", None)
        if intent is not None and intent not in INTENTS:
            raise sf.error(f"unknown intent {intent!r} (one of {', '.join(sorted(INTENTS))})")
        spoken[name] = Option(name, sf.name("next"), intent)
        sf.done()
    speech_prompt = f.prompt("speech_prompt", None)
    if spoken and speech_prompt is None:
        raise f.error("'speech' options need a 'speech_prompt' that tells the caller they may "
                      "speak or press")
    if speech_prompt is not None and not spoken:
        raise f.error("'speech_prompt' without 'speech' options would never play")
    return ChoiceNode(
        id=node_id, prompt=f.prompt("prompt"), label=f.name("label", node_id),
        options=MappingProxyType(options),
        timeout_ms=f.integer("timeout_ms", defaults.timeout_ms, 500, 60000),
        max_tries=f.integer("max_tries", defaults.max_tries, 1, 9),
        timeout_prompt=f.prompt("timeout_prompt", defaults.timeout_prompt),
        invalid_prompt=f.prompt("invalid_prompt", defaults.invalid_prompt),
        on_exhausted=f.name("on_exhausted", defaults.agent_node), default=default,
        speech=MappingProxyType(spoken), speech_prompt=speech_prompt,
    )


def _edges(node: Node) -> list[tuple[str, str]]:
    """(description, target) of every reference a node makes."""
    if isinstance(node, PlayNode):
        return [("next", node.next)]
    if isinstance(node, ChoiceNode):
        return [*((f"option '{o.digit}'", o.next) for o in node.options.values()),
                *((f"speech '{o.digit}'", o.next) for o in node.speech.values()),
                ("on_exhausted", node.on_exhausted)]
    if isinstance(node, IdentifyNode):
        return [("next", node.next), ("on_fail", node.on_fail)]
    if isinstance(node, StatusNode):
        return [("next", node.next)]
    if isinstance(node, ModeNode):
        return [("day", node.day), ("night", node.night), ("holiday", node.holiday)]
    return []


def _check_graph(definition: MenuDefinition) -> None:
    nodes = definition.nodes
    for where, target in (("start", definition.start), ("agent_node", definition.agent_node)):
        if target not in nodes:
            raise MenuConfigError(f"[menu]: {where} points to unknown node '{target}'")
    if not isinstance(nodes[definition.agent_node], QueueNode):
        raise MenuConfigError(
            f"[menu]: agent_node '{definition.agent_node}' must be a queue node "
            "(callers who run out of tries are handed to an agent, never dropped)")
    for node in nodes.values():
        for what, target in _edges(node):
            if target not in nodes:
                raise MenuConfigError(
                    f"node '{node.id}': {what} points to unknown node '{target}'")
    # Reachability: a node nobody can reach is almost always a typo in a 'next'.
    seen = {definition.start, definition.agent_node}
    todo = [definition.start]
    while todo:
        for _, target in _edges(nodes[todo.pop()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for node_id in nodes:
        if node_id not in seen:
            raise MenuConfigError(f"node '{node_id}': unreachable from start '{definition.start}'")
    # A loop made only of nodes that may pass without input (play, mode, identify with a known
    # caller, status without a merchant) would spin forever without the caller pressing a key.
    automatic = {n.id: [t for _, t in _edges(n)] for n in nodes.values()
                 if isinstance(n, PlayNode | ModeNode | IdentifyNode | StatusNode)}
    state: dict[str, int] = {}

    def visit(node_id: str, trail: list[str]) -> None:
        state[node_id] = 1
        for target in automatic.get(node_id, []):
            if target not in automatic:
                continue
            if state.get(target) == 1:
                loop = [*trail[trail.index(target):], target] if target in trail else [target]
                raise MenuConfigError(
                    f"node '{target}': loops back to itself without waiting for a key "
                    f"({' -> '.join(loop)})")
            if target not in state:
                visit(target, [*trail, target])
        state[node_id] = 2

    for node_id in automatic:
        if node_id not in state:
            visit(node_id, [node_id])


def _check_prompts(definition: MenuDefinition, known: frozenset[str]) -> None:
    for node in definition.nodes.values():
        for name in PROMPT_FIELDS:
            value = getattr(node, name, None)
            if value and value not in known:
                raise MenuConfigError(
                    f"node '{node.id}': {name} '{value}' is not in the prompt catalogue")
    survey = definition.survey
    for name, value in (("prompt", survey.prompt), ("thanks", survey.thanks),
                        ("invalid_prompt", survey.invalid_prompt)):
        if value not in known:
            raise MenuConfigError(f"[survey]: {name} '{value}' is not in the prompt catalogue")


def parse_holidays(data: Mapping[str, Any]) -> HolidayCalendar:
    """Build a :class:`HolidayCalendar` from parsed TOML; errors name the holiday."""
    top = _Fields("holiday calendar", dict(data))
    raw_workdays = top.raw("workdays", [])
    if not isinstance(raw_workdays, list) or not all(
            isinstance(d, date) and not isinstance(d, datetime) for d in raw_workdays):
        raise top.error("'workdays' must be a list of dates (2026-01-04)")
    raw_holidays = top.raw("holidays", [])
    if not isinstance(raw_holidays, list):
        raise top.error("'holidays' must be an array of tables ([[holidays]])")
    top.done()
    holidays: list[Holiday] = []
    for index, raw in enumerate(raw_holidays, start=1):
        name = raw.get("name") if isinstance(raw, dict) else None
        f = _Fields(f"holiday {name!r}" if isinstance(name, str) else f"holiday #{index}", raw)
        name = f.text("name")
        start, end = f.raw("start"), f.raw("end")
        for key, value in (("start", start), ("end", end)):
            if not isinstance(value, date) or isinstance(value, datetime):
                raise f.error(f"'{key}' must be a date (2026-10-01), got {value!r}")
        f.done()
        try:
            holidays.append(Holiday(name, start, end))
        except ValueError as exc:
            raise f.error(str(exc)) from exc
    return HolidayCalendar(tuple(holidays), frozenset(raw_workdays))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MenuConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MenuConfigError(f"{path}: invalid TOML: {exc}") from exc


def load_menu(path: Path | None = None, *,
              prompt_ids: Collection[str] | None = None) -> MenuDefinition:
    """Read and validate a menu file (default: the built-in ``ivr/hotline.toml``)."""
    path = path or DEFAULT_MENU_PATH
    return parse_menu(_read_toml(path), source=str(path), prompt_ids=prompt_ids)


def load_holidays(path: Path | None = None) -> HolidayCalendar:
    """Read and validate a holiday calendar (default: the built-in ``ivr/holidays.toml``)."""
    path = path or DEFAULT_HOLIDAYS_PATH
    try:
        return parse_holidays(_read_toml(path))
    except MenuConfigError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise MenuConfigError(f"{path}: {exc}") from exc


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class LoadedMenu:
    """The definition and calendar in force; ``generation`` grows by one per successful load."""

    definition: MenuDefinition
    holidays: HolidayCalendar
    generation: int


@dataclass(frozen=True, slots=True)
class ReloadReport:
    """Result of a reload. On error the previous menu stays in force."""

    ok: bool
    changed: bool
    generation: int
    error: str | None = None


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


class MenuRegistry:
    """Holds the menu and holiday calendar in force, and reloads them from disk.

    Construction loads both files and raises :class:`MenuConfigError` if either is invalid (a
    service must not start with a broken menu). Afterwards :meth:`reload` swaps in new files
    only if they validate; otherwise the old definition stays and the report carries the error.
    Calls that already started keep the definition they started with.

    ``prompt_ids`` is the prompt catalogue to validate against; None checks nothing (use it for
    menus with prompts recorded outside the catalogue).
    """

    def __init__(self, menu_path: Path | None = None, holidays_path: Path | None = None, *,
                 prompt_ids: Collection[str] | None = None) -> None:
        self.menu_path = menu_path or DEFAULT_MENU_PATH
        self.holidays_path = holidays_path or DEFAULT_HOLIDAYS_PATH
        self.prompt_ids = frozenset(prompt_ids) if prompt_ids is not None else None
        self._hours: tuple[time, time] | None = None
        self._calendar: HolidayCalendar | None = None
        self._stamps = self._current_stamps()
        self._files = self._load()  # as read, before the overrides
        self._loaded = LoadedMenu(*self._with_overrides(*self._files), generation=1)
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedMenu:
        return self._loaded

    def override(self, hours: tuple[time, time] | None, calendar: HolidayCalendar | None
                 ) -> bool:
        """Business hours (``day_start``, ``day_end``) and a holiday calendar that replace the
        files' (the run-time settings an administrator changed); None keeps the file's. They
        stay in force across reloads of the files. New calls get them; True when the menu in
        force changed (its generation grows)."""
        self._hours, self._calendar = hours, calendar
        definition, holidays = self._with_overrides(*self._files)
        if (definition, holidays) == (self._loaded.definition, self._loaded.holidays):
            return False
        self._loaded = LoadedMenu(definition, holidays, self._loaded.generation + 1)
        logger.info("menu generation %d: business hours %s, holidays %s",
                    self._loaded.generation,
                    "from the run-time settings" if self._hours else "from the file",
                    "from the run-time settings" if self._calendar else "from the file")
        return True

    def _with_overrides(self, definition: MenuDefinition, holidays: HolidayCalendar
                        ) -> tuple[MenuDefinition, HolidayCalendar]:
        if self._hours is not None:
            schedule = replace(definition.schedule, day_start=self._hours[0],
                               day_end=self._hours[1])
            definition = replace(definition, schedule=schedule)
        return definition, self._calendar if self._calendar is not None else holidays

    def _current_stamps(self) -> tuple[tuple[float, int] | None, tuple[float, int] | None]:
        return (_stamp(self.menu_path), _stamp(self.holidays_path))

    def _load(self) -> tuple[MenuDefinition, HolidayCalendar]:
        return (load_menu(self.menu_path, prompt_ids=self.prompt_ids),
                load_holidays(self.holidays_path))

    def reload(self) -> ReloadReport:
        """Load both files again; keep the old menu if either is invalid."""
        stamps = self._current_stamps()
        try:
            files = self._load()
        except MenuConfigError as exc:
            self.last_error = str(exc)
            logger.error("menu reload failed, keeping generation %d: %s",
                         self._loaded.generation, exc)
            return ReloadReport(ok=False, changed=False, generation=self._loaded.generation,
                                error=str(exc))
        self._stamps = stamps
        self.last_error = None
        self._files = files
        definition, holidays = self._with_overrides(*files)
        changed = (definition != self._loaded.definition or holidays != self._loaded.holidays)
        if changed:
            self._loaded = LoadedMenu(definition, holidays, self._loaded.generation + 1)
            logger.info("menu reloaded from %s: generation %d", self.menu_path,
                        self._loaded.generation)
        return ReloadReport(ok=True, changed=changed, generation=self._loaded.generation)

    def reload_if_changed(self) -> ReloadReport | None:
        """Reload when either file's mtime or size changed since the last attempt; else None.

        Meant for a periodic task: a file that stays invalid is reported once, not every tick.
        """
        stamps = self._current_stamps()
        if stamps == self._stamps:
            return None
        report = self.reload()
        self._stamps = stamps
        return report
