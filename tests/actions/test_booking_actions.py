"""The try-on booking actions, the rasa-sdk way, on a real (SQLite) shop: the form's
validation, its questions, the booking, my bookings, cancel and reschedule.

Times are real (the actions read the clock): the shop is open every day 10:00-19:30, so
"domani alle 11" is always a free slot unless tomorrow is the one closed day.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlalchemy import select

from actions import runtime as runtime_module
from actions.bookings import (
    ActionAddToBooking,
    ActionBookTryOn,
    ActionCancelBooking,
    ActionMyBookings,
    ActionRescheduleBooking,
    AskTryOnStart,
    ValidateTryOnForm,
)
from actions.runtime import ResolverCache, Runtime
from tests.actions.support import (
    CUSTOMER,
    responses,
    slots,
    tracker,
)
from tests.actions.support import run as run_action
from tests.bookings.conftest import PRODUCTS, STORES, set_stock, stock_of, switch_try_on
from vetrina.bookings.models import Booking
from vetrina.bookings.service import BookingOptions, Bookings
from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.stock_check import StockChecker
from vetrina.catalog.store_status import set_temporarily_closed
from vetrina.catalog.writing import write_catalog, write_stores
from vetrina.customers.interactions import recent_interactions
from vetrina.customers.models import Customer
from vetrina.storage.database import Database

ROME = ZoneInfo("Europe/Rome")
OTHER = "0ther000c0ffee00c0ffee00c0ffee00"
FORM = {"requested_slot": "try_on_sku"}


async def run(action: Any, t: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return await run_action(action, t)


def said(start: datetime, time: str) -> str:
    """How the bot names that moment: "domani alle 11:00", else "gio 03/12 alle 11:00"."""
    if start.date() == datetime.now(ROME).date() + timedelta(days=1):
        return f"domani alle {time}"
    return f"{start:%d/%m} alle {time}"


def tomorrow_words() -> tuple[str, datetime]:
    """"domani alle 11" and its local start (the day after if tomorrow is Christmas)."""
    day = datetime.now(ROME).date() + timedelta(days=1)
    words = "domani"
    if (day.month, day.day) == (12, 25):
        day, words = day + timedelta(days=1), "dopodomani"
    return f"{words} alle 11", datetime(day.year, day.month, day.day, 11, 0, tzinfo=ROME)


@pytest_asyncio.fixture
async def runtime(sqlite_db: Database) -> AsyncIterator[Runtime]:
    async with sqlite_db.transaction() as session:
        await write_stores(session, STORES)
        await write_catalog(session, PRODUCTS)
        session.add_all([Customer(id=CUSTOMER), Customer(id=OTHER)])
    for store in ("MI", "RM", "TO"):
        for sku in ("BOOT-NER-40", "BOOT-NER-41", "BOOT-NER-42"):
            await set_stock(sqlite_db, store, sku, 5)
    inventory = SqlInventory(sqlite_db, safety_stock=2)
    resolvers = ResolverCache(sqlite_db, inventory, max_age=300)
    checker = StockChecker(sqlite_db, inventory, resolvers.get)
    bookings = Bookings(sqlite_db, BookingOptions(slot_minutes=30, capacity=2, safety_stock=2))
    rt = Runtime(sqlite_db, inventory, resolvers, checker, bookings, "https://shop.test")
    with runtime_module.using(rt):
        yield rt


async def book_via_form(text: str, *, sender: str = CUSTOMER) -> dict[str, Any]:
    """Validate one message that says everything, then book; the booking's slots."""
    _, events = await run(ValidateTryOnForm(), tracker(text, "book_try_on", sender=sender))
    filled = slots(events)
    assert filled["try_on_prompt"] is None, filled["try_on_prompt"]
    messages, _ = await run(
        ActionBookTryOn(), tracker("", "book_try_on", slots=filled, sender=sender)
    )
    assert responses(messages) == ["utter_try_on_booked"]
    return messages[0]


