"""Where recording files live, and the guard that keeps every served path inside that place.

Asterisk reports the file it records to as an absolute path on the PBX
(``MIXMONITOR_FILENAME=/var/spool/asterisk/monitor/1795330137.1.wav``). The product stores only
the file name relative to its own recording directory (a copy or a mount of Asterisk's
monitor directory) and never serves a path a browser sent: recordings are reached by an opaque
token, and the resolved path must stay under the recording directory.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from recording.errors import RecordingPathError

ALLOWED_SUFFIXES = (".wav", ".WAV", ".gsm", ".ogg", ".mp3")


def relative_name(reported: str) -> str:
    """The part of an Asterisk-reported path the product keeps: the file name under the
    monitor directory (sub-directories of it are kept; ``..`` is refused)."""
    path = PurePosixPath(reported.strip())
    parts = list(path.parts)
    if "monitor" in parts:
        parts = parts[parts.index("monitor") + 1:]
    elif path.is_absolute():
        parts = [path.name]
    if not parts or any(p in ("..", "", "/") for p in parts):
        raise RecordingPathError(f"not a recording file name: {reported!r}")
    name = "/".join(parts)
    if not name.endswith(ALLOWED_SUFFIXES):
        name += ".wav"  # MONITOR_FILENAME has no suffix; app_queue appends .wav
    return name


def resolve(root: Path, name: str) -> Path:
    """The absolute file for a stored name; raises if it would leave ``root``."""
    base = root.resolve()
    target = (base / name).resolve()
    if base != target and base not in target.parents:
        raise RecordingPathError(f"recording path escapes the recording directory: {name!r}")
    return target


def compressed_name(name: str) -> str:
    """The Ogg/Opus file the pipeline writes for the original ``name`` (beside it)."""
    stem = name.rsplit(".", 1)[0] if name.endswith(ALLOWED_SUFFIXES) else name
    return f"{stem}.ogg" if not name.endswith(".ogg") else f"{stem}.opus.ogg"


def sealed_name(name: str) -> str:
    """The encrypted file the pipeline stores for the original ``name``."""
    return compressed_name(name) + ".sealed"


def partial_name(name: str) -> str:
    """Where a step writes before the atomic rename to ``name`` (a crash leaves only this)."""
    return name + ".part"


def leg_names(name: str) -> tuple[str, str]:
    """MixMonitor's separate legs beside the mixed file ``name`` when the dialplan records
    them (``CC_RECORD_LEGS``): ``<stem>-rx.wav`` (the caller) and ``<stem>-tx.wav`` (the
    agent)."""
    stem = name.rsplit(".", 1)[0]
    return f"{stem}-rx.wav", f"{stem}-tx.wav"


def stereo_name(name: str) -> str:
    """The two-channel WAV the pipeline builds from the legs (compressed instead of ``name``)."""
    return name.rsplit(".", 1)[0] + "-stereo.wav"
