"""What a rendered page loads as script, for tests that the pages share /static/common.js and
could run under a Content-Security-Policy without 'unsafe-inline' (no inline script, no inline
event handler, no javascript: URL)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from aiohttp import web

COMMON_JS = "/static/common.js"
# No inline script may run: a page works with scripts from its own origin only.
STRICT_CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'"
# For a browser test's init script: collects what the policy blocked in window.__violations.
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def enforce_strict_csp(app: web.Application) -> None:
    """Make sure ``app`` sends a policy at least as strict as STRICT_CSP with every page
    (before it starts). The product sends its own (``callcenter.web.app.
    CONTENT_SECURITY_POLICY``, stricter still), which then is the one in force."""

    async def add_policy(_request: web.Request, response: web.StreamResponse) -> None:
        if response.content_type == "text/html":
            policy = response.headers.setdefault("Content-Security-Policy", STRICT_CSP)
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy, policy

    app.on_response_prepare.append(add_policy)


async def assert_strict_csp_held(page: Any) -> None:
    """Nothing the page did was blocked, and the policy was in force (an inline script the
    test adds does not run)."""
    violations = await page.evaluate("window.__violations")
    assert violations == [], violations
    ran = await page.evaluate("""() => {
      const script = document.createElement("script");
      script.textContent = "window.__inline_ran = true";
      document.body.append(script);
      return window.__inline_ran === true;
    }""")
    assert ran is False, "the strict Content-Security-Policy was not in force"


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline: list[str] = []  # what would break under script-src 'self'
        self._in_script = False
        self._data_block = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.inline.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.inline.append(f"<{tag} {name}={value}>")
        if tag == "script":
            self._in_script = True
            src = values.get("src")
            if src:
                self.sources.append(src.split("?", 1)[0])
                self._data_block = True
            else:  # a JSON data block is never executed; anything else is inline script
                self._data_block = values.get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and not self._data_block and data.strip():
            self.inline.append(data.strip()[:60])


def page_scripts(html: str) -> tuple[list[str], list[str]]:
    """(the paths of the page's script files in order, whatever inline script it has)."""
    parser = _Scripts()
    parser.feed(html)
    return parser.sources, parser.inline


def assert_loads_common_first(html: str, page_script: str, *more: str) -> None:
    """The page runs only script files: common.js, then its own script (then ``more``)."""
    sources, inline = page_scripts(html)
    assert inline == []
    assert sources == [COMMON_JS, page_script, *more], sources
