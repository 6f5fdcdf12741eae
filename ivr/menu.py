"""The hotline menu as a pure state machine: ``(state, event) -> (new_state, effects)``.

No I/O and no clock: :func:`start` and :func:`step` interpret a validated
:class:`~ivr.menu_config.MenuDefinition`; the adapter (:mod:`ivr.service`) carries out the
effects over FastAGI and feeds the answers back as events.

Rules of the machine:

1. A transition returns any number of *fire-and-forget* effects (:class:`Play`,
   :class:`SayDigits`, :class:`SayNumber`, :class:`SetLanguage`, :class:`SetVariables`) followed
   by at most one *awaited* effect, always last: :class:`CollectDigits` (answered by
   :class:`Digits`), :class:`LookupCaller` (:class:`CallerLookedUp`),
   :class:`LookupMerchantNumber` (:class:`MerchantLookedUp`), :class:`LookupOpenTask`
   (:class:`TaskLookedUp`), or :class:`Finish` (nothing more is accepted but :class:`HungUp`).
   Any look-up may instead be answered by :class:`LookupFailed`.
2. :func:`start` looks the caller ID up first (merchants on that phone, and whether the number
   called in the last 24 h), unless the caller ID is absent or not a number.
3. Nodes that need no input (play, mode, identify with a known caller, status without a
   merchant) are passed through in the same transition; validation guarantees such nodes never
   form a loop.
4. A choice node gives ``max_tries`` attempts in total; each timeout or invalid key counts.
   After the last one the caller goes to ``on_exhausted`` (by default the agent queue node):
   nobody is dropped for not pressing keys. A choice with ``default`` takes that option on a
   timeout instead (the language menu: silence means Chinese).
5. Merchant identification: exactly one merchant on the caller ID → verified as soon as the
   look-up answers, whatever the caller presses next (an identify node then writes
   ``merchant:cid``). Unknown or shared caller ID → ask for the 15-digit number ended by ``#``
   (GET DATA with max 20 digits so that ``#`` is the terminator); wrong length
   (``merchant:bad``), timeout (``merchant:t``) and unknown number (``merchant:nf``) each cost
   a try; a number that exists verifies (``merchant:ok``); after the last try the caller goes
   on unverified (``merchant:fail``).
6. :class:`HungUp` is accepted in every state and ends the call with outcome ``ivr_hangup``;
   its :class:`SetVariables` still applies (Asterisk allows SET VARIABLE on a dead channel).
7. A call that gives more than ``max_inputs`` answers (a caller looping through self-service)
   goes to the agent node: a defensive bound on the length of a call and of its path.
8. Speech: on first entering a choice node that has ``speech`` options, in a language the
   call can recognise (``CallInfo.speech_langs``), the node awaits :class:`Listen` instead of
   :class:`CollectDigits`, with the node's ``speech_prompt`` ("say … or press …") instead of
   its keys-only prompt; a key pressed meanwhile is an ordinary :class:`Digits` answer. A
   :class:`Heard` intent the node offers is chosen (path ``menu:speech:repair``); silence, low
   confidence or an unknown phrase (``menu:speech:silence`` / ``unsure`` / ``unknown``) falls
   back to the keys: the node's prompt again, keys only, no try counted.

The IVR path (``CC_IVR_PATH``) is the ``>``-joined list of tokens the nodes write, e.g.
``hello>lang:1>menu:2>merchant:ok>intent:2``: ``<label>:<digit>`` for a choice,
``<label>:t`` for a timeout, ``<label>:x<key>`` for an invalid key, ``night``/``holiday`` when
a mode node branches, ``hangup`` at a hang-up.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from ivr.calendar import ServiceMode
from ivr.errors import MenuStateError
from ivr.menu_config import (
    ChoiceNode,
    EndNode,
    IdentifyNode,
    MenuDefinition,
    ModeNode,
    Option,
    PlayNode,
    QueueNode,
    StatusNode,
)
from ivr.ports import IvrOutcome, IvrResult, MerchantRef, TaskRef

MERCHANT_NUMBER_LENGTH = 15
# GET DATA stops at max_digits or '#'. With max 15 the 15th digit would end GET DATA and the
# caller's '#' would arrive between commands, where res_agi throws it away (fixture README).
MERCHANT_MAX_DIGITS = 20
MAX_PATH_TOKENS = 64
MAX_PATH_CHARS = 255  # channel_value's limit: the variable must equal the recorded path
# Validation forbids loops of input-less nodes; this only turns a bug into an error.
_MAX_AUTO_STEPS = 100

# The channel variables handed to the dialplan / CTI, in the order they are set.
HANDOFF_VARIABLES = (
    "CC_MERCHANT_ID",
    "CC_MERCHANT_VERIFIED",
    "CC_INTENT",
    "CC_IVR_PATH",
    "CC_QUEUE",
    "CC_PRIORITY",
    "CC_LANG",
    "CC_IVR_OUTCOME",
)

# Prompts of the self-service read-out (not named in the menu file; the catalogue has them).
TASK_KIND_PROMPTS = {
    "consultation": "task_kind_consultation",
    "simple_fault": "task_kind_simple_fault",
    "repair": "task_kind_repair",
    "installation": "task_kind_installation",
    "complaint": "task_kind_complaint",
}
TASK_STATUS_PROMPTS = {
    "new": "task_status_new",
    "accepted": "task_status_accepted",
    "assigned": "task_status_assigned",
    "appointed": "task_status_appointed",
    "on_site": "task_status_on_site",
    "done": "task_status_done",
    "cancelled": "task_status_cancelled",
}
READOUT_PROMPTS = frozenset({
    "task_intro", "task_kind_other", "task_status_other", "task_appointment",
    "unit_day", "unit_hour", "unit_minute", "at", "oclock",
    *(f"month_{m}" for m in range(1, 13)),
    *TASK_KIND_PROMPTS.values(), *TASK_STATUS_PROMPTS.values(),
})


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Play:
    """Play a prompt (no barge-in: the caller's keys are not wanted here)."""

    prompt: str


@dataclass(frozen=True, slots=True)
class CollectDigits:
    """Play ``prompt`` and read up to ``max_digits`` keys (``#`` ends); awaited → Digits."""

    prompt: str
    timeout_ms: int
    max_digits: int


@dataclass(frozen=True, slots=True)
class SayDigits:
    digits: str


@dataclass(frozen=True, slots=True)
class SayNumber:
    number: int


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """The caller chose a language: prompts and SAY NUMBER use it from now on."""

    lang: str


@dataclass(frozen=True, slots=True)
class LookupCaller:
    """Awaited → CallerLookedUp: merchants on this phone and whether it called in 24 h."""

    phone: str


@dataclass(frozen=True, slots=True)
class LookupMerchantNumber:
    """Awaited → MerchantLookedUp."""

    number: str


@dataclass(frozen=True, slots=True)
class LookupOpenTask:
    """Awaited → TaskLookedUp."""

    merchant_id: int


@dataclass(frozen=True, slots=True)
class SetVariables:
    """Channel variables for the dialplan (values already sanitised)."""

    variables: Mapping[str, str] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Finish:
    """The menu is over; record ``result``."""

    result: IvrResult


@dataclass(frozen=True, slots=True)
class Listen:
    """Play ``prompt``, then listen for one of ``intents`` spoken (keys still work); awaited
    → :class:`Heard`, or :class:`Digits` when the caller pressed a key instead."""

    prompt: str
    timeout_ms: int
    intents: tuple[str, ...]


Effect: TypeAlias = (Listen | Play | CollectDigits | SayDigits | SayNumber | SetLanguage
                     | LookupCaller | LookupMerchantNumber | LookupOpenTask | SetVariables
                     | Finish)
AWAITED_EFFECTS = (Listen, CollectDigits, LookupCaller, LookupMerchantNumber, LookupOpenTask,
                   Finish)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class CallerLookedUp:
    merchants: tuple[MerchantRef, ...]
    called_recently: bool


@dataclass(frozen=True, slots=True)
class Digits:
    """Keys read by GET DATA, without the ``#``; ``timed_out`` when the caller stopped typing."""

    digits: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class MerchantLookedUp:
    merchant: MerchantRef | None


@dataclass(frozen=True, slots=True)
class TaskLookedUp:
    task: TaskRef | None


@dataclass(frozen=True, slots=True)
class LookupFailed:
    """The directory did not answer (store down): the menu carries on without the answer."""

    reason: str


@dataclass(frozen=True, slots=True)
class HungUp:
    """The caller hung up."""


@dataclass(frozen=True, slots=True)
class Heard:
    """What the caller said at a :class:`Listen`: an intent, or None and why not
    (``silence``, ``unsure``: confidence too low, ``unknown``: not a phrase of the node)."""

    intent: str | None
    why: str = ""


Event: TypeAlias = (Heard | CallerLookedUp | Digits | MerchantLookedUp | TaskLookedUp | LookupFailed
                    | HungUp)


# --------------------------------------------------------------------------- state


class Awaiting(StrEnum):
    CALLER = "caller"  # LookupCaller
    DIGITS = "digits"  # CollectDigits at a choice or identify node
    NUMBER = "number"  # LookupMerchantNumber
    TASK = "task"  # LookupOpenTask
    DONE = "done"  # Finish emitted


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What is known when the call enters the IVR. ``mode`` comes from ivr.calendar."""

    unique_id: str
    caller: str
    started_at: datetime
    mode: ServiceMode
    linked_id: str | None = None
    speech_langs: frozenset[str] = frozenset()  # menu languages with a speech model


@dataclass(frozen=True, slots=True)
class MenuState:
    call: CallInfo
    node: str
    awaiting: Awaiting
    lang: str
    tries: int = 0
    inputs: int = 0
    path: tuple[str, ...] = ()
    cid_merchants: tuple[MerchantRef, ...] = ()
    merchant: MerchantRef | None = None
    identified_by: str = ""  # "cid" (caller ID) or "ok" (keyed number) once verified
    recent_caller: bool = False
    intent: str = ""
    result: IvrResult | None = None

    @property
    def finished(self) -> bool:
        return self.awaiting is Awaiting.DONE

    @property
    def path_text(self) -> str:
        return ">".join(self.path)


Transition: TypeAlias = tuple[MenuState, tuple[Effect, ...]]


# --------------------------------------------------------------------------- pure helpers


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:>*#+\-]")  # ASCII ranges: any other letter is unsafe


def channel_value(value: str, limit: int = 255) -> str:
    """A value safe to SET on a channel and to expand inside dialplan arguments.

    Keeps letters, digits and ``_ . : > * # + -``; anything else (CR, LF, comma, quote,
    parenthesis, ``$``…) becomes ``_``. A comma would split ``UserEvent()``/``Queue()``
    arguments, a line break would end the AGI command. Caller-controlled text (the caller ID,
    keyed digits) only ever reaches a channel through this.
    """
    return _UNSAFE.sub("_", value[:limit])


def caller_phone(caller_id: str) -> str:
    """The caller ID as a look-up key, or '' for anonymous / ``unknown`` / junk."""
    text = caller_id.strip()
    if text.startswith("+"):
        text = text[1:]
    if 3 <= len(text) <= 20 and text.isascii() and text.isdigit():
        return text
    return ""


def handoff_variables(result: IvrResult) -> dict[str, str]:
    """The ``CC_*`` channel variables the dialplan and the CTI read after the IVR."""
    merchant_number = result.merchant.merchant_number if result.merchant else ""
    values = {
        "CC_MERCHANT_ID": merchant_number,
        "CC_MERCHANT_VERIFIED": "1" if result.merchant_verified else "0",
        "CC_INTENT": result.intent,
        "CC_IVR_PATH": result.path,
        "CC_QUEUE": result.queue,
        "CC_PRIORITY": str(result.priority),
        "CC_LANG": result.lang,
        "CC_IVR_OUTCOME": result.outcome.value,
    }
    return {name: channel_value(values[name]) for name in HANDOFF_VARIABLES}


def parse_score(digits: str) -> int | None:
    """A satisfaction score 1–5 from the survey's key, else None."""
    return int(digits) if len(digits) == 1 and digits in "12345" else None


