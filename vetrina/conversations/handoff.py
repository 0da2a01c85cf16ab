"""Handing a conversation to a store consultant and back: the state machine.

::

    bot ──request──► waiting ──claim──► with_consultant ──hand back──► bot
     ▲  (closed)       │  ▲                │      │   └──transfer to a consultant──┐
     └──────────────── │  └──transfer to a queue┘ └──close──► closed              │
                       └──hand back / close                      with_consultant ◄┘

Every move is one conditional ``UPDATE … WHERE status IN (…) [AND owner_id = …]``: the
database decides, so two consultants claiming at once get exactly one owner (the other
gets :class:`HandoffConflict`), on PostgreSQL and SQLite alike; a CHECK constraint keeps
"an owner exactly while ``with_consultant``". Each move adds a row to
``handoff_transitions`` (who, when, from, to, why) and a ``handoff`` interaction to the
customer's timeline, in the same transaction.

While a consultant owns the conversation the assistant is silent: the turn processor
gives such messages to a :class:`ConsultantDesk` instead of the assistant (see
``vetrina/conversations/processing.py``).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Select,
    String,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.conversations.consultants import Consultant, online_count
from vetrina.conversations.duty_hours import duty_timetables, hours_for
from vetrina.conversations.models import Conversation, ConversationStatus
from vetrina.conversations.ports import BotReply, Turn
from vetrina.conversations.routing import ConsultantHours, choose_queue
from vetrina.conversations.writing import conversation_for
from vetrina.customers.interactions import record_interaction
from vetrina.customers.models import Customer
from vetrina.storage.base import Base, utcnow
from vetrina.storage.database import Database, affected

HANDOFF = "handoff"  # the interaction kind on the customer's timeline

BOT = ConversationStatus.BOT.value
WAITING = ConversationStatus.WAITING.value
WITH_CONSULTANT = ConversationStatus.WITH_CONSULTANT.value
CLOSED = ConversationStatus.CLOSED.value


class Reason(str, enum.Enum):
    CUSTOMER_ASKED = "customer_asked"  # "voglio parlare con una persona"
    NOT_UNDERSTOOD = "not_understood"  # two misunderstandings in a row
    BOT_CANNOT_ANSWER = "bot_cannot_answer"  # an action decided a person is needed
    TRANSFER = "transfer"  # a consultant moved it to another queue


class HandoffTransition(Base):
    __tablename__ = "handoff_transitions"
    __table_args__ = (Index("ix_handoff_transitions_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(20))  # customer, bot, consultant, system
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))  # after the move
    store_code: Mapped[str | None] = mapped_column(String(32))  # the queue after the move
    reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Actor:
    """Who makes a move: the customer, the assistant, a consultant (by id) or the system."""

    kind: str
    consultant_id: int | None = None

    @classmethod
    def consultant(cls, consultant_id: int) -> Actor:
        return cls("consultant", consultant_id)


CUSTOMER = Actor("customer")
ASSISTANT = Actor("bot")
SYSTEM = Actor("system")


class HandoffError(Exception):
    """A move the state machine refuses."""


class ConversationNotFound(HandoffError):
    pass


class HandoffConflict(HandoffError):
    """The conversation is not in a state that allows the move (e.g. already claimed)."""

    def __init__(self, status: str, owner_id: int | None, owner_name: str | None) -> None:
        who = f" by {owner_name}" if owner_name else ""
        super().__init__(f"the conversation is {status.replace('_', ' ')}{who}")
        self.status = status
        self.owner_id = owner_id
        self.owner_name = owner_name


@dataclass(frozen=True)
class Moved:
    """The result of a move."""

    conversation_id: int
    customer_id: str
    from_status: str
    to_status: str
    owner_id: int | None
    store_code: str | None
    at: datetime


@dataclass(frozen=True)
class HandoffOptions:
    hours: ConsultantHours = field(default_factory=lambda: ConsultantHours.parse(""))
    minutes_per_customer: float = 3.0


@dataclass(frozen=True)
class RequestOutcome:
    """What the customer is told after asking for a consultant."""

    conversation_id: int
    status: str  # waiting, or with_consultant (already with a person)
    store_code: str | None
    already: bool  # the request existed before this one
    position: int  # 1 = next in its queue
    online: int  # consultants online for the queue
    open_now: bool
    answer_from: datetime | None  # outside hours: the next opening
    estimate_minutes: int | None  # when someone is online and it is open
    # Open but nobody online: answered before this (today's closing), else ``None``.
    answer_by: datetime | None = None
    # The zone of the timetable that answered (the queue's store's own hours, if any).
    timezone: str | None = None

    @property
    def available(self) -> bool:
        return self.open_now and self.online > 0


class ConsultantDesk(Protocol):
    """Takes the customer messages of conversations a consultant owns."""

    async def take(self, turn: Turn) -> bool:
        """``True`` if a consultant owns the turn's conversation and got the message: the
        assistant must not answer it. Raising ``AssistantUnavailable`` retries the turn."""


class AssistantTracker(Protocol):
    """What the assistant must know while a consultant talks for it (Rasa's tracker)."""

    async def pause(self, customer_id: str) -> None:
        """Make the assistant itself refuse to predict for this customer."""

    async def remember(self, turn: Turn) -> None:
        """Record the customer's message in the assistant's context, with no answer."""

    async def remember_reply(self, customer_id: str, text: str, consultant: str) -> None:
        """Record a consultant's message in the assistant's context."""

    async def resume(self, customer_id: str) -> list[BotReply]:
        """Let the assistant answer again; its "I'm back" messages, to be sent."""


# --- moves ----------------------------------------------------------------------------------


async def _move(
    db: Database,
    conversation_id: int,
    *,
    allowed: tuple[str, ...],
    to: str,
    actor: Actor,
    owner_id: int | None = None,
    require_owner: int | None = None,
    store_code: Any = ...,  # ... = unchanged
    reason: str | None = None,
    channel: str | None = None,
    now: datetime | None = None,
) -> Moved:
    now = now or utcnow()
    try:
        return await _apply(
            db, conversation_id, allowed=allowed, to=to, actor=actor, owner_id=owner_id,
            require_owner=require_owner, store_code=store_code, reason=reason, channel=channel,
            now=now,
        )
    except _Lost:
        raise await _conflict(db, conversation_id) from None


class _Lost(Exception):
    """The conditional update matched no row."""


async def _apply(
    db: Database,
    conversation_id: int,
    *,
    allowed: tuple[str, ...],
    to: str,
    actor: Actor,
    owner_id: int | None,
    require_owner: int | None,
    store_code: Any,
    reason: str | None,
    channel: str | None,
    now: datetime,
) -> Moved:
    async with db.transaction() as session:
        before = (
            await session.execute(
                select(
                    Conversation.customer_id, Conversation.status, Conversation.queue_store_code
                ).where(Conversation.id == conversation_id)
            )
        ).first()
        if before is None:
            raise ConversationNotFound(conversation_id)
        values: dict[str, Any] = {"status": to, "owner_id": owner_id, "updated_at": now}
        if store_code is not ...:
            values["queue_store_code"] = store_code
        if to == WAITING:
            values["waiting_since"] = now
            if reason is not None:
                values["handoff_reason"] = reason
            if reason is not None and before.status in (BOT, CLOSED):
                values["handoff_requested_at"] = now
        statement = update(Conversation).where(
            Conversation.id == conversation_id, Conversation.status.in_(allowed)
        )
        if require_owner is not None:
            statement = statement.where(Conversation.owner_id == require_owner)
        result = await session.execute(
            statement.values(**values).execution_options(synchronize_session=False)
        )
        if affected(result) != 1:
            raise _Lost()  # rolls the transaction back
        store = before.queue_store_code if store_code is ... else store_code
        session.add(
            HandoffTransition(
                conversation_id=conversation_id, customer_id=before.customer_id,
                from_status=before.status, to_status=to, actor=actor.kind,
                consultant_id=actor.consultant_id, owner_id=owner_id, store_code=store,
                reason=reason, created_at=now,
            )
        )
        await record_interaction(
            session, before.customer_id, HANDOFF, channel=channel,
            data={
                "from": before.status, "to": to, "by": actor.kind,
                "consultant_id": actor.consultant_id, "owner_id": owner_id,
                "store_code": store, "reason": reason,
            },
            at=now,
        )
    return Moved(conversation_id, before.customer_id, before.status, to, owner_id, store, now)


async def _conflict(db: Database, conversation_id: int) -> HandoffError:
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(Conversation.status, Conversation.owner_id, Consultant.name)
                .outerjoin(Consultant, Consultant.id == Conversation.owner_id)
                .where(Conversation.id == conversation_id)
            )
        ).first()
    if row is None:
        return ConversationNotFound(conversation_id)
    return HandoffConflict(row.status, row.owner_id, row.name)


