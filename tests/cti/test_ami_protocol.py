"""AMI framing, encoding and response correlation, against the real Asterisk 22 captures."""

from __future__ import annotations

import contextlib
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami_protocol import (
    ActionResult,
    ActionTracker,
    AmiBanner,
    AmiFrame,
    AmiFramer,
    AmiMalformed,
    AmiMessage,
    MessageKind,
    encode_action,
)
from cti.errors import AmiActionError, AmiEncodeError, AmiProtocolError
from tests.conftest import ASTERISK_FIXTURES

CAPTURES = sorted(p.name for p in ASTERISK_FIXTURES.glob("*.ami"))
SMALL_CAPTURES = [name for name in CAPTURES if not name.startswith("09-")]

# Message counts from the fixtures' README ("Counts: … N messages").
MESSAGE_COUNTS = {
    "01-agent-login-and-answered-call.ami": 113,
    "01-agent-login-and-answered-call.read-all.ami": 213,
    "02-abandoned-in-queue.ami": 86,
    "03-ring-no-answer-then-answer.ami": 135,
    "04-pause-unpause-with-reason-and-logoff.ami": 69,
    "05-hangup-during-ivr.ami": 29,
    "06-blind-transfer.ami": 156,
    "07-supervisor-spy.ami": 174,
    "08-asterisk-restart.ami": 89,
    "08-asterisk-restart.reconnect.ami": 15,
    "09-burst.ami": 2001,
    "10-status-resync.ami": 74,
    "11-click-to-dial.ami": 52,
    "12-queue-callback.ami": 39,
}


def capture(name: str) -> bytes:
    return (ASTERISK_FIXTURES / name).read_bytes()


def recv_chunks(name: str) -> list[bytes]:
    """The capture cut exactly as the client's recv() calls returned it."""
    data = capture(name)
    timing = (ASTERISK_FIXTURES / name).with_suffix(".ami-timing.tsv")
    chunks = []
    for line in timing.read_text().splitlines():
        if line.startswith("#"):
            continue
        offset, length, _t = line.split("\t")
        chunks.append(data[int(offset) : int(offset) + int(length)])
    assert b"".join(chunks) == data
    return chunks


def frame_all(chunks: list[bytes], **kwargs: object) -> list[AmiFrame]:
    framer = AmiFramer(**kwargs)  # type: ignore[arg-type]
    out: list[AmiFrame] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    assert framer.buffered == 0, "bytes left over after a complete capture"
    return out


def texts(frames: list[AmiFrame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, AmiMessage)]


def reencode(frames: list[AmiFrame]) -> bytes:
    """Put frames back on the wire in Asterisk's own format."""
    out = []
    for frame in frames:
        if isinstance(frame, AmiBanner):
            out.append(f"Asterisk Call Manager/{frame.version}\r\n")
        elif isinstance(frame, AmiMessage):
            out.append(frame.text + "\r\n\r\n")
        else:
            raise AssertionError(f"unexpected {frame!r}")
    return "".join(out).encode()


# -- replaying the captures byte-exact


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_frames_into_banner_then_every_message_and_back_to_the_same_bytes(
    name: str,
) -> None:
    data = capture(name)
    frames = frame_all([data])
    assert frames[0] == AmiBanner("11.0.0")
    assert not [f for f in frames if isinstance(f, AmiMalformed)]
    assert len(frames) - 1 == MESSAGE_COUNTS[name]
    assert reencode(frames) == data


@pytest.mark.parametrize("name", CAPTURES)
def test_real_recv_chunking_gives_the_same_messages_as_one_read(name: str) -> None:
    assert frame_all(recv_chunks(name)) == frame_all([capture(name)])


@pytest.mark.parametrize("name", SMALL_CAPTURES)
def test_feeding_one_byte_at_a_time_gives_the_same_messages(name: str) -> None:
    data = capture(name)
    one_byte_chunks = [data[i : i + 1] for i in range(len(data))]
    assert frame_all(one_byte_chunks) == frame_all([data])


