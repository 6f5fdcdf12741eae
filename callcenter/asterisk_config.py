"""The Asterisk configuration the call center runs, rendered from the product's settings.

``callcenter asterisk config --out DIR`` (``callcenter/asterisk_files.py`` reads and writes the
files) turns the repository's ``dialplans/`` into the files an Asterisk 22 loads, so that no
hand-edited copy drifts from them:

* ``extensions.conf``: the template with its ``[globals]`` set (``CC_FASTAGI``,
  ``CC_MONITOR_DIR``, ``CC_PROMPTS``, ``CC_RECORD_WHOLE_CALL``, the overflow
  ``CC_OVERFLOW_WAIT`` and ``CC_OVERFLOW_<queue>``). Substituted in place, line for line: every
  dialplan line keeps its line number (``dialplan show`` and the tests in ``tests/asterisk/``
  compare them);
* ``queues.conf``: the template with the call-back offer (``periodic-announce`` under
  ``CC_PROMPTS``, its frequency ``asterisk.callback_offer_every``); with
  ``recording.whole_call`` its ``monitor-format`` line is commented out: the dialplan then
  records the whole call from the answer, and a queue that also recorded would start a second
  file for the same call;
* ``manager.conf``: the template with the CTI account named ``ami.username``, its ``secret``,
  and ``bindaddr``/``port``/``permit`` from the settings;
* ``pjsip.conf``: generated: one UDP transport, the SIP trunk (endpoint ``trunk``, context
  ``from-trunk``; the dialplan dials ``PJSIP/<number>@trunk``), and the phones: agents
  ``8001``…``80NN`` (context ``agents``) and supervisors ``9001``…``90NN`` (the CTI's ChanSpy
  dials them). It holds no password: it ``#include``\\ s
* ``pjsip_secrets.conf``: one ``type = auth`` section per phone with its random password, and
  the trunk's credentials. Written mode 0600; read back on the next render so the phones'
  passwords stay the same unless rotated (:func:`parse_pjsip_secrets` is the inverse of
  :func:`render_pjsip_secrets`);
* ``rtp.conf``, ``modules.conf``, ``logger.conf``: the RTP port range the compose file
  publishes, the modules (no channel driver but PJSIP and Local), a log to the console.

Pure: no file, clock or randomness here; secrets are passed in (or a ``new_secret`` function).
A template line that is not where the renderer expects it raises :class:`AsteriskConfigError`
instead of leaving a production value behind.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callcenter.errors import CallcenterError

__all__ = [
    "FIRST_AGENT_PHONE",
    "FIRST_SUPERVISOR_PHONE",
    "RENDERED_FILES",
    "SECRET_FILES",
    "AsteriskConfigError",
    "AsteriskParams",
    "PhoneSecrets",
    "complete_secrets",
    "netmask_form",
    "parse_manager_secret",
    "parse_pjsip_secrets",
    "phone_numbers",
    "render_all",
    "render_extensions",
    "render_manager",
    "render_pjsip",
    "render_pjsip_secrets",
    "render_queues",
]

FIRST_AGENT_PHONE = 8001
FIRST_SUPERVISOR_PHONE = 9001
TRUNK = "trunk"
TRUNK_AUTH = "trunk-auth"
RENDERED_FILES = ("extensions.conf", "queues.conf", "manager.conf", "pjsip.conf",
                  "pjsip_secrets.conf", "rtp.conf", "modules.conf", "logger.conf")
# Files that hold a secret: written mode 0600.
SECRET_FILES = frozenset({"manager.conf", "pjsip_secrets.conf"})
NOTE = ("; Rendered by `callcenter asterisk config` from the callcenter settings; do not edit,\n"
        "; render again (docs/operations.md).\n")


class AsteriskConfigError(CallcenterError):
    """A template does not have the line the renderer substitutes, or a value is unusable."""

    error_id = "asterisk_config"
    status = 500


@dataclass(frozen=True, slots=True)
class AsteriskParams:
    """What the rendered files need from the settings (``[asterisk]``, ``[ami]`` …)."""

    fastagi_address: str            # host:port Asterisk connects to (CC_FASTAGI)
    monitor_dir: str                # where MixMonitor writes; the product's recording.dir
    prompts_dir: str                # CC_PROMPTS
    ami_username: str
    ami_port: int
    ami_bindaddr: str
    ami_permit: tuple[str, ...]     # CIDR networks the CTI connects from
    agent_phones: int               # 8001 … 8000 + agent_phones
    supervisor_phones: int          # 9001 … 9000 + supervisor_phones
    sip_port: int
    rtp_start: int
    rtp_end: int
    local_net: tuple[str, ...]
    external_address: str = ""     # public address behind NAT; empty = none
    trunk_host: str = ""            # the carrier's SIP server; empty = no trunk rendered
    trunk_port: int = 5060
    trunk_username: str = ""        # empty: the carrier authenticates us by IP address
    record_whole_call: bool = False  # recording.whole_call: MixMonitor from the answer, IVR too
    overflow_wait: int = 60         # CC_OVERFLOW_WAIT
    overflow: tuple[tuple[str, str], ...] = (("presales", "aftersales"), ("aftersales", "night"))
    callback_offer_every: int = 45  # queues.conf periodic-announce-frequency (0: off)


@dataclass(frozen=True, slots=True)
class PhoneSecrets:
    """The passwords of ``pjsip_secrets.conf``: per phone number, and the trunk's."""

    phones: Mapping[str, str]
    trunk_password: str = ""


