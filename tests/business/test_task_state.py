"""The task status machine, table-driven: the board is strict, the business system is taken
as it comes but never moves a task backwards. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcenter.business.errors import TaskStateConflict
from callcenter.business.task_state import (
    Command,
    NotifyStatus,
    Origin,
    RecordEvent,
    TaskAction,
    TaskState,
    allowed_actions,
    decide,
)
from callcenter.domain import TaskKind, TaskStatus
from callcenter.errors import ValidationError

S = TaskStatus
A = TaskAction
AT = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
REPAIR = TaskKind.REPAIR


def state(status: TaskStatus, kind: TaskKind = REPAIR, engineer: str = "") -> TaskState:
    return TaskState(kind=kind, status=status, engineer=engineer)


@pytest.mark.parametrize(("before", "command", "after"), [
    (state(S.NEW), Command(A.ACCEPT), S.ACCEPTED),
    (state(S.NEW), Command(A.ASSIGN, engineer="李工"), S.ASSIGNED),
    (state(S.ACCEPTED), Command(A.ASSIGN, engineer="李工"), S.ASSIGNED),
    (state(S.ASSIGNED, engineer="李工"), Command(A.APPOINT, appointment_at=AT), S.APPOINTED),
    (state(S.APPOINTED, engineer="李工"), Command(A.ASSIGN, engineer="张工"), S.APPOINTED),
    (state(S.APPOINTED, engineer="李工"), Command(A.ON_SITE), S.ON_SITE),
    (state(S.ON_SITE, engineer="李工"), Command(A.DONE), S.DONE),
    (state(S.ASSIGNED), Command(A.CANCEL, reason="商户已自行解决"), S.CANCELLED),
    (state(S.NEW, TaskKind.COMPLAINT), Command(A.DONE), S.DONE),
    (state(S.NEW, TaskKind.CONSULTATION), Command(A.DONE), S.DONE),
])
def test_board_moves(before: TaskState, command: Command, after: TaskStatus) -> None:
    new, effects = decide(before, command, Origin.BOARD)
    assert new.status is after
    assert effects == (RecordEvent(after, command.action.value, effects[0].params),  # type: ignore[union-attr]
                       NotifyStatus(after))


@pytest.mark.parametrize(("before", "command"), [
    (state(S.ACCEPTED), Command(A.ACCEPT)),
    (state(S.NEW), Command(A.APPOINT, appointment_at=AT, engineer="李工")),
    (state(S.NEW), Command(A.ON_SITE)),
    (state(S.ASSIGNED, engineer="李工"), Command(A.DONE)),  # nobody was on site
    (state(S.DONE), Command(A.CANCEL, reason="x")),
    (state(S.CANCELLED), Command(A.ACCEPT)),
])
def test_board_refuses_steps_that_do_not_apply(before: TaskState, command: Command) -> None:
    with pytest.raises(TaskStateConflict):
        decide(before, command, Origin.BOARD)


@pytest.mark.parametrize(("before", "command", "field"), [
    (state(S.NEW), Command(A.ASSIGN), "engineer"),
    (state(S.ASSIGNED, engineer="李工"), Command(A.APPOINT), "appointment_at"),
    (state(S.ASSIGNED), Command(A.APPOINT, appointment_at=AT), "engineer"),
    (state(S.NEW), Command(A.CANCEL, reason="  "), "reason"),
])
def test_board_commands_need_their_details(before: TaskState, command: Command,
                                           field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        decide(before, command, Origin.BOARD)
    assert exc.value.field == field


def test_board_buttons_follow_the_table() -> None:
    assert allowed_actions(state(S.NEW)) == [A.ACCEPT, A.ASSIGN, A.CANCEL]
    assert allowed_actions(state(S.APPOINTED)) == [A.ASSIGN, A.APPOINT, A.ON_SITE, A.CANCEL]
    assert allowed_actions(state(S.ON_SITE)) == [A.DONE, A.CANCEL]
    assert allowed_actions(state(S.NEW, TaskKind.COMPLAINT)) == [A.ACCEPT, A.ASSIGN, A.DONE,
                                                                 A.CANCEL]
    assert allowed_actions(state(S.DONE)) == []


@pytest.mark.parametrize(("before", "command", "after", "changed"), [
    (state(S.NEW), Command(A.APPOINT, appointment_at=AT), S.APPOINTED, True),  # skipped steps
    (state(S.NEW), Command(A.DONE), S.DONE, True),
    (state(S.ASSIGNED, engineer="李工"), Command(A.ASSIGN, engineer="张工"), S.ASSIGNED, True),
    (state(S.ASSIGNED, engineer="李工"), Command(A.ASSIGN, engineer="李工"), S.ASSIGNED, False),
    (state(S.ON_SITE), Command(A.ACCEPT), S.ON_SITE, False),  # late event: stale
    (state(S.DONE), Command(A.CANCEL), S.DONE, False),  # final stays final
])
def test_business_system_moves_forward_only(before: TaskState, command: Command,
                                            after: TaskStatus, changed: bool) -> None:
    new, effects = decide(before, command, Origin.BUSINESS_SYSTEM)
    assert new.status is after
    assert (new != before) is changed
    assert any(isinstance(e, NotifyStatus) for e in effects) is changed
    assert isinstance(effects[0], RecordEvent)
    if not changed:
        assert effects[0].note in ("stale", "repeated")


def test_appointment_and_engineer_details_are_kept() -> None:
    new, _ = decide(state(S.ASSIGNED, engineer="李工"),
                    Command(A.APPOINT, appointment_at=AT), Origin.BOARD)
    assert (new.engineer, new.appointment_at) == ("李工", AT)
    cancelled, _ = decide(new, Command(A.CANCEL, reason=" 商户搬迁 "), Origin.BOARD)
    assert cancelled.cancel_reason == "商户搬迁"
