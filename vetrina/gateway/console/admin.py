"""The console's admin tools: merge two customers (and undo), and the login locks."""

from __future__ import annotations

from aiohttp import web

from vetrina.conversations.consultants import ConsultantView
from vetrina.customers.errors import CustomerError
from vetrina.customers.merge_sync import merge_and_sync, undo_and_sync
from vetrina.gateway.console.conversations import session_of
from vetrina.gateway.http import ApiError, customer_error, json_response, parse_id, read_object
from vetrina.gateway.keys import CONSOLE
from vetrina.gateway.merges import merge_json


async def require_admin(request: web.Request) -> ConsultantView:
    """The session's consultant if an admin, else 403 (canned replies use it too)."""
    consultant = (await session_of(request)).consultant
    if not consultant.is_admin:
        raise ApiError(403, "admins_only", "admins only")
    return consultant


def actor_of(consultant: ConsultantView) -> str:
    """Who did it, as the audit log and the merge records keep it."""
    return f"consultant:{consultant.id}:{consultant.email}"


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


async def merge(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = await require_admin(request)
    body = await read_object(request)
    try:
        done = await merge_and_sync(
            console.db, console.memory, _text(body.get("survivor_id"), 64),
            _text(body.get("merged_id"), 64), actor=actor_of(consultant),
            reason=_text(body.get("reason"), 500),
        )
    except CustomerError as error:
        raise customer_error(error) from None
    return json_response(
        {"merge": merge_json(done.record), "assistant_memory": done.assistant_memory}
    )


async def undo(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = await require_admin(request)
    merge_id = parse_id(request.match_info["id"], "merge")
    try:
        done = await undo_and_sync(console.db, console.memory, merge_id, actor=actor_of(consultant))
    except CustomerError as error:
        raise customer_error(error) from None
    return json_response(
        {"merge": merge_json(done.record), "assistant_memory": done.assistant_memory}
    )


async def login_locks(request: web.Request) -> web.Response:
    """Accounts locked by the last-resort lock (many failures from many addresses)."""
    console = request.app[CONSOLE]
    await require_admin(request)
    return json_response(
        {"locked": [
            {"email": block.key.split(":", 1)[1], "failures": block.failures,
             "locked_until": block.blocked_until}
            for block in await console.guard.locked_accounts()
        ]}
    )


async def unlock(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    await require_admin(request)
    body = await read_object(request)
    email = _text(body.get("email"), 254)
    if not email:
        raise ApiError(400, "invalid", "email is required")
    await console.guard.unlock(email)
    return json_response({"unlocked": email})
