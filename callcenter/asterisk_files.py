"""``callcenter asterisk config --out DIR``: render the PBX's configuration into a directory.

The I/O around the pure renderer (``callcenter/asterisk_config.py``): reads the ``dialplans/``
templates, the settings, and the secrets a previous render left in ``DIR`` (so phones keep
their passwords and Asterisk its AMI secret unless rotated), and writes every file
atomically, the ones with a secret mode 0600.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from callcenter.asterisk_config import (
    RENDERED_FILES,
    SECRET_FILES,
    AsteriskConfigError,
    AsteriskParams,
    PhoneSecrets,
    complete_secrets,
    parse_manager_secret,
    parse_pjsip_secrets,
    render_all,
)
from callcenter.settings import Settings

__all__ = ["DEFAULT_TEMPLATES", "RenderReport", "params_from", "render_to_directory"]

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[1] / "dialplans"
# The template's placeholder (dialplans/manager.conf), never kept as a real secret.
TEMPLATE_PLACEHOLDER_SECRET = "CHANGE-ME"  # noqa: S105


@dataclass(frozen=True, slots=True)
class RenderReport:
    """What a render wrote, and which secrets it generated."""

    out: Path
    files: tuple[str, ...]
    phones: int
    new_phone_passwords: int
    ami_secret_generated: bool

    def summary(self) -> str:
        lines = [f"rendered {len(self.files)} files into {self.out}: {', '.join(self.files)}",
                 f"{self.phones} phones, {self.new_phone_passwords} new SIP passwords "
                 f"(in {self.out / 'pjsip_secrets.conf'}, mode 0600)"]
        if self.ami_secret_generated:
            lines.append(f"generated an AMI secret (in {self.out / 'manager.conf'}): give it to "
                         "`callcenter serve` as CALLCENTER_AMI_SECRET")
        return "\n".join(lines)


def params_from(settings: Settings) -> AsteriskParams:
    """The renderer's parameters from the settings (defaults filled in as the settings'
    docs say: FastAGI address from ``fastagi.host:port``, monitor dir from ``recording.dir``)."""
    cfg = settings.asterisk
    fastagi = cfg.fastagi_address
    if not fastagi:
        host = settings.fastagi.host
        host = "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host  # noqa: S104
        fastagi = f"{host}:{settings.fastagi.port}"
    monitor = cfg.monitor_dir or str(Path(settings.recording.dir).absolute())
    return AsteriskParams(
        fastagi_address=fastagi, monitor_dir=monitor, prompts_dir=cfg.prompts_dir,
        ami_username=settings.ami.username, ami_port=settings.ami.port,
        ami_bindaddr=cfg.ami_bindaddr, ami_permit=cfg.ami_permit,
        agent_phones=cfg.agent_phones, supervisor_phones=cfg.supervisor_phones,
        sip_port=cfg.sip_port, rtp_start=cfg.rtp_start, rtp_end=cfg.rtp_end,
        local_net=cfg.local_net, external_address=cfg.external_address,
        trunk_host=cfg.trunk_host, trunk_port=cfg.trunk_port,
        trunk_username=cfg.trunk_username, overflow_wait=cfg.overflow_wait,
        overflow=cfg.overflow, callback_offer_every=cfg.callback_offer_every,
        record_whole_call=settings.recording.whole_call)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` atomically with ``mode`` from the first byte on (a secret
    is never readable by others, not even for a moment)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask, and an old tmp kept its
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def render_to_directory(settings: Settings, out: Path, *, templates: Path | None = None,
                        rotate_phone_passwords: bool = False,
                        new_secret: Callable[[], str] | None = None) -> RenderReport:
    """Render every file into ``out`` (created if needed) and return what was done.

    Raises ``AsteriskConfigError`` (a template lost a line the renderer substitutes, a
    template is missing, a bad value) and ``OSError``."""
    make_secret = new_secret or (lambda: secrets.token_urlsafe(24))
    source = templates or (Path(settings.asterisk.templates_dir)
                           if settings.asterisk.templates_dir else DEFAULT_TEMPLATES)
    texts: dict[str, str] = {}
    for name in ("extensions.conf", "queues.conf", "manager.conf"):
        text = _read(source / name)
        if text is None:
            raise AsteriskConfigError(f"template {source / name} not found "
                                      "(asterisk.templates_dir)")
        texts[name] = text
    params = params_from(settings)
    known = PhoneSecrets({})
    if not rotate_phone_passwords and (old := _read(out / "pjsip_secrets.conf")) is not None:
        known = parse_pjsip_secrets(old)
    phone_secrets = complete_secrets(params, known, settings.asterisk.trunk_password,
                                     make_secret)
    if params.trunk_host and params.trunk_username and not phone_secrets.trunk_password:
        raise AsteriskConfigError("asterisk.trunk_username is set but not its password: set "
                                  "$CALLCENTER_ASTERISK_TRUNK_PASSWORD")
    ami_secret = settings.ami.secret
    generated = False
    if not ami_secret:
        old_manager = _read(out / "manager.conf")
        previous = parse_manager_secret(old_manager, params.ami_username) if old_manager else None
        if previous and not previous.startswith(TEMPLATE_PLACEHOLDER_SECRET):
            ami_secret = previous
        else:
            ami_secret, generated = make_secret(), True
    files = render_all(texts, params, ami_secret=ami_secret, secrets=phone_secrets)
    out.mkdir(parents=True, exist_ok=True)
    for name in RENDERED_FILES:
        _write(out / name, files[name], 0o600 if name in SECRET_FILES else 0o644)
    fresh = sum(1 for n, p in phone_secrets.phones.items() if known.phones.get(n) != p)
    return RenderReport(out, RENDERED_FILES, len(phone_secrets.phones), fresh, generated)
