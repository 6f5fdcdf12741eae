"""Unsaved wrap-ups outlive a restart of the product (``cti.agent_state`` rule 15): the desk
lists them again, and an agent held in after-call work stays held until its deadline or the
save, or is released at once when the deadline passed while the product was down.

Replayed on real Asterisk 22 captures: scenario 01 (an answered call, so a wrap-up becomes
due) and the QueueStatus Asterisk answered after its restart in scenario 08 (both agents still
paused, reason ``meeting``: the hold's pause reason is configured as ``meeting`` here so that
capture is replayed as it is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from cti import agent_state
from cti.agent_state import AgentConfig, AgentStatus, WrapUpHold
from cti.ami_protocol import AmiMessage
from cti.events import QueueMember, decode_event
from cti.ports import ResyncSnapshot
from cti.service import CtiService
from tests.cti import test_service
from tests.cti.test_ami_protocol import _track
from tests.cti.test_service import BASE, Env, lab, replay

template_db = test_service.template_db
cti_store = test_service.cti_store
env = test_service.env

CALL = "1795330137.0"  # scenario 01's call, answered by agent 8001
HOLD = AgentConfig(wrap_up_s=5.0, hold_wrap_up_s=300.0, hold_reason="meeting")


def after_restart() -> ResyncSnapshot:
    """What the resync of scenario 08 read from the restarted Asterisk: no channels, 8001 and
    8002 members of aftersales, paused with reason ``meeting``."""
    results, _ = _track("08-asterisk-restart.reconnect.ami")
    by_action = {r.action: r for r in results}
    return ResyncSnapshot(by_action["CoreShowChannels"], by_action["QueueStatus"],
                          by_action["QueueSummary"])


@asynccontextmanager
async def product(env: Env) -> AsyncIterator[CtiService]:
    """A CTI service as ``callcenter serve`` builds it (the store keeps unsaved wrap-ups)."""
    directory = StoreCtiDirectory(env.store)
    service = CtiService(directory, env.hub, clock=lambda: env.clock[-1], agent_config=HOLD,
                         wrapups=directory)
    service.attach(env.ami)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def held_then_restarted(env: Env) -> float:
    """Agent 8001 takes scenario 01's call and is held in after-call work; then the product
    stops. Returns the hold's deadline."""
    async with product(env) as first:
        await replay(Env(env.store, env.hub, env.ami, first, env.merchant_id, env.agents,
                         env.clock), "01-agent-login-and-answered-call.ami")
        await first.settle()
        hello = first.snapshot(env.agents["8001"])
        assert hello["agent"]["status"] == "wrap_up" and hello["unsaved"] == [CALL]
        deadline = float(hello["agent"]["wrap_up_until"])
    [row] = await StoreCtiDirectory(env.store).unsaved_wrapups()
    assert (row.agent_number, row.linked_id, row.interface) == ("8001", CALL, lab("8001"))
    assert row.held_until is not None and row.held_until.timestamp() == pytest.approx(deadline)
    return deadline


async def test_after_a_restart_the_agent_is_still_held_and_the_wrap_up_listed(
        env: Env) -> None:
    deadline = await held_then_restarted(env)
    env.ami.sent.clear()
    async with product(env) as second:
        # listed at once, before Asterisk is even asked
        assert second.snapshot(env.agents["8001"])["unsaved"] == [CALL]
        env.clock.append(deadline - 100)
        env.ami.snapshot = after_restart()
        await second.on_connected()
        await second.settle()
        agent = second.snapshot(env.agents["8001"])["agent"]
        assert agent["status"] == "wrap_up"
        assert agent["wrap_up_until"] == pytest.approx(deadline)
        assert second.snapshot(env.agents["8002"])["agent"]["status"] == "paused"
        assert env.ami.sent == []  # still paused in Asterisk: nothing to send
        # the agent saves: released, the list and the stored row are empty
        second.wrapup_saved(CALL)
        await second.settle()
        assert env.ami.sent == [("QueuePause", {"Interface": lab("8001"), "Paused": "false"})]
        assert second.snapshot(env.agents["8001"])["unsaved"] == []
    assert await StoreCtiDirectory(env.store).unsaved_wrapups() == []


