"""Recordings over HTTP: the search page and API, and playback by opaque token.

Routes and roles (admins pass every check):

=====================================  ==========================================
``GET /recordings``                    search page with the in-page player: supervisor, agent
``GET /api/recordings``                search (JSON, keyset pages): supervisor, agent (own)
``GET /api/recordings/{token}``        one recording: peaks, timeline: supervisor, agent (own)
``GET /recordings/{token}``            the audio, byte ranges (206): supervisor, agent (own)
``GET /api/recordings/access``         who played what: admin only
``GET /api/recordings/purges``         the purge log (what retention deleted, why):
                                       supervisor, admin
=====================================  ==========================================

Dispatchers get 403 everywhere. Every audio request (play, or download with ``?download=1``)
is written to the product's audit log (``recording.play``/``recording.download``, target the
token, the call and byte range in the details; ``/admin`` shows it with the rest). Sealed
recordings are decrypted chunk by chunk for the asked range only (:mod:`recording.sealed`);
recordings the pipeline has not reached yet are served from the original file.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.domain import HOTLINE_QUEUES, Role, User
from callcenter.errors import NotFound, ValidationError
from callcenter.qa_directory import StoreQa
from callcenter.recording_directory import (
    StoreAccessLog,
    StorePipelineStore,
    StoreRecordingSearch,
    StoreRetention,
)
from callcenter.web.app import (
    Forbidden,
    PageLink,
    WebModule,
    client_address,
    ctx_of,
    locale_of,
    now_utc,
    require,
)
from recording.errors import RecordingMissing
from recording.messages import MESSAGES
from recording.pages import STATIC_ROUTE, render_page
from recording.pipeline import PlainAudio, open_plain
from recording.ports import Access, RecordingHit, StoredRecording
from recording.qa_web import QA_FORM, assignment_json, form_json, review_json, setup_qa
from recording.retention import parse_purge_log_query, purge_json
from recording.sealed import Keyring
from recording.search import SEARCHERS, for_viewer, parse_query, shown_caller

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
LISTENERS = tuple(SEARCHERS)
# The purge log names calls and files that no longer exist: the people who answer for
# retention (supervisors) and admins; team leads and agents have no use for it.
PURGE_READERS = (Role.SUPERVISOR, Role.ADMIN)
KEYRING = web.AppKey("recording_keyring", object)
STREAM_BLOCK = 256 * 1024


def _keyring(request: web.Request) -> Keyring | None:
    ring = request.app[KEYRING]
    return ring if isinstance(ring, Keyring) else None


async def _agent_number(request: web.Request, user: User) -> str | None:
    if user.role is not Role.AGENT:
        return None
    agent = await ctx_of(request).store.agents.by_user(user.id)
    return agent.agent_number if agent is not None else None


async def _authorised(request: web.Request) -> tuple[User, StoredRecording]:
    """The recording of the URL's token if the user may hear it (404 unknown, 403 not)."""
    user = require(request, *LISTENERS)
    ctx = ctx_of(request)
    rec = await StorePipelineStore(ctx.store).stored(request.match_info["token"])
    if rec is None:
        raise NotFound("no such recording")
    if user.role is Role.AGENT:
        number = await _agent_number(request, user)
        agent_of_call = rec.agent_number
        if not agent_of_call:
            call = await ctx.store.calls.get(rec.linked_id)
            agent_of_call = call.agent_number if call is not None else ""
        if number is None or agent_of_call != number:
            raise Forbidden("agents may only play their own calls")
    return user, rec