async def test_one_message_fills_the_form_and_the_booking_holds_the_item(runtime: Runtime) -> None:
    words, start = tomorrow_words()
    _, events = await run(
        ValidateTryOnForm(),
        tracker(
            f"vorrei prenotare una prova degli stivali neri 41 a Milano {words}", "book_try_on"
        ),
    )
    filled = slots(events)
    assert filled["try_on_sku"] == "BOOT-NER-41" and filled["try_on_store"] == "MI"
    assert datetime.fromisoformat(filled["try_on_start"]) == start
    assert filled["try_on_prompt"] is None
    messages, events = await run(ActionBookTryOn(), tracker("", "book_try_on", slots=filled))
    (confirmation,) = messages
    assert confirmation["response"] == "utter_try_on_booked"
    assert confirmation["store"] == "Vetrina Milano"
    assert confirmation["address"] == "Corso Vittorio Emanuele II, 15, 20122 Milano"
    assert confirmation["items"] == "Stivale Brera (nero, 41)"
    assert confirmation["when"].endswith(said(start, "11:00"))
    code = confirmation["code"]
    # In the web widget the private calendar link is a button, not text in the bubble.
    assert confirmation["calendar"] == ""
    (button,) = confirmation["buttons"]
    assert button["title"] == "Aggiungi al calendario"
    assert button["url"].startswith(f"https://shop.test/bookings/{code}/calendar.ics?t=")
    assert await stock_of(runtime.db, "MI", "BOOT-NER-41") == (5, 1)
    assert slots(events)["try_on_sku"] is None  # ready for another booking
    async with runtime.db.sessions() as session:
        booking = await session.scalar(select(Booking).where(Booking.code == code))
        kinds = [i.kind for i in await recent_interactions(session, CUSTOMER)]
    assert booking is not None and booking.channel == "web"
    assert "booking_created" in kinds


async def test_the_form_asks_for_what_is_missing(runtime: Runtime) -> None:
    _, events = await run(ValidateTryOnForm(), tracker("vorrei prenotare una prova", "book_try_on"))
    assert slots(events)["try_on_sku"] is None
    assert [p["response"] for p in slots(events)["try_on_prompt"]] == ["utter_ask_try_on_item"]
    # The item without a size: the sizes in stock at the store, then "which size?".
    _, events = await run(
        ValidateTryOnForm(),
        tracker("gli stivali neri a Roma", "check_stock", slots={**FORM}),
    )
    prompt = [p["response"] for p in slots(events)["try_on_prompt"]]
    assert prompt[-1] == "utter_ask_try_on_size" and slots(events)["try_on_sku"] is None
    # The size alone completes the item; then the time is asked with free slots.
    filled = slots(events)
    _, events = await run(
        ValidateTryOnForm(), tracker("il 42", "inform", slots={**filled, "try_on_prompt": None})
    )
    filled = slots(events)
    assert filled["try_on_sku"] == "BOOT-NER-42" and filled["try_on_store"] == "RM"
    messages, events = await run(
        AskTryOnStart(), tracker("il 42", "inform", slots=filled)
    )
    assert responses(messages) == ["utter_ask_try_on_time"]
    buttons = messages[0]["buttons"]
    assert len(buttons) == 3 and all(b["payload"].startswith("/choose_slot{") for b in buttons)
    offered = filled["slot_options"]
    # "il secondo orario" picks the second button's slot.
    _, events = await run(
        ValidateTryOnForm(),
        tracker(
            "prendo il secondo orario", "choose_slot", slots={**filled, "slot_options": offered}
        ),
    )
    assert slots(events)["try_on_start"] == offered[1]
    # A button press gives the slot directly.
    chosen = json.loads(buttons[2]["payload"][len("/choose_slot"):])["slot_start"]
    _, events = await run(
        ValidateTryOnForm(),
        tracker(buttons[2]["payload"], "choose_slot", slots=filled,
                entities=[{"entity": "slot_start", "value": chosen}]),
    )
    assert slots(events)["try_on_start"] == chosen


