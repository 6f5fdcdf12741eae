"""The composition root: what ``serve`` builds, in which order, and what it never imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callcenter.app import build_product
from callcenter.business.service import BusinessService
from callcenter.reports.service import ReportService
from callcenter.runtime import RunOptions
from callcenter.settings import Settings, load_settings
from cti.service import CtiService
from recording import codec
from supervision.service import SupervisionService

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("callcenter", "ivr", "cti", "recording")


def settings_for(url: str, **env: str) -> Settings:
    return load_settings(environ={"CALLCENTER_DATABASE_URL": url, "CALLCENTER_WEB_PORT": "0",
                                  "CALLCENTER_FASTAGI_PORT": "0",
                                  "CALLCENTER_WEB_SESSION_SECRET": "x", **env})


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, id(node) in top))
    return found


def test_the_product_imports_the_simulator_only_in_the_cli_for_simulate() -> None:
    offenders = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for module, top_level in imports_of(path):
                if module != "simulator" and not module.startswith("simulator."):
                    continue
                if name == "callcenter/cli.py" and not top_level:
                    continue  # `serve --simulate` and `simulate`, inside their functions
                offenders.append(f"{name}: {module}")
    assert offenders == []


def test_wiring_modules_do_not_import_the_composition_root() -> None:
    wirings = [ROOT / p / "wiring.py" for p in ("ivr", "cti", "recording", "simulator",
                                                 "callcenter/business")]
    assert all(p.exists() for p in wirings)
    for path in wirings:
        assert "callcenter.app" not in {m for m, _ in imports_of(path)}, path


def test_a_production_serve_does_not_load_the_simulator(sqlite_url: str) -> None:
    script = f"""
import asyncio, sys
from callcenter import cli
from callcenter.app import build_product
from callcenter.runtime import RunOptions
from callcenter.settings import load_settings

async def main():
    settings = load_settings(environ={{"CALLCENTER_DATABASE_URL": {sqlite_url!r},
                                      "CALLCENTER_AMI_HOST": "127.0.0.1"}})
    product = await build_product(settings, RunOptions(web=False, fastagi=False))
    await product.runtime.engine.dispose()

asyncio.run(main())
assert not [m for m in sys.modules if m.split(".")[0] == "simulator"], "simulator imported"
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


async def test_simulate_without_a_stand_in_is_refused_before_anything_starts(
        tmp_path: Path) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}")
    with pytest.raises(ValueError, match="stand_in"):
        await build_product(settings, RunOptions(simulate=True))


async def test_each_feature_joins_in_order_and_hands_back_its_service(sqlite_url: str) -> None:
    product = await build_product(settings_for(sqlite_url), RunOptions(ami=False))
    try:
        assert isinstance(product.business, BusinessService)
        assert isinstance(product.cti, CtiService)
        assert product.fastagi is not None and product.web is not None and product.pbx is None
        assert isinstance(product.reports, ReportService)
        assert isinstance(product.supervision, SupervisionService)
        pipeline = ["recording-pipeline", "recording-purge"] if codec.available() else []
        assert [c.name for c in product.runtime.components] == [
            "runtime-settings", "fastagi", "complaint-clocks", "cti", "supervision", *pipeline,
            "qa-draw", "reports", "queue-callbacks", "callbacks", "callbacks-daily-plan", "web"]
        assert [m.name for m in product.runtime.modules] == ["business", "cti", "supervision",
                                                             "recordings", "reports", "roster",
                                                             "speech", "callbacks", "admin",
                                                             "metrics"]
        assert set(product.runtime.health) == {"database", "fastagi", "business", "ami",
                                               "recordings", "reports", "speech"}
        assert product.speech is not None and not product.speech.enabled  # no model here
        await product.start()
        assert product.fastagi.bound_port and product.web.bound_port
    finally:
        await product.stop()


@dataclass
class FakePbx:
    """A stand-in PBX that only records what the composition root does with it."""

    ami_address: tuple[str, int] = ("127.0.0.1", 5999)
    phones: Any = None
    name: str = "pbx"
    log: list[str] = field(default_factory=list)
    addresses: dict[str, Callable[[], Any]] = field(default_factory=dict)

    async def start(self) -> None:
        self.log.append("start")
        self.log.append(f"fastagi {self.addresses['fastagi']()[1] != 0}")
        self.log.append(f"web {self.addresses['web']() is not None}")

    async def stop(self) -> None:
        self.log.append("stop")

    async def health(self) -> dict[str, Any]:
        return {"ok": True}


class FakePhones:
    def answer(self, interface: str) -> bool:
        return True

    def hangup(self, interface: str) -> bool:
        return True


async def test_the_stand_in_pbx_starts_last_and_the_cti_dials_its_ami(sqlite_url: str) -> None:
    pbx = FakePbx(phones=FakePhones())
    built: list[Settings] = []

    async def stand_in(settings: Settings, *, fastagi_address: Callable[[], tuple[str, int]],
                       web_address: Callable[[], tuple[str, int] | None]) -> FakePbx:
        built.append(settings)
        pbx.addresses.update(fastagi=fastagi_address, web=web_address)
        return pbx

    product = await build_product(settings_for(sqlite_url), RunOptions(simulate=True),
                                  stand_in=stand_in)
    try:
        assert product.pbx is pbx and product.runtime.components[-1] is pbx
        assert product.cti.demo_phones is pbx.phones
        assert product.runtime.health["simulator"] == pbx.health
        assert (await product.runtime.health["ami"]())["host"] == "127.0.0.1:5999"
        await product.start()
        # started after the servers bound their ports, so it can reach them
        assert pbx.log == ["start", "fastagi True", "web True"]
    finally:
        await product.stop()
    assert pbx.log[-1] == "stop"
