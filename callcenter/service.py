"""Use cases of the domain store: imports, accounts, demo data.

Account changes (password, disable, role) end every session of the account and leave an
entry in the audit log.

Each function takes the store and the current time explicitly, so tests drive it without a
clock and the CLI, web app and simulator share one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from callcenter.audit import AuditAction, AuditEntry
from callcenter.auth import MIN_PASSWORD_LENGTH, hash_password
from callcenter.db.repositories import Store
from callcenter.demo_data import DemoData
from callcenter.domain import Agent, Role, User, validate_queues
from callcenter.errors import Conflict, NotFound, ValidationError
from callcenter.imports import RowProblem, parse_merchants, parse_terminals, unknown_merchant
from callcenter.team_directory import SqlTeamDirectory


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``committed`` is False when bad rows stopped it."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    committed: bool = False

    @property
    def summary(self) -> str:
        state = "committed" if self.committed else "NOT committed (nothing changed)"
        return (f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{len(self.errors)} bad row(s); {state}")


async def import_merchants(store: Store, text: str, now: datetime, *, skip_bad: bool = False
                           ) -> ImportReport:
    """Upsert merchants from CSV text. Any bad row → nothing written unless ``skip_bad``."""
    parsed = parse_merchants(text)
    if parsed.errors and not skip_bad:
        return ImportReport(errors=parsed.errors)
    created, updated, unchanged = await store.merchants.upsert_many(
        [m for _, m in parsed.rows], now)
    return ImportReport(created, updated, unchanged, parsed.errors, committed=True)


async def import_terminals(store: Store, text: str, *, skip_bad: bool = False) -> ImportReport:
    """Upsert terminals from CSV text; a row naming an unknown merchant is a bad row."""
    parsed = parse_terminals(text)
    errors = list(parsed.errors)
    async with store.transaction() as session:
        known = await store.merchants.by_numbers(
            [t.merchant_number for _, t in parsed.rows], session=session)
        good = []
        for line, item in parsed.rows:
            if item.merchant_number in known:
                good.append(item)
            else:
                errors.append(unknown_merchant(line, item.merchant_number))
        errors.sort(key=lambda e: e.line)
        if errors and not skip_bad:
            return ImportReport(errors=errors)
        created, updated, unchanged = await store.terminals.upsert_many(
            good, known, session=session)
    return ImportReport(created, updated, unchanged, errors, committed=True)


async def add_user(store: Store, now: datetime, *, username: str, display_name: str, role: Role,
                   password: str, agent_number: str = "", interface: str = "",
                   queues: tuple[str, ...] = (), state_interface: str | None = None) -> User:
    """Create a web account (and its agent record for role agent) in one transaction.

    A supervisor or administrator given an ``interface`` gets a record too, without queues:
    their own phone, which live monitoring rings (``supervision.monitoring``).
    ``state_interface``: the device the agent's queue membership follows; None = the
    configured template, "" = none (see ``callcenter.domain.Agent``)."""
    if not username or not all(c.isalnum() or c in "._-" for c in username):
        raise ValidationError("username", "letters, digits, '.', '_' and '-' only")
    check_password(password)
    phone = role is Role.AGENT or (role in (Role.SUPERVISOR, Role.ADMIN) and bool(interface))
    if phone:
        if not (agent_number.isascii() and agent_number.isdigit()):
            raise ValidationError("agent_number", "an agent number (工号) is digits only")
        if "/" not in interface or any(c.isspace() for c in interface):
            raise ValidationError("interface", "expected a device like PJSIP/8001")
        queues = validate_queues(queues) if role is Role.AGENT else ()
        if state_interface and ("/" not in state_interface
                                or any(c.isspace() for c in state_interface)):
            raise ValidationError("state_interface", "expected a device like PJSIP/8001")
    async with store.transaction() as session:
        user = await store.users.add(username, display_name, role, hash_password(password), now,
                                     session=session)
        if phone:
            await store.agents.add(agent_number, display_name, interface, queues, user.id,
                                   session=session, state_interface=state_interface)
    return user


async def set_agent_queues(store: Store, username: str, queues: Sequence[str]) -> Agent:
    """Replace the queues of the agent account ``username`` (at least one, each one of the
    hotline's queues); the agent joins them at its next log-in, with ``night`` derived as
    ``callcenter.shifts.login_queues`` says. Raises ValidationError, NotFound."""
    return await store.agents.set_queues(username, validate_queues(queues, required=True))


def check_device(field_name: str, device: str) -> None:
    """A phone device such as ``PJSIP/8001`` (raises ValidationError)."""
    if "/" not in device or any(c.isspace() or ord(c) < 32 for c in device) or len(device) > 100:
        raise ValidationError(field_name, "expected a device like PJSIP/8001")


async def set_agent_interface(store: Store, now: datetime, username: str, interface: str,
                              state_interface: str | None, *, actor: str) -> Agent:
    """Give the agent account ``username`` another phone (its next log-in uses it); audited.
    Raises ValidationError, NotFound."""
    check_device("interface", interface)
    if state_interface:
        check_device("state_interface", state_interface)
    agent = await store.agents.set_interface(username, interface, state_interface)
    await store.audit.record(AuditEntry(now, actor, AuditAction.USER_INTERFACE, username,
                                        {"interface": interface,
                                         "state_interface": state_interface}))
    return agent


def check_password(password: str) -> None:
    """The password rule of every account (raises ValidationError)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"at least {MIN_PASSWORD_LENGTH} characters")


