"""Simulated merchants: what a caller presses at each prompt, how long they wait, when they
hang up; a random mix of such callers drawn from the demo data; and ``ScriptedIvr``, the stand-in
for the product's IVR in virtual-time runs. Pure except ``ScriptedIvr``, which only uses the
scheduler it is given.

A :class:`CallerScript` answers prompts by their id, the file name without directory and
extension (``/var/lib/callcenter/prompts/zh_CN/main_menu`` → ``main_menu``)::

    choose_language        → lang_key          (1 中文, 2 English)
    main_menu              → menu_key          (1 pre-sales, 2 after-sales, 3 status, 0 agent)
    main_menu_speech       → menu_key          (the same menu inviting speech: keys interrupt)
    enter_merchant_number  → merchant_number + "#"   ("" = types nothing: a timeout)
    aftersales_menu        → intent_key        (1 usage, 2 repair, 3 install, 4 complaint)
    status_options         → status_key        (9 goodbye, 0 agent, 1 again)
    survey_ask             → survey_key        (1–5)
    callback_confirm_keys  → callback_key      (1 confirms the caller ID read out as the
                                                number to call back, * back to the queue)

The lab IVR's prompts of the fixtures (``basic-pbx-ivr-main``, ``astcc-followed-by-the-pound-
key``, a bare ``WAIT FOR DIGIT``) map to the same keys, so the fixture conversation can be
replayed. An unknown prompt gets no key (a timeout), as a merchant who does not understand it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from types import MappingProxyType
from typing import Final

from simulator.engine import Feed, Handle, Scheduler
from simulator.pbx import (
    BOOKED,
    CALLBACK_ROUTE,
    SURVEY_ROUTE,
    CallerHangup,
    DigitPressed,
    IvrDone,
    RunIvr,
    VariableSet,
)

WAIT_FOR_DIGIT: Final = "wait_for_digit"
# The product's demo merchants (numbers and phones), a data file of the ``callcenter`` package.
DEMO_MERCHANTS: Final = "demo_merchants.json"

KINDS: Final = ("known", "ambiguous", "unknown", "wrong_number", "timeout", "hangup")


@dataclass(frozen=True, slots=True)
class CallerScript:
    """One merchant's behaviour on one call (see the module docstring for the prompt map).

    ``hangup_after_prompts``: hang up while the n-th reading prompt runs (1-based; None: never
    in the IVR). ``patience``: seconds in a queue before giving up (None: waits until the queue
    times out). ``talk_limit``: seconds after the answer at which the merchant hangs up (None:
    the agent ends the call). ``key_delay``: seconds into a reading prompt before the first key.
    ``callback_after``: seconds in a queue after which the caller presses 1 to be called back
    (the keep-my-place call-back; None: never), then ``callback_key`` at the confirmation.
    """

    phone: str = "13800138000"
    name: str = "Merchant"
    lang_key: str = "1"
    menu_key: str = "2"
    merchant_number: str = ""
    intent_key: str = "2"
    status_key: str = "9"
    survey_key: str = "5"
    callback_key: str = "1"
    keys: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    hangup_after_prompts: int | None = None
    patience: float | None = None
    talk_limit: float | None = None
    callback_after: float | None = None
    key_delay: float = 1.0
    kind: str = "known"
    # What the caller says instead of keying, by prompt id (the IVR listens after the prompt,
    # over EAGI), in espeak-ng's ``voice``: {"main_menu_speech": "报修"}.
    speech: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    voice: str = "cmn"

    def says(self, prompt: str) -> str | None:
        """The words said after ``prompt`` (None: the caller keys or stays silent)."""
        return self.speech.get(prompt_id_of(prompt)) if prompt else None

    def keys_for(self, prompt: str) -> str | None:
        """The keys pressed while ``prompt`` plays (``None``: nothing, it times out)."""
        prompt_id = prompt_id_of(prompt)
        if prompt_id in self.keys:
            return self.keys[prompt_id] or None
        table = {
            "choose_language": self.lang_key,
            "main_menu": self.menu_key,
            "main_menu_speech": self.menu_key,
            "basic-pbx-ivr-main": self.menu_key,
            "enter_merchant_number": f"{self.merchant_number}#" if self.merchant_number else "",
            "astcc-followed-by-the-pound-key": (f"{self.merchant_number}#"
                                                if self.merchant_number else ""),
            "aftersales_menu": self.intent_key,
            WAIT_FOR_DIGIT: self.intent_key,
            "status_options": self.status_key,
            "survey_ask": self.survey_key,
            "callback_confirm_keys": self.callback_key,
        }
        return table.get(prompt_id) or None


def prompt_id_of(prompt: str) -> str:
    """``/var/lib/callcenter/prompts/zh_CN/main_menu.wav`` → ``main_menu``."""
    name = prompt.strip().strip('"').rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


# --------------------------------------------------------------------------- caller mix


@dataclass(frozen=True, slots=True)
class Directory:
    """Who the simulator can pretend to be: merchant numbers with their phones."""

    merchants: tuple[tuple[str, tuple[str, ...]], ...]

    def unique_phones(self) -> list[tuple[str, str]]:
        """(phone, merchant number) for phones that belong to exactly one merchant."""
        owners: dict[str, list[str]] = {}
        for number, phones in self.merchants:
            for phone in phones:
                owners.setdefault(phone, []).append(number)
        return [(p, n[0]) for p, n in sorted(owners.items()) if len(n) == 1]

    def shared_phones(self) -> list[tuple[str, tuple[str, ...]]]:
        owners: dict[str, list[str]] = {}
        for number, phones in self.merchants:
            for phone in phones:
                owners.setdefault(phone, []).append(number)
        return [(p, tuple(n)) for p, n in sorted(owners.items()) if len(n) > 1]

    @classmethod
    def demo(cls) -> Directory:
        """The merchants of the product's demo data set (``callcenter demo-data``), read from
        the data file the product loads them from (``callcenter/demo_merchants.json``): the
        simulator knows the product only over the wire, not by importing it."""
        text = resources.files("callcenter").joinpath(DEMO_MERCHANTS).read_text(encoding="utf-8")
        return cls(tuple((str(number), tuple(str(p) for p in phones))
                         for number, phones in json.loads(text)["merchants"]))


@dataclass(frozen=True, slots=True)
class CallerMix:
    """Shares of caller kinds (normalised), and the menu choices they make."""

    known: float = 0.55
    ambiguous: float = 0.10
    unknown: float = 0.15
    wrong_number: float = 0.05
    timeout: float = 0.05
    hangup: float = 0.10
    menu: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(
        {"1": 0.25, "2": 0.6, "3": 0.1, "0": 0.05}))
    intent: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(
        {"1": 0.2, "2": 0.5, "3": 0.2, "4": 0.1}))
    english: float = 0.1
    # Share of callers who say their choice when the main menu invites it (0: the random
    # sequence of the other choices is the same as before speech existed).
    speak: float = 0.0


# What a caller says at the main menu for the choice they would key: (menu key, after-sales
# key) → words per language (phrases of the product's speech/phrases.toml), espeak-ng voices.
SPOKEN: Final = {
    "zh": {("2", "2"): "报修", ("2", "3"): "装机", ("2", "4"): "投诉", ("3", ""): "查询进度",
           ("0", ""): "人工"},
    "en": {("2", "2"): "repair", ("2", "3"): "installation", ("2", "4"): "complaint",
           ("3", ""): "check progress", ("0", ""): "agent"},
}
VOICES: Final = {"zh": "cmn", "en": "en-us"}


def _choose(rng: random.Random, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def make_caller(rng: random.Random, directory: Directory,
                mix: CallerMix | None = None) -> CallerScript:
    """One random caller, reproducible from ``rng``'s state."""
    mix = mix or CallerMix()
    kinds = {"known": mix.known, "ambiguous": mix.ambiguous, "unknown": mix.unknown,
             "wrong_number": mix.wrong_number, "timeout": mix.timeout, "hangup": mix.hangup}
    kind = _choose(rng, kinds)
    unique = directory.unique_phones()
    shared = directory.shared_phones()
    numbers = [number for number, _ in directory.merchants]
    unknown_phone = f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"
    script = CallerScript(
        lang_key="2" if rng.random() < mix.english else "1",
        menu_key=_choose(rng, mix.menu), intent_key=_choose(rng, mix.intent),
        survey_key=str(rng.choice("3455")), key_delay=round(rng.uniform(0.5, 2.5), 2),
        kind=kind)
    if mix.speak > 0 and kind in ("known", "ambiguous", "unknown") \
            and rng.random() < mix.speak:
        lang = "en" if script.lang_key == "2" else "zh"
        choice = (script.menu_key, script.intent_key if script.menu_key == "2" else "")
        words = SPOKEN[lang].get(choice)
        if words:
            script = replace(script, speech=MappingProxyType({"main_menu_speech": words}),
                             voice=VOICES[lang])
    if kind == "known" and unique:
        phone, number = rng.choice(unique)
        return replace(script, phone=phone, name="Merchant", merchant_number=number)
    if kind == "ambiguous" and shared:
        phone, owners = rng.choice(shared)
        return replace(script, phone=phone, name="Merchant", merchant_number=rng.choice(owners))
    if kind == "wrong_number":
        wrong = f"{rng.randint(10**14, 10**15 - 1)}"
        while wrong in numbers:
            wrong = f"{rng.randint(10**14, 10**15 - 1)}"
        return replace(script, phone=unknown_phone, name="", merchant_number=wrong)
    if kind == "timeout":
        return replace(script, phone=unknown_phone, name="", lang_key="", menu_key="",
                       merchant_number="", intent_key="", survey_key="")
    if kind == "hangup":
        return replace(script, phone=unknown_phone, name="",
                       merchant_number=rng.choice(numbers) if numbers else "",
                       hangup_after_prompts=rng.randint(1, 3))
    return replace(script, phone=unknown_phone, name="", kind="unknown",
                   merchant_number=rng.choice(numbers) if numbers else "")