def phone_numbers(params: AsteriskParams) -> list[str]:
    """``["8001", …, "9001", …]``: every phone ``pjsip.conf`` defines."""
    return ([str(FIRST_AGENT_PHONE + i) for i in range(params.agent_phones)]
            + [str(FIRST_SUPERVISOR_PHONE + i) for i in range(params.supervisor_phones)])


# --------------------------------------------------------------------------- templates


def _set_line(text: str, key: str, value: str, *, file: str) -> str:
    """``key = value`` for the one ``key = …`` line of ``file``: a template that lost the line
    fails loudly rather than rendering a production file with the template's value."""
    if "\n" in value:
        raise AsteriskConfigError(f"{file}: {key}: a value must be one line")
    replaced, count = re.subn(rf"(?m)^{re.escape(key)} = .*$", lambda _m: f"{key} = {value}",
                              text)
    if count != 1:
        raise AsteriskConfigError(f"{file}: expected one '{key} = …' line, found {count}")
    return replaced


def render_extensions(template: str, params: AsteriskParams) -> str:
    """``dialplans/extensions.conf`` with its ``[globals]`` set; the same number of lines.
    Every ``CC_OVERFLOW_<queue>`` line of the template is set from ``params.overflow`` (empty:
    no fallback); a fallback for a queue the template has no line for is an error."""
    text = _set_line(template, "CC_FASTAGI", params.fastagi_address, file="extensions.conf")
    text = _set_line(text, "CC_MONITOR_DIR", params.monitor_dir, file="extensions.conf")
    text = _set_line(text, "CC_RECORD_WHOLE_CALL", "1" if params.record_whole_call else "0",
                     file="extensions.conf")
    text = _set_line(text, "CC_PROMPTS", params.prompts_dir, file="extensions.conf")
    text = _set_line(text, "CC_OVERFLOW_WAIT", str(params.overflow_wait),
                     file="extensions.conf")
    fallbacks = dict(params.overflow)
    queues = re.findall(r"(?m)^CC_OVERFLOW_([a-z]+) =", text)
    unknown = sorted(set(fallbacks) - set(queues))
    if unknown:
        raise AsteriskConfigError(f"extensions.conf: no CC_OVERFLOW_ line for {unknown}")
    for queue in queues:
        target = fallbacks.get(queue, "")
        if target and not re.fullmatch(r"[a-z]+", target):
            raise AsteriskConfigError(f"extensions.conf: bad fallback queue {target!r}")
        # "CC_X =" with nothing after it: Asterisk reads an empty value (no fallback)
        text, count = re.subn(rf"(?m)^CC_OVERFLOW_{queue} =.*$",
                              f"CC_OVERFLOW_{queue} = {target}".rstrip(), text)
        if count != 1:
            raise AsteriskConfigError(f"extensions.conf: CC_OVERFLOW_{queue} twice")
    return text


