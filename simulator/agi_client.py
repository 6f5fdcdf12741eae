"""The Asterisk side of FastAGI: connect to the product's IVR, send the ``agi_*`` header block
and answer its commands as res_agi does, pressing keys like the call's merchant would.

Two layers, h11-style:

* ``AgiChannel`` (pure) is a simulated channel: ``command(line) -> Answer`` says what Asterisk
  writes back, how long that takes (a prompt playing, a caller typing), which keys were
  pressed and which variables were set. It knows res_agi's replies, as captured
  (``tests/fixtures/asterisk-22/*.agi.txt``)::

      GET VARIABLE CALLERID(num)          200 result=1 (13800138000)
      DATABASE GET cc-merchant 1380…      200 result=0                 (absent: no parentheses)
      STREAM FILE hello ""                200 result=0 endpos=6291
      GET DATA main_menu 5000 1           200 result=2                 (keys, without '#')
      GET DATA … 6000 20                  200 result= (timeout)        (nothing typed)
      WAIT FOR DIGIT 3000                 200 result=49                (ASCII code of '1')
      SET VARIABLE CC_QUEUE "aftersales"  200 result=1
      STREAMFILE hello ""                 510 Invalid or unknown command
      SAY NUMBER                          520-Invalid command syntax.  Proper usage follows:
                                          <usage text>
                                          520 End of proper usage.

  ``EXEC EAGI script,arg…`` (and ``EXEC AGI``) runs a classic AGI script as Asterisk does:
  the answer carries a :class:`ScriptRun` (the script, its arguments and what the caller says
  into it) and no line; the adapter runs it (``simulator.eagi.ScriptHost``: the AGI
  environment on the script's stdin, the caller's audio on its file descriptor 3) and then
  writes ``200 result=0``, as res_agi does when the application returns (``-1`` when the
  caller hung up meanwhile).

  When the script hangs up during a reading command, that command gets ``200 result=-1``;
  the unsolicited ``HANGUP`` line goes out before the next reply, and from then on every
  command not allowed on a dead channel gets ``511 Command Not Permitted on a dead channel or
  intercept routine``.

* ``run_session`` (asyncio) connects, writes the header block, runs the conversation and, when
  the IVR half-closes (or closes), writes the final ``HANGUP`` that Asterisk sends at the end of
  every session, then closes. ``AgiIvr`` is the engine's ``IvrPort`` built on it.

All AGI lines end in a single LF.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from simulator.callers import WAIT_FOR_DIGIT, CallerScript
from simulator.engine import Feed
from simulator.errors import AgiClientError, AgiConnectError
from simulator.pbx import (
    CallerHangup,
    DigitPressed,
    IvrDone,
    IvrRequest,
    RunIvr,
    VariableSet,
)

logger = logging.getLogger(__name__)

AGI_VERSION: Final = "22.10.1"
DEAD: Final = "511 Command Not Permitted on a dead channel or intercept routine"
UNKNOWN: Final = "510 Invalid or unknown command"

# res_agi's command table (Asterisk 22): name → runs on a dead channel.
COMMANDS: Final = {
    "ANSWER": False, "ASYNCAGI BREAK": True, "CHANNEL STATUS": False,
    "CONTROL STREAM FILE": False, "DATABASE DEL": True, "DATABASE DELTREE": True,
    "DATABASE GET": True, "DATABASE PUT": True, "EXEC": True, "GET DATA": False,
    "GET FULL VARIABLE": True, "GET OPTION": False, "GET VARIABLE": True, "GOSUB": False,
    "HANGUP": False, "NOOP": True, "RECEIVE CHAR": False, "RECEIVE TEXT": False,
    "RECORD FILE": False, "SAY ALPHA": False, "SAY DATE": False, "SAY DATETIME": False,
    "SAY DIGITS": False, "SAY NUMBER": False, "SAY PHONETIC": False, "SAY TIME": False,
    "SEND IMAGE": False, "SEND TEXT": False, "SET AUTOHANGUP": False, "SET CALLERID": False,
    "SET CONTEXT": False, "SET EXTENSION": False, "SET MUSIC": False, "SET PRIORITY": False,
    "SET VARIABLE": True, "SPEECH ACTIVATE GRAMMAR": False, "SPEECH CREATE": False,
    "SPEECH DEACTIVATE GRAMMAR": False, "SPEECH DESTROY": True, "SPEECH LOAD GRAMMAR": False,
    "SPEECH RECOGNIZE": False, "SPEECH SET": False, "SPEECH UNLOAD GRAMMAR": True,
    "STREAM FILE": False, "TDD MODE": False, "VERBOSE": True, "WAIT FOR DIGIT": False,
}

# (minimum, maximum) number of arguments after the command words; outside → 520 usage.
ARGUMENTS: Final = {
    "GET DATA": (1, 3), "STREAM FILE": (2, 3), "CONTROL STREAM FILE": (2, 8),
    "WAIT FOR DIGIT": (1, 1), "SAY DIGITS": (2, 2), "SAY NUMBER": (2, 3),
    "SAY ALPHA": (2, 2), "SET VARIABLE": (2, 2), "GET VARIABLE": (1, 1),
    "GET FULL VARIABLE": (1, 2), "EXEC": (1, 127), "DATABASE GET": (2, 2),
    "DATABASE PUT": (3, 3), "DATABASE DEL": (2, 2), "GET OPTION": (2, 3),
    "RECORD FILE": (4, 8), "VERBOSE": (1, 2),
}

USAGE: Final = {
    "SAY NUMBER": "Say a given number, returning early if any of the given DTMF digits are "
                  "received on the channel.  Returns <literal>0</literal> if playback "
                  "completes without a digit being pressed, or the ASCII numerical value of "
                  "the digit if one was pressed or <literal>-1</literal> on error/hangup.",
}

PROMPT_SECONDS: Final = 1.5
KEY_SECONDS: Final = 0.25


def parse_args(line: str) -> list[str]:
    """res_agi's ``parse_args``: words split on blanks, ``"…"`` groups, ``\\`` escapes the next
    character (``SET VARIABLE X "a \\"b\\""`` → ``['SET', 'VARIABLE', 'X', 'a "b"']``)."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
            started = True
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
            started = True
        elif char in " \t" and not quoted:
            if started:
                words.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return words


