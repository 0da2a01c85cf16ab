"""The console's answers: security headers on every response, pages from templates."""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from vetrina.gateway.http import Handler

STATIC = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer the browser sends `Origin: null` on
    # the console's own form posts, which the cross-site check refuses.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ``/console`` answer, errors included, carries :data:`SECURITY_HEADERS`."""
    if not request.path.startswith("/console"):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers.update(SECURITY_HEADERS)
        raise
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


def template(name: str, status: int = 200, **values: str) -> web.Response:
    """A page of ``static/``, each ``{{name}}`` replaced by its HTML-escaped value."""
    body = (STATIC / name).read_text("utf-8")
    for key, value in values.items():
        body = body.replace("{{" + key + "}}", html.escape(value))
    return web.Response(text=body, content_type="text/html", status=status)
