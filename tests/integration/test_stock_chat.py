"""Whole stack: "is it in my size at the store near me?" answered truly, in both languages.

A socket.io customer talks to the gateway, which asks the real Rasa server, whose action
server reads the demo retailer loaded into the stack's database (tests/stack_fixtures.py).
Expected answers are computed here from the database with plain queries (stock rows,
the store directory) and the one pricing function, never hard-coded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from channels.web.session_ids import SessionIds
from tests.chat_client import WebCustomer, buttons, texts
from tests.stack_fixtures import Gateway
from vetrina.catalog.availability import Status, status_for
from vetrina.catalog.models import Product, Store, StoreStock, Variant
from vetrina.catalog.pricing import format_price
from vetrina.catalog.products import price_of
from vetrina.catalog.stores import Coordinates, load_store_directory
from vetrina.customers.identities import find_customer_id
from vetrina.customers.interactions import Interaction
from vetrina.customers.models import Customer
from vetrina.settings import Settings

pytestmark = pytest.mark.integration

SAFETY_STOCK = Settings.from_env({}).safety_stock
ROME_CENTRE = Coordinates(41.9028, 12.4964)
STATUS_WORDS = {
    "it": {
        Status.IN_STOCK: "è disponibile",
        Status.LAST_PIECES: "ultimi pezzi",
        Status.OUT_OF_STOCK: "esaurito",
    },
    "en": {
        Status.IN_STOCK: "in stock at",
        Status.LAST_PIECES: "last pieces",
        Status.OUT_OF_STOCK: "out of stock",
    },
}




@dataclass
class Stocked:
    store_code: str
    store_name: str
    status: Status


async def stock_by_store(gateway: Gateway, sku: str) -> dict[str, Stocked]:
    """Every store's status for ``sku``, straight from store_stock (no row: out of stock)."""
    async with gateway.services.db.sessions() as session:
        stores = (await session.execute(select(Store.id, Store.code, Store.name))).all()
        rows = (
            await session.execute(
                select(StoreStock.store_id, StoreStock.on_hand, StoreStock.reserved)
                .join(Variant, Variant.id == StoreStock.variant_id)
                .where(Variant.sku == sku)
            )
        ).all()
    available = {r.store_id: r.on_hand - r.reserved for r in rows}
    return {
        s.code: Stocked(s.code, s.name, status_for(available.get(s.id, 0), SAFETY_STOCK))
        for s in stores
    }


async def price_text(gateway: Gateway, sku: str, language: str) -> str:
    async with gateway.services.db.sessions() as session:
        quote = await price_of(session, sku)
    return format_price(quote.final_cents, quote.currency, language)


async def customer_of(gateway: Gateway, customer: WebCustomer) -> str:
    async with gateway.services.db.sessions() as session:
        found = await find_customer_id(
            session, "web", SessionIds.public(customer.session_id or "")
        )
    assert found is not None
    return found


async def the_black_trench(gateway: Gateway) -> tuple[str, str]:
    """(product code, SKU) of the demo's black trench in M: the issue's own example."""
    async with gateway.services.db.sessions() as session:
        rows = (
            await session.execute(
                select(Product.code, Variant.sku)
                .join(Variant, Variant.product_id == Product.id)
                .where(Product.category == "trench", Variant.colour == "nero", Variant.size == "M")
            )
        ).all()
    assert len(rows) == 1, "the demo has exactly one black trench (vetrina/catalog/demo.py)"
    return rows[0].code, rows[0].sku


