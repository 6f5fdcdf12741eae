"""Classic per-call AGI entry point: the same handlers as the FastAGI server, over stdin/stdout.

Asterisk starts one process per call (``AGI(/usr/local/bin/hotline-agi)``, a wrapper that runs
``python -m ivr.agi_script hotline --routes ivr.service:ROUTES "$@"``), writes the ``agi_*``
header block to its stdin, then reads commands from its stdout and writes replies to its stdin,
line by line exactly as on a FastAGI socket. A hang-up arrives as SIGHUP instead of a ``HANGUP``
line.

pyst2's ``asterisk.agi.AGI`` does two things right and is used for those only: reading the
header block, and installing the SIGHUP handler (the default action would kill the process
while the handler still has to record its result on the dead channel). Its command/reply code
is bypassed: it takes an unsolicited ``HANGUP`` line as the reply, loops forever on ``520-``
followed by EOF, raises ``ValueError`` on EOF, and has no timeouts. Commands here go through
the pure ``ivr.agi_protocol`` instead; reading is ``select`` + ``os.read`` on the file
descriptor, so a command timeout is possible and nothing is read ahead of what Asterisk sent.

Main thread only (signal handler, blocking I/O). The handler coroutine runs under
``asyncio.run``; ``execute`` blocks the loop while it waits, which is fine with one call per
process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import logging
import os
import select
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asterisk.agi import AGI, AGISIGHUPHangup

from ivr.agi_protocol import (
    AgiConnection,
    AgiRequest,
    Command,
    HangupNotice,
    ProtocolViolation,
    Reply,
    State,
    request_from_env,
)
from ivr.agi_server import AgiSession, Handler
from ivr.errors import AgiHangup, AgiProtocolError, AgiTimeout

__all__ = ["ScriptSession", "load_object", "main", "read_header", "run"]

logger = logging.getLogger(__name__)

# Exit statuses (Asterisk ignores them; they are for a human running the script).
EXIT_OK = 0
EXIT_HANDLER_FAILED = 1
EXIT_USAGE = 2


class ScriptSession(AgiSession):
    """An ``AgiSession`` over the classic AGI pipes (``stdin_fd`` replies, ``stdout_fd``
    commands). ``hangup_flag()`` returns True once SIGHUP arrived (pyst2 records it)."""

    def __init__(
        self,
        request: AgiRequest,
        *,
        stdin_fd: int,
        stdout_fd: int,
        hangup_flag: Callable[[], bool] | None = None,
        command_timeout: float = 30.0,
    ) -> None:
        super().__init__(request, command_timeout=command_timeout)
        self._in = stdin_fd
        self._out = stdout_fd
        self._hangup_flag = hangup_flag
        self._conn = AgiConnection(header=False)

    def _check_sighup(self) -> None:
        if not self.hung_up and self._hangup_flag is not None and self._hangup_flag():
            self.hung_up = True

    async def execute(self, command: Command, *, timeout: float | None = None) -> Reply:  # noqa: ASYNC109
        # SIGHUP may have arrived while the handler was busy: it plays the HANGUP line's part.
        self._check_sighup()
        return await super().execute(command, timeout=timeout)

    async def _exchange(self, command: Command, limit: float) -> Reply:
        if self._conn.state is State.CLOSED or self._conn.state is State.FAILED:
            raise AgiHangup("eof", f"{command.name}: the session already ended")
        line = self._conn.send(command)
        try:
            view = memoryview(line)
            while view:
                written = os.write(self._out, view)
                view = view[written:]
        except OSError as exc:  # BrokenPipeError: Asterisk is gone
            self._conn.abandon()
            raise AgiHangup("eof", f"writing {command.name}: {exc}") from exc
        deadline = time.monotonic() + limit
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._in], [], [], max(remaining, 0.0))
            if not ready:
                self._conn.abandon()
                raise AgiTimeout(command.text, limit)
            try:
                data = os.read(self._in, 65536)
            except OSError as exc:
                self._conn.abandon()
                raise AgiHangup("eof", f"reading the reply to {command.name}: {exc}") from exc
            if not data:
                self._conn.feed_eof()
                raise AgiHangup("eof", "Asterisk closed stdin")
            reply: Reply | None = None
            for event in self._conn.feed(data):
                if isinstance(event, Reply):
                    reply = event
                elif isinstance(event, HangupNotice):
                    self.hung_up = True
                elif isinstance(event, ProtocolViolation):
                    logger.warning(
                        "call %s: skipped a line that is not AGI (%s): %r",
                        self.request.unique_id,
                        event.reason,
                        event.line,
                    )
            self._check_sighup()
            if reply is not None:
                return reply


def read_header(stdin: io.RawIOBase) -> tuple[AgiRequest, Any]:
    """Read the header block with pyst2 (which also installs its SIGHUP handler).

    ``stdin`` must be unbuffered (``FileIO``) so that nothing beyond the empty line is read.
    Returns the request and pyst2's ``AGI`` object. Raises ``AgiProtocolError`` when the block
    is empty (stdin closed, not started by Asterisk).
    """
    pyst = AGI(stdin=stdin, stdout=sys.stdout, stderr=io.StringIO())
    env: Mapping[str, str] = pyst.env
    if not env:
        raise AgiProtocolError("no agi_* header on stdin (is this run by Asterisk?)")
    return request_from_env(env), pyst


def load_object(spec: str) -> Any:
    """``"package.module:attribute"`` → the attribute; ``"package.module:factory()"`` → what the
    zero-argument factory returns. Raises ``ValueError``/``ImportError``/``AttributeError``."""
    module_name, colon, attribute = spec.partition(":")
    call = attribute.endswith("()")
    attribute = attribute.removesuffix("()")
    if not colon or not module_name or not attribute:
        raise ValueError(f"expected module:attribute or module:factory(), got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target() if call else target


def _sighup_flag(pyst: Any) -> Callable[[], bool]:
    def flag() -> bool:
        try:
            pyst.test_hangup()
        except AGISIGHUPHangup:
            return True
        return False

    return flag


async def _serve(session: ScriptSession, route: str, handler: Handler | None) -> int:
    unique_id = session.request.unique_id
    if handler is None:
        logger.warning("call %s: no AGI route %r", unique_id, route)
        with contextlib.suppress(AgiHangup, AgiTimeout, AgiProtocolError):
            await session.verbose(f"AGI script: no route {route!r}", 1)
        return EXIT_USAGE
    try:
        await handler(session)
    except AgiHangup as exc:
        logger.info("call %s: %s ended, channel hung up (%s)", unique_id, route, exc.reason)
    except (AgiTimeout, AgiProtocolError) as exc:
        logger.warning("call %s: %s ended: %s", unique_id, route, exc)
    except Exception:
        logger.exception("call %s: handler of route %r failed", unique_id, route)
        return EXIT_HANDLER_FAILED
    return EXIT_OK


def run(
    route: str,
    routes: Mapping[str, Handler],
    *,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    command_timeout: float = 30.0,
) -> int:
    """Run one call: read the header, run ``routes[route]``, return the exit status."""
    stdin = io.FileIO(stdin_fd, "rb", closefd=False)
    try:
        request, pyst = read_header(stdin)
    except AgiProtocolError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    session = ScriptSession(
        request,
        stdin_fd=stdin_fd,
        stdout_fd=stdout_fd,
        hangup_flag=_sighup_flag(pyst),
        command_timeout=command_timeout,
    )
    return asyncio.run(_serve(session, route, routes.get(route)))


def main(argv: Sequence[str] | None = None, routes: Mapping[str, Handler] | None = None) -> int:
    """``python -m ivr.agi_script <route> (--routes module:ROUTES | --handler module:func)``
    (either may be ``module:factory()``, called once).

    ``routes`` (for tests and the benchmark) replaces the table named on the command line.
    """
    parser = argparse.ArgumentParser(prog="python -m ivr.agi_script", description=__doc__)
    parser.add_argument("route", help="route name, as in agi://host/<route>")
    parser.add_argument("extra", nargs="*", help="AGI() arguments (also in agi_arg_N); ignored")
    parser.add_argument("--routes", help="module:ROUTES (or module:factory()) → a route mapping")
    parser.add_argument("--handler", help="module:function (or module:factory()) for <route>")
    parser.add_argument("--command-timeout", type=float, default=30.0)
    parser.add_argument("--log-level", default=os.environ.get("IVR_AGI_LOG_LEVEL", "WARNING"))
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr,
            level=args.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    if routes is None:
        try:
            if args.handler:
                routes = {args.route: load_object(args.handler)}
            elif args.routes:
                routes = load_object(args.routes)
            else:
                parser.error("give --routes module:ROUTES or --handler module:function")
        except (ImportError, AttributeError, ValueError) as exc:
            parser.error(f"cannot load the handler: {exc}")
    assert routes is not None
    return run(args.route, routes, command_timeout=args.command_timeout)


if __name__ == "__main__":
    sys.exit(main())
