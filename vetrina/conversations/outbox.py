"""Delivering stored outbound messages through their channel, with retries.

Messages of one customer go out in the order they were stored; a transient failure
holds back that customer's later messages until the retry succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Select, func, literal_column, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnClause

from vetrina.conversations import outbox_notify as _outbox_notify  # noqa: F401 (NOTIFY on store)
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.models import Direction, Message, OutboundStatus
from vetrina.conversations.ports import ChannelSender, DeliveryError, DeliveryHeld, OutboundView
from vetrina.observability.metrics import DELIVERY_FAILURES, MESSAGES_OUT
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database
from vetrina.wakeup import wait_for_wake

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
DEFAULT_BACKOFF = Backoff()
SENT_RECORD_PAUSES = (0.2, 0.5, 1.0, 2.0, 3.0, 4.0, 4.0)
# How long an attempt owns its message: a provider call (15 s timeout) plus recording
# the outcome through a database blip (SENT_RECORD_PAUSES, ~15 s), with room to spare.
SEND_LEASE = timedelta(seconds=60)


OUT: ColumnClause[str] = literal_column("'out'")
PENDING: ColumnClause[str] = literal_column("'pending'")


def due_customers(now: datetime, limit: int) -> Select[tuple[str]]:
    """Customers whose oldest pending outbound message is due, oldest work first.

    Reads only due rows (``next_attempt_at <= now``: a range of ``ix_messages_work``),
    so a backlog of retries that are not due yet — Instagram rate-limited for an hour —
    costs nothing and hides nothing. A due row counts only if it is its customer's
    oldest pending one (one seek in the partial index ``ix_messages_outbox_customer``):
    messages go out in order, and a customer with many due messages takes one place in
    the batch, not many.

    The status values are literals, not parameters, so that SQLite and PostgreSQL can
    prove the partial index's predicate.
    """
    oldest = aliased(Message)
    oldest_pending = (
        select(func.min(oldest.id))
        .where(
            oldest.customer_id == Message.customer_id,
            oldest.direction == OUT,
            oldest.status == PENDING,
        )
        .scalar_subquery()
    )
    return (
        select(Message.customer_id)
        .where(
            Message.direction == OUT,
            Message.status == PENDING,
            Message.next_attempt_at <= now,
            Message.id == oldest_pending,
        )
        .order_by(Message.id)
        .limit(limit)
    )


class Outbox:
    def __init__(
        self,
        db: Database,
        senders: Mapping[str, ChannelSender],
        *,
        backoff: Backoff = DEFAULT_BACKOFF,
        poll_interval: float = 1.0,
        batch_size: int = 200,
    ) -> None:
        self._db = db
        self._senders = senders
        self._backoff = backoff
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox delivery round failed")
            await wait_for_wake(self._wake, self._poll_interval)

    async def deliver_due(self) -> int:
        """Send every due pending message once; return how many were sent.

        Customer by customer, each under the customer's lock: several gateway
        instances share the outbox without sending a message twice or out of order.
        """
        async with self._lock:
            async with self._db.sessions() as session:
                customers = (
                    await session.scalars(due_customers(utcnow(), self._batch_size))
                ).all()
            sent = 0
            for customer_id in customers:
                async with self._db.locks.hold("outbox", customer_id) as held:
                    if held:
                        sent += await self._deliver_customer(customer_id)
            return sent

    async def _deliver_customer(self, customer_id: str) -> int:
        """The customer's pending messages in order, read again under their lock."""
        async with self._db.sessions() as session:
            rows = (
                await session.scalars(
                    select(Message)
                    .where(
                        Message.customer_id == customer_id,
                        Message.direction == Direction.OUT.value,
                        Message.status == OutboundStatus.PENDING.value,
                    )
                    .order_by(Message.id)
                    .limit(self._batch_size)
                )
            ).all()
        sent = 0
        now = utcnow()
        for row in rows:
            if row.next_attempt_at > now or not await self._claim(row.id):
                break
            if not await self._deliver(row):
                break
            sent += 1
        return sent

    async def _claim(self, message_id: int) -> bool:
        """Own this attempt at the message for :data:`SEND_LEASE`, or learn someone does.

        The customer's lock alone is not enough: on PostgreSQL it lives on a connection,
        and a database restart ends that connection (and frees the lock) while this
        worker is still between the provider's "accepted" and recording it as sent. Another
        instance would then take the lock, read the message as pending and send it again.
        The claim is a compare-and-set on the row that survives the restart: until the
        outcome is recorded, or the lease runs out (the worker died), nobody else sends it.
        The lease runs from the claim itself, not from the start of the customer's round:
        earlier sends in the round may have taken most of a lease already.
        """
        now = utcnow()
        async with self._db.transaction() as session:
            result = await session.execute(
                update(Message)
                .where(
                    Message.id == message_id,
                    Message.status == OutboundStatus.PENDING.value,
                    Message.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + SEND_LEASE)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def _deliver(self, row: Message) -> bool:
        view = OutboundView(
            id=row.id,
            customer_id=row.customer_id,
            channel=row.channel,
            author=row.author,
            text=row.text,
            payload=dict(row.payload or {}),
            created_at=row.created_at,
        )
        sender = self._senders.get(row.channel)
        try:
            if sender is None:
                raise DeliveryError(f"no sender for channel {row.channel!r}", transient=False)
            provider_id = await sender.send(view)
        except DeliveryHeld as held:
            DELIVERY_FAILURES.labels(row.channel, "held").inc()
            await self._record_held(row.id, str(held))
            return True  # the customer's later messages are judged on their own
        except DeliveryError as error:
            DELIVERY_FAILURES.labels(row.channel, "transient" if error.transient else "final").inc()
            await self._record_failure(
                row.id, str(error), error.transient, retry_after=error.retry_after
            )
            return False
        except Exception as error:  # an adapter bug: keep the message, retry later
            log.exception("sender for %s crashed on message %s", row.channel, row.id)
            DELIVERY_FAILURES.labels(row.channel, "transient").inc()
            await self._record_failure(row.id, repr(error), transient=True)
            return False
        await self._record_sent(row.id, provider_id)
        MESSAGES_OUT.labels(row.channel).inc()
        return True

    async def _record_sent(self, message_id: int, provider_id: str | None) -> None:
        """Record a message the channel accepted, holding on through a database blip.

        The channel has it now: if this record were lost the message would be sent
        again, so a restarting database is waited for (about 15 s) before giving up.
        """
        for pause in (*SENT_RECORD_PAUSES, None):
            try:
                async with self._db.transaction() as session:
                    message = await session.get_one(Message, message_id)
                    message.status = OutboundStatus.SENT.value
                    message.attempts += 1
                    message.provider_message_id = provider_id
                    message.last_error = None
                return
            except SQLAlchemyError:
                if pause is None:
                    raise
                log.warning("could not record message %s as sent; retrying", message_id)
                await asyncio.sleep(pause)

    async def _record_held(self, message_id: int, reason: str) -> None:
        async with self._db.transaction() as session:
            message = await session.get_one(Message, message_id)
            message.attempts += 1
            message.status = OutboundStatus.HELD.value
            message.last_error = reason[:2000]
        log.warning("message %s held, not sent: %s", message_id, reason)

    async def _record_failure(
        self, message_id: int, error: str, transient: bool, *, retry_after: float | None = None
    ) -> None:
        async with self._db.transaction() as session:
            message = await session.get_one(Message, message_id)
            message.attempts += 1
            message.last_error = error[:2000]
            if transient and message.attempts < MAX_ATTEMPTS:
                now = utcnow()
                next_at = self._backoff.next_at(now, message.attempts)
                if retry_after:
                    next_at = max(next_at, now + timedelta(seconds=retry_after))
                message.next_attempt_at = next_at
            else:
                message.status = OutboundStatus.FAILED.value
        log.warning(
            "delivery of message %s failed (transient=%s): %s", message_id, transient, error
        )
