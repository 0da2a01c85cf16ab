"""Whole stack: a try-on booked, listed, moved and cancelled by chat, in both languages.

A socket.io customer talks to the gateway → real Rasa (the try_on_form) → real action
server → the demo retailer in the stack's database. Which store has the item, which
slots are free and what is held are read here from the database and the booking
service, never hard-coded; the day asked for is the next one whose 11:00 slot is free.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from channels.web.session_ids import SessionIds
from tests.bookings.conftest import set_stock
from tests.chat_client import WebCustomer, buttons, texts
from tests.stack_fixtures import Gateway
from vetrina.bookings.models import Booking
from vetrina.bookings.service import TRY_ON, BookingOptions, Bookings
from vetrina.catalog.availability import Status, status_for
from vetrina.catalog.models import Product, Store, StoreStock, Variant
from vetrina.customers.identities import find_customer_id
from vetrina.customers.interactions import Interaction
from vetrina.settings import Settings

pytestmark = pytest.mark.integration

SAFETY_STOCK = Settings.from_env({}).safety_stock
IT_DAYS = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
CODE = re.compile(r"(?:Codice|Code) ([A-Z0-9]{6})")




@dataclass
class Stocked:
    store: str
    name: str
    city: str
    address: str
    sku: str
    available: int  # on hand minus held


def booking_service(gateway: Gateway) -> Bookings:
    """The booking service on the stack's database, with the stack's options."""
    return Bookings(gateway.services.db, BookingOptions.from_settings(gateway.services.settings))


async def trench_stock(gateway: Gateway) -> list[Stocked]:
    """The black trench in M in every store that takes try-on bookings."""
    async with gateway.services.db.sessions() as session:
        rows = (
            await session.execute(
                select(Store, Variant.sku, StoreStock.on_hand - StoreStock.reserved)
                .join(StoreStock, StoreStock.store_id == Store.id)
                .join(Variant, Variant.id == StoreStock.variant_id)
                .join(Product, Product.id == Variant.product_id)
                .where(Product.category == "trench", Variant.colour == "nero", Variant.size == "M")
            )
        ).all()
    return [
        Stocked(s.code, s.name, s.city, s.address, sku, available)
        for s, sku, available in rows
        if s.active and s.try_on_enabled and TRY_ON in (s.services or ())
    ]


async def bookable_trench(gateway: Gateway) -> Stocked:
    """A store, alone in its city, where the black trench M can be held for a try-on."""
    async with gateway.services.db.sessions() as session:
        cities = list(await session.scalars(select(Store.city)))
    for stocked in sorted(await trench_stock(gateway), key=lambda s: s.store):
        level = status_for(stocked.available, SAFETY_STOCK)
        if level is Status.IN_STOCK and cities.count(stocked.city) == 1:
            return stocked
    raise AssertionError("the demo has a single-store city with the black trench M in stock")


async def other_trench_size(gateway: Gateway, store: str) -> tuple[str, str]:
    """(size, SKU) of the black trench in a size other than M that ``store`` can hold."""
    async with gateway.services.db.sessions() as session:
        rows = (
            await session.execute(
                select(Variant.size, Variant.sku, StoreStock.on_hand - StoreStock.reserved)
                .join(StoreStock, StoreStock.variant_id == Variant.id)
                .join(Store, Store.id == StoreStock.store_id)
                .join(Product, Product.id == Variant.product_id)
                .where(
                    Store.code == store, Product.category == "trench", Variant.colour == "nero",
                    Variant.size != "M",
                )
                .order_by(Variant.sku)
            )
        ).all()
    for size, sku, available in rows:
        if status_for(available, SAFETY_STOCK) is Status.IN_STOCK:
            return size, sku
    raise AssertionError(f"the demo has the black trench in another size at {store}")


async def free_day_at_11(gateway: Gateway, store: str) -> date:
    """The next day (from tomorrow) whose 11:00 slot at ``store`` has a free place."""
    bookings = booking_service(gateway)
    zone = await bookings.store_zone(store)
    today = datetime.now(zone).date()
    for offset in range(1, 8):
        day = today + timedelta(days=offset)
        for slot in await bookings.slots(store, day):
            local = slot.starts_at.astimezone(zone)
            if (local.hour, local.minute) == (11, 0) and slot.free > 0:
                return day
    raise AssertionError(f"no free 11:00 slot at {store} this week")


def said_day(day: date, language: str) -> str:
    """How the bot names 11:00 on ``day``: "domani alle 11:00", else "… 28/11 alle 11:00"."""
    at = "alle" if language == "it" else "at"
    if day == date.today() + timedelta(days=1):
        return f"{'domani' if language == 'it' else 'tomorrow'} {at} 11:00"
    return f"{day:%d/%m} {at} 11:00"


def calendar_button(replies: list[dict[str, Any]], title: str) -> str:
    """The URL behind the widget's calendar button (the bubble has no raw link)."""
    found = [b["payload"] for b in buttons(replies) if b["title"] == title]
    assert len(found) == 1, buttons(replies)
    return str(found[0])


