"""Sending Instagram messages through Meta's Send API with httpx.

``POST {META_GRAPH_BASE_URL}/me/messages`` with the access token as a Bearer header and
``{"recipient": {"id": IGSID}, "messaging_type": …, "message": {…}}``; the answer is
``{"recipient_id": …, "message_id": …}``. ``/me`` is the account the token belongs to: a
Page token on ``graph.facebook.com`` (Messenger API for Instagram) or an Instagram
token on ``graph.instagram.com`` (Instagram API with Instagram Login).

Windows: within 24 hours of the customer's last message, ``messaging_type=RESPONSE``;
a consultant's reply up to 7 days after it, ``MESSAGE_TAG`` with ``tag=HUMAN_AGENT``;
anything else is *held* with the reason (Instagram has no templates for the rest).

Errors: HTTP 429 and 5xx, Graph errors flagged ``is_transient``, and the rate-limit codes
(4, 17, 32, 613, 80002, 80006) are retried by the outbox with backoff, waiting at least
as long as ``Retry-After`` or the ``estimated_time_to_regain_access`` of the
``X-Business-Use-Case-Usage`` / ``X-App-Usage`` headers say — and until then no other
message is sent either,
by any gateway instance: the pause is kept in the database
(:mod:`vetrina.conversations.sending`), as are the parts of a split message already
accepted, so a retry on any instance sends only the rest. "Outside the allowed window"
(code 10, subcodes 2018278 and 2534022) holds the message; other errors are final.
"""

from __future__ import annotations

import json
import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from channels.instagram import CHANNEL
from channels.instagram.render import messages
from vetrina.conversations.models import Author
from vetrina.conversations.ports import DeliveryError, DeliveryHeld, OutboundView
from vetrina.conversations.reach import HUMAN_AGENT_WINDOW, STANDARD_WINDOW, recipient
from vetrina.conversations.sending import forget_parts, parts_sent, pause, paused_for, record_part
from vetrina.settings import MetaSettings
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0
MAX_WAIT = 3600.0
RATE_LIMIT_CODES = {4, 17, 32, 613, 80002, 80006}
TRANSIENT_CODES = {1, 2, 1200}
OUTSIDE_WINDOW = {(10, 2018278), (10, 2534022)}
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-App-Usage", "X-Page-Usage")
MAX_STORED_ID = 200


def _retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _regain_minutes(usage: Any) -> list[float]:
    """Every ``estimated_time_to_regain_access`` in a usage header's JSON, any nesting."""
    found: list[float] = []
    if isinstance(usage, dict):
        for key, value in usage.items():
            if key == "estimated_time_to_regain_access" and isinstance(value, (int, float)):
                found.append(float(value))
            else:
                found.extend(_regain_minutes(value))
    elif isinstance(usage, list):
        for item in usage:
            found.extend(_regain_minutes(item))
    return found


def rate_limit_wait(headers: httpx.Headers) -> float | None:
    """Seconds the rate-limit headers ask us to wait, if any (capped at an hour)."""
    waits: list[float] = []
    if headers.get("Retry-After"):
        seconds = _retry_after(headers["Retry-After"])
        if seconds:
            waits.append(seconds)
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            usage = _regain_minutes(json.loads(raw))
            waits.extend(minutes * 60 for minutes in usage if minutes > 0)
        except ValueError:
            continue
    return min(max(waits), MAX_WAIT) if waits else None


