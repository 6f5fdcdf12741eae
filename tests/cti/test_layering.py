"""The cti package reaches storage only through its ports, and its core does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CTI = Path(__file__).resolve().parents[2] / "cti"
PURE = ("agent_state", "ami_protocol", "call_state", "config", "dispatcher", "errors", "events",
        "ports", "presentation")
IO_MODULES = ("asyncio", "aiohttp", "httpx", "socket", "sqlalchemy", "callcenter.db")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("path", sorted(CTI.glob("*.py")), ids=lambda p: p.name)
def test_no_cti_module_runs_its_own_sql(path: Path) -> None:
    assert [n for n in imports_of(path) if _under(n, ("sqlalchemy", "callcenter.db"))] == []


@pytest.mark.parametrize("name", PURE)
def test_the_core_modules_import_no_io(name: str) -> None:
    assert [n for n in imports_of(CTI / f"{name}.py") if _under(n, IO_MODULES)] == []