@pytest.mark.parametrize(
    ("language", "question", "city"),
    [
        ("it", "avete il trench nero in M a Milano?", "Milano"),
        ("en", "is the black trench in M at the Milan store?", "Milano"),
        ("it", "il trench nero taglia M c'è a Roma?", "Roma"),
    ],
)
async def test_the_issue_example_gets_the_true_status_and_price(
    gateway: Gateway, language: str, question: str, city: str
) -> None:
    code, sku = await the_black_trench(gateway)
    stock = await stock_by_store(gateway, sku)
    async with gateway.services.db.sessions() as session:
        in_city = set(await session.scalars(select(Store.code).where(Store.city == city)))
    rank = [Status.IN_STOCK, Status.LAST_PIECES, Status.OUT_OF_STOCK]
    best = min((stock[c].status for c in in_city), key=rank.index)

    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say(question)
        customer_id = await customer_of(gateway, customer)
    finally:
        await customer.close()
    answer = replies[0]["text"]
    assert STATUS_WORDS[language][best] in answer, answer
    named = [c for c in in_city if stock[c].store_name in answer]
    assert len(named) == 1 and stock[named[0]].status is best, answer
    if best is not Status.OUT_OF_STOCK:
        assert await price_text(gateway, sku, language) in answer, answer
    # Recorded on the customer's profile, with the channel.
    async with gateway.services.db.sessions() as session:
        rows = (
            await session.scalars(select(Interaction).where(Interaction.customer_id == customer_id))
        ).all()
    assert [(r.kind, r.channel) for r in rows] == [("stock_check", "web")]
    assert rows[0].data["product_code"] == code and rows[0].data["sku"] == sku
    assert rows[0].data["store_code"] == named[0] and rows[0].data["status"] == best.value


async def test_out_of_stock_names_stores_that_really_have_it(gateway: Gateway) -> None:
    # A variant that one single-store city lacks and other stores have, of a product whose
    # type and model name no other product shares.
    async with gateway.services.db.sessions() as session:
        products = (
            await session.execute(select(Product.code, Product.name_it, Product.category))
        ).all()
        single = (
            await session.execute(
                select(Store.city, func.min(Store.code))
                .group_by(Store.city)
                .having(func.count() == 1)
            )
        ).all()
    model = {p.code: p.name_it.split(" in ")[0].lower() for p in products}
    unique = {c for c, m in model.items() if list(model.values()).count(m) == 1}
    found = None
    for product in sorted(unique):
        async with gateway.services.db.sessions() as session:
            variants = (
                await session.execute(
                    select(Variant.sku, Variant.size, Variant.colour)
                    .join(Product, Product.id == Variant.product_id)
                    .where(Product.code == product)
                )
            ).all()
        for v in variants:
            stock = await stock_by_store(gateway, v.sku)
            has_it = [s for s in stock.values() if s.status is not Status.OUT_OF_STOCK]
            for city, code in single:
                if stock[code].status is Status.OUT_OF_STOCK and len(has_it) >= 2:
                    found = (product, v, city, stock)
                    break
            if found:
                break
        if found:
            break
    assert found, "the demo has out-of-stock variants"
    product, variant, city, stock = found
    question = f"avete {model[product]} {variant.colour} taglia {variant.size} a {city}?"

    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say(question)
    finally:
        await customer.close()
    answer = texts(replies)
    assert "esaurito" in replies[0]["text"], answer
    offered = [b for b in buttons(replies) if b["payload"].startswith("/choose_store")]
    assert offered, answer
    for button in offered:
        code = json.loads(button["payload"][len("/choose_store") :])["store_code"]
        assert stock[code].status is not Status.OUT_OF_STOCK, (code, answer)
        assert stock[code].store_name in answer
    assert re.search(r"\d+(,\d)? km", answer), answer


async def test_ambiguous_product_offers_buttons_and_a_tap_answers(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say("avete gli stivali?")
        offered = buttons(replies)
        assert len(offered) >= 2, texts(replies)
        codes = [
            json.loads(b["payload"][len("/choose_product") :])["product_code"] for b in offered
        ]
        async with gateway.services.db.sessions() as session:
            categories = set(
                await session.scalars(select(Product.category).where(Product.code.in_(codes)))
            )
            chosen_name = await session.scalar(
                select(Product.name_it).where(Product.code == codes[0])
            )
        assert categories == {"stivali"}
        tapped = await customer.say(offered[0]["payload"], display_text=offered[0]["title"])
    finally:
        await customer.close()
    assert chosen_name and chosen_name in texts(tapped), texts(tapped)
    assert "In quale negozio" in texts(tapped)  # no store yet: it asks for one


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("avete la tuta da sci?", "Non ho trovato «tuta sci»"),
        ("do you sell ski suits?", 'I couldn\'t find "ski suits"'),
    ],
)
async def test_unknown_product(gateway: Gateway, question: str, expected: str) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say(question)
    finally:
        await customer.close()
    assert expected in texts(replies), texts(replies)


