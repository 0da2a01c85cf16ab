"""Canned replies over the console API: every consultant reads those of their stores and
the global ones (in a language, for the conversation at hand); only an admin creates,
edits and deletes them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from vetrina.catalog.models import Store
from vetrina.conversations import canned
from vetrina.conversations.canned import CannedDraft, CannedError, CannedReply
from vetrina.gateway.console.admin import require_admin
from vetrina.gateway.console.conversations import session_of
from vetrina.gateway.http import ApiError, json_response, parse_id, read_object, store_code
from vetrina.gateway.keys import CONSOLE


def reply_json(reply: CannedReply) -> dict[str, Any]:
    return {"id": reply.id, "store_code": reply.store_code, "language": reply.language,
            "shortcut": reply.shortcut, "title": reply.title, "text": reply.text}


async def listing(request: web.Request) -> web.Response:
    """``?language=it|en`` (optional): what this consultant may insert."""
    consultant = (await session_of(request)).consultant
    language = request.query.get("language") or None
    if language is not None and language not in canned.LANGUAGES:
        raise ApiError(400, "invalid", "language must be it or en")
    stores = None if consultant.is_admin else tuple(consultant.stores)
    replies = await canned.offered(request.app[CONSOLE].db, stores, language)
    return json_response({"replies": [reply_json(r) for r in replies]})


async def _draft(request: web.Request) -> CannedDraft:
    body = await read_object(request)
    raw = body.get("store_code")
    store: str | None = None
    if raw not in (None, ""):
        store = store_code(raw)
        if store is None:
            raise ApiError(400, "invalid", "store_code: a store's code, or empty for all stores")
        async with request.app[CONSOLE].db.sessions() as session:
            if await session.scalar(select(Store.id).where(Store.code == store)) is None:
                raise ApiError(400, "invalid", f"unknown store {store}")
    try:
        return CannedDraft.check(store, body.get("language"), body.get("shortcut"),
                                 body.get("title"), body.get("text"))
    except CannedError as error:
        raise ApiError(400, "invalid", str(error)) from None


async def _save(request: web.Request, reply_id: int | None) -> web.Response:
    try:
        saved = await canned.save(request.app[CONSOLE].db, await _draft(request), reply_id)
    except CannedError as error:
        raise ApiError(409, "conflict", str(error)) from None
    except LookupError:
        raise ApiError(404, "not_found", "no such canned reply") from None
    return json_response({"reply": reply_json(saved)}, status=201 if reply_id is None else 200)


async def create(request: web.Request) -> web.Response:
    await require_admin(request)
    return await _save(request, None)


async def edit(request: web.Request) -> web.Response:
    await require_admin(request)
    return await _save(request, parse_id(request.match_info["id"], "canned reply"))


async def remove(request: web.Request) -> web.Response:
    await require_admin(request)
    reply_id = parse_id(request.match_info["id"], "canned reply")
    if not await canned.remove(request.app[CONSOLE].db, reply_id):
        raise ApiError(404, "not_found", "no such canned reply")
    return json_response({"deleted": reply_id})
