"""Every scenario replayed framer -> tracker -> decoder -> dispatcher, at the captured pace.

``now`` is the capture's own recv() clock (``.ami-timing.tsv``), so times computed by the
tracker can be compared with what Asterisk reported (HoldTime, TalkTime).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from cti import agent_state, call_state
from cti.agent_state import AgentStatus, AgentTransition, pause_seconds
from cti.ami_protocol import ActionResult, ActionTracker, AmiFramer, AmiMessage
from cti.call_state import (
    CallConfig,
    CallConnected,
    CallCreated,
    CallEnded,
    CallEventLogged,
    CallKind,
    CallQueued,
    CallState,
    Outcome,
    PrefetchMerchant,
    RecordingStarted,
    RecordingStopped,
    ScreenPop,
    interface_channel_prefix,
    parse_recording_path,
    recording_path,
)
from cti.dispatcher import Dispatcher, Effect
from cti.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    Hangup,
    IvrResult,
    MixMonitorStart,
    Newchannel,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueMemberAdded,
)
from tests.conftest import ASTERISK_FIXTURES

E = TypeVar("E")

A8001 = "Local/8001@agents/n"
A8002 = "Local/8002@agents/n"
A8003 = "Local/8003@agents/n"
A8099 = "Local/8099@agents/n"


@dataclass
class Replay:
    dispatcher: Dispatcher
    effects: list[tuple[float, Effect]] = field(default_factory=list)
    results: list[ActionResult] = field(default_factory=list)
    end: float = 0.0

    def of(self, kind: type[E]) -> list[E]:
        return [e for _, e in self.effects if isinstance(e, kind)]

    def ended(self) -> list[CallEnded]:
        return self.of(CallEnded)

    def log(self, kind: str) -> list[CallEventLogged]:
        return [e for e in self.of(CallEventLogged) if e.kind == kind]

    def agent(self, interface: str) -> agent_state.Agent:
        return self.dispatcher.state.agents.agents[interface]

    def transitions(self, interface: str) -> list[tuple[str, str, str]]:
        return [(t.old.value, t.new.value, t.cause) for t in self.of(AgentTransition)
                if t.interface == interface]


def chunks_with_time(name: str) -> list[tuple[bytes, float]]:
    data = (ASTERISK_FIXTURES / name).read_bytes()
    out = []
    for line in (ASTERISK_FIXTURES / name).with_suffix(".ami-timing.tsv").read_text().splitlines():
        if not line.startswith("#"):
            offset, length, t = line.split("\t")
            out.append((data[int(offset) : int(offset) + int(length)], float(t)))
    return out


def stream(name: str) -> list[tuple[AmiMessage, float]]:
    """Every message of a capture with its receive time."""
    framer = AmiFramer()
    return [(frame, t) for chunk, t in chunks_with_time(name) for frame in framer.feed(chunk)
            if isinstance(frame, AmiMessage)]


def sent_actions(name: str) -> list[tuple[str, str]]:
    text = (ASTERISK_FIXTURES / name).with_suffix(".ami-actions.txt").read_text()
    return [(aid, act) for act, aid in re.findall(r"^Action: (\S+)\nActionID: (\S+)$", text, re.M)]


def replay(name: str, dispatcher: Dispatcher | None = None, *, offset: float = 0.0,
           start_after: str | None = None, channels: tuple[AmiMessage, ...] = ()) -> Replay:
    """Run a capture through the pipeline an AMI client would run.

    ``start_after``: the bridge "starts" when that ActionID's result arrives: earlier events
    are not dispatched, and the replay resyncs from that result plus ``channels``
    (CoreShowChannel items) — a bridge restarted mid-call.
    """
    run = Replay(dispatcher or Dispatcher())
    framer, tracker = AmiFramer(), ActionTracker()
    for action_id, action in sent_actions(name):
        tracker.register(action_id, action)
    live = start_after is None
    for chunk, t in chunks_with_time(name):
        now = offset + t
        run.end = now
        for frame in framer.feed(chunk):
            assert isinstance(frame, AmiMessage) or frame.__class__.__name__ == "AmiBanner"
            if not isinstance(frame, AmiMessage):
                continue
            routed = tracker.feed(frame)
            if isinstance(routed, ActionResult):
                run.results.append(routed)
                if routed.action_id == start_after:
                    live = True
                    resynced = run.dispatcher.resync(now, channels=channels or None,
                                                     queue_status=routed)
                    run.effects += [(now, e) for e in resynced]
            elif routed is frame and live:
                run.effects += [(now, e) for e in run.dispatcher.handle_message(frame, now)]
    return run


def resync_from(run: Replay) -> list[Effect]:
    """Resync with the list results a reconnecting client got (scenario 08, connection 2)."""
    by_action = {r.action: r for r in run.results}
    return run.dispatcher.resync(
        run.end,
        channels=by_action["CoreShowChannels"],
        queue_status=by_action["QueueStatus"],
        queue_summary=by_action["QueueSummary"],
    )


# -- 01 answered call


def test_answered_call_is_tracked_from_ivr_to_end_with_its_merchant_and_talk_time() -> None:
    run = replay("01-agent-login-and-answered-call.ami")
    (ended,) = run.ended()
    assert ended.outcome is Outcome.ANSWERED
    assert ended.kind is CallKind.INBOUND
    assert (ended.caller, ended.merchant_number, ended.intent) == (
        "13800138000", "123456789012345", "repair",
    )
    assert (ended.queue, ended.agent_interface) == ("aftersales", A8001)
    assert round(ended.talk_s) == 12  # Asterisk's AgentComplete TalkTime: 12
    assert round(ended.wait_s) == 2  # AgentConnect HoldTime: 2
    assert ended.hangup_cause == 16
    assert run.dispatcher.state.calls.calls == {}


def test_merchant_is_prefetched_on_queue_join_before_the_screen_pop_of_the_ringing_agent() -> None:
    run = replay("01-agent-login-and-answered-call.ami")
    kinds = [type(e).__name__ for _, e in run.effects
             if isinstance(e, PrefetchMerchant | ScreenPop | CallConnected)]
    assert kinds == ["PrefetchMerchant", "ScreenPop", "CallConnected"]
    assert run.of(PrefetchMerchant) == [
        PrefetchMerchant("1795330137.0", "123456789012345", "13800138000")
    ]
    assert run.of(ScreenPop) == [
        ScreenPop(A8001, "1795330137.0", "aftersales", "13800138000", "123456789012345")
    ]
    (ivr,) = run.log("ivr_result")
    assert dict(ivr.data)["path"] == "hello>menu:2>merchant:ok>intent:1"


def test_the_call_knows_its_agent_legs_channel_until_it_ends() -> None:
    # Rule 10: Hangup and Atxfer act on the agent's leg, Redirect on the caller's channel.
    dispatcher = Dispatcher()
    frames = stream("01-agent-login-and-answered-call.ami")
    first_complete = next(i for i, (f, _) in enumerate(frames) if f.name == "AgentComplete")
    for frame, t in frames[:first_complete]:
        dispatcher.handle_message(frame, t)
    call = dispatcher.state.calls.calls["1795330137.0"]
    leg = dispatcher.state.agents.agents[A8001].leg_unique_id
    assert leg is not None
    assert call.agent_channels[leg] == "Local/8001@agents-00000001;1"
    assert call.caller_channel == "Local/4008000000@from-trunk-00000000;2"
    for frame, t in frames[first_complete:]:
        dispatcher.handle_message(frame, t)
    assert "1795330137.0" not in dispatcher.state.calls.calls


def test_recording_path_follows_the_uniqueid_of_the_caller_channel() -> None:
    run = replay("01-agent-login-and-answered-call.ami")
    (started,) = run.of(RecordingStarted)
    assert started.path == "/var/spool/asterisk/monitor/1795330137.1.wav"
    (stopped,) = run.of(RecordingStopped)  # no MixMonitorStop: the end is the hang-up
    assert stopped.path == started.path
    assert round(stopped.at - started.at) == 12


def test_mixmonitor_filename_wins_over_the_template_when_the_dialplan_class_is_read() -> None:
    config = CallConfig(recording_template="/elsewhere/{unique_id}.wav")
    read_all = replay("01-agent-login-and-answered-call.read-all.ami", Dispatcher(config))
    assert [e.path for e in read_all.of(RecordingStarted)] == [
        "/var/spool/asterisk/monitor/1795330171.1.wav"
    ]
    cti_classes = replay("01-agent-login-and-answered-call.ami", Dispatcher(config))
    assert [e.path for e in cti_classes.of(RecordingStarted)] == ["/elsewhere/1795330137.1.wav"]


def test_answering_agent_goes_ringing_on_call_wrap_up_then_available() -> None:
    run = replay("01-agent-login-and-answered-call.ami")
    assert run.transitions(A8001) == [
        ("logged_out", "available", "QueueMemberAdded"),
        ("available", "ringing", "AgentCalled"),
        ("ringing", "on_call", "AgentConnect"),
        ("on_call", "wrap_up", "AgentComplete"),
    ]
    run.dispatcher.tick(run.end + 5)
    assert run.agent(A8001).status is AgentStatus.AVAILABLE
    assert run.agent(A8002).status is AgentStatus.AVAILABLE


# -- 02 abandoned


def test_caller_who_gives_up_in_queue_is_abandoned_with_its_wait() -> None:
    run = replay("02-abandoned-in-queue.ami")
    (ended,) = run.ended()
    assert ended.outcome is Outcome.ABANDONED
    assert ended.talk_s == 0
    assert 8 <= ended.wait_s < 9  # Asterisk: HoldTime 8
    assert run.of(ScreenPop) == []
    assert len(run.of(PrefetchMerchant)) == 1
    for agent in (A8001, A8002):
        assert (run.agent(agent).status, run.agent(agent).state_reason) == (
            AgentStatus.PAUSED, "lunch",
        )


# -- 12 key 1 in the queue: a keep-my-place call-back booked


def test_a_caller_who_books_a_call_back_from_the_queue_ends_callback_requested_not_abandoned(
) -> None:
    run = replay("12-queue-callback.ami")
    (ended,) = run.ended()
    assert ended.outcome is Outcome.CALLBACK_REQUESTED
    assert (ended.queue, ended.caller, ended.talk_s) == ("aftersales", "13800138000", 0)
    assert 1.5 <= ended.wait_s < 3  # Asterisk: CcQueueWait 2, until the key (QueueCallerLeave)
    (key,) = run.log("queue_exit_key")
    assert dict(key.data) == {"queue": "aftersales", "callback": "requested", "wait_s": "2",
                              "position": "1"}
    assert run.log("abandoned") == []


def test_a_call_back_request_that_was_not_booked_leaves_the_outcome_alone() -> None:
    # The same capture with the route's answer changed to "cancelled" (the caller pressed *):
    # the dialplan would requeue; here the caller then hangs up unanswered, which is "failed".
    dispatcher = Dispatcher()
    effects: list[Effect] = []
    for message, t in stream("12-queue-callback.ami"):
        if message.get("UserEvent") == "CcCallbackRequest":
            message = AmiMessage(message.text.replace(
                "CcCallbackOutcome: requested", "CcCallbackOutcome: cancelled"))
        effects += dispatcher.handle_message(message, t)
    (ended,) = [e for e in effects if isinstance(e, CallEnded)]
    assert ended.outcome is Outcome.FAILED
    (key,) = [e for e in effects if isinstance(e, CallEventLogged) and e.kind == "queue_exit_key"]
    assert dict(key.data)["callback"] == "cancelled"


# -- 03 ring no answer, then answer


def test_ring_no_answer_moves_on_to_the_next_agent_who_answers() -> None:
    run = replay("03-ring-no-answer-then-answer.ami")
    (ended,) = run.ended()
    assert ended.outcome is Outcome.ANSWERED
    assert ended.agent_interface == A8002
    assert [p.agent_interface for p in run.of(ScreenPop)] == [A8099, A8002]
    (rna,) = run.log("ring_no_answer")
    assert dict(rna.data) == {"agent": A8099, "ring_ms": "15000"}
    assert round(ended.wait_s) == 19  # AgentConnect HoldTime: 19
    assert round(ended.talk_s) == 6
    assert run.transitions(A8099) == [
        ("logged_out", "available", "QueueMemberAdded"),
        ("available", "ringing", "AgentCalled"),
        ("ringing", "available", "AgentRingNoAnswer"),
    ]
    assert run.transitions(A8002)[-2:] == [
        ("ringing", "on_call", "AgentConnect"),
        ("on_call", "wrap_up", "AgentComplete"),
    ]


def test_call_goes_back_to_queued_while_nobody_rings() -> None:
    dispatcher = Dispatcher()
    states: list[CallState] = []
    for message, t in stream("03-ring-no-answer-then-answer.ami"):
        dispatcher.handle_message(message, t)
        call = dispatcher.state.calls.calls.get("1795330233.0")
        if call is not None and (not states or states[-1] != call.state):
            states.append(call.state)
    assert states == [CallState.IVR, CallState.QUEUED, CallState.RINGING, CallState.QUEUED,
                      CallState.RINGING, CallState.CONNECTED, CallState.WRAP_UP]


# -- 04 pause / unpause / logoff


def test_pause_reasons_are_accounted_by_the_bridge_itself() -> None:
    run = replay("04-pause-unpause-with-reason-and-logoff.ami")
    a8001, a8002 = run.agent(A8001), run.agent(A8002)
    assert pause_seconds(a8002, run.end) == pytest.approx({"lunch": 1.513 - 1.009})
    assert pause_seconds(a8001, run.end) == pytest.approx({"training": 1.514 - 1.010})
    assert a8001.status is AgentStatus.LOGGED_OUT
    assert a8002.status is AgentStatus.AVAILABLE
    assert run.transitions(A8001) == [
        ("logged_out", "available", "QueueMemberAdded"),
        ("available", "paused", "QueueMemberPause"),
        ("paused", "available", "QueueMemberPause"),
        ("available", "logged_out", "QueueMemberRemoved"),
    ]
    seconds = agent_state.state_seconds(a8001, run.end)
    assert seconds[AgentStatus.AVAILABLE] == pytest.approx((1.010 - 0.503) + (2.016 - 1.514))


# -- 05 hang-up in the IVR


def test_hang_up_during_the_ivr_is_an_ivr_only_call() -> None:
    run = replay("05-hangup-during-ivr.ami")
    (ended,) = run.ended()
    assert ended.outcome is Outcome.IVR_ONLY
    assert ended.caller == "13800138000"
    assert (ended.queue, ended.merchant_number, ended.wait_s, ended.talk_s) == (None, None, 0, 0)
    assert run.of(CallQueued) == [] and run.of(PrefetchMerchant) == []


# -- 06 blind transfer


def test_blind_transfer_requeues_the_call_and_talk_time_comes_from_our_timeline() -> None:
    run = replay("06-blind-transfer.ami")
    assert [(q.queue, q.transferred) for q in run.of(CallQueued)] == [
        ("aftersales", False), ("presales", True),
    ]
    assert [c.agent_interface for c in run.of(CallConnected)] == [A8001, A8003]
    (ended,) = run.ended()
    assert ended.outcome is Outcome.ANSWERED
    assert (ended.queue, ended.agent_interface, ended.transfers) == ("presales", A8003, 1)
    legs = {dict(e.data)["agent"]: float(dict(e.data)["talk_s"])
            for e in run.log("agent_leg_ended")}
    assert legs == pytest.approx({A8001: 4.0, A8003: 21.8}, abs=0.05)
    # Asterisk said 22 (presales) and 28 (aftersales, sent only at the end, no Dest fields).
    assert ended.talk_s == pytest.approx(25.8, abs=0.05)
    assert [dict(e.data)["asterisk_talk_time"] for e in run.log("agent_complete_late")] == ["28"]
    assert round(ended.wait_s) == 4


def test_transfer_frees_the_first_agent_at_the_redirect_not_at_the_final_hang_up() -> None:
    run = replay("06-blind-transfer.ami")
    wrap = [t for t in run.of(AgentTransition) if t.interface == A8001
            and t.new is AgentStatus.WRAP_UP]
    assert [(t.cause, round(t.at, 3)) for t in wrap] == [("Hangup", 19.373)]
    assert run.agent(A8001).status is AgentStatus.AVAILABLE  # wrap-up over before the end


def test_transfer_gives_each_queue_its_recording_file() -> None:
    run = replay("06-blind-transfer.ami")
    assert [r.path for r in run.of(RecordingStarted)] == [
        "/var/spool/asterisk/monitor/1795330300.1.wav",
        "/var/spool/asterisk/monitor/1795330300.1-presales.wav",
    ]
    stops = run.of(RecordingStopped)
    assert [(s.path.rsplit("/", 1)[1], round(s.at, 3)) for s in stops] == [
        ("1795330300.1.wav", 19.373),  # MixMonitorStop from StopMixMonitor()
        ("1795330300.1-presales.wav", 43.146),  # the hang-up
    ]


# -- 07 supervisor spy


def test_supervisor_spy_legs_are_internal_calls_and_never_merchant_calls() -> None:
    run = replay("07-supervisor-spy.ami")
    merchant = [e for e in run.ended() if e.kind is CallKind.INBOUND]
    internal = [e for e in run.ended() if e.kind is CallKind.INTERNAL]
    assert [e.linked_id for e in merchant] == ["1795330349.0"]
    assert merchant[0].outcome is Outcome.ANSWERED
    assert [e.linked_id for e in internal] == ["1795330364.4", "1795330369.6", "1795330375.8"]
    assert {e.outcome for e in internal} == {Outcome.INTERNAL}
    assert {p.linked_id for p in run.of(PrefetchMerchant)} == {"1795330349.0"}
    assert {p.linked_id for p in run.of(ScreenPop)} == {"1795330349.0"}
    spies = run.log("spy_started")
    assert [(e.linked_id, dict(e.data)["spyer"]) for e in spies] == [
        ("1795330349.0", "Local/9000@supervisor-00000002;1"),
        ("1795330349.0", "Local/9000@supervisor-00000003;1"),
        ("1795330349.0", "Local/9000@supervisor-00000004;1"),
    ]
    assert round(merchant[0].talk_s) == 30


# -- 08 Asterisk restart, then resync


def test_restart_abandons_the_waiting_caller_with_cause_0() -> None:
    run = replay("08-asterisk-restart.ami")
    (ended,) = run.ended()
    assert (ended.outcome, ended.hangup_cause) == (Outcome.ABANDONED, 0)
    assert run.dispatcher.state.calls.calls == {}
    for agent in (A8001, A8002):
        assert (run.agent(agent).status, run.agent(agent).state_reason) == (
            AgentStatus.PAUSED, "meeting",
        )


def test_resync_after_the_restart_keeps_the_paused_members_without_spurious_transitions() -> None:
    first = replay("08-asterisk-restart.ami")
    second = replay("08-asterisk-restart.reconnect.ami", first.dispatcher, offset=first.end + 1)
    effects = resync_from(second)
    assert [e for e in effects if isinstance(e, AgentTransition)] == []
    assert second.dispatcher.state.calls.calls == {}
    queues = second.dispatcher.state.calls.queues
    assert (queues["aftersales"].logged_in, queues["aftersales"].available) == (2, 0)


def test_a_restarted_bridge_adopts_the_paused_members_with_their_reason() -> None:
    run = replay("08-asterisk-restart.reconnect.ami")
    effects = resync_from(run)
    moves = [(t.interface, t.old, t.new, t.new_reason, t.cause) for t in effects
             if isinstance(t, AgentTransition)]
    assert moves == [
        (A8001, AgentStatus.LOGGED_OUT, AgentStatus.PAUSED, "meeting", "resync"),
        (A8002, AgentStatus.LOGGED_OUT, AgentStatus.PAUSED, "meeting", "resync"),
    ]
    assert run.agent(A8001).memberships == {"aftersales": True}


def _restart_call_channels() -> tuple[AmiMessage, ...]:
    """CoreShowChannel items for the call of scenario 08 while it waits in the queue.

    That connection sent no CoreShowChannels while the call was up, so the two items are
    built with the documented CoreShowChannel headers and this call's own channel values.
    """
    return tuple(
        AmiMessage.from_headers([
            ("Event", "CoreShowChannel"), ("ActionID", "s08-boot"), ("Channel", channel),
            ("ChannelState", "6"), ("CallerIDNum", "13800138000"), ("Context", context),
            ("Exten", exten), ("Uniqueid", uid), ("Linkedid", "1795330401.0"), ("BridgeId", ""),
            ("Application", app), ("Duration", "00:00:14"),
        ])
        for channel, uid, context, exten, app in [
            ("Local/4008000000@from-trunk-00000000;1", "1795330401.0", "merchant-sim", "s",
             "Wait"),
            ("Local/4008000000@from-trunk-00000000;2", "1795330401.1", "from-trunk",
             "4008000000", "Queue"),
        ]
    )


def test_a_bridge_started_mid_call_adopts_the_waiting_caller_and_sees_it_abandon() -> None:
    # The bridge "starts" when its QueueStatus result (s08-006) arrives: it holds the
    # QueueEntry of the waiting caller and the paused members.
    run = replay("08-asterisk-restart.ami", start_after="s08-006",
                 channels=_restart_call_channels())
    (created,) = run.of(CallCreated)
    assert (created.linked_id, created.kind, created.adopted) == (
        "1795330401.0", CallKind.INBOUND, True,
    )
    assert run.of(PrefetchMerchant) == [PrefetchMerchant("1795330401.0", None, "13800138000")]
    (ended,) = run.ended()
    assert (ended.outcome, ended.adopted, ended.hangup_cause) == (Outcome.ABANDONED, True, 0)
    assert ended.wait_s == pytest.approx(17.485 - (15.362 - 2))  # QueueEntry Wait: 2
    moves = {(t.interface, t.new, t.new_reason) for t in run.of(AgentTransition)}
    assert moves == {(A8001, AgentStatus.PAUSED, "meeting"),
                     (A8002, AgentStatus.PAUSED, "meeting")}


def test_resync_adopts_a_queued_call_from_queue_entry_and_prefetches_its_merchant() -> None:
    status = next(r for r in replay("08-asterisk-restart.ami").results
                  if r.action_id == "s08-006")
    channel = AmiMessage.from_headers([
        ("Event", "CoreShowChannel"), ("Channel", "Local/4008000000@from-trunk-00000000;2"),
        ("CallerIDNum", "13800138000"), ("Context", "from-trunk"), ("Exten", "4008000000"),
        ("Uniqueid", "1795330401.1"), ("Linkedid", "1795330401.0"), ("Application", "Queue"),
        ("Duration", "00:00:14"),
    ])
    dispatcher = Dispatcher()
    effects = dispatcher.resync(100.0, channels=[channel], queue_status=status)
    call = dispatcher.state.calls.calls["1795330401.0"]
    assert (call.state, call.queue, call.adopted) == (CallState.QUEUED, "aftersales", True)
    assert call.visits[0].joined_at == 98.0  # QueueEntry Wait: 2
    assert PrefetchMerchant("1795330401.0", None, "13800138000") in effects
    assert {a.status for a in dispatcher.state.agents.agents.values()} == {AgentStatus.PAUSED}


def test_resync_ends_calls_that_vanished_while_disconnected() -> None:
    dispatcher = Dispatcher()
    for message, t in stream("01-agent-login-and-answered-call.ami"):
        if t > 20:
            break  # the connection drops while the call is connected
        dispatcher.handle_message(message, t)
    assert list(dispatcher.state.calls.calls) == ["1795330137.0"]
    effects = dispatcher.resync(60.0, channels=[])
    (ended,) = [e for e in effects if isinstance(e, CallEnded)]
    assert (ended.outcome, ended.lost) == (Outcome.ANSWERED, True)
    assert dispatcher.state.calls.calls == {}
    assert dispatcher.state.agents.agents[A8001].status is AgentStatus.LOGGED_OUT


# -- 09 burst


BURST_ANSWERS = {  # caller number -> agent, from the README's answer order
    "04": "8001", "08": "8002", "12": "8001", "20": "8003", "16": "8002",
    "01": "8003", "02": "8004", "03": "8002", "05": "8004", "06": "8001", "09": "8004",
    "07": "8003", "10": "8002", "11": "8001", "14": "8003", "13": "8004", "15": "8001",
    "17": "8002", "18": "8003", "19": "8004",
}


def test_burst_accounts_for_every_one_of_the_20_calls() -> None:
    run = replay("09-burst.ami")
    ended = run.ended()
    assert len(ended) == 20 == len({e.linked_id for e in ended})
    assert {e.outcome for e in ended} == {Outcome.ANSWERED}
    by_caller = {e.caller: e for e in ended}
    assert set(by_caller) == {f"138001380{n:02d}" for n in range(1, 21)}
    for n, agent in BURST_ANSWERS.items():
        call = by_caller[f"138001380{n}"]
        assert call.agent_interface == f"Local/{agent}@agents/n", n
        assert call.merchant_number == f"8888000000000{n}"
        assert call.queue == ("presales" if int(n) % 4 == 0 else "aftersales")
        assert round(call.talk_s) == 6
    assert max(e.wait_s for e in ended) == pytest.approx(52, abs=1)
    assert run.dispatcher.state.calls.calls == {}
    run.dispatcher.tick(run.end + 10)
    assert {a.status for a in run.dispatcher.state.agents.agents.values()} == {
        AgentStatus.AVAILABLE
    }
    assert len(run.of(ScreenPop)) == 20


# -- the dispatcher's per-event boundary


def test_a_broken_event_is_logged_with_its_linked_id_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = Dispatcher()
    messages = [m for m, _ in stream("01-agent-login-and-answered-call.ami")]
    join = next(m for m in messages if m.name == "QueueCallerJoin")
    broken = AmiMessage(join.text.replace("Position: 1", "Position: first"))
    caplog.set_level(logging.ERROR, logger="cti.dispatcher")
    for message in messages:
        out = dispatcher.handle_message(broken if message is join else message, 20.0)
        if message is join:
            assert out == []
    assert "QueueCallerJoin event failed (linked id 1795330137.0)" in caplog.text
    # The call still ends, answered: the AgentCalled/AgentConnect that followed were routed.
    assert dispatcher.state.calls.calls == {}
    assert dispatcher.state.agents.agents[A8001].status is AgentStatus.WRAP_UP


def test_an_exception_inside_a_machine_does_not_escape_the_dispatcher(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("bug in a handler")

    handlers = dict(call_state.EVENT_HANDLERS)
    handlers[Hangup] = explode
    monkeypatch.setattr(call_state, "EVENT_HANDLERS", handlers)
    caplog.set_level(logging.ERROR, logger="cti.dispatcher")
    run = replay("05-hangup-during-ivr.ami")
    assert run.ended() == []
    assert "Hangup event failed (linked id 1795330285.0)" in caplog.text


def test_agent_transitions_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cti.dispatcher")
    replay("03-ring-no-answer-then-answer.ami")
    assert "agent Local/8099@agents/n: available -> ringing (AgentCalled)" in caplog.messages
    assert "agent Local/8099@agents/n: ringing -> available (AgentRingNoAnswer)" in caplog.messages


# -- helpers of the module


def test_recording_template_and_its_inverse_parser_agree() -> None:
    config = CallConfig()
    first = recording_path(config.recording_template, unique_id="1795330300.1",
                           linked_id="1795330300.0", queue="aftersales")
    second = recording_path(config.transfer_recording_template, unique_id="1795330300.1",
                            linked_id="1795330300.0", queue="presales")
    assert parse_recording_path(first, config) == ("1795330300.1", None)
    assert parse_recording_path(second, config) == ("1795330300.1", "presales")
    assert parse_recording_path("/etc/passwd", config) is None


@pytest.mark.parametrize(
    ("interface", "channel"),
    [
        ("Local/8001@agents/n", "Local/8001@agents-00000001;1"),
        ("Local/8001@agents", "Local/8001@agents-00000001;2"),
        ("PJSIP/8001", "PJSIP/8001-0000002a"),
    ],
)
def test_member_interface_maps_to_its_leg_channel_names(interface: str, channel: str) -> None:
    assert channel.startswith(interface_channel_prefix(interface))
    assert not "PJSIP/80011-00000001".startswith(interface_channel_prefix("PJSIP/8001"))


# -- real phones: one channel per party, no Local pairs


def test_sip_call_with_one_channel_per_party_is_tracked_the_same_way() -> None:
    trunk, trunk_uid, call = "PJSIP/trunk-00000010", "1800000000.20", "1800000000.20"
    agent_leg, agent_uid = "PJSIP/8001-00000011", "1800000012.21"
    events = [
        (0.0, QueueMemberAdded("aftersales", "PJSIP/8001", "Agent 8001", "dynamic", False, "",
                               False, 1, 0)),
        (1.0, Newchannel(trunk, trunk_uid, call, "13900139000", None, "from-trunk",
                         "4008000000")),
        (9.0, IvrResult(trunk, trunk_uid, call, "13900139000", None, "aftersales",
                        "555566667777888", True, "install", "hello>menu:2", None, None)),
        (9.0, QueueCallerJoin("aftersales", trunk, trunk_uid, call, "13900139000", None, 1, 1)),
        (9.1, Newchannel(agent_leg, agent_uid, call, "13900139000", None, "from-internal",
                         "8001")),
        (9.1, AgentCalled("aftersales", "PJSIP/8001", "Agent 8001", trunk, trunk_uid, call,
                          "13900139000", agent_leg, agent_uid)),
        (13.0, MixMonitorStart(trunk, trunk_uid, call)),
        (13.0, AgentConnect("aftersales", "PJSIP/8001", "Agent 8001", trunk, trunk_uid, call,
                            agent_leg, agent_uid, 4, 4)),
        (73.0, AgentComplete("aftersales", "PJSIP/8001", "Agent 8001", trunk, trunk_uid, call,
                             agent_leg, agent_uid, 4, 60, "agent")),
        (73.0, Hangup(agent_leg, agent_uid, call, 16, "Normal Clearing")),
    ]
    dispatcher = Dispatcher()
    effects: list[Effect] = []
    for now, event in events:
        effects += dispatcher.handle(event, now)
    assert dispatcher.state.calls.calls[call].state is CallState.WRAP_UP  # trunk still up
    assert [e for e in effects if isinstance(e, CallEnded)] == []
    effects += dispatcher.handle(Hangup(trunk, trunk_uid, call, 16, "Normal Clearing"), 74.0)
    (ended,) = [e for e in effects if isinstance(e, CallEnded)]
    assert (ended.outcome, ended.agent_interface, ended.talk_s, ended.wait_s) == (
        Outcome.ANSWERED, "PJSIP/8001", 60.0, 4.0,
    )
    assert ended.merchant_number == "555566667777888"
    (recording,) = [e for e in effects if isinstance(e, RecordingStarted)]
    assert recording.path == "/var/spool/asterisk/monitor/1800000000.20.wav"
    assert [t.cause for t in effects if isinstance(t, AgentTransition)] == [
        "QueueMemberAdded", "AgentCalled", "AgentConnect", "AgentComplete",
    ]


# -- queue overflow: the dialplan moves an unanswered caller on to the fallback queue


def test_an_unanswered_caller_moved_to_the_fallback_queue_is_an_overflow_not_a_transfer(
        ) -> None:
    trunk, trunk_uid, call = "PJSIP/trunk-00000020", "1800000100.30", "1800000100.30"
    agent_leg, agent_uid = "PJSIP/8002-00000021", "1800000110.31"
    events = [
        (1.0, Newchannel(trunk, trunk_uid, call, "13900139000", None, "from-trunk",
                         "4008000000")),
        (9.0, QueueCallerJoin("presales", trunk, trunk_uid, call, "13900139000", None, 1, 1)),
        (69.0, QueueCallerLeave("presales", trunk, trunk_uid, call, 1, 0)),  # Queue() timed out
        (69.1, QueueCallerJoin("aftersales", trunk, trunk_uid, call, "13900139000", None, 1,
                               1)),
        (69.2, Newchannel(agent_leg, agent_uid, call, "13900139000", None, "from-internal",
                          "8002")),
        (69.2, AgentCalled("aftersales", "PJSIP/8002", "Agent 8002", trunk, trunk_uid, call,
                           "13900139000", agent_leg, agent_uid)),
        (72.0, MixMonitorStart(trunk, trunk_uid, call)),
        (72.0, AgentConnect("aftersales", "PJSIP/8002", "Agent 8002", trunk, trunk_uid, call,
                            agent_leg, agent_uid, 3, 3)),
        (90.0, Hangup(agent_leg, agent_uid, call, 16, "Normal Clearing")),
        (91.0, Hangup(trunk, trunk_uid, call, 16, "Normal Clearing")),
    ]
    dispatcher = Dispatcher()
    effects: list[Effect] = []
    for now, event in events:
        effects += dispatcher.handle(event, now)
        if isinstance(event, AgentCalled):
            assert dispatcher.state.calls.calls[call].overflow_from == "presales"
    queued = [e for e in effects if isinstance(e, CallQueued)]
    assert [(q.queue, q.transferred, q.overflow_from) for q in queued] == [
        ("presales", False, None), ("aftersales", False, "presales")]
    (ended,) = [e for e in effects if isinstance(e, CallEnded)]
    assert (ended.outcome, ended.queue, ended.transfers) == (Outcome.ANSWERED, "aftersales", 0)
    (recording,) = [e for e in effects if isinstance(e, RecordingStarted)]
    assert recording.path == "/var/spool/asterisk/monitor/1800000100.30.wav"  # first-visit name
    logged = [dict(e.data) for e in effects
              if isinstance(e, CallEventLogged) and e.kind == "queued"]
    assert logged[1].get("overflow_from") == "presales" and "transfer" not in logged[1]


def test_a_caller_sent_past_an_unstaffed_queue_overflows_from_the_ivrs_queue() -> None:
    trunk, trunk_uid, call = "PJSIP/trunk-00000030", "1800000200.40", "1800000200.40"
    events = [
        (1.0, Newchannel(trunk, trunk_uid, call, "13900139000", None, "from-trunk",
                         "4008000000")),
        (9.0, IvrResult(trunk, trunk_uid, call, "13900139000", None, "presales",
                        "555566667777888", True, "consult", "hello>menu:1", 15, None)),
        (9.0, QueueCallerJoin("night", trunk, trunk_uid, call, "13900139000", None, 1, 1)),
        (20.0, QueueCallerLeave("night", trunk, trunk_uid, call, 1, 0)),
        (20.0, QueueCallerJoin("complaints", trunk, trunk_uid, call, "13900139000", None, 1,
                               1)),
    ]
    dispatcher = Dispatcher()
    effects: list[Effect] = []
    for now, event in events:
        effects += dispatcher.handle(event, now)
    queued = [(q.queue, q.overflow_from) for q in effects if isinstance(q, CallQueued)]
    assert queued == [("night", "presales"), ("complaints", "presales")]  # the first kept
    assert dispatcher.state.calls.calls[call].overflow_from == "presales"
