"""Decoding AMI messages into typed events, on the real Asterisk 22 captures."""

from __future__ import annotations

import dataclasses
import traceback
from functools import cache

import pytest

from cti import events as events_module
from cti.ami_protocol import AmiFramer, AmiMessage, MessageKind
from cti.errors import AmiProtocolError
from cti.events import (
    DECODERS,
    EVENT_TYPES,
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    AttendedTransfer,
    BlindTransfer,
    CallbackRequest,
    ChanSpyStart,
    CoreShowChannel,
    FullyBooted,
    Hangup,
    IvrResult,
    MixMonitorFilename,
    MixMonitorStart,
    MixMonitorStop,
    Newchannel,
    OriginateResponse,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueEntry,
    QueueMember,
    QueueMemberEvent,
    QueueMemberPause,
    QueueParams,
    QueueSummary,
    Shutdown,
    UnknownEvent,
    UserEvent,
    decode_event,
    decoder_for,
)
from tests.conftest import ASTERISK_FIXTURES

CAPTURES = sorted(p.name for p in ASTERISK_FIXTURES.glob("*.ami"))


def messages(name: str) -> list[AmiMessage]:
    data = (ASTERISK_FIXTURES / name).read_bytes()
    return [m for m in AmiFramer().feed(data) if isinstance(m, AmiMessage)]


def events(name: str) -> list[AmiEvent]:
    return [decode_event(m) for m in messages(name) if m.kind is MessageKind.EVENT]


def first(name: str, event_type: type[AmiEvent]) -> AmiEvent:
    return next(e for e in events(name) if type(e) is event_type)


@pytest.mark.parametrize("name", CAPTURES)
def test_every_event_of_every_capture_decodes_to_its_declared_type(name: str) -> None:
    for message in messages(name):
        if message.kind is not MessageKind.EVENT:
            continue
        event = decode_event(message)
        if message.name in DECODERS:
            assert type(event) in (*EVENT_TYPES[message.name], UnknownEvent), message.name
            if message.name != "VarSet":
                assert not isinstance(event, UnknownEvent)
        else:
            assert event == UnknownEvent(message.name, message)


def test_agent_called_keys_the_agent_by_interface_and_names_the_agent_leg() -> None:
    event = first("01-agent-login-and-answered-call.ami", AgentCalled)
    assert event == AgentCalled(
        queue="aftersales",
        interface="Local/8001@agents/n",
        member_name="Agent 8001",
        channel="Local/4008000000@from-trunk-00000000;2",
        unique_id="1795330137.1",
        linked_id="1795330137.0",
        caller_id_num="13800138000",
        dest_channel="Local/8001@agents-00000001;1",
        dest_unique_id="1795330149.2",
    )


def test_ivr_result_user_event_carries_queue_merchant_intent_and_path() -> None:
    event = first("01-agent-login-and-answered-call.ami", IvrResult)
    assert isinstance(event, IvrResult)
    assert (event.queue, event.merchant_id, event.intent, event.ivr_path) == (
        "aftersales", "123456789012345", "repair", "hello>menu:2>merchant:ok>intent:1",
    )
    assert event.linked_id == "1795330137.0"
    assert event.unique_id == "1795330137.1"
    assert (event.merchant_verified, event.priority, event.lang) == (None, None, None)


def test_ivr_result_optional_headers_are_typed() -> None:
    message = next(m for m in messages("01-agent-login-and-answered-call.ami")
                   if m.name == "UserEvent")
    extended = AmiMessage(
        message.text + "\r\nCcMerchantVerified: 1\r\nCcPriority: 5\r\nCcLang: zh"
    )
    event = decode_event(extended)
    assert isinstance(event, IvrResult)
    assert (event.merchant_verified, event.priority, event.lang) == (True, 5, "zh")
    empty = AmiMessage(message.text.replace("CcMerchantId: 123456789012345", "CcMerchantId: "))
    decoded = decode_event(empty)
    assert isinstance(decoded, IvrResult)
    assert decoded.merchant_id is None