def _message_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the banner and of each message, terminator included."""
    spans = [(0, data.index(b"\r\n") + 2)]
    start = spans[0][1]
    while start < len(data):
        end = data.index(b"\r\n\r\n", start) + 4
        spans.append((start, end))
        start = end
    return spans


@pytest.mark.parametrize("name", SMALL_CAPTURES)
def test_a_split_at_any_byte_offset_gives_the_same_messages(name: str) -> None:
    # Splitting at offset k only affects the message around k: the framer is empty at every
    # message boundary. So each offset is checked on a window of two messages, which keeps
    # "every offset of every small capture" fast.
    data = capture(name)
    spans = _message_spans(data)
    for index in range(len(spans) - 1):
        start, end = spans[index][0], spans[index + 1][1]
        window = data[start:end]
        expected = frame_all([window], expect_banner=index == 0)
        assert len(expected) == 2
        for k in range(1, len(window)):
            framer = AmiFramer(expect_banner=index == 0)
            got = framer.feed(window[:k]) + framer.feed(window[k:])
            assert got == expected, f"{name}: split at byte {start + k}"


def test_burst_survives_random_chunking() -> None:
    data = capture("09-burst.ami")
    expected = frame_all([data])
    rng = random.Random(20261122)
    for _ in range(5):
        chunks, pos = [], 0
        while pos < len(data):
            size = rng.choice([1, 2, 3, 7, 64, 500, 1400, 4096, 65536])
            chunks.append(data[pos : pos + size])
            pos += size
        assert frame_all(chunks) == expected


# -- tolerated deviations from the AMI spec


def test_crlf_lf_terminator_of_asterisk_issue_761_ends_the_message() -> None:
    data = capture("04-pause-unpause-with-reason-and-logoff.ami")
    expected = texts(frame_all([data]))
    # CoreShowChannelMap ends with \r\n\n in affected releases; do that to every message.
    broken = data.replace(b"\r\n\r\n", b"\r\n\n")
    assert texts(frame_all([broken])) == expected
    assert texts(frame_all([broken[i : i + 5] for i in range(0, len(broken), 5)])) == expected


def test_bare_lf_line_ends_and_extra_blank_lines_are_tolerated() -> None:
    data = capture("02-abandoned-in-queue.ami")
    expected = texts(frame_all([data]))
    lf_only = data.replace(b"\r\n", b"\n")
    assert texts(frame_all([lf_only])) == expected
    padded = data.replace(b"\r\n\r\n", b"\r\n\r\n\r\n\r\n\n")
    assert texts(frame_all([padded])) == expected
    assert texts(frame_all([padded[i : i + 3] for i in range(0, len(padded), 3)])) == expected


def test_one_bare_lf_inside_a_message_splits_only_that_line() -> None:
    raw = (
        b"Event: Agents\r\nAgent: agent_doe\r\nCallStarted: 1443613421\n"
        b"LoggedInTime: 1443608760\r\n\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
    )
    frames = AmiFramer(expect_banner=False).feed(raw)
    assert [f.name for f in frames if isinstance(f, AmiMessage)] == ["Agents", "FullyBooted"]
    first = frames[0]
    assert isinstance(first, AmiMessage)
    assert first["CallStarted"] == "1443613421"
    assert first["LoggedInTime"] == "1443608760"


# -- malformed input: skipped, reported, never desynchronising


def _two_real_messages() -> tuple[bytes, bytes]:
    data = capture("01-agent-login-and-answered-call.ami")
    spans = _message_spans(data)
    return data[slice(*spans[1])], data[slice(*spans[2])]


def test_block_without_headers_is_reported_and_the_next_message_still_parses() -> None:
    first, second = _two_real_messages()
    stream = first + b"this line has no colon\r\nnor this one\r\n\r\n" + second
    for size in (1, 2, 5, len(stream)):
        framer = AmiFramer(expect_banner=False)
        frames: list[AmiFrame] = []
        for i in range(0, len(stream), size):
            frames.extend(framer.feed(stream[i : i + size]))
        assert len(frames) == 3
        assert isinstance(frames[1], AmiMalformed)
        assert frames[1].excerpt == "this line has no colon"
        assert texts(frames) == texts(frame_all([first + second], expect_banner=False))


def test_header_line_without_colon_inside_an_event_raises_typed_error_when_read() -> None:
    raw = b"Event: Hangup\r\nChannel: PJSIP/8001-00000001\r\ngarbage line\r\n\r\n"
    (message,) = AmiFramer(expect_banner=False).feed(raw)
    assert isinstance(message, AmiMessage)
    assert message.name == "Hangup"  # framing is fine; the bad line is in the body
    with pytest.raises(AmiProtocolError, match="without ':'"):
        message.get("Channel")


def test_validating_framer_reports_a_bad_header_line_as_malformed_and_goes_on() -> None:
    first, second = _two_real_messages()
    bad = b"Event: Hangup\r\nChannel: PJSIP/8001-00000001\r\ngarbage line\r\n\r\n"
    frames = AmiFramer(expect_banner=False, validate=True).feed(first + bad + second)
    assert [type(f).__name__ for f in frames] == ["AmiMessage", "AmiMalformed", "AmiMessage"]
    assert isinstance(frames[1], AmiMalformed)
    assert frames[1].excerpt == "Event: Hangup"


def test_header_with_colon_but_no_space_is_accepted() -> None:
    (message,) = AmiFramer(expect_banner=False).feed(b"Event: X\r\nEmpty:\r\nTight:value\r\n\r\n")
    assert isinstance(message, AmiMessage)
    assert message.fields == {"Event": "X", "Empty": "", "Tight": "value"}


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 1 << 20])
def test_over_long_message_is_skipped_whole_and_the_stream_resumes(chunk_size: int) -> None:
    first, second = _two_real_messages()
    huge = b"Event: Flood\r\n" + b"Junk: " + b"x" * 5000 + b"\r\n\r\n"
    stream = first + huge + second
    framer = AmiFramer(expect_banner=False, max_message_size=1024)
    frames: list[AmiFrame] = []
    for i in range(0, len(stream), chunk_size):
        frames.extend(framer.feed(stream[i : i + chunk_size]))
    assert [type(f).__name__ for f in frames] == ["AmiMessage", "AmiMalformed", "AmiMessage"]
    assert frames[1] == AmiMalformed("message longer than 1024 bytes", "Event: Flood")
    assert framer.buffered == 0


def test_a_peer_that_never_ends_a_message_cannot_grow_the_buffer() -> None:
    framer = AmiFramer(expect_banner=False, max_message_size=4096)
    for _ in range(1000):
        assert framer.feed(b"Junk: " + b"y" * 1000 + b"\r\n") == []
        assert framer.buffered <= 4096 + 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [b"Event: A", b"Response: Success", b"K: v", b"ActionID: 1", b"junk", b":", b"\r",
             b"\n", b"\r\n", b"\r\n\r\n", b"\x00\xff", "é".encode(), b"Asterisk Call Manager/1"]
        ),
        max_size=40,
    ),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=10),
)
def test_arbitrary_bytes_never_crash_and_chunking_never_changes_the_result(
    tokens: list[bytes], sizes: list[int]
) -> None:
    stream = b"".join(tokens)
    expected = AmiFramer(max_message_size=64).feed(stream)
    framer = AmiFramer(max_message_size=64)
    got: list[AmiFrame] = []
    pos, i = 0, 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        got.extend(framer.feed(stream[pos : pos + size]))
        pos += size
        i += 1
    assert got == expected
    for frame in got:
        if isinstance(frame, AmiMessage):
            with contextlib.suppress(AmiProtocolError):  # the only error a bad line may raise
                frame.headers  # noqa: B018


# -- AmiMessage


def test_repeated_headers_are_kept_in_order_and_get_returns_the_first() -> None:
    raw = (
        b"Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nChanVariable: FROM_DID=4008000000"
        b"\r\nChanVariable: SIPURI=sip:trunk@10.0.0.1\r\nLinkedid: 1795330137.0\r\n\r\n"
    )
    (message,) = AmiFramer(expect_banner=False).feed(raw)
    assert isinstance(message, AmiMessage)
    assert message.get("ChanVariable") == "FROM_DID=4008000000"
    assert message.get_all("ChanVariable") == ("FROM_DID=4008000000", "SIPURI=sip:trunk@10.0.0.1")
    assert [name for name, _ in message.headers] == [
        "Event", "Channel", "ChanVariable", "ChanVariable", "Linkedid",
    ]


def test_message_lookups_exact_and_case_insensitive() -> None:
    frames = frame_all([capture("01-agent-login-and-answered-call.ami")])
    hangup = next(f for f in frames if isinstance(f, AmiMessage) and f.name == "Hangup")
    assert hangup.kind is MessageKind.EVENT
    assert hangup.get("Linkedid") == "1795330137.0"
    assert hangup.get("linkedid") is None
    assert hangup.get_ci("LINKEDID") == "1795330137.0"
    assert hangup.peek("Cause-txt") == "Normal Clearing"
    assert "Cause" in hangup
    assert hangup.action_id is None


def test_peek_does_not_confuse_a_header_with_the_end_of_another_one() -> None:
    message = AmiMessage("Event: UserEvent\r\nXActionID: nope\r\nActionID: yes")
    assert message.action_id == "yes"
    assert AmiMessage("Event: UserEvent\r\nXActionID: nope").action_id is None


def test_message_is_immutable() -> None:
    message = AmiMessage("Response: Success\r\nActionID: a1")
    with pytest.raises(AttributeError):
        message.text = "Response: Error"
    with pytest.raises(AttributeError):
        message.anything = 1
    assert message.kind is MessageKind.RESPONSE
    assert message.name == "Success"


def test_login_fully_booted_header_order_does_not_matter() -> None:
    first = frame_all([capture("01-agent-login-and-answered-call.ami")])[2]
    after_restart = frame_all([capture("08-asterisk-restart.reconnect.ami")])[2]
    assert isinstance(first, AmiMessage)
    assert isinstance(after_restart, AmiMessage)
    assert [n for n, _ in first.headers] == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    assert [n for n, _ in after_restart.headers] == [
        "Event", "Privilege", "Status", "Uptime", "LastReload",
    ]
    assert first.get("Status") == after_restart.get("Status") == "Fully Booted"


# -- encoding


def test_encode_action_writes_action_and_action_id_first_then_the_headers() -> None:
    wire = encode_action(
        "QueuePause",
        {"Queue": "aftersales", "Interface": "Local/8002@agents/n", "Paused": "true",
         "Reason": "lunch"},
        "s02-004",
    )
    assert wire == (
        b"Action: QueuePause\r\nActionID: s02-004\r\nQueue: aftersales\r\n"
        b"Interface: Local/8002@agents/n\r\nPaused: true\r\nReason: lunch\r\n\r\n"
    )


def test_encoded_action_matches_what_the_lab_client_sent() -> None:
    sent = (ASTERISK_FIXTURES / "07-supervisor-spy.ami-actions.txt").read_text()
    block = sent[sent.index("Action: Originate") :].split("\n\n")[0]
    lines = [line.split(": ", 1) for line in block.splitlines()]
    headers = [(k, v) for k, v in lines if k not in ("Action", "ActionID")]
    wire = encode_action("Originate", headers, "s07-003")
    assert wire == (block.replace("\n", "\r\n") + "\r\n\r\n").encode()


def test_repeated_variable_headers_are_encoded_in_order() -> None:
    wire = encode_action(
        "Originate",
        [("Channel", "PJSIP/8001"), ("Variable", "A=1"), ("Variable", "B=2"), ("Async", "true")],
        "o-1",
    )
    assert b"Variable: A=1\r\nVariable: B=2\r\n" in wire


@pytest.mark.parametrize(
    "value",
    [
        "Merchant\r\nAction: Originate",
        "x\nActionID: hijack",
        "x\rY: z",
        "nul\x00byte",
    ],
)
def test_caller_controlled_value_with_cr_lf_or_nul_cannot_add_a_header(value: str) -> None:
    with pytest.raises(AmiEncodeError):
        encode_action("Originate", {"CallerID": value}, "o-2")
    with pytest.raises(ValueError):  # AmiEncodeError is also a ValueError
        encode_action("Setvar", [("Value", value)], "o-3")


@pytest.mark.parametrize(
    ("name", "headers", "action_id"),
    [
        ("Queue Pause", {}, "a"),
        ("QueuePause", {"Bad Name": "v"}, "a"),
        ("QueuePause", {"Bad:Name": "v"}, "a"),
        ("QueuePause", {"ActionID": "other"}, "a"),
        ("QueuePause", {"action": "Logoff"}, "a"),
        ("QueuePause", {}, "a\r\nAction: Logoff"),
        ("QueuePause", {}, ""),
    ],
)
def test_encode_action_rejects_names_and_reserved_headers(
    name: str, headers: dict[str, str], action_id: str
) -> None:
    with pytest.raises(AmiEncodeError):
        encode_action(name, headers, action_id)


header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True).filter(
    lambda n: n.lower() not in ("action", "actionid")
)
safe_values = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=40
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(header_names, safe_values), max_size=8))
def test_encode_then_frame_round_trips_every_safe_value(headers: list[tuple[str, str]]) -> None:
    wire = encode_action("UserEvent", headers, "rt-1")
    (message,) = AmiFramer(expect_banner=False).feed(wire)
    assert isinstance(message, AmiMessage)
    assert message.headers == (("Action", "UserEvent"), ("ActionID", "rt-1"), *headers)


@settings(max_examples=100, deadline=None)
@given(safe_values, st.sampled_from(["\r", "\n", "\x00"]), safe_values)
def test_any_value_with_a_line_break_is_refused(before: str, bad: str, after: str) -> None:
    with pytest.raises(AmiEncodeError):
        encode_action("UserEvent", {"CallerID": before + bad + after}, "x")


# -- response correlation


def _sent_actions(name: str) -> list[tuple[str, str]]:
    """(ActionID, Action) pairs from a capture's .ami-actions.txt."""
    text = (ASTERISK_FIXTURES / name).with_suffix(".ami-actions.txt").read_text()
    actions = re.findall(r"^Action: (\S+)\nActionID: (\S+)$", text, re.M)
    return [(action_id, action) for action, action_id in actions]


