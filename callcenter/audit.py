"""The audit log: who did what, to what, when — the port and its vocabulary (pure).

Every feature that must leave a trace (an administrator acting as an agent, a supervisor
listening in or playing a recording, an account change from the CLI or the admin console)
writes an :class:`AuditEntry` through the :class:`AuditLog` port; ``callcenter.db.repositories
.AuditRepository`` stores it in ``audit_log``. Entries are never changed or deleted by the
product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class AuditAction(StrEnum):
    """What was done. New features add their own member."""

    IMPERSONATE = "impersonate"       # an admin used the agent desktop as agent <target>
    USER_DISABLE = "user.disable"
    USER_PASSWORD = "user.password"  # noqa: S105 (an action name, not a password)
    USER_ROLE = "user.role"
    MONITOR_START = "monitor.start"   # a supervisor started listening/whispering/barging
    MONITOR_MODE = "monitor.mode"     # ... switched mode
    MONITOR_STOP = "monitor.stop"     # ... stopped, or the call ended
    AGENT_FORCE_PAUSE = "agent.force_pause"
    AGENT_FORCE_LOGOUT = "agent.force_logout"
    USER_ADD = "user.add"
    USER_QUEUES = "user.queues"
    USER_INTERFACE = "user.interface"
    USER_TEAM = "user.team"  # an account put in (or taken out of) a team (班组)
    IMPORT = "import"  # a merchant or terminal CSV upload in the admin console
    # a recording's audio was sent (target: its token; details: the call, the viewer's role,
    # the byte range): recording.ports.access_entry
    RECORDING_PLAY = "recording.play"
    RECORDING_DOWNLOAD = "recording.download"
    RECORDING_PEAKS = "recording.peaks"
    SETTINGS_CHANGE = "settings.change"  # run-time settings changed in the admin console


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One trace: ``actor`` is a username (``cli:<os user>`` for the command line),
    ``target`` what was acted on (an agent number, a username, a recording token)."""

    at: datetime
    actor: str
    action: str
    target: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None


class AuditLog(Protocol):
    """Where audit entries go."""

    async def record(self, entry: AuditEntry) -> None:
        """Store ``entry``; raises DatabaseUnavailable when it cannot."""

    async def recent(self, *, action: str = "", actor: str = "", limit: int = 100
                     ) -> list[AuditEntry]:
        """The newest entries first, optionally of one action or actor."""
