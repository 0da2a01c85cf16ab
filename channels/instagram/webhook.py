"""Meta's Instagram messaging webhooks: verification, signature, batched events.

- ``GET`` with ``hub.mode=subscribe`` and our ``META_VERIFY_TOKEN`` echoes
  ``hub.challenge``; anything else is 403.
- ``POST``: ``X-Hub-Signature-256`` is ``sha256=`` + HMAC-SHA256 of the raw body with the
  app secret, compared in constant time *before* the body is parsed; 403 otherwise.
- One delivery may carry several ``entry`` objects, each with several ``messaging``
  events; every one is handled. Customer messages (text, attachments, quick-reply taps,
  story replies and mentions, postbacks) are stored once per ``mid``; echoes of our own
  messages (``is_echo``), reactions and deletions are recognised and not answered;
  ``read`` receipts mark our message as read.

Payload shape (https://developers.facebook.com/docs/instagram-platform/webhooks/examples)::

    {"object": "instagram", "entry": [{"id": "<IGID>", "time": 1569262486134,
      "messaging": [{"sender": {"id": "<IGSID>"}, "recipient": {"id": "<IGID>"},
                     "timestamp": 1569262485349,
                     "message": {"mid": "<MID>", "text": "…"}}]}]}
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from channels.background import BackgroundTasks
from channels.instagram import CHANNEL, schema
from channels.webhooks import bad_request, forbidden, inbound_text, read_body
from vetrina.conversations.delivery import DeliveryReport, Outcome, Reported
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.storage.lengths import ValueTooLong

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PLACEHOLDERS = {
    "image": "[image]",
    "video": "[video]",
    "audio": "[audio]",
    "file": "[file]",
    "share": "[shared post]",
    "ig_post": "[shared post]",
    "reel": "[reel]",
    "ig_reel": "[reel]",
    "story_mention": "[story mention]",
}


def signature_of(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def valid_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.isascii():  # compare_digest refuses non-ASCII str
        return False
    return hmac.compare_digest(signature_of(app_secret, body), header.strip().lower())


@dataclass
class Delivery:
    """What one webhook delivery asks of us."""

    messages: list[tuple[int, InboundMessage]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)

    def ordered_messages(self) -> list[InboundMessage]:
        """Customer messages oldest first (a batch is not guaranteed to be in order)."""
        return [m for _, m in sorted(self.messages, key=lambda item: item[0])]


def parse_message(sender: str, message: schema.Message, max_chars: int) -> InboundMessage | None:
    if message.mid is None:
        return None
    metadata: dict[str, Any] = {}
    text = inbound_text(message.text, max_chars)
    attachments: list[dict[str, str]] = []
    for item in message.attachments:
        found = {"type": item.type or "file"}
        if item.payload is not None and item.payload.url is not None:
            found["url"] = item.payload.url
        attachments.append(found)
    if attachments:
        metadata["media"] = attachments
    mention = next((a for a in attachments if a["type"] == "story_mention"), None)
    if mention is not None:
        metadata["story_mention"] = {"url": mention.get("url")}
        # Nothing to ask the assistant: a mention is thanked, and the next message is
        # answered as usual (vetrina/conversations/processing.py, AUTO_REPLY).
        metadata["auto_reply"] = "story_mention"
    story = message.reply_to.story if message.reply_to is not None else None
    if story is not None:
        metadata["story_reply"] = {"id": story.id, "url": story.url}
    elif message.reply_to is not None and message.reply_to.mid is not None:
        metadata["reply_to_mid"] = message.reply_to.mid
    if message.quick_reply is not None and message.quick_reply.payload:
        metadata["assistant_text"] = message.quick_reply.payload[:max_chars]
    if not text and attachments:
        text = _PLACEHOLDERS.get(attachments[0]["type"], "[attachment]")
    if not text and message.is_unsupported:
        text = "[unsupported message]"
    if not text:
        text = "[story reply]" if story is not None else "[message]"
    return InboundMessage(CHANNEL, sender, text, provider_message_id=message.mid, metadata=metadata)


def parse_postback(
    sender: str, postback: schema.Postback, timestamp: int, max_chars: int
) -> InboundMessage | None:
    payload = postback.payload
    title = inbound_text(postback.title, max_chars)
    if not payload:
        return None
    return InboundMessage(
        CHANNEL, sender, title or payload[:max_chars],
        provider_message_id=postback.mid or f"postback:{sender}:{timestamp}",
        metadata={"assistant_text": payload[:max_chars]},
    )


def _sort_event(
    delivery: Delivery, event: schema.Event, account_id: str, max_chars: int
) -> None:
    sender = event.sender.id if event.sender is not None else None
    message = event.message
    if sender is None:
        delivery.ignored["no sender"] += 1
    elif message is not None and (message.is_echo or sender == account_id):
        delivery.ignored["echo"] += 1
    elif message is not None and message.is_deleted:
        delivery.ignored["deleted"] += 1
    elif message is not None:
        inbound = parse_message(sender, message, max_chars)
        if inbound is None:
            delivery.ignored["message without mid"] += 1
        else:
            delivery.messages.append((event.timestamp, inbound))
    elif event.postback is not None:
        inbound = parse_postback(sender, event.postback, event.timestamp, max_chars)
        if inbound is None:
            delivery.ignored["postback without payload"] += 1
        else:
            delivery.messages.append((event.timestamp, inbound))
    elif event.read is not None:
        if event.read.mid:
            delivery.reads.append(event.read.mid)
        else:
            delivery.ignored["read"] += 1
    elif event.reaction is not None:
        delivery.ignored["reaction"] += 1
    elif event.referral is not None:
        delivery.ignored["referral"] += 1
    else:
        delivery.ignored["unknown event"] += 1


def parse_delivery(
    notification: schema.Notification, account_id: str, max_chars: int
) -> Delivery:
    """Every event of every entry, sorted into what to store, mark read, or leave alone.

    ``notification`` has been validated (:func:`channels.instagram.schema.read_notification`),
    so every field has its documented type and fits its column.
    """
    delivery = Delivery()
    for entry in notification.entry:
        if entry.changes:
            delivery.ignored["changes"] += 1
        for event in entry.messaging:
            _sort_event(delivery, event, account_id, max_chars)
        if entry.standby:  # another app has the thread (handover protocol)
            delivery.ignored["standby"] += len(entry.standby)
    return delivery


class InstagramWebhook:
    def __init__(
        self,
        *,
        app_secret: str,
        verify_token: str,
        account_id: str,
        inbox: Inbox,
        on_stored: Callable[[], None],
        on_report: Callable[[DeliveryReport], Awaitable[Outcome]],
        on_new_contact: Callable[[str], None] | None,
        max_bytes: int,
        max_chars: int,
    ) -> None:
        self._app_secret = app_secret
        self._verify_token = verify_token
        self._account_id = account_id
        self._inbox = inbox
        self._on_stored = on_stored
        self._on_report = on_report
        self._on_new_contact = on_new_contact
        self._max_bytes = max_bytes
        self._max_chars = max_chars

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        token = query.get("hub.verify_token", "")
        # surrogatepass: a query may decode to lone surrogates, which must not raise.
        if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), self._verify_token.encode()
        ):
            return web.Response(text=query.get("hub.challenge", ""))
        return web.Response(status=403, text="verification failed")

    async def receive(self, request: web.Request) -> web.Response:
        body = await read_body(request, self._max_bytes)
        if not valid_signature(self._app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("Instagram webhook with a missing or wrong signature refused")
            return forbidden()
        try:
            notification = schema.read_notification(body)
        except schema.MalformedDelivery as error:
            log.warning("signed Instagram delivery refused as malformed: %s", error)
            return bad_request(str(error)[:300])
        if notification.object != "instagram":
            return web.Response(text="EVENT_RECEIVED")  # not ours to handle; do not make Meta retry
        delivery = parse_delivery(notification, self._account_id, self._max_chars)
        if delivery.ignored:
            log.debug("Instagram events not answered: %s", dict(delivery.ignored))
        stored = 0
        try:
            for inbound in delivery.ordered_messages():
                received = await self._inbox.receive(inbound)
                if not received.duplicate:
                    stored += 1
                    if self._on_new_contact is not None:
                        self._on_new_contact(inbound.external_id)
            for mid in delivery.reads:
                await self._on_report(DeliveryReport(CHANNEL, mid, Reported.READ))
        except ValueTooLong as error:  # the schema should have caught it: refuse, store nothing
            log.error("Instagram event with a value too long for its column: %s", error)
            return bad_request(str(error))
        except SQLAlchemyError:
            log.exception("could not store an Instagram delivery; Meta will send it again")
            return web.Response(status=503, text="temporarily unavailable")
        finally:
            if stored:
                self._on_stored()
        return web.Response(text="EVENT_RECEIVED")


class ProfileNames:
    """Fills in the display name of new Instagram contacts, after their message is stored.

    The webhook carries only the Instagram-scoped id; the name comes from the User
    Profile API (``GET /{IGSID}?fields=name,username``), asked in the background so the
    webhook still answers at once.
    """

    def __init__(
        self,
        lookup: Callable[[str], Awaitable[str | None]],
        known: Callable[[str], Awaitable[bool]],
        remember: Callable[[str, str], Awaitable[None]],
    ) -> None:
        self._lookup = lookup
        self._known = known
        self._remember = remember
        self._asked: set[str] = set()
        self._tasks = BackgroundTasks()

    def contact_seen(self, igsid: str) -> None:
        if igsid in self._asked:
            return
        self._asked.add(igsid)
        self._tasks.spawn(self._fill(igsid))

    async def _fill(self, igsid: str) -> None:
        try:
            if await self._known(igsid):
                return
            name = await self._lookup(igsid)
            if name:
                await self._remember(igsid, name)
        except Exception:  # a profile name is a nicety: never let it break anything
            log.info("no profile name for Instagram user %s", igsid, exc_info=True)

    async def wait(self) -> None:
        await self._tasks.settle()

    async def close(self) -> None:
        await self._tasks.cancel()
