"""The agent state machine, driven by typed events without any AMI: table-driven."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cti import agent_state
from cti.agent_state import (
    TRANSITIONS,
    AgentAction,
    AgentBoard,
    AgentConfig,
    AgentStatus,
    AgentTransition,
    Trigger,
    WrapUpHold,
    check_action,
    new_board,
    pause_seconds,
    state_seconds,
)
from cti.call_state import OutboundDialled
from cti.errors import AgentActionError
from cti.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    DialBegin,
    DialEnd,
    Hangup,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueMemberStatus,
)

A1 = "PJSIP/8001"  # real phones: one channel per party, no Local pairs
CALL = "1795330137.0"
CALLER_UID = "1795330137.1"
LEG = "1795330149.2"
S = AgentStatus


def added(queue: str = "aftersales", interface: str = A1, *, paused: bool = False,
          reason: str = "") -> QueueMemberAdded:
    return QueueMemberAdded(queue, interface, "Agent 8001", "dynamic", paused, reason, False, 1, 0)


def removed(queue: str = "aftersales", interface: str = A1) -> QueueMemberRemoved:
    return QueueMemberRemoved(queue, interface, "Agent 8001", "dynamic", False, "", False, 1, 0)


def pause(queue: str = "aftersales", reason: str = "lunch", *, paused: bool = True,
          interface: str = A1) -> QueueMemberPause:
    return QueueMemberPause(queue, interface, "Agent 8001", "dynamic", paused,
                            reason if paused else "", False, 1, 0)


def called(leg: str = LEG, linked_id: str = CALL, interface: str = A1) -> AgentCalled:
    return AgentCalled("aftersales", interface, "Agent 8001", "PJSIP/trunk-00000001",
                       CALLER_UID, linked_id, "13800138000", f"{interface}-00000002", leg)


def no_answer(leg: str = LEG, interface: str = A1) -> AgentRingNoAnswer:
    return AgentRingNoAnswer("aftersales", interface, "Agent 8001", "PJSIP/trunk-00000001",
                             CALLER_UID, CALL, f"{interface}-00000002", leg, 15000)


def connect(leg: str = LEG, interface: str = A1) -> AgentConnect:
    return AgentConnect("aftersales", interface, "Agent 8001", "PJSIP/trunk-00000001",
                        CALLER_UID, CALL, f"{interface}-00000002", leg, 2, 2)


def complete(leg: str | None = LEG, interface: str = A1) -> AgentComplete:
    return AgentComplete("aftersales", interface, "Agent 8001", "PJSIP/trunk-00000001",
                         CALLER_UID, CALL, None if leg is None else f"{interface}-00000002", leg,
                         2, 12, "caller")


def leg_hangup(leg: str = LEG) -> Hangup:
    return Hangup(f"{A1}-00000002", leg, CALL, 16, "Normal Clearing")


def drive(events: Sequence[AmiEvent], *, config: AgentConfig | None = None,
          start: float = 100.0) -> tuple[AgentBoard, list[AgentTransition]]:
    """Apply events one second apart from ``start``."""
    board = new_board(config)
    effects: list[AgentTransition] = []
    for i, event in enumerate(events):
        effects.extend(e for e in agent_state.transition(board, event, start + i)[1]
                       if isinstance(e, AgentTransition))
    return board, effects


def status(board: AgentBoard, interface: str = A1) -> tuple[AgentStatus, str | None]:
    agent = board.agents[interface]
    return agent.status, agent.state_reason


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([added()], (S.AVAILABLE, None), id="login"),
        pytest.param([added(paused=True, reason="meeting")], (S.PAUSED, "meeting"),
                     id="login-of-a-persistent-paused-member"),
        pytest.param([added(), pause()], (S.PAUSED, "lunch"), id="pause"),
        pytest.param([added(), pause(), pause(reason="training")], (S.PAUSED, "training"),
                     id="pause-reason-change"),
        pytest.param([added(), pause(), pause(paused=False)], (S.AVAILABLE, None), id="unpause"),
        pytest.param([added(), called()], (S.RINGING, None), id="ring"),
        pytest.param([added(), called(), no_answer()], (S.AVAILABLE, None),
                     id="ring-no-answer"),
        pytest.param([added(), called(), connect()], (S.ON_CALL, None), id="answer"),
        pytest.param([added(), called(), connect(), complete()], (S.WRAP_UP, None),
                     id="agent-complete"),
        pytest.param([added(), called(), connect(), leg_hangup()], (S.WRAP_UP, None),
                     id="agent-leg-hangup"),
        pytest.param([added(), called(), leg_hangup()], (S.AVAILABLE, None),
                     id="ringing-leg-hung-up-because-another-member-answered"),
        pytest.param([added(), called(), AgentDump("aftersales", A1, "Agent 8001", "x",
                                                   CALLER_UID, CALL, None, LEG)],
                     (S.AVAILABLE, None), id="agent-dump"),
        pytest.param([added(), removed()], (S.LOGGED_OUT, None), id="logoff"),
        pytest.param([added(), pause(), removed()], (S.LOGGED_OUT, None), id="logoff-paused"),
        pytest.param([called()], (S.RINGING, None), id="unknown-member-rung-is-adopted"),
        pytest.param([added(), called(), connect(), complete(), called(leg="2.5")],
                     (S.RINGING, None), id="asterisk-ends-wrap-up-by-ringing"),
    ],
)
def test_transition_table(events: list[AmiEvent], expected: tuple[AgentStatus, str | None]) -> None:
    board, _ = drive(events)
    assert status(board) == expected


def test_ring_no_answer_returns_agent_to_available() -> None:
    board, effects = drive([added(), called(), no_answer(), leg_hangup()])
    assert status(board) == (S.AVAILABLE, None)
    assert [(e.old, e.new, e.cause) for e in effects] == [
        (S.LOGGED_OUT, S.AVAILABLE, "QueueMemberAdded"),
        (S.AVAILABLE, S.RINGING, "AgentCalled"),
        (S.RINGING, S.AVAILABLE, "AgentRingNoAnswer"),
    ]
    assert board.agents[A1].linked_id is None
    assert board.by_leg == {}


def test_pause_while_ringing_takes_effect_when_the_ring_ends() -> None:
    board, effects = drive([added(), called(), pause(reason="acw"), no_answer()])
    assert status(board) == (S.PAUSED, "acw")
    assert effects[-1].describe() == "agent PJSIP/8001: ringing -> paused(acw) (AgentRingNoAnswer)"


def test_pause_during_a_call_waits_for_the_end_of_the_wrap_up() -> None:
    config = AgentConfig(wrap_up_s=5.0)
    board, _ = drive([added(), called(), connect(), pause(reason="break"), complete()],
                     config=config)
    assert status(board) == (S.WRAP_UP, None)
    _, more = agent_state.tick(board, 200.0)
    assert status(board) == (S.PAUSED, "break")
    assert [(e.old, e.new, e.at) for e in more] == [(S.WRAP_UP, S.PAUSED, 104.0 + 5.0)]


def test_wrap_up_ends_after_the_queue_wrap_up_time_and_not_before() -> None:
    config = AgentConfig(wrap_up_s=5.0, wrap_up_by_queue={"aftersales": 8.0})
    board, _ = drive([added(), called(), connect(), complete()], config=config)
    assert board.agents[A1].wrap_up_until == 103.0 + 8.0
    assert agent_state.tick(board, 110.9)[1] == []
    assert status(board) == (S.WRAP_UP, None)
    (done,) = agent_state.tick(board, 111.0)[1]
    assert (done.old, done.new, done.cause) == (S.WRAP_UP, S.AVAILABLE, "wrap-up time over")


def test_without_wrap_up_time_the_agent_is_available_at_once() -> None:
    board, _ = drive([added(), called(), connect(), complete()],
                     config=AgentConfig(wrap_up_s=0))
    assert status(board) == (S.AVAILABLE, None)


def test_pause_all_pauses_the_agent_only_when_every_queue_is_paused() -> None:
    board, effects = drive([
        added("presales"), added("aftersales"),
        pause("presales", "training"),
    ])
    assert status(board) == (S.AVAILABLE, None)  # still reachable through aftersales
    _, more = agent_state.transition(board, pause("aftersales", "training"), 110.0)
    assert status(board) == (S.PAUSED, "training")
    assert len(more) == 1
    _, back = agent_state.transition(board, pause("presales", paused=False), 111.0)
    assert status(board) == (S.AVAILABLE, None)
    assert [e.cause for e in back] == ["QueueMemberPause"]
    assert len(effects) == 1  # the login only


def test_late_agent_complete_without_agent_leg_changes_nothing() -> None:
    board, _ = drive([added(), called(), connect(), leg_hangup()],
                     config=AgentConfig(wrap_up_s=0))
    agent_state.transition(board, called(leg="9.9", linked_id="other"), 110.0)
    assert status(board) == (S.RINGING, None)
    _, nothing = agent_state.transition(board, complete(leg=None), 111.0)
    assert nothing == []
    assert status(board) == (S.RINGING, None)
    assert board.agents[A1].linked_id == "other"


def test_member_status_with_an_unknown_pause_state_syncs_the_agent() -> None:
    status_event = QueueMemberStatus("aftersales", A1, "Agent 8001", "dynamic", True, "meeting",
                                     False, 1, 0)
    board, effects = drive([status_event])
    assert status(board) == (S.PAUSED, "meeting")
    assert [e.cause for e in effects] == ["QueueMemberStatus"]
    _, repeat = agent_state.transition(board, status_event, 120.0)
    assert repeat == []


def test_every_change_yields_one_logged_transition_with_its_cause() -> None:
    _, effects = drive([added(), pause(), pause(reason="training"), pause(paused=False)])
    assert [e.describe() for e in effects] == [
        "agent PJSIP/8001: logged_out -> available (QueueMemberAdded)",
        "agent PJSIP/8001: available -> paused(lunch) (QueueMemberPause)",
        "agent PJSIP/8001: paused(lunch) -> paused(training) (QueueMemberPause)",
        "agent PJSIP/8001: paused(training) -> available (QueueMemberPause)",
    ]


def test_seconds_are_accounted_per_state_and_per_pause_reason() -> None:
    board = new_board()
    for now, event in [
        (0.0, added()), (10.0, pause(reason="lunch")), (40.0, pause(reason="training")),
        (45.0, pause(paused=False)), (50.0, pause(reason="lunch")), (52.0, pause(paused=False)),
    ]:
        agent_state.transition(board, event, now)
    agent = board.agents[A1]
    assert pause_seconds(agent, 60.0) == {"lunch": 32.0, "training": 5.0}
    assert state_seconds(agent, 60.0) == {S.AVAILABLE: 23.0, S.PAUSED: 37.0}


def test_shutdown_ends_rings_and_calls_but_keeps_logins_and_pauses() -> None:
    board, _ = drive([added(), called()])
    _, effects = agent_state.on_shutdown(board, 200.0)
    assert status(board) == (S.AVAILABLE, None)
    assert [e.cause for e in effects] == ["Shutdown"]


def _member(interface: str, queue: str, *, paused: bool, reason: str = "",
            in_call: bool = False) -> QueueMember:
    return QueueMember(queue, interface, interface, "dynamic", paused, reason, in_call, 1, 0, 0,
                       0, "r-1")


def test_resync_adopts_members_with_their_pause_reason_and_logs_out_the_missing() -> None:
    board, _ = drive([added(interface="PJSIP/8009")])
    _, effects = agent_state.resync(board, [
        _member(A1, "aftersales", paused=True, reason="meeting"),
        _member("PJSIP/8002", "aftersales", paused=False),
        _member("PJSIP/8002", "presales", paused=True, reason="lunch"),
        _member("PJSIP/8003", "aftersales", paused=False, in_call=True),
    ], 300.0, busy={"PJSIP/8003": "1795330500.0"})
    assert status(board, A1) == (S.PAUSED, "meeting")
    assert status(board, "PJSIP/8002") == (S.AVAILABLE, None)
    assert status(board, "PJSIP/8003") == (S.ON_CALL, None)
    assert board.agents["PJSIP/8003"].linked_id == "1795330500.0"
    assert status(board, "PJSIP/8009") == (S.LOGGED_OUT, None)
    assert {e.cause for e in effects} == {"resync"}
    _, again = agent_state.resync(board, [
        _member(A1, "aftersales", paused=True, reason="meeting"),
    ], 301.0)
    assert [(e.interface, e.new) for e in again] == [
        ("PJSIP/8002", S.LOGGED_OUT), ("PJSIP/8003", S.LOGGED_OUT),
    ]


def test_the_table_only_leaves_a_state_by_a_listed_trigger() -> None:
    # Rule 6: pausing a busy agent changes no state; rule 7: no row means no change.
    for state in (S.RINGING, S.ON_CALL, S.WRAP_UP):
        assert (state, Trigger.PAUSE) not in TRANSITIONS
        assert (state, Trigger.UNPAUSE) not in TRANSITIONS
        assert TRANSITIONS[(state, Trigger.LOGOUT)] is S.LOGGED_OUT
    assert (S.LOGGED_OUT, Trigger.HANG_UP) not in TRANSITIONS


# -- rule checks for agent actions

ALLOWED = None


@pytest.mark.parametrize(
    ("events", "action", "error_id"),
    [
        ([], AgentAction.LOGIN, ALLOWED),
        ([added()], AgentAction.LOGIN, "already_logged_in"),
        ([], AgentAction.PAUSE, "not_logged_in"),
        ([added()], AgentAction.PAUSE, ALLOWED),
        ([added(), pause()], AgentAction.PAUSE, "already_paused"),
        ([added(), called(), connect(), pause()], AgentAction.PAUSE, "already_paused"),
        ([added()], AgentAction.RESUME, "not_paused"),
        ([added(), pause()], AgentAction.RESUME, ALLOWED),
        ([added()], AgentAction.DIAL, ALLOWED),
        ([added(), pause(reason="lunch")], AgentAction.DIAL, "not_available"),
        ([added(), pause(reason="acw")], AgentAction.DIAL, ALLOWED),
        ([added(), called()], AgentAction.DIAL, "not_available"),
        ([added(), called(), connect()], AgentAction.TRANSFER, ALLOWED),
        ([added(), called(), connect()], AgentAction.HANGUP, ALLOWED),
        ([added(), called()], AgentAction.HANGUP, "not_on_call"),
        ([added()], AgentAction.TRANSFER, "not_on_call"),
        ([added(), called(), connect()], AgentAction.LOGOUT, "agent_busy"),
        ([added(), pause()], AgentAction.LOGOUT, ALLOWED),
        ([], AgentAction.LOGOUT, "not_logged_in"),
    ],
)
def test_agent_action_rules(
    events: list[AmiEvent], action: AgentAction, error_id: str | None
) -> None:
    board, _ = drive(events)
    agent = board.agents.get(A1)
    snapshot = next(iter(agent_state.snapshot(board)), None)
    for subject in (agent, snapshot):
        if error_id is None:
            check_action(subject, action)
        elif subject is not None or not events:
            with pytest.raises(AgentActionError) as info:
                check_action(subject, action)
            assert info.value.error_id == error_id


@pytest.mark.parametrize(("succeeded", "removed"), [
    ((), ()),
    (("aftersales",), ("aftersales",)),
    (("aftersales", "presales", "night"), ("night", "presales", "aftersales")),
])
def test_a_failed_login_removes_every_queue_it_added_last_first(
        succeeded: tuple[str, ...], removed: tuple[str, ...]) -> None:
    assert agent_state.login_rollback(succeeded) == removed


# -- rule 12: after-call work holds until the wrap-up is saved

HOLD = AgentConfig(wrap_up_s=5.0, hold_wrap_up_s=120.0)


def holds(effects: Sequence[object]) -> list[tuple[bool, str]]:
    return [(e.hold, e.reason) for e in effects if isinstance(e, WrapUpHold)]


def held_call(config: AgentConfig = HOLD) -> tuple[AgentBoard, list[object]]:
    board = new_board(config)
    effects: list[object] = []
    for i, event in enumerate([added(), called(), connect(), complete()]):
        effects.extend(agent_state.transition(board, event, 100.0 + i)[1])
    return board, effects


def test_a_held_wrap_up_pauses_the_member_and_outlasts_asterisks_wrap_up_time() -> None:
    board, effects = held_call()
    assert status(board) == (S.WRAP_UP, None)
    assert holds(effects) == [(True, "acw")]
    # the pause lands (rule 6: only the flag) and Asterisk's 5 s are long over
    agent_state.transition(board, pause(reason="acw"), 104.0)
    assert agent_state.tick(board, 200.0)[1] == []
    assert status(board) == (S.WRAP_UP, None)


@pytest.mark.parametrize(("paused_by_asterisk", "expected"), [
    pytest.param(True, (S.AVAILABLE, None), id="pause-landed"),
    pytest.param(False, (S.AVAILABLE, None), id="pause-still-in-flight"),
])
def test_saving_the_wrap_up_releases_the_hold(
        paused_by_asterisk: bool, expected: tuple[AgentStatus, str | None]) -> None:
    board, _ = held_call()
    if paused_by_asterisk:
        agent_state.transition(board, pause(reason="acw"), 104.0)
    _, effects = agent_state.wrap_up_saved(board, CALL, 150.0)
    assert status(board) == expected
    assert holds(effects) == [(False, "acw")]
    assert [(e.old, e.new, e.cause) for e in effects if isinstance(e, AgentTransition)] == [
        (S.WRAP_UP, S.AVAILABLE, "wrap-up saved")]
    # Asterisk confirms the unpause: nothing more changes
    assert agent_state.transition(board, pause(paused=False), 151.0)[1] == []
    assert status(board) == (S.AVAILABLE, None)


def test_the_hold_ends_when_its_maximum_passes_even_unsaved() -> None:
    board, _ = held_call()
    agent_state.transition(board, pause(reason="acw"), 104.0)
    assert agent_state.tick(board, 222.9)[1] == []
    _, effects = agent_state.tick(board, 223.0)
    assert holds(effects) == [(False, "acw")]
    assert [(e.new, e.cause) for e in effects if isinstance(e, AgentTransition)] == [
        (S.AVAILABLE, "wrap-up not saved in time")]


def test_an_agent_who_paused_for_lunch_during_the_hold_stays_paused_after_it() -> None:
    board, _ = held_call()
    agent_state.transition(board, pause(reason="lunch"), 104.0)
    _, effects = agent_state.wrap_up_saved(board, CALL, 150.0)
    assert status(board) == (S.PAUSED, "lunch")
    assert holds(effects) == [(False, "acw")]


@pytest.mark.parametrize(("config", "linked_id"), [
    pytest.param(AgentConfig(wrap_up_s=5.0), CALL, id="no-hold-configured"),
    pytest.param(HOLD, "another-call", id="another-calls-wrap-up"),
])
def test_saving_changes_nothing_without_a_hold_on_that_call(
        config: AgentConfig, linked_id: str) -> None:
    board, _ = held_call(config)
    assert agent_state.wrap_up_saved(board, linked_id, 104.5)[1] == []
    assert status(board) == (S.WRAP_UP, None)


def test_a_ring_during_the_hold_releases_it_and_the_next_call_holds_again() -> None:
    board, _ = held_call()
    _, effects = agent_state.transition(board, called(leg="2.5", linked_id="2.0"), 104.0)
    assert status(board) == (S.RINGING, None)
    assert holds(effects) == [(False, "acw")]


def test_logging_out_during_the_hold_sends_no_unpause() -> None:
    board, _ = held_call()
    _, effects = agent_state.transition(board, removed(), 110.0)
    assert status(board) == (S.LOGGED_OUT, None)
    assert holds(effects) == []
    assert not board.agents[A1].held


def test_the_hold_survives_a_resync_while_asterisk_keeps_the_member_paused() -> None:
    board, _ = held_call()
    agent_state.transition(board, pause(reason="acw"), 104.0)
    agent_state.resync(board, [_member(A1, "aftersales", paused=True, reason="acw")], 110.0)
    assert status(board) == (S.WRAP_UP, None)
    _, effects = agent_state.wrap_up_saved(board, CALL, 111.0)
    assert status(board) == (S.AVAILABLE, None) and holds(effects) == [(False, "acw")]


def test_saved_is_a_row_of_the_table() -> None:
    assert TRANSITIONS[(S.WRAP_UP, Trigger.WRAP_UP_SAVED)] == "idle"


# -- rule 13: nobody at the desk, rings left unanswered

AWAY = AgentConfig(desk_grace_s=60.0, no_answer_reason="no_answer")


def auto_pauses(effects: Sequence[object]) -> list[tuple[str, str]]:
    return [(e.reason, e.cause) for e in effects if isinstance(e, agent_state.AutoPause)]


@pytest.mark.parametrize(("events", "back_at", "tick_at", "expected"), [
    pytest.param([added()], None, 159.9, [], id="within-the-grace"),
    pytest.param([added()], None, 160.0, [("disconnected", "desk closed")], id="grace-over"),
    pytest.param([added()], 130.0, 500.0, [], id="desk-came-back"),
    pytest.param([added(), pause()], None, 500.0, [], id="already-paused"),
    pytest.param([added(), removed()], None, 500.0, [], id="logged-out"),
    pytest.param([added(), called(), connect()], None, 160.0,
                 [("disconnected", "desk closed")], id="on-a-call-paused-for-after-it"),
])
def test_a_desk_closed_past_the_grace_pauses_the_agent_once(
        events: list[AmiEvent], back_at: float | None, tick_at: float,
        expected: list[tuple[str, str]]) -> None:
    board, _ = drive(events, config=AWAY)
    agent_state.desk_opened(board, A1, "Agent 8001", 95.0)
    agent_state.desk_closed(board, A1, 100.0)
    if back_at is not None:
        agent_state.desk_opened(board, A1, "Agent 8001", back_at)
    assert auto_pauses(agent_state.tick(board, tick_at)[1]) == expected
    if expected:
        assert auto_pauses(agent_state.tick(board, tick_at + 600)[1]) == []  # once an absence


def test_one_of_two_desks_closing_pauses_nobody() -> None:
    board, _ = drive([added()], config=AWAY)
    agent_state.desk_opened(board, A1, "Agent 8001", 95.0)
    agent_state.desk_opened(board, A1, "Agent 8001", 96.0)
    agent_state.desk_closed(board, A1, 100.0)
    assert auto_pauses(agent_state.tick(board, 1000.0)[1]) == []


def test_without_a_grace_a_closed_desk_pauses_nobody() -> None:
    board, _ = drive([added()])
    agent_state.desk_opened(board, A1, "Agent 8001", 95.0)
    agent_state.desk_closed(board, A1, 100.0)
    assert auto_pauses(agent_state.tick(board, 1000.0)[1]) == []


@pytest.mark.parametrize(("config", "ring_end", "expected"), [
    pytest.param(AWAY, no_answer(), [("no_answer", "AgentRingNoAnswer")], id="no-answer"),
    pytest.param(AgentConfig(), no_answer(), [], id="autopause-off"),
    pytest.param(AWAY, leg_hangup(), [], id="another-member-answered"),
])
def test_a_ring_left_unanswered_pauses_the_agent(
        config: AgentConfig, ring_end: AmiEvent, expected: list[tuple[str, str]]) -> None:
    board = new_board(config)
    effects: list[object] = []
    for i, event in enumerate([added(), called(), ring_end]):
        effects.extend(agent_state.transition(board, event, 100.0 + i)[1])
    assert status(board) == (S.AVAILABLE, None)  # until Asterisk confirms the pause
    assert auto_pauses(effects) == expected


# -- rule 14: the merchant leg of a click to dial

OUT = "1795330300.4"  # the originated agent leg: its Uniqueid is the call's Linkedid


@pytest.mark.parametrize(("dial", "expected"), [
    pytest.param(DialBegin(f"{A1}-00000009", OUT, OUT, "PJSIP/trunk-0000000a", "1795330300.5",
                           "PJSIP/13800138000@trunk"), ("ringing", ""), id="ringing"),
    pytest.param(DialEnd(f"{A1}-00000009", OUT, OUT, "PJSIP/trunk-0000000a", "1795330300.5",
                         "ANSWER"), ("connected", "ANSWER"), id="connected"),
    pytest.param(DialEnd(f"{A1}-00000009", OUT, OUT, "PJSIP/trunk-0000000a", "1795330300.5",
                         "BUSY"), ("failed", "BUSY"), id="busy"),
])
def test_the_merchant_leg_of_a_click_to_dial_is_reported_from_dial_events(
        dial: AmiEvent, expected: tuple[str, str]) -> None:
    board, _ = drive([added()])
    agent_state.transition(board, OutboundDialled(OUT, f"{A1}-00000009", A1, "13800138000"),
                           110.0)
    assert status(board) == (S.ON_CALL, None)
    _, effects = agent_state.transition(board, dial, 111.0)
    assert [(e.status, e.dial_status) for e in effects
            if isinstance(e, agent_state.OutboundProgress)] == [expected]
    assert status(board) == (S.ON_CALL, None)


def test_dial_events_of_queue_calls_report_nothing() -> None:
    board, _ = drive([added(), called(), connect()])
    _, effects = agent_state.transition(
        board, DialEnd("PJSIP/trunk-00000001", LEG, CALL, f"{A1}-00000002", LEG, "ANSWER"), 110.0)
    assert effects == []


def _progress(effects: list[object]) -> list[str]:
    return [e.status for e in effects if isinstance(e, agent_state.OutboundProgress)]


def test_dial_events_that_beat_the_originate_response_are_reported_once_it_comes() -> None:
    """Asterisk sends OriginateResponse from the originating thread while the answered leg
    already runs [cc-outbound]: under load DialBegin (and even DialEnd) arrive first."""
    board, _ = drive([added()])
    leg = f"{A1}-00000009"
    begin = DialBegin(leg, OUT, OUT, "PJSIP/trunk-0000000a", "1795330300.5",
                      "PJSIP/13800138000@trunk")
    end = DialEnd(leg, OUT, OUT, "PJSIP/trunk-0000000a", "1795330300.5", "ANSWER")
    effects: list[object] = []
    effects.extend(agent_state.transition(board, begin, 110.0)[1])
    assert _progress(effects) == []  # nobody owns the leg yet
    effects.extend(agent_state.transition(
        board, OutboundDialled(OUT, leg, A1, "13800138000"), 110.2)[1])
    assert _progress(effects) == ["ringing"]
    effects.extend(agent_state.transition(board, end, 111.0)[1])
    assert _progress(effects) == ["ringing", "connected"]
    assert board.early_dials == {}


def test_early_dial_events_are_forgotten_when_stale_and_bounded_in_number() -> None:
    board, _ = drive([added()])
    begin = DialBegin(f"{A1}-00000009", OUT, OUT, "PJSIP/trunk-0000000a", "1795330300.5",
                      "PJSIP/13800138000@trunk")
    agent_state.transition(board, begin, 100.0)
    # a leg answered long after its Dial began (not a race): nothing is replayed
    _, effects = agent_state.transition(
        board, OutboundDialled(OUT, f"{A1}-00000009", A1, "13800138000"),
        100.0 + agent_state.EARLY_DIAL_S + 1)
    assert _progress(list(effects)) == []
    # queue calls dial all day from legs that are never a click to dial: the memory is bounded
    for i in range(agent_state.EARLY_DIALS * 3):
        agent_state.transition(board, DialBegin(
            "PJSIP/trunk-1", f"caller.{i}", f"caller.{i}", f"{A1}-1", f"m.{i}", "Local/8001"),
            200.0 + i)
    assert len(board.early_dials) <= agent_state.EARLY_DIALS