def task_speech(task: TaskRef, lang: str, timezone: str) -> tuple[Effect, ...]:
    """The self-service read-out of a task: number, kind, status, appointment.

    ``您最近的工单 / 编号 2 0 2 6 … / 报修 / 已预约 / 预约时间 十一月 23 日 14 点 30 分``.
    Only the digits of the task number are read (SAY DIGITS reads digits). A naive appointment
    is taken as local time in ``timezone``.
    """
    effects: list[Effect] = [Play("task_intro")]
    digits = "".join(c for c in task.task_number if c.isascii() and c.isdigit())
    if digits:
        effects.append(SayDigits(digits))
    effects.append(Play(TASK_KIND_PROMPTS.get(task.kind, "task_kind_other")))
    effects.append(Play(TASK_STATUS_PROMPTS.get(task.status, "task_status_other")))
    if task.appointment is not None:
        at = task.appointment
        if at.tzinfo is not None:
            at = at.astimezone(zoneinfo.ZoneInfo(timezone))
        effects.append(Play("task_appointment"))
        effects.append(Play(f"month_{at.month}"))
        effects.append(SayNumber(at.day))
        if lang == "zh":
            effects.extend([Play("unit_day"), SayNumber(at.hour), Play("unit_hour")])
            if at.minute:
                effects.extend([SayNumber(at.minute), Play("unit_minute")])
        else:
            effects.extend([Play("at"), SayNumber(at.hour)])
            effects.append(SayNumber(at.minute) if at.minute else Play("oclock"))
    return tuple(effects)


