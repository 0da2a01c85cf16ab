"""The channel simulator: act as a WhatsApp or Instagram customer, without any account.

Served by the gateway on ``/simulator`` when ``VETRINA_SIMULATOR`` is on (the default in
development; never in production). The page posts what the person types here; the
handlers turn it into the provider's documented webhook, sign it with the channel's
(development) credentials and send it to the gateway's own webhook URL — the same path a
real Twilio or Meta request takes. Replies are read back from the local fake provider
that the channel sends to (see :mod:`channels.fakes`), so nothing leaves the machine.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from channels.fakes.meta_fake import MetaFake
from channels.fakes.twilio_fake import TwilioFake

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent / "static" / "simulator.html"
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_IGSID = re.compile(r"^[0-9A-Za-z_-]{3,64}$")


def _clean(value: Any, limit: int = 2000) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class Simulator:
    def __init__(
        self,
        *,
        public_url: str,
        twilio_fake: TwilioFake | None,
        meta_fake: MetaFake | None,
    ) -> None:
        self._public_url = public_url.rstrip("/")
        self._twilio = twilio_fake
        self._meta = meta_fake

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/simulator", self.page)
        app.router.add_get("/simulator/api/channels", self.channels)
        app.router.add_post("/simulator/api/whatsapp", self.whatsapp)
        app.router.add_post("/simulator/api/instagram", self.instagram)
        app.router.add_get("/simulator/api/replies", self.replies)

    async def page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def channels(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"whatsapp": self._twilio is not None, "instagram": self._meta is not None}
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="expected JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return data

    async def whatsapp(self, request: web.Request) -> web.Response:
        if self._twilio is None:
            raise web.HTTPNotFound(text="WhatsApp is connected to a real Twilio account here")
        data = await self._body(request)
        number = _clean(data.get("number"), 20)
        if not _PHONE.match(number):
            raise web.HTTPBadRequest(text="number: digits, with an optional +")
        latitude, longitude = _float(data.get("latitude")), _float(data.get("longitude"))
        media_url = _clean(data.get("media_url"), 500)
        params = self._twilio.incoming(
            number if number.startswith("+") else f"+{number}",
            _clean(data.get("text")),
            profile_name=_clean(data.get("name"), 100) or None,
            media=(
                [(media_url, _clean(data.get("media_type"), 60) or "image/jpeg")]
                if media_url else None
            ),
            latitude=latitude if longitude is not None else None,
            longitude=longitude if latitude is not None else None,
            label=_clean(data.get("label"), 100) or None,
        )
        status, _ = await self._twilio.deliver(f"{self._public_url}/webhooks/whatsapp", params)
        return web.json_response({"webhook_status": status, "message_sid": params["MessageSid"]})

    async def instagram(self, request: web.Request) -> web.Response:
        if self._meta is None:
            raise web.HTTPNotFound(text="Instagram is connected to a real Meta app here")
        data = await self._body(request)
        igsid = _clean(data.get("igsid"), 64)
        if not _IGSID.match(igsid):
            raise web.HTTPBadRequest(text="igsid: letters and digits")
        name = _clean(data.get("name"), 100)
        if name:
            self._meta.profiles[igsid] = {"name": name, "username": name.lower().replace(" ", "_")}
        image_url = _clean(data.get("image_url"), 500)
        quick = data.get("quick_reply") if isinstance(data.get("quick_reply"), dict) else None
        event = self._meta.message_event(
            igsid,
            _clean(quick.get("title")) if quick else (_clean(data.get("text")) or None),
            attachments=[{"type": "image", "payload": {"url": image_url}}] if image_url else None,
            quick_reply_payload=_clean(quick.get("payload")) if quick else None,
        )
        status, _ = await self._meta.deliver(
            f"{self._public_url}/webhooks/instagram", self._meta.batch([[event]])
        )
        return web.json_response({"webhook_status": status, "mid": event["message"]["mid"]})

    async def replies(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel")
        user = request.query.get("user", "")
        items: list[dict[str, Any]] = []
        if channel == "whatsapp" and self._twilio is not None:
            number = user if user.startswith("+") else f"+{user}"
            for m in self._twilio.sent_to(number):
                items.append({
                    "id": m.sid, "text": m.body, "media": m.media_urls, "status": m.status,
                    "template": m.content_sid, "variables": m.content_variables,
                })
        elif channel == "instagram" and self._meta is not None:
            for event in self._meta.sent_to(user):
                items.append({
                    "id": event["mid"], "text": event["text"],
                    "quick_replies": event["quick_replies"],
                    "attachment": event["attachment"], "tag": event["tag"],
                })
        else:
            raise web.HTTPBadRequest(text="channel: whatsapp or instagram (simulated)")
        return web.json_response({"replies": items})
