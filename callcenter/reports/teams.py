"""Who sees which agents on the reports, staffing and roster pages: a team lead sees its own
team (班组) only, supervisors and admins see every agent.

``scope`` answers None (every agent) or the set of agent numbers the user may see; a team
lead without a team sees no agent. The web modules keep the ``TeamDirectory`` under
``TEAMS``."""

from __future__ import annotations

from aiohttp import web

from callcenter.domain import Role, User
from callcenter.reports.ports import TeamDirectory
from callcenter.web.app import Forbidden

__all__ = ["TEAMS", "check_agent", "scope"]

TEAMS = web.AppKey("reports_teams", TeamDirectory)


async def scope(request: web.Request, user: User) -> frozenset[str] | None:
    """None for every agent, else the agent numbers of the team lead's team."""
    if user.role is not Role.TEAM_LEAD:
        return None
    return await request.app[TEAMS].team_agents(user.id)


def check_agent(agents: frozenset[str] | None, agent: str | None) -> None:
    """Raise Forbidden (403) when ``agent`` is named and outside the team."""
    if agents is not None and agent is not None and agent not in agents:
        raise Forbidden(f"agent {agent} is not in your team")
