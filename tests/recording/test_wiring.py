"""``install(runtime, options)``: recordings join the running product."""

from __future__ import annotations

from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.runtime import RunOptions, Runtime
from callcenter.settings import load_settings
from recording.repository import RecordingRepository
from recording.wiring import install


async def test_playback_module_and_the_index_on_the_runtimes_store(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    store = Store(session_factory(engine))
    runtime = Runtime(settings=load_settings(environ={}), engine=engine, store=store)
    try:
        index = await install(runtime, RunOptions())
        assert isinstance(index, RecordingRepository) and index.store is store
        assert [m.name for m in runtime.modules] == ["recordings"]
        assert runtime.components == []
    finally:
        await engine.dispose()
