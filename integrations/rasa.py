"""The Rasa server as Vetrina's :class:`~vetrina.conversations.ports.Assistant`.

Turns go to Rasa's REST channel (``/webhooks/rest/webhook``) with ``sender`` = the
customer id and Vetrina's message id in the metadata. After a crash, the tracker
(HTTP API, token-protected) tells whether Rasa already handled a turn and what it said.
"""

from __future__ import annotations

from typing import Any

import httpx

from vetrina.conversations.ports import AssistantUnavailable, BotReply, Button, Turn


def reply_from_rasa(message: dict[str, Any]) -> BotReply:
    """A REST-channel message or a tracker ``bot`` event's data, as a :class:`BotReply`."""
    buttons = tuple(
        Button(str(b.get("title", "")), str(b.get("payload", "")))
        for b in message.get("buttons") or message.get("quick_replies") or []
        if isinstance(b, dict)
    )
    custom = message.get("custom")
    return BotReply(
        text=str(message.get("text") or ""),
        buttons=buttons,
        image=message.get("image"),
        custom=custom if isinstance(custom, dict) else None,
    )


def replies_in_tracker(events: list[dict[str, Any]], message_id: int) -> list[BotReply] | None:
    """The bot messages that answered Vetrina message ``message_id``, from tracker events.

    ``None`` if the turn is not in the tracker. A turn that has not finished yet (no
    ``action_listen`` after the user event) raises :class:`AssistantUnavailable`.
    """
    start = None
    for index, event in enumerate(events):
        if event.get("event") != "user":
            continue
        metadata = event.get("metadata") or {}
        if metadata.get("vetrina_message_id") == message_id:
            start = index
    if start is None:
        return None
    replies: list[BotReply] = []
    for event in events[start + 1 :]:
        kind = event.get("event")
        if kind == "user":
            break
        if kind == "bot":
            data = dict(event.get("data") or {})
            data["text"] = event.get("text")
            replies.append(reply_from_rasa(data))
        if kind == "action" and event.get("name") == "action_listen":
            return replies
    raise AssistantUnavailable(f"Rasa is still handling message {message_id}")


class RasaAssistant:
    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str, timeout: float) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    async def reply(self, turn: Turn) -> list[BotReply]:
        body = {
            "sender": turn.customer_id,
            "message": turn.text,
            "input_channel": turn.channel,
            "metadata": turn.metadata,
        }
        try:
            response = await self._client.post(
                f"{self._base_url}/webhooks/rest/webhook", json=body, timeout=self._timeout
            )
        except httpx.HTTPError as error:
            raise AssistantUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code != 200:
            raise AssistantUnavailable(f"Rasa answered HTTP {response.status_code}")
        try:
            messages = response.json()
        except ValueError as error:
            raise AssistantUnavailable("Rasa answered with invalid JSON") from error
        return [reply_from_rasa(m) for m in messages if isinstance(m, dict)]

    async def replies_already_given(self, turn: Turn) -> list[BotReply] | None:
        if not self._token:
            return None  # no API access: the turn can only be sent again
        try:
            response = await self._client.get(
                f"{self._base_url}/conversations/{turn.customer_id}/tracker",
                params={"include_events": "ALL", "token": self._token},
                timeout=self._timeout,
            )
        except httpx.HTTPError as error:
            raise AssistantUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code != 200:
            raise AssistantUnavailable(f"Rasa tracker lookup answered HTTP {response.status_code}")
        events = response.json().get("events") or []
        return replies_in_tracker(events, turn.message_id)

    async def ready(self) -> str | None:
        """``None`` when Rasa has a model loaded, else the reason it is not ready."""
        try:
            response = await self._client.get(
                f"{self._base_url}/status", params={"token": self._token}, timeout=3
            )
        except httpx.HTTPError as error:
            return f"unreachable: {error.__class__.__name__}"
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        if not response.json().get("model_id"):
            return "no model loaded"
        return None


async def action_server_ready(client: httpx.AsyncClient, base_url: str) -> str | None:
    """``None`` when the rasa-sdk action server answers its health check."""
    try:
        response = await client.get(f"{base_url.rstrip('/')}/health", timeout=3)
    except httpx.HTTPError as error:
        return f"unreachable: {error.__class__.__name__}"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"
