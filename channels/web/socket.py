"""Rasa's socket.io channel protocol, served by the gateway on ``/socket.io/``.

Events are those of ``rasa.core.channels.socketio`` (``session_request`` →
``session_confirm``, ``user_uttered``, ``bot_uttered`` with ``quick_replies``) so existing
Rasa web-chat widgets connect unchanged. Vetrina's widget also uses ``history_request``
→ ``history``, ``message_ack``, ``notice`` and ``vetrina_error``; other widgets ignore them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import socketio
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from vetrina.conversations.history import HistoryItem, recent_messages
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.notices import notice
from vetrina.conversations.ports import OutboundView
from vetrina.conversations.text import InvalidMessage, clean_text
from vetrina.customers.identities import find_customer_id
from vetrina.customers.linking import ShopLogin
from vetrina.customers.tokens import INVALID, IdentityTokenError
from vetrina.language import normalise_language
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

CHANNEL = "web"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
MAX_PAGE_CONTEXT = 2000


def customer_room(customer_id: str) -> str:
    return f"customer:{customer_id}"


def quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in buttons
    ]


def bot_uttered_payload(message: OutboundView) -> dict[str, Any]:
    """A stored outbound message in the shape Rasa's socket.io channel emits."""
    body: dict[str, Any] = {"text": message.text, "id": message.id, "author": message.author}
    if message.buttons:
        body["quick_replies"] = quick_replies(message.buttons)
    if message.payload.get("image"):
        body["attachment"] = {"type": "image", "payload": {"src": message.payload["image"]}}
    return body


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
            entry["quick_replies"] = quick_replies(item.payload["buttons"])
        messages.append(entry)
    return {"messages": messages}


