"""The try-on form's decisions as pure functions, each tested by a table of cases: the
next step, the moment remembered across messages, the exact stock state, the order of
the stores offered, today/tomorrow wording, English names and the short calendar link."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from actions.bookings import (
    Known,
    Step,
    nearest_first,
    next_step,
    remembered_when,
    state_label,
    without_booking_words,
)
from actions.replies import city_name, moment_text
from tests.actions.support import DOMAIN
from vetrina.bookings.calendar import SHORT_KEY_LENGTH as KEY_LENGTH
from vetrina.bookings.calendar import matches, short_key, short_path
from vetrina.catalog.availability import Status
from vetrina.catalog.stock_check import Outcome
from vetrina.catalog.stores import Coordinates, OpeningHours, StoreInfo

ROME = ZoneInfo("Europe/Rome")
A = Outcome.ANSWER


@pytest.mark.parametrize(
    ("known", "step"),
    [
        (Known(sku=True, store=True, checked=False), Step.TIME_ONLY),
        (Known(sku=False, store=False, checked=True, outcome=A, check_sku=True, check_store=True),
         Step.ITEM_IN_STORE),
        (Known(sku=True, store=True, checked=True, outcome=A, check_sku=True, check_store=True),
         Step.ITEM_IN_STORE),
        (Known(sku=False, store=False, checked=True, outcome=A, check_store=True), Step.SHOW_SIZES),
        (Known(sku=False, store=False, checked=True, outcome=A), Step.EXPLAIN),
        (Known(sku=False, store=False, checked=True, outcome=Outcome.ASK_PRODUCT), Step.ASK_ITEM),
        (Known(sku=True, store=False, checked=True, outcome=Outcome.ASK_PRODUCT), Step.ASK_ITEM),
        (Known(sku=True, store=True, checked=True, outcome=Outcome.ASK_PRODUCT), Step.KEEP),
        (Known(sku=True, store=False, checked=True, outcome=Outcome.STORE_INFO, nearest=True),
         Step.NEAREST_STORE),
        (Known(sku=False, store=False, checked=True, outcome=Outcome.STORE_INFO), Step.EXPLAIN),
        (Known(sku=True, store=False, checked=True, outcome=Outcome.ASK_STORE), Step.EXPLAIN),
        (Known(sku=False, store=False, checked=True, outcome=Outcome.UNKNOWN_PRODUCT),
         Step.EXPLAIN),
        (Known(sku=False, store=False, checked=True, outcome=Outcome.NEED_LOCATION), Step.EXPLAIN),
    ],
)
def test_next_step(known: Known, step: Step) -> None:
    assert next_step(known) is step


NOW = datetime(2026, 11, 25, 9, 0)  # a Wednesday, store-local


@pytest.mark.parametrize(
    ("text", "remembered", "day", "at"),
    [
        ("", "vorrei prenotare una prova sabato alle 11", date(2026, 11, 28), time(11, 0)),
        ("/choose_store", "I'd like to book on Saturday at 11", date(2026, 11, 28), time(11, 0)),
        ("alle 15", "sabato alle 11", date(2026, 11, 28), time(15, 0)),
        ("venerdì alle 10", "sabato alle 11", date(2026, 11, 27), time(10, 0)),
        ("domani", None, date(2026, 11, 26), None),
        ("", None, None, None),
    ],
)
def test_a_moment_said_earlier_carries_through(
    text: str, remembered: str | None, day: date | None, at: time | None
) -> None:
    asked = remembered_when(text, remembered, NOW)
    assert (asked.day, asked.at) == (day, at)


@pytest.mark.parametrize(
    ("status", "language", "words"),
    [
        (Status.LAST_PIECES, "it", "è agli ultimi pezzi"),
        (Status.OUT_OF_STOCK, "it", "è esaurito"),
        (Status.LAST_PIECES, "en", "is down to the last pieces"),
        (Status.OUT_OF_STOCK, "en", "is sold out"),
        (Status.IN_STOCK, "en", "is all held for other try-ons already"),
        (None, "it", "è già tutto tenuto da parte per altre prove"),
    ],
)
def test_the_stock_state_is_said_exactly(status: Status | None, language: str, words: str) -> None:
    said = state_label(status, DOMAIN, language)
    assert said == words and " o " not in said and " or " not in said


CLOSED = OpeningHours(weekly=((),) * 7)


def _store(code: str, latitude: float, longitude: float) -> StoreInfo:
    return StoreInfo(code, code, "", "", "", Coordinates(latitude, longitude), CLOSED)


def test_stores_talked_about_come_first_then_the_nearest() -> None:
    rome = Coordinates(41.90, 12.50)
    napoli, bologna = _store("NA", 40.85, 14.27), _store("BO", 44.49, 11.34)
    venezia = _store("VE", 45.44, 12.32)
    duomo, brera = _store("MI-DUOMO", 45.46, 9.19), _store("MI-BRERA", 45.47, 9.19)
    stores = [venezia, duomo, napoli, brera, bologna]
    ordered = nearest_first(stores, ["RM", "MI-BRERA", "MI-DUOMO"], rome)
    assert [s.code for s in ordered] == ["MI-BRERA", "MI-DUOMO", "NA", "BO", "VE"]
    assert [s.code for s in nearest_first(stores, [], rome)][:3] == ["NA", "BO", "VE"]


@pytest.mark.parametrize(
    ("moment", "language", "words"),
    [
        (datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc), "it", "oggi alle 10:00"),
        (datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc), "it", "domani alle 10:00"),
        (datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc), "en", "tomorrow at 10:00"),
        (datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc), "it", "sab 28/11 alle 10:00"),
        (datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc), "en", "Sat 28/11 at 10:00"),
    ],
)
def test_today_and_tomorrow_are_named_so(moment: datetime, language: str, words: str) -> None:
    now = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)  # Wednesday 08:00 in Rome
    assert moment_text(moment, ROME, language, DOMAIN, now=now) == words


def test_the_store_reopens_today_not_on_a_weekday_name() -> None:
    now = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc)
    opens = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    said = moment_text(opens, ROME, "it", DOMAIN, now=now, with_date=False)
    assert said == "oggi alle 10:00" and "mer" not in said


@pytest.mark.parametrize(
    ("city", "language", "name"),
    [("Roma", "en", "Rome"), ("Milano", "en", "Milan"), ("Roma", "it", "Roma"),
     ("Bologna", "en", "Bologna"), ("Napoli", "en", "Naples")],
)
def test_city_names_in_the_customers_language(city: str, language: str, name: str) -> None:
    assert city_name(city, language) == name


def test_the_short_calendar_link_is_short_unguessable_and_checkable() -> None:
    token = "k3YqT0f9xW2bV7nL1cR8sD4hJ6mP5gA0zE"
    key = short_key(token)
    assert len(key) == KEY_LENGTH and key.isalnum() and token.lower()[:KEY_LENGTH] != key
    assert short_path("K7M2QX", token) == f"/c/K7M2QX-{key}"
    assert token not in short_path("K7M2QX", token)
    assert matches(token, key) and matches(token, key.upper())
    assert not matches(token, "a" * KEY_LENGTH) and not matches(token + "x", key)
    assert short_key(token + "x") != key


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("can I also try the black jeans 32 at the same appointment",
         "can I also try the black jeans 32"),
        ("posso provare anche i jeans neri 32 nello stesso appuntamento?",
         "posso provare anche i jeans neri 32 ?"),
        ("add the coat to my same booking", "add the coat"),
        ("aggiungi la giacca alla stessa prenotazione", "aggiungi la giacca"),
        ("aggiungi il trench nero M", "aggiungi il trench nero M"),
    ],
)
def test_the_same_appointment_is_not_read_as_an_item(text: str, item: str) -> None:
    assert without_booking_words(text) == item
