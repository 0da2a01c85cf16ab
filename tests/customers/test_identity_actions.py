"""The linking actions, the rasa-sdk way: a Tracker in, the exact responses and events
out, on a real (SQLite) database; every response they send exists in both languages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest_asyncio
from sqlalchemy import select

from actions import runtime as runtime_module
from actions.identity import ActionLinkChannel, ActionVerifyLinkCode
from actions.runtime import ResolverCache, Runtime
from tests.actions.support import CUSTOMER, check_sent, responses, slots, tracker
from tests.actions.support import run as run_action
from tests.customers.helpers import make_customer, stock_check
from vetrina.bookings.service import Bookings
from vetrina.catalog.availability import SqlInventory
from vetrina.catalog.stock_check import StockChecker
from vetrina.conversations.models import Message
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.storage.database import Database

SENT: list[dict[str, Any]] = []
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
NUMBER = "+393331234567"


async def run(action: Any, t: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return await run_action(action, t, SENT)


@pytest_asyncio.fixture
async def runtime(sqlite_db: Database) -> AsyncIterator[Runtime]:
    async with sqlite_db.transaction() as session:
        session.add(Customer(id=CUSTOMER, language="it", last_channel="web"))
    inventory = SqlInventory(sqlite_db, safety_stock=2)
    resolvers = ResolverCache(sqlite_db, inventory, max_age=300)
    rt = Runtime(sqlite_db, inventory, resolvers, StockChecker(sqlite_db, inventory, resolvers.get),
                 Bookings(sqlite_db), "http://shop.test")
    runtime_module.install(rt)
    yield rt
    runtime_module.install(None)


async def code_sent(db: Database) -> str:
    async with db.sessions() as session:
        text = await session.scalar(
            select(Message.text).where(Message.channel == "whatsapp", Message.direction == "out")
            .order_by(Message.id.desc()).limit(1)
        )
    match = re.search(r"\b(\d{6})\b", text or "")
    assert match, text
    return match.group(1)


async def test_link_then_verify_in_english(runtime: Runtime) -> None:
    wa = await make_customer(runtime.db, "whatsapp", NUMBER, language="it", seen=T0)
    await stock_check(runtime.db, wa, "whatsapp", T0, product_code="VT0003", size="M",
                      colour="nero", store_code="TO-CENTRO")
    messages, events = await run(
        ActionLinkChannel(),
        tracker("I also wrote to you on WhatsApp, my number is +39 333 1234567",
                "link_channel", slots={"language": "en"}),
    )
    assert responses(messages) == ["utter_link_code_sent"]
    assert messages[0]["number"] == "+39••••••4567" and messages[0]["minutes"] == 10
    assert events == []
    code = await code_sent(runtime.db)

    wrong = "000000" if code != "000000" else "999999"
    messages, events = await run(ActionVerifyLinkCode(), tracker(wrong, "give_code"))
    assert responses(messages) == ["utter_link_code_wrong"] and messages[0]["remaining"] == 4
    messages, events = await run(ActionVerifyLinkCode(), tracker(f"the code is {code}",
                                                                 "give_code"))
    assert responses(messages) == ["utter_link_done"]
    assert slots(events) == {"language": "it", "product_code": "VT0003", "size": "M",
                             "colour": "nero", "store_code": "TO-CENTRO"}
    async with runtime.db.sessions() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == NUMBER)
        )
    assert owner == CUSTOMER
    messages, _ = await run(ActionVerifyLinkCode(), tracker(code, "give_code"))
    assert responses(messages) == ["utter_link_code_used"]


async def test_asks_for_the_number_and_refuses_bad_ones(runtime: Runtime) -> None:
    messages, _ = await run(ActionLinkChannel(), tracker("ti ho scritto anche su WhatsApp",
                                                         "link_channel"))
    assert responses(messages) == ["utter_link_ask_phone"]
    messages, _ = await run(ActionLinkChannel(), tracker("il mio numero è 12 34", "link_channel"))
    assert responses(messages) == ["utter_link_invalid_phone"]
    messages, _ = await run(ActionVerifyLinkCode(), tracker("123456", "give_code"))
    assert responses(messages) == ["utter_link_no_code"]
    # The follow-up with only the number works.
    messages, _ = await run(ActionLinkChannel(), tracker("+39 333 1234567", "link_channel"))
    assert responses(messages) == ["utter_link_code_sent"]
    messages, _ = await run(ActionVerifyLinkCode(), tracker("il codice", "give_code"))
    assert responses(messages) == ["utter_link_not_a_code"]


async def test_too_many_attempts(runtime: Runtime) -> None:
    await run(ActionLinkChannel(), tracker(f"il mio numero è {NUMBER}", "link_channel"))
    code = await code_sent(runtime.db)
    wrong = "000000" if code != "000000" else "999999"
    for _ in range(4):
        await run(ActionVerifyLinkCode(), tracker(wrong, "give_code"))
    messages, _ = await run(ActionVerifyLinkCode(), tracker(wrong, "give_code"))
    assert responses(messages) == ["utter_link_code_locked"]
    messages, _ = await run(ActionVerifyLinkCode(), tracker(code, "give_code"))
    assert responses(messages) == ["utter_link_code_locked"]


def test_every_response_sent_is_in_the_domain_in_both_languages() -> None:
    check_sent(SENT)