def day_words(day: date, language: str) -> str:
    tomorrow = date.today() + timedelta(days=1)
    if day == tomorrow:
        return "domani" if language == "it" else "tomorrow"
    return (IT_DAYS if language == "it" else EN_DAYS)[day.weekday()]


async def customer_id(gateway: Gateway, customer: WebCustomer) -> str:
    async with gateway.services.db.sessions() as session:
        found = await find_customer_id(
            session, "web", SessionIds.public(customer.session_id or "")
        )
    assert found is not None
    return found


async def held(gateway: Gateway, store: str, sku: str) -> int:
    async with gateway.services.db.sessions() as session:
        return int(
            await session.scalar(
                select(StoreStock.reserved)
                .join(Store, Store.id == StoreStock.store_id)
                .join(Variant, Variant.id == StoreStock.variant_id)
                .where(Store.code == store, Variant.sku == sku)
            )
            or 0
        )


async def test_it_book_in_one_message_add_an_item_list_and_cancel_twice(gateway: Gateway) -> None:
    trench = await bookable_trench(gateway)
    day = await free_day_at_11(gateway, trench.store)
    before = await held(gateway, trench.store, trench.sku)
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say(
            f"vorrei prenotare una prova del trench nero in M a {trench.city} "
            f"{day_words(day, 'it')} alle 11"
        )
        answer = texts(replies)
        found = CODE.search(answer)
        assert found and "Prenotato" in answer, answer
        code = found.group(1)
        assert trench.name in answer and trench.address in answer, answer
        assert said_day(day, "it") in answer, answer
        assert "calendar.ics" not in answer, answer  # the private link is a button
        link = calendar_button(replies, "Aggiungi al calendario")
        assert re.fullmatch(r"http\S+/bookings/" + code + r"/calendar\.ics\?t=\S+", link), link
        assert await held(gateway, trench.store, trench.sku) == before + 1

        # The calendar file behind the unguessable link; a wrong token gets nothing.
        path = link[link.index("/bookings/"):]
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            ics = await http.get(path)
            wrong = await http.get(path.split("?t=")[0] + "?t=guess")
        assert ics.status_code == 200 and "BEGIN:VEVENT" in ics.text and code in ics.text
        assert wrong.status_code == 404

        # A second item for the same try-on, held in the same store.
        size, other_sku = await other_trench_size(gateway, trench.store)
        other_before = await held(gateway, trench.store, other_sku)
        added = texts(
            await customer.say(f"aggiungi anche il trench nero in {size} alla prenotazione")
        )
        assert "Aggiunto" in added and code in added and f", {size})" in added, added
        assert await held(gateway, trench.store, other_sku) == other_before + 1

        listing = texts(await customer.say("che prenotazioni ho?"))
        assert code in listing and trench.name in listing, listing

        cancelled = texts(await customer.say(f"annulla la prenotazione {code}"))
        assert "annullata" in cancelled and code in cancelled, cancelled
        assert await held(gateway, trench.store, trench.sku) == before
        assert await held(gateway, trench.store, other_sku) == other_before
        again = texts(await customer.say(f"annulla la prenotazione {code}"))
        assert "già annullata" in again, again
        assert await held(gateway, trench.store, trench.sku) == before

        who = await customer_id(gateway, customer)
    finally:
        await customer.close()
    async with gateway.services.db.sessions() as session:
        kinds = list(
            await session.scalars(
                select(Interaction.kind)
                .where(Interaction.customer_id == who, Interaction.kind.like("booking_%"))
                .order_by(Interaction.id)
            )
        )
        status = await session.scalar(select(Booking.status).where(Booking.code == code))
    assert kinds == ["booking_created", "booking_items_added", "booking_cancelled"]
    assert status == "cancelled"


