"""Recordings: stored by name, reached by opaque token, role-checked, seekable."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.domain import Role
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from recording.errors import RecordingPathError
from recording.paths import relative_name, resolve
from recording.repository import RecordingRepository
from recording.web import MODULE

NOW = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.mark.parametrize(("reported", "name"), [
    ("/var/spool/asterisk/monitor/1795330137.1.wav", "1795330137.1.wav"),
    ("/var/spool/asterisk/monitor/1795330137.1", "1795330137.1.wav"),
    ("/var/spool/asterisk/monitor/2026/11/1795330137.1-techsupport.wav",
     "2026/11/1795330137.1-techsupport.wav"),
    ("/elsewhere/x.wav", "x.wav"),
])
def test_asterisk_paths_become_names_under_the_recording_dir(reported: str, name: str) -> None:
    assert relative_name(reported) == name


@pytest.mark.parametrize("reported", ["/var/spool/asterisk/monitor/../../etc/passwd", "", "../x"])
def test_traversal_in_reported_path_is_refused(reported: str) -> None:
    with pytest.raises(RecordingPathError):
        relative_name(reported)


def test_resolve_never_leaves_the_root(tmp_path: Path) -> None:
    assert resolve(tmp_path, "a/b.wav") == (tmp_path / "a/b.wav").resolve()
    with pytest.raises(RecordingPathError):
        resolve(tmp_path, "../outside.wav")


def _wav(path: Path, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))


@pytest.fixture
async def env(sqlite_store: Any, tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    store = sqlite_store
    for name, role in (("sup", Role.SUPERVISOR), ("disp", Role.DISPATCHER)):
        await add_user(store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    for number in ("8001", "8002"):
        await add_user(store, NOW, username=number, display_name=number, role=Role.AGENT,
                       password="password-1", agent_number=number, interface=f"PJSIP/{number}")
    await store.calls.upsert("1795330137.0", NOW, agent_number="8001")
    rec = await RecordingRepository(store).register(
        "1795330137.0", "/var/spool/asterisk/monitor/1795330137.1.wav", NOW)
    _wav(tmp_path / "rec" / "1795330137.1.wav")
    settings = load_settings(environ={"CALLCENTER_RECORDING_DIR": str(tmp_path / "rec")})
    app = build_web_app(settings, store, modules=[MODULE])
    async with TestClient(TestServer(app)) as client:
        yield client, rec.id


async def _as(client: TestClient[Any, Any], username: str) -> None:
    client.session.cookie_jar.clear()
    r = await client.post("/login", data={"username": username, "password": "password-1"},
                          allow_redirects=False)
    assert r.status == 302


async def test_token_is_opaque_and_not_the_call_id(
        env: tuple[TestClient[Any, Any], str]) -> None:
    _, token = env
    assert "1795330137" not in token and len(token) >= 20


async def test_supervisor_plays_and_seeks_a_recording(
        env: tuple[TestClient[Any, Any], str]) -> None:
    client, token = env
    await _as(client, "sup")
    r = await client.get(f"/recordings/{token}")
    assert r.status == 200
    assert (await r.read())[:4] == b"RIFF"
    part = await client.get(f"/recordings/{token}", headers={"Range": "bytes=44-99"})
    assert part.status == 206 and len(await part.read()) == 56


@pytest.mark.parametrize(("who", "status"), [("disp", 403), ("8002", 403), ("8001", 200)])
async def test_only_supervisors_and_the_calls_agent_may_listen(
        env: tuple[TestClient[Any, Any], str], who: str, status: int) -> None:
    client, token = env
    await _as(client, who)
    r = await client.get(f"/recordings/{token}")
    assert r.status == status


async def test_unknown_token_is_404_and_anonymous_is_sent_to_login(
        env: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = env
    r = await client.get("/recordings/nope", allow_redirects=False)
    assert r.status == 302
    await _as(client, "sup")
    assert (await client.get("/recordings/nope")).status == 404