def split_command(words: list[str]) -> tuple[str, list[str]] | None:
    """The longest command name at the start (case-insensitive) and its arguments."""
    for size in (3, 2, 1):
        name = " ".join(words[:size]).upper()
        if len(words) >= size and name in COMMANDS:
            return name, words[size:]
    return None


def header_block(request: IvrRequest, args: tuple[str, ...] = (), thread_id: int = 0, *,
                 script: str | None = None) -> bytes:
    """The 22 ``agi_*`` lines (plus ``agi_arg_N``) and the empty line, as res_agi writes them
    (``agi_accountcode: `` keeps its trailing space). With ``script`` (a script Asterisk runs
    itself, ``EXEC EAGI``): no ``agi_network`` lines, ``agi_request`` is the script and
    ``agi_enhanced`` is ``1.0`` (the audio is on file descriptor 3)."""
    url = f"agi://{request.agi_host}:{request.agi_port}/{request.route}"
    caller = request.caller_num if request.caller_num not in ("", "<unknown>") else "unknown"
    name = request.caller_name if request.caller_name not in ("", "<unknown>") else "unknown"
    head = [("agi_request", script)] if script is not None else [
        ("agi_network", "yes"), ("agi_network_script", request.route), ("agi_request", url)]
    lines = [
        *head,
        ("agi_channel", request.channel), ("agi_language", request.language),
        ("agi_type", request.channel_type), ("agi_uniqueid", request.unique_id),
        ("agi_version", AGI_VERSION), ("agi_callerid", caller), ("agi_calleridname", name),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"),
        ("agi_callingtns", "0"), ("agi_dnid", request.dnid), ("agi_rdnis", "unknown"),
        ("agi_context", request.context), ("agi_extension", request.exten),
        ("agi_priority", str(request.priority)),
        ("agi_enhanced", "1.0" if script is not None else "0.0"),
        ("agi_accountcode", request.account_code),
        ("agi_threadid", str(thread_id or 140028579907264)),
    ]
    lines += [(f"agi_arg_{i}", arg) for i, arg in enumerate(args, start=1)]
    return ("".join(f"{k}: {v}\n" for k, v in lines) + "\n").encode()


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """A script the channel runs (``EXEC EAGI script,arg…``): ``enhanced`` for EAGI (audio on
    file descriptor 3), ``words`` the caller says into it (None: silence) with espeak-ng's
    ``voice``, after ``pause`` seconds."""

    script: str
    args: tuple[str, ...]
    enhanced: bool
    words: str | None = None
    voice: str = "cmn"
    pause: float = 0.0


