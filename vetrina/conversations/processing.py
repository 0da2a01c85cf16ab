"""The worker that takes stored customer messages to the assistant, in order per customer.

Each inbound row moves ``received`` → ``processing`` → ``processed``. ``processing`` is
written *before* the assistant is called, so after a crash the worker knows the turn
may already have reached the assistant and asks it for the replies it gave instead of
sending the text again: a message is never answered twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.conversations.backoff import Backoff
from vetrina.conversations.handoff import (
    WITH_CONSULTANT,
    ConsultantDesk,
    conversation_of_customer,
)
from vetrina.conversations.models import (
    PENDING_INBOUND,
    Author,
    Direction,
    InboundStatus,
    Message,
)
from vetrina.conversations.notices import notice
from vetrina.conversations.ports import (
    Assistant,
    AssistantUnavailable,
    BotReply,
    CustomerNotifier,
    Turn,
)
from vetrina.conversations.scheduling import AdaptiveLimit, LimitOptions, TurnScheduler
from vetrina.conversations.writing import pending_outbound
from vetrina.customers.link_proofs import LinkProofs, ProofRedeemed
from vetrina.customers.models import Customer
from vetrina.observability.logs import working_on
from vetrina.observability.metrics import RASA_LATENCY, RASA_UNAVAILABLE
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database
from vetrina.wakeup import wait_for_wake

log = logging.getLogger(__name__)

# Metadata key a channel adapter sets when a message needs no assistant, only a fixed
# notice (vetrina/conversations/notices.py); the values it may name:
AUTO_REPLY = "auto_reply"
AUTO_REPLIES = frozenset({"story_mention"})


@dataclass(frozen=True)
class ProcessingOptions:
    # Customers worked on at once (on PostgreSQL each holds a connection for its order
    # lock). Each gets one turn, then goes to the back of the line. A consultant's chats
    # are not counted: they need no Rasa, and their number is bounded by the consultants.
    concurrency: int = 16
    # Turns the assistant gets at once: adapted to its latency (scheduling.py).
    assistant: LimitOptions = field(default_factory=LimitOptions)
    poll_interval: float = 1.0
    notice_after: float = 4.0
    default_language: str = "it"
    backoff: Backoff = field(default_factory=Backoff)


class TurnProcessor:
    """Runs turns for every customer with due messages, one turn at a time per customer
    and in order; customers take turns, and the assistant's slots go oldest turn first."""

    def __init__(
        self,
        db: Database,
        assistant: Assistant,
        notifier: CustomerNotifier,
        on_replies_stored: Callable[[str], Awaitable[None]],
        options: ProcessingOptions = ProcessingOptions(),
        desk: ConsultantDesk | None = None,
        on_unavailable: Callable[[], None] | None = None,
        links: LinkProofs | None = None,
    ) -> None:
        self._db = db
        # A WhatsApp/Instagram message carrying a code shown in a web chat links the sender.
        self._links = links
        # Told when a turn is postponed because the assistant is down (a ReadinessWatch).
        self._on_unavailable = on_unavailable
        self._assistant = assistant
        # Messages of conversations a consultant owns go there, never to the assistant.
        self._desk = desk
        self._notifier = notifier
        self._on_replies_stored = on_replies_stored
        self._options = options
        self._wake = asyncio.Event()
        self._active: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = asyncio.Semaphore(options.concurrency)
        self.scheduler = TurnScheduler(AdaptiveLimit(options.assistant))
        self._notified: set[int] = set()

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Poll for due customers until cancelled; each gets its own task."""
        while True:
            self._wake.clear()
            try:
                for customer_id in await self._due_customers():
                    self._start(customer_id)
            except Exception:  # a database hiccup must not kill the worker
                log.exception("could not look for pending messages")
            await wait_for_wake(self._wake, self._options.poll_interval)

    async def retry_postponed_now(self) -> int:
        """The assistant is back: make every postponed message due now and wake up.

        Returns how many messages were waiting out a backoff."""
        now = utcnow()
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Message)
                .where(
                    Message.direction == Direction.IN.value,
                    Message.status.in_(PENDING_INBOUND),
                    Message.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.info("assistant ready again: %s waiting messages are due now", count)
        self.wake()
        return count

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Process everything due now and wait for it (used by tests and benchmarks)."""
        for customer_id in await self._due_customers():
            self._start(customer_id)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, customer_id: str) -> None:
        if customer_id in self._active:
            return
        self._active.add(customer_id)
        task = asyncio.create_task(self._guarded(customer_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, customer_id: str) -> None:
        more = False
        try:
            if await self._with_consultant(customer_id):
                # The live path: a consultant's chat needs no Rasa, so it never queues
                # behind the workers that wait for Rasa slots.
                more = await self.process_customer(customer_id)
            else:
                async with self._workers:
                    more = await self.process_customer(customer_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("processing customer %s failed", customer_id)
        finally:
            self._active.discard(customer_id)
        if more:  # the back of the line: a customer who writes fast holds no worker
            self._start(customer_id)

    async def _with_consultant(self, customer_id: str) -> bool:
        if self._desk is None:
            return False
        state = await conversation_of_customer(self._db, customer_id)
        return state is not None and state.status == WITH_CONSULTANT

    async def _due_customers(self) -> list[str]:
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Message.customer_id)
                .where(
                    Message.direction == Direction.IN.value,
                    Message.status.in_(PENDING_INBOUND),
                )
                .group_by(Message.customer_id)
                .having(func.min(Message.next_attempt_at) <= utcnow())
                .order_by(func.min(Message.id))
            )
            return [row[0] for row in rows]

    async def process_customer(self, customer_id: str) -> bool:
        """Answer the customer's oldest pending message; ``True`` if it may have more.

        Only while holding the customer's lock: another gateway instance sharing the
        database skips this customer meanwhile, so order and single answers hold there too.
        """
        async with self._db.locks.hold("turns", customer_id) as held:
            if held:
                return await self._process_held(customer_id)
        return False

    async def _process_held(self, customer_id: str) -> bool:
        claimed = await self._claim_oldest(customer_id)
        if claimed is None:
            return False
        turn, may_have_reached = claimed
        with working_on(turn.message_id):
            if await self._linked(turn):
                await self._on_replies_stored(customer_id)
                return True
            try:
                replies = self._auto_reply(turn)
                if replies is None and self._desk is not None and await self._desk.take(turn):
                    replies = []  # a consultant answers; the assistant stays silent
                if replies is None:
                    async with self.scheduler.slot(turn.message_id):  # oldest turn first
                        if may_have_reached:
                            replies = await self._assistant.replies_already_given(turn)
                        if replies is None:
                            replies = await self._ask(turn)
            except AssistantUnavailable as error:
                await self._postpone(turn, str(error))
                return False  # stop at the first failure: the backoff decides when
            await self._store_replies(turn, replies)
            log.info("turn answered with %s replies", len(replies))
        await self._on_replies_stored(customer_id)
        return True

    async def _claim_oldest(self, customer_id: str) -> tuple[Turn, bool] | None:
        async with self._db.transaction() as session:
            message = await session.scalar(
                select(Message)
                .where(
                    Message.customer_id == customer_id,
                    Message.direction == Direction.IN.value,
                    Message.status.in_(PENDING_INBOUND),
                )
                .order_by(Message.id)
                .limit(1)
            )
            if message is None or message.next_attempt_at > utcnow():
                return None
            language = await session.scalar(
                select(Customer.language).where(Customer.id == customer_id)
            )
            may_have_reached = message.status == InboundStatus.PROCESSING.value
            message.status = InboundStatus.PROCESSING.value
            message.attempts += 1
            metadata = dict((message.payload or {}).get("metadata") or {})
            metadata["language"] = language or metadata.get("language")
            metadata["vetrina_message_id"] = message.id
            text = metadata.pop("assistant_text", None) or message.text
            turn = Turn(message.id, customer_id, message.channel, text, metadata)
            return turn, may_have_reached

    def _auto_reply(self, turn: Turn) -> list[BotReply] | None:
        """A message a channel marked as answered by a fixed notice (e.g. a story mention)."""
        key = turn.metadata.get(AUTO_REPLY)
        if key not in AUTO_REPLIES:
            return None
        language = turn.metadata.get("language") or self._options.default_language
        return [BotReply(text=notice(key, language))]

    async def _linked(self, turn: Turn) -> bool:
        """Whether the message proved a channel with a link code shown in a web chat: then
        the sender is linked and answered here, in one transaction. Every other message
        (a wrong or expired code included) goes on to the assistant as usual."""
        if self._links is None:
            return False
        language = turn.metadata.get("language")

        async def answer(session: AsyncSession, redeemed: ProofRedeemed) -> None:
            message = await session.get_one(Message, turn.message_id)  # moved by the merge
            said = language or redeemed.language or self._options.default_language
            session.add(
                pending_outbound(
                    conversation_id=message.conversation_id,
                    customer_id=message.customer_id,
                    channel=message.channel,
                    author=Author.BOT.value,
                    text=notice("link_proof_done", said),
                    payload={},
                    now=utcnow(),
                    in_reply_to_id=message.id,
                )
            )
            message.status = InboundStatus.PROCESSED.value
            message.last_error = None

        try:
            redeemed = await self._links.redeem(
                turn.channel, turn.customer_id, turn.text, language, then=answer
            )
        except Exception:  # linking is a bonus: the message still gets its answer
            log.exception("could not check message %s for a link code", turn.message_id)
            return False
        if redeemed is None:
            return False
        log.info("%s linked to customer %s by a code", turn.channel, redeemed.customer_id)
        return True

    async def _ask(self, turn: Turn) -> list[BotReply]:
        """Ask the assistant; if it is slow, tell the customer their message is safe."""
        started = time.monotonic()
        task = asyncio.ensure_future(self._assistant.reply(turn))
        done, _ = await asyncio.wait({task}, timeout=self._options.notice_after)
        if not done:
            await self._notify_delay(turn)
        replies = await task
        RASA_LATENCY.observe(time.monotonic() - started)
        return replies

    async def _notify_delay(self, turn: Turn) -> None:
        if turn.message_id in self._notified:
            return
        self._notified.add(turn.message_id)
        language = turn.metadata.get("language") or self._options.default_language
        try:
            await self._notifier.assistant_delayed(turn.customer_id, turn.channel, language)
        except Exception:
            log.exception("could not tell customer %s about the delay", turn.customer_id)

    async def _postpone(self, turn: Turn, error: str) -> None:
        RASA_UNAVAILABLE.inc()
        async with self._db.transaction() as session:
            message = await session.get_one(Message, turn.message_id)
            message.last_error = error[:2000]
            message.next_attempt_at = self._options.backoff.next_at(utcnow(), message.attempts)
            attempts = message.attempts
        log.warning(
            "assistant unavailable for message %s (attempt %s): %s",
            turn.message_id, attempts, error,
        )
        await self._notify_delay(turn)
        if self._on_unavailable is not None:
            self._on_unavailable()

    async def _store_replies(self, turn: Turn, replies: list[BotReply]) -> None:
        now = utcnow()
        async with self._db.transaction() as session:
            message = await session.get_one(Message, turn.message_id, with_for_update=True)
            if message.status == InboundStatus.PROCESSED.value:
                return  # another worker finished it first
            for reply in replies:
                session.add(
                    pending_outbound(
                        conversation_id=message.conversation_id,
                        customer_id=message.customer_id,
                        channel=message.channel,
                        author=Author.BOT.value,
                        text=reply.text,
                        payload=reply.to_payload(),
                        now=now,
                        in_reply_to_id=message.id,
                    )
                )
            message.status = InboundStatus.PROCESSED.value
            message.last_error = None
        self._notified.discard(turn.message_id)
