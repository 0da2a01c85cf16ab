"""The console's JSON API about people and conversations: who am I, the queues, the
team and presence, one conversation (state, timeline across channels, profile), and the
handoff moves (claim, reply, hand back, close, transfer).

A consultant sees only their stores' conversations (and the general queue); anything
else answers 403. Every POST needs the session's ``X-CSRF-Token``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select

from vetrina.bookings.service import BookingView
from vetrina.catalog.models import Store
from vetrina.conversations import handoff
from vetrina.conversations.accounts import LANGUAGES, set_language
from vetrina.conversations.consultants import (
    ConsultantView,
    OpenSession,
    Presence,
    list_consultants,
    set_presence,
)
from vetrina.conversations.handoff import ConversationState, HandoffConflict, HandoffError
from vetrina.conversations.history import recent_messages
from vetrina.conversations.models import Message
from vetrina.conversations.notes import NoteError, NoteView, add_note, notes_of
from vetrina.customers.interactions import STOCK_CHECK, recent_interactions
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.gateway.console.auth import require_session
from vetrina.gateway.console.context import Console
from vetrina.gateway.console.desk import PRESENCE, ConsoleDesk, NotYours, consultant_name
from vetrina.gateway.http import (
    ApiError,
    body_id,
    json_response,
    parse_id,
    read_object,
    store_code,
)
from vetrina.gateway.keys import CONSOLE
from vetrina.insights.orders import customer_orders
from vetrina.storage.base import utcnow

LANG_COOKIE = "vetrina_console_lang"


async def session_of(request: web.Request) -> OpenSession:
    console = request.app[CONSOLE]
    return await require_session(request, console.db, console.cookies)


def me_json(consultant: ConsultantView) -> dict[str, Any]:
    return {
        "id": consultant.id, "name": consultant.name, "email": consultant.email,
        "role": consultant.role, "stores": list(consultant.stores),
        "language": consultant.language,
    }


def masked_phone(number: str) -> str:
    """``+393471234567`` → ``+39 ••• ••• 4567``: enough to recognise, not to dial."""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 6:
        return "•••"
    prefix = "+" + digits[:2] + " " if number.startswith("+") else ""
    return f"{prefix}••• ••• {digits[-4:]}"


Contacts = dict[str, dict[str, str | None]]


async def contacts(console: Console, customer_ids: list[str]) -> Contacts:
    """How a person recognises each customer when there is no name: the masked WhatsApp
    number and the Instagram name, if the channel gave one (never the customer id)."""
    found: Contacts = {c: {"phone": None, "instagram": None} for c in customer_ids}
    if not customer_ids:
        return found
    async with console.db.sessions() as session:
        rows = await session.execute(
            select(ChannelIdentity.customer_id, ChannelIdentity.channel,
                   ChannelIdentity.external_id, ChannelIdentity.display_name)
            .where(ChannelIdentity.customer_id.in_(sorted(set(customer_ids))),
                   ChannelIdentity.channel.in_(("whatsapp", "instagram")))
            .order_by(ChannelIdentity.last_seen_at)
        )
        for customer_id, channel, external_id, name in rows:
            if channel == "whatsapp":
                found[customer_id]["phone"] = masked_phone(external_id)
            elif name:
                found[customer_id]["instagram"] = name if name.startswith("@") else "@" + name
    return found


def state_json(state: ConversationState, known: Contacts | None = None) -> dict[str, Any]:
    waited = (utcnow() - state.waiting_since).total_seconds() if state.waiting_since else None
    contact = (known or {}).get(state.customer_id, {})
    return {
        "conversation_id": state.conversation_id,
        "customer_id": state.customer_id,
        "customer_name": state.customer_name,
        "customer_phone": contact.get("phone"),
        "customer_instagram": contact.get("instagram"),
        "language": state.language,
        "channel": state.channel,
        "status": state.status,
        "owner_id": state.owner_id,
        "owner_name": state.owner_name,
        "store_code": state.store_code,
        "reason": state.reason,
        "waiting_since": state.waiting_since,
        "waiting_seconds": (
            int(waited) if waited is not None and state.status == "waiting" else None
        ),
    }


def booking_json(view: BookingView) -> dict[str, Any]:
    return {
        "code": view.code, "status": view.status, "store": view.store_code,
        "store_name": view.store_name, "starts_at": view.local_start.isoformat(),
        "items": [{"sku": i.sku, "product": i.product, "size": i.size, "colour": i.colour,
                   "quantity": i.quantity} for i in view.items],
    }


async def visible(request: web.Request, consultant: ConsultantView) -> ConversationState:
    """The conversation of the path, if this consultant may see it (404, 403 otherwise)."""
    conversation_id = parse_id(request.match_info["id"], "conversation")
    state = await handoff.conversation_state(request.app[CONSOLE].db, conversation_id)
    if state is None:
        raise ApiError(404, "not_found", "no such conversation")
    if not state.visible_to(consultant.id, consultant.stores, consultant.is_admin):
        raise ApiError(403, "forbidden", "this conversation belongs to another store")
    return state


async def me(request: web.Request) -> web.Response:
    session = await session_of(request)
    return json_response({**me_json(session.consultant), "csrf_token": session.csrf_token})


async def my_language(request: web.Request) -> web.Response:
    """The header's language switch saves the choice on the account (``it`` or ``en``)."""
    console = request.app[CONSOLE]
    session = await session_of(request)
    body = await read_object(request)
    language = body.get("language")
    if language not in LANGUAGES:
        raise ApiError(400, "invalid", f"language must be one of {', '.join(LANGUAGES)}",
                       {"field": "language"})
    await set_language(console.db, session.consultant.id, language)
    response = json_response({"language": language})
    set_language_cookie(response, language)
    return response


