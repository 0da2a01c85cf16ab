"""The handoff actions: a Tracker in, the exact responses out, the request in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest_asyncio
from rasa_sdk import Tracker

from actions import runtime as runtime_module
from actions.handoff import ActionNotUnderstood, ActionRequestConsultant, misunderstood_in_a_row
from actions.runtime import ResolverCache, Runtime
from tests.actions.support import CUSTOMER, responses, tracker
from tests.actions.support import run as run_action
from tests.catalog.conftest import PRODUCTS, STORES
from vetrina.bookings.service import Bookings
from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.stock_check import StockChecker
from vetrina.catalog.writing import write_catalog, write_stores
from vetrina.conversations import handoff
from vetrina.conversations.consultants import Presence, create_consultant, set_presence
from vetrina.conversations.handoff import HandoffOptions
from vetrina.conversations.routing import ConsultantHours
from vetrina.customers.models import Customer
from vetrina.storage.database import Database

HOURS = HandoffOptions(ConsultantHours.parse("mon-fri 09:00-18:00", "Europe/Rome"), 3.0)


async def run(action: Any, t: Tracker) -> list[dict[str, Any]]:
    messages, events = await run_action(action, t)
    assert events == []
    return messages


def fallback_tracker(*texts: str, understood_before: bool = True) -> Tracker:
    """User messages that all fell back (after one that was understood)."""
    t = tracker(texts[-1], "nlu_fallback")
    events: list[dict[str, Any]] = []
    if understood_before:
        greet = {"intent": {"name": "greet"}}
        events.append({"event": "user", "text": "ciao", "parse_data": greet})
        events.append({"event": "bot", "text": "Ciao!"})
    for text in texts:
        fallback = {"intent": {"name": "nlu_fallback"}}
        events.append({"event": "user", "text": text, "parse_data": fallback})
        events.append({"event": "action", "name": "action_not_understood"})
    t.events = events[:-1]
    return t


@pytest_asyncio.fixture
async def runtime(sqlite_db: Database) -> AsyncIterator[Runtime]:
    async with sqlite_db.transaction() as session:
        await write_stores(session, STORES)
        await write_catalog(session, PRODUCTS)
        session.add(Customer(id=CUSTOMER, last_channel="web"))
    inventory = SqlInventory(sqlite_db, safety_stock=2)
    resolvers = ResolverCache(sqlite_db, inventory, max_age=300)
    rt = Runtime(
        sqlite_db, inventory, resolvers, StockChecker(sqlite_db, inventory, resolvers.get),
        Bookings(sqlite_db), "http://shop.test", handoff=HOURS,
    )
    with runtime_module.using(rt):
        yield rt


async def _state(db: Database) -> handoff.ConversationState:
    state = await handoff.conversation_of_customer(db, CUSTOMER)
    assert state is not None
    return state


async def test_asking_for_a_person_queues_at_the_store_talked_about(
    runtime: Runtime,
) -> None:
    tuesday_11 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    runtime.clock = lambda: tuesday_11
    anna = await create_consultant(
        runtime.db, "anna@example.com", "Anna", "long password 1", stores=["MI"]
    )
    await set_presence(runtime.db, anna.id, Presence.ONLINE, now=tuesday_11)
    t = tracker("voglio parlare con un commesso", "request_consultant", slots={"store_code": "MI"})
    messages = await run(ActionRequestConsultant(), t)
    assert responses(messages) == ["utter_handoff_queued_store"]
    assert messages[0]["store"] == "Vetrina Milano" and messages[0]["minutes"] == 3
    state = await _state(runtime.db)
    assert (state.status, state.store_code, state.reason) == ("waiting", "MI", "customer_asked")

    again = await run(ActionRequestConsultant(), t)
    assert responses(again) == ["utter_handoff_already_waiting"]


async def test_outside_hours_says_when_and_offers_a_try_on(runtime: Runtime) -> None:
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=timezone.utc)
    runtime.clock = lambda: saturday
    messages = await run(
        ActionRequestConsultant(),
        tracker("can I talk to a person?", "request_consultant", slots={"language": "en"}),
    )
    assert responses(messages) == ["utter_handoff_after_hours"]
    assert messages[0]["when"] == "on Mon at 09:00"
    assert messages[0]["buttons"] == [{"title": "Book a try-on", "payload": "/book_try_on"}]
    assert (await _state(runtime.db)).status == "waiting"  # the request stays queued


async def test_nobody_online_within_hours_says_by_when(runtime: Runtime) -> None:
    tuesday_11 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    runtime.clock = lambda: tuesday_11
    messages = await run(ActionRequestConsultant(), tracker("un consulente", "request_consultant"))
    assert responses(messages) == ["utter_handoff_nobody_online"]
    assert messages[0]["until"] == "18:00"
    assert messages[0]["buttons"][0]["payload"] == "/book_try_on"


async def test_the_second_misunderstanding_in_a_row_asks_for_a_consultant(
    runtime: Runtime,
) -> None:
    first = fallback_tracker("asdf qwer")
    assert misunderstood_in_a_row(first) == 1
    assert responses(await run(ActionNotUnderstood(), first)) == ["utter_default"]
    assert await handoff.conversation_of_customer(runtime.db, CUSTOMER) is None

    second = fallback_tracker("asdf qwer", "zxcv uiop")
    assert misunderstood_in_a_row(second) == 2
    messages = await run(ActionNotUnderstood(), second)
    assert responses(messages)[0] == "utter_handoff_not_understood"
    assert responses(messages)[1].startswith("utter_handoff_")
    state = await _state(runtime.db)
    assert (state.status, state.reason) == ("waiting", "not_understood")

