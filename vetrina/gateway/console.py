"""The consultant console: ``/console`` pages, its JSON API and its websocket.

Pages: ``GET/POST /console/login``, ``POST /console/logout``, ``GET /console`` (the
single-page console; static files under ``/console/static/``), and a store's try-on
bookings of a day, ``GET /console/stores/{store}/bookings?date=YYYY-MM-DD`` (HTML, or
JSON with ``Accept: application/json``).

API (``/console/api/...``, session cookie; every POST needs ``X-CSRF-Token``):
``me``, ``queue``, ``consultants``, ``presence`` (POST), ``conversations/{id}`` (state,
timeline across channels, profile), ``conversations/{id}/claim|messages|hand-back|close|
transfer`` (POST), ``stock?q=&store=``, ``conversations/{id}/slots?store=&date=``,
``conversations/{id}/bookings`` (POST), and for admins ``admin/merge`` and
``admin/merges/{id}/undo`` (POST).

A consultant sees only their stores' queues and conversations (and the general queue);
anything else answers 403. Live updates: ``GET /console/ws`` (websocket) sends queue,
conversation and presence events (see ``vetrina.gateway.live``); the browser sends
``{"watch": conversation_id}`` to follow one conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import select

from vetrina.bookings.errors import BookingError, StoreNotBookable
from vetrina.bookings.service import Bookings, BookingView
from vetrina.catalog.models import Store
from vetrina.catalog.stock_check import CheckContext, StockCheck, StockChecker
from vetrina.conversations import handoff
from vetrina.conversations.consultants import (
    ConsultantView,
    LoginRefused,
    OpenSession,
    Presence,
    authenticate,
    close_session,
    list_consultants,
    open_session,
    set_presence,
    touch,
)
from vetrina.conversations.handoff import ConversationState, HandoffConflict, HandoffError
from vetrina.conversations.history import recent_messages
from vetrina.conversations.models import Message
from vetrina.customers.interactions import STOCK_CHECK, recent_interactions
from vetrina.gateway.console_auth import (
    LOGIN_CSRF_COOKIE,
    CookiePolicy,
    LoginLimiter,
    check_csrf,
    client_address,
    current_session,
    foreign_origin,
    new_csrf,
    same,
)
from vetrina.gateway.console_desk import CONVERSATION, PRESENCE, QUEUE, ConsoleDesk, NotYours
from vetrina.gateway.live import LiveBus
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HEARTBEAT = 30.0  # seconds between presence refreshes of an open console


@dataclass
class Console:
    db: Database
    desk: ConsoleDesk
    bus: LiveBus
    bookings: Bookings
    cookies: CookiePolicy
    stock: Callable[[], Awaitable[StockChecker]]
    limiter: LoginLimiter


CONSOLE = web.AppKey("console", Console)

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


def _headers(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(SECURITY_HEADERS)
    return response


def _json(data: Any, status: int = 200) -> web.Response:
    return _headers(web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str)))  # type: ignore[return-value]


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, **extra}, status=status)


# --- authentication ---------------------------------------------------------------------


async def _session(request: web.Request, *, page: bool = False) -> OpenSession:
    console = request.app[CONSOLE]
    session = await current_session(request, console.db, console.cookies)
    if session is None:
        if page:
            raise web.HTTPFound("/console/login")
        raise web.HTTPUnauthorized(
            text='{"error": "log in first"}', content_type="application/json"
        )
    if request.method not in ("GET", "HEAD"):
        check_csrf(request, session)
    return session


def _login_page(csrf: str, message: str = "", status: int = 200) -> web.Response:
    body = (STATIC / "login.html").read_text("utf-8")
    body = body.replace("{{csrf}}", html.escape(csrf)).replace(
        "{{message}}", html.escape(message)
    )
    return _headers(web.Response(text=body, content_type="text/html", status=status))  # type: ignore[return-value]


async def login_form(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    if await current_session(request, console.db, console.cookies):
        raise web.HTTPFound("/console")
    csrf = new_csrf()
    response = _login_page(csrf)
    console.cookies.set_login_csrf(response, csrf)
    return response


async def login(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    client = client_address(request)
    form = await request.post()
    if foreign_origin(request) or not same(
        str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE)
    ):
        return _error(403, "missing or wrong CSRF token")
    wait = console.limiter.blocked(client)
    if wait:
        response = _login_page(new_csrf(), "Troppi tentativi: riprova più tardi. / Too many attempts: try again later.", 429)
        response.headers["Retry-After"] = str(int(wait))
        return response
    try:
        consultant = await authenticate(
            console.db, str(form.get("email") or ""), str(form.get("password") or "")
        )
    except LoginRefused as refused:
        console.limiter.failed(client)
        csrf = new_csrf()
        message = (
            "Account bloccato per qualche minuto. / Account locked for a few minutes."
            if refused.locked
            else "Email o password errate. / Wrong email or password."
        )
        response = _login_page(csrf, message, 429 if refused.locked else 401)
        console.cookies.set_login_csrf(response, csrf)
        return response
    opened = await open_session(console.db, consultant)
    await set_presence(console.db, consultant.id, Presence.ONLINE)
    await console.bus.publish(
        PRESENCE, {"type": "presence", "consultant_id": consultant.id, "presence": "online"}
    )
    response = web.HTTPFound("/console")
    console.cookies.set_session(response, opened.token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    raise response


async def logout(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await _session(request)
    await close_session(console.db, session.token)
    await set_presence(console.db, session.consultant.id, Presence.OFFLINE)
    await console.bus.publish(
        PRESENCE,
        {"type": "presence", "consultant_id": session.consultant.id, "presence": "offline"},
    )
    response = _json({"ok": True})
    console.cookies.clear_session(response)
    return response


async def console_page(request: web.Request) -> web.Response:
    session = await _session(request, page=True)
    body = (STATIC / "console.html").read_text("utf-8").replace(
        "{{csrf}}", html.escape(session.csrf_token)
    )
    return _headers(web.Response(text=body, content_type="text/html"))  # type: ignore[return-value]


# --- reading --------------------------------------------------------------------------------


def _me(consultant: ConsultantView) -> dict[str, Any]:
    return {
        "id": consultant.id, "name": consultant.name, "email": consultant.email,
        "role": consultant.role, "stores": list(consultant.stores),
    }


def _state(state: ConversationState) -> dict[str, Any]:
    waited = (utcnow() - state.waiting_since).total_seconds() if state.waiting_since else None
    return {
        "conversation_id": state.conversation_id,
        "customer_id": state.customer_id,
        "customer_name": state.customer_name,
        "language": state.language,
        "channel": state.channel,
        "status": state.status,
        "owner_id": state.owner_id,
        "owner_name": state.owner_name,
        "store_code": state.store_code,
        "reason": state.reason,
        "waiting_since": state.waiting_since,
        "waiting_seconds": int(waited) if waited is not None and state.status == "waiting" else None,
    }


async def me(request: web.Request) -> web.Response:
    session = await _session(request)
    return _json({**_me(session.consultant), "csrf_token": session.csrf_token})


async def queue(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await _session(request)).consultant
    states = await handoff.desk_states(
        console.db, consultant.id, consultant.stores, consultant.is_admin
    )
    return _json(
        {
            "waiting": [_state(s) for s in states if s.status == "waiting"],
            "mine": [_state(s) for s in states if s.status == "with_consultant"],
        }
    )


async def consultants(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    await _session(request)
    now = utcnow()
    return _json(
        {
            "consultants": [
                {"id": c.id, "name": c.name, "stores": list(c.stores),
                 "presence": c.effective_presence(now), "role": c.role}
                for c in await list_consultants(console.db)
            ]
        }
    )


async def presence(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await _session(request)
    body = await _body(request)
    try:
        wanted = Presence(str(body.get("presence")))
    except ValueError:
        return _error(400, "presence must be online, away or offline")
    await set_presence(console.db, session.consultant.id, wanted)
    await console.bus.publish(
        PRESENCE,
        {"type": "presence", "consultant_id": session.consultant.id, "presence": wanted.value},
    )
    return _json({"presence": wanted.value})


async def _visible(request: web.Request, consultant: ConsultantView) -> ConversationState:
    try:
        conversation_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    state = await handoff.conversation_state(request.app[CONSOLE].db, conversation_id)
    if state is None:
        raise web.HTTPNotFound(text='{"error": "no such conversation"}', content_type="application/json")
    if not state.visible_to(consultant.id, consultant.stores, consultant.is_admin):
        raise web.HTTPForbidden(
            text='{"error": "this conversation belongs to another store"}',
            content_type="application/json",
        )
    return state


async def conversation(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await _session(request)).consultant
    state = await _visible(request, consultant)
    items = await recent_messages(console.db, state.customer_id, limit=300)
    async with console.db.sessions() as session:  # was each reply delivered? (held: why)
        delivery = {
            row.id: (row.status, row.last_error)
            for row in await session.execute(
                select(Message.id, Message.status, Message.last_error).where(
                    Message.id.in_([i.id for i in items if i.direction == "out"])
                )
            )
        }
    timeline = [
        {"id": i.id, "direction": i.direction, "author": i.author, "channel": i.channel,
         "text": i.text, "created_at": i.created_at,
         "buttons": [b.get("title") for b in i.payload.get("buttons") or []],
         "status": delivery.get(i.id, (None, None))[0],
         "problem": delivery.get(i.id, (None, None))[1]
         if delivery.get(i.id, (None, None))[0] in ("held", "failed") else None}
        for i in items
    ]
    moves = [
        {"from": t.from_status, "to": t.to_status, "actor": t.actor,
         "consultant_id": t.consultant_id, "store_code": t.store_code, "reason": t.reason,
         "created_at": t.created_at}
        for t in await handoff.transitions(console.db, state.conversation_id)
    ]
    return _json(
        {"state": _state(state), "timeline": timeline, "moves": moves,
         "profile": await _profile(console, state.customer_id)}
    )


async def _profile(console: Console, customer_id: str) -> dict[str, Any]:
    from vetrina.customers.models import Customer

    async with console.db.sessions() as session:
        customer = await session.get_one(Customer, customer_id)
        checks = await recent_interactions(session, customer_id, kind=STOCK_CHECK, limit=8)
        profile = {
            "name": customer.display_name,
            "language": customer.language,
            "sizes": dict(getattr(customer, "sizes", None) or {}),
            "favourite_store": customer.favourite_store_code,
            "last_channel": customer.last_channel,
            "stock_checks": [
                {"at": c.created_at, "channel": c.channel,
                 **{k: (c.data or {}).get(k) for k in
                    ("text", "product_code", "sku", "size", "colour", "store_code", "status")}}
                for c in checks
            ],
        }
    bookings = await console.bookings.my_bookings(customer_id, include_past=True)
    profile["bookings"] = [_booking(b) for b in bookings[:10]]
    return profile


def _booking(view: BookingView) -> dict[str, Any]:
    return {
        "code": view.code, "status": view.status, "store": view.store_code,
        "store_name": view.store_name, "starts_at": view.local_start.isoformat(),
        "items": [{"sku": i.sku, "product": i.product, "size": i.size, "colour": i.colour,
                   "quantity": i.quantity} for i in view.items],
    }


# --- moves --------------------------------------------------------------------------------


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text='{"error": "JSON body expected"}', content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "JSON object expected"}', content_type="application/json")
    return body


async def _move(
    request: web.Request,
    act: Callable[[ConsoleDesk, ConsultantView, int, dict[str, Any]], Awaitable[Any]],
) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await _session(request)).consultant
    state = await _visible(request, consultant)
    body = await _body(request) if request.can_read_body else {}
    try:
        await act(console.desk, consultant, state.conversation_id, body)
    except HandoffConflict as conflict:
        return _error(409, str(conflict), state=conflict.status, owner_name=conflict.owner_name)
    except NotYours as error:
        return _error(409, str(error))
    except HandoffError as error:
        return _error(400, str(error))
    after = await handoff.conversation_state(console.db, state.conversation_id)
    return _json({"state": _state(after) if after else None})


async def claim(request: web.Request) -> web.Response:
    return await _move(request, lambda d, c, i, _b: d.claim(c, i))


async def send_message(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, body: dict[str, Any]) -> Any:
        return await desk.reply(c, i, str(body.get("text") or ""))

    return await _move(request, act)


async def hand_back(request: web.Request) -> web.Response:
    return await _move(request, lambda d, c, i, _b: d.hand_back(c, i))


async def close(request: web.Request) -> web.Response:
    return await _move(request, lambda d, c, i, _b: d.close(c, i))


async def transfer(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, body: dict[str, Any]) -> Any:
        if body.get("consultant_id") not in (None, ""):
            try:
                to = int(body["consultant_id"])
            except (TypeError, ValueError):
                raise HandoffError("consultant_id must be a number") from None
            return await desk.transfer(c, i, to_consultant_id=to)
        store = str(body.get("store_code") or "").strip().upper() or None
        if store is not None:
            async with request.app[CONSOLE].db.sessions() as session:
                if await session.scalar(select(Store.id).where(Store.code == store)) is None:
                    raise HandoffError(f"unknown store {store}")
        return await desk.transfer(c, i, to_store=store)

    return await _move(request, act)


# --- tools: stock, bookings, merge ------------------------------------------------------------


async def stock(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    await _session(request)
    text = request.query.get("q", "").strip()[:300]
    store = request.query.get("store", "").strip().upper() or None
    if not text:
        return _error(400, "q is required")
    checker = await console.stock()
    check = await checker.check(text, CheckContext(store_code=store))
    return _json(_stock_json(check))


def _stock_json(check: StockCheck) -> dict[str, Any]:
    result: dict[str, Any] = {
        "outcome": check.outcome.value,
        "product": {"code": check.product.code, "name": check.product.name_it}
        if check.product else None,
        "size": check.size, "colour": check.colour,
        "candidates": [
            {"code": c.code, "name": getattr(c, "name_it", c.code)} for c in check.candidates
        ],
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
    consultant = (await _session(request)).consultant
    await _visible(request, consultant)
    store = request.query.get("store", "").strip().upper()
    day = request.query.get("date", "").strip() or utcnow().date().isoformat()
    try:
        found = await console.bookings.slots(store, day)
    except BookingError as error:
        return _error(400, str(error))
    return _json(
        {"slots": [{"starts_at": s.starts_at, "free": s.free} for s in found if s.free > 0]}
    )


async def book(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await _session(request)).consultant
    state = await _visible(request, consultant)
    body = await _body(request)
    store = str(body.get("store_code") or "").strip().upper()
    skus = [s.strip() for s in str(body.get("skus") or "").split(",") if s.strip()]
    try:
        starts = datetime.fromisoformat(str(body.get("starts_at")))
    except ValueError:
        return _error(400, "starts_at must be an ISO date and time")
    async with console.db.sessions() as session:
        zone = await session.scalar(select(Store.timezone).where(Store.code == store))
    if zone is None:
        return _error(400, f"unknown store {store!r}")
    from zoneinfo import ZoneInfo

    local = starts.astimezone(ZoneInfo(zone)) if starts.tzinfo else starts
    try:
        view = await console.bookings.book(
            state.customer_id, store, local.date(), local.time().replace(tzinfo=None),
            [(sku, 1) for sku in skus], channel=state.channel,
        )
    except BookingError as error:
        return _error(400, str(error))
    return _json({"booking": _booking(view)})


async def admin_merge(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await _session(request)).consultant
    if not consultant.is_admin:
        return _error(403, "admins only")
    body = await _body(request)
    try:
        from vetrina.customers.merging import merge_customers
    except ImportError:
        return _error(501, "customer merging is not available in this version")
    try:
        record = await merge_customers(
            console.db, str(body.get("survivor_id") or ""), str(body.get("merged_id") or ""),
            actor=f"consultant:{consultant.id}:{consultant.email}",
            reason=str(body.get("reason") or "").strip()[:500],
        )
    except (ValueError, LookupError) as error:
        return _error(400, str(error) or error.__class__.__name__)
    except Exception as error:  # the merging module's own errors
        if error.__class__.__module__.startswith("vetrina.customers"):
            return _error(400, str(error) or error.__class__.__name__)
        raise
    memory = await _carry(request, record.survivor_id)
    return _json({"merge": _record(record), "assistant_memory": memory})


async def _carry(request: web.Request, customer_id: str) -> str:
    """Give the assistant the merged profile's slots (the merge stands either way)."""
    from vetrina.customers.merging import carry_memory
    from vetrina.gateway.customers_api import MEMORY

    memory = request.app.get(MEMORY)
    if memory is None:
        return "skipped"
    try:
        await carry_memory(request.app[CONSOLE].db, memory, customer_id)
    except Exception as error:  # a nicety: reported, never fatal
        log.exception("could not update the assistant's memory of %s", customer_id)
        return f"failed: {error}"[:300]
    return "updated"


