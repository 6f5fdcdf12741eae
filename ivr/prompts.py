"""The prompt catalogue (``ivr/prompts.toml``) and its rendering to Asterisk sound files.

A prompt has an id and a Mandarin and an English text. On disk a prompt is
``<base>/<lang dir>/<id>.wav`` with lang dir ``zh_CN`` or ``en``, 8 kHz 16-bit mono PCM (the
format Asterisk's ``wav`` file format reads without transcoding). :func:`prompt_file` builds
the name the IVR hands to ``STREAM FILE`` (without the extension: Asterisk picks the format);
:func:`render_prompts` writes the files, so both halves of the path template live here.

Rendering uses espeak-ng (voice ``cmn`` for Mandarin, ``en-us`` for English) and sox to
resample espeak's 22 050 Hz output to 8 kHz. When either tool is missing the report says which
and how to install it, and nothing is written. Studio recordings can replace any file under the
same name.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ivr.errors import MenuConfigError

logger = logging.getLogger(__name__)

DEFAULT_CATALOGUE_PATH = Path(__file__).resolve().parent / "prompts.toml"
LANG_DIRS: Mapping[str, str] = MappingProxyType({"zh": "zh_CN", "en": "en"})
# The Asterisk channel language for each menu language (CHANNEL(language)); SAY NUMBER follows it.
CHANNEL_LANGUAGES: Mapping[str, str] = LANG_DIRS
ESPEAK_VOICES: Mapping[str, str] = MappingProxyType({"zh": "cmn", "en": "en-us"})
SAMPLE_RATE = 8000
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOOL_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Prompt:
    id: str
    zh: str
    en: str

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, slots=True)
class PromptCatalogue:
    prompts: Mapping[str, Prompt]
    source: str = "<memory>"

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.prompts)

    def subset(self, ids: Collection[str]) -> PromptCatalogue:
        return PromptCatalogue(MappingProxyType({i: self.prompts[i] for i in ids}), self.source)


def parse_catalogue(data: Mapping[str, Any], *, source: str = "<memory>") -> PromptCatalogue:
    """Validate parsed TOML: ``[id] zh = "…" en = "…"``; errors name the prompt."""
    prompts: dict[str, Prompt] = {}
    for prompt_id, raw in data.items():
        where = f"prompt '{prompt_id}'"
        if not _ID.match(prompt_id):
            raise MenuConfigError(f"{where}: not a valid prompt id (a-z, 0-9, _ and -)")
        if not isinstance(raw, dict) or set(raw) != {"zh", "en"}:
            raise MenuConfigError(f"{where}: needs exactly the keys 'zh' and 'en'")
        for lang in ("zh", "en"):
            text = raw[lang]
            if not isinstance(text, str) or not text.strip():
                raise MenuConfigError(f"{where}: '{lang}' must be a non-empty string")
        prompts[prompt_id] = Prompt(prompt_id, raw["zh"].strip(), raw["en"].strip())
    return PromptCatalogue(MappingProxyType(prompts), source)


def load_catalogue(path: Path | None = None) -> PromptCatalogue:
    """Read the catalogue (default: the built-in ``ivr/prompts.toml``)."""
    path = path or DEFAULT_CATALOGUE_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MenuConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MenuConfigError(f"{path}: invalid TOML: {exc}") from exc
    return parse_catalogue(data, source=str(path))


def prompt_file(base: str, prompt_id: str, lang: str) -> str:
    """The name to play: ``/var/lib/callcenter/prompts/zh_CN/welcome`` (no extension).

    ``base`` is absolute or relative to Asterisk's sounds directory. Asterisk first tries a
    language directory inserted before the last component and then this exact name, so the
    explicit language directory works whatever the channel's language is.
    """
    return f"{base.rstrip('/')}/{LANG_DIRS[lang]}/{prompt_id}"


def rendered_path(out_dir: Path, prompt_id: str, lang: str) -> Path:
    """Where :func:`render_prompts` writes a prompt: ``<out>/zh_CN/<id>.wav``."""
    return out_dir / LANG_DIRS[lang] / f"{prompt_id}.wav"


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a prompt build did. ``missing_tool`` set means nothing was rendered."""

    out_dir: Path
    rendered: tuple[Path, ...] = ()
    failed: tuple[str, ...] = ()
    missing_tool: str | None = None
    langs: tuple[str, ...] = field(default=("zh", "en"))

    @property
    def ok(self) -> bool:
        return self.missing_tool is None and not self.failed

    def summary(self) -> str:
        if self.missing_tool:
            return f"prompts not built: {self.missing_tool}"
        text = f"{len(self.rendered)} prompt files written to {self.out_dir}"
        if self.failed:
            text += f"; {len(self.failed)} failed:\n  " + "\n  ".join(self.failed)
        return text


