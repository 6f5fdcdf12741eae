"""The IVR use cases over FastAGI: the hotline menu and the post-call survey.

This is the adapter between the pure menu machine (:mod:`ivr.menu`) and a live call: it carries
out the machine's effects on a :class:`~ivr.ports.CallSession` (``ivr.agi_server.AgiSession``)
and on the :class:`~ivr.ports.IvrDirectory`, and feeds the answers back.

The dialplan (``dialplans/extensions.conf``) runs two routes::

    same => n,AGI(agi://${CC_FASTAGI}/hotline)     ; run_hotline: menu, then SET VARIABLE CC_*
    same => n(survey),AGI(agi://${CC_FASTAGI}/survey)  ; run_survey: after the agent hung up
    same => n,AGI(agi://${CC_FASTAGI}/callback)  ; ivr.callback.run_callback: key 1 in a queue

What a caller can count on, whatever breaks:

* Hang-up mid-menu (``AgiHangup``): the path so far plus ``hangup`` is still SET on the channel
  (Asterisk allows SET VARIABLE on a dead channel) and recorded with outcome ``ivr_hangup``.
* The directory fails or is slow (> ``LOOKUP_TIMEOUT_S``): the menu goes on without the
  answer (unverified caller, status unavailable); the caller still reaches an agent.
* A prompt file is missing (``200 result=-1`` → ``AgiCommandError``): a played prompt is
  skipped, a menu prompt counts as a timeout, so three of them lead to an agent.
* The AGI connection itself breaks: the result is recorded as ``failed``, the error re-raised
  to the server; CC_QUEUE stays empty and the dialplan's fallback queues the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import TypeVar

from callcenter.domain import mask_phone
from ivr.calendar import service_mode
from ivr.callback import run_callback
from ivr.errors import AgiCommandError, AgiHangup, IvrError, MenuStateError
from ivr.menu import (
    Awaiting,
    CallerLookedUp,
    CallInfo,
    CollectDigits,
    Digits,
    Effect,
    Event,
    Finish,
    Heard,
    HungUp,
    Listen,
    LookupCaller,
    LookupFailed,
    LookupMerchantNumber,
    LookupOpenTask,
    MenuState,
    MerchantLookedUp,
    Play,
    SayDigits,
    SayNumber,
    SetLanguage,
    SetVariables,
    TaskLookedUp,
    failed_result,
    parse_score,
    start,
    step,
)
from ivr.menu_config import LANGS, LoadedMenu, MenuRegistry
from ivr.ports import (
    CallbackRequests,
    CallSession,
    EagiListen,
    IvrDirectory,
    IvrResult,
    SpeechInput,
    SpokenAnswer,
)
from ivr.prompts import CHANNEL_LANGUAGES, prompt_file

logger = logging.getLogger(__name__)

HOTLINE_ROUTE = "hotline"
SURVEY_ROUTE = "survey"
CALLBACK_ROUTE = "callback"
# A directory call slower than this is treated as failed: a caller must not sit in silence
# because the database hangs.
LOOKUP_TIMEOUT_S = 3.0
RECORD_TIMEOUT_S = 5.0
# After the EAGI relay returned, the decision is normally already made (the server answers the
# relay after deciding); this only bounds a relay that ended without reaching the server.
EAGI_DECISION_TIMEOUT_S = 2.0

Clock = Callable[[], datetime]
Handler = Callable[[CallSession], Awaitable[None]]
HandlerFactory = Callable[[IvrDirectory, MenuRegistry, Clock, SpeechInput | None,
                           CallbackRequests | None], Handler]
MENU_KEYS = "0123456789*#"  # any key ends a spoken answer: keys always work
_T = TypeVar("_T")


def utc_now() -> datetime:
    """The default clock (aware, UTC)."""
    return datetime.now(UTC)


@lru_cache(maxsize=1)
def _builtin_menu() -> LoadedMenu:
    return MenuRegistry().current


async def _ask(what: str, unique_id: str, call: Awaitable[_T]) -> _T:
    """Await a directory call with a timeout; failures are logged and re-raised as
    ``LookupError`` so that the caller turns them into a :class:`LookupFailed` event."""
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_S):
            return await call
    except TimeoutError as exc:
        logger.warning("call %s: %s timed out after %g s", unique_id, what, LOOKUP_TIMEOUT_S)
        raise LookupError(f"{what}: timeout") from exc
    # The directory is the lead's store (SQLAlchemy, HTTP…): whatever it raises, the caller
    # must still get through the menu, so this is a per-call boundary.
    except Exception as exc:
        logger.exception("call %s: %s failed", unique_id, what)
        raise LookupError(f"{what}: {type(exc).__name__}") from exc


class _HotlineCall:
    """One call through the menu. Not reusable."""

    def __init__(self, session: CallSession, deps: IvrDirectory, menu: LoadedMenu,
                 clock: Clock, speech: SpeechInput | None = None) -> None:
        self.session = session
        self.speech = speech
        self.deps = deps
        self.definition = menu.definition
        self.holidays = menu.holidays
        self.clock = clock
        self.unique_id = session.request.unique_id
        self.lang = self.definition.default_lang
        self.linked_id: str | None = None

    async def run(self) -> IvrResult:
        now = self.clock()
        mode = service_mode(now, self.definition.schedule, self.holidays)
        state: MenuState | None = None
        try:
            call = CallInfo(unique_id=self.unique_id, caller=self.session.request.caller_id,
                            started_at=now, mode=mode, linked_id=await self._linked_id(),
                            speech_langs=self.speech.menu_langs if self.speech else frozenset())
            if self.session.hung_up:
                raise AgiHangup("hangup", "before the menu started")
            state, effects = start(self.definition, call)
            logger.info("call %s: enters menu at '%s' (%s, caller %s)", self.unique_id,
                        state.node, mode.value, mask_phone(call.caller))
            while True:
                event = await self._perform(effects)
                if state.finished:
                    break
                if event is None:
                    raise MenuStateError(f"node '{state.node}': effects awaited nothing")
                before = state.node
                state, effects = step(self.definition, state, event, now=self.clock())
                if state.node != before:
                    logger.info("call %s: %s -> %s (%s)", self.unique_id, before, state.node,
                                type(event).__name__)
        except AgiHangup:
            if state is None:
                # Gone before the menu started; record an empty path all the same.
                state = MenuState(
                    call=CallInfo(self.unique_id, self.session.request.caller_id, now, mode,
                                  self.linked_id),
                    node=self.definition.start, awaiting=Awaiting.CALLER, lang=self.lang)
            state, effects = step(self.definition, state, HungUp(), now=self.clock())
            logger.info("call %s: caller hung up in the IVR at '%s'", self.unique_id,
                        state.node)
            await self._set_after_hangup(effects)
        except Exception:
            # The AGI connection broke (timeout, protocol error) or a bug: record what is known,
            # then let the server log it. CC_QUEUE stays empty → the dialplan's fallback queues.
            if state is not None:
                await self._record(failed_result(state, now=self.clock()))
            raise
        assert state.result is not None
        await self._record(state.result)
        return state.result

    async def _linked_id(self) -> str | None:
        try:
            value = await self.session.get_variable("CHANNEL(linkedid)")
        except AgiCommandError:
            return None
        self.linked_id = value or None
        return self.linked_id

    async def _perform(self, effects: tuple[Effect, ...]) -> Event | None:
        """Carry out the effects in order; return the answer to the awaited one (if any)."""
        for effect in effects:
            if isinstance(effect, Play):
                await self._play(effect.prompt)
            elif isinstance(effect, Listen):
                return await self._listen(effect)
            elif isinstance(effect, CollectDigits):
                return await self._collect(effect)
            elif isinstance(effect, SayDigits):
                await self._say(self.session.say_digits(effect.digits))
            elif isinstance(effect, SayNumber):
                await self._say(self.session.say_number(effect.number))
            elif isinstance(effect, SetLanguage):
                self.lang = effect.lang
                await self.session.set_variable("CHANNEL(language)",
                                                CHANNEL_LANGUAGES[effect.lang])
            elif isinstance(effect, SetVariables):
                await self.session.set_variables(effect.variables)
            elif isinstance(effect, LookupCaller):
                return await self._lookup_caller(effect.phone)
            elif isinstance(effect, LookupMerchantNumber):
                try:
                    merchant = await _ask("merchant_by_number", self.unique_id,
                                          self.deps.merchant_by_number(effect.number))
                except LookupError as exc:
                    return LookupFailed(str(exc))
                return MerchantLookedUp(merchant)
            elif isinstance(effect, LookupOpenTask):
                try:
                    task = await _ask("latest_open_task", self.unique_id,
                                      self.deps.latest_open_task(effect.merchant_id))
                except LookupError as exc:
                    return LookupFailed(str(exc))
                return TaskLookedUp(task)
            elif isinstance(effect, Finish):
                return None
        return None

    def _file(self, prompt: str) -> str:
        return prompt_file(self.definition.prompt_base, prompt, self.lang)

    async def _play(self, prompt: str) -> None:
        try:
            await self.session.stream_file(self._file(prompt), "")
        except AgiCommandError as exc:
            # A missing sound file must not cost the caller the call: skip it, loudly.
            logger.warning("call %s: prompt %s not played: %s", self.unique_id,
                           self._file(prompt), exc)

    async def _say(self, call: Awaitable[None]) -> None:
        try:
            await call
        except AgiCommandError as exc:
            logger.warning("call %s: SAY failed: %s", self.unique_id, exc)

    async def _collect(self, effect: CollectDigits) -> Digits:
        try:
            got = await self.session.get_data(self._file(effect.prompt), effect.timeout_ms,
                                              effect.max_digits)
        except AgiCommandError as exc:
            # Counts as a timeout: after max_tries the menu hands the caller to an agent.
            logger.warning("call %s: GET DATA %s failed: %s", self.unique_id,
                           self._file(effect.prompt), exc)
            return Digits("", timed_out=True)
        return Digits(got.digits, got.timed_out)

    async def _listen(self, effect: Listen) -> Event:
        """The prompt (a key ends it), then the caller's answer: streamed through the EAGI
        relay and decided as it is spoken, or recorded with ``RECORD FILE`` until
        ``silence_s`` of silence (a key ends it too) and decided then. A failed prompt,
        relay or recording is silence: the menu falls back to the keys."""
        assert self.speech is not None, "Listen is only emitted for speech languages"
        try:
            key = await self.session.stream_file(self._file(effect.prompt), MENU_KEYS)
        except AgiCommandError as exc:
            logger.warning("call %s: prompt %s not played: %s", self.unique_id,
                           self._file(effect.prompt), exc)
            key = None
        if key:
            return Digits(key)
        relay = self.speech.eagi_listen(self.unique_id, self.lang, effect.intents)
        if relay is not None:
            answer = await self._listen_eagi(relay)
        else:
            answer = await self._listen_record_file(effect)
            if answer.why == "key":  # pressed while recording: keys always work
                return Digits(answer.text)
        logger.info("call %s: heard %r (confidence %.2f) -> %s", self.unique_id, answer.text,
                    answer.confidence, answer.intent or answer.why)
        return Heard(answer.intent, answer.why)

    async def _listen_eagi(self, relay: EagiListen) -> SpokenAnswer:
        assert self.speech is not None
        try:
            await self.session.exec_app("EAGI", relay.args)
            # The relay exits once the decision is sent; it is normally there already.
            async with asyncio.timeout(EAGI_DECISION_TIMEOUT_S):
                return await relay.decision
        except (AgiCommandError, TimeoutError) as exc:
            logger.warning("call %s: EAGI listen failed: %s", self.unique_id, exc)
            return SpokenAnswer(None, "silence")
        finally:
            self.speech.end_listen(relay.listen_id)

    async def _listen_record_file(self, effect: Listen) -> SpokenAnswer:
        assert self.speech is not None
        target = self.speech.record_target(self.unique_id)
        try:
            try:
                reply = await self.session.record_file(
                    target, "wav", MENU_KEYS, self.speech.listen_ms, beep=False,
                    silence_s=self.speech.silence_s)
            except AgiCommandError as exc:
                logger.warning("call %s: RECORD FILE failed: %s", self.unique_id, exc)
                return SpokenAnswer(None, "silence")
            if reply.data == "dtmf" and reply.result and reply.result.isdigit():
                return SpokenAnswer(None, "key", chr(int(reply.result)))
            return await self.speech.recognise(target, self.lang, effect.intents)
        finally:
            self.speech.discard(target)

    async def _lookup_caller(self, phone: str) -> Event:
        try:
            merchants = await _ask("merchants_by_phone", self.unique_id,
                                   self.deps.merchants_by_phone(phone))
        except LookupError as exc:
            return LookupFailed(str(exc))
        try:
            recent = await _ask("called_recently", self.unique_id,
                                self.deps.called_recently(phone, self.clock()))
        except LookupError:
            recent = False  # only costs the caller a priority bonus
        return CallerLookedUp(tuple(merchants), bool(recent))

    async def _set_after_hangup(self, effects: tuple[Effect, ...]) -> None:
        for effect in effects:
            if not isinstance(effect, SetVariables):
                continue
            try:
                await self.session.set_variables(effect.variables)
            except IvrError as exc:
                # The socket may be gone as well (EOF): the recorded result still has the path.
                logger.info("call %s: variables not set after hang-up: %s", self.unique_id, exc)

    async def _record(self, result: IvrResult) -> None:
        try:
            async with asyncio.timeout(RECORD_TIMEOUT_S):
                await self.deps.record_ivr_result(result)
        # Recording is bookkeeping: a broken store must not stop the hand-off to the queue.
        except Exception:
            logger.exception("call %s: IVR result not recorded (path %s, outcome %s)",
                             self.unique_id, result.path, result.outcome.value)


async def run_hotline(session: CallSession, deps: IvrDirectory, *,
                      menu: LoadedMenu | None = None, clock: Clock = utc_now,
                      speech: SpeechInput | None = None) -> IvrResult:
    """Run the hotline menu on one call and return what happened.

    Awaits the session and the directory; sets the ``CC_*`` channel variables (see
    :data:`ivr.menu.HANDOFF_VARIABLES`) and records the result with
    ``deps.record_ivr_result`` for every call, hang-ups included. ``menu`` defaults to the
    built-in definition; ``speech`` (None: keys only) lets callers say their choice at nodes
    with ``speech`` options. Raises only what the AGI session raises besides ``AgiHangup``
    (connection lost, timeout), after recording the call as ``failed``.
    """
    return await _HotlineCall(session, deps, menu or _builtin_menu(), clock, speech).run()


async def run_survey(session: CallSession, deps: IvrDirectory, *,
                     menu: LoadedMenu | None = None) -> int | None:
    """The post-call satisfaction survey: ask for 1–5, record it, thank the caller.

    Runs after ``Queue(…,c,…)`` returned because the agent hung up. The language is the
    caller's ``CC_LANG`` from the hotline route. Returns the score, or None when the caller
    hung up, did not answer or kept pressing other keys (``max_tries`` times).
    """
    definition = (menu or _builtin_menu()).definition
    survey = definition.survey
    unique_id = session.request.unique_id
    try:
        lang = await session.get_variable("CC_LANG") or ""
        linked_id = await session.get_variable("CHANNEL(linkedid)") or None
    except AgiCommandError:
        lang, linked_id = "", None
    if lang not in LANGS:
        lang = definition.default_lang

    def file(prompt: str) -> str:
        return prompt_file(definition.prompt_base, prompt, lang)

    try:
        for attempt in range(survey.max_tries):
            got = await session.get_data(file(survey.prompt), survey.timeout_ms, 1)
            score = parse_score(got.digits)
            if score is not None:
                try:
                    async with asyncio.timeout(RECORD_TIMEOUT_S):
                        await deps.record_satisfaction(unique_id, linked_id, score)
                # Bookkeeping only; the caller still hears the thanks.
                except Exception:
                    logger.exception("call %s: satisfaction %d not recorded", unique_id, score)
                logger.info("call %s: satisfaction %d", unique_id, score)
                await session.stream_file(file(survey.thanks), "")
                return score
            if attempt + 1 < survey.max_tries:
                await session.stream_file(file(survey.invalid_prompt), "")
    except AgiHangup:
        logger.info("call %s: hung up during the survey", unique_id)
    except AgiCommandError as exc:
        logger.warning("call %s: survey prompt failed: %s", unique_id, exc)
    return None


def _hotline_handler(deps: IvrDirectory, registry: MenuRegistry, clock: Clock,
                     speech: SpeechInput | None, callbacks: CallbackRequests | None) -> Handler:
    del callbacks
    async def hotline(session: CallSession) -> None:
        # Each call takes the definition in force when it starts; a reload affects new calls.
        await run_hotline(session, deps, menu=registry.current, clock=clock, speech=speech)

    return hotline


def _survey_handler(deps: IvrDirectory, registry: MenuRegistry, clock: Clock,
                    speech: SpeechInput | None, callbacks: CallbackRequests | None) -> Handler:
    del speech, callbacks  # the survey is keys only
    async def survey(session: CallSession) -> None:
        await run_survey(session, deps, menu=registry.current)

    return survey


def _callback_handler(deps: IvrDirectory, registry: MenuRegistry, clock: Clock,
                      speech: SpeechInput | None, callbacks: CallbackRequests | None) -> Handler:
    del deps, speech  # keys only; the request goes to the call-back port
    async def callback(session: CallSession) -> None:
        await run_callback(session, callbacks, menu=registry.current, clock=clock)

    return callback


# The one table of AGI routes: route name (the path of agi://host/<route>) → handler factory.
ROUTES: Mapping[str, HandlerFactory] = MappingProxyType({
    HOTLINE_ROUTE: _hotline_handler,
    SURVEY_ROUTE: _survey_handler,
    CALLBACK_ROUTE: _callback_handler,
})


def make_routes(deps: IvrDirectory, registry: MenuRegistry, clock: Clock = utc_now,
                speech: SpeechInput | None = None, callbacks: CallbackRequests | None = None
                ) -> dict[str, Handler]:
    """The handlers for the FastAGI server, keyed by route name (``hotline``, ``survey``,
    ``callback``; without ``callbacks`` the call-back offer sends the caller back to the
    queue)."""
    return {name: factory(deps, registry, clock, speech, callbacks)
            for name, factory in ROUTES.items()}
