"""The call-back offer (route ``callback``, ivr/callback.py) over the scripted AGI session and
over a socket that speaks the fixtures' AGI wire format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from ivr.agi_server import FastAgiServer
from ivr.callback import CallbackOutcome, read_place, run_callback, valid_number
from ivr.menu_config import MenuRegistry
from ivr.ports import CallbackBooking, InMemoryDirectory, QueueCallbackRequest
from ivr.service import make_routes
from tests.ivr.test_service import (
    BASE,
    DAYTIME,
    FIXTURE_HEADER,
    HANGUP,
    FakeSession,
    clock_at,
    fake_asterisk,
    scripted,
    session,
)

MENU = MenuRegistry().current
# Fixture 01's agi_* block as Asterisk sends it, for AGI(agi://…/callback) instead of /hotline
CALLBACK_HEADER = FIXTURE_HEADER.replace(b"agi_network_script: hotline\n",
                                         b"agi_network_script: callback\n").replace(
    b"/hotline\n", b"/callback\n")
MERCHANT = "123456789012345"


@dataclass
class Requests:
    """The call-back port in memory: one request per call id, like the store."""

    stored: dict[str, QueueCallbackRequest] = field(default_factory=dict)
    fail: bool = False
    unknown: bool = False

    async def request_callback(self, request: QueueCallbackRequest) -> CallbackBooking:
        if self.fail:
            raise OSError("database down")
        if self.unknown:
            return CallbackBooking.NO_MERCHANT
        if request.call_id in self.stored:
            return CallbackBooking.KEPT
        self.stored[request.call_id] = request
        return CallbackBooking.BOOKED


def in_queue(fake: FakeSession, **overrides: str) -> FakeSession:
    """The channel as [cc-queue-exit] finds it: what the IVR and Queue() set."""
    fake.variables.update({"CC_QUEUE": "aftersales", "CC_MERCHANT_ID": MERCHANT,
                           "CC_PRIORITY": "5", "CC_LANG": "zh", "QUEUEWAIT": "95",
                           "QUEUEPOSITION": "3"})
    fake.variables.update(overrides)
    return fake


async def test_confirmed_caller_id_books_the_call_back_in_the_callers_place() -> None:
    requests = Requests()
    fake = in_queue(session("1"))
    outcome = await run_callback(fake, requests, menu=MENU, clock=clock_at(DAYTIME))
    assert outcome is CallbackOutcome.REQUESTED
    [request] = requests.stored.values()
    assert request.call_id == "1795330137.0"  # the Linkedid: one request per call
    assert (request.number, request.queue, request.priority, request.position) == (
        "13800138000", "aftersales", 5, 3)
    assert request.arrived_at == DAYTIME - timedelta(seconds=95)  # joined, not key pressed
    assert request.requested_at == DAYTIME
    assert "SAY DIGITS 13800138000" in fake.commands
    assert fake.commands[-3] == f"STREAM FILE {BASE}/zh_CN/callback_booked"
    assert fake.variables["CC_CALLBACK_OUTCOME"] == "requested"
    assert fake.variables["CC_CALLBACK_REF"] == "1795330137.0"


async def test_the_caller_may_key_another_number_and_a_bad_one_is_asked_again() -> None:
    requests = Requests()
    fake = in_queue(session("2", "12345", caller="4008000000"), CC_LANG="en")
    # caller ID 4008000000 is a service number: not offered, the caller keys one at once
    outcome = await run_callback(fake, requests, menu=MENU, clock=clock_at(DAYTIME))
    assert outcome is CallbackOutcome.INVALID  # "2" and "12345" are both not numbers
    assert requests.stored == {}
    assert f"STREAM FILE {BASE}/en/callback_invalid" in fake.commands
    assert fake.variables["CC_CALLBACK_OUTCOME"] == "invalid"
    assert "CC_CALLBACK_REF" not in fake.variables

    fake = in_queue(session("2", "02155551234"))
    assert await run_callback(fake, requests, menu=MENU, clock=clock_at(DAYTIME)) \
        is CallbackOutcome.REQUESTED
    assert [r.number for r in requests.stored.values()] == ["02155551234"]


async def test_star_or_silence_sends_the_caller_back_to_the_queue() -> None:
    for script in (("*",), ()):
        requests = Requests()
        fake = in_queue(session(*script))
        assert await run_callback(fake, requests, menu=MENU, clock=clock_at(DAYTIME)) \
            is CallbackOutcome.CANCELLED
        assert requests.stored == {}
        assert fake.variables["CC_CALLBACK_OUTCOME"] == "cancelled"


async def test_an_unidentified_caller_gets_no_call_back() -> None:
    requests = Requests()
    fake = in_queue(session("1"), CC_MERCHANT_ID="")
    assert await run_callback(fake, requests, menu=MENU, clock=clock_at(DAYTIME)) \
        is CallbackOutcome.NO_MERCHANT
    assert requests.stored == {}
    assert f"STREAM FILE {BASE}/zh_CN/callback_unavailable" in fake.commands


async def test_a_broken_store_promises_nothing_and_the_caller_waits_again() -> None:
    fake = in_queue(session("1"))
    outcome = await run_callback(fake, Requests(fail=True), menu=MENU, clock=clock_at(DAYTIME))
    assert outcome is CallbackOutcome.FAILED
    assert f"STREAM FILE {BASE}/zh_CN/callback_booked" not in fake.commands
    assert fake.variables["CC_CALLBACK_OUTCOME"] == "failed"


async def test_asking_twice_from_the_same_call_keeps_one_request() -> None:
    requests = Requests()
    for _ in range(2):
        fake = in_queue(session("1"))
        assert await run_callback(fake, requests, menu=MENU, clock=clock_at(DAYTIME)) \
            is CallbackOutcome.REQUESTED
    assert len(requests.stored) == 1


async def test_hanging_up_during_the_offer_books_nothing() -> None:
    requests = Requests()
    fake = in_queue(session(HANGUP))
    assert await run_callback(fake, requests, menu=MENU, clock=clock_at(DAYTIME)) \
        is CallbackOutcome.CANCELLED
    assert requests.stored == {}
    assert fake.variables["CC_CALLBACK_OUTCOME"] == "cancelled"  # set on the dead channel


@pytest.mark.parametrize(("name", "value"), [
    ("CC_QUEUE", "aftersales,x"), ("CC_QUEUE", "nosuchqueue"), ("CHANNEL(linkedid)", "1;2"),
    ("CHANNEL(linkedid)", "abc")])
def test_a_tampered_channel_gives_no_place(name: str, value: str) -> None:
    values: dict[str, str | None] = {"CC_QUEUE": "aftersales", "CHANNEL(linkedid)": "17.1"}
    values[name] = value
    assert read_place(values, "17.2", "zh") is None


def test_caller_controlled_numbers_are_cleaned_to_digits_or_refused() -> None:
    place = read_place({"CC_QUEUE": "night", "CHANNEL(linkedid)": "17.1",
                        "CC_MERCHANT_ID": "12345678901234X", "CC_PRIORITY": "9999999",
                        "QUEUEWAIT": "-5", "QUEUEPOSITION": "", "CC_LANG": "fr"}, "17.2", "zh")
    assert place is not None
    assert (place.merchant_number, place.priority, place.wait_s, place.position, place.lang) == (
        "", 0, 0, None, "zh")
    assert valid_number("+86 138-0013-8000") == "13800138000"
    assert valid_number("0755-88886666") == "075588886666"
    assert valid_number("1380013800\n0") == "13800138000"  # digits out, whatever came in
    for bad in ("4008000000", "13800138000,1", "138001380001", "", "*"):
        assert valid_number(bad) is None


async def test_callback_route_through_the_fastagi_server_in_the_wire_format() -> None:
    requests = Requests()
    values = {"CC_QUEUE": "presales", "CC_MERCHANT_ID": MERCHANT, "CC_PRIORITY": "15",
              "CC_LANG": "zh", "QUEUEWAIT": "42", "QUEUEPOSITION": "1"}
    answer = scripted({"callback_confirm_keys": "1"})

    def reply(command: str) -> bytes:
        if command.startswith("GET VARIABLE ") and command.split()[2] in values:
            return f"200 result=1 ({values[command.split()[2]]})\n".encode()
        if command.startswith("SAY DIGITS"):
            return b"200 result=0\n"
        return answer(command)

    server = FastAgiServer(make_routes(InMemoryDirectory(), MenuRegistry(), clock_at(DAYTIME),
                                       callbacks=requests))
    port = await server.start("127.0.0.1", 0)
    try:
        commands = await fake_asterisk(port, reply, header=CALLBACK_HEADER)
    finally:
        await server.stop()
    # the fixture's header: agi_callerid 13800138000, the merchant's phone
    [request] = requests.stored.values()
    assert (request.queue, request.priority, request.position) == ("presales", 15, 1)
    assert request.arrived_at == DAYTIME - timedelta(seconds=42)
    assert f"GET DATA {BASE}/zh_CN/callback_confirm_keys 6000 1" in commands
    assert commands[-1] == ('EXEC MSet "CC_CALLBACK_OUTCOME=requested,'
                            'CC_CALLBACK_REF=1795330137.0"')
