"""The recordings search, as pure rules: what a query may ask, who sees what, the keyset
cursor, and the masking of personal fields.

Rules:

1. Supervisors and administrators search every recording; an agent searches only calls they
   took (the ``agent`` filter is forced to their number); dispatchers do not search at all.
2. Pages are keyset pages: the cursor is the last row's sort value and id, so page 1,000 costs
   what page 1 does (an index range scan from the cursor, never an OFFSET).
3. Caller numbers are shown in full only to roles that call merchants back from this page
   (supervisors, administrators); others see ``138****8000``. Logs always get the masked form.
4. The free-text box is read by its shape (:func:`expand_free_text`), never as an OR of every
   field, so it is as fast as the filter it stands for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from callcenter.domain import Role, mask_phone
from callcenter.errors import ValidationError

SEARCHERS = frozenset({Role.SUPERVISOR, Role.TEAM_LEAD, Role.ADMIN, Role.AGENT})
FULL_NUMBERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
MERCHANT_NUMBER_DIGITS = 15
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class Sort(StrEnum):
    STARTED = "started"
    DURATION = "duration"


class QaState(StrEnum):
    NONE = "none"  # never drawn for QA
    ASSIGNED = "assigned"  # drawn, not scored yet
    SCORED = "scored"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: after the row with this sort value and id."""

    value: float | str
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.value, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            value, row_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if not isinstance(row_id, int) or not isinstance(value, int | float | str):
                raise TypeError
        except (ValueError, TypeError, binascii.Error):
            raise ValidationError("after", "not a cursor from this search") from None
        return cls(value, row_id)


@dataclass(frozen=True, slots=True)
class RecordingQuery:
    """One search: every filter optional; ``agent`` is an agent number."""

    agent: str = ""
    merchant: str = ""  # merchant number (exact) or part of the name
    caller: str = ""  # caller number or its beginning
    queue: str = ""
    start: datetime | None = None  # from (inclusive)
    end: datetime | None = None  # to (exclusive)
    intent: str = ""
    disposition: str = ""
    task: str = ""  # task number
    min_seconds: float | None = None
    max_seconds: float | None = None
    complaint: bool | None = None
    qa: QaState | None = None
    q: str = ""  # free text: merchant number or name, caller number, task number, call id
    linked_id: str = ""
    sort: Sort = Sort.STARTED
    descending: bool = True
    after: Cursor | None = None
    limit: int = DEFAULT_LIMIT


def day_or_time(key: str, text: str, tz: ZoneInfo, end: bool) -> datetime:
    """``2026-11-22`` (a whole local day; as ``to`` it includes that day) or an ISO time."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tz)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
    except ValueError:
        raise ValidationError(key, f"not a date or time: {text!r}") from None
    return moment


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(key, f"not a number: {text!r}") from None
    if not value >= 0:
        raise ValidationError(key, "must not be negative")
    return value


def _bool(key: str, text: str) -> bool:
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValidationError(key, "expected true or false")


def parse_query(params: Mapping[str, str], tz: ZoneInfo) -> RecordingQuery:
    """The query of ``GET /api/recordings``; raises ``ValidationError`` naming the parameter.

    Parameters: ``agent merchant caller queue from to intent disposition task min_s max_s
    complaint qa q sort order after limit``."""
    def text(key: str, limit: int = 64) -> str:
        value = params.get(key, "").strip()
        if len(value) > limit:
            raise ValidationError(key, f"at most {limit} characters")
        return value

    start = day_or_time("from", text("from"), tz, end=False) if text("from") else None
    end = day_or_time("to", text("to"), tz, end=True) if text("to") else None
    try:
        sort = Sort(text("sort") or Sort.STARTED.value)
    except ValueError:
        raise ValidationError("sort", "one of: started, duration") from None
    order = text("order") or "desc"
    if order not in ("asc", "desc"):
        raise ValidationError("order", "asc or desc")
    try:
        qa = QaState(text("qa")) if text("qa") else None
    except ValueError:
        raise ValidationError("qa", "one of: none, assigned, scored") from None
    try:
        limit = int(text("limit") or DEFAULT_LIMIT)
    except ValueError:
        raise ValidationError("limit", "not a number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("limit", f"between 1 and {MAX_LIMIT}")
    return RecordingQuery(
        agent=text("agent"), merchant=text("merchant", 200), caller=text("caller", 40),
        queue=text("queue"), start=start, end=end, intent=text("intent"),
        disposition=text("disposition"), task=text("task"),
        min_seconds=_number("min_s", text("min_s")) if text("min_s") else None,
        max_seconds=_number("max_s", text("max_s")) if text("max_s") else None,
        complaint=_bool("complaint", text("complaint")) if text("complaint") else None,
        qa=qa, q=text("q", 200), sort=sort, descending=order == "desc",
        after=Cursor.decode(text("after", 400)) if text("after") else None, limit=limit)


TASK_NUMBER = re.compile(r"^[A-Z]{2}\d{8}-\d{1,7}$")
LINKED_ID = re.compile(r"^\d{6,}\.\d+$")


def expand_free_text(query: RecordingQuery) -> RecordingQuery:
    """Rule 4: the free-text box ``q`` becomes the one filter its shape says, so every search
    runs on an index (an OR over merchants, callers and tasks would read the whole index):
    ``RP20261122-0001`` a task, ``1795330137.12`` a call, 15 digits a merchant number, other
    digits a caller number (or its beginning), anything else part of a merchant name."""
    text = query.q.strip().replace(" ", "")
    if not text:
        return query
    if TASK_NUMBER.match(text.upper()):
        return replace(query, q="", task=text.upper())
    if LINKED_ID.match(text):
        return replace(query, q="", linked_id=text)
    if text.isdigit() and len(text) == MERCHANT_NUMBER_DIGITS:
        return replace(query, q="", merchant=text)
    if text.isdigit():
        return replace(query, q="", caller=text)
    return replace(query, q="", merchant=query.q.strip())


def caller_range(text: str) -> tuple[str, str] | None:
    """Numbers starting with the digits ``text``, as a range on the index (``[138, 139)``);
    None when ``text`` is not all digits (then a LIKE it is)."""
    if not text.isdigit():
        return None
    return text, text[:-1] + chr(ord(text[-1]) + 1)


def for_viewer(query: RecordingQuery, role: Role, agent_number: str | None) -> RecordingQuery:
    """Rule 1: the query as the viewer may run it; raises ``PermissionError`` for a role that
    may not search (the web layer answers 403)."""
    if role not in SEARCHERS:
        raise PermissionError(f"role {role.value} may not search recordings")
    if role is Role.AGENT:
        return replace(query, agent=agent_number or "\x00no-agent")
    return query


def shown_caller(number: str, role: Role) -> str:
    """Rule 3."""
    return number if role in FULL_NUMBERS else mask_phone(number)
