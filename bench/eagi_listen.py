"""EAGI listener, for measuring the delay from end of speech to decision (not the product's
path: the IVR uses FastAGI ``RECORD FILE``; README "Speech" compares the two).

Asterisk runs it per call with ``EAGI(<wrapper>,MODEL_DIR,PHRASE,...,TIMINGS_FILE)``: a classic
AGI script (pyst2's ``asterisk.agi.AGI`` on stdin/stdout) that also gets the caller's audio,
8 kHz 16-bit signed linear, on file descriptor 3. It loads the vosk model (in a real service it
would relay the audio to a long-running process instead: a model per call is seconds of CPU),
decodes the audio in grammar mode as it arrives, and stops at vosk's own endpoint (trailing
silence rules of the model's conf/model.conf), or, with END_SILENCE_MS > 0 (the
``EAGI_END_SILENCE_MS`` environment variable), after that much energy-detected silence
following speech, whichever comes first. (vosk 0.3.45 has no API to shorten its endpoint.)
It sets ``SPEECH_TEXT`` on the channel and writes JSON timings to TIMINGS_FILE:
``speech_end`` (wall time of the last voiced 20 ms frame read), ``decided`` (wall time of the
decision) and ``text``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from array import array

FRAME_BYTES = 320  # 20 ms of 8 kHz slin
VOICED_RMS = 300.0  # espeak-ng speech is > 1000, digital silence 0
MAX_SECONDS = 8.0


def rms(frame: bytes) -> float:
    samples = array("h")
    samples.frombytes(frame[: len(frame) - len(frame) % 2])
    if not samples:
        return 0.0
    return float((sum(s * s for s in samples) / len(samples)) ** 0.5)


def main() -> int:
    from asterisk.agi import AGI  # pyst2, in the classic per-call shape it was written for

    from speech.recognizer import load_model

    agi = AGI()
    model_dir, *phrases, timings_file = sys.argv[1:]
    import vosk

    recognizer = vosk.KaldiRecognizer(load_model(model_dir), 8000,
                                      json.dumps([*phrases, "[unk]"], ensure_ascii=False))
    end_silence = float(os.environ.get("EAGI_END_SILENCE_MS", "0")) / 1000
    started = time.time()
    speech_end = 0.0
    silent = 0.0
    result: dict[str, object] = {}
    while time.time() - started < MAX_SECONDS:
        frame = os.read(3, FRAME_BYTES)
        if not frame:
            break
        if rms(frame) > VOICED_RMS:
            speech_end = time.time()
            silent = 0.0
        else:
            silent += len(frame) / 16000
        if recognizer.AcceptWaveform(frame) and speech_end:
            result = json.loads(recognizer.Result())
            break
        if end_silence and speech_end and silent >= end_silence:
            break
    if not result:
        result = json.loads(recognizer.FinalResult())
    decided = time.time()
    text = str(result.get("text", ""))
    with open(timings_file, "w", encoding="utf-8") as out:
        json.dump({"speech_end": speech_end, "decided": decided, "text": text}, out)
    agi.set_variable("SPEECH_TEXT", text.replace(" ", "_") or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
