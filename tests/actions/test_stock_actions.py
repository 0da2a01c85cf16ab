"""The stock, store-hours and favourite-store actions, the rasa-sdk way: a Tracker and a
CollectingDispatcher in, the exact responses and events out, on a real (SQLite) catalog.

Also checks that every response these actions send exists in the domain (bot/domain/) with
an Italian default and an English variation, and that every placeholder gets a value:
each run() checks
its own messages (tests/actions/support.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest_asyncio
from rasa_sdk.events import SlotSet
from sqlalchemy import select

from actions import runtime as runtime_module
from actions.runtime import ResolverCache, Runtime
from actions.stock import ActionCheckStock, ActionRememberStore, ActionStoreHours
from tests.actions.support import (
    CUSTOMER,
    check_domain_languages,
    responses,
    slots,
    tracker,
)
from tests.actions.support import run as run_action
from tests.catalog.conftest import PRODUCTS, STORES, set_stock
from vetrina.bookings.service import Bookings
from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.stock_check import StockChecker
from vetrina.catalog.store_status import set_temporarily_closed
from vetrina.catalog.validation import ProductRow, VariantRow
from vetrina.catalog.writing import write_catalog, write_stores
from vetrina.customers.interactions import Interaction
from vetrina.customers.models import Customer
from vetrina.storage.database import Database

NOON = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)  # 11:00 in Italy, a Tuesday


async def run(action: Any, t: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return await run_action(action, t)


@pytest_asyncio.fixture
async def runtime(sqlite_db: Database) -> AsyncIterator[Runtime]:
    async with sqlite_db.transaction() as session:
        await write_stores(session, STORES)
        await write_catalog(session, PRODUCTS)
        session.add(Customer(id=CUSTOMER))
    inventory = SqlInventory(sqlite_db, safety_stock=2)
    resolvers = ResolverCache(sqlite_db, inventory, max_age=300)
    checker = StockChecker(sqlite_db, inventory, resolvers.get, clock=lambda: NOON)
    rt = Runtime(
        sqlite_db, inventory, resolvers, checker, Bookings(sqlite_db), "http://shop.test"
    )
    with runtime_module.using(rt):
        yield rt


async def test_in_stock_answer_slots_favourite_offer_and_interaction(runtime: Runtime) -> None:
    await set_stock(runtime.db, "MI", "BOOT-NER-41", 5)
    messages, events = await run(ActionCheckStock(), tracker("avete gli stivali neri 41 a Milano?"))
    assert responses(messages) == [
        "utter_stock_in_stock",
        "utter_store_open_now",
        "utter_ask_favourite_store",
    ]
    answer = messages[0]
    assert answer["item"] == "Stivale Brera (nero, 41)"
    assert answer["store"] == "Vetrina Milano" and answer["price"] == "129,90 €"
    assert messages[1]["hours"] == "10:00–19:30"
    assert slots(events) == {
        "page_product": None,
        "product_code": "BOOT",
        "colour": "nero",
        "size": "41",
        "store_code": "MI",
        "stores_talked_about": ["MI"],
        "stock_status": "in_stock",
        "pending_question": None,
        "product_candidates": None,
        "store_candidates": None,
        "favourite_offer": "MI",
    }
    assert SlotSet("favourite_offer", "MI") in events
    async with runtime.db.sessions() as session:
        rows = (await session.scalars(select(Interaction))).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.customer_id, row.kind, row.channel) == (CUSTOMER, "stock_check", "web")
    assert row.data["sku"] == "BOOT-NER-41" and row.data["status"] == "in_stock"
    assert row.data["store_code"] == "MI" and row.data["product_code"] == "BOOT"


async def test_english_words_and_prices(runtime: Runtime) -> None:
    await set_stock(runtime.db, "MI", "BOOT-NER-41", 1)
    messages, _ = await run(
        ActionCheckStock(),
        tracker("black boots 41 in Milan", slots={"language": "en", "favourite_declined": True}),
    )
    assert responses(messages) == ["utter_stock_last_pieces", "utter_store_open_now"]
    assert messages[0]["item"] == "Brera boot (black, 41)" and messages[0]["price"] == "€129.90"


async def test_out_of_stock_offers_the_stores_that_have_it_as_buttons(runtime: Runtime) -> None:
    await set_stock(runtime.db, "TO", "BOOT-NER-42", 5)
    await set_stock(runtime.db, "online", "BOOT-NER-42", 3)
    messages, events = await run(ActionCheckStock(), tracker("stivali neri 42 a Roma"))
    assert responses(messages) == ["utter_stock_out_of_stock", "utter_stock_alternatives_online"]
    assert "Vetrina Torino" in messages[1]["stores"] and "km" in messages[1]["stores"]
    assert messages[1]["buttons"] == [
        {"title": "Vetrina Torino", "payload": '/choose_store{"store_code": "TO"}'}
    ]
    assert slots(events)["store_candidates"] == ["TO"]
    assert slots(events)["stock_status"] == "out_of_stock"
    # The shopper taps the store: same product and size, that store.
    chosen = tracker(
        '/choose_store{"store_code": "TO"}',
        "choose_store",
        slots={"product_code": "BOOT", "size": "42", "colour": "nero", "store_code": "RM"},
        entities=[{"entity": "store_code", "value": "TO"}],
    )
    messages, events = await run(ActionCheckStock(), chosen)
    assert responses(messages)[0] == "utter_stock_in_stock"
    assert slots(events)["store_code"] == "TO"


async def test_ambiguous_product_buttons_then_the_choice_completes_the_question(
    runtime: Runtime,
) -> None:
    async with runtime.db.transaction() as session:
        await write_catalog(
            session,
            [
                ProductRow(
                    "BOOT2",
                    "Stivale Navigli",
                    "Navigli boot",
                    "stivali",
                    "Vetrina",
                    variants=(VariantRow("BOOT2-NER-41", "41", "nero", 15990),),
                )
            ],
        )
    runtime.resolvers.forget()
    messages, events = await run(ActionCheckStock(), tracker("avete gli stivali a Torino?"))
    assert responses(messages) == ["utter_product_ambiguous"]
    assert messages[0]["buttons"] == [
        {"title": "Stivale Brera", "payload": '/choose_product{"product_code": "BOOT"}'},
        {"title": "Stivale Navigli", "payload": '/choose_product{"product_code": "BOOT2"}'},
    ]
    state = slots(events)
    assert state["pending_question"] == "avete gli stivali a Torino?"
    assert state["product_candidates"] == ["BOOT", "BOOT2"]
    # "il primo" picks the first button; the store of the question still counts.
    follow = tracker("il primo", "choose_product", slots=state)
    messages, events = await run(ActionCheckStock(), follow)
    state = slots(events)
    assert (state["product_code"], state["store_code"]) == ("BOOT", "TO")
    assert responses(messages)[0] == "utter_stock_sizes_none"  # nothing stocked yet
    assert state["pending_question"] is None


async def test_unknown_product_store_and_size_are_explained(runtime: Runtime) -> None:
    messages, _ = await run(ActionCheckStock(), tracker("avete la tuta da sci?"))
    assert responses(messages) == ["utter_product_not_found"]
    assert messages[0]["query"] == "tuta sci"
    messages, events = await run(ActionCheckStock(), tracker("stivali neri a Parigi"))
    assert responses(messages) == ["utter_store_not_found"]
    assert messages[0]["place"] == "Parigi" and messages[0]["cities"] == "Milano, Roma, Torino"
    assert slots(events)["pending_question"] == "stivali neri a Parigi"
    messages, _ = await run(ActionCheckStock(), tracker("stivali neri 47 a Roma"))
    assert responses(messages) == ["utter_size_not_available"]
    assert messages[0]["sizes"] == "40, 41, 42"


async def test_near_me_asks_for_the_location_then_answers_for_the_nearest_store(
    runtime: Runtime,
) -> None:
    await set_stock(runtime.db, "TO", "BOOT-NER-41", 5)
    messages, events = await run(ActionCheckStock(), tracker("stivali neri 41 vicino a me"))
    assert responses(messages) == ["utter_ask_location"]
    state = slots(events)
    shared = tracker(
        '/share_location{"latitude": 45.07, "longitude": 7.68}',
        "share_location",
        slots=state,
        entities=[
            {"entity": "latitude", "value": 45.07},
            {"entity": "longitude", "value": 7.68},
        ],
    )
    messages, events = await run(ActionCheckStock(), shared)
    assert responses(messages)[0] == "utter_stock_in_stock"
    assert messages[0]["store"] == "Vetrina Torino"
    state = slots(events)
    assert state["location"] == {"latitude": 45.07, "longitude": 7.68}
    assert state["store_code"] == "TO" and state["pending_question"] is None


async def test_share_location_without_coordinates_asks_again_per_channel(runtime: Runtime) -> None:
    web, _ = await run(ActionCheckStock(), tracker("/share_location", "share_location"))
    whatsapp, _ = await run(
        ActionCheckStock(), tracker("/share_location", "share_location", channel="whatsapp")
    )
    assert responses(web) == ["utter_ask_location"]
    assert responses(whatsapp) == ["utter_ask_location_whatsapp"]
    absurd = tracker(
        "/share_location",
        "share_location",
        entities=[{"entity": "latitude", "value": 0}, {"entity": "longitude", "value": 0}],
    )
    messages, _ = await run(ActionCheckStock(), absurd)
    assert responses(messages) == ["utter_location_invalid"]


async def test_whatsapp_location_metadata(runtime: Runtime) -> None:
    t = tracker(
        "/share_location",
        "share_location",
        metadata={"location": {"lat": 41.9, "lon": 12.48}},
        channel="whatsapp",
    )
    messages, events = await run(ActionCheckStock(), t)
    assert responses(messages) == ["utter_nearest_stores"]
    assert messages[0]["stores"].startswith("• Vetrina Roma")
    assert slots(events)["store_candidates"] == ["RM", "MI", "TO"]


async def test_the_product_on_screen_from_widget_metadata(runtime: Runtime) -> None:
    await set_stock(runtime.db, "RM", "BOOT-NER-42", 3)
    t = tracker(
        "è disponibile questo in 42?",
        slots={"store_code": "RM"},
        metadata={"page": {"url": "https://shop.example/p/boot", "product_sku": "BOOT-NER-40"}},
    )
    messages, events = await run(ActionCheckStock(), t)
    assert responses(messages)[0] == "utter_stock_in_stock"
    assert messages[0]["item"] == "Stivale Brera (nero, 42)"
    assert slots(events)["page_product"] == "BOOT-NER-40"


async def test_yes_remembers_the_offered_store_no_stops_asking(runtime: Runtime) -> None:
    messages, events = await run(
        ActionRememberStore(), tracker("sì", "affirm", slots={"favourite_offer": "TO"})
    )
    assert responses(messages) == ["utter_favourite_store_saved"]
    assert messages[0]["store"] == "Vetrina Torino"
    assert slots(events) == {"favourite_offer": None, "store_code": "TO"}
    async with runtime.db.sessions() as session:
        assert (await session.get(Customer, CUSTOMER)).favourite_store_code == "TO"  # type: ignore[union-attr]
    # The next question without a store uses it, and does not ask again.
    await set_stock(runtime.db, "TO", "BOOT-NER-40", 4)
    messages, _ = await run(ActionCheckStock(), tracker("stivali neri 40"))
    assert responses(messages) == ["utter_stock_in_stock", "utter_store_open_now"]
    assert messages[0]["store"] == "Vetrina Torino"

    messages, events = await run(
        ActionRememberStore(), tracker("no", "deny", slots={"favourite_offer": "MI"})
    )
    assert responses(messages) == ["utter_favourite_store_declined"]
    assert slots(events) == {"favourite_offer": None, "favourite_declined": True}
    messages, events = await run(ActionRememberStore(), tracker("sì", "affirm"))
    assert responses(messages) == ["utter_ok_anything_else"] and events == []


async def test_store_hours(runtime: Runtime) -> None:
    messages, events = await run(
        ActionStoreHours(), tracker("a che ora chiude il negozio di Torino?", "ask_store_hours")
    )
    assert responses(messages) == ["utter_store_hours_open"]
    dash = "\N{EN DASH}"
    assert messages[0]["week"] == f"lun{dash}dom 10:00{dash}19:30"
    assert messages[0]["today"] == f"10:00{dash}19:30"
    assert slots(events) == {"store_code": "TO"}
    messages, _ = await run(
        ActionStoreHours(),
        tracker("what are your hours?", "ask_store_hours", slots={"language": "en"}),
    )
    assert responses(messages) == ["utter_ask_store_for_hours"]


async def test_a_temporarily_closed_store_is_said_closed_whatever_its_hours(
    runtime: Runtime,
) -> None:
    """A manager closed Milan (console admin / ``vetrina store close``): the stock answer
    and the hours answer say it is temporarily closed instead of "open now"."""
    await set_stock(runtime.db, "MI", "BOOT-NER-41", 5)
    await set_temporarily_closed(runtime.db, "MI", True, actor="test")
    runtime.inventory.forget_stores()
    messages, _ = await run(ActionCheckStock(), tracker("avete gli stivali neri 41 a Milano?"))
    assert responses(messages)[:2] == ["utter_stock_in_stock", "utter_store_temporarily_closed"]
    assert messages[1]["store"] == "Vetrina Milano"
    messages, _ = await run(
        ActionStoreHours(),
        tracker("what time does the Milan store close?", "ask_store_hours",
                slots={"language": "en"}),
    )
    assert responses(messages) == ["utter_store_temporarily_closed"]


# --- the domain has every response the actions send, in both languages -----------------



def test_every_response_has_both_languages() -> None:
    check_domain_languages()