async def _user(store: Store, username: str) -> User:
    user = await store.users.by_username(username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


async def change_password(store: Store, now: datetime, username: str, password: str, *,
                          actor: str) -> User:
    """Set a new password and end every session of the account."""
    check_password(password)
    user = await _user(store, username)
    password_hash = hash_password(password)
    async with store.transaction() as session:
        await store.users.set_password_hash(user.id, password_hash, session=session)
        ended = await store.web_sessions.revoke_user(user.id, now, session=session)
        await store.audit.record(AuditEntry(now, actor, AuditAction.USER_PASSWORD,
                                            username, {"sessions_ended": ended}),
                                 session=session)
    return user


async def disable_user(store: Store, now: datetime, username: str, *, actor: str,
                       active: bool = False) -> User:
    """Disable (or, with ``active``, enable again) an account; disabling ends its sessions."""
    user = await _user(store, username)
    async with store.transaction() as session:
        await store.users.set_active(user.id, active, session=session)
        ended = 0 if active else await store.web_sessions.revoke_user(user.id, now,
                                                                      session=session)
        await store.audit.record(AuditEntry(now, actor, AuditAction.USER_DISABLE, username,
                                            {"active": active, "sessions_ended": ended}),
                                 session=session)
    return user


async def change_role(store: Store, now: datetime, username: str, role: Role, *,
                      actor: str) -> User:
    """Give the account another role; it logs in again. Role agent needs the account's
    agent record (create agents with ``users add --role agent``)."""
    user = await _user(store, username)
    if role is Role.AGENT and await store.agents.by_user(user.id) is None:
        raise ValidationError("role", f"{username} has no agent number (工号): create agents "
                              "with `users add --role agent`")
    async with store.transaction() as session:
        await store.users.set_role(user.id, role, session=session)
        ended = await store.web_sessions.revoke_user(user.id, now, session=session)
        await store.audit.record(AuditEntry(now, actor, AuditAction.USER_ROLE, username,
                                            {"from": user.role.value, "to": role.value,
                                             "sessions_ended": ended}),
                                 session=session)
    return user


async def load_demo_data(store: Store, data: DemoData, now: datetime) -> dict[str, int]:
    """Load the demo set idempotently; existing accounts are left as they are."""
    for name, zh, en in data.queues:
        await store.queues.ensure(name, zh, en)
    merchants = await store.merchants.upsert_many(data.merchants, now)
    async with store.transaction() as session:
        known = await store.merchants.by_numbers(
            [t.merchant_number for t in data.terminals], session=session)
        await store.terminals.upsert_many(data.terminals, known, session=session)
    users = 0
    for u in data.users:
        try:
            await add_user(store, now, username=u.username, display_name=u.display_name,
                           role=u.role, password=u.password, agent_number=u.agent_number,
                           interface=u.interface, queues=u.queues)
            users += 1
        except Conflict:
            continue
        if u.team:
            await SqlTeamDirectory(store).set_team(u.username, u.team)
    return {"merchants_created": merchants[0], "terminals": len(data.terminals),
            "users_created": users}