async def test_a_hold_whose_deadline_passed_during_the_restart_is_released_but_stays_listed(
        env: Env) -> None:
    deadline = await held_then_restarted(env)
    env.ami.sent.clear()
    async with product(env) as second:
        env.clock.append(deadline + 1)
        env.ami.snapshot = after_restart()
        await second.on_connected()
        await second.settle()
        assert env.ami.sent == [("QueuePause", {"Interface": lab("8001"), "Paused": "false"})]
        assert second.snapshot(env.agents["8001"])["unsaved"] == [CALL]
    [row] = await StoreCtiDirectory(env.store).unsaved_wrapups()
    assert row.linked_id == CALL and row.held_until is None  # listed, no longer held


async def test_a_hold_that_ends_unsaved_is_stored_as_released(env: Env) -> None:
    deadline = await held_then_restarted(env)
    async with product(env) as second:
        env.clock.append(deadline - 10)
        env.ami.snapshot = after_restart()
        await second.on_connected()
        second.tick(deadline + 0.5)  # the maximum passes: released by the usual rule
        await second.settle()
    [row] = await StoreCtiDirectory(env.store).unsaved_wrapups()
    assert row.held_until is None


def _member(paused: bool, reason: str) -> QueueMember:
    """A QueueStatus item with the headers of scenario 08's (Paused, PausedReason varied)."""
    event = decode_event(AmiMessage.from_headers([
        ("Event", "QueueMember"), ("Queue", "aftersales"), ("Name", "Agent 8001"),
        ("Location", lab("8001")), ("StateInterface", lab("8001")), ("Membership", "dynamic"),
        ("Penalty", "0"), ("CallsTaken", "0"), ("LastCall", "0"), ("LastPause", "0"),
        ("LoginTime", "1795330417"), ("InCall", "0"), ("Status", "1"),
        ("Paused", "1" if paused else "0"), ("PausedReason", reason), ("Wrapuptime", "0")]))
    assert isinstance(event, QueueMember)
    return event


@pytest.mark.parametrize(("member", "deadline", "hold_s", "status", "effect"), [
    pytest.param(_member(True, "meeting"), BASE + 60, 300.0, AgentStatus.WRAP_UP, None,
                 id="still-running-is-held-again"),
    pytest.param(_member(True, "meeting"), BASE - 1, 300.0, AgentStatus.PAUSED, False,
                 id="deadline-passed-is-released"),
    pytest.param(_member(True, "meeting"), BASE + 60, 0.0, AgentStatus.PAUSED, False,
                 id="holds-now-off-is-released"),
    pytest.param(_member(True, "lunch"), BASE + 60, 300.0, AgentStatus.PAUSED, None,
                 id="paused-for-another-reason-is-left"),
    pytest.param(_member(False, ""), BASE + 60, 300.0, AgentStatus.AVAILABLE, None,
                 id="unpaused-meanwhile-is-left"),
])
def test_restore_holds_rule_15(member: QueueMember, deadline: float, hold_s: float,
                               status: AgentStatus, effect: bool | None) -> None:
    board = agent_state.new_board(AgentConfig(hold_wrap_up_s=hold_s, hold_reason="meeting"))
    agent_state.resync(board, [member], BASE)
    _, effects = agent_state.restore_holds(board, {lab("8001"): (CALL, deadline)}, BASE)
    agent = board.agents[lab("8001")]
    assert agent.status is status
    holds = [e for e in effects if isinstance(e, WrapUpHold)]
    assert [h.hold for h in holds] == ([] if effect is None else [effect])
    if status is AgentStatus.WRAP_UP:
        assert agent.held and agent.linked_id == CALL and agent.wrap_up_until == deadline


async def test_unsaved_wrapups_are_kept_on_both_backends(store: Store) -> None:
    from datetime import UTC, datetime

    from cti.ports import UnsavedWrapup

    directory = StoreCtiDirectory(store)
    due = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    first = UnsavedWrapup("8001", "a.1", lab("8001"), due, due.replace(minute=5))
    await directory.keep_unsaved_wrapup(first)
    await directory.keep_unsaved_wrapup(UnsavedWrapup("8001", "b.1", lab("8001"),
                                                      due.replace(minute=1)))
    await directory.keep_unsaved_wrapup(UnsavedWrapup("8001", "a.1", lab("8001"), due, None))
    assert [(u.linked_id, u.held_until) for u in await directory.unsaved_wrapups()] == [
        ("a.1", None), ("b.1", None)]
    await directory.drop_unsaved_wrapup("a.1")
    assert [u.linked_id for u in await directory.unsaved_wrapups()] == ["b.1"]
