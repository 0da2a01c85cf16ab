"""What every provider webhook needs: a body read with a size limit, clean inbound text.

Providers (Twilio, Meta) retry slow or failed webhooks, so handlers verify, store and
answer at once; the assistant runs afterwards in the turn processor.
"""

from __future__ import annotations

import sys

from aiohttp import web

from vetrina.conversations.text import InvalidMessage, clean_text


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw request body, or 413 as soon as it is known to be larger than ``limit``.

    Read from the stream rather than with ``request.read()`` so that the app-wide
    ``client_max_size`` does not apply and nothing beyond ``limit`` is buffered.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def inbound_text(raw: object, max_chars: int) -> str:
    """A provider's message text, cleaned like web chat text; never refused.

    A webhook cannot ask the customer to type again, so an over-long text is shortened
    (marked with "…") and an empty one becomes "" for the caller to describe.
    """
    if not isinstance(raw, str):
        return ""
    try:
        text = clean_text(raw, sys.maxsize)
    except InvalidMessage:
        return ""
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text


def bad_request(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


def forbidden() -> web.Response:
    return web.json_response({"error": "invalid or missing signature"}, status=403)
