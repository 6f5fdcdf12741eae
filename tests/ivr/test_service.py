"""run_hotline / run_survey over a scripted fake AGI session and the in-memory directory.

The fake session answers GET DATA from a script (what the caller keys), records every command
in the order the IVR sent it, and behaves like Asterisk after a hang-up: STREAM FILE / GET DATA
raise AgiHangup, SET/GET VARIABLE still work (fixture 05-hangup-during-ivr).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr import service
from ivr.errors import AgiCommandFailed, AgiHangup, AgiTimeout
from ivr.menu_config import MenuRegistry
from ivr.ports import InMemoryDirectory, IvrOutcome, MerchantRef, TaskRef
from ivr.service import (
    CALLBACK_ROUTE,
    HOTLINE_ROUTE,
    ROUTES,
    SURVEY_ROUTE,
    make_routes,
    run_hotline,
    run_survey,
)
from tests.conftest import ASTERISK_FIXTURES

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAYTIME = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)
BASE = "/var/lib/callcenter/prompts"
SHOP = MerchantRef(1, "123456789012345", "Shop A")
MALL = MerchantRef(2, "888800000000010", "Big Mall", high_value=True)


def fixture_request() -> FakeRequest:
    """The agi_* header of fixture 01, parsed naively (name: value up to the empty line)."""
    raw = (ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi-asterisk.raw").read_bytes()
    header = raw.split(b"\n\n", 1)[0].decode()
    fields: dict[str, str] = {}
    for line in header.splitlines():
        name, _, value = line.partition(": ")
        fields[name.rstrip(":")] = value
    return FakeRequest(
        channel=fields["agi_channel"],
        unique_id=fields["agi_uniqueid"],
        caller_id=fields["agi_callerid"],
        language=fields["agi_language"],
    )


@dataclass(frozen=True)
class FakeRequest:
    channel: str
    unique_id: str
    caller_id: str
    language: str = "en"
    caller_id_name: str = ""
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Keys:
    digits: str
    timed_out: bool = False


HANGUP = object()  # script entry: the caller hangs up while this GET DATA runs
TIMEOUT = Keys("", timed_out=True)


@dataclass
class FakeSession:
    """Scripted AgiSession. ``script`` answers GET DATA in order (Keys, HANGUP or an exception
    instance to raise); an exhausted script means silence (timeouts)."""

    request: FakeRequest
    script: list[object] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=lambda: {"CHANNEL(linkedid)": "1795330137.0"})
    commands: list[str] = field(default_factory=list)
    hung_up: bool = False
    fail_stream: Callable[[str], bool] = lambda prompt: False
    variables_fail_after_hangup: bool = False

    def _dead(self, command: str) -> None:
        self.commands.append(command)
        if self.hung_up:
            raise AgiHangup("511")

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self._dead(f"STREAM FILE {prompt}")
        if self.fail_stream(prompt):
            raise AgiCommandFailed(f"STREAM FILE {prompt}", 200, "result=-1")
        return None

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Keys:
        self._dead(f"GET DATA {prompt} {timeout_ms} {max_digits}")
        answer = self.script.pop(0) if self.script else TIMEOUT
        if answer is HANGUP:
            self.hung_up = True
            raise AgiHangup("result=-1")
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, Keys)
        return answer

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        raise AssertionError("the menu does not use WAIT FOR DIGIT")

    async def say_digits(self, digits: str) -> None:
        self._dead(f"SAY DIGITS {digits}")

    async def say_number(self, n: int) -> None:
        self._dead(f"SAY NUMBER {n}")

    async def set_variable(self, name: str, value: str) -> None:
        self.commands.append(f"SET VARIABLE {name} {value}")
        if self.hung_up and self.variables_fail_after_hangup:
            raise AgiHangup("eof")
        assert "\r" not in value and "\n" not in value
        self.variables[name] = value

    async def set_variables(self, variables: Mapping[str, str]) -> None:
        # The real session sends one EXEC MSet (tests/ivr/test_agi_server.py); here each
        # variable is logged as its own line so the assertions read the same either way.
        for name, value in variables.items():
            await self.set_variable(name, value)

    async def get_variable(self, name: str) -> str | None:
        self.commands.append(f"GET VARIABLE {name}")
        return self.variables.get(name)

    async def verbose(self, message: str, level: int = 1) -> None:
        self.commands.append(f"VERBOSE {message}")


def keys(*entries: str | object) -> list[object]:
    return [Keys(e) if isinstance(e, str) else e for e in entries]


def session(*script: str | object, caller: str = "13800138000") -> FakeSession:
    request = fixture_request()
    return FakeSession(FakeRequest(request.channel, request.unique_id, caller), keys(*script))


def clock_at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def handoff(fake: FakeSession) -> dict[str, str]:
    return {k: v for k, v in fake.variables.items() if k.startswith("CC_")}


@pytest.fixture
def directory() -> InMemoryDirectory:
    return InMemoryDirectory()


# --------------------------------------------------------------------------- hotline


async def test_fixture_call_keyed_merchant_number_reaches_aftersales_repair(
    directory: InMemoryDirectory,
) -> None:
    directory.add_merchant(SHOP)  # known merchant, but not on this phone
    fake = session("1", "2", SHOP.merchant_number, "2")
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert handoff(fake) == {
        "CC_MERCHANT_ID": "123456789012345",
        "CC_MERCHANT_VERIFIED": "1",
        "CC_INTENT": "repair",
        "CC_IVR_PATH": "hello>lang:1>menu:2>merchant:ok>intent:2",
        "CC_QUEUE": "aftersales",
        "CC_PRIORITY": "0",
        "CC_LANG": "zh",
        "CC_IVR_OUTCOME": "queued",
    }
    assert fake.commands[:4] == [
        "GET VARIABLE CHANNEL(linkedid)",
        f"STREAM FILE {BASE}/zh_CN/welcome",
        f"GET DATA {BASE}/zh_CN/choose_language 5000 1",
        "SET VARIABLE CHANNEL(language) zh_CN",
    ]
    assert f"GET DATA {BASE}/zh_CN/enter_merchant_number 8000 20" in fake.commands
    assert fake.commands[-1] == f"STREAM FILE {BASE}/zh_CN/connecting"
    assert directory.results == [result]
    assert result.unique_id == "1795330137.1"
    assert result.linked_id == "1795330137.0"
    assert result.outcome is IvrOutcome.QUEUED
    assert (result.started_at, result.ended_at) == (DAYTIME, DAYTIME)


async def test_english_caller_hears_english_prompts(directory: InMemoryDirectory) -> None:
    directory.add_merchant(SHOP, phones=["13800138000"])
    fake = session("2", "2", "3")
    await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert "SET VARIABLE CHANNEL(language) en" in fake.commands
    assert f"GET DATA {BASE}/en/aftersales_menu 5000 1" in fake.commands
    assert handoff(fake)["CC_LANG"] == "en"
    assert handoff(fake)["CC_INTENT"] == "install"
    assert handoff(fake)["CC_MERCHANT_ID"] == SHOP.merchant_number


async def test_hangup_while_keying_the_merchant_number_is_recorded_like_fixture_05(
    directory: InMemoryDirectory,
) -> None:
    fake = session("1", "2", HANGUP)
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.outcome is IvrOutcome.IVR_HANGUP
    assert result.path == "hello>lang:1>menu:2>hangup"
    assert directory.results == [result]
    # SET VARIABLE works on a dead channel: the dialplan/CDR still get the path
    assert handoff(fake)["CC_IVR_PATH"] == "hello>lang:1>menu:2>hangup"
    assert handoff(fake)["CC_IVR_OUTCOME"] == "ivr_hangup"
    assert handoff(fake)["CC_QUEUE"] == ""
    after = fake.commands[
        fake.commands.index(f"GET DATA {BASE}/zh_CN/enter_merchant_number 8000 20") + 1 :
    ]
    assert all(c.startswith("SET VARIABLE CC_") for c in after)


async def test_hangup_is_recorded_even_when_the_socket_is_gone(
    directory: InMemoryDirectory,
) -> None:
    fake = session("1", HANGUP)
    fake.variables_fail_after_hangup = True
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.path == "hello>lang:1>hangup"
    assert directory.results == [result]


async def test_caller_already_gone_before_the_menu_started(directory: InMemoryDirectory) -> None:
    fake = session()
    fake.hung_up = True
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.outcome is IvrOutcome.IVR_HANGUP
    assert result.path == "hangup"
    assert directory.results == [result]


async def test_silent_caller_is_queued_to_an_agent_never_dropped(
    directory: InMemoryDirectory,
) -> None:
    fake = session()  # never presses anything: language defaults to zh, menu times out 3×
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.queue == "aftersales"
    assert result.intent == "agent"
    assert result.path == "hello>lang:t>menu:t>menu:t>menu:t>agent"
    assert fake.commands.count(f"STREAM FILE {BASE}/zh_CN/no_input") == 2


async def test_high_value_recent_caller_gets_a_higher_priority(
    directory: InMemoryDirectory,
) -> None:
    directory.add_merchant(MALL, phones=["138-0013-8000"])
    directory.add_call("13800138000", DAYTIME - timedelta(hours=2))
    fake = session("1", "0")
    await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert handoff(fake)["CC_PRIORITY"] == "15"


async def test_a_call_more_than_24_hours_ago_does_not_count(directory: InMemoryDirectory) -> None:
    directory.add_call("13800138000", DAYTIME - timedelta(hours=25))
    fake = session("1", "0")
    await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert handoff(fake)["CC_PRIORITY"] == "0"


async def test_second_call_within_a_day_is_recognised_from_the_recorded_first_call(
    directory: InMemoryDirectory,
) -> None:
    await run_hotline(session("1", "0"), directory, clock=clock_at(DAYTIME))
    fake = session("1", "0")
    await run_hotline(fake, directory, clock=clock_at(DAYTIME + timedelta(hours=3)))
    assert handoff(fake)["CC_PRIORITY"] == "5"


async def test_night_call_goes_to_the_night_queue_after_the_night_notice(
    directory: InMemoryDirectory,
) -> None:
    fake = session("1", "1")
    result = await run_hotline(fake, directory, clock=clock_at(NIGHT))
    assert f"STREAM FILE {BASE}/zh_CN/night_notice" in fake.commands
    assert handoff(fake)["CC_QUEUE"] == "night"
    assert result.path == "hello>lang:1>night>menu:1>merchant:unknown"


async def test_self_service_reads_the_task_and_ends_in_the_ivr(
    directory: InMemoryDirectory,
) -> None:
    directory.add_merchant(SHOP, phones=["13800138000"])
    directory.add_task(
        SHOP.id,
        TaskRef(
            "2026112207", "installation", "appointed", datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
        ),
    )
    fake = session("1", "3", "9")
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    read_out = fake.commands[fake.commands.index(f"STREAM FILE {BASE}/zh_CN/task_intro") :]
    assert read_out[:9] == [
        f"STREAM FILE {BASE}/zh_CN/task_intro",
        "SAY DIGITS 2026112207",
        f"STREAM FILE {BASE}/zh_CN/task_kind_installation",
        f"STREAM FILE {BASE}/zh_CN/task_status_appointed",
        f"STREAM FILE {BASE}/zh_CN/task_appointment",
        f"STREAM FILE {BASE}/zh_CN/month_11",
        "SAY NUMBER 25",
        f"STREAM FILE {BASE}/zh_CN/unit_day",
        "SAY NUMBER 9",
    ]
    assert result.outcome is IvrOutcome.SELF_SERVICE
    assert handoff(fake)["CC_IVR_OUTCOME"] == "self_service"
    assert handoff(fake)["CC_QUEUE"] == ""
    assert fake.commands[-1] == f"STREAM FILE {BASE}/zh_CN/goodbye"


async def test_shared_phone_keyed_number_of_the_other_merchant(
    directory: InMemoryDirectory,
) -> None:
    cafe = MerchantRef(3, "888800000000020", "Cafe C")
    directory.add_merchant(SHOP, phones=["13800138000"])
    directory.add_merchant(cafe, phones=["13800138000"])
    fake = session("1", "2", cafe.merchant_number, "4")
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.merchant == cafe
    assert result.path == "hello>lang:1>menu:2>merchant:multi>merchant:ok>intent:4"
    assert handoff(fake)["CC_QUEUE"] == "complaints"


# --------------------------------------------------------------------------- failures


class BrokenDirectory(InMemoryDirectory):
    async def merchants_by_phone(self, phone: str) -> list[MerchantRef]:
        raise RuntimeError("database is down")

    async def merchant_by_number(self, number: str) -> MerchantRef | None:
        raise ConnectionError("database is down")

    async def latest_open_task(self, merchant_id: int) -> TaskRef | None:
        raise RuntimeError("database is down")

    async def called_recently(self, caller: str, now: datetime) -> bool:
        raise RuntimeError("database is down")

    async def record_ivr_result(self, result: object) -> None:
        raise RuntimeError("database is down")


async def test_broken_directory_still_routes_the_caller_to_a_queue() -> None:
    fake = session("1", "2", SHOP.merchant_number, "2")
    result = await run_hotline(fake, BrokenDirectory(), clock=clock_at(DAYTIME))
    assert result.path == "hello>lang:1>menu:2>merchant:err>intent:2"
    assert handoff(fake)["CC_QUEUE"] == "aftersales"
    assert handoff(fake)["CC_MERCHANT_VERIFIED"] == "0"


class SlowDirectory(InMemoryDirectory):
    async def merchants_by_phone(self, phone: str) -> list[MerchantRef]:
        await asyncio.sleep(60)
        return []


async def test_slow_directory_does_not_keep_the_caller_in_silence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "LOOKUP_TIMEOUT_S", 0.01)
    directory = SlowDirectory()
    fake = session("1", "0")
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.queue == "aftersales"
    assert directory.results == [result]


async def test_missing_prompt_files_lead_to_an_agent_not_a_dead_call(
    directory: InMemoryDirectory,
) -> None:
    fake = session(
        "1",
        AgiCommandFailed("GET DATA", 200, "result=-1"),
        AgiCommandFailed("GET DATA", 200, "result=-1"),
        AgiCommandFailed("GET DATA", 200, "result=-1"),
    )
    fake.fail_stream = lambda prompt: True  # no STREAM FILE prompt exists either
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.path == "hello>lang:1>menu:t>menu:t>menu:t>agent"
    assert handoff(fake)["CC_QUEUE"] == "aftersales"


async def test_lost_agi_connection_is_recorded_as_failed_and_reraised(
    directory: InMemoryDirectory,
) -> None:
    fake = session("1", AgiTimeout("GET DATA main_menu 5000 1", 30.0))
    with pytest.raises(AgiTimeout):
        await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    [result] = directory.results
    assert result.outcome is IvrOutcome.FAILED
    assert result.path == "hello>lang:1>error"
    assert "CC_QUEUE" not in fake.variables  # the dialplan's fallback queues the caller


async def test_caller_controlled_caller_id_never_reaches_a_variable_raw(
    directory: InMemoryDirectory,
) -> None:
    fake = session("1", "0", caller='"x",1;DROP')
    result = await run_hotline(fake, directory, clock=clock_at(DAYTIME))
    assert result.caller == "_x__1_DROP"
    assert all(
        set(v) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:>*#+-")
        for v in handoff(fake).values()
    )


# --------------------------------------------------------------------------- survey


async def test_survey_records_the_score_with_the_call_ids(directory: InMemoryDirectory) -> None:
    fake = session("4")
    fake.variables["CC_LANG"] = "en"
    score = await run_survey(fake, directory)
    assert score == 4
    [record] = directory.scores
    assert (record.unique_id, record.linked_id, record.score) == ("1795330137.1", "1795330137.0", 4)
    assert fake.commands[-2:] == [
        f"GET DATA {BASE}/en/survey_ask 6000 1",
        f"STREAM FILE {BASE}/en/survey_thanks",
    ]


async def test_survey_asks_again_after_a_wrong_key(directory: InMemoryDirectory) -> None:
    fake = session("8", "5")
    assert await run_survey(fake, directory) == 5
    assert f"STREAM FILE {BASE}/zh_CN/survey_invalid" in fake.commands
    assert [r.score for r in directory.scores] == [5]


async def test_survey_gives_up_without_recording(directory: InMemoryDirectory) -> None:
    fake = session("0", TIMEOUT)
    assert await run_survey(fake, directory) is None
    assert directory.scores == []


async def test_survey_hangup_records_nothing(directory: InMemoryDirectory) -> None:
    fake = session(HANGUP)
    assert await run_survey(fake, directory) is None
    assert directory.scores == []


# --------------------------------------------------------------------------- routes


def test_route_table_has_the_hotline_the_survey_and_the_call_back() -> None:
    assert set(ROUTES) == {HOTLINE_ROUTE, SURVEY_ROUTE, CALLBACK_ROUTE} == {
        "hotline", "survey", "callback"}


async def test_routes_run_with_the_menu_in_force(
    tmp_path: Path, directory: InMemoryDirectory
) -> None:
    registry = MenuRegistry()
    routes = make_routes(directory, registry, clock_at(DAYTIME))
    assert set(routes) == set(ROUTES)
    fake = session("1", "0")
    await routes["hotline"](fake)
    assert directory.results[0].queue == "aftersales"
    survey = session("3")
    await routes["survey"](survey)
    assert directory.scores[0].score == 3


# --------------------------------------------------------------------------- over a real socket


FIXTURE_HEADER = (ASTERISK_FIXTURES / "01-agent-login-and-answered-call.agi-asterisk.raw") \
    .read_bytes().split(b"\n\n", 1)[0] + b"\n\n"


async def fake_asterisk(port: int, reply: Callable[[str], bytes], *,
                        header: bytes = FIXTURE_HEADER) -> list[str]:
    """Connect like Asterisk's AGI(agi://…/hotline): send the fixture's header block, answer
    each command line with ``reply(line)``, and after the server's half-close send the final
    ``HANGUP`` line Asterisk always writes. Returns the command lines received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header)
    commands: list[str] = []
    async with asyncio.timeout(20):
        while line := await reader.readline():
            command = line.decode().rstrip("\n")
            commands.append(command)
            writer.write(reply(command))
    writer.write(b"HANGUP\n")
    writer.close()
    return commands


