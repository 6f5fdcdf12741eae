"""The call-back offer on FastAGI: route ``callback``, after a key pressed in the queue.

The dialplan runs it from ``[cc-queue-exit]`` (``dialplans/extensions.conf``): queues.conf's
``context = cc-queue-exit`` makes key 1 take a waiting caller out of ``Queue()``, which has set
``QUEUEWAIT`` (seconds waited in this queue) and ``QUEUEPOSITION`` (the place left)::

    exten => 1,1,…
     same => n,AGI(agi://${CC_FASTAGI}/callback)   ; run_callback: confirm, store, say booked
     same => n,GotoIf($["${CC_CALLBACK_OUTCOME}" = "requested"]?booked)   ; else back in line

Rules (the machine is small enough to read straight through):

1. Everything read from the channel is caller-influenced: the queue must be a hotline queue,
   the merchant number 15 digits, the priority, wait and position small integers, the linked
   id Asterisk's ``<seconds>.<n>`` form; the number to call back is normalised digits
   (:func:`callcenter.domain.normalise_phone`) before it reaches the store, AGI or AMI.
2. A caller the IVR did not identify as a merchant gets no call-back (there is nobody to pop
   on the agent's desk): ``callback_unavailable``, outcome ``no_merchant``, back in the queue.
3. A valid caller ID is offered first (1 confirm, 2 key another, ``*`` or silence: back to the
   queue); otherwise, or after 2, the caller keys the number ending in ``#``; two invalid
   numbers send the caller back to the queue (outcome ``invalid``).
4. The request carries the caller's place: ``arrived_at = now - QUEUEWAIT``, the IVR's
   priority, ``QUEUEPOSITION``; the port stores it exactly once per call (its linked id).
5. Booked (new, or an open request of the same caller kept): ``callback_booked``, outcome
   ``requested``, ``CC_CALLBACK_REF`` = the linked id; the dialplan hangs up. A store that
   fails: ``callback_unavailable``, outcome ``failed``, back in the queue.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from callcenter.domain import HOTLINE_QUEUES, mask_phone, normalise_phone
from callcenter.errors import ValidationError
from ivr.errors import AgiCommandError, AgiHangup
from ivr.menu_config import LANGS, LoadedMenu
from ivr.ports import CallbackBooking, CallbackRequests, CallSession, QueueCallbackRequest
from ivr.prompts import prompt_file

__all__ = ["CALLBACK_PROMPTS", "CallbackOutcome", "Place", "read_place", "run_callback",
           "valid_number"]

logger = logging.getLogger(__name__)

CALLBACK_PROMPTS: Final = frozenset({
    "callback_offer", "callback_confirm", "callback_confirm_keys", "callback_enter_number",
    "callback_invalid", "callback_booked", "callback_unavailable"})
"""Prompts of the call-back (``callback_offer`` is played by the queue itself)."""
CONFIRM_TIMEOUT_MS: Final = 6000
NUMBER_TIMEOUT_MS: Final = 10000
NUMBER_MAX_DIGITS: Final = 13  # a landline with area code is 10-12 digits
MAX_NUMBER_TRIES: Final = 2
STORE_TIMEOUT_S: Final = 5.0
MAX_WAIT_S: Final = 86_400
_LINKED_ID = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,10})?\Z")
_MERCHANT = re.compile(r"^[0-9]{15}\Z")


class CallbackOutcome(StrEnum):
    """``CC_CALLBACK_OUTCOME``: only ``requested`` ends the call."""

    REQUESTED = "requested"
    CANCELLED = "cancelled"
    NO_MERCHANT = "no_merchant"
    INVALID = "invalid"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Place:
    """The caller's place as read from the channel, checked (rule 1)."""

    call_id: str
    merchant_number: str  # "" when not identified
    queue: str
    priority: int
    wait_s: int
    position: int | None
    lang: str


def _small_int(raw: str | None, limit: int) -> int | None:
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        return None
    value = int(text)
    return value if value <= limit else None


def read_place(values: dict[str, str | None], unique_id: str, default_lang: str
               ) -> Place | None:
    """Rule 1: the place from the channel variables (``CC_QUEUE``, ``CC_MERCHANT_ID``,
    ``CC_PRIORITY``, ``CC_LANG``, ``QUEUEWAIT``, ``QUEUEPOSITION``,
    ``CHANNEL(linkedid)``), or None when the queue or the call's id is unusable."""
    queue = (values.get("CC_QUEUE") or "").strip()
    if queue not in HOTLINE_QUEUES:
        return None
    call_id = (values.get("CHANNEL(linkedid)") or unique_id).strip()
    if not _LINKED_ID.match(call_id):
        return None
    merchant = (values.get("CC_MERCHANT_ID") or "").strip()
    lang = (values.get("CC_LANG") or "").strip()
    return Place(call_id=call_id,
                 merchant_number=merchant if _MERCHANT.match(merchant) else "",
                 queue=queue, priority=_small_int(values.get("CC_PRIORITY"), 99) or 0,
                 wait_s=_small_int(values.get("QUEUEWAIT"), MAX_WAIT_S) or 0,
                 position=_small_int(values.get("QUEUEPOSITION"), 10_000),
                 lang=lang if lang in LANGS else default_lang)


