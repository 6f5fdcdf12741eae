"""Recordings over HTTP: by opaque token, after a role check, with byte ranges for seeking.

Who may listen: supervisors and administrators (QA, complaints), and the agent who took the
call. Dispatchers and other agents get 403. The audio is served by ``web.FileResponse``, which
answers single ``Range`` requests (206) so the browser's player can seek.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from callcenter.domain import Role
from callcenter.errors import NotFound
from callcenter.web.app import Forbidden, WebModule, ctx_of, require
from recording.errors import RecordingMissing
from recording.paths import resolve
from recording.repository import RecordingRepository

LISTENERS = (Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN, Role.AGENT)


async def _authorised(request: web.Request) -> tuple[Path, str]:
    user = require(request, *LISTENERS)
    ctx = ctx_of(request)
    token = request.match_info["token"]
    rec = await RecordingRepository(ctx.store).by_token(token)
    if rec is None:
        raise NotFound("no such recording")
    if user.role is Role.AGENT:
        agent = await ctx.store.agents.by_user(user.id)
        call = await ctx.store.calls.get(rec.linked_id)
        if agent is None or call is None or call.agent_number != agent.agent_number:
            raise Forbidden("agents may only play their own calls")
    path = resolve(Path(ctx.settings.recording.dir), rec.path)
    return path, rec.linked_id


async def play(request: web.Request) -> web.StreamResponse:
    path, _ = await _authorised(request)
    if not path.is_file():
        raise RecordingMissing("the recording file is not there (yet)")
    return web.FileResponse(path, headers={"Cache-Control": "private, no-store",
                                           "Content-Disposition": "inline"})


def setup(app: web.Application) -> None:
    app.router.add_get("/recordings/{token}", play)


MODULE = WebModule(name="recordings", setup=setup)
