"""The resync on the real bytes of fixtures ``10-status-resync`` (Asterisk 22.10.1, our
least-privilege account, a call up): ``Status`` decodes to the channel list,
``CoreShowChannels`` is refused, and a bridge that starts mid-call rebuilds the call and both
agents, one of them unreachable (its state interface is a device that does not exist)."""

from __future__ import annotations

import re

from cti.agent_state import AgentStatus
from cti.ami_protocol import ActionResult, ActionTracker, AmiFramer, AmiMessage
from cti.call_state import CallState
from cti.dispatcher import Dispatcher
from cti.events import ChannelStatus, decode_event
from tests.conftest import ASTERISK_FIXTURES

NAME = "10-status-resync.ami"
CALL = "1796199319.0"


def run_capture() -> tuple[dict[str, ActionResult], list[AmiMessage]]:
    """The capture through framer + tracker: results by action name, and the live events."""
    text = (ASTERISK_FIXTURES / NAME).with_suffix(".ami-actions.txt").read_text()
    tracker = ActionTracker()
    for action, action_id in re.findall(r"^Action: (\S+)\nActionID: (\S+)$", text, re.M):
        tracker.register(action_id, action,
                         final_event="OriginateResponse" if action == "Originate" else None)
    results: dict[str, ActionResult] = {}
    events: list[AmiMessage] = []
    for frame in AmiFramer().feed((ASTERISK_FIXTURES / NAME).read_bytes()):
        if not isinstance(frame, AmiMessage):
            continue
        routed = tracker.feed(frame)
        if isinstance(routed, ActionResult):
            results[routed.action] = routed
        elif routed is frame:
            events.append(frame)
    return results, events


def test_status_lists_every_channel_of_the_call_with_its_bridge() -> None:
    results, _ = run_capture()
    status = results["Status"]
    assert status.ok and status.complete is not None
    assert (status.complete.get("ListItems"), status.complete.get("Items")) == ("4", "4")
    channels = [decode_event(item) for item in status.items]
    assert all(isinstance(c, ChannelStatus) for c in channels)
    assert {c.linked_id for c in channels if isinstance(c, ChannelStatus)} == {CALL}
    bridged = sorted(c.channel for c in channels
                     if isinstance(c, ChannelStatus) and c.bridge_id)
    assert bridged == ["Local/4008000000@from-trunk-00000000;2",
                       "Local/8090@test-agent-00000001;1"]


def test_the_bridge_account_is_refused_core_show_channels() -> None:
    results, _ = run_capture()
    refused = results["CoreShowChannels"]
    assert not refused.ok and refused.message == "Permission denied"


def test_a_bridge_started_mid_call_rebuilds_the_call_and_both_agents_from_the_lists() -> None:
    results, _ = run_capture()
    dispatcher = Dispatcher()
    dispatcher.resync(1000.0, channels=results["Status"], queue_status=results["QueueStatus"],
                      queue_summary=results["QueueSummary"])
    call = dispatcher.state.calls.calls[CALL]
    assert call.state is CallState.CONNECTED
    assert call.agent == "Local/8090@test-agent/n"
    assert call.caller == "13800138000"
    agents = dispatcher.state.agents.agents
    assert agents["Local/8090@test-agent/n"].status is AgentStatus.ON_CALL
    assert agents["Local/8091@test-agent/n"].status is AgentStatus.UNREACHABLE


def test_live_events_show_the_member_with_an_invalid_device_as_unreachable() -> None:
    _, events = run_capture()
    dispatcher = Dispatcher()
    for number, event in enumerate(events):
        dispatcher.handle_message(event, float(number))
    agents = dispatcher.state.agents.agents
    assert agents["Local/8091@test-agent/n"].status is AgentStatus.UNREACHABLE
    assert agents["Local/8090@test-agent/n"].status is AgentStatus.ON_CALL