def _track(name: str, **final_events: str) -> tuple[list[ActionResult], list[AmiMessage]]:
    tracker = ActionTracker()
    for action_id, action in _sent_actions(name):
        tracker.register(action_id, action, final_event=final_events.get(action))
    results: list[ActionResult] = []
    passed: list[AmiMessage] = []
    for frame in frame_all(recv_chunks(name)):
        if not isinstance(frame, AmiMessage):
            continue
        routed = tracker.feed(frame)
        if isinstance(routed, ActionResult):
            results.append(routed)
        elif routed is frame:
            passed.append(frame)
        else:
            assert routed is None
    assert len(tracker) == 0, f"still pending: {list(tracker)}"
    return results, passed


def test_every_action_of_scenario_04_completes_with_its_own_reply() -> None:
    results, passed = _track("04-pause-unpause-with-reason-and-logoff.ami")
    by_id = {r.action_id: r for r in results}
    assert len(by_id) == 19
    assert by_id["s04-002"].ok and by_id["s04-002"].message == "Added interface to queue"
    duplicate = by_id["s04-005"]
    assert not duplicate.ok
    with pytest.raises(AmiActionError) as info:
        duplicate.raise_for_error()
    assert info.value.message == "Unable to add interface: Already there"
    assert info.value.action == "QueueAdd"
    assert by_id["s04-016"].message == "Unable to remove interface: Not there"
    status = by_id["s04-006"]
    assert [i.name for i in status.items] == [
        "QueueParams", "QueueMember", "QueueParams", "QueueMember", "QueueMember",
    ]
    assert status.complete is not None and status.complete.get("ListItems") == "5"
    summary = by_id["s04-011"]
    assert [i.get("Queue") for i in summary.items] == ["aftersales"]
    assert by_id["s04-019"].response.name == "Goodbye"
    # Live events are not swallowed: the pauses and removals go on to the dispatcher.
    assert [m.name for m in passed].count("QueueMemberPause") == 6
    assert not [m for m in passed if m.kind is MessageKind.RESPONSE]
    assert not [m for m in passed if m.name in ("QueueMember", "QueueParams", "QueueSummary")]


