"""Scripts the simulated channel runs for ``EXEC EAGI`` / ``EXEC AGI``, as Asterisk runs them.

res_agi launches the script named in the application's data (an absolute path, or one under
its AGI directory) with the remaining comma-separated words as arguments, writes the AGI
environment to its stdin (the ``agi_*`` block with ``agi_request: <script>`` and, for EAGI,
``agi_enhanced: 1.0``: ``tests/fixtures/asterisk-22/11-eagi.*``), answers the AGI commands the
script writes on its stdout, and for EAGI writes the caller's audio to its file descriptor 3:
8 kHz 16-bit signed linear, one 20 ms frame (320 bytes) at a time, for as long as the script
runs. The application returns when the script exits; the FastAGI ``EXEC`` then answers
``200 result=0`` (``-1`` when the caller hung up meanwhile). A script that does not exist is
logged and the application returns at once (``AGISTATUS=NOTFOUND``, ``200 result=0``).

The caller's audio here is silence, and the words of their :class:`~simulator.callers.
CallerScript` for the prompt just played, synthesized by espeak-ng (and sox, when present, to
resample without aliasing): so ``serve --simulate`` exercises the product's real spoken-choice
path (the ``callcenter-eagi`` relay, the stream server, vosk) end to end.

``installed`` maps the script names the product uses to executables on this machine, as an
Asterisk host has the relay installed: ``serve --simulate`` maps ``speech.eagi_script`` to the
``callcenter-eagi`` installed beside the running Python.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import wave
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Final

from simulator.agi_client import AgiChannel, ScriptRun, header_block
from simulator.pbx import IvrRequest
from simulator.recordings import ESPEAK, SAMPLE_RATE
from simulator.recordings import speech as linear_speech

logger = logging.getLogger(__name__)

AGI_DIR: Final = "/var/lib/asterisk/agi-bin"  # ast_config_AST_AGI_DIR of a packaged Asterisk
FRAME_BYTES: Final = 320  # 20 ms of 8 kHz slin, what Asterisk writes per frame
FRAME_SECONDS: Final = 0.02
MAX_SECONDS: Final = 60.0  # a script that never exits is ended (a guard, not Asterisk's)


_ON_FD_3: Final = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
                   "os.close(int(sys.argv[1])) if int(sys.argv[1]) != 3 else None; "
                   "os.execv(sys.argv[2], sys.argv[2:])")


@lru_cache(maxsize=64)
def utterance(words: str, voice: str) -> bytes:
    """``words`` spoken by espeak-ng as 8 kHz 16-bit little-endian mono samples (b'' when
    espeak-ng is missing or fails). Cached: demo callers say the same few phrases."""
    sox = shutil.which("sox")
    if sox is not None and Path(ESPEAK).exists():
        try:
            wav = subprocess.run(  # noqa: S603 - fixed programs, words as one argument
                [ESPEAK, "-v", voice, "--stdout", words], capture_output=True, check=True,
                timeout=10).stdout
            raw = subprocess.run(  # noqa: S603
                [sox, "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                 "-e", "signed-integer", "-t", "wav", "-"], input=wav, capture_output=True,
                check=True, timeout=10).stdout
            with wave.open(io.BytesIO(raw), "rb") as audio:
                return audio.readframes(audio.getnframes())
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
            logger.warning("espeak-ng/sox failed for %r: %s", words, exc)
    samples = linear_speech(words, voice)
    if samples is None:
        return b""
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


class ScriptHost:
    """Runs the channel's scripts (see the module docstring)."""

    def __init__(self, installed: Mapping[str, str] | None = None, agi_dir: str = AGI_DIR
                 ) -> None:
        self.installed = dict(installed or {})
        self.agi_dir = agi_dir
        self.runs = 0  # scripts started (for tests and the health report)

    def resolve(self, script: str) -> str | None:
        """The executable for ``script``, or None when it does not exist."""
        name = self.installed.get(script) or (
            script if script.startswith("/") else f"{self.agi_dir}/{script}")
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None

    async def run(self, run: ScriptRun, request: IvrRequest, channel: AgiChannel,
                  abort: asyncio.Event, time_scale: float) -> int:
        """Run ``run`` to its end; 0, or -1 when ``abort`` (the caller hung up) came first."""
        path = self.resolve(run.script)
        if path is None:
            logger.warning("Failed to execute '%s': File does not exist.", run.script)
            return 0
        self.runs += 1
        audio = await asyncio.to_thread(utterance, run.words, run.voice) if run.words else b""
        reader, writer = os.pipe()
        try:
            # Asterisk hands the audio on descriptor 3 exactly: a small trampoline puts it
            # there (a POSIX shell's redirections only reach descriptors 0-9).
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _ON_FD_3, str(reader), path, *run.args,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, pass_fds=(reader,))
        except OSError as exc:
            os.close(reader)
            os.close(writer)
            logger.warning("Failed to execute '%s': %s", path, exc)
            return 0
        os.close(reader)
        os.set_blocking(writer, False)
        assert process.stdin is not None
        assert process.stdout is not None
        feeding = asyncio.create_task(self._feed(writer, audio, run, time_scale)) \
            if run.enhanced else None
        try:
            process.stdin.write(header_block(request, run.args, script=run.script))
            await process.stdin.drain()
            async with asyncio.timeout(MAX_SECONDS):
                ended = asyncio.create_task(self._converse(process, channel))
                gone = asyncio.create_task(abort.wait())
                done, _ = await asyncio.wait({ended, gone},
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in (ended, gone):
                    task.cancel()
                await asyncio.gather(ended, gone, return_exceptions=True)
                if gone in done and not ended.done():
                    return -1
                return 0
        except (TimeoutError, OSError) as exc:
            logger.warning("script %s: %s", path, exc or "ran too long")
            return 0
        finally:
            if feeding is not None:
                feeding.cancel()
                await asyncio.gather(feeding, return_exceptions=True)
            with contextlib.suppress(OSError):
                os.close(writer)
            if process.returncode is None:
                process.kill()
            await process.wait()

    @staticmethod
    async def _converse(process: asyncio.subprocess.Process, channel: AgiChannel) -> None:
        """Answer the script's AGI commands (the relay writes none) until it exits."""
        assert process.stdin is not None
        assert process.stdout is not None
        while line := await process.stdout.readline():
            answer = channel.command(line.decode("utf-8", "replace").rstrip("\r\n"))
            with contextlib.suppress(OSError):
                process.stdin.write("".join(f"{out}\n" for out in answer.lines).encode())
                await process.stdin.drain()
        await process.wait()

    @staticmethod
    async def _feed(fd: int, audio: bytes, run: ScriptRun, time_scale: float) -> None:
        """Silence for ``run.pause`` s, the words, then silence: 20 ms frames at the pace of
        the call (``time_scale``), until the script stops reading."""
        lead = bytes(2 * int(SAMPLE_RATE * run.pause))
        stream = lead + audio
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while True:
            frame = stream[sent:sent + FRAME_BYTES] if sent < len(stream) else b""
            frame = frame.ljust(FRAME_BYTES, b"\0")
            try:
                os.write(fd, frame)
            except BlockingIOError:
                pass  # the script is not reading: Asterisk drops the frame too
            except OSError:
                return  # the script closed descriptor 3 or exited
            sent += FRAME_BYTES
            due = start + (sent // FRAME_BYTES) * FRAME_SECONDS * time_scale
            await asyncio.sleep(max(0.0, due - loop.time()))