def render_queues(template: str, params: AsteriskParams) -> str:
    """``dialplans/queues.conf`` with the call-back offer: ``periodic-announce`` (the prompt
    ``callback_offer`` under ``prompts_dir``) and its frequency (0: not played); with
    ``record_whole_call`` its one ``monitor-format`` line becomes a comment (same line count):
    app_queue starts its MixMonitor whenever the queue has a format, and no channel variable
    turns that off per call, so the switch is here."""
    if not 0 <= params.callback_offer_every <= 3600:
        raise AsteriskConfigError("queues.conf: callback_offer_every must be 0-3600 s")
    prompts = params.prompts_dir.rstrip("/") or "/"
    if any(c in prompts for c in ";\n,"):
        raise AsteriskConfigError("queues.conf: prompts_dir must not hold ';' or ','")
    text = _set_line(template, "periodic-announce", f"{prompts}/callback_offer",
                     file="queues.conf")
    text = _set_line(text, "periodic-announce-frequency", str(params.callback_offer_every),
                     file="queues.conf")
    if not params.record_whole_call:
        return text
    text, count = re.subn(
        r"(?m)^monitor-format = .*$",
        lambda m: f"; {m.group(0)}  (off: recording.whole_call, the dialplan records)",
        text)
    if count != 1:
        raise AsteriskConfigError(f"queues.conf: expected one 'monitor-format = …' line, "
                                  f"found {count}")
    return text


def netmask_form(cidr: str) -> str:
    """``10.0.0.0/24`` → ``10.0.0.0/255.255.255.0`` (the form manager.conf's examples use;
    Asterisk's ACLs take both for IPv4). IPv6 stays in prefix form."""
    network = ipaddress.ip_network(cidr, strict=False)
    if isinstance(network, ipaddress.IPv4Network):
        return f"{network.network_address}/{network.netmask}"
    return str(network)


