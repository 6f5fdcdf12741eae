"""Errors of the speech package.

    SpeechError
    ├── ModelUnavailable     the configured model directory is missing or vosk cannot load it
    │                        (speech features switch off; the rest of the product runs)
    ├── AudioFormatError     the audio is not 16-bit PCM WAV (or cannot be read)
    └── PhraseTableError     the IVR's intent → phrases table is malformed

vosk's bare ``Exception("Failed to create a model")`` and ``wave.Error`` are translated once,
in ``speech.recognizer``, with ``raise … from exc``.
"""

from __future__ import annotations


class SpeechError(Exception):
    """Root of every error this package raises on purpose."""


class ModelUnavailable(SpeechError):
    """No usable model at ``path`` (missing directory, vosk not installed, load failure)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"speech model {path or '(not configured)'}: {problem}")
        self.path = path
        self.problem = problem


class AudioFormatError(SpeechError):
    """The audio cannot be decoded: not a 16-bit PCM WAV file, or unreadable."""


class PhraseTableError(SpeechError, ValueError):
    """The intent → phrases table is malformed (names the table and key)."""
