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
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

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


SHEET_WORDS = {
    "it": {
        "title": "Prove in negozio", "time": "Ora", "code": "Codice", "customer": "Cliente",
        "status": "Stato", "items": "Articoli da preparare", "actions": "Azioni",
        "none": "Nessuna prenotazione in questo giorno.", "previous": "← Giorno prima",
        "next": "Giorno dopo →", "today": "Oggi", "console": "← Console", "day": "Giorno",
        "show": "Mostra", "days": "Giorni",
        "confirmed": "Confermata", "cancelled": "Annullata", "completed": "Completata",
        "no_show": "Non presentato",
        "do_arrived": "Registra arrivo", "do_completed": "Prova conclusa",
        "do_no_show": "Non presentato", "do_undo": "Annulla", "arrived_at": "Arrivato alle",
        "web": "Web chat", "whatsapp": "WhatsApp", "instagram": "Instagram", "shop": "Sito",
        "weekdays": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    },
    "en": {
        "title": "In-store try-ons", "time": "Time", "code": "Code", "customer": "Customer",
        "status": "Status", "items": "Items to prepare", "actions": "Actions",
        "none": "No bookings on this day.", "previous": "← Previous day",
        "next": "Next day →", "today": "Today", "console": "← Console", "day": "Day",
        "show": "Show", "days": "Days",
        "confirmed": "Confirmed", "cancelled": "Cancelled", "completed": "Completed",
        "no_show": "No-show",
        "do_arrived": "Check in", "do_completed": "Completed", "do_no_show": "No-show",
        "do_undo": "Undo", "arrived_at": "Arrived at",
        "web": "Web chat", "whatsapp": "WhatsApp", "instagram": "Instagram", "shop": "Website",
        "weekdays": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    },
}


def _outcome_buttons(status: str, arrived: bool) -> list[tuple[str, str]]:
    """(action, what an undo undoes) for the buttons a booking in this state offers."""
    if status == "confirmed":
        return [("completed", ""), ("undo", "arrived")] if arrived else [
            ("arrived", ""), ("no_show", "")
        ]
    if status in ("completed", "no_show"):
        return [("undo", status)]
    return []  # cancelled: nothing to do


def sheet_page(
    store: str,
    day: str,
    sheet: list[BookingView],
    *,
    lang: str = "it",
    contacts: Mapping[str, Mapping[str, str | None]] | None = None,
    today: date | None = None,
    arrivals: Mapping[str, tuple[datetime, str]] | None = None,
    csrf: str = "",
) -> str:
    """The store's day sheet: what to prepare for each try-on, who comes and how to reach
    them, with links to the days around it, and per booking the buttons its state allows
    (daysheet.js posts them). Styled by the console's stylesheet (the console's
    Content-Security-Policy allows no inline style or script)."""
    e = html.escape
    w = SHEET_WORDS.get(lang, SHEET_WORDS["it"])
    contacts = contacts or {}
    arrivals = arrivals or {}
    rows = []
    for view in sheet:
        items = "".join(
            f"<li>{e(i.product)} — {e(i.colour)} {e(i.size)} (SKU {e(i.sku)})"
            f" &times; {i.quantity}</li>"
            for i in view.items
        )
        contact = contacts.get(view.customer_id, {})
        reach = [w.get(view.channel or "", view.channel or "")]
        reach += [c for c in (contact.get("phone"), contact.get("instagram")) if c]
        who = view.customer_name or contact.get("instagram") or contact.get("phone") or "—"
        arrived = arrivals.get(view.code)
        state = w.get(view.status, view.status)
        if arrived is not None and view.status == "confirmed":
            local = arrived[0].astimezone(view.local_start.tzinfo)
            state = f"{w['arrived_at']} {local:%H:%M}"
        buttons = "".join(
            f"<button type='button' class='outcome' data-action='{action}'"
            f" data-undoes='{e(undoes)}'>{e(w['do_' + action])}</button>"
            for action, undoes in _outcome_buttons(view.status, arrived is not None)
        )
        rows.append(
            f"<tr class='{e(view.status)}' data-booking='{e(view.code)}'>"
            f"<td>{view.local_start:%H:%M}&ndash;{view.local_end:%H:%M}</td>"
            f"<td><strong>{e(view.code)}</strong></td>"
            f"<td><span class='customer'>{e(who)}</span>"
            f"<span class='contact'>{e(' · '.join(r for r in reach if r))}</span></td>"
            f"<td class='status'>{e(state)}</td>"
            f"<td><ul>{items}</ul></td>"
            f"<td class='actions-col' data-booking='{e(view.code)}'>{buttons}</td></tr>"
        )
    body = "".join(rows) or f"<tr><td colspan='6'>{e(w['none'])}</td></tr>"
    here = f"/console/stores/{store}/bookings"
    try:
        shown = date.fromisoformat(day)
    except ValueError:
        shown = today or utcnow().date()
    before, after = shown - timedelta(days=1), shown + timedelta(days=1)
    weekday = w["weekdays"].split()[shown.weekday()]
    heading = f"{e(w['title'])} — {e(store)} — {weekday} {shown:%d/%m/%Y}"
    return (
        f"<!doctype html><html lang='{e(lang)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(w['title'])} {e(store)} {e(day)}</title>"
        f"<meta name='csrf-token' content='{e(csrf)}'>"
        "<link rel='stylesheet' href='/console/static/console.css'>"
        "<script src='/console/static/daysheet.js' defer></script></head>"
        "<body class='sheet'><header class='sheet-head'>"
        f"<h1>{heading}</h1>"
        f"<a href='/console'>{e(w['console'])}</a>"
        f"<nav class='sheet-nav' aria-label='{e(w['days'])}'>"
        f"<a id='previous-day' href='{e(here)}?date={before.isoformat()}'>{e(w['previous'])}</a>"
        f"<a id='today' href='{e(here)}'>{e(w['today'])}</a>"
        f"<a id='next-day' href='{e(here)}?date={after.isoformat()}'>{e(w['next'])}</a>"
        f"<form method='get' action='{e(here)}'><label>{e(w['day'])} "
        f"<input id='sheet-date' type='date' name='date' value='{shown.isoformat()}'></label> "
        f"<button type='submit'>{e(w['show'])}</button></form>"
        "</nav></header><main>"
        f"<table><caption class='visually-hidden'>{heading}</caption>"
        f"<thead><tr><th scope='col'>{e(w['time'])}</th><th scope='col'>{e(w['code'])}</th>"
        f"<th scope='col'>{e(w['customer'])}</th><th scope='col'>{e(w['status'])}</th>"
        f"<th scope='col'>{e(w['items'])}</th><th scope='col'>{e(w['actions'])}</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
        "<p id='sheet-status' role='status' aria-live='polite'></p>"
        "</main></body></html>"
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