@dataclass(frozen=True, slots=True)
class Answer:
    """Asterisk's reaction to one command: ``lines`` to write (after ``delay`` seconds of
    prompt or typing), ``digits`` the caller pressed, ``variables`` set, and ``hung_up`` when
    the caller hung up during this command. ``run``: a script to run first; its exit writes
    the reply (see the module docstring)."""

    lines: tuple[str, ...]
    delay: float = 0.0
    digits: str = ""
    variables: tuple[tuple[str, str], ...] = ()
    hung_up: bool = False
    run: ScriptRun | None = None


@dataclass(slots=True)
class AgiChannel:
    """A simulated channel answering AGI commands for one session (see the module docstring).

    ``variables`` are the channel's (CALLERID and CHANNEL() functions are derived from the
    request). ``reading`` counts GET DATA / WAIT FOR DIGIT / GET OPTION commands, which is
    what ``CallerScript.hangup_after_prompts`` counts.
    """

    request: IvrRequest
    script: CallerScript
    variables: dict[str, str] = field(default_factory=dict)
    database: dict[tuple[str, str], str] = field(default_factory=dict)
    dead: bool = False
    hangup_pending: bool = False
    reading: int = 0
    commands: int = 0
    last_prompt: str = ""  # the prompt played last: what a caller answers by speaking

    def __post_init__(self) -> None:
        self.variables = {**dict(self.request.variables), **self.variables}

    def command(self, line: str) -> Answer:
        """Answer one command line (without its LF)."""
        self.commands += 1
        words = parse_args(line)
        found = split_command(words)
        if found is None:
            return self._reply(UNKNOWN)
        name, args = found
        if self.dead and not COMMANDS[name]:
            return self._reply(DEAD)
        low, high = ARGUMENTS.get(name, (0, 127))
        if not low <= len(args) <= high:
            usage = USAGE.get(name, f"Usage: {name} (see 'agi show commands').")
            return self._reply("520-Invalid command syntax.  Proper usage follows:", usage,
                               "520 End of proper usage.")
        handler = _HANDLERS.get(name)
        if handler is None:
            return self._reply("200 result=0")
        return handler(self, args)

    def _reply(self, *lines: str, delay: float = 0.0, digits: str = "",
               variables: tuple[tuple[str, str], ...] = (), hung_up: bool = False,
               run: ScriptRun | None = None) -> Answer:
        out = lines
        if self.hangup_pending:
            # The HANGUP notice goes out after the command that saw the hang-up, before the
            # next reply (05-hangup-during-ivr.agi.txt).
            out = ("HANGUP", *lines)
            self.hangup_pending = False
        return Answer(out, delay, digits, variables, hung_up, run)

    def _hangs_up_now(self) -> bool:
        limit = self.script.hangup_after_prompts
        return limit is not None and self.reading >= limit and not self.dead

    def _caller_hangs_up(self, delay: float) -> Answer:
        self.dead = True
        answer = self._reply("200 result=-1", delay=delay, hung_up=True)
        self.hangup_pending = True
        return answer

    def abort(self) -> None:
        """The PBX hung the caller up (AMI Hangup, shutdown) while no command was running."""
        if not self.dead:
            self.dead = True
            self.hangup_pending = True

    # ---- commands

    def value_of(self, name: str) -> str | None:
        functions = {
            "CALLERID(NUM)": self.request.caller_num, "CALLERID(NAME)": self.request.caller_name,
            "CHANNEL(LINKEDID)": self.request.linked_id,
            "CHANNEL(UNIQUEID)": self.request.unique_id, "UNIQUEID": self.request.unique_id,
            "CHANNEL(LANGUAGE)": self.variables.get("CHANNEL(language)", self.request.language),
            "CHANNEL(NAME)": self.request.channel, "CHANNEL": self.request.channel,
            "CONTEXT": self.request.context, "EXTEN": self.request.exten,
        }
        upper = name.upper()
        if upper in functions:
            value = functions[upper]
            return None if value in ("", "<unknown>") else value
        return self.variables.get(name)

    def _get_variable(self, args: list[str]) -> Answer:
        value = self.value_of(args[0])
        return self._reply("200 result=0" if value is None else f"200 result=1 ({value})")

    def _get_full_variable(self, args: list[str]) -> Answer:
        text = args[0]
        out = []
        rest = text
        while "${" in rest:
            before, _, after = rest.partition("${")
            inner, _, rest = after.partition("}")
            out.append(before + (self.value_of(inner) or ""))
        out.append(rest)
        return self._reply(f"200 result=1 ({''.join(out)})")

    def _set_variable(self, args: list[str]) -> Answer:
        name, value = args
        self.variables[name] = value
        return self._reply("200 result=1", variables=((name, value),))

    def _database_get(self, args: list[str]) -> Answer:
        value = self.database.get((args[0], args[1]))
        return self._reply("200 result=0" if value is None else f"200 result=1 ({value})")

    def _database_put(self, args: list[str]) -> Answer:
        self.database[(args[0], args[1])] = args[2]
        return self._reply("200 result=1")

    def _database_del(self, args: list[str]) -> Answer:
        found = self.database.pop((args[0], args[1]), None)
        return self._reply("200 result=1" if found is not None else "200 result=0")

    def _stream_file(self, args: list[str]) -> Answer:
        escape = args[1] if len(args) > 1 else ""
        endpos = int(PROMPT_SECONDS * 8000)
        self.last_prompt = args[0]
        # A caller who means to say the answer lets the prompt play to its end.
        speaks = self.script.says(args[0]) is not None
        keys = self.script.keys_for(args[0]) if escape and not speaks else None
        if keys and keys[0] in escape:
            # The caller interrupts the prompt with an escape digit.
            delay = self.script.key_delay
            return self._reply(f"200 result={ord(keys[0])} endpos={int(delay * 8000)}",
                               delay=delay, digits=keys[0])
        return self._reply(f"200 result=0 endpos={endpos}", delay=PROMPT_SECONDS)

    def _get_data(self, args: list[str]) -> Answer:
        self.reading += 1
        prompt = args[0]
        timeout = int(args[1]) / 1000 if len(args) > 1 and args[1].isdigit() else 5.0
        maximum = int(args[2]) if len(args) > 2 and args[2].isdigit() else 1024
        if self._hangs_up_now():
            return self._caller_hangs_up(self.script.key_delay)
        keys = self.script.keys_for(prompt) or ""
        typed = ""
        for key in keys:
            if key == "#":
                return self._reply(f"200 result={typed}",
                                   delay=self.script.key_delay + KEY_SECONDS * len(typed),
                                   digits=typed + "#")
            typed += key
            if len(typed) >= maximum:
                return self._reply(f"200 result={typed}",
                                   delay=self.script.key_delay + KEY_SECONDS * len(typed),
                                   digits=typed)
        # Fewer keys than wanted and no '#': GET DATA waits for the timeout.
        delay = (self.script.key_delay + KEY_SECONDS * len(typed) + timeout) if typed \
            else PROMPT_SECONDS + timeout
        return self._reply(f"200 result={typed} (timeout)", delay=delay, digits=typed)

    def _get_option(self, args: list[str]) -> Answer:
        self.reading += 1
        if self._hangs_up_now():
            return self._caller_hangs_up(self.script.key_delay)
        keys = self.script.keys_for(args[0])
        if keys and keys[0] in args[1]:
            return self._reply(f"200 result={ord(keys[0])} endpos=8000",
                               delay=self.script.key_delay, digits=keys[0])
        timeout = int(args[2]) / 1000 if len(args) > 2 and args[2].isdigit() else 5.0
        return self._reply("200 result=0 endpos=12000", delay=PROMPT_SECONDS + timeout)

    def _wait_for_digit(self, args: list[str]) -> Answer:
        self.reading += 1
        if self._hangs_up_now():
            return self._caller_hangs_up(self.script.key_delay)
        keys = self.script.keys_for(WAIT_FOR_DIGIT)
        if keys:
            return self._reply(f"200 result={ord(keys[0])}", delay=self.script.key_delay,
                               digits=keys[0])
        try:
            timeout = max(0, int(args[0])) / 1000
        except ValueError:
            timeout = 0.0
        return self._reply("200 result=0", delay=timeout)

    def _say(self, args: list[str]) -> Answer:
        return self._reply("200 result=0", delay=0.4 * min(len(args[0]), 20))

    def _hangup(self, args: list[str]) -> Answer:
        # The IVR hangs the caller up: the channel is dead from here on.
        self.dead = True
        self.hangup_pending = True
        return Answer(("200 result=1",), hung_up=True)

    def _exec(self, args: list[str]) -> Answer:
        app = args[0].lower()
        if app == "mset":
            return self._mset(args[1] if len(args) > 1 else "")
        if app in ("eagi", "agi") and not self.dead:
            script, *script_args = (args[1] if len(args) > 1 else "").split(",")
            enhanced = app == "eagi"
            words = self.script.says(self.last_prompt) if enhanced else None
            return self._reply(run=ScriptRun(
                script, tuple(script_args), enhanced, words, self.script.voice,
                pause=min(self.script.key_delay, 1.0)))
        delay = PROMPT_SECONDS if app in ("playback", "background") else 0.0
        return self._reply("200 result=0", delay=0.0 if self.dead else delay)

    def _mset(self, data: str) -> Answer:
        # As pbx_builtin_setvar_multiple: pairs split at ",", each at its first "="; a pair
        # without "=" is ignored. (The IVR only sends values without quotes or backslashes.)
        pairs = []
        for item in data.split(","):
            name, sep, value = item.partition("=")
            if sep and name:
                self.variables[name] = value
                pairs.append((name, value))
        return self._reply("200 result=0", variables=tuple(pairs))

    def _channel_status(self, args: list[str]) -> Answer:
        return self._reply("200 result=6")

    def _verbose(self, args: list[str]) -> Answer:
        return self._reply("200 result=1")

    def _record_file(self, args: list[str]) -> Answer:
        return self._reply("200 result=0 (timeout) endpos=8000", delay=PROMPT_SECONDS)

    def _set_callerid(self, args: list[str]) -> Answer:
        return self._reply("200 result=1")