def make_callers(seed: int, count: int, directory: Directory,
                 mix: CallerMix | None = None) -> list[CallerScript]:
    """``count`` callers, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    return [make_caller(rng, directory, mix) for _ in range(count)]


# --------------------------------------------------------------------------- virtual IVR


@dataclass(frozen=True, slots=True)
class IvrOutcome:
    """What the stand-in IVR decides: keys pressed, channel variables, time taken."""

    digits: str
    variables: Mapping[str, str]
    seconds: float
    hung_up: bool


_INTENTS: Final = {"1": ("techsupport", "usage"), "2": ("aftersales", "repair"),
                   "3": ("aftersales", "install"), "4": ("complaints", "complaint")}


def hotline_outcome(script: CallerScript, step_seconds: float = 3.0) -> IvrOutcome:
    """A model of the built-in hotline menu (ivr/hotline.toml) good enough for load: it does
    not run the product's menu, it gives plausible CC_* variables and durations. Real runs
    talk to the real IVR over FastAGI (``agi_client``)."""
    path = ["hello"]
    digits = ""
    steps = 1
    lang = "en" if script.lang_key == "2" else "zh"
    path.append(f"lang:{script.lang_key or 't'}")
    menu = script.menu_key
    digits += script.lang_key + menu
    queue, intent, outcome, verified = "aftersales", "agent", "queued", "0"
    merchant = script.merchant_number if script.kind in ("known", "ambiguous", "unknown") else ""
    if script.kind == "known":
        verified = "1"
    steps += 1
    if menu == "1":
        path.append("menu:1")
        queue, intent = "presales", "consult"
        if script.kind == "known":
            path.append("merchant:cid")
    elif menu == "2":
        path.append("menu:2")
        if script.kind == "known":
            path.append("merchant:cid")
        else:
            steps += 1
            digits += script.merchant_number + "#" if script.merchant_number else ""
            if merchant:
                path.append("merchant:ok")
                verified = "1"
            else:
                path.append("merchant:fail")
        steps += 1
        path.append(f"intent:{script.intent_key or 't'}")
        digits += script.intent_key
        queue, intent = _INTENTS.get(script.intent_key, ("aftersales", "agent"))
    elif menu == "3":
        path.append("menu:3")
        steps += 2
        if script.status_key == "9":
            path += ["self:9", "bye"]
            queue, intent, outcome = "", "status", "self_service"
        else:
            path.append(f"self:{script.status_key}")
            intent = "status"
    elif menu == "0":
        path.append("menu:0")
    else:
        path += ["menu:t", "menu:t", "menu:t", "agent"]
        steps += 2
    variables = {
        "CC_MERCHANT_ID": merchant if verified == "1" else "",
        "CC_MERCHANT_VERIFIED": verified, "CC_INTENT": intent, "CC_IVR_PATH": ">".join(path),
        "CC_QUEUE": queue, "CC_PRIORITY": "0", "CC_LANG": lang, "CC_IVR_OUTCOME": outcome,
    }
    hung_up = script.hangup_after_prompts is not None and script.hangup_after_prompts <= steps
    if hung_up and script.hangup_after_prompts is not None:
        steps = script.hangup_after_prompts
        variables = {"CC_IVR_PATH": ">".join([*path[:steps], "hangup"]),
                     "CC_IVR_OUTCOME": "ivr_hangup"}
    return IvrOutcome(digits=digits, variables=MappingProxyType(variables),
                      seconds=steps * step_seconds + script.key_delay, hung_up=hung_up)


class ScriptedIvr:
    """The IVR port for virtual-time runs: each call's script decides, after a plausible time,
    the variables, the keys (DTMF events) and the end of the session. ``scripts`` maps call
    refs to scripts; a call without one behaves like the default script."""

    def __init__(self, scheduler: Scheduler, scripts: Mapping[str, CallerScript] | None = None,
                 *, step_seconds: float = 3.0, survey_seconds: float = 4.0,
                 outcome: Callable[[CallerScript, float], IvrOutcome] = hotline_outcome) -> None:
        self.scheduler = scheduler
        self.scripts: dict[str, CallerScript] = dict(scripts or {})
        self.step_seconds = step_seconds
        self.survey_seconds = survey_seconds
        self.outcome = outcome
        self._pending: dict[str, tuple[Handle, str]] = {}
        self._feed: Feed | None = None
        self.default = CallerScript()

    def start(self, run: RunIvr, feed: Feed) -> None:
        self._feed = feed
        script = self.scripts.get(run.ref, self.default)
        if run.request.route == SURVEY_ROUTE:
            keys = script.survey_key

            def survey_done() -> None:
                self._pending.pop(run.ref, None)
                for digit in keys:
                    feed(DigitPressed(run.ref, digit))
                feed(IvrDone(run.ref, SURVEY_ROUTE))

            self._pending[run.ref] = (self.scheduler.call_at(
                self.scheduler.now() + self.survey_seconds, survey_done), SURVEY_ROUTE)
            return
        if run.request.route == CALLBACK_ROUTE:
            # The call-back offer: the caller confirms the caller ID (callback_key 1) and the
            # request is booked, or goes back to the queue (ivr/callback.py).
            booked = script.callback_key == "1"
            linked_id = run.request.linked_id

            def callback_done() -> None:
                self._pending.pop(run.ref, None)
                feed(DigitPressed(run.ref, script.callback_key))
                feed(VariableSet(run.ref, "CC_CALLBACK_OUTCOME",
                                 BOOKED if booked else "cancelled"))
                if booked:
                    feed(VariableSet(run.ref, "CC_CALLBACK_REF", linked_id))
                feed(IvrDone(run.ref, CALLBACK_ROUTE))

            self._pending[run.ref] = (self.scheduler.call_at(
                self.scheduler.now() + 2 * self.step_seconds, callback_done), CALLBACK_ROUTE)
            return
        result = self.outcome(script, self.step_seconds)

        def done() -> None:
            self._pending.pop(run.ref, None)
            for digit in result.digits:
                feed(DigitPressed(run.ref, digit))
            for name, value in result.variables.items():
                feed(VariableSet(run.ref, name, value))
            if result.hung_up:
                feed(CallerHangup(run.ref))
            feed(IvrDone(run.ref, run.request.route, hung_up=result.hung_up))

        self._pending[run.ref] = (self.scheduler.call_at(
            self.scheduler.now() + result.seconds, done), run.request.route)

    def abort(self, ref: str) -> None:
        pending = self._pending.pop(ref, None)
        if pending is None or self._feed is None:
            return
        handle, route = pending
        handle.cancel()
        self._feed(IvrDone(ref, route, hung_up=True))

    def forget(self, ref: str) -> None:
        self.scripts.pop(ref, None)
