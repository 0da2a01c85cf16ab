"""A web-chat customer for tests and benchmarks: python-socketio speaking Rasa's protocol
with Vetrina's extension (``"vetrina": 1``: replies carry ids and are confirmed with
``vetrina_seen``, as the widget does)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import socketio


class WebCustomer:
    """Connects like the widget does and collects every event the gateway sends."""

    def __init__(self, base_url: str, session_id: str | None = None) -> None:
        self.base_url = base_url
        self.session_id = session_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = {}
        self.shown: set[int] = set()  # reply ids received
        for name in ("session_confirm", "bot_uttered", "message_ack", "notice", "vetrina_error", "history",
                     "vetrina_typing", "vetrina_status"):
            self.events[name] = asyncio.Queue()
            self.sio.on(name, self._collector(name))

    def _collector(self, name: str):  # type: ignore[no-untyped-def]
        async def collect(data: Any = None) -> None:
            if name == "bot_uttered" and isinstance(data, dict) and isinstance(data.get("id"), int):
                if data["id"] in self.shown:
                    await self.sio.emit("vetrina_seen", {"ids": [data["id"]]})
                    return  # sent again (at least once): shown once, as the widget does
                self.shown.add(data["id"])
                await self.sio.emit("vetrina_seen", {"ids": [data["id"]]})
            await self.events[name].put(data)

        return collect

    async def connect(self) -> WebCustomer:
        await self.sio.connect(self.base_url, transports=["websocket"], socketio_path="socket.io")
        await self.sio.emit("session_request", {"session_id": self.session_id, "vetrina": 1})
        confirmed = await self.next("session_confirm")
        self.session_id = confirmed if isinstance(confirmed, str) else confirmed["session_id"]
        return self

    async def close(self) -> None:
        await self.sio.disconnect()

    async def next(self, event: str, timeout: float = 30) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout)

    async def send(self, text: Any, message_id: str | None = None, **custom: Any) -> str:
        message_id = message_id or uuid.uuid4().hex
        await self.sio.emit(
            "user_uttered",
            {"message": text, "session_id": self.session_id,
             "customData": {"message_id": message_id, **custom}},
        )
        return message_id

    async def say(self, text: str, timeout: float = 60, **custom: Any) -> list[dict[str, Any]]:
        """Send ``text`` and return the bot messages that answer it."""
        await self.send(text, **custom)
        ack = await self.next("message_ack", timeout=10)
        replies = [await self.next("bot_uttered", timeout)]
        while True:  # a turn may have several messages: take what follows closely
            try:
                replies.append(await self.next("bot_uttered", timeout=1.0))
            except asyncio.TimeoutError:
                break
        assert ack["id"] > 0
        return replies

    async def history(self) -> list[dict[str, Any]]:
        await self.sio.emit("history_request", {"session_id": self.session_id})
        return (await self.next("history"))["messages"]


def texts(replies: list[dict[str, Any]]) -> str:
    """The text of the bot messages of a turn, one per line."""
    return "\n".join(r.get("text") or "" for r in replies)


def buttons(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every quick-reply button of a turn's messages."""
    return [b for r in replies for b in r.get("quick_replies") or []]
