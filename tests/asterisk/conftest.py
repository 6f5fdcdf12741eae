"""A private Asterisk 22 running the repository's dialplans, for the tests in this folder.

They need a real Asterisk: set ``CALLCENTER_TEST_ASTERISK`` to its binary (``<prefix>/sbin/asterisk``
of a source install, ``/usr/sbin/asterisk`` of a package). Without it every test here is skipped
with :data:`SKIP_REASON`. The modules are looked for beside the binary
(``<prefix>/lib/asterisk/modules``, ``<prefix>/lib64/…``, ``<prefix>/lib/<arch>/…``) unless
``CALLCENTER_TEST_ASTERISK_MODULES`` names the directory; the data directory (XML
documentation) likewise (``<prefix>/var/lib/asterisk``, ``<prefix>/share/asterisk``, or
``CALLCENTER_TEST_ASTERISK_DATA``). No sounds are needed: the tests write their own prompts.

Nothing runs as a service and nothing outside a temporary directory is touched: Asterisk is
started in the foreground with its own asterisk.conf (every directory inside the temporary
one), AMI on a free loopback port, ``CC_FASTAGI`` pointing at a free loopback port for the
test's FastAGI server, and stopped at the end of the module.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.asterisk_files import render_to_directory
from callcenter.settings import load_settings
from ivr.menu_config import DEFAULT_MENU_PATH
from ivr.prompts import load_catalogue
from tests.conftest import ASTERISK_FIXTURES

HERE = Path(__file__).resolve().parent
DIALPLANS = HERE.parents[1] / "dialplans"
TEST_DIALPLAN = HERE / "extensions-test.conf"
AMI_SECRET = "test-secret-not-for-production"  # a throwaway loopback account
SKIP_REASON = ("set CALLCENTER_TEST_ASTERISK=/path/to/sbin/asterisk to run tests against a "
               "real Asterisk 22")
BOOT_WITHIN_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Install:
    binary: Path
    modules: Path
    data: Path


@dataclass
class Asterisk:
    binary: Path
    config: Path
    log: Path
    monitor_dir: Path
    ami_port: int
    fastagi_port: int

    def cli(self, command: str) -> str:
        out = subprocess.run([str(self.binary), "-C", str(self.config), "-rx", command],
                             capture_output=True, text=True, timeout=20, check=True)
        return out.stdout

    def messages(self, since: int = 0) -> str:
        """The ``messages`` log (notice, warning, error) from byte offset ``since`` on."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def problems_since(self, offset: int) -> list[str]:
        """WARNING and ERROR lines logged after ``offset`` (see :meth:`log_size`)."""
        return [line for line in self.messages(offset).splitlines()
                if re.search(r"\] (WARNING|ERROR)\[", line)]


def _first_dir(override: str, candidates: list[Path]) -> Path | None:
    if value := os.environ.get(override):
        return Path(value)
    return next((c for c in candidates if c.is_dir()), None)


def find_install() -> Install:
    """The Asterisk named by ``CALLCENTER_TEST_ASTERISK``, or skip the test with the reason."""
    named = os.environ.get("CALLCENTER_TEST_ASTERISK")
    if not named:
        pytest.skip(SKIP_REASON)
    binary = Path(named).resolve()
    if not binary.is_file():
        pytest.skip(f"CALLCENTER_TEST_ASTERISK={named} is not a file; {SKIP_REASON}")
    prefix = binary.parent.parent
    modules = _first_dir("CALLCENTER_TEST_ASTERISK_MODULES", [
        prefix / "lib" / "asterisk" / "modules", prefix / "lib64" / "asterisk" / "modules",
        *sorted(prefix.glob("lib/*/asterisk/modules"))])
    if modules is None:
        pytest.skip(f"no asterisk/modules directory under {prefix}: set "
                    "CALLCENTER_TEST_ASTERISK_MODULES to it")
    data = _first_dir("CALLCENTER_TEST_ASTERISK_DATA", [
        prefix / "var" / "lib" / "asterisk", prefix / "share" / "asterisk"])
    return Install(binary, modules, data or prefix)


def _replace_line(text: str, key: str, value: str, *, file: str) -> str:
    """``key = value`` for the one ``key = …`` line of ``file``. Fails loudly when the line is
    gone: a test Asterisk silently left on the production value (say the FastAGI port)
    would only show up as a puzzling timeout."""
    replaced, count = re.subn(rf"(?m)^{re.escape(key)} = .*$", f"{key} = {value}", text)
    assert count == 1, f"{file}: expected one '{key} = …' line, found {count}"
    return replaced


