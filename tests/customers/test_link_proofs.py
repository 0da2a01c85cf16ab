"""Linking by a code sent *from* WhatsApp or Instagram (SQLite and PostgreSQL): the code's
life (single use, expiry, only a hash kept), the issue limits, and guessing from inbound
messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.customers.helpers import make_customer, say
from vetrina.conversations.models import Message
from vetrina.customers.click_to_chat import instagram_link, whatsapp_link
from vetrina.customers.errors import LinkError
from vetrina.customers.link_proofs import (
    ProofOptions,
    ProofRedeemed,
    code_hash,
    find_codes,
    issue_proof_code,
    new_code,
    redeem_proof_code,
    without_codes,
)
from vetrina.customers.merge_sync import undo_and_sync
from vetrina.customers.models import ChannelIdentity, Customer, LinkCode, LinkCodeFailure
from vetrina.storage.database import Database

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
NUMBER = "+393331234567"


def test_codes_are_long_and_found_in_what_is_sent() -> None:
    code = new_code()
    assert len(code) == len("VTR-XXXXX-XXXXX") and code != new_code()
    assert find_codes(f"Collega la mia chat con Vetrina: {code}") == [code]
    assert find_codes("vtr k7m3q x9d2f") == ["VTR-K7M3Q-X9D2F"]
    assert find_codes("VTRK7M3QX9D2F") == ["VTR-K7M3Q-X9D2F"]
    assert find_codes("VTR-K7M3O-X9D2L") == ["VTR-K7M30-X9D21"]  # O and L read as 0 and 1
    assert find_codes("everything is fine, 123456, K7M3Q-X9D2F") == []
    assert find_codes("VTR-K7M3Q-X9D2FF") == []
    # Random letters must not sway the language of the message they come in.
    assert without_codes(f"il mio codice è {code}").strip() == "il mio codice è"


def test_click_to_chat_links() -> None:
    assert whatsapp_link("whatsapp:+39 02 1234", "a b&c") == "https://wa.me/39021234?text=a%20b%26c"
    assert whatsapp_link("", "x") is None
    assert instagram_link("@vetrina.shop") == "https://ig.me/m/vetrina.shop"
    assert instagram_link("") is None and instagram_link("not/a name") is None


async def show(db: Database, customer: str, **kw):  # type: ignore[no-untyped-def]
    async with db.transaction() as session:
        return await issue_proof_code(session, customer, **kw)


async def send(db: Database, channel: str, customer: str, text: str,
               now: datetime) -> ProofRedeemed | None:
    async with db.transaction() as session:
        return await redeem_proof_code(session, channel, customer, text, language="it", now=now)


async def test_a_code_sent_from_whatsapp_links_the_number(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", language="it", seen=T0)
    wa = await make_customer(db, "whatsapp", NUMBER, seen=T0 - timedelta(days=3))
    await say(db, wa, "whatsapp", "ciao", T0 - timedelta(days=3))
    shown = await show(db, web, now=T0)
    async with db.sessions() as session:
        row = await session.scalar(select(LinkCode))
    assert row is not None and row.code_hash == code_hash(shown.code)
    assert shown.code not in (row.code_hash, row.external_id, row.channel)

    redeemed = await send(db, "whatsapp", wa, f"Collega la mia chat con Vetrina: {shown.code}",
                          T0 + timedelta(minutes=3))
    assert redeemed is not None and redeemed.customer_id == web
    assert redeemed.merge is not None and redeemed.merge.merged_id == wa
    async with db.sessions() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.external_id == NUMBER))
        moved = await session.scalar(select(Message.customer_id).where(Message.text == "ciao"))
        notice = await session.scalar(
            select(Message).where(Message.direction == "out", Message.channel == "web"))
        row = await session.scalar(select(LinkCode))
    assert identity is not None and identity.customer_id == web and identity.linked_via == "proof"
    assert moved == web
    assert notice is not None and notice.customer_id == web and "WhatsApp" in notice.text
    assert row is not None and row.used_at is not None
    assert (row.channel, row.external_id) == ("whatsapp", NUMBER)

    # Single use: sent again (even by the same number), it proves nothing.
    again = await send(db, "whatsapp", web, shown.code, T0 + timedelta(minutes=4))
    assert again is None
    # The link is a merge like any other: it can be undone.
    outcome = await undo_and_sync(db, None, redeemed.merge.id, actor="admin:test")
    assert outcome.record.merged_id == wa
    async with db.sessions() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == NUMBER))
    assert owner == wa


async def test_instagram_sender_without_history_is_linked(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    ig = await make_customer(db, "instagram", "1789", seen=T0)
    shown = await show(db, web, now=T0)
    redeemed = await send(db, "instagram", ig, shown.code.lower(), T0 + timedelta(minutes=1))
    assert redeemed is not None and redeemed.channel == "instagram"
    async with db.sessions() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == "1789"))
    assert owner == web


async def test_expired_replaced_and_web_codes_prove_nothing(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    wa = await make_customer(db, "whatsapp", NUMBER, seen=T0)
    first = await show(db, web, now=T0)
    second = await show(db, web, now=T0 + timedelta(minutes=1))
    assert await send(db, "whatsapp", wa, first.code, T0 + timedelta(minutes=2)) is None
    assert await send(db, "web", web, second.code, T0 + timedelta(minutes=2)) is None
    late = T0 + timedelta(minutes=1) + ProofOptions().ttl
    assert await send(db, "whatsapp", wa, second.code, late) is None
    async with db.sessions() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == NUMBER))
    assert owner == wa


async def test_guessing_from_a_number_stops_being_looked_at(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    attacker = await make_customer(db, "whatsapp", NUMBER, seen=T0)
    other = await make_customer(db, "whatsapp", "+393339999999", seen=T0)
    shown = await show(db, web, now=T0)
    at = T0 + timedelta(minutes=1)
    assert await send(db, "whatsapp", attacker, "ciao, come va?", at) is None  # no code: no count
    for _ in range(ProofOptions().failures_per_sender):
        assert await send(db, "whatsapp", attacker, new_code(), at) is None
    # Even the right code is not looked at from this number now...
    assert await send(db, "whatsapp", attacker, shown.code, at) is None
    async with db.sessions() as session:
        failures = await session.scalar(select(func.count()).select_from(LinkCodeFailure))
        row = await session.scalar(select(LinkCode))
    assert failures == ProofOptions().failures_per_sender
    assert row is not None and row.used_at is None
    # ...while its owner can still use it from their own number.
    assert await send(db, "whatsapp", other, shown.code, at) is not None


async def test_a_code_of_a_customer_since_merged_or_erased_proves_nothing(db: Database) -> None:
    web = await make_customer(db, "web", "session-1", seen=T0)
    wa = await make_customer(db, "whatsapp", NUMBER, seen=T0)
    shown = await show(db, web, now=T0)
    async with db.transaction() as session:
        (await session.get_one(Customer, web)).erased_at = T0
    assert await send(db, "whatsapp", wa, shown.code, T0 + timedelta(minutes=1)) is None


async def test_issue_limits_per_session_per_address_and_overall(db: Database) -> None:
    options = ProofOptions(per_customer_per_hour=2, per_client_per_hour=3, per_hour=5)
    web = await make_customer(db, "web", "session-1", seen=T0)
    for minute in range(2):
        await show(db, web, options=options, now=T0 + timedelta(minutes=minute))
    with pytest.raises(LinkError) as refused:
        await show(db, web, options=options, now=T0 + timedelta(minutes=2))
    assert refused.value.code == "too_many_codes"
    # Every new web session is a new customer: the address still counts them together.
    fresh = [await make_customer(db, "web", f"s{i}", seen=T0) for i in range(5)]
    for customer in fresh[:3]:
        await show(db, customer, client_key="addr", options=options, now=T0)
    with pytest.raises(LinkError):
        await show(db, fresh[3], client_key="addr", options=options, now=T0)
    # And all of them together, whatever the address.
    with pytest.raises(LinkError):
        await show(db, fresh[4], client_key="other", options=options, now=T0)
    # An hour later codes are issued again.
    await show(db, fresh[4], client_key="addr", options=options, now=T0 + timedelta(hours=1))
    with pytest.raises(LinkError) as gone:
        await show(db, "no-such-customer", now=T0)
    assert gone.value.code == "no_code"
