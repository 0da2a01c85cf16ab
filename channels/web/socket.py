"""Rasa's socket.io channel protocol, served by the gateway on ``/socket.io/``.

**Stock Rasa clients** (``rasa-webchat``, any client of ``rasa.core.channels.socketio``)
connect unchanged: ``session_request`` {session_id} → ``session_confirm`` (the id as a
string), ``user_uttered`` {message, session_id, customData}, and ``bot_uttered`` frames of
exactly the shape Rasa 3.6 emits (see :mod:`channels.web.frames`). Each reply is emitted
to them once; nothing is re-sent, so their delivery is recorded as ``sent`` only.

**Vetrina's extension**, for clients that ask for it with ``"vetrina": 1`` in
``session_request`` (Vetrina's widget, ``tests/chat_client.py``, ``bench/load.py``):

- ``bot_uttered`` is one frame per stored message with ``id``, ``author``
  (bot/consultant/system) and ``consultant_name``; the client shows each id once;
- ``vetrina_seen`` {ids: [...]}: the client confirms what it shows (``messages.seen_at``).
  Until then a reply is sent again: after ``session_request``, in ``history``, and every
  ``VETRINA_WEB_REDELIVER_SECONDS`` to the sockets connected to this instance (emitted
  straight to the socket, not through Redis, so it works while Redis restarts);
- ``history_request`` → ``history`` {messages}, ``message_ack`` {message_id, id,
  duplicate}, ``notice`` {kind, text}, ``vetrina_error`` {code, message, message_id?},
  ``identify`` {identity_token} → ``identified``;
- ``vetrina_status`` {consultants: {on_duty, back_at}, header} just before
  ``session_confirm``: the header line ("Assistente virtuale · consulenti disponibili" or
  when they are back);
- ``vetrina_typing`` {name}: the consultant holding the chat is writing (sent at most
  every few seconds while they type; the widget shows "<name> is typing…").

**What a session id grants.** Session ids are issued by the server only
(:mod:`channels.web.session_ids`, signed); a proposed id it never issued gets a new
session, and only the id's public part is ever stored or shown (so a consultant, an API
client or a log reader cannot open the chat with it). The socket that confirmed a
session reads that chat's history (every channel of that customer), receives its replies
and writes into it; ``user_uttered`` and
``history_request`` on a socket without a confirmed session are refused. A chat that a
shop login joined to a shop account is that account's: it is opened only together with a
valid identity token for it (``identity_token`` in ``session_request``, or ``identify``),
for that socket, until the token expires; without one the socket gets a new, empty
session (``signed_out``).

**Limits.** At most ``VETRINA_WEB_MAX_MESSAGES`` messages per socket and per session and
``VETRINA_WEB_MAX_MESSAGES_PER_ADDRESS`` per client address in
``VETRINA_WEB_RATE_SECONDS``; beyond that a message is refused with the
``too_many_messages`` notice (a ``bot_uttered`` text for stock clients), never queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import socketio
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from channels.web.frames import (
    consultant_name,
    image_attachment,
    rasa_frames,
    vetrina_frame,
    vetrina_quick_replies,
)
from channels.web.limits import MessageLimits, Window, client_address
from channels.web.limits_redis import RedisWindows
from channels.web.session_ids import SessionIds, session_ids
from vetrina.conversations.handoff import OnDuty, on_duty
from vetrina.conversations.history import HistoryItem, mark_seen, recent_messages, unseen_replies
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.notices import notice
from vetrina.conversations.ports import OutboundView
from vetrina.conversations.routing import ConsultantHours
from vetrina.conversations.text import InvalidMessage, clean_text
from vetrina.customers.linking import ShopLogin
from vetrina.customers.models import ChannelIdentity
from vetrina.customers.tokens import EXPIRED, INVALID, IdentityTokenError
from vetrina.language import normalise_language
from vetrina.settings import Settings
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

CHANNEL = "web"
SHOP = "shop"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
MAX_PAGE_CONTEXT = 2000
MAX_SEEN_IDS = 500


def customer_room(customer_id: str) -> str:
    """Stock clients of the customer: Rasa-shaped frames."""
    return f"customer:{customer_id}"


def vetrina_room(customer_id: str) -> str:
    """Vetrina clients of the customer: one frame per message, with ids."""
    return f"customer:{customer_id}:vetrina"


def history_payload(items: list[HistoryItem]) -> dict[str, Any]:
    messages = []
    for item in items:
        entry: dict[str, Any] = {
            "id": item.id,
            "direction": item.direction,
            "author": item.author,
            "channel": item.channel,
            "text": item.text,
            "created_at": item.created_at.isoformat(),
        }
        if item.channel == CHANNEL and item.direction == "in" and item.provider_message_id:
            entry["message_id"] = item.provider_message_id.split(":", 1)[-1]
        if item.payload.get("buttons"):
            entry["quick_replies"] = vetrina_quick_replies(item.payload["buttons"])
        if isinstance(item.payload.get("image"), str) and item.payload["image"]:
            entry["attachment"] = image_attachment(item.payload["image"])
        name = consultant_name(item.payload)
        if name:
            entry["consultant_name"] = name
        messages.append(entry)
    return {"messages": messages}


def status_payload(
    duty: OnDuty, language: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """The header's state and its words in the shopper's language."""
    back = duty.back_at
    if duty.on_duty:
        text = notice("header_on_duty", language)
    elif back is None:
        text = notice("header_off_duty", language)
    elif back.date() == (now or utcnow()).astimezone(back.tzinfo).date():
        text = notice("header_back_today", language, time=f"{back:%H:%M}")
    else:
        text = notice("header_back_later", language, time=f"{back:%H:%M}", date=f"{back:%d/%m}")
    return {
        "consultants": {"on_duty": duty.on_duty, "back_at": back.isoformat() if back else None},
        "header": text,
    }


@dataclass
class SocketState:
    """What one connected socket may do (kept by the instance it is connected to)."""

    address: str
    vetrina: bool = False
    session_id: str | None = None
    customer_id: str | None = None
    account_until: float | None = None  # a shop login's token expiry (epoch seconds)


@dataclass(frozen=True)
class Owner:
    customer_id: str
    has_account: bool


class WebChat:
    """Socket.io event handlers: parse, validate, store, acknowledge, re-send."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        db: Database,
        inbox: Inbox,
        on_stored: Callable[[], None],
        max_chars: int,
        shop_login: ShopLogin | None = None,
        *,
        session_ids: SessionIds,
        limits: MessageLimits,
        trusted_proxies: Collection[str] = (),
        redeliver_every: float = 2.0,
        consultant_hours: ConsultantHours | None = None,
    ) -> None:
        self._sio = sio
        self._db = db
        self._inbox = inbox
        self._on_stored = on_stored
        self._max_chars = max_chars
        self._shop_login = shop_login
        self._ids = session_ids
        self._limits = limits
        self._trusted = trusted_proxies
        self._every = redeliver_every
        self._hours = consultant_hours
        self._sockets: dict[str, SocketState] = {}
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("session_request", self.session_request)
        sio.on("user_uttered", self.user_uttered)
        sio.on("history_request", self.history_request)
        sio.on("identify", self.identify)
        sio.on("vetrina_seen", self.vetrina_seen)

    # --- connection and session ---------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        self._sockets[sid] = SocketState(client_address(environ, self._trusted))
        return True

    async def disconnect(self, sid: str, *_: Any) -> None:
        self._sockets.pop(sid, None)
        self._limits.forget_socket(sid)

    def _state(self, sid: str) -> SocketState:
        return self._sockets.setdefault(sid, SocketState("unknown"))

    async def _error(self, sid: str, code: str, language: str | None, **extra: Any) -> None:
        limit = {"limit": self._max_chars} if code == "message_too_long" else {}
        await self._sio.emit(
            "vetrina_error",
            {"code": code, "message": notice(code, language, **limit), **extra},
            to=sid,
        )

    async def _enter(self, sid: str, state: SocketState, customer_id: str | None) -> None:
        if customer_id == state.customer_id:
            return
        await self._leave(sid, state)
        state.customer_id = customer_id
        if customer_id:
            room = vetrina_room(customer_id) if state.vetrina else customer_room(customer_id)
            await self._sio.enter_room(sid, room)

    async def _leave(self, sid: str, state: SocketState) -> None:
        if state.customer_id:
            await self._sio.leave_room(sid, customer_room(state.customer_id))
            await self._sio.leave_room(sid, vetrina_room(state.customer_id))
        state.customer_id = None

    async def _owner(self, session_id: str) -> Owner | None:
        """The customer the session belongs to, and whether that is a shop account's."""
        session_id = self._ids.public(session_id)
        async with self._db.sessions() as session:
            customer_id = await session.scalar(
                select(ChannelIdentity.customer_id).where(
                    ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == session_id
                )
            )
            if customer_id is None:
                return None
            account = await session.scalar(
                select(ChannelIdentity.id).where(
                    ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == SHOP
                ).limit(1)
            )
        return Owner(customer_id, account is not None)

    async def session_request(self, sid: str, data: Any = None, *_: Any) -> None:
        if data is not None and not isinstance(data, dict):  # nothing changes
            await self._error(sid, "invalid_payload", None)
            return
        data = data or {}
        state = self._state(sid)
        await self._leave(sid, state)
        state.session_id, state.account_until = None, None
        state.vetrina = data.get("vetrina") in (1, True, "1")
        language = normalise_language(data.get("language"))
        requested = data.get("session_id")
        session_id = requested if self._ids.valid(requested) else self._ids.issue()
        customer_id: str | None = None
        try:
            token = data.get("identity_token")
            if token is not None:  # a logged-in shopper: join the shop account's customer
                joined = await self._join_shop_account(sid, session_id, token, language)
                if joined is not None:
                    customer_id, state.account_until = joined
            if customer_id is None:
                owner = await self._owner(session_id)
                if owner is not None and owner.has_account:
                    # A signed-in shopper's chat, and this page is not signed in: a new chat.
                    if requested == session_id:
                        await self._error(sid, "signed_out", language)
                    session_id, owner = self._ids.issue(), None
                customer_id = owner.customer_id if owner else None
        except SQLAlchemyError:
            log.exception("could not open a web session")
            await self._error(sid, "temporarily_unavailable", language)
            return
        state.session_id = session_id
        await self._enter(sid, state, customer_id)
        if state.vetrina:
            # Before session_confirm, so the widget's header says it the moment it is online.
            await self._status(sid, language)
        await self._sio.emit("session_confirm", session_id, to=sid)
        if state.vetrina and customer_id:
            await self._redeliver({customer_id: [sid]}, timedelta(0))

    async def _status(self, sid: str, language: str | None) -> None:
        """``vetrina_status`` for the widget's header: are consultants on duty, and if not
        when they are back. Best effort: without it the widget keeps its own wording."""
        if self._hours is None:
            return
        try:
            duty = await on_duty(self._db, self._hours)
        except SQLAlchemyError:
            log.warning("could not read the consultants' duty for the widget header")
            return
        await self._sio.emit("vetrina_status", status_payload(duty, language), to=sid)

    async def identify(self, sid: str, data: Any = None, *_: Any) -> None:
        """``identify`` {identity_token}: the shopper logged in on the site mid-chat."""
        state = self._state(sid)
        language = normalise_language(data.get("language")) if isinstance(data, dict) else None
        if not state.session_id:
            await self._error(sid, "no_session", language)
            return
        token = data.get("identity_token") if isinstance(data, dict) else None
        try:
            joined = await self._join_shop_account(sid, state.session_id, token, language)
        except SQLAlchemyError:
            log.exception("could not join a web session to its shop account")
            await self._error(sid, "temporarily_unavailable", language)
            return
        if joined is not None:
            customer_id, state.account_until = joined
            await self._enter(sid, state, customer_id)
            await self._sio.emit("identified", {"ok": True}, to=sid)

    async def _join_shop_account(
        self, sid: str, session_id: str, token: Any, language: str | None
    ) -> tuple[str, float] | None:
        """The customer the session now belongs to and until when; on a bad token a
        ``vetrina_error`` (``identity_token_expired`` / ``identity_token_invalid``) and
        nothing changed."""
        if self._shop_login is None:
            await self._error(sid, INVALID, language)
            return None
        try:
            joined = await self._shop_login.join(self._ids.public(session_id), token)
        except IdentityTokenError as error:
            log.info("identity token refused for a web session: %s", error)
            await self._error(sid, error.code, language)
            return None
        # join() verified the token; only its expiry is read here.
        claims = jwt.decode(str(token), options={"verify_signature": False})
        return joined.customer_id, float(claims["exp"])

    async def _confirmed(self, sid: str, data: dict[str, Any], language: str | None,
                         ack: dict[str, Any]) -> SocketState | None:
        """The socket's state if it has a confirmed session this request may use."""
        state = self._state(sid)
        claimed = data.get("session_id")
        if not state.session_id or claimed not in (None, state.session_id):
            await self._error(sid, "no_session", language, **ack)
            return None
        if state.account_until is not None and state.account_until < time.time():
            await self._new_session(sid, state, EXPIRED, language, ack)
            return None
        return state

    async def _new_session(self, sid: str, state: SocketState, code: str,
                           language: str | None, ack: dict[str, Any]) -> None:
        """The socket may no longer use its session (a login expired): a new, empty one."""
        await self._leave(sid, state)
        state.account_until = None
        state.session_id = self._ids.issue()
        await self._error(sid, code, language, **ack)
        await self._sio.emit("session_confirm", state.session_id, to=sid)

    # --- messages -------------------------------------------------------------------------

    async def user_uttered(self, sid: str, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict):
            await self._error(sid, "invalid_payload", None)
            return
        custom: dict[str, Any] = (
            data["customData"] if isinstance(data.get("customData"), dict) else {}
        )
        language = normalise_language(custom.get("language"))
        raw_id = custom.get("message_id")
        message_id = raw_id if isinstance(raw_id, str) and _SAFE_ID.match(raw_id) else None
        ack = {"message_id": message_id} if message_id else {}
        state = await self._confirmed(sid, data, language, ack)
        if state is None or state.session_id is None:
            return
        session_id = state.session_id
        try:
            inbound = self._parse(
                session_id, data.get("message"), custom, message_id, language, state.address
            )
        except InvalidMessage as error:
            await self._error(sid, error.code, language, **ack)
            return
        if not await self._limits.admit(sid, session_id, state.address):
            await self._too_many(sid, state, language, ack)
            return
        try:
            owner = await self._owner(session_id)
            if owner is not None and owner.has_account and state.account_until is None:
                await self._new_session(sid, state, "signed_out", language, ack)
                return
            received = await self._inbox.receive(inbound)
        except SQLAlchemyError:
            log.exception("could not store a web message")
            await self._error(sid, "temporarily_unavailable", language, **ack)
            return
        await self._enter(sid, state, received.customer_id)
        await self._sio.emit(
            "message_ack",
            {**ack, "id": received.message_id, "duplicate": received.duplicate},
            to=sid,
        )
        if not received.duplicate:
            self._on_stored()

    async def _too_many(self, sid: str, state: SocketState, language: str | None,
                        ack: dict[str, Any]) -> None:
        text = notice("too_many_messages", language)
        if state.vetrina:
            await self._sio.emit(
                "vetrina_error", {"code": "too_many_messages", "message": text, **ack}, to=sid
            )
        else:  # stock widgets show only bot_uttered
            await self._sio.emit("bot_uttered", {"text": text}, to=sid)

    def _parse(
        self,
        session_id: str,
        message: Any,
        custom: dict[str, Any],
        message_id: str | None,
        language: str | None,
        address: str,
    ) -> InboundMessage:
        # The client address, keyed: the assistant limits link codes per address with it.
        metadata: dict[str, Any] = {"client_key": self._ids.client_key(address)}
        display = custom.get("display_text")
        if isinstance(message, str) and message.startswith("/") and isinstance(display, str):
            # A quick reply: show the button's title, send its payload to the assistant.
            metadata["assistant_text"] = clean_text(message, self._max_chars)
            text = clean_text(display, self._max_chars)
        else:
            text = clean_text(message, self._max_chars)
        if language:
            metadata["language"] = language
        page = custom.get("page")
        if isinstance(page, dict) and len(json.dumps(page, default=str)) <= MAX_PAGE_CONTEXT:
            metadata["page"] = page
        public_id = self._ids.public(session_id)
        provider_id = f"{public_id}:{message_id}" if message_id else None
        return InboundMessage(
            channel=CHANNEL,
            external_id=public_id,
            text=text,
            provider_message_id=provider_id,
            metadata=metadata,
        )

    async def history_request(self, sid: str, data: Any = None, *_: Any) -> None:
        data = data if isinstance(data, dict) else {}
        state = await self._confirmed(sid, data, normalise_language(data.get("language")), {})
        if state is None or state.session_id is None:
            return
        items: list[HistoryItem] = []
        try:
            owner = await self._owner(state.session_id)
            if owner is not None and owner.has_account and state.account_until is None:
                await self._new_session(sid, state, "signed_out", None, {})
                return
            if owner is not None:
                await self._enter(sid, state, owner.customer_id)
                items = await recent_messages(self._db, owner.customer_id)
        except SQLAlchemyError:
            log.exception("could not read a web chat's history")
            await self._error(sid, "temporarily_unavailable", None)
            return
        await self._sio.emit("history", history_payload(items), to=sid)

    async def vetrina_seen(self, sid: str, data: Any = None, *_: Any) -> None:
        """``vetrina_seen`` {ids}: these replies are on the customer's screen."""
        state = self._sockets.get(sid)
        raw = data.get("ids") if isinstance(data, dict) else None
        if state is None or not state.customer_id or not isinstance(raw, list):
            return
        ids = [i for i in raw[:MAX_SEEN_IDS] if isinstance(i, int) and not isinstance(i, bool)]
        try:
            await mark_seen(self._db, state.customer_id, CHANNEL, ids)
        except SQLAlchemyError:  # sent again later, and acknowledged again
            log.warning("could not record %d web replies as seen", len(ids))

    # --- at least once to the screen ------------------------------------------------------

    async def _redeliver(self, sockets: dict[str, list[str]], grace: timedelta) -> int:
        """Send the unconfirmed replies of these customers straight to their sockets here."""
        replies = await unseen_replies(
            self._db, CHANNEL, list(sockets), sent_before=utcnow() - grace
        )
        for reply in replies:
            for sid in sockets.get(reply.customer_id, []):
                await self._sio.emit(
                    "bot_uttered", vetrina_frame(reply), to=sid, ignore_queue=True
                )
        return len(replies)

    async def run(self) -> None:
        """Every few seconds: re-send what the screens connected here have not confirmed,
        and end shop logins whose token expired."""
        try:
            while True:
                await asyncio.sleep(self._every)
                try:
                    await self.redeliver_round()
                except Exception:
                    log.exception("web redelivery round failed")
        finally:
            await self._limits.close()  # the gateway is stopping

    async def redeliver_round(self) -> int:
        now = time.time()
        sockets: dict[str, list[str]] = defaultdict(list)
        for sid, state in list(self._sockets.items()):
            if state.account_until is not None and state.account_until < now:
                await self._new_session(sid, state, EXPIRED, None, {})
            elif state.vetrina and state.customer_id:
                sockets[state.customer_id].append(sid)
        if not sockets:
            return 0
        return await self._redeliver(dict(sockets), timedelta(seconds=self._every))


class RedisSocketManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """socket.io across gateway instances through Redis pub/sub, failing loudly.

    The stock manager logs and drops an emit it cannot publish (Redis restarting);
    this one raises, so the outbox keeps the reply and retries it instead of losing it.
    """

    async def _publish(self, data: Any) -> Any:
        error: Exception | None = None
        for _ in range(2):
            try:
                if not self.connected:  # type: ignore[has-type]
                    self._redis_connect()
                return await self.redis.publish(self.channel, self.json.dumps(data))
            except (RedisError, OSError) as exc:
                error = exc
                self.connected = False
        raise ConnectionError(f"cannot publish to Redis: {error!r}")

    async def close(self) -> None:
        """Stop listening (the stock manager leaves its listener task running)."""
        task = getattr(self, "thread", None)
        if isinstance(task, asyncio.Task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in (getattr(self, "pubsub", None), getattr(self, "redis", None)):
            if client is not None:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()

    async def _redis_listen_with_retries(self) -> Any:
        """The stock listener, plus: after Redis comes back, this instance's sockets are
        closed, so browsers reconnect and reload the history. Pub/sub keeps nothing, so
        a reply emitted while this instance was not subscribed would be missed live
        (Vetrina clients also get it from the redelivery timer)."""
        pause, subscribed, resubscribing = 0.2, False, False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed, pause = True, 0.2
                    if resubscribing:
                        log.warning("Redis is back: closing web sockets so browsers resync")
                        await self.server.eio.disconnect()
                        resubscribing = False
                async for message in self.pubsub.listen():
                    yield message
            except (RedisError, OSError) as exc:
                log.error("cannot receive from Redis (%r); retrying in %.1f s", exc, pause)
                subscribed, resubscribing = False, True
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)


