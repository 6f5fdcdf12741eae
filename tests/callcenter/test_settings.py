from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from callcenter.errors import SettingsError
from callcenter.settings import SCHEMA, env_name, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_give_sqlite_simulator_and_standard_ports() -> None:
    s = load_settings(environ={})
    assert s.database.url.startswith("sqlite+aiosqlite:///")
    assert s.fastagi.port == 4573
    assert s.web.port == 8080
    assert not s.ami.configured
    assert s.locale.timezone == "Asia/Shanghai"
    assert s.locale.default == "zh-CN"


def test_environment_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "cc.toml"
    f.write_text('[ami]\nhost = "10.0.0.5"\nport = 5039\n[web]\nport = 9000\n')
    s = load_settings(f, environ={"CALLCENTER_WEB_PORT": "9100",
                                  "CALLCENTER_AMI_SECRET": "s3cret",
                                  "CALLCENTER_DATABASE_URL": "postgresql://cc@db/cc"})
    assert s.ami.host == "10.0.0.5"
    assert s.ami.port == 5039
    assert s.ami.secret == "s3cret"
    assert s.web.port == 9100
    assert s.database.url == "postgresql+asyncpg://cc@db/cc"


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"CALLCENTER_FASTAGI_PORT": "70000"}, "fastagi.port"),
        ({"CALLCENTER_WEB_PORT": "eighty"}, "web.port"),
        ({"CALLCENTER_DATABASE_URL": "mysql://x/y"}, "database.url"),
        ({"CALLCENTER_LOCALE_TIMEZONE": "Mars/Olympus"}, "locale.timezone"),
        ({"CALLCENTER_LOCALE_DEFAULT": "fr"}, "locale.default"),
        ({"CALLCENTER_AMI_HOST": "bad host!"}, "ami.host"),
        ({"CALLCENTER_BUSINESS_URL": "ftp://x"}, "business.url"),
        ({"CALLCENTER_AMI_SECRET": "a\r\nAction: Command"}, "ami.secret"),
        ({"CALLCENTER_CALLBACKS_QUEUE_CALLBACK_ATTEMPTS": "0"},
         "callbacks.queue_callback_attempts"),
        ({"CALLCENTER_CALLBACKS_QUEUE_CALLBACK_RETRY_S": "-5"},
         "callbacks.queue_callback_retry_s"),
    ],
)
def test_bad_value_names_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(environ=environ)
    assert key in str(err.value)
    assert err.value.key.startswith(key)


def test_queue_call_back_attempts_and_retry_delay_are_settings(tmp_path: Path) -> None:
    defaults = load_settings(environ={}).callbacks
    assert (defaults.queue_callback_attempts, defaults.queue_callback_retry_s) == (3, 300)
    f = tmp_path / "cc.toml"
    f.write_text("[callbacks]\nqueue_callback_attempts = 5\nqueue_callback_retry_s = 120\n")
    s = load_settings(f, environ={"CALLCENTER_CALLBACKS_QUEUE_CALLBACK_RETRY_S": "600"})
    assert (s.callbacks.queue_callback_attempts, s.callbacks.queue_callback_retry_s) == (5, 600)


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    f = tmp_path / "cc.toml"
    f.write_text("[web]\nprot = 80\n")
    with pytest.raises(SettingsError, match=r"web\.prot"):
        load_settings(f, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_config_path_from_environment(tmp_path: Path) -> None:
    f = tmp_path / "cc.toml"
    f.write_text('[locale]\ndefault = "en"\n')
    assert load_settings(environ={"CALLCENTER_CONFIG": str(f)}).locale.default == "en"


def test_example_file_documents_every_key_and_loads() -> None:
    example = ROOT / "callcenter.example.toml"
    data = tomllib.loads(example.read_text())
    for section, keys in SCHEMA.items():
        for key in keys:
            assert key in data.get(section, {}), f"{section}.{key} missing from the example"
            assert env_name(section, key) in example.read_text(), env_name(section, key)
    load_settings(example, environ={})


def test_required_environment_names_exist() -> None:
    names = {env_name(s, k) for s, keys in SCHEMA.items() for k in keys}
    for required in ("CALLCENTER_DATABASE_URL", "CALLCENTER_AMI_HOST", "CALLCENTER_AMI_PORT",
                     "CALLCENTER_AMI_USERNAME", "CALLCENTER_AMI_SECRET",
                     "CALLCENTER_FASTAGI_HOST", "CALLCENTER_FASTAGI_PORT",
                     "CALLCENTER_WEB_HOST", "CALLCENTER_WEB_PORT", "CALLCENTER_RECORDING_DIR"):
        assert required in names


def test_fastagi_allowed_peers_default_to_loopback_and_the_compose_network() -> None:
    settings = load_settings(environ={})
    assert settings.fastagi.allowed_peers == ("127.0.0.0/8", "::1/128", "172.30.40.0/24")
    assert settings.server.mode == "development" and not settings.server.production


def test_fastagi_allowed_peers_from_the_environment_are_comma_separated() -> None:
    settings = load_settings(environ={"CALLCENTER_FASTAGI_ALLOWED_PEERS": "10.0.0.7, 10.1.0.0/16"})
    assert settings.fastagi.allowed_peers == ("10.0.0.7/32", "10.1.0.0/16")


def test_a_malformed_allowed_peer_names_the_key() -> None:
    with pytest.raises(SettingsError, match=r"fastagi\.allowed_peers.*'10\.0\.0\.300'"):
        load_settings(environ={"CALLCENTER_FASTAGI_ALLOWED_PEERS": "10.0.0.300"})


@pytest.mark.parametrize("missing", ["ami.username", "ami.secret", "web.session_secret"])
def test_production_mode_names_the_missing_secret(missing: str) -> None:
    from callcenter.settings import require_production_secrets

    env = {"CALLCENTER_SERVER_MODE": "production", "CALLCENTER_AMI_USERNAME": "callcenter",
           "CALLCENTER_AMI_SECRET": "s3cret", "CALLCENTER_WEB_SESSION_SECRET": "k" * 32}
    complete = load_settings(environ=env)
    require_production_secrets(complete)  # nothing missing: no error
    variable = "CALLCENTER_" + missing.replace(".", "_").upper()
    settings = load_settings(environ={**env, variable: ""})
    with pytest.raises(SettingsError, match=rf"{missing}.*production.*\${variable}"):
        require_production_secrets(settings)
    # development mode defaults them (a random session key per start): no error
    require_production_secrets(load_settings(environ={**env, variable: "",
                                                      "CALLCENTER_SERVER_MODE": "development"}))
