"""Repositories: the only code that turns ORM rows into domain objects and back.

Each method opens its own short transaction unless a session is passed in (``session=``), so a
use case can put several writes in one transaction (an import, a task and its outbox row).
Everything returned is a frozen dataclass from :mod:`callcenter.domain`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.audit import AuditEntry
from callcenter.call_records import RULES, CallWriteSpec, Writer, write_calls
from callcenter.db.models import (
    AgentRow,
    AuditRow,
    CallEventRow,
    CallRow,
    MerchantPhoneRow,
    MerchantRow,
    QueueRow,
    SessionRow,
    TaskRow,
    TerminalRow,
    UserRow,
)
from callcenter.domain import (
    OPEN_TASK_STATUSES,
    Agent,
    Call,
    CallEvent,
    DeliveryState,
    Merchant,
    MerchantInput,
    Queue,
    Role,
    Task,
    TaskKind,
    TaskStatus,
    Terminal,
    TerminalInput,
    User,
)
from callcenter.errors import Conflict, NotFound
from callcenter.web.session import SessionRecord

# --------------------------------------------------------------------------- row → domain


def merchant_from_row(row: MerchantRow) -> Merchant:
    return Merchant(
        id=row.id,
        merchant_number=row.merchant_number,
        name=row.name,
        address=row.address,
        district=row.district,
        contact_person=row.contact_person,
        phones=tuple(p.phone for p in row.phones),
        business_hours=row.business_hours,
        tags=frozenset(row.tags or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def terminal_from_row(row: TerminalRow) -> Terminal:
    return Terminal(
        id=row.id, serial=row.serial, model=row.model, merchant_id=row.merchant_id,
        install_date=row.install_date, status=row.status,
    )


def user_from_row(row: UserRow) -> User:
    return User(
        id=row.id, username=row.username, display_name=row.display_name, role=Role(row.role),
        active=row.active, locale=row.locale,
    )


def agent_from_row(row: AgentRow) -> Agent:
    return Agent(
        id=row.id, agent_number=row.agent_number, name=row.name, interface=row.interface,
        queues=tuple(row.queues or ()), skills=tuple(row.skills or ()), user_id=row.user_id,
        state_interface=row.state_interface,
    )


def queue_from_row(row: QueueRow) -> Queue:
    return Queue(
        id=row.id, name=row.name, title_zh=row.title_zh, title_en=row.title_en,
        strategy=row.strategy, service_level_s=row.service_level_s, wrapup_s=row.wrapup_s,
    )


def call_from_row(row: CallRow) -> Call:
    return Call(
        id=row.id, linked_id=row.linked_id, unique_id=row.unique_id,
        caller_number=row.caller_number, merchant_id=row.merchant_id,
        merchant_verified=row.merchant_verified, ivr_path=row.ivr_path, intent=row.intent,
        lang=row.lang, queue=row.queue, priority=row.priority, agent_number=row.agent_number,
        started_at=row.started_at, queued_at=row.queued_at, answered_at=row.answered_at,
        ended_at=row.ended_at, wait_s=row.wait_s, talk_s=row.talk_s, outcome=row.outcome,
        disposition=row.disposition, wrapup_note=row.wrapup_note,
        satisfaction=row.satisfaction,
    )


def task_from_row(row: TaskRow) -> Task:
    return Task(
        id=row.id, task_number=row.task_number, kind=TaskKind(row.kind),
        status=TaskStatus(row.status), merchant_id=row.merchant_id, linked_id=row.linked_id,
        agent_number=row.agent_number, terminal_serial=row.terminal_serial,
        product_model=row.product_model, address=row.address, site_phone=row.site_phone,
        business_hours=row.business_hours, contact_person=row.contact_person,
        description=row.description, engineer=row.engineer, appointment_at=row.appointment_at,
        cancel_reason=row.cancel_reason, external_id=row.external_id,
        delivery_state=DeliveryState(row.delivery_state), version=row.version,
        created_at=row.created_at, updated_at=row.updated_at,
    )


class Store:
    """Entry point to the repositories, sharing one session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.merchants = MerchantRepository(self)
        self.terminals = TerminalRepository(self)
        self.users = UserRepository(self)
        self.agents = AgentRepository(self)
        self.queues = QueueRepository(self)
        self.calls = CallRepository(self)
        self.tasks = TaskReadRepository(self)
        self.web_sessions = SessionRepository(self)
        self.audit = AuditRepository(self)

    @asynccontextmanager
    async def transaction(self, session: AsyncSession | None = None) -> AsyncIterator[AsyncSession]:
        """Reuse the caller's session (its transaction) or open a new one and commit it."""
        if session is not None:
            yield session
            return
        async with self.sessions() as new, new.begin():
            yield new