def graph_error(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


class InstagramSender:
    """The Instagram :class:`~vetrina.conversations.ports.ChannelSender`."""

    def __init__(self, settings: MetaSettings, db: Database, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._db = db
        self._http = http
        # The account's rate-limit pause is shared by every instance (in the database).
        self.pause_key = f"{CHANNEL}:{settings.account_id}"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._settings.access_token}"}

    async def send(self, message: OutboundView) -> str | None:
        wait = await paused_for(self._db, self.pause_key)
        if wait is not None:
            raise DeliveryError("Instagram rate limit: waiting", transient=True, retry_after=wait)
        reach = await recipient(self._db, message.customer_id, CHANNEL)
        if reach is None:
            raise DeliveryError("the customer has no Instagram identity", transient=False)
        if reach.within(STANDARD_WINDOW):
            envelope: dict[str, Any] = {"messaging_type": "RESPONSE"}
        elif message.author == Author.CONSULTANT.value and reach.within(HUMAN_AGENT_WINDOW):
            envelope = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        else:
            last = (
                f"{reach.last_inbound_at:%Y-%m-%d %H:%M} UTC" if reach.last_inbound_at else "never"
            )
            raise DeliveryHeld(
                "outside Instagram's messaging window (customer's last message: "
                f"{last}); only a consultant may answer, within 7 days"
            )
        bodies = messages(message, reach.language)
        if not bodies:
            raise DeliveryError("nothing to send: empty message", transient=False)
        # Parts already accepted, by any instance, are not sent again.
        sent = await parts_sent(self._db, message.id) if len(bodies) > 1 else []
        try:
            for index in range(len(sent), len(bodies)):
                request = {
                    "recipient": {"id": reach.external_id}, **envelope, "message": bodies[index]
                }
                provider_id = await self._post(request)
                if len(bodies) > 1:
                    await record_part(self._db, message.id, index, provider_id)
                sent.append(provider_id)
        except DeliveryError as error:
            if not error.transient:
                await forget_parts(self._db, message.id)
            raise
        if len(bodies) > 1:
            await forget_parts(self._db, message.id)
        last_id = sent[-1] if sent else None
        return last_id if last_id and len(last_id) <= MAX_STORED_ID else None

    async def consultant_typing(self, customer_id: str, name: str) -> None:
        """Show Instagram's typing indicator while a consultant writes (Send API
        ``sender_action: typing_on``). Best effort: only inside the 24-hour window, never
        while the account is rate-limited, and a refusal is logged, not retried."""
        if await paused_for(self._db, self.pause_key) is not None:
            return
        reach = await recipient(self._db, customer_id, CHANNEL)
        if reach is None or not reach.within(STANDARD_WINDOW):
            return
        try:
            await self._post({"recipient": {"id": reach.external_id}, "sender_action": "typing_on"})
        except DeliveryError as error:
            log.info("Instagram typing indicator not shown: %s", error)

    async def _post(self, request: dict[str, Any]) -> str:
        url = f"{self._settings.graph_base_url}/me/messages"
        try:
            response = await self._http.post(
                url, json=request, headers=self._auth, timeout=REQUEST_TIMEOUT
            )
        except httpx.HTTPError as unreachable:
            raise DeliveryError(
                f"Meta unreachable: {unreachable!r}", transient=True
            ) from unreachable
        wait = rate_limit_wait(response.headers)
        if wait:
            await pause(self._db, self.pause_key, wait, f"HTTP {response.status_code}")
        if response.status_code == 200:
            try:
                return str(response.json().get("message_id") or "")
            except ValueError:
                return ""
        error = graph_error(response)
        code, subcode = error.get("code"), error.get("error_subcode")
        detail = (
            f"HTTP {response.status_code}: Meta error {code}"
            f"{f'/{subcode}' if subcode else ''}: {error.get('message') or response.text[:200]}"
        )
        if (code, subcode) in OUTSIDE_WINDOW:
            raise DeliveryHeld(detail)
        if (
            response.status_code == 429
            or response.status_code >= 500
            or code in RATE_LIMIT_CODES
            or code in TRANSIENT_CODES
            or error.get("is_transient") is True
        ):
            raise DeliveryError(detail, transient=True, retry_after=wait)
        if code == 190:
            log.error("Meta refused INSTAGRAM_ACCESS_TOKEN: %s", detail)
        raise DeliveryError(detail, transient=False)

    async def profile_name(self, igsid: str) -> str | None:
        """The customer's name (or username) from the User Profile API."""
        try:
            response = await self._http.get(
                f"{self._settings.graph_base_url}/{igsid}",
                params={"fields": "name,username"},
                headers=self._auth,
                timeout=REQUEST_TIMEOUT,
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        data = response.json()
        name = data.get("name") or data.get("username")
        return str(name) if name else None
