"""Errors of the ivr package (AGI protocol, FastAGI server, voice menu).

    IvrError
    ├── AgiProtocolError         Asterisk sent bytes that are not AGI; the connection is unusable
    │   └── AgiHeaderError       the ``agi_*`` header block is missing, malformed or too large
    ├── AgiArgumentError         a command argument that cannot be sent safely (CR/LF/NUL, a bad
    │                            variable name, prompt id or escape digits, a line too long)
    ├── AgiCommandError          Asterisk refused a command: ``510`` unknown, ``520`` usage
    │   └── AgiCommandFailed     ``200 result=-1`` on a live channel (missing prompt, app error)
    ├── AgiHangup                the channel is dead: ``511``, the ``HANGUP`` line, EOF
    ├── AgiTimeout               no reply within the per-command timeout (the session is closed)
    ├── MenuConfigError          an invalid menu definition, schedule, calendar or prompt
    └── MenuStateError           the menu machine got an event it does not await (a bug)

``AgiArgumentError`` is also a ``ValueError``.

Only the protocol module and the two adapters (``agi_server``, ``agi_script``) raise the AGI
errors; socket and OS errors are translated once, in the adapter, with ``raise … from exc``.
"""

from __future__ import annotations


class IvrError(Exception):
    """Root of every error this package raises on purpose."""


class AgiProtocolError(IvrError):
    """Asterisk sent something that is not AGI (or a line beyond the size limits).

    Fatal for the connection: after it no reply can be matched to its command any more.
    """


class AgiHeaderError(AgiProtocolError):
    """The ``agi_*`` header block is missing, malformed or too large (a port scan, a health
    check that speaks HTTP, a truncated connection)."""


class AgiArgumentError(IvrError, ValueError):
    """A command argument was refused before anything was written to Asterisk.

    ``argument`` names the offending parameter (``"value"``, ``"escape_digits"`` …).
    """

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument
        self.problem = problem


class AgiCommandError(IvrError):
    """Asterisk refused a command.

    ``code`` is the AGI status (510 unknown command, 520 wrong usage; 200 for
    ``AgiCommandFailed``), ``command`` the command line sent (without LF) and ``usage`` the usage
    text of a ``520-`` block (empty otherwise).
    """

    def __init__(self, command: str, code: int, message: str, usage: str = "") -> None:
        super().__init__(f"{command!r}: {code} {message}")
        self.command = command
        self.code = code
        self.message = message
        self.usage = usage


class AgiCommandFailed(AgiCommandError):
    """``200 result=-1`` while the channel is still up: a missing prompt file, an application
    that failed. (The same reply on a hung-up channel raises ``AgiHangup`` instead.)"""


class AgiHangup(IvrError):
    """The channel is gone: ``511 Command Not Permitted on a dead channel``, a command that does
    not work on a dead channel after the ``HANGUP`` line, or the socket closed (EOF).

    ``reason`` is one of ``"511"``, ``"hangup"``, ``"eof"``, ``"result=-1"``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"channel hung up ({reason}){': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail


class AgiTimeout(IvrError):
    """No reply within the command timeout. The session is closed afterwards, because Asterisk
    aborts a running STREAM FILE / GET DATA without a reply when the next command arrives:
    continuing would give every later command the reply of the one before."""

    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"no reply to {command!r} within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class MenuConfigError(IvrError):
    """The menu definition, schedule, holiday calendar or prompt catalogue is invalid. The
    message names the node, table or prompt:
    ``node 'aftersales': option '5' points to unknown node 'foo'``."""


class MenuStateError(IvrError):
    """The menu machine got an event its state does not await (a bug in the adapter), or a
    definition that slipped past validation loops without input."""
