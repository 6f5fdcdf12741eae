"""Reading untrusted JSON within limits (pure): size, nesting depth, UTF-8.

``json.loads`` recurses once per ``[`` or ``{``: 100,000 nested brackets raise RecursionError
(a crash, not a parse error) after burning the stack. :func:`loads_limited` first walks the
text once, counting the depth outside strings, and refuses anything deeper than
``max_depth`` before ``json`` sees it. Every refusal is a :class:`JsonRefused` naming why; the
web app turns it into HTTP 400 ``bad_json``.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BYTES = 256 * 1024   # the largest API body (a wrap-up) is a few kilobytes
MAX_DEPTH = 32           # the deepest API body nests 3 levels


class JsonRefused(ValueError):
    """The body is not JSON within the limits; the message says which limit."""


def nesting_depth(text: str, stop_above: int) -> int:
    """The deepest nesting of ``[``/``{`` outside strings, or the first depth above
    ``stop_above`` (the walk stops there)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def loads_limited(body: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
                  ) -> Any:
    """Parse ``body``; raise :class:`JsonRefused` when it is too large, too deep, not UTF-8
    or not JSON."""
    if len(body) > max_bytes:
        raise JsonRefused(f"larger than {max_bytes} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRefused("not UTF-8") from None
    if nesting_depth(text, max_depth) > max_depth:
        raise JsonRefused(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise JsonRefused(f"not JSON: {exc}") from None