class _Repo:
    def __init__(self, store: Store) -> None:
        self.store = store


class MerchantRepository(_Repo):
    async def get(self, merchant_id: int) -> Merchant:
        async with self.store.transaction() as s:
            row = await s.get(MerchantRow, merchant_id)
            if row is None:
                raise NotFound(f"merchant {merchant_id} does not exist")
            return merchant_from_row(row)

    async def by_number(self, number: str) -> Merchant | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(MerchantRow).where(MerchantRow.merchant_number == number))
            return merchant_from_row(row) if row else None

    async def by_numbers(self, numbers: Iterable[str], session: AsyncSession | None = None
                         ) -> dict[str, int]:
        wanted = list(set(numbers))
        result: dict[str, int] = {}
        async with self.store.transaction(session) as s:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows = await s.execute(
                    select(MerchantRow.merchant_number, MerchantRow.id)
                    .where(MerchantRow.merchant_number.in_(chunk))
                )
                result.update(dict(rows.all()))
        return result

    async def by_phone(self, phone: str) -> list[Merchant]:
        """Every merchant with this normalised phone (several means the caller is ambiguous)."""
        async with self.store.transaction() as s:
            rows = await s.scalars(
                select(MerchantRow).join(MerchantPhoneRow)
                .where(MerchantPhoneRow.phone == phone).order_by(MerchantRow.id)
            )
            return [merchant_from_row(r) for r in rows.unique()]

    async def count(self) -> int:
        async with self.store.transaction() as s:
            return int(await s.scalar(select(func.count(MerchantRow.id))) or 0)

    async def search(self, query: str = "", limit: int = 50, offset: int = 0) -> list[Merchant]:
        async with self.store.transaction() as s:
            stmt = select(MerchantRow).order_by(MerchantRow.merchant_number)
            if query:
                like = f"%{query}%"
                stmt = stmt.where(or_(
                    MerchantRow.merchant_number.like(like), MerchantRow.name.like(like),
                    MerchantRow.id.in_(
                        select(MerchantPhoneRow.merchant_id)
                        .where(MerchantPhoneRow.phone.like(like))
                    ),
                ))
            rows = await s.scalars(stmt.limit(limit).offset(offset))
            return [merchant_from_row(r) for r in rows]

    async def upsert_many(self, items: Sequence[MerchantInput], now: datetime,
                          session: AsyncSession | None = None) -> tuple[int, int, int]:
        """Insert new merchants and update changed ones; returns (created, updated, unchanged).

        Idempotent: importing the same data twice changes nothing the second time (not even
        ``updated_at``).
        """
        created = updated = unchanged = 0
        async with self.store.transaction(session) as s:
            numbers = [m.merchant_number for m in items]
            existing: dict[str, MerchantRow] = {}
            for start in range(0, len(numbers), 500):
                rows = await s.scalars(
                    select(MerchantRow)
                    .where(MerchantRow.merchant_number.in_(numbers[start:start + 500]))
                )
                existing.update({r.merchant_number: r for r in rows})
            for item in items:
                row = existing.get(item.merchant_number)
                if row is None:
                    row = MerchantRow(merchant_number=item.merchant_number, created_at=now,
                                      updated_at=now, tags=[])
                    _apply_merchant(row, item)
                    row.phones = [MerchantPhoneRow(phone=p, position=i)
                                  for i, p in enumerate(item.phones)]
                    s.add(row)
                    existing[item.merchant_number] = row
                    created += 1
                elif _merchant_differs(row, item):
                    _apply_merchant(row, item)
                    if tuple(p.phone for p in row.phones) != item.phones:
                        row.phones.clear()
                        await s.flush()
                        row.phones.extend(MerchantPhoneRow(phone=p, position=i)
                                          for i, p in enumerate(item.phones))
                    row.updated_at = now
                    updated += 1
                else:
                    unchanged += 1
            await s.flush()
        return created, updated, unchanged


