"""The stock check service: from a shopper's words and the conversation to the facts.

Runs on the small catalog of conftest.py (3 stores: Milano, Torino, Roma; a boot in
nero 40/41/42 and marrone 41, a T-shirt) with stock written per test, on SQLite and
PostgreSQL; and on the demo retailer for the issue's own example.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tests.catalog.conftest import PRODUCTS, set_stock
from vetrina.catalog.availability import SqlInventory, Status
from vetrina.catalog.demo import load_demo
from vetrina.catalog.models import Product, Store, StoreStock, Variant
from vetrina.catalog.products import price_of
from vetrina.catalog.resolution import Resolver
from vetrina.catalog.search import ProductIndex
from vetrina.catalog.stock_check import CheckContext, Outcome, StockChecker
from vetrina.catalog.stores import Coordinates
from vetrina.catalog.validation import ProductRow, VariantRow
from vetrina.catalog.writing import write_catalog
from vetrina.storage.database import Database

# A Tuesday, 11:00 in Italy: every store of the small catalog is open (10:00–19:30).
NOON = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
IN_SALE = datetime(2026, 2, 2, 10, 0, tzinfo=timezone.utc)  # BOOT-NER-40: 20 % off
TURIN = Coordinates(45.0703, 7.6869)


def checker(db: Database, at: datetime = NOON, safety_stock: int = 2) -> StockChecker:
    inventory = SqlInventory(db, safety_stock=safety_stock)

    async def resolver() -> Resolver:
        async with db.sessions() as session:
            index = await ProductIndex.load(session)
        return Resolver.of(index, await inventory.stores())

    return StockChecker(db, inventory, resolver, clock=lambda: at)


async def test_in_stock_with_price_and_open_hours(catalog: Database) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-41", 5)
    check = await checker(catalog).check("avete gli stivali neri 41 a Milano?")
    assert check.outcome is Outcome.ANSWER
    assert (check.product.code, check.colour, check.size) == ("BOOT", "nero", "41")  # type: ignore[union-attr]
    assert check.store is not None and check.store.store.code == "MI"
    assert check.status is Status.IN_STOCK and check.bookable
    assert check.sku == "BOOT-NER-41"
    assert check.price is not None and check.price.final_cents == 12990
    assert check.hours is not None and check.hours.open_now
    assert [str(i) for i in check.hours.today] == ["10:00-19:30"]
    assert check.alternatives == () and check.online is None  # only asked when it is not there
    assert check.record()["status"] == "in_stock" and check.record()["store_code"] == "MI"


@pytest.mark.parametrize(("on_hand", "reserved"), [(1, 0), (3, 2)])
async def test_below_the_safety_stock_is_last_pieces_and_not_bookable(
    catalog: Database, on_hand: int, reserved: int
) -> None:
    await set_stock(catalog, "TO", "BOOT-NER-42", on_hand, reserved)
    check = await checker(catalog).check("stivali Brera neri taglia 42 a Torino")
    assert check.status is Status.LAST_PIECES and not check.bookable


async def test_the_safety_stock_is_configurable(catalog: Database) -> None:
    await set_stock(catalog, "TO", "BOOT-NER-42", 3)
    text = "stivali neri 42 Torino"
    assert (await checker(catalog, safety_stock=2).check(text)).status is Status.IN_STOCK
    assert (await checker(catalog, safety_stock=5).check(text)).status is Status.LAST_PIECES


async def test_out_of_stock_gives_other_sizes_nearest_stores_and_online(catalog: Database) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-42", 0)
    await set_stock(catalog, "MI", "BOOT-NER-40", 4)
    await set_stock(catalog, "RM", "BOOT-NER-42", 6)
    await set_stock(catalog, "TO", "BOOT-NER-42", 1)
    await set_stock(catalog, "online", "BOOT-NER-42", 9)
    check = await checker(catalog).check("black boots size 42 in Milan")
    assert check.status is Status.OUT_OF_STOCK and not check.bookable
    assert [v.size for v in check.store.in_stock_sizes] == ["40"]  # type: ignore[union-attr]
    # Nearest first, from the Milan store: Turin (~126 km) before Rome (~477 km).
    assert [a.store.code for a in check.alternatives] == ["TO", "RM"]
    assert [a.status for a in check.alternatives] == [Status.LAST_PIECES, Status.IN_STOCK]
    assert 120 < check.alternatives[0].distance_km < 135
    assert check.online is not None and check.online.available == 9


async def test_nowhere_and_not_online(catalog: Database) -> None:
    await set_stock(catalog, "online", "BOOT-MAR-41", 0)
    check = await checker(catalog).check("stivali marroni 41 a Roma")
    assert check.status is Status.OUT_OF_STOCK
    assert check.alternatives == () and check.online is not None
    assert check.online.status is Status.OUT_OF_STOCK


async def test_without_a_size_every_size_in_the_store(catalog: Database) -> None:
    await set_stock(catalog, "RM", "BOOT-NER-40", 2)
    await set_stock(catalog, "RM", "BOOT-NER-42", 1)
    check = await checker(catalog).check("stivali neri a Roma")
    assert check.size is None and check.status is Status.IN_STOCK
    sizes = {v.size: v.stock.status for v in check.store.in_stock_sizes}  # type: ignore[union-attr]
    assert sizes == {"40": Status.IN_STOCK, "42": Status.LAST_PIECES}


async def test_promotion_is_quoted_by_the_pricing_function(catalog: Database) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-40", 5)
    check = await checker(catalog, at=IN_SALE).check("stivali neri 40 Milano")
    async with catalog.sessions() as session:
        expected = await price_of(session, "BOOT-NER-40", at=IN_SALE)
    assert check.price == expected
    assert check.price.final_cents == 10392 and check.price.promotion.name == "Saldi"  # type: ignore[union-attr]


async def test_a_city_with_several_stores_answers_for_the_best_and_names_the_others(
    db: Database,
) -> None:
    await load_demo(db)
    async with db.sessions() as session:
        trench = await session.scalar(select(Product.code).where(Product.category == "trench"))
    assert trench is not None
    check = await checker(db).check("avete il trench nero in M a Milano?")
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(Product.code, Store.code, StoreStock.on_hand, StoreStock.reserved)
                .join(Variant, Variant.product_id == Product.id)
                .join(StoreStock, StoreStock.variant_id == Variant.id)
                .join(Store, Store.id == StoreStock.store_id)
                .where(
                    Product.category == "trench",
                    Variant.colour == "nero",
                    Variant.size == "M",
                    Store.city == "Milano",
                )
            )
        ).all()
        black_trenches = set(
            await session.scalars(
                select(Product.code)
                .join(Variant, Variant.product_id == Product.id)
                .where(Product.category == "trench", Variant.colour == "nero")
            )
        )
    assert black_trenches == {check.product.code}  # type: ignore[union-attr]  # the only one
    available = {store: on_hand - reserved for _, store, on_hand, reserved in rows}

    def status(n: int) -> Status:
        return Status.OUT_OF_STOCK if n <= 0 else (Status.LAST_PIECES if n < 2 else Status.IN_STOCK)

    rank = [Status.IN_STOCK, Status.LAST_PIECES, Status.OUT_OF_STOCK]
    best = min((status(n) for n in available.values()), key=rank.index, default=Status.OUT_OF_STOCK)
    assert check.store is not None and check.store.store.city == "Milano"
    assert status(available.get(check.store.store.code, 0)) is best
    assert check.status is best
    others = {s for s, n in available.items() if n > 0} - {check.store.store.code}
    assert {s.code for s in check.also_in_city} == others


async def test_ambiguous_words_offer_the_best_few(catalog: Database) -> None:
    async with catalog.transaction() as session:
        await write_catalog(
            session,
            [
                ProductRow(
                    "BOOT2",
                    "Stivale Navigli in camoscio",
                    "Navigli suede boot",
                    "stivali",
                    "Vetrina",
                    variants=(VariantRow("BOOT2-NER-41", "41", "nero", 15990),),
                )
            ],
        )
    check = await checker(catalog).check("avete gli stivali a Torino?")
    assert check.outcome is Outcome.AMBIGUOUS_PRODUCT
    assert [c.code for c in check.candidates] == ["BOOT", "BOOT2"] and check.candidate_count == 2
    # A word that tells them apart, or a colour only one has, decides.
    assert (await checker(catalog).check("stivali Navigli Torino")).product.code == "BOOT2"  # type: ignore[union-attr]
    assert (await checker(catalog).check("stivali marroni Torino")).product.code == "BOOT"  # type: ignore[union-attr]
    # A button choice wins over the words.
    chosen = await checker(catalog).check(
        "avete gli stivali 41 a Torino?", CheckContext(chosen_product="BOOT2")
    )
    assert chosen.outcome is Outcome.ANSWER and chosen.sku == "BOOT2-NER-41"
    assert chosen.store.store.code == "TO"  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["avete la tuta da sci?", "do you sell ski suits?", "xyzzy"])
async def test_unknown_product(catalog: Database, text: str) -> None:
    check = await checker(catalog).check(text)
    assert check.outcome is Outcome.UNKNOWN_PRODUCT and check.product is None


async def test_unknown_store_names_the_place_and_the_cities_we_have(catalog: Database) -> None:
    check = await checker(catalog).check("stivali neri 41 a Parigi")
    assert check.outcome is Outcome.UNKNOWN_STORE and check.place == "Parigi"
    assert check.cities == ("Milano", "Roma", "Torino")
    check = await checker(catalog).check("stivali neri", CheckContext(chosen_store="NOPE"))
    assert check.outcome is Outcome.UNKNOWN_STORE


async def test_a_size_or_colour_the_product_never_has(catalog: Database) -> None:
    check = await checker(catalog).check("stivali neri 45 a Milano")
    assert check.outcome is Outcome.UNKNOWN_SIZE and check.options == ("40", "41", "42")
    check = await checker(catalog).check("stivali marroni 40 a Milano")
    assert check.outcome is Outcome.UNKNOWN_SIZE and check.options == ("41",)
    check = await checker(catalog).check("stivali rossi a Milano")
    assert check.outcome is Outcome.UNKNOWN_COLOUR and check.options == ("marrone", "nero")


async def test_no_store_asks_for_one_and_keeps_the_product(catalog: Database) -> None:
    check = await checker(catalog).check("stivali neri 41")
    assert check.outcome is Outcome.ASK_STORE
    assert (check.product.code, check.size, check.colour) == ("BOOT", "41", "nero")  # type: ignore[union-attr]
    assert check.price is not None and check.price.final_cents == 12990


async def test_near_me_needs_a_location_then_uses_it(catalog: Database) -> None:
    await set_stock(catalog, "TO", "BOOT-NER-41", 5)
    check = await checker(catalog).check("stivali neri 41 vicino a me")
    assert check.outcome is Outcome.NEED_LOCATION
    shared = (TURIN.latitude, TURIN.longitude)
    check = await checker(catalog).check(
        "stivali neri 41 vicino a me", CheckContext(shared_location=shared)
    )
    assert check.outcome is Outcome.ANSWER and check.store.store.code == "TO"  # type: ignore[union-attr]
    assert check.store_source == "location" and check.location == TURIN
    assert check.store.distance_km is not None and check.store.distance_km < 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "shared", [(0, 0), ("abc", "9.1"), (200, 10), (45.0, float("nan")), ("", ""), (None, 9.1)]
)
async def test_an_absurd_location_is_refused(catalog: Database, shared: tuple) -> None:
    check = await checker(catalog).check(
        "stivali vicino a me", CheckContext(shared_location=shared)
    )
    assert check.outcome is Outcome.INVALID_LOCATION


async def test_a_location_without_a_product_lists_the_nearest_stores(catalog: Database) -> None:
    check = await checker(catalog).check("", CheckContext(shared_location=(45.47, 9.19)))
    assert check.outcome is Outcome.NEAREST_STORES
    assert [h.store.code for h in check.nearest] == ["MI", "TO", "RM"]


async def test_the_product_on_screen(catalog: Database) -> None:
    await set_stock(catalog, "TO", "BOOT-MAR-41", 2)
    context = CheckContext(page_product="BOOT-MAR-41", store_code="TO")
    check = await checker(catalog).check("è disponibile questo?", context)
    assert (check.product.code, check.colour) == ("BOOT", "marrone")  # type: ignore[union-attr]
    assert check.status is Status.IN_STOCK and check.store_source == "context"
    check = await checker(catalog).check(
        "is this available in 42?", CheckContext(page_product="BOOT")
    )
    assert check.outcome is Outcome.ASK_STORE and check.size == "42"
    # The product talked about wins over a page the shopper has not changed...
    stale = CheckContext(product_code="TEE", page_product="BOOT", last_page_product="BOOT")
    assert (await checker(catalog).check("e in M?", stale)).product.code == "TEE"  # type: ignore[union-attr]
    # ...unless they say "this".
    assert (await checker(catalog).check("e questo?", stale)).product.code == "BOOT"  # type: ignore[union-attr]


async def test_the_conversation_fills_what_the_message_leaves_out(catalog: Database) -> None:
    await set_stock(catalog, "MI", "BOOT-NER-42", 4)
    context = CheckContext(product_code="BOOT", size="41", colour="nero", store_code="MI")
    check = await checker(catalog).check("e in 42?", context)
    assert (check.sku, check.store.store.code, check.status) == (
        "BOOT-NER-42",
        "MI",
        Status.IN_STOCK,
    )  # type: ignore[union-attr]
    check = await checker(catalog).check("e a Roma?", context)
    assert (check.sku, check.store.store.code) == ("BOOT-NER-41", "RM")  # type: ignore[union-attr]


async def test_the_favourite_store_when_none_is_named(catalog: Database) -> None:
    check = await checker(catalog).check("stivali neri 41", CheckContext(favourite_store="RM"))
    assert check.store.store.code == "RM" and check.store_source == "favourite"  # type: ignore[union-attr]
    named = await checker(catalog).check(
        "stivali neri 41 a Torino", CheckContext(favourite_store="RM")
    )
    assert named.store.store.code == "TO"  # type: ignore[union-attr]


async def test_places_without_a_store_postal_codes_and_typos(catalog: Database) -> None:
    check = await checker(catalog).check("stivali neri 41 a Brescia")
    assert check.store.store.code == "MI" and check.store_source == "place"  # type: ignore[union-attr]
    assert 70 < check.store.distance_km < 90  # type: ignore[union-attr,operator]
    check = await checker(catalog).check("stivali neri 41 10123")
    assert check.store.store.code == "TO"  # type: ignore[union-attr]
    check = await checker(catalog).check("stivalli nerri 41 a Milnao")
    assert (check.sku, check.store.store.code) == ("BOOT-NER-41", "MI")  # type: ignore[union-attr]


async def test_sku_and_ean_in_the_text(catalog: Database) -> None:
    check = await checker(catalog).check("BOOT-MAR-41 a Roma?")
    assert (check.sku, check.colour, check.size) == ("BOOT-MAR-41", "marrone", "41")


async def test_store_hours_open_and_closed(catalog: Database) -> None:
    answer = await checker(catalog).hours("a che ora chiude il negozio di Torino?")
    assert answer.outcome is Outcome.STORE_INFO and [h.store.code for h in answer.stores] == ["TO"]
    assert answer.stores[0].open_now and answer.stores[0].closes_at is not None
    evening = datetime(2026, 11, 24, 19, 0, tzinfo=timezone.utc)  # 20:00 in Italy
    answer = await checker(catalog, at=evening).hours("orari Torino")
    hours = answer.stores[0]
    assert not hours.open_now
    assert hours.next_opening == datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    assert (await checker(catalog).hours("orari")).outcome is Outcome.ASK_STORE
    assert (await checker(catalog).hours("orari a Parigi")).outcome is Outcome.UNKNOWN_STORE


def test_the_test_catalog_is_what_these_tests_assume() -> None:
    boot = next(p for p in PRODUCTS if p.code == "BOOT")
    assert sorted(v.sku for v in boot.variants) == [
        "BOOT-MAR-41",
        "BOOT-NER-40",
        "BOOT-NER-41",
        "BOOT-NER-42",
    ]
