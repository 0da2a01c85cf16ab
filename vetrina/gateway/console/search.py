"""``GET /console/api/search``: find conversations again, closed ones included.

Query parameters, all optional: ``q`` (name, phone, Instagram handle, booking code or
message text), ``store``, ``channel``, ``status`` (waiting, mine, everyone, closed),
``from``/``to`` (days, ``YYYY-MM-DD``, UTC, both included: some message on those days),
``limit`` (1-50, default 20) and ``offset``. A bad value answers 400 naming it; asking for
another store's conversations answers 403; the store isolation itself is in the query.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from aiohttp import web
from sqlalchemy import select

from vetrina.bookings.models import Booking
from vetrina.conversations.search import (
    MAX_LIMIT,
    MAX_OFFSET,
    Criteria,
    StatusFilter,
    Viewer,
    search_conversations,
)
from vetrina.gateway.console.conversations import contacts, session_of, state_json
from vetrina.gateway.http import ApiError, json_response, store_code
from vetrina.gateway.keys import CONSOLE

CHANNELS = ("web", "whatsapp", "instagram")
MAX_QUERY = 100


def _number(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "invalid", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid", f"{name} must be a day as YYYY-MM-DD") from None


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


async def search(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await session_of(request)).consultant
    query = request.query
    text = (query.get("q") or "").strip()
    if len(text) > MAX_QUERY:
        raise ApiError(400, "invalid", f"q has at most {MAX_QUERY} characters")
    store = None
    if query.get("store"):
        store = store_code(query["store"])
        if store is None:
            raise ApiError(400, "invalid", "store must be a store's code")
        if not consultant.is_admin and store not in consultant.stores:
            raise ApiError(403, "forbidden", "that store's conversations are not yours to see")
    channel = query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise ApiError(400, "invalid", "channel must be web, whatsapp or instagram")
    try:
        status = StatusFilter(query["status"]) if query.get("status") else None
    except ValueError:
        raise ApiError(400, "invalid", "status must be waiting, mine, everyone or closed") from None
    since, until = _day(query.get("from"), "from"), _day(query.get("to"), "to")
    if since and until and since > until:
        raise ApiError(400, "invalid", "from must not be after to")
    limit = _number(query.get("limit"), "limit", 20, 1, MAX_LIMIT)
    offset = _number(query.get("offset"), "offset", 0, 0, MAX_OFFSET)
    booked: tuple[str, ...] = ()
    if text and len(text) <= 12:  # a booking code finds its customer (exactly, any case)
        async with console.db.sessions() as session:
            booked = tuple(await session.scalars(
                select(Booking.customer_id).where(Booking.code == text.upper())
            ))
    found = await search_conversations(
        console.db,
        Viewer(consultant.id, tuple(consultant.stores), consultant.is_admin),
        Criteria(
            text=text or None, customer_ids=booked, store=store, channel=channel, status=status,
            since=_start(since) if since else None,
            until=_start(until + timedelta(days=1)) if until else None,
            limit=limit, offset=offset,
        ),
    )
    known = await contacts(console, [s.customer_id for s in found.states])
    return json_response({
        "results": [state_json(s, known) for s in found.states],
        "has_more": found.has_more, "limit": limit, "offset": offset,
    })
