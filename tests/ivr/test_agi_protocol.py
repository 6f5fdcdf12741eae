"""The pure AGI protocol: real captures replayed byte-exact and split everywhere, replies,
headers, command encoding and injection, and fuzzing (never a crash, never a shifted reply)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr import agi_protocol as agi
from ivr.agi_protocol import (
    AgiConnection,
    AgiRequest,
    Command,
    ConnectionClosed,
    HangupNotice,
    Interim,
    ProtocolViolation,
    Reply,
)
from ivr.errors import AgiArgumentError, AgiHeaderError, AgiProtocolError
from tests.conftest import ASTERISK_FIXTURES
from tests.fakes.agi_asterisk import Transcript, header_block, load_transcript

TRANSCRIPTS = sorted(ASTERISK_FIXTURES.glob("*.agi.txt"))
DEAD = "Command Not Permitted on a dead channel or intercept routine"


def _raw_of(path: Path) -> Path:
    return path.with_name(path.name.replace(".agi.txt", ".agi-asterisk.raw"))


def res_agi_parse_args(line: bytes) -> list[bytes]:
    """A Python port of res_agi.c ``parse_args()`` (Asterisk 22): how Asterisk splits a line."""
    argv: list[bytearray] = []
    quoted = escaped = False
    whitespace = True
    for byte in line:
        char = bytes([byte])
        if char == b'"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                argv.append(bytearray())
                whitespace = False
            continue
        if char in b" \t" and not quoted and not escaped:
            whitespace = True
            continue
        if char == b"\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            argv.append(bytearray())
            whitespace = False
        argv[-1].append(byte)
        escaped = False
    return [bytes(arg) for arg in argv]


def replay(transcript: Transcript, chunks_of: list[list[bytes]] | None = None) -> list[list]:
    """Feed a transcript (each Asterisk segment possibly cut into chunks) sending its commands
    at the right moments; returns the events per segment."""
    segments = transcript.segments()
    chunks_of = chunks_of or [[segment] for segment in segments]
    conn = AgiConnection()
    result: list[list] = []
    for index, chunks in enumerate(chunks_of):
        if 0 < index <= len(transcript.exchanges):
            conn.send(Command.from_line(transcript.exchanges[index - 1].command))
        events: list = []
        for chunk in chunks:
            events.extend(conn.feed(chunk))
        result.append(events)
    result.append(conn.feed_eof())
    return result


# ------------------------------------------------------------------------------ captures


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name)
def test_transcript_reassembles_the_exact_bytes_asterisk_sent(path: Path) -> None:
    assert load_transcript(path).asterisk_bytes() == _raw_of(path).read_bytes()


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name)
def test_every_captured_command_gets_exactly_the_reply_that_followed_it(path: Path) -> None:
    transcript = load_transcript(path)
    events = replay(transcript)
    header, *per_command, trailer, eof = events
    assert len(header) == 1 and isinstance(header[0], AgiRequest)
    for exchange, got in zip(transcript.exchanges, per_command, strict=True):
        replies = [e for e in got if isinstance(e, Reply)]
        assert len(replies) == 1, (exchange.command, got)
        assert not any(isinstance(e, ProtocolViolation) for e in got)
        last_line = exchange.reply.rstrip(b"\n").split(b"\n")[-1].decode()
        assert last_line.startswith(str(replies[0].code))
    assert trailer == [HangupNotice()]
    assert eof == [ConnectionClosed(pending=0)]


def test_header_block_of_a_real_call_becomes_a_request() -> None:
    request = replay(
        load_transcript(ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi.txt")
    )[0][0]
    assert request.channel == "Local/4008000000@from-trunk-00000000;2"
    assert request.unique_id == "1795330137.1"
    assert (request.caller_id, request.caller_id_name) == ("13800138000", "Merchant")
    assert (request.language, request.context, request.extension) == (
        "en",
        "from-trunk",
        "4008000000",
    )
    assert request.priority == "4"
    assert request.network and request.network_script == "hotline"
    assert request.request == "agi://127.0.0.1:4573/hotline"
    assert request.route == "hotline"
    assert request.version == "22.10.1"
    assert request.args == ()
    # "agi_accountcode: " (trailing space) is an empty value; "unknown" numbers are empty.
    assert request.account_code == ""
    assert request.raw["agi_accountcode"] == ""
    assert (request.dnid, request.rdnis) == ("", "")
    assert request.raw["agi_dnid"] == "unknown"


def test_captured_replies_decode_to_what_the_ivr_got() -> None:
    transcript = load_transcript(ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi.txt")
    replies = [
        next(e for e in events if isinstance(e, Reply)) for events in replay(transcript)[1:-2]
    ]
    by_command = dict(zip((e.command for e in transcript.exchanges), replies, strict=True))
    assert by_command["GET VARIABLE CALLERID(num)"].data == "13800138000"
    assert by_command["DATABASE GET cc-merchant 13800138000"].result == "0"
    assert by_command["DATABASE GET cc-merchant 13800138000"].data is None
    assert by_command['STREAM FILE hello ""'].extras == {"endpos": "6291"}
    assert agi.decode_get_data(
        by_command["GET DATA basic-pbx-ivr-main 5000 1"]
    ) == agi.DigitsResult("2", False)
    assert agi.decode_get_data(
        by_command["GET DATA astcc-followed-by-the-pound-key 6000 20"]
    ) == agi.DigitsResult("123456789012345", False)
    assert agi.decode_digit(by_command["WAIT FOR DIGIT 3000"]) == "1"
    assert by_command['STREAMFILE hello ""'].code == 510
    usage = by_command["SAY NUMBER"]
    assert usage.code == 520
    assert usage.text == "Invalid command syntax.  Proper usage follows:"
    assert usage.usage.startswith("Say a given number") and "<literal>-1</literal>" in usage.usage
    assert by_command["EXEC Playback beep"].result == "0"


def test_hangup_line_between_command_and_reply_is_not_taken_as_the_reply() -> None:
    transcript = load_transcript(ASTERISK_FIXTURES / "05-hangup-during-ivr.agi.txt")
    commands = [e.command for e in transcript.exchanges]
    events = replay(transcript)[1:-2]
    get_data = commands.index("GET DATA astcc-followed-by-the-pound-key 6000 20")
    assert events[get_data] == [Reply(200, "-1", text="result=-1")]
    assert commands[get_data + 1] == 'VERBOSE "hotline: caller hung up during IVR" 1'
    assert events[get_data + 1] == [HangupNotice(), Reply(200, "1", text="result=1")]
    assert events[get_data + 2][0].data == "13800138000"
    assert events[commands.index('STREAM FILE goodbye ""')] == [Reply(511, None, text=DEAD)]
    assert events[-1] == [Reply(200, "0", text="result=0")]


@pytest.mark.parametrize(
    "path",
    [
        ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi.txt",
        ASTERISK_FIXTURES / "05-hangup-during-ivr.agi.txt",
    ],
    ids=lambda p: p.name,
)
def test_replay_split_at_every_byte_offset_gives_the_same_events(path: Path) -> None:
    transcript = load_transcript(path)
    expected = replay(transcript)
    segments = transcript.segments()
    starts = [sum(len(s) for s in segments[:i]) for i in range(len(segments))]
    total = sum(len(s) for s in segments)
    for offset in range(total):
        index = max(i for i, start in enumerate(starts) if start <= offset)
        cut = offset - starts[index]
        chunks = [[s] for s in segments]
        chunks[index] = [segments[index][:cut], segments[index][cut:]]
        assert replay(transcript, chunks) == expected, offset
    byte_by_byte = [[s[i : i + 1] for i in range(len(s))] for s in segments]
    assert replay(transcript, byte_by_byte) == expected


# ------------------------------------------------------------------------------ header block


def test_header_tolerates_crlf_line_ends() -> None:
    block = header_block().replace(b"\n", b"\r\n")
    request = agi.parse_header_block(block)
    assert request.unique_id == "1795330137.1" and request.account_code == ""


def test_route_ignores_query_and_args_come_from_agi_arg_lines() -> None:
    request = agi.parse_header_block(
        header_block(
            agi_network_script="hotline?mode=night",
            agi_request="agi://10.0.0.5:4573/hotline?mode=night",
            agi_arg_2="second",
            agi_arg_1="4008000000",
        )
    )
    assert request.route == "hotline"
    assert request.args == ("4008000000", "second")


def test_route_falls_back_to_the_request_url_path() -> None:
    assert agi.route_of("", "agi://127.0.0.1:4573/hotline/?x=1") == "hotline"
    assert agi.route_of("", "/usr/local/bin/hotline-agi") == "usr/local/bin/hotline-agi"
    assert agi.route_of("?extension=100") == ""


def test_unknown_caller_id_is_empty() -> None:
    request = agi.parse_header_block(
        header_block(agi_callerid="unknown", agi_calleridname="unknown")
    )
    assert (request.caller_id, request.caller_id_name) == ("", "")


def test_header_value_holding_a_line_feed_is_continued_not_rejected() -> None:
    block = header_block(agi_arg_1="first line\nsecond line")
    assert agi.parse_header_block(block).args == ("first line\nsecond line",)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
        b"agi network: yes\n\n",
        b"HANGUP\n",
    ],
)
def test_garbage_instead_of_a_header_raises_header_error(data: bytes) -> None:
    conn = AgiConnection()
    with pytest.raises(AgiHeaderError):
        conn.feed(data)
    with pytest.raises(AgiProtocolError):
        conn.feed(b"agi_network: yes\n")


def test_oversized_header_is_refused_even_without_line_ends() -> None:
    conn = AgiConnection(max_header=1024)
    with pytest.raises(AgiHeaderError):
        conn.feed(b"agi_x: " + b"a" * 2000)


def test_header_without_terminating_empty_line_is_an_error() -> None:
    with pytest.raises(AgiHeaderError):
        agi.parse_header_block(b"agi_network: yes\n")


# ------------------------------------------------------------------------------ replies


def _one(conn: AgiConnection, command: Command, data: bytes) -> list:
    conn.send(command)
    return conn.feed(data)


def _ready(**kwargs: int) -> AgiConnection:
    conn = AgiConnection(**kwargs)
    conn.feed(header_block())
    return conn


@pytest.mark.parametrize(
    ("command", "line", "code", "result", "data", "extras"),
    [
        (agi.stream_file("hello"), "200 result=0 endpos=6291", 200, "0", None, {"endpos": "6291"}),
        (
            agi.get_data("p", 6000, 20),
            "200 result=123456789012345 (timeout)",
            200,
            "123456789012345",
            "timeout",
            {},
        ),
        (agi.get_data("p", 6000, 20), "200 result= (timeout)", 200, "", "timeout", {}),
        (agi.get_data("p", 6000, 20), "200 result=0012", 200, "0012", None, {}),
        (
            agi.get_variable("CALLERID(num)"),
            "200 result=1 (13800138000)",
            200,
            "1",
            "13800138000",
            {},
        ),
        (agi.get_variable("X"), "200 result=1 ()", 200, "1", "", {}),
        (agi.get_variable("X"), "200 result=1 (a) b=c)", 200, "1", "a) b=c", {}),
        (agi.get_variable("X"), "200 result=0", 200, "0", None, {}),
        (agi.wait_for_digit(3000), "200 result=-1", 200, "-1", None, {}),
        (
            agi.record_file("/tmp/x"),
            "200 result=35 (dtmf) endpos=20000",
            200,
            "35",
            "dtmf",
            {"endpos": "20000"},
        ),
        (
            agi.command("GOSUB", "ctx", "s", 1),
            "200 result=-1 Gosub label not found",
            200,
            "-1",
            None,
            {},
        ),
        (
            agi.command("GOSUB", "ctx", "s", 1),
            "503 result=-2 Memory allocation failure",
            503,
            "-2",
            None,
            {},
        ),
        (
            agi.command("STREAMFILE", "hello", ""),
            "510 Invalid or unknown command",
            510,
            None,
            None,
            {},
        ),
        (agi.stream_file("goodbye"), f"511 {DEAD}", 511, None, None, {}),
        (
            agi.command("SAY", "NUMBER"),
            "520 Invalid command syntax.  Proper usage not available.",
            520,
            None,
            None,
            {},
        ),
    ],
)
def test_reply_lines_parse_to_typed_replies(
    command: Command, line: str, code: int, result: str | None, data: str | None, extras: dict
) -> None:
    (reply,) = _one(_ready(), command, line.encode() + b"\n")
    assert (reply.code, reply.result, reply.data, dict(reply.extras)) == (
        code,
        result,
        data,
        extras,
    )


def test_trying_line_is_interim_and_the_final_reply_answers_the_command() -> None:
    conn = _ready()
    events = _one(conn, agi.command("GOSUB", "sub", "s", 1), b"100 result=0 Trying...\n")
    assert events == [Interim("result=0 Trying...")]
    assert conn.pending == 1
    (reply,) = conn.feed(b"200 result=0 Gosub complete\n")
    assert reply.code == 200 and conn.pending == 0


def test_usage_block_is_one_reply_even_when_its_text_looks_like_replies() -> None:
    conn = _ready()
    block = b"520-Invalid command syntax.  Proper usage follows:\nHANGUP\n200 result=1\n520 End of proper usage.\n"
    (reply,) = _one(conn, agi.command("SAY", "NUMBER"), block)
    assert reply.code == 520 and reply.usage == "HANGUP\n200 result=1"
    (next_reply,) = _one(conn, agi.exec_("Playback", "beep"), b"200 result=0\n")
    assert next_reply.result == "0"


def test_value_holding_a_line_feed_stays_one_reply() -> None:
    conn = _ready()
    (reply,) = _one(conn, agi.get_variable("X"), b"200 result=1 (first\n200 result=0\nlast)\n")
    assert reply.data == "first\n200 result=0\nlast"
    (reply,) = _one(conn, agi.set_variable("Y", "1"), b"200 result=1\n")
    assert reply.result == "1"


def test_garbage_line_is_skipped_and_the_command_still_gets_its_own_reply() -> None:
    conn = _ready()
    events = _one(conn, agi.wait_for_digit(3000), b"garbage\n\n42\n200 result=49\n")
    assert [type(e) for e in events] == [ProtocolViolation] * 3 + [Reply]
    assert agi.decode_digit(events[-1]) == "1"


def test_reply_with_no_command_waiting_is_a_violation_not_the_next_reply() -> None:
    conn = _ready()
    (violation,) = conn.feed(b"200 result=7\n")
    assert isinstance(violation, ProtocolViolation)
    (reply,) = _one(conn, agi.answer(), b"200 result=0\n")
    assert reply.result == "0"


def test_too_many_garbage_lines_mean_this_is_not_asterisk() -> None:
    conn = _ready(max_violations=3)
    with pytest.raises(AgiProtocolError):
        conn.feed(b"x\n" * 4)


def test_endless_line_is_refused() -> None:
    conn = _ready(max_line=100)
    conn.send(agi.answer())
    with pytest.raises(AgiProtocolError):
        conn.feed(b"2" * 200)


def test_commands_cannot_be_pipelined_or_sent_before_the_header() -> None:
    with pytest.raises(AgiProtocolError):
        AgiConnection().send(agi.answer())
    conn = _ready()
    conn.send(agi.stream_file("hello"))
    with pytest.raises(AgiProtocolError):
        conn.send(agi.answer())


def test_eof_reports_the_commands_left_without_reply() -> None:
    conn = _ready()
    conn.send(agi.get_data("p", 1000, 3))
    assert conn.feed_eof() == [ConnectionClosed(pending=1)]
    with pytest.raises(AgiProtocolError):
        conn.send(agi.answer())


@pytest.mark.parametrize(("result", "digit"), [("49", "1"), ("35", "#"), ("42", "*"), ("0", None)])
def test_wait_for_digit_result_is_an_ascii_code(result: str, digit: str | None) -> None:
    assert agi.decode_digit(Reply(200, result)) == digit


@pytest.mark.parametrize("result", ["-1", "x", None])
def test_a_failed_digit_result_is_not_a_digit(result: str | None) -> None:
    with pytest.raises(AgiProtocolError):
        agi.decode_digit(Reply(200, result))


# ------------------------------------------------------------------------------ commands


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (agi.get_variable("CALLERID(num)"), "GET VARIABLE CALLERID(num)"),
        (agi.database_get("cc-merchant", "13800138000"), "DATABASE GET cc-merchant 13800138000"),
        (agi.stream_file("hello"), 'STREAM FILE hello ""'),
        (agi.get_data("basic-pbx-ivr-main", 5000, 1), "GET DATA basic-pbx-ivr-main 5000 1"),
        (agi.say_digits("2"), 'SAY DIGITS 2 ""'),
        (
            agi.get_data("astcc-followed-by-the-pound-key", 6000, 20),
            "GET DATA astcc-followed-by-the-pound-key 6000 20",
        ),
        (agi.wait_for_digit(3000), "WAIT FOR DIGIT 3000"),
        (agi.command("STREAMFILE", "hello", ""), 'STREAMFILE hello ""'),
        (agi.command("SAY NUMBER"), "SAY NUMBER"),
        (agi.exec_("Playback", "beep"), "EXEC Playback beep"),
        (
            agi.set_variable("CC_MERCHANT_ID", "123456789012345"),
            'SET VARIABLE CC_MERCHANT_ID "123456789012345"',
        ),
        (
            agi.set_variable("CC_IVR_PATH", "hello>menu:2>merchant:ok>intent:1"),
            'SET VARIABLE CC_IVR_PATH "hello>menu:2>merchant:ok>intent:1"',
        ),
        (
            agi.verbose("hotline: caller hung up during IVR", 1),
            'VERBOSE "hotline: caller hung up during IVR" 1',
        ),
        (agi.say_number(42), 'SAY NUMBER 42 ""'),
        (agi.answer(), "ANSWER"),
        (agi.hangup(), "HANGUP"),
        (agi.set_music(True, "default"), "SET MUSIC ON default"),
        (agi.set_music(False), "SET MUSIC OFF"),
        (
            agi.database_put("cc-merchant", "+86 138", 'x"y'),
            'DATABASE PUT cc-merchant "+86 138" "x\\"y"',
        ),
        (
            agi.record_file("/var/spool/asterisk/tmp/r1", "wav", "#", 10000, silence_s=3),
            'RECORD FILE /var/spool/asterisk/tmp/r1 wav "#" 10000 BEEP s=3',
        ),
        (agi.get_full_variable("${CALLERID(num)}"), 'GET FULL VARIABLE "${CALLERID(num)}"'),
    ],
)
def test_builders_write_the_captured_command_lines(command: Command, line: str) -> None:
    assert command.line == line.encode() + b"\n"


def test_builders_know_which_commands_work_on_a_dead_channel() -> None:
    dead_ok = [
        agi.get_variable("X"),
        agi.set_variable("X", "1"),
        agi.verbose("m"),
        agi.exec_("Noop"),
    ]
    dead_ok += [agi.database_get("f", "k"), agi.database_put("f", "k", "v"), agi.noop()]
    assert all(c.dead_ok for c in dead_ok)
    live_only = [agi.stream_file("x"), agi.get_data("x", 1, 1), agi.wait_for_digit(1), agi.answer()]
    live_only += [agi.say_digits("1"), agi.channel_status(), agi.command("STREAMFILE", "x")]
    assert not any(c.dead_ok for c in live_only)
    assert Command.from_line("GET VARIABLE CALLERID(num)").dead_ok
    assert not Command.from_line('STREAM FILE goodbye ""').dead_ok


@pytest.mark.parametrize(
    "build",
    [
        lambda: agi.get_variable("CALLERID(num) X"),
        lambda: agi.get_variable('A"B'),
        lambda: agi.set_variable("", "v"),
        lambda: agi.set_variable("1ABC", "v"),
        lambda: agi.stream_file("hello world"),
        lambda: agi.stream_file("../../etc/passwd"),
        lambda: agi.stream_file('hello"'),
        lambda: agi.stream_file("hello", "1\n"),
        lambda: agi.stream_file("hello", "12x"),
        lambda: agi.get_data("p", -1, 5),
        lambda: agi.get_data("p", 1000, 0),
        lambda: agi.wait_for_digit(True),
        lambda: agi.say_digits("12a"),
        lambda: agi.say_digits("1\nHANGUP"),
        lambda: agi.database_get("cc-merchant", "13800138000\r\nEXEC System x"),
        lambda: agi.exec_("Playback", "beep\nEXEC System x"),
        lambda: agi.say_digits(""),
        lambda: agi.exec_("Play back"),
        lambda: agi.database_get("", "k"),
        lambda: agi.command("stream file", "x"),
        lambda: agi.verbose("m", 9),
        lambda: agi.set_variable("X", "a" * 9000),
        lambda: agi.command("EXEC", *["a"] * 200),
        lambda: agi.set_variable("X", "\ud800"),
    ],
)
def test_invalid_arguments_are_refused_with_a_typed_error(build: object) -> None:
    with pytest.raises(AgiArgumentError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "evil",
    [
        "13800138000\nHANGUP",
        "1\r\nEXEC System rm -rf /",
        '" EXEC System "rm',
        '\\" EXEC System \\"',
        "a\x00SET VARIABLE X 1",
    ],
)
def test_caller_controlled_value_with_line_breaks_never_adds_a_line(evil: str) -> None:
    with pytest.raises(AgiArgumentError) if re.search("[\r\n\x00]", evil) else _no_error():
        line = agi.set_variable("CC_CALLER", evil).line
        assert line.count(b"\n") == 1
        assert res_agi_parse_args(line[:-1]) == [b"SET", b"VARIABLE", b"CC_CALLER", evil.encode()]
    line = agi.verbose(f"call from {evil}").line
    assert line.count(b"\n") == 1 and b"\r" not in line and b"\x00" not in line
    assert len(res_agi_parse_args(line[:-1])) == 3


class _no_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@settings(max_examples=300)
@given(st.text())
def test_quoted_value_round_trips_through_res_agi_parse_args(value: str) -> None:
    for build, prefix in (
        (lambda v: agi.set_variable("CC_X", v), [b"SET", b"VARIABLE", b"CC_X"]),
        (
            lambda v: agi.exec_("Playback", v) if v else agi.exec_("Playback", "x"),
            [b"EXEC", b"Playback"],
        ),
        (lambda v: agi.database_put("fam", "key", v), [b"DATABASE", b"PUT", b"fam", b"key"]),
        (lambda v: agi.command("DATABASE GET", "fam", v) if v else agi.command("NOOP"), None),
    ):
        try:
            line = build(value).line
        except AgiArgumentError:
            assert re.search("[\r\n\x00]", value)
            continue
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert b"\r" not in line and b"\x00" not in line
        if prefix is not None:
            expected = value.encode() if value or prefix[0] != b"EXEC" else b"x"
            assert res_agi_parse_args(line[:-1]) == [*prefix, expected]


# ------------------------------------------------------------------------------ fuzzing

_GARBAGE = st.text(
    st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=30
).filter(lambda s: not re.match(r"\d{3}[ -]", s) and s != "HANGUP")
_TEXT = st.text(
    st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=20
)


@st.composite
def _exchange(draw: st.DrawFn) -> tuple[Command, bytes, tuple]:
    """A command and what Asterisk may send back: noise, then one reply."""
    noise = b"".join(
        draw(
            st.lists(
                st.one_of(st.just(b"HANGUP\n"), _GARBAGE.map(lambda s: s.encode() + b"\n")),
                max_size=3,
            )
        )
    )
    kind = draw(st.sampled_from(["status", "digits", "value", "510", "511", "520", "trying"]))
    if kind == "status":
        number = draw(st.integers(-1, 10**6))
        extras = draw(st.booleans())
        line = f"200 result={number}" + (f" endpos={number * 7}" if extras else "")
        return agi.stream_file("hello"), noise + line.encode() + b"\n", (200, str(number), None)
    if kind == "digits":
        digits = draw(st.text("0123456789*", max_size=20))
        timeout = draw(st.booleans())
        line = f"200 result={digits}" + (" (timeout)" if timeout else "")
        expected = (200, digits, "timeout" if timeout else None)
        return agi.get_data("p", 5000, 20), noise + line.encode() + b"\n", expected
    if kind == "value":
        parts = draw(st.lists(_TEXT, min_size=1, max_size=3))
        # A line of the value that ends in ")" would be read as the end of it: keep those out
        # of the data check (the sync check below still applies).
        value = "\n".join(parts)
        ambiguous = any(p.endswith(")") for p in parts[:-1])
        line = f"200 result=1 ({value})"
        return (
            agi.get_variable("X"),
            noise + line.encode() + b"\n",
            (200, "1", None if ambiguous else value),
        )
    if kind == "510":
        return (
            agi.command("STREAMFILE", "x"),
            noise + b"510 Invalid or unknown command\n",
            (510, None, None),
        )
    if kind == "511":
        return agi.stream_file("x"), noise + f"511 {DEAD}\n".encode(), (511, None, None)
    if kind == "520":
        usage = draw(st.lists(_TEXT.filter(lambda s: not s.startswith("520 ")), max_size=3))
        block = "520-Invalid command syntax.  Proper usage follows:\n" + "".join(
            u + "\n" for u in usage
        )
        block += "520 End of proper usage.\n"
        return agi.command("SAY NUMBER"), noise + block.encode(), (520, None, None)
    final = b"200 result=0 Gosub complete\n"
    return (
        agi.command("GOSUB", "s", 1),
        noise + b"100 result=0 Trying...\n" + final,
        (200, "0", None),
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_exchange(), min_size=1, max_size=12), st.data())
def test_fuzzed_reply_streams_never_crash_and_never_shift_a_reply(
    exchanges: list, data: st.DataObject
) -> None:
    conn = AgiConnection(max_violations=10_000)
    conn.feed(header_block())
    for command, wire, (code, result, value) in exchanges:
        conn.send(command)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=4)))
        events = []
        for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
            events.extend(conn.feed(wire[start:end]))
        replies = [e for e in events if isinstance(e, Reply)]
        assert len(replies) == 1, (wire, events)
        assert conn.pending == 0
        reply = replies[0]
        assert (reply.code, reply.result) == (code, result)
        if value is not None:
            assert reply.data == value


@settings(max_examples=300)
@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes_give_events_or_a_typed_error_never_a_crash(
    blob: bytes, after_header: bool
) -> None:
    conn = AgiConnection()
    if after_header:
        conn.feed(header_block())
        conn.send(agi.get_variable("X"))
    try:
        conn.feed(blob)
        conn.feed_eof()
    except AgiProtocolError:
        pass


_KEYS = st.from_regex(r"agi_[a-z0-9_]{1,12}", fullmatch=True)


@settings(max_examples=200)
@given(st.dictionaries(_KEYS, _TEXT, min_size=1, max_size=10), st.integers(1, 50))
def test_fuzzed_header_blocks_round_trip(fields: dict[str, str], chunk: int) -> None:
    block = "".join(f"{key}: {value}\n" for key, value in fields.items()).encode() + b"\n"
    conn = AgiConnection()
    events: list = []
    for start in range(0, len(block), chunk):
        events.extend(conn.feed(block[start : start + chunk]))
    (request,) = events
    assert isinstance(request, AgiRequest)
    assert dict(request.raw) == fields


# ------------------------------------------------------------------------------ MSet hand-off


def test_mset_sets_several_variables_in_one_exec_line() -> None:
    command = agi.mset({"CC_QUEUE": "aftersales", "CC_IVR_PATH": "hello>lang:1>menu:2",
                        "CC_MERCHANT_ID": ""})
    assert command.line == (
        b'EXEC MSet "CC_QUEUE=aftersales,CC_IVR_PATH=hello>lang:1>menu:2,CC_MERCHANT_ID="\n')


@pytest.mark.parametrize(
    "value",
    ["a,b", "a=b", 'a"b', "a\\b", "a b", "a\r\nEXEC System x", "a\nb", "商户", "a(b)", "$x"],
)
def test_mset_refuses_values_msets_parser_would_change(value: str) -> None:
    assert not agi.mset_safe({"CC_X": value})
    with pytest.raises(AgiArgumentError, match="MSet"):
        agi.mset({"CC_OK": "1", "CC_X": value})


def test_mset_refuses_function_names_empty_sets_and_more_than_99_pairs() -> None:
    assert not agi.mset_safe({"CHANNEL(language)": "en"})
    assert not agi.mset_safe({})
    assert agi.mset_safe({f"V{i}": "1" for i in range(99)})
    assert not agi.mset_safe({f"V{i}": "1" for i in range(100)})
