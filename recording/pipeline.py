"""The storage pipeline worker: compress → verify → seal → index → remove the original.

Runs beside the call path (a component of ``serve``; never awaited by the CTI): it polls the
recordings index for recordings whose call has ended (:meth:`PipelineStore.due`) and carries
each through the steps of :mod:`recording.pipeline_state`, committing the stage after each
step. Every step writes its output beside the final name and renames it into place, so a crash
leaves either the old state (the step is redone) or the new file with the old stage (the step
is redone and rewrites the same file); the original WAV goes last. The CPU-bound parts (the
encoder, the cipher, hashing) run in a worker thread so the event loop keeps serving.

:class:`RecordingReader` (by token), :func:`open_plain` and :func:`decoded_wav` are the read
side for other features (speech, export): the Ogg bytes of a recording, or its PCM WAV,
whatever the storage.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import wave
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from recording import codec
from recording.errors import RecordingMissing
from recording.paths import (
    compressed_name,
    leg_names,
    partial_name,
    resolve,
    sealed_name,
    stereo_name,
)
from recording.peaks import peaks
from recording.periodic import PeriodicJob
from recording.pipeline_state import LEASE, Stage, Step, after_failure, lease_after, next_step
from recording.ports import PipelineItem, PipelineStore, StageUpdate, StoredRecording
from recording.sealed import Keyring, SealedReader, SealError, seal

logger = logging.getLogger(__name__)


def _replace_into(path: Path, write: Callable[[BinaryIO], None]) -> None:
    part = Path(partial_name(str(path)))
    with part.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class StepRunner:
    """The file work of each step (synchronous; the worker runs it in a thread)."""

    def __init__(self, root: Path, keyring: Keyring | None) -> None:
        self.root = root
        self.keyring = keyring

    def original(self, item: PipelineItem) -> Path:
        """What is compressed: the legs as one stereo WAV when they were recorded (built by
        :meth:`compress`), else the mixed file Asterisk wrote."""
        stereo = resolve(self.root, stereo_name(item.path))
        return stereo if stereo.is_file() else resolve(self.root, item.path)

    def legs(self, item: PipelineItem) -> tuple[Path, Path] | None:
        rx, tx = (resolve(self.root, n) for n in leg_names(item.path))
        return (rx, tx) if rx.is_file() and tx.is_file() else None

    def ogg(self, item: PipelineItem) -> Path:
        return resolve(self.root, compressed_name(item.path))

    def compress(self, item: PipelineItem) -> StageUpdate:
        legs = self.legs(item)
        if legs is not None:
            stereo = resolve(self.root, stereo_name(item.path))
            part = Path(partial_name(str(stereo)))
            codec.interleave(*legs, part)
            os.replace(part, stereo)
        src, dst = self.original(item), self.ogg(item)
        if not src.is_file():
            raise codec.CodecError(f"original {item.path} is not there")
        part = Path(partial_name(str(dst)))
        info = codec.compress(src, part)
        os.replace(part, dst)
        return StageUpdate(codec=codec.CODEC, channels=info.channels,
                           plain_size=dst.stat().st_size)

    def verify(self, item: PipelineItem) -> StageUpdate:
        info = codec.wav_info(self.original(item))
        ogg = self.ogg(item)
        codec.verify(info, ogg, ogg.with_suffix(".verify.wav"))
        return StageUpdate(duration_s=round(info.seconds, 3))

    def seal(self, item: PipelineItem) -> StageUpdate:
        ogg = self.ogg(item)
        if self.keyring is None:
            return StageUpdate(stored_path=compressed_name(item.path), key_id="")
        keyring = self.keyring
        target = resolve(self.root, sealed_name(item.path))
        size = ogg.stat().st_size
        with ogg.open("rb") as src:
            def write(dst: BinaryIO) -> None:
                seal(src, dst, size, keyring)

            _replace_into(target, write)
        return StageUpdate(stored_path=sealed_name(item.path), key_id=keyring.current)

    def index(self, item: PipelineItem) -> StageUpdate:
        stored = resolve(self.root, item.stored_path)
        with wave.open(str(self.original(item)), "rb") as w:
            pcm = w.readframes(w.getnframes())
        return StageUpdate(peaks=peaks(pcm), sha256=_sha256(stored),
                           size_bytes=stored.stat().st_size)

    def remove_original(self, item: PipelineItem) -> StageUpdate:
        for name in (item.path, stereo_name(item.path), *leg_names(item.path)):
            resolve(self.root, name).unlink(missing_ok=True)
        if item.stored_path != compressed_name(item.path):
            self.ogg(item).unlink(missing_ok=True)
        return StageUpdate()


def worker_name() -> str:
    """This process's name as a lease holder: host, pid and a random part (a restarted
    process with the same pid is another holder)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class StoragePipeline(PeriodicJob):
    """The worker component. ``clock`` returns aware UTC datetimes (injected in tests).
    ``worker`` names this process as the holder of the rows it claims (rule 7 of
    :mod:`recording.pipeline_state`): any number of processes may run a pipeline on the
    same index."""

    name = "recording-pipeline"

    def __init__(self, store: PipelineStore, root: Path, keyring: Keyring | None,
                 clock: Callable[[], datetime], *, interval: float = 5.0,
                 batch: int = 20, worker: str | None = None,
                 lease: timedelta = LEASE) -> None:
        self.store = store
        self.runner = StepRunner(root, keyring)
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.worker = worker or worker_name()
        self.lease = lease

    async def run_once(self) -> int:
        """Claim the due recordings nobody holds and carry each as far as it goes; returns
        how many reached ``stored``."""
        done = 0
        for _ in range(self.batch):
            # one at a time: a row's lease starts when its work does, so rows waiting behind a
            # long one in this process are never left to run out and be taken over mid-way
            now = self.clock()
            claimed = await self.store.claim(self.worker, now, now + self.lease, 1)
            if not claimed:
                break
            if await self.process(claimed[0]) is Stage.STORED:
                done += 1
        return done

    async def process(self, item: PipelineItem) -> Stage:
        """Run the remaining steps of one recording this worker holds; returns the stage it
        ends in (where it stopped when the row was taken over)."""
        stage = item.stage
        while (plan := next_step(stage, item.ended_at is not None)) is not None:
            try:
                update = await asyncio.to_thread(self._run, plan.step, item)
                if plan.step is Step.INDEX:
                    facts = await self.store.call_facts(item.linked_id)
                    update = replace(update, facts=facts, indexed_at=self.clock())
            except (codec.CodecError, OSError, wave.Error, EOFError) as exc:
                failure = after_failure(item.attempts, self.clock())
                logger.warning("recording %s: %s failed (attempt %d): %s", item.token,
                               plan.step.value, failure.attempts, exc)
                if not await self.store.failed(item.id, failure, f"{plan.step.value}: {exc}",
                                               worker=self.worker):
                    logger.warning("recording %s: taken over by another worker", item.token)
                return failure.stage or stage
            if not await self.store.advance(
                    item.id, plan.then, update, worker=self.worker,
                    lease_until=lease_after(plan.then, self.clock(), self.lease)):
                # our lease ran out and another worker holds the row: its result counts
                logger.warning("recording %s: taken over by another worker before %s was "
                               "committed", item.token, plan.then.value)
                return stage
            logger.info("recording %s: %s -> %s (%s)", item.token, stage.value,
                        plan.then.value, plan.step.value)
            stage = plan.then
            if update.stored_path is not None:
                item = replace(item, stored_path=update.stored_path)
        return stage

    def _run(self, step: Step, item: PipelineItem) -> StageUpdate:
        return {
            Step.COMPRESS: self.runner.compress,
            Step.VERIFY: self.runner.verify,
            Step.SEAL: self.runner.seal,
            Step.INDEX: self.runner.index,
            Step.REMOVE_ORIGINAL: self.runner.remove_original,
        }[step](item)


