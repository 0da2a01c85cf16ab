"""The console's tools: a quick stock lookup, free try-on slots and booking a try-on for
the customer of a conversation (confirmed to the customer on their channel, through the
outbox, as if they had booked it in the chat)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from vetrina.bookings.confirmation import confirmation
from vetrina.bookings.errors import BookingError
from vetrina.catalog.models import Store
from vetrina.catalog.stock_check import CheckContext, StockCheck
from vetrina.conversations.ports import BotReply, Button
from vetrina.gateway.console.conversations import booking_json, session_of, visible
from vetrina.gateway.http import ApiError, json_response, plain_text, read_object, store_code
from vetrina.gateway.keys import CONSOLE, SERVICES
from vetrina.storage.base import utcnow

log = logging.getLogger(__name__)

MAX_SKUS = 20


def _store(raw: object) -> str:
    """A store code, or "" (the booking services answer "unknown store" for it)."""
    return store_code(raw) or ""


async def stock(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    await session_of(request)
    text = plain_text(request.query.get("q", ""), 300)
    raw_store = request.query.get("store", "").strip()
    store = store_code(raw_store)
    if raw_store and store is None:
        raise ApiError(400, "unknown_store", "store must be a store code")
    if not text:
        raise ApiError(400, "invalid", "q is required")
    checker = await console.stock()
    check = await checker.check(text, CheckContext(store_code=store))
    return json_response(_stock_json(check))


def _stock_json(check: StockCheck) -> dict[str, Any]:
    result: dict[str, Any] = {
        "outcome": check.outcome.value,
        "product": {"code": check.product.code, "name": check.product.name_it}
        if check.product else None,
        "size": check.size, "colour": check.colour,
        "candidates": [{"code": c.code, "name": c.name_it} for c in check.candidates],
        "options": list(check.options),
    }
    if check.store is not None:
        result["store"] = {"code": check.store.store.code, "name": check.store.store.name,
                           "status": check.store.status.value}
        result["variants"] = [
            {"sku": v.sku, "size": v.size, "colour": v.colour, "status": v.stock.status.value,
             "available": max(0, v.stock.on_hand - v.stock.reserved)}
            for v in check.store.variants
        ]
    result["alternatives"] = [
        {"store": a.store.code, "name": a.store.name, "sizes": list(a.sizes),
         "status": a.status.value}
        for a in check.alternatives
    ]
    return result


async def slots(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await session_of(request)).consultant
    await visible(request, consultant)
    store = _store(request.query.get("store", ""))
    day = plain_text(request.query.get("date", ""), 32) or utcnow().date().isoformat()
    try:
        found = await console.bookings.slots(store, day)
    except BookingError as error:
        raise ApiError(400, "invalid", str(error)) from None
    async with console.db.sessions() as session:
        zone = ZoneInfo(
            await session.scalar(select(Store.timezone).where(Store.code == store))
            or "Europe/Rome"
        )
    return json_response(
        {"timezone": str(zone),
         "slots": [{"starts_at": s.starts_at, "local_time": f"{s.local(zone):%H:%M}",
                    "free": s.free} for s in found if s.free > 0]}
    )


async def book(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await session_of(request)).consultant
    state = await visible(request, consultant)
    body = await read_object(request)
    store = _store(body.get("store_code"))
    raw_skus = body.get("skus")
    listed = raw_skus if isinstance(raw_skus, str) else ""
    skus = [s.strip() for s in listed.split(",") if s.strip()]
    if len(skus) > MAX_SKUS:
        raise ApiError(400, "invalid", f"at most {MAX_SKUS} items per booking")
    try:
        starts = datetime.fromisoformat(str(body.get("starts_at"))[:64])
    except ValueError:
        raise ApiError(400, "invalid", "starts_at must be an ISO date and time") from None
    async with console.db.sessions() as session:
        zone = await session.scalar(select(Store.timezone).where(Store.code == store))
    if zone is None:
        raise ApiError(400, "unknown_store", f"unknown store {store!r}")
    local = starts.astimezone(ZoneInfo(zone)) if starts.tzinfo else starts
    try:
        view = await console.bookings.book(
            state.customer_id, store, local.date(), local.time().replace(tzinfo=None),
            [(sku, 1) for sku in skus], channel=state.channel,
        )
    except BookingError as error:
        raise ApiError(400, "invalid", str(error)) from None
    # The shopper is told as if they had booked it themselves, on their channel.
    told = confirmation(view, state.language, state.channel,
                        request.app[SERVICES].settings.public_url)
    buttons = (
        (Button(told.calendar_label, told.calendar_url, url=told.calendar_url),)
        if told.calendar_url else ()
    )
    try:
        await console.desk.tell(
            state, BotReply(text=told.text, buttons=buttons), {"booking_code": view.code}
        )
        confirmed = True
    except SQLAlchemyError:  # the booking stands: the console says the shopper was not told
        log.exception("could not queue the confirmation of booking %s", view.code)
        confirmed = False
    return json_response({"booking": booking_json(view), "confirmed_to_customer": confirmed})
