"""The pure machines on three findings of the whole-product run (issue #12): a member whose
device cannot ring (agent ``unreachable``, "phone offline"), calls lost during an AMI outage
(ended when the connection was lost), and click to dial (an ``outbound`` call). No I/O."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cti import agent_state, call_state
from cti.agent_state import AgentAction, AgentBoard, AgentStatus, check_action, new_board
from cti.call_state import (
    CallConnected,
    CallCreated,
    CallEnded,
    CallKind,
    OutboundDialled,
    Outcome,
    RecordingStarted,
)
from cti.dispatcher import Dispatcher
from cti.errors import AgentActionError
from cti.events import (
    AmiEvent,
    ChannelStatus,
    Hangup,
    MixMonitorStart,
    Newchannel,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberStatus,
)

A1 = "Local/8091@agents/n"
S = AgentStatus
NOT_IN_USE, IN_USE, INVALID, UNAVAILABLE = 1, 2, 4, 5


def added(status: int, *, paused: bool = False) -> QueueMemberAdded:
    return QueueMemberAdded("aftersales", A1, "8091 Agent", "dynamic", paused,
                            "lunch" if paused else "", False, status, 0)


def device(status: int, *, paused: bool = False) -> QueueMemberStatus:
    return QueueMemberStatus("aftersales", A1, "8091 Agent", "dynamic", paused,
                             "lunch" if paused else "", False, status, 0)


def pause(paused: bool, status: int) -> QueueMemberPause:
    return QueueMemberPause("aftersales", A1, "8091 Agent", "dynamic", paused,
                            "lunch" if paused else "", False, status, 0)


def drive(events: Sequence[AmiEvent]) -> tuple[AgentBoard, list[agent_state.AgentTransition]]:
    board = new_board()
    effects: list[agent_state.AgentTransition] = []
    for i, event in enumerate(events):
        effects.extend(agent_state.transition(board, event, 100.0 + i)[1])
    return board, effects


# -- rule 10: the phone


@pytest.mark.parametrize(("events", "expected"), [
    ([added(INVALID)], S.UNREACHABLE),  # logged in with a device that does not exist
    ([added(UNAVAILABLE)], S.UNREACHABLE),  # unregistered
    ([added(NOT_IN_USE)], S.AVAILABLE),
    ([added(NOT_IN_USE), device(UNAVAILABLE)], S.UNREACHABLE),
    ([added(UNAVAILABLE), device(NOT_IN_USE)], S.AVAILABLE),  # registered again
    ([added(NOT_IN_USE), device(IN_USE)], S.AVAILABLE),  # in use is not offline
    ([added(INVALID), pause(True, INVALID)], S.PAUSED),  # a pause wins
    ([added(INVALID), pause(True, INVALID), pause(False, INVALID)], S.UNREACHABLE),
    ([added(NOT_IN_USE), pause(True, NOT_IN_USE), device(UNAVAILABLE),
      pause(False, UNAVAILABLE)], S.UNREACHABLE),
    ([added(INVALID, paused=True)], S.PAUSED),
])
def test_an_agent_whose_phone_cannot_ring_is_unreachable_never_available(
        events: list[AmiEvent], expected: AgentStatus) -> None:
    board, _ = drive(events)
    assert board.agents[A1].status is expected
    offline = board.agents[A1].device_status in agent_state.OFFLINE_DEVICE_STATES
    assert agent_state.snapshot(board)[0].phone_offline is offline


def test_phone_going_offline_and_back_is_logged_as_transitions() -> None:
    _, effects = drive([added(NOT_IN_USE), device(UNAVAILABLE), device(NOT_IN_USE)])
    assert [(e.old, e.new, e.cause) for e in effects] == [
        (S.LOGGED_OUT, S.AVAILABLE, "QueueMemberAdded"),
        (S.AVAILABLE, S.UNREACHABLE, "QueueMemberStatus: phone offline"),
        (S.UNREACHABLE, S.AVAILABLE, "QueueMemberStatus: phone back"),
    ]


def test_an_unreachable_agent_may_pause_or_log_out_but_not_dial() -> None:
    board, _ = drive([added(INVALID)])
    agent = board.agents[A1]
    check_action(agent, AgentAction.PAUSE)
    check_action(agent, AgentAction.LOGOUT)
    with pytest.raises(AgentActionError) as info:
        check_action(agent, AgentAction.DIAL)
    assert info.value.error_id == "not_available"


def test_resync_reads_the_device_state_of_each_member() -> None:
    board = new_board()
    agent_state.resync(board, [
        QueueMember("aftersales", A1, "8091 Agent", "dynamic", False, "", False, INVALID, 0,
                    0, 0, "r-1"),
        QueueMember("aftersales", "Local/8090@agents/n", "8090 Agent", "dynamic", False, "",
                    False, NOT_IN_USE, 0, 0, 0, "r-1"),
    ], 50.0)
    assert board.agents[A1].status is S.UNREACHABLE
    assert board.agents["Local/8090@agents/n"].status is S.AVAILABLE


# -- rule 9: calls lost during an outage end when the connection was lost

CALL = "1796199319.0"


def _answered_call(dispatcher: Dispatcher) -> None:
    channel = "Local/4008000000@from-trunk-00000000;2"
    dispatcher.handle(Newchannel(channel.replace(";2", ";1"), CALL, CALL, "13800138000",
                                 "Merchant", "merchant-sim", "s"), 10.0)
    dispatcher.handle(OutboundDialled(CALL, channel, "Local/8090@agents/n", "13800138000"),
                      12.0)


def test_a_call_gone_after_a_reconnect_ends_when_the_connection_was_lost() -> None:
    dispatcher = Dispatcher()
    _answered_call(dispatcher)
    effects = dispatcher.resync(500.0, channels=(), queue_status=None, queue_summary=None,
                                lost_at=40.0)
    [ended] = [e for e in effects if isinstance(e, CallEnded)]
    assert ended.at == 40.0 and ended.lost
    assert ended.talk_s == pytest.approx(28.0)  # 12 -> 40, not the 460 s of the outage


def test_without_a_loss_instant_a_vanished_call_ends_at_the_resync() -> None:
    dispatcher = Dispatcher()
    _answered_call(dispatcher)
    [ended] = [e for e in dispatcher.resync(500.0, channels=()) if isinstance(e, CallEnded)]
    assert ended.at == 500.0


def test_an_unread_list_rebuilds_nothing_it_would_have_rebuilt() -> None:
    dispatcher = Dispatcher()
    _answered_call(dispatcher)
    agents = dispatcher.state.agents
    agent_state.transition(agents, added(NOT_IN_USE), 5.0)
    effects = dispatcher.resync(500.0, channels=None, queue_status=None, queue_summary=None,
                                lost_at=40.0)
    assert effects == []
    assert CALL in dispatcher.state.calls.calls  # no channel list: no call ends
    assert agents.agents[A1].status is S.AVAILABLE  # no QueueStatus: nobody logged out


def test_status_items_are_the_channel_list_of_a_resync() -> None:
    dispatcher = Dispatcher()
    _answered_call(dispatcher)
    live = ChannelStatus("Local/4008000000@from-trunk-00000000;1", CALL, CALL, "13800138000",
                         "Merchant", "merchant-sim", "s", 6, None, "Wait", "60", 30, "r-1")
    effects = dispatcher.resync(500.0, channels=[live], lost_at=40.0)
    assert not [e for e in effects if isinstance(e, CallEnded)]


# -- rule 3: click to dial


def test_an_answered_click_to_dial_is_an_outbound_call_connected_to_the_agent() -> None:
    board = call_state.new_board()
    leg = "Local/8090@agents-00000004;1"
    _, created = call_state.transition(
        board, Newchannel(leg, "1796199400.7", "1796199400.7", None, None, "agents", "8090"),
        1.0)
    assert [e.kind for e in created if isinstance(e, CallCreated)] == [CallKind.INTERNAL]
    _, started = call_state.transition(
        board, MixMonitorStart(leg, "1796199400.7", "1796199400.7"), 2.0)
    _, dialled = call_state.transition(
        board, OutboundDialled("1796199400.7", leg, "Local/8090@agents/n", "13800138000"), 2.1)
    assert [type(e).__name__ for e in dialled if not
            isinstance(e, call_state.CallEventLogged)] == [
        "RecordingStarted", "CallConnected"]  # the early recording is announced again
    [again] = [e for e in dialled if isinstance(e, RecordingStarted)]
    assert again.path == "/var/spool/asterisk/monitor/1796199400.7.wav" and again.at == 2.0
    [connected] = [e for e in dialled if isinstance(e, CallConnected)]
    assert (connected.agent_interface, connected.queue) == ("Local/8090@agents/n", "")
    call = board.calls["1796199400.7"]
    assert (call.kind, call.caller) == (CallKind.OUTBOUND, "13800138000")
    assert started  # MixMonitorStart was tracked before the reclassification
    _, ended = call_state.transition(
        board, Hangup(leg, "1796199400.7", "1796199400.7", 16, "Normal Clearing"), 9.1)
    [end] = [e for e in ended if isinstance(e, CallEnded)]
    assert (end.kind, end.outcome, end.talk_s) == (CallKind.OUTBOUND, Outcome.ANSWERED, 7.0)


def test_the_agent_who_dialled_is_on_call_until_its_leg_hangs_up() -> None:
    board = new_board()
    leg_id = "1796199400.7"
    agent_state.transition(board, QueueMemberAdded(
        "aftersales", "Local/8090@agents/n", "8090", "dynamic", False, "", False, 1, 0), 1.0)
    agent_state.transition(board, OutboundDialled(leg_id, "Local/8090@agents-00000004;1",
                                                  "Local/8090@agents/n", "13800138000"), 2.0)
    agent = board.agents["Local/8090@agents/n"]
    assert (agent.status, agent.linked_id) == (S.ON_CALL, leg_id)
    agent_state.transition(board, Hangup("Local/8090@agents-00000004;1", leg_id, leg_id, 16,
                                         "Normal Clearing"), 9.0)
    assert agent.status is S.WRAP_UP
