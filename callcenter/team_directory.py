"""Teams (班组) on SQLAlchemy: ``callcenter.reports.ports.TeamDirectory``, and setting an
account's team (``callcenter users team``, the demo data)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from callcenter.audit import AuditAction, AuditEntry
from callcenter.db.models import AgentRow, TeamMemberRow, UserRow
from callcenter.db.repositories import Store
from callcenter.errors import NotFound, ValidationError

__all__ = ["SqlTeamDirectory"]

MAX_TEAM = 40


class SqlTeamDirectory:
    """Who is in which team, from ``team_members``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def team_of(self, user_id: int) -> str | None:
        """The account's team, None without one."""
        async with self.store.transaction() as s:
            row = await s.get(TeamMemberRow, user_id)
            return None if row is None else row.team

    async def team_agents(self, user_id: int) -> frozenset[str]:
        """Agent numbers of the agents in the account's team (empty without a team)."""
        async with self.store.transaction() as s:
            row = await s.get(TeamMemberRow, user_id)
            if row is None:
                return frozenset()
            t = TeamMemberRow
            numbers = await s.scalars(
                select(AgentRow.agent_number).join(t, t.user_id == AgentRow.user_id)
                .where(t.team == row.team))
            return frozenset(numbers)

    async def set_team(self, username: str, team: str, *, actor: str = "",
                       now: datetime | None = None) -> None:
        """Put the account in ``team`` ("" takes it out of every team). Raises NotFound for
        an unknown account, ValidationError for a name longer than 40 characters. With an
        ``actor`` (an administrator's change, not the demo data) the change is audited
        (``user.team``) in the same transaction, with the team before and after."""
        team = team.strip()
        if len(team) > MAX_TEAM:
            raise ValidationError("team", f"at most {MAX_TEAM} characters")
        async with self.store.transaction() as s:
            user_id = await s.scalar(select(UserRow.id).where(UserRow.username == username))
            if user_id is None:
                raise NotFound(f"no account {username}")
            before = await s.scalar(select(TeamMemberRow.team)
                                     .where(TeamMemberRow.user_id == user_id))
            await s.execute(delete(TeamMemberRow).where(TeamMemberRow.user_id == user_id))
            if team:
                s.add(TeamMemberRow(user_id=user_id, team=team))
            if actor:
                await self.store.audit.record(
                    AuditEntry(now or datetime.now(UTC), actor, AuditAction.USER_TEAM, username,
                               {"before": before or "", "after": team}), session=s)
