"""The simulated PBX's queue exit key: a waiting caller presses 1 to be called back.

Production shape (PJSIP channels, the product dialplan) in virtual time; the ``callback``
route is a ``ManualIvr`` the test completes with what the product's route sets
(``CC_CALLBACK_OUTCOME``, ``CC_CALLBACK_REF``), or ``ScriptedIvr``'s stand-in. The simulated
AMI stream is then read by the product's own CTI tracker. Event shapes against Asterisk:
``test_conformance.py::test_key_1_in_the_queue_matches_asterisks_events_as_captured``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

from callcenter.settings import load_settings
from cti.ami_protocol import AmiFramer, AmiMessage
from cti.call_state import CallEnded, Outcome
from cti.dispatcher import Dispatcher
from ivr.agi_server import FastAgiServer
from ivr.menu_config import MenuRegistry
from ivr.ports import InMemoryDirectory, MerchantRef
from ivr.service import make_routes
from simulator import AmiAccount, Simulator, SimulatorOptions
from simulator.callers import CallerScript
from simulator.config import PRODUCT, PbxConfig, QueueConfig
from simulator.pbx import CALLBACK_ROUTE, CallArrives, IvrDone, VariableSet
from simulator.virtual import VirtualClient, VirtualPbx
from simulator.wiring import callback_after
from tests.ivr.test_callback import Requests
from tests.ivr.test_service import DAYTIME, clock_at
from tests.simulator.test_pbx import START, events, ivr_routes, make_pbx


def tracked(cti: VirtualClient) -> list[CallEnded]:
    """The calls as the product's CTI tracker saw them in the simulated stream."""
    dispatcher = Dispatcher()
    framer = AmiFramer()
    ended: list[CallEnded] = []
    for at, chunk in cti.chunks:
        for frame in framer.feed(chunk):
            if isinstance(frame, AmiMessage):
                ended += [e for e in dispatcher.handle_message(frame, at)
                          if isinstance(e, CallEnded)]
    return ended


def waiting_caller(pbx: VirtualPbx, ref: str, after: float) -> None:
    pbx.feed(CallArrives(ref, "13800138000", "Merchant", callback_after=after))
    ivr_routes(pbx, ref, "aftersales", priority=2)


def test_a_caller_who_presses_1_leaves_the_queue_gets_the_callback_route_and_hangs_up() -> None:
    pbx, ivr, cti = make_pbx()  # nobody logged in: the caller waits
    waiting_caller(pbx, "c1", after=25.0)
    pbx.run_until(30)
    [run] = [r for r in ivr.runs if r.request.route == CALLBACK_ROUTE]
    assert (run.request.context, run.request.exten) == ("cc-queue-exit", "1")
    assert {k: run.request.variables.get(k) for k in ("QUEUEWAIT", "QUEUEPOSITION",
                                                      "CC_QUEUE", "CC_PRIORITY")} == {
        "QUEUEWAIT": "25", "QUEUEPOSITION": "1", "CC_QUEUE": "aftersales", "CC_PRIORITY": "2"}
    [leave] = events(cti, "QueueCallerLeave")
    assert (leave["Context"], leave["Exten"], leave["Priority"]) == ("cc-queue-exit", "1", "0")
    linked = leave["Linkedid"]
    pbx.feed(VariableSet("c1", "CC_CALLBACK_OUTCOME", "requested"))
    pbx.feed(VariableSet("c1", "CC_CALLBACK_REF", linked))
    pbx.feed(IvrDone("c1", CALLBACK_ROUTE))
    pbx.run_until(40)
    [request] = [m for m in events(cti, "UserEvent") if m["UserEvent"] == "CcCallbackRequest"]
    assert (request["CcQueue"], request["CcCallbackOutcome"], request["CcCallbackRef"],
            request["CcQueueWait"], request["CcQueuePosition"], request["Priority"]) == (
        "aftersales", "requested", linked, "25", "1", "4")
    assert events(cti, "QueueCallerAbandon") == []
    assert [r.outcome for r in pbx.records] == ["callback_requested"]
    [ended] = tracked(cti)
    assert ended.outcome is Outcome.CALLBACK_REQUESTED
    assert 24.5 < ended.wait_s < 25.5