_HANDLERS: Final[Mapping[str, Callable[[AgiChannel, list[str]], Answer]]] = {
    "GET VARIABLE": AgiChannel._get_variable,
    "GET FULL VARIABLE": AgiChannel._get_full_variable,
    "SET VARIABLE": AgiChannel._set_variable,
    "DATABASE GET": AgiChannel._database_get,
    "DATABASE PUT": AgiChannel._database_put,
    "DATABASE DEL": AgiChannel._database_del,
    "STREAM FILE": AgiChannel._stream_file,
    "CONTROL STREAM FILE": AgiChannel._stream_file,
    "GET DATA": AgiChannel._get_data,
    "GET OPTION": AgiChannel._get_option,
    "WAIT FOR DIGIT": AgiChannel._wait_for_digit,
    "SAY DIGITS": AgiChannel._say,
    "SAY NUMBER": AgiChannel._say,
    "SAY ALPHA": AgiChannel._say,
    "SAY PHONETIC": AgiChannel._say,
    "HANGUP": AgiChannel._hangup,
    "EXEC": AgiChannel._exec,
    "CHANNEL STATUS": AgiChannel._channel_status,
    "VERBOSE": AgiChannel._verbose,
    "RECORD FILE": AgiChannel._record_file,
    "SET CALLERID": AgiChannel._set_callerid,
}


