"""AMI framing and reply encoding, against the captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.ami_wire import (
    BANNER,
    MAX_ACTION_BYTES,
    MAX_LINE,
    ActionFramer,
    EventClass,
    Message,
    delivers,
    error,
    event,
    goodbye,
    list_complete,
    list_start,
    parse_classes,
    parse_events_header,
    privilege,
    success,
)
from simulator.errors import AmiWireError

QUEUE_ADD = (b"Action: QueueAdd\r\nActionID: s01-002\r\nQueue: aftersales\r\n"
             b"Interface: Local/8001@agents/n\r\nPenalty: 0\r\nMemberName: Agent 8001\r\n\r\n")
PING = b"Action: Ping\r\nActionID: p-1\r\n\r\n"


def test_an_action_is_framed_whatever_the_recv_chunking() -> None:
    stream = QUEUE_ADD + PING
    for cut in range(len(stream) + 1):
        framer = ActionFramer()
        actions = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert [a.name for a in actions] == ["QueueAdd", "Ping"], cut
        assert actions[0].get("Interface") == "Local/8001@agents/n"
        assert actions[0].action_id == "s01-002"


def test_header_names_match_case_insensitively_like_astman_get_header() -> None:
    [action] = ActionFramer().feed(b"action: queuepause\r\nINTERFACE: PJSIP/8001\r\n"
                                   b"Paused:true\r\n\r\n")
    assert action.name == "queuepause"
    assert action.get("Interface") == "PJSIP/8001"
    assert action.get("paused") == "true"


def test_bare_lf_line_ends_and_blank_lines_between_actions_are_accepted() -> None:
    actions = ActionFramer().feed(b"\r\n\r\nAction: Ping\nActionID: 1\n\n\nAction: Logoff\n\n")
    assert [a.name for a in actions] == ["Ping", "Logoff"]


def test_repeated_headers_are_all_kept() -> None:
    [action] = ActionFramer().feed(b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n")
    assert action.get_all("Variable") == ("A=1", "B=2")


def test_a_line_without_colon_is_ignored_and_a_long_line_is_cut() -> None:
    long_value = "x" * (MAX_LINE * 2)
    [action] = ActionFramer().feed(
        f"Action: Setvar\r\ngarbage\r\nValue: {long_value}\r\n\r\n".encode())
    assert [k for k, _ in action.headers] == ["Action", "Value"]
    assert len("Value: " + action.get("Value")) == MAX_LINE


def test_an_endless_line_is_refused_instead_of_buffered() -> None:
    framer = ActionFramer()
    for _ in range(MAX_ACTION_BYTES // 1000):
        assert framer.feed(b"y" * 1000) == []
    with pytest.raises(AmiWireError):
        framer.feed(b"y" * 1000)


def test_an_action_keeps_at_most_128_headers() -> None:
    framer = ActionFramer()
    for _ in range(2000):
        assert framer.feed(b"Variable: " + b"y" * 100 + b"\r\n") == []
    [action] = framer.feed(b"\r\n")
    assert len(action.headers) == 128


def test_a_value_cannot_inject_a_header_or_end_the_message() -> None:
    data = success("a1", "line\r\nEvent: Fake\r\n\r\n").encode()
    assert data == b"Response: Success\r\nActionID: a1\r\nMessage: line  Event: Fake    \r\n\r\n"


def _capture_messages(path: Path) -> list[bytes]:
    return path.read_bytes()[len(BANNER):].split(b"\r\n\r\n")


def test_the_reply_builders_write_asterisks_bytes(asterisk_fixtures: Path) -> None:
    ami1 = _capture_messages(asterisk_fixtures / "01-agent-login-and-answered-call.ami")
    ami4 = _capture_messages(asterisk_fixtures / "04-pause-unpause-with-reason-and-logoff.ami")
    captured = {m + b"\r\n\r\n" for m in ami1 + ami4}
    built = [
        success("s01-001", "Authentication accepted"),
        success("s01-002", "Added interface to queue"),
        success("s01-004", None, [("Variable", "CC_MERCHANT_ID"), ("Value", "123456789012345")]),
        list_start("s01-005", "Queue status will follow"),
        list_complete("QueueStatusComplete", "s01-005", 3),
        goodbye("s01-006"),
        error("s04-005", "Unable to add interface: Already there"),
        error("s04-016", "Unable to remove interface: Not there"),
        list_complete("QueueSummaryComplete", "s04-007", 2),
    ]
    for message in built:
        assert message.encode() in captured, message.encode()


def test_an_action_without_actionid_gets_a_reply_without_one() -> None:
    assert success("", "Variable Set").encode() == b"Response: Success\r\nMessage: Variable Set\r\n\r\n"


def test_privilege_names_the_class_then_all() -> None:
    assert privilege(EventClass.AGENT) == "agent,all"
    assert event("Hangup", EventClass.CALL, []).encode() == \
        b"Event: Hangup\r\nPrivilege: call,all\r\n\r\n"


@pytest.mark.parametrize(("read", "events", "category", "delivered"), [
    ("call,agent,system,user,dtmf", "on", EventClass.AGENT, True),
    ("call,agent,system,user,dtmf", "on", EventClass.DIALPLAN, False),
    ("all", "on", EventClass.DIALPLAN, True),
    ("all", "off", EventClass.CALL, False),
    ("all", "agent,user", EventClass.CALL, False),
    ("all", "agent,user", EventClass.USER, True),
    ("agent", "on", EventClass.SYSTEM, False),
])
def test_an_event_reaches_a_session_only_when_both_masks_have_its_class(
        read: str, events: str, category: EventClass, delivered: bool) -> None:
    message = event("X", category, [])
    assert delivers(message, parse_classes(read), parse_events_header(events)) is delivered


def test_replies_and_list_items_reach_the_asking_session_whatever_its_classes() -> None:
    assert delivers(Message((("Response", "Success"),)), EventClass(0), EventClass(0))
