"""``callcenter asterisk config``: the PBX's files rendered from the settings and dialplans/.

extensions/queues/manager are also loaded into a real Asterisk by tests/asterisk/ (through
the same renderer); pjsip.conf cannot be (the test Asterisk has no PJSIP), so it is checked
here as Asterisk would read it: templates resolved, every reference to an existing section of
the right type, every phone with its own password, no password outside the 0600 file.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from itertools import count
from pathlib import Path

import pytest

from callcenter.asterisk_config import AsteriskConfigError, parse_pjsip_secrets
from callcenter.asterisk_files import DEFAULT_TEMPLATES, render_to_directory
from callcenter.errors import SettingsError
from callcenter.settings import load_settings

ACCEPTANCE_FILES = ("extensions.conf", "queues.conf", "manager.conf", "pjsip.conf")
Section = dict[str, list[str]]


def settings_with(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(environ={f"CALLCENTER_{k.upper()}": v for k, v in env.items()})


def counter_secrets():  # type: ignore[no-untyped-def]
    numbers = count(1)
    return lambda: f"secret-{next(numbers):04d}-abcdefghijklmnopqrstuvwxyz"


def asterisk_sections(etc: Path, name: str) -> list[tuple[str, Section]]:
    """The sections of ``name`` as Asterisk's config parser builds them: ``#include`` followed,
    ``[x](tpl)`` inherits the template's keys first, ``(!)`` templates are not objects."""
    templates: dict[str, Section] = {}
    sections: list[tuple[str, Section]] = []
    current: Section | None = None

    def read(path: Path) -> None:
        nonlocal current
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.split(";", 1)[0].strip()
            if not line:
                continue
            if include := re.fullmatch(r"#include\s+(\S+)", line):
                read(etc / include.group(1))
                continue
            header = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
            if header:
                section_name, options = header.group(1), (header.group(2) or "").split(",")
                current = {}
                for option in options:
                    if option and option != "!":
                        assert option in templates, f"{path.name}: unknown template {option}"
                        for key, values in templates[option].items():
                            current[key] = list(values)
                if "!" in options:
                    templates[section_name] = current
                else:
                    sections.append((section_name, current))
                continue
            key, _, value = line.partition("=")
            assert current is not None and _ == "=", f"{path.name}: {raw!r}"
            current.setdefault(key.strip(), []).append(value.strip().lstrip(">").strip())

    read(etc / name)
    return sections


def by_type(sections: list[tuple[str, Section]]) -> dict[str, dict[str, Section]]:
    typed: dict[str, dict[str, Section]] = {}
    for name, section in sections:
        [kind] = section["type"]
        assert name not in typed.get(kind, {}), f"[{name}] type={kind} twice"
        typed.setdefault(kind, {})[name] = section
    return typed


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    settings = settings_with(ami_secret="ami-secret-from-env", asterisk_agent_phones="12",
                             asterisk_supervisor_phones="2",
                             asterisk_trunk_host="sip.carrier.example",
                             asterisk_trunk_username="hotline",
                             asterisk_trunk_password="trunk-pass-from-env",
                             asterisk_fastagi_address="callcenter:4573",
                             asterisk_monitor_dir="/srv/recordings",
                             asterisk_ami_bindaddr="0.0.0.0",
                             asterisk_ami_permit="172.30.40.0/24,127.0.0.1")
    render_to_directory(settings, tmp_path / "etc", new_secret=counter_secrets())
    return tmp_path / "etc"


def test_extensions_gets_its_globals_and_keeps_every_other_line_where_it_was(
        rendered: Path) -> None:
    template = (DEFAULT_TEMPLATES / "extensions.conf").read_text(encoding="utf-8").splitlines()
    ours = (rendered / "extensions.conf").read_text(encoding="utf-8").splitlines()
    assert len(ours) == len(template)
    changed = {a: b for a, b in zip(template, ours, strict=True) if a != b}
    assert sorted(changed.values()) == ["CC_FASTAGI = callcenter:4573",
                                        "CC_MONITOR_DIR = /srv/recordings"]
    assert "CC_PROMPTS = /var/lib/callcenter/prompts" in ours
    assert (rendered / "queues.conf").read_text(encoding="utf-8") == (
        DEFAULT_TEMPLATES / "queues.conf").read_text(encoding="utf-8")


