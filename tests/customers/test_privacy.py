"""Export and erasure (SQLite and PostgreSQL): after erasure, no column of any table of
either database — Vetrina's and the assistant's tracker store — holds the customer's
phone, name, Instagram id or message text; anonymous counts remain."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.engine import make_url

from integrations.rasa import RasaMemory
from tests.customers.helpers import make_customer, say, stock_check
from vetrina.conversations.models import Message
from vetrina.customers.linking import check_link_code, request_link_code
from vetrina.customers.merging import merge_customers
from vetrina.customers.models import Customer, Erasure, LinkCode
from vetrina.customers.privacy import erase_customer, export_customer
from vetrina.customers.profile import record_consent
from vetrina.storage.database import Database

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
PHONE = "+393339876543"
NAME = "Ludovica Bernasconi"
IGSID = "IGSID-778899001122"
SECRET_TEXT = "il mio indirizzo è via dei Glicini 7"

# Rasa 3.6's SQL tracker store table (rasa/core/tracker_store.py, SQLTrackerStore.SQLEvent).
RASA_EVENTS = """CREATE TABLE events (
    id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"""


async def tracker_store(
    tmp_path: Path, events: list[tuple[str, str, str]], db: Database
) -> Database:
    """Rasa's tracker store: a SQLite file next to a SQLite gateway database; on
    PostgreSQL, the ``events`` table in the same database (a common production setup)."""
    if db.is_sqlite:
        store = Database(f"sqlite+aiosqlite:///{tmp_path / 'rasa-tracker.db'}")
        ddl = RASA_EVENTS
    else:
        store = Database(db.url)
        ddl = RASA_EVENTS.replace("id INTEGER PRIMARY KEY", "id SERIAL PRIMARY KEY")
    async with store.transaction() as session:
        await session.execute(text(ddl))
        for sender, kind, data in events:
            await session.execute(
                text("INSERT INTO events (sender_id, type_name, timestamp, data) "
                     "VALUES (:s, :k, 0, :d)"),
                {"s": sender, "k": kind, "d": data},
            )
    return store


async def person(db: Database) -> tuple[str, str]:
    ig = await make_customer(db, "instagram", IGSID, name=NAME, seen=T0)
    web = await make_customer(db, "web", "session-priv-1", seen=T0 + timedelta(hours=1),
                              notes=f"{NAME} prefers calls", tags=["vip"])
    await say(db, ig, "instagram", SECRET_TEXT, T0)
    await say(db, ig, "instagram", f"Grazie {NAME}!", T0 + timedelta(minutes=1), direction="out")
    await stock_check(db, ig, "instagram", T0, text=SECRET_TEXT, product_code="VT0001")
    await say(db, web, "web", f"il mio numero è {PHONE}", T0 + timedelta(hours=1))
    async with db.transaction() as session:
        sent = await request_link_code(session, web, PHONE, now=T0 + timedelta(hours=1))
        await record_consent(session, web, "whatsapp", True, "Offerte su WhatsApp?", source="chat")
    await check_link_code(db, web, sent.code, now=T0 + timedelta(hours=1, minutes=1))
    await merge_customers(db, web, ig, actor="consultant:anna", reason=f"{NAME} on the phone")
    return web, ig


async def all_text(database: Database) -> str:
    """Every value of every column of every table, as one string."""
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        chunks = []
        for table in tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()
            chunks.extend(json.dumps([str(v) for v in row], ensure_ascii=False) for row in rows)
    return "\n".join(chunks)


async def test_export_has_everything(db: Database, tmp_path: Path) -> None:
    web, ig = await person(db)
    store = await tracker_store(tmp_path, [(web, "user", json.dumps({"text": SECRET_TEXT}))], db)
    async with httpx.AsyncClient() as client:
        memory = RasaMemory(client, "http://127.0.0.1:9", "t", store.url)
        document = await export_customer(db, web, memory)
    await store.dispose()
    dumped = json.dumps(document, ensure_ascii=False)
    for secret in (PHONE, NAME, IGSID, SECRET_TEXT):
        assert secret in dumped
    assert document["customer"]["id"] == web
    # The Instagram customer and the number's own customer (merged by the code).
    merged = [c["id"] for c in document["merged_customers"]]
    assert ig in merged and len(merged) == 2
    assert len(document["tables"]["messages"]) == 4  # 3 written + the code sent on WhatsApp
    assert document["tables"]["customer_merges"][-1]["reason"].startswith(NAME)
    assert document["assistant_events"][0]["data"]["text"] == SECRET_TEXT
    assert all("code_hash" not in row for row in document["tables"]["link_codes"])


async def test_erasure_leaves_nothing_personal_in_either_database(
    db: Database, tmp_path: Path
) -> None:
    web, ig = await person(db)
    bystander = await make_customer(db, "web", "session-bystander", seen=T0)
    await say(db, bystander, "web", "hello there", T0)
    store = await tracker_store(
        tmp_path,
        [(web, "user", json.dumps({"text": SECRET_TEXT})),
         (ig, "slot", json.dumps({"name": "customer_name", "value": NAME})),
         (bystander, "user", json.dumps({"text": "hello there"}))],
        db,
    )
    before = await all_text(db) + await all_text(store)
    for secret in (PHONE, NAME, IGSID, SECRET_TEXT):
        assert secret in before  # the scan can see them

    async with httpx.AsyncClient() as client:
        memory = RasaMemory(client, "http://127.0.0.1:9", "t", store.url)
        report = await erase_customer(db, web, memory)
        again = await erase_customer(db, web, memory)

    after = await all_text(db) + await all_text(store)
    for secret in (PHONE, NAME, IGSID, SECRET_TEXT, "+39333"):
        assert secret not in after, secret
    assert "hello there" in after  # other customers untouched
    assert {web, ig} < set(report.customer_ids) and report.assistant_events_deleted == 2
    assert again.already_erased and again.assistant_events_deleted == 0
    async with db.sessions() as session:
        erasure = await session.scalar(select(Erasure))
        tombstone = await session.get_one(Customer, web)
        erasures = await session.scalar(select(func.count()).select_from(Erasure))
    assert erasures == 1
    assert erasure.counts["messages"] == {"instagram:in": 1, "instagram:out": 1, "web:in": 1,
                                          "whatsapp:out": 1}
    assert erasure.counts["interactions"]["stock_check"] == 1
    assert tombstone.erased_at is not None and tombstone.display_name is None
    await store.dispose()


# --- what was created on the customer's behalf (issue 17, attack 4) ------------------

CODE = "739146"  # the code the link request sends (pinned: it is searched for as bytes)
OTHER_PHONE = "+393471112233"  # a number that already has its own customer


def sqlite_files(db: Database) -> list[Path]:
    """The database file and its write-ahead log (which may be empty or absent)."""
    path = Path(str(make_url(db.url).database))
    return [path, path.with_name(path.name + "-wal")]


def raw_bytes(db: Database) -> bytes:
    return b"".join(p.read_bytes() for p in sqlite_files(db) if p.exists())


async def test_erasure_removes_what_her_link_requests_left_and_the_wal(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """She asked for a code to her number and never typed it: the number's stub customer
    (phone in ``channel_identities``), the queued code (held: outside the window) and the
    link-code row go with her; a code she had sent to someone else's number goes from that
    customer's conversation, the rest of which stays. On SQLite neither the database file
    nor its WAL keeps a byte of it."""
    monkeypatch.setattr("vetrina.customers.linking.secrets.randbelow", lambda _n: int(CODE))
    web = await make_customer(db, "web", "session-priv-2", name=NAME, seen=T0)
    await say(db, web, "web", f"{SECRET_TEXT}, il mio numero è {PHONE}", T0)
    other = await make_customer(db, "whatsapp", OTHER_PHONE, seen=T0)
    await say(db, other, "whatsapp", "hello there", T0)
    async with db.transaction() as session:
        await request_link_code(session, web, OTHER_PHONE, now=T0 + timedelta(minutes=1))
        await request_link_code(session, web, PHONE, now=T0 + timedelta(minutes=2))
        # The outbox could not send it (no template approved yet): held for a person.
        await session.execute(
            update(Message).where(Message.text.contains(CODE), Message.customer_id != other)
            .values(status="held", last_error="outside the 24-hour window")
        )
    before = await all_text(db)
    for secret in (PHONE, CODE, NAME, SECRET_TEXT, OTHER_PHONE):
        assert secret in before
    if db.is_sqlite:
        assert PHONE.encode() in raw_bytes(db) and CODE.encode() in raw_bytes(db)

    report = await erase_customer(db, web)

    after = await all_text(db)
    for secret in (PHONE, CODE, NAME, SECRET_TEXT):
        assert secret not in after, secret
    assert OTHER_PHONE in after and "hello there" in after  # the other customer stays
    assert report.counts["on_behalf"] == {"customers": 1, "notices": 2}
    async with db.sessions() as session:
        others = (await session.scalars(select(Message).where(Message.customer_id == other)))
        assert [m.text for m in others] == ["hello there"]
        assert await session.scalar(select(func.count()).select_from(LinkCode)) == 0
    if db.is_sqlite:
        wal = sqlite_files(db)[1]
        assert not wal.exists() or wal.stat().st_size == 0  # checkpointed (TRUNCATE)
        data = raw_bytes(db)
        for secret in (PHONE, CODE, NAME, SECRET_TEXT):
            assert secret.encode() not in data, secret
        assert OTHER_PHONE.encode() in data


async def test_a_stub_someone_else_also_asked_for_stays_without_her_code(db: Database) -> None:
    """Another customer asked for a code to the same number: the stub carries their code
    too, so it stays; only hers is deleted."""
    web = await make_customer(db, "web", "session-priv-3", seen=T0)
    neighbour = await make_customer(db, "web", "session-priv-4", seen=T0)
    async with db.transaction() as session:
        hers = await request_link_code(session, web, PHONE, now=T0)
        theirs = await request_link_code(session, neighbour, PHONE, now=T0 + timedelta(minutes=1))

    report = await erase_customer(db, web)

    assert report.counts["on_behalf"] == {"customers": 0, "notices": 1}
    async with db.sessions() as session:
        texts = (await session.scalars(
            select(Message.text).where(Message.channel == "whatsapp")
        )).all()
    assert len(texts) == 1 and theirs.code in texts[0] and hers.code not in texts[0]
    assert PHONE in await all_text(db)