async def test_en_step_by_step_impossible_date_slot_button_and_reschedule(gateway: Gateway) -> None:
    trench = await bookable_trench(gateway)
    customer = await WebCustomer(gateway.url).connect()
    try:
        asked = texts(await customer.say("I'd like to book a try-on in store please"))
        assert "Which item" in asked, asked
        asked = texts(await customer.say("the black trench in M"))
        assert "Which store" in asked, asked
        replies = await customer.say(trench.city)
        assert "When would you like to come" in texts(replies), texts(replies)
        replies = await customer.say("February 31st at 10am")
        assert "doesn't exist" in texts(replies), texts(replies)
        slot_buttons = [b for b in buttons(replies) if b["payload"].startswith("/choose_slot")]
        assert slot_buttons, texts(replies)
        booked = await customer.say(slot_buttons[0]["payload"])
        answer = texts(booked)
        found = CODE.search(answer)
        assert found and "Booked!" in answer and trench.address in answer, answer
        code = found.group(1)
        async with gateway.services.db.sessions() as session:
            first = await session.scalar(select(Booking.starts_at).where(Booking.code == code))

        asked = await customer.say(f"I'd like to reschedule booking {code}")
        assert f"Booking {code} is for" in texts(asked), texts(asked)
        options = [b for b in buttons(asked) if b["payload"].startswith("/choose_slot")]
        later = [b for b in options if b["payload"] != slot_buttons[0]["payload"]]
        moved = texts(await customer.say(later[-1]["payload"]))
        assert f"Booking {code} is moved to" in moved, moved
    finally:
        await customer.close()
    async with gateway.services.db.sessions() as session:
        booking = await session.scalar(select(Booking).where(Booking.code == code))
    assert booking is not None and booking.status == "confirmed"
    assert booking.starts_at != first and booking.starts_at > datetime.now(timezone.utc)
    assert await held(gateway, trench.store, trench.sku) >= 1
    await booking_service(gateway).cancel(booking.customer_id, code, channel="web")


async def test_store_switched_off_offers_other_stores(gateway: Gateway) -> None:
    trench = await bookable_trench(gateway)
    bookings = booking_service(gateway)
    assert await bookings.set_try_on_enabled(trench.store, False)
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say(
            f"can I book a try-on of the black trench M in {trench.city}?"
        )
    finally:
        await customer.close()
        await bookings.set_try_on_enabled(trench.store, True)
    answer = texts(replies)
    assert "isn't taking try-on bookings" in answer and trench.name in answer, answer
    offered = {b["title"] for b in buttons(replies) if b["payload"].startswith("/choose_store")}
    bookable = {
        s.name for s in await trench_stock(gateway)
        if s.store != trench.store and status_for(s.available, SAFETY_STOCK) is Status.IN_STOCK
    }
    assert offered and offered <= bookable, (offered, bookable)


