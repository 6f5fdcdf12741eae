"""``callcenter roster generate|check``: the month's roster from the command line.

``callcenter roster generate --month 2027-01`` solves the month for the agents in the
database (or ``--agents 8001,8002,…``) against the staffing need forecast from our own
history (``--floors-only``: the regulation's floors alone), honours the approved leave of
``--leave FILE`` (CSV ``agent,first,last,approved_by``) and the previous month's roster as
fixed history (``--previous FILE``, else the one kept in the database), writes the roster
CSV (default ``<reports.dir>/roster-2027-01.csv``) and checks it with the independent
checker.

``callcenter roster check FILE`` lists every rule the roster in ``FILE`` breaks (exit 0 when
none, 1 with the list). Leave approvals come from ``--leave FILE``, else from the
``<FILE stem>.leave.csv`` beside it when there is one; coverage is checked against the
regulation's floors; ``--need`` also lists the intervals below the forecast need, as
planning warnings that do not change the exit status; ``--previous FILE``
judges rest and runs across the month boundary.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from callcenter.errors import ValidationError
from callcenter.reports.roster import (
    LeaveRequest,
    Roster,
    RosterRules,
    Violation,
    check,
    need_shortfall,
    parse_csv,
    to_csv,
)
from callcenter.reports.roster_service import leave_csv, parse_leave
from callcenter.settings import Settings

__all__ = ["add_parsers", "run"]


def add_parsers(sub: Any) -> None:
    """Add ``roster generate`` and ``roster check`` to the CLI's subparsers."""
    roster = sub.add_parser("roster", help="the month's shift roster")
    roster_sub = roster.add_subparsers(dest="action", required=True)
    gen = roster_sub.add_parser("generate", help="solve a month's roster (OR-Tools CP-SAT)")
    gen.add_argument("--month", required=True, help="YYYY-MM")
    gen.add_argument("--agents", default="", help="comma-separated agent numbers "
                                                  "(default: every agent in the database)")
    gen.add_argument("--leave", type=Path, default=None,
                     help="approved leave, CSV agent,first,last,approved_by")
    gen.add_argument("--floors-only", action="store_true",
                     help="cover the regulation's floors only, not the forecast need")
    gen.add_argument("--previous", type=Path, default=None,
                     help="last month's roster CSV (default: the one kept in the database)")
    gen.add_argument("--out", type=Path, default=None, help="roster CSV to write")
    gen.add_argument("--time-limit", type=float, default=60.0, help="solver seconds")
    gen.add_argument("--coverage", choices=("target", "hard"), default="target",
                     help="target: plan to the month's answer rate and service level within "
                          "1.05x the Erlang A seat-hours (default); hard: every interval's "
                          "need")
    gen.add_argument("--save", action="store_true",
                     help="also keep it in the database (shown on /roster)")
    chk = roster_sub.add_parser("check", help="list every rule a roster CSV breaks")
    chk.add_argument("file", type=Path)
    chk.add_argument("--leave", type=Path, default=None,
                     help="approved leave, CSV agent,first,last,approved_by")
    chk.add_argument("--exception", default="",
                     help="agents allowed up to 7 working days in a row (comma-separated)")
    chk.add_argument("--previous", type=Path, default=None,
                     help="last month's roster CSV (rest and runs across the boundary)")
    chk.add_argument("--need", action="store_true",
                     help="also list the intervals below the forecast need from the database "
                          "(planning warnings, not broken rules)")