def _range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The asked byte range as (start, end exclusive), None for the whole file; raises
    ``HTTPRequestRangeNotSatisfiable`` outside the file."""
    if "Range" not in request.headers:
        return None
    try:
        asked = request.http_range
    except ValueError:
        return None  # a malformed Range is ignored (RFC 9110 §14.2): the whole file
    start, stop = asked.start, asked.stop
    if start is None and stop is None:
        return None
    if start is None:
        start = 0
    if start < 0:  # suffix range: the last N bytes
        start = max(0, size + start)
    end = size if stop is None else min(stop, size)
    if start >= size or start >= end:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def play(request: web.Request) -> web.StreamResponse:
    """The audio (``audio/ogg``; ``audio/wav`` before the pipeline), 206 on a Range."""
    user, rec = await _authorised(request)
    ctx = ctx_of(request)
    download = request.query.get("download") == "1"
    try:
        audio = await asyncio.to_thread(open_plain, Path(ctx.settings.recording.dir), rec,
                                        _keyring(request))
    except FileNotFoundError:
        raise RecordingMissing("the recording file is not there (yet)") from None
    try:
        return await _send(request, user, rec, audio, download)
    finally:
        audio.close()


async def _send(request: web.Request, user: User, rec: StoredRecording, audio: PlainAudio,
                download: bool) -> web.StreamResponse:
    span = _range(request, audio.size)
    start, end = span if span is not None else (0, audio.size)
    await StoreAccessLog(ctx_of(request).store).record(Access(
        token=rec.token, linked_id=rec.linked_id, user_id=user.id, username=user.username,
        role=user.role.value, action="download" if download else "play", at=now_utc(request),
        range_start=start, range_end=end, remote=client_address(request)))
    suffix = ".ogg" if audio.media_type == "audio/ogg" else audio.path.suffix
    headers = {
        "Accept-Ranges": "bytes", "Cache-Control": "private, no-store",
        "Content-Type": audio.media_type, "Content-Length": str(end - start),
        "Content-Disposition": (f'attachment; filename="recording-{rec.token[:8]}{suffix}"'
                                if download else "inline"),
    }
    response = web.StreamResponse(status=200 if span is None else 206, headers=headers)
    if span is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{audio.size}"
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    position = start
    while position < end:
        stop = min(position + STREAM_BLOCK, end)
        block = await asyncio.to_thread(audio.read, position, stop)
        if not block:
            break
        await response.write(block)
        position += len(block)
    await response.write_eof()
    return response


def hit_json(hit: RecordingHit, role: Role) -> dict[str, Any]:
    return {
        "token": hit.token, "linked_id": hit.linked_id,
        "started_at": hit.started_at.isoformat() if hit.started_at else None,
        "ended_at": hit.ended_at.isoformat() if hit.ended_at else None,
        "duration_s": hit.duration_s, "agent": hit.agent_number, "queue": hit.queue,
        "caller": shown_caller(hit.caller_number, role),
        "merchant_number": hit.merchant_number, "merchant_name": hit.merchant_name,
        "intent": hit.intent, "disposition": hit.disposition, "tasks": list(hit.tasks),
        "complaint": hit.complaint, "qa": hit.qa, "stage": hit.stage, "codec": hit.codec,
        "size_bytes": hit.size_bytes, "audio": f"/recordings/{hit.token}",
    }


async def search_api(request: web.Request) -> web.Response:
    """``GET /api/recordings?agent=&merchant=&caller=&queue=&from=&to=&intent=&disposition=
    &task=&min_s=&max_s=&complaint=&qa=&q=&sort=&order=&after=&limit=`` →
    ``{"items": [...], "next": cursor|null}``."""
    user = require(request, *LISTENERS)
    ctx = ctx_of(request)
    query = parse_query(request.query, ctx.tz)
    try:
        query = for_viewer(query, user.role, await _agent_number(request, user))
    except PermissionError as exc:
        raise Forbidden(str(exc)) from None
    page = await StoreRecordingSearch(ctx.store).search(query)
    return web.json_response({"items": [hit_json(h, user.role) for h in page.items],
                              "next": page.next_after})


async def detail_api(request: web.Request) -> web.Response:
    """One recording for the player: duration, peaks, the call's timeline, and its quality
    inspection (the viewer's assignment with the score sheet, the current evaluations)."""
    user, rec = await _authorised(request)
    store = ctx_of(request).store
    marks = await StoreRecordingSearch(store).timeline(rec.linked_id, rec.started_at)
    qa = StoreQa(store)
    assignments = [] if user.role is Role.AGENT else [
        a for a in await qa.assignments(recording_token=rec.token)
        if a.reviewer == user.username or user.role is Role.ADMIN]
    return web.json_response({
        "qa": {"assignments": [assignment_json(a) for a in assignments],
               "reviews": [review_json(r) for r in await qa.reviews(recording_token=rec.token)],
               "form": form_json(request.app[QA_FORM], locale_of(request))},
        "token": rec.token, "linked_id": rec.linked_id, "duration_s": rec.duration_s,
        "codec": rec.codec, "encrypted": bool(rec.key_id), "stage": rec.stage.value,
        "peaks": rec.peaks, "audio": f"/recordings/{rec.token}",
        "timeline": [{"at_s": round(m.at_s, 2), "kind": m.kind} for m in marks],
    })


async def access_api(request: web.Request) -> web.Response:
    """The access audit, newest first (``?token=`` for one recording): admins only."""
    require(request, Role.ADMIN)
    token = request.query.get("token") or None
    try:
        limit = min(1000, max(1, int(request.query.get("limit", "200"))))
    except ValueError:
        raise ValidationError("limit", "not a number") from None
    rows = await StoreAccessLog(ctx_of(request).store).recent(limit, token)
    return web.json_response({"items": [{
        "token": a.token, "linked_id": a.linked_id, "user": a.username, "role": a.role,
        "action": a.action, "at": a.at.isoformat(), "range": [a.range_start, a.range_end],
    } for a in rows]})


async def purges_api(request: web.Request) -> web.Response:
    """``GET /api/recordings/purges?since=YYYY-MM-DD|ISO&limit=N``: what the retention purge
    deleted, newest first (supervisors and admins)."""
    require(request, *PURGE_READERS)
    ctx = ctx_of(request)
    query = parse_purge_log_query(request.query.get("since", ""),
                                  request.query.get("limit", ""), ctx.tz)
    rows = await StoreRetention(ctx.store).purges(query.limit, query.since)
    return web.json_response({"items": [purge_json(p) for p in rows]})


async def page(request: web.Request) -> web.Response:
    user = require(request, *LISTENERS)
    return render_page(request, "recording/recordings.html", queues=HOTLINE_QUEUES,
                       own_only=user.role is Role.AGENT, is_admin=user.role is Role.ADMIN,
                       purge_log=user.role in PURGE_READERS,
                       query=dict(request.query), qa_link=True)


def setup(app: web.Application) -> None:
    from callcenter.web.app import CTX

    settings = app[CTX].settings.recording
    app[KEYRING] = Keyring.parse(settings.keys) or False
    setup_qa(app, settings.qa_form_file)
    r = app.router
    r.add_get("/recordings", page)
    r.add_get("/api/recordings", search_api)
    r.add_get("/api/recordings/access", access_api)
    r.add_get("/api/recordings/purges", purges_api)
    r.add_get("/api/recordings/{token}", detail_api)
    r.add_get("/recordings/{token}", play)
    r.add_static("/recording/static/", HERE / "static", append_version=True, name=STATIC_ROUTE)


MODULE = WebModule(
    name="recordings", setup=setup, messages=MESSAGES, template_dirs=[HERE / "templates"],
    # Agents get the link on their home page (their own calls only); they still land on the
    # desk after logging in (its link comes first: ``home_of``).
    links=[PageLink("/recordings", "recording.nav.recordings",
                    frozenset({Role.SUPERVISOR, Role.TEAM_LEAD, Role.AGENT}))])