async def test_low_stock_item_is_not_held(gateway: Gateway) -> None:
    trench = await bookable_trench(gateway)
    day = await free_day_at_11(gateway, trench.store)
    async with gateway.services.db.sessions() as session:
        on_hand, reserved = (
            await session.execute(
                select(StoreStock.on_hand, StoreStock.reserved)
                .join(Store, Store.id == StoreStock.store_id)
                .join(Variant, Variant.id == StoreStock.variant_id)
                .where(Store.code == trench.store, Variant.sku == trench.sku)
            )
        ).one()
    # One piece fewer than the safety stock left: the last pieces, never held.
    await set_stock(gateway.services.db, trench.store, trench.sku, reserved + SAFETY_STOCK - 1)
    customer = await WebCustomer(gateway.url).connect()
    try:
        replies = await customer.say(
            f"vorrei prenotare una prova del trench nero M a {trench.city} "
            f"{day_words(day, 'it')} alle 11"
        )
    finally:
        await customer.close()
        await set_stock(gateway.services.db, trench.store, trench.sku, on_hand)
    answer = texts(replies)
    assert "è agli ultimi pezzi, quindi" in answer and "Prenotato" not in answer, answer
    assert "esaurito" not in answer, answer
    assert await held(gateway, trench.store, trench.sku) == reserved


async def two_trench_cities(gateway: Gateway) -> tuple[Stocked, Stocked]:
    """Two stores, each alone in its city, that can both hold the black trench M."""
    async with gateway.services.db.sessions() as session:
        cities = list(await session.scalars(select(Store.city)))
    found = [
        s for s in sorted(await trench_stock(gateway), key=lambda s: s.store)
        if status_for(s.available, SAFETY_STOCK) is Status.IN_STOCK and cities.count(s.city) == 1
    ]
    assert len(found) >= 2, found
    return found[0], found[1]


@pytest.mark.parametrize(
    ("language", "ask", "book", "booked_word"),
    [
        ("it", "avete il trench nero in M a {city}?", "vorrei prenotare una prova {day} alle 11",
         "Prenotato"),
        ("en", "do you have the black trench in M in {city}?",
         "I'd like to book a try-on {day} at 11am", "Booked"),
    ],
)
async def test_booking_keeps_the_time_and_offers_the_store_talked_about_first(
    gateway: Gateway, language: str, ask: str, book: str, booked_word: str
) -> None:
    """The issue-14 conversation: a stock answer for one city, then the last pieces in
    another; "book a try-on Saturday at 11" there offers the first city's store first,
    and picking it books Saturday at 11 without asking "when?" again."""
    wanted, low = await two_trench_cities(gateway)
    day = await free_day_at_11(gateway, wanted.store)
    async with gateway.services.db.sessions() as session:
        on_hand, reserved = (
            await session.execute(
                select(StoreStock.on_hand, StoreStock.reserved)
                .join(Store, Store.id == StoreStock.store_id)
                .join(Variant, Variant.id == StoreStock.variant_id)
                .where(Store.code == low.store, Variant.sku == low.sku)
            )
        ).one()
    await set_stock(gateway.services.db, low.store, low.sku, reserved + SAFETY_STOCK - 1)
    customer = await WebCustomer(gateway.url).connect()
    code = None
    try:
        first = texts(await customer.say(ask.format(city=wanted.city)))
        assert wanted.name in first, first
        second = texts(await customer.say(ask.format(city=low.city)))
        assert low.name in second, second
        offered = await customer.say(book.format(day=day_words(day, language)))
        stores = [b for b in buttons(offered) if b["payload"].startswith("/choose_store")]
        assert stores and stores[0]["title"] == wanted.name, (texts(offered), stores)
        answer = texts(await customer.say(stores[0]["payload"]))
        found = CODE.search(answer)
        assert found and booked_word in answer, answer
        code = found.group(1)
        assert said_day(day, language) in answer and wanted.address in answer, answer
    finally:
        await customer.close()
        await set_stock(gateway.services.db, low.store, low.sku, on_hand)
        if code is not None:
            who = await customer_id(gateway, customer)
            await booking_service(gateway).cancel(who, code, channel="web")


