"""Wallboard benchmark: AMI bytes in -> the updated figure in every wallboard's WebSocket frame,
beside the polling approach of the open-source wallboards, measured in the same run.

Load (defaults, the issue's form): ``--agents 1000`` agents logged in, ``--rate 50`` new
calls a second for ``--seconds 8`` s (each rings an agent, is answered 2 s later and hangs up
``--talk 10`` s after that: up to ~400 calls in progress; the default run takes ~40 s),
``--boards 100`` wallboards connected to ``/ws/wallboard`` as a supervisor's browser connects
(a server-side session each).

* ``event_driven`` (ours): the product in this process, as ``callcenter serve`` wires it:
  ``cti.service.CtiService`` on the real AMI client, ``supervision.service.SupervisionService``
  told every effect batch, the hub, ``supervision.web`` on aiohttp, SQLite. A child process
  plays the PBX (AMI server, the call events of ``bench/ami_screenpop.py``) and the 100
  browsers. Latency of one call on one board = when the board's frame that first shows the call
  on its agent's row (``agents[].call.linked_id``: the agent ringing with the new call) was
  received, minus when the PBX wrote the bytes ending with that call's ``AgentCalled``. Every
  board, every call: p50/p99/max. The target is p99 <= 250 ms.
* ``polling_peer`` (qpanel's way, in the same child, same load, same PBX): its own AMI login
  asking ``QueueStatus`` every ``--poll`` s (5 s, as qpanel does); the PBX answers from its
  state (members ``Status`` 6 ringing / 2 in use, ``InCall``; waiting callers as
  ``QueueEntry``). Staleness of one call = when the first ``QueueStatus`` reply showing the
  call's agent ringing or in use was complete, minus the same bytes-written time. Also its
  bytes per poll.

Both clocks are ``time.time()`` on one machine (one clock for every process). Printed: one
JSON document. Run: ``.venv/bin/python bench/wallboard.py [--seconds 8 --boards 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import importlib.util
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Final

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
if str(ROOT) not in sys.path:  # run as a file: make the product importable
    sys.path.insert(0, str(ROOT))

from cti.ami_protocol import AmiFramer, AmiMessage  # noqa: E402

TARGET_P99_MS: Final = 250.0
FIRST_AGENT: Final = 10000
SECRET: Final = "bench-wallboard-secret"  # a throwaway session key for this run
_LINKED: Final = re.compile(r'"linked_id": "([0-9.]+)"')
_NOW: Final = re.compile(r'"now": ([0-9.]+)')


def _screenpop() -> ModuleType:
    """bench/ami_screenpop.py (its fake PBX wire lines and call events), loaded by path."""
    spec = importlib.util.spec_from_file_location("ami_screenpop_bench", SELF.parent
                                                  / "ami_screenpop.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def percentiles_ms(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"n": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99),
            "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}


# ============================================================================================
# The child process: the PBX, the 100 browsers, the polling peer
# ============================================================================================


class Pbx:
    """The fake PBX's queue state, for the peer's QueueStatus (``aftersales`` only)."""

    def __init__(self, agents: list[str]) -> None:
        self.status = dict.fromkeys(agents, 1)  # 1 not in use, 6 ringing, 2 in use
        self.waiting: dict[str, float] = {}  # linked id -> joined (time.time())

    def queue_status(self, sp: ModuleType, action_id: str) -> bytes:
        now = time.time()
        parts = [sp._response(action_id, EventList="start", Message="Queue status will follow"),
                 sp._event("QueueParams", ("Queue", "aftersales"), ("Max", "0"),
                           ("Strategy", "rrmemory"), ("Calls", str(len(self.waiting))),
                           ("Holdtime", "2"), ("TalkTime", "10"), ("Completed", "0"),
                           ("Abandoned", "0"), ("ServiceLevel", "20"),
                           ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"),
                           ("Weight", "0"), ("ActionID", action_id))]
        for agent, status in self.status.items():
            parts.append(sp._event(
                "QueueMember", ("Queue", "aftersales"), ("Name", agent),
                ("Location", f"PJSIP/{agent}"), ("StateInterface", f"PJSIP/{agent}"),
                ("Membership", "dynamic"), ("Penalty", "0"), ("CallsTaken", "0"),
                ("LastCall", "0"), ("LastPause", "0"), ("LoginTime", "0"),
                ("InCall", "1" if status != 1 else "0"), ("Status", str(status)),
                ("Paused", "0"), ("PausedReason", ""), ("Wrapuptime", "0"),
                ("ActionID", action_id)))
        for position, (linked_id, joined) in enumerate(self.waiting.items(), start=1):
            parts.append(sp._event(
                "QueueEntry", ("Queue", "aftersales"), ("Position", str(position)),
                ("Uniqueid", linked_id), ("Wait", str(int(now - joined))),
                ("ActionID", action_id)))
        parts.append(sp._event("QueueStatusComplete", ("ActionID", action_id),
                               ("EventList", "Complete"), ("ListItems", str(len(parts) - 1))))
        return b"".join(parts)


async def _peer(port: int, every: float, until: asyncio.Event, sp: ModuleType
                ) -> list[tuple[float, dict[str, int], int]]:
    """qpanel's loop: ``QueueStatus`` every ``every`` s; (reply complete at, agent -> Status,
    reply bytes) per poll."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framer = AmiFramer()
    writer.write(b"Action: Login\r\nActionID: p0\r\nUsername: qpanel\r\nSecret: x\r\n\r\n")
    polls: list[tuple[float, dict[str, int], int]] = []
    seq = 0
    try:
        while not until.is_set():
            seq += 1
            action_id = f"p{seq}"
            writer.write(f"Action: QueueStatus\r\nActionID: {action_id}\r\n\r\n".encode())
            statuses: dict[str, int] = {}
            size = 0
            done = False
            while not done:
                data = await reader.read(1 << 20)
                if not data:
                    return polls
                size += len(data)
                for item in framer.feed(data):
                    if not isinstance(item, AmiMessage) or item.get("ActionID") != action_id:
                        continue
                    if item.name == "QueueMember":
                        statuses[(item.get("Name") or "")] = int(item.get("Status") or 0)
                    elif item.name == "QueueStatusComplete":
                        done = True
            polls.append((time.time(), statuses, size))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), every)
    finally:
        writer.close()
    return polls


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    sp = _screenpop()
    loop = asyncio.get_running_loop()
    agents = [str(FIRST_AGENT + i) for i in range(args.agents)]
    cookies: list[str] = json.loads(await asyncio.to_thread(Path(args.cookies).read_text))
    pbx = Pbx(agents)
    bridge: asyncio.Future[asyncio.StreamWriter] = loop.create_future()

    async def serve_ami(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(sp._BANNER)
        framer = AmiFramer(expect_banner=False)
        is_peer = False
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for item in framer.feed(data):
                    if not isinstance(item, AmiMessage):
                        continue
                    name, action_id = item.get("Action") or "", item.get("ActionID") or ""
                    if name == "Login":
                        is_peer = item.get("Username") == "qpanel"
                        writer.write(sp._response(action_id, Message="Authentication accepted"))
                        writer.write(sp._FULLY_BOOTED)
                        if not is_peer and not bridge.done():
                            bridge.set_result(writer)  # the product logged in
                    elif name == "QueueStatus" and is_peer:
                        writer.write(pbx.queue_status(sp, action_id))  # the peer's poll
                    elif name in sp._LISTS:
                        complete, message = sp._LISTS[name]
                        writer.write(sp._response(action_id, EventList="start",
                                                  Message=message))
                        writer.write(sp._event(complete, ("ActionID", action_id),
                                               ("EventList", "Complete"), ("ListItems", "0")))
                    elif name == "Ping":
                        writer.write(sp._response(action_id, Ping="Pong",
                                                  Timestamp="1795400000.000000"))
                    else:
                        writer.write(sp._response(action_id))
                await writer.drain()

    server = await asyncio.start_server(serve_ami, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    # Boards: (board index, wallboard "now" of the frame, received at); the frames' calls once
    # per distinct frame (all boards get the same frames).
    received: list[list[tuple[float, float]]] = [[] for _ in cookies]
    frame_calls: dict[float, set[str]] = {}
    frames = {"wallboard": 0, "bytes": 0, "other": 0}
    ready = asyncio.Event()
    hellos = 0

    async def board(index: int, session: aiohttp.ClientSession, cookie: str,
                    gate: asyncio.Semaphore) -> None:
        nonlocal hellos
        async with gate:
            ws = await session.ws_connect(f"{args.web}/ws/wallboard",
                                          headers={"Cookie": cookie}, heartbeat=None,
                                          max_msg_size=0)
            await ws.receive()  # hello: the whole board
            hellos += 1
            if hellos == len(cookies):
                ready.set()
        mine = received[index]
        async for msg in ws:
            at = time.time()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            text: str = msg.data
            if not text.startswith('{"type": "wallboard"'):
                frames["other"] += 1
                continue
            found = _NOW.search(text, 0, 80)
            if found is None:
                continue
            stamp = float(found.group(1))
            mine.append((stamp, at))
            if index == 0:
                frames["wallboard"] += 1
                frames["bytes"] += len(text)
                frame_calls[stamp] = set(_LINKED.findall(text))

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    gate = asyncio.Semaphore(20)
    boards = [loop.create_task(board(i, session, cookie, gate))
              for i, cookie in enumerate(cookies)]
    sent: dict[str, tuple[float, str]] = {}  # linked id -> (ring bytes written at, agent)
    stop_peer = asyncio.Event()
    peer: asyncio.Task[list[tuple[float, dict[str, int], int]]] | None = None
    try:
        await asyncio.wait_for(ready.wait(), 120)
        writer = await asyncio.wait_for(asyncio.shield(bridge), 60)
        await asyncio.sleep(1.0)  # its resync (Status, QueueStatus, QueueSummary) answered
        writer.write(b"".join(sp._pop_member_added(agent) for agent in agents))
        await writer.drain()
        await asyncio.sleep(2.0)
        peer = loop.create_task(_peer(port, args.poll, stop_peer, sp))
        pending: list[tuple[float, int, bytes, str, str, int]] = []
        calls = int(args.rate * args.seconds)
        start = time.perf_counter()

        def release(kind: str, linked_id: str, agent: str, status: int, data: bytes) -> None:
            writer.write(data)
            if kind == "answer":
                pbx.waiting.pop(linked_id, None)
            pbx.status[agent] = status

        for seq in range(calls):
            due = start + seq / args.rate
            while pending and pending[0][0] <= due:
                when, _, later, linked_id, agent, status = heapq.heappop(pending)
                await asyncio.sleep(max(0.0, when - time.perf_counter()))
                release("answer" if status == 2 else "hangup", linked_id, agent, status, later)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            agent = agents[seq % len(agents)]
            merchant, phone = sp._pop_merchant(seq % 500)
            linked_id, ring, answer, hangup = sp._pop_call_events(seq, agent, merchant, phone)
            pbx.waiting[linked_id] = time.time()
            pbx.status[agent] = 6
            writer.write(ring)
            sent[linked_id] = (time.time(), agent)
            heapq.heappush(pending, (due + 2.0, 2 * seq, answer, linked_id, agent, 2))
            heapq.heappush(pending, (due + 2.0 + args.talk, 2 * seq + 1, hangup, linked_id,
                                     agent, 1))
        while pending:
            when, _, later, linked_id, agent, status = heapq.heappop(pending)
            await asyncio.sleep(max(0.0, when - time.perf_counter()))
            release("answer" if status == 2 else "hangup", linked_id, agent, status, later)
        await asyncio.sleep(1.5)
    finally:
        stop_peer.set()
        polls = await peer if peer is not None else []
        for task in boards:
            task.cancel()
        await asyncio.gather(*boards, return_exceptions=True)
        await session.close()
        if bridge.done() and not bridge.cancelled():
            bridge.result().close()
        server.close()

    # ours: per board, per call, the first frame that shows the call
    first_frame: dict[str, float] = {}
    for stamp in sorted(frame_calls):
        for linked_id in frame_calls[stamp]:
            first_frame.setdefault(linked_id, stamp)
    ours: list[float] = []
    missing = 0
    for linked_id, (written, _agent) in sent.items():
        shown = first_frame.get(linked_id)
        if shown is None:
            missing += len(received)
            continue
        for mine in received:
            at = next((a for s, a in mine if s >= shown), None)
            if at is None:
                missing += 1
            else:
                ours.append(at - written)
    # the peer: the first complete QueueStatus after the bytes that shows the agent busy
    peer_lat: list[float] = []
    unseen = 0
    for _linked_id, (written, agent) in sent.items():
        seen = next((done for done, statuses, _ in polls
                     if done >= written and statuses.get(agent) in (2, 6)), None)
        if seen is None:
            unseen += 1
        else:
            peer_lat.append(seen - written)
    return {"calls": len(sent), "boards": len(cookies), "board_frames": frames,
            "ours": percentiles_ms(ours), "ours_missing": missing,
            "peer": percentiles_ms(peer_lat), "peer_unseen": unseen,
            "polls": len(polls),
            "poll_bytes": int(statistics.fmean([b for _, _, b in polls])) if polls else 0}


def load_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--web", required=True)
    parser.add_argument("--cookies", required=True)
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--talk", type=float, required=True)
    parser.add_argument("--poll", type=float, required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(_load(args))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# ============================================================================================
# The product (this process)
# ============================================================================================


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from aiohttp import web

    from callcenter.cti_directory import StoreCtiDirectory
    from callcenter.db import migrate
    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.models import AgentRow, UserRow
    from callcenter.db.repositories import Store
    from callcenter.settings import load_settings
    from callcenter.supervision_store import StoreDayCalls
    from callcenter.web.app import build_web_app
    from callcenter.web.hub import Hub
    from callcenter.web.session import COOKIE_NAME, token_digest
    from cti.ami_client import AmiClient
    from cti.service import CtiService
    from supervision.service import SupervisionService
    from supervision.web import web_module

    workdir = Path(tempfile.mkdtemp(prefix="wallboard-"))
    url = f"sqlite+aiosqlite:///{workdir / 'cc.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url)
    store = Store(session_factory(engine))
    now = datetime.now(UTC)
    async with store.transaction() as s:
        users = [UserRow(username=str(FIRST_AGENT + i), display_name=f"坐席{FIRST_AGENT + i}",
                         role="agent", password_hash="!", active=True, locale="zh-CN",
                         created_at=now) for i in range(args.agents)]
        boss = UserRow(username="boss", display_name="主管", role="supervisor",
                       password_hash="!", active=True, locale="zh-CN", created_at=now)
        s.add_all([*users, boss])
        await s.flush()
        s.add_all(AgentRow(agent_number=user.username, name=user.display_name,
                           interface=f"PJSIP/{user.username}", queues=["aftersales"],
                           skills=[], user_id=user.id) for user in users)
        boss_id = boss.id
    del users
    hub = Hub()
    cti = CtiService(StoreCtiDirectory(store), hub, clock=time.time)
    await cti.start()
    supervision = SupervisionService(cti, StoreDayCalls(store), hub)
    await supervision.start()
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": SECRET})
    app = build_web_app(settings, store, hub=hub, modules=[web_module(supervision)])
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    web_port = runner.addresses[0][1]
    cookies = []
    for _ in range(args.boards):  # one server-side session per wallboard, as a login makes
        token = secrets.token_urlsafe(24)
        await store.web_sessions.add(token_digest(token), boss_id, datetime.now(UTC))
        cookies.append(f"{COOKIE_NAME}={token}")
    cookie_file = workdir / "cookies.json"
    cookie_file.write_text(json.dumps(cookies))
    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('wallboard_load', sys.argv[1])\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "sys.modules[spec.name] = module\n"
            "spec.loader.exec_module(module)\n"
            "raise SystemExit(module.load_main(sys.argv[2:]))\n")
    load = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(SELF), "--web", f"http://127.0.0.1:{web_port}",
        "--cookies", str(cookie_file), "--agents", str(args.agents), "--rate", str(args.rate),
        "--seconds", str(args.seconds), "--talk", str(args.talk), "--poll", str(args.poll),
        stdout=asyncio.subprocess.PIPE)
    assert load.stdout is not None
    client: AmiClient | None = None
    result: dict[str, Any] = {}
    try:
        line = (await asyncio.wait_for(load.stdout.readline(), 60)).decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"load process did not start: {line!r}")
        client = AmiClient("127.0.0.1", int(line.split()[1]), "callcenter", "secret",
                           on_message=cti.on_message, on_connected=cti.on_connected,
                           clock=time.time)
        cti.attach(client)
        await client.start()
        while True:
            line = (await asyncio.wait_for(load.stdout.readline(), 600)).decode()
            if not line:
                raise RuntimeError("load process ended without a result")
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
                break
        await load.wait()
    finally:
        if load.returncode is None:
            load.kill()
            await load.wait()
        if client is not None:
            await client.stop()
        await runner.cleanup()
        await supervision.stop()
        await cti.stop()
        await engine.dispose()
    ours = result["ours"]
    p99 = ours.get("p99_ms")
    frames = result["board_frames"]
    return {
        "benchmark": "wallboard",
        "load": {"agents": args.agents, "calls_per_s": args.rate, "seconds": args.seconds,
                 "talk_s": args.talk, "calls": result["calls"], "wallboards": result["boards"]},
        "what": "AMI bytes ending with a call's AgentCalled written by the PBX -> the first "
                "WebSocket frame of each wallboard whose agent row shows that call",
        "event_driven": {**ours, "target_p99_ms": TARGET_P99_MS,
                         "meets_target": p99 is not None and p99 <= TARGET_P99_MS,
                         "missing": result["ours_missing"],
                         "frames_per_board": frames["wallboard"],
                         "frame_kb_mean": round(frames["bytes"] / max(frames["wallboard"], 1)
                                                / 1024, 1)},
        "polling_peer": {"how": f"AMI QueueStatus every {args.poll:g} s (qpanel); staleness "
                                "= first complete reply showing the agent ringing or in use",
                         **result["peer"], "unseen": result["peer_unseen"],
                         "polls": result["polls"], "bytes_per_poll": result["poll_bytes"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="new calls a second")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long calls arrive")
    parser.add_argument("--talk", type=float, default=10.0, help="answer to hang-up, seconds")
    parser.add_argument("--boards", type=int, default=100, help="wallboards connected")
    parser.add_argument("--poll", type=float, default=5.0, help="the peer's QueueStatus period")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = asyncio.run(run(args))
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
