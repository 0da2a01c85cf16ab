"""``vetrina import orders`` and ``vetrina insights report`` through the real command line."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from tests.insights.world import T0, World, sale
from vetrina.cli import app
from vetrina.insights.models import Order

DAY = T0.date().isoformat()


async def stored(world: World) -> int:
    async with world.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


async def invoke(world: World, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("DATABASE_URL", world.db.url)
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def ndjson(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


async def test_a_good_file_is_imported_and_reported(
    lite: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ndjson(
        tmp_path / "orders.ndjson",
        [
            sale("S-1", T0, customer={"phone": "333 111 1111"}),  # Anna, by phone
            sale("S-2", T0, store="RM", total="50.00", sku="BO-42", unit="50.00"),
        ],
    )
    result = await invoke(lite, monkeypatch, "import", "orders", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{path}: 2 new order(s) of 2 (1 matched to a customer, 0 already known)\n"
    )
    assert "checking" in result.stderr and "attributing" in result.stderr  # the bars
    assert await stored(lite) == 2

    again = await invoke(lite, monkeypatch, "import", "orders", str(path))
    assert again.exit_code == 0, again.output
    assert "0 new order(s) of 2 (0 matched to a customer, 2 already known)" in again.stdout
    assert await stored(lite) == 2

    as_json = await invoke(
        lite, monkeypatch, "insights", "report", "--from", DAY, "--to", DAY, "--format", "json"
    )
    assert as_json.exit_code == 0, as_json.output
    totals = json.loads(as_json.stdout)["totals"]
    # 100.00 in Milan (matched by phone) + 50.00 in Rome (nobody): worked out by hand.
    assert (totals["orders"], totals["store_purchases"], totals["revenue_cents"]) == (
        2,
        2,
        15000,
    )
    assert (totals["matched_orders"], totals["match_rate"]) == (1, 0.5)

    milan = await invoke(
        lite, monkeypatch, "insights", "report", "--from", DAY, "--to", DAY,
        "--store", "MI", "--format", "csv",
    )
    assert milan.exit_code == 0, milan.output
    rows = list(csv.DictReader(io.StringIO(milan.stdout)))
    assert [(r["orders"], r["revenue_cents"], r["key_mix.phone"]) for r in rows] == [
        ("1", "10000", "1")
    ]

    table = await invoke(
        lite, monkeypatch, "insights", "report", "--from", DAY, "--to", DAY, "--group-by", "store"
    )
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["MI", "RM"]
    revenue = next(line for line in lines if line.startswith("revenue_cents "))
    assert revenue.split() == ["revenue_cents", "10000", "5000"]


async def test_a_bad_file_changes_nothing_and_names_each_line(
    lite: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ndjson(
        tmp_path / "orders.ndjson",
        [sale("S-1", T0), sale("S-2", T0, store="XX"), sale("S-3", T0, quantity=-1)],
    )
    result = await invoke(lite, monkeypatch, "import", "orders", str(path))
    assert result.exit_code == 1
    assert f"{path}:2: store: unknown store 'XX'" in result.stderr
    assert f"{path}:3: lines[1].quantity: -1 is not a positive quantity" in result.stderr
    assert f"{path}: nothing imported: 2 problem(s) in 3 record(s)" in result.stderr
    assert "--skip-invalid" in result.stderr
    assert result.stdout == ""
    assert await stored(lite) == 0

    skipped = await invoke(lite, monkeypatch, "import", "orders", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.output
    assert "1 new order(s) of 3" in skipped.stdout and "2 problem(s) skipped" in skipped.stdout
    assert await stored(lite) == 1


async def test_a_csv_in_the_wrong_encoding_is_refused(
    lite: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "till.csv"
    path.write_bytes(
        (
            "order_id,occurred_at,source,store,email,sku,quantity,unit_price,total\n"
            f"T-1,{T0.isoformat()},pos,MI,niccolò@example.com,TR-M,1,100.00,100.00\n"
        ).encode("latin-1")
    )
    result = await invoke(lite, monkeypatch, "import", "orders", str(path))
    assert result.exit_code == 1
    assert f"{path}:2: not UTF-8 text (byte 0xf2" in result.stderr
    assert await stored(lite) == 0


async def test_bad_report_options_are_refused_clearly(
    lite: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_format = await invoke(
        lite, monkeypatch, "insights", "report", "--from", DAY, "--to", DAY, "--format", "xml"
    )
    assert bad_format.exit_code == 2
    assert "--format: one of table, csv, json" in bad_format.stderr
    backwards = await invoke(
        lite, monkeypatch, "insights", "report", "--from", DAY, "--to", "2026-01-01"
    )
    assert backwards.exit_code == 2 and "'to' is before 'from'" in backwards.stderr
    not_a_date = await invoke(
        lite, monkeypatch, "insights", "report", "--from", "10/03/2026", "--to", DAY
    )
    assert not_a_date.exit_code == 2 and "YYYY-MM-DD" in not_a_date.stderr