def _apply_merchant(row: MerchantRow, item: MerchantInput) -> None:
    row.name = item.name
    row.address = item.address
    row.district = item.district
    row.contact_person = item.contact_person
    row.business_hours = item.business_hours
    row.tags = sorted(item.tags)


def _merchant_differs(row: MerchantRow, item: MerchantInput) -> bool:
    return (
        row.name != item.name or row.address != item.address or row.district != item.district
        or row.contact_person != item.contact_person
        or row.business_hours != item.business_hours
        or sorted(row.tags or ()) != sorted(item.tags)
        or tuple(p.phone for p in row.phones) != item.phones
    )


class TerminalRepository(_Repo):
    async def for_merchant(self, merchant_id: int) -> list[Terminal]:
        async with self.store.transaction() as s:
            rows = await s.scalars(
                select(TerminalRow).where(TerminalRow.merchant_id == merchant_id)
                .order_by(TerminalRow.serial)
            )
            return [terminal_from_row(r) for r in rows]

    async def by_serial(self, serial: str) -> Terminal | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(TerminalRow).where(TerminalRow.serial == serial))
            return terminal_from_row(row) if row else None

    async def count(self) -> int:
        async with self.store.transaction() as s:
            return int(await s.scalar(select(func.count(TerminalRow.id))) or 0)

    async def upsert_many(self, items: Sequence[TerminalInput], merchant_ids: dict[str, int],
                          session: AsyncSession | None = None) -> tuple[int, int, int]:
        """Upsert by serial; ``merchant_ids`` maps merchant numbers to ids (checked before)."""
        created = updated = unchanged = 0
        async with self.store.transaction(session) as s:
            serials = [t.serial for t in items]
            existing: dict[str, TerminalRow] = {}
            for start in range(0, len(serials), 500):
                rows = await s.scalars(
                    select(TerminalRow).where(TerminalRow.serial.in_(serials[start:start + 500]))
                )
                existing.update({r.serial: r for r in rows})
            for item in items:
                merchant_id = merchant_ids[item.merchant_number]
                row = existing.get(item.serial)
                values = (item.model, merchant_id, item.install_date, str(item.status))
                if row is None:
                    s.add(TerminalRow(serial=item.serial, model=item.model,
                                      merchant_id=merchant_id, install_date=item.install_date,
                                      status=str(item.status)))
                    created += 1
                elif (row.model, row.merchant_id, row.install_date, row.status) != values:
                    row.model, row.merchant_id, row.install_date, row.status = values
                    updated += 1
                else:
                    unchanged += 1
            await s.flush()
        return created, updated, unchanged