async def request_consultant(
    db: Database,
    customer_id: str,
    *,
    reason: Reason,
    actor: Actor,
    options: HandoffOptions,
    store_hint: str | None = None,
    channel: str | None = None,
    now: datetime | None = None,
) -> RequestOutcome:
    """Put the customer's conversation in a consultant queue (or say where it already is)."""
    now = now or utcnow()
    async with db.transaction() as session:
        conversation = await conversation_for(session, customer_id)
        conversation_id = conversation.id
        store = await choose_queue(session, customer_id, store_hint, now=now)
    already = True
    try:
        await _move(
            db, conversation_id, allowed=(BOT, CLOSED), to=WAITING, actor=actor,
            store_code=store, reason=reason.value, channel=channel, now=now,
        )
        already = False
    except HandoffConflict:
        pass
    async with db.sessions() as session:
        current = await session.get_one(Conversation, conversation_id)
        store = current.queue_store_code
        position = 0
        if current.status == WAITING:
            position = await session.scalar(
                select(func.count(Conversation.id)).where(
                    Conversation.status == WAITING,
                    _same_queue(store),
                    Conversation.waiting_since <= current.waiting_since,
                )
            ) or 1
        online = await online_count(session, store, now=now)
        status = current.status
        hours = await hours_for(session, store, options.hours)
    open_now = hours.is_open(now)
    estimate = None
    if open_now and online:
        estimate = max(2, math.ceil(position * options.minutes_per_customer / online))
    answer_from = None if open_now else _in_zone_of(hours.next_opening(now), now)
    answer_by = _in_zone_of(hours.closes_at(now), now) if open_now and not online else None
    return RequestOutcome(
        conversation_id, status, store, already, position, online, open_now, answer_from,
        estimate, answer_by, hours.timezone,
    )


