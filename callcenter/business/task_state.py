"""The task status machine: ``decide(state, command, origin) -> (new_state, effects)``. Pure.

Rules (the dispatcher's work on a repair or installation task, 任务单 / 任务装机单):

* ``accept``   new → accepted (the dispatcher has seen it: "responds immediately");
* ``assign``   new/accepted/assigned/appointed → assigned, naming the engineer (re-assigning
  an appointed task keeps the appointment, so it stays appointed);
* ``appoint``  assigned/appointed → appointed, with the appointment time (needs an engineer);
* ``on_site``  assigned/appointed → on_site;
* ``done``     on_site → done for repairs and installations (an engineer must have been
  there); from any open status for the other kinds (a forwarded call, a class-2 complaint);
* ``cancel``   any open status → cancelled, with a reason. done and cancelled are final.

Two origins apply the rules differently. The built-in board (``Origin.BOARD``) is strict: a
step that does not apply raises :class:`TaskStateConflict`. The external business system
(``Origin.BUSINESS_SYSTEM``, through the webhook) is the system of record when configured: any
forward move is taken as it comes (it may skip steps we never see), a repeat of the current
status updates its details (a new engineer, a moved appointment), and an event that would move
the task backwards or reopen a final task arrived late: it is recorded as stale and changes
nothing.

Effects: :class:`RecordEvent` (a history line), :class:`NotifyStatus` (tell the agents of the
task's calls, the board and — through the store — the IVR).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from callcenter.business.errors import TaskStateConflict
from callcenter.domain import OPEN_TASK_STATUSES, TaskKind, TaskStatus
from callcenter.errors import ValidationError


class TaskAction(StrEnum):
    ACCEPT = "accept"
    ASSIGN = "assign"
    APPOINT = "appoint"
    ON_SITE = "on_site"
    DONE = "done"
    CANCEL = "cancel"


class Origin(StrEnum):
    BOARD = "board"
    BUSINESS_SYSTEM = "business_system"


_O = OPEN_TASK_STATUSES
_S = TaskStatus

# action → (statuses it applies from on the board, the status it leads to)
TRANSITIONS: dict[TaskAction, tuple[frozenset[TaskStatus], TaskStatus]] = {
    TaskAction.ACCEPT: (frozenset({_S.NEW}), _S.ACCEPTED),
    TaskAction.ASSIGN: (frozenset({_S.NEW, _S.ACCEPTED, _S.ASSIGNED, _S.APPOINTED}), _S.ASSIGNED),
    TaskAction.APPOINT: (frozenset({_S.ASSIGNED, _S.APPOINTED}), _S.APPOINTED),
    TaskAction.ON_SITE: (frozenset({_S.ASSIGNED, _S.APPOINTED}), _S.ON_SITE),
    TaskAction.DONE: (frozenset({_S.ON_SITE}), _S.DONE),
    TaskAction.CANCEL: (_O, _S.CANCELLED),
}
FIELD_TASKS = frozenset({TaskKind.REPAIR, TaskKind.INSTALLATION})  # an engineer goes on site

STATUS_ACTION: dict[TaskStatus, TaskAction] = {
    _S.ACCEPTED: TaskAction.ACCEPT, _S.ASSIGNED: TaskAction.ASSIGN,
    _S.APPOINTED: TaskAction.APPOINT, _S.ON_SITE: TaskAction.ON_SITE,
    _S.DONE: TaskAction.DONE, _S.CANCELLED: TaskAction.CANCEL,
}
_RANK = {_S.NEW: 0, _S.ACCEPTED: 1, _S.ASSIGNED: 2, _S.APPOINTED: 3, _S.ON_SITE: 4,
         _S.DONE: 5, _S.CANCELLED: 5}


@dataclass(frozen=True, slots=True)
class TaskState:
    """The part of a task the machine reads and writes."""

    kind: TaskKind
    status: TaskStatus
    engineer: str = ""
    appointment_at: datetime | None = None
    cancel_reason: str = ""


@dataclass(frozen=True, slots=True)
class Command:
    """What the dispatcher (or the business system) did."""

    action: TaskAction
    engineer: str = ""
    appointment_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """A history line: ``note`` is a key (an action, ``stale`` or ``repeated``) and its
    parameters; the service writes it in the product's language."""

    status: TaskStatus
    note: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class NotifyStatus:
    status: TaskStatus


