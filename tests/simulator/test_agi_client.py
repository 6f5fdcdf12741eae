"""Asterisk's side of FastAGI: the pure channel against the captured conversations, and the
asyncio client against a small scripted FastAGI server of this test (not the product's IVR)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simulator.agi_client import (
    DEAD,
    UNKNOWN,
    AgiChannel,
    AgiIvr,
    header_block,
    parse_args,
    run_session,
)
from simulator.callers import CallerScript
from simulator.errors import AgiConnectError
from simulator.pbx import (
    CallerHangup,
    DigitPressed,
    Input,
    IvrDone,
    IvrRequest,
    RunIvr,
    VariableSet,
)

LAB_REQUEST = IvrRequest(
    route="hotline", channel="Local/4008000000@from-trunk-00000000;2", channel_type="Local",
    unique_id="1795330137.1", linked_id="1795330137.0", caller_num="13800138000",
    caller_name="Merchant", language="en", dnid="unknown", context="from-trunk",
    exten="4008000000", priority=4, account_code="", agi_host="127.0.0.1", agi_port=4573)
LAB_CALLER = CallerScript(phone="13800138000", menu_key="2", merchant_number="123456789012345",
                          intent_key="1")


def conversation(path: Path) -> list[tuple[str, list[str]]]:
    """(command, Asterisk's reply lines) from an ``.agi.txt``, after the header block."""
    pairs: list[tuple[str, list[str]]] = []
    in_header = True
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            continue
        if in_header:
            if line == "< ":
                in_header = False
            continue
        if line.startswith("> "):
            pairs.append((line[2:], []))
        elif line.startswith("< ") and pairs:
            pairs[-1][1].append(line[2:])
    return pairs


def test_the_header_block_is_the_captured_one(asterisk_fixtures: Path) -> None:
    raw = (asterisk_fixtures / "01-agent-login-and-answered-call.agi-asterisk.raw").read_bytes()
    ours = header_block(LAB_REQUEST)
    assert ours == raw[:len(ours)]
    assert ours.count(b"\n") == 23  # 22 agi_* lines and the empty line
    assert b"agi_accountcode: \n" in ours


def test_script_arguments_follow_as_agi_arg_lines() -> None:
    block = header_block(LAB_REQUEST, ("a b", "2"))
    assert block.endswith(b"agi_arg_1: a b\nagi_arg_2: 2\n\n")


def _replay(pairs: list[tuple[str, list[str]]], channel: AgiChannel) -> list[list[str]]:
    out = []
    for command, _ in pairs:
        answer = channel.command(command)
        out.append([_endpos(line) for line in answer.lines])
    return out


def _endpos(line: str) -> str:
    # endpos is the length of the prompt that played: the lab's sound files, not ours.
    head, sep, _ = line.partition(" endpos=")
    return head + (" endpos=<n>" if sep else "")


def test_the_answered_call_conversation_is_replayed_reply_for_reply(
        asterisk_fixtures: Path) -> None:
    pairs = conversation(asterisk_fixtures / "01-agent-login-and-answered-call.agi.txt")
    expected = [[_endpos(line) for line in lines] for _, lines in pairs]
    expected[-1] = expected[-1][:1]  # the final HANGUP comes after the half-close
    assert _replay(pairs, AgiChannel(LAB_REQUEST, LAB_CALLER)) == expected


def test_the_hangup_during_ivr_conversation_is_replayed_reply_for_reply(
        asterisk_fixtures: Path) -> None:
    pairs = conversation(asterisk_fixtures / "05-hangup-during-ivr.agi.txt")
    expected = [[_endpos(line) for line in lines] for _, lines in pairs]
    expected[-1] = expected[-1][:1]
    script = CallerScript(phone="13800138000", menu_key="2", hangup_after_prompts=2)
    got = _replay(pairs, AgiChannel(LAB_REQUEST, script))
    assert got == expected
    assert ["HANGUP", "200 result=1"] in got  # the notice before the next reply
    assert [DEAD] in got


@pytest.mark.parametrize(("command", "reply"), [
    ("GET DATA main_menu 5000 1", "200 result=2"),
    ("GET DATA /p/zh_CN/enter_merchant_number 8000 20", "200 result=102290054110001"),
    ("GET DATA unknown_prompt 5000 1", "200 result= (timeout)"),
    ("WAIT FOR DIGIT 3000", "200 result=51"),
    ("GET VARIABLE CHANNEL(linkedid)", "200 result=1 (1795330137.0)"),
    ("GET VARIABLE NOT_SET", "200 result=0"),
    ("get variable CALLERID(num)", "200 result=1 (13800138000)"),
    ("SAY DIGITS 123 \"\"", "200 result=0"),
    ("EXEC Playback beep", "200 result=0"),
    ("CHANNEL STATUS", "200 result=6"),
    ("STREAM FILE welcome \"\"", "200 result=0 endpos=12000"),
    ("STREAM FILE main_menu 12", "200 result=50 endpos=8000"),
    ("FROBNICATE", UNKNOWN),
])
def test_commands_get_res_agis_replies(command: str, reply: str) -> None:
    script = CallerScript(menu_key="2", merchant_number="102290054110001", intent_key="3",
                          key_delay=1.0)
    assert AgiChannel(LAB_REQUEST, script).command(command).lines == (reply,)


def test_a_merchant_number_without_the_hash_times_out_with_the_digits() -> None:
    script = CallerScript(keys={"enter_merchant_number": "1234"})
    answer = AgiChannel(LAB_REQUEST, script).command("GET DATA enter_merchant_number 8000 20")
    assert answer.lines == ("200 result=1234 (timeout)",)
    assert answer.digits == "1234"


def test_set_variable_is_remembered_on_the_channel() -> None:
    channel = AgiChannel(LAB_REQUEST, LAB_CALLER)
    answer = channel.command('SET VARIABLE CC_IVR_PATH "hello>menu:2 \\"x\\""')
    assert answer.variables == (("CC_IVR_PATH", 'hello>menu:2 "x"'),)
    assert channel.command("GET VARIABLE CC_IVR_PATH").lines == (
        '200 result=1 (hello>menu:2 "x")',)


def test_exec_mset_sets_every_pair_as_asterisk_does() -> None:
    channel = AgiChannel(LAB_REQUEST, LAB_CALLER)
    answer = channel.command('EXEC MSet "CC_QUEUE=aftersales,CC_MERCHANT_ID=,junk,CC_X=a=b"')
    assert answer.lines == ("200 result=0",)
    assert answer.variables == (("CC_QUEUE", "aftersales"), ("CC_MERCHANT_ID", ""),
                                ("CC_X", "a=b"))
    assert channel.command("GET VARIABLE CC_QUEUE").lines == ("200 result=1 (aftersales)",)


@pytest.mark.parametrize(("line", "words"), [
    ('STREAM FILE hello ""', ["STREAM", "FILE", "hello", ""]),
    ('SET VARIABLE X "a b"', ["SET", "VARIABLE", "X", "a b"]),
    ("EXEC  Playback   beep", ["EXEC", "Playback", "beep"]),
    ('VERBOSE "say \\"hi\\"" 1', ["VERBOSE", 'say "hi"', "1"]),
])
def test_arguments_are_split_as_res_agi_does(line: str, words: list[str]) -> None:
    assert parse_args(line) == words


# --------------------------------------------------------------------------- over sockets


@dataclass
class ScriptedIvr:
    """A tiny FastAGI server: reads the header block, sends ``commands`` one by one, records
    every line it receives, then half-closes like the product's server."""

    commands: list[str]
    header: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    after_close: list[str] = field(default_factory=list)
    sent: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (line := (await reader.readline()).decode()) not in ("\n", ""):
                self.header.append(line.rstrip("\n"))
            for command in self.commands:
                writer.write(f"{command}\n".encode())
                await writer.drain()
                self.sent += 1
                while True:
                    reply = (await reader.readline()).decode().rstrip("\n")
                    self.replies.append(reply)
                    if reply != "HANGUP" and not reply.startswith("520-"):
                        break
            writer.write_eof()
            while line := (await reader.readline()).decode():
                self.after_close.append(line.rstrip("\n"))
        finally:
            writer.close()
            self.done.set()


@pytest.fixture
async def fastagi() -> AsyncIterator[Callable[[list[str]], asyncio.Future[tuple[str, int]]]]:
    servers: list[asyncio.Server] = []

    async def start(commands: list[str]) -> tuple[ScriptedIvr, tuple[str, int]]:
        ivr = ScriptedIvr(commands)
        server = await asyncio.start_server(ivr.handle, "127.0.0.1", 0)
        servers.append(server)
        return ivr, server.sockets[0].getsockname()[:2]

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_session_answers_the_ivr_and_ends_with_hangup(fastagi) -> None:  # type: ignore[no-untyped-def]
    ivr, (host, port) = await fastagi([
        "GET VARIABLE CALLERID(num)", "GET DATA main_menu 5000 1",
        'SET VARIABLE CC_QUEUE "aftersales"', "WAIT FOR DIGIT 3000"])
    digits: list[str] = []
    variables: list[tuple[str, str]] = []
    result = await run_session(host, port, LAB_REQUEST, LAB_CALLER, time_scale=0.001,
                               on_digit=digits.append,
                               on_variable=lambda n, v: variables.append((n, v)))
    await asyncio.wait_for(ivr.done.wait(), 5)
    assert ivr.header[0] == "agi_network: yes"
    assert ivr.header[2] == "agi_request: agi://127.0.0.1:4573/hotline"
    assert ivr.replies == ["200 result=1 (13800138000)", "200 result=2", "200 result=1",
                           "200 result=49"]
    assert ivr.after_close == ["HANGUP"]
    assert digits == ["2", "1"]
    assert variables == [("CC_QUEUE", "aftersales")]
    assert not result.hung_up


async def test_a_caller_who_hangs_up_mid_menu_gets_minus_one_then_hangup_then_511(
        fastagi) -> None:  # type: ignore[no-untyped-def]
    ivr, (host, port) = await fastagi([
        "GET DATA main_menu 5000 1", 'VERBOSE "gone" 1', "STREAM FILE goodbye \"\"",
        'SET VARIABLE CC_IVR_PATH "hello>hangup"'])
    hangups: list[bool] = []
    result = await run_session(host, port, LAB_REQUEST,
                               CallerScript(hangup_after_prompts=1), time_scale=0.001,
                               on_hangup=lambda: hangups.append(True))
    await asyncio.wait_for(ivr.done.wait(), 5)
    assert ivr.replies == ["200 result=-1", "HANGUP", "200 result=1", DEAD, "200 result=1"]
    assert ivr.after_close == ["HANGUP"]
    assert result.hung_up and hangups == [True]


async def test_the_pbx_hanging_up_aborts_the_running_command(fastagi) -> None:  # type: ignore[no-untyped-def]
    ivr, (host, port) = await fastagi(["GET DATA nobody_answers 60000 1", "ANSWER"])
    abort = asyncio.Event()
    task = asyncio.create_task(run_session(host, port, LAB_REQUEST, CallerScript(),
                                           abort=abort, time_scale=1.0))
    async with asyncio.timeout(5):
        while ivr.sent < 1:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the client now waits out GET DATA's 60 s
    abort.set()
    result = await asyncio.wait_for(task, 5)
    assert ivr.replies == ["200 result=-1", "HANGUP", DEAD]
    assert result.hung_up


async def test_an_unreachable_server_raises_agi_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(AgiConnectError):
        await run_session("127.0.0.1", port, LAB_REQUEST, CallerScript(), connect_timeout=1)


async def test_the_ivr_port_reports_an_unreachable_server_as_a_failed_agi() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    fed: list[Input] = []
    port_ = AgiIvr(lambda: ("127.0.0.1", port))
    port_.start(RunIvr("c1", LAB_REQUEST), fed.append)
    await asyncio.wait_for(port_.drain(), 5)
    assert fed == [IvrDone("c1", "hotline", hung_up=False, failed=True)]


async def test_the_ivr_port_feeds_keys_variables_and_the_end(fastagi) -> None:  # type: ignore[no-untyped-def]
    _ivr, (host, port) = await fastagi(["GET DATA main_menu 5000 1",
                                       'SET VARIABLE CC_QUEUE "presales"'])
    fed: list[Input] = []
    port_ = AgiIvr(lambda: (host, port), time_scale=0.001,
                   scripts={"c1": CallerScript(menu_key="1")})
    port_.start(RunIvr("c1", LAB_REQUEST), fed.append)
    await asyncio.wait_for(port_.drain(), 5)
    assert fed == [DigitPressed("c1", "1"), VariableSet("c1", "CC_QUEUE", "presales"),
                   IvrDone("c1", "hotline")]
    assert CallerHangup not in [type(i) for i in fed]
