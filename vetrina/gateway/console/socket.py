"""``GET /console/ws``: the console's live updates (queue, conversation and presence
events, see ``vetrina.gateway.live``); the browser sends ``{"watch": conversation_id}``
to follow one conversation, and ``{"typing": conversation_id}`` while the consultant
writes a reply (shown to the customer only if the conversation is theirs, throttled).

Access is checked again before every event is forwarded: a conversation event goes out
only if the consultant may still see that conversation in the state the event carries
(read from the database as it was published; the database is asked when the event cannot
tell), and the session must still be open (read again every few seconds, at every
heartbeat, and at once when an admin deactivates this account). When a
watched conversation is no longer visible (transferred to another store, say), the watch
is dropped at once and the browser is told with
``{"topic": "watching", "conversation_id": null, "lost": id}`` (issue 17, part 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from vetrina.conversations import handoff
from vetrina.conversations.consultants import ConsultantView, session_for, touch
from vetrina.gateway.console.auth import current_session, foreign_origin
from vetrina.gateway.console.context import Console
from vetrina.gateway.console.desk import CONVERSATION, PRESENCE, QUEUE
from vetrina.gateway.http import MAX_ID, ApiError
from vetrina.gateway.keys import CONSOLE
from vetrina.gateway.live import Event

HEARTBEAT = 30.0  # seconds between presence refreshes of an open console
MAX_WATCH_MESSAGE = 1024
# The session and the consultant's stores are read again at most this often (a busy
# queue sends many events); the conversation itself is checked on every event.
SESSION_RECHECK = 5.0
ACCOUNT_ENDED = "account_ended"  # published by the admin tools (admin_accounts.ended)


class SessionEnded(Exception):
    """The console's session was closed or its account deactivated."""


@dataclass
class Watch:
    console: Console
    token: str
    consultant: ConsultantView
    conversation_id: int | None = None
    checked_at: float = field(default_factory=time.monotonic)

    async def refresh(self, *, now: bool = False) -> ConsultantView:
        """The consultant as the database has them now (stores may have changed); read
        again at most every few seconds, unless ``now``."""
        if not now and time.monotonic() - self.checked_at < SESSION_RECHECK:
            return self.consultant
        session = await session_for(self.console.db, self.token)
        if session is None:
            raise SessionEnded()
        self.consultant = session.consultant
        self.checked_at = time.monotonic()
        return self.consultant

    def sees_by_event(self, event: Event) -> bool | None:
        """Visibility from the state the event carries (read from the database when it
        was published, so as fresh as the event); ``None`` when it cannot tell."""
        if "owner_id" not in event or "store_code" not in event:
            return None
        c, store = self.consultant, event["store_code"]
        if c.is_admin or event["owner_id"] == c.id:
            return True
        if store is None:
            return None  # the general queue: only once a person was asked for
        return store in c.stores

    async def may_see(self, conversation_id: int) -> bool:
        state = await handoff.conversation_state(self.console.db, conversation_id)
        c = self.consultant
        return state is not None and state.visible_to(c.id, c.stores, c.is_admin)

    async def outgoing(self, topic: str, event: Event) -> list[Event]:
        """What to send the browser for ``event``: nothing, the event, or the end of a
        watch whose access was lost."""
        if topic == PRESENCE and event.get("type") == ACCOUNT_ENDED:
            # An admin deactivated an account (or its password was reset): if it is this
            # one, the session is gone and the socket must close now, not in a while.
            await self.refresh(now=event.get("consultant_id") == self.consultant.id)
        consultant = await self.refresh()
        if topic == PRESENCE:
            return [{"topic": topic, **event}]
        conversation_id = event.get("conversation_id")
        if not isinstance(conversation_id, int):
            return []
        if topic == QUEUE:
            store = event.get("store_code")
            mine = event.get("owner_id") == consultant.id
            if consultant.is_admin or mine or store is None or store in consultant.stores:
                return [{"topic": topic, **event}]
            return []
        if topic != CONVERSATION:
            return []
        watched = conversation_id == self.conversation_id
        if not watched and event.get("owner_id") != consultant.id:
            return []  # neither on screen nor mine: the console does not want it
        visible = self.sees_by_event(event)
        if visible is None:
            visible = await self.may_see(conversation_id)
        if visible:
            return [{"topic": topic, **event}]
        if watched:
            self.conversation_id = None
            return [{"topic": "watching", "conversation_id": None, "lost": conversation_id}]
        return []

    async def watch(self, raw: object) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            self.conversation_id = None
        else:
            text = str(raw).strip()
            ok = text.isascii() and text.isdigit() and len(text) <= 19 and 0 < int(text) <= MAX_ID
            self.conversation_id = int(text) if ok and await self.may_see(int(text)) else None
        return self.conversation_id


def conversation_id_of(raw: object) -> int | None:
    """A conversation id sent by the browser, or ``None`` for anything else."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    text = str(raw).strip()
    ok = text.isascii() and text.isdigit() and len(text) <= 19 and 0 < int(text) <= MAX_ID
    return int(text) if ok else None


async def typing(
    console: Console, watch: Watch, raw: object, ws: web.WebSocketResponse
) -> None:
    """``{"typing": conversation_id}``: the consultant is writing in the reply box. Only
    the owner's typing reaches the customer (throttled by the desk); anyone else is told
    ``{"topic": "typing", "error": "not_yours"}`` and nothing is shown."""
    conversation_id = conversation_id_of(raw)
    if conversation_id is None:
        await ws.send_json({"topic": "typing", "error": "invalid"})
        return
    try:
        consultant = await watch.refresh()
        await console.desk.typing(consultant, conversation_id)
    except SessionEnded:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"logged out")
    except handoff.ConversationNotFound:
        await ws.send_json({"topic": "typing", "conversation_id": conversation_id,
                            "error": "not_found"})
    except handoff.HandoffError:
        await ws.send_json({"topic": "typing", "conversation_id": conversation_id,
                            "error": "not_yours"})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    console = request.app[CONSOLE]
    session = await current_session(request, console.db, console.cookies)
    if session is None:
        raise ApiError(401, "login_required", "log in first")
    if foreign_origin(request):
        raise ApiError(403, "cross_site", "cross-site websocket refused")
    watch = Watch(console, session.token, session.consultant)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_WATCH_MESSAGE)
    await ws.prepare(request)

    async def forward() -> None:
        async with console.bus.subscribe([QUEUE, CONVERSATION, PRESENCE]) as events:
            async for topic, event in events:
                try:
                    for message in await watch.outgoing(topic, event):
                        await ws.send_json(message)
                except SessionEnded:
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"logged out")
                    return

    async def heartbeat() -> None:
        while True:
            try:
                await watch.refresh(now=True)  # a quiet console notices a closed session too
            except SessionEnded:
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"logged out")
                return
            await touch(console.db, watch.consultant.id)
            await asyncio.sleep(HEARTBEAT)

    tasks = [asyncio.create_task(forward()), asyncio.create_task(heartbeat())]
    try:
        await ws.send_json({"topic": "hello", "consultant_id": watch.consultant.id})
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
            except (ValueError, RecursionError):
                continue
            if isinstance(data, dict) and "watch" in data:
                watching = await watch.watch(data.get("watch"))
                await ws.send_json({"topic": "watching", "conversation_id": watching})
            elif isinstance(data, dict) and "typing" in data:
                await typing(console, watch, data.get("typing"), ws)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return ws
