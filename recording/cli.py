"""``callcenter recordings purge-log``: what the retention purge deleted, from the command line.

``callcenter recordings purge-log [--since 2026-11-01|ISO time] [--limit N] [--json]`` prints
the purge log (``recording_purges``), newest first: when each recording was deleted, its call,
when the call was, the file, its size and checksum, and the rule that deleted it. Days are
local days (``locale.timezone``); ``--json`` prints one JSON object ``{"items": [...]}`` with
the same fields as ``GET /api/recordings/purges``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.db.engine import check_database, create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.recording_directory import StoreRetention
from callcenter.settings import Settings
from recording.ports import PurgeRecord
from recording.retention import (
    PURGE_LOG_DEFAULT,
    PURGE_LOG_MAX,
    parse_purge_log_query,
    purge_json,
)

__all__ = ["add_parsers", "run"]


def add_parsers(sub: Any) -> None:
    """Add ``recordings purge-log`` to the CLI's subparsers."""
    recordings = sub.add_parser("recordings", help="call recordings")
    recordings_sub = recordings.add_subparsers(dest="action", required=True)
    log = recordings_sub.add_parser("purge-log", help="what the retention purge deleted")
    log.add_argument("--since", default="",
                     help="a local day YYYY-MM-DD or an ISO time (default: all)")
    log.add_argument("--limit", default=str(PURGE_LOG_DEFAULT),
                     help=f"at most this many lines, 1 … {PURGE_LOG_MAX} "
                          f"(default {PURGE_LOG_DEFAULT})")
    log.add_argument("--json", action="store_true", help="JSON instead of a table")


def format_table(rows: list[PurgeRecord], tz: ZoneInfo) -> str:
    """The purge log as aligned text, times in ``tz``."""
    if not rows:
        return "nothing purged"

    def when(value: Any) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "-"

    lines = [("deleted at", "call", "call time", "size", "file", "reason")]
    lines += [(when(p.purged_at), p.linked_id, when(p.started_at),
               "-" if p.size_bytes is None else str(p.size_bytes), p.path, p.reason)
              for p in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(line[:5], widths, strict=True)),
                                line[5]]).rstrip() for line in lines)


async def _purge_log(settings: Settings, args: argparse.Namespace) -> int:
    tz = ZoneInfo(settings.locale.timezone)
    query = parse_purge_log_query(args.since, args.limit, tz)
    engine = create_engine(settings.database.url, echo=settings.database.echo)
    try:
        await check_database(engine)
        rows = await StoreRetention(Store(session_factory(engine))).purges(query.limit,
                                                                           query.since)
    finally:
        await engine.dispose()
    if args.json:
        print(json.dumps({"items": [purge_json(p) for p in rows]}, ensure_ascii=False))
    else:
        print(format_table(rows, tz))
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``recordings <action>``; raises ``ValidationError`` for a bad ``--since``/``--limit``
    and ``DatabaseUnavailable`` (the CLI prints both and exits 1)."""
    if args.action == "purge-log":
        return asyncio.run(_purge_log(settings, args))
    return 2