# --------------------------------------------------------------------------- transitions


def start(definition: MenuDefinition, call: CallInfo) -> Transition:
    """The first transition of a call: look the caller up, or go straight to the menu."""
    state = MenuState(call=call, node=definition.start, awaiting=Awaiting.CALLER,
                      lang=definition.default_lang)
    phone = caller_phone(call.caller)
    if phone:
        return state, (LookupCaller(phone),)
    out: list[Effect] = []
    state = _enter(definition, state, definition.start, out, call.started_at)
    return state, tuple(out)


def step(definition: MenuDefinition, state: MenuState, event: Event, *,
         now: datetime) -> Transition:
    """Apply one event. Raises :class:`MenuStateError` for an event the state does not await."""
    out: list[Effect] = []
    if isinstance(event, HungUp):
        return _hang_up(state, now)
    awaiting = state.awaiting
    node = definition.nodes[state.node]
    if awaiting is Awaiting.CALLER and isinstance(event, CallerLookedUp | LookupFailed):
        if isinstance(event, CallerLookedUp):
            state = replace(state, cid_merchants=event.merchants,
                            recent_caller=event.called_recently)
            if len(event.merchants) == 1:
                # Verified from the start: even a caller who presses 0 at once reaches the
                # agent with the merchant (and its priority) attached.
                state = replace(state, merchant=event.merchants[0], identified_by="cid")
        new = _enter(definition, state, definition.start, out, now)
    elif awaiting is Awaiting.DIGITS and isinstance(event, Digits | Heard):
        state = replace(state, inputs=state.inputs + 1)
        if state.inputs > definition.max_inputs:
            state = _mark(state, "limit")
            new = _enter(definition, state, definition.agent_node, out, now)
        elif isinstance(node, ChoiceNode) and isinstance(event, Heard):
            new = _on_heard(definition, state, node, event, out, now)
        elif isinstance(node, ChoiceNode) and isinstance(event, Digits):
            new = _on_choice(definition, state, node, event, out, now)
        elif isinstance(node, IdentifyNode) and isinstance(event, Digits):
            new = _on_number_keyed(definition, state, node, event, out, now)
        else:
            raise _unexpected(state, event)
    elif (awaiting is Awaiting.NUMBER and isinstance(node, IdentifyNode)
          and isinstance(event, MerchantLookedUp | LookupFailed)):
        new = _on_number_checked(definition, state, node, event, out, now)
    elif (awaiting is Awaiting.TASK and isinstance(node, StatusNode)
          and isinstance(event, TaskLookedUp | LookupFailed)):
        new = _on_task(definition, state, node, event, out, now)
    else:
        raise _unexpected(state, event)
    return new, tuple(out)


