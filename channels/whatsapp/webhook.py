"""Twilio's WhatsApp webhooks: incoming messages and delivery status callbacks.

Every request's ``X-Twilio-Signature`` is checked with the official validator against
the URL Twilio called — the gateway's *public* URL (``VETRINA_PUBLIC_URL``), not the one
the request arrived at, so that it holds behind a TLS-terminating proxy. A missing or
wrong signature gets 403 and nothing is stored. A valid message is stored (once per
``MessageSid``) and answered with an empty TwiML response at once; the assistant runs
afterwards.

Incoming parameters (https://www.twilio.com/docs/messaging/guides/webhook-request):
``MessageSid``, ``From`` / ``To`` (``whatsapp:+…``), ``Body``, ``ProfileName``, ``WaId``,
``NumMedia`` with ``MediaUrl{N}`` / ``MediaContentType{N}``, ``Latitude`` /
``Longitude`` (with ``Address`` / ``Label``) for a shared location, ``ButtonPayload`` /
``ButtonText`` when a template's quick-reply button is tapped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from channels.webhooks import bad_request, forbidden, inbound_text, read_body
from channels.whatsapp import CHANNEL
from channels.whatsapp.render import match_choice
from channels.whatsapp.schema import MalformedWebhook, read_incoming, read_message_id
from channels.whatsapp.status import parse_status
from vetrina.conversations.delivery import DeliveryReport, Outcome
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.reach import offered_buttons
from vetrina.storage.database import Database
from vetrina.storage.lengths import ValueTooLong

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_FIELDS = 200


# A signed request that is not a message we can read.
BadWebhook = MalformedWebhook


def address_number(address: str) -> str:
    """``whatsapp:+393331234567`` → ``+393331234567``."""
    return address.split(":", 1)[1] if address.startswith("whatsapp:") else address


def _media_placeholder(content_type: str) -> str:
    kind = content_type.split("/", 1)[0]
    return {"image": "[image]", "video": "[video]", "audio": "[audio]"}.get(kind, "[document]")


def _coordinate(raw: str | None, bound: float) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if math.isfinite(value) and -bound <= value <= bound else None


def location_intent(latitude: float, longitude: float) -> str:
    """The Rasa message for a shared location: intent ``share_location`` with entities."""
    return "/share_location" + json.dumps({"latitude": latitude, "longitude": longitude})


def parse_incoming(params: Mapping[str, str], max_chars: int) -> InboundMessage:
    """A Twilio WhatsApp webhook's parameters as an :class:`InboundMessage`.

    The parameters are validated first (:func:`channels.whatsapp.schema.read_incoming`);
    :class:`BadWebhook` when they are not what Twilio sends.
    """
    form = read_incoming(params)
    sid = (form.MessageSid or form.SmsMessageSid or "").strip()
    sender = (form.From or "").strip()
    if not sid or not sender:
        raise BadWebhook("MessageSid and From are required")
    number = address_number(sender)
    metadata: dict[str, Any] = {}
    text = inbound_text(form.Body, max_chars)

    media = [
        {"url": url, "content_type": content_type or "application/octet-stream"}
        for url, content_type in form.media
    ]
    if media:
        metadata["media"] = media
        if not text:
            text = _media_placeholder(media[0]["content_type"])

    latitude = _coordinate(form.Latitude, 90)
    longitude = _coordinate(form.Longitude, 180)
    if latitude is not None and longitude is not None:
        location: dict[str, Any] = {"lat": latitude, "lon": longitude}
        for value, key in ((form.Address, "address"), (form.Label, "label")):
            if value:
                location[key] = inbound_text(value, 300)
        metadata["location"] = location
        metadata["assistant_text"] = location_intent(latitude, longitude)
        shown = f"📍 {latitude:.4f}, {longitude:.4f}"
        if location.get("label"):
            shown += f" ({location['label']})"
        text = f"{text}\n{shown}".strip() if text else shown

    button_payload = (form.ButtonPayload or "").strip()
    if button_payload:
        metadata["assistant_text"] = button_payload[:max_chars]
        text = text or inbound_text(form.ButtonText, max_chars)

    if not text:
        kind = (form.MessageType or "message").strip() or "message"
        text = f"[{kind[:40]}]"
    return InboundMessage(
        channel=CHANNEL,
        external_id=number,
        text=text,
        provider_message_id=sid,
        display_name=inbound_text(form.ProfileName, 200) or None,
        metadata=metadata,
    )


def parse_form(body: bytes) -> MultiDict[str]:
    """An ``application/x-www-form-urlencoded`` body; ``ValueError`` when malformed."""
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError
    pairs = parse_qsl(
        text, keep_blank_values=True, strict_parsing=bool(text), errors="strict",
        max_num_fields=MAX_FIELDS,
    )
    return MultiDict(pairs)


class WhatsAppWebhook:
    def __init__(
        self,
        *,
        auth_token: str,
        public_url: str,
        db: Database,
        inbox: Inbox,
        on_stored: Callable[[], None],
        on_report: Callable[[DeliveryReport], Awaitable[Outcome]],
        max_bytes: int,
        max_chars: int,
    ) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")
        self._db = db
        self._inbox = inbox
        self._on_stored = on_stored
        self._on_report = on_report
        self._max_bytes = max_bytes
        self._max_chars = max_chars

    def public_url_of(self, request: web.Request) -> str:
        """The URL Twilio signed: the public base URL plus the path and query it called."""
        return self._public_url + request.raw_path

    async def _verified_params(self, request: web.Request) -> MultiDict[str] | web.Response:
        body = await read_body(request, self._max_bytes)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature or not signature.isascii():  # never a valid signature
            return forbidden()
        if request.content_type != "application/x-www-form-urlencoded":
            return bad_request("expected application/x-www-form-urlencoded")
        try:
            params = parse_form(body)
        except ValueError:
            return bad_request("malformed form body")
        if not self._validator.validate(self.public_url_of(request), params, signature):
            log.warning("Twilio webhook with a wrong signature refused: %s", request.raw_path)
            return forbidden()
        return params

    async def incoming(self, request: web.Request) -> web.Response:
        params = await self._verified_params(request)
        if isinstance(params, web.Response):
            return params
        try:
            inbound = parse_incoming(params, self._max_chars)
        except BadWebhook as error:
            log.warning("signed WhatsApp webhook refused as malformed: %s", error)
            return bad_request(str(error)[:300])
        try:
            inbound = await self._resolve_choice(inbound)
            received = await self._inbox.receive(inbound)
        except ValueTooLong as error:  # the schema should have caught it: refuse, store nothing
            log.error("WhatsApp message with a value too long for its column: %s", error)
            return bad_request(str(error))
        except SQLAlchemyError:
            log.exception("could not store a WhatsApp message")
            return web.Response(status=503, text="temporarily unavailable")
        if not received.duplicate:
            self._on_stored()
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def _resolve_choice(self, inbound: InboundMessage) -> InboundMessage:
        """A reply of "2" or of an option's title to a numbered list selects that option."""
        if "assistant_text" in inbound.metadata:
            return inbound
        buttons = await offered_buttons(self._db, CHANNEL, inbound.external_id)
        choice = match_choice(inbound.text, buttons)
        if choice is None:
            return inbound
        metadata = {
            **inbound.metadata,
            "assistant_text": choice["payload"] or choice["title"],
            "chosen_option": choice["title"],
        }
        return dataclasses.replace(inbound, metadata=metadata)

    async def status(self, request: web.Request) -> web.Response:
        params = await self._verified_params(request)
        if isinstance(params, web.Response):
            return params
        try:
            message_id = read_message_id(request.query.get("message_id"))
            report = parse_status(params, message_id)
        except ValueError as error:  # MalformedWebhook included
            return bad_request(str(error)[:300])
        if report is not None:
            try:
                await self._on_report(report)
            except SQLAlchemyError:
                log.exception("could not record a WhatsApp delivery status")
                return web.Response(status=503, text="temporarily unavailable")
        return web.Response(status=204)
