"""The Rasa server as Vetrina's :class:`~vetrina.conversations.ports.Assistant`.

Turns go to Rasa's REST channel (``/webhooks/rest/webhook``) with ``sender`` = the
customer id and Vetrina's message id in the metadata. After a crash, the tracker
(HTTP API, token-protected) tells whether Rasa already handled a turn and what it said.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import bindparam

from vetrina.conversations.ports import AssistantUnavailable, BotReply, Button, Turn


def _link_url(button: dict[str, Any]) -> str | None:
    """The URL of a link button (``type: web_url``, http(s) only), else ``None``."""
    url = button.get("url")
    if button.get("type") != "web_url" or not isinstance(url, str):
        return None
    return url if url.startswith(("https://", "http://")) else None


def reply_from_rasa(message: dict[str, Any]) -> BotReply:
    """A REST-channel message or a tracker ``bot`` event's data, as a :class:`BotReply`."""
    buttons = tuple(
        Button(str(b.get("title", "")), str(b.get("payload", "")), _link_url(b))
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
    def __init__(
        self, client: httpx.AsyncClient, base_url: str, token: str, timeout: float
    ) -> None:
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
        if not messages and self._token:
            # Rasa's REST channel answers 200 with no messages when the turn failed inside
            # it (lock store or tracker store down): only the tracker tells a silent turn
            # from a failed one. Not in the tracker: failed, so it is retried.
            recorded = await self.replies_already_given(turn)
            if recorded is None:
                raise AssistantUnavailable("Rasa answered nothing and did not record the turn")
            return recorded
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


class RasaMemory:
    """The assistant's memory of each customer (:class:`~vetrina.customers.ports.AssistantMemory`).

    Slots are set through Rasa's HTTP API (``POST /conversations/{id}/tracker/events``,
    which takes the conversation's lock, so it is safe while Rasa runs). Reading and
    erasing a customer's events go straight to the SQL tracker store (``events`` table,
    by ``sender_id``): Rasa has no API to delete a conversation, and its SQL tracker store
    reads the table on every turn, so nothing stays cached.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        token: str,
        tracker_store_url: str,
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._tracker_store_url = tracker_store_url
        self._timeout = timeout

    async def remember(self, customer_id: str, slots: dict[str, Any]) -> None:
        """Append the slots to the customer's tracker, stamped by Rasa's own clock.

        Posted twice on purpose: for a conversation Rasa has not seen yet, the first post
        also starts its session, and Rasa stamps that ``session_started`` *after* the
        posted events; its SQL tracker store then loads only events from the latest session
        start on (by timestamp), so the first post's slots would be lost. The second post
        lands in the started session. Duplicated slot events are harmless.
        """
        if not slots:
            return
        events = [{"event": "slot", "name": name, "value": value} for name, value in slots.items()]
        for _ in range(2):
            try:
                response = await self._client.post(
                    f"{self._base_url}/conversations/{customer_id}/tracker/events",
                    params={"token": self._token, "include_events": "NONE"},
                    json=events,
                    timeout=self._timeout,
                )
            except httpx.HTTPError as error:
                raise AssistantUnavailable(f"Rasa unreachable: {error!r}") from error
            if response.status_code != 200:
                raise AssistantUnavailable(
                    f"Rasa refused the slots (HTTP {response.status_code}): "
                    f"{response.text[:200]}"
                )

    async def _tracker_db(self) -> Any:
        from sqlalchemy.ext.asyncio import create_async_engine

        from vetrina.storage.database import normalise_url

        return create_async_engine(normalise_url(self._tracker_store_url))

    def _no_tracker_file(self) -> bool:
        """A SQLite tracker store whose file does not exist yet has recorded nothing
        (opening it would fail: its folder may not exist either)."""
        from sqlalchemy.engine import make_url

        url = make_url(self._tracker_store_url)
        return (
            url.drivername.startswith("sqlite")
            and url.database not in (None, "", ":memory:")
            and not Path(url.database).exists()
        )

    async def recall(self, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not self._tracker_store_url or not customer_ids or self._no_tracker_file():
            return []
        from sqlalchemy import text

        engine = await self._tracker_db()
        try:
            async with engine.connect() as connection:
                if not await _has_events_table(connection):
                    return []
                rows = (
                    await connection.execute(
                        text(
                            "SELECT sender_id, type_name, timestamp, data FROM events "
                            "WHERE sender_id IN :ids ORDER BY id"
                        ).bindparams(bindparam("ids", expanding=True)),
                        {"ids": list(customer_ids)},
                    )
                ).all()
        finally:
            await engine.dispose()
        return [
            {"sender_id": r.sender_id, "event": r.type_name, "timestamp": r.timestamp,
             "data": _json_or_text(r.data)}
            for r in rows
        ]

    async def forget(self, customer_ids: Sequence[str]) -> int:
        if not self._tracker_store_url or not customer_ids or self._no_tracker_file():
            return 0
        from sqlalchemy import text

        engine = await self._tracker_db()
        try:
            async with engine.begin() as connection:
                if not await _has_events_table(connection):
                    return 0
                result = await connection.execute(
                    text("DELETE FROM events WHERE sender_id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": list(customer_ids)},
                )
                return int(result.rowcount or 0)
        finally:
            await engine.dispose()


async def _has_events_table(connection: Any) -> bool:
    from sqlalchemy import inspect

    return bool(await connection.run_sync(lambda c: inspect(c).has_table("events")))


def _json_or_text(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value