def _unexpected(state: MenuState, event: Event) -> MenuStateError:
    return MenuStateError(
        f"node '{state.node}' awaits {state.awaiting.value}, got {type(event).__name__}")


_PATH_CUT = "..."
_PATH_HEAD = 4  # hello>lang:1>menu:3>merchant:cid


def _mark(state: MenuState, step_token: str) -> MenuState:
    """Append a path token. The path stays within MAX_PATH_TOKENS tokens and MAX_PATH_CHARS
    characters (the CC_IVR_PATH variable and the recorded path are the same string): when full,
    the first _PATH_HEAD steps are kept, then '...', then as many of the latest steps as fit,
    so a looping call still shows how it began and how it ended."""
    path = [*state.path, channel_value(step_token, 40)]
    if len(path) > MAX_PATH_TOKENS or len(">".join(path)) > MAX_PATH_CHARS:
        head = path[:_PATH_HEAD]
        tail = [t for t in path[_PATH_HEAD:] if t != _PATH_CUT]
        while tail and (len(head) + 1 + len(tail) > MAX_PATH_TOKENS
                        or len(">".join([*head, _PATH_CUT, *tail])) > MAX_PATH_CHARS):
            tail.pop(0)
        path = [*head, _PATH_CUT, *tail]
    return replace(state, path=tuple(path))