def test_list_action_with_zero_items_completes_on_its_complete_event() -> None:
    results, _ = _track("08-asterisk-restart.reconnect.ami")
    channels = next(r for r in results if r.action == "CoreShowChannels")
    assert channels.items == ()
    assert channels.complete is not None and channels.complete.name == "CoreShowChannelsComplete"
    status = next(r for r in results if r.action == "QueueStatus")
    assert [i.get("PausedReason") for i in status.items if i.name == "QueueMember"] == [
        "meeting", "meeting",
    ]


def test_async_originate_waits_for_its_originate_response() -> None:
    results, passed = _track("07-supervisor-spy.ami", Originate="OriginateResponse")
    originates = [r for r in results if r.action == "Originate"]
    assert len(originates) == 3
    for result in originates:
        assert result.message == "Originate successfully queued"
        assert result.final is not None
        assert result.final.get("ActionID") == result.action_id
        assert result.final.get("Response") == "Success"
    assert "OriginateResponse" not in [m.name for m in passed]


def test_without_final_event_the_originate_response_passes_through_as_an_event() -> None:
    results, passed = _track("07-supervisor-spy.ami")
    assert [m.name for m in passed].count("OriginateResponse") == 3
    assert all(r.final is None for r in results)


def test_unregistered_or_cancelled_replies_pass_through() -> None:
    tracker = ActionTracker()
    tracker.register("a-1", "Ping")
    assert tracker.cancel("a-1")
    late = AmiMessage("Response: Success\r\nActionID: a-1\r\nPing: Pong")
    assert tracker.feed(late) is late
    tracker.register("a-2", "Ping")
    tracker.register("a-3", "QueueStatus")
    assert sorted(tracker.drain()) == ["a-2", "a-3"]
    assert len(tracker) == 0


def test_registering_the_same_action_id_twice_is_refused() -> None:
    tracker = ActionTracker()
    tracker.register("dup", "Ping")
    with pytest.raises(AmiProtocolError):
        tracker.register("dup", "Ping")


def test_capture_paths_exist() -> None:
    assert all((ASTERISK_FIXTURES / name).is_file() for name in MESSAGE_COUNTS)
    assert set(CAPTURES) == set(MESSAGE_COUNTS)
    assert isinstance(ASTERISK_FIXTURES, Path)
