"""Exceptions of the CTI bridge: one root, ``CtiError``.

The tree::

    CtiError
    ├── AmiError                  anything on the Asterisk Manager Interface
    │   ├── AmiProtocolError      bytes that are not AMI (bad header line, bad header value,
    │   │   │                     event lacking a required header, duplicate ActionID)
    │   │   └── AmiEncodeError    an action that cannot be put on the wire safely
    │   │                         (a value with CR, LF or NUL; a reserved header) — also ValueError
    │   ├── AmiLoginError         ``Response: Error`` to ``Action: Login``
    │   ├── AmiActionError        ``Response: Error`` to any other action; ``.message`` is
    │   │                         the response's ``Message:`` ("Unable to add interface: …")
    │   ├── AmiTimeout            no response in time — also TimeoutError
    │   └── AmiDisconnected       the socket closed with actions pending — also ConnectionError
    ├── AgentActionError          an agent action refused by the rule checks; ``.error_id`` is a
    │   │                         stable, API-visible id (``"already_paused"``, ``"not_on_call"`` …)
    │   └── LogoutFailed          a log-out's ``QueueRemove`` failed in one queue: which, why, and
    │                             which queues were put back (all or nothing)
    ├── CtiUnavailable            no AMI connection to carry an agent action out
    └── CtiStorageError           a storage port's read or write failed in a way worth a
                                  retry (raised by the adapters of ``cti.ports``)

Third-party and socket exceptions are translated into this tree once, in the adapter that
catches them (``raise AmiDisconnected(...) from exc``); the pure core raises only these.
"""

from __future__ import annotations


class CtiError(Exception):
    """Root of every exception raised by the ``cti`` package."""


class AmiError(CtiError):
    """A failure on the Asterisk Manager Interface."""


class AmiProtocolError(AmiError):
    """Input that does not follow the AMI wire format, or an AMI message that lacks what its
    type requires (for example a ``Hangup`` event without ``Linkedid:``)."""


class AmiEncodeError(AmiProtocolError, ValueError):
    """An action that cannot be encoded without letting a value change the framing.

    Raised for header values containing CR, LF or NUL (a caller ID such as
    ``"x\\r\\nAction: Originate"`` must never become a second header or action), for header
    names that are not plain tokens, and for the reserved ``Action``/``ActionID`` headers.
    """


class AmiLoginError(AmiError):
    """Asterisk refused the ``Login`` action (``Response: Error``)."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error`` to an action.

    ``message`` is the response's ``Message:`` header as Asterisk wrote it, for instance
    ``Unable to remove interface: Not there`` or ``Channel does not exist: <name>``.
    """

    def __init__(self, message: str, *, action: str = "", action_id: str = "") -> None:
        self.message = message
        self.action = action
        self.action_id = action_id
        where = f"{action} [{action_id}]" if action else action_id
        super().__init__(f"{where}: {message}" if where else message)


class AmiTimeout(AmiError, TimeoutError):
    """No response (or no list end) arrived within the caller's deadline."""


class AmiDisconnected(AmiError, ConnectionError):
    """The AMI connection closed (EOF, reset, Asterisk shutdown) with work pending."""


class AgentActionError(CtiError):
    """An agent action refused by ``cti.agent_state.check_action``.

    ``error_id`` is stable and part of the HTTP API; ``message`` is for humans.
    """

    def __init__(self, error_id: str, message: str) -> None:
        self.error_id = error_id
        self.message = message
        super().__init__(f"{error_id}: {message}")


class LogoutFailed(AgentActionError):
    """A log-out failed in ``queue`` (``cause``: what Asterisk or the connection said); the
    queues it had already left were added back (``restored``) except ``not_restored`` (the
    next resync shows the truth there)."""

    def __init__(self, queue: str, cause: str, restored: tuple[str, ...],
                 not_restored: tuple[str, ...]) -> None:
        self.queue = queue
        self.cause = cause
        self.restored = restored
        self.not_restored = not_restored
        outcome = ("still logged in everywhere" if not not_restored else
                   "could not be put back in " + ", ".join(not_restored))
        super().__init__("logout_failed",
                         f"log-out failed in queue {queue} ({cause}); {outcome}")

    def as_json(self) -> dict[str, object]:
        return {"failed_queue": self.queue, "cause": self.cause,
                "restored": list(self.restored), "not_restored": list(self.not_restored)}


class CtiUnavailable(CtiError):
    """No AMI connection to carry an agent action out (demo without PBX, AMI disabled)."""


class CtiStorageError(CtiError):
    """A storage adapter (``cti.ports``) failed in a way worth retrying: a lock, a constraint
    a concurrent writer hit, the database unreachable. The adapter raises it ``from`` the
    driver's exception."""