def valid_number(raw: str) -> str | None:
    """Rule 1: a number we may call back (mobile or landline with area code; no service
    numbers), as digits, or None."""
    try:
        digits = normalise_phone(raw)
    except ValidationError:
        return None
    return None if digits.startswith(("400", "800")) else digits


_READ = ("CC_QUEUE", "CC_MERCHANT_ID", "CC_PRIORITY", "CC_LANG", "QUEUEWAIT", "QUEUEPOSITION",
         "CHANNEL(linkedid)")


async def run_callback(session: CallSession, requests: CallbackRequests | None, *,
                       menu: LoadedMenu, clock: Callable[[], datetime]) -> CallbackOutcome:
    """Run the call-back offer on one call (rules in the module docstring); sets
    ``CC_CALLBACK_OUTCOME`` (and ``CC_CALLBACK_REF`` when booked) and returns the outcome.
    A hang-up ends it as ``cancelled``; raises only what the session raises otherwise."""
    definition = menu.definition
    unique_id = session.request.unique_id
    outcome = CallbackOutcome.FAILED
    ref = ""
    lang = definition.default_lang
    try:
        values = {name: await session.get_variable(name) for name in _READ}
        place = read_place(values, unique_id, definition.default_lang)
        if place is not None:
            lang = place.lang

        def file(prompt: str) -> str:
            return prompt_file(definition.prompt_base, prompt, lang)

        if place is None or requests is None:
            logger.warning("call %s: call-back not possible (place %s, store %s)", unique_id,
                           place, requests is not None)
            await _play(session, file("callback_unavailable"))
        elif not place.merchant_number:
            outcome = CallbackOutcome.NO_MERCHANT
            await _play(session, file("callback_unavailable"))
        else:
            number, outcome = await _number(session, file)
            if number is not None:
                now = clock()
                request = QueueCallbackRequest(
                    call_id=place.call_id, unique_id=unique_id,
                    merchant_number=place.merchant_number, number=number, queue=place.queue,
                    arrived_at=now - timedelta(seconds=place.wait_s), priority=place.priority,
                    position=place.position, requested_at=now)
                outcome = await _store(requests, request, unique_id)
                if outcome is CallbackOutcome.REQUESTED:
                    ref = place.call_id
                    logger.info("call %s: call-back to %s booked in %s (waited %d s, place %s)",
                                unique_id, mask_phone(number), place.queue, place.wait_s,
                                place.position)
                await _play(session, file("callback_booked" if ref else
                                          "callback_unavailable"))
    except AgiHangup:
        if not ref:
            outcome = CallbackOutcome.CANCELLED
    except AgiCommandError as exc:
        logger.warning("call %s: call-back prompt failed: %s", unique_id, exc)
    variables = {"CC_CALLBACK_OUTCOME": outcome.value}
    if ref:
        variables["CC_CALLBACK_REF"] = ref
    await session.set_variables(variables)
    return outcome


async def _number(session: CallSession, file: Callable[[str], str]
                  ) -> tuple[str | None, CallbackOutcome]:
    """Rule 3: the confirmed or keyed number, or None and why not."""
    caller = valid_number(session.request.caller_id)
    if caller is not None:
        await _play(session, file("callback_confirm"))
        try:
            await session.say_digits(caller)
        except AgiCommandError as exc:  # no digit sounds: the keys prompt still asks
            logger.warning("call %s: SAY DIGITS failed: %s", session.request.unique_id, exc)
        got = await session.get_data(file("callback_confirm_keys"), CONFIRM_TIMEOUT_MS, 1)
        if got.digits == "1":
            return caller, CallbackOutcome.REQUESTED
        if got.digits != "2":
            return None, CallbackOutcome.CANCELLED
    for attempt in range(MAX_NUMBER_TRIES):
        got = await session.get_data(file("callback_enter_number"), NUMBER_TIMEOUT_MS,
                                     NUMBER_MAX_DIGITS)
        if got.digits.startswith("*") or (got.timed_out and not got.digits):
            return None, CallbackOutcome.CANCELLED
        number = valid_number(got.digits)
        if number is not None:
            return number, CallbackOutcome.REQUESTED
        if attempt + 1 < MAX_NUMBER_TRIES:
            await _play(session, file("callback_invalid"))
    return None, CallbackOutcome.INVALID


async def _play(session: CallSession, prompt: str) -> None:
    """A played prompt whose file is missing is skipped (as in the hotline menu)."""
    try:
        await session.stream_file(prompt)
    except AgiCommandError as exc:
        logger.warning("call %s: prompt skipped: %s", session.request.unique_id, exc)


async def _store(requests: CallbackRequests, request: QueueCallbackRequest, unique_id: str
                 ) -> CallbackOutcome:
    """Rules 4 and 5: hand the request to the port, within ``STORE_TIMEOUT_S``."""
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            booking = await requests.request_callback(request)
    except Exception:  # the caller goes back to the queue; nothing was promised
        logger.exception("call %s: call-back request not stored", unique_id)
        return CallbackOutcome.FAILED
    if booking is CallbackBooking.NO_MERCHANT:
        return CallbackOutcome.NO_MERCHANT
    return CallbackOutcome.REQUESTED