async def test_impossible_and_past_dates_are_refused_with_free_slots(runtime: Runtime) -> None:
    base = {"try_on_sku": "BOOT-NER-41", "try_on_store": "MI", "product_code": "BOOT",
            "size": "41", "colour": "nero", "store_code": "MI", "requested_slot": "try_on_start"}
    for text, response in (
        ("il 31 febbraio alle 11", "utter_try_on_date_invalid"),
        ("ieri alle 17", "utter_try_on_time_past"),
        ("domani alle 23", "utter_try_on_time_closed"),
    ):
        _, events = await run(ValidateTryOnForm(), tracker(text, "give_time", slots=base))
        filled = slots(events)
        assert filled["try_on_start"] is None, text
        (prompt,) = filled["try_on_prompt"]
        assert prompt["response"] == response, text
        assert prompt["buttons"], text
        now = datetime.now(ROME)
        for start in filled["slot_options"]:
            assert datetime.fromisoformat(start) > now, text
            local = datetime.fromisoformat(start).astimezone(ROME)
            assert "10:00" <= f"{local:%H:%M}" < "19:30", text


async def test_a_temporarily_closed_store_is_never_offered_and_the_shopper_is_told_why(
    runtime: Runtime,
) -> None:
    await set_temporarily_closed(runtime.db, "RM", True, actor="test")
    _, events = await run(
        ValidateTryOnForm(), tracker("prova degli stivali neri 41 a Roma", "book_try_on")
    )
    filled = slots(events)
    assert filled["try_on_store"] is None
    (prompt,) = filled["try_on_prompt"]
    assert prompt["response"] == "utter_try_on_store_closed_elsewhere"
    assert prompt["variables"]["store"] == "Vetrina Roma"
    assert [b["title"] for b in prompt["buttons"]] == ["Vetrina Milano"]
    # Milan closed too: nowhere to offer, and still the reason.
    await set_temporarily_closed(runtime.db, "MI", True, actor="test")
    _, events = await run(
        ValidateTryOnForm(), tracker("prova degli stivali neri 41 a Milano", "book_try_on")
    )
    (prompt,) = slots(events)["try_on_prompt"]
    assert prompt["response"] == "utter_try_on_store_closed" and not prompt["buttons"]
    assert await runtime.bookings.bookable_stores([("BOOT-NER-41", 1)]) == []


async def test_a_store_without_bookings_offers_the_stores_that_can(runtime: Runtime) -> None:
    await switch_try_on(runtime.db, "MI", False)
    _, events = await run(
        ValidateTryOnForm(), tracker("prova degli stivali neri 41 a Milano", "book_try_on")
    )
    filled = slots(events)
    assert filled["try_on_sku"] == "BOOT-NER-41" and filled["try_on_store"] is None
    (prompt,) = filled["try_on_prompt"]
    assert prompt["response"] == "utter_try_on_store_off_elsewhere"
    assert [b["title"] for b in prompt["buttons"]] == ["Vetrina Roma"]  # TO has no try-on
    # Torino never took bookings: the same refusal, with Rome offered.
    _, events = await run(
        ValidateTryOnForm(), tracker("prova degli stivali neri 41 a Torino", "book_try_on")
    )
    assert slots(events)["try_on_prompt"][0]["buttons"][0]["title"] == "Vetrina Roma"


async def test_a_low_stock_item_is_not_held_and_other_stores_are_offered(runtime: Runtime) -> None:
    await set_stock(runtime.db, "MI", "BOOT-NER-41", 1)  # below the safety stock (2)
    _, events = await run(
        ValidateTryOnForm(),
        tracker("I'd like to try the black boots 41 in Milan", "book_try_on",
                slots={"language": "en"}),
    )
    filled = slots(events)
    assert filled["try_on_store"] is None
    (prompt,) = filled["try_on_prompt"]
    assert prompt["response"] == "utter_try_on_item_unavailable_elsewhere"
    assert [b["title"] for b in prompt["buttons"]] == ["Vetrina Roma"]
    assert await stock_of(runtime.db, "MI", "BOOT-NER-41") == (1, 0)


async def test_leaving_intents_reject_the_form(runtime: Runtime) -> None:
    for intent in ("deny", "request_consultant", "my_bookings", "cancel_booking"):
        _, events = await run(ValidateTryOnForm(), tracker("no", intent, slots=FORM))
        assert events == [], intent