class UserRepository(_Repo):
    async def add(self, username: str, display_name: str, role: Role, password_hash: str,
                  now: datetime, locale: str = "zh-CN",
                  session: AsyncSession | None = None) -> User:
        async with self.store.transaction(session) as s:
            taken = await s.scalar(select(UserRow.id).where(UserRow.username == username))
            if taken is not None:
                raise Conflict(f"user {username!r} already exists")
            row = UserRow(username=username, display_name=display_name, role=str(role),
                          password_hash=password_hash, active=True, locale=locale,
                          created_at=now)
            s.add(row)
            await s.flush()
            return user_from_row(row)

    async def credentials(self, username: str) -> tuple[User, str] | None:
        """The user and its password hash, for login only."""
        async with self.store.transaction() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
            return (user_from_row(row), row.password_hash) if row else None

    async def set_password_hash(self, user_id: int, password_hash: str,
                                session: AsyncSession | None = None) -> None:
        await self._set(user_id, session, password_hash=password_hash)

    async def _set(self, user_id: int, session: AsyncSession | None, **values: Any) -> None:
        """Set columns of one user; NotFound when there is no such user."""
        async with self.store.transaction(session) as s:
            row = await s.get(UserRow, user_id)
            if row is None:
                raise NotFound(f"user {user_id} does not exist")
            for column, value in values.items():
                setattr(row, column, value)

    async def get(self, user_id: int) -> User | None:
        async with self.store.transaction() as s:
            row = await s.get(UserRow, user_id)
            return user_from_row(row) if row else None

    async def by_username(self, username: str) -> User | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
            return user_from_row(row) if row else None

    async def set_active(self, user_id: int, active: bool,
                         session: AsyncSession | None = None) -> None:
        await self._set(user_id, session, active=active)

    async def set_role(self, user_id: int, role: Role,
                       session: AsyncSession | None = None) -> None:
        await self._set(user_id, session, role=str(role))

    async def count(self) -> int:
        async with self.store.transaction() as s:
            return int(await s.scalar(select(func.count(UserRow.id))) or 0)

    async def list(self) -> list[User]:
        async with self.store.transaction() as s:
            return [user_from_row(r) for r in await s.scalars(select(UserRow).order_by(UserRow.id))]


class AgentRepository(_Repo):
    async def add(self, agent_number: str, name: str, interface: str, queues: Sequence[str],
                  user_id: int | None, skills: Sequence[str] = (),
                  session: AsyncSession | None = None,
                  state_interface: str | None = None) -> Agent:
        async with self.store.transaction(session) as s:
            clash = await s.scalar(select(AgentRow.id).where(or_(
                AgentRow.agent_number == agent_number, AgentRow.interface == interface)))
            if clash is not None:
                raise Conflict(f"agent {agent_number} or interface {interface} already exists")
            row = AgentRow(agent_number=agent_number, name=name, interface=interface,
                           queues=list(queues), skills=list(skills), user_id=user_id,
                           state_interface=state_interface)
            s.add(row)
            await s.flush()
            return agent_from_row(row)

    async def by_number(self, agent_number: str) -> Agent | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(AgentRow).where(AgentRow.agent_number == agent_number))
            return agent_from_row(row) if row else None

    async def by_user(self, user_id: int) -> Agent | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(AgentRow).where(AgentRow.user_id == user_id))
            return agent_from_row(row) if row else None

    async def list(self) -> list[Agent]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(AgentRow).order_by(AgentRow.agent_number))
            return [agent_from_row(r) for r in rows]

    async def set_interface(self, username: str, interface: str,
                            state_interface: str | None) -> Agent:
        """Give the agent whose web account is ``username`` another phone (and the device
        its membership follows: None = the template, "" = none). Raises NotFound."""
        async with self.store.transaction() as s:
            row = await s.scalar(select(AgentRow).join(UserRow, AgentRow.user_id == UserRow.id)
                                 .where(UserRow.username == username))
            if row is None:
                raise NotFound(f"no agent account {username!r}")
            row.interface = interface
            row.state_interface = state_interface
            await s.flush()
            return agent_from_row(row)

    async def set_queues(self, username: str, queues: Sequence[str]) -> Agent:
        """Replace the queues of the agent whose web account is ``username``; returns the
        agent as stored. Raises NotFound when there is no such agent account."""
        async with self.store.transaction() as s:
            row = await s.scalar(select(AgentRow).join(UserRow, AgentRow.user_id == UserRow.id)
                                 .where(UserRow.username == username))
            if row is None:
                raise NotFound(f"no agent account {username!r}")
            row.queues = list(queues)
            await s.flush()
            return agent_from_row(row)


