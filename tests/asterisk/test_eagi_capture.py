"""What a real Asterisk 22 does for ``EXEC EAGI``, and the simulator doing the same.

A FastAGI session of this test sends ``EXEC EAGI <capture script>,one,two words`` while the
merchant side plays an espeak-ng utterance into the call. The capture script records what
Asterisk gives a classic EAGI script: the AGI environment on stdin, the audio on file
descriptor 3 (its read sizes, bytes and loudness), the reply to an AGI command it sends
(``VERBOSE``); the FastAGI side records the reply to ``EXEC``. Then the same session runs
against the simulator's channel (``simulator.agi_client.run_session`` with its
``ScriptHost``) with the same script, and both must agree: the environment line by line
(values that name this call or this machine aside), the frame size, the replies.

``CALLCENTER_WRITE_CAPTURE=1`` also writes the capture to
``tests/fixtures/asterisk-22/11-eagi.capture.json`` (replayed in
``tests/simulator/test_eagi.py`` where no Asterisk runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from ivr import agi_protocol as agi
from ivr.agi_server import AgiSession
from simulator.agi_client import run_session
from simulator.callers import CallerScript
from simulator.eagi import ScriptHost
from simulator.pbx import IvrRequest
from tests.conftest import ASTERISK_FIXTURES

from . import test_real_asterisk, test_speech
from .conftest import Asterisk
from .test_real_asterisk import Line, StartFastAGI, until

ami = test_real_asterisk.ami
fastagi = test_real_asterisk.fastagi
model = test_speech.model

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(90)]

CAPTURE = ASTERISK_FIXTURES / "11-eagi.capture.json"
# Lines whose values name the call, the machine or the script's place, not the protocol.
VARYING = {"agi_request", "agi_channel", "agi_uniqueid", "agi_threadid", "agi_callerid",
           "agi_calleridname", "agi_dnid", "agi_context", "agi_extension", "agi_priority",
           "agi_language", "agi_type", "agi_version"}

CAPTURE_SCRIPT = '''#!{python}
"""EAGI capture: stdin environment, descriptor 3 audio, the reply to one command."""
import json, os, select, sys, time
env = b""
while True:
    line = sys.stdin.buffer.readline()
    env += line
    if line in (b"\\n", b""):
        break
reads, audio = [], b""
deadline = time.monotonic() + {seconds}
while time.monotonic() < deadline:
    ready, _, _ = select.select([3], [], [], 0.2)
    if ready:
        chunk = os.read(3, 4096)
        if not chunk:
            break
        reads.append(len(chunk))
        audio += chunk
sys.stdout.write('VERBOSE "eagi capture" 1\\n')
sys.stdout.flush()
reply = sys.stdin.buffer.readline().decode()
peak = max((abs(int.from_bytes(audio[i:i + 2], "little", signed=True))
            for i in range(0, len(audio) - 1, 2)), default=0)
with open({out!r}, "w", encoding="utf-8") as f:
    json.dump({{"argv": sys.argv[1:], "env": env.decode(), "read_sizes": sorted(set(reads)),
               "audio_bytes": len(audio), "peak": peak, "verbose_reply": reply}}, f)
'''


def capture_script(folder: Path, seconds: float) -> tuple[Path, Path]:
    out = folder / "captured.json"
    script = folder / "eagi-capture"
    script.write_text(CAPTURE_SCRIPT.format(python=sys.executable, seconds=seconds,
                                            out=str(out)), encoding="utf-8")
    script.chmod(0o755)
    return script, out


def env_lines(env: str) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in env.splitlines() if line]  # type: ignore[misc]


async def test_exec_eagi_gives_the_script_the_environment_and_audio_as_the_simulator_does(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, model: Path,
        tmp_path: Path) -> None:
    del model  # the fixture checks espeak-ng and sox are there (the merchant's words)
    script, out = capture_script(tmp_path, 2.5)
    replies: list[str] = []

    async def handler(session: AgiSession) -> None:
        reply = await session.exec_app("EAGI", f"{script},one,two words")
        replies.append(f"{reply.code} result={reply.result}")

    await fastagi({"hotline": handler})
    await test_speech.call_and_say(ami, keys="", say=test_speech.utterance(
        "상담원", tmp_path / "say"), say_after=0)
    await until(lambda: bool(replies), within=30)
    real = json.loads(out.read_text(encoding="utf-8"))
    real["exec_reply"] = replies[0]
    assert real["exec_reply"] == "200 result=0"
    assert real["argv"] == ["one", "two words"]
    # 20 ms frames of 8 kHz slin (a late reader gets two at once from the pipe)
    assert 320 in real["read_sizes"] and all(n % 320 == 0 for n in real["read_sizes"])
    assert real["audio_bytes"] > 16000 and real["peak"] > 3000  # the merchant's words
    assert real["verbose_reply"] == "200 result=1\n"
    names = [name for name, _ in env_lines(real["env"])]
    assert "agi_network" not in names and dict(env_lines(real["env"]))["agi_enhanced"] == "1.0"
    if os.environ.get("CALLCENTER_WRITE_CAPTURE") == "1":
        real["script"] = str(script)
        CAPTURE.write_text(json.dumps(real, ensure_ascii=False, indent=1) + "\n",
                           encoding="utf-8")

    # The simulator, the same session and script: a FastAGI server of this test again.
    out.unlink()
    sim_replies: list[str] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\n", b""):
            pass
        writer.write(agi.exec_("EAGI", f"{script},one,two words").line)  # as the IVR sends it
        await writer.drain()
        sim_replies.append((await reader.readline()).decode().rstrip("\n"))
        writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    request = IvrRequest(route="hotline", channel="Local/4008000000@from-trunk-00000000;2",
                         channel_type="Local", unique_id="1795330137.1",
                         linked_id="1795330137.0", caller_num="13800138000",
                         caller_name="Merchant", language="en", dnid="unknown",
                         context="from-trunk", exten="4008000000", priority=3,
                         account_code="", agi_host=host, agi_port=port)
    try:
        await run_session(host, port, request, CallerScript(), time_scale=1.0,
                          scripts=ScriptHost())
    finally:
        server.close()
        await server.wait_closed()
    simulated: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert sim_replies == [real["exec_reply"]]
    for key in ("argv", "verbose_reply"):
        assert simulated[key] == real[key], key
    assert 320 in simulated["read_sizes"]
    assert all(n % 320 == 0 for n in simulated["read_sizes"])
    ours, theirs = env_lines(simulated["env"]), env_lines(real["env"])
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    assert [(n, v) for n, v in ours if n not in VARYING] == \
        [(n, v) for n, v in theirs if n not in VARYING]
    assert dict(ours)["agi_request"] == dict(theirs)["agi_request"] == str(script)
