"""The ``callcenter`` command line.

    callcenter serve [--simulate] [--no-web] [--no-fastagi] [--no-ami] [--no-outbox-worker]
    callcenter simulate [--virtual] [--calls-per-second R --duration S] [--seed N] …
    callcenter db upgrade | downgrade [REV]
    callcenter demo-data [--if-empty]
    callcenter merchants import FILE.csv [--skip-bad]
    callcenter terminals import FILE.csv [--skip-bad]
    callcenter prompts build [--out DIR]
    callcenter transcribe FILE.wav [--model DIR]
    callcenter users add USERNAME --role ROLE [--name N] [--agent-number N --interface PJSIP/8001]
                         [--queues aftersales,presales] [--state-interface DEVICE]
    callcenter users queues USERNAME --queues aftersales,complaints
    callcenter users list
    callcenter users disable USERNAME [--enable]
    callcenter users passwd USERNAME
    callcenter users role USERNAME ROLE
    callcenter asterisk config --out DIR [--rotate-phone-passwords]
    callcenter backup create --out FILE | --out-dir DIR [--keep N]
    callcenter backup restore FILE
    callcenter backup schedule [--dir DIR] [--interval-hours H] [--keep N]
    callcenter recordings purge-log [--since DAY|TIME] [--limit N] [--json]
    callcenter --version

Exit codes: 0 success, 1 the command failed (bad rows, bad settings, unreachable database,
``serve`` with no ``ami.host`` and neither ``--simulate`` nor ``--no-ami``), 2 usage error.

The PBX simulator (the top-level ``simulator`` package, a test double of Asterisk) is not part
of the product: this module is the only one that imports it, and only for ``serve --simulate``
(its ``stand_in`` factory goes to the composition root) and ``simulate`` (delegated to its own
command line). Any other command, a production ``serve`` included, never loads it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from callcenter import __version__
from callcenter.callbacks import planning as callbacks_planning
from callcenter.db import migrate
from callcenter.db.engine import check_database, create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.demo_data import generate
from callcenter.domain import HOTLINE_QUEUES, Role, validate_queues
from callcenter.errors import CallcenterError, SettingsError
from callcenter.reports import cli as reports_cli
from callcenter.settings import Settings, env_name, load_settings, require_production_secrets
from recording import cli as recording_cli

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    engine = create_engine(settings.database.url, echo=settings.database.echo)
    try:
        await check_database(engine)
        return await work(Store(session_factory(engine)))
    finally:
        await engine.dispose()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callcenter", description="Merchant hotline call center")
    p.add_argument("--version", action="version", version=f"callcenter {__version__}")
    p.add_argument("--config", type=Path, help="TOML settings file (default: ./callcenter.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run web app, FastAGI server and AMI bridge")
    serve.add_argument("--simulate", action="store_true",
                       help="run the built-in PBX simulator instead of a real Asterisk "
                            "(settings section [simulator])")
    serve.add_argument("--no-web", action="store_true", help="no web app in this process")
    serve.add_argument("--no-fastagi", action="store_true", help="no FastAGI IVR server")
    serve.add_argument("--no-ami", action="store_true", help="no AMI connection (no CTI)")
    serve.add_argument("--no-outbox-worker", action="store_true",
                       help="no business outbox delivery in this process")

    # Parsed by the simulator's own command line, so that the parser does not import it.
    simulate = sub.add_parser("simulate", add_help=False,
                              help="PBX simulator and load generator (soak mode; "
                                   "`callcenter simulate --help` for its options)")
    simulate.add_argument("simulate_args", nargs=argparse.REMAINDER)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the newest schema")
    down = db_sub.add_parser("downgrade", help="migrate down (default: to an empty database)")
    down.add_argument("revision", nargs="?", default="base")

    demo = sub.add_parser("demo-data", help="load the deterministic demo data set")
    demo.add_argument("--if-empty", action="store_true",
                      help="do nothing when merchants already exist")

    for name in ("merchants", "terminals"):
        entity = sub.add_parser(name, help=f"{name} data")
        entity_sub = entity.add_subparsers(dest="action", required=True)
        imp = entity_sub.add_parser("import", help=f"upsert {name} from a CSV file")
        imp.add_argument("file", type=Path)
        imp.add_argument("--skip-bad", action="store_true",
                         help="import the good rows and report the bad ones")

    prompts = sub.add_parser("prompts", help="IVR prompt sound files")
    prompts_sub = prompts.add_subparsers(dest="action", required=True)
    build = prompts_sub.add_parser("build", help="render the prompt catalogue with espeak-ng")
    build.add_argument("--out", type=Path, default=Path("/var/lib/callcenter/prompts"),
                       help="output directory (the menu's prompt_base)")
    build.add_argument("--catalogue", type=Path, default=None,
                       help="prompt catalogue TOML (default: ivr/prompts.toml)")

    transcribe = sub.add_parser("transcribe",
                                help="print a WAV file's transcript as JSON (vosk, offline)")
    transcribe.add_argument("file", type=Path)
    transcribe.add_argument("--model", default="",
                            help="vosk model directory (default: speech.models for "
                                 "speech.language)")

    users = sub.add_parser("users", help="web accounts")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", help="create a web account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--agent-number", default="", help="工号 (role agent)")
    add.add_argument("--interface", default="", help="phone device, e.g. PJSIP/8001 (role agent)")
    add.add_argument("--state-interface", default=None, metavar="DEVICE",
                     help="device whose state the queue member follows (role agent); default: "
                          "[ami] state_interface for Local/<ext>@… interfaces; "
                          "--state-interface= for none")
    add.add_argument("--queues", default="aftersales,presales",
                     help=f"comma-separated queues (role agent), of: {', '.join(HOTLINE_QUEUES)}"
                          " (night is joined at log-in by every aftersales/presales agent)")
    add.add_argument("--password-env", default="CALLCENTER_NEW_PASSWORD",
                     help="read the password from this environment variable if set, "
                          "else prompt")
    queues = users_sub.add_parser("queues", help="change the queues of an agent account")
    queues.add_argument("username")
    queues.add_argument("--queues", required=True,
                        help=f"comma-separated queues, of: {', '.join(HOTLINE_QUEUES)}")
    team = users_sub.add_parser("team", help="put an account in a team (班组): a team lead "
                                             "sees its own team's reports and roster")
    team.add_argument("username")
    team.add_argument("team", help='the team\'s name ("" takes the account out of its team)')
    # Account changes end the account's sessions and are written to the audit log.
    users_sub.add_parser("list", help="every web account: role, state, agent number")
    disable = users_sub.add_parser("disable", help="disable an account (ends its sessions)")
    disable.add_argument("username")
    disable.add_argument("--enable", action="store_true", help="enable it again instead")
    passwd = users_sub.add_parser("passwd", help="set a new password (ends its sessions)")
    passwd.add_argument("username")
    passwd.add_argument("--password-env", default="CALLCENTER_NEW_PASSWORD",
                        help="read the password from this environment variable if set, "
                             "else prompt")
    role = users_sub.add_parser("role", help="change an account's role (ends its sessions)")
    role.add_argument("username")
    role.add_argument("role", choices=[r.value for r in Role])

    asterisk = sub.add_parser("asterisk", help="the PBX's configuration")
    asterisk_sub = asterisk.add_subparsers(dest="action", required=True)
    render = asterisk_sub.add_parser(
        "config", help="render extensions, queues, manager and pjsip .conf files from the "
                       "settings and dialplans/")
    render.add_argument("--out", type=Path, required=True, help="output directory")
    render.add_argument("--templates", type=Path, default=None,
                        help="dialplans/ directory (default: asterisk.templates_dir)")
    render.add_argument("--rotate-phone-passwords", action="store_true",
                        help="new SIP passwords for every phone (default: keep the ones "
                             "already in DIR/pjsip_secrets.conf)")

    backup = sub.add_parser("backup", help="back up and restore the database and recordings")
    backup_sub = backup.add_subparsers(dest="action", required=True)
    create = backup_sub.add_parser("create", help="write one archive (checksummed)")
    where = create.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="archive file to write")
    where.add_argument("--out-dir", type=Path,
                       help="directory: the archive is named by the time (UTC)")
    create.add_argument("--keep", type=int, default=None,
                        help="with --out-dir: then keep only the newest N archives")
    restore = backup_sub.add_parser("restore", help="restore an archive into an empty database")
    restore.add_argument("file", type=Path)
    sched = backup_sub.add_parser("schedule", help="back up every interval, with retention "
                                                   "(settings [backup])")
    sched.add_argument("--dir", type=Path, default=None, help="default: backup.dir")
    sched.add_argument("--interval-hours", type=float, default=None,
                       help="default: backup.interval_hours")
    sched.add_argument("--keep", type=int, default=None, help="default: backup.keep")
    reports_cli.add_parsers(sub)  # roster generate|check
    recording_cli.add_parsers(sub)  # recordings purge-log
    callbacks_planning.add_parsers(sub)  # callbacks plan
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = _parser().parse_known_args(argv)
    if args.command == "simulate":
        args.simulate_args = [*extra, *args.simulate_args]
    elif extra:
        _parser().error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        return _dispatch(args, settings)
    except CallcenterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "simulate":
        from simulator.cli import main as simulate

        return simulate(args.simulate_args, prog="callcenter simulate")
    if args.command == "db":
        asyncio.run(_with_store(settings, _noop))  # fail fast with a readable message
        if args.db_command == "upgrade":
            migrate.upgrade(settings.database.url)
            print("database is at the newest schema")
        else:
            migrate.downgrade(settings.database.url, args.revision)
            print(f"database downgraded to {args.revision}")
        return 0
    if args.command == "demo-data":
        return asyncio.run(_with_store(settings, lambda s: _demo(s, args.if_empty)))
    if args.command in ("merchants", "terminals"):
        return asyncio.run(_with_store(settings, lambda s: _import(s, args)))
    if args.command == "prompts":
        from ivr.prompts import build_prompts

        report = build_prompts(args.out, catalogue_path=args.catalogue)
        print(report.summary())
        return 0 if report.ok else 1
    if args.command == "transcribe":
        return _transcribe(args, settings)
    if args.command == "users":
        return asyncio.run(_with_store(settings, lambda s: USER_ACTIONS[args.action](s, args)))
    if args.command == "roster":
        return reports_cli.run(args, settings)
    if args.command == "recordings":
        return recording_cli.run(args, settings)
    if args.command == "callbacks":
        return callbacks_planning.run(args, settings, actor=_actor())
    if args.command == "backup":
        return asyncio.run(_backup(settings, args))
    if args.command == "asterisk":
        from callcenter.asterisk_files import render_to_directory

        rendered = render_to_directory(settings, args.out, templates=args.templates,
                                       rotate_phone_passwords=args.rotate_phone_passwords)
        print(rendered.summary())
        return 0
    return 2


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.app import StandInFactory, serve
    from callcenter.event_loop import runner
    from callcenter.runtime import RunOptions

    options = RunOptions(web=not args.no_web, fastagi=not args.no_fastagi, ami=not args.no_ami,
                         simulate=args.simulate, outbox_worker=not args.no_outbox_worker)
    require_production_secrets(settings)
    if options.simulate and settings.server.production:
        raise SettingsError("server.mode", "production: `serve --simulate` would start fake "
                            "calls into the production database; run without --simulate")
    if options.ami and not options.simulate and not settings.ami.configured:
        # Never fall back to the simulator by itself: in production one forgotten variable
        # would start fake calls into the real database.
        raise SettingsError(
            "ami.host", "empty, so there is no Asterisk to connect to: set ami.host "
            f"(${env_name('ami', 'host')}), or run `callcenter serve --simulate` for the "
            "built-in PBX simulator, or `--no-ami` to run without a CTI connection")
    stand_in: StandInFactory | None = None
    if options.simulate:
        from simulator.wiring import stand_in  # the one place a serve loads the simulator
    runner(settings.server.event_loop)(serve(settings, options, stand_in=stand_in))
    return 0


async def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from callcenter import backup

    if args.action == "create":
        out = args.out
        if out is None:
            out = args.out_dir / backup.archive_name(_now())
        manifest = await backup.create_backup(settings, out)
        tables = manifest.tables()
        print(f"backup {out}: {sum(tables.values())} rows in {len(tables)} tables, "
              f"{len(manifest.recordings())} recordings, schema {manifest.revision}")
        if manifest.missing_recordings:
            print(f"warning: {len(manifest.missing_recordings)} indexed recordings have no "
                  "file", file=sys.stderr)
        if args.out_dir is not None and args.keep:
            backup.prune(args.out_dir, args.keep)
        return 0
    if args.action == "restore":
        report = await backup.restore_backup(settings, args.file)
        print(report.summary())
        return 0
    cfg = settings.backup
    hours = args.interval_hours or cfg.interval_hours
    await backup.schedule(settings, args.dir or Path(cfg.dir), interval_s=hours * 3600,
                          keep=args.keep or cfg.keep)
    return 0


def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from speech.errors import SpeechError
    from speech.recognizer import merged_json, transcribe_file

    model = args.model or settings.speech.model_dir()
    try:
        transcripts = transcribe_file(model, args.file)
    except SpeechError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(merged_json(transcripts), ensure_ascii=False, indent=1))
    return 0


async def _noop(_store: Store) -> None:
    return None


async def _demo(store: Store, if_empty: bool) -> int:
    from callcenter.demo_data import DEMO_PASSWORD
    from callcenter.service import load_demo_data

    if if_empty and await store.merchants.count() > 0:
        print("demo data: the database already has merchants; nothing loaded")
        return 0
    data = generate()
    result = await load_demo_data(store, data, _now())
    print(f"demo data: {len(data.merchants)} merchants ({result['merchants_created']} new), "
          f"{result['terminals']} terminals, {result['users_created']} new accounts")
    print(f"demo logins (password for all: {DEMO_PASSWORD}):")
    staff = [u for u in data.users if u.role.value != "agent"]
    agents = [u for u in data.users if u.role.value == "agent"]
    for u in staff:
        print(f"  {u.role.value:<11} {u.username}")
    if agents:
        print(f"  agents      {agents[0].username} … {agents[-1].username}")
    return 0


async def _import(store: Store, args: argparse.Namespace) -> int:
    from callcenter.import_messages import row_message
    from callcenter.service import import_merchants, import_terminals

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    if args.command == "merchants":
        report = await import_merchants(store, text, _now(), skip_bad=args.skip_bad)
    else:
        report = await import_terminals(store, text, skip_bad=args.skip_bad)
    for error in report.errors:
        print(f"{args.file}:line {error.line}: {error.field}: {row_message(error, 'en')}",
              file=sys.stderr)
    print(f"{args.command}: {report.summary}")
    return 0 if report.committed and (not report.errors or args.skip_bad) else 1


async def _add_user(store: Store, args: argparse.Namespace) -> int:
    from callcenter.service import add_user

    role = Role(args.role)
    # refuse an unknown queue before asking for the password
    queues = validate_queues(args.queues.split(",")) if role is Role.AGENT else ()
    password = os.environ.get(args.password_env) or getpass.getpass("password: ")
    user = await add_user(
        store, _now(), username=args.username, display_name=args.name or args.username,
        role=role, password=password, agent_number=args.agent_number or args.username,
        interface=args.interface, state_interface=args.state_interface, queues=queues,
    )
    print(f"user {user.username} ({user.role.value}) created")
    return 0


async def _set_queues(store: Store, args: argparse.Namespace) -> int:
    from callcenter.service import set_agent_queues
    from callcenter.shifts import login_queues

    agent = await set_agent_queues(store, args.username, args.queues.split(","))
    print(f"agent {agent.agent_number} ({args.username}): queues {', '.join(agent.queues)}; "
          f"logs in to {', '.join(login_queues(agent.queues))} from its next log-in")
    return 0


async def _set_team(store: Store, args: argparse.Namespace) -> int:
    from callcenter.team_directory import SqlTeamDirectory

    await SqlTeamDirectory(store).set_team(args.username, args.team, actor=_actor(),
                                           now=_now())
    print(f"user {args.username}: team {args.team.strip() or '(none)'}")
    return 0


def _actor() -> str:
    """Who ran the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return f"cli:uid{os.getuid()}"


