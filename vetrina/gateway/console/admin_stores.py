"""The console's administration of stores (admin role, checked on the server):

- ``GET /console/api/admin/stores``: every store with its try-on switch, temporary
  closure and consultant hours (its own, or ``null``: the global timetable, also given);
- ``PUT /console/api/admin/stores/{code}`` with any of ``try_on_enabled`` (bool),
  ``temporarily_closed`` (bool) and ``consultant_hours`` (text such as
  ``"mon-fri 09:00-19:00; sat 10:00-13:00"``, or ``null`` for the global timetable).

The body is checked whole before anything changes, so a bad field changes nothing. Each
change is recorded with who and when.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from vetrina.catalog.models import Store
from vetrina.catalog.store_status import set_temporarily_closed
from vetrina.conversations.duty_hours import parse_spec, set_store_hours, store_hours
from vetrina.gateway.console.admin import actor_of, require_admin
from vetrina.gateway.console.context import Console
from vetrina.gateway.http import ApiError, json_response, read_object, store_code
from vetrina.gateway.keys import CONSOLE
from vetrina.hours import HoursError

FIELDS = frozenset({"try_on_enabled", "temporarily_closed", "consultant_hours"})


def store_json(row: Store, hours: dict[str, str]) -> dict[str, Any]:
    return {
        "code": row.code, "name": row.name, "city": row.city, "active": row.active,
        "timezone": row.timezone, "try_on_service": "try_on" in (row.services or ()),
        "try_on_enabled": row.try_on_enabled, "temporarily_closed": row.temporarily_closed,
        "consultant_hours": hours.get(row.code),
    }


async def _store_rows(console: Console, code: str | None = None) -> list[Store]:
    query = select(Store).order_by(Store.code)
    if code is not None:
        query = query.where(Store.code == code)
    async with console.db.sessions() as session:
        return list((await session.scalars(query)).all())


async def listing(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    await require_admin(request)
    hours = await store_hours(console.db)
    return json_response({
        "stores": [store_json(row, hours) for row in await _store_rows(console)],
        "default_consultant_hours": console.consultant_hours,
        "default_timezone": console.consultant_timezone,
    })


def _flag(body: dict[str, Any], name: str) -> bool | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, bool):
        raise ApiError(400, "invalid", f"{name} must be true or false", {"field": name})
    return value


async def edit(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    admin = await require_admin(request)
    code = store_code(request.match_info["code"])
    rows = await _store_rows(console, code) if code is not None else []
    if not rows:
        raise ApiError(404, "unknown_store", "no such store")
    store = rows[0]
    body = await read_object(request)
    unknown = sorted(set(body) - FIELDS)
    if unknown or not body:
        raise ApiError(400, "invalid", "give any of: " + ", ".join(sorted(FIELDS)),
                       {"unknown": unknown, "allowed": sorted(FIELDS)})
    try_on = _flag(body, "try_on_enabled")
    closed = _flag(body, "temporarily_closed")
    spec: str | None = None
    if "consultant_hours" in body:
        raw = body["consultant_hours"]
        if raw is not None and not isinstance(raw, str):
            raise ApiError(400, "invalid", "consultant_hours must be text or null",
                           {"field": "consultant_hours"})
        spec = raw.strip() if isinstance(raw, str) and raw.strip() else None
        if spec is not None:
            try:
                parse_spec(spec, store.timezone)
            except HoursError as error:
                raise ApiError(400, "invalid_hours", str(error),
                               {"field": "consultant_hours"}) from None
    actor = actor_of(admin)
    if try_on is not None:
        await console.bookings.set_try_on_enabled(store.code, try_on, actor=actor)
    if closed is not None:
        await set_temporarily_closed(console.db, store.code, closed, actor=actor)
    if "consultant_hours" in body:
        await set_store_hours(console.db, store.code, spec, store.timezone, actor=actor)
    (row,) = await _store_rows(console, store.code)
    return json_response({"store": store_json(row, await store_hours(console.db))})
