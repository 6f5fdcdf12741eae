"""Waveform peaks for the player: the loudest sample of each slice of the recording, 0-100.

Computed once from the original PCM when the recording is indexed (the compressed file is never
decoded for it), stored with the index row and drawn by the browser.
"""

from __future__ import annotations

import sys
from array import array

FULL_SCALE = 32768
DEFAULT_BUCKETS = 600


def peaks(pcm: bytes, buckets: int = DEFAULT_BUCKETS) -> list[int]:
    """``buckets`` values 0-100 (fewer for very short audio) from 16-bit little-endian PCM
    (interleaved channels are taken together: a peak is the loudest of either side)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - WAV is little-endian
        samples.byteswap()
    if not samples:
        return []
    buckets = max(1, min(buckets, len(samples)))
    step = len(samples) / buckets
    out: list[int] = []
    for i in range(buckets):
        part = samples[int(i * step): max(int((i + 1) * step), int(i * step) + 1)]
        loudest = max(max(part), -min(part))
        out.append(min(100, round(100 * loudest / FULL_SCALE)))
    return out