async def test_unknown_city_lists_the_cities_we_have(gateway: Gateway) -> None:
    async with gateway.services.db.sessions() as session:
        cities = set(await session.scalars(select(Store.city)))
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say("avete il trench nero in M a Parigi?")
    finally:
        await customer.close()
    answer = texts(replies)
    assert "Parigi" in answer and all(city in answer for city in cities), answer


async def test_is_this_available_uses_the_product_on_screen(gateway: Gateway) -> None:
    async with gateway.services.db.sessions() as session:
        row = (
            await session.execute(
                select(Product.code, Product.name_en, Variant.sku)
                .join(Variant, Variant.product_id == Product.id)
                .where(Product.category == "sneakers", Variant.size == "42")
                .order_by(Product.code)
                .limit(1)
            )
        ).first()
    assert row is not None
    page = {"url": "https://shop.example/p/x", "product_sku": row.code}
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say("is this available in 42?", page=page, language="en")
    finally:
        await customer.close()
    answer = texts(replies)
    assert row.name_en in answer and "42" in answer, answer
    assert "Which store should I check?" in answer


async def test_a_shared_location_answers_for_the_nearest_store(gateway: Gateway) -> None:
    _, sku = await the_black_trench(gateway)
    async with gateway.services.db.sessions() as session:
        nearest = (await load_store_directory(session)).nearest(ROME_CENTRE, limit=1)[0].store
    stock = await stock_by_store(gateway, sku)
    customer = await WebCustomer(gateway.url).connect()
    try:
        asked = await customer.say("is the black trench coat in M in a store near me?")
        assert any(b["payload"] == "/share_location" for b in buttons(asked)), texts(asked)
        payload = "/share_location" + json.dumps(
            {"latitude": ROME_CENTRE.latitude, "longitude": ROME_CENTRE.longitude}
        )
        replies = await customer.say(payload, display_text="📍 41.9028, 12.4964")
    finally:
        await customer.close()
    answer = replies[0]["text"]
    assert nearest.name in answer, answer
    assert STATUS_WORDS["en"][stock[nearest.code].status] in answer, answer


async def test_a_location_alone_lists_the_nearest_stores(gateway: Gateway) -> None:
    origin = Coordinates(45.07, 7.68)
    async with gateway.services.db.sessions() as session:
        nearest = (await load_store_directory(session)).nearest(origin, limit=3)
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say(
            '/share_location{"latitude": 45.07, "longitude": 7.68}',
            display_text="📍",
            language="it",
        )
    finally:
        await customer.close()
    answer = texts(replies)
    positions = [answer.find(n.store.name) for n in nearest]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), answer


async def test_an_absurd_location_gets_a_clear_message(gateway: Gateway) -> None:
    customer = await WebCustomer(gateway.url).connect()
    try:
        await customer.say("ciao")
        replies = await customer.say(
            '/share_location{"latitude": 999, "longitude": 0}', display_text="📍"
        )
    finally:
        await customer.close()
    assert "Non riesco a leggere la posizione" in texts(replies), texts(replies)