def test_callback_request_user_event_carries_queue_outcome_ref_and_the_place_left() -> None:
    event = first("12-queue-callback.ami", CallbackRequest)
    assert isinstance(event, CallbackRequest)
    assert (event.queue, event.outcome, event.ref, event.queue_wait_s, event.position) == (
        "aftersales", "requested", "1796220598.0", 2, 1)
    assert (event.channel, event.unique_id, event.linked_id) == (
        "Local/4008000000@from-trunk-00000000;2", "1796220598.1", "1796220598.0")
    assert event.booked
    message = next(m for m in messages("12-queue-callback.ami")
                   if m.get("UserEvent") == "CcCallbackRequest")
    # not booked (the caller pressed *, FastAGI down): no reference, back in the queue
    cancelled = decode_event(AmiMessage(message.text.replace(
        "CcCallbackOutcome: requested", "CcCallbackOutcome: cancelled").replace(
        "CcCallbackRef: 1796220598.0", "CcCallbackRef: ")))
    assert isinstance(cancelled, CallbackRequest)
    assert (cancelled.booked, cancelled.ref) == (False, None)


def test_other_user_events_stay_generic_with_their_headers() -> None:
    message = next(m for m in messages("01-agent-login-and-answered-call.ami")
                   if m.name == "UserEvent")
    other = AmiMessage(message.text.replace("UserEvent: CcIvrResult", "UserEvent: Other"))
    event = decode_event(other)
    assert isinstance(event, UserEvent)
    assert event.user_event == "Other"
    assert event.message.get("CcQueue") == "aftersales"


def test_queue_status_member_item_is_read_from_location_and_name() -> None:
    items = [e for e in events("04-pause-unpause-with-reason-and-logoff.ami")
             if isinstance(e, QueueMember)]
    assert len(items) == 6
    paused = [e for e in items if e.action_id == "s04-010"]
    assert [(e.interface, e.member_name, e.paused, e.paused_reason) for e in paused] == [
        ("Local/8001@agents/n", "Agent 8001", True, "training"),
        ("Local/8002@agents/n", "Agent 8002", True, "lunch"),
    ]


def test_member_pause_event_uses_interface_and_keeps_the_reason() -> None:
    pauses = [e for e in events("04-pause-unpause-with-reason-and-logoff.ami")
              if isinstance(e, QueueMemberPause)]
    assert [(e.queue, e.interface, e.paused, e.paused_reason) for e in pauses] == [
        ("aftersales", "Local/8002@agents/n", True, "lunch"),
        ("presales", "Local/8001@agents/n", True, "training"),
        ("aftersales", "Local/8001@agents/n", True, "training"),
        ("aftersales", "Local/8002@agents/n", False, ""),
        ("presales", "Local/8001@agents/n", False, ""),
        ("aftersales", "Local/8001@agents/n", False, ""),
    ]


def test_ring_times_keep_their_different_units() -> None:
    decoded = events("03-ring-no-answer-then-answer.ami")
    no_answer = next(e for e in decoded if isinstance(e, AgentRingNoAnswer))
    connect = next(e for e in decoded if isinstance(e, AgentConnect))
    assert (no_answer.interface, no_answer.ring_time_ms) == ("Local/8099@agents/n", 15000)
    assert (connect.interface, connect.ring_time, connect.hold_time) == (
        "Local/8002@agents/n", 2, 19,
    )


def test_agent_complete_after_a_redirect_has_no_agent_leg() -> None:
    completes = [e for e in events("06-blind-transfer.ami") if isinstance(e, AgentComplete)]
    assert [(c.queue, c.dest_unique_id, c.talk_time) for c in completes] == [
        ("presales", "1795330318.4", 22),
        ("aftersales", None, 28),
    ]


def test_mixmonitor_events_and_the_one_varset_that_matters() -> None:
    decoded = events("01-agent-login-and-answered-call.read-all.ami")
    filenames = [e for e in decoded if isinstance(e, MixMonitorFilename)]
    assert filenames == [
        MixMonitorFilename(
            channel="Local/4008000000@from-trunk-00000000;2",
            unique_id="1795330171.1",
            linked_id="1795330171.0",
            path="/var/spool/asterisk/monitor/1795330171.1.wav",
        )
    ]
    other_varsets = [e for e in decoded if isinstance(e, UnknownEvent) and e.name == "VarSet"]
    assert len(other_varsets) == 41
    assert len([e for e in decoded if isinstance(e, MixMonitorStart)]) == 1
    stop = first("06-blind-transfer.ami", MixMonitorStop)
    assert stop == MixMonitorStop(
        channel="Local/4008000000@from-trunk-00000000;2",
        unique_id="1795330300.1",
        linked_id="1795330300.0",
    )