def _enter(definition: MenuDefinition, state: MenuState, node_id: str, out: list[Effect],
           now: datetime) -> MenuState:
    """Go to ``node_id`` and pass through input-less nodes until one awaits something."""
    for _ in range(_MAX_AUTO_STEPS):
        node = definition.nodes[node_id]
        state = replace(state, node=node_id, tries=0)
        if isinstance(node, PlayNode):
            out.append(Play(node.prompt))
            if node.label:
                state = _mark(state, node.label)
            node_id = node.next
        elif isinstance(node, ModeNode):
            if state.call.mode is not ServiceMode.DAY:
                state = _mark(state, state.call.mode.value)
            node_id = node.target(state.call.mode)
        elif isinstance(node, ChoiceNode):
            if node.speech and node.speech_prompt and state.lang in state.call.speech_langs:
                out.append(Listen(node.speech_prompt, node.timeout_ms, tuple(node.speech)))
            else:
                out.append(CollectDigits(node.prompt, node.timeout_ms, 1))
            return replace(state, awaiting=Awaiting.DIGITS)
        elif isinstance(node, IdentifyNode):
            if state.merchant is not None:  # by caller ID, or keyed earlier in this call
                token = f"{node.label}:{state.identified_by}"
                if token not in state.path:
                    state = _mark(state, token)
                node_id = node.next
            elif not node.ask_number or node.prompt is None:
                shared = len(state.cid_merchants) > 1
                state = _mark(state, f"{node.label}:{'multi' if shared else 'unknown'}")
                node_id = node.next
            else:
                if len(state.cid_merchants) > 1:
                    state = _mark(state, f"{node.label}:multi")
                out.append(CollectDigits(node.prompt, node.timeout_ms, MERCHANT_MAX_DIGITS))
                return replace(state, awaiting=Awaiting.DIGITS)
        elif isinstance(node, StatusNode):
            if state.merchant is None:
                out.append(Play(node.no_merchant_prompt))
                state = _mark(state, f"{node.label}:nomerchant")
                node_id = node.next
            else:
                out.append(LookupOpenTask(state.merchant.id))
                return replace(state, awaiting=Awaiting.TASK)
        elif isinstance(node, QueueNode):
            return _finish_in_queue(definition, state, node, out, now)
        else:
            return _finish_in_ivr(definition, state, node, out, now)
    raise MenuStateError(f"node '{node_id}': more than {_MAX_AUTO_STEPS} nodes without input")


def _choose(definition: MenuDefinition, state: MenuState, option: Option, out: list[Effect],
            now: datetime) -> MenuState:
    if option.lang is not None:
        # Always set, even when it equals the default: the channel's language came from the
        # dialplan and SAY NUMBER must follow the caller's choice.
        out.append(SetLanguage(option.lang))
        state = replace(state, lang=option.lang)
    if option.intent is not None:
        state = replace(state, intent=option.intent)
    return _enter(definition, state, option.next, out, now)


