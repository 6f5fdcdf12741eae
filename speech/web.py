"""Transcripts over HTTP: the player beside the recording, search, the wrap-up pre-fill.

=====================================  =========================  ============================
route                                  who                        what
=====================================  =========================  ============================
``GET /speech/search?q=``              supervisor, admin          page (JSON with Accept: json)
``GET /speech/recordings/{token}``     supervisor, admin          player + clickable transcript
``GET /api/speech/recordings/{token}`` supervisor, admin          the transcript as JSON
``GET /api/speech/calls/{id}/prefill`` the call's agent, super-   the wrap-up suggestion
                                       visor, team lead, admin
=====================================  =========================  ============================

The pre-fill answers ``{"linked_id", "status", "description", "keywords", "intent",
"disposition"}``: ``status`` is ``ready``, ``pending`` (ask again later), ``none`` or ``off``
(:class:`speech.service.Prefill`); ``disposition`` is what the spoken intent suggests, by the
same table as the IVR's choice (``callcenter.business.wrapup.INTENT_DISPOSITION``). An agent
gets only the calls they took (403 otherwise), a dispatcher none.

The audio itself is ``/recordings/{token}`` (the recording package's role-checked, seekable
route); a search hit links to ``/speech/recordings/{token}#t=SECONDS`` and the page seeks there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.business.wrapup import INTENT_DISPOSITION
from callcenter.domain import Role
from callcenter.errors import NotFound
from callcenter.web import i18n
from callcenter.web.app import (
    Forbidden,
    PageLink,
    WebModule,
    ctx_of,
    locale_of,
    render,
    require,
    wants_json,
)
from recording.repository import RecordingRepository
from speech.messages import MESSAGES
from speech.service import SpeechService

HERE = Path(__file__).resolve().parent
STATIC_ROUTE = "speech_static"
SERVICE = web.AppKey("speech_service", SpeechService)
REVIEWERS = (Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN)  # QA: the team leads too


def _texts(request: web.Request) -> dict[str, str]:
    t = i18n.translator(ctx_of(request).catalogue, locale_of(request))
    return {key: t(key) for key in MESSAGES}


def _page(request: web.Request, template: str, **values: Any) -> web.Response:
    def asset(filename: str) -> str:
        return str(request.app.router[STATIC_ROUTE].url_for(filename=filename))

    service = request.app[SERVICE]
    return render(request, template, asset=asset, texts=_texts(request),
                  speech_off=None if service.enabled else service.reason, **values)


async def search_page(request: web.Request) -> web.Response:
    require(request, *REVIEWERS)
    query = request.query.get("q", "").strip()[:100]
    hits = await request.app[SERVICE].search(query) if query else []
    rows = [{"recording": h.recording_token, "linked_id": h.linked_id, "channel": h.channel,
             "start": h.start, "text": h.text} for h in hits]
    if wants_json(request):
        return web.json_response({"query": query, "hits": rows})
    return _page(request, "speech/search.html", query=query, hits=rows)


async def _transcript(request: web.Request) -> dict[str, Any]:
    require(request, *REVIEWERS)
    token = request.match_info["token"]
    if await RecordingRepository(ctx_of(request).store).by_token(token) is None:
        raise NotFound("no such recording")
    transcripts = await request.app[SERVICE].transcript(token)
    return {"recording": token, "audio": f"/recordings/{token}",
            "channels": [t.as_json() for t in transcripts]}


async def player_page(request: web.Request) -> web.Response:
    data = await _transcript(request)
    return _page(request, "speech/player.html", data=data)


async def transcript_json(request: web.Request) -> web.Response:
    return web.json_response(await _transcript(request))


async def prefill(request: web.Request) -> web.Response:
    user = require(request, Role.AGENT, *REVIEWERS)
    ctx = ctx_of(request)
    linked_id = request.match_info["linked_id"]
    call = await ctx.store.calls.get(linked_id)
    if call is None:
        raise NotFound("no such call")
    if user.role is Role.AGENT:
        agent = await ctx.store.agents.by_user(user.id)
        if agent is None or call.agent_number != agent.agent_number:
            raise Forbidden("agents may only read their own calls")
    found = await request.app[SERVICE].prefill(linked_id)
    disposition = INTENT_DISPOSITION.get(found.suggestion.intent or "")
    return web.json_response({"linked_id": linked_id, **found.as_json(),
                              "disposition": disposition.value if disposition else None})


def module(service: SpeechService) -> WebModule:
    """The web module, bound to ``service``."""

    def setup(app: web.Application) -> None:
        app[SERVICE] = service
        r = app.router
        r.add_get("/speech/search", search_page)
        r.add_get("/speech/recordings/{token}", player_page)
        r.add_get("/api/speech/recordings/{token}", transcript_json)
        r.add_get("/api/speech/calls/{linked_id}/prefill", prefill)
        r.add_static("/speech/static/", HERE / "static", append_version=True,
                     name=STATIC_ROUTE)

    return WebModule(name="speech", setup=setup, messages=MESSAGES,
                     template_dirs=(HERE / "templates",),
                     links=(PageLink("/speech/search", "speech.nav.search",
                                     frozenset(REVIEWERS)),))