def test_restart_capture_gives_abandon_shutdown_and_queue_entry() -> None:
    decoded = events("08-asterisk-restart.ami")
    entry = next(e for e in decoded if isinstance(e, QueueEntry))
    assert (entry.queue, entry.position, entry.unique_id, entry.wait, entry.caller_id_num) == (
        "aftersales", 1, "1795330401.1", 2, "13800138000",
    )
    abandon = next(e for e in decoded if isinstance(e, QueueCallerAbandon))
    assert (abandon.hold_time, abandon.original_position) == (3, 1)
    hangups = [e for e in decoded if isinstance(e, Hangup)]
    assert [h.cause for h in hangups] == [0, 0]
    assert decoded[-1] == Shutdown(shutdown="Cleanly", restart=True)


def test_fully_booted_decodes_whatever_the_header_order() -> None:
    at_login = first("01-agent-login-and-answered-call.ami", FullyBooted)
    after_restart = first("08-asterisk-restart.reconnect.ami", FullyBooted)
    assert at_login == FullyBooted(status="Fully Booted", uptime=2)
    assert after_restart == FullyBooted(status="Fully Booted", uptime=0)


def test_queue_params_and_summary_items() -> None:
    decoded = events("08-asterisk-restart.reconnect.ami")
    params = [e for e in decoded if isinstance(e, QueueParams)]
    assert [(p.queue, p.strategy, p.service_level, p.action_id) for p in params] == [
        ("presales", "rrmemory", 20, "s08r-002"),
        ("aftersales", "rrmemory", 20, "s08r-002"),
    ]
    summaries = [e for e in decoded if isinstance(e, QueueSummary)]
    assert [(s.queue, s.logged_in, s.available) for s in summaries] == [
        ("presales", 0, 0), ("aftersales", 2, 0),
    ]


def test_originate_response_and_chanspy_name_the_spy_and_the_spied_call() -> None:
    decoded = events("07-supervisor-spy.ami")
    response = next(e for e in decoded if isinstance(e, OriginateResponse))
    assert response == OriginateResponse(
        action_id="s07-003",
        response="Success",
        channel="Local/9000@supervisor-00000002;1",
        unique_id="1795330364.4",
        reason=4,
        application="ChanSpy",
        data="Local/8001@agents-00000001;1,qE",
        context=None,
        exten=None,
    )
    spy = next(e for e in decoded if isinstance(e, ChanSpyStart))
    assert (spy.spyer_linked_id, spy.spyee_linked_id) == ("1795330364.4", "1795330349.0")


def test_unknown_caller_id_becomes_none() -> None:
    newchannel = first("01-agent-login-and-answered-call.ami", Newchannel)
    assert isinstance(newchannel, Newchannel)
    assert newchannel.caller_id_num is None
    assert (newchannel.context, newchannel.exten) == ("from-trunk", "4008000000")
    join = first("01-agent-login-and-answered-call.ami", QueueCallerJoin)
    assert isinstance(join, QueueCallerJoin)
    assert join.caller_id_num == "13800138000"


# Events of which no capture holds an example are built from the header lists of the
# Asterisk documentation (CoreShowChannel, BlindTransfer, AttendedTransfer), or, for
# AgentDump, from the captured AgentCalled: the documentation gives both the same headers.