def render_manager(template: str, params: AsteriskParams, secret: str) -> str:
    """``dialplans/manager.conf`` for this site: the account ``[callcenter]`` renamed to
    ``ami.username``, its secret, ``bindaddr``/``port``, and one ``permit`` line per network
    (after the template's ``deny = 0.0.0.0/0.0.0.0``)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", params.ami_username):
        raise AsteriskConfigError(f"manager.conf: unusable AMI user name {params.ami_username!r}")
    if not secret or any(c in secret for c in "\r\n;") or secret != secret.strip():
        raise AsteriskConfigError("manager.conf: the AMI secret must be one line, no ';'")
    if not params.ami_permit:
        raise AsteriskConfigError("manager.conf: no network may log in (asterisk.ami_permit)")
    text, count = re.subn(r"(?m)^\[callcenter\]\s*$", f"[{params.ami_username}]", template)
    if count != 1:
        raise AsteriskConfigError("manager.conf: expected one [callcenter] account section")
    text = _set_line(text, "port", str(params.ami_port), file="manager.conf")
    text = _set_line(text, "bindaddr", params.ami_bindaddr, file="manager.conf")
    text = _set_line(text, "secret", secret, file="manager.conf")
    permits = "\n".join(f"permit = {netmask_form(n)}" for n in params.ami_permit)
    text, count = re.subn(r"(?m)^permit = .*$", lambda _m: permits, text)
    if count != 1:
        raise AsteriskConfigError(f"manager.conf: expected one 'permit = …' line, found {count}")
    return text


def parse_manager_secret(text: str, username: str) -> str | None:
    """The ``secret`` of account ``[username]`` in a rendered manager.conf (None if absent):
    a second render keeps the secret the product was given."""
    section = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if header := re.fullmatch(r"\[([^\]]+)\].*", line):
            section = header.group(1)
        elif section == username and (m := re.fullmatch(r"secret\s*=\s*(.+)", line)):
            return m.group(1).strip()
    return None


# --------------------------------------------------------------------------- PJSIP


def render_pjsip(params: AsteriskParams) -> str:
    """``pjsip.conf``: transport, trunk, phone templates and phones (see the module
    docstring); the passwords are in the ``#include``\\ d ``pjsip_secrets.conf``."""
    out = [NOTE, "; Phones' and trunk's passwords: pjsip_secrets.conf (mode 0600), included "
           "at the end.\n",
           "[global]\ntype = global\nuser_agent = callcenter-pbx\n"
           "; the trunk is matched by its address first, phones by their user name\n"
           "endpoint_identifier_order = ip,username\n",
           "[transport-udp]\ntype = transport\nprotocol = udp\n"
           f"bind = 0.0.0.0:{params.sip_port}\n"]
    out[-1] += "".join(f"local_net = {netmask_form(n)}\n" for n in params.local_net)
    if params.external_address:
        out[-1] += (f"external_media_address = {params.external_address}\n"
                    f"external_signaling_address = {params.external_address}\n")
    if params.trunk_host:
        out.append(_trunk(params))
    else:
        out.append("; No SIP trunk: set asterisk.trunk_host (CALLCENTER_ASTERISK_TRUNK_HOST) "
                   "and render again.\n")
    out.append(
        "; -- phones (templates) --\n"
        "[phone](!)\ntype = endpoint\ntransport = transport-udp\ncontext = agents\n"
        "disallow = all\nallow = alaw,ulaw\ndirect_media = no\nrtp_symmetric = yes\n"
        "force_rport = yes\nrewrite_contact = yes\n"
        "; a phone on a call is busy: the queue offers the next call to another agent\n"
        "device_state_busy_at = 1\n\n"
        "[phone-aor](!)\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
        "qualify_frequency = 30\n\n"
        "[phone-auth](!)\ntype = auth\nauth_type = userpass\n")
    for number in phone_numbers(params):
        role = "Agent" if number.startswith("8") else "Supervisor"
        out.append(f"[{number}](phone)\nauth = {number}\naors = {number}\n"
                   f'callerid = "{role} {number}" <{number}>\n\n[{number}](phone-aor)\n')
    out.append("#include pjsip_secrets.conf\n")
    return "\n".join(out)


def _trunk(params: AsteriskParams) -> str:
    host = params.trunk_host
    lines = ["; -- the carrier's SIP trunk: calls to the hotline enter [from-trunk] --",
             f"[{TRUNK}]", "type = endpoint", "transport = transport-udp",
             "context = from-trunk", "disallow = all", "allow = alaw,ulaw", f"aors = {TRUNK}",
             "direct_media = no", "rtp_symmetric = yes", "force_rport = yes"]
    if params.trunk_username:
        lines += [f"outbound_auth = {TRUNK_AUTH}", f"from_user = {params.trunk_username}"]
    lines += ["", f"[{TRUNK}]", "type = aor", f"contact = sip:{host}:{params.trunk_port}",
              "qualify_frequency = 60", "", f"[{TRUNK}]", "type = identify",
              f"endpoint = {TRUNK}", f"match = {host}"]
    if params.trunk_username:
        lines += ["", f"[{TRUNK}]", "type = registration", "transport = transport-udp",
                  f"outbound_auth = {TRUNK_AUTH}",
                  f"server_uri = sip:{host}:{params.trunk_port}",
                  f"client_uri = sip:{params.trunk_username}@{host}:{params.trunk_port}",
                  "retry_interval = 60"]
    return "\n".join(lines) + "\n"


def render_pjsip_secrets(params: AsteriskParams, secrets: PhoneSecrets) -> str:
    """``pjsip_secrets.conf``: ``[80NN](phone-auth)`` with ``username``/``password`` per
    phone, and ``[trunk-auth]`` when the trunk authenticates with a user name."""
    out = [NOTE, "; The SIP passwords of the phones (provision each phone with its own) and of\n"
           "; the trunk. Keep this file mode 0600.\n"]
    for number in phone_numbers(params):
        password = secrets.phones.get(number, "")
        _check_password(number, password)
        out.append(f"[{number}](phone-auth)\nusername = {number}\npassword = {password}\n")
    if params.trunk_host and params.trunk_username:
        _check_password(TRUNK_AUTH, secrets.trunk_password)
        out.append(f"[{TRUNK_AUTH}]\ntype = auth\nauth_type = userpass\n"
                   f"username = {params.trunk_username}\npassword = {secrets.trunk_password}\n")
    return "\n".join(out)


