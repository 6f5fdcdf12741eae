"""Route table for the classic per-call AGI script, on the product's own database.

For sites that cannot use FastAGI, Asterisk runs one process per call::

    exten => 4008000000,n,AGI(callcenter-agi,hotline)

``callcenter-agi`` (a console script of this package) is ``ivr.agi_script`` with these routes:
the same hotline menu and survey as the FastAGI server, looking merchants up in the database
named by the settings (``CALLCENTER_DATABASE_URL`` / ``callcenter.toml``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.ivr_directory import StoreIvrDirectory
from callcenter.settings import load_settings
from ivr import agi_script
from ivr.agi_server import Handler
from ivr.menu_config import MenuRegistry
from ivr.prompts import load_catalogue
from ivr.service import make_routes


def routes() -> Mapping[str, Handler]:
    """The hotline and survey handlers on the configured database."""
    settings = load_settings()
    store = Store(session_factory(create_engine(settings.database.url)))
    cfg = settings.fastagi
    registry = MenuRegistry(Path(cfg.menu_file) if cfg.menu_file else None,
                            Path(cfg.holidays_file) if cfg.holidays_file else None,
                            prompt_ids=load_catalogue().ids)
    return make_routes(StoreIvrDirectory(store), registry)


def main(argv: Sequence[str] | None = None) -> int:
    """``callcenter-agi <route>``: run one call's IVR over stdin/stdout."""
    return agi_script.main(argv, routes=routes())