def _same_queue(store_code: str | None) -> ColumnElement[bool]:
    if store_code is None:
        return Conversation.queue_store_code.is_(None)
    return Conversation.queue_store_code == store_code


async def claim(db: Database, conversation_id: int, consultant_id: int) -> Moved:
    """The consultant takes a waiting conversation; :class:`HandoffConflict` if someone
    else was faster (or it is no longer waiting)."""
    return await _move(
        db, conversation_id, allowed=(WAITING,), to=WITH_CONSULTANT,
        actor=Actor.consultant(consultant_id), owner_id=consultant_id,
    )


async def reopen(db: Database, conversation_id: int, consultant_id: int) -> Moved:
    """A consultant takes a closed conversation up again (found by a search), as if they
    had claimed it; :class:`HandoffConflict` if it is no longer closed."""
    return await _move(
        db, conversation_id, allowed=(CLOSED,), to=WITH_CONSULTANT,
        actor=Actor.consultant(consultant_id), owner_id=consultant_id,
    )


async def hand_back(db: Database, conversation_id: int, consultant_id: int) -> Moved:
    """Back to the assistant: by the owner, or from the queue by any consultant who sees it."""
    return await _leave_consultants(db, conversation_id, consultant_id, to=BOT)


async def close(db: Database, conversation_id: int, consultant_id: int) -> Moved:
    return await _leave_consultants(db, conversation_id, consultant_id, to=CLOSED)


async def _leave_consultants(
    db: Database, conversation_id: int, consultant_id: int, *, to: str
) -> Moved:
    """Out of the consultants' hands: by the owner, or from the queue by any consultant."""
    try:
        return await _move(
            db, conversation_id, allowed=(WITH_CONSULTANT,), to=to,
            actor=Actor.consultant(consultant_id), require_owner=consultant_id,
        )
    except HandoffConflict as conflict:
        if conflict.status != WAITING:
            raise
    return await _move(
        db, conversation_id, allowed=(WAITING,), to=to, actor=Actor.consultant(consultant_id)
    )


async def transfer_to_queue(
    db: Database, conversation_id: int, consultant_id: int, store_code: str | None
) -> Moved:
    """The owner puts the conversation back in a queue: a store's, or the general one."""
    return await _move(
        db, conversation_id, allowed=(WITH_CONSULTANT,), to=WAITING,
        actor=Actor.consultant(consultant_id), require_owner=consultant_id,
        store_code=store_code.upper() if store_code else None, reason=Reason.TRANSFER.value,
    )


