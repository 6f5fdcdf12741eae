"""The import contract of docs/architecture.md holds (import-linter, contracts in pyproject.toml).

``make lint`` runs ``lint-imports`` too; this test makes a bare ``pytest`` check it as well, and
proves on a scratch copy of a core module that the contracts can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("callcenter", "ivr", "cti", "recording", "simulator", "speech", "supervision")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_every_import_contract_is_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("cti/call_state.py", "import sqlalchemy", "does no"),
    ("ivr/menu.py", "import asyncio", "does no"),
    ("cti/agent_actions.py", "from callcenter.db import models", "only through their ports"),
    ("recording/web.py", "import simulator.pbx", "Nothing in the product imports"),
    ("simulator/agents.py", "import callcenter.business.service", "only over AMI"),
    ("cti/wiring.py", "import callcenter.app", "never imports the composition root"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str,
                                                contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [text for text in result.stdout.split("\n\n") if "BROKEN" in text]
    assert any(contract in " ".join(b.split()) for b in broken), result.stdout