class WebChat:
    """Socket.io event handlers: parse, validate, store, acknowledge."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        db: Database,
        inbox: Inbox,
        on_stored: Callable[[], None],
        max_chars: int,
        shop_login: ShopLogin | None = None,
    ) -> None:
        self._sio = sio
        self._db = db
        self._inbox = inbox
        self._on_stored = on_stored
        self._max_chars = max_chars
        self._shop_login = shop_login
        sio.on("session_request", self.session_request)
        sio.on("user_uttered", self.user_uttered)
        sio.on("history_request", self.history_request)
        sio.on("identify", self.identify)

    async def _error(self, sid: str, code: str, language: str | None, **extra: Any) -> None:
        limit = {"limit": self._max_chars} if code == "message_too_long" else {}
        await self._sio.emit(
            "vetrina_error",
            {"code": code, "message": notice(code, language, **limit), **extra},
            to=sid,
        )

    async def session_request(self, sid: str, data: Any = None, *_: Any) -> None:
        requested = data.get("session_id") if isinstance(data, dict) else None
        session_id = (
            requested
            if isinstance(requested, str) and _SAFE_ID.match(requested)
            else uuid.uuid4().hex
        )
        await self._sio.save_session(sid, {"session_id": session_id})
        await self._sio.enter_room(sid, session_id)
        token = data.get("identity_token") if isinstance(data, dict) else None
        if token is not None:  # a logged-in shopper: join the shop account's customer
            await self._join_shop_account(sid, session_id, token, data)
        async with self._db.sessions() as session:
            customer_id = await find_customer_id(session, CHANNEL, session_id)
        if customer_id:
            await self._sio.enter_room(sid, customer_room(customer_id))
        await self._sio.emit("session_confirm", session_id, to=sid)

    async def identify(self, sid: str, data: Any = None, *_: Any) -> None:
        """``identify`` {identity_token}: the shopper logged in on the site mid-chat."""
        saved = await self._sio.get_session(sid)
        session_id = saved.get("session_id")
        if not session_id:
            await self._error(sid, "no_session", None)
            return
        token = data.get("identity_token") if isinstance(data, dict) else None
        customer_id = await self._join_shop_account(sid, session_id, token, data)
        if customer_id:
            await self._sio.enter_room(sid, customer_room(customer_id))
            await self._sio.emit("identified", {"ok": True}, to=sid)

    async def _join_shop_account(
        self, sid: str, session_id: str, token: Any, data: Any
    ) -> str | None:
        """The customer the session now belongs to; on a bad token a ``vetrina_error``
        (``identity_token_expired`` / ``identity_token_invalid``) and nothing changed."""
        language = normalise_language(data.get("language")) if isinstance(data, dict) else None
        if self._shop_login is None:
            await self._error(sid, INVALID, language)
            return None
        try:
            joined = await self._shop_login.join(session_id, token)
        except IdentityTokenError as error:
            log.info("identity token refused for a web session: %s", error)
            await self._error(sid, error.code, language)
            return None
        except SQLAlchemyError:
            log.exception("could not join a web session to its shop account")
            await self._error(sid, "temporarily_unavailable", language)
            return None
        return joined.customer_id

    async def _session_id(self, sid: str, data: dict[str, Any]) -> str | None:
        saved = await self._sio.get_session(sid)
        if saved.get("session_id"):
            return str(saved["session_id"])
        requested = data.get("session_id")
        if isinstance(requested, str) and _SAFE_ID.match(requested):
            await self._sio.save_session(sid, {"session_id": requested})
            return requested
        return None

    async def user_uttered(self, sid: str, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict):
            await self._error(sid, "invalid_payload", None)
            return
        custom = data.get("customData") if isinstance(data.get("customData"), dict) else {}
        language = normalise_language(custom.get("language"))
        raw_id = custom.get("message_id")
        message_id = raw_id if isinstance(raw_id, str) and _SAFE_ID.match(raw_id) else None
        ack = {"message_id": message_id} if message_id else {}
        session_id = await self._session_id(sid, data)
        if session_id is None:
            await self._error(sid, "no_session", language, **ack)
            return
        try:
            inbound = self._parse(session_id, data.get("message"), custom, message_id, language)
        except InvalidMessage as error:
            await self._error(sid, error.code, language, **ack)
            return
        try:
            received = await self._inbox.receive(inbound)
        except SQLAlchemyError:
            log.exception("could not store a web message")
            await self._error(sid, "temporarily_unavailable", language, **ack)
            return
        await self._sio.enter_room(sid, customer_room(received.customer_id))
        await self._sio.emit(
            "message_ack",
            {**ack, "id": received.message_id, "duplicate": received.duplicate},
            to=sid,
        )
        if not received.duplicate:
            self._on_stored()

    def _parse(
        self,
        session_id: str,
        message: Any,
        custom: dict[str, Any],
        message_id: str | None,
        language: str | None,
    ) -> InboundMessage:
        metadata: dict[str, Any] = {}
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
        provider_id = f"{session_id}:{message_id}" if message_id else None
        return InboundMessage(
            channel=CHANNEL,
            external_id=session_id,
            text=text,
            provider_message_id=provider_id,
            metadata=metadata,
        )

    async def history_request(self, sid: str, data: Any = None, *_: Any) -> None:
        saved = await self._sio.get_session(sid)
        session_id = saved.get("session_id")
        items: list[HistoryItem] = []
        if session_id:
            async with self._db.sessions() as session:
                customer_id = await find_customer_id(session, CHANNEL, session_id)
            if customer_id:
                items = await recent_messages(self._db, customer_id)
        await self._sio.emit("history", history_payload(items), to=sid)


class RedisSocketManager(socketio.AsyncRedisManager):
    """socket.io across gateway instances through Redis pub/sub, failing loudly.

    The stock manager logs and drops an emit it cannot publish (Redis restarting);
    this one raises, so the outbox keeps the reply and retries it instead of losing it.
    """

    async def _publish(self, data: Any) -> Any:
        error: Exception | None = None
        for _ in range(2):
            try:
                if not self.connected:
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
        a reply emitted while this instance was not subscribed would be missed live."""
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
    """Delivers outbound messages to every open browser tab of the customer."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def send(self, message: OutboundView) -> str | None:
        await self._sio.emit(
            "bot_uttered", bot_uttered_payload(message), room=customer_room(message.customer_id)
        )
        return None


class WebNotifier:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def assistant_delayed(self, customer_id: str, channel: str, language: str) -> None:
        await self._sio.emit(
            "notice",
            {"kind": "delayed", "text": notice("delayed", language)},
            room=customer_room(customer_id),
        )