def scripted(menu_keys: dict[str, str], *, hang_up_at: str = "") -> Callable[[str], bytes]:
    """Replies as Asterisk 22 gave them in the fixtures; GET DATA answers by prompt name."""
    dead = False

    def reply(command: str) -> bytes:
        nonlocal dead
        if command.startswith("GET VARIABLE CHANNEL(linkedid)"):
            return b"200 result=1 (1795330137.0)\n"
        if command.startswith("SET VARIABLE"):
            return b"200 result=1\n"
        if command.startswith("EXEC MSet"):  # EXEC is allowed on a dead channel too
            return b"200 result=0\n"
        if command.startswith("CHANNEL STATUS"):
            return (b"HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n"
                    if dead else b"200 result=6\n")
        if dead:
            return b"511 Command Not Permitted on a dead channel or intercept routine\n"
        if command.startswith("STREAM FILE"):
            return b"200 result=0 endpos=6291\n"
        if command.startswith("GET DATA"):
            prompt = command.split()[2].rsplit("/", 1)[1]
            if prompt == hang_up_at:
                dead = True
                return b"200 result=-1\n"
            keys = menu_keys.get(prompt, "")
            return f"200 result={keys}{'' if keys else ' (timeout)'}\n".encode()
        return b"510 Invalid or unknown command\n"

    return reply


