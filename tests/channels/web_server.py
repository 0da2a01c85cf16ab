"""A real gateway app on a real port with a scripted assistant, for web chat protocol tests.

The assistant answers by keyword with the reply kinds Rasa produces (text in parts, quick
replies, an image, a custom payload), so the frames on the socket can be compared with
what Rasa 3.6's socket.io channel would emit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import socketio  # type: ignore[import-untyped]
from aiohttp.test_utils import TestServer

from tests.fakes import FakeAssistant
from vetrina.conversations.ports import BotReply, Button, Turn
from vetrina.gateway.app import init_app
from vetrina.settings import Settings
from vetrina.storage.database import Database

SECRET = "web-protocol-test-secret-0123456789abcdef"
IMAGE = "https://cdn.example.com/trench-nero.jpg"


class ScriptedAssistant(FakeAssistant):
    """``buttons``, ``image``, ``custom`` get those replies; anything else an echo."""

    async def reply(self, turn: Turn) -> list[BotReply]:
        text = turn.metadata.get("assistant_text") or turn.text
        if text == "buttons":
            replies = [BotReply(text="Prima parte.\n\nVuoi provarlo?",
                                buttons=(Button("Sì", "/affirm"), Button("No", "/deny")))]
        elif text == "image":
            replies = [BotReply(text="Eccolo:", image=IMAGE)]
        elif text == "custom":
            replies = [BotReply(custom={"data": {"card": "trench", "price": "129.00"}})]
        elif text == "/affirm":
            replies = [BotReply(text="Perfetto, affirmed.")]
        else:
            return await super().reply(turn)
        self.calls.append(turn)
        self.handled[turn.message_id] = replies
        return replies


async def serve(db: Database, **overrides: Any) -> AsyncIterator[str]:
    """The gateway's URL while the generator is open (use from a fixture)."""
    settings = Settings(database_url=db.url, identity_secret=SECRET, tracker_store_url="",
                        rasa_url="http://127.0.0.1:9", worker_poll_interval=0.1,
                        **overrides)
    server = TestServer(init_app(settings, assistant=ScriptedAssistant()))
    await server.start_server()
    try:
        yield str(server.make_url("/")).rstrip("/")
    finally:
        await server.close()


@dataclass
class RawClient:
    """A socket.io client that records every event and acknowledges nothing by itself."""

    url: str
    sio: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False)
    )
    events: dict[str, asyncio.Queue[Any]] = field(default_factory=dict)
    session_id: str | None = None

    async def connect(self, *, vetrina: bool, session_id: str | None = None,
                      request: bool = True, **extra: Any) -> RawClient:
        for name in ("session_confirm", "bot_uttered", "message_ack", "notice",
                     "vetrina_error", "history", "identified"):
            self.events[name] = asyncio.Queue()
            self.sio.on(name, self._collector(name))
        await self.sio.connect(self.url, transports=["websocket"])
        if request:
            body: dict[str, Any] = {"session_id": session_id, **extra}
            if vetrina:
                body["vetrina"] = 1
            await self.sio.emit("session_request", body)
            self.session_id = await self.next("session_confirm")
        return self

    def _collector(self, name: str):  # type: ignore[no-untyped-def]
        async def collect(data: Any = None) -> None:
            await self.events[name].put(data)

        return collect

    async def next(self, event: str, timeout: float = 10) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout)

    async def nothing(self, event: str, seconds: float) -> bool:
        """True when ``event`` does not come within ``seconds``."""
        try:
            await asyncio.wait_for(self.events[event].get(), seconds)
        except asyncio.TimeoutError:
            return True
        return False

    async def send(self, text: str, message_id: str, session_id: str | None = None,
                   **custom: Any) -> None:
        await self.sio.emit("user_uttered", {
            "message": text, "session_id": session_id or self.session_id,
            "customData": {"message_id": message_id, **custom},
        })

    async def close(self) -> None:
        await self.sio.disconnect()