def test_whole_call_recording_is_off_by_default_and_the_queue_records(rendered: Path) -> None:
    ours = (rendered / "extensions.conf").read_text(encoding="utf-8").splitlines()
    assert "CC_RECORD_WHOLE_CALL = 0" in ours
    queues = asterisk_sections(rendered, "queues.conf")
    assert dict(queues)["aftersales"]["monitor-format"] == ["wav"]


def test_whole_call_recording_turns_the_dialplan_on_and_the_queue_recording_off(
        tmp_path: Path) -> None:
    render_to_directory(settings_with(recording_whole_call="true"), tmp_path,
                        new_secret=counter_secrets())
    template = (DEFAULT_TEMPLATES / "extensions.conf").read_text(encoding="utf-8").splitlines()
    ours = (tmp_path / "extensions.conf").read_text(encoding="utf-8").splitlines()
    assert "CC_RECORD_WHOLE_CALL = 1" in ours and len(ours) == len(template)
    queue_template = (DEFAULT_TEMPLATES / "queues.conf").read_text(encoding="utf-8")
    queues = (tmp_path / "queues.conf").read_text(encoding="utf-8")
    # one line commented out, every other line as it was: no queue starts a second file
    assert len(queues.splitlines()) == len(queue_template.splitlines())
    assert "monitor-format" not in dict(asterisk_sections(tmp_path, "queues.conf"))[
        "aftersales"]
    changed = [(a, b) for a, b in zip(queue_template.splitlines(), queues.splitlines(),
                                      strict=True) if a != b]
    assert [a for a, _ in changed] == ["monitor-format = wav"]


def test_whole_call_with_a_queues_template_without_monitor_format_is_an_error(
        tmp_path: Path) -> None:
    templates = tmp_path / "dialplans"
    templates.mkdir()
    for name in ("extensions.conf", "queues.conf", "manager.conf"):
        text = (DEFAULT_TEMPLATES / name).read_text(encoding="utf-8")
        (templates / name).write_text(text.replace("monitor-format = wav", ""))
    with pytest.raises(AsteriskConfigError, match="monitor-format"):
        render_to_directory(settings_with(recording_whole_call="1"), tmp_path / "out",
                            templates=templates)
def test_the_overflow_and_the_call_back_offer_are_rendered_from_the_settings(
        tmp_path: Path) -> None:
    settings = settings_with(asterisk_overflow="presales=complaints,complaints=night",
                             asterisk_overflow_wait="25", asterisk_callback_offer_every="30",
                             asterisk_prompts_dir="/srv/prompts/")
    render_to_directory(settings, tmp_path / "etc", new_secret=counter_secrets())
    template = (DEFAULT_TEMPLATES / "extensions.conf").read_text(encoding="utf-8").splitlines()
    ours = (tmp_path / "etc" / "extensions.conf").read_text(encoding="utf-8").splitlines()
    assert len(ours) == len(template)  # dialplan lines keep their numbers
    overflow = {line.split(" =")[0]: line.partition("=")[2].strip() for line in ours
                if line.startswith("CC_OVERFLOW_")}
    assert overflow == {"CC_OVERFLOW_WAIT": "25", "CC_OVERFLOW_presales": "complaints",
                        "CC_OVERFLOW_aftersales": "", "CC_OVERFLOW_complaints": "night",
                        "CC_OVERFLOW_techsupport": "", "CC_OVERFLOW_night": ""}
    queues = dict(asterisk_sections(tmp_path / "etc", "queues.conf"))
    for name in ("presales", "aftersales", "complaints", "techsupport", "night"):
        assert queues[name]["context"] == ["cc-queue-exit"]
        assert queues[name]["periodic-announce"] == ["/srv/prompts/callback_offer"]
        assert queues[name]["periodic-announce-frequency"] == ["30"]