async def admin_undo(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await _session(request)).consultant
    if not consultant.is_admin:
        return _error(403, "admins only")
    from vetrina.customers.merging import undo_merge

    try:
        record = await undo_merge(
            console.db, int(request.match_info["id"]),
            actor=f"consultant:{consultant.id}:{consultant.email}",
        )
    except (ValueError, LookupError) as error:
        return _error(400, str(error) or error.__class__.__name__)
    except Exception as error:
        if error.__class__.__module__.startswith("vetrina.customers"):
            return _error(400, str(error) or error.__class__.__name__)
        raise
    memory = await _carry(request, record.merged_id)
    return _json({"merge": _record(record), "assistant_memory": memory})


def _record(record: Any) -> dict[str, Any]:
    if hasattr(record, "__dataclass_fields__"):
        from dataclasses import asdict

        return json.loads(json.dumps(asdict(record), default=str))
    return {"id": getattr(record, "id", None)}


# --- store bookings page (moved behind the console login) -----------------------------------


async def store_bookings(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    wants_json = "application/json" in request.headers.get("Accept", "")
    session = await _session(request, page=not wants_json)
    consultant = session.consultant
    store = request.match_info["store"].upper()
    if not consultant.is_admin and store not in consultant.stores:
        return _error(403, "this is another store's page")
    raw_day = request.query.get("date") or utcnow().date().isoformat()
    try:
        sheet = await console.bookings.day_sheet(store, raw_day)
    except StoreNotBookable:
        return _error(404, f"unknown store {store!r}")
    except BookingError as error:
        return _error(400, str(error))
    from vetrina.gateway import bookings_web

    if wants_json:
        return _json({"store": store, "date": raw_day, "bookings": [bookings_web.sheet_json(v) for v in sheet]})
    return _headers(  # type: ignore[return-value]
        web.Response(text=bookings_web.sheet_page(store, raw_day, sheet), content_type="text/html")
    )


# --- wiring -------------------------------------------------------------------------------


def lazy_stock_checker(db: Database, safety_stock: int) -> Callable[[], Awaitable[StockChecker]]:
    """The stock checker of the quick lookup, built at its first use (the product index
    takes a moment), the same way the action server builds its own."""
    from actions.runtime import ResolverCache
    from vetrina.catalog.availability import SqlInventory

    built: list[StockChecker] = []

    async def get() -> StockChecker:
        if not built:
            inventory = SqlInventory(db, safety_stock=safety_stock)
            resolvers = ResolverCache(db, inventory, 300.0)
            built.append(StockChecker(db, inventory, resolvers.get))
        return built[0]

    return get


# --- websocket ----------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.WebSocketResponse:
    console = request.app[CONSOLE]
    session = await current_session(request, console.db, console.cookies)
    if session is None:
        raise web.HTTPUnauthorized(text="log in first")
    if foreign_origin(request):
        raise web.HTTPForbidden(text="cross-site websocket refused")
    consultant = session.consultant
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT)
    await ws.prepare(request)
    watched: dict[str, int | None] = {"id": None}

    def wanted(topic: str, event: dict[str, Any]) -> bool:
        mine = event.get("owner_id") == consultant.id
        if topic == CONVERSATION:  # the conversation on screen, and the ones I own
            return mine or event.get("conversation_id") == watched["id"]
        if topic == QUEUE:  # my stores' queues and the general one
            store = event.get("store_code")
            return consultant.is_admin or mine or store is None or store in consultant.stores
        return True

    async def forward() -> None:
        async with console.bus.subscribe([QUEUE, CONVERSATION, PRESENCE]) as events:
            async for topic, event in events:
                if wanted(topic, event):
                    await ws.send_json({"topic": topic, **event})

    async def heartbeat() -> None:
        while True:
            await touch(console.db, consultant.id)
            await asyncio.sleep(HEARTBEAT)

    tasks = [asyncio.create_task(forward()), asyncio.create_task(heartbeat())]
    try:
        await ws.send_json({"topic": "hello", "consultant_id": consultant.id})
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                continue
            if isinstance(data, dict) and "watch" in data:
                watched["id"] = await _watchable(console, consultant, data.get("watch"))
                await ws.send_json({"topic": "watching", "conversation_id": watched["id"]})
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return ws


