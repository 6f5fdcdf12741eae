"""The FastAGI server over loopback TCP against a scripted fake Asterisk."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ivr.agi_server import AgiSession, FastAgiServer, Handler
from ivr.errors import AgiArgumentError, AgiCommandError, AgiHangup, AgiTimeout
from tests.conftest import ASTERISK_FIXTURES
from tests.fakes.agi_asterisk import (
    FakeAsterisk,
    capture_handler,
    header_block,
    load_transcript,
    responder_from,
)

DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"
ServerFactory = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[ServerFactory]:
    servers: list[FastAgiServer] = []

    async def start(routes: dict[str, Handler], **options: float) -> FastAgiServer:
        server = FastAgiServer(routes, **options)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Poll until ``predicate()`` (a state change on the server side) or fail."""
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_captured_call_runs_command_for_command_and_half_closes(
    start_server: ServerFactory,
) -> None:
    finished: list[str] = []

    async def hotline(session: AgiSession) -> None:
        await capture_handler(session)
        finished.append(session.request.unique_id)

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.play_transcript(
        load_transcript(ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi.txt")
    )
    assert finished == ["1795330137.1"]
    await until(lambda: server.active_sessions == 0)


async def test_server_half_closes_then_waits_for_asterisks_final_hangup(
    start_server: ServerFactory,
) -> None:
    seen: list[bool] = []

    async def hotline(session: AgiSession) -> None:
        await session.set_variable("CC_QUEUE", "aftersales")
        seen.append(session.hung_up)

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect('SET VARIABLE CC_QUEUE "aftersales"', b"200 result=1\n")
    assert await fake.wait_closed_by_server()
    # Half-closed, not closed: the session is still reading until Asterisk's HANGUP + close.
    assert server.active_sessions == 1
    await fake.finish()
    await until(lambda: server.active_sessions == 0)
    assert seen == [False]


async def test_drain_after_half_close_is_bounded(start_server: ServerFactory) -> None:
    async def hotline(session: AgiSession) -> None:
        await session.verbose("bye")

    server = await start_server({"hotline": hotline}, drain_timeout=0.2)
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect('VERBOSE "bye" 1', b"200 result=1\n")
    assert await fake.wait_closed_by_server()
    await until(lambda: server.active_sessions == 0)  # Asterisk never closed: aborted
    await fake.close()


async def test_hangup_during_get_data_raises_hangup_and_dead_channel_commands_still_work(
    start_server: ServerFactory,
) -> None:
    outcome: list[object] = []

    async def hotline(session: AgiSession) -> None:
        try:
            await session.get_data("astcc-followed-by-the-pound-key", 6000, 20)
        except AgiHangup as exc:
            outcome.append(exc.reason)
        assert session.hung_up
        await session.verbose("hotline: caller hung up during IVR")
        outcome.append(await session.get_variable("CALLERID(num)"))
        await session.set_variable("CC_IVR_PATH", "hello>menu:2>hangup")
        try:
            await session.stream_file("goodbye")
        except AgiHangup as exc:
            outcome.append(exc.reason)
        outcome.append((await session.exec_app("Playback", "beep")).result)

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect("GET DATA astcc-followed-by-the-pound-key 6000 20", b"200 result=-1\n")
    # result=-1 is "error or hang-up": the session asks; the channel is dead.
    await fake.expect("CHANNEL STATUS", b"HANGUP\n" + DEAD)
    await fake.expect('VERBOSE "hotline: caller hung up during IVR" 1', b"200 result=1\n")
    await fake.expect("GET VARIABLE CALLERID(num)", b"200 result=1 (13800138000)\n")
    await fake.expect('SET VARIABLE CC_IVR_PATH "hello>menu:2>hangup"', b"200 result=1\n")
    # STREAM FILE is not even sent after the HANGUP line; EXEC is.
    await fake.expect("EXEC Playback beep", b"200 result=0\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert outcome == ["result=-1", "13800138000", "hangup", "0"]
    await until(lambda: server.active_sessions == 0)


async def test_hangup_line_arriving_before_a_reply_does_not_shift_replies(
    start_server: ServerFactory,
) -> None:
    got: list[object] = []

    async def hotline(session: AgiSession) -> None:
        await session.verbose("hotline: caller hung up during IVR")
        got.append(session.hung_up)
        got.append(await session.get_variable("CALLERID(num)"))

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect('VERBOSE "hotline: caller hung up during IVR" 1', b"HANGUP\n200 result=1\n")
    await fake.expect("GET VARIABLE CALLERID(num)", b"200 result=1 (13800138000)\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert got == [True, "13800138000"]


async def test_511_without_hangup_line_raises_hangup(start_server: ServerFactory) -> None:
    # AGISIGHUP=no: no HANGUP line, only 511 on commands that need a live channel.
    outcome: list[object] = []

    async def hotline(session: AgiSession) -> None:
        try:
            await session.stream_file("goodbye")
        except AgiHangup as exc:
            outcome.append((exc.reason, session.hung_up))
        await session.set_variable("CC_IVR_PATH", "hangup")

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block(agi_network_script="hotline"))
    await fake.expect('STREAM FILE goodbye ""', DEAD)
    await fake.expect('SET VARIABLE CC_IVR_PATH "hangup"', b"200 result=1\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert outcome == [("511", True)]


async def test_missing_prompt_on_a_live_channel_is_a_command_failure_not_a_hangup(
    start_server: ServerFactory,
) -> None:
    outcome: list[object] = []

    async def hotline(session: AgiSession) -> None:
        try:
            await session.stream_file("no-such-prompt")
        except AgiCommandError as exc:
            outcome.append((type(exc).__name__, session.hung_up))
        outcome.append(await session.wait_for_digit(3000))

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect('STREAM FILE no-such-prompt ""', b"200 result=-1 endpos=0\n")
    await fake.expect("CHANNEL STATUS", b"200 result=6\n")
    await fake.expect("WAIT FOR DIGIT 3000", b"200 result=0\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert outcome == [("AgiCommandFailed", False), None]


async def test_usage_block_and_unknown_command_raise_and_the_next_command_gets_its_own_reply(
    start_server: ServerFactory,
) -> None:
    transcript = load_transcript(ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi.txt")
    usage_reply = next(e.reply for e in transcript.exchanges if e.command == "SAY NUMBER")
    errors: list[AgiCommandError] = []
    results: list[str | None] = []

    async def hotline(session: AgiSession) -> None:
        from ivr.agi_protocol import Command

        for line in ("SAY NUMBER", 'STREAMFILE hello ""'):
            try:
                await session.execute(Command.from_line(line))
            except AgiCommandError as exc:
                errors.append(exc)
        results.append((await session.exec_app("Playback", "beep")).result)

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect("SAY NUMBER", usage_reply)
    await fake.expect('STREAMFILE hello ""', b"510 Invalid or unknown command\n")
    await fake.expect("EXEC Playback beep", b"200 result=0\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert [e.code for e in errors] == [520, 510]
    assert "Say a given number" in errors[0].usage
    assert results == ["0"]


async def test_connect_and_close_without_header_leaves_nothing_running(
    start_server: ServerFactory,
) -> None:
    calls: list[str] = []

    async def hotline(session: AgiSession) -> None:
        calls.append(session.request.unique_id)

    server = await start_server({"hotline": hotline})
    for _ in range(20):  # health checks, port scans
        fake = await FakeAsterisk.connect(server.port)
        await fake.close()
    await until(lambda: not server._links)
    assert server.active_sessions == 0 and not server._tasks
    # …and the server still serves calls.
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block(agi_uniqueid="1.1"))
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert calls == ["1.1"]


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: ivr\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n",
        b"\n",
    ],
)
async def test_garbage_instead_of_header_closes_the_connection(
    start_server: ServerFactory, garbage: bytes
) -> None:
    calls: list[str] = []

    async def hotline(session: AgiSession) -> None:
        calls.append("called")

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(garbage)
    assert await fake.wait_closed_by_server()
    await fake.close()
    await until(lambda: not server._links)
    assert calls == []


async def test_garbage_between_replies_is_skipped(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[str | None] = []

    async def hotline(session: AgiSession) -> None:
        got.append(await session.get_variable("CALLERID(num)"))
        got.append(await session.wait_for_digit(3000))

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect("GET VARIABLE CALLERID(num)", b"\x00\xffnoise\n200 result=1 (13800138000)\n")
    await fake.expect("WAIT FOR DIGIT 3000", b"200 result=49\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert got == ["13800138000", "1"]
    assert "not AGI" in caplog.text and "1795330137.1" in caplog.text


async def test_silent_peer_is_dropped_after_the_header_timeout(start_server: ServerFactory) -> None:
    server = await start_server({}, header_timeout=0.2)
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(b"agi_network: yes\n")  # …and nothing more
    assert await fake.wait_closed_by_server()
    await fake.close()
    await until(lambda: not server._links)


async def test_asterisk_closing_mid_command_raises_hangup_eof(start_server: ServerFactory) -> None:
    outcome: list[str] = []

    async def hotline(session: AgiSession) -> None:
        try:
            await session.get_data("basic-pbx-ivr-main", 5000, 1)
        except AgiHangup as exc:
            outcome.append(exc.reason)

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    assert await fake.read_command() == "GET DATA basic-pbx-ivr-main 5000 1"
    await fake.close()  # Asterisk restarts
    await until(lambda: server.active_sessions == 0)
    assert outcome == ["eof"]


async def test_slow_reply_is_awaited(start_server: ServerFactory) -> None:
    got: list[object] = []

    async def hotline(session: AgiSession) -> None:
        got.append(await session.get_data("basic-pbx-ivr-main", 5000, 1))

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    assert await fake.read_command() == "GET DATA basic-pbx-ivr-main 5000 1"
    await asyncio.sleep(0.3)  # the caller listens to the prompt
    await fake.send(b"200 result=2")
    await asyncio.sleep(0.05)
    await fake.send(b"\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert [(r.digits, r.timed_out) for r in got] == [("2", False)]  # type: ignore[attr-defined]


async def test_command_timeout_raises_and_closes_the_connection(
    start_server: ServerFactory,
) -> None:
    outcome: list[str] = []

    async def hotline(session: AgiSession) -> None:
        try:
            await session.stream_file("hello")
        except AgiTimeout as exc:
            outcome.append(exc.command)
        try:
            await session.verbose("after timeout")
        except AgiHangup as exc:
            outcome.append(exc.reason)

    server = await start_server({"hotline": hotline}, command_timeout=0.2)
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    assert await fake.read_command() == 'STREAM FILE hello ""'
    assert await fake.wait_closed_by_server()  # never answered: the server gave up the call
    await fake.close()
    await until(lambda: server.active_sessions == 0)
    assert outcome == ['STREAM FILE hello ""', "eof"]


async def test_per_command_timeout_override(start_server: ServerFactory) -> None:
    outcome: list[str] = []

    async def hotline(session: AgiSession) -> None:
        from ivr import agi_protocol as agi

        try:
            await session.execute(agi.answer(), timeout=0.1)
        except AgiTimeout:
            outcome.append("timeout")

    server = await start_server({"hotline": hotline}, command_timeout=30)
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    assert await fake.read_command() == "ANSWER"
    assert await fake.wait_closed_by_server()
    await fake.close()
    await until(lambda: server.active_sessions == 0)
    assert outcome == ["timeout"]


async def test_failing_handler_is_logged_with_the_unique_id_and_other_calls_go_on(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    done: list[str] = []

    async def hotline(session: AgiSession) -> None:
        if session.request.unique_id == "666.1":
            raise RuntimeError("bug in the menu")
        await session.set_variable("CC_QUEUE", "aftersales")
        done.append(session.request.unique_id)

    server = await start_server({"hotline": hotline})
    bad = await FakeAsterisk.connect(server.port)
    good = await FakeAsterisk.connect(server.port)
    await bad.send(header_block(agi_uniqueid="666.1"))
    await good.send(header_block(agi_uniqueid="777.1"))
    await good.expect('SET VARIABLE CC_QUEUE "aftersales"', b"200 result=1\n")
    assert await bad.wait_closed_by_server()  # the broken call still half-closes cleanly
    assert await good.wait_closed_by_server()
    await bad.finish()
    await good.finish()
    assert done == ["777.1"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "666.1" in errors[0].getMessage() and errors[0].exc_info


async def test_unknown_route_is_told_to_asterisk_and_closed(start_server: ServerFactory) -> None:
    server = await start_server({"hotline": capture_handler})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block(agi_network_script="nope?x=1", agi_request="agi://h/nope?x=1"))
    command = await fake.read_command()
    assert command is not None and command.startswith("VERBOSE ") and "nope" in command
    await fake.send(b"200 result=1\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()


async def test_route_ignores_query_and_handler_gets_the_agi_arguments(
    start_server: ServerFactory,
) -> None:
    seen: list[object] = []

    async def hotline(session: AgiSession) -> None:
        seen.append((session.request.route, session.request.args))

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(
        header_block(
            agi_network_script="hotline?mode=night",
            agi_request="agi://127.0.0.1:4573/hotline?mode=night",
            agi_arg_1="4008000000",
            agi_arg_2="vip",
        )
    )
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert seen == [("hotline", ("4008000000", "vip"))]


async def test_caller_controlled_text_never_adds_a_command_line(
    start_server: ServerFactory,
) -> None:
    refused: list[str] = []
    evil_name = 'Evil" EXEC System rm \\" -rf'

    async def hotline(session: AgiSession) -> None:
        name = session.request.caller_id_name
        await session.verbose(f"call from {name}")
        await session.set_variable("CC_CALLER_NAME", name)
        value = await session.get_variable("PJSIP_HEADER(read,X-Note)")
        try:
            await session.set_variable("CC_NOTE", value or "")
        except AgiArgumentError as exc:
            refused.append(exc.argument)
        await session.set_variable("CC_DONE", "1")

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block(agi_calleridname=evil_name))
    await fake.expect('VERBOSE "call from Evil\\" EXEC System rm \\\\\\" -rf" 1', b"200 result=1\n")
    await fake.expect(
        'SET VARIABLE CC_CALLER_NAME "Evil\\" EXEC System rm \\\\\\" -rf"', b"200 result=1\n"
    )
    # A header value holding a LF comes back as one reply (the value continues on the next line).
    await fake.expect(
        "GET VARIABLE PJSIP_HEADER(read,X-Note)", b"200 result=1 (hi\nEXEC System reboot)\n"
    )
    await fake.expect('SET VARIABLE CC_DONE "1"', b"200 result=1\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert refused == ["value"]
    assert len(fake.received) == 4


async def test_five_hundred_simultaneous_calls_each_get_their_own_replies(
    start_server: ServerFactory,
) -> None:
    calls = 500
    mismatches: list[str] = []

    async def hotline(session: AgiSession) -> None:
        caller = await session.get_variable("CALLERID(num)")
        menu = await session.get_data("basic-pbx-ivr-main", 5000, 1)
        if caller != session.request.caller_id:
            mismatches.append(session.request.unique_id)
        await session.set_variable("CC_ECHO", f"{caller}:{menu.digits}")

    server = await start_server({"hotline": hotline})
    everyone_in = asyncio.Event()
    connected = 0
    echoes: list[bool] = []

    async def one_call(index: int) -> None:
        nonlocal connected
        caller = f"1380000{index:04d}"
        fake = await FakeAsterisk.connect(server.port)
        await fake.send(header_block(agi_uniqueid=f"1795330137.{index}", agi_callerid=caller))
        assert await fake.read_command() == "GET VARIABLE CALLERID(num)"
        connected += 1
        if connected == calls:
            everyone_in.set()
        await everyone_in.wait()  # hold every call open until all 500 are in the IVR
        await fake.send(f"200 result=1 ({caller})\n".encode())
        await fake.expect(
            "GET DATA basic-pbx-ivr-main 5000 1", f"200 result={index % 10}\n".encode()
        )
        echo = await fake.read_command()
        echoes.append(echo == f'SET VARIABLE CC_ECHO "{caller}:{index % 10}"')
        await fake.send(b"200 result=1\n")
        assert await fake.wait_closed_by_server()
        await fake.finish()

    await asyncio.gather(*(one_call(i) for i in range(calls)))
    assert server.max_concurrent == calls
    assert echoes == [True] * calls and mismatches == []
    await until(lambda: server.active_sessions == 0)


async def test_stop_cancels_running_sessions_without_error_logs(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = FastAgiServer({"hotline": capture_handler})
    port = await server.start("127.0.0.1", 0)
    fakes = [await FakeAsterisk.connect(port) for _ in range(3)]
    for fake in fakes:
        await fake.send(header_block())
        assert await fake.read_command() == "GET VARIABLE CALLERID(num)"  # and no reply: busy
    idle = await FakeAsterisk.connect(port)  # connected, no header yet
    await until(lambda: server.active_sessions == 3)
    await server.stop()
    assert server.active_sessions == 0
    for fake in [*fakes, idle]:
        assert await fake.wait_closed_by_server()
        await fake.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_responder_serves_a_whole_demo_call(start_server: ServerFactory) -> None:
    async def hotline(session: AgiSession) -> None:
        await session.answer()
        assert await session.database_put("cc", "13800138000", "seen")
        assert await session.database_get("cc", "13800138000") == "seen"
        await session.set_music(True)
        await session.say_number(42)
        await session.hangup()

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.serve(
        responder_from({"ANSWER": b"200 result=0\n", "DATABASE GET": b"200 result=1 (seen)\n"})
    )
    await fake.finish()
    assert fake.received == [
        "ANSWER",
        'DATABASE PUT cc 13800138000 "seen"',
        "DATABASE GET cc 13800138000",
        "SET MUSIC ON",
        'SAY NUMBER 42 ""',
        "HANGUP",
    ]


@pytest.mark.parametrize(
    ("variables", "exchange"),
    [
        pytest.param({"CC_QUEUE": "aftersales", "CC_PRIORITY": "15"},
                     [('EXEC MSet "CC_QUEUE=aftersales,CC_PRIORITY=15"', b"200 result=0\n")],
                     id="one-mset-for-safe-values"),
        pytest.param({"CC_QUEUE": "aftersales", "CC_NAME": 'Shop, "A"'},
                     [('SET VARIABLE CC_QUEUE "aftersales"', b"200 result=1\n"),
                      ('SET VARIABLE CC_NAME "Shop, \\"A\\""', b"200 result=1\n")],
                     id="set-variable-each-for-unsafe-values"),
        pytest.param({"CC_QUEUE": "aftersales", "CC_LANG": "zh"},
                     [('EXEC MSet "CC_QUEUE=aftersales,CC_LANG=zh"', b"200 result=-2\n"),
                      ('SET VARIABLE CC_QUEUE "aftersales"', b"200 result=1\n"),
                      ('SET VARIABLE CC_LANG "zh"', b"200 result=1\n")],
                     id="set-variable-each-when-asterisk-has-no-mset"),
    ],
)
async def test_set_variables_uses_mset_when_it_can_and_set_variable_otherwise(
    start_server: ServerFactory, variables: dict[str, str], exchange: list[tuple[str, bytes]],
) -> None:
    async def hotline(session: AgiSession) -> None:
        await session.set_variables(variables)

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    for command, reply in exchange:
        await fake.expect(command, reply)
    assert await fake.wait_closed_by_server()
    await fake.finish()


async def test_set_variables_after_hangup_goes_through_exec_which_asterisk_allows(
    start_server: ServerFactory,
) -> None:
    seen: list[bool] = []

    async def hotline(session: AgiSession) -> None:
        with pytest.raises(AgiHangup):
            await session.stream_file("hello")
        await session.set_variables({"CC_IVR_PATH": "hello>hangup", "CC_QUEUE": ""})
        seen.append(session.hung_up)

    server = await start_server({"hotline": hotline})
    fake = await FakeAsterisk.connect(server.port)
    await fake.send(header_block())
    await fake.expect('STREAM FILE hello ""', b"HANGUP\n200 result=-1 endpos=0\n")
    await fake.expect('EXEC MSet "CC_IVR_PATH=hello>hangup,CC_QUEUE="', b"200 result=0\n")
    assert await fake.wait_closed_by_server()
    await fake.finish()
    assert seen == [True]


# --------------------------------------------------------------------------- peer allowlist


async def test_a_peer_outside_the_allowed_networks_is_closed_before_its_header_and_counted(
    start_server: ServerFactory,
) -> None:
    from ivr.agi_server import parse_networks

    calls: list[str] = []

    async def hotline(session: AgiSession) -> None:
        calls.append(session.request.unique_id)

    # Only 127.0.0.1 is Asterisk; 127.0.0.2 (still loopback, so the test stays on this host)
    # is the stray peer.
    server = await start_server({"hotline": hotline})
    server.allowed_peers = parse_networks(["127.0.0.1/32"])
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port,
                                                   local_addr=("127.0.0.2", 0))
    writer.write(header_block(agi_uniqueid="stray.1"))
    try:
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no AGI command
    except ConnectionResetError:
        pass  # an abort may reach the client as a reset: closed all the same
    finally:
        writer.close()
    assert server.refused_peers == 1 and calls == [] and server.sessions_total == 0

    fake = await FakeAsterisk.connect(server.port)  # from 127.0.0.1: allowed
    await fake.send(header_block(agi_uniqueid="asterisk.1"))
    await until(lambda: calls == ["asterisk.1"])
    assert server.refused_peers == 1 and server.sessions_total == 1
    await fake.close()


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("172.30.40.7", True), ("172.30.41.7", False), ("10.0.0.5", False), ("::2", False),
    ("fe80::1%eth0", False), ("", False), ("not-an-address", False),
])
def test_peer_allowed_checks_the_address_against_the_networks(host: str, allowed: bool) -> None:
    from callcenter.settings import DEFAULT_ASTERISK_PEERS
    from ivr.agi_server import parse_networks, peer_allowed

    assert peer_allowed(host, parse_networks(DEFAULT_ASTERISK_PEERS.split(","))) is allowed
