"""The files the images use, tested without Docker (no daemon on the development machines).

* ``docker/compose.yaml``: ``docker compose config`` when the compose plugin is there, and
  always a structural check with PyYAML: the services, named volumes, health checks, start
  order, the env file, the network the settings' allowlists name, and the product's
  environment loading as valid production settings;
* ``docker/Dockerfile``: a non-root user, every writable path a volume owned by that user,
  sources that the build context (``.dockerignore``) really sends;
* ``docker/entrypoint.sh``: run as an unprivileged user in a temporary directory with a
  stand-in ``callcenter``: its permission checks and start-up order;
* ``docker/asterisk/``: the image pins Asterisk 22 from a distribution package; its entrypoint
  installs the rendered configuration (``callcenter asterisk config``) for Asterisk.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter.asterisk_files import render_to_directory
from callcenter.settings import (
    COMPOSE_SUBNET,
    SCHEMA,
    env_name,
    load_settings,
    require_production_secrets,
)

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
NOBODY = 65534
# Variables only the entrypoint scripts read (not product settings).
ENTRYPOINT_ONLY = {"CALLCENTER_ASTERISK_CONFIG_DIR", "CALLCENTER_BIN"}
SERVICE_KEYS = {  # the compose-spec service keys these files may use
    "build", "image", "command", "entrypoint", "environment", "env_file", "volumes", "ports",
    "depends_on", "healthcheck", "networks", "restart", "user", "read_only", "cap_drop",
    "security_opt", "tmpfs", "logging", "labels", "stop_grace_period", "ulimits", "expose",
}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    return data


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DOCKER / "env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def product_env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as the container gets it: env file (secrets filled in) and
    environment, with ${VAR:?…} interpolated from the env file."""
    secrets = {k: (v or f"test-{k.lower()}") for k, v in env_example().items()
               if k not in {"CALLCENTER_ASTERISK_TRUNK_HOST", "CALLCENTER_ASTERISK_TRUNK_USERNAME",
                            "CALLCENTER_ASTERISK_TRUNK_PASSWORD", "CALLCENTER_BUSINESS_URL",
                            "CALLCENTER_BUSINESS_SECRET", "CALLCENTER_ASTERISK_EXTERNAL_ADDRESS"}}
    env = dict(secrets)
    for key, value in service.get("environment", {}).items():
        env[key] = re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda m: secrets[m.group(1)], str(value))
    return env


# --------------------------------------------------------------------------- compose


def compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True,
                           timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not compose_plugin(), reason="no docker compose plugin: the YAML checks "
                    "below stand in for `docker compose config`")
def test_docker_compose_config_accepts_the_file() -> None:
    env = DOCKER / ".env"
    made = not env.exists()  # an operator's real .env is used as it is, never replaced
    if made:
        env.write_text("".join(f"{k}={v or 'x'}\n" for k, v in env_example().items()))
    try:
        result = subprocess.run(["docker", "compose", "-f", str(DOCKER / "compose.yaml"),
                                 "config", "-q"], capture_output=True, text=True, timeout=60,
                                check=False)
    finally:
        if made:
            env.unlink()
    assert result.returncode == 0, result.stderr


