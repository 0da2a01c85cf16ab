"""Reading and editing the customer profile: fields, identities, consents, timeline.

The timeline is one list, ordered by time, of everything on the profile: messages in and
out (with channel and author), interactions (stock checks, bookings, handoffs…) and
merges. It is read a page at a time (``offset``/``limit``) straight from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.errors import UnknownCustomer
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.models import ChannelIdentity, Customer, CustomerMerge, MarketingConsent
from vetrina.customers.registry import timeline_sources
from vetrina.language import SUPPORTED
from vetrina.storage.base import utcnow

MAX_PAGE = 200
EDITABLE = ("display_name", "language", "favourite_store_code", "sizes", "tags", "notes")
# The slots of the assistant that a customer's history fills (see memory_slots).
MEMORY_SLOTS = ("language", "product_code", "size", "colour", "store_code")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def get_customer(session: AsyncSession, customer_id: str) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise UnknownCustomer(customer_id)
    return customer


async def current_consents(session: AsyncSession, customer_id: str) -> dict[str, dict[str, Any]]:
    """The latest marketing answer per channel, with its wording and time."""
    rows = (
        await session.scalars(
            select(MarketingConsent)
            .where(MarketingConsent.customer_id == customer_id)
            .order_by(MarketingConsent.given_at, MarketingConsent.id)
        )
    ).all()
    current: dict[str, dict[str, Any]] = {}
    for row in rows:
        current[row.channel] = {
            "granted": row.granted,
            "wording": row.wording,
            "source": row.source,
            "given_at": _iso(row.given_at),
        }
    return current


async def profile(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    """The profile as JSON-able data (the API's ``Profile`` schema)."""
    customer = await get_customer(session, customer_id)
    identities = (
        await session.scalars(
            select(ChannelIdentity)
            .where(ChannelIdentity.customer_id == customer_id)
            .order_by(ChannelIdentity.created_at, ChannelIdentity.id)
        )
    ).all()
    return {
        "id": customer.id,
        "name": customer.display_name,
        "language": customer.language,
        "sizes": dict(customer.sizes or {}),
        "favourite_store_code": customer.favourite_store_code,
        "tags": list(customer.tags or []),
        "notes": customer.notes,
        "last_channel": customer.last_channel,
        "last_seen_at": _iso(customer.last_seen_at),
        "created_at": _iso(customer.created_at),
        "merged_into_id": customer.merged_into_id,
        "erased_at": _iso(customer.erased_at),
        "identities": [
            {
                "channel": i.channel,
                "external_id": i.external_id,
                "display_name": i.display_name,
                "linked_via": i.linked_via,
                "created_at": _iso(i.created_at),
                "last_seen_at": _iso(i.last_seen_at),
            }
            for i in identities
        ],
        "marketing_consent": await current_consents(session, customer_id),
    }


def _clean_sizes(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 20:
        raise ValueError("sizes must be an object of at most 20 kinds, e.g. {\"shoes\": \"42\"}")
    sizes = {}
    for kind, size in value.items():
        if not isinstance(size, str) or not kind.strip() or len(kind) > 40 or len(size) > 20:
            raise ValueError("each size must be a short text, e.g. {\"shoes\": \"42\"}")
        sizes[kind.strip()] = size.strip()
    return sizes


def _clean_tags(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 50:
        raise ValueError("tags must be a list of at most 50 short texts")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 40:
            raise ValueError("each tag must be a text of 1 to 40 characters")
        if tag.strip() not in tags:
            tags.append(tag.strip())
    return tags


def _clean_text(name: str, value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be a text of at most {limit} characters, or null")
    return value.strip() or None


async def update_profile(
    session: AsyncSession, customer_id: str, changes: dict[str, Any]
) -> Customer:
    """Change the editable fields given in ``changes``; ``ValueError`` names a bad one."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    customer = await get_customer(session, customer_id)
    if customer.merged_into_id or customer.erased_at:
        raise ValueError("this customer was merged or erased; edit the surviving customer")
    for name, value in changes.items():
        if name == "sizes":
            customer.sizes = _clean_sizes(value)
        elif name == "tags":
            customer.tags = _clean_tags(value)
        elif name == "notes":
            customer.notes = _clean_text(name, value, 10_000)
        elif name == "language":
            if value not in (None, "it", "en"):
                raise ValueError("language must be it, en or null")
            customer.language = value
        else:
            setattr(customer, name, _clean_text(name, value, 200 if name == "display_name" else 32))
    return customer


async def record_consent(
    session: AsyncSession,
    customer_id: str,
    channel: str,
    granted: bool,
    wording: str,
    *,
    source: str | None = None,
    at: datetime | None = None,
) -> MarketingConsent:
    """Add the customer's answer about marketing on ``channel``, with the wording shown."""
    await get_customer(session, customer_id)
    if not isinstance(wording, str) or not wording.strip():
        raise ValueError("the consent needs the exact wording the customer saw")
    consent = MarketingConsent(
        customer_id=customer_id,
        channel=channel[:20],
        granted=bool(granted),
        wording=wording.strip()[:5000],
        source=(source or None) and source[:40],
        given_at=at or utcnow(),
    )
    session.add(consent)
    await session.flush()
    return consent


async def memory_slots(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    """The assistant's slots that the profile can fill: the language and the product, size,
    colour and store of the latest stock check (the store falls back to the favourite)."""
    customer = await get_customer(session, customer_id)
    slots: dict[str, Any] = {}
    if customer.language in SUPPORTED:
        slots["language"] = customer.language
    last = await session.scalar(
        select(Interaction)
        .where(Interaction.customer_id == customer_id, Interaction.kind == STOCK_CHECK)
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
        .limit(1)
    )
    data = (last.data or {}) if last is not None else {}
    for name in ("product_code", "size", "colour", "store_code"):
        if data.get(name):
            slots[name] = data[name]
    if "store_code" not in slots and customer.favourite_store_code:
        slots["store_code"] = customer.favourite_store_code
    return slots


# --- timeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelinePage:
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.items)
        return end if end < self.total else None


async def timeline(
    session: AsyncSession,
    customer_id: str,
    *,
    offset: int = 0,
    limit: int = 50,
    newest_first: bool = False,
) -> TimelinePage:
    """One page of the customer's timeline, oldest first (or newest first).

    Interactions and merges are the customers package's own entries; messages (and any
    other kind) come from the packages that registered a timeline source.
    """
    await get_customer(session, customer_id)
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    sources = timeline_sources()
    entries = union_all(
        *(source.rows(customer_id) for source in sources),
        select(
            literal("interaction").label("kind"), Interaction.id.label("id"),
            Interaction.created_at.label("at"),
        ).where(Interaction.customer_id == customer_id),
        select(
            literal("merge").label("kind"), CustomerMerge.id.label("id"),
            CustomerMerge.created_at.label("at"),
        ).where(
            (CustomerMerge.survivor_id == customer_id) | (CustomerMerge.merged_id == customer_id)
        ),
    ).subquery()
    total = int(await session.scalar(select(func.count()).select_from(entries)) or 0)
    order = (
        (entries.c.at.desc(), entries.c.kind.desc(), entries.c.id.desc())
        if newest_first
        else (entries.c.at, entries.c.kind, entries.c.id)
    )
    page = (
        await session.execute(
            select(entries.c.kind, entries.c.id).order_by(*order).offset(offset).limit(limit)
        )
    ).all()
    wanted: dict[str, list[int]] = {"interaction": [], "merge": []}
    for source in sources:
        wanted[source.kind] = []
    for kind, row_id in page:
        wanted[kind].append(row_id)
    loaded: dict[tuple[str, int], dict[str, Any]] = {}
    for source in sources:
        if wanted[source.kind]:
            for row_id, entry in (await source.load(session, wanted[source.kind])).items():
                loaded[(source.kind, row_id)] = entry
    if wanted["interaction"]:
        interactions = await session.scalars(
            select(Interaction).where(Interaction.id.in_(wanted["interaction"]))
        )
        for i in interactions:
            loaded[("interaction", i.id)] = {
                "type": i.kind,
                "id": i.id,
                "at": _iso(i.created_at),
                "channel": i.channel,
                "data": dict(i.data or {}),
            }
    if wanted["merge"]:
        merges = await session.scalars(
            select(CustomerMerge).where(CustomerMerge.id.in_(wanted["merge"]))
        )
        for r in merges:
            loaded[("merge", r.id)] = {
                "type": "merge",
                "id": r.id,
                "at": _iso(r.created_at),
                "channel": None,
                "data": {
                    "survivor_id": r.survivor_id,
                    "merged_id": r.merged_id,
                    "actor": r.actor,
                    "reason": r.reason,
                    "overridden": (r.profile or {}).get("overridden") or {},
                    "undone_at": _iso(r.undone_at),
                    "undone_by": r.undone_by,
                },
            }
    items = [loaded[(kind, row_id)] for kind, row_id in page if (kind, row_id) in loaded]
    return TimelinePage(items, total, offset, limit)