def _on_choice(definition: MenuDefinition, state: MenuState, node: ChoiceNode, event: Digits,
               out: list[Effect], now: datetime) -> MenuState:
    keys = event.digits
    if keys == "" and event.timed_out:
        if node.default is not None:
            state = _mark(state, f"{node.label}:t")
            return _choose(definition, state, node.options[node.default], out, now)
        return _retry_choice(definition, state, node, f"{node.label}:t", node.timeout_prompt,
                             out, now)
    option = node.options.get(keys) if len(keys) == 1 else None
    if option is None:
        return _retry_choice(definition, state, node, f"{node.label}:x{keys[:2]}",
                             node.invalid_prompt, out, now)
    return _choose(definition, _mark(state, f"{node.label}:{keys}"), option, out, now)


def _on_heard(definition: MenuDefinition, state: MenuState, node: ChoiceNode, event: Heard,
              out: list[Effect], now: datetime) -> MenuState:
    option = node.speech.get(event.intent) if event.intent else None
    if option is None:
        state = _mark(state, f"{node.label}:speech:{event.why or 'unknown'}")
        out.append(CollectDigits(node.prompt, node.timeout_ms, 1))
        return replace(state, awaiting=Awaiting.DIGITS)
    return _choose(definition, _mark(state, f"{node.label}:speech:{option.digit}"), option,
                   out, now)


def _retry_choice(definition: MenuDefinition, state: MenuState, node: ChoiceNode, token: str,
                  prompt: str | None, out: list[Effect], now: datetime) -> MenuState:
    state = _mark(state, token)
    tries = state.tries + 1
    if tries >= node.max_tries:
        return _enter(definition, state, node.on_exhausted, out, now)
    if prompt:
        out.append(Play(prompt))
    out.append(CollectDigits(node.prompt, node.timeout_ms, 1))
    return replace(state, tries=tries, awaiting=Awaiting.DIGITS)


def _on_number_keyed(definition: MenuDefinition, state: MenuState, node: IdentifyNode,
                     event: Digits, out: list[Effect], now: datetime) -> MenuState:
    keys = event.digits
    if keys == "" and event.timed_out:
        return _identify_failed(definition, state, node, "t", node.timeout_prompt, out, now)
    if len(keys) != MERCHANT_NUMBER_LENGTH or not (keys.isascii() and keys.isdigit()):
        return _identify_failed(definition, state, node, "bad", node.invalid_prompt, out, now)
    out.append(LookupMerchantNumber(keys))
    return replace(state, awaiting=Awaiting.NUMBER)


def _on_number_checked(definition: MenuDefinition, state: MenuState, node: IdentifyNode,
                       event: MerchantLookedUp | LookupFailed, out: list[Effect],
                       now: datetime) -> MenuState:
    if isinstance(event, LookupFailed):
        # The store is down: do not make the caller type again; the agent verifies by voice.
        state = _mark(state, f"{node.label}:err")
        return _enter(definition, state, node.on_fail, out, now)
    if event.merchant is None:
        return _identify_failed(definition, state, node, "nf", node.not_found_prompt, out, now)
    state = _mark(replace(state, merchant=event.merchant, identified_by="ok"),
                  f"{node.label}:ok")
    return _enter(definition, state, node.next, out, now)


def _identify_failed(definition: MenuDefinition, state: MenuState, node: IdentifyNode,
                     why: str, prompt: str | None, out: list[Effect],
                     now: datetime) -> MenuState:
    state = _mark(state, f"{node.label}:{why}")
    tries = state.tries + 1
    if tries >= node.max_tries:
        state = _mark(state, f"{node.label}:fail")
        return _enter(definition, state, node.on_fail, out, now)
    if prompt:
        out.append(Play(prompt))
    assert node.prompt is not None  # an asking node always has one (validated)
    out.append(CollectDigits(node.prompt, node.timeout_ms, MERCHANT_MAX_DIGITS))
    return replace(state, tries=tries, awaiting=Awaiting.DIGITS)


