"""Booking pages of the gateway, and the periodic booking work.

- ``GET /bookings/{code}/calendar.ics?t=<token>``: the booking's calendar file. The token
  is a random per-booking secret (``bookings.calendar_token``); a wrong or missing token
  and an unknown code both answer the same 404.
- ``GET /staff/stores/{store}/bookings?date=YYYY-MM-DD``: redirects (308) to the store's
  day sheet in the consultant console, ``/console/stores/{store}/bookings``, behind the
  console login (``vetrina/gateway/console/pages.py``); :func:`sheet_page` and
  :func:`sheet_json` render it.
- :func:`booking_worker`: every minute, releases no-shows and queues the day-before
  reminders, then wakes the outbox.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from vetrina.bookings.service import Bookings, BookingView
from vetrina.gateway.keys import BOOKINGS
from vetrina.storage.base import utcnow

log = logging.getLogger(__name__)


WORKER_INTERVAL = 60.0


async def calendar_ics(request: web.Request) -> web.Response:
    bookings = request.app[BOOKINGS]
    code = request.match_info["code"]
    body = await bookings.calendar(code, request.query.get("t", ""))
    if body is None:
        raise web.HTTPNotFound(text="no such calendar")
    return web.Response(
        body=body.encode("utf-8"),
        content_type="text/calendar",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="vetrina-{code.upper()}.ics"',
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


async def short_calendar_link(request: web.Request) -> web.Response:
    """``/c/<code>-<key>``, the calendar link a WhatsApp or Instagram bubble shows: a
    redirect to the booking's ``.ics`` when the key is its short key, else 404."""
    code, key = request.match_info["code"], request.match_info["key"]
    token = await request.app[BOOKINGS].calendar_token(code, key)
    if token is None:
        raise web.HTTPNotFound(text="no such calendar")
    location = f"/bookings/{code.upper()}/calendar.ics?t={token}"
    raise web.HTTPFound(location, headers={"Referrer-Policy": "no-referrer"})


async def staff_day(request: web.Request) -> web.Response:
    """The old address of the store's day sheet: it now lives behind the console login."""
    store = request.match_info["store"]
    target = request.rel_url.with_path(f"/console/stores/{store}/bookings").with_query(
        request.rel_url.query
    )
    raise web.HTTPPermanentRedirect(str(target))


def sheet_json(view: BookingView) -> dict[str, object]:
    return {
        "code": view.code,
        "status": view.status,
        "starts_at": view.local_start.isoformat(),
        "ends_at": view.local_end.isoformat(),
        "customer": view.customer_name,
        "channel": view.channel,
        "items": [
            {"sku": i.sku, "product": i.product, "size": i.size, "colour": i.colour,
             "quantity": i.quantity}
            for i in view.items
        ],
    }


def sheet_page(store: str, day: str, sheet: list[BookingView]) -> str:
    e = html.escape
    rows = []
    for view in sheet:
        items = "".join(
            f"<li>{e(i.product)} — {e(i.colour)} {e(i.size)} (SKU {e(i.sku)})"
            f" &times; {i.quantity}</li>"
            for i in view.items
        )
        rows.append(
            f"<tr class='{e(view.status)}'>"
            f"<td>{view.local_start:%H:%M}&ndash;{view.local_end:%H:%M}</td>"
            f"<td><strong>{e(view.code)}</strong></td><td>{e(view.customer_name or '')}</td>"
            f"<td>{e(view.status)}</td><td><ul>{items}</ul></td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan='5'>Nessuna prenotazione / No bookings</td></tr>"
    return (
        "<!doctype html><html lang='it'><head><meta charset='utf-8'>"
        f"<title>Prenotazioni {e(store)} {e(day)}</title>"
        "<style>body{font-family:sans-serif}td{padding:4px 8px;vertical-align:top}"
        "tr.cancelled{color:#888;text-decoration:line-through}</style></head><body>"
        f"<h1>Prove in negozio — {e(store)} — {e(day)}</h1>"
        "<table><thead><tr><th>Ora</th><th>Codice</th><th>Cliente</th><th>Stato</th>"
        f"<th>Articoli da preparare</th></tr></thead><tbody>{body}</tbody></table>"
        "</body></html>"
    )


async def booking_worker(
    bookings: Bookings, wake_outbox: Callable[[], None], *, interval: float = WORKER_INTERVAL,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Release no-shows and queue reminders, forever, once per ``interval`` seconds (the
    first round one interval after start-up, once the rest of the gateway is serving)."""
    while True:
        await asyncio.sleep(interval)
        try:
            now = clock()
            released = await bookings.release_no_shows(now)
            if released:
                log.info("no-show: released the items of %s", ", ".join(released))
            if await bookings.send_reminders(now):
                wake_outbox()
        except Exception:
            log.exception("booking worker round failed")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/bookings/{code}/calendar.ics", calendar_ics)
    app.router.add_get("/c/{code:[A-Za-z0-9]{4,12}}-{key:[A-Za-z2-7]{12}}", short_calendar_link)
    app.router.add_get("/staff/stores/{store}/bookings", staff_day)

