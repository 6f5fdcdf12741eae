"""Click to dial on the simulated PBX, production shape (PJSIP phone and trunk): the CTI's
Originate of the agent's phone into ``[cc-outbound]`` rings the phone first; the
OriginateResponse waits for the answer; then the merchant is dialled from the agent's leg and
rings before answering. The Local-pair rendering is checked byte for byte against the real
capture in ``test_conformance.py`` (``11-click-to-dial``)."""

from __future__ import annotations

from dataclasses import replace

from simulator.agents import AgentProfile
from simulator.pbx import AgentHangup
from simulator.virtual import VirtualClient, VirtualPbx
from tests.simulator.test_pbx import call, events, make_pbx

PHONE = "PJSIP/8001"
MERCHANT = "13800138000"
SLOW = AgentProfile(answer_after=4.0, handle_time=20.0, handle_spread=0, min_handle=0)


def dial(cti: VirtualClient, number: str = MERCHANT, timeout_ms: int = 30000) -> None:
    cti.send_action("Originate", "d1", Channel=PHONE, Context="cc-outbound", Exten=number,
                    Priority="1", CallerID=f'"鑫源便利店" <{number}>', Timeout=str(timeout_ms),
                    Variable="CC_AGENT=8001", Async="true")


def pbx_with(agent: AgentProfile | None, **config: object) -> tuple[VirtualPbx, VirtualClient]:
    pbx, _ivr, cti = make_pbx(agents={PHONE: agent} if agent else None,
                              default=None if agent is None else agent)
    pbx.engine.state.config = replace(pbx.engine.state.config, **config)  # type: ignore[arg-type]
    return pbx, cti


def test_the_phone_rings_before_the_originate_answers_then_the_merchant_rings() -> None:
    pbx, cti = pbx_with(SLOW, outbound_answer_s=5.0)
    dial(cti)
    pbx.run_until(3.9)  # the agent has not picked up yet
    assert events(cti, "OriginateResponse") == []
    [ringing] = events(cti, "Newstate")
    assert ringing["ChannelStateDesc"] == "Ringing" and ringing["Channel"].startswith("PJSIP/8001-")
    pbx.run_until(4.5)  # answered at 4 s: the response, then the trunk rings
    [answered] = events(cti, "OriginateResponse")
    assert (answered["Response"], answered["Reason"], answered["ActionID"]) == (
        "Success", "4", "d1")
    leg = answered["Uniqueid"]
    begin = events(cti, "DialBegin")[-1]
    assert (begin["Uniqueid"], begin["Linkedid"], begin["DialString"]) == (
        leg, leg, f"{MERCHANT}@trunk")
    assert begin["DestChannel"].startswith("PJSIP/trunk-")
    assert events(cti, "DialState")[-1]["DialStatus"] == "RINGING"
    # only the originate's dial of the phone has ended (no calling channel)
    assert ["Uniqueid" in m for m in events(cti, "DialEnd")] == [False]
    pbx.run_until(10)  # the merchant answers 5 s after the dial
    end = events(cti, "DialEnd")[-1]
    assert (end["Uniqueid"], end["DialStatus"]) == (leg, "ANSWER")
    assert [m["Channel"][:12] for m in events(cti, "BridgeEnter")] == [
        "PJSIP/trunk-", "PJSIP/8001-0"]
    pbx.run_until(40)  # the agent hangs up after its 20 s handle time
    hangups = events(cti, "Hangup")
    assert [h["Channel"][:12] for h in hangups] == ["PJSIP/8001-0", "PJSIP/trunk-"]
    assert all(h["Linkedid"] == leg for h in hangups)


def test_a_phone_nobody_answers_fails_the_originate_after_its_timeout() -> None:
    pbx, cti = pbx_with(AgentProfile(answers=False))
    dial(cti, timeout_ms=8000)
    pbx.run_until(7.9)
    assert events(cti, "OriginateResponse") == []
    pbx.run_until(9)
    [failed] = events(cti, "OriginateResponse")
    assert (failed["Response"], failed["Reason"], failed["Channel"]) == ("Failure", "3", PHONE)
    assert events(cti, "DialEnd")[-1]["DialStatus"] == "NOANSWER"
    assert [h["Channel"][:11] for h in events(cti, "Hangup")] == ["PJSIP/8001-"]
    assert pbx.engine.state.outbound == {} and pbx.engine.state.devices[PHONE].call_ref is None


def test_a_busy_merchant_ends_the_call_with_dialend_busy() -> None:
    pbx, cti = pbx_with(SLOW, outbound_answer_s=2.0, busy_numbers=frozenset({MERCHANT}))
    dial(cti)
    pbx.run_until(30)
    assert events(cti, "OriginateResponse")[0]["Response"] == "Success"
    ends = [m["DialStatus"] for m in events(cti, "DialEnd")]
    assert ends == ["ANSWER", "BUSY"]  # the phone answered, the merchant's line was busy
    assert [h["Channel"][:12] for h in events(cti, "Hangup")] == ["PJSIP/trunk-",
                                                                  "PJSIP/8001-0"]


def test_the_agent_hanging_up_while_the_merchant_rings_cancels_the_dial() -> None:
    pbx, cti = pbx_with(AgentProfile(answer_after=1.0, handle_time=2.0, handle_spread=0,
                                     min_handle=0), outbound_answer_s=10.0)
    dial(cti)
    pbx.run_until(20)
    assert [m["DialStatus"] for m in events(cti, "DialEnd")] == ["ANSWER", "CANCEL"]
    assert events(cti, "BridgeEnter") == []


def test_a_phone_busy_with_click_to_dial_is_not_rung_by_a_queue() -> None:
    pbx, cti = pbx_with(SLOW, outbound_answer_s=1.0)
    cti.send_action("QueueAdd", "", Queue="aftersales", Interface=PHONE, MemberName="8001")
    dial(cti)
    pbx.run_until(6)
    call(pbx, "c1", caller="13900139000")
    pbx.run_until(10)
    assert events(cti, "AgentCalled") == []
    pbx.feed(AgentHangup(PHONE))
    pbx.run_until(11)
    assert pbx.engine.state.devices[PHONE].call_ref is None