@pytest.mark.parametrize(("value", "error"), [
    ("presales=aftersales,aftersales=presales", "comes back to presales"),
    ("night=night", "comes back to night"),
    ("presales=lobby", "unknown queue 'lobby'"),
    ("presales=aftersales,presales=night", "presales has two fallbacks"),
    ("presales", "expected QUEUE=FALLBACK")])
def test_an_overflow_that_would_loop_or_names_no_queue_is_refused(value: str, error: str
                                                                 ) -> None:
    with pytest.raises(SettingsError, match=error):
        settings_with(asterisk_overflow=value)


def test_no_overflow_at_all_renders_every_queue_without_a_fallback(tmp_path: Path) -> None:
    render_to_directory(settings_with(asterisk_overflow=""), tmp_path / "etc",
                        new_secret=counter_secrets())
    ours = (tmp_path / "etc" / "extensions.conf").read_text(encoding="utf-8")
    assert re.findall(r"(?m)^CC_OVERFLOW_[a-z]+ =.*$", ours) == [
        f"CC_OVERFLOW_{q} =" for q in ("presales", "aftersales", "complaints", "techsupport",
                                       "night")]


def test_manager_gets_the_secret_bind_address_and_one_permit_per_network(
        rendered: Path) -> None:
    [(name, account)] = [(n, s) for n, s in asterisk_sections(rendered, "manager.conf")
                         if n != "general"]
    general = dict(asterisk_sections(rendered, "manager.conf"))["general"]
    assert name == "callcenter" and account["secret"] == ["ami-secret-from-env"]
    assert general["bindaddr"] == ["0.0.0.0"] and general["port"] == ["5038"]
    assert account["deny"] == ["0.0.0.0/0.0.0.0"]
    assert account["permit"] == ["172.30.40.0/255.255.255.0", "127.0.0.1/255.255.255.255"]
    assert account["read"] == ["call,agent,system,user"]  # the template's least privilege


def test_pjsip_defines_every_phone_and_the_trunk_with_references_that_resolve(
        rendered: Path) -> None:
    typed = by_type(asterisk_sections(rendered, "pjsip.conf"))
    phones = [str(n) for n in range(8001, 8013)] + ["9001", "9002"]
    assert sorted(typed["endpoint"]) == sorted([*phones, "trunk"])
    for name, endpoint in typed["endpoint"].items():
        assert endpoint["transport"][0] in typed["transport"]
        for aor in endpoint["aors"]:
            assert aor in typed["aor"]
        for key in ("auth", "outbound_auth"):
            for auth in endpoint.get(key, []):
                assert auth in typed["auth"], f"[{name}] {key} = {auth}"
    extensions = (rendered / "extensions.conf").read_text(encoding="utf-8")
    for number in phones:
        endpoint = typed["endpoint"][number]
        assert endpoint["context"] == ["agents"] and f"[{endpoint['context'][0]}]" in extensions
        assert typed["aor"][number]["max_contacts"] == ["1"]
        auth = typed["auth"][number]
        assert auth["username"] == [number] and auth["auth_type"] == ["userpass"]
    trunk = typed["endpoint"]["trunk"]
    assert trunk["context"] == ["from-trunk"] and "[from-trunk]" in extensions
    assert "@trunk," in extensions  # click to dial: PJSIP/${EXTEN}@trunk
    assert typed["identify"]["trunk"]["match"] == ["sip.carrier.example"]
    assert typed["registration"]["trunk"]["outbound_auth"] == ["trunk-auth"]
    assert typed["auth"]["trunk-auth"]["password"] == ["trunk-pass-from-env"]