CORE_SHOW_CHANNEL = AmiMessage.from_headers([
    ("Event", "CoreShowChannel"), ("ActionID", "s08r-004"),
    ("Channel", "Local/4008000000@from-trunk-00000000;2"), ("ChannelState", "6"),
    ("ChannelStateDesc", "Up"), ("CallerIDNum", "13800138000"), ("CallerIDName", "Merchant"),
    ("ConnectedLineNum", "13800138000"), ("ConnectedLineName", "Merchant"),
    ("Language", "en"), ("AccountCode", ""), ("Context", "from-trunk"),
    ("Exten", "4008000000"), ("Priority", "8"), ("Uniqueid", "1795330401.1"),
    ("Linkedid", "1795330401.0"), ("BridgeId", ""), ("Application", "Queue"),
    ("ApplicationData", "aftersales,t,,,300"), ("Duration", "00:01:05"),
])
BLIND_TRANSFER = AmiMessage.from_headers([
    ("Event", "BlindTransfer"), ("Result", "Success"),
    ("TransfererChannel", "PJSIP/8001-00000002"), ("TransfererUniqueid", "1.2"),
    ("TransfererLinkedid", "1.0"), ("TransfereeChannel", "PJSIP/trunk-00000001"),
    ("TransfereeUniqueid", "1.0"), ("TransfereeLinkedid", "1.0"),
    ("IsExternal", "Yes"), ("Context", "cc-transfer"), ("Extension", "presales"),
])
ATTENDED_TRANSFER = AmiMessage.from_headers([
    ("Event", "AttendedTransfer"), ("Result", "Success"),
    ("OrigTransfererChannel", "PJSIP/8001-00000002"), ("OrigTransfererLinkedid", "1.0"),
    ("SecondTransfererChannel", "PJSIP/8001-00000004"),
    ("SecondTransfererLinkedid", "3.0"), ("DestType", "Bridge"),
    ("TransfereeChannel", "PJSIP/trunk-00000001"), ("TransfereeUniqueid", "1.0"),
    ("TransfereeLinkedid", "1.0"),
])


def agent_dump() -> AmiMessage:
    called = next(m for m in messages("01-agent-login-and-answered-call.ami")
                  if m.name == "AgentCalled")
    return AmiMessage(called.text.replace("Event: AgentCalled", "Event: AgentDump", 1))


DOCUMENTED = (CORE_SHOW_CHANNEL, BLIND_TRANSFER, ATTENDED_TRANSFER)


def test_core_show_channel_item_reads_bridge_application_and_duration() -> None:
    event = decode_event(CORE_SHOW_CHANNEL)
    assert isinstance(event, CoreShowChannel)
    assert (event.bridge_id, event.application, event.duration_s, event.channel_state) == (
        None, "Queue", 65, 6,
    )


def test_transfer_events_decode_the_parties() -> None:
    event = decode_event(BLIND_TRANSFER)
    assert isinstance(event, BlindTransfer)
    assert (event.transferee_linked_id, event.extension, event.is_external) == (
        "1.0", "presales", True,
    )
    decoded = decode_event(ATTENDED_TRANSFER)
    assert isinstance(decoded, AttendedTransfer)
    assert (decoded.dest_type, decoded.dest_app, decoded.second_transferer_linked_id) == (
        "Bridge", None, "3.0",
    )


def test_event_without_a_required_header_is_a_typed_error() -> None:
    hangup = next(m for m in messages("01-agent-login-and-answered-call.ami")
                  if m.name == "Hangup")
    broken = AmiMessage("\r\n".join(
        f"{k}: {v}" for k, v in hangup.headers if k != "Linkedid"
    ))
    with pytest.raises(AmiProtocolError, match="Linkedid"):
        decode_event(broken)


def test_event_with_a_non_numeric_number_is_a_typed_error() -> None:
    hangup = next(m for m in messages("01-agent-login-and-answered-call.ami")
                  if m.name == "Hangup")
    broken = AmiMessage(hangup.text.replace("Cause: 16", "Cause: sixteen"))
    with pytest.raises(AmiProtocolError, match="bad value"):
        decode_event(broken)


def test_a_response_is_not_an_event() -> None:
    with pytest.raises(AmiProtocolError):
        decode_event(AmiMessage("Response: Success\r\nActionID: 1"))


def test_noise_events_are_not_decoded() -> None:
    assert decoder_for("DTMFBegin") is None
    assert decoder_for("DeviceStateChange") is None
    dtmf = next(m for m in messages("01-agent-login-and-answered-call.ami")
                if m.name == "DTMFBegin")
    event = decode_event(dtmf)
    assert isinstance(event, UnknownEvent)
    assert event.name == "DTMFBegin"


def test_events_are_frozen() -> None:
    event = first("01-agent-login-and-answered-call.ami", AgentCalled)
    assert isinstance(event, AgentCalled)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.queue = "presales"  # type: ignore[misc]


# -- the declarations: one per event field, both tables and every decoder derived from them


@cache
def decodable_samples() -> tuple[AmiMessage, ...]:
    """One message per (event, header list) of the captures and documented examples whose
    event has a decoder, plus a UserEvent other than the IVR result."""
    found: dict[tuple[type[AmiEvent], tuple[str, ...]], AmiMessage] = {}
    ivr_result = next(m for m in messages("01-agent-login-and-answered-call.ami")
                      if m.name == "UserEvent")
    other = AmiMessage(ivr_result.text.replace("UserEvent: CcIvrResult", "UserEvent: Other"))
    captured = [m for name in CAPTURES for m in messages(name) if m.kind is MessageKind.EVENT]
    for message in [*captured, *DOCUMENTED, agent_dump(), other]:
        if message.name in DECODERS:
            event_type = type(decode_event(message))
            if event_type is not UnknownEvent:
                found.setdefault((event_type, tuple(k for k, _ in message.headers)), message)
    return tuple(found.values())


def decoding_error(message: AmiMessage) -> str | None:
    try:
        decode_event(message)
    except AmiProtocolError as exc:
        return str(exc)
    return None


def test_the_event_table_lists_every_public_event_type_once_next_to_its_decoder() -> None:
    public = {
        obj for name in events_module.__all__
        if isinstance(obj := getattr(events_module, name), type) and issubclass(obj, AmiEvent)
    } - {AmiEvent, UnknownEvent, QueueMemberEvent}
    listed = [event_type for types in EVENT_TYPES.values() for event_type in types]
    assert sorted(t.__name__ for t in listed) == sorted(t.__name__ for t in public)
    assert DECODERS.keys() == EVENT_TYPES.keys()
    # An event type is decoded from the AMI event of its own name, but for the two events
    # whose decoder picks the type from a header and ``Status`` (class ChannelStatus).
    renamed = {name for name, types in EVENT_TYPES.items()
               if types != (getattr(events_module, name, None),)}
    assert renamed == {"UserEvent", "VarSet", "Status"}
    assert EVENT_TYPES["UserEvent"] == (IvrResult, CallbackRequest, UserEvent)
    assert EVENT_TYPES["VarSet"] == (MixMonitorFilename,)


def test_every_declared_event_type_decodes_from_a_capture_or_a_documented_example() -> None:
    decoded = {type(decode_event(m)) for m in decodable_samples()}
    declared = {event_type for types in EVENT_TYPES.values() for event_type in types}
    assert declared <= decoded


def test_agent_dump_names_the_queue_member_and_agent_leg_like_agent_called() -> None:
    called = first("01-agent-login-and-answered-call.ami", AgentCalled)
    dump = decode_event(agent_dump())
    assert dump == AgentDump(
        **{f.name: getattr(called, f.name) for f in dataclasses.fields(AgentDump)}
    )
    assert isinstance(dump, AgentDump)
    assert (dump.member_name, dump.dest_unique_id) == ("Agent 8001", "1795330149.2")