# --------------------------------------------------------------------------- asyncio adapter


@dataclass(frozen=True, slots=True)
class SessionResult:
    """How a FastAGI session ended: the caller ``hung_up`` during it; ``commands`` answered."""

    hung_up: bool
    commands: int
    variables: Mapping[str, str]


async def run_session(host: str, port: int, request: IvrRequest, script: CallerScript, *,
                      on_digit: Callable[[str], None] | None = None,
                      on_variable: Callable[[str, str], None] | None = None,
                      on_hangup: Callable[[], None] | None = None,
                      abort: asyncio.Event | None = None, time_scale: float = 1.0,
                      connect_timeout: float = 3.0, session_timeout: float = 600.0,
                      args: tuple[str, ...] = (),
                      scripts: ScriptRunner | None = None) -> SessionResult:
    """Play Asterisk's side of one FastAGI session against ``host:port``.

    ``scripts`` runs the scripts of ``EXEC EAGI``/``EXEC AGI`` (default: a
    ``simulator.eagi.ScriptHost`` that runs only scripts found at the named path).

    ``time_scale`` shrinks every wait (prompts, typing, timeouts): 0.1 runs a 30 s menu in 3 s.
    ``abort`` set by the PBX means the caller is gone: the running command returns
    ``200 result=-1``. Raises ``AgiConnectError`` when the server cannot be reached and
    ``AgiClientError`` when the session breaks or exceeds ``session_timeout``.
    """
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise AgiConnectError(f"FastAGI server {host}:{port} unreachable: {exc}") from exc
    channel = AgiChannel(request, script)
    abort = abort or asyncio.Event()
    if scripts is None:
        from simulator.eagi import ScriptHost

        scripts = ScriptHost()
    try:
        async with asyncio.timeout(session_timeout):
            writer.write(header_block(request, args))
            await writer.drain()
            while True:
                raw = await reader.readline()
                if not raw:
                    break  # the IVR half-closed (or closed): the session is over
                if abort.is_set():
                    channel.abort()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                answer = channel.command(line)
                if answer.run is not None:
                    result = await scripts.run(answer.run, request, channel, abort,
                                               time_scale)
                    if result < 0:
                        channel.abort()
                    answer = replace(answer, lines=(*answer.lines, f"200 result={result}"),
                                     hung_up=result < 0)
                if answer.delay > 0 and not channel.dead:
                    waited = await _wait(abort, answer.delay * time_scale)
                    if not waited and not answer.hung_up:
                        # The PBX hung up while the command ran: res_agi returns -1.
                        channel.abort()
                        answer = Answer(("200 result=-1",), hung_up=True)
                for digit in answer.digits:
                    if on_digit is not None and digit not in "#":
                        on_digit(digit)
                for name, value in answer.variables:
                    if on_variable is not None:
                        on_variable(name, value)
                if answer.hung_up and on_hangup is not None:
                    on_hangup()
                writer.write("".join(f"{out}\n" for out in answer.lines).encode())
                await writer.drain()
            # Asterisk writes HANGUP at the end of every session, then closes.
            with contextlib.suppress(OSError):
                writer.write(b"HANGUP\n")
                await writer.drain()
    except TimeoutError as exc:
        raise AgiClientError(f"FastAGI session of {request.unique_id} took longer than "
                             f"{session_timeout} s") from exc
    except (OSError, asyncio.IncompleteReadError) as exc:
        raise AgiClientError(f"FastAGI session of {request.unique_id} broke: {exc}") from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return SessionResult(channel.dead, channel.commands, dict(channel.variables))