async def _watchable(console: Console, consultant: ConsultantView, raw: Any) -> int | None:
    try:
        conversation_id = int(raw)
    except (TypeError, ValueError):
        return None
    state = await handoff.conversation_state(console.db, conversation_id)
    if state is None or not state.visible_to(consultant.id, consultant.stores, consultant.is_admin):
        return None
    return conversation_id


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ("console.js", "console.css"):
        raise web.HTTPNotFound()
    return _headers(web.FileResponse(STATIC / name))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/login", login_form)
    r.add_post("/console/login", login)
    r.add_post("/console/logout", logout)
    r.add_get("/console", console_page)
    r.add_get("/console/", console_page)
    r.add_get("/console/static/{name}", static_file)
    r.add_get("/console/ws", websocket)
    r.add_get("/console/stores/{store}/bookings", store_bookings)
    r.add_get("/console/api/me", me)
    r.add_get("/console/api/queue", queue)
    r.add_get("/console/api/consultants", consultants)
    r.add_post("/console/api/presence", presence)
    r.add_get("/console/api/stock", stock)
    r.add_get("/console/api/conversations/{id}", conversation)
    r.add_post("/console/api/conversations/{id}/claim", claim)
    r.add_post("/console/api/conversations/{id}/messages", send_message)
    r.add_post("/console/api/conversations/{id}/hand-back", hand_back)
    r.add_post("/console/api/conversations/{id}/close", close)
    r.add_post("/console/api/conversations/{id}/transfer", transfer)
    r.add_get("/console/api/conversations/{id}/slots", slots)
    r.add_post("/console/api/conversations/{id}/bookings", book)
    r.add_post("/console/api/admin/merge", admin_merge)
    r.add_post("/console/api/admin/merges/{id}/undo", admin_undo)