def set_language_cookie(response: web.StreamResponse, language: str) -> None:
    """The login page (no session yet) and the day sheet read the choice from here too."""
    response.set_cookie(
        LANG_COOKIE, language, path="/console", samesite="Strict", max_age=365 * 24 * 3600
    )


async def queue(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await session_of(request)).consultant
    states = await handoff.desk_states(
        console.db, consultant.id, consultant.stores, consultant.is_admin
    )
    known = await contacts(console, [s.customer_id for s in states])
    return json_response(
        {
            "waiting": [state_json(s, known) for s in states if s.status == "waiting"],
            "mine": [state_json(s, known) for s in states if s.status == "with_consultant"],
        }
    )


async def consultants(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    await session_of(request)
    now = utcnow()
    return json_response(
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
    session = await session_of(request)
    body = await read_object(request)
    try:
        wanted = Presence(str(body.get("presence")))
    except ValueError:
        raise ApiError(400, "invalid", "presence must be online, away or offline") from None
    await set_presence(console.db, session.consultant.id, wanted)
    await console.bus.publish(
        PRESENCE,
        {"type": "presence", "consultant_id": session.consultant.id, "presence": wanted.value},
    )
    return json_response({"presence": wanted.value})


async def conversation(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await session_of(request)).consultant
    state = await visible(request, consultant)
    items = await recent_messages(console.db, state.customer_id, limit=300)
    async with console.db.sessions() as session:  # was each reply delivered? (held: why)
        delivery: dict[int, tuple[str, str | None]] = {
            row.id: (row.status, row.last_error)
            for row in await session.execute(
                select(Message.id, Message.status, Message.last_error).where(
                    Message.id.in_([i.id for i in items if i.direction == "out"])
                )
            )
        }
    timeline = []
    for item in items:
        status, problem = delivery.get(item.id, (None, None))
        timeline.append(
            {"id": item.id, "direction": item.direction, "author": item.author,
             "channel": item.channel, "text": item.text, "created_at": item.created_at,
             "buttons": [b.get("title") for b in item.payload.get("buttons") or []],
             "consultant_name": consultant_name(item.payload),
             "status": status, "problem": problem if status in ("held", "failed") else None}
        )
    moves = [
        {"from": t.from_status, "to": t.to_status, "actor": t.actor,
         "consultant_id": t.consultant_id, "store_code": t.store_code, "reason": t.reason,
         "created_at": t.created_at}
        for t in await handoff.transitions(console.db, state.conversation_id)
    ]
    return json_response(
        {"state": state_json(state, await contacts(console, [state.customer_id])),
         "timeline": timeline, "moves": moves,
         "notes": [note_json(n) for n in await notes_of(console.db, state.customer_id)],
         "profile": await _profile(console, state.customer_id)}
    )


def note_json(note: NoteView) -> dict[str, Any]:
    return {"id": note.id, "author_id": note.author_id, "author_name": note.author_name,
            "text": note.text, "created_at": note.created_at}


async def add_private_note(request: web.Request) -> web.Response:
    """A note for the team: stored apart from the messages, so no channel ever sends it."""
    console = request.app[CONSOLE]
    consultant = (await session_of(request)).consultant
    state = await visible(request, consultant)
    body = await read_object(request)
    try:
        note = await add_note(console.db, state.customer_id, consultant.id, body.get("text"))
    except NoteError as error:
        raise ApiError(400, "invalid", str(error)) from None
    return json_response({"note": note_json(note)}, status=201)


async def _profile(console: Console, customer_id: str) -> dict[str, Any]:
    async with console.db.sessions() as session:
        customer = await session.get_one(Customer, customer_id)
        checks = await recent_interactions(session, customer_id, kind=STOCK_CHECK, limit=8)
        profile: dict[str, Any] = {
            "name": customer.display_name,
            "language": customer.language,
            "sizes": dict(customer.sizes or {}),
            "favourite_store": customer.favourite_store_code,
            "last_channel": customer.last_channel,
            "stock_checks": [
                {"at": c.created_at, "channel": c.channel,
                 **{k: (c.data or {}).get(k) for k in
                    ("text", "product_code", "sku", "size", "colour", "store_code", "status")}}
                for c in checks
            ],
            "orders": await customer_orders(session, [customer_id], limit=10),
        }
    bookings = await console.bookings.my_bookings(customer_id, include_past=True)
    profile["bookings"] = [booking_json(b) for b in bookings[:10]]
    return profile


Act = Callable[[ConsoleDesk, ConsultantView, int, dict[str, Any]], Awaitable[object]]


async def _move(request: web.Request, act: Act) -> web.Response:
    console = request.app[CONSOLE]
    consultant = (await session_of(request)).consultant
    state = await visible(request, consultant)
    body = await read_object(request) if request.can_read_body else {}
    try:
        await act(console.desk, consultant, state.conversation_id, body)
    except HandoffConflict as conflict:
        raise ApiError(
            409, "conflict", str(conflict),
            {"state": conflict.status, "owner_name": conflict.owner_name},
        ) from None
    except NotYours as error:
        raise ApiError(409, "not_yours", str(error)) from None
    except HandoffError as error:
        raise ApiError(400, "invalid", str(error)) from None
    after = await handoff.conversation_state(console.db, state.conversation_id)
    if after is None:
        return json_response({"state": None})
    return json_response({"state": state_json(after, await contacts(console, [after.customer_id]))})


async def claim(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, _body: dict[str, Any]) -> object:
        return await desk.claim(c, i)

    return await _move(request, act)


async def reopen(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, _body: dict[str, Any]) -> object:
        return await desk.claim(c, i, closed=True)

    return await _move(request, act)


async def send_message(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, body: dict[str, Any]) -> object:
        text = body.get("text")
        return await desk.reply(c, i, text if isinstance(text, str) else "")

    return await _move(request, act)


async def hand_back(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, _body: dict[str, Any]) -> object:
        return await desk.hand_back(c, i)

    return await _move(request, act)


async def close(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, _body: dict[str, Any]) -> object:
        return await desk.close(c, i)

    return await _move(request, act)


async def transfer(request: web.Request) -> web.Response:
    async def act(desk: ConsoleDesk, c: ConsultantView, i: int, body: dict[str, Any]) -> object:
        if body.get("consultant_id") not in (None, ""):
            to = body_id(body["consultant_id"], "consultant_id")
            return await desk.transfer(c, i, to_consultant_id=to)
        raw = body.get("store_code")
        given = isinstance(raw, str) and bool(raw.strip())
        store = store_code(raw)
        if given and store is None:
            raise HandoffError("unknown store")
        if store is not None:
            async with request.app[CONSOLE].db.sessions() as session:
                if await session.scalar(select(Store.id).where(Store.code == store)) is None:
                    raise HandoffError(f"unknown store {store}")
        return await desk.transfer(c, i, to_store=store)

    return await _move(request, act)