async def test_my_bookings_cancel_twice_and_someone_elses_code(runtime: Runtime) -> None:
    words, _ = tomorrow_words()
    mine = await book_via_form(f"prova degli stivali neri 40 a Roma {words}")
    theirs = await book_via_form(f"prova degli stivali neri 42 a Roma {words}", sender=OTHER)
    messages, _ = await run(ActionMyBookings(), tracker("le mie prenotazioni", "my_bookings"))
    (listing,) = messages
    assert listing["response"] == "utter_my_bookings"
    assert mine["code"] in listing["bookings"] and theirs["code"] not in listing["bookings"]
    titles = {b["title"] for b in listing["buttons"]}
    assert titles == {f"Sposta {mine['code']}", f"Annulla {mine['code']}"}

    # Someone else's code and a code that does not exist get the same answer.
    replies = []
    for code in (theirs["code"], "ZZZZ22"):
        messages, _ = await run(
            ActionCancelBooking(), tracker(f"annulla la prenotazione {code}", "cancel_booking")
        )
        replies.append((messages[0]["response"], messages[0]["code"] == code))
    assert replies == [("utter_booking_not_found", True)] * 2
    assert await stock_of(runtime.db, "RM", "BOOT-NER-42") == (5, 1)  # theirs still held

    # Without a code: the only upcoming booking. Then again: already cancelled.
    messages, _ = await run(
        ActionCancelBooking(), tracker("annulla la prenotazione", "cancel_booking")
    )
    assert responses(messages) == ["utter_booking_cancelled"]
    assert messages[0]["code"] == mine["code"]
    assert await stock_of(runtime.db, "RM", "BOOT-NER-40") == (5, 0)
    messages, _ = await run(
        ActionCancelBooking(), tracker(f"cancel {mine['code'].lower()}", "cancel_booking",
                                       slots={"language": "en"})
    )
    assert responses(messages) == ["utter_booking_already_cancelled"]
    messages, _ = await run(ActionMyBookings(), tracker("my bookings", "my_bookings"))
    assert responses(messages) == ["utter_no_bookings"]


async def test_reschedule_asks_when_then_moves_the_booking(runtime: Runtime) -> None:
    words, start = tomorrow_words()
    booked = await book_via_form(f"prova degli stivali neri 40 a Roma {words}")
    messages, events = await run(
        ActionRescheduleBooking(), tracker("vorrei spostare la prova", "reschedule_booking")
    )
    assert responses(messages) == ["utter_ask_reschedule_time"]
    assert slots(events)["booking_code"] == booked["code"] and messages[0]["buttons"]
    later = words.replace("alle 11", "alle 15")
    messages, events = await run(
        ActionRescheduleBooking(),
        tracker(later, "give_time", slots={"booking_code": booked["code"]}),
    )
    assert responses(messages) == ["utter_booking_rescheduled"]
    assert messages[0]["when"].endswith(said(start, "15:00"))
    assert slots(events)["booking_code"] is None
    assert await stock_of(runtime.db, "RM", "BOOT-NER-40") == (5, 1)  # still held once


async def test_items_are_added_to_the_only_booking_in_its_store(runtime: Runtime) -> None:
    words, _ = tomorrow_words()
    booked = await book_via_form(f"prova degli stivali neri 40 a Roma {words}")
    messages, _ = await run(
        ActionAddToBooking(),
        tracker("aggiungi anche gli stivali neri 41 alla prenotazione", "add_to_booking"),
    )
    assert responses(messages) == ["utter_booking_items_added"]
    assert messages[0]["code"] == booked["code"] and messages[0]["store"] == "Vetrina Roma"
    assert messages[0]["items"] == "Stivale Brera (nero, 40), Stivale Brera (nero, 41)"
    assert await stock_of(runtime.db, "RM", "BOOT-NER-41") == (5, 1)
    assert await stock_of(runtime.db, "MI", "BOOT-NER-41") == (5, 0)

    # Without the size: which one? Then "la 42" for the boots just talked about.
    messages, events = await run(
        ActionAddToBooking(), tracker("aggiungi anche gli stivali neri", "add_to_booking")
    )
    assert responses(messages) == ["utter_add_to_booking_which_size"]
    messages, _ = await run(
        ActionAddToBooking(), tracker("aggiungi la 42", "add_to_booking", slots=slots(events))
    )
    assert responses(messages) == ["utter_booking_items_added"]
    assert await stock_of(runtime.db, "RM", "BOOT-NER-42") == (5, 1)

    # Naming nothing to add asks what, rather than adding the boots again.
    messages, _ = await run(
        ActionAddToBooking(),
        tracker("aggiungi un altro capo alla prenotazione", "add_to_booking",
                slots={"product_code": "BOOT", "size": "42"}),
    )
    assert responses(messages) == ["utter_add_to_booking_what"]
    assert await stock_of(runtime.db, "RM", "BOOT-NER-42") == (5, 1)