# --------------------------------------------------------------------------- the read side


class PlainAudio:
    """The browser-playable bytes of a stored recording (Ogg/Opus, or the original WAV while
    the pipeline has not reached it), readable by range without decrypting the rest."""

    def __init__(self, path: Path, media_type: str, size: int,
                 reader: SealedReader | None, handle: BinaryIO) -> None:
        self.path = path
        self.media_type = media_type
        self.size = size
        self._reader = reader
        self._handle = handle

    def iter_range(self, start: int, end: int, block: int = 64 * 1024) -> Iterator[bytes]:
        """Bytes ``start`` … ``end - 1`` of the plaintext."""
        if self._reader is not None:
            yield from self._reader.iter_range(start, end)
            return
        self._handle.seek(start)
        while start < end:
            data = self._handle.read(min(block, end - start))
            if not data:
                return
            start += len(data)
            yield data

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.iter_range(start, self.size if end is None else end))

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> PlainAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_plain(root: Path, rec: StoredRecording, keyring: Keyring | None) -> PlainAudio:
    """Open a recording for reading its playable bytes (caller closes it). Raises
    ``FileNotFoundError`` when the file is not there and ``SealError`` on a damaged file."""
    if rec.stored_path:
        path = resolve(root, rec.stored_path)
        handle = path.open("rb")
        if rec.key_id:
            if keyring is None:
                handle.close()
                raise SealError("the recording is encrypted and no keys are configured")
            reader = SealedReader(handle, keyring)
            return PlainAudio(path, codec.MEDIA_TYPE, reader.plain_size, reader, handle)
        return PlainAudio(path, codec.MEDIA_TYPE, path.stat().st_size, None, handle)
    path = resolve(root, rec.path)
    handle = path.open("rb")
    media = "audio/wav" if path.suffix.lower() == ".wav" else "application/octet-stream"
    return PlainAudio(path, media, path.stat().st_size, None, handle)


