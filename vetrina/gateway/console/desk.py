"""The console's side of a handoff: domain moves plus what they mean for the outside world.

:class:`ConsoleDesk` wraps the state machine (``vetrina.conversations.handoff``) with
the assistant's memory (Rasa's tracker: pause on claim, resume on hand-back), the outbox
(consultant replies and notices go out on the customer's current channel, through the
channel's sender, which applies WhatsApp's 24-hour window and Instagram's HUMAN_AGENT tag)
and the live bus (consoles see messages and moves as they happen).

It is also the turn processor's :class:`~vetrina.conversations.handoff.ConsultantDesk`:
a message of a conversation a consultant owns is shown to the console and recorded in
the assistant's tracker, and the assistant is not asked to answer it.

Tracker writes go through one queue per customer, in order (pause, messages, resume),
and the customer's messages and the consultant's replies do not wait for them: the
console and the customer see each message as soon as it is stored. A write that fails
(Rasa down) is logged and dropped: the assistant then lacks that message's context,
nothing else is lost (the message itself is in the database and on the timeline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select

from vetrina.conversations import handoff
from vetrina.conversations.consultants import ConsultantView, get_consultant
from vetrina.conversations.handoff import (
    WITH_CONSULTANT,
    AssistantTracker,
    ConversationState,
    HandoffError,
    Moved,
)
from vetrina.conversations.models import Author, Conversation, Message
from vetrina.conversations.notices import notice
from vetrina.conversations.ports import (
    AssistantUnavailable,
    BotReply,
    Turn,
    TypingIndicator,
    first_name_of,
)
from vetrina.conversations.text import InvalidMessage, clean_text
from vetrina.conversations.writing import pending_outbound
from vetrina.gateway.live import LiveBus
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

RESUME_RETRY_FIRST = 2.0  # seconds; doubled after each failure…
RESUME_RETRY_LAST = 600.0  # …until this

TYPING_EVERY = 2.5  # seconds: at most one typing signal per conversation this often

QUEUE = "queue"
CONVERSATION = "conversation"
PRESENCE = "presence"


class NotYours(HandoffError):
    """Only the consultant who owns the conversation may write in it."""


def message_event(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction,
        "author": message.author,
        "channel": message.channel,
        "text": message.text,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
        "consultant_name": consultant_name(message.payload),
    }


def consultant_name(payload: dict[str, Any] | None) -> str | None:
    """The name of the consultant who wrote a reply (stored in its payload), else None."""
    who = (payload or {}).get("consultant")
    name = who.get("name") if isinstance(who, dict) else None
    return name if isinstance(name, str) else None


T = TypeVar("T")


@dataclass
class ConsoleDesk:
    db: Database
    memory: AssistantTracker
    bus: LiveBus
    wake_outbox: Callable[[], None]
    max_chars: int = 2000
    # The channels that can show "<Name> is typing…" (web, Instagram), by channel name.
    typing_indicators: Mapping[str, TypingIndicator] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    _typed_at: dict[int, float] = field(default_factory=dict, repr=False)
    _tracker_locks: dict[str, tuple[asyncio.Lock, list[int]]] = field(
        default_factory=dict, repr=False
    )
    _background: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    async def _in_order(self, customer_id: str, write: Callable[[], Awaitable[T]]) -> T:
        """Run a tracker write after the customer's earlier ones (FIFO lock)."""
        entry = self._tracker_locks.setdefault(customer_id, (asyncio.Lock(), [0]))
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                return await write()
        finally:
            users[0] -= 1
            if not users[0]:
                del self._tracker_locks[customer_id]

    def _later(self, customer_id: str, what: str, write: Callable[[], Awaitable[None]]) -> None:
        """A tracker write in the background, in order with the customer's others."""

        async def run() -> None:
            try:
                await self._in_order(customer_id, write)
            except AssistantUnavailable as error:
                log.warning(
                    "could not record %s for %s in the tracker: %s", what, customer_id, error
                )
            except Exception:
                log.exception("recording %s for %s in the tracker failed", what, customer_id)

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Wait for the tracker writes under way (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # --- the turn processor's desk ----------------------------------------------------

    async def take(self, turn: Turn) -> bool:
        state = await handoff.conversation_of_customer(self.db, turn.customer_id)
        if state is None or state.status != WITH_CONSULTANT:
            return False
        async with self.db.sessions() as session:
            message = await session.get_one(Message, turn.message_id)
            event = message_event(message)
        await self._conversation_event(state, "message", message=event)
        self._later(
            turn.customer_id, f"message {turn.message_id}", lambda: self.memory.remember(turn)
        )
        return True

    async def after_bot_turn(self, customer_id: str) -> None:
        """A bot turn was stored: tell the consoles (a new request shows in the queue)."""
        state = await handoff.conversation_of_customer(self.db, customer_id)
        if state is None or state.status == WITH_CONSULTANT:
            return  # the desk took the message and has shown it already
        await self._conversation_event(state, "refresh")
        if state.status == handoff.WAITING:
            await self._queue_event(state)

    # --- moves ------------------------------------------------------------------------------

    async def claim(
        self, consultant: ConsultantView, conversation_id: int, *, closed: bool = False
    ) -> Moved:
        """Take a waiting conversation (or, ``closed``, reopen a closed one)."""
        take = handoff.reopen if closed else handoff.claim
        moved = await take(self.db, conversation_id, consultant.id)
        try:
            await self._in_order(moved.customer_id, lambda: self.memory.pause(moved.customer_id))
        except AssistantUnavailable as error:  # the gateway keeps the bot silent anyway
            log.warning("could not pause the assistant for %s: %s", moved.customer_id, error)
        await self._joined(moved.customer_id, consultant.id, consultant.name)
        await self._moved(moved)
        return moved

    async def reply(self, consultant: ConsultantView, conversation_id: int, text: str) -> Message:
        try:
            text = clean_text(text, self.max_chars)
        except InvalidMessage as error:
            raise HandoffError(f"cannot send this message: {error.code}") from error
        now = utcnow()
        async with self.db.transaction() as session:
            conversation = await session.get(Conversation, conversation_id, with_for_update=True)
            if conversation is None:
                raise handoff.ConversationNotFound(conversation_id)
            if conversation.status != WITH_CONSULTANT or conversation.owner_id != consultant.id:
                raise NotYours("claim the conversation before answering")
            channel = await _current_channel(session, conversation.customer_id)
            message = pending_outbound(
                conversation_id=conversation.id, customer_id=conversation.customer_id,
                channel=channel, author=Author.CONSULTANT.value, text=text,
                payload={"consultant": {"id": consultant.id, "name": consultant.name}}, now=now,
            )
            session.add(message)
            await session.flush()
        self.wake_outbox()
        state = await handoff.conversation_state(self.db, conversation_id)
        if state is not None:
            await self._conversation_event(state, "message", message=message_event(message))
        customer_id = message.customer_id
        self._later(
            customer_id, f"reply {message.id}",
            lambda: self.memory.remember_reply(customer_id, text, consultant.name),
        )
        return message

    async def typing(self, consultant: ConsultantView, conversation_id: int) -> bool:
        """The owner is writing a reply: show it on the customer's channel. Throttled to one
        signal per conversation every ``TYPING_EVERY`` seconds (the console sends one per
        keystroke burst); ``False`` when dropped or the channel has no indicator.
        :class:`NotYours` unless the consultant owns the conversation."""
        now = self.clock()
        last = self._typed_at.get(conversation_id)
        if last is not None and now - last < TYPING_EVERY:
            return False
        state = await handoff.conversation_state(self.db, conversation_id)
        if state is None:
            raise handoff.ConversationNotFound(conversation_id)
        if state.status != WITH_CONSULTANT or state.owner_id != consultant.id:
            raise NotYours("only the consultant who holds the chat shows as typing")
        if len(self._typed_at) > 1000:  # forget conversations nobody types in any more
            self._typed_at = {k: v for k, v in self._typed_at.items() if now - v < TYPING_EVERY}
        self._typed_at[conversation_id] = now
        indicator = self.typing_indicators.get(state.channel or "web")
        name = first_name_of({"consultant": {"name": consultant.name}})
        if indicator is None or name is None:
            return False
        try:
            await indicator.consultant_typing(state.customer_id, name)
        except Exception:  # a typing signal is cosmetic: never fail the console for it
            log.exception("typing indicator failed for conversation %s", conversation_id)
            return False
        return True

    async def tell(
        self, state: ConversationState, reply: BotReply, payload: dict[str, Any]
    ) -> None:
        """Send the customer a message from Vetrina (e.g. the confirmation of a booking made
        for them) through the outbox, on their current channel, and show it in the consoles."""
        await self._queue_replies(state.customer_id, [reply], Author.SYSTEM.value, payload=payload)
        await self._conversation_event(state, "refresh")

    async def hand_back(self, consultant: ConsultantView, conversation_id: int) -> Moved:
        moved = await handoff.hand_back(self.db, conversation_id, consultant.id)
        if moved.from_status == WITH_CONSULTANT:
            await self._resume(moved.customer_id, announce=True)
        await self._moved(moved)
        return moved

    async def close(self, consultant: ConsultantView, conversation_id: int) -> Moved:
        moved = await handoff.close(self.db, conversation_id, consultant.id)
        if moved.from_status == WITH_CONSULTANT:
            await self._resume(moved.customer_id, announce=False)
        await self._moved(moved)
        return moved

    async def transfer(
        self,
        consultant: ConsultantView,
        conversation_id: int,
        *,
        to_consultant_id: int | None = None,
        to_store: str | None = None,
    ) -> Moved:
        if to_consultant_id is not None:
            colleague = await get_consultant(self.db, to_consultant_id)
            if colleague is None:
                raise HandoffError("no such colleague")
            moved = await handoff.transfer_to_consultant(
                self.db, conversation_id, consultant.id, to_consultant_id
            )
            await self._joined(moved.customer_id, colleague.id, colleague.name)
        else:
            moved = await handoff.transfer_to_queue(
                self.db, conversation_id, consultant.id, to_store
            )
            # Waiting again: the assistant answers meanwhile.
            await self._resume(moved.customer_id, announce=False)
            await self._notice(moved.customer_id, "consultant_transfer")
        await self._moved(moved)
        return moved

    # --- helpers ----------------------------------------------------------------------------

    async def _resume(self, customer_id: str, *, announce: bool) -> None:
        try:
            replies = await self._in_order(customer_id, lambda: self.memory.resume(customer_id))
        except AssistantUnavailable as error:
            log.warning("could not resume the assistant for %s: %s", customer_id, error)
            self._retry_resume(customer_id)
            replies = []
        if announce and not replies:  # the assistant could not say it: say it for it
            state = await handoff.conversation_of_customer(self.db, customer_id)
            language = state.language if state else None
            replies = [BotReply(text=notice("assistant_back", language))]
        if announce:
            await self._queue_replies(customer_id, replies, Author.BOT.value)

    def _retry_resume(self, customer_id: str) -> None:
        """Rasa stays paused until it hears "resume": keep trying (it may be restarting),
        unless a consultant has taken the conversation again meanwhile."""

        async def again() -> None:
            delay = RESUME_RETRY_FIRST
            while delay <= RESUME_RETRY_LAST:
                await asyncio.sleep(delay)
                state = await handoff.conversation_of_customer(self.db, customer_id)
                if state is None or state.status == WITH_CONSULTANT:
                    return
                try:
                    await self._in_order(customer_id, lambda: self.memory.resume(customer_id))
                    log.info("assistant resumed for %s after a retry", customer_id)
                    return
                except AssistantUnavailable:
                    delay *= 2
            log.error("the assistant is still paused for %s: resume it by hand", customer_id)

        task = asyncio.ensure_future(again())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _joined(self, customer_id: str, consultant_id: int, name: str) -> None:
        """"Giulia is with you now": signed with the first name, and carrying the
        consultant in its payload so the widget knows a person holds the chat (no bot
        typing dots from then on)."""
        who = {"consultant": {"id": consultant_id, "name": name}}
        first = first_name_of(who) or name
        await self._notice(customer_id, "consultant_joined", payload=who, name=first)

    async def _notice(
        self, customer_id: str, key: str, *, payload: dict[str, Any] | None = None,
        **values: object,
    ) -> None:
        state = await handoff.conversation_of_customer(self.db, customer_id)
        language = state.language if state else None
        await self._queue_replies(
            customer_id, [BotReply(text=notice(key, language, **values))], Author.SYSTEM.value,
            payload=payload,
        )

    async def _queue_replies(
        self, customer_id: str, replies: list[BotReply], author: str,
        *, payload: dict[str, Any] | None = None,
    ) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            conversation = await session.scalar(
                select(Conversation).where(Conversation.customer_id == customer_id)
            )
            if conversation is None:
                return
            channel = await _current_channel(session, customer_id)
            for reply in replies:
                session.add(
                    pending_outbound(
                        conversation_id=conversation.id, customer_id=customer_id,
                        channel=channel, author=author, text=reply.text,
                        payload={**reply.to_payload(), **(payload or {})}, now=now,
                    )
                )
        self.wake_outbox()

    async def _moved(self, moved: Moved) -> None:
        state = await handoff.conversation_state(self.db, moved.conversation_id)
        if state is None:
            return
        await self._conversation_event(state, "state")
        await self._queue_event(state)

    async def _queue_event(self, state: ConversationState) -> None:
        await self.bus.publish(
            QUEUE,
            {"type": "queue", "conversation_id": state.conversation_id,
             "store_code": state.store_code, "status": state.status, "owner_id": state.owner_id},
        )

    async def _conversation_event(self, state: ConversationState, kind: str, **extra: Any) -> None:
        await self.bus.publish(
            CONVERSATION,
            {"type": kind, "conversation_id": state.conversation_id, "status": state.status,
             "owner_id": state.owner_id, "store_code": state.store_code, **extra},
        )


async def _current_channel(session: Any, customer_id: str) -> str:
    """The channel the customer wrote on last (where a reply reaches them now)."""
    from vetrina.customers.models import Customer

    channel = await session.scalar(
        select(Message.channel)
        .where(Message.customer_id == customer_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(1)
    )
    if channel:
        return str(channel)
    last = await session.scalar(select(Customer.last_channel).where(Customer.id == customer_id))
    return str(last or "web")
