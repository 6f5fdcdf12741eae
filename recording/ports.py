"""What the recordings feature needs from storage, as Protocols and records.

Implemented on the database in :mod:`callcenter.recording_directory`. Kept small so the
storage pipeline, the search, the access audit and the retention purge can be tested without a
database and moved (e.g. the audit into a general audit log) without touching their callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from callcenter.audit import AuditAction, AuditEntry
from recording.pipeline_state import Failure, Stage


@dataclass(frozen=True, slots=True)
class PipelineItem:
    """A recording the storage pipeline still has work on."""

    id: int
    token: str
    linked_id: str
    path: str
    stage: Stage
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    stored_path: str = ""
    channels: int = 1
    claimed_by: str = ""
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the index copies from the call (``calls`` row) onto the recording."""

    agent_number: str = ""
    queue: str = ""
    merchant_id: int | None = None
    caller_number: str = ""
    disposition: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StageUpdate:
    """The columns a committed step sets (None: unchanged)."""

    stored_path: str | None = None
    codec: str | None = None
    channels: int | None = None
    key_id: str | None = None
    plain_size: int | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    duration_s: float | None = None
    peaks: Sequence[int] | None = None
    facts: CallFacts | None = None
    indexed_at: datetime | None = None


class PipelineStore(Protocol):
    """The pipeline's rows, shared by every worker (rule 7 of :mod:`recording.pipeline_state`:
    a worker acts on a row only while it holds the row's lease)."""

    async def due(self, now: datetime, limit: int) -> list[PipelineItem]:
        """Recordings whose call has ended, not in a final stage, not waiting for a retry
        (whoever holds them)."""
        ...

    async def claim(self, worker: str, now: datetime, lease_until: datetime, limit: int
                    ) -> list[PipelineItem]:
        """Atomically take up to ``limit`` due recordings that nobody holds (or whose lease
        ran out before ``now``) for ``worker`` until ``lease_until``; returns them by id."""
        ...

    async def advance(self, recording_id: int, stage: Stage, update: StageUpdate, *,
                      worker: str, lease_until: datetime | None) -> bool:
        """Commit ``stage`` (and the step's results) for the recording and renew (None: let
        go) the lease, if ``worker`` still holds it; False (nothing written) otherwise."""
        ...

    async def failed(self, recording_id: int, failure: Failure, error: str, *,
                     worker: str) -> bool:
        """Record a failed step and let the lease go, if ``worker`` still holds it."""
        ...

    async def call_facts(self, linked_id: str) -> CallFacts | None: ...


@dataclass(frozen=True, slots=True)
class Access:
    """One play, download or waveform view of a recording. Stored as an entry of the
    product's audit log (:func:`access_entry`, :func:`access_of`)."""
    token: str
    linked_id: str
    user_id: int | None
    username: str
    role: str
    action: str  # "play" | "download" | "peaks"
    at: datetime
    range_start: int | None = None
    range_end: int | None = None
    remote: str = ""  # the client's address


ACCESS_ACTIONS: dict[str, str] = {
    "play": AuditAction.RECORDING_PLAY, "download": AuditAction.RECORDING_DOWNLOAD,
    "peaks": AuditAction.RECORDING_PEAKS,
}


def access_entry(access: Access) -> AuditEntry:
    """The audit-log entry of ``access``: actor the user, target the recording's token, the
    recording-specific fields in ``details`` (read back by :func:`access_of`)."""
    return AuditEntry(at=access.at, actor=access.username, action=ACCESS_ACTIONS[access.action],
                      target=access.token,
                      details={"linked_id": access.linked_id, "role": access.role,
                               "user_id": access.user_id,
                               "range": [access.range_start, access.range_end],
                               "remote": access.remote})


def access_of(entry: AuditEntry) -> Access:
    """The access an audit entry of :func:`access_entry` records (missing fields: empty)."""
    actions = {v: k for k, v in ACCESS_ACTIONS.items()}
    details = entry.details
    span = details.get("range") or [None, None]
    user_id = details.get("user_id")
    return Access(token=entry.target, linked_id=str(details.get("linked_id", "")),
                  user_id=user_id if isinstance(user_id, int) else None,
                  username=entry.actor, role=str(details.get("role", "")),
                  action=actions.get(entry.action, entry.action), at=entry.at,
                  range_start=span[0], range_end=span[1],
                  remote=str(details.get("remote", "")))


class AccessLog(Protocol):
    async def record(self, access: Access) -> None: ...

    async def recent(self, limit: int, token: str | None = None) -> list[Access]: ...


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """Everything playback needs about one recording."""

    id: int
    token: str
    linked_id: str
    path: str
    stage: Stage
    stored_path: str
    codec: str
    key_id: str
    plain_size: int | None
    duration_s: float | None
    agent_number: str
    peaks: list[int] = field(default_factory=list)
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordingHit:
    """One row of a search result (unmasked: the web layer masks per role)."""

    id: int
    token: str
    linked_id: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    agent_number: str
    queue: str
    caller_number: str
    merchant_number: str
    merchant_name: str
    intent: str
    disposition: str
    stage: str
    codec: str
    size_bytes: int | None
    tasks: tuple[str, ...] = ()
    complaint: bool = False
    qa: str = "none"


@dataclass(frozen=True, slots=True)
class PurgeRecord:
    """One line of the purge log: a recording the retention purge deleted, and why."""

    token: str
    linked_id: str
    path: str
    size_bytes: int | None
    sha256: str
    started_at: datetime | None
    retain_until: datetime | None
    reason: str
    purged_at: datetime


@dataclass(frozen=True, slots=True)
class TimelineMark:
    """A moment of the call for the player: seconds from the recording's start."""

    at_s: float
    kind: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[RecordingHit]
    next_after: str | None
