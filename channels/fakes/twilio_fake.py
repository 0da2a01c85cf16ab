"""A local fake of Twilio's Messages API for WhatsApp, and of its webhooks.

API side: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (Basic auth with the
account SID and auth token, form fields ``To``, ``From``, ``Body``, ``MediaUrl``,
``ContentSid``, ``ContentVariables``, ``StatusCallback``) answers 201 with a Message
resource, or Twilio's error JSON (``{"code", "message", "more_info", "status"}``).
``GET`` on the same path lists what was sent. After a message is created, signed status
callbacks (``sent``, then ``delivered``) go to its ``StatusCallback``, as Twilio does.

Webhook side: :meth:`TwilioFake.incoming` builds the form parameters of an incoming
WhatsApp message as documented, and :meth:`TwilioFake.deliver` posts them with a valid
``X-Twilio-Signature``.

Test controls: :meth:`fail_next` (answer the next creates with an HTTP error),
:meth:`fail_delivery_next` (report the next messages failed with an error code).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from channels.background import BackgroundTasks
from channels.fakes import DEV_TWILIO_ACCOUNT_SID, DEV_TWILIO_AUTH_TOKEN, DEV_TWILIO_WHATSAPP_FROM

API_VERSION = "2010-04-01"
MAX_BODY = 1600


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    media_urls: list[str]
    content_sid: str | None
    content_variables: dict[str, Any] | None
    status_callback: str | None
    status: str = "queued"
    error_code: int | None = None
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        return data


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


class TwilioFake:
    def __init__(
        self,
        account_sid: str = DEV_TWILIO_ACCOUNT_SID,
        auth_token: str = DEV_TWILIO_AUTH_TOKEN,
        whatsapp_from: str = DEV_TWILIO_WHATSAPP_FROM,
        *,
        statuses: tuple[str, ...] = ("sent", "delivered"),
        callback_delay: float = 0.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.whatsapp_from = whatsapp_from
        self.statuses = statuses
        self.callback_delay = callback_delay
        self.messages: list[SentMessage] = []
        self.create_requests = 0
        self.callbacks: list[tuple[str, int]] = []  # (status, HTTP status the webhook answered)
        self._validator = RequestValidator(auth_token)
        self._failures: deque[tuple[int, int, str]] = deque()
        self._passes_before_failure = 0
        self._delivery_failures: deque[int] = deque()
        self._http: aiohttp.ClientSession | None = None
        self._tasks = BackgroundTasks()
        self._changed = asyncio.Condition()

    # --- test controls ---------------------------------------------------------------
    def fail_next(self, times: int = 1, status: int = 500, code: int = 20500,
                  message: str = "Internal Server Error", *, after: int = 0) -> None:
        """Answer the next ``times`` creates with this error, once ``after`` more succeeded."""
        self._failures.extend([(status, code, message)] * times)
        self._passes_before_failure = after

    def fail_delivery_next(self, error_code: int, times: int = 1) -> None:
        self._delivery_failures.extend([error_code] * times)

    def sent_to(self, number: str) -> list[SentMessage]:
        address = number if number.startswith("whatsapp:") else f"whatsapp:{number}"
        return [m for m in self.messages if m.to == address]

    async def wait_for(self, number: str, count: int = 1, timeout: float = 10) -> list[SentMessage]:
        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sent_to(number)) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.sent_to(number)

    # --- the API ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        path = f"/{API_VERSION}/Accounts/{{account}}/Messages.json"
        app.router.add_post(path, self._create)
        app.router.add_get(path, self._list)
        return app

    def _authorised(self, request: web.Request) -> bool:
        if request.match_info["account"] != self.account_sid:
            return False
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.account_sid, self.auth_token)

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        return web.json_response({"messages": [self._resource(m) for m in self.messages]})

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        form = await request.post()
        self.create_requests += 1
        if self._failures and self._passes_before_failure > 0:
            self._passes_before_failure -= 1
        elif self._failures:
            return _error(*self._failures.popleft())
        to, sender = str(form.get("To") or ""), str(form.get("From") or "")
        body = str(form.get("Body") or "")
        media = [str(v) for v in form.getall("MediaUrl", [])]
        content_sid = str(form.get("ContentSid") or "") or None
        raw_variables = form.get("ContentVariables")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return _error(400, 21603, "A 'From' phone number is required.")
        if sender.startswith("whatsapp:") != to.startswith("whatsapp:"):
            return _error(
                400, 63007, "Twilio could not find a Channel with the specified From address"
            )
        if len(body) > MAX_BODY:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if not (body or media or content_sid):
            return _error(400, 21619, "A text message body or media urls must be specified.")
        variables = None
        if raw_variables is not None:
            try:
                variables = json.loads(str(raw_variables))
            except ValueError:
                variables = None
            if not isinstance(variables, dict):
                return _error(400, 21656, "The ContentVariables Parameter is invalid.")
        message = SentMessage(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            from_=sender,
            body=body,
            media_urls=media,
            content_sid=content_sid,
            content_variables=variables,
            status_callback=str(form.get("StatusCallback") or "") or None,
        )
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        if message.status_callback:
            self._tasks.spawn(self._report(message))
        return web.json_response(self._resource(message), status=201)

    def _resource(self, message: SentMessage) -> dict[str, Any]:
        now = format_datetime(datetime.now(timezone.utc), usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": message.error_code,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": None,
            "num_media": str(len(message.media_urls)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": message.status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": message.to,
            "uri": uri,
        }

    async def _report(self, message: SentMessage) -> None:
        failure = self._delivery_failures.popleft() if self._delivery_failures else None
        sequence: list[tuple[str, int | None]] = [(s, None) for s in self.statuses]
        if failure is not None:
            sequence = [("failed" if failure != 63016 else "undelivered", failure)]
        for status, code in sequence:
            if self.callback_delay:
                await asyncio.sleep(self.callback_delay)
            message.status, message.error_code = status, code
            params = {
                "ApiVersion": API_VERSION,
                "AccountSid": self.account_sid,
                "ChannelInstallSid": "XE" + "0" * 32,
                "ChannelPrefix": "whatsapp",
                "ChannelToAddress": message.to.split(":", 1)[-1],
                "From": message.from_,
                "MessageSid": message.sid,
                "MessageStatus": status,
                "SmsSid": message.sid,
                "SmsStatus": status,
                "To": message.to,
            }
            if code is not None:
                params["ErrorCode"] = str(code)
            try:
                answered, _ = await self.deliver(str(message.status_callback), params)
            except aiohttp.ClientError:
                answered = 0
            self.callbacks.append((status, answered))

    # --- the webhook side --------------------------------------------------------------
    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(self._validator.compute_signature(url, params))

    def incoming(
        self,
        from_number: str,
        body: str = "",
        *,
        profile_name: str | None = "Customer",
        media: list[tuple[str, str]] | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        address: str | None = None,
        label: str | None = None,
        button_payload: str | None = None,
        button_text: str | None = None,
        message_sid: str | None = None,
    ) -> dict[str, str]:
        """An incoming WhatsApp message's webhook parameters, as Twilio documents them."""
        sid = message_sid or "SM" + uuid.uuid4().hex
        number = from_number if from_number.startswith("+") else f"+{from_number}"
        message_type = "text"
        params = {
            "SmsMessageSid": sid,
            "NumMedia": str(len(media or [])),
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "To": self.whatsapp_from,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{number}",
            "ApiVersion": API_VERSION,
            "WaId": number.lstrip("+"),
        }
        if profile_name:
            params["ProfileName"] = profile_name
        for index, (url, content_type) in enumerate(media or []):
            params[f"MediaUrl{index}"] = url
            params[f"MediaContentType{index}"] = content_type
            message_type = content_type.split("/", 1)[0]
        if latitude is not None and longitude is not None:
            params["Latitude"], params["Longitude"] = str(latitude), str(longitude)
            if address:
                params["Address"] = address
            if label:
                params["Label"] = label
            message_type = "location"
        if button_payload is not None:
            params["ButtonPayload"] = button_payload
            params["ButtonText"] = button_text or body
            message_type = "button"
        params["MessageType"] = message_type
        return params

    async def deliver(
        self, url: str, params: dict[str, str], *, signature: str | None = None
    ) -> tuple[int, str]:
        """POST a webhook to ``url`` signed as Twilio signs it (or with ``signature``)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        signed = signature if signature is not None else self.sign(url, params)
        headers = {"X-Twilio-Signature": signed}
        async with self._http.post(url, data=params, headers=headers) as response:
            return response.status, await response.text()

    async def settle(self) -> None:
        """Wait for the status callbacks already scheduled."""
        await self._tasks.settle()

    async def close(self) -> None:
        await self._tasks.cancel()
        if self._http is not None:
            await self._http.close()
