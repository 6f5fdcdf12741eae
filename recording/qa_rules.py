"""Quality inspection (质检) as pure rules: the score sheet, the daily sample, scoring and the
monthly summary.

Rules (from the service regulations):

1. Each day a sample of recorded calls is drawn per agent (20 by default), skipping calls
   shorter than a minimum, spread over the day and the queues: the agent's calls are put in
   strata by (hour band, queue) and drawn round-robin over the strata, so a busy morning in
   one queue does not fill the sample. The draw is reproducible from its seed.
2. The drawn calls are shared out among the reviewers (supervisors, team leads), the least
   loaded first.
3. The score sheet is configuration with a version: greeting, closing, service attitude,
   wording, product knowledge by default. Every criterion is pass or fail; a fail needs a
   comment; a comment may be pinned to a moment of the recording.
4. A record fails if any criterion fails. Every ``fails_per_point`` failing records (4) in a
   month cost the agent one point.
5. A submitted evaluation is never edited: an administrator's correction is a new version that
   supersedes it, with a reason. The agent acknowledges or disputes the current version.
"""

from __future__ import annotations

import random
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from callcenter.errors import ValidationError

DEFAULT_PER_AGENT = 20
DEFAULT_MIN_SECONDS = 30.0
DEFAULT_FAILS_PER_POINT = 4
HOUR_BAND = 3  # hours per stratum: 0-3, 3-6, … (local time)


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    title_zh: str
    title_en: str


@dataclass(frozen=True, slots=True)
class QaForm:
    """A version of the score sheet."""

    version: str
    criteria: tuple[Criterion, ...]

    def title(self, key: str, locale: str) -> str:
        for c in self.criteria:
            if c.key == key:
                return c.title_zh if locale == "zh-CN" else c.title_en
        return key


HOTLINE_FORM = QaForm("hotline-2026.1", (
    Criterion("greeting", "开头语", "Greeting"),
    Criterion("closing", "结束语", "Closing"),
    Criterion("attitude", "服务态度", "Service attitude"),
    Criterion("wording", "用语规范", "Wording"),
    Criterion("knowledge", "业务知识", "Product knowledge"),
))


def load_form(text: str) -> QaForm:
    """A form from TOML::

        version = "hotline-2027.1"
        [[criteria]]
        key = "greeting"
        zh = "开头语"
        en = "Greeting"

    Raises ``ValueError`` naming what is wrong."""
    data = tomllib.loads(text)
    version = data.get("version")
    items = data.get("criteria")
    if not isinstance(version, str) or not version or not isinstance(items, list) or not items:
        raise ValueError("a QA form needs a version and at least one [[criteria]]")
    criteria = []
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item[k]
                                                 for k in ("key", "zh", "en")):
            raise ValueError(f"criterion {item!r}: key, zh and en are required")
        criteria.append(Criterion(item["key"], item["zh"], item["en"]))
    if len({c.key for c in criteria}) != len(criteria):
        raise ValueError("criterion keys must be unique")
    return QaForm(version, tuple(criteria))


# --------------------------------------------------------------------------- sampling


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recorded call that may be drawn: ``local_hour`` is the hour of its start, local."""

    recording_id: int
    agent_number: str
    queue: str
    local_hour: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class Draw:
    recording_id: int
    agent_number: str
    reviewer: str


def draw_sample(candidates: Iterable[Candidate], *, reviewers: Sequence[str], seed: str,
                per_agent: int = DEFAULT_PER_AGENT, min_seconds: float = DEFAULT_MIN_SECONDS,
                already: Mapping[str, int] | None = None,
                load: Mapping[str, int] | None = None) -> list[Draw]:
    """Rules 1 and 2. ``already``: calls drawn earlier for an agent today (the draw tops up);
    ``load``: assignments each reviewer has already. Raises ``ValueError`` without reviewers."""
    if not reviewers:
        raise ValueError("no reviewers to assign the sample to")
    by_agent: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.duration_s >= min_seconds and c.agent_number:
            by_agent[c.agent_number].append(c)
    counts = {r: (load or {}).get(r, 0) for r in reviewers}
    draws: list[Draw] = []
    for agent in sorted(by_agent):
        wanted = per_agent - (already or {}).get(agent, 0)
        if wanted <= 0:
            continue
        rng = random.Random(f"{seed}:{agent}")  # noqa: S311 - a sample, not a secret
        strata: dict[tuple[int, str], list[Candidate]] = defaultdict(list)
        for c in sorted(by_agent[agent], key=lambda c: c.recording_id):
            strata[(c.local_hour // HOUR_BAND, c.queue)].append(c)
        for pool in strata.values():
            rng.shuffle(pool)
        order = sorted(strata)
        rng.shuffle(order)
        picked: list[Candidate] = []
        while len(picked) < wanted and any(strata[k] for k in order):
            for key in order:
                if strata[key] and len(picked) < wanted:
                    picked.append(strata[key].pop())
        for c in sorted(picked, key=lambda c: c.recording_id):
            reviewer = min(reviewers, key=lambda r: (counts[r], reviewers.index(r)))
            counts[reviewer] += 1
            draws.append(Draw(c.recording_id, agent, reviewer))
    return draws


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class Mark:
    """One criterion's verdict; ``at_s`` pins the comment to a moment of the recording."""

    passed: bool
    comment: str = ""
    at_s: float | None = None


