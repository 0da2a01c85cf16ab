"""``vetrina customer export ID`` and ``vetrina customer erase ID``."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.customers.helpers import make_customer, say
from vetrina.cli import app
from vetrina.customers.models import Customer
from vetrina.storage.database import Database

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


async def test_export_then_erase(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await make_customer(sqlite_db, "whatsapp", "+393330001122", name="Carla Neri",
                                   seen=T0)
    await say(sqlite_db, customer, "whatsapp", "vorrei il cappotto blu", T0)
    monkeypatch.setenv("DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("RASA_TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'no-tracker.db'}")
    runner = CliRunner()
    out = tmp_path / "export.json"

    exported = await asyncio.to_thread(
        runner.invoke, app, ["customer", "export", customer, "--output", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["customer"]["name"] == "Carla Neri"
    assert document["tables"]["messages"][0]["text"] == "vorrei il cappotto blu"

    refused = await asyncio.to_thread(runner.invoke, app, ["customer", "erase", customer],
                                      input="n\n")
    assert refused.exit_code != 0
    erased = await asyncio.to_thread(runner.invoke, app, ["customer", "erase", customer, "--yes"])
    assert erased.exit_code == 0, erased.output
    assert "erased" in erased.output
    async with sqlite_db.sessions() as session:
        row = await session.get_one(Customer, customer)
    assert row.erased_at is not None and row.display_name is None

    unknown = await asyncio.to_thread(runner.invoke, app, ["customer", "export", "nope"])
    assert unknown.exit_code == 1 and "no customer" in unknown.output