async def test_yes_remembers_the_favourite_store_and_it_is_used_next_time(gateway: Gateway) -> None:
    _, sku = await the_black_trench(gateway)
    stock = await stock_by_store(gateway, sku)
    city_store = next(
        s
        for s in stock.values()
        if s.status is not Status.OUT_OF_STOCK
        and s.store_code.startswith(("TO-", "FI-", "NA-", "BO-"))
    )
    async with gateway.services.db.sessions() as session:
        city = await session.scalar(select(Store.city).where(Store.code == city_store.store_code))
    customer = await WebCustomer(gateway.url).connect()
    try:
        first = await customer.say(f"avete il trench nero in M a {city}?")
        assert any(b["payload"] == "/affirm" for b in buttons(first)), texts(first)
        saved = await customer.say("/affirm", display_text="Sì, ricordalo")
        customer_id = await customer_of(gateway, customer)
        again = await customer.say("e il trench nero in M?")
    finally:
        await customer.close()
    assert city_store.store_name in texts(saved)
    async with gateway.services.db.sessions() as session:
        favourite = await session.scalar(
            select(Customer.favourite_store_code).where(Customer.id == customer_id)
        )
    assert favourite == city_store.store_code
    assert city_store.store_name in again[0]["text"], texts(again)


async def test_store_hours(gateway: Gateway) -> None:
    async with gateway.services.db.sessions() as session:
        turin = (
            await session.execute(select(Store.name, Store.address).where(Store.city == "Torino"))
        ).one()
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say("a che ora apre il negozio di Torino?")
    finally:
        await customer.close()
    answer = texts(replies)
    assert turin.name in answer and turin.address in answer and "Orari:" in answer, answer


async def test_whatsapp_location_answers_for_the_nearest_store_and_is_recorded(
    gateway: Gateway,
) -> None:
    """On WhatsApp the location arrives as Twilio's Latitude/Longitude: the same answer,
    and the interaction is recorded with the WhatsApp channel."""
    twilio = gateway.twilio
    assert twilio is not None
    _, sku = await the_black_trench(gateway)
    async with gateway.services.db.sessions() as session:
        nearest = (await load_store_directory(session)).nearest(ROME_CENTRE, limit=1)[0].store
    stock = await stock_by_store(gateway, sku)
    number = "+393330000777"
    asked = twilio.incoming(number, "avete il trench nero in M in un negozio vicino a me?")
    assert (await twilio.deliver(f"{gateway.url}/webhooks/whatsapp", asked))[0] == 200
    first = await twilio.wait_for(number, count=1, timeout=60)
    assert "📎" in first[-1].body, first[-1].body  # WhatsApp's own way to send a location
    shared = twilio.incoming(
        number, "", latitude=ROME_CENTRE.latitude, longitude=ROME_CENTRE.longitude
    )
    assert (await twilio.deliver(f"{gateway.url}/webhooks/whatsapp", shared))[0] == 200
    replies = await twilio.wait_for(number, count=2, timeout=60)
    answer = replies[1].body
    assert nearest.name in answer, answer
    assert STATUS_WORDS["it"][stock[nearest.code].status] in answer, answer
    async with gateway.services.db.sessions() as session:
        rows = (
            await session.scalars(
                select(Interaction)
                .where(Interaction.channel == "whatsapp", Interaction.kind == "stock_check")
                .order_by(Interaction.id)
            )
        ).all()
    assert [r.data["outcome"] for r in rows][-2:] == ["need_location", "answer"]
    assert rows[-1].data["store_code"] == nearest.code and rows[-1].data["sku"] == sku


async def test_english_answers_use_english_product_and_city_names(gateway: Gateway) -> None:
    """Issue 14: "In Roma you'll also find it", "Trench Positano (black, M)" in English."""
    code, _ = await the_black_trench(gateway)
    async with gateway.services.db.sessions() as session:
        trench = await session.scalar(select(Product).where(Product.code == code))
        milan = list(await session.scalars(select(Store.name).where(Store.city == "Milano")))
    assert trench is not None and trench.name_en != trench.name_it
    assert len(milan) >= 2, "the demo has two stores in Milan"
    customer = await WebCustomer(gateway.url).connect()
    try:
        answer = texts(await customer.say("is the black trench in M in stock in Milan?"))
    finally:
        await customer.close()
    assert trench.name_en in answer and trench.name_it not in answer, answer
    assert "(black, M)" in answer and "nero" not in answer, answer
    assert "In Milano" not in answer and "Milano)" not in answer, answer
    if "also find it" in answer:  # the other Milan store has it too
        assert "In Milan you'll also find it" in answer, answer