# What each decoded event cannot do without, and which of its headers are numbers: pinned
# from the hand-written decoders these declarations replaced, over the captures and the
# documented examples (DialBegin/DialEnd need DestLinkedid only without a Linkedid: originate).
REQUIRED_HEADERS = {
    "AgentCalled": "Queue Interface Channel Uniqueid Linkedid DestChannel DestUniqueid",
    "AgentComplete": "Queue Interface Channel Uniqueid Linkedid",
    "AgentConnect": "Queue Interface Channel Uniqueid Linkedid DestChannel DestUniqueid",
    "AgentDump": "Queue Interface Channel Uniqueid Linkedid",
    "AgentRingNoAnswer": "Queue Interface Channel Uniqueid Linkedid DestChannel DestUniqueid",
    "AttendedTransfer": "OrigTransfererChannel OrigTransfererLinkedid",
    "BlindTransfer": "TransfererChannel TransfererUniqueid TransfererLinkedid",
    "BridgeEnter": "BridgeUniqueid Channel Uniqueid Linkedid",
    "BridgeLeave": "BridgeUniqueid Channel Uniqueid Linkedid",
    "CallbackRequest": "Channel Uniqueid Linkedid",
    "ChanSpyStart": "SpyerChannel SpyerUniqueid SpyerLinkedid "
                    "SpyeeChannel SpyeeUniqueid SpyeeLinkedid",
    "ChanSpyStop": "SpyerChannel SpyerUniqueid SpyerLinkedid",
    "ChannelStatus": "Channel Uniqueid Linkedid",
    "CoreShowChannel": "Channel Uniqueid Linkedid",
    "DialBegin": "DestChannel DestUniqueid DestLinkedid",
    "DialEnd": "DestChannel DestUniqueid DestLinkedid",
    "FullyBooted": "",
    "Hangup": "Channel Uniqueid Linkedid",
    "IvrResult": "Channel Uniqueid Linkedid",
    "MixMonitorFilename": "Channel Uniqueid Linkedid",
    "MixMonitorStart": "Channel Uniqueid Linkedid",
    "MixMonitorStop": "Channel Uniqueid Linkedid",
    "Newchannel": "Channel Uniqueid Linkedid",
    "Newstate": "Channel Uniqueid Linkedid",
    "OriginateResponse": "",
    "QueueCallerAbandon": "Queue Channel Uniqueid Linkedid",
    "QueueCallerJoin": "Queue Channel Uniqueid Linkedid",
    "QueueCallerLeave": "Queue Channel Uniqueid Linkedid",
    "QueueEntry": "Queue Channel Uniqueid",
    "QueueMember": "Queue Location",
    "QueueMemberAdded": "Queue Interface",
    "QueueMemberPause": "Queue Interface",
    "QueueMemberRemoved": "Queue Interface",
    "QueueMemberStatus": "Queue Interface",
    "QueueParams": "Queue",
    "QueueSummary": "Queue",
    "Shutdown": "",
    "UserEvent": "",
}
NUMBER_HEADERS = {
    "AgentComplete": "HoldTime TalkTime",
    "AgentConnect": "HoldTime RingTime",
    "AgentRingNoAnswer": "RingTime",
    "BridgeEnter": "BridgeNumChannels",
    "BridgeLeave": "BridgeNumChannels",
    "CallbackRequest": "CcQueueWait CcQueuePosition",
    "ChannelStatus": "ChannelState Seconds",
    "CoreShowChannel": "ChannelState Duration",
    "FullyBooted": "Uptime",
    "Hangup": "Cause",
    "IvrResult": "CcPriority",
    "Newstate": "ChannelState",
    "OriginateResponse": "Reason",
    "QueueCallerAbandon": "Position OriginalPosition HoldTime",
    "QueueCallerJoin": "Position Count",
    "QueueCallerLeave": "Position Count",
    "QueueEntry": "Position Wait Priority",
    "QueueMember": "Status CallsTaken LastCall LoginTime",
    "QueueMemberAdded": "Status CallsTaken",
    "QueueMemberPause": "Status CallsTaken",
    "QueueMemberRemoved": "Status CallsTaken",
    "QueueMemberStatus": "Status CallsTaken",
    "QueueParams": "Calls Holdtime TalkTime Completed Abandoned ServiceLevel",
    "QueueSummary": "LoggedIn Available Callers HoldTime TalkTime LongestHoldTime",
}


def rejections(replacement: str | None, error_says: str) -> dict[str, set[str]]:
    """Per decoded event type, the headers that make decoding fail when removed (replacement
    None) or given ``replacement`` as value; every such error must contain ``error_says``."""
    found: dict[str, set[str]] = {}
    for message in decodable_samples():
        rejected = found.setdefault(type(decode_event(message)).__name__, set())
        headers = message.headers
        for index in range(1, len(headers)):
            name = headers[index][0]
            changed = [] if replacement is None else [(name, replacement)]
            error = decoding_error(
                AmiMessage.from_headers([*headers[:index], *changed, *headers[index + 1:]])
            )
            if error is not None:
                assert error_says.format(header=repr(name)) in error
                rejected.add(name)
    return found


def test_a_missing_header_is_an_error_naming_it_exactly_where_the_event_needs_it() -> None:
    assert rejections(None, "without a {header} header") == {
        name: set(pin.split()) for name, pin in REQUIRED_HEADERS.items()
    }


def test_a_non_numeric_number_is_an_error_exactly_where_a_header_is_a_number() -> None:
    assert rejections("x", "bad value") == {
        name: set(NUMBER_HEADERS.get(name, "").split()) for name in REQUIRED_HEADERS
    }


def test_a_generated_decoder_shows_the_header_it_failed_on_in_a_traceback() -> None:
    decoder = decoder_for("Hangup")
    assert decoder is not None
    message = AmiMessage.from_headers([("Event", "Hangup"), ("Channel", "c"), ("Uniqueid", "u")])
    with pytest.raises(KeyError) as info:
        decoder(message)
    assert "f['Linkedid']" in "".join(traceback.format_exception(info.value))
