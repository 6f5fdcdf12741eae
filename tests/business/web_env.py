"""A running web app with the business module, users of each role and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.business.board import web_module
from callcenter.business.business_protocol import SIGNATURE_HEADER, sign
from callcenter.business.service import BusinessService
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.settings import Settings, load_settings
from callcenter.web.app import build_web_app
from callcenter.web.session import COOKIE_NAME
from tests.fakes.hub import RecordingHub
from tests.web_sessions import session_cookie

from .conftest import TZ, FakeClock, Seed, seed

SESSION_SECRET = "test-secret"
BUSINESS_SECRET = "s3cret"
USERS = {"agent1": (Role.AGENT, "8001"), "agent2": (Role.AGENT, "8002"),
         "disp": (Role.DISPATCHER, ""), "sup": (Role.SUPERVISOR, ""), "admin": (Role.ADMIN, "")}


@dataclass
class WebEnv:
    client: TestClient[Any, Any]
    service: BusinessService
    hub: RecordingHub
    clock: FakeClock
    store: Store
    seed: Seed
    settings: Settings
    user_ids: dict[str, int] = field(default_factory=dict)

    async def auth(self, username: str) -> dict[str, str]:
        """Headers of a logged-in ``username`` (a new server-side session, started now)."""
        cookie = await session_cookie(self.store, self.user_ids[username], self.clock.now)
        return {"Cookie": f"{COOKIE_NAME}={cookie}", "Accept-Language": "zh-CN"}

    def signed(self, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(BUSINESS_SECRET, body),
                "Content-Type": "application/json"}


def business_settings(external: bool, secret: str = BUSINESS_SECRET) -> Settings:
    env = {"CALLCENTER_WEB_SESSION_SECRET": SESSION_SECRET,
           "CALLCENTER_BUSINESS_SECRET": secret}
    if external:
        env["CALLCENTER_BUSINESS_URL"] = "http://bms.test/api"
    return load_settings(environ=env)


async def add_users(store: Store, clock: FakeClock) -> dict[str, int]:
    """Accounts without password hashing (the tests sign session cookies themselves)."""
    ids = {}
    for username, (role, agent_number) in USERS.items():
        user = await store.users.add(username, username, role, "not-a-hash", clock.now)
        ids[username] = user.id
        if agent_number:
            await store.agents.add(agent_number, username, f"PJSIP/{agent_number}",
                                   ["hotline"], user.id)
    return ids


@asynccontextmanager
async def web_env(store: Store, *, external: bool = False,
                  business_secret: str = BUSINESS_SECRET,
                  prepare: Callable[[web.Application], None] | None = None
                  ) -> AsyncIterator[WebEnv]:
    clock = FakeClock()
    hub = RecordingHub()
    settings = business_settings(external, business_secret)
    service = BusinessService(store, hub, tz=TZ, external=external)
    app = build_web_app(settings, store, modules=[web_module(service)], clock=clock.epoch,
                        hub=hub)
    if prepare is not None:
        prepare(app)
    seeded = await seed(store)
    ids = await add_users(store, clock)
    async with TestClient(TestServer(app)) as client:
        yield WebEnv(client, service, hub, clock, store, seeded, settings, ids)