async def _list_users(store: Store, args: argparse.Namespace) -> int:
    agents = {a.user_id: a.agent_number for a in await store.agents.list()}
    print(f"{'username':<20} {'role':<11} {'state':<9} {'agent':<8} name")
    for user in await store.users.list():
        state = "active" if user.active else "disabled"
        print(f"{user.username:<20} {user.role.value:<11} {state:<9} "
              f"{agents.get(user.id, ''):<8} {user.display_name}")
    return 0


async def _disable_user(store: Store, args: argparse.Namespace) -> int:
    from callcenter.service import disable_user

    await disable_user(store, _now(), args.username, actor=_actor(), active=args.enable)
    print(f"user {args.username} " + ("enabled" if args.enable else
                                      "disabled; its sessions are ended"))
    return 0


async def _change_password(store: Store, args: argparse.Namespace) -> int:
    from callcenter.service import change_password

    password = os.environ.get(args.password_env) or getpass.getpass("new password: ")
    await change_password(store, _now(), args.username, password, actor=_actor())
    print(f"password of {args.username} changed; its sessions are ended")
    return 0


async def _change_role(store: Store, args: argparse.Namespace) -> int:
    from callcenter.service import change_role

    user = await change_role(store, _now(), args.username, Role(args.role), actor=_actor())
    print(f"user {args.username}: {user.role.value} -> {args.role}; its sessions are ended")
    return 0


USER_ACTIONS: dict[str, Callable[[Store, argparse.Namespace], Awaitable[int]]] = {
    "add": _add_user, "list": _list_users, "disable": _disable_user,
    "passwd": _change_password, "role": _change_role, "queues": _set_queues,
    "team": _set_team,
}
"""``callcenter users <action>`` → its handler."""


if __name__ == "__main__":
    raise SystemExit(main())