async def test_hotline_route_through_the_fastagi_server_sets_the_handoff(
        directory: InMemoryDirectory) -> None:
    from ivr.agi_server import FastAgiServer

    directory.add_merchant(SHOP)
    server = FastAgiServer(make_routes(directory, MenuRegistry(), clock_at(DAYTIME)))
    port = await server.start("127.0.0.1", 0)
    try:
        commands = await fake_asterisk(port, scripted({
            "choose_language": "1", "main_menu": "2",
            "enter_merchant_number": SHOP.merchant_number, "aftersales_menu": "2"}))
    finally:
        await server.stop()
    assert f'GET DATA {BASE}/zh_CN/enter_merchant_number 8000 20' in commands
    # The whole hand-off in one round trip, in this order (then "connecting…" plays).
    assert commands[-2] == (
        'EXEC MSet "CC_MERCHANT_ID=123456789012345,CC_MERCHANT_VERIFIED=1,CC_INTENT=repair,'
        'CC_IVR_PATH=hello>lang:1>menu:2>merchant:ok>intent:2,CC_QUEUE=aftersales,'
        'CC_PRIORITY=0,CC_LANG=zh,CC_IVR_OUTCOME=queued"')
    assert not [c for c in commands if c.startswith("SET VARIABLE CC_")]
    [result] = directory.results
    assert (result.unique_id, result.linked_id) == ("1795330137.1", "1795330137.0")


async def test_hangup_through_the_fastagi_server_still_sets_and_records_the_path(
        directory: InMemoryDirectory) -> None:
    from ivr.agi_server import FastAgiServer

    server = FastAgiServer(make_routes(directory, MenuRegistry(), clock_at(DAYTIME)))
    port = await server.start("127.0.0.1", 0)
    try:
        commands = await fake_asterisk(port, scripted(
            {"choose_language": "1", "main_menu": "2"}, hang_up_at="enter_merchant_number"))
    finally:
        await server.stop()
    [handoff] = [c for c in commands if c.startswith("EXEC MSet")]
    assert ",CC_IVR_PATH=hello>lang:1>menu:2>hangup," in handoff
    assert handoff.endswith(',CC_IVR_OUTCOME=ivr_hangup"')
    [result] = directory.results
    assert result.outcome is IvrOutcome.IVR_HANGUP