def test_every_phone_has_its_own_password_and_only_the_0600_files_hold_secrets(
        rendered: Path) -> None:
    typed = by_type(asterisk_sections(rendered, "pjsip.conf"))
    passwords = [a["password"][0] for n, a in typed["auth"].items() if n != "trunk-auth"]
    assert len(passwords) == 14 and len(set(passwords)) == 14
    assert not re.search(r"(?m)^password", (rendered / "pjsip.conf").read_text(encoding="utf-8"))
    for name in ("manager.conf", "pjsip_secrets.conf"):
        assert stat.S_IMODE((rendered / name).stat().st_mode) == 0o600, name
    for name in ("extensions.conf", "queues.conf", "pjsip.conf", "rtp.conf"):
        text = (rendered / name).read_text(encoding="utf-8")
        assert "ami-secret-from-env" not in text and "trunk-pass-from-env" not in text
        assert not any(p in text for p in passwords)


def test_rendering_again_keeps_the_phone_passwords_unless_rotated(tmp_path: Path) -> None:
    settings = settings_with(asterisk_agent_phones="3", asterisk_supervisor_phones="0")
    out = tmp_path / "etc"
    first = render_to_directory(settings, out)
    before = parse_pjsip_secrets((out / "pjsip_secrets.conf").read_text()).phones
    manager = (out / "manager.conf").read_text()
    assert first.ami_secret_generated and first.new_phone_passwords == 3
    again = render_to_directory(settings, out)
    assert parse_pjsip_secrets((out / "pjsip_secrets.conf").read_text()).phones == before
    assert (out / "manager.conf").read_text() == manager  # the generated AMI secret is kept
    assert not again.ami_secret_generated and again.new_phone_passwords == 0
    more = render_to_directory(settings_with(asterisk_agent_phones="4",
                                             asterisk_supervisor_phones="0"), out)
    assert more.new_phone_passwords == 1  # only the new phone 8004
    rotated = render_to_directory(settings, out, rotate_phone_passwords=True)
    after = parse_pjsip_secrets((out / "pjsip_secrets.conf").read_text()).phones
    assert rotated.new_phone_passwords == 3 and set(after) == set(before)
    assert all(after[n] != before[n] for n in before)


def test_a_template_that_lost_a_substituted_line_is_an_error_not_a_silent_copy(
        tmp_path: Path) -> None:
    templates = tmp_path / "dialplans"
    templates.mkdir()
    for name in ("extensions.conf", "queues.conf", "manager.conf"):
        text = (DEFAULT_TEMPLATES / name).read_text(encoding="utf-8")
        (templates / name).write_text(text.replace("CC_FASTAGI = ", "CC_AGI = "))
    with pytest.raises(AsteriskConfigError, match="CC_FASTAGI"):
        render_to_directory(settings_with(), tmp_path / "out", templates=templates)
    assert not (tmp_path / "out").exists()


def test_a_trunk_user_without_its_password_names_the_variable(tmp_path: Path) -> None:
    settings = settings_with(asterisk_trunk_host="sip.carrier.example",
                             asterisk_trunk_username="hotline")
    with pytest.raises(AsteriskConfigError, match="CALLCENTER_ASTERISK_TRUNK_PASSWORD"):
        render_to_directory(settings, tmp_path / "out")


def test_the_command_writes_the_files_the_acceptance_scripts_name(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    result = subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "asterisk", "config", "--out",
         str(tmp_path / "etc")], cwd=tmp_path, env=environ, capture_output=True, text=True,
        timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for name in ACCEPTANCE_FILES:
        assert (tmp_path / "etc" / name).is_file(), name
    assert "CALLCENTER_AMI_SECRET" in result.stdout  # it generated one and says where it is
    missing = subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "asterisk", "config", "--out",
         str(tmp_path / "etc2"), "--templates", str(tmp_path / "nowhere")], cwd=tmp_path,
        env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr
