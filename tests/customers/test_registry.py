"""What the packages above customers plug in, and the one message catalogue."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vetrina.bookings
import vetrina.conversations  # noqa: F401
from vetrina import messages
from vetrina.customers.models import Customer
from vetrina.customers.registry import (
    customer_tables,
    kept_on_erasure,
    owned_tables,
    registered,
    timeline_sources,
)
from vetrina.language import SUPPORTED
from vetrina.storage.database import Database

ROOT = Path(__file__).resolve().parents[2]


def test_every_table_with_customer_rows_is_owned_and_conversations_move_themselves() -> None:
    import vetrina.insights  # noqa: F401 (registers its timeline source, as the gateway does)

    owned = {t.name for t in owned_tables()}
    assert {
        "bookings", "channel_identities", "conversations", "handoff_transitions",
        "interactions", "link_codes", "marketing_consents", "messages",
    } <= owned
    moved_row_by_row = {t.name for t in customer_tables()}
    assert "messages" not in moved_row_by_row and "conversations" not in moved_row_by_row
    assert "bookings" in moved_row_by_row
    assert kept_on_erasure() == {"bookings"}
    assert sorted(s.kind for s in timeline_sources()) == ["message", "order"]
    assert {d.package for d in registered()} >= {
        "customers", "conversations", "bookings", "insights"
    }


def test_every_message_has_every_language() -> None:
    for key, texts in messages.MESSAGES.items():
        assert set(texts) >= set(SUPPORTED), key


def test_an_unknown_language_falls_back_to_the_default() -> None:
    assert messages.message("link_code", "fr", code="123456", minutes=10) == messages.message(
        "link_code", "it", code="123456", minutes=10
    )
    assert "123456" in messages.message("link_code", "en", code="123456", minutes=10)


def test_a_missing_translation_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(messages.MESSAGES, "half", {"it": "solo italiano"})
    with pytest.raises(RuntimeError, match="half"):
        messages._check()


async def test_an_export_without_every_owner_loaded_stops(db: Database) -> None:
    """A process that never imported bookings and conversations cannot export a person
    with their rows left out: it stops and names the tables."""
    async with db.transaction() as session:
        customer = Customer()
        session.add(customer)
        await session.flush()
        customer_id = customer.id
    script = (
        "import asyncio, sys\n"
        "from vetrina.customers.privacy import export_customer\n"
        "from vetrina.customers.registry import NotRegistered\n"
        "from vetrina.storage.database import Database\n"
        "async def main():\n"
        "    database = Database(sys.argv[1])\n"
        "    try:\n"
        "        await export_customer(database, sys.argv[2])\n"
        "    except NotRegistered as error:\n"
        "        print(error)\n"
        "    finally:\n"
        "        await database.dispose()\n"
        "asyncio.run(main())\n"
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script, db.url, customer_id],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "bookings" in result.stdout and "messages" in result.stdout, result.stderr