async def test_someone_elses_code_looks_like_an_unknown_code(gateway: Gateway) -> None:
    trench = await bookable_trench(gateway)
    day = await free_day_at_11(gateway, trench.store)
    owner = await WebCustomer(gateway.url).connect()
    other = await WebCustomer(gateway.url).connect()
    try:
        booked = texts(await owner.say(
            f"book a try-on of the black trench M in {trench.city} "
            f"{day_words(day, 'en')} at 11am"
        ))
        found = CODE.search(booked)
        assert found, booked
        code = found.group(1)
        theirs = texts(await other.say(f"cancel booking {code}"))
        unknown = texts(await other.say("cancel booking ZZZZ22"))
        mine = texts(await owner.say("my bookings"))
    finally:
        await owner.close()
        await other.close()
    assert theirs == unknown.replace("ZZZZ22", code), (theirs, unknown)
    assert code in mine  # still booked
    async with gateway.services.db.sessions() as session:
        booking = await session.scalar(select(Booking).where(Booking.code == code))
    assert booking is not None and booking.status == "confirmed"
    await booking_service(gateway).cancel(booking.customer_id, code, channel="web")


async def test_whatsapp_books_by_replying_with_the_number_of_a_slot(gateway: Gateway) -> None:
    """Buttons are a numbered list on WhatsApp: "1" picks the first free slot."""
    twilio = gateway.twilio
    assert twilio is not None
    trench = await bookable_trench(gateway)
    number = "+393330000888"  # not used by any other whole-stack test

    async def say(text: str) -> str:
        seen = len(twilio.sent_to(number))
        status, _ = await twilio.deliver(
            f"{gateway.url}/webhooks/whatsapp", twilio.incoming(number, text)
        )
        assert status == 200
        await twilio.wait_for(number, count=seen + 1, timeout=60)
        await asyncio.sleep(1.5)  # a turn may have several messages
        return "\n".join(m.body for m in twilio.sent_to(number)[seen:])

    offered = await say(f"vorrei prenotare una prova del trench nero in M a {trench.city}")
    assert "1. " in offered and "Quando vuoi venire" in offered, offered
    booked = await say("1")
    found = CODE.search(booked)
    assert found and trench.address in booked, booked
    # A short unguessable calendar link in the text, never the long private token.
    assert re.search(r"/c/" + found.group(1) + r"-[a-z2-7]{12}\b", booked), booked
    assert "calendar.ics" not in booked and "?t=" not in booked, booked
    # The short link opens the booking's calendar; another key opens nothing.
    short = re.search(r"/c/" + found.group(1) + r"-[a-z2-7]{12}\b", booked)
    assert short is not None
    async with httpx.AsyncClient(base_url=gateway.url, follow_redirects=True) as http:
        ics = await http.get(short.group(0))
        other = "b" if short.group(0).endswith("a") else "a"  # one character off
        guessed = await http.get(short.group(0)[:-1] + other)
    assert ics.status_code == 200 and "BEGIN:VEVENT" in ics.text, ics.text[:200]
    assert found.group(1) in ics.text
    assert guessed.status_code == 404
    async with gateway.services.db.sessions() as session:
        booking = await session.scalar(select(Booking).where(Booking.code == found.group(1)))
    assert booking is not None and booking.channel == "whatsapp"
    first_line = offered.split("1. ", 1)[1].splitlines()[0]  # "sab 28/11 10:00"
    zone = await booking_service(gateway).store_zone(trench.store)
    assert booking.starts_at.astimezone(zone).strftime("%d/%m %H:%M") in first_line
    await booking_service(gateway).cancel(booking.customer_id, booking.code, channel="whatsapp")
