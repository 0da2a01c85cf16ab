"""The handoff state machine, routing and consultant accounts, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from vetrina.catalog.models import Store
from vetrina.conversations import handoff
from vetrina.conversations.consultants import (
    AccountError,
    LoginRefused,
    Presence,
    Role,
    authenticate,
    create_consultant,
    open_session,
    session_for,
    set_presence,
)
from vetrina.conversations.handoff import (
    ASSISTANT,
    CUSTOMER,
    HandoffConflict,
    HandoffOptions,
    Reason,
)
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Conversation
from vetrina.conversations.routing import ConsultantHours, HoursError
from vetrina.customers.interactions import (
    STOCK_CHECK,
    recent_interactions,
    record_interaction,
    set_favourite_store,
)
from vetrina.storage.database import Database

ALWAYS = HandoffOptions(ConsultantHours.parse(""))
PASSWORD = "correct horse battery"


async def _stores(db: Database, *codes: str) -> None:
    async with db.transaction() as session:
        for code in codes:
            session.add(
                Store(code=code, name=f"Vetrina {code}", city=code, address="Via 1",
                      postal_code="00000", latitude=45.0, longitude=9.0)
            )


async def _customer(db: Database, external_id: str = "+390000000001") -> str:
    received = await Inbox(db).receive(
        InboundMessage(channel="whatsapp", external_id=external_id, text="ciao")
    )
    return received.customer_id


async def test_request_claim_reply_hand_back_records_every_move(db: Database) -> None:
    await _stores(db, "MI", "RM")
    customer = await _customer(db)
    anna = await create_consultant(db, "anna@example.com", "Anna", PASSWORD, stores=["MI"])
    await set_presence(db, anna.id, Presence.ONLINE)

    outcome = await handoff.request_consultant(
        db, customer, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER, options=ALWAYS,
        store_hint="mi", channel="whatsapp",
    )
    assert (outcome.status, outcome.store_code, outcome.already) == ("waiting", "MI", False)
    assert outcome.position == 1 and outcome.online == 1 and outcome.available
    assert outcome.estimate_minutes is not None and outcome.estimate_minutes >= 2

    again = await handoff.request_consultant(
        db, customer, reason=Reason.NOT_UNDERSTOOD, actor=ASSISTANT, options=ALWAYS
    )
    assert again.already and again.status == "waiting" and again.store_code == "MI"

    moved = await handoff.claim(db, outcome.conversation_id, anna.id)
    assert (moved.from_status, moved.to_status, moved.owner_id) == ("waiting", "with_consultant", anna.id)
    state = await handoff.conversation_state(db, outcome.conversation_id)
    assert state is not None and state.owner_name == "Anna" and state.status == "with_consultant"

    back = await handoff.hand_back(db, outcome.conversation_id, anna.id)
    assert back.to_status == "bot" and back.owner_id is None

    history = await handoff.transitions(db, outcome.conversation_id)
    assert [(t.from_status, t.to_status, t.actor, t.consultant_id) for t in history] == [
        ("bot", "waiting", "customer", None),
        ("waiting", "with_consultant", "consultant", anna.id),
        ("with_consultant", "bot", "consultant", anna.id),
    ]
    assert all(t.created_at is not None for t in history)
    async with db.sessions() as session:
        timeline = await recent_interactions(session, customer, kind=handoff.HANDOFF)
    assert [(i.data["from"], i.data["to"]) for i in reversed(timeline)] == [
        ("bot", "waiting"), ("waiting", "with_consultant"), ("with_consultant", "bot"),
    ]


async def test_only_the_owner_moves_a_claimed_conversation(db: Database) -> None:
    customer = await _customer(db)
    anna = await create_consultant(db, "anna@example.com", "Anna", PASSWORD)
    bruno = await create_consultant(db, "bruno@example.com", "Bruno", PASSWORD)
    outcome = await handoff.request_consultant(
        db, customer, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER, options=ALWAYS
    )
    assert outcome.store_code is None  # no store known: the general queue
    await handoff.claim(db, outcome.conversation_id, anna.id)
    with pytest.raises(HandoffConflict) as refused:
        await handoff.claim(db, outcome.conversation_id, bruno.id)
    assert refused.value.owner_name == "Anna"
    for move in (handoff.hand_back, handoff.close):
        with pytest.raises(HandoffConflict):
            await move(db, outcome.conversation_id, bruno.id)
    await handoff.transfer_to_consultant(db, outcome.conversation_id, anna.id, bruno.id)
    state = await handoff.conversation_state(db, outcome.conversation_id)
    assert state is not None and state.owner_id == bruno.id
    await handoff.transfer_to_queue(db, outcome.conversation_id, bruno.id, "rm")
    state = await handoff.conversation_state(db, outcome.conversation_id)
    assert state is not None and (state.status, state.store_code, state.owner_id) == (
        "waiting", "RM", None,
    )
    await handoff.close(db, outcome.conversation_id, anna.id)
    state = await handoff.conversation_state(db, outcome.conversation_id)
    assert state is not None and state.status == "closed"
    # A closed conversation can be asked for again.
    again = await handoff.request_consultant(
        db, customer, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER, options=ALWAYS
    )
    assert not again.already and again.status == "waiting"


async def test_two_consultants_claiming_at_once_get_exactly_one_owner(
    db: Database, database_url: str
) -> None:
    customers = [await _customer(db, f"+39000000010{i}") for i in range(5)]
    team = [
        await create_consultant(db, f"c{i}@example.com", f"C{i}", PASSWORD) for i in range(4)
    ]
    for customer in customers:
        outcome = await handoff.request_consultant(
            db, customer, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER, options=ALWAYS
        )
        # Each consultant on their own connection pool, all at the same moment.
        dbs = [Database(database_url) for _ in team]
        try:
            results = await asyncio.gather(
                *(handoff.claim(d, outcome.conversation_id, c.id) for d, c in zip(dbs, team, strict=True)),
                return_exceptions=True,
            )
        finally:
            for d in dbs:
                await d.dispose()
        winners = [r for r in results if isinstance(r, handoff.Moved)]
        losers = [r for r in results if isinstance(r, HandoffConflict)]
        assert len(winners) == 1 and len(losers) == len(team) - 1, results
        async with db.sessions() as session:
            row = await session.get_one(Conversation, outcome.conversation_id)
        assert row.owner_id == winners[0].owner_id
        history = await handoff.transitions(db, outcome.conversation_id)
        assert [t.to_status for t in history].count("with_consultant") == 1


async def test_queue_follows_the_store_that_matters(db: Database) -> None:
    await _stores(db, "MI", "RM", "TO")
    asked = await _customer(db, "+390000000201")
    checked = await _customer(db, "+390000000202")
    favourite = await _customer(db, "+390000000203")
    nobody = await _customer(db, "+390000000204")
    async with db.transaction() as session:
        await record_interaction(
            session, checked, STOCK_CHECK, channel="web", data={"store_code": "RM"}
        )
        await set_favourite_store(session, checked, "TO")
        await set_favourite_store(session, favourite, "TO")
    expect = {asked: ("MI", "MI"), checked: (None, "RM"), favourite: (None, "TO"), nobody: (None, None)}
    for customer, (hint, queue) in expect.items():
        outcome = await handoff.request_consultant(
            db, customer, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER, options=ALWAYS,
            store_hint=hint,
        )
        assert outcome.store_code == queue, customer


async def test_outside_hours_or_nobody_online_the_request_waits_with_a_time(db: Database) -> None:
    customer = await _customer(db)
    hours = ConsultantHours.parse("mon-fri 09:00-18:00", "Europe/Rome")
    saturday_noon = datetime(2026, 11, 28, 11, 0, tzinfo=timezone.utc)
    outcome = await handoff.request_consultant(
        db, customer, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(hours), now=saturday_noon,
    )
    assert outcome.status == "waiting" and not outcome.open_now and not outcome.available
    assert outcome.answer_from == datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)  # Mon 9:00
    assert outcome.estimate_minutes is None

    other = await _customer(db, "+390000000002")
    monday = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
    outcome = await handoff.request_consultant(
        db, other, reason=Reason.CUSTOMER_ASKED, actor=CUSTOMER,
        options=HandoffOptions(hours), now=monday,
    )
    assert outcome.open_now and outcome.online == 0 and not outcome.available


def test_consultant_hours_parse_and_refuse_nonsense() -> None:
    hours = ConsultantHours.parse("mon-fri 09:00-13:00; mon-fri 14:00-19:00; sat 10:00-18:00")
    lunch = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)  # Monday 13:30 in Rome
    assert not hours.is_open(lunch)
    assert hours.next_opening(lunch) == datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
    assert ConsultantHours.parse("").is_open(lunch)
    for bad in ("every day", "mon 18:00-09:00", "xyz 09:00-10:00", "mon 25:00-26:00"):
        with pytest.raises(HoursError):
            ConsultantHours.parse(bad)


async def test_login_checks_the_argon2_hash_and_locks_after_repeated_failures(
    db: Database,
) -> None:
    created = await create_consultant(
        db, "Admin@Example.com", "Ada", PASSWORD, role=Role.ADMIN, stores=["mi", "rm"]
    )
    assert created.stores == ("MI", "RM") and created.is_admin
    async with db.sessions() as session:
        from vetrina.conversations.consultants import Consultant

        stored = await session.scalar(select(Consultant.password_hash))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(AccountError):
        await create_consultant(db, "admin@example.com", "Again", PASSWORD)
    with pytest.raises(AccountError):
        await create_consultant(db, "short@example.com", "Short", "short")

    assert (await authenticate(db, "admin@example.com", PASSWORD)).id == created.id
    with pytest.raises(LoginRefused) as unknown:
        await authenticate(db, "nobody@example.com", PASSWORD)
    assert not unknown.value.locked
    for _ in range(4):
        with pytest.raises(LoginRefused):
            await authenticate(db, "admin@example.com", "wrong password!")
    with pytest.raises(LoginRefused) as fifth:
        await authenticate(db, "admin@example.com", "wrong password!")
    assert fifth.value.locked
    with pytest.raises(LoginRefused) as locked:  # even the right password, while locked
        await authenticate(db, "admin@example.com", PASSWORD)
    assert locked.value.locked
    later = datetime.now(timezone.utc) + timedelta(minutes=16)
    assert (await authenticate(db, "admin@example.com", PASSWORD, now=later)).id == created.id

    opened = await open_session(db, created)
    found = await session_for(db, opened.token)
    assert found is not None and found.consultant.id == created.id
    assert found.csrf_token == opened.csrf_token
    assert await session_for(db, opened.token + "x") is None