def check_marks(form: QaForm, raw: object) -> dict[str, Mark]:
    """Rule 3: the marks of a submitted sheet (JSON ``{"greeting": {"pass": true, "comment":
    "", "at_s": 3.5}, …}``); raises ``ValidationError`` naming the criterion."""
    if not isinstance(raw, Mapping):
        raise ValidationError("marks", "expected an object of criteria")
    unknown = set(raw) - {c.key for c in form.criteria}
    if unknown:
        raise ValidationError("marks", f"not on form {form.version}: {sorted(unknown)}")
    marks: dict[str, Mark] = {}
    for c in form.criteria:
        item = raw.get(c.key)
        if not isinstance(item, Mapping) or not isinstance(item.get("pass"), bool):
            raise ValidationError(c.key, "pass or fail is required")
        comment = str(item.get("comment") or "").strip()
        if len(comment) > 400:
            raise ValidationError(c.key, "a comment has at most 400 characters")
        if not item["pass"] and not comment:
            raise ValidationError(c.key, "a failed criterion needs a comment")
        at = item.get("at_s")
        if at is not None and (not isinstance(at, int | float) or at < 0):
            raise ValidationError(c.key, "at_s must be a number of seconds")
        marks[c.key] = Mark(item["pass"], comment, float(at) if at is not None else None)
    return marks


def record_passed(marks: Mapping[str, Mark]) -> bool:
    """Rule 4: a record fails if any criterion fails."""
    return all(m.passed for m in marks.values())


def points_lost(failed_records: int, fails_per_point: int = DEFAULT_FAILS_PER_POINT) -> int:
    """Rule 4: one point per ``fails_per_point`` failing records."""
    return failed_records // fails_per_point if fails_per_point > 0 else 0


@dataclass(frozen=True, slots=True)
class Scored:
    """A current (not superseded) evaluation, for the summary."""

    agent_number: str
    created_at: datetime
    month: str  # "2026-11", local
    passed: bool
    failed_criteria: tuple[str, ...] = ()
    disputed: bool = False


@dataclass(slots=True)
class SummaryLine:
    month: str
    agent_number: str  # "" for the team total
    records: int = 0
    failed: int = 0
    disputed: int = 0
    points_lost: int = 0
    by_criterion: dict[str, int] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float:
        return round(100 * (self.records - self.failed) / self.records, 1) if self.records else 0.0


def summarise(evaluations: Iterable[Scored], fails_per_point: int = DEFAULT_FAILS_PER_POINT
              ) -> list[SummaryLine]:
    """Per agent and month, then the team's total per month (agent ""); points per agent."""
    lines: dict[tuple[str, str], SummaryLine] = {}
    for e in evaluations:
        for key in ((e.month, e.agent_number), (e.month, "")):
            line = lines.setdefault(key, SummaryLine(*key))
            line.records += 1
            line.failed += 0 if e.passed else 1
            line.disputed += 1 if e.disputed else 0
            for c in e.failed_criteria:
                line.by_criterion[c] = line.by_criterion.get(c, 0) + 1
    for (_, agent), line in lines.items():
        if agent:
            line.points_lost = points_lost(line.failed, fails_per_point)
    for (month, agent), line in lines.items():
        if not agent:
            line.points_lost = sum(x.points_lost for (m, a), x in lines.items()
                                   if m == month and a)
    return sorted(lines.values(), key=lambda x: (x.month, x.agent_number == "", x.agent_number))