class WebSender:
    """Delivers outbound messages to every open chat of the customer: one frame with
    ids to Vetrina clients, Rasa's frames to stock clients."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def send(self, message: OutboundView) -> str | None:
        # Vetrina clients first: if a later emit fails, the outbox sends the message again
        # and they show the id once.
        await self._sio.emit(
            "bot_uttered", vetrina_frame(message), room=vetrina_room(message.customer_id)
        )
        for frame in rasa_frames(message):
            await self._sio.emit("bot_uttered", frame, room=customer_room(message.customer_id))
        return None


class WebNotifier:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def assistant_delayed(self, customer_id: str, channel: str, language: str) -> None:
        text = notice("delayed", language)
        await self._sio.emit(
            "notice", {"kind": "delayed", "text": text}, room=vetrina_room(customer_id)
        )
        await self._sio.emit("bot_uttered", {"text": text}, room=customer_room(customer_id))

    async def consultant_typing(self, customer_id: str, name: str) -> None:
        """``vetrina_typing`` {name} to Vetrina's widgets ("Giulia is typing…"); stock Rasa
        clients have no such event and get nothing."""
        await self._sio.emit("vetrina_typing", {"name": name}, room=vetrina_room(customer_id))


async def open_web_chat(
    sio: socketio.AsyncServer,
    db: Database,
    inbox: Inbox,
    on_stored: Callable[[], None],
    shop_login: ShopLogin | None,
    settings: Settings,
) -> WebChat:
    """The web chat as the settings configure it (session key, limits, proxies)."""
    window = settings.web_rate_seconds
    return WebChat(
        sio, db, inbox, on_stored, settings.max_message_chars, shop_login,
        session_ids=await session_ids(db, settings.web_session_secret),
        limits=MessageLimits(
            Window(settings.web_max_messages, window),
            Window(settings.web_max_messages_per_address, window),
            RedisWindows(settings.redis_url) if settings.redis_url else None,
        ),
        trusted_proxies=settings.trusted_proxies,
        redeliver_every=settings.web_redeliver_seconds,
        consultant_hours=ConsultantHours.parse(
            settings.consultant_hours, settings.consultant_timezone
        ),
    )
