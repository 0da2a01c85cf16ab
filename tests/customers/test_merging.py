"""Merging customers and undoing it (SQLite and PostgreSQL): everything kept, one timeline
in time order, the profile rules, and the bad inputs (self-merge, double undo…)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.customers.helpers import make_customer, say, stock_check
from vetrina.conversations.models import Conversation, Message
from vetrina.customers.errors import (
    AlreadyUndone,
    CustomerGone,
    SelfMerge,
    UndoBlocked,
    UnknownCustomer,
    UnknownMerge,
)
from vetrina.customers.interactions import Interaction
from vetrina.customers.merging import combine_profiles, merge_customers, undo_merge
from vetrina.customers.models import ChannelIdentity, Customer, MarketingConsent
from vetrina.customers.profile import (
    memory_slots,
    profile,
    record_consent,
    timeline,
)
from vetrina.storage.database import Database

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def two_customers(db: Database) -> tuple[str, str]:
    """An Instagram customer (older) and a web customer seen later, with history."""
    ig = await make_customer(
        db, "instagram", "IGSID-1", name="giulia.ig", language="it", seen=at(10),
        sizes={"shoes": "38", "tops": "S"}, tags=["vip"], notes="likes boots",
        favourite_store_code="MI-DUOMO",
    )
    web = await make_customer(
        db, "web", "session-abc", name="Giulia Rossi", language="en", seen=at(30),
        sizes={"shoes": "39"}, tags=["online", "vip"], notes="asked for gift wrap",
    )
    await say(db, ig, "instagram", "avete gli stivali neri?", at(1))
    await stock_check(db, ig, "instagram", at(2), product_code="VT0001", size="38",
                      store_code="MI-DUOMO")
    await say(db, ig, "instagram", "grazie", at(5), direction="out")
    await say(db, web, "web", "is it still available?", at(20))
    await say(db, web, "web", "yes it is", at(21), direction="out")
    async with db.transaction() as session:
        await record_consent(session, ig, "instagram", True, "Vuoi ricevere offerte?",
                             source="chat", at=at(3))
        await record_consent(session, web, "instagram", False, "Do you want offers?",
                             source="chat", at=at(25))
    return ig, web


async def test_merge_keeps_everything_in_one_timeline_ordered_by_time(db: Database) -> None:
    ig, web = await two_customers(db)
    record = await merge_customers(db, web, ig, actor="consultant:anna", reason="same phone")
    assert record.survivor_id == web and record.merged_id == ig
    assert record.moved["messages"] == 2 and record.moved["channel_identities"] == 1

    async with db.sessions() as session:
        page = await timeline(session, web, limit=50)
        data = await profile(session, web)
        merged = await session.get_one(Customer, ig)
        left = await session.scalar(select(func.count()).where(Message.customer_id == ig))
        conversations = {
            m.conversation_id
            for m in (await session.scalars(select(Message).where(Message.customer_id == web)))
        }
    kinds = [(item["type"], item.get("channel")) for item in page.items]
    assert kinds == [
        ("message", "instagram"), ("stock_check", "instagram"), ("message", "instagram"),
        ("message", "web"), ("message", "web"), ("merge", None),
    ]
    times = [item["at"] for item in page.items]
    assert times == sorted(times)
    assert left == 0 and len(conversations) == 1
    assert merged.merged_into_id == web
    assert {i["channel"] for i in data["identities"]} == {"instagram", "web"}
    # Profile rules: the web customer was seen later → its name, language, shoe size win;
    # the losers are recorded, tags united, notes both kept, the favourite store kept.
    assert data["name"] == "Giulia Rossi" and data["language"] == "en"
    assert data["sizes"] == {"shoes": "39", "tops": "S"}
    assert data["tags"] == ["online", "vip"]
    assert "gift wrap" in data["notes"] and "likes boots" in data["notes"]
    assert data["favourite_store_code"] == "MI-DUOMO"
    assert data["marketing_consent"]["instagram"]["granted"] is False  # latest answer
    assert record.overridden == {
        "display_name": "giulia.ig", "language": "it", "sizes": {"shoes": "38"},
    }
    assert page.items[-1]["data"]["overridden"]["display_name"] == "giulia.ig"


async def test_the_most_recent_wins_whichever_survives(db: Database) -> None:
    ig, web = await two_customers(db)
    async with db.sessions() as session:
        survivor, merged = await session.get_one(Customer, ig), await session.get_one(Customer, web)
        values, overridden = combine_profiles(survivor, merged)
    assert values["display_name"] == "Giulia Rossi"  # web was seen more recently
    assert values["last_channel"] == "web"
    assert overridden["display_name"] == "giulia.ig"


async def test_memory_slots_come_from_the_merged_history(db: Database) -> None:
    ig, web = await two_customers(db)
    await merge_customers(db, web, ig, actor="consultant:anna", reason="same phone")
    async with db.sessions() as session:
        slots = await memory_slots(session, web)
    assert slots == {"language": "en", "product_code": "VT0001", "size": "38",
                     "store_code": "MI-DUOMO"}


async def test_undo_puts_everything_back(db: Database) -> None:
    ig, web = await two_customers(db)
    async with db.sessions() as session:
        before_web, before_ig = await profile(session, web), await profile(session, ig)
    record = await merge_customers(db, web, ig, actor="consultant:anna", reason="same phone")
    undone = await undo_merge(db, record.id, actor="admin:marco")
    assert undone.undone_by == "admin:marco" and undone.undone_at is not None
    async with db.sessions() as session:
        after_web, after_ig = await profile(session, web), await profile(session, ig)
        ig_messages = (
            await session.scalars(select(Message).where(Message.customer_id == ig))
        ).all()
        ig_conversation = await session.scalar(
            select(Conversation.id).where(Conversation.customer_id == ig)
        )
        checks = await session.scalar(select(func.count()).where(Interaction.customer_id == ig))
        consents = await session.scalar(
            select(func.count()).where(MarketingConsent.customer_id == ig)
        )
        web_timeline = await timeline(session, web)
    assert after_web == before_web and after_ig == before_ig
    assert len(ig_messages) == 2 and {m.conversation_id for m in ig_messages} == {ig_conversation}
    assert checks == 1 and consents == 1
    # The merge and its undo stay on the record.
    merge_entry = web_timeline.items[-1]
    assert merge_entry["type"] == "merge" and merge_entry["data"]["undone_by"] == "admin:marco"


async def test_undo_keeps_a_field_changed_after_the_merge(db: Database) -> None:
    ig, web = await two_customers(db)
    record = await merge_customers(db, web, ig, actor="consultant:anna", reason="same phone")
    async with db.transaction() as session:
        (await session.get_one(Customer, web)).display_name = "Giulia R."
    undone = await undo_merge(db, record.id, actor="admin:marco")
    assert undone.kept_on_undo == {"display_name": "Giulia R."}
    async with db.sessions() as session:
        assert (await session.get_one(Customer, web)).display_name == "Giulia R."


async def test_merging_into_itself_is_refused(db: Database) -> None:
    ig, _ = await two_customers(db)
    with pytest.raises(SelfMerge):
        await merge_customers(db, ig, ig, actor="consultant:anna", reason="oops")


async def test_undoing_twice_is_refused(db: Database) -> None:
    ig, web = await two_customers(db)
    record = await merge_customers(db, web, ig, actor="consultant:anna", reason="same phone")
    await undo_merge(db, record.id, actor="admin:marco")
    with pytest.raises(AlreadyUndone):
        await undo_merge(db, record.id, actor="admin:marco")
    with pytest.raises(UnknownMerge):
        await undo_merge(db, record.id + 999, actor="admin:marco")


async def test_merged_customers_cannot_be_merged_again_and_chains_undo_in_order(
    db: Database,
) -> None:
    ig, web = await two_customers(db)
    wa = await make_customer(db, "whatsapp", "+393331234567", seen=at(40))
    first = await merge_customers(db, web, ig, actor="a", reason="r")
    with pytest.raises(CustomerGone):
        await merge_customers(db, wa, ig, actor="a", reason="r")
    with pytest.raises(UnknownCustomer):
        await merge_customers(db, wa, "nope", actor="a", reason="r")
    with pytest.raises(ValueError):
        await merge_customers(db, wa, web, actor="", reason="r")
    second = await merge_customers(db, wa, web, actor="a", reason="r")
    with pytest.raises(UndoBlocked):
        await undo_merge(db, first.id, actor="a")
    await undo_merge(db, second.id, actor="a")
    await undo_merge(db, first.id, actor="a")
    async with db.sessions() as session:
        owners = dict(
            (await session.execute(
                select(ChannelIdentity.external_id, ChannelIdentity.customer_id)
            )).all()
        )
    assert owners == {"IGSID-1": ig, "session-abc": web, "+393331234567": wa}


async def test_timeline_pages(db: Database) -> None:
    ig, web = await two_customers(db)
    await merge_customers(db, web, ig, actor="a", reason="r")
    async with db.sessions() as session:
        first = await timeline(session, web, offset=0, limit=4)
        second = await timeline(session, web, offset=first.next_offset or 0, limit=4)
        newest = await timeline(session, web, limit=1, newest_first=True)
    assert first.total == 6 and first.next_offset == 4 and second.next_offset is None
    assert len(second.items) == 2
    assert [i["at"] for i in first.items + second.items] == sorted(
        i["at"] for i in first.items + second.items
    )
    assert newest.items[0]["type"] == "merge"