async def test_adding_asks_which_booking_and_refuses_what_cannot_be_held(runtime: Runtime) -> None:
    words, _ = tomorrow_words()
    rome = await book_via_form(f"prova degli stivali neri 40 a Roma {words}")
    milan = await book_via_form(f"prova degli stivali neri 40 a Milano {words}")
    messages, events = await run(
        ActionAddToBooking(),
        tracker("add the black boots 41 to my booking", "add_to_booking", slots={"language": "en"}),
    )
    assert responses(messages) == ["utter_which_booking"]
    assert {b["title"] for b in messages[0]["buttons"]} == {
        f"Add to {rome['code']}", f"Add to {milan['code']}"
    }
    assert slots(events)["adding_item"] == "add the black boots 41 to my booking"
    button = next(b for b in messages[0]["buttons"] if milan["code"] in b["title"])
    messages, events = await run(
        ActionAddToBooking(),
        tracker(button["payload"], "add_to_booking", slots={"language": "en", **slots(events)},
                entities=[{"entity": "booking_code", "value": milan["code"]}]),
    )
    assert responses(messages) == ["utter_booking_items_added"]
    assert messages[0]["code"] == milan["code"]
    assert slots(events)["adding_item"] is None
    assert await stock_of(runtime.db, "MI", "BOOT-NER-41") == (5, 1)
    assert await stock_of(runtime.db, "RM", "BOOT-NER-41") == (5, 0)

    # Below the safety stock in Rome: refused, the booking unchanged.
    await set_stock(runtime.db, "RM", "BOOT-NER-42", 1)
    messages, _ = await run(
        ActionAddToBooking(),
        tracker(f"aggiungi gli stivali neri 42 alla prenotazione {rome['code']}", "add_to_booking"),
    )
    assert responses(messages) == ["utter_add_to_booking_unavailable"]
    assert messages[0]["store"] == "Vetrina Roma"
    assert await stock_of(runtime.db, "RM", "BOOT-NER-42") == (1, 0)
    # Someone else's code: the same words as a code that does not exist.
    theirs = await book_via_form(f"prova degli stivali neri 41 a Roma {words}", sender=OTHER)
    messages, _ = await run(
        ActionAddToBooking(),
        tracker(
            f"aggiungi gli stivali neri 40 alla prenotazione {theirs['code']}", "add_to_booking"
        ),
    )
    assert responses(messages) == ["utter_booking_not_found"]
    assert await stock_of(runtime.db, "RM", "BOOT-NER-40") == (5, 1)  # mine only


async def test_english_bookings_name_the_items_in_english(runtime: Runtime) -> None:
    """Bookings store the Italian product name; an English shopper reads the English one."""
    words, start = tomorrow_words()
    booked = await book_via_form(f"vorrei prenotare una prova degli stivali neri 40 a Roma {words}")
    t = tracker("my bookings", "my_bookings", slots={"language": "en"})
    messages, _ = await run(ActionMyBookings(), t)
    assert responses(messages) == ["utter_my_bookings"]
    listing = messages[0]["bookings"]
    assert booked["code"] in listing and "Brera boot (black, 40)" in listing, listing
    assert "Stivale" not in listing and "nero" not in listing
    english = said(start, "11:00").replace("domani alle", "tomorrow at").replace(" alle ", " at ")
    assert english in listing, listing
