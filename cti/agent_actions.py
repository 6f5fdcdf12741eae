"""Agent actions: handler -> rule check -> the one AMI action.

Each action checks the agent's state with :func:`cti.agent_state.check_action` (the one gate;
it raises ``AgentActionError`` with a stable ``error_id``), then sends one AMI action:

==========  ===============================================================================
action      AMI
==========  ===============================================================================
login       ``QueueAdd`` per queue of ``callcenter.shifts.login_queues`` (dynamic member;
            ``Already there`` counts as done); all or nothing: after a failure the queues
            already added are removed again (``agent_state.login_rollback``)
logout      ``QueueRemove`` per queue the agent is in (``Not there`` counts as done); all or
            nothing: after a failure the queues already left are added back, paused as
            they were (``agent_state.logout_rollback``), and ``LogoutFailed`` says which
            queue failed and what was put back
pause       ``QueuePause`` without ``Queue:`` (every queue), ``Reason:`` kept
resume      ``QueuePause Paused: false`` in every queue
dial        ``Originate`` (click to dial, ``Async: true``), once per idempotency key
transfer    ``Redirect`` of the caller's channel (blind) or ``Atxfer`` on the agent's (attended)
hangup      ``Hangup`` of the agent's leg
==========  ===============================================================================

Caller-controlled text never reaches an AMI header unchecked: numbers are normalised to
digits, names stripped of control characters, and an ``AmiEncodeError`` that would still
happen becomes a ``ValidationError``. Without an AMI connection every action raises
``CtiUnavailable``.

Dial idempotency: the same key never dials twice. A second request (double click, a retry
after a timeout) waits for and returns the first one's result; the key goes to the AMI
client, which does not re-send it after a reconnect; keys are forgotten ``dial_key_ttl_s``
after their dial finished.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callcenter.domain import normalise_phone
from callcenter.errors import ValidationError
from callcenter.shifts import login_queues
from callcenter.topics import Publisher, agent_topic
from cti import agent_state
from cti.agent_state import AgentAction, check_action
from cti.ami_protocol import ActionResult
from cti.call_state import Call, OutboundDialled
from cti.config import CtiConfig
from cti.dispatcher import CtiState
from cti.errors import (
    AgentActionError,
    AmiActionError,
    AmiEncodeError,
    AmiError,
    CtiUnavailable,
    LogoutFailed,
)
from cti.events import OriginateResponse, decode_event
from cti.ports import AgentDirectory, AgentRecord, AmiActions, DemoPhonePort

__all__ = ["AgentActions", "AgentRoster", "clean_label", "state_interface_of"]

logger = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f|,;\"<>]")
_EXTENSION = re.compile(r"^[0-9]{2,8}\Z")
_LOCAL_EXT = re.compile(r"^Local/([0-9]+)@")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,80}\Z")


def state_interface_of(agent: AgentRecord, template: str) -> str:
    """The device whose state ``agent``'s queue membership follows ('' = none): its account's
    own ``state_interface`` if set ('' included), else ``template`` (``PJSIP/{ext}``) for a
    ``Local/<digits>@…`` interface, else none. A member whose device is invalid or
    unavailable is never rung, and the desk shows its phone offline."""
    if agent.state_interface is not None:
        return agent.state_interface
    match = _LOCAL_EXT.match(agent.interface)
    return template.format(ext=match.group(1)) if match and template else ""


def clean_label(text: str, limit: int = 40) -> str:
    """A name safe inside an AMI header value and a queue_log line (no CR/LF, ``|``, ``,``,
    quotes or angle brackets: it goes into ``CallerID: "name" <num>`` and ``MemberName``)."""
    return _CONTROL.sub(" ", text).strip()[:limit]


class AgentRoster:
    """Who the agents are: interface <-> agent number, cached from the agents table (never
    read on the ring path)."""

    def __init__(self, directory: AgentDirectory, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.clock = clock
        self.by_interface: dict[str, AgentRecord] = {}
        self.by_number: dict[str, AgentRecord] = {}
        self.loaded_at = float("-inf")

    async def refresh(self) -> None:
        """Reload the agents table. Raises what the directory raises."""
        agents = await self.directory.agents()
        self.by_interface = {a.interface: a for a in agents}
        self.by_number = {a.agent_number: a for a in agents}
        self.loaded_at = self.clock()

    def remember(self, agent: AgentRecord) -> None:
        """Make sure ``agent`` is known (the desktop looked it up before an action)."""
        self.by_interface[agent.interface] = agent
        self.by_number[agent.agent_number] = agent

    def number_of(self, interface: str) -> str | None:
        """Agent number (工号) of a queue-member interface."""
        agent = self.by_interface.get(interface)
        return agent.agent_number if agent is not None else None


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A dial's outcome is published to the desktop; nobody may await the task any more.
    if not task.cancelled():
        task.exception()


@dataclass(slots=True)
class _Dial:
    """One click-to-dial request, remembered under its idempotency key."""

    agent_number: str
    number: str
    created: float
    task: asyncio.Task[dict[str, Any]]


class AgentActions:
    """The agent actions (see the module docstring). Coroutines raise ``AgentActionError``,
    ``ValidationError``, ``CtiUnavailable`` and the AMI errors of ``cti.errors``."""

    def __init__(self, state: CtiState, roster: AgentRoster, hub: Publisher, config: CtiConfig,
                 *, clock: Callable[[], float], demo_phones: DemoPhonePort | None = None
                 ) -> None:
        self.state = state
        self.roster = roster
        self.hub = hub
        self.config = config
        self.clock = clock
        self.demo_phones = demo_phones
        self.ami: AmiActions | None = None
        self._dials: dict[str, _Dial] = {}
        # the service feeds the machines with it (a click-to-dial call answered)
        self.on_dialled: Callable[[OutboundDialled, float], None] | None = None

    # ------------------------------------------------------------------ the gate

    def _require_ami(self) -> AmiActions:
        if self.ami is None:
            raise CtiUnavailable("no AMI connection is configured")
        return self.ami

    def _check(self, agent: AgentRecord, action: AgentAction) -> agent_state.Agent | None:
        self.roster.remember(agent)
        record = self.state.agents.agents.get(agent.interface)
        check_action(record, action, acw_reasons=self.state.agents.config.acw_reasons)
        return record

    async def _send(self, action: str, headers: list[tuple[str, str]],
                    field_name: str) -> ActionResult:
        ami = self._require_ami()
        try:
            result = await ami.send(action, headers, timeout=self.config.action_timeout)
        except AmiEncodeError as exc:
            raise ValidationError(field_name, "contains characters not allowed") from exc
        return result.raise_for_error()

    # ------------------------------------------------------------------ queue membership

    async def login(self, agent: AgentRecord) -> dict[str, Any]:
        """Log ``agent`` in to its queues: one ``QueueAdd`` per queue (dynamic member).

        A queue that answers ``Already there`` counts as done (the member came back from
        astdb). Raises AgentActionError ``already_logged_in``.
        """
        self._check(agent, AgentAction.LOGIN)
        # + ``night`` for agents of the general queues (callcenter.shifts explains why)
        queues = login_queues([q for q in agent.queues if q] or [self.config.queues[0]])
        ami = self._require_ami()
        added: list[str] = []
        for queue in queues:
            headers = self._member_headers(agent, queue, False, "")
            try:
                result = await ami.send("QueueAdd", headers, timeout=self.config.action_timeout)
                result.raise_for_error()
            except AmiActionError as exc:
                if "Already there" not in exc.message:
                    await self._roll_back(agent, added)
                    raise
            except Exception as exc:
                await self._roll_back(agent, added)
                if isinstance(exc, AmiEncodeError):
                    raise ValidationError("interface", "contains characters not allowed") from exc
                raise
            added.append(queue)
        logger.info("agent %s: logged in to %s", agent.agent_number, ", ".join(added))
        return {"queues": added}

    async def _roll_back(self, agent: AgentRecord, added: list[str]) -> None:
        """Rule 11 of ``cti.agent_state``: undo a failed log-in's ``QueueAdd`` s. A removal
        that fails too is logged (the next resync shows the truth), never raised over the
        log-in's own error."""
        for queue in agent_state.login_rollback(added):
            try:
                result = await self._require_ami().send(
                    "QueueRemove", [("Queue", queue), ("Interface", agent.interface)],
                    timeout=self.config.action_timeout)
                result.raise_for_error()
            except Exception:
                logger.exception("agent %s: could not undo the log-in to %s",
                                 agent.agent_number, queue)
        if added:
            logger.warning("agent %s: log-in failed; removed again from %s",
                           agent.agent_number, ", ".join(added))

    async def hold_member(self, hold: agent_state.WrapUpHold | agent_state.AutoPause) -> None:
        """Rules 12-13 of ``cti.agent_state``: ``QueuePause`` the member in every queue while
        its wrap-up is not saved (``Paused: false`` when it is), or because nobody is at its
        desk / it left a ring unanswered. Without AMI nothing happens."""
        if self.ami is None:
            return
        paused = hold.hold if isinstance(hold, agent_state.WrapUpHold) else True
        headers = [("Interface", hold.interface), ("Paused", "true" if paused else "false")]
        if paused:
            headers.append(("Reason", hold.reason))
        result = await self.ami.send("QueuePause", headers, timeout=self.config.action_timeout)
        result.raise_for_error()

    async def logout(self, agent: AgentRecord) -> dict[str, Any]:
        """``QueueRemove`` from every queue the agent is in (``Not there`` counts as done),
        all or nothing (rule 11 of ``cti.agent_state``).

        Raises AgentActionError ``not_logged_in`` / ``agent_busy``, and ``LogoutFailed``
        when a removal failed (the queues already left were added back).
        """
        record = self._check(agent, AgentAction.LOGOUT)
        queues = sorted(record.memberships) if record is not None else list(agent.queues)
        paused = dict(record.memberships) if record is not None else {}
        reason = (record.pause_reason or "") if record is not None else ""
        ami = self._require_ami()
        removed: list[str] = []
        for queue in queues:
            try:
                result = await ami.send("QueueRemove",
                                        [("Queue", queue), ("Interface", agent.interface)],
                                        timeout=self.config.action_timeout)
                result.raise_for_error()
            except AmiEncodeError as exc:
                raise ValidationError("interface", "contains characters not allowed") from exc
            except AmiActionError as exc:
                if "Not there" in exc.message:
                    continue
                raise await self._undo_logout(agent, queue, exc.message, removed, paused,
                                              reason) from exc
            except AmiError as exc:  # a timeout, the connection lost
                raise await self._undo_logout(agent, queue, f"{type(exc).__name__}: {exc}",
                                              removed, paused, reason) from exc
            removed.append(queue)
        return {"queues": queues}

    async def _undo_logout(self, agent: AgentRecord, queue: str, cause: str,
                           removed: list[str], paused: dict[str, bool], reason: str
                           ) -> LogoutFailed:
        """Add the agent back to the queues the failed log-out took it out of."""
        restored: list[str] = []
        missing: list[str] = []
        for again, was_paused in agent_state.logout_rollback(removed, paused):
            headers = self._member_headers(agent, again, was_paused, reason)
            try:
                result = await self._require_ami().send(
                    "QueueAdd", headers, timeout=self.config.action_timeout)
                result.raise_for_error()
            except AmiActionError as exc:
                if "Already there" not in exc.message:
                    logger.error("agent %s: could not put back in %s: %s",
                                 agent.agent_number, again, exc.message)
                    missing.append(again)
                    continue
            except Exception:
                logger.exception("agent %s: could not put back in %s", agent.agent_number,
                                 again)
                missing.append(again)
                continue
            restored.append(again)
        logger.warning("agent %s: log-out failed in %s (%s); put back in %s%s",
                       agent.agent_number, queue, cause, ", ".join(restored) or "nothing",
                       f"; NOT in {', '.join(missing)}" if missing else "")
        return LogoutFailed(queue, cause, tuple(restored), tuple(missing))

    def _member_headers(self, agent: AgentRecord, queue: str, paused: bool, reason: str
                        ) -> list[tuple[str, str]]:
        """``QueueAdd`` headers of ``agent`` as a dynamic member of ``queue``."""
        headers = [("Queue", queue), ("Interface", agent.interface),
                   ("MemberName", clean_label(f"{agent.agent_number} {agent.name}")),
                   ("Penalty", "0"), ("Paused", "true" if paused else "false")]
        if paused and reason:
            headers.append(("Reason", reason))
        device = state_interface_of(agent, self.config.state_interface)
        if device:
            headers.append(("StateInterface", device))
        return headers

    async def pause(self, agent: AgentRecord, reason: str) -> dict[str, Any]:
        """``QueuePause`` in every queue (no ``Queue:``) with ``Reason: <code>``.

        Raises ValidationError for a reason code not in the configured list, AgentActionError
        ``not_logged_in`` / ``already_paused``.
        """
        if reason not in self.config.pause_reasons:
            raise ValidationError("reason", f"unknown pause reason {reason[:40]!r}")
        self._check(agent, AgentAction.PAUSE)
        await self._send("QueuePause", [("Interface", agent.interface), ("Paused", "true"),
                                        ("Reason", reason)], "reason")
        return {"paused": True, "reason": reason}

    async def resume(self, agent: AgentRecord) -> dict[str, Any]:
        """``QueuePause Paused: false`` in every queue. Raises AgentActionError
        ``not_logged_in`` / ``not_paused``."""
        self._check(agent, AgentAction.RESUME)
        await self._send("QueuePause", [("Interface", agent.interface), ("Paused", "false")],
                         "interface")
        return {"paused": False}

    # ------------------------------------------------------------------ click to dial

    async def dial(self, agent: AgentRecord, number: str, *, idempotency_key: str,
                   label: str = "") -> dict[str, Any]:
        """Click to dial: ``Originate`` from the agent's phone (``Channel`` = its interface)
        to ``number`` in ``dial_context``, ``Async: true``, once per ``idempotency_key`` (see
        the module docstring). Raises ValidationError (``number``, ``idempotency_key``),
        AgentActionError ``not_available``, and the AMI errors.
        """
        if not _KEY.match(idempotency_key):
            raise ValidationError("idempotency_key", "8-80 letters, digits or . _ : -")
        existing = self._dials.get(idempotency_key)
        if existing is not None:
            if existing.agent_number != agent.agent_number:
                raise ValidationError("idempotency_key", "this key belongs to another request")
            return dict(await self._dial_reply(existing), repeated=True)
        digits = normalise_phone(number)  # raises ValidationError("phone", …)
        self._check(agent, AgentAction.DIAL)
        ami = self._require_ami()
        caller_id = f'"{clean_label(label)}" <{digits}>' if label.strip() else f"<{digits}>"
        variables = {"CC_AGENT": agent.agent_number, "CC_DIAL_KEY": idempotency_key}
        topic = agent_topic(agent.agent_number)

        async def run() -> dict[str, Any]:
            try:
                result = await ami.originate(
                    agent.interface, context=self.config.dial_context, exten=digits,
                    priority=1, caller_id=caller_id, timeout_ms=self.config.dial_timeout_ms,
                    variables=variables, idempotency_key=idempotency_key)
                result.raise_for_error()
            except AmiEncodeError as exc:
                raise ValidationError("number", "contains characters not allowed") from exc
            except Exception as exc:
                error_id = ("ami_refused" if isinstance(exc, AmiActionError) else
                            "ami_timeout" if isinstance(exc, TimeoutError) else
                            "ami_unavailable")
                self.hub.publish(topic, {"type": "dial", "status": "failed", "number": digits,
                                         "key": idempotency_key, "error_id": error_id})
                raise
            logger.info("agent %s: click-to-dial %s answered (key %s)", agent.agent_number,
                        digits, idempotency_key)
            # "answered" first: telling the machines may replay the merchant leg's progress
            # that beat the OriginateResponse (agent_state rule 14), which the desk must see
            # after it
            self.hub.publish(topic, {"type": "dial", "status": "answered", "number": digits,
                                     "key": idempotency_key})
            self._dialled(agent, digits, result)
            return {"number": digits, "status": "answered", "action_id": result.action_id}

        # The key stays used whatever happens: after a refusal a retry gets the same answer,
        # and after a timeout or a disconnect nobody knows whether Asterisk dialled, so only
        # the agent can decide to dial again (the desktop then makes a new key).
        task = asyncio.get_running_loop().create_task(run(), name=f"dial {idempotency_key}")
        task.add_done_callback(_retrieve)
        dial = _Dial(agent.agent_number, digits, self.clock(), task)
        self._dials[idempotency_key] = dial
        return await self._dial_reply(dial)

    def _dialled(self, agent: AgentRecord, digits: str, result: ActionResult) -> None:
        """Tell the machines the agent's phone answered our Originate: the call (Linkedid =
        the originated channel's Uniqueid, from ``OriginateResponse``) is an outbound call."""
        final = result.final
        if final is None or self.on_dialled is None:
            return
        response = decode_event(final)
        if not isinstance(response, OriginateResponse) or not response.unique_id:
            return
        self.on_dialled(OutboundDialled(response.unique_id, response.channel, agent.interface,
                                        digits), self.clock())

    async def _dial_reply(self, dial: _Dial) -> dict[str, Any]:
        """The Originate's result if it comes within ``dial_reply_wait`` (a refusal, a
        disconnect), else ``status: dialling``: the agent's phone rings, and the answer or
        failure reaches the desktop as a ``dial`` message."""
        done, _ = await asyncio.wait({dial.task}, timeout=self.config.dial_reply_wait)
        if dial.task in done:
            return dict(dial.task.result())
        return {"number": dial.number, "status": "dialling"}

    def expire_dials(self, now: float) -> None:
        """Forget the keys of dials finished more than ``dial_key_ttl_s`` ago."""
        ttl = self.config.dial_key_ttl_s
        for key in [k for k, d in self._dials.items()
                    if now - d.created > ttl and d.task.done()]:
            self._dials.pop(key, None)

    # ------------------------------------------------------------------ the call in progress

    def _current_call(self, agent: AgentRecord) -> tuple[str, Call, str | None]:
        record = self.state.agents.agents.get(agent.interface)
        linked_id = record.linked_id if record is not None else None
        call = self.state.calls.calls.get(linked_id) if linked_id else None
        if record is None or call is None or linked_id is None:
            raise AgentActionError("not_on_call", "the agent has no call")
        leg = record.leg_unique_id
        return linked_id, call, call.agent_channels.get(leg) if leg else None

    async def transfer(self, agent: AgentRecord, target: str, *,
                       attended: bool = False) -> dict[str, Any]:
        """Blind: ``Redirect`` the caller's channel to ``transfer_context``/<queue>, or to
        ``extension_context``/<extension>. Attended: ``Atxfer`` on the agent's channel to an
        extension. Raises ValidationError (``target``), AgentActionError ``not_on_call``."""
        target = target.strip()
        is_queue = target in self.config.queues
        if not is_queue and not _EXTENSION.match(target):
            raise ValidationError("target", "a queue name or an extension (digits)")
        if attended and is_queue:
            raise ValidationError("target", "an attended transfer goes to an extension")
        self._check(agent, AgentAction.TRANSFER)
        linked_id, call, agent_channel = self._current_call(agent)
        if attended:
            if agent_channel is None:
                raise AgentActionError("no_agent_channel", "the agent's channel is not known")
            await self._send("Atxfer", [("Channel", agent_channel), ("Exten", target),
                                        ("Context", self.config.extension_context)], "target")
            return {"linked_id": linked_id, "mode": "attended", "target": target}
        if not call.caller_channel:
            raise AgentActionError("no_caller_channel", "the caller's channel is not known")
        context = self.config.transfer_context if is_queue else self.config.extension_context
        await self._send("Redirect", [("Channel", call.caller_channel), ("Context", context),
                                      ("Exten", target), ("Priority", "1")], "target")
        return {"linked_id": linked_id, "mode": "blind", "target": target}

    async def hangup(self, agent: AgentRecord) -> dict[str, Any]:
        """``Hangup`` the agent's leg of its call. Raises AgentActionError ``not_on_call``."""
        self._check(agent, AgentAction.HANGUP)
        linked_id, _call, channel = self._current_call(agent)
        if channel is None:
            raise AgentActionError("no_agent_channel", "the agent's channel is not known")
        await self._send("Hangup", [("Channel", channel), ("Cause", "16")], "channel")
        return {"linked_id": linked_id}

    def phone(self, agent: AgentRecord, what: str) -> dict[str, Any]:
        """Demo mode: answer or hang up the simulated desk phone of ``agent``.

        Raises CtiUnavailable without demo phones, AgentActionError ``phone_idle`` when there
        is nothing to answer or hang up.
        """
        if self.demo_phones is None:
            raise CtiUnavailable("there is no demo phone (a real PBX is configured)")
        self.roster.remember(agent)
        done = (self.demo_phones.answer(agent.interface) if what == "answer"
                else self.demo_phones.hangup(agent.interface))
        if not done:
            raise AgentActionError("phone_idle", f"nothing to {what} on the phone")
        return {"phone": what}
