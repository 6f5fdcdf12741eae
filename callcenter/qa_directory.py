"""Quality inspection's storage on the domain store: the daily draw into ``qa_assignments``,
score sheets in ``qa_reviews`` (versioned, never edited), the agent's answer, the summary.

Errors: :class:`QaConflict` (409) for a second submission or an answer to a superseded
version, ``NotFound`` for an unknown assignment or review, ``Forbidden``-like
:class:`QaNotYours` (403) for someone else's assignment or evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from callcenter.db.models import (
    AgentRow,
    MerchantRow,
    QaAssignmentRow,
    QaReviewRow,
    RecordingRow,
    UserRow,
)
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.errors import CallcenterError, NotFound
from recording.pipeline_state import Stage
from recording.qa_rules import (
    Candidate,
    Draw,
    Mark,
    QaForm,
    Scored,
    draw_sample,
    record_passed,
)

__all__ = ["QaConflict", "QaNotYours", "StoreQa"]


class QaConflict(CallcenterError):
    error_id = "qa_conflict"
    status = 409


class QaNotYours(CallcenterError):
    error_id = "qa_not_yours"
    status = 403


@dataclass(frozen=True, slots=True)
class Assignment:
    id: int
    recording_token: str
    linked_id: str
    agent_number: str
    reviewer: str
    day: date
    state: str
    started_at: datetime | None
    duration_s: float | None
    queue: str
    merchant: str
    review_id: int | None = None


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    assignment_id: int | None
    recording_token: str
    linked_id: str
    agent_number: str
    reviewer: str
    form_version: str
    version: int
    marks: dict[str, Mark]
    passed: bool
    comment: str
    created_at: datetime
    superseded: bool
    supersedes_id: int | None
    correction_reason: str
    agent_answer: str
    agent_answer_note: str
    agent_answer_at: datetime | None


def _marks_json(marks: dict[str, Mark]) -> dict[str, Any]:
    return {k: {"pass": m.passed, "comment": m.comment, "at_s": m.at_s}
            for k, m in marks.items()}


def _review(row: QaReviewRow) -> Review:
    marks = {k: Mark(bool(v.get("pass")), str(v.get("comment", "")), v.get("at_s"))
             for k, v in (row.scores or {}).items()}
    return Review(id=row.id, assignment_id=row.assignment_id,
                  recording_token=row.recording_token, linked_id=row.linked_id,
                  agent_number=row.agent_number, reviewer=row.reviewer,
                  form_version=row.form_version, version=row.version, marks=marks,
                  passed=row.passed, comment=row.comment, created_at=row.created_at,
                  superseded=row.superseded, supersedes_id=row.supersedes_id,
                  correction_reason=row.correction_reason, agent_answer=row.agent_answer,
                  agent_answer_note=row.agent_answer_note,
                  agent_answer_at=row.agent_answer_at)


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tz)
    return start, start + timedelta(days=1)


class StoreQa:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def reviewers(self) -> list[str]:
        """Who reviews: the active supervisors and team leads (the regulations' QA reviewers)."""
        async with self.store.transaction() as s:
            return list((await s.execute(
                select(UserRow.username).where(UserRow.role.in_((Role.SUPERVISOR.value,
                                                                 Role.TEAM_LEAD.value)),
                                               UserRow.active.is_(True))
                .order_by(UserRow.username))).scalars())

    async def draw(self, day: date, tz: ZoneInfo, now: datetime, *, per_agent: int,
                   min_seconds: float, reviewers: Sequence[str] | None = None) -> list[Draw]:
        """Draw (or top up) the day's sample and store the assignments; idempotent."""
        reviewers = list(reviewers) if reviewers is not None else await self.reviewers()
        start, end = local_day_bounds(day, tz)
        r = RecordingRow
        async with self.store.transaction() as s:
            drawn = select(QaAssignmentRow.recording_id)
            rows = (await s.execute(
                select(r.id, r.agent_number, r.queue, r.started_at, r.duration_s)
                .where(r.started_at >= start, r.started_at < end,
                       r.stage == Stage.STORED.value, r.agent_number != "",
                       r.duration_s.is_not(None), r.id.not_in(drawn)))).all()
            already = dict((await s.execute(
                select(QaAssignmentRow.agent_number, func.count())
                .where(QaAssignmentRow.day == day)
                .group_by(QaAssignmentRow.agent_number))).all())
            load = dict((await s.execute(
                select(QaAssignmentRow.reviewer, func.count())
                .where(QaAssignmentRow.day == day)
                .group_by(QaAssignmentRow.reviewer))).all())
            candidates = [Candidate(row.id, row.agent_number, row.queue,
                                    row.started_at.astimezone(tz).hour, row.duration_s)
                          for row in rows]
            if not candidates or not reviewers:
                return []
            draws = draw_sample(candidates, reviewers=reviewers, seed=day.isoformat(),
                                per_agent=per_agent, min_seconds=min_seconds,
                                already=already, load=load)
            ids = {row.id: row for row in (await s.execute(select(r.id, r.token, r.linked_id)
                                                           .where(r.id.in_([d.recording_id
                                                                            for d in draws])))
                                           ).all()}
            for d in draws:
                await s.execute(insert(QaAssignmentRow).values(
                    recording_id=d.recording_id, recording_token=ids[d.recording_id].token,
                    linked_id=ids[d.recording_id].linked_id, agent_number=d.agent_number,
                    reviewer=d.reviewer, day=day, state="assigned", created_at=now))
        return draws

    async def assignments(self, *, reviewer: str | None = None, day: date | None = None,
                          state: str | None = None, recording_token: str | None = None,
                          limit: int = 500) -> list[Assignment]:
        a, r = QaAssignmentRow, RecordingRow
        query = (select(a, r.started_at, r.duration_s, r.queue, MerchantRow.name,
                        QaReviewRow.id.label("review_id"))
                 .outerjoin(r, r.id == a.recording_id)
                 .outerjoin(MerchantRow, MerchantRow.id == r.merchant_id)
                 .outerjoin(QaReviewRow, (QaReviewRow.assignment_id == a.id)
                            & QaReviewRow.superseded.is_(False))
                 .order_by(a.day.desc(), a.id).limit(limit))
        if reviewer is not None:
            query = query.where(a.reviewer == reviewer)
        if day is not None:
            query = query.where(a.day == day)
        if state is not None:
            query = query.where(a.state == state)
        if recording_token is not None:
            query = query.where(a.recording_token == recording_token)
        async with self.store.transaction() as s:
            rows = (await s.execute(query)).all()
        return [Assignment(id=row[0].id, recording_token=row[0].recording_token,
                           linked_id=row[0].linked_id, agent_number=row[0].agent_number,
                           reviewer=row[0].reviewer, day=row[0].day, state=row[0].state,
                           started_at=row.started_at, duration_s=row.duration_s,
                           queue=row.queue or "", merchant=row.name or "",
                           review_id=row.review_id) for row in rows]

    async def submit(self, assignment_id: int, reviewer: str, *, admin: bool, form: QaForm,
                     marks: dict[str, Mark], comment: str, now: datetime) -> Review:
        """Rule 5: the first and only submission of an assignment's evaluation."""
        async with self.store.transaction() as s:
            a = await s.get(QaAssignmentRow, assignment_id, with_for_update=True)
            if a is None:
                raise NotFound(f"no QA assignment {assignment_id}")
            if a.reviewer != reviewer and not admin:
                raise QaNotYours("this call is assigned to another reviewer")
            if a.state != "assigned":
                raise QaConflict("already scored: a submitted evaluation is never edited")
            row = QaReviewRow(linked_id=a.linked_id, agent_number=a.agent_number,
                              reviewer=reviewer, scores=_marks_json(marks),
                              passed=record_passed(marks), comment=comment[:400],
                              created_at=now, assignment_id=a.id,
                              recording_token=a.recording_token, form_version=form.version,
                              version=1)
            s.add(row)
            a.state = "scored"
            await s.flush()
            return _review(row)

    async def correct(self, review_id: int, admin: str, *, form: QaForm,
                      marks: dict[str, Mark], comment: str, reason: str,
                      now: datetime) -> Review:
        """Rule 5: an administrator's correction, a new version superseding ``review_id``."""
        async with self.store.transaction() as s:
            old = await s.get(QaReviewRow, review_id, with_for_update=True)
            if old is None:
                raise NotFound(f"no QA review {review_id}")
            if old.superseded:
                raise QaConflict("this version was already corrected; correct the latest")
            old.superseded = True
            row = QaReviewRow(linked_id=old.linked_id, agent_number=old.agent_number,
                              reviewer=admin, scores=_marks_json(marks),
                              passed=record_passed(marks), comment=comment[:400],
                              created_at=now, assignment_id=old.assignment_id,
                              recording_token=old.recording_token, form_version=form.version,
                              version=old.version + 1, supersedes_id=old.id,
                              correction_reason=reason[:400])
            s.add(row)
            await s.flush()
            return _review(row)

    async def answer(self, review_id: int, agent_number: str, answer: str, note: str,
                     now: datetime) -> Review:
        """The agent acknowledges or disputes their current evaluation."""
        async with self.store.transaction() as s:
            row = await s.get(QaReviewRow, review_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no QA review {review_id}")
            if row.agent_number != agent_number:
                raise QaNotYours("this evaluation is about another agent")
            if row.superseded:
                raise QaConflict("this version was corrected; answer the latest")
            row.agent_answer, row.agent_answer_note = answer, note[:400]
            row.agent_answer_at = now
            await s.flush()
            return _review(row)

    async def reviews(self, *, agent_number: str | None = None,
                      recording_token: str | None = None, current_only: bool = True,
                      limit: int = 500) -> list[Review]:
        query = select(QaReviewRow).order_by(QaReviewRow.id.desc()).limit(limit)
        if agent_number is not None:
            query = query.where(QaReviewRow.agent_number == agent_number)
        if recording_token is not None:
            query = query.where(QaReviewRow.recording_token == recording_token)
        if current_only:
            query = query.where(QaReviewRow.superseded.is_(False))
        async with self.store.transaction() as s:
            return [_review(r) for r in (await s.execute(query)).scalars()]

    async def scored(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[Scored]:
        """Current evaluations created in [start, end), for :func:`summarise`."""
        async with self.store.transaction() as s:
            rows = (await s.execute(select(QaReviewRow).where(
                QaReviewRow.superseded.is_(False), QaReviewRow.created_at >= start,
                QaReviewRow.created_at < end))).scalars().all()
        return [Scored(agent_number=r.agent_number, created_at=r.created_at,
                       month=r.created_at.astimezone(tz).strftime("%Y-%m"), passed=r.passed,
                       failed_criteria=tuple(k for k, v in (r.scores or {}).items()
                                             if not v.get("pass")),
                       disputed=r.agent_answer == "disputed") for r in rows]

    async def agent_of_user(self, user_id: int) -> str | None:
        async with self.store.transaction() as s:
            return await s.scalar(select(AgentRow.agent_number).where(
                AgentRow.user_id == user_id))