async def transfer_to_consultant(
    db: Database, conversation_id: int, consultant_id: int, to_consultant_id: int
) -> Moved:
    """The owner gives the conversation to a colleague directly."""
    async with db.sessions() as session:
        colleague = await session.get(Consultant, to_consultant_id)
    if colleague is None or not colleague.active or to_consultant_id == consultant_id:
        raise HandoffError("no such colleague to transfer to")
    return await _move(
        db, conversation_id, allowed=(WITH_CONSULTANT,), to=WITH_CONSULTANT,
        actor=Actor.consultant(consultant_id), require_owner=consultant_id,
        owner_id=to_consultant_id, reason=Reason.TRANSFER.value,
    )


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationState:
    conversation_id: int
    customer_id: str
    customer_name: str | None
    language: str | None
    channel: str | None  # the customer's current channel
    status: str
    owner_id: int | None
    owner_name: str | None
    store_code: str | None
    reason: str | None
    waiting_since: datetime | None
    handoff_requested_at: datetime | None

    def visible_to(self, consultant_id: int, stores: tuple[str, ...], admin: bool) -> bool:
        """Admins see everything; a consultant sees what they own, their stores' queues,
        and the general queue's conversations (never another store's)."""
        if admin or self.owner_id == consultant_id:
            return True
        if self.store_code is None:
            return self.handoff_requested_at is not None
        return self.store_code in stores


def state_query() -> Select[Any]:
    """The columns of :class:`ConversationState`, for a caller to filter (see search)."""
    return (
        select(
            Conversation.id, Conversation.customer_id, Customer.display_name, Customer.language,
            Customer.last_channel, Conversation.status, Conversation.owner_id, Consultant.name,
            Conversation.queue_store_code, Conversation.handoff_reason,
            Conversation.waiting_since, Conversation.handoff_requested_at,
        )
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(Consultant, Consultant.id == Conversation.owner_id)
    )


async def conversation_state(db: Database, conversation_id: int) -> ConversationState | None:
    async with db.sessions() as session:
        query = state_query().where(Conversation.id == conversation_id)
        row = (await session.execute(query)).first()
    return ConversationState(*row) if row else None


async def conversation_of_customer(db: Database, customer_id: str) -> ConversationState | None:
    async with db.sessions() as session:
        row = (
            await session.execute(state_query().where(Conversation.customer_id == customer_id))
        ).first()
    return ConversationState(*row) if row else None


async def desk_states(
    db: Database, consultant_id: int, stores: tuple[str, ...], admin: bool
) -> list[ConversationState]:
    """The waiting conversations the consultant may take (oldest first), then their own."""
    async with db.sessions() as session:
        rows = (
            await session.execute(
                state_query()
                .where(
                    (Conversation.status == WAITING)
                    | (Conversation.status == WITH_CONSULTANT)
                    & ((Conversation.owner_id == consultant_id) | literal(admin))
                )
                .order_by(Conversation.waiting_since, Conversation.id)
                .limit(500)
            )
        ).all()
    states = [ConversationState(*row) for row in rows]
    return [s for s in states if s.visible_to(consultant_id, stores, admin)]


async def transitions(db: Database, conversation_id: int) -> list[HandoffTransition]:
    async with db.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(HandoffTransition)
                    .where(HandoffTransition.conversation_id == conversation_id)
                    .order_by(HandoffTransition.id)
                )
            ).all()
        )


@dataclass(frozen=True)
class OnDuty:
    """Whether a person could answer now: within consultant hours and someone online."""

    on_duty: bool
    back_at: datetime | None  # outside hours: the next opening, in the hours' zone


async def on_duty(db: Database, hours: ConsultantHours, *, now: datetime | None = None) -> OnDuty:
    """What the web widget's header says: "consultants available", or when they are back.

    The shopper's queue is not known before they ask, so any queue counts: on duty when
    some timetable is open now with someone online for it (a store's own hours count
    that store's consultants; the global ones anyone). Otherwise ``back_at`` is the
    earliest next opening of any timetable (``None`` when one is open now)."""
    now = now or utcnow()
    async with db.sessions() as session:
        timetables = await duty_timetables(session, hours)
        openings: list[datetime] = []
        open_somewhere = False
        for store, timetable in timetables:
            if timetable.is_open(now):
                open_somewhere = True
                if await online_count(session, store, now=now) > 0:
                    return OnDuty(True, None)
            else:
                opening = timetable.next_opening(now)
                if opening is not None:
                    openings.append(opening)
    if open_somewhere or not openings:
        return OnDuty(False, None)
    return OnDuty(False, min(openings).astimezone(hours.zone))


def _in_zone_of(moment: datetime | None, like: datetime) -> datetime | None:
    """``moment`` in the time zone of ``like`` (the hours answer in their own zone)."""
    return moment.astimezone(like.tzinfo) if moment is not None else None
