"""The linking actions, the rasa-sdk way: a Tracker in, the exact responses and events
out, on a real (SQLite) database; every response they send exists in both languages.

By default a code is shown to send from WhatsApp or Instagram; the tests of codes sent
*to* a number turn ``link_outbound_codes`` on (VETRINA_LINK_OUTBOUND_CODES)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

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
from vetrina.customers.link_proofs import code_hash
from vetrina.customers.models import ChannelIdentity, Customer, LinkCode
from vetrina.settings import MetaSettings, Settings, TwilioSettings
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
    settings = Settings(
        twilio=TwilioSettings(whatsapp_from="whatsapp:+39 02 1234 5678"),
        meta=MetaSettings(username="vetrina.shop"),
    )
    rt = Runtime(sqlite_db, inventory, resolvers, StockChecker(sqlite_db, inventory, resolvers.get),
                 Bookings(sqlite_db), "http://shop.test", settings)
    runtime_module.install(rt)
    yield rt
    runtime_module.install(None)


def outbound(runtime: Runtime) -> None:
    """Turn the optional codes sent *to* a number on (VETRINA_LINK_OUTBOUND_CODES)."""
    runtime.settings = dataclasses.replace(runtime.settings, link_outbound_codes=True)


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
    outbound(runtime)
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


async def test_outbound_without_a_usable_number_shows_a_code_instead(runtime: Runtime) -> None:
    outbound(runtime)
    messages, _ = await run(ActionLinkChannel(), tracker("ti ho scritto anche su WhatsApp",
                                                         "link_channel"))
    assert responses(messages) == ["utter_link_send_code"]
    messages, _ = await run(ActionLinkChannel(), tracker("il mio numero è 12 34", "link_channel"))
    assert responses(messages) == ["utter_link_send_code"]
    messages, _ = await run(ActionVerifyLinkCode(), tracker("123456", "give_code"))
    assert responses(messages) == ["utter_link_no_code"]  # a shown code is not typed here
    # The follow-up with only the number works.
    messages, _ = await run(ActionLinkChannel(), tracker("+39 333 1234567", "link_channel"))
    assert responses(messages) == ["utter_link_code_sent"]
    messages, _ = await run(ActionVerifyLinkCode(), tracker("il codice", "give_code"))
    assert responses(messages) == ["utter_link_not_a_code"]


async def test_too_many_attempts(runtime: Runtime) -> None:
    outbound(runtime)
    await run(ActionLinkChannel(), tracker(f"il mio numero è {NUMBER}", "link_channel"))
    code = await code_sent(runtime.db)
    wrong = "000000" if code != "000000" else "999999"
    for _ in range(4):
        await run(ActionVerifyLinkCode(), tracker(wrong, "give_code"))
    messages, _ = await run(ActionVerifyLinkCode(), tracker(wrong, "give_code"))
    assert responses(messages) == ["utter_link_code_locked"]
    messages, _ = await run(ActionVerifyLinkCode(), tracker(code, "give_code"))
    assert responses(messages) == ["utter_link_code_locked"]


async def test_by_default_a_code_is_shown_with_click_to_chat_buttons(runtime: Runtime) -> None:
    messages, events = await run(
        ActionLinkChannel(),
        tracker("my number is +39 333 1234567, link my WhatsApp", "link_channel",
                slots={"language": "en"}, metadata={"client_key": "k1"}),
    )
    assert responses(messages) == ["utter_link_send_code"] and events == []
    code = messages[0]["code"]
    assert re.fullmatch(r"VTR-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", code)
    assert messages[0]["minutes"] == 10
    prefill = quote(f"Hi! Please link this chat to my chat on the website. My code is {code}",
                    safe="")
    assert messages[0]["buttons"] == [{
        "title": "WhatsApp", "type": "web_url",
        "url": f"https://wa.me/390212345678?text={prefill}",
        "payload": f"https://wa.me/390212345678?text={prefill}",
    }]
    async with runtime.db.sessions() as session:
        rows = (await session.scalars(select(LinkCode))).all()
        sent = await session.scalar(select(Message.id).where(Message.channel == "whatsapp"))
    assert sent is None  # nothing goes to the number typed
    assert [(r.direction, r.code_hash, r.client_key) for r in rows] == [
        ("in", code_hash(code), "k1")
    ]
    assert code not in repr([vars(r) for r in rows])  # only the hash is kept

    messages, _ = await run(ActionLinkChannel(), tracker("collega il mio Instagram",
                                                         "link_channel"))
    assert [b["url"] for b in messages[0]["buttons"]] == ["https://ig.me/m/vetrina.shop"]
    messages, _ = await run(ActionLinkChannel(), tracker("collega le chat", "link_channel"))
    assert [b["title"] for b in messages[0]["buttons"]] == ["WhatsApp", "Instagram"]
    messages, _ = await run(ActionLinkChannel(), tracker("collega le chat", "link_channel"))
    assert responses(messages) == ["utter_link_too_many_codes"]  # the 4th in an hour


async def test_codes_are_limited_per_session_and_per_address(runtime: Runtime) -> None:
    for _ in range(3):
        messages, _ = await run(ActionLinkChannel(), tracker("link", "link_channel"))
        assert responses(messages) == ["utter_link_send_code"]
    messages, _ = await run(ActionLinkChannel(), tracker("link", "link_channel"))
    assert responses(messages) == ["utter_link_too_many_codes"]
    # New sessions (a new customer each) from one address: 10 an hour in all.
    for index in range(12):
        sender = f"fresh{index:02d}"
        async with runtime.db.transaction() as session:
            session.add(Customer(id=sender, language="it", last_channel="web"))
        messages, _ = await run(ActionLinkChannel(), tracker(
            "link", "link_channel", metadata={"client_key": "same-address"}, sender=sender))
        expected = "utter_link_send_code" if index < 10 else "utter_link_too_many_codes"
        assert responses(messages) == [expected], index


async def test_outside_the_web_chat_the_code_comes_without_buttons(runtime: Runtime) -> None:
    messages, _ = await run(ActionLinkChannel(), tracker("collega Instagram", "link_channel",
                                                         channel="whatsapp"))
    assert responses(messages) == ["utter_link_send_code"]
    assert not messages[0]["buttons"]


def test_every_response_sent_is_in_the_domain_in_both_languages() -> None:
    check_sent(SENT)
