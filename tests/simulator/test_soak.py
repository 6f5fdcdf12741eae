"""Soak: 90 calls always in flight for 10 simulated minutes, in virtual time.

A closed loop keeps exactly 90 calls alive: each time one ends, the next merchant calls. The
pure PBX, the AMI encoding and class filtering (one CTI session reading everything), the
scripted IVR and 80 simulated agents run on the virtual clock, so ten minutes take seconds.
Checked: every generated call ended with a known outcome (no record lost), nothing is left
behind (channels, rings, timers, scripts), and memory stays flat (printed; asserted
generously, growth < 50 MB).
"""

from __future__ import annotations

import gc
import os
import random
from collections import Counter
from dataclasses import replace

import pytest

from simulator.agents import AgentProfile
from simulator.callers import Directory, make_caller
from simulator.config import PRODUCT, PbxConfig
from simulator.load import VIRTUAL_EPOCH
from simulator.pbx import OUTCOMES, AddMember, CallRecord
from simulator.virtual import VirtualPbx

pytestmark = pytest.mark.slow

CONCURRENT = 90
MINUTES = 10
AGENTS = 80


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def test_ninety_concurrent_calls_for_ten_simulated_minutes_lose_no_call() -> None:
    gc.collect()
    rss_start = rss_mb()
    config = PbxConfig(profile=PRODUCT, channels="pjsip", boot_time=VIRTUAL_EPOCH)
    pbx = VirtualPbx(config, start=VIRTUAL_EPOCH, seed=5, keep_records=False,
                     agent_default=AgentProfile(answer_after=2.0, handle_time=90.0))
    directory = Directory.demo()
    rng = random.Random(5)
    generated: list[str] = []
    ended: dict[str, CallRecord] = {}
    stopping = False

    def call() -> None:
        ref = f"soak-{len(generated):06d}"
        generated.append(ref)
        pbx.arrive(ref, replace(make_caller(rng, directory), patience=120.0))

    def on_end(record: CallRecord) -> None:
        assert record.ref not in ended, f"{record.ref} ended twice"
        ended[record.ref] = record
        if not stopping:
            call()  # keep 90 in flight

    pbx.engine.on_call_ended.append(on_end)
    cti = pbx.connect()
    cti.send_action("Login", "s", Username="callcenter", Secret="changeme", Events="on")
    for n in range(AGENTS):
        for queue in ("presales", "aftersales", "complaints", "techsupport"):
            pbx.feed(AddMember(queue, f"PJSIP/{8001 + n}", f"Agent {8001 + n}"))
    for i in range(CONCURRENT):
        pbx.at(i * 0.1, call)
    concurrency: list[int] = []
    ami_bytes = 0
    for second in range(10, MINUTES * 60 + 1, 10):
        pbx.run_until(second)
        concurrency.append(len(pbx.engine.state.calls))
        ami_bytes += len(cti.received)
        cti.received.clear()
        cti.chunks.clear()
    stopping = True
    pbx.run_until(MINUTES * 60 + 3600)  # let the last ones finish
    gc.collect()
    rss_end = rss_mb()
    outcomes = Counter(record.outcome for record in ended.values())
    print(f"\nsoak: {len(generated)} calls, {CONCURRENT} concurrent for {MINUTES} simulated "
          f"minutes, outcomes {dict(outcomes)}, AMI {ami_bytes / 1e6:.1f} MB; "
          f"RSS start {rss_start:.1f} MB, end {rss_end:.1f} MB")
    assert min(concurrency) == CONCURRENT == max(concurrency)
    assert set(ended) == set(generated)  # no call record lost
    assert set(outcomes) <= OUTCOMES and outcomes["answered"] > 0.7 * len(generated)
    state = pbx.engine.state
    assert state.calls == {} and state.channels == {} and state.attempts == {}
    assert all(not queue.entries for queue in state.queues.values())
    assert pbx.agents.pending() == 0 and pbx.scripted.scripts == {}
    assert rss_end - rss_start < 50

