"""Who a customer is on a channel, and whether the channel lets us write to them now.

Messaging providers only carry a business's free-form message within a window after the
customer's last message (WhatsApp and Instagram: 24 hours; Instagram also lets a human
agent answer for 7 days with the ``HUMAN_AGENT`` tag). Channel senders ask here for the
recipient's address and the time of their last inbound message, and apply their
provider's rule; a message that may not go out is *held* (see ``DeliveryHeld``), never
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from vetrina.conversations.models import Direction, Message, OutboundStatus
from vetrina.customers.identities import find_customer_id
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)

# How a message that must reach the customer even outside the window asks for it: the
# sender uses the channel's approved template of that name (WhatsApp: a Twilio Content
# SID configured as TWILIO_TEMPLATE_<NAME>), filled with ``variables``.
#   payload["must_send"] = {"template": "booking_reminder", "variables": {"1": "Sat 10:30"}}
MUST_SEND = "must_send"

_SEEN_BY_CUSTOMER = (
    OutboundStatus.SENT.value,
    OutboundStatus.DELIVERED.value,
    OutboundStatus.READ.value,
)


@dataclass(frozen=True)
class Recipient:
    """Where and how a stored outbound message reaches its customer on one channel."""

    customer_id: str
    channel: str
    external_id: str  # phone number, Instagram-scoped id…
    display_name: str | None
    language: str | None
    last_inbound_at: datetime | None

    def within(self, window: timedelta, now: datetime | None = None) -> bool:
        """The customer wrote on this channel less than ``window`` ago."""
        if self.last_inbound_at is None:
            return False
        return (now or utcnow()) - self.last_inbound_at <= window


def must_send(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The template request of an outbound payload, if it has a well-formed one."""
    spec = payload.get(MUST_SEND)
    if not isinstance(spec, dict) or not isinstance(spec.get("template"), str):
        return None
    given = spec.get("variables")
    variables: dict[Any, Any] = given if isinstance(given, dict) else {}
    return {
        "template": spec["template"],
        "variables": {str(k): str(v) for k, v in variables.items()},
    }


async def recipient(db: Database, customer_id: str, channel: str) -> Recipient | None:
    """The customer's address on ``channel`` and the time of their last message there."""
    async with db.sessions() as session:
        identity = await session.scalar(
            select(ChannelIdentity)
            .where(ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == channel)
            .order_by(ChannelIdentity.last_seen_at.desc(), ChannelIdentity.id.desc())
            .limit(1)
        )
        if identity is None:
            return None
        language = await session.scalar(select(Customer.language).where(Customer.id == customer_id))
        # SQLite returns func.max() of a timestamp as text, PostgreSQL as a datetime.
        last_inbound_at: datetime | str | None = await session.scalar(
            select(func.max(Message.created_at)).where(
                Message.customer_id == customer_id,
                Message.channel == channel,
                Message.direction == Direction.IN.value,
            )
        )
    if isinstance(last_inbound_at, str):  # SQLite returns func.max() of a timestamp as text
        last_inbound_at = datetime.fromisoformat(last_inbound_at)
    if last_inbound_at is not None and last_inbound_at.tzinfo is None:
        last_inbound_at = last_inbound_at.replace(tzinfo=timezone.utc)
    return Recipient(
        customer_id, channel, identity.external_id, identity.display_name, language, last_inbound_at
    )


async def offered_buttons(db: Database, channel: str, external_id: str) -> list[dict[str, str]]:
    """The options of the last message with buttons the customer saw since they last wrote.

    Channels without native buttons show them as a numbered list; a reply of "2" or of an
    option's title is then that option. Empty when nothing is on offer.
    """
    async with db.sessions() as session:
        customer_id = await find_customer_id(session, channel, external_id)
        if customer_id is None:
            return []
        last_inbound_id = await session.scalar(
            select(func.max(Message.id)).where(
                Message.customer_id == customer_id,
                Message.channel == channel,
                Message.direction == Direction.IN.value,
            )
        )
        query = (
            select(Message.payload)
            .where(
                Message.customer_id == customer_id,
                Message.channel == channel,
                Message.direction == Direction.OUT.value,
                Message.status.in_(_SEEN_BY_CUSTOMER),
            )
            .order_by(Message.id.desc())
            .limit(20)
        )
        if last_inbound_id is not None:
            query = query.where(Message.id > last_inbound_id)
        payloads = (await session.scalars(query)).all()
    for payload in payloads:
        buttons = (payload or {}).get("buttons")
        if buttons:
            return [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in buttons
                if isinstance(b, dict)
            ]
    return []


async def display_name_known(db: Database, channel: str, external_id: str) -> bool:
    async with db.sessions() as session:
        name = await session.scalar(
            select(ChannelIdentity.display_name).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
    return bool(name)


async def remember_display_name(
    db: Database, channel: str, external_id: str, display_name: str
) -> None:
    """Record the name the provider gives for a channel identity (and the customer's, if unset)."""
    display_name = display_name.strip()[:200]
    if not display_name:
        return
    async with db.transaction() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
        if identity is None:
            return
        identity.display_name = display_name
        customer = await session.get_one(Customer, identity.customer_id)
        if not customer.display_name:
            customer.display_name = display_name
