"""Customer, ChannelIdentity and the profile tables around them: consents, merges,
one-time link codes and the anonymous counts left after an erasure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vetrina.storage.base import Base, utcnow


def new_customer_id() -> str:
    """A random, URL-safe id: it is also the Rasa ``sender`` of the customer."""
    return uuid.uuid4().hex


# Channels an identity can be on. ``web`` is a browser session of the widget (anonymous
# until linked), ``shop`` a logged-in account of the retailer's site (signed identity token),
# ``whatsapp`` an E.164 number, ``instagram`` an Instagram-scoped id, ``email`` an address.
IDENTITY_CHANNELS = ("web", "shop", "whatsapp", "instagram", "email")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_customer_id)
    # The customer's name ("name" in the profile API).
    display_name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    last_channel: Mapped[str | None] = mapped_column(String(20))
    last_seen_at: Mapped[datetime | None]
    # The store the customer confirmed as theirs ("is Milano Duomo your usual store?"):
    # a store code, not a foreign key, so a closed store leaves the profile intact.
    favourite_store_code: Mapped[str | None] = mapped_column(String(32))
    # Sizes by kind of item, as the customer gave them: {"shoes": "42", "tops": "M"}.
    sizes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    # Set when this customer was merged into another one: the row stays (so the merge can
    # be undone) but everything it owned belongs to ``merged_into_id``.
    merged_into_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # Set by an erasure: the row is an anonymous tombstone (its bookings still point to it).
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identities: Mapped[list[ChannelIdentity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )


class ChannelIdentity(Base):
    """Who the customer is on one channel: a web session, a phone number, an IG id."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # How the identity came to this customer: "contact" (wrote from it), "token" (signed
    # identity token), "code" (one-time code), "merge" (moved by a merge).
    linked_via: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class MarketingConsent(Base):
    """One answer of the customer about marketing on one channel, with the exact wording
    they saw. Rows are only added: the latest per channel is the current consent."""

    __tablename__ = "marketing_consents"
    __table_args__ = (Index("ix_marketing_consents_customer_channel", "customer_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    granted: Mapped[bool]
    wording: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(40))  # "chat", "console", "import"…
    given_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerMerge(Base):
    """A merge of ``merged_id`` into ``survivor_id``: who, when, why, and what moved.

    ``moved`` lists, per table, the primary keys of the rows that changed owner, and
    ``profile`` the survivor's profile fields before and after, so :func:`undo_merge`
    can put everything back.
    """

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    survivor_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    merged_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(200))


class LinkCode(Base):
    """A one-time code that proves a channel identity belongs to ``customer_id``.

    Two directions (``direction``):

    - ``in`` (the default way, :mod:`vetrina.customers.link_proofs`): the web chat shows
      the code, the shopper sends it from WhatsApp or Instagram; the sender's identity is
      written into ``channel``/``external_id`` when it arrives (empty until then).
      ``client_key`` is a keyed hash of the requesting web client's address, for the
      per-address issue limit.
    - ``out`` (optional, ``VETRINA_LINK_OUTBOUND_CODES``, :mod:`vetrina.customers.linking`):
      the code is sent to ``external_id`` and typed back in the chat of ``customer_id``.

    Only a hash of the code is kept; codes expire, are single-use and allow few attempts.
    """

    __tablename__ = "link_codes"
    __table_args__ = (
        Index("ix_link_codes_customer_created", "customer_id", "created_at"),
        Index("ix_link_codes_target_created", "channel", "external_id", "created_at"),
        Index("ix_link_codes_code_hash", "code_hash"),
        Index("ix_link_codes_client_created", "client_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3), default="out", server_default="out")
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str] = mapped_column(String(64))
    client_key: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LinkCodeFailure(Base):
    """A message from a WhatsApp/Instagram sender that carried something shaped like a
    link code that matched none: counted per sender so inbound messages cannot brute-force
    codes. ``sender_key`` is a hash of the channel and the sender id, not the id itself."""

    __tablename__ = "link_code_failures"
    __table_args__ = (Index("ix_link_code_failures_sender_at", "sender_key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Erasure(Base):
    """What is left of an erased customer: when, and anonymous counts for the KPIs."""

    __tablename__ = "customer_erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
