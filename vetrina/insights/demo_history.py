"""A seeded history of several months for the demo retailer, so the Insights page lives.

``vetrina demo`` loads the catalog and stores (:mod:`vetrina.catalog.demo`), then calls
:func:`load_demo_history`: customers on the web, WhatsApp and Instagram, conversations
with handoffs to (former, inactive) demo consultants, stock and nearest-store questions,
try-on bookings that were attended, missed or cancelled, till and web orders with
refunds, sales nobody can match, and customers who wrote twice and were merged.

Why it is safe to run on every ``make run``:

- The same seed and the same *anchor day* always give the same rows. The anchor (the day
  the history ends) is today's date on the first run and is stored in ``insights_state``,
  so a later run, even on another day, regenerates exactly the same history.
- Customers, messages, bookings and questions are written in one transaction, only when
  the seed's first customer is not there yet; merges are done once (a merged customer is
  skipped); orders go through :meth:`Insights.ingest`, idempotent by source and order id.
- Nothing can reach a shopper: every message is already processed or sent, every booking
  is in the past with its outcome (no reminder, no hold), the consultants cannot log in.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select

from vetrina.bookings.calendar import CODE_ALPHABET
from vetrina.bookings.models import Booking
from vetrina.bookings.outcomes import BookingCheckIn, BookingOutcomeEvent
from vetrina.catalog.models import Product, Store, Variant
from vetrina.conversations.consultants import Consultant, ConsultantStore
from vetrina.conversations.handoff import HandoffTransition
from vetrina.conversations.models import Conversation, Message
from vetrina.customers.interactions import STOCK_CHECK, Interaction
from vetrina.customers.merge_sync import merge_and_sync
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.insights.models import InsightsState
from vetrina.insights.orders import MAX_BATCH
from vetrina.insights.rollups import RefreshReport
from vetrina.insights.service import Insights
from vetrina.storage.database import Database

DEFAULT_MONTHS = 6
CUSTOMERS_PER_STORE = 40
MERGED_PAIRS = 12
NAMES = (
    "Giulia",
    "Marco",
    "Sara",
    "Luca",
    "Chiara",
    "Matteo",
    "Elena",
    "Davide",
    "Francesca",
    "Alessandro",
    "Martina",
    "Simone",
    "Valentina",
    "Andrea",
    "Federica",
    "Paolo",
    "Silvia",
    "Stefano",
    "Laura",
    "Giorgio",
    "Anna",
    "Roberto",
    "Irene",
    "Nicola",
)
SURNAMES = (
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Costa",
    "Giordano",
)
INBOUND = (
    "Ciao, avete questo modello in negozio?",
    "Hi, is this available in my size?",
    "Quali sono gli orari del negozio?",
    "Vorrei provarlo prima di comprarlo",
    "Can I book a fitting?",
    "C'è il 42 in nero?",
    "Posso parlare con una persona?",
)
# Not an argon2 hash, so no password ever matches it (and the account is inactive anyway).
NO_LOGIN = "!demo-history"
BOT_REPLY = "Certo! Ecco cosa ho trovato. / Sure, here is what I found."
CONSULTANT_REPLY = "Ciao, sono in negozio: ti aiuto io. / Hi, I'm in the store: let me help."


@dataclass(frozen=True)
class StoreInfo:
    code: str
    latitude: float
    longitude: float
    try_on: bool
    weight: float


@dataclass(frozen=True)
class Sku:
    sku: str
    product: str
    cents: int


@dataclass
class PlannedCustomer:
    id: str
    name: str
    channel: str
    home: str
    created_at: datetime
    phone: str | None = None
    email: str | None = None
    shop: str | None = None
    loyalty: str | None = None
    favourite: bool = False
    location: tuple[float, float] | None = None
    identities: list[tuple[str, str]] = field(default_factory=list)
    duplicate_of: str | None = None  # written twice, merged into this one


@dataclass
class PlannedBooking:
    code: str
    customer: str
    store: str
    created_at: datetime
    starts_at: datetime
    status: str  # confirmed is never planned: every booking has its outcome
    checked_in_at: datetime | None = None


@dataclass
class Plan:
    anchor: date
    consultants: list[tuple[str, str, str]]  # email, name, store
    customers: list[PlannedCustomer]
    # customer, channel, at, author ("customer", "bot", "consultant"), consultant email
    messages: list[tuple[str, str, datetime, str, str | None]]
    # customer, at, from, to, actor, store, consultant email
    transitions: list[tuple[str, datetime, str, str, str, str | None, str | None]]
    interactions: list[tuple[str, str, str, datetime, dict[str, Any]]]
    bookings: list[PlannedBooking]
    orders: list[dict[str, Any]]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _phone(rng: random.Random) -> str:
    """An Italian mobile number in E.164 (a real prefix, so ``phonenumbers`` accepts it)."""
    prefix = rng.choice(("320", "328", "329", "333", "335", "338", "340", "347", "349", "380"))
    return f"+39{prefix}{rng.randrange(1_000_000, 9_999_999)}"


def _code(rng: random.Random, taken: set[str]) -> str:
    while True:
        code = "".join(rng.choice(CODE_ALPHABET) for _ in range(6))
        if code not in taken and any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            taken.add(code)
            return code


def _at(day: date, rng: random.Random, first: int = 8, last: int = 20) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc) + timedelta(
        seconds=rng.randrange(first * 3600, last * 3600)
    )


class _Orders:
    """Order records of the plan, numbered by kind so the ids are stable."""

    def __init__(self, seed: int, end: datetime, rng: random.Random) -> None:
        self.seed, self.end, self.rng = seed, end, rng
        self.records: list[dict[str, Any]] = []
        self.counts = {"P": 0, "W": 0, "R": 0}

    def add(
        self,
        source: str,
        at: datetime,
        skus: Sequence[Sku],
        *,
        store: str | None,
        customer: dict[str, str] | None,
        booking_code: str | None = None,
    ) -> None:
        if at >= self.end:
            return
        kind = "P" if source == "pos" else "W"
        self.counts[kind] += 1
        bought = self.rng.sample(list(skus), self.rng.choice((1, 1, 1, 2)))
        lines = [{"sku": s.sku, "quantity": 1, "unit_price": _money(s.cents)} for s in bought]
        total = sum(s.cents for s in bought)
        record: dict[str, Any] = {
            "order_id": f"DEMO{self.seed}-{kind}{self.counts[kind]:06d}",
            "type": "order",
            "occurred_at": at.isoformat(),
            "source": source,
            "currency": "EUR",
            "lines": lines,
            "total": _money(total),
        }
        if store is not None:
            record["store"] = store
        if customer:
            record["customer"] = customer
        if booking_code is not None:
            record["booking_code"] = booking_code
        self.records.append(record)
        if self.rng.random() < 0.05:
            refunded = at + timedelta(days=self.rng.randrange(2, 21), hours=self.rng.randrange(8))
            if refunded < self.end:
                self.counts["R"] += 1
                refund = {
                    **record,
                    "order_id": f"DEMO{self.seed}-R{self.counts['R']:06d}",
                    "type": "refund",
                    "refund_of": record["order_id"],
                    "occurred_at": refunded.isoformat(),
                }
                refund.pop("booking_code", None)
                self.records.append(refund)


def plan_history(
    seed: int,
    anchor: date,
    stores: Sequence[StoreInfo],
    skus: Sequence[Sku],
    *,
    months: int = DEFAULT_MONTHS,
) -> Plan:
    """The whole history, decided before anything is written (a pure function of its
    arguments, so two runs write the same rows)."""
    rng = random.Random(f"demo-history:{seed}:{anchor}")  # noqa: S311  (a demo, not a secret)
    first_day = anchor - timedelta(days=30 * months)
    end = datetime.combine(anchor, time(0), tzinfo=timezone.utc)
    days = [first_day + timedelta(days=n) for n in range((anchor - first_day).days)]
    weights = [s.weight for s in stores]
    consultants = [
        (f"demo.{n + 1:02d}@consultants.vetrina.example", f"{NAMES[n % len(NAMES)]} (demo)", s.code)
        for n, s in enumerate(stores[: min(len(stores), 12)])
    ]
    staff = {store: email for email, _, store in consultants}
    # The products everyone asks for and the shops often miss: the top of "demand missed".
    hot = rng.sample(list(skus), min(6, len(skus)))

    customers: list[PlannedCustomer] = []
    for n in range(CUSTOMERS_PER_STORE * len(stores)):
        home = rng.choices(stores, weights)[0]
        channel = rng.choices(("web", "whatsapp", "instagram"), (5, 3, 2))[0]
        name = f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}"
        person = PlannedCustomer(
            id=f"demo{seed}c{n:05d}",
            name=name,
            channel=channel,
            home=home.code,
            created_at=_at(rng.choice(days), rng),
        )
        if channel == "whatsapp" or rng.random() < 0.5:
            person.phone = _phone(rng)
        if rng.random() < 0.6:
            person.email = f"{name.split()[0].lower()}.{n}@example.com"
        if channel == "web" and rng.random() < 0.6:
            person.shop = f"shop-{seed}-{n:05d}"
        if rng.random() < 0.3:
            person.loyalty = f"L{seed}{n:05d}"
        person.favourite = rng.random() < 0.4
        if rng.random() < 0.12:
            km = rng.choice((1, 3, 8, 25, 60))
            person.location = (
                home.latitude + km / 111 * rng.choice((-1, 1)) * 0.7,
                home.longitude + km / 111 * rng.choice((-1, 1)) * 0.7,
            )
        if channel == "web":
            person.identities.append(("web", f"demo-{seed}-{n:05d}"))
        elif channel == "whatsapp":
            assert person.phone is not None  # noqa: S101  (set just above)
            person.identities.append(("whatsapp", person.phone))
        else:
            person.identities.append(("instagram", f"1784{seed:03d}{n:08d}"))
        if person.email and rng.random() < 0.5:
            person.identities.append(("email", person.email))
        if person.shop:
            person.identities.append(("shop", person.shop))
        customers.append(person)
    # People who wrote on WhatsApp and, separately, on the web: merged by a consultant.
    originals = [c for c in customers if c.channel == "whatsapp"][:MERGED_PAIRS]
    for n, original in enumerate(originals):
        customers.append(
            PlannedCustomer(
                id=f"demo{seed}d{n:05d}",
                name=original.name,
                channel="web",
                home=original.home,
                created_at=original.created_at + timedelta(days=rng.randrange(1, 20)),
                email=original.email,
                identities=[("web", f"demo-{seed}-dup-{n:05d}")],
                duplicate_of=original.id,
            )
        )

    by_code = {s.code: s for s in stores}
    orders = _Orders(seed, end, rng)
    messages: list[tuple[str, str, datetime, str, str | None]] = []
    transitions: list[tuple[str, datetime, str, str, str, str | None, str | None]] = []
    interactions: list[tuple[str, str, str, datetime, dict[str, Any]]] = []
    bookings: list[PlannedBooking] = []
    codes: set[str] = set()

    def keys_of(person: PlannedCustomer, *prefer: str) -> dict[str, str]:
        known = {
            "shop_account": person.shop,
            "loyalty_id": person.loyalty,
            "phone": person.phone,
            "email": person.email,
        }
        for key in prefer:
            if known.get(key):
                return {key: str(known[key])}
        return {k: v for k, v in known.items() if v and rng.random() < 0.5}

    for person in customers:
        sessions = rng.choice((1, 1, 2, 2, 3, 4))
        start = person.created_at
        for _ in range(sessions):
            at = start + timedelta(days=rng.randrange(0, 45), seconds=rng.randrange(3600 * 6))
            if at >= end - timedelta(hours=1):
                continue
            channel = person.channel
            for exchange in range(rng.choice((1, 2, 2, 3))):
                moment = at + timedelta(seconds=90 * exchange)
                messages.append((person.id, channel, moment, "customer", None))
                messages.append((person.id, channel, moment + timedelta(seconds=2), "bot", None))
            if rng.random() < 0.22:
                asked = at + timedelta(minutes=5)
                transitions.append(
                    (person.id, asked, "bot", "waiting", "customer", person.home, None)
                )
                owner = staff.get(person.home)
                if owner is not None and rng.random() < 0.85:
                    claimed = asked + timedelta(seconds=int(rng.expovariate(1 / 240)) + 15)
                    transitions.append(
                        (
                            person.id,
                            claimed,
                            "waiting",
                            "with_consultant",
                            "consultant",
                            person.home,
                            owner,
                        )
                    )
                    answered = claimed + timedelta(seconds=rng.randrange(10, 180))
                    messages.append((person.id, channel, answered, "consultant", owner))
                    transitions.append(
                        (
                            person.id,
                            answered + timedelta(minutes=12),
                            "with_consultant",
                            "closed",
                            "consultant",
                            person.home,
                            owner,
                        )
                    )
                    if rng.random() < 0.25:  # the consultant's shopper comes to the store
                        orders.add(
                            "pos",
                            answered + timedelta(days=rng.randrange(1, 12), hours=2),
                            skus,
                            store=person.home,
                            customer=keys_of(person, "phone", "email"),
                        )
            if rng.random() < 0.35:
                sku = rng.choice(hot) if rng.random() < 0.5 else rng.choice(skus)
                status = rng.choices(
                    ("out_of_stock", "last_pieces", "in_stock"),
                    (5, 2, 3) if sku in hot else (1, 2, 7),
                )[0]
                interactions.append(
                    (
                        person.id,
                        STOCK_CHECK,
                        channel,
                        at + timedelta(seconds=30),
                        {
                            "outcome": "answer",
                            "product_code": sku.product,
                            "sku": sku.sku,
                            "store_code": person.home,
                            "status": status,
                        },
                    )
                )
            if rng.random() < 0.12:
                interactions.append(
                    (
                        person.id,
                        STOCK_CHECK,
                        channel,
                        at + timedelta(seconds=40),
                        {
                            "outcome": "nearest_stores",
                            "product_code": None,
                            "store_code": None,
                            "status": None,
                        },
                    )
                )
            if person.location is not None:
                interactions.append(
                    (
                        person.id,
                        "location_shared",
                        channel,
                        at + timedelta(seconds=20),
                        {
                            "location": {
                                "latitude": person.location[0],
                                "longitude": person.location[1],
                            }
                        },
                    )
                )
            home = by_code[person.home]
            if home.try_on and channel != "instagram" and rng.random() < 0.3:
                created = at + timedelta(minutes=8)
                starts = datetime.combine(
                    (created + timedelta(days=rng.randrange(1, 6))).date(),
                    time(rng.randrange(9, 17), rng.choice((0, 30))),
                    tzinfo=timezone.utc,
                )
                if starts + timedelta(hours=1) >= end:
                    continue
                outcome = rng.choices(("cancelled", "completed", "no_show"), (12, 66, 22))[0]
                booking = PlannedBooking(
                    _code(rng, codes), person.id, person.home, created, starts, outcome
                )
                if outcome == "completed":
                    booking.checked_in_at = starts - timedelta(minutes=rng.randrange(0, 10))
                    if rng.random() < 0.65:
                        bought = starts + timedelta(minutes=rng.randrange(20, 60 * 48))
                        named = rng.random() < 0.5
                        orders.add(
                            "pos",
                            bought,
                            skus,
                            store=person.home,
                            customer=None if named else keys_of(person, "phone", "loyalty_id"),
                            booking_code=booking.code if named else None,
                        )
                bookings.append(booking)
            elif rng.random() < 0.1:
                orders.add(
                    "web",
                    at + timedelta(hours=rng.randrange(1, 70)),
                    skus,
                    store=None,
                    customer=keys_of(person, "shop_account", "email"),
                )
            elif rng.random() < 0.06:
                orders.add(
                    "pos",
                    at + timedelta(days=rng.randrange(1, 10), hours=3),
                    skus,
                    store=person.home,
                    customer=keys_of(person, "phone", "email"),
                )
    # Walk-in till sales and web orders with no conversation: most of the business, and
    # the sales nobody can match (no details, or a phone or email Vetrina never saw).
    for day in days:
        for store in stores:
            for _ in range(
                rng.choices((0, 1, 2, 3), (3, 4, 2, 1))[0]
                if store.weight > 1
                else rng.choices((0, 1, 2), (5, 4, 1))[0]
            ):
                roll = rng.random()
                customer: dict[str, str] | None = None
                if roll < 0.2:
                    customer = {"phone": _phone(rng)}
                elif roll < 0.3:
                    customer = {"email": f"walkin.{rng.randrange(10**6)}@example.com"}
                elif roll < 0.45:
                    regular = rng.choice(customers)
                    customer = keys_of(regular, "loyalty_id", "phone") or None
                orders.add("pos", _at(day, rng, 9, 19), skus, store=store.code, customer=customer)
        for _ in range(rng.choices((0, 1, 2, 3), (3, 4, 2, 1))[0]):
            regular = rng.choice(customers)
            customer = (
                keys_of(regular, "shop_account", "email") or None
                if rng.random() < 0.4
                else {"email": f"shopper.{rng.randrange(10**6)}@example.com"}
            )
            orders.add("web", _at(day, rng, 0, 24), skus, store=None, customer=customer)
    orders.records.sort(key=lambda r: (r["occurred_at"], r["order_id"]))
    # A refund must come after its order in the batches: it is later by construction.
    return Plan(
        anchor,
        consultants,
        customers,
        messages,
        transitions,
        interactions,
        bookings,
        orders.records,
    )


async def _catalogue(db: Database) -> tuple[list[StoreInfo], list[Sku]]:
    async with db.sessions() as session:
        stores = [
            StoreInfo(
                code,
                lat,
                lon,
                "try_on" in (services or []) and bool(enabled),
                3.0 if n < 4 else 1.0,
            )
            for n, (code, lat, lon, services, enabled) in enumerate(
                await session.execute(
                    select(
                        Store.code,
                        Store.latitude,
                        Store.longitude,
                        Store.services,
                        Store.try_on_enabled,
                    )
                    .where(Store.active.is_(True))
                    .order_by(Store.code)
                )
            )
        ]
        rows = (
            await session.execute(
                select(Variant.sku, Product.code, Variant.price_cents)
                .join(Product, Product.id == Variant.product_id)
                .order_by(Variant.sku)
            )
        ).all()
    step = max(1, len(rows) // 80)
    skus = [Sku(sku, product, cents) for sku, product, cents in rows[::step] if cents > 0]
    return stores, skus


def _state_name(seed: int) -> str:
    return f"demo_history:{seed}"


async def _anchor(db: Database, seed: int, today: date) -> date:
    """The day the history ends: stored on the first run, reused ever after."""
    async with db.transaction() as session:
        state = await session.get(InsightsState, _state_name(seed))
        if state is None:
            state = InsightsState(
                name=_state_name(seed), number=0, text=json.dumps({"anchor": today.isoformat()})
            )
            session.add(state)
        return date.fromisoformat(json.loads(state.text)["anchor"])


async def _write(db: Database, plan: Plan) -> bool:
    """Customers, conversations, questions and bookings in one transaction; False when
    they are already there."""
    first = plan.customers[0].id
    async with db.transaction() as session:
        if await session.get(Customer, first) is not None:
            return False
        consultant_ids: dict[str, int] = {}
        for email, name, store in plan.consultants:
            existing = await session.scalar(select(Consultant.id).where(Consultant.email == email))
            if existing is None:
                # Inactive, with no usable password: history only, never a login or a queue.
                row = Consultant(email=email, name=name, password_hash=NO_LOGIN, active=False)
                session.add(row)
                await session.flush()
                session.add(ConsultantStore(consultant_id=row.id, store_code=store))
                existing = row.id
            consultant_ids[email] = existing
        stores: dict[str, int] = {
            code: store_id for code, store_id in await session.execute(select(Store.code, Store.id))
        }
        for person in plan.customers:
            session.add(
                Customer(
                    id=person.id,
                    display_name=person.name,
                    language="it",
                    last_channel=person.channel,
                    last_seen_at=person.created_at,
                    favourite_store_code=person.home if person.favourite else None,
                    created_at=person.created_at,
                    updated_at=person.created_at,
                )
            )
        await session.flush()
        for person in plan.customers:
            for channel, external_id in person.identities:
                session.add(
                    ChannelIdentity(
                        customer_id=person.id,
                        channel=channel,
                        external_id=external_id,
                        display_name=person.name,
                        linked_via="contact",
                        created_at=person.created_at,
                        last_seen_at=person.created_at,
                    )
                )
        conversations = {p.id: Conversation(customer_id=p.id, status="bot") for p in plan.customers}
        session.add_all(conversations.values())
        await session.flush()
        for n, (customer, channel, at, author, consultant) in enumerate(plan.messages):
            inbound = author == "customer"
            session.add(
                Message(
                    conversation_id=conversations[customer].id,
                    customer_id=customer,
                    direction="in" if inbound else "out",
                    author=author,
                    channel=channel,
                    text=INBOUND[n % len(INBOUND)]
                    if inbound
                    else CONSULTANT_REPLY
                    if author == "consultant"
                    else BOT_REPLY,
                    payload={"consultant": {"id": consultant_ids[consultant], "name": "demo"}}
                    if consultant
                    else {},
                    provider_message_id=f"demo-{customer}-{n}",
                    status="processed" if inbound else "sent",
                    seen_at=None if inbound else at,
                    next_attempt_at=at,
                    created_at=at,
                    updated_at=at,
                )
            )
        for customer, at, old, new, actor, queue, consultant in plan.transitions:
            owner = consultant_ids[consultant] if consultant else None
            session.add(
                HandoffTransition(
                    conversation_id=conversations[customer].id,
                    customer_id=customer,
                    from_status=old,
                    to_status=new,
                    actor=actor,
                    consultant_id=owner if actor == "consultant" else None,
                    owner_id=owner if new == "with_consultant" else None,
                    store_code=queue,
                    reason="customer_asked" if new == "waiting" else None,
                    created_at=at,
                )
            )
        for customer, kind, channel, at, data in plan.interactions:
            session.add(
                Interaction(
                    customer_id=customer, kind=kind, channel=channel, data=data, created_at=at
                )
            )
        rows: list[tuple[Booking, PlannedBooking]] = []
        for planned in plan.bookings:
            booking = Booking(
                code=planned.code,
                customer_id=planned.customer,
                store_id=stores[planned.store],
                starts_at=planned.starts_at,
                ends_at=planned.starts_at + timedelta(minutes=30),
                status=planned.status,
                channel="web",
                calendar_token=f"demo-{planned.code}-{planned.customer}",
                reminder_sent_at=planned.starts_at - timedelta(days=1),
                created_at=planned.created_at,
                # updated now, so the rollups' incremental run sees the booking
            )
            session.add(booking)
            rows.append((booking, planned))
        await session.flush()
        staff = "demo-store"
        for booking, planned in rows:
            if planned.checked_in_at is not None:
                session.add(
                    BookingCheckIn(
                        booking_id=booking.id,
                        checked_in_at=planned.checked_in_at,
                        checked_in_by=staff,
                    )
                )
                session.add(
                    BookingOutcomeEvent(
                        booking_id=booking.id,
                        action="arrived",
                        actor=staff,
                        at=planned.checked_in_at,
                    )
                )
                session.add(
                    BookingOutcomeEvent(
                        booking_id=booking.id,
                        action="completed",
                        actor=staff,
                        at=planned.starts_at + timedelta(minutes=25),
                    )
                )
            elif planned.status == "no_show":
                session.add(
                    BookingOutcomeEvent(
                        booking_id=booking.id,
                        action="no_show",
                        actor="sweep",
                        at=planned.starts_at + timedelta(minutes=30),
                    )
                )
    return True


@dataclass(frozen=True)
class HistoryReport:
    anchor: date
    written: bool
    customers: int
    messages: int
    bookings: int
    orders_applied: int
    merges: int
    refresh: RefreshReport

    def summary(self) -> str:
        done = "written" if self.written else "already there"
        return (
            f"history to {self.anchor.isoformat()} ({done}): {self.customers} customers, "
            f"{self.messages} messages, {self.bookings} bookings, "
            f"{self.orders_applied} new orders, {self.merges} merges"
        )


async def load_demo_history(
    db: Database,
    seed: int,
    *,
    months: int = DEFAULT_MONTHS,
    insights: Insights | None = None,
    today: date | None = None,
) -> HistoryReport:
    """Write the history (once per seed), ingest its orders, merge the duplicates, and
    bring the rollups up to date. Safe to call again: it changes nothing the second time."""
    insights = insights or Insights(db)
    anchor = await _anchor(db, seed, today or datetime.now(timezone.utc).date())
    stores, skus = await _catalogue(db)
    if not stores or not skus:
        raise ValueError("load the demo catalog and stores first (vetrina.catalog.demo)")
    plan = plan_history(seed, anchor, stores, skus, months=months)
    written = await _write(db, plan)
    merges = 0
    for person in plan.customers:
        if person.duplicate_of is None:
            continue
        async with db.sessions() as session:
            merged_into = await session.scalar(
                select(Customer.merged_into_id).where(Customer.id == person.id)
            )
        if merged_into is None:
            await merge_and_sync(
                db,
                None,
                person.duplicate_of,
                person.id,
                actor="demo",
                reason="the same shopper on WhatsApp and on the web",
            )
            merges += 1
    applied = 0
    now = datetime.combine(anchor, time(0), tzinfo=timezone.utc)
    for start in range(0, len(plan.orders), MAX_BATCH):
        result = await insights.ingest(
            plan.orders[start : start + MAX_BATCH],
            now=max(now, datetime.now(timezone.utc)),
            attribute=False,
        )
        if result.problems:
            problem = result.problems[0]
            raise ValueError(f"demo order {problem.order_id}: {problem.reason}")
        applied += result.applied
    report = await insights.refresh()
    return HistoryReport(
        anchor,
        written,
        len(plan.customers),
        len(plan.messages),
        len(plan.bookings),
        applied,
        merges,
        report,
    )


__all__ = ["HistoryReport", "Plan", "load_demo_history", "plan_history"]
