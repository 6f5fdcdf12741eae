"""Rendering the recordings pages: the page texts (for the page script's data block) and the
URLs of the package's static files, shared by the search page and the QA page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.web import i18n
from callcenter.web.app import ctx_of, locale_of, render
from recording.messages import MESSAGES

STATIC_ROUTE = "recording_static"


def render_page(request: web.Request, template: str, **values: Any) -> web.Response:
    """``template`` with ``texts`` (this package's messages in the page's language) and
    ``asset(filename)`` (the versioned URL of a file in ``recording/static``)."""
    t = i18n.translator(ctx_of(request).catalogue, locale_of(request))

    def asset(filename: str) -> str:
        return str(request.app.router[STATIC_ROUTE].url_for(filename=filename))

    return render(request, template, texts={key: t(key) for key in MESSAGES}, asset=asset,
                  **values)
