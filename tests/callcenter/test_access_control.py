"""Issue 13, the web app's shell: server-side sessions (logout, idle, password change,
disabled account), login throttling, password checks off the event loop, health for
anonymous callers, security headers and the Secure cookie."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter import auth
from callcenter.auth import LoginBusy, PasswordVerifier
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.service import add_user, change_password, disable_user
from callcenter.settings import load_settings
from callcenter.web.app import CONTENT_SECURITY_POLICY, build_web_app
from callcenter.web.login_throttle import MemoryThrottle
from callcenter.web.session import SessionRecord, SessionState, session_state, token_digest

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PASSWORD = "password-1"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now.timestamp()


@dataclass
class Env:
    client: TestClient[Any, Any]
    store: Store
    clock: Clock


async def _env(store: Store, **environ: str) -> AsyncIterator[Env]:
    for name, role in (("admin", Role.ADMIN), ("disp", Role.DISPATCHER),
                       ("sup", Role.SUPERVISOR)):
        await add_user(store, NOW, username=name, display_name=name, role=role,
                       password=PASSWORD)
    clock = Clock()
    settings = load_settings(environ=environ)
    app = build_web_app(settings, store, clock=clock)
    async with TestClient(TestServer(app)) as client:
        yield Env(client, store, clock)


@pytest.fixture
async def env(sqlite_store: Store) -> AsyncIterator[Env]:
    async for e in _env(sqlite_store):
        yield e


async def login(env: Env, username: str, password: str = PASSWORD, **headers: str) -> Any:
    return await env.client.post("/login", data={"username": username, "password": password,
                                                 "next": "/"},
                                 headers=headers, allow_redirects=False)


async def logged_in(env: Env) -> bool:
    r = await env.client.get("/", allow_redirects=False)
    return r.status == 200


# --------------------------------------------------------------------------- sessions


async def test_the_cookie_is_refused_after_logout(env: Env) -> None:
    r = await login(env, "admin")
    token = r.cookies["cc_session"].value
    assert await logged_in(env)
    assert (await env.client.post("/logout", allow_redirects=False)).status == 302
    env.client.session.cookie_jar.clear()
    env.client.session.cookie_jar.update_cookies({"cc_session": token})
    assert not await logged_in(env)
    api = await env.client.get("/healthz")
    assert await api.json() == {"status": "ok"}


async def test_a_session_ends_when_idle(env: Env) -> None:
    await login(env, "admin")
    env.clock.now += timedelta(minutes=59)
    assert await logged_in(env)  # seen again: the idle clock restarts
    env.clock.now += timedelta(minutes=59)
    assert await logged_in(env)
    env.clock.now += timedelta(minutes=61)
    assert not await logged_in(env)


async def test_sessions_unseen_for_a_shift_are_purged_at_the_next_login(env: Env) -> None:
    token = (await login(env, "admin")).cookies["cc_session"].value
    digest = token_digest(token)
    assert await env.store.web_sessions.with_user(digest) is not None
    env.clock.now += timedelta(hours=12, minutes=1)
    await login(env, "sup")
    assert await env.store.web_sessions.with_user(digest) is None


def test_session_rules() -> None:
    record = SessionRecord("d", 1, created_at=NOW, last_seen_at=NOW)
    assert session_state(record, NOW + timedelta(minutes=59)) is SessionState.LIVE
    assert session_state(record, NOW + timedelta(minutes=60)) is SessionState.IDLE
    busy = SessionRecord("d", 1, created_at=NOW, last_seen_at=NOW + timedelta(hours=12))
    assert session_state(busy, NOW + timedelta(hours=12)) is SessionState.EXPIRED
    gone = SessionRecord("d", 1, created_at=NOW, last_seen_at=NOW, revoked_at=NOW)
    assert session_state(gone, NOW) is SessionState.REVOKED


async def test_a_password_change_and_a_disabled_account_end_every_session(env: Env) -> None:
    await login(env, "disp")
    assert await logged_in(env)
    await change_password(env.store, NOW, "disp", "new-password-2", actor="cli:test")
    assert not await logged_in(env)
    assert (await login(env, "disp")).status == 401  # the old password is gone
    assert (await login(env, "disp", "new-password-2")).status == 302
    assert await logged_in(env)
    await disable_user(env.store, NOW, "disp", actor="cli:test")
    assert not await logged_in(env)
    assert (await login(env, "disp", "new-password-2")).status == 401
    entries = await env.store.audit.recent()
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("cli:test", "user.disable", "disp"), ("cli:test", "user.password", "disp")]
    assert entries[1].details == {"sessions_ended": 1}


# --------------------------------------------------------------------------- throttling


async def test_the_21st_bad_password_within_a_minute_is_throttled(env: Env) -> None:
    for attempt in range(20):
        r = await login(env, "admin", "wrong-password")
        assert r.status == 401, attempt
    r = await login(env, "admin", "wrong-password")
    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    assert "too many failed logins" in (await r.text()).lower() or "过多" in await r.text()
    assert (await login(env, "admin")).status == 429  # not even the right one
    env.clock.now += timedelta(seconds=61)
    assert (await login(env, "admin")).status == 302


def test_throttle_counts_per_account_and_per_address() -> None:
    t = MemoryThrottle(limit=3, window=60)
    for i in range(3):
        t.failed(f"user{i}", "10.0.0.1", 100.0 + i)
    verdict = t.check("someone-else", "10.0.0.1", 103.0)
    assert not verdict.allowed and verdict.key == "address:10.0.0.1"
    assert verdict.retry_after == 57
    assert t.check("someone-else", "10.0.0.2", 103.0).allowed
    assert t.check("user0", "10.0.0.1", 160.5).allowed  # the first failure left the window
    for i in range(3):
        t.failed("boss", f"10.0.1.{i}", 200.0)
    assert not t.check("BOSS", "10.9.9.9", 200.0).allowed
    t.succeeded("boss")
    assert t.check("boss", "10.9.9.9", 200.0).allowed


# --------------------------------------------------------------------------- password checks


async def test_password_checks_run_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real = auth.verify_password

    def spy(password_hash: str, password: str) -> bool:
        threads.append(threading.current_thread())
        return real(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", spy)
    verifier = PasswordVerifier()
    try:
        good = auth.hash_password(PASSWORD)
        assert await verifier.verify(good, PASSWORD)
        assert not await verifier.verify(None, PASSWORD)  # unknown user: the dummy hash
        assert len(threads) == 2 and threading.main_thread() not in threads
    finally:
        verifier.close()


async def test_an_unknown_user_runs_the_same_argon2_check_as_a_real_one(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """No timing in the assertion: the unknown user must go through one full Argon2id
    verification with the same parameters as a real account's hash (before the fix: none)."""
    checked: list[str] = []
    real_verify = auth.verify_password

    def recording(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", recording)
    await login(env, "admin", "wrong-password")
    await login(env, "ghost-user", "wrong-password")
    assert len(checked) == 2, checked
    real_hash, dummy_hash = checked
    assert dummy_hash != real_hash
    # same algorithm and cost parameters: "$argon2id$v=19$m=…,t=…,p=…$salt$hash"
    assert dummy_hash.split("$")[1:4] == real_hash.split("$")[1:4]


async def test_a_flood_of_logins_is_shed_instead_of_queued(
        monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    monkeypatch.setattr(auth, "verify_password", lambda h, p: gate.wait(5) and False)
    verifier = PasswordVerifier(workers=1, max_waiting=1)
    try:
        first = asyncio.ensure_future(verifier.verify("h", "p"))
        second = asyncio.ensure_future(verifier.verify("h", "p"))
        await asyncio.sleep(0.05)
        with pytest.raises(LoginBusy):
            await verifier.verify("h", "p")
        gate.set()
        assert await first is False and await second is False
    finally:
        gate.set()
        verifier.close()


async def test_the_event_loop_answers_while_bad_logins_are_checked(env: Env) -> None:
    bad = [asyncio.ensure_future(login(env, "admin", f"wrong-{i}")) for i in range(6)]
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    r = await env.client.get("/healthz")
    took = time.perf_counter() - started
    await asyncio.gather(*bad)
    assert r.status == 200
    assert took < 0.25, took  # on the loop, six Argon2 checks held it for ~0.6 s


# --------------------------------------------------------------------------- health, headers


async def test_anonymous_health_is_status_only_and_staff_see_the_probes(env: Env) -> None:
    assert await (await env.client.get("/healthz")).json() == {"status": "ok"}
    await login(env, "disp")
    assert await (await env.client.get("/healthz")).json() == {"status": "ok"}
    env.client.session.cookie_jar.clear()
    await login(env, "sup")
    assert "version" in await (await env.client.get("/healthz")).json()


async def test_every_response_carries_the_security_headers(env: Env) -> None:
    responses = [await env.client.get("/login"), await env.client.get("/healthz"),
                 await env.client.get("/static/app.css"),
                 await env.client.get("/", allow_redirects=False),
                 await env.client.get("/nowhere")]
    for r in responses:
        assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, r.url
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


async def test_the_login_form_checks_origin(env: Env) -> None:
    r = await login(env, "admin", Origin="http://127.0.0.1:1")
    assert r.status == 403 and "cc_session" not in r.cookies


async def test_the_cookie_is_secure_over_https_and_httponly_strict(env: Env) -> None:
    plain = await login(env, "admin")
    morsel = plain.cookies["cc_session"]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and not morsel["secure"]
    # X-Forwarded-Proto is believed only from a trusted proxy (none configured here)
    spoofed = await login(env, "admin", **{"X-Forwarded-Proto": "https"})
    assert not spoofed.cookies["cc_session"]["secure"]


async def test_behind_a_trusted_tls_proxy_the_cookie_is_secure(sqlite_store: Store) -> None:
    async for env in _env(sqlite_store, CALLCENTER_WEB_TRUSTED_PROXIES="127.0.0.1"):
        r = await login(env, "admin", **{"X-Forwarded-Proto": "https"})
        assert r.cookies["cc_session"]["secure"]


async def test_cookie_secure_setting_marks_it_always(sqlite_store: Store) -> None:
    async for env in _env(sqlite_store, CALLCENTER_WEB_COOKIE_SECURE="true"):
        r = await login(env, "admin")
        assert r.cookies["cc_session"]["secure"]
