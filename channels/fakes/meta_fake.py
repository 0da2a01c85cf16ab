"""A local fake of Meta's Send API for Instagram, and of its webhooks.

API side: ``POST /{version}/me/messages`` (and ``/{version}/{account-id}/messages``) with
the access token as a Bearer header or ``access_token`` parameter and a JSON body
``{"recipient": {"id"}, "messaging_type", "tag"?, "message": {"text" | "attachment",
"quick_replies"?}}`` answers ``{"recipient_id", "message_id"}`` or a Graph error
(``{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id"}}``). It enforces
the documented limits (text ≤ 1000 bytes, ≤ 13 quick replies; titles over 20 characters
are cut as Meta does). ``GET /{version}/{igsid}?fields=name,username`` is the User
Profile API. With ``webhook_url`` set it sends the echo of each message it took, as Meta
does (``is_echo``).

Webhook side: :meth:`MetaFake.message_event` and friends build ``messaging`` events,
:meth:`MetaFake.batch` wraps them (several entries, several events each), and
:meth:`MetaFake.deliver` posts them with a valid ``X-Hub-Signature-256``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import deque
from typing import Any

import aiohttp
from aiohttp import web

from channels.background import BackgroundTasks
from channels.fakes import (
    DEV_GRAPH_VERSION,
    DEV_INSTAGRAM_ACCESS_TOKEN,
    DEV_INSTAGRAM_ACCOUNT_ID,
    DEV_META_APP_SECRET,
)

MAX_TEXT_BYTES = 1000
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20


SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")


def graph_error(status: int, code: int, message: str, *, subcode: int | None = None,
                transient: bool = False, kind: str = "OAuthException",
                headers: dict[str, str] | None = None) -> web.Response:
    error: dict[str, Any] = {
        "message": message, "type": kind, "code": code, "fbtrace_id": uuid.uuid4().hex[:11],
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return web.json_response({"error": error}, status=status, headers=headers)


def new_mid() -> str:
    raw = f"ig_message_item:1:IGMessageThread:{uuid.uuid4().int}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class MetaFake:
    def __init__(
        self,
        app_secret: str = DEV_META_APP_SECRET,
        access_token: str = DEV_INSTAGRAM_ACCESS_TOKEN,
        account_id: str = DEV_INSTAGRAM_ACCOUNT_ID,
        *,
        version: str = DEV_GRAPH_VERSION,
        webhook_url: str | None = None,
    ) -> None:
        self.app_secret = app_secret
        self.access_token = access_token
        self.account_id = account_id
        self.version = version
        self.webhook_url = webhook_url
        self.sent: list[dict[str, Any]] = []
        self.actions: list[dict[str, str]] = []  # sender actions: {"recipient", "action"}
        self.send_requests = 0
        self.profiles: dict[str, dict[str, str]] = {}
        self.echo_answers: list[int] = []
        self._failures: deque[tuple[int, int, bool, dict[str, str]]] = deque()
        self._passes_before_failure = 0
        self._http: aiohttp.ClientSession | None = None
        self._tasks = BackgroundTasks()
        self._changed = asyncio.Condition()

    # --- test controls ---------------------------------------------------------------
    def fail_next(self, times: int = 1, status: int = 500, code: int = 2, *,
                  transient: bool = True, headers: dict[str, str] | None = None,
                  after: int = 0) -> None:
        """Answer the next ``times`` sends with this error, once ``after`` more succeeded."""
        self._failures.extend([(status, code, transient, dict(headers or {}))] * times)
        self._passes_before_failure = after

    def sent_to(self, igsid: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["recipient"] == igsid]

    async def wait_for(
        self, igsid: str, count: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sent_to(igsid)) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.sent_to(igsid)

    # --- the API ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"/{self.version}/me/messages", self._send)
        app.router.add_post(f"/{self.version}/{{account}}/messages", self._send)
        app.router.add_get(f"/{self.version}/{{user}}", self._profile)
        return app

    def _token_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        bearer = header.startswith("Bearer ")
        token = header[7:] if bearer else request.query.get("access_token", "")
        # Headers may carry undecodable bytes (surrogates): they never match, never raise.
        return hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), self.access_token.encode()
        )

    async def _profile(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        profile = self.profiles.get(request.match_info["user"])
        if profile is None:
            return graph_error(400, 100, "Unsupported get request.", subcode=33,
                               kind="GraphMethodException")
        return web.json_response({**profile, "id": request.match_info["user"]})

    async def _send(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        account = request.match_info.get("account")
        if account is not None and account != self.account_id:
            return graph_error(400, 100, "Unsupported post request.", subcode=33,
                               kind="GraphMethodException")
        self.send_requests += 1
        if self._failures and self._passes_before_failure > 0:
            self._passes_before_failure -= 1
        elif self._failures:
            status, code, transient, headers = self._failures.popleft()
            return graph_error(status, code, "An unexpected error has occurred.",
                               transient=transient, headers=headers)
        try:
            body = await request.json()
        except ValueError:
            return graph_error(400, 100, "Invalid JSON body")
        recipient = (body.get("recipient") or {}).get("id") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        if not recipient:
            return graph_error(400, 100, "The parameter recipient is required")
        action = body.get("sender_action")
        if action is not None:  # typing_on / typing_off / mark_seen: no message with it
            if action not in SENDER_ACTIONS or message is not None:
                return graph_error(400, 100, "Invalid parameter sender_action")
            async with self._changed:
                self.actions.append({"recipient": str(recipient), "action": str(action)})
                self._changed.notify_all()
            return web.json_response({"recipient_id": str(recipient)})
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            return graph_error(400, 100, "The parameter message is required")
        if body.get("messaging_type") == "MESSAGE_TAG" and not body.get("tag"):
            return graph_error(400, 100, "The parameter tag is required")
        text = message.get("text") or ""
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            return graph_error(400, 100, "Length of param message[text] must be less than or "
                                         "equal to 1000", subcode=2018047)
        replies = message.get("quick_replies") or []
        if len(replies) > MAX_QUICK_REPLIES:
            return graph_error(400, 100, "param message[quick_replies] must have at most 13 "
                                         "elements")
        shown = [{**r, "title": str(r.get("title", ""))[:MAX_TITLE]} for r in replies]
        mid = new_mid()
        record = {
            "mid": mid,
            "recipient": str(recipient),
            "messaging_type": body.get("messaging_type"),
            "tag": body.get("tag"),
            "text": text,
            "quick_replies": shown,
            "attachment": message.get("attachment"),
            "at": time.time(),
        }
        async with self._changed:
            self.sent.append(record)
            self._changed.notify_all()
        if self.webhook_url:
            echo = self.batch([[self.echo_event(str(recipient), text, mid)]])
            self._tasks.spawn(self._echo(echo))
        return web.json_response({"recipient_id": str(recipient), "message_id": mid})

    async def _echo(self, payload: dict[str, Any]) -> None:
        try:
            status, _ = await self.deliver(str(self.webhook_url), payload)
        except aiohttp.ClientError:
            status = 0
        self.echo_answers.append(status)

    # --- the webhook side --------------------------------------------------------------
    @staticmethod
    def _now_ms() -> int:
        return int(time.time() * 1000)

    def message_event(
        self,
        igsid: str,
        text: str | None = None,
        *,
        mid: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        quick_reply_payload: str | None = None,
        reply_to_story: dict[str, str] | None = None,
        timestamp: int | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"mid": mid or new_mid()}
        if text is not None:
            message["text"] = text
        if attachments:
            message["attachments"] = attachments
        if quick_reply_payload is not None:
            message["quick_reply"] = {"payload": quick_reply_payload}
        if reply_to_story is not None:
            message["reply_to"] = {"story": reply_to_story}
        return {
            "sender": {"id": igsid},
            "recipient": {"id": self.account_id},
            "timestamp": timestamp or self._now_ms(),
            "message": message,
        }

    def echo_event(self, igsid: str, text: str, mid: str | None = None) -> dict[str, Any]:
        return {
            "sender": {"id": self.account_id},
            "recipient": {"id": igsid},
            "timestamp": self._now_ms(),
            "message": {"mid": mid or new_mid(), "text": text, "is_echo": True},
        }

    def read_event(self, igsid: str, mid: str) -> dict[str, Any]:
        return {
            "sender": {"id": igsid}, "recipient": {"id": self.account_id},
            "timestamp": self._now_ms(), "read": {"mid": mid},
        }

    def reaction_event(self, igsid: str, mid: str, emoji: str = "❤️") -> dict[str, Any]:
        return {
            "sender": {"id": igsid}, "recipient": {"id": self.account_id},
            "timestamp": self._now_ms(),
            "reaction": {"mid": mid, "action": "react", "reaction": "love", "emoji": emoji},
        }

    def batch(self, entries: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """A webhook delivery: one ``entry`` per list of ``messaging`` events."""
        return {
            "object": "instagram",
            "entry": [
                {"id": self.account_id, "time": self._now_ms(), "messaging": events}
                for events in entries
            ],
        }

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()

    async def deliver(
        self, url: str, payload: dict[str, Any] | bytes, *, signature: str | None = None
    ) -> tuple[int, str]:
        """POST a webhook to ``url`` signed as Meta signs it (or with ``signature``)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature if signature is not None else self.sign(body),
        }
        async with self._http.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()

    async def settle(self) -> None:
        await self._tasks.settle()

    async def close(self) -> None:
        await self._tasks.cancel()
        if self._http is not None:
            await self._http.close()