async def _wait(abort: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds``; False when ``abort`` was set first."""
    if abort.is_set():
        return False
    try:
        async with asyncio.timeout(seconds):
            await abort.wait()
    except TimeoutError:
        return True
    return False


class ScriptRunner(Protocol):
    """Runs a channel's AGI/EAGI script (``simulator.eagi.ScriptHost``)."""

    async def run(self, run: ScriptRun, request: IvrRequest, channel: AgiChannel,
                  abort: asyncio.Event, time_scale: float) -> int:
        """Run it to its end; the application's result: 0, or -1 when the caller hung up."""
        ...


Address = Callable[[], tuple[str, int]]


class AgiIvr:
    """The engine's ``IvrPort`` over real FastAGI: one task per session. ``scripts`` maps call
    refs to the merchants' scripts; ``address`` gives the product's FastAGI host and port when
    a session starts (the product may bind its port after the simulator starts)."""

    def __init__(self, address: Address, *, time_scale: float = 1.0,
                 scripts: Mapping[str, CallerScript] | None = None,
                 script_host: ScriptRunner | None = None) -> None:
        self.address = address
        self.time_scale = time_scale
        self.script_host = script_host
        self.scripts: dict[str, CallerScript] = dict(scripts or {})
        self.default = CallerScript()
        self._aborts: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, run: RunIvr, feed: Feed) -> None:
        abort = asyncio.Event()
        self._aborts[run.ref] = abort
        task = asyncio.get_running_loop().create_task(self._session(run, feed, abort))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(self, run: RunIvr, feed: Feed,
                       abort: asyncio.Event) -> None:
        ref, route = run.ref, run.request.route
        script = self.scripts.get(ref, self.default)
        hung_up = failed = False
        try:
            host, port = self.address()
            # agi_request names the server actually called (the product may bind port 0).
            request = replace(run.request, agi_host=host, agi_port=port)
            result = await run_session(
                host, port, request, script, abort=abort, time_scale=self.time_scale,
                on_digit=lambda d: feed(DigitPressed(ref, d)),
                on_variable=lambda n, v: feed(VariableSet(ref, n, v)),
                on_hangup=lambda: feed(CallerHangup(ref)), scripts=self.script_host)
            hung_up = result.hung_up
        except AgiConnectError as exc:
            logger.warning("call %s: %s; the dialplan takes its fallback", ref, exc)
            failed = True
        except AgiClientError as exc:
            logger.warning("call %s: %s", ref, exc)
        # Per-call boundary: whatever broke, the PBX must learn that the AGI is over.
        except Exception:
            logger.exception("call %s: FastAGI session failed", ref)
        finally:
            self._aborts.pop(ref, None)
        feed(IvrDone(ref, route, hung_up=hung_up or abort.is_set(), failed=failed))

    def abort(self, ref: str) -> None:
        event = self._aborts.get(ref)
        if event is not None:
            event.set()

    async def drain(self) -> None:
        """Wait for the running sessions to end by themselves."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """End every session as if its caller hung up, and wait for them."""
        for event in self._aborts.values():
            event.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