def _render_one(espeak: str, sox: str, text: str, voice: str, target: Path) -> None:
    """espeak-ng → 22 050 Hz WAV in a temp dir → sox → 8 kHz mono 16-bit, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cc-prompt-") as tmp:
        text_file = Path(tmp) / "text.txt"
        raw = Path(tmp) / "raw.wav"
        # The text goes through a file, never argv: a text starting with '-' is not an option.
        text_file.write_text(text, encoding="utf-8")
        # Both executables are absolute paths found by the build, the arguments a list: no shell.
        subprocess.run(  # noqa: S603
            [espeak, "-v", voice, "-s", "150", "-b", "1", "-f", str(text_file), "-w", str(raw)],
            check=True, capture_output=True, timeout=_TOOL_TIMEOUT_S,
        )
        partial = target.with_name(target.name + ".part")
        subprocess.run(  # noqa: S603
            [sox, str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
             "-t", "wav", str(partial), "norm", "-3"],
            check=True, capture_output=True, timeout=_TOOL_TIMEOUT_S,
        )
        os.replace(partial, target)


def _describe(exc: Exception) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        stderr = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        return f"{Path(str(exc.cmd[0])).name} exited {exc.returncode}" + (
            f": {stderr[-1]}" if stderr else "")
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{Path(str(exc.cmd[0])).name} took longer than {exc.timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


def render_prompts(catalogue: PromptCatalogue, out_dir: Path, espeak_path: Path | str | None, *,
                   sox_path: Path | str | None = None, langs: Collection[str] = ("zh", "en"),
                   workers: int = 2) -> BuildReport:
    """Render every prompt of ``catalogue`` in ``langs`` under ``out_dir``.

    ``espeak_path`` None or a path that is not an executable, or no sox (``sox_path`` or
    ``sox`` on PATH), gives a report with ``missing_tool`` set and writes nothing. A prompt that
    fails is listed in ``failed`` and the others are still rendered.
    """
    langs = tuple(langs)
    espeak = str(espeak_path) if espeak_path else ""
    if not espeak or not (os.path.isfile(espeak) and os.access(espeak, os.X_OK)):
        return BuildReport(out_dir, missing_tool=(
            f"espeak-ng not found ({espeak or 'not on PATH'}): install it "
            "(Debian/Ubuntu: apt-get install espeak-ng) or record the prompts by hand"),
            langs=langs)
    sox = str(sox_path) if sox_path else (shutil.which("sox") or "")
    if not sox or not (os.path.isfile(sox) and os.access(sox, os.X_OK)):
        return BuildReport(out_dir, missing_tool=(
            f"sox not found ({sox or 'not on PATH'}): it resamples espeak-ng's 22 kHz output "
            "to 8 kHz (Debian/Ubuntu: apt-get install sox)"), langs=langs)
    jobs = [(prompt, lang) for prompt in catalogue.prompts.values() for lang in langs]

    def run(job: tuple[Prompt, str]) -> tuple[Path, str | None]:
        prompt, lang = job
        target = rendered_path(out_dir, prompt.id, lang)
        try:
            _render_one(espeak, sox, prompt.text(lang), ESPEAK_VOICES[lang], target)
        except (OSError, subprocess.SubprocessError) as exc:
            return target, f"{LANG_DIRS[lang]}/{prompt.id}: {_describe(exc)}"
        return target, None

    rendered: list[Path] = []
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for target, error in pool.map(run, jobs):
            if error is None:
                rendered.append(target)
            else:
                logger.warning("prompt not rendered: %s", error)
                failed.append(error)
    return BuildReport(out_dir, tuple(rendered), tuple(failed), langs=langs)


def find_espeak() -> str | None:
    """espeak-ng on PATH, else the Debian location, else None."""
    found = shutil.which("espeak-ng")
    if found:
        return found
    return "/usr/bin/espeak-ng" if os.access("/usr/bin/espeak-ng", os.X_OK) else None


def build_prompts(out_dir: Path, *, catalogue_path: Path | None = None) -> BuildReport:
    """Render the whole catalogue (default ``ivr/prompts.toml``) under ``out_dir``.

    The entry point of ``callcenter prompts build``. Raises :class:`MenuConfigError` for an
    invalid catalogue; a missing tool is reported in the :class:`BuildReport`, not raised.
    """
    catalogue = load_catalogue(catalogue_path)
    report = render_prompts(catalogue, out_dir, find_espeak())
    logger.info("%s", report.summary())
    return report
