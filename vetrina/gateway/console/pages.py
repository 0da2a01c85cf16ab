"""The console's pages: log in and out, the single-page console and its static files,
and a store's try-on bookings of a day (HTML, or JSON with ``Accept: application/json``)."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from vetrina.bookings.errors import BookingError, StoreNotBookable
from vetrina.catalog.models import Store
from vetrina.conversations.consultants import Presence, close_session, open_session, set_presence
from vetrina.gateway import bookings_web
from vetrina.gateway.console import conversations
from vetrina.gateway.console.auth import (
    LOGIN_CSRF_COOKIE,
    current_session,
    foreign_origin,
    new_csrf,
    require_session,
    same,
)
from vetrina.gateway.console.context import Console
from vetrina.gateway.console.credentials import check_password
from vetrina.gateway.console.desk import PRESENCE
from vetrina.gateway.console.login_guard import TooSoon
from vetrina.gateway.console.responses import STATIC, template
from vetrina.gateway.http import ApiError, json_response, plain_text, store_code
from vetrina.gateway.keys import BOOKING_OUTCOMES, CONSOLE
from vetrina.storage.base import utcnow

log = logging.getLogger(__name__)

# The login page speaks the consultant's language: the console's switch (a cookie, set
# from the account's choice at login and by the switch), else the browser's
# Accept-Language; Italian unless English comes first.
LANG_COOKIE = conversations.LANG_COOKIE
WORDS = {
    "it": {
        "hint": "Accesso per i consulenti dei negozi",
        "sign_in": "Entra",
        "too_many": "Troppi tentativi: riprova più tardi.",
        "locked": "Account bloccato: riprova più tardi o chiedi a un amministratore.",
        "wrong": "Email o password errate.",
        "reset_done": "Password salvata: ora puoi entrare.",
    },
    "en": {
        "hint": "Sign-in for store consultants",
        "sign_in": "Sign in",
        "too_many": "Too many attempts: try again later.",
        "locked": "Account locked: try again later or ask an administrator.",
        "wrong": "Wrong email or password.",
        "reset_done": "Password saved: you can sign in now.",
    },
}
MAX_FIELD = 1024  # an email or a password longer than this is no login


def language(request: web.Request) -> str:
    """``it`` or ``en``: the console's language switch, else the browser's first choice."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in WORDS:
        return chosen
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in WORDS:
            return code
    return "it"


def _login_page(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    csrf = new_csrf()
    words = WORDS[language(request)]
    response = template(
        "login.html", status, csrf=csrf, message=words[message] if message else "",
        lang=language(request), hint=words["hint"], sign_in=words["sign_in"],
    )
    request.app[CONSOLE].cookies.set_login_csrf(response, csrf)
    return response


async def login_form(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    if await current_session(request, console.db, console.cookies):
        raise web.HTTPFound("/console")
    return _login_page(request, "reset_done" if request.query.get("reset") == "1" else "")


async def login(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    form = await request.post()
    if foreign_origin(request) or not same(
        str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE)
    ):
        raise ApiError(403, "csrf", "missing or wrong CSRF token")
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    if len(email) > MAX_FIELD or len(password) > MAX_FIELD:
        return _login_page(request, "wrong", 401)
    address = console.proxies.client(request)
    try:
        keys = await console.guard.admit(email, address)
    except TooSoon as refused:
        log.warning(
            "console login refused (%s) for %s from %s", refused.reason, email[:80], address
        )
        message = "locked" if refused.reason == "account_locked" else "too_many"
        response = _login_page(request, message, 429)
        response.headers["Retry-After"] = str(max(1, round(refused.wait)))
        return response
    consultant = await check_password(console.db, email, password)
    if consultant is None:
        await console.guard.failed(keys)
        return _login_page(request, "wrong", 401)
    await console.guard.succeeded(keys)
    opened = await open_session(console.db, consultant)
    await set_presence(console.db, consultant.id, Presence.ONLINE)
    await console.bus.publish(
        PRESENCE, {"type": "presence", "consultant_id": consultant.id, "presence": "online"}
    )
    response = web.HTTPFound("/console")
    console.cookies.set_session(response, opened.token)
    if consultant.language in WORDS:
        conversations.set_language_cookie(response, consultant.language)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    raise response


async def logout(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await require_session(request, console.db, console.cookies)
    await close_session(console.db, session.token)
    await set_presence(console.db, session.consultant.id, Presence.OFFLINE)
    await console.bus.publish(
        PRESENCE,
        {"type": "presence", "consultant_id": session.consultant.id, "presence": "offline"},
    )
    response = json_response({"ok": True})
    console.cookies.clear_session(response)
    return response


async def console_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await require_session(request, console.db, console.cookies, page=True)
    return template("console.html", csrf=session.csrf_token)


async def admin_page(request: web.Request) -> web.Response:
    """The administration page: only for admins (a consultant is sent to the console)."""
    console = request.app[CONSOLE]
    session = await require_session(request, console.db, console.cookies, page=True)
    if not session.consultant.is_admin:
        raise web.HTTPFound("/console")
    return template("admin.html", csrf=session.csrf_token)


STATIC_FILES = frozenset({
    "console.js", "console.css", "daysheet.js", "insights.js", "insights.css", "admin.js",
    "admin.css",
})


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name)


async def _today_at(console: Console, store: str) -> str:
    """Today's date on the store's clock (Europe/Rome for an unknown store)."""
    async with console.db.sessions() as session:
        zone = await session.scalar(select(Store.timezone).where(Store.code == store))
    return utcnow().astimezone(ZoneInfo(zone or "Europe/Rome")).date().isoformat()


async def store_bookings(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    wants_json = "application/json" in request.headers.get("Accept", "")
    session = await require_session(request, console.db, console.cookies, page=not wants_json)
    consultant = session.consultant
    store = store_code(request.match_info["store"])
    if store is None:
        raise ApiError(404, "unknown_store", "no such store")
    if not consultant.is_admin and store not in consultant.stores:
        raise ApiError(403, "forbidden", "this is another store's page")
    raw_day = plain_text(request.query.get("date", ""), 32) or await _today_at(console, store)
    try:
        sheet = await console.bookings.day_sheet(store, raw_day)
    except StoreNotBookable:
        raise ApiError(404, "unknown_store", f"unknown store {store!r}") from None
    except BookingError as error:
        raise ApiError(400, "invalid", str(error)) from None
    if wants_json:
        return json_response(
            {"store": store, "date": raw_day,
             "bookings": [bookings_web.sheet_json(view) for view in sheet]}
        )
    known = await conversations.contacts(console, [view.customer_id for view in sheet])
    arrivals = await request.app[BOOKING_OUTCOMES].arrivals([view.code for view in sheet])
    page = bookings_web.sheet_page(
        store, raw_day, sheet, lang=consultant.language or language(request), contacts=known,
        arrivals=arrivals,
        csrf=session.csrf_token,
    )
    return web.Response(text=page, content_type="text/html")
