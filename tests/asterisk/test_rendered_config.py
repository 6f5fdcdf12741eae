"""The files a real Asterisk 22 loads here are the ones `callcenter asterisk config` rendered
(conftest.write_config), not copies of dialplans/: its globals and its AMI account are the
rendered values."""

from __future__ import annotations

import pytest

from .conftest import Asterisk

pytestmark = pytest.mark.asterisk


def test_asterisk_runs_the_rendered_globals_and_manager_account(asterisk: Asterisk) -> None:
    globals_ = asterisk.cli("dialplan show globals")
    assert f"CC_FASTAGI=127.0.0.1:{asterisk.fastagi_port}" in globals_
    assert f"CC_MONITOR_DIR={asterisk.monitor_dir}" in globals_
    assert "CC_PROMPTS=/var/lib/callcenter/prompts" in globals_
    # the overflow, rendered from [asterisk] overflow / overflow_wait (defaults)
    assert "CC_OVERFLOW_WAIT=60" in globals_
    assert "CC_OVERFLOW_presales=aftersales" in globals_
    assert "CC_OVERFLOW_aftersales=night" in globals_
    assert "CC_OVERFLOW_night=\n" in globals_  # no fallback: empty
    user = asterisk.cli("manager show user callcenter")
    # the rendered permit (asterisk.ami_permit), after the template's deny-all
    assert "127.0.0.1/255.255.255.255" in user, user
    assert "10.20.0.20" not in user  # the template's example CTI host is gone
    settings = asterisk.cli("manager show settings")
    assert str(asterisk.ami_port) in settings
