"""``vetrina import orders``: NDJSON and CSV, file:line errors, nothing changed unless asked."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from tests.insights.world import SECOND, T0, World, refund, sale
from vetrina.insights.importing import import_orders
from vetrina.insights.models import Order

HOUR = 3600 * SECOND
HEADER = (
    "order_id,type,refund_of,occurred_at,source,store,staff,shop_account,loyalty_id,"
    "phone,email,booking_code,coupon,currency,sku,quantity,unit_price,total"
)


async def stored(world: World) -> int:
    async with world.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


class Bars:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int]] = []
        self.advanced = 0

    def start(self, label: str, total: int) -> None:
        self.phases.append((label, total))

    def advance(self, count: int) -> None:
        self.advanced += count


def ndjson(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


async def test_ndjson_with_errors_changes_nothing_and_names_the_lines(
    lite: World, tmp_path: Path
) -> None:
    path = ndjson(
        tmp_path / "orders.ndjson",
        [sale("S-1", T0), sale("S-2", T0, sku="NOPE"), sale("S-3", T0, quantity=-1)],
    )
    with path.open("a", encoding="utf-8") as file:
        file.write("{not json}\n")
    report = await import_orders(lite.insights, path)
    assert not report.committed
    assert [str(p) for p in report.problems] == [
        f"{path}:2: lines[1].sku: unknown SKU 'NOPE'",
        f"{path}:3: lines[1].quantity: -1 is not a positive quantity",
        f"{path}:4: not JSON: Expecting property name enclosed in double quotes at column 2",
    ]
    assert await stored(lite) == 0
    assert report.summary() == f"{path}: nothing imported: 3 problem(s) in 4 record(s)"


async def test_skip_invalid_imports_the_rest_and_attributes_it(lite: World, tmp_path: Path) -> None:
    await lite.message(lite.anna, T0 - HOUR)
    path = ndjson(
        tmp_path / "orders.jsonl",
        [sale("S-1", T0, customer={"phone": "+393331111111"}), sale("S-2", T0, store="XX")],
    )
    bars = Bars()
    report = await import_orders(lite.insights, path, skip_invalid=True, progress=bars)
    assert report.committed and (report.applied, report.matched) == (1, 1)
    assert [str(p) for p in report.problems] == [f"{path}:2: store: unknown store 'XX'"]
    assert bars.phases == [("checking", 2), ("attributing", 1)]
    async with lite.db.sessions() as session:
        order = await session.scalar(select(Order))
    assert order is not None and order.attributed


async def test_csv_rows_of_one_order_are_grouped(lite: World, tmp_path: Path) -> None:
    path = tmp_path / "till.csv"
    path.write_text(
        HEADER + "\n"
        f"T-1,order,,{T0.isoformat()},pos,MI,giulia@example.com,,L-9,333 111 1111,,,,EUR,"
        "TR-M,1,100.00,150.00\n"
        f"T-1,,,,pos,,,,,,,,,,BO-42,1,50.00,\n"
        f"T-2,refund,T-1,{T0.isoformat()},pos,MI,,,,,,,,EUR,BO-42,1,50.00,50.00\n",
        encoding="utf-8",
    )
    report = await import_orders(lite.insights, path)
    assert report.problems == [] and report.committed
    assert (report.records, report.applied, report.matched) == (2, 2, 2)
    async with lite.db.sessions() as session:
        sale_row = await session.scalar(select(Order).where(Order.order_id == "T-1"))
    assert sale_row is not None and sale_row.total_cents == 15000
    assert [line["sku"] for line in sale_row.lines] == ["TR-M", "BO-42"]
    again = await import_orders(lite.insights, path)
    assert (again.applied, again.unchanged) == (0, 2)


async def test_a_csv_in_the_wrong_encoding_is_refused_clearly(lite: World, tmp_path: Path) -> None:
    path = tmp_path / "till.csv"
    path.write_bytes(
        (
            HEADER + "\nT-1,order,,2026-03-10T12:00:00+01:00,pos,MI,,,,,"
            "niccolò@example.com,,,EUR,TR-M,1,100.00,100.00\n"
        ).encode("latin-1")
    )
    report = await import_orders(lite.insights, path)
    assert not report.committed
    assert len(report.problems) == 1
    assert str(report.problems[0]).startswith(f"{path}:2: not UTF-8 text (byte 0xf2")
    assert await stored(lite) == 0


async def test_unknown_columns_and_file_types(lite: World, tmp_path: Path) -> None:
    csv_path = tmp_path / "till.csv"
    csv_path.write_text("order_id,when\nT-1,today\n", encoding="utf-8")
    report = await import_orders(lite.insights, csv_path)
    assert str(report.problems[0]).startswith(f"{csv_path}:1: missing column(s): occurred_at")
    xlsx = tmp_path / "till.xlsx"
    xlsx.write_bytes(b"PK\x03\x04")
    report = await import_orders(lite.insights, xlsx)
    assert [p.reason for p in report.problems] == ["unknown file type '.xlsx': use .ndjson or .csv"]


async def test_a_duplicate_with_other_contents_across_the_file_is_reported(
    lite: World, tmp_path: Path
) -> None:
    records = [sale(f"S-{n}", T0) for n in range(1200)]
    records.append(sale("S-3", T0, total="200.00", quantity=2))  # another chunk, other contents
    records.append(refund("R-1", "S-5", T0))
    path = ndjson(tmp_path / "orders.ndjson", records)
    report = await import_orders(lite.insights, path)
    assert [str(p) for p in report.problems] == [
        f"{path}:1201: order_id: 'S-3' is already recorded with different contents "
        "(send a refund to change a sale)"
    ]
    assert await stored(lite) == 0