def write_config(etc: Path, run: Path, install: Install, *, ami_port: int,
                 fastagi_port: int, environ: Mapping[str, str] | None = None) -> None:
    for sub in ("run", "log", "lib/keys", "db", "spool/monitor", "spool/outgoing", "spool/tmp"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    # Ours, rendered from dialplans/ by `callcenter asterisk config` as an installer does,
    # with the settings of this private Asterisk; the lab's files below replace the rendered
    # modules.conf and logger.conf.
    render_for_test(etc, ami_port=ami_port, fastagi_port=fastagi_port,
                    monitor_dir=run / "spool" / "monitor", environ=environ)
    (etc / "asterisk.conf").write_text(f"""[directories]
astetcdir => {etc}
astmoddir => {install.modules}
astvarlibdir => {run / 'lib'}
astdbdir => {run / 'db'}
astkeydir => {run / 'lib'}
astdatadir => {install.data}
astagidir => {run / 'lib'}
astspooldir => {run / 'spool'}
astrundir => {run / 'run'}
astlogdir => {run / 'log'}
astsbindir => {install.binary.parent}
[options]
""")
    # The fixtures' lab module list: every channel driver or service that binds a socket is
    # off (no SIP, IAX, DUNDi …); the hotline needs only Local channels.
    shutil.copy(ASTERISK_FIXTURES / "config" / "modules.conf", etc / "modules.conf")
    (etc / "logger.conf").write_text("[general]\n[logfiles]\nmessages => notice,warning,error\n")
    # Ours were rendered above; the lab's modules.conf loads no PJSIP, so the rendered
    # pjsip.conf is not loaded here (tests/callcenter/test_asterisk_config.py checks it).
    extensions = (etc / "extensions.conf").read_text(encoding="utf-8")
    # Click to dial goes out on a Local "trunk" (the test context [trunk]): no PJSIP here.
    extensions = _replace_line(extensions, "CC_TRUNK", "Local", file="extensions.conf")
    # Appended, so every line of ours keeps its line number in `dialplan show`.
    (etc / "extensions.conf").write_text(f"{extensions}\n#include {TEST_DIALPLAN.name}\n",
                                         encoding="utf-8")
    shutil.copy(TEST_DIALPLAN, etc / TEST_DIALPLAN.name)


def render_for_test(etc: Path, *, ami_port: int, fastagi_port: int, monitor_dir: Path,
                    environ: Mapping[str, str] | None = None) -> None:
    """``callcenter asterisk config --out etc`` with this test Asterisk's settings: FastAGI on
    the test's port, AMI on a free loopback port for the test's throwaway secret; ``environ``
    adds settings (e.g. ``CALLCENTER_RECORDING_WHOLE_CALL``)."""
    settings = load_settings(environ={**(environ or {}),
        "CALLCENTER_AMI_PORT": str(ami_port), "CALLCENTER_AMI_SECRET": AMI_SECRET,
        "CALLCENTER_ASTERISK_FASTAGI_ADDRESS": f"127.0.0.1:{fastagi_port}",
        "CALLCENTER_ASTERISK_MONITOR_DIR": str(monitor_dir),
        "CALLCENTER_ASTERISK_AMI_BINDADDR": "127.0.0.1",
        "CALLCENTER_ASTERISK_AMI_PERMIT": "127.0.0.1/32"})
    render_to_directory(settings, etc, templates=DIALPLANS)


class AsteriskProcess:
    """A private Asterisk in the foreground that a test may restart or ``kill -9``."""

    def __init__(self, box: Asterisk, console: Path) -> None:
        self.box = box
        self.console = console
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, base: Path, environ: Mapping[str, str] | None = None) -> AsteriskProcess:
        """Configured (not started) in ``base``; ``environ``: settings for the render."""
        install = find_install()
        etc, run = base / "etc", base / "run"
        etc.mkdir()
        ami_port, fastagi_port = free_port(), free_port()
        write_config(etc, run, install, ami_port=ami_port, fastagi_port=fastagi_port,
                     environ=environ)
        box = Asterisk(install.binary, etc / "asterisk.conf", run / "log" / "messages",
                       run / "spool" / "monitor", ami_port, fastagi_port)
        return cls(box, base / "console.log")

    def start(self) -> None:
        with self.console.open("ab") as console:
            # -f foreground (a child we can stop), -n no colours, -q quiet console.
            self.process = subprocess.Popen(
                [str(self.box.binary), "-C", str(self.box.config), "-f", "-n", "-q"],
                stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_booted()

    def wait_booted(self) -> None:
        """Until ``core waitfullybooted`` says so (after start or ``core restart``)."""
        deadline = time.monotonic() + BOOT_WITHIN_S
        while True:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"Asterisk exited at start-up:\n{self.console.read_text()}")
            try:
                if "fully booted" in self.box.cli("core waitfullybooted"):
                    return
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass  # the control socket is not there yet
            if time.monotonic() > deadline:
                pytest.fail(f"Asterisk did not boot within {BOOT_WITHIN_S} s:\n"
                            f"{self.console.read_text()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """``kill -9``: no Shutdown event, no Goodbye; the AMI socket just closes."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.box.cli("core stop now")
            self.process.wait(timeout=15)
        except (subprocess.SubprocessError, OSError):
            self.process.kill()
            self.process.wait()
        self.process = None


def write_silent_menu(base: Path) -> Path:
    """The built-in hotline menu with every prompt as 0.4 s of silence under ``base``; returns
    the menu file. Asterisk answers GET DATA on a missing prompt file with ``200 result=-1`` at
    once, without waiting for a key (seen here), so a menu without its sound files cannot
    take input."""
    for lang in ("zh_CN", "en"):
        (base / lang).mkdir(parents=True)
        for prompt in load_catalogue().ids:
            with wave.open(str(base / lang / f"{prompt}.wav"), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(8000)
                out.writeframes(b"\0\0" * 3200)
    menu = re.sub(r'(?m)^prompt_base = .*$', f'prompt_base = "{base}"',
                  DEFAULT_MENU_PATH.read_text(encoding="utf-8"))
    (base / "hotline.toml").write_text(menu, encoding="utf-8")
    return base / "hotline.toml"


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asterisk]:
    running = AsteriskProcess.create(tmp_path_factory.mktemp("asterisk"))
    running.start()
    try:
        yield running.box
    finally:
        running.stop()
