"""How speech joins the running product (called from ``callcenter.app``).

``install(runtime, options)`` adds:

* the ``speech-worker`` component (unless ``speech.workers`` is 0): the transcription worker
  and its low-priority process pool;
* the ``speech`` web module (player beside the recording, search, wrap-up pre-fill) and the
  ``speech`` health probe (model, backlog).

Without a usable model for ``speech.language`` (``speech.models``) speech switches off with
one log line: no worker, the pages say why, and the rest of the product runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from callcenter.runtime import RunOptions, Runtime
from callcenter.speech_directory import PlainWavRecordings, SqlTranscriptStore
from speech.errors import PhraseTableError
from speech.intents import PhraseTable
from speech.listener import load_phrase_table
from speech.recognizer import model_problem
from speech.service import EMPTY_TABLE, SpeechService
from speech.web import module
from speech.worker import TranscriptionWorker

__all__ = ["install"]

logger = logging.getLogger(__name__)


def _phrases(path: str) -> PhraseTable:
    """The IVR's phrase table, read again in wrap-up transcripts; a bad file costs the
    suggestion its intent only (the IVR's own start-up reports the file)."""
    try:
        return load_phrase_table(Path(path) if path else None)
    except PhraseTableError as exc:
        logger.warning("speech: wrap-up suggestions without intents: %s", exc)
        return EMPTY_TABLE


async def install(runtime: Runtime, options: RunOptions) -> SpeechService:
    """Add the worker, web module and probe to ``runtime``; returns the speech service."""
    del options  # every process that serves pages or calls has speech; the worker is settings
    cfg = runtime.settings.speech
    model_dir = cfg.model_dir()
    store = SqlTranscriptStore(runtime.store)
    problem = model_problem(model_dir)
    if problem:
        logger.warning("speech is off: %s; everything else runs", problem)
    service = SpeechService(store, enabled=not problem, language=cfg.language, reason=problem,
                            keywords=cfg.keywords, phrases=_phrases(cfg.phrases_file))
    worker: TranscriptionWorker | None = None
    if not problem and cfg.workers > 0:
        worker = TranscriptionWorker(
            store, PlainWavRecordings(Path(runtime.settings.recording.dir)), runtime.hub,
            model_dir=model_dir, language=cfg.language, keywords=cfg.keywords,
            workers=cfg.workers, nice=cfg.nice)
        runtime.components.append(worker)

    async def probe() -> dict[str, Any]:
        report: dict[str, Any] = {"ok": True, "enabled": service.enabled,
                                  "language": cfg.language}
        if problem:
            report["reason"] = problem
        if worker is not None:
            report["backlog"] = await store.backlog()
        return report

    runtime.health["speech"] = probe
    runtime.modules.append(module(service))
    return service
