"""Recordings benchmark; prints one JSON document.

Three phases:

1. ``search``: an index of ``--rows`` recordings (default 2,000,000: a year of calls at about
   5,500 a day, 40 agents, 5 queues, 20,000 merchants, calls with intents and dispositions, 1 %
   with a complaint, 5 % on a task) bulk-loaded into a fresh, migrated PostgreSQL database and
   ANALYZEd. Every filter combination of ``GET /api/recordings`` runs through the product's
   own query (``StoreRecordingSearch.search``), ``--repeat`` times with varying values, for
   the first page and for page 1,000 (50 rows a page: the keyset cursor after row 49,950 of
   that result, where the result is that long). Reported: p50/p95/max ms per combination.
2. ``pipeline``: CPU seconds per recorded minute of the storage pipeline's steps on a 5-minute
   espeak-ng recording (8 kHz mono, as Asterisk records), and the size per minute: WAV as
   recorded, MP3 (lame via ffmpeg, 16 kbit/s) and Ogg/Opus (opusenc, 16 kbit/s, the choice).
3. ``playback``: start latency of ``GET /recordings/<token>`` (time to the first 64 KiB of a
   ``Range: bytes=0-65535`` request, through the web app with its role check and audit write)
   with the file sealed vs stored plain.

Run: ``.venv/bin/python bench/recordings.py`` (PostgreSQL from ``CALLCENTER_BENCH_POSTGRES_URL``,
else ``CALLCENTER_TEST_POSTGRES_URL``, else postgresql://postgres@127.0.0.1/postgres; the
search phase is skipped with the reason when it does not answer). ``--phases`` picks phases.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
if str(ROOT) not in sys.path:  # run as a file: make callcenter/ importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from callcenter.db import migrate  # noqa: E402
from callcenter.db.engine import create_engine, session_factory  # noqa: E402
from callcenter.db.repositories import Store  # noqa: E402
from callcenter.recording_directory import StoreRecordingSearch  # noqa: E402
from recording import codec  # noqa: E402
from recording.peaks import peaks  # noqa: E402
from recording.sealed import Keyring, seal  # noqa: E402
from recording.search import QaState, RecordingQuery, Sort  # noqa: E402

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
TZ = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2025, 12, 1, tzinfo=UTC)
STEP_S = 15  # one recording every 15 s: 2,000,000 span 347 days
AGENTS = 40
MERCHANTS = 20_000
QUEUES = ("presales", "aftersales", "complaints", "techsupport", "night")
INTENTS = ("repair", "install", "consult", "complaint", "other")
DISPOSITIONS = ("general_consultation", "simple_fault", "repair", "installation", "complaint")
PAGE = 50
DEEP_PAGE = 1000


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2),
            "max": round(ordered[-1], 2)}


# ------------------------------------------------------------------------------ search


def postgres_admin_url() -> str:
    return (os.environ.get("CALLCENTER_BENCH_POSTGRES_URL")
            or os.environ.get("CALLCENTER_TEST_POSTGRES_URL") or LOCAL_POSTGRES)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


LOAD = [
    """INSERT INTO merchants (merchant_number, name, address, district, contact_person,
         business_hours, tags, created_at, updated_at)
       SELECT '8983100' || lpad(g::text, 8, '0'),
              (ARRAY['联华超市', '便利店', '面包房', '餐厅', '药房'])[1 + g % 5] || ' ' || g,
              '上海市', '浦东新区', '', '09:00-21:00', '[]', now(), now()
       FROM generate_series(1, :merchants) g""",
    """INSERT INTO recordings (token, linked_id, path, started_at, ended_at, size_bytes, stage,
         attempts, last_error, stored_path, codec, channels, key_id, plain_size, sha256,
         duration_s, agent_number, queue, merchant_id, caller_number, indexed_at)
       SELECT 'tok' || g, 'b' || g || '.0', g || '.wav', ts, ts + d * interval '1 second',
              d * 2000, 'stored', 0, '', g || '.ogg.sealed', 'opus', 1, 'k1', d * 2000, '',
              d, (8001 + (g * 7) % :agents)::text, (ARRAY[:q1, :q2, :q3, :q4, :q5])[1 + g % 5],
              1 + (g::bigint * 7919) % :merchants,
              '13' || lpad(((g::bigint * 104729) % 1000000000)::text, 9, '0'), ts
       FROM (SELECT g, CAST(:first AS timestamp) + g * interval '15 seconds' AS ts,
                    20 + (g * 31) % 600 AS d
             FROM generate_series(1, :rows) g) s""",
    """INSERT INTO calls (linked_id, unique_id, caller_number, merchant_id, merchant_verified,
         ivr_path, intent, lang, queue, priority, agent_number, started_at, answered_at,
         ended_at, outcome, disposition, wrapup_note)
       SELECT r.linked_id, r.linked_id, r.caller_number, r.merchant_id, true, '',
              (ARRAY[:i1, :i2, :i3, :i4, :i5])[1 + r.id % 5], 'zh', r.queue, 0, r.agent_number,
              r.started_at, r.started_at, r.ended_at, 'answered',
              (ARRAY[:d1, :d2, :d3, :d4, :d5])[1 + (r.id / 5) % 5], ''
       FROM recordings r""",
    """INSERT INTO complaints (linked_id, merchant_id, complaint_class, description, handling,
         result, media_exposure, escalation_tier, created_at)
       SELECT linked_id, merchant_id, 1 + id % 2, 'x', '', '', false, 0, started_at
       FROM recordings WHERE id % 100 = 7""",
    """INSERT INTO tasks (task_number, kind, status, merchant_id, linked_id, agent_number,
         terminal_serial, product_model, address, site_phone, business_hours, contact_person,
         description, engineer, cancel_reason, external_id, delivery_state, version,
         created_at, updated_at)
       SELECT 'RP' || to_char(started_at, 'YYYYMMDD') || '-' || lpad(id::text, 7, '0'),
              'repair', 'new', merchant_id, linked_id, agent_number, '', '', '', '', '', '',
              '', '', '', '', 'local', 1, started_at, started_at
       FROM recordings WHERE id % 20 = 3""",
    """INSERT INTO task_calls (task_id, linked_id, agent_number, relation, at)
       SELECT id, linked_id, agent_number, 'origin', created_at FROM tasks""",
]


async def load(url: str, rows: int) -> float:
    started = time.perf_counter()
    engine = create_engine(url)
    params: dict[str, Any] = {"rows": rows, "merchants": MERCHANTS, "agents": AGENTS,
                              "first": FIRST.replace(tzinfo=None)}
    params.update({f"q{i + 1}": q for i, q in enumerate(QUEUES)})
    params.update({f"i{i + 1}": q for i, q in enumerate(INTENTS)})
    params.update({f"d{i + 1}": q for i, q in enumerate(DISPOSITIONS)})
    try:
        async with engine.begin() as conn:
            for statement in LOAD:
                await conn.execute(text(statement), params)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


def combinations(rng: random.Random, rows: int) -> dict[str, Callable[[], RecordingQuery]]:
    """Filter combinations with a fresh random value per run."""
    last = FIRST + timedelta(seconds=STEP_S * rows)

    def day() -> tuple[datetime, datetime]:
        start = FIRST + timedelta(days=rng.randrange(max(1, (last - FIRST).days)))
        return start, start + timedelta(days=1)

    def agent() -> str:
        return str(8001 + rng.randrange(AGENTS))

    def merchant() -> str:
        return f"8983100{rng.randrange(1, MERCHANTS):08d}"

    def caller() -> str:
        g = rng.randrange(1, rows)
        return "13" + f"{(g * 104729) % 1_000_000_000:09d}"

    def task() -> str:
        g = rng.randrange(0, rows // 20) * 20 + 3
        started = FIRST + timedelta(seconds=STEP_S * g)
        return f"RP{started.strftime('%Y%m%d')}-{g:07d}"

    def with_day(**kw: Any) -> RecordingQuery:
        start, end = day()
        return RecordingQuery(start=start, end=end, **kw)

    return {
        "none": lambda: RecordingQuery(),
        "agent": lambda: RecordingQuery(agent=agent()),
        "queue": lambda: RecordingQuery(queue=rng.choice(QUEUES)),
        "merchant_number": lambda: RecordingQuery(merchant=merchant()),
        "merchant_name": lambda: RecordingQuery(
            merchant=f"联华超市 {rng.randrange(1, MERCHANTS // 5) * 5}"),
        "caller_full": lambda: RecordingQuery(caller=caller()),
        "caller_prefix4": lambda: RecordingQuery(caller=caller()[:4]),
        "date_range": lambda: with_day(),
        "agent+date": lambda: with_day(agent=agent()),
        "queue+date": lambda: with_day(queue=rng.choice(QUEUES)),
        "merchant+date_month": lambda: RecordingQuery(
            merchant=merchant(), start=FIRST, end=FIRST + timedelta(days=120)),
        "intent": lambda: RecordingQuery(intent=rng.choice(INTENTS)),
        "disposition": lambda: RecordingQuery(disposition=rng.choice(DISPOSITIONS)),
        "intent+agent+date": lambda: with_day(intent=rng.choice(INTENTS), agent=agent()),
        "task": lambda: RecordingQuery(task=task()),
        "complaint": lambda: RecordingQuery(complaint=True),
        "complaint+agent": lambda: RecordingQuery(complaint=True, agent=agent()),
        "duration_range": lambda: RecordingQuery(min_seconds=300, max_seconds=320),
        "qa_scored": lambda: RecordingQuery(qa=QaState.SCORED),
        "q_merchant_number": lambda: RecordingQuery(q=merchant()),
        "q_caller": lambda: RecordingQuery(q=caller()),
        "sort_duration": lambda: RecordingQuery(sort=Sort.DURATION),
        "sort_duration+agent": lambda: RecordingQuery(sort=Sort.DURATION, agent=agent()),
        "all_filters": lambda: with_day(agent=agent(), queue=rng.choice(QUEUES),
                                        intent=rng.choice(INTENTS), min_seconds=60),
    }


async def search_phase(rows: int, repeat: int, seed: int) -> dict[str, Any]:
    import asyncpg

    admin = _plain(postgres_admin_url())
    try:
        conn = await asyncio.wait_for(asyncpg.connect(admin), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return {"skipped": f"PostgreSQL not reachable at {admin}: {exc}"}
    name = f"cc_bench_rec_{uuid.uuid4().hex[:8]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin.rpartition('/')[0]}/{name}"
    result: dict[str, Any] = {"rows": rows}
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        result["load_s"] = round(await load(url, rows), 1)
        engine = create_engine(url)
        search = StoreRecordingSearch(Store(session_factory(engine)))
        rng = random.Random(seed)
        combos: dict[str, Any] = {}
        try:
            for label, make in combinations(rng, rows).items():
                first: list[float] = []
                deep: list[float] = []
                deep_missing = 0
                for _ in range(repeat):
                    q = make()
                    t0 = time.perf_counter()
                    await search.search(q)
                    first.append((time.perf_counter() - t0) * 1000)
                for _ in range(max(3, repeat // 4)):
                    q = make()
                    cursor = await search.cursor_at(q, PAGE * (DEEP_PAGE - 1))
                    if cursor is None:
                        deep_missing += 1
                        continue
                    t0 = time.perf_counter()
                    await search.search(replace(q, after=cursor))
                    deep.append((time.perf_counter() - t0) * 1000)
                combos[label] = {"first_page_ms": percentiles(first),
                                 "page_1000_ms": percentiles(deep) if deep else
                                 "fewer than 1,000 pages"}
        finally:
            await engine.dispose()
        result["combinations"] = combos
        result["worst_p95_ms"] = max(
            max(c["first_page_ms"]["p95"],
                c["page_1000_ms"]["p95"] if isinstance(c["page_1000_ms"], dict) else 0)
            for c in combos.values())
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    return result


# ------------------------------------------------------------------------------ pipeline


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speech_wav(path: Path, minutes: float) -> Path:
    """``minutes`` of Mandarin speech at 8 kHz mono (espeak-ng, resampled by sox/ffmpeg)."""
    one = path.with_suffix(".one.wav")
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(one),
                    "您好！工号八零零一为您服务。请问有什么可以帮您的？我的刷卡机坏了，"
                    "屏幕提示通讯失败，需要报修。请问您的商户号是多少？"], check=True)
    with wave.open(str(one), "rb") as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    seconds = len(frames) / 2 / rate
    repeats = int(minutes * 60 / seconds) + 1
    raw = path.with_suffix(".raw.wav")
    with wave.open(str(raw), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames * repeats)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(raw), "-ar", "8000",
                    "-t", str(minutes * 60), str(path)], check=True)
    return path


def measure(step: Callable[[], object]) -> float:
    before = _children_cpu() + _self_cpu()
    step()
    return _children_cpu() + _self_cpu() - before


def pipeline_phase(minutes: float) -> dict[str, Any]:
    if not codec.available() or shutil.which("espeak-ng") is None \
            or shutil.which("ffmpeg") is None:
        return {"skipped": "needs opus-tools, espeak-ng and ffmpeg"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wav = speech_wav(work / "call.wav", minutes)
        info = codec.wav_info(wav)
        recorded_min = info.seconds / 60
        ogg = work / "call.ogg"
        mp3 = work / "call.mp3"
        keyring = Keyring({"k1": os.urandom(32)}, "k1")
        cpu = {
            "compress_opus": measure(lambda: codec.compress(wav, ogg)),
            "verify_opus": measure(lambda: codec.verify(info, ogg, work / "v.wav")),
            "seal": measure(lambda: seal(io.BytesIO(ogg.read_bytes()), io.BytesIO(),
                                         ogg.stat().st_size, keyring)),
            "peaks": measure(lambda: peaks(wav.read_bytes()[44:])),
            "mp3_for_comparison": measure(lambda: subprocess.run(
                ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a",
                 "libmp3lame", "-b:a", "16k", str(mp3)], check=True)),
        }
        pipeline_total = sum(v for k, v in cpu.items() if k != "mp3_for_comparison")
        return {
            "recorded_minutes": round(recorded_min, 2),
            "cpu_s_per_recorded_minute": {k: round(v / recorded_min, 3) for k, v in cpu.items()},
            "pipeline_cpu_s_per_recorded_minute": round(pipeline_total / recorded_min, 3),
            "kb_per_recorded_minute": {
                "wav_8k_pcm": round(wav.stat().st_size / 1024 / recorded_min, 1),
                "mp3_16k": round(mp3.stat().st_size / 1024 / recorded_min, 1),
                "opus_16k": round(ogg.stat().st_size / 1024 / recorded_min, 1),
            },
        }


# ------------------------------------------------------------------------------ playback


async def playback_phase(requests: int) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer
    from sqlalchemy import insert

    from callcenter.db.models import RecordingRow
    from callcenter.domain import Role
    from callcenter.service import add_user
    from callcenter.settings import load_settings
    from callcenter.web.app import build_web_app
    from recording.web import MODULE

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite+aiosqlite:///{root / 'cc.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_engine(url)
        store = Store(session_factory(engine))
        key = os.urandom(32)
        plain = b"OggS" + os.urandom(2_000_000)  # ~2 min of 16 kbit/s Opus
        (root / "plain.ogg").write_bytes(plain)
        with (root / "sealed.ogg.sealed").open("wb") as f:
            seal(io.BytesIO(plain), f, len(plain), Keyring({"k1": key}, "k1"))
        now = datetime.now(UTC)
        await add_user(store, now, username="sup", display_name="sup", role=Role.SUPERVISOR,
                       password="password-1")
        async with store.transaction() as s:
            for token, path, key_id in (("plain" + "x" * 20, "plain.ogg", ""),
                                        ("sealed" + "x" * 20, "sealed.ogg.sealed", "k1")):
                await s.execute(insert(RecordingRow).values(
                    token=token, linked_id=token, path="x.wav", started_at=now, ended_at=now,
                    stage="stored", stored_path=path, codec="opus", key_id=key_id,
                    plain_size=len(plain)))
        settings = load_settings(environ={
            "CALLCENTER_RECORDING_DIR": str(root),
            "CALLCENTER_RECORDING_KEYS": "k1:" + base64.b64encode(key).decode()})
        app = build_web_app(settings, store, modules=[MODULE])
        try:
            async with TestClient(TestServer(app)) as client:
                await client.post("/login", data={"username": "sup",
                                                  "password": "password-1"})
                for label in ("plain", "sealed"):
                    token = label + "x" * 20
                    times: list[float] = []
                    for i in range(requests + 5):
                        t0 = time.perf_counter()
                        r = await client.get(f"/recordings/{token}",
                                             headers={"Range": "bytes=0-65535"})
                        body = await r.content.readexactly(65536)
                        elapsed = (time.perf_counter() - t0) * 1000
                        assert r.status == 206
                        assert body == plain[:65536]
                        if i >= 5:
                            times.append(elapsed)
                    out[f"{label}_first_64k_ms"] = percentiles(times)
        finally:
            await engine.dispose()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"load_average": os.getloadavg()}
    phases: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "pipeline": lambda: asyncio.to_thread(pipeline_phase, args.minutes),
        "playback": lambda: playback_phase(args.requests),
        "search": lambda: search_phase(args.rows, args.repeat, args.seed),
    }
    for name in args.phases.split(","):
        report[name] = await phases[name]()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--phases", default="pipeline,playback,search")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
