"""Sending WhatsApp messages through Twilio's Messages API with the official client.

The ``twilio`` client runs on its asynchronous HTTP client (aiohttp), so a send never
blocks the event loop. ``TWILIO_API_BASE_URL`` points it somewhere else than
``https://api.twilio.com`` (the local fake in tests and in the simulator): the transport
rewrites the scheme and host of each request and nothing else, so the request the
client builds — path, form fields, Basic auth — is the production one.

The 24-hour rule: a free-form message goes out only within 24 hours of the customer's
last message on WhatsApp. Outside it, a message that must go out — one whose payload
has ``must_send`` (see :mod:`vetrina.conversations.reach`), or a consultant's late reply
(template ``consultant_reply``, variable ``1`` = the reply) — is sent as the approved
template configured as ``TWILIO_TEMPLATE_<NAME>`` (a Content SID); anything else, or a
template that is not configured, is *held* with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException  # type: ignore[import-untyped]
from twilio.http.async_http_client import (  # type: ignore[import-untyped]
    AsyncTwilioHttpClient,
)
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from channels.whatsapp import CHANNEL
from channels.whatsapp.render import Part, render
from channels.whatsapp.status import OUTSIDE_WINDOW, describe, is_transient
from vetrina.conversations.delivery import join_provider_ids
from vetrina.conversations.models import Author
from vetrina.conversations.ports import DeliveryError, DeliveryHeld, OutboundView
from vetrina.conversations.reach import STANDARD_WINDOW, must_send, recipient
from vetrina.conversations.sending import forget_parts, parts_sent, record_part
from vetrina.settings import DEFAULT_TWILIO_API_BASE_URL, TwilioSettings
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

CONSULTANT_TEMPLATE = "consultant_reply"
REQUEST_TIMEOUT = 15.0


class TwilioTransport(AsyncTwilioHttpClient):  # type: ignore[misc]  # untyped base
    """Twilio's own async HTTP client, with a timeout and an optional base-URL override."""

    def __init__(self, api_base_url: str = DEFAULT_TWILIO_API_BASE_URL,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        base = urlsplit(api_base_url.rstrip("/"))
        default = urlsplit(DEFAULT_TWILIO_API_BASE_URL)
        same = (base.scheme, base.netloc) == (default.scheme, default.netloc)
        self._base = None if same else base

    def rewrite(self, url: str) -> str:
        if self._base is None:
            return url
        parts = urlsplit(url)
        if not (parts.hostname or "").endswith("twilio.com"):
            return url
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return await super().request(
            method, self.rewrite(url), params=params, data=data, headers=headers, auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )


def rest_error(error: TwilioException) -> DeliveryError:
    """A Twilio REST error as a delivery error: retry, hold, or give up."""
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    code = code if isinstance(code, int) else None
    detail = describe(code, getattr(error, "msg", None) or str(error))
    if code == OUTSIDE_WINDOW:
        return DeliveryHeld(detail)
    if status == 429 or (isinstance(status, int) and status >= 500) or is_transient(code):
        return DeliveryError(f"HTTP {status}: {detail}", transient=True)
    if status in (401, 403):
        log.error("Twilio refused the credentials (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)")
    return DeliveryError(f"HTTP {status}: {detail}", transient=False)


class TwilioSender:
    """The WhatsApp :class:`~vetrina.conversations.ports.ChannelSender`."""

    def __init__(
        self,
        settings: TwilioSettings,
        db: Database,
        transport: TwilioTransport,
        status_callback_url: str | None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._transport = transport
        # environment={}: settings.py is the one place that reads the environment.
        self._client = Client(
            settings.account_sid, settings.auth_token, http_client=transport, environment={}
        )
        self._status_callback_url = status_callback_url

    async def close(self) -> None:
        await self._transport.close()

    async def send(self, message: OutboundView) -> str | None:
        reach = await recipient(self._db, message.customer_id, CHANNEL)
        if reach is None:
            raise DeliveryError("the customer has no WhatsApp number", transient=False)
        if reach.within(STANDARD_WINDOW):
            parts = render(message, reach.language)
        else:
            parts = [self._template_part(message, reach.last_inbound_at)]
        if not parts:
            raise DeliveryError("nothing to send: empty message", transient=False)
        # Parts already accepted, by any instance (in the database), are not sent again.
        sent = await parts_sent(self._db, message.id) if len(parts) > 1 else []
        try:
            for index in range(len(sent), len(parts)):
                sid = await self._create(f"whatsapp:{reach.external_id}", parts[index], message.id)
                if len(parts) > 1:
                    await record_part(self._db, message.id, index, sid)
                sent.append(sid)
        except DeliveryError as error:
            if not error.transient:
                await forget_parts(self._db, message.id)
            raise
        if len(parts) > 1:
            await forget_parts(self._db, message.id)
        return join_provider_ids(sent)

    def _template_part(self, message: OutboundView, last_inbound_at: object) -> Part:
        spec = must_send(message.payload)
        if spec is None and message.author == Author.CONSULTANT.value:
            spec = {"template": CONSULTANT_TEMPLATE, "variables": {"1": message.text}}
        when = f"last customer message {last_inbound_at:%Y-%m-%d %H:%M} UTC" if last_inbound_at \
            else "the customer never wrote on WhatsApp"
        if spec is None:
            raise DeliveryHeld(
                f"outside WhatsApp's 24-hour window ({when}); free-form messages are not allowed"
            )
        sid = self._settings.template_sid(spec["template"])
        if sid is None:
            raise DeliveryHeld(
                f"outside WhatsApp's 24-hour window ({when}); no approved template configured "
                f"for {spec['template']!r} (TWILIO_TEMPLATE_{spec['template'].upper()})"
            )
        return Part(content_sid=sid, content_variables=json.dumps(spec["variables"]))

    async def _create(self, to: str, part: Part, message_id: int) -> str:
        kwargs: dict[str, Any] = {"to": to, "from_": self._settings.whatsapp_from}
        if part.content_sid:
            kwargs["content_sid"] = part.content_sid
            if part.content_variables:
                kwargs["content_variables"] = part.content_variables
        else:
            if part.body:
                kwargs["body"] = part.body
            if part.media_urls:
                kwargs["media_url"] = list(part.media_urls)
        if self._status_callback_url:
            kwargs["status_callback"] = f"{self._status_callback_url}?message_id={message_id}"
        try:
            created = await self._client.messages.create_async(**kwargs)
        except TwilioException as error:
            raise rest_error(error) from error
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise DeliveryError(f"Twilio unreachable: {error!r}", transient=True) from error
        if not created.sid:
            raise DeliveryError("Twilio accepted the message without a sid", transient=True)
        return str(created.sid)