Effect = RecordEvent | NotifyStatus


def allowed_actions(state: TaskState) -> list[TaskAction]:
    """The board's buttons for this task."""
    return [a for a in TaskAction if _board_allows(state, a)]


def _board_allows(state: TaskState, action: TaskAction) -> bool:
    sources, _ = TRANSITIONS[action]
    if action is TaskAction.DONE and state.kind not in FIELD_TASKS:
        sources = _O
    return state.status in sources


def decide(state: TaskState, command: Command, origin: Origin
           ) -> tuple[TaskState, tuple[Effect, ...]]:
    """Apply ``command``; raise TaskStateConflict / ValidationError for a board command that
    does not apply or lacks its engineer, time or reason."""
    if origin is Origin.BOARD:
        return _board(state, command)
    return _external(state, command)


def _target(state: TaskState, command: Command) -> TaskStatus:
    target = TRANSITIONS[command.action][1]
    if command.action is TaskAction.ASSIGN and state.status is _S.APPOINTED:
        target = _S.APPOINTED
    return target


def _board(state: TaskState, command: Command) -> tuple[TaskState, tuple[Effect, ...]]:
    if not _board_allows(state, command.action):
        raise TaskStateConflict(
            f"cannot {command.action.value} a {state.kind.value} task that is "
            f"{state.status.value}")
    new = _apply_details(state, command, strict=True)
    new = replace(new, status=_target(state, command))
    return new, (RecordEvent(new.status, *_note(command)), NotifyStatus(new.status))


def _external(state: TaskState, command: Command) -> tuple[TaskState, tuple[Effect, ...]]:
    target = _target(state, command)
    if state.status not in _O or _RANK[target] < _RANK[state.status]:
        return state, (RecordEvent(state.status, "stale", (
            ("reported", target.value), ("current", state.status.value))),)
    new = replace(_apply_details(state, command, strict=False), status=target)
    if new == state:
        return state, (RecordEvent(state.status, "repeated"),)
    return new, (RecordEvent(new.status, *_note(command)), NotifyStatus(new.status))


def _apply_details(state: TaskState, command: Command, *, strict: bool) -> TaskState:
    engineer = command.engineer.strip()
    reason = command.reason.strip()
    new = state
    if command.action is TaskAction.ASSIGN:
        if strict and not engineer:
            raise ValidationError("engineer", "name the engineer")
        if len(engineer) > 100:
            raise ValidationError("engineer", "at most 100 characters")
        if engineer:
            new = replace(new, engineer=engineer)
    elif command.action is TaskAction.APPOINT:
        if strict and command.appointment_at is None:
            raise ValidationError("appointment_at", "give the appointment time")
        if strict and not (engineer or state.engineer):
            raise ValidationError("engineer", "assign an engineer before the appointment")
        if engineer:
            new = replace(new, engineer=engineer)
        if command.appointment_at is not None:
            new = replace(new, appointment_at=command.appointment_at)
    elif command.action is TaskAction.CANCEL:
        if strict and not reason:
            raise ValidationError("reason", "give the reason for cancelling")
        if len(reason) > 200:
            raise ValidationError("reason", "at most 200 characters")
        new = replace(new, cancel_reason=reason)
    return new


def _note(command: Command) -> tuple[str, tuple[tuple[str, str], ...]]:
    params = [("engineer", command.engineer.strip()), ("reason", command.reason.strip())]
    if command.appointment_at is not None:
        params.append(("appointment_at", command.appointment_at.isoformat()))
    return command.action.value, tuple(p for p in params if p[1])