def decoded_wav(root: Path, rec: StoredRecording, keyring: Keyring | None, dst: Path,
                rate: int = 16000) -> codec.PcmInfo:
    """Write the recording as 16-bit PCM WAV into ``dst`` (for speech recognition and
    exports): decoded at ``rate`` Hz once compressed; before the pipeline has reached it, the
    original WAV as recorded (its own rate: read the returned info). Raises
    ``CodecError``/``SealError``/``FileNotFoundError``."""
    with open_plain(root, rec, keyring) as audio:
        if audio.media_type == "audio/wav":
            dst.write_bytes(audio.read())
            return codec.wav_info(dst)
        with tempfile.NamedTemporaryFile(suffix=".ogg", dir=dst.parent, delete=False) as tmp:
            for block in audio.iter_range(0, audio.size):
                tmp.write(block)
        try:
            return codec.decode(Path(tmp.name), dst, rate)
        finally:
            Path(tmp.name).unlink(missing_ok=True)


class RecordingReader:
    """A recording's audio by token, whatever its storage (original WAV, Ogg/Opus, sealed):
    the read side for other features (speech recognition, exports). ``lookup`` is
    ``StorePipelineStore.stored``; ``keyring`` the configured one (``recording.wiring.
    keyring_of``). Raises ``RecordingMissing`` for an unknown token or a missing file,
    ``SealError``/``CodecError`` for a damaged one."""

    def __init__(self, lookup: Callable[[str], Awaitable[StoredRecording | None]], root: Path,
                 keyring: Keyring | None) -> None:
        self.lookup = lookup
        self.root = root
        self.keyring = keyring

    async def _stored(self, token: str) -> StoredRecording:
        rec = await self.lookup(token)
        if rec is None:
            raise RecordingMissing(f"no recording {token!r}")
        return rec

    async def wav(self, token: str, dst: Path, rate: int = 16000) -> codec.PcmInfo:
        """Write the recording as 16-bit PCM WAV into ``dst`` (see :func:`decoded_wav` for the
        rate); returns its channels, rate and frames."""
        rec = await self._stored(token)
        try:
            return await asyncio.to_thread(decoded_wav, self.root, rec, self.keyring, dst, rate)
        except FileNotFoundError as exc:
            raise RecordingMissing(f"the file of recording {token!r} is not there") from exc

    async def playable(self, token: str) -> bytes:
        """The whole browser-playable file (Ogg/Opus, or WAV before the pipeline)."""
        rec = await self._stored(token)

        def read() -> bytes:
            with open_plain(self.root, rec, self.keyring) as audio:
                return audio.read()

        try:
            return await asyncio.to_thread(read)
        except FileNotFoundError as exc:
            raise RecordingMissing(f"the file of recording {token!r} is not there") from exc