def _on_task(definition: MenuDefinition, state: MenuState, node: StatusNode,
             event: TaskLookedUp | LookupFailed, out: list[Effect], now: datetime) -> MenuState:
    if isinstance(event, LookupFailed):
        out.append(Play(node.unavailable_prompt))
        state = _mark(state, f"{node.label}:err")
    elif event.task is None:
        out.append(Play(node.none_prompt))
        state = _mark(state, f"{node.label}:none")
    else:
        out.extend(task_speech(event.task, state.lang, definition.schedule.timezone))
        state = _mark(state, f"{node.label}:task")
    return _enter(definition, state, node.next, out, now)


def _priority(definition: MenuDefinition, state: MenuState) -> int:
    rule = definition.priority
    priority = rule.default
    if state.merchant is not None and state.merchant.high_value:
        priority += rule.high_value
    if state.recent_caller:
        priority += rule.recent_caller
    return priority


def _result(definition: MenuDefinition, state: MenuState, *, queue: str, intent: str,
            outcome: IvrOutcome, now: datetime) -> IvrResult:
    call = state.call
    return IvrResult(
        unique_id=call.unique_id, linked_id=call.linked_id,
        caller=channel_value(call.caller, 40), started_at=call.started_at, ended_at=now,
        mode=call.mode, lang=state.lang, merchant=state.merchant,
        merchant_verified=state.merchant is not None, intent=intent, queue=queue,
        priority=_priority(definition, state), path=state.path_text, outcome=outcome,
    )


def _finish(state: MenuState, result: IvrResult, prompt: str | None,
            out: list[Effect]) -> MenuState:
    # Variables first: if the caller hangs up during the goodbye prompt the hand-off is set.
    out.append(SetVariables(handoff_variables(result)))
    if prompt:
        out.append(Play(prompt))
    out.append(Finish(result))
    return replace(state, awaiting=Awaiting.DONE, result=result, intent=result.intent)


def _finish_in_queue(definition: MenuDefinition, state: MenuState, node: QueueNode,
                     out: list[Effect], now: datetime) -> MenuState:
    if node.label:
        state = _mark(state, node.label)
    queue = definition.queue_in_mode(node.queue, state.call.mode)
    result = _result(definition, state, queue=queue, intent=node.intent,
                     outcome=IvrOutcome.QUEUED, now=now)
    return _finish(state, result, node.prompt, out)


def _finish_in_ivr(definition: MenuDefinition, state: MenuState, node: EndNode,
                   out: list[Effect], now: datetime) -> MenuState:
    if node.label:
        state = _mark(state, node.label)
    result = _result(definition, state, queue="", intent=state.intent,
                     outcome=IvrOutcome.SELF_SERVICE, now=now)
    return _finish(state, result, node.prompt, out)


def _interrupted(state: MenuState, outcome: IvrOutcome, now: datetime) -> IvrResult:
    if state.result is not None:
        # Ended after the menu had finished (during the goodbye / connecting prompt): the
        # dialplan will not queue a dead channel, so this call ended in the IVR too.
        return replace(state.result, outcome=outcome, path=state.path_text, ended_at=now)
    call = state.call
    return IvrResult(
        unique_id=call.unique_id, linked_id=call.linked_id,
        caller=channel_value(call.caller, 40), started_at=call.started_at, ended_at=now,
        mode=call.mode, lang=state.lang, merchant=state.merchant,
        merchant_verified=state.merchant is not None, intent=state.intent, queue="",
        priority=0, path=state.path_text, outcome=outcome,
    )


def _hang_up(state: MenuState, now: datetime) -> Transition:
    if state.result is not None and state.result.outcome is IvrOutcome.IVR_HANGUP:
        return state, ()  # a second HANGUP line changes nothing
    state = _mark(state, "hangup")
    result = _interrupted(state, IvrOutcome.IVR_HANGUP, now)
    effects: tuple[Effect, ...] = (SetVariables(handoff_variables(result)), Finish(result))
    return replace(state, awaiting=Awaiting.DONE, result=result), effects


def failed_result(state: MenuState, *, now: datetime) -> IvrResult:
    """The result to record when the IVR itself broke (lost AGI connection, a bug): the path
    so far plus ``error``, outcome ``failed``, no queue. The dialplan's fallback queues the
    caller because CC_QUEUE stays empty."""
    return _interrupted(_mark(state, "error"), IvrOutcome.FAILED, now)
