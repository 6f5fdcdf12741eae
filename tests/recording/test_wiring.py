"""``install(runtime, options)``: recordings join the running product."""

from __future__ import annotations

import pytest

from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.runtime import RunOptions, Runtime
from callcenter.settings import load_settings
from recording import codec
from recording.pipeline import StoragePipeline
from recording.purge import PurgeJob
from recording.qa_draw import QaDrawJob
from recording.repository import RecordingRepository
from recording.wiring import install


async def test_playback_module_and_the_index_on_the_runtimes_store(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    store = Store(session_factory(engine))
    settings = load_settings(environ={"CALLCENTER_RECORDING_PIPELINE": "false"})
    runtime = Runtime(settings=settings, engine=engine, store=store)
    try:
        index = await install(runtime, RunOptions())
        assert isinstance(index, RecordingRepository) and index.store is store
        assert [m.name for m in runtime.modules] == ["recordings"]
        assert [type(c) for c in runtime.components] == [QaDrawJob]
        assert (await runtime.health["recordings"]())["stages"] == {}
    finally:
        await engine.dispose()


async def test_the_storage_pipeline_runs_beside_the_call_path(sqlite_url: str) -> None:
    if not codec.available():
        pytest.skip("opus-tools is not installed (apt-get install opus-tools)")
    engine = create_engine(sqlite_url)
    runtime = Runtime(settings=load_settings(environ={}), engine=engine,
                      store=Store(session_factory(engine)))
    try:
        await install(runtime, RunOptions())
        assert [type(c) for c in runtime.components] == [StoragePipeline, PurgeJob, QaDrawJob]
        report = await runtime.health["recordings"]()
        assert report["ok"] is True and report["encrypted"] is False
    finally:
        await engine.dispose()
