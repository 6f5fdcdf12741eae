"""The command line as a user runs it: a real subprocess on a temporary database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEADER = "merchant_number,name,address,district,contact_person,phones,business_hours,tags\n"
GOOD = HEADER + ("310115000000001,浦东便利店,上海市浦东新区张杨路500号,浦东新区,王伟,13800138000,08:00-22:00,\n"
                 "310115000000002,徐汇面馆,上海市徐汇区漕溪北路1号,徐汇区,李娜,13900139000,10:00-22:00,\n")


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    environ["CALLCENTER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    # this checkout's code, whatever the installed package points at (a git worktree)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), environ.get("PYTHONPATH"))))
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "callcenter.cli", *args], cwd=tmp_path,
                          env=environ, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    result = run(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_version_is_printed(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.startswith("callcenter ")


def test_csv_with_bad_rows_reports_every_line_and_changes_nothing(migrated: Path) -> None:
    bad = migrated / "bad.csv"
    bad.write_text(GOOD + "3101150000000X3,坏商户,址,区,人,13800138000,,\n"
                   "310115000000004,坏电话,址,区,人,555,,\n", encoding="utf-8")
    result = run(migrated, "merchants", "import", str(bad))
    assert result.returncode == 1
    assert f"{bad}:line 4: merchant_number" in result.stderr
    assert (f"{bad}:line 5: phones: not a valid mobile, landline or service number: '555'"
            in result.stderr)
    assert "NOT committed" in result.stdout
    good = migrated / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    first = run(migrated, "merchants", "import", str(good))
    assert first.returncode == 0 and "2 created" in first.stdout
    second = run(migrated, "merchants", "import", str(good))
    assert "0 created, 0 updated, 2 unchanged" in second.stdout


def test_skip_bad_imports_good_rows_and_lists_the_rest(migrated: Path) -> None:
    bad = migrated / "bad.csv"
    bad.write_text(GOOD + "310115000000004,坏电话,址,区,人,555,,\n", encoding="utf-8")
    result = run(migrated, "merchants", "import", str(bad), "--skip-bad")
    assert result.returncode == 0
    assert "2 created" in result.stdout and "line 4: phones" in result.stderr


def test_wrong_database_url_fails_fast_with_a_readable_message(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "upgrade",
                 env={"CALLCENTER_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 1
    assert "error: cannot connect to postgresql+asyncpg://nobody@127.0.0.1:1/none" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_names_the_key(tmp_path: Path) -> None:
    result = run(tmp_path, "db", "upgrade", env={"CALLCENTER_WEB_PORT": "http"})
    assert result.returncode == 1
    assert "setting web.port ($CALLCENTER_WEB_PORT)" in result.stderr


def test_users_add_creates_an_agent_account(migrated: Path) -> None:
    result = run(migrated, "users", "add", "8101", "--role", "agent", "--name", "王芳",
                 "--interface", "PJSIP/8101", env={"CALLCENTER_NEW_PASSWORD": "long-enough"})
    assert result.returncode == 0, result.stderr
    again = run(migrated, "users", "add", "8101", "--role", "agent", "--interface", "PJSIP/8101",
                env={"CALLCENTER_NEW_PASSWORD": "long-enough"})
    assert again.returncode == 1 and "already exists" in again.stderr


def test_users_add_refuses_a_queue_the_hotline_does_not_have(migrated: Path) -> None:
    result = run(migrated, "users", "add", "8102", "--role", "agent", "--interface",
                 "PJSIP/8102", "--queues", "aftersales,nightshift",
                 env={"CALLCENTER_NEW_PASSWORD": "long-enough"})
    assert result.returncode == 1
    assert "queues: unknown queue 'nightshift'" in result.stderr
    assert "presales, aftersales, complaints, techsupport, night" in result.stderr
    # nothing was created: the same account can be added with good queues
    good = run(migrated, "users", "add", "8102", "--role", "agent", "--interface",
               "PJSIP/8102", "--queues", "complaints",
               env={"CALLCENTER_NEW_PASSWORD": "long-enough"})
    assert good.returncode == 0, good.stderr


def test_users_queues_changes_an_agents_queues_and_shows_the_login_queues(
        migrated: Path) -> None:
    added = run(migrated, "users", "add", "8103", "--role", "agent", "--interface",
                "PJSIP/8103", "--queues", "complaints",
                env={"CALLCENTER_NEW_PASSWORD": "long-enough"})
    assert added.returncode == 0, added.stderr
    changed = run(migrated, "users", "queues", "8103", "--queues", "complaints,aftersales")
    assert changed.returncode == 0, changed.stderr
    assert ("agent 8103 (8103): queues complaints, aftersales; logs in to complaints, "
            "aftersales, night") in changed.stdout
    unknown = run(migrated, "users", "queues", "8103", "--queues", "vip")
    assert unknown.returncode == 1 and "unknown queue 'vip'" in unknown.stderr
    empty = run(migrated, "users", "queues", "8103", "--queues", ",")
    assert empty.returncode == 1 and "at least one queue" in empty.stderr
    nobody = run(migrated, "users", "queues", "9999", "--queues", "presales")
    assert nobody.returncode == 1 and "no agent account '9999'" in nobody.stderr


def test_users_list_disable_passwd_role_follow_the_account_rules(migrated: Path) -> None:
    password = {"CALLCENTER_NEW_PASSWORD": "long-enough"}
    assert run(migrated, "users", "add", "8101", "--role", "agent", "--name", "王芳",
               "--interface", "PJSIP/8101", env=password).returncode == 0
    assert run(migrated, "users", "add", "lead", "--role", "supervisor",
               env=password).returncode == 0
    listed = run(migrated, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "8101" in listed.stdout and "agent" in listed.stdout and "active" in listed.stdout
    short = run(migrated, "users", "passwd", "lead", env={"CALLCENTER_NEW_PASSWORD": "short"})
    assert short.returncode == 1 and "password: at least 8 characters" in short.stderr
    changed = run(migrated, "users", "passwd", "lead", env={"CALLCENTER_NEW_PASSWORD":
                                                            "another-long-one"})
    assert changed.returncode == 0 and "sessions are ended" in changed.stdout
    assert run(migrated, "users", "role", "lead", "dispatcher").returncode == 0
    no_agent = run(migrated, "users", "role", "lead", "agent")
    assert no_agent.returncode == 1 and "no agent number" in no_agent.stderr
    assert run(migrated, "users", "disable", "8101").returncode == 0
    listed = run(migrated, "users", "list").stdout
    assert [line.split()[:3] for line in listed.splitlines()[1:]] == [
        ["8101", "agent", "disabled"], ["lead", "dispatcher", "active"]]
    assert run(migrated, "users", "disable", "8101", "--enable").returncode == 0
    unknown = run(migrated, "users", "disable", "ghost")
    assert unknown.returncode == 1 and "no user 'ghost'" in unknown.stderr


def test_demo_data_prints_logins_and_loads_once(migrated: Path) -> None:
    first = run(migrated, "demo-data", "--if-empty")
    assert first.returncode == 0 and "supervisor" in first.stdout and "dispatcher" in first.stdout
    assert "team_lead   teamlead" in first.stdout  # every staff login, agents as a range
    assert "agents      8001 … 8015" in first.stdout
    second = run(migrated, "demo-data", "--if-empty")
    assert "nothing loaded" in second.stdout


def test_serve_on_an_unmigrated_database_says_how_to_fix_it(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--no-fastagi", "--no-ami",
                 env={"CALLCENTER_WEB_PORT": "0"})
    assert result.returncode == 1
    assert "run `callcenter db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_an_ami_host_refuses_to_start_instead_of_simulating(
        migrated: Path) -> None:
    # In production a forgotten CALLCENTER_AMI_HOST must not start fake calls into the real
    # database: serve stops at once, naming the setting, before touching anything.
    result = run(migrated, "serve", env={"CALLCENTER_WEB_PORT": "0",
                                         "CALLCENTER_FASTAGI_PORT": "0"})
    assert result.returncode == 1
    assert "ami.host" in result.stderr and "CALLCENTER_AMI_HOST" in result.stderr
    assert "--simulate" in result.stderr and "Traceback" not in result.stderr
    assert "callcenter is running" not in result.stdout


def test_serve_no_ami_needs_no_ami_host(tmp_path: Path) -> None:
    # --no-ami is allowed without a host: it gets as far as the (unmigrated) database
    result = run(tmp_path, "serve", "--no-ami", "--no-fastagi", env={"CALLCENTER_WEB_PORT": "0"})
    assert result.returncode == 1 and "ami.host" not in result.stderr
    assert "run `callcenter db upgrade` first" in result.stderr


def test_simulate_is_delegated_to_the_simulators_own_command_line(tmp_path: Path) -> None:
    result = run(tmp_path, "simulate", "--virtual", "--calls", "3", "--agents", "2",
                 "--seed", "4")
    assert result.returncode == 0, result.stderr
    assert '"generated": 3' in result.stdout and '"lost": 0' in result.stdout
    usage = run(tmp_path, "simulate", "--no-such-option")
    assert usage.returncode == 2 and "callcenter simulate" in usage.stderr


def test_users_add_keeps_the_state_interface_none_or_the_template(migrated: Path) -> None:
    password = {"CALLCENTER_NEW_PASSWORD": "long-enough"}
    for username, extra in (("8102", ["--state-interface="]),
                            ("8103", ["--state-interface", "PJSIP/desk-8103"]),
                            ("8104", [])):
        result = run(migrated, "users", "add", username, "--role", "agent", "--interface",
                     f"Local/{username}@agents/n", *extra, env=password)
        assert result.returncode == 0, result.stderr
    with sqlite3.connect(migrated / "cli.db") as db:
        rows = dict(db.execute("SELECT agent_number, state_interface FROM agents"))
    # "": no StateInterface; a device: that one; NULL: the [ami] state_interface template
    assert rows == {"8102": "", "8103": "PJSIP/desk-8103", "8104": None}


def test_serve_in_production_mode_names_the_missing_secret_and_starts_nothing(
        migrated: Path) -> None:
    result = run(migrated, "serve", env={
        "CALLCENTER_SERVER_MODE": "production", "CALLCENTER_AMI_HOST": "127.0.0.1",
        "CALLCENTER_AMI_SECRET": "s3cret", "CALLCENTER_WEB_PORT": "0",
        "CALLCENTER_FASTAGI_PORT": "0"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "web.session_secret" in result.stderr
    assert "CALLCENTER_WEB_SESSION_SECRET" in result.stderr
    assert "callcenter is running" not in result.stdout


def test_serve_in_production_mode_refuses_the_simulator(migrated: Path) -> None:
    result = run(migrated, "serve", "--simulate", env={
        "CALLCENTER_SERVER_MODE": "production", "CALLCENTER_AMI_SECRET": "s3cret",
        "CALLCENTER_WEB_SESSION_SECRET": "k" * 32, "CALLCENTER_WEB_PORT": "0"})
    assert result.returncode == 1 and "server.mode" in result.stderr
    assert "callcenter is running" not in result.stdout