def test_compose_has_the_three_services_jobs_and_only_known_keys() -> None:
    data = compose()
    assert set(data) <= {"name", "services", "volumes", "networks", "x-product", "x-product-env"}
    services = data["services"]
    assert set(services) == {"postgres", "asterisk-config", "asterisk", "callcenter", "backup"}
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
    assert services["postgres"]["image"].startswith("postgres:17")
    assert services["asterisk"]["build"]["context"] == "asterisk"
    assert (DOCKER / "asterisk" / "Dockerfile").is_file()
    build = services["callcenter"]["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_compose_named_volumes_hold_the_database_recordings_and_prompts() -> None:
    data = compose()
    declared = set(data["volumes"])
    assert {"pgdata", "recordings", "prompts"} <= declared
    for name, service in data["services"].items():
        for mount in service.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert source in declared, f"{name}: {source} is not a named volume"
            assert target.startswith("/")
    mounts = {name: dict(m.split(":")[:2] for m in s.get("volumes", []))
              for name, s in data["services"].items()}
    assert mounts["postgres"]["pgdata"] == "/var/lib/postgresql/data"
    # one recordings volume: Asterisk writes where the product reads
    monitor = product_env(data["services"]["callcenter"])["CALLCENTER_RECORDING_DIR"]
    assert mounts["asterisk"]["recordings"] == mounts["callcenter"]["recordings"] == monitor
    assert mounts["backup"]["recordings"] == monitor
    assert mounts["asterisk"]["asterisk-config"] == "/etc/callcenter-asterisk"
    prompts = product_env(data["services"]["callcenter"])["CALLCENTER_ASTERISK_PROMPTS_DIR"]
    assert mounts["asterisk"]["prompts"] == mounts["callcenter"]["prompts"] == prompts


def test_compose_starts_the_product_after_postgres_is_healthy_and_the_config_rendered() -> None:
    services = compose()["services"]
    for name in ("postgres", "asterisk", "callcenter"):
        assert services[name]["healthcheck"]["test"], name
    assert services["callcenter"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "asterisk-config": {"condition": "service_completed_successfully"}}
    assert services["asterisk"]["depends_on"] == {
        "asterisk-config": {"condition": "service_completed_successfully"}}
    assert services["callcenter"]["command"] == ["serve"]  # entrypoint: db upgrade, then serve
    assert services["asterisk-config"]["command"] == ["asterisk-config"]
    assert services["backup"]["command"] == ["backup-schedule"]


def test_compose_secrets_come_from_an_env_file_that_is_never_committed() -> None:
    services = compose()["services"]
    for name in ("asterisk-config", "callcenter", "backup"):
        assert services[name]["env_file"] == ".env"
    text = (DOCKER / "compose.yaml").read_text(encoding="utf-8")
    for variable in re.findall(r"\$\{(\w+)", text):
        assert variable in env_example(), f"${{{variable}}} is not in docker/env.example"
    assert all(not v for k, v in env_example().items() if "SECRET" in k or "PASSWORD" in k)
    assert "docker/.env" in (ROOT / ".gitignore").read_text()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    tracked = subprocess.run(["git", "ls-files", "docker"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert "docker/.env" not in tracked


def test_compose_network_is_the_one_the_default_allowlists_name() -> None:
    data = compose()
    [ipam] = data["networks"]["callcenter"]["ipam"]["config"]
    assert ipam["subnet"] == COMPOSE_SUBNET
    network, dynamic = ipaddress.ip_network(ipam["subnet"]), ipaddress.ip_network(ipam["ip_range"])
    address = {name: s["networks"]["callcenter"]["ipv4_address"]
               for name, s in data["services"].items()
               if (s.get("networks") or {}).get("callcenter")}
    assert set(address) == {"postgres", "asterisk", "callcenter"}
    assert dynamic.subnet_of(network)  # type: ignore[arg-type]
    for fixed in address.values():
        assert ipaddress.ip_address(fixed) in network
        assert ipaddress.ip_address(fixed) not in dynamic  # never handed to another container
    env = product_env(data["services"]["callcenter"])
    fastagi = [ipaddress.ip_network(n) for n in env["CALLCENTER_FASTAGI_ALLOWED_PEERS"].split(",")]
    assert any(ipaddress.ip_address(address["asterisk"]) in n for n in fastagi)
    assert ipaddress.ip_address(address["callcenter"]) in ipaddress.ip_network(
        env["CALLCENTER_ASTERISK_AMI_PERMIT"])
    assert env["CALLCENTER_AMI_HOST"] == "asterisk"
    assert env["CALLCENTER_ASTERISK_FASTAGI_ADDRESS"] == "callcenter:4573"


def test_the_products_compose_environment_is_valid_production_settings() -> None:
    names = {env_name(s, k) for s, keys in SCHEMA.items() for k in keys} | ENTRYPOINT_ONLY
    data = compose()
    for name in ("asterisk-config", "callcenter", "backup"):
        env = product_env(data["services"][name])
        unknown = {k for k in env if k.startswith("CALLCENTER_")} - names
        assert unknown == set(), f"{name}: not settings: {unknown}"
        settings = load_settings(environ=env)
        assert settings.server.production
        require_production_secrets(settings)
        assert settings.database.url.startswith("postgresql+asyncpg://callcenter:")


# --------------------------------------------------------------------------- Dockerfiles


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    return [(m.group(1).upper(), m.group(2).strip())
            for m in re.finditer(r"(?m)^([A-Za-z]+)\s+(.*)$", text)]


def test_the_product_image_runs_as_a_user_whose_writable_paths_are_volumes() -> None:
    steps = dockerfile(DOCKER / "Dockerfile")
    [user] = [a for i, a in steps if i == "USER"]
    assert user.split(":")[0] not in {"0", "root"}
    uid = user.split(":")[0]
    [volume] = [a for i, a in steps if i == "VOLUME"]
    volumes = set(re.findall(r'"([^"]+)"', volume))
    env = dict(re.findall(r"(CALLCENTER_\w+)=(\S+)", " ".join(a for i, a in steps
                                                               if i == "ENV")))
    workdir = [a for i, a in steps if i == "WORKDIR"][-1]
    writable = {workdir, env["CALLCENTER_RECORDING_DIR"], env["CALLCENTER_BACKUP_DIR"],
                env["CALLCENTER_ASTERISK_CONFIG_DIR"], env["CALLCENTER_ASTERISK_PROMPTS_DIR"]}
    assert writable <= volumes, writable - volumes
    created = " ".join(a for i, a in steps if i == "RUN")
    for path in volumes:  # the image gives each volume directory to the user
        assert re.search(rf"install -d -o {uid} -g {uid} [^&]*{re.escape(path)}\b", created), path
    assert [a for i, a in steps if i == "ENTRYPOINT"] == ['["/usr/local/bin/callcenter-entrypoint"]']
    assert any(i == "COPY" and "docker/entrypoint.sh" in a for i, a in steps)
    load_settings(environ=env)  # every ENV value is a valid setting


def test_everything_the_product_image_copies_is_in_the_build_context() -> None:
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line and not line.startswith("#")]
    for instruction, args in dockerfile(DOCKER / "Dockerfile"):
        if instruction != "COPY":
            continue
        sources = [s for s in args.split()[:-1] if not s.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source.split("/")[0] not in ignored, f"{source} is excluded by .dockerignore"
    for excluded in (".venv", "var", ".git", "tests", "callcenter.toml"):
        assert excluded in ignored


def test_the_asterisk_image_installs_asterisk_22_from_a_distribution_package() -> None:
    steps = dockerfile(DOCKER / "asterisk" / "Dockerfile")
    [base] = [a for i, a in steps if i == "FROM"]
    assert re.fullmatch(r"alpine:3\.\d+", base), "pinned to a release, never :latest"
    run = " ".join(a for i, a in steps if i == "RUN")
    assert "apk add" in run and "'asterisk~22'" in run
    assert not re.search(r"\b(make|gcc|git clone|wget|curl)\b", run), "no Asterisk build here"
    text = (DOCKER / "asterisk" / "Dockerfile").read_text()
    assert "maintain" in text and "trusted" in text  # who maintains it, and why to trust it


# --------------------------------------------------------------------------- entrypoints


@pytest.fixture
def box() -> Iterator[Path]:
    """A temporary directory an unprivileged user can reach (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="cc-entrypoint-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def owned_by_runner(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)
    return path


def fake_callcenter(box: Path) -> Path:
    """A stand-in `callcenter` that appends its arguments to $FAKE_LOG; `db upgrade` exits
    with $FAKE_UPGRADE_STATUS."""
    bin_dir = box / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "callcenter"
    fake.write_text('#!/bin/sh\necho "$*" >> "$FAKE_LOG"\n'
                    'if [ "$1 $2" = "db upgrade" ]; then exit "${FAKE_UPGRADE_STATUS:-0}"; fi\n'
                    "exit 0\n")
    fake.chmod(0o755)
    return fake


def run_entrypoint(box: Path, cwd: Path, *args: str, env: dict[str, str] | None = None,
                   as_root: bool = False) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = owned_by_runner(box / "log") / "calls"
    environ = {"PATH": f"{box / 'bin'}:/usr/bin:/bin", "FAKE_LOG": str(log),
               "CALLCENTER_BIN": str(box / "bin" / "callcenter"), **(env or {})}
    command = ["sh", str(DOCKER / "entrypoint.sh"), *args]
    if os.geteuid() == 0 and not as_root:
        # the image's situation: an unprivileged user without supplementary groups
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                   *command]
    result = subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True,
                            timeout=30, check=False)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


@pytest.fixture
def entry(box: Path) -> Path:
    fake_callcenter(box)
    shutil.copy(DOCKER / "entrypoint.sh", box / "entrypoint.sh")
    return box


def test_entrypoint_migrates_then_serves_with_the_default_settings(entry: Path) -> None:
    work = owned_by_runner(entry / "work")
    result, calls = run_entrypoint(entry, work)
    assert result.returncode == 0, result.stderr
    assert calls == ["db upgrade", "serve"]
    assert (work / "var" / "recordings").is_dir()  # made by the unprivileged user


def test_entrypoint_names_the_setting_when_the_working_directory_is_not_writable(
        entry: Path) -> None:
    # What the issue saw: /app owned by root, the default SQLite file under ./var.
    work = entry / "work"
    work.mkdir()
    work.chmod(0o555)
    result, calls = run_entrypoint(entry, work)
    assert result.returncode == 78 and calls == []
    assert "database.url" in result.stderr and "var" in result.stderr
    assert "Traceback" not in result.stderr


def test_entrypoint_refuses_a_recording_directory_it_cannot_write(entry: Path) -> None:
    work = owned_by_runner(entry / "work")
    recordings = entry / "recordings"
    recordings.mkdir()
    recordings.chmod(0o555)
    result, calls = run_entrypoint(entry, work, env={
        "CALLCENTER_RECORDING_DIR": str(recordings)})
    assert result.returncode == 78 and calls == []
    assert "recording.dir" in result.stderr and str(recordings) in result.stderr
    assert "not writable" in result.stderr


def test_entrypoint_does_not_serve_when_the_migration_fails(entry: Path) -> None:
    work = owned_by_runner(entry / "work")
    result, calls = run_entrypoint(entry, work, env={"FAKE_UPGRADE_STATUS": "3"})
    assert result.returncode == 3 and calls == ["db upgrade"]


def test_entrypoint_with_postgresql_needs_no_writable_working_directory(entry: Path) -> None:
    work = entry / "work"
    work.mkdir()
    work.chmod(0o555)
    recordings = owned_by_runner(entry / "recordings")
    result, calls = run_entrypoint(entry, work, "serve", "--no-outbox-worker", env={
        "CALLCENTER_DATABASE_URL": "postgresql://cc:pw@postgres/cc",
        "CALLCENTER_RECORDING_DIR": str(recordings)})
    assert result.returncode == 0, result.stderr
    assert calls == ["db upgrade", "serve --no-outbox-worker"]


def test_entrypoint_jobs_render_the_asterisk_config_back_up_and_pass_commands_on(
        entry: Path) -> None:
    work = owned_by_runner(entry / "work")
    config, backups = entry / "asterisk-config", owned_by_runner(entry / "backups")
    owned_by_runner(config)
    env = {"CALLCENTER_ASTERISK_CONFIG_DIR": str(config), "CALLCENTER_BACKUP_DIR": str(backups),
           "CALLCENTER_RECORDING_DIR": str(owned_by_runner(entry / "rec"))}
    result, calls = run_entrypoint(entry, work, "asterisk-config", env=env)
    assert result.returncode == 0, result.stderr
    result, calls = run_entrypoint(entry, work, "backup-schedule", "--keep", "3", env=env)
    assert result.returncode == 0, result.stderr
    result, calls = run_entrypoint(entry, work, "users", "add", "ops", "--role", "admin", env=env)
    assert result.returncode == 0, result.stderr
    assert calls == [f"asterisk config --out {config}",
                     f"backup schedule --dir {backups} --keep 3",
                     "users add ops --role admin"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can start it as root")
def test_entrypoint_refuses_to_run_as_root(entry: Path) -> None:
    result, calls = run_entrypoint(entry, owned_by_runner(entry / "work"), as_root=True)
    assert result.returncode == 78 and calls == []
    assert "refusing to run as root" in result.stderr


def test_entrypoint_defaults_are_the_settings_defaults() -> None:
    text = (DOCKER / "entrypoint.sh").read_text()
    for variable, default in re.findall(r"\$\{(CALLCENTER_\w+):-([^}]+)\}", text):
        if variable in ENTRYPOINT_ONLY:
            continue
        section, key = next((s, k) for s, keys in SCHEMA.items() for k in keys
                            if env_name(s, k) == variable)
        assert SCHEMA[section][key].default == default, variable


@pytest.mark.skipif(os.geteuid() != 0, reason="installs files for another user: needs root")
def test_asterisk_entrypoint_installs_the_rendered_config_for_asterisk(box: Path) -> None:
    rendered, etc, monitor = box / "rendered", box / "etc", box / "monitor"
    settings = load_settings(environ={"CALLCENTER_AMI_SECRET": "s3cret-for-the-test"})
    render_to_directory(settings, rendered)
    fake = box / "asterisk"
    fake.write_text('#!/bin/sh\necho "$*" > "$FAKE_LOG"\n')
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "RENDERED": str(rendered), "ASTERISK_ETC": str(etc),
           "ASTERISK_MONITOR_DIR": str(monitor), "ASTERISK_BIN": str(fake),
           "ASTERISK_USER": "nobody", "ASTERISK_GROUP": "nogroup", "PRODUCT_GID": str(NOBODY),
           "FAKE_LOG": str(box / "asterisk.args")}
    result = subprocess.run(["sh", str(DOCKER / "asterisk" / "entrypoint.sh"), "-vvv"],
                            env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    for source in rendered.glob("*.conf"):
        installed = etc / source.name
        assert installed.read_bytes() == source.read_bytes()
        info = installed.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (NOBODY, 0o640), source.name
    info = monitor.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY, NOBODY, 0o2775)
    assert (box / "asterisk.args").read_text().split() == [
        "-f", "-n", "-U", "nobody", "-G", "nogroup", "-vvv"]
    (rendered / "pjsip.conf").unlink()
    missing = subprocess.run(["sh", str(DOCKER / "asterisk" / "entrypoint.sh")], env=env,
                             capture_output=True, text=True, timeout=30, check=False)
    assert missing.returncode == 78 and "pjsip.conf is missing" in missing.stderr
