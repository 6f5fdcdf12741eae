"""AMI ingest benchmark on one core; prints one JSON document.

Input: the real 20-call burst capture (``tests/fixtures/asterisk-22/09-burst.ami``, 2001
messages, 1990 events) fed in its real recv() chunks (``.ami-timing.tsv``), the whole capture
repeated ``--repeat`` times (banner only once) so a run lasts long enough to time.

Phases, each timed over ``--rounds`` rounds (fresh objects per round; best and median kept):

* ``cti_pipeline`` — THE figure: ``AmiFramer`` -> ``ActionTracker`` -> ``Dispatcher``
  (decoding of the routed events + call tracker + agent machine, effects produced).
* ``cti_framing`` — the framer alone.
* ``cti_framing_decode_all`` — framer + ``decode_event`` on EVERY event (what decoding would
  cost without the dispatcher's skip-what-nobody-routes).
* ``panoramisk_1_4`` — the peer: the same chunks into panoramisk 1.4's own
  ``AMIProtocol.data_received`` (stub transport) with a ``Manager`` as factory and one
  ``register_event('*', …)`` handler: its parsing into ``Message`` objects and its dispatch.
  Its per-event cost includes building a case-insensitive dict of every header and matching
  every registered pattern; ours parses only what a route needs.

Run: ``.venv/bin/python bench/ami_ingest.py [--repeat 20 --rounds 7]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
if str(ROOT) not in sys.path:  # run as a file: make cti/ importable
    sys.path.insert(0, str(ROOT))

from cti.ami_protocol import ActionTracker, AmiFramer, AmiMessage, MessageKind  # noqa: E402
from cti.dispatcher import Dispatcher  # noqa: E402
from cti.events import decode_event  # noqa: E402

CAPTURE = ROOT / "tests" / "fixtures" / "asterisk-22" / "09-burst.ami"
TARGET_EVENTS_PER_S = 100_000


def load_chunks(repeat: int) -> list[tuple[bytes, float]]:
    """The capture's recv() chunks with their times, ``repeat`` times (banner once)."""
    data = CAPTURE.read_bytes()
    base: list[tuple[bytes, float]] = []
    for line in CAPTURE.with_suffix(".ami-timing.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        offset, length, seconds = line.split("\t")
        base.append((data[int(offset) : int(offset) + int(length)], float(seconds)))
    banner_end = data.index(b"\r\n") + 2
    span = base[-1][1] + 10.0
    chunks: list[tuple[bytes, float]] = []
    for rep in range(repeat):
        for index, (chunk, t) in enumerate(base):
            if rep and index == 0:
                chunk = chunk[banner_end:]  # one TCP connection: one banner
            chunks.append((chunk, rep * span + t))
    return chunks


def run_pipeline(chunks: list[tuple[bytes, float]]) -> int:
    framer, tracker, dispatcher = AmiFramer(), ActionTracker(), Dispatcher()
    events = 0
    for chunk, now in chunks:
        for item in framer.feed(chunk):
            if type(item) is AmiMessage and tracker.feed(item) is item:
                if item.kind is MessageKind.EVENT:
                    events += 1
                dispatcher.handle_message(item, now)
    return events


def run_framing(chunks: list[tuple[bytes, float]]) -> int:
    framer = AmiFramer()
    events = 0
    for chunk, _ in chunks:
        for item in framer.feed(chunk):
            if type(item) is AmiMessage and item.kind is MessageKind.EVENT:
                events += 1
    return events


def run_decode_all(chunks: list[tuple[bytes, float]]) -> int:
    framer = AmiFramer()
    events = 0
    for chunk, _ in chunks:
        for item in framer.feed(chunk):
            if type(item) is AmiMessage and item.kind is MessageKind.EVENT:
                decode_event(item)
                events += 1
    return events


class _StubTransport:
    """What AMIProtocol needs of a transport: nothing is written in this benchmark."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def run_panoramisk(chunks: list[tuple[bytes, float]]) -> int:
    from panoramisk import Manager
    from panoramisk.ami_protocol import AMIProtocol

    manager: Any = Manager()
    # Drop Manager's built-in FullyBooted callback (a coroutine needing a running loop):
    # the peer is panoramisk's parse + dispatch, not its reconnect logic.
    manager.callbacks.clear()
    manager.patterns.clear()
    counter = [0]

    def on_event(_manager: Any, _event: Any) -> None:
        counter[0] += 1

    manager.register_event("*", on_event)
    protocol: Any = AMIProtocol()
    protocol.connection_made(_StubTransport())
    protocol.factory = manager
    for chunk, _ in chunks:
        protocol.data_received(chunk)
    return counter[0]


def measure(fn: Callable[[list[tuple[bytes, float]]], int],
            chunks: list[tuple[bytes, float]], rounds: int) -> dict[str, Any]:
    fn(chunks[: len(chunks) // 10])  # warm-up
    times: list[float] = []
    events = 0
    for _ in range(rounds):
        start = time.perf_counter()
        events = fn(chunks)
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    return {
        "events": events,
        "best_s": round(best, 4),
        "median_s": round(median, 4),
        "events_per_s_best": round(events / best),
        "events_per_s_median": round(events / median),
        "us_per_event_best": round(best / events * 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--repeat", type=int, default=20, help="capture repetitions per round")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per phase")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # INFO transition logs are the adapter's cost, not ours

    chunks = load_chunks(args.repeat)
    payload = sum(len(c) for c, _ in chunks)
    results = {
        "cti_pipeline": measure(run_pipeline, chunks, args.rounds),
        "cti_framing": measure(run_framing, chunks, args.rounds),
        "cti_framing_decode_all": measure(run_decode_all, chunks, args.rounds),
        "panoramisk_1_4": measure(run_panoramisk, chunks, args.rounds),
    }
    ours = results["cti_pipeline"]["events_per_s_best"]
    peer = results["panoramisk_1_4"]["events_per_s_best"]
    report = {
        "benchmark": "ami_ingest",
        "capture": CAPTURE.name,
        "repeat": args.repeat,
        "rounds": args.rounds,
        "bytes_per_round": payload,
        "recv_chunks_per_round": len(chunks),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "meets_target": ours >= TARGET_EVENTS_PER_S,
        "speedup_vs_panoramisk": round(ours / peer, 2),
        "same_event_count": (
            results["cti_pipeline"]["events"] == results["panoramisk_1_4"]["events"]
        ),
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