def rules_of(settings: Settings) -> RosterRules:
    conf = settings.reports
    return RosterRules(day_floor=conf.day_floor, night_floor=conf.night_floor)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``roster generate`` or ``roster check``; the exit status."""
    if args.action == "check":
        return _check(args, settings)
    return _generate(args, settings)


def _read_leave(path: Path | None, beside: Path | None) -> list[LeaveRequest]:
    if path is None and beside is not None:
        candidate = beside.with_name(beside.stem + ".leave.csv")
        path = candidate if candidate.exists() else None
    return parse_leave(path.read_text(encoding="utf-8")) if path is not None else []


def _print(violations: list[Violation], warnings: list[Violation] | None = None) -> int:
    """The broken rules (exit 1 when any), after the planning warnings (which never fail)."""
    for w in warnings or []:
        print(f"warning: {w}")
    if warnings:
        print(f"{len(warnings)} day(s) below the staffing need (planning figure, not a rule)")
    for v in violations:
        print(v)
    if violations:
        print(f"{len(violations)} rule(s) broken", file=sys.stderr)
        return 1
    print("roster: no rule broken")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    try:
        roster = parse_csv(args.file.read_text(encoding="utf-8"))
        leave = _read_leave(args.leave, args.file)
        previous = parse_csv(args.previous.read_text(encoding="utf-8")) \
            if args.previous is not None else None
    except (OSError, UnicodeDecodeError, ValueError, ValidationError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    need = asyncio.run(_need(settings, roster.year, roster.month)) if args.need else None
    exceptions = frozenset(a.strip() for a in args.exception.split(",") if a.strip())
    rules = rules_of(settings)
    return _print(check(roster, rules, leave=leave, exceptions=exceptions, previous=previous),
                  need_shortfall(roster, rules, need, previous) if need else None)


async def _need(settings: Settings, year: int, month: int) -> dict[datetime, int]:
    """Agents on shift needed per 30-minute interval of the month (the staffing table's
    roster column), from the database's history."""
    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store
    from callcenter.reports.roster import month_days
    from callcenter.reports.wiring import build_service

    engine = create_engine(settings.database.url)
    try:
        service = build_service(settings, Store(session_factory(engine)))
        days = month_days(year, month)
        today = datetime.now(UTC).astimezone(service.tz).date()
        view = await service.staffing(days[0], days[-1], today=today)
        return {r.start: r.roster_a for r in view.rows}
    finally:
        await engine.dispose()


async def _agents(settings: Settings) -> list[str]:
    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store

    engine = create_engine(settings.database.url)
    try:
        # a supervisor's phone (no queues) is not staff
        return sorted(a.agent_number for a in await Store(session_factory(engine)).agents.list()
                      if a.queues)
    finally:
        await engine.dispose()


async def _stored_previous(settings: Settings, year: int, month: int) -> Roster | None:
    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store
    from callcenter.reports.roster_service import RosterService
    from callcenter.roster_store import SqlRosterStore

    engine = create_engine(settings.database.url)
    try:
        service = RosterService(SqlRosterStore(Store(session_factory(engine))),
                                rules_of(settings))
        return await service.previous(year, month)
    finally:
        await engine.dispose()


async def _save(settings: Settings, month: str, roster_csv: str, leave_text: str) -> None:
    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store
    from callcenter.roster_store import SqlRosterStore

    engine = create_engine(settings.database.url)
    try:
        await SqlRosterStore(Store(session_factory(engine))).save_roster(
            month, roster_csv, leave_text, "roster generate", datetime.now(UTC))
    finally:
        await engine.dispose()


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.reports.roster_solver import generate

    try:
        year, month = (int(p) for p in args.month.split("-"))
        date(year, month, 1)
        leave = _read_leave(args.leave, None)
        previous = parse_csv(args.previous.read_text(encoding="utf-8")) \
            if args.previous is not None else None
    except (ValueError, OSError, UnicodeDecodeError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    agents = [a.strip() for a in args.agents.split(",") if a.strip()] or \
        asyncio.run(_agents(settings))
    if not agents:
        print("error: no agents (add agents, or pass --agents)", file=sys.stderr)
        return 2
    rules = rules_of(settings)
    need = None if args.floors_only else asyncio.run(_need(settings, year, month))
    if previous is None:
        previous = asyncio.run(_stored_previous(settings, year, month))
    result = generate(year, month, agents, rules, need=need, leave=leave, previous=previous,
                      time_limit_s=args.time_limit, coverage=args.coverage)
    if result.roster is None:
        print(f"error: no roster satisfies the rules ({result.status})", file=sys.stderr)
        return 1
    out = args.out or Path(settings.reports.dir) / f"roster-{year}-{month:02d}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_csv(result.roster), encoding="utf-8")
    if leave:
        out.with_name(out.stem + ".leave.csv").write_text(leave_csv(leave),
                                                          encoding="utf-8")
    if args.save:
        asyncio.run(_save(settings, f"{year}-{month:02d}", to_csv(result.roster),
                          leave_csv(leave)))
    print(f"roster {year}-{month:02d}: {len(agents)} agents, solver {result.status} in "
          f"{result.seconds:.1f} s, coverage {result.coverage}, "
          f"shortfall {result.shortfall} agent-intervals, "
          f"{result.cover_slots / 2:g} agent-hours on shift in the cover stage (its bound "
          f"{result.bound_slots / 2:g}) -> {out}")
    return _print(check(result.roster, rules, leave=leave, previous=previous),
                  need_shortfall(result.roster, rules, need, previous) if need else None)
