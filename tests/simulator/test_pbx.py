"""The simulated PBX's behaviour in production shape: PJSIP channels, the product dialplan.

Driven in virtual time through ``VirtualPbx``; the IVR is a ``ManualIvr`` the test completes
itself, so queue behaviour does not depend on any menu.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.agents import AgentProfile
from simulator.ami_wire import BANNER
from simulator.config import PRODUCT, PbxConfig, QueueConfig
from simulator.pbx import (
    AgentHangup,
    CallArrives,
    CallerHangup,
    DigitPressed,
    IvrDone,
    VariableSet,
)
from simulator.virtual import ManualIvr, VirtualClient, VirtualPbx

START = 1795330000.0
QUICK = AgentProfile(answer_after=2.0, handle_time=60.0, handle_spread=0, min_handle=0)


def make_pbx(*queues: QueueConfig, agents: dict[str, AgentProfile] | None = None,
             default: AgentProfile | None = QUICK) -> tuple[VirtualPbx, ManualIvr, VirtualClient]:
    ivr = ManualIvr()
    config = PbxConfig(queues=queues or (QueueConfig("aftersales"), QueueConfig("presales")),
                       profile=PRODUCT, channels="pjsip", boot_time=START)
    pbx = VirtualPbx(config, start=START, ivr=ivr, agent_default=default, agent_profiles=agents)
    cti = pbx.connect()
    cti.send_action("Login", "l", Username="callcenter", Secret="changeme", Events="on")
    return pbx, ivr, cti


def login(cti: VirtualClient, queue: str, *interfaces: str) -> None:
    for interface in interfaces:
        cti.send_action("QueueAdd", "", Queue=queue, Interface=interface,
                        MemberName=f"Agent {interface[-4:]}")


def ivr_routes(pbx: VirtualPbx, ref: str, queue: str, priority: int = 0, **extra: str) -> None:
    variables = {"CC_MERCHANT_ID": "102290054110001", "CC_MERCHANT_VERIFIED": "1",
                 "CC_INTENT": "repair", "CC_IVR_PATH": "hello>lang:1>menu:2>intent:2",
                 "CC_QUEUE": queue, "CC_PRIORITY": str(priority), "CC_LANG": "zh",
                 "CC_IVR_OUTCOME": "queued", **extra}
    for name, value in variables.items():
        pbx.feed(VariableSet(ref, name, value))
    pbx.feed(IvrDone(ref))


def call(pbx: VirtualPbx, ref: str, queue: str = "aftersales", priority: int = 0,
         patience: float | None = None, caller: str = "13800138000") -> None:
    pbx.feed(CallArrives(ref, caller, "Merchant", patience=patience))
    ivr_routes(pbx, ref, queue, priority)


def messages(cti: VirtualClient) -> Iterator[dict[str, str]]:
    data = bytes(cti.received)
    assert data.startswith(BANNER)
    for block in data[len(BANNER):].split(b"\r\n\r\n"):
        if block:
            yield dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                       for line in block.decode().split("\r\n"))


def events(cti: VirtualClient, *names: str) -> list[dict[str, str]]:
    return [m for m in messages(cti) if m.get("Event") in names]


def test_a_trunk_call_has_one_channel_per_party_linked_by_the_callers_uniqueid() -> None:
    pbx, _ivr, cti = make_pbx()
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "c1")
    pbx.run_until(100)
    channels = [(m["Channel"], m["Uniqueid"], m["Linkedid"]) for m in events(cti, "Newchannel")]
    assert channels == [("PJSIP/trunk-00000000", "1795330000.0", "1795330000.0"),
                        ("PJSIP/8001-00000001", "1795330000.1", "1795330000.0")]
    connect = events(cti, "AgentConnect")[0]
    assert connect["Interface"] == "PJSIP/8001"
    assert connect["DestChannel"] == "PJSIP/8001-00000001"
    assert connect["DestLinkedid"] == connect["Linkedid"] == "1795330000.0"


def test_the_ivr_result_is_published_before_the_caller_joins_the_queue() -> None:
    pbx, ivr, cti = make_pbx()
    pbx.feed(CallArrives("c1", "13800138000", "Merchant"))
    assert ivr.runs[0].request.route == "hotline"
    assert ivr.runs[0].request.channel == "PJSIP/trunk-00000000"
    assert ivr.runs[0].request.language == "zh_CN"
    ivr_routes(pbx, "c1", "aftersales", priority=5)
    names = [m.get("Event") for m in messages(cti)]
    assert names.index("UserEvent") < names.index("QueueCallerJoin")
    user = events(cti, "UserEvent")[0]
    assert (user["UserEvent"], user["CcQueue"], user["CcPriority"], user["CcLang"],
            user["CcMerchantVerified"], user["CcIvrOutcome"]) == (
        "CcIvrResult", "aftersales", "5", "zh", "1", "queued")
    assert list(user)[-8:] == ["CcQueue", "CcMerchantId", "CcMerchantVerified", "CcIntent",
                               "CcIvrPath", "CcPriority", "CcLang", "CcIvrOutcome"]


def test_keys_pressed_in_the_ivr_are_dtmf_events_on_the_callers_channel() -> None:
    pbx, _ivr, cti = make_pbx()
    pbx.feed(CallArrives("c1", "13800138000", "Merchant"))
    pbx.at(1.0, lambda: pbx.feed(DigitPressed("c1", "1")))
    pbx.at(1.5, lambda: pbx.feed(DigitPressed("c1", "2")))
    pbx.run_until(5)
    dtmf = [(m["Event"], m["Digit"], m["Direction"], m.get("DurationMs"))
            for m in events(cti, "DTMFBegin", "DTMFEnd")]
    assert dtmf == [("DTMFBegin", "1", "Received", None), ("DTMFEnd", "1", "Received", "100"),
                    ("DTMFBegin", "2", "Received", None), ("DTMFEnd", "2", "Received", "100")]
    ends = [t - START for t, data in cti.chunks if b"Event: DTMFEnd" in data]
    assert ends == [pytest.approx(1.1), pytest.approx(1.6)]  # the tone lasts 100 ms


def test_ring_timeout_moves_on_to_the_next_member_after_retry() -> None:
    pbx, _ivr, cti = make_pbx(agents={"PJSIP/8099": AgentProfile(answers=False)})
    login(cti, "aftersales", "PJSIP/8099", "PJSIP/8002")
    call(pbx, "c1")
    pbx.run_until(100)
    agent_events = [(m["Event"], m["Interface"], m.get("RingTime"))
                    for m in events(cti, "AgentCalled", "AgentRingNoAnswer", "AgentConnect")]
    assert agent_events == [("AgentCalled", "PJSIP/8099", None),
                            ("AgentRingNoAnswer", "PJSIP/8099", "15000"),
                            ("AgentCalled", "PJSIP/8002", None),
                            ("AgentConnect", "PJSIP/8002", "2")]
    connect = events(cti, "AgentConnect")[0]
    assert connect["HoldTime"] == "19"  # 15 s ring + 2 s retry + 2 s ring
    status = [(m["Interface"], m["Status"]) for m in events(cti, "QueueMemberStatus")]
    assert status[:3] == [("PJSIP/8099", "6"), ("PJSIP/8099", "1"), ("PJSIP/8002", "6")]


def test_wrapup_time_keeps_the_only_member_free_for_five_seconds() -> None:
    pbx, _ivr, cti = make_pbx(default=AgentProfile(answer_after=1.0, handle_time=10.0,
                                                   handle_spread=0))
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "c1")
    call(pbx, "c2")
    pbx.run_until(100)
    complete = events(cti, "AgentComplete")[0]
    called = [m for m in messages(cti) if m.get("Event") == "AgentCalled"]
    # c1's agent leg took Uniqueid .1 before c2 arrived.
    assert [m["Uniqueid"] for m in called] == ["1795330000.0", "1795330000.2"]
    first_end = next(t for t, data in cti.chunks if b"Event: AgentComplete" in data)
    second_ring = [t for t, data in cti.chunks if b"Event: AgentCalled" in data][1]
    assert second_ring - first_end == pytest.approx(5.0)
    assert complete["Reason"] == "agent"


def test_a_higher_priority_caller_is_answered_first() -> None:
    pbx, _ivr, cti = make_pbx(default=AgentProfile(answer_after=1.0, handle_time=30.0,
                                                   handle_spread=0))
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "busy")
    pbx.run_until(5)  # answered: the member is busy, nobody waits
    call(pbx, "normal", priority=0, caller="13900000001")
    call(pbx, "vip", priority=10, caller="13900000002")
    joins = [(m["CallerIDNum"], m["Position"]) for m in events(cti, "QueueCallerJoin")]
    assert joins == [("13800138000", "1"), ("13900000001", "1"), ("13900000002", "1")]
    pbx.run_until(300)
    answered = [m["CallerIDNum"] for m in events(cti, "AgentConnect")]
    assert answered == ["13800138000", "13900000002", "13900000001"]


def test_a_caller_abandons_after_their_patience() -> None:
    pbx, _ivr, cti = make_pbx()
    call(pbx, "c1", patience=30.0)
    pbx.run_until(100)
    abandon = events(cti, "QueueCallerAbandon")[0]
    assert (abandon["Position"], abandon["OriginalPosition"], abandon["HoldTime"]) == ("1", "1",
                                                                                      "30")
    names = [m.get("Event") for m in messages(cti)][-4:]
    assert names == ["MusicOnHoldStop", "QueueCallerAbandon", "QueueCallerLeave", "Hangup"]
    assert [r.outcome for r in pbx.records] == ["abandoned"]


def test_a_paused_member_is_not_rung_until_unpaused() -> None:
    pbx, _ivr, cti = make_pbx()
    login(cti, "aftersales", "PJSIP/8001")
    cti.send_action("QueuePause", "p1", Interface="PJSIP/8001", Paused="true", Reason="lunch")
    pause = events(cti, "QueueMemberPause")[0]
    assert (pause["Paused"], pause["PausedReason"]) == ("1", "lunch")
    call(pbx, "c1")
    pbx.run_until(60)
    assert events(cti, "AgentCalled") == []
    cti.send_action("QueuePause", "p2", Interface="PJSIP/8001", Paused="false")
    assert events(cti, "QueueMemberPause")[-1]["PausedReason"] == ""
    pbx.run_until(70)
    assert len(events(cti, "AgentConnect")) == 1


def test_after_the_agent_hangs_up_the_caller_goes_to_the_survey() -> None:
    pbx, ivr, cti = make_pbx(default=AgentProfile(answer_after=1.0, handle_time=20.0,
                                                  handle_spread=0))
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "c1")
    pbx.run_until(60)
    survey = ivr.runs[-1]
    assert (survey.request.route, survey.request.priority) == ("survey", 17)
    assert events(cti, "AgentComplete")[0]["Reason"] == "agent"
    assert pbx.records == []  # still on the line, in the survey
    pbx.feed(DigitPressed("c1", "5"))
    pbx.feed(IvrDone("c1", "survey"))
    assert [(r.outcome, r.hold_time, r.talk_time) for r in pbx.records] == [
        ("answered", 1, 20)]
    assert events(cti, "Hangup")[-1]["Channel"] == "PJSIP/trunk-00000000"


def test_a_caller_who_hangs_up_in_the_ivr_never_reaches_a_queue() -> None:
    pbx, _ivr, cti = make_pbx()
    pbx.feed(CallArrives("c1", "13800138000", "Merchant"))
    pbx.feed(CallerHangup("c1"))  # ManualIvr ends the AGI at once, as hung up
    assert events(cti, "QueueCallerJoin", "UserEvent") == []
    assert [r.outcome for r in pbx.records] == ["ivr_hangup"]
    assert len(events(cti, "Hangup")) == 1


def test_an_unreachable_ivr_routes_to_the_default_queue() -> None:
    pbx, _ivr, cti = make_pbx()
    pbx.feed(CallArrives("c1", "13800138000", "Merchant"))
    pbx.feed(IvrDone("c1", failed=True))
    user = events(cti, "UserEvent")[0]
    assert (user["CcQueue"], user["CcIvrPath"], user["CcIvrOutcome"]) == (
        "aftersales", "noivr", "failed")
    assert events(cti, "QueueCallerJoin")[0]["Queue"] == "aftersales"


def test_self_service_ends_in_the_ivr_after_publishing_the_result() -> None:
    pbx, _ivr, cti = make_pbx()
    pbx.feed(CallArrives("c1", "13800138000", "Merchant"))
    pbx.feed(VariableSet("c1", "CC_IVR_OUTCOME", "self_service"))
    pbx.feed(VariableSet("c1", "CC_IVR_PATH", "hello>menu:3>self:9>bye"))
    pbx.feed(IvrDone("c1"))
    assert len(events(cti, "UserEvent")) == 1
    assert events(cti, "QueueCallerJoin") == []
    assert [r.outcome for r in pbx.records] == ["self_service"]


def test_the_queue_timeout_takes_the_caller_out_without_an_abandon() -> None:
    pbx, _ivr, cti = make_pbx(QueueConfig("aftersales", max_wait=60))
    call(pbx, "c1")
    pbx.run_until(100)
    assert events(cti, "QueueCallerAbandon") == []
    assert events(cti, "QueueCallerLeave")[0]["Count"] == "0"
    assert [r.outcome for r in pbx.records] == ["queue_timeout"]


def test_joinempty_no_refuses_a_queue_without_members() -> None:
    pbx, _ivr, cti = make_pbx(QueueConfig("aftersales", joinempty=False))
    call(pbx, "c1")
    assert events(cti, "QueueCallerJoin") == []
    assert [r.outcome for r in pbx.records] == ["join_empty"]


def test_a_blind_transfer_reports_the_first_queues_leg_only_at_the_final_hangup() -> None:
    pbx, _ivr, cti = make_pbx(default=AgentProfile(answer_after=2.0, handle_time=600,
                                                   handle_spread=0))
    login(cti, "aftersales", "PJSIP/8001")
    login(cti, "presales", "PJSIP/8003")
    call(pbx, "c1")
    pbx.run_until(10)
    cti.send_action("Redirect", "r1", Channel="PJSIP/trunk-00000000", Context="cc-transfer",
                    Exten="presales", Priority="1")
    pbx.run_until(20)
    assert events(cti, "AgentComplete") == []
    assert events(cti, "MixMonitorStop")[0]["Context"] == "cc-transfer"
    join = events(cti, "QueueCallerJoin")[-1]
    assert (join["Queue"], join["Context"], join["Exten"], join["Priority"]) == (
        "presales", "cc-transfer", "presales", "7")
    pbx.feed(CallerHangup("c1"))
    completes = events(cti, "AgentComplete")
    assert [(m["Queue"], "DestChannel" in m, m["Reason"]) for m in completes] == [
        ("presales", True, "caller"), ("aftersales", False, "caller")]
    record = pbx.records[0]
    assert record.queues == ("aftersales", "presales")
    assert record.agents == ("PJSIP/8001", "PJSIP/8003")
    assert record.recordings == (
        "/var/spool/asterisk/monitor/1795330000.0.wav",
        "/var/spool/asterisk/monitor/1795330000.0-presales.wav")


@pytest.mark.parametrize(("action", "headers", "reply"), [
    ("Getvar", {"Channel": "PJSIP/nope-1", "Variable": "X"}, "No such channel"),
    ("Getvar", {"Channel": "PJSIP/trunk-00000000"}, "No variable specified"),
    ("Setvar", {"Channel": "PJSIP/nope-1", "Variable": "X", "Value": "1"}, "No such channel"),
    ("Hangup", {"Channel": "PJSIP/nope-1"}, "No such channel"),
    ("Redirect", {"Channel": "PJSIP/nope-1", "Context": "cc-transfer", "Exten": "presales",
                  "Priority": "1"}, "Channel does not exist: PJSIP/nope-1"),
    ("QueueRemove", {"Queue": "aftersales", "Interface": "PJSIP/8009"},
     "Unable to remove interface: Not there"),
    ("QueuePause", {"Interface": "PJSIP/8009", "Paused": "true"}, "Interface not found"),
    ("QueueAdd", {"Queue": "nosuch", "Interface": "PJSIP/8009"},
     "Unable to add interface to queue: No such queue"),
    ("Frobnicate", {}, "Invalid/unknown command: Frobnicate. Use Action: ListCommands to "
                       "show available commands."),
])
def test_error_replies_are_asterisks_texts(action: str, headers: dict[str, str],
                                           reply: str) -> None:
    pbx, _ivr, cti = make_pbx()
    pbx.feed(CallArrives("c1", "13800138000", "Merchant"))
    cti.send_action(action, "e1", **headers)
    response = next(m for m in messages(cti) if m.get("ActionID") == "e1")
    assert (response["Response"], response["Message"]) == ("Error", reply)


def test_getvar_and_setvar_on_the_callers_channel() -> None:
    pbx, _ivr, cti = make_pbx()
    call(pbx, "c1")
    cti.send_action("Getvar", "g1", Channel="PJSIP/trunk-00000000", Variable="CC_MERCHANT_ID")
    cti.send_action("Setvar", "s1", Channel="PJSIP/trunk-00000000", Variable="CC_NOTE",
                    Value="vip")
    cti.send_action("Getvar", "g2", Channel="PJSIP/trunk-00000000", Variable="CC_NOTE")
    cti.send_action("Getvar", "g3", Channel="PJSIP/trunk-00000000",
                    Variable="CHANNEL(linkedid)")
    replies = {m["ActionID"]: m for m in messages(cti) if m.get("Response")}
    assert replies["g1"]["Value"] == "102290054110001"
    assert replies["s1"]["Message"] == "Variable Set"
    assert replies["g2"]["Value"] == "vip"
    assert replies["g3"]["Value"] == "1795330000.0"


def test_hangup_action_on_a_waiting_caller_is_an_abandon() -> None:
    pbx, _ivr, cti = make_pbx()
    call(pbx, "c1")
    cti.send_action("Hangup", "h1", Channel="PJSIP/trunk-00000000")
    reply = next(m for m in messages(cti) if m.get("ActionID") == "h1")
    assert reply["Message"] == "Channel Hungup"
    assert [r.outcome for r in pbx.records] == ["abandoned"]


def test_queue_status_lists_params_members_and_waiting_callers() -> None:
    pbx, _ivr, cti = make_pbx()
    login(cti, "aftersales", "PJSIP/8001")
    cti.send_action("QueuePause", "", Interface="PJSIP/8001", Paused="true", Reason="meeting")
    call(pbx, "c1")
    pbx.run_until(2.4)
    cti.send_action("QueueStatus", "qs", Queue="aftersales")
    items = [m for m in messages(cti) if m.get("ActionID") == "qs"]
    assert [m.get("Event") or m["Response"] for m in items] == [
        "Success", "QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete"]
    assert items[2]["PausedReason"] == "meeting"
    assert (items[3]["Position"], items[3]["Channel"], items[3]["Wait"]) == (
        "1", "PJSIP/trunk-00000000", "2")
    assert items[4]["ListItems"] == "3"


def test_chanspy_originate_answers_async_then_spies_until_the_spyee_hangs_up() -> None:
    pbx, _ivr, cti = make_pbx(default=AgentProfile(answer_after=1.0, handle_time=30,
                                                   handle_spread=0))
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "c1")
    pbx.run_until(5)
    cti.send_action("Originate", "o1", Channel="Local/9000@supervisor", Application="ChanSpy",
                    Data="PJSIP/8001-00000001,qE", CallerID='"Supervisor" <9000>', Async="true")
    names = [m.get("Event") or m.get("Response") for m in messages(cti)]
    tail = names[names.index("Success", names.index("AgentConnect")):]
    assert tail[0] == "Success" and "OriginateResponse" in tail and "ChanSpyStart" in tail
    response = events(cti, "OriginateResponse")[0]
    assert (response["ActionID"], response["Response"], response["Reason"],
            response["CallerIDNum"], response["Application"]) == (
        "o1", "Success", "4", "9000", "ChanSpy")
    start = events(cti, "ChanSpyStart")[0]
    assert start["SpyeeChannel"] == "PJSIP/8001-00000001"
    assert start["SpyerLinkedid"] == start["SpyerUniqueid"]  # its own call, not the spyee's
    pbx.run_until(60)
    assert len(events(cti, "ChanSpyStop")) == 1
    hung = [m["Channel"] for m in events(cti, "Hangup")]
    assert {"Local/9000@supervisor-00000000;1", "Local/9000@supervisor-00000000;2"} <= set(hung)


def test_core_show_channels_lists_every_live_channel() -> None:
    pbx, _ivr, cti = make_pbx()
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "c1")
    pbx.run_until(10)
    cti.send_action("CoreShowChannels", "cs")
    items = [m for m in messages(cti) if m.get("ActionID") == "cs"]
    channels = [m["Channel"] for m in items if m.get("Event") == "CoreShowChannel"]
    assert channels == ["PJSIP/trunk-00000000", "PJSIP/8001-00000001"]
    assert items[-1]["ListItems"] == "2"
    assert items[1]["Duration"] == "00:00:10"


def test_shutdown_ends_every_call_once_and_tells_the_clients() -> None:
    from simulator.pbx import Shutdown

    pbx, _ivr, cti = make_pbx(default=AgentProfile(answer_after=1.0, handle_time=600,
                                                   handle_spread=0))
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "talking")
    pbx.run_until(5)
    call(pbx, "waiting", caller="13900000001")
    pbx.feed(CallArrives("in-ivr", "13900000002", ""))
    pbx.feed(Shutdown())
    assert sorted(r.ref for r in pbx.records) == ["in-ivr", "talking", "waiting"]
    assert {r.outcome for r in pbx.records} == {"shutdown", "answered"}
    assert events(cti, "Shutdown")[0]["Restart"] == "False"
    assert pbx.engine.state.channels == {}


def test_the_same_inputs_at_the_same_times_give_the_same_bytes() -> None:
    def run() -> bytes:
        pbx, _ivr, cti = make_pbx(agents={"PJSIP/8099": AgentProfile(answers=False)})
        login(cti, "aftersales", "PJSIP/8099", "PJSIP/8002")
        call(pbx, "c1")
        pbx.at(3.0, lambda: call(pbx, "c2", caller="13900000001"))
        pbx.run_until(200)
        pbx.feed(AgentHangup("PJSIP/8002"))
        return bytes(cti.received)

    assert run() == run()


def test_a_synchronous_originate_answers_after_the_channel_is_up_without_an_event() -> None:
    _pbx, _ivr, cti = make_pbx()
    cti.send_action("Originate", "o2", Channel="PJSIP/8001", Context="agents", Exten="8002",
                    Priority="1", Async="false")
    names = [m.get("Event") or m.get("Response") for m in messages(cti)][2:]
    assert names == ["Newchannel", "Newstate", "Success"]
    reply = next(m for m in messages(cti) if m.get("ActionID") == "o2")
    assert reply["Message"] == "Originate successfully queued"
    assert events(cti, "OriginateResponse") == []


def test_an_originate_to_an_unknown_technology_fails_like_asterisk() -> None:
    _pbx, _ivr, cti = make_pbx()
    cti.send_action("Originate", "o3", Channel="Bogus/1", Application="Wait", Data="1",
                    Async="true")
    response = events(cti, "OriginateResponse")[0]
    assert (response["ActionID"], response["Response"], response["Reason"]) == (
        "o3", "Failure", "0")


def test_status_without_a_channel_lists_every_live_channel_as_asterisk_22_does() -> None:
    pbx, _ivr, cti = make_pbx()
    login(cti, "aftersales", "PJSIP/8001")
    call(pbx, "c1")
    pbx.run_until(10)
    cti.send_action("Status", "st")
    items = [m for m in messages(cti) if m.get("ActionID") == "st"]
    assert (items[0]["Response"], items[0]["EventList"], items[0]["Message"]) == (
        "Success", "start", "Channel status will follow")
    channels = [m for m in items if m.get("Event") == "Status"]
    assert [m["Channel"] for m in channels] == ["PJSIP/trunk-00000000", "PJSIP/8001-00000001"]
    assert {m["Linkedid"] for m in channels} == {channels[0]["Uniqueid"]}
    assert channels[1]["Seconds"] == "10" and channels[1]["BridgeID"]
    assert (items[-1]["Event"], items[-1]["ListItems"], items[-1]["Items"]) == (
        "StatusComplete", "2", "2")
    cti.send_action("Status", "one", Channel="PJSIP/nobody-00000009")
    [refused] = [m for m in messages(cti) if m.get("ActionID") == "one"]
    assert (refused["Response"], refused["Message"]) == ("Error", "No such channel")


def test_click_to_dial_into_cc_outbound_is_recorded_and_becomes_an_outbound_call() -> None:
    """The product's click to dial on the simulator: Originate of the agent's phone into
    [cc-outbound] answers (OriginateResponse), records the agent leg (MixMonitorStart), and,
    fed to the CTI's dispatcher with the ``OutboundDialled`` the bridge builds from that
    answer, is an outbound call to the merchant whose recording is known; the agent's
    Hangup ends it."""
    from cti.ami_protocol import AmiFramer, AmiMessage
    from cti.call_state import CallEnded, CallKind, OutboundDialled, RecordingStarted
    from cti.dispatcher import Dispatcher

    pbx, _ivr, cti = make_pbx()
    login(cti, "aftersales", "PJSIP/8001")
    pbx.run_until(1)
    cti.send_action("Originate", "d1", Channel="PJSIP/8001", Context="cc-outbound",
                    Exten="13800138000", Priority="1", Async="true")
    pbx.run_until(3)
    [answered] = events(cti, "OriginateResponse")
    [recording] = events(cti, "MixMonitorStart")
    assert answered["Response"] == "Success"
    assert recording["Uniqueid"] == answered["Uniqueid"] == recording["Linkedid"]

    dispatcher, effects = Dispatcher(), []
    framer = AmiFramer()
    for frame in framer.feed(bytes(cti.received)):
        if isinstance(frame, AmiMessage):
            effects += dispatcher.handle_message(frame, 2.0)
    effects += dispatcher.handle(OutboundDialled(answered["Uniqueid"], answered["Channel"],
                                                 "PJSIP/8001", "13800138000"), 2.0)
    call = dispatcher.state.calls.calls[answered["Uniqueid"]]
    assert (call.kind, call.caller) == (CallKind.OUTBOUND, "13800138000")
    assert [e.path for e in effects if isinstance(e, RecordingStarted)][-1].endswith(
        f"/{answered['Uniqueid']}.wav")

    seen = len(bytes(cti.received))
    cti.send_action("Hangup", "h1", Channel=answered["Channel"])
    pbx.run_until(10)
    for frame in framer.feed(bytes(cti.received)[seen:]):
        if isinstance(frame, AmiMessage):
            effects += dispatcher.handle_message(frame, 9.0)
    [ended] = [e for e in effects if isinstance(e, CallEnded)]
    assert ended.kind is CallKind.OUTBOUND and ended.talk_s == 7.0