class QueueRepository(_Repo):
    async def ensure(self, name: str, title_zh: str, title_en: str, strategy: str = "rrmemory",
                     service_level_s: int = 20, wrapup_s: int = 5) -> Queue:
        async with self.store.transaction() as s:
            row = await s.scalar(select(QueueRow).where(QueueRow.name == name))
            if row is None:
                row = QueueRow(name=name, title_zh=title_zh, title_en=title_en,
                               strategy=strategy, service_level_s=service_level_s,
                               wrapup_s=wrapup_s)
                s.add(row)
                await s.flush()
            return queue_from_row(row)

    async def list(self) -> list[Queue]:
        async with self.store.transaction() as s:
            return [queue_from_row(r) for r in await s.scalars(select(QueueRow).order_by(
                QueueRow.name))]


class CallRepository(_Repo):
    """Calls keyed on Asterisk's linked id; written as they happen, so nothing is lost."""

    async def upsert(self, linked_id: str, started_at: datetime, **fields: Any) -> Call:
        """Create the call on first sight, then set the fields given (test fixtures and data
        imports: ``callcenter.call_records``'s ``SEED`` writer, which may set any column).
        Raises ValueError for an unknown field."""
        unknown = set(fields) - set(RULES)
        if unknown:
            raise ValueError(f"unknown call fields: {sorted(unknown)}")
        async with self.store.transaction() as s:
            await write_calls(s, Writer.SEED,
                              [CallWriteSpec(linked_id, started_at, tuple(fields.items()))])
            row = await s.scalar(select(CallRow).where(CallRow.linked_id == linked_id))
            assert row is not None
            return call_from_row(row)

    async def get(self, linked_id: str) -> Call | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(CallRow).where(CallRow.linked_id == linked_id))
            return call_from_row(row) if row else None

    async def add_event(self, linked_id: str, at: datetime, kind: str,
                        data: dict[str, Any] | None = None) -> None:
        async with self.store.transaction() as s:
            s.add(CallEventRow(linked_id=linked_id, at=at, kind=kind, data=data or {}))

    async def events(self, linked_id: str) -> list[CallEvent]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(CallEventRow).where(CallEventRow.linked_id == linked_id)
                                   .order_by(CallEventRow.at, CallEventRow.id))
            return [CallEvent(id=r.id, linked_id=r.linked_id, at=r.at, kind=r.kind,
                              data=dict(r.data or {})) for r in rows]

    async def recent_for_merchant(self, merchant_id: int, limit: int = 5) -> list[Call]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(CallRow).where(CallRow.merchant_id == merchant_id)
                                   .order_by(CallRow.started_at.desc()).limit(limit))
            return [call_from_row(r) for r in rows]

    async def called_since(self, caller_number: str, since: datetime,
                           exclude_linked_id: str | None = None) -> bool:
        async with self.store.transaction() as s:
            stmt = select(CallRow.id).where(CallRow.caller_number == caller_number,
                                            CallRow.started_at >= since)
            if exclude_linked_id:
                stmt = stmt.where(CallRow.linked_id != exclude_linked_id)
            return (await s.scalar(stmt.limit(1))) is not None

    async def between(self, start: datetime, end: datetime) -> list[Call]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(CallRow).where(CallRow.started_at >= start,
                                                         CallRow.started_at < end)
                                   .order_by(CallRow.started_at))
            return [call_from_row(r) for r in rows]

    async def count(self) -> int:
        async with self.store.transaction() as s:
            return int(await s.scalar(select(func.count(CallRow.id))) or 0)