def test_a_request_not_booked_puts_the_caller_back_in_the_queue_once() -> None:
    pbx, ivr, cti = make_pbx()
    pbx.feed(CallArrives("c1", "13800138000", "Merchant", patience=60.0, callback_after=10.0))
    ivr_routes(pbx, "c1", "aftersales")
    pbx.run_until(15)
    pbx.feed(VariableSet("c1", "CC_CALLBACK_OUTCOME", "cancelled"))
    pbx.feed(IvrDone("c1", CALLBACK_ROUTE))
    pbx.run_until(200)
    assert [m["Queue"] for m in events(cti, "QueueCallerJoin")] == ["aftersales", "aftersales"]
    [request] = [m for m in events(cti, "UserEvent") if m["UserEvent"] == "CcCallbackRequest"]
    assert (request["CcCallbackOutcome"], request["CcCallbackRef"]) == ("cancelled", "")
    # the key is pressed once per call: then the caller's patience runs out
    assert len([r for r in ivr.runs if r.request.route == CALLBACK_ROUTE]) == 1
    assert [r.outcome for r in pbx.records] == ["abandoned"]
    assert [e.outcome for e in tracked(cti)] == [Outcome.ABANDONED]


def test_a_caller_answered_before_the_key_never_presses_it() -> None:
    pbx, ivr, cti = make_pbx()
    cti.send_action("QueueAdd", "", Queue="aftersales", Interface="PJSIP/8001",
                    MemberName="Agent 8001")
    waiting_caller(pbx, "c1", after=30.0)
    pbx.run_until(200)
    assert len(events(cti, "AgentConnect")) == 1
    assert CALLBACK_ROUTE not in [r.request.route for r in ivr.runs]
    assert events(cti, "QueueCallerLeave")[0]["Context"] == "from-trunk"


def test_the_scripted_ivr_books_a_call_back_for_a_caller_who_confirms() -> None:
    config = PbxConfig(queues=(QueueConfig("aftersales"),), profile=PRODUCT, channels="pjsip",
                       boot_time=START)
    pbx = VirtualPbx(config, start=START)
    cti = pbx.connect()
    cti.send_action("Login", "l", Username="callcenter", Secret="changeme", Events="on")
    script = CallerScript(merchant_number="102290054110001", callback_after=12.0)
    pbx.arrive("c1", script)
    pbx.arrive("c2", replace(script, phone="13900139000", callback_key="*", patience=200.0))
    pbx.run_until(400)
    outcomes = {r.ref: r.outcome for r in pbx.records}
    assert outcomes == {"c1": "callback_requested", "c2": "abandoned"}
    requests = [m for m in events(cti, "UserEvent") if m["UserEvent"] == "CcCallbackRequest"]
    assert sorted(m["CcCallbackOutcome"] for m in requests) == ["cancelled", "requested"]


def test_the_demo_makes_a_share_of_its_callers_press_1() -> None:
    knobs = load_settings(None, {}).simulator
    assert 0 < knobs.callback_share < 0.5  # a small share by default
    rng = random.Random(7)
    draws = [callback_after(rng, knobs) for _ in range(2000)]
    pressing = [d for d in draws if d is not None]
    assert abs(len(pressing) / len(draws) - knobs.callback_share) < 0.03
    assert all(d > 0 for d in pressing)
    none = replace(knobs, callback_share=0.0)
    assert {callback_after(rng, none) for _ in range(100)} == {None}


async def test_the_real_time_simulator_runs_the_products_callback_route_and_books_once(
        tmp_path: Path) -> None:
    """The simulator against the product's FastAGI IVR (``ivr.service.make_routes``: the
    built-in menu and the ``callback`` route, an in-memory call-back port): the caller keys
    Chinese, after-sales, repair, waits, presses 1, confirms the caller ID with 1; the
    request is stored once with the caller's place and the call ends ``callback_requested``."""
    directory = InMemoryDirectory()
    directory.add_merchant(MerchantRef(1, "123456789012345", "Shop A"), ["13800138000"])
    requests = Requests()
    server = FastAgiServer(make_routes(directory, MenuRegistry(), clock_at(DAYTIME),
                                       callbacks=requests))
    port = await server.start("127.0.0.1", 0)
    simulator = Simulator(SimulatorOptions(
        pbx=PbxConfig(queues=(QueueConfig("aftersales"),), monitor_dir=str(tmp_path)),
        accounts=(AmiAccount("callcenter", "pw"),), time_scale=0.001, speech=False,
        demo_phones=False, agents=()), fastagi_address=lambda: ("127.0.0.1", port))
    await simulator.start()
    try:
        async with asyncio.timeout(30):
            [record] = await simulator.run_calls(1, [CallerScript(
                menu_key="2", intent_key="2", callback_after=0.5)])
    finally:
        await simulator.stop()
        await server.stop()
    assert record.outcome == "callback_requested"
    [stored] = requests.stored.values()
    assert (stored.call_id, stored.queue, stored.number, stored.merchant_number,
            stored.position) == (record.linked_id, "aftersales", "13800138000",
                                 "123456789012345", 1)
    assert record.variables["CC_CALLBACK_OUTCOME"] == "requested"