def _check_password(section: str, password: str) -> None:
    if not password or any(c in password for c in "\r\n;") or password != password.strip():
        raise AsteriskConfigError(f"pjsip_secrets.conf: [{section}]: the password is missing "
                                  "or has a line break, ';' or surrounding spaces")


def parse_pjsip_secrets(text: str) -> PhoneSecrets:
    """The passwords in a ``pjsip_secrets.conf`` that :func:`render_pjsip_secrets` wrote."""
    phones: dict[str, str] = {}
    trunk = ""
    section = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if header := re.fullmatch(r"\[([^\]]+)\](?:\([^)]*\))?", line):
            section = header.group(1)
        elif m := re.fullmatch(r"password\s*=\s*(.+)", line):
            if section == TRUNK_AUTH:
                trunk = m.group(1).strip()
            elif section:
                phones[section] = m.group(1).strip()
    return PhoneSecrets(phones, trunk)


# --------------------------------------------------------------------------- the rest


def render_rtp(params: AsteriskParams) -> str:
    """``rtp.conf``: the media ports (published by docker/compose.yaml)."""
    if not 1024 <= params.rtp_start < params.rtp_end <= 65535:
        raise AsteriskConfigError(f"rtp.conf: bad RTP port range "
                                  f"{params.rtp_start}-{params.rtp_end}")
    return f"{NOTE}[general]\nrtpstart = {params.rtp_start}\nrtpend = {params.rtp_end}\n"


MODULES = """[modules]
autoload = yes
; no channel driver but PJSIP and Local, no service on the network the call center does not use
noload => chan_iax2.so
noload => chan_unistim.so
noload => chan_mgcp.so
noload => chan_skinny.so
noload => chan_motif.so
noload => chan_console.so
noload => chan_dahdi.so
noload => pbx_dundi.so
noload => res_xmpp.so
noload => res_phoneprov.so
noload => res_pjsip_phoneprov_provider.so
noload => res_config_ldap.so
noload => res_snmp.so
noload => res_smdi.so
noload => app_voicemail.so
noload => cdr_radius.so
noload => cel_radius.so
"""

LOGGER = """[general]
[logfiles]
console => notice,warning,error
messages => notice,warning,error
"""


def render_all(templates: Mapping[str, str], params: AsteriskParams, *, ami_secret: str,
               secrets: PhoneSecrets) -> dict[str, str]:
    """Every file of :data:`RENDERED_FILES`, from the ``dialplans/`` texts in ``templates``
    (``extensions.conf``, ``queues.conf``, ``manager.conf``)."""
    missing = {"extensions.conf", "queues.conf", "manager.conf"} - set(templates)
    if missing:
        raise AsteriskConfigError(f"templates missing: {', '.join(sorted(missing))}")
    return {
        "extensions.conf": render_extensions(templates["extensions.conf"], params),
        "queues.conf": render_queues(templates["queues.conf"], params),
        "manager.conf": render_manager(templates["manager.conf"], params, ami_secret),
        "pjsip.conf": render_pjsip(params),
        "pjsip_secrets.conf": render_pjsip_secrets(params, secrets),
        "rtp.conf": render_rtp(params),
        "modules.conf": f"{NOTE}{MODULES}",
        "logger.conf": f"{NOTE}{LOGGER}",
    }


def complete_secrets(params: AsteriskParams, known: PhoneSecrets, trunk_password: str,
                     new_secret: Callable[[], str]) -> PhoneSecrets:
    """``known`` passwords kept, a ``new_secret()`` for every phone without one; the trunk's
    password from the settings when given, else the known one."""
    phones = {n: known.phones.get(n) or new_secret() for n in phone_numbers(params)}
    return PhoneSecrets(phones, trunk_password or known.trunk_password)