class TaskReadRepository(_Repo):
    """Read side of tasks used by the IVR self-service and the screen pop."""

    async def open_for_merchant(self, merchant_id: int) -> list[Task]:
        async with self.store.transaction() as s:
            rows = await s.scalars(
                select(TaskRow).where(TaskRow.merchant_id == merchant_id,
                                      TaskRow.status.in_([str(x) for x in OPEN_TASK_STATUSES]))
                .order_by(TaskRow.created_at.desc(), TaskRow.id.desc())
            )
            return [task_from_row(r) for r in rows]

    async def latest_open(self, merchant_id: int) -> Task | None:
        tasks = await self.open_for_merchant(merchant_id)
        return tasks[0] if tasks else None


def session_from_row(row: SessionRow) -> SessionRecord:
    return SessionRecord(digest=row.id, user_id=row.user_id, created_at=row.created_at,
                         last_seen_at=row.last_seen_at, revoked_at=row.revoked_at)


class SessionRepository(_Repo):
    """Server-side sessions (rules in :mod:`callcenter.web.session`), keyed on the digest of
    the cookie's token."""

    async def add(self, digest: str, user_id: int, now: datetime, remote: str = "") -> None:
        async with self.store.transaction() as s:
            s.add(SessionRow(id=digest, user_id=user_id, created_at=now, last_seen_at=now,
                             remote=remote[:64]))

    async def with_user(self, digest: str) -> tuple[SessionRecord, User] | None:
        """The session and its user in one round trip (every request asks)."""
        async with self.store.transaction() as s:
            found = (await s.execute(
                select(SessionRow, UserRow).join(UserRow, UserRow.id == SessionRow.user_id)
                .where(SessionRow.id == digest))).first()
            if found is None:
                return None
            return session_from_row(found[0]), user_from_row(found[1])

    async def touch(self, digest: str, now: datetime) -> None:
        async with self.store.transaction() as s:
            await s.execute(update(SessionRow).where(SessionRow.id == digest)
                            .values(last_seen_at=now))

    async def revoke(self, digest: str, now: datetime) -> None:
        async with self.store.transaction() as s:
            await s.execute(update(SessionRow).where(SessionRow.id == digest,
                                                     SessionRow.revoked_at.is_(None))
                            .values(revoked_at=now))

    async def revoke_user(self, user_id: int, now: datetime,
                          session: AsyncSession | None = None) -> int:
        """Revoke every live session of the user; returns how many."""
        async with self.store.transaction(session) as s:
            result = await s.execute(update(SessionRow).where(SessionRow.user_id == user_id,
                                                              SessionRow.revoked_at.is_(None))
                                     .values(revoked_at=now))
            return int(getattr(result, "rowcount", 0) or 0)

    async def purge(self, before: datetime) -> int:
        """Delete sessions last seen before ``before`` (they can no longer log anyone in)."""
        async with self.store.transaction() as s:
            result = await s.execute(delete(SessionRow).where(SessionRow.last_seen_at < before))
            return int(getattr(result, "rowcount", 0) or 0)


class AuditRepository(_Repo):
    """The :class:`callcenter.audit.AuditLog` port on the ``audit_log`` table."""

    async def record(self, entry: AuditEntry, session: AsyncSession | None = None) -> None:
        async with self.store.transaction(session) as s:
            s.add(AuditRow(at=entry.at, actor=entry.actor[:64], action=entry.action[:40],
                           target=entry.target[:100], details=dict(entry.details)))

    async def recent(self, *, action: str = "", actor: str = "", limit: int = 100
                     ) -> list[AuditEntry]:
        async with self.store.transaction() as s:
            stmt = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc())
            if action:
                stmt = stmt.where(AuditRow.action == action)
            if actor:
                stmt = stmt.where(AuditRow.actor == actor)
            rows = await s.scalars(stmt.limit(limit))
            return [AuditEntry(at=r.at, actor=r.actor, action=r.action, target=r.target,
                               details=dict(r.details or {}), id=r.id) for r in rows]
