"""A private Asterisk 22 running the repository's dialplans, for the tests in this folder.

They need a real Asterisk: set ``CALLCENTER_TEST_ASTERISK`` to its binary
(``/usr/sbin/asterisk`` on a packaged install). Modules are looked up beside it
(``<prefix>/lib/asterisk/modules``, or ``/usr/lib/x86_64-linux-gnu/asterisk/modules`` style
paths via ``CALLCENTER_TEST_ASTERISK_MODULES``) and its data directory (documentation,
sounds) in ``<prefix>/var/lib/asterisk`` or ``CALLCENTER_TEST_ASTERISK_DATA``. Without the
variable every test here is skipped with that reason. Nothing runs as a service: Asterisk is
started in the foreground from a temporary directory with its own asterisk.conf, on free
ports, and stopped at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ASTERISK_FIXTURES

ROOT = Path(__file__).resolve().parents[2]
DIALPLANS = ROOT / "dialplans"
AMI_SECRET = "test-secret-not-for-production"
SKIP_REASON = ("set CALLCENTER_TEST_ASTERISK=/path/to/sbin/asterisk to run the tests against "
               "a real Asterisk 22")

# Test-only dialplan appended to the copy of ours: a merchant who keys digits (the ;1 half of
# the Local channel plays DTMF into our IVR, as in the fixtures' lab) and an agent who
# answers and hangs up after a while.
TEST_CONTEXTS = """
[merchant-sim]
exten => s,1,NoOp(merchant keys ${MS_KEYS})
 same => n,Wait(1.5)
 same => n,Set(I=0)
 same => n(next),GotoIf($[${I} >= ${LEN(${MS_KEYS})}]?idle)
 same => n,SendDTMF(${MS_KEYS:${I}:1})
 same => n,Set(I=$[${I} + 1])
 same => n,Wait(1.2)
 same => n,Goto(next)
 same => n(idle),Wait(60)
 same => n,Hangup()

[test-agent]
exten => _80XX,1,Answer()
 same => n,Wait(2)
 same => n,Hangup()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Asterisk:
    binary: Path
    config: Path
    log: Path
    ami_port: int
    fastagi_port: int

    def cli(self, command: str) -> str:
        out = subprocess.run([str(self.binary), "-C", str(self.config), "-rx", command],
                             capture_output=True, text=True, timeout=20, check=True)
        return out.stdout

    def messages(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _directories() -> tuple[Path, Path, Path]:
    binary = Path(os.environ["CALLCENTER_TEST_ASTERISK"]).resolve()
    prefix = binary.parent.parent
    modules = Path(os.environ.get("CALLCENTER_TEST_ASTERISK_MODULES")
                   or prefix / "lib" / "asterisk" / "modules")
    data = Path(os.environ.get("CALLCENTER_TEST_ASTERISK_DATA")
                or prefix / "var" / "lib" / "asterisk")
    return binary, modules, data


def write_config(etc: Path, run: Path, *, ami_port: int, fastagi_port: int) -> None:
    binary, modules, data = _directories()
    for sub in ("run", "log", "lib", "db", "spool/monitor", "spool/outgoing", "spool/tmp"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    (etc / "asterisk.conf").write_text(f"""[directories]
astetcdir => {etc}
astmoddir => {modules}
astvarlibdir => {run / 'lib'}
astdbdir => {run / 'db'}
astkeydir => {run / 'lib'}
astdatadir => {data}
astagidir => {run / 'lib'}
astspooldir => {run / 'spool'}
astrundir => {run / 'run'}
astlogdir => {run / 'log'}
astsbindir => {binary.parent}
[options]
""")
    # The lab's module list (no network-facing channel drivers), as the fixtures were made.
    shutil.copy(ASTERISK_FIXTURES / "config" / "modules.conf", etc / "modules.conf")
    (etc / "logger.conf").write_text("[general]\n[logfiles]\nmessages => notice,warning,error\n")
    # Ours, with [globals] and [general] adjusted the way dialplans/README.md tells installers.
    extensions = (DIALPLANS / "extensions.conf").read_text()
    extensions = re.sub(r"(?m)^CC_FASTAGI = .*$", f"CC_FASTAGI = 127.0.0.1:{fastagi_port}",
                        extensions)
    extensions = re.sub(r"(?m)^CC_MONITOR_DIR = .*$", f"CC_MONITOR_DIR = {run / 'spool/monitor'}",
                        extensions)
    (etc / "extensions.conf").write_text(extensions + TEST_CONTEXTS)
    shutil.copy(DIALPLANS / "queues.conf", etc / "queues.conf")
    manager = (DIALPLANS / "manager.conf").read_text()
    manager = re.sub(r"(?m)^bindaddr = .*$", "bindaddr = 127.0.0.1", manager)
    manager = re.sub(r"(?m)^port = .*$", f"port = {ami_port}", manager)
    manager = re.sub(r"(?m)^permit = .*$", "permit = 127.0.0.1/255.255.255.255", manager)
    manager = re.sub(r"(?m)^secret = .*$", f"secret = {AMI_SECRET}", manager)
    (etc / "manager.conf").write_text(manager)


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asterisk]:
    if not os.environ.get("CALLCENTER_TEST_ASTERISK"):
        pytest.skip(SKIP_REASON)
    binary, _, _ = _directories()
    if not binary.is_file():
        pytest.skip(f"CALLCENTER_TEST_ASTERISK={binary} is not a file")
    base = tmp_path_factory.mktemp("asterisk")
    etc, run = base / "etc", base / "run"
    etc.mkdir()
    ami_port, fastagi_port = free_port(), free_port()
    write_config(etc, run, ami_port=ami_port, fastagi_port=fastagi_port)
    config = etc / "asterisk.conf"
    console = (base / "console.log").open("w")
    process = subprocess.Popen([str(binary), "-C", str(config), "-f", "-n", "-q"],
                               stdout=console, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    box = Asterisk(binary, config, run / "log" / "messages", ami_port, fastagi_port)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"Asterisk exited at start-up: {(base / 'console.log').read_text()}")
            try:
                if "fully booted" in box.cli("core waitfullybooted"):
                    break
            except subprocess.CalledProcessError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("Asterisk did not boot within 30 s")
            time.sleep(0.3)
        yield box
    finally:
        try:
            box.cli("core stop now")
            process.wait(timeout=15)
        except (subprocess.SubprocessError, OSError):
            process.kill()
            process.wait()
        console.close()
