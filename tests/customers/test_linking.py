"""Linking by one-time code and by signed identity token (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.customers.helpers import make_customer, say
from vetrina.conversations.models import Message
from vetrina.customers.errors import LinkError
from vetrina.customers.linking import (
    LinkOptions,
    check_link_code,
    join_shop_account,
    parse_code,
    parse_phone,
    request_link_code,
)
from vetrina.customers.models import ChannelIdentity, Customer, LinkCode
from vetrina.customers.tokens import ShopIdentity
from vetrina.storage.database import Database

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
NUMBER = "+393331234567"


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("il mio numero è +39 333 1234567", NUMBER),
        ("0039 333-1234567", NUMBER),
        ("333 1234567", NUMBER),
        ("my number is +44 7400 123456 thanks", "+447400123456"),
        ("mi numero es +34 612 34 56 78", "+34612345678"),
        ("+41 79 123 45 67", "+41791234567"),
        # 07700 900xxx is Ofcom's range for drama: no real phone has it.
        ("my number is +44 7700 900123 thanks", None),
        ("+39 333", None),  # too short
        ("+39 333 1234567890", None),  # too long
        ("ti ho scritto anche su WhatsApp", None),
        ("call me at 12", None),
        ("02 1234567", None),  # an Italian landline without prefix: not WhatsApp-able as is
    ],
)
def test_phone_numbers_in_what_customers_type(text: str, number: str | None) -> None:
    assert parse_phone(text) == number


def test_codes_in_what_customers_type() -> None:
    assert parse_code("123456") == "123456"
    assert parse_code("il codice è 123 456") == "123456"
    assert parse_code("1234567") is None and parse_code("12345") is None


async def ask(db: Database, customer: str, text: str = f"my number is {NUMBER}", **kw):  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        return await request_link_code(session, customer, text, **kw)


async def test_the_code_goes_to_whatsapp_and_links_the_number(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", language="en", seen=T0)
    wa = await make_customer(db, "whatsapp", NUMBER, name="Giulia", seen=T0 - timedelta(days=3))
    await say(db, wa, "whatsapp", "ciao", T0 - timedelta(days=3))
    sent = await ask(db, web, language="en", now=T0)
    async with db.sessions() as session:
        outbound = (await session.scalars(
            select(Message).where(Message.direction == "out", Message.channel == "whatsapp")
        )).all()
        stored = await session.scalar(select(LinkCode))
    assert len(outbound) == 1 and outbound[0].customer_id == wa  # the number's owner gets it
    assert sent.code in outbound[0].text and outbound[0].text.startswith("Your Vetrina code")
    assert outbound[0].payload["must_send"] == {
        "template": "link_code", "variables": {"1": sent.code},
    }
    assert sent.code not in stored.code_hash  # only a hash is kept

    linked = await check_link_code(db, web, f"the code is {sent.code}", now=T0 + timedelta(minutes=2))
    assert linked.merge is not None and linked.merge.merged_id == wa
    async with db.sessions() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == NUMBER)
        )
        moved = await session.scalar(select(Message.customer_id).where(Message.text == "ciao"))
    assert owner == web and moved == web


async def test_a_number_that_never_wrote_gets_its_own_customer_until_linked(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    sent = await ask(db, web, "+39 333 1234567", now=T0)
    async with db.sessions() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == NUMBER)
        )
    assert owner != web  # nothing linked on the claim alone
    linked = await check_link_code(db, web, sent.code, now=T0 + timedelta(minutes=1))
    assert linked.external_id == NUMBER
    async with db.sessions() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == NUMBER)
        )
    assert owner == web


async def owner_of_number(db: Database) -> str | None:
    async with db.sessions() as session:
        return await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == NUMBER)
        )


async def test_wrong_codes_count_and_then_lock(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    sent = await ask(db, web, now=T0)
    wrong = "000000" if sent.code != "000000" else "111111"
    options = LinkOptions(max_attempts=3)
    with pytest.raises(LinkError) as error:
        await check_link_code(db, web, wrong, options=options, now=T0)
    assert error.value.code == "wrong_code" and error.value.facts["remaining"] == 2
    with pytest.raises(LinkError):
        await check_link_code(db, web, wrong, options=options, now=T0)
    with pytest.raises(LinkError) as error:
        await check_link_code(db, web, wrong, options=options, now=T0)
    assert error.value.code == "too_many_attempts"
    with pytest.raises(LinkError) as error:  # even the right code, now
        await check_link_code(db, web, sent.code, options=options, now=T0)
    assert error.value.code == "too_many_attempts"
    assert await owner_of_number(db) != web


async def test_a_code_works_once(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    sent = await ask(db, web, now=T0)
    await check_link_code(db, web, sent.code, now=T0)
    with pytest.raises(LinkError) as error:
        await check_link_code(db, web, sent.code, now=T0)
    assert error.value.code == "code_used"


async def test_an_expired_code_links_nothing(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    sent = await ask(db, web, now=T0)
    with pytest.raises(LinkError) as error:
        await check_link_code(db, web, sent.code, now=T0 + timedelta(minutes=11))
    assert error.value.code == "code_expired"
    assert await owner_of_number(db) != web


async def test_a_new_code_replaces_the_old_one_and_codes_are_rate_limited(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    first = await ask(db, web, now=T0)
    await ask(db, web, now=T0 + timedelta(minutes=1))
    await ask(db, web, now=T0 + timedelta(minutes=2))
    with pytest.raises(LinkError) as error:
        await ask(db, web, now=T0 + timedelta(minutes=3))
    assert error.value.code == "too_many_codes"
    with pytest.raises(LinkError) as error:
        await check_link_code(db, web, first.code, now=T0 + timedelta(minutes=4))
    assert error.value.code in ("code_expired", "wrong_code")


async def test_fresh_sessions_cannot_flood_one_number(db: Database) -> None:
    """The attack of issue 17: every new web session is a new customer, and four of them
    sent four codes to one number in seconds. A number now gets 3 codes an hour and 5 a
    day, whoever asks."""
    async def fresh(index: int) -> str:
        return await make_customer(db, "web", f"attacker-{index}", seen=T0)

    for index in range(3):
        await ask(db, await fresh(index), now=T0 + timedelta(seconds=index))
    with pytest.raises(LinkError) as error:
        await ask(db, await fresh(3), now=T0 + timedelta(seconds=4))
    assert error.value.code == "too_many_codes"
    later = T0 + timedelta(hours=1, minutes=1)
    await ask(db, await fresh(4), now=later)
    await ask(db, await fresh(5), now=later)
    with pytest.raises(LinkError):  # 5 in the last day
        await ask(db, await fresh(6), now=later + timedelta(minutes=1))
    async with db.sessions() as session:
        sent = (await session.scalars(
            select(Message.id).where(Message.direction == "out", Message.channel == "whatsapp")
        )).all()
    assert len(sent) == 5
    await ask(db, await fresh(7), now=T0 + timedelta(days=1, minutes=1))  # a day later


async def test_another_customers_code_does_not_work(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    other = await make_customer(db, "web", "session-2", seen=T0)
    sent = await ask(db, web, now=T0)
    with pytest.raises(LinkError) as error:
        await check_link_code(db, other, sent.code, now=T0)
    assert error.value.code == "no_code"


@pytest.mark.parametrize(("text", "code"), [("ti ho scritto su WhatsApp", "no_phone"),
                                            ("il mio numero è 12 34", "invalid_phone")])
async def test_requests_without_a_usable_number(db: Database, text: str, code: str) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    with pytest.raises(LinkError) as error:
        await ask(db, web, text, now=T0)
    assert error.value.code == code


# --- signed identity token ---------------------------------------------------------------

SHOP = ShopIdentity("acct-42", T0 + timedelta(hours=1), name="Giulia Rossi",
                    email="Giulia@Example.com", language="it")


async def test_a_visitor_joins_the_shop_account_and_keeps_their_history(db: Database) -> None:
    visitor = await make_customer(db, "web", "session-1", seen=T0)
    await say(db, visitor, "web", "avete il trench?", T0)
    async with db.transaction() as session:
        joined = await join_shop_account(session, "session-1", SHOP)
    assert joined.customer_id == visitor and joined.merge is None  # the visitor becomes it
    # Next visit, another browser session: it joins the same customer.
    other = await make_customer(db, "web", "session-2", seen=T0 + timedelta(days=1))
    async with db.transaction() as session:
        again = await join_shop_account(session, "session-2", SHOP)
    assert again.customer_id == visitor and again.merge is not None
    assert again.merge.merged_id == other
    async with db.sessions() as session:
        identities = {
            (i.channel, i.external_id)
            for i in (await session.scalars(
                select(ChannelIdentity).where(ChannelIdentity.customer_id == visitor)
            ))
        }
        customer = await session.get_one(Customer, visitor)
    assert identities == {("web", "session-1"), ("web", "session-2"), ("shop", "acct-42"),
                          ("email", "giulia@example.com")}
    assert customer.display_name == "Giulia Rossi"


async def test_a_session_of_another_account_moves_without_merging_accounts(db: Database) -> None:
    async with db.transaction() as session:
        first = await join_shop_account(session, "shared-pc-1", SHOP)
    other = ShopIdentity("acct-77", T0 + timedelta(hours=1), name="Marco")
    async with db.transaction() as session:
        second = await join_shop_account(session, "shared-pc-1", other)
    assert second.customer_id != first.customer_id and second.merge is None
    async with db.sessions() as session:
        still = await session.get_one(Customer, first.customer_id)
    assert still.merged_into_id is None
