"""``FakeAmiActions``: the CTI's ``AmiActions`` port in process. Each action is encoded for
real (so a header that could not go on the wire fails here as it would there), recorded, and
answered ``Response: Success`` or with a scripted ``Response: Error``; ``originate`` answers as
Asterisk does (queued, then the ``OriginateResponse`` of an answered leg when one is set)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cti.ami_protocol import ActionResult, AmiMessage, encode_action
from cti.ports import ResyncSnapshot


def ok(action_id: str, message: str = "") -> AmiMessage:
    extra = f"\r\nMessage: {message}" if message else ""
    return AmiMessage(f"Response: Success\r\nActionID: {action_id}{extra}")


@dataclass
class FakeAmiActions:
    """AmiActions that records each action (after encoding it for real) and answers it."""

    sent: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    originates: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # action -> Message: of an Error
    queue_errors: dict[str, str] = field(default_factory=dict)  # QueueAdd to queue -> Message
    remove_errors: dict[str, str] = field(default_factory=dict)  # QueueRemove queue -> Message
    snapshot: ResyncSnapshot | None = None
    originate_delay: float = 0.0
    # (Uniqueid, Channel) of the OriginateResponse of an answered click to dial, if any
    answered_leg: tuple[str, str] | None = None
    # (Uniqueid, Channel) of the OriginateResponse of an answered ``send("Originate", …,
    # final_event="OriginateResponse")`` (the supervisor's spy), if any
    spy_leg: tuple[str, str] | None = None

    async def send(self, action: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                   *, timeout: float | None = None,  # noqa: ASYNC109 - mirrors AmiClient
                   final_event: str | None = None
                   ) -> ActionResult:
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        encode_action(action, pairs, f"t-{len(self.sent)}")  # raises AmiEncodeError
        self.sent.append((action, dict(pairs)))
        action_id = f"t-{len(self.sent)}"
        error = self.errors.get(action)
        if action == "QueueAdd" and dict(pairs).get("Queue") in self.queue_errors:
            error = self.queue_errors[dict(pairs)["Queue"]]
        if action == "QueueRemove" and dict(pairs).get("Queue") in self.remove_errors:
            error = self.remove_errors[dict(pairs)["Queue"]]
        if error is not None:
            return ActionResult(action_id, action, AmiMessage(
                f"Response: Error\r\nActionID: {action_id}\r\nMessage: {error}"))
        final = None
        if action == "Originate" and final_event == "OriginateResponse" \
                and self.spy_leg is not None:
            unique_id, leg = self.spy_leg
            final = AmiMessage.from_headers([
                ("Event", "OriginateResponse"), ("Privilege", "call,all"),
                ("ActionID", action_id), ("Response", "Success"), ("Channel", leg),
                ("Application", dict(pairs).get("Application", "")),
                ("Data", dict(pairs).get("Data", "")), ("Reason", "4"),
                ("Uniqueid", unique_id)])
        return ActionResult(action_id, action, ok(action_id, "done"), final=final)

    async def originate(self, channel: str, *, context: str, exten: str, priority: int = 1,
                        caller_id: str | None = None, timeout_ms: int | None = None,
                        variables: Mapping[str, str] | None = None,
                        idempotency_key: str) -> ActionResult:
        call = {"Channel": channel, "Context": context, "Exten": exten,
                "Priority": str(priority), "CallerID": caller_id or "",
                "Timeout": str(timeout_ms), "Async": "true", "key": idempotency_key,
                "variables": dict(variables or {})}
        self.originates.append(call)
        await asyncio.sleep(self.originate_delay)
        final = None
        if self.answered_leg is not None:
            unique_id, leg = self.answered_leg
            final = AmiMessage.from_headers([
                ("Event", "OriginateResponse"), ("Privilege", "call,all"), ("ActionID", "o-1"),
                ("Response", "Success"), ("Channel", leg), ("Context", context),
                ("Exten", exten), ("Reason", "4"), ("Uniqueid", unique_id)])
        return ActionResult("o-1", "Originate", ok("o-1", "Originate successfully queued"),
                            final=final)

    async def resync_snapshot(self) -> ResyncSnapshot:
        assert self.snapshot is not None
        return self.snapshot


