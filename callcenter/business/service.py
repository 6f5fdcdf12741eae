"""Use cases of the business records: each one is rule checks (pure modules), one transaction
(the repository), then notifications (the hub) after the commit.

* :meth:`BusinessService.record_wrapup` — the agent's wrap-up becomes the call's disposition, a
  business record (task), its first history line, the complaint, the outbox row, and — when the
  agent confirmed — the merchant record's update: all in ONE transaction, or nothing.
* :meth:`BusinessService.change_status` — the built-in board's dispatcher actions (only while
  the built-in store is the system of record).
* :meth:`BusinessService.apply_webhook` — status changes reported by the business system;
  a replayed event id has no second effect.
* complaints' escalation steps, dead-letter requeue, the board, alerts and the daily summary.

Every status change reaches the agents whose calls are on the task (hub topic
``agent:<agent_number>``, ``{"type": "task_status", …}``), the dispatcher board (topic ``board``)
and the IVR self-service, which reads the task store (``store.tasks.latest_open``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.business import presentation
from callcenter.business.business_protocol import (
    TaskEventType,
    WebhookEvent,
    idempotency_key,
    task_payload,
)
from callcenter.business.errors import (
    FieldError,
    NotYourCall,
    PossibleDuplicate,
    UnknownTask,
    WrapupInvalid,
)
from callcenter.business.messages import translate
from callcenter.business.outbox_state import (
    RETRY_WINDOW,
    Delivery,
    IllegalTransition,
    Requeued,
    transition,
)
from callcenter.business.records import (
    BoardFilter,
    CallRelation,
    ComplaintCase,
    DeadLetter,
    OutboxEntry,
    OutboxState,
    PendingCallback,
    TaskCall,
    TaskDetail,
    TaskRecord,
    TaskView,
    UnloggedCall,
)
from callcenter.business.repository import (
    BusinessRepository,
    Completion,
    FirstDelivery,
    WrapupContext,
)
from callcenter.business.sla import (
    Clock,
    ClockState,
    Tier,
    callback_clock,
    complaint_clocks,
    complaint_step,
    needs_top_tier,
    unlogged_call_clock,
)
from callcenter.business.task_state import (
    STATUS_ACTION,
    Command,
    NotifyStatus,
    Origin,
    RecordEvent,
    decide,
)
from callcenter.business.wrapup import (
    RECORDS,
    DuplicateKey,
    FieldChange,
    Prefill,
    Wrapup,
    WrapupForm,
    check_link,
    check_terminal,
    duplicate_candidates,
    merchant_changes,
    new_record,
    prefill,
    updated_merchant,
    validate,
)
from callcenter.callbacks.rules import complaint_followup
from callcenter.callbacks_store import insert_plan
from callcenter.db.repositories import Store
from callcenter.domain import (
    CallOutcome,
    Complaint,
    DeliveryState,
    Merchant,
    Task,
    TaskKind,
    TaskStatus,
)
from callcenter.errors import Conflict, NotFound
from callcenter.topics import BOARD_TOPIC, WALLBOARD_TOPIC, Publisher, agent_topic

logger = logging.getLogger(__name__)

AGENT_ACTOR_PREFIX = "agent:"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class WrapupFormView:
    """What ``GET /api/calls/{linked_id}/wrapup`` shows."""

    context: WrapupContext
    prefill: Prefill
    duplicates: tuple[Task, ...]


@dataclass(frozen=True, slots=True)
class WrapupCheck:
    """A valid wrap-up before saving: what it would change and what it may duplicate."""

    wrapup: Wrapup
    merchant: Merchant | None
    changes: tuple[FieldChange, ...]
    duplicates: tuple[Task, ...]


@dataclass(frozen=True, slots=True)
class WrapupOutcome:
    """What a saved wrap-up created (``task`` is None for a call-only consultation)."""

    linked_id: str
    disposition: str
    task: Task | None
    linked: bool
    complaint: ComplaintCase | None
    merchant_changes: tuple[FieldChange, ...]
    merchant_updated: bool


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    event_id: str
    task_number: str
    applied: bool  # the task changed
    duplicate: bool  # the event id was seen before: nothing done
    status: str


@dataclass(frozen=True, slots=True)
class Alerts:
    """Everything that is late or broken, for the alerts list and the board banner."""

    dead_letters: list[DeadLetter] = field(default_factory=list)
    overdue_tasks: list[TaskView] = field(default_factory=list)
    complaints: list[tuple[ComplaintCase, tuple[Clock, ...]]] = field(default_factory=list)
    unlogged_calls: list[tuple[UnloggedCall, Clock]] = field(default_factory=list)
    callbacks: list[tuple[PendingCallback, Clock]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (len(self.dead_letters) + len(self.overdue_tasks) + len(self.complaints)
                + len(self.unlogged_calls) + len(self.callbacks))


# --------------------------------------------------------------------------- the service


class BusinessService:
    """The business records' use cases. ``external`` is True when a business-system URL is
    configured: records are then delivered through the outbox and the system reports status
    back through the webhook; otherwise the built-in store is the system of record
    (delivery state ``local``) and the built-in board is where dispatchers work."""

    def __init__(self, store: Store, hub: Publisher, *, tz: ZoneInfo, external: bool,
                 on_enqueued: Callable[[], None] | None = None,
                 retry_window: timedelta = RETRY_WINDOW, locale: str = "zh-CN") -> None:
        self.store = store
        self.locale = locale  # of the history lines the product writes
        self.repo = BusinessRepository(store)
        self.hub = hub
        self.tz = tz
        self.external = external
        self.on_enqueued = on_enqueued or (lambda: None)
        self.retry_window = retry_window
        self.on_complaint: Callable[[], None] = lambda: None
        """Called after a complaint is made or stepped (wakes the complaint clock timer)."""
        # told the linked id of every saved wrap-up (the composition root connects the CTI:
        # the agent leaves held after-call work, cti.agent_state rule 12)
        self.on_wrapped_up: Callable[[str], None] = lambda linked_id: None

    # ------------------------------------------------------------------ wrap-up

    async def wrapup_form(self, linked_id: str) -> WrapupFormView:
        """The pre-filled form and the merchant's open tasks; raises NotFound."""
        context = await self.repo.wrapup_context(linked_id)
        if context is None:
            raise NotFound(f"no call {linked_id}")
        filled = prefill(context.call, context.merchant, context.terminals, context.ivr_terminal)
        duplicates: tuple[Task, ...] = ()
        if filled.suggested_disposition is not None:
            duplicates = tuple(duplicate_candidates(
                RECORDS[filled.suggested_disposition], filled.values["terminal_serial"],
                context.open_tasks))
        return WrapupFormView(context, filled, duplicates)

    async def check_wrapup(self, linked_id: str, form: WrapupForm) -> WrapupCheck:
        """Validate without saving: the record diff and the duplicates the agent should see.
        Raises WrapupInvalid / NotFound."""
        async with self.store.transaction() as s:
            call = await self.repo.call(s, linked_id)
            if call is None:
                raise NotFound(f"no call {linked_id}")
            wrapup = validate(_with_merchant(form, call.merchant_id))
            return await self._check(s, wrapup)

    async def _check(self, s: AsyncSession, wrapup: Wrapup) -> WrapupCheck:
        if wrapup.merchant_id is None:
            return WrapupCheck(wrapup, None, (), ())
        merchant = await self.repo.merchant(s, wrapup.merchant_id)
        if merchant is None:
            raise WrapupInvalid([FieldError("merchant_id",
                                            f"no merchant {wrapup.merchant_id}")])
        if wrapup.terminal_serial:
            check_terminal(wrapup, merchant.id, await self.repo.terminal(
                s, wrapup.terminal_serial))
        duplicates: tuple[Task, ...] = ()
        if wrapup.spec.duplicate_key is not DuplicateKey.NONE:
            duplicates = tuple(duplicate_candidates(
                wrapup.spec, wrapup.terminal_serial, await self.repo.open_tasks(s, merchant.id)))
        return WrapupCheck(wrapup, merchant, merchant_changes(merchant, wrapup), duplicates)

    async def record_wrapup(self, linked_id: str, form: WrapupForm, *,
                            agent_number: str | None, now: datetime) -> WrapupOutcome:
        """Save the wrap-up of call ``linked_id`` by ``agent_number`` (None: an administrator
        acting for the agent).

        Raises WrapupInvalid (every bad field), NotFound (no such call), NotYourCall (another
        agent's call), Conflict (not answered, already wrapped up), PossibleDuplicate (an open
        task covers it: link or confirm). Nothing is written unless everything is.
        """
        for attempt in (1, 2):
            try:
                async with self.store.transaction() as s:
                    outcome = await self._record(s, linked_id, form, agent_number, now)
                break
            except IntegrityError as exc:
                # The same call saved twice at the same moment: task_calls.linked_id is unique.
                # The retry finds the call wrapped up and says so.
                if attempt == 2:
                    raise Conflict(f"call {linked_id} was wrapped up concurrently") from exc
                logger.info("wrap-up of %s hit a concurrent save; retrying", linked_id)
        self._after_record(outcome, now)
        try:
            self.on_wrapped_up(outcome.linked_id)
        except Exception:  # the wrap-up is saved: a CTI hiccup must not turn it into an error
            logger.exception("telling the CTI about the wrap-up of %s failed", outcome.linked_id)
        return outcome

    async def _record(self, s: AsyncSession, linked_id: str, form: WrapupForm,
                      agent_number: str | None, now: datetime) -> WrapupOutcome:
        call = await self.repo.call(s, linked_id, lock=True)
        if call is None:
            raise NotFound(f"no call {linked_id}")
        if agent_number is not None and call.agent_number != agent_number:
            raise NotYourCall(f"call {linked_id} was taken by agent {call.agent_number or '-'}")
        if call.answered_at is None and call.outcome != CallOutcome.ANSWERED.value:
            raise Conflict(f"call {linked_id} was not answered: nothing to wrap up")
        if call.disposition is not None:
            raise Conflict(f"call {linked_id} is already wrapped up as {call.disposition}")
        wrapup = validate(_with_merchant(form, call.merchant_id))
        check = await self._check(s, wrapup)
        merchant = check.merchant
        verified = merchant.id if merchant is not None and merchant.id != call.merchant_id \
            else None
        await self.repo.record_disposition(s, linked_id, wrapup.disposition.value,
                                           wrapup.note or wrapup.description, verified)
        if merchant is None:  # a consultation from a caller who is no merchant: call only
            return WrapupOutcome(linked_id, wrapup.disposition.value, None, False, None, (),
                                 False)
        updated = False
        if wrapup.update_merchant and check.changes:
            await self.store.merchants.upsert_many(
                [updated_merchant(merchant, check.changes)], now, session=s)
            updated = True
            logger.info("merchant %s updated from call %s: %s", merchant.merchant_number,
                     linked_id, ", ".join(c.field for c in check.changes))
        actor = AGENT_ACTOR_PREFIX + (call.agent_number or "?")
        if wrapup.link_task_number:
            target = await self.repo.task(s, wrapup.link_task_number, lock=True)
            if target is None:
                raise WrapupInvalid([FieldError("link_task_number",
                                                f"no task {wrapup.link_task_number}")])
            check_link(wrapup, merchant.id, target.task)
            note = wrapup.note or wrapup.description
            record = await self.repo.link_call(
                s, target.task.id, linked_id, call.agent_number, now, actor,
                self._note("linked", linked_id=linked_id) + (f" — {note}" if note else ""))
            if self.external:
                await self._enqueue(s, record, merchant, TaskEventType.CALL_LINKED, now)
        else:
            if check.duplicates and not wrapup.new_despite_open:
                raise PossibleDuplicate([t.task_number for t in check.duplicates])
            delivery = DeliveryState.PENDING if self.external else DeliveryState.LOCAL
            first = None
            if self.external:
                origin = TaskCall(linked_id, call.agent_number, CallRelation.ORIGIN, now)
                first = FirstDelivery(
                    lambda record, complaint: self._payload(
                        record, merchant, TaskEventType.CREATED, [origin], complaint),
                    idempotency_key, now, now + self.retry_window)
            # numbered last: the day's counter stays locked from here to the commit
            record, _ = await self.repo.create_record(s, new_record(
                wrapup, task_number="", merchant_id=merchant.id, linked_id=linked_id,
                agent_number=call.agent_number, delivery_state=delivery.value,
                second_line_at_once=not self.external, at=now, actor=actor,
                note=self._note("recorded", linked_id=linked_id, disposition=self._note(
                    f"disposition.{wrapup.disposition.value}"))),
                wrapup.spec.prefix, now.astimezone(self.tz).date(), first)
        case = None
        if record.task.kind is TaskKind.COMPLAINT:
            case = await self.repo.complaint_of_task(s, record.task.id)
            if case is not None and case.complaint.closed_at is not None:  # class 1: settled
                await self._schedule_followup(s, case.complaint.id, case.complaint.merchant_id,
                                              case.complaint.closed_at)
        return WrapupOutcome(linked_id, wrapup.disposition.value, record.task,
                             bool(wrapup.link_task_number), case, check.changes, updated)

    async def _enqueue(self, s: AsyncSession, record: TaskRecord, merchant: Merchant,
                       event: str, now: datetime) -> None:
        """Queue a later version of a task (a new one is queued by ``repo.create_record``)."""
        task = record.task
        calls = await self.repo.task_calls(s, task.id)
        complaint = None
        if task.kind is TaskKind.COMPLAINT:
            case = await self.repo.complaint_of_task(s, task.id)
            complaint = case.complaint if case is not None else None
        await self.repo.enqueue(s, record,
                                self._payload(record, merchant, event, calls, complaint),
                                idempotency_key(task.task_number, task.version), now,
                                now + self.retry_window)

    async def deliver_backlog(self, now: datetime, *, batch: int = 200) -> int:
        """With a business system configured: queue every task still ``local`` (recorded
        before one was) for delivery, as ``created`` with its current version. Returns how
        many were queued; without a business system nothing happens."""
        if not self.external:
            return 0
        total = 0
        while True:
            async with self.store.transaction() as s:
                records = await self.repo.local_tasks(s, batch)
                for record in records:
                    merchant = await self.repo.merchant(s, record.task.merchant_id)
                    if merchant is None:
                        raise NotFound(f"task {record.task.task_number}: no merchant")
                    await self._enqueue(s, record, merchant, TaskEventType.CREATED, now)
            total += len(records)
            if len(records) < batch:
                break
        if total:
            logger.warning("%d task(s) recorded before the business system was configured "
                           "are queued for delivery", total)
            self.on_enqueued()
        return total

    @staticmethod
    def _payload(record: TaskRecord, merchant: Merchant, event: str,
                 calls: Sequence[TaskCall], complaint: Complaint | None) -> dict[str, Any]:
        return task_payload(
            event=event, task=record.task, disposition=record.disposition,
            department=record.department, merchant_number=merchant.merchant_number,
            merchant_name=merchant.name, calls=calls, complaint=complaint)

    def _after_record(self, outcome: WrapupOutcome, now: datetime) -> None:
        if outcome.task is None:
            return
        if self.external:
            self.on_enqueued()
        event = "call_linked" if outcome.linked else "created"
        self.hub.publish(BOARD_TOPIC, {"type": "task", "event": event,
                                       "task_number": outcome.task.task_number,
                                       "kind": outcome.task.kind.value})
        case = outcome.complaint
        if case is not None:
            self.on_complaint()
        if case is not None and not outcome.linked:
            c = case.complaint
            if c.complaint_class == 2 or needs_top_tier(c.amount_yuan, c.media_exposure):
                alert = {"type": "alert", "alert": "complaint", "complaint_id": c.id,
                         "task_number": case.task_number, "class": c.complaint_class,
                         "escalation_tier": c.escalation_tier}
                self.hub.publish(BOARD_TOPIC, alert)
                self.hub.publish(WALLBOARD_TOPIC, alert)
                logger.warning("complaint %s (class %s) escalated to tier %s", case.task_number,
                            c.complaint_class, Tier(c.escalation_tier).name)

    def _note(self, key: str, **params: str) -> str:
        if key.startswith("disposition."):
            return translate(f"business.{key}", self.locale)
        return translate(f"business.note.{key}", self.locale, **params)

    def _event_note(self, effect: RecordEvent) -> str:
        params = dict(effect.params)
        if "appointment_at" in params:
            at = datetime.fromisoformat(params["appointment_at"])
            params["appointment"] = at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        for key in ("reported", "current"):
            if key in params:
                params[key] = translate(f"business.status.{params[key]}", self.locale)
        return self._note(effect.note, **params)

    # ------------------------------------------------------------------ status changes

    async def change_status(self, task_number: str, command: Command, *, actor: str,
                            now: datetime) -> Task:
        """A dispatcher's action on the built-in board. Raises Conflict while an external
        business system is the system of record, UnknownTask, TaskStateConflict,
        ValidationError (missing engineer, time or reason)."""
        if self.external:
            raise Conflict("the business management system is the system of record: change "
                           "the task there")
        async with self.store.transaction() as s:
            record = await self.repo.task(s, task_number, lock=True)
            if record is None:
                raise UnknownTask(f"no task {task_number}")
            new, effects = decide(presentation.task_state_of(record.task), command,
                                  Origin.BOARD)
            task = (await self.repo.save_state(s, record.task.id, new, now)).task
            for effect in effects:
                if isinstance(effect, RecordEvent):
                    await self.repo.add_event(s, task.id, now, effect.status.value, actor,
                                              self._event_note(effect))
            await self._close_complaint_if_final(s, task, now)
            agents = await self.repo.agents_of(s, task.id)
        logger.info("task %s: %s -> %s by %s", task_number, command.action.value,
                 task.status.value, actor)
        await self._notify(task, agents, effects)
        return task

    async def apply_webhook(self, event: WebhookEvent, now: datetime) -> WebhookOutcome:
        """Apply a status change the business system reported (signature already checked).

        A replayed ``event_id`` changes nothing and says ``duplicate``; an unknown task raises
        UnknownTask (and is not remembered, so the system may retry it once the task exists).
        """
        try:
            async with self.store.transaction() as s:
                if await self.repo.webhook_seen(s, event.event_id):
                    return WebhookOutcome(event.event_id, event.task_number, False, True, "")
                record = await self.repo.task(s, event.task_number, lock=True)
                if record is None:
                    raise UnknownTask(f"no task {event.task_number}")
                await self.repo.remember_webhook(s, event.event_id, now)
                task = record.task
                before = presentation.task_state_of(task)
                command = Command(STATUS_ACTION[event.status], engineer=event.engineer,
                                  appointment_at=event.appointment_at, reason=event.reason)
                new, effects = decide(before, command, Origin.BUSINESS_SYSTEM)
                if event.external_id:
                    await self.repo.set_external_id(s, task.id, event.external_id)
                at = min(event.occurred_at, now)  # a skewed clock must not date history ahead
                for effect in effects:
                    if isinstance(effect, RecordEvent):
                        note = self._event_note(effect) + (
                            f" — {event.note}" if event.note else "")
                        await self.repo.add_event(s, task.id, at, effect.status.value,
                                                  "business_system", note, event.event_id)
                applied = new != before
                if applied:
                    task = (await self.repo.save_state(s, task.id, new, now)).task
                    await self._close_complaint_if_final(s, task, now)
                agents = await self.repo.agents_of(s, task.id)
        except IntegrityError:
            # The same event delivered twice at the same moment: the other copy won.
            logger.info("webhook event %s applied concurrently: duplicate", event.event_id)
            return WebhookOutcome(event.event_id, event.task_number, False, True, "")
        logger.info("task %s: business system reports %s (%s)", task.task_number,
                 event.status.value, "applied" if applied else "no change")
        if applied:
            await self._notify(task, agents, effects)
        return WebhookOutcome(event.event_id, task.task_number, applied, False,
                              task.status.value)

    async def _close_complaint_if_final(self, s: AsyncSession, task: Task, now: datetime
                                        ) -> None:
        if task.kind is TaskKind.COMPLAINT and not task.open:
            await self.repo.close_complaint_of_task(s, task.id, now)
            case = await self.repo.complaint_of_task(s, task.id)
            if case is not None and case.complaint.closed_at is not None:
                await self._schedule_followup(s, case.complaint.id, case.complaint.merchant_id,
                                              case.complaint.closed_at)

    async def _schedule_followup(self, s: AsyncSession, complaint_id: int, merchant_id: int,
                                 closed_at: datetime) -> None:
        """A closed complaint gets its follow-up callback within one month (once)."""
        await insert_plan(s, complaint_followup(complaint_id, merchant_id, closed_at, self.tz),
                          closed_at)

    async def _notify(self, task: Task, agents: Sequence[str],
                      effects: Sequence[RecordEvent | NotifyStatus]) -> None:
        if not any(isinstance(e, NotifyStatus) for e in effects):
            return
        view = await self.repo.view(task.task_number)
        if view is None:
            return
        message = presentation.status_message(view, self.tz)
        for agent in agents or [task.agent_number]:
            self.hub.publish(agent_topic(agent), message)
        self.hub.publish(BOARD_TOPIC, {"type": "task", "event": "status",
                                       "task_number": task.task_number,
                                       "status": task.status.value})

    # ------------------------------------------------------------------ complaints

    async def complaint_action(self, complaint_id: int, action: str, text: str, *, actor: str,
                               now: datetime) -> ComplaintCase:
        """Report to the supervisor, give the temporary solution, or close (with the result).
        Raises NotFound, ValidationError (unknown action, missing text), Conflict (closed)."""
        async with self.store.transaction() as s:
            case = await self.repo.complaint(s, complaint_id, lock=True)
            if case is None:
                raise NotFound(f"no complaint {complaint_id}")
            updated = complaint_step(case.complaint, action, text, now)
            await self.repo.save_complaint(s, updated)
            if updated.closed_at is not None:
                await self._schedule_followup(s, updated.id, updated.merchant_id,
                                              updated.closed_at)
            if case.task_id is not None:
                # (an open complaint has an open ticket: a final ticket closes its complaint)
                close_ticket = updated.closed_at is not None and not self.external
                record = await self.repo.touch(
                    s, case.task_id, now,
                    # with the built-in store, closing the complaint closes its ticket
                    TaskStatus.DONE if close_ticket else None)
                await self.repo.add_event(s, case.task_id, now, record.task.status.value, actor,
                                          self._note(f"complaint_{action}", text=text.strip()))
                if self.external:
                    merchant = await self.repo.merchant(s, record.task.merchant_id)
                    if merchant is not None:
                        await self._enqueue(s, record, merchant, TaskEventType.UPDATED, now)
            case = await self.repo.complaint(s, complaint_id)
            assert case is not None  # read back inside the same transaction
        if self.external:
            self.on_enqueued()
        self.hub.publish(BOARD_TOPIC, {"type": "complaint", "complaint_id": complaint_id,
                                       "action": action})
        self.on_complaint()
        return case

    async def daily_complaints(self, day: date) -> tuple[list[ComplaintCase],
                                                         list[ComplaintCase]]:
        """Class-1 and class-2 complaints made on ``day`` (local), for the team lead."""
        start = datetime.combine(day, time(0), self.tz).astimezone(UTC)
        end = start + timedelta(days=1)
        cases = await self.repo.complaints(start=start, end=end)
        return ([c for c in cases if c.complaint.complaint_class == 1],
                [c for c in cases if c.complaint.complaint_class == 2])

    # ------------------------------------------------------------------ reads and alerts

    async def board(self, flt: BoardFilter, now: datetime) -> list[TaskView]:
        return await self.repo.board(flt, now)

    async def detail(self, task_number: str) -> TaskDetail:
        detail = await self.repo.detail(task_number)
        if detail is None:
            raise UnknownTask(f"no task {task_number}")
        return detail

    async def alerts(self, now: datetime) -> Alerts:
        """Dead letters, overdue tasks, complaint clocks, unlogged calls, pending callbacks."""
        complaints = []
        recent = await self.repo.complaints(start=now - timedelta(days=1))
        still_open = await self.repo.complaints(open_only=True)
        seen: set[int] = set()
        for case in [*still_open, *recent]:
            c = case.complaint
            if c.id in seen:
                continue
            seen.add(c.id)
            clocks = complaint_clocks(
                complaint_class=c.complaint_class, created_at=c.created_at,
                reported_at=c.reported_at, temporary_solution_at=c.temporary_solution_at,
                second_line_at=case.second_line_at, closed_at=c.closed_at, now=now)
            # open class-2 complaints until their clocks are all met; top-tier ones for a day
            waiting = c.closed_at is None and any(k.state is not ClockState.MET for k in clocks)
            top_today = (needs_top_tier(c.amount_yuan, c.media_exposure)
                         and now - c.created_at < timedelta(days=1))
            if waiting or top_today:
                complaints.append((case, clocks))
        unlogged = [(u, unlogged_call_clock(u.ended_at, now))
                    for u in await self.repo.unlogged_calls(
                        ended_before=now - timedelta(minutes=15), since=now - timedelta(days=1))]
        callbacks = [(cb, callback_clock(cb.pending_since, cb.due_at, now))
                     for cb in await self.repo.pending_callbacks()]
        return Alerts(
            dead_letters=await self.repo.dead_letters(),
            overdue_tasks=await self.repo.overdue_tasks(now),
            complaints=complaints, unlogged_calls=unlogged,
            callbacks=[(cb, k) for cb, k in callbacks if k.state is ClockState.OVERDUE],
        )

    # ------------------------------------------------------------------ outbox

    async def requeue(self, outbox_id: int, now: datetime) -> OutboxEntry:
        """Give a dead letter a new 3-day window. Raises NotFound, Conflict (not dead)."""
        def requeued(delivery: Delivery) -> Delivery:
            try:
                return transition(delivery, Requeued(self.retry_window), now)[0]
            except IllegalTransition as exc:
                raise Conflict(f"outbox row {outbox_id} is not dead: {exc}") from exc

        entry = await self.repo.requeue(outbox_id, now, requeued)
        if entry is None:
            raise NotFound(f"no outbox row {outbox_id}")
        logger.info("outbox %s requeued", entry.idempotency_key)
        self.on_enqueued()
        self.hub.publish(BOARD_TOPIC, {"type": "delivery", "outbox_id": outbox_id,
                                       "state": entry.state.value})
        return entry

    def delivered(self, completions: Sequence[Completion]) -> None:
        """Tell the board what the outbox worker delivered or gave up on."""
        for done in completions:
            self.hub.publish(BOARD_TOPIC, {"type": "delivery", "task_number": done.task_number,
                                           "state": done.state.value,
                                           "delivery_state": done.task_delivery_state.value})
            if done.state is OutboxState.DEAD:
                alert = {"type": "alert", "alert": "dead_letter", "outbox_id": done.outbox_id,
                         "task_number": done.task_number}
                self.hub.publish(BOARD_TOPIC, alert)
                self.hub.publish(WALLBOARD_TOPIC, alert)


# --------------------------------------------------------------------------- helpers


def _with_merchant(form: WrapupForm, call_merchant_id: int | None) -> WrapupForm:
    """The merchant the IVR identified, unless the agent named another one."""
    if form.merchant_id is None and call_merchant_id is not None:
        return replace(form, merchant_id=call_merchant_id)
    return form


