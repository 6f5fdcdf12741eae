"""Asterisk 22's AMI events and list items, built from the simulator's records. Pure.

This is where the simulator's names become Asterisk's spellings, field by field and in the
order the captures show (``tests/fixtures/asterisk-22/*.ami``). A channel snapshot is::

    Channel: Local/4008000000@from-trunk-00000000;2
    ChannelState: 6
    ChannelStateDesc: Up
    CallerIDNum: 13800138000
    CallerIDName: Merchant
    ConnectedLineNum: 13800138000
    ConnectedLineName: Merchant
    Language: en
    AccountCode:
    Context: from-trunk
    Exten: 4008000000
    Priority: 8
    Uniqueid: 1795330137.1
    Linkedid: 1795330137.0

and a two-party event (AgentCalled, DialBegin …) has the caller's snapshot, then the agent
leg's with every name prefixed ``Dest``. Queue member events carry ``Interface``/``MemberName``;
the ``QueueMember`` list item says ``Location``/``Name`` instead (both as captured).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from simulator.ami_wire import EventClass, Message, event, list_item
from simulator.model import STATE_DESC, Bridge, Channel, Member

Fields = list[tuple[str, str]]

CAUSE_TEXT: Final = {0: "Unknown", 16: "Normal Clearing", 17: "User busy",
                     19: "No user responding", 21: "Call Rejected", 26: "Answered elsewhere",
                     127: "Interworking, unspecified"}


def snapshot(channel: Channel, prefix: str = "") -> Fields:
    """The channel snapshot block, optionally prefixed (``Dest``, ``Spyer``, ``LocalOne``)."""
    return [
        (f"{prefix}Channel", channel.name),
        (f"{prefix}ChannelState", str(channel.state)),
        (f"{prefix}ChannelStateDesc", STATE_DESC.get(channel.state, "Unknown")),
        (f"{prefix}CallerIDNum", channel.caller_num),
        (f"{prefix}CallerIDName", channel.caller_name),
        (f"{prefix}ConnectedLineNum", channel.connected_num),
        (f"{prefix}ConnectedLineName", channel.connected_name),
        (f"{prefix}Language", channel.language),
        (f"{prefix}AccountCode", channel.account_code),
        (f"{prefix}Context", channel.context),
        (f"{prefix}Exten", channel.exten),
        (f"{prefix}Priority", str(channel.priority)),
        (f"{prefix}Uniqueid", channel.unique_id),
        (f"{prefix}Linkedid", channel.linked_id),
    ]


def _pair(caller: Channel | None, dest: Channel | None) -> Fields:
    fields: Fields = []
    if caller is not None:
        fields += snapshot(caller)
    if dest is not None:
        fields += snapshot(dest, "Dest")
    return fields


# --------------------------------------------------------------------------- channels


def newchannel(channel: Channel) -> Message:
    return event("Newchannel", EventClass.CALL, snapshot(channel))


def newstate(channel: Channel) -> Message:
    return event("Newstate", EventClass.CALL, snapshot(channel))


def hangup(channel: Channel, cause: int) -> Message:
    return event("Hangup", EventClass.CALL, [
        *snapshot(channel), ("Cause", str(cause)),
        ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))])


def var_set(channel: Channel, variable: str, value: str) -> Message:
    """Class ``dialplan``: only sessions that read it (read=all) see VarSet."""
    return event("VarSet", EventClass.DIALPLAN, [
        *snapshot(channel), ("Variable", variable), ("Value", value)])


def user_event(channel: Channel, name: str, fields: Iterable[tuple[str, str]]) -> Message:
    return event("UserEvent", EventClass.USER, [*snapshot(channel), ("UserEvent", name),
                                                 *fields])


def dtmf_begin(channel: Channel, digit: str) -> Message:
    return event("DTMFBegin", EventClass.DTMF, [
        *snapshot(channel), ("Digit", digit), ("Direction", "Received")])


def dtmf_end(channel: Channel, digit: str, duration_ms: int) -> Message:
    return event("DTMFEnd", EventClass.DTMF, [
        *snapshot(channel), ("Digit", digit), ("DurationMs", str(duration_ms)),
        ("Direction", "Received")])


def music_on_hold_start(channel: Channel) -> Message:
    return event("MusicOnHoldStart", EventClass.CALL, [*snapshot(channel), ("Class", "default")])


def music_on_hold_stop(channel: Channel) -> Message:
    return event("MusicOnHoldStop", EventClass.CALL, snapshot(channel))


def mixmonitor_start(channel: Channel) -> Message:
    """No file name here: that is only in ``VarSet MIXMONITOR_FILENAME`` (class dialplan)."""
    return event("MixMonitorStart", EventClass.CALL, snapshot(channel))


def mixmonitor_stop(channel: Channel) -> Message:
    return event("MixMonitorStop", EventClass.CALL, snapshot(channel))


def dial_begin(caller: Channel | None, dest: Channel, dial_string: str) -> Message:
    """``caller`` None: an originate (call file) with no calling channel."""
    return event("DialBegin", EventClass.CALL, [*_pair(caller, dest), ("DialString", dial_string)])


def dial_state(caller: Channel, dest: Channel, status: str) -> Message:
    return event("DialState", EventClass.CALL, [*_pair(caller, dest), ("DialStatus", status)])


def dial_end(caller: Channel | None, dest: Channel, status: str) -> Message:
    return event("DialEnd", EventClass.CALL, [*_pair(caller, dest), ("DialStatus", status)])


def _bridge_fields(bridge: Bridge) -> Fields:
    return [
        ("BridgeUniqueid", bridge.bridge_id), ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"), ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"), ("BridgeNumChannels", str(len(bridge.channels))),
        ("BridgeVideoSourceMode", "none"),
    ]


def bridge_create(bridge: Bridge) -> Message:
    return event("BridgeCreate", EventClass.CALL, _bridge_fields(bridge))


def bridge_enter(bridge: Bridge, channel: Channel) -> Message:
    return event("BridgeEnter", EventClass.CALL, [*_bridge_fields(bridge), *snapshot(channel)])


def bridge_leave(bridge: Bridge, channel: Channel) -> Message:
    return event("BridgeLeave", EventClass.CALL, [*_bridge_fields(bridge), *snapshot(channel)])


def bridge_destroy(bridge: Bridge) -> Message:
    return event("BridgeDestroy", EventClass.CALL, _bridge_fields(bridge))


# --------------------------------------------------------------------------- queues


def queue_caller_join(caller: Channel, queue: str, position: int, count: int) -> Message:
    return event("QueueCallerJoin", EventClass.AGENT, [
        *snapshot(caller), ("Queue", queue), ("Position", str(position)),
        ("Count", str(count))])


def queue_caller_leave(caller: Channel, queue: str, position: int, count: int) -> Message:
    return event("QueueCallerLeave", EventClass.AGENT, [
        *snapshot(caller), ("Queue", queue), ("Position", str(position)),
        ("Count", str(count))])


def queue_caller_abandon(caller: Channel, queue: str, position: int, original_position: int,
                         hold_time: int) -> Message:
    return event("QueueCallerAbandon", EventClass.AGENT, [
        *snapshot(caller), ("Queue", queue), ("Position", str(position)),
        ("OriginalPosition", str(original_position)), ("HoldTime", str(hold_time))])


def _agent_fields(queue: str, interface: str, member_name: str) -> Fields:
    return [("Queue", queue), ("Interface", interface), ("MemberName", member_name)]


def agent_called(caller: Channel, agent: Channel, queue: str, interface: str,
                 member_name: str) -> Message:
    return event("AgentCalled", EventClass.AGENT, [
        *_pair(caller, agent), *_agent_fields(queue, interface, member_name)])


def agent_ring_no_answer(caller: Channel, agent: Channel, queue: str, interface: str,
                         member_name: str, ring_time_ms: int) -> Message:
    """``RingTime`` in **milliseconds** here (seconds in AgentConnect), as app_queue does."""
    return event("AgentRingNoAnswer", EventClass.AGENT, [
        *_pair(caller, agent), *_agent_fields(queue, interface, member_name),
        ("RingTime", str(ring_time_ms))])


def agent_connect(caller: Channel, agent: Channel, queue: str, interface: str,
                  member_name: str, hold_time: int, ring_time: int) -> Message:
    return event("AgentConnect", EventClass.AGENT, [
        *_pair(caller, agent), *_agent_fields(queue, interface, member_name),
        ("HoldTime", str(hold_time)), ("RingTime", str(ring_time))])


def agent_complete(caller: Channel, agent: Channel | None, queue: str, interface: str,
                   member_name: str, hold_time: int, talk_time: int, reason: str) -> Message:
    """``agent`` None: the leg of a queue the caller was blind-transferred out of, reported at
    the final hang-up without any ``Dest*`` header (scenario 06)."""
    return event("AgentComplete", EventClass.AGENT, [
        *_pair(caller, agent), *_agent_fields(queue, interface, member_name),
        ("HoldTime", str(hold_time)), ("TalkTime", str(talk_time)), ("Reason", reason)])


def _member_fields(member: Member, status: int) -> Fields:
    return [
        ("Queue", member.queue), ("MemberName", member.name), ("Interface", member.interface),
        ("StateInterface", member.state_interface),
        ("Membership", "dynamic" if member.dynamic else "static"),
        ("Penalty", str(member.penalty)), ("CallsTaken", str(member.calls_taken)),
        ("LastCall", str(member.last_call)), ("LastPause", str(member.last_pause)),
        ("LoginTime", str(member.login_time)), ("InCall", "1" if member.in_call else "0"),
        ("Status", str(status)), ("Paused", "1" if member.paused else "0"),
        ("PausedReason", member.paused_reason),
        ("Ringinuse", "1" if member.ringinuse else "0"),
        ("Wrapuptime", str(member.wrapuptime)),
    ]


def queue_member_event(name: str, member: Member, status: int) -> Message:
    """``QueueMemberAdded``/``Removed``/``Pause``/``Status`` (same fields, same order)."""
    return event(name, EventClass.AGENT, _member_fields(member, status))


# --------------------------------------------------------------------------- system


def fully_booted(uptime: int, last_reload: int) -> Message:
    """The FullyBooted a session gets right after its Login response (order as captured:
    ``Uptime, LastReload, Status``)."""
    return event("FullyBooted", EventClass.SYSTEM, [
        ("Uptime", str(uptime)), ("LastReload", str(last_reload)),
        ("Status", "Fully Booted")])


def shutdown(restart: bool) -> Message:
    return event("Shutdown", EventClass.SYSTEM, [
        ("Shutdown", "Cleanly"), ("Restart", "True" if restart else "False")])


def originate_response(action_id: str, response: str, channel: str, target: Fields,
                       reason: int, unique_id: str, caller_num: str,
                       caller_name: str) -> Message:
    """``target`` is ``[("Application", …), ("Data", …)]`` or ``[("Context", …), ("Exten",
    …)]``; the ActionID comes right after Privilege (as captured in scenario 07)."""
    fields: Fields = []
    if action_id:
        fields.append(("ActionID", action_id))
    fields += [("Response", response), ("Channel", channel), *target,
               ("Reason", str(reason)), ("Uniqueid", unique_id),
               ("CallerIDNum", caller_num), ("CallerIDName", caller_name)]
    return event("OriginateResponse", EventClass.CALL, fields)


def chanspy(name: str, spyer: Channel, spyee: Channel) -> Message:
    """``ChanSpyStart``/``ChanSpyStop``: Spyer* then Spyee* snapshots (no listen/whisper/barge
    mode: that is only in the Originate's Data)."""
    return event(name, EventClass.CALL, [*snapshot(spyer, "Spyer"), *snapshot(spyee, "Spyee")])


# --------------------------------------------------------------------------- list items


def queue_params(queue: str, strategy: str, calls: int, holdtime: int, talktime: int,
                 completed: int, abandoned: int, servicelevel: int, perf: float,
                 perf2: float, weight: int, action_id: str) -> Message:
    return list_item("QueueParams", [
        ("Queue", queue), ("Max", "0"), ("Strategy", strategy), ("Calls", str(calls)),
        ("Holdtime", str(holdtime)), ("TalkTime", str(talktime)),
        ("Completed", str(completed)), ("Abandoned", str(abandoned)),
        ("ServiceLevel", str(servicelevel)), ("ServicelevelPerf", f"{perf:.1f}"),
        ("ServicelevelPerf2", f"{perf2:.1f}"), ("Weight", str(weight))], action_id)


def queue_member_item(member: Member, status: int, action_id: str) -> Message:
    return list_item("QueueMember", [
        ("Queue", member.queue), ("Name", member.name), ("Location", member.interface),
        ("StateInterface", member.state_interface),
        ("Membership", "dynamic" if member.dynamic else "static"),
        ("Penalty", str(member.penalty)), ("CallsTaken", str(member.calls_taken)),
        ("LastCall", str(member.last_call)), ("LastPause", str(member.last_pause)),
        ("LoginTime", str(member.login_time)), ("InCall", "1" if member.in_call else "0"),
        ("Status", str(status)), ("Paused", "1" if member.paused else "0"),
        ("PausedReason", member.paused_reason), ("Wrapuptime", str(member.wrapuptime))],
        action_id)


def queue_entry_item(queue: str, position: int, caller: Channel, wait: int, priority: int,
                     action_id: str) -> Message:
    return list_item("QueueEntry", [
        ("Queue", queue), ("Position", str(position)), ("Channel", caller.name),
        ("Uniqueid", caller.unique_id), ("CallerIDNum", caller.caller_num),
        ("CallerIDName", caller.caller_name), ("ConnectedLineNum", caller.connected_num),
        ("ConnectedLineName", caller.connected_name), ("Wait", str(wait)),
        ("Priority", str(priority))], action_id)


def queue_summary_item(queue: str, logged_in: int, available: int, callers: int,
                       holdtime: int, talktime: int, longest: int, action_id: str) -> Message:
    return list_item("QueueSummary", [
        ("Queue", queue), ("LoggedIn", str(logged_in)), ("Available", str(available)),
        ("Callers", str(callers)), ("HoldTime", str(holdtime)), ("TalkTime", str(talktime)),
        ("LongestHoldTime", str(longest))], action_id)


def channel_status(channel: Channel, seconds: int, action_id: str) -> Message:
    """A ``Status`` list item (the action without ``Channel:``), laid out as captured from
    Asterisk 22.10.1 (fixtures ``10-status-resync.ami``): ``Privilege: Call`` (sic), the
    snapshot, the channel's technical block, ``BridgeID``, ``Application``/``Data``,
    ``Seconds``, the ActionID last. Formats are the Local channel's ``slin`` (a PJSIP
    channel's would be its codec: no CTI reads them)."""
    tech = channel.name.split("/", 1)[0]
    formats = "slin" if tech == "Local" else "ulaw"
    headers: Fields = [("Event", "Status"), ("Privilege", "Call"), *snapshot(channel),
                       ("Type", tech), ("DNID", ""),
                       ("EffectiveConnectedLineNum", channel.connected_num),
                       ("EffectiveConnectedLineName", channel.connected_name),
                       ("TimeToHangup", "0"), ("BridgeID", channel.bridge_id),
                       ("Application", channel.application),
                       ("Data", channel.application_data),
                       ("Nativeformats", f"({formats})"), ("Readformat", formats),
                       ("Readtrans", ""), ("Writeformat", formats), ("Writetrans", ""),
                       ("Callgroup", "0"), ("Pickupgroup", "0"),
                       ("Seconds", str(max(seconds, 0)))]
    if action_id:
        headers.append(("ActionID", action_id))
    return Message(tuple(headers))


def core_show_channel(channel: Channel, duration: int, action_id: str) -> Message:
    """Not captured (the fixtures' CoreShowChannels list was empty): the layout of manager.c's
    ``action_coreshowchannels`` — Event, ActionID, snapshot, BridgeId, Application,
    ApplicationData, Duration (HH:MM:SS)."""
    hours, rest = divmod(max(duration, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    headers: Fields = [("Event", "CoreShowChannel")]
    if action_id:
        headers.append(("ActionID", action_id))
    headers += [*snapshot(channel), ("BridgeId", channel.bridge_id),
                ("Application", channel.application),
                ("ApplicationData", channel.application_data),
                ("Duration", f"{hours:02d}:{minutes:02d}:{seconds:02d}")]
    return Message(tuple(headers))
