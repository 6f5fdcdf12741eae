"""Whole-call recording (``recording.whole_call``) on a real Asterisk 22, through the product.

The Asterisk of this module is configured by ``callcenter asterisk config`` with
``CALLCENTER_RECORDING_WHOLE_CALL=1``: ``[from-trunk]`` starts MixMonitor right after
``Answer()`` and the rendered queues.conf has no ``monitor-format``. ``callcenter serve`` (the
whole product, as in ``test_whole_product.py``, whose fixtures this module reuses with its own
Asterisk) registers the recording from ``MixMonitorStart`` during the IVR, and its storage
pipeline compresses and indexes it. A merchant keys 1-2-2 through the IVR, waits in the queue,
the ``[test-agent]`` phone answers and talks 2 s: the call must leave exactly one recording,
registered to the call before it was queued, whose duration covers the IVR and the queue as
well as the talk. The merchant's phone sends a tone throughout (``MS_TONE`` of
``[merchant-sim]``): on Local channels only frames that pass are recorded. Skipped without ``CALLCENTER_TEST_ASTERISK`` like the rest of this folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from cti.ami_client import AmiClient

from .conftest import AsteriskProcess
from .test_whole_product import (  # noqa: F401  (product, merchant_line: fixtures used here)
    AGENT,
    CALLER,
    PASSWORD,
    Product,
    merchant_line,
    open_desk,
    product,
    until,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskProcess]:
    """A private Asterisk rendered with whole-call recording on."""
    box = AsteriskProcess.create(tmp_path_factory.mktemp("asterisk-whole-call"),
                                 {"CALLCENTER_RECORDING_WHOLE_CALL": "1"})
    box.start()
    try:
        yield box
    finally:
        box.stop()


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_call_through_the_ivr_and_the_queue_leaves_one_recording_covering_the_ivr(
        pbx: AsteriskProcess, product: Product, merchant_line: AmiClient,  # noqa: F811
        record_property: Any) -> None:
    # The render really switched the queue's own recording off.
    queues = (pbx.box.config.parent / "queues.conf").read_text(encoding="utf-8")
    assert "\nmonitor-format = " not in queues
    log_from = pbx.box.log_size()
    desk = await open_desk(product, AGENT, PASSWORD)
    try:
        status, body = await desk.post("/api/agent/login", {})
        assert status == 200, body
        await desk.listen()
        await until(lambda: bool(desk.seen("hello")), 5, "hello on the WebSocket")
        # 1 = Chinese, 2 = after-sales, 2 = repair: ~5 s in the IVR before the queue.
        # The merchant's phone sends a low tone the whole time (media flows as on a SIP line:
        # MixMonitor writes only the frames that pass, and an idle Local channel sends none).
        await merchant_line.send("Originate", [
            ("Channel", "Local/4008000000@from-trunk"), ("Context", "merchant-sim"),
            ("Exten", "s"), ("Priority", "1"), ("CallerID", f'"Merchant" <{CALLER}>'),
            ("Variable", "MS_KEYS=122"), ("Variable", "MS_TONE=200/1000,0/1000"),
            ("Timeout", "10000"), ("Async", "true")])
        await until(lambda: bool(desk.seen("pop")), 40, "the screen pop")
        linked_id = desk.seen("pop")[-1]["linked_id"]
        await until(lambda: bool(desk.seen("call", event="ended", linked_id=linked_id)), 60,
                    "the call's end")

        def call() -> list[tuple[Any, ...]]:
            return product.rows("SELECT started_at, answered_at, ended_at, unique_id "
                                "FROM calls WHERE linked_id = ?", linked_id)
        await until(lambda: bool(call() and call()[0][2]), 10, "the calls row ended")
        [(started, answered, ended, _unique)] = call()
        assert answered, call()
        ivr_and_queue_s = (_at(answered) - _at(started)).total_seconds()
        call_s = (_at(ended) - _at(started)).total_seconds()
        assert ivr_and_queue_s > 3.0, call()  # the IVR took its time: the check means something

        def recordings() -> list[tuple[Any, ...]]:
            return product.rows("SELECT path, stage, duration_s, started_at FROM recordings "
                                "WHERE linked_id = ?", linked_id)
        # The storage pipeline (in serve) compresses, verifies and indexes it.
        await until(lambda: bool(recordings()) and recordings()[0][1] == "stored", 90,
                    f"the recording stored: {recordings()}")
        rows = recordings()
        assert len(rows) == 1, rows  # one file per call: the queue started none
        [(path, _stage, duration_s, rec_started)] = rows
        assert path.endswith(".wav") and "-" not in path.removesuffix(".wav"), path
        record_property("ivr_and_queue_s", round(ivr_and_queue_s, 2))
        record_property("recording_s", duration_s)
        print(f"\nIVR + queue {ivr_and_queue_s:.1f} s, call {call_s:.1f} s, "
              f"recording {duration_s:.1f} s")
        # From the answer (Local channels: within a second of the call's start) to the end.
        assert (_at(rec_started) - _at(started)).total_seconds() < 1.5, (rec_started, started)
        assert duration_s >= ivr_and_queue_s + 1.0, (duration_s, ivr_and_queue_s)
        assert duration_s <= call_s + 1.5, (duration_s, call_s)

        # Registered for the call while it was still in the IVR, before it was queued.
        kinds = [k for (k,) in product.rows(
            "SELECT kind FROM call_events WHERE linked_id = ? ORDER BY at, id", linked_id)]
        assert kinds.count("recording_started") == 1, kinds
        assert kinds.index("recording_started") < kinds.index("queued"), kinds

        # Only the stored file is left in the monitor directory for this recording.
        stem = path.removesuffix(".wav")
        left = sorted(p.name for p in pbx.box.monitor_dir.iterdir() if p.name.startswith(stem))
        assert len(left) == 1 and left[0].endswith(".ogg"), left
        assert pbx.box.problems_since(log_from) == []
        await desk.post("/api/agent/logout", {})
    finally:
        await desk.close()
