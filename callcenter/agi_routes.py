"""Route table for the classic per-call AGI script, on the product's own database.

For sites that cannot use FastAGI, Asterisk runs one process per call::

    exten => 4008000000,n,AGI(callcenter-agi,hotline)

``callcenter-agi`` (a console script of this package) is ``ivr.agi_script`` with these routes:
the same hotline menu and survey as the FastAGI server, looking merchants up in the database
named by the settings (``CALLCENTER_DATABASE_URL`` / ``callcenter.toml``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.errors import CallcenterError
from callcenter.ivr_directory import StoreIvrDirectory
from callcenter.runtime_settings import RuntimeSettings, effective, ivr_overrides
from callcenter.runtime_settings_store import SqlRuntimeSettingsStore
from callcenter.settings import load_settings
from ivr import agi_script
from ivr.agi_server import AgiSession, Handler
from ivr.menu_config import MenuRegistry
from ivr.prompts import load_catalogue
from ivr.service import make_routes

logger = logging.getLogger(__name__)


def routes() -> Mapping[str, Handler]:
    """The hotline and survey handlers on the configured database; each call first reads the
    business hours and holidays an administrator changed (``runtime_settings``)."""
    settings = load_settings()
    store = Store(session_factory(create_engine(settings.database.url)))
    cfg = settings.fastagi
    registry = MenuRegistry(Path(cfg.menu_file) if cfg.menu_file else None,
                            Path(cfg.holidays_file) if cfg.holidays_file else None,
                            prompt_ids=load_catalogue().ids)
    port = SqlRuntimeSettingsStore(store)
    return {name: _with_runtime_settings(handler, registry, port)
            for name, handler in make_routes(StoreIvrDirectory(store), registry).items()}


def _with_runtime_settings(handler: Handler, registry: MenuRegistry,
                           port: SqlRuntimeSettingsStore) -> Handler:
    files = registry.current  # this process is one call: nothing is overridden yet
    defaults = RuntimeSettings(day_start=files.definition.schedule.day_start,
                               day_end=files.definition.schedule.day_end,
                               holidays=files.holidays.holidays,
                               workdays=files.holidays.workdays)

    async def run(session: AgiSession) -> None:
        try:
            stored = await port.load()
        except CallcenterError as exc:  # the call goes on with the files' calendar
            logger.error("run-time settings not read, the files' calendar stays: %s", exc)
        else:
            found = effective(defaults, {k: v.value for k, v in stored.items()})
            registry.override(*ivr_overrides(found.settings))
        await handler(session)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """``callcenter-agi <route>``: run one call's IVR over stdin/stdout."""
    return agi_script.main(argv, routes=routes())
