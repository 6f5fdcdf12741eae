"""Monitoring's pure rules (supervision.monitor) and the service on a recorded call."""

from __future__ import annotations

import pytest

from cti.events import CoreShowChannel
from supervision.monitor import (
    MODES,
    SWITCH_DIGITS,
    chanspy_data,
    device_channel,
    supervisor_channel,
)


def channel(name: str, bridge: str | None) -> CoreShowChannel:
    return CoreShowChannel(channel=name, unique_id=name, linked_id="L", caller_id_num=None,
                           caller_id_name=None, context="agents", exten="8001", channel_state=6,
                           bridge_id=bridge, application=None, application_data=None,
                           duration_s=5, action_id=None)


@pytest.mark.parametrize(("interface", "expected"), [
    ("PJSIP/9000", "Local/9000@supervisor"),
    ("SIP/9001", "Local/9001@supervisor"),
    ("Local/9000@test-supervisor", "Local/9000@test-supervisor"),
])
def test_the_supervisors_phone_is_rung_through_the_supervisor_context(interface: str,
                                                                      expected: str) -> None:
    assert supervisor_channel(interface) == expected


def test_the_spy_target_is_the_phone_bridged_to_the_local_agent_half() -> None:
    live = [channel("Local/4008000000@from-trunk-00000000;2", "b1"),
            channel("Local/8001@agents-00000001;1", "b1"),
            channel("Local/8001@agents-00000001;2", "b2"),
            channel("PJSIP/8001-0000002a", "b2")]
    assert device_channel("Local/8001@agents-00000001;1", live) == "PJSIP/8001-0000002a"


def test_without_a_bridged_phone_the_spy_target_is_the_other_local_half() -> None:
    live = [channel("Local/8001@test-agent-00000001;1", "b1"),
            channel("Local/8001@test-agent-00000001;2", None)]
    assert device_channel("Local/8001@test-agent-00000001;1", live) \
        == "Local/8001@test-agent-00000001;2"
    assert device_channel("Local/8001@test-agent-00000001;1", []) \
        == "Local/8001@test-agent-00000001;2"


def test_a_phone_leg_is_its_own_device() -> None:
    assert device_channel("PJSIP/8001-0000002a", []) == "PJSIP/8001-0000002a"


def test_modes_map_to_chanspy_options_that_let_dtmf_switch_the_mode() -> None:
    assert MODES == {"listen": "qdE", "whisper": "qdwE", "barge": "qdBE"}
    assert chanspy_data("PJSIP/8001-0000002a", "whisper") == "PJSIP/8001-0000002a,qdwE"
    assert all({"E", "q", "d"} <= set(options) for options in MODES.values())
    # app_chanspy.c change_spy_mode: 4 spy, 5 whisper, 6 barge
    assert SWITCH_DIGITS == {"listen": "4", "whisper": "5", "barge": "6"}
