"""``vetrina import orders FILE``: orders and till sales from NDJSON or CSV.

Formats (UTF-8; anything else is refused with the line and byte that is wrong):

- **NDJSON** (``.ndjson``, ``.jsonl``): one record per line, exactly the JSON object of
  ``POST /api/orders`` (see :mod:`vetrina.insights.records`). Blank lines are skipped.
- **CSV** (``.csv``; comma, semicolon or tab): one row per order line, with the columns
  ``order_id, type, refund_of, occurred_at, source, store, staff, shop_account,
  loyalty_id, phone, email, booking_code, coupon, currency, sku, quantity, unit_price,
  total``. Consecutive rows with the same ``source`` and ``order_id`` are one order (its
  order fields are read from its first row). ``type`` defaults to ``order``.

Everything is checked first and every problem is reported as ``file:line: reason``;
the file changes nothing unless ``skip_invalid`` is given. A refund must come after its
order (in the same file or an earlier one). Then the new orders are attributed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from vetrina.catalog.importing import FileRejected, Problem, Progress, read_text
from vetrina.insights.orders import apply_batch
from vetrina.insights.service import Insights
from vetrina.storage.base import utcnow

CHUNK = 1000
CSV_COLUMNS = (
    "order_id",
    "type",
    "refund_of",
    "occurred_at",
    "source",
    "store",
    "staff",
    "shop_account",
    "loyalty_id",
    "phone",
    "email",
    "booking_code",
    "coupon",
    "currency",
    "sku",
    "quantity",
    "unit_price",
    "total",
)
REQUIRED_COLUMNS = ("order_id", "occurred_at", "source", "sku", "quantity", "unit_price", "total")
CUSTOMER_COLUMNS = ("shop_account", "loyalty_id", "phone", "email")


class _Rollback(Exception):
    """Raised inside the transaction so that a file with problems changes nothing."""


@dataclass
class OrderImportReport:
    file: str
    records: int = 0
    applied: int = 0
    unchanged: int = 0
    matched: int = 0
    problems: list[Problem] = field(default_factory=list)
    committed: bool = False

    def summary(self) -> str:
        if not self.committed:
            return (
                f"{self.file}: nothing imported: {len(self.problems)} problem(s) in "
                f"{self.records} record(s)"
            )
        skipped = f"; {len(self.problems)} problem(s) skipped" if self.problems else ""
        return (
            f"{self.file}: {self.applied} new order(s) of {self.records} "
            f"({self.matched} matched to a customer, {self.unchanged} already known){skipped}"
        )


class _Silent:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


Record = tuple[int, Any]  # (first line, the record as JSON-like data)


def ndjson_records(text: str, name: str) -> tuple[list[Record], list[Problem]]:
    records: list[Record] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line, parse_float=Decimal)))
        except json.JSONDecodeError as error:
            problems.append(Problem(name, number, f"not JSON: {error.msg} at column {error.colno}"))
    return records, problems


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def csv_records(text: str, name: str) -> tuple[list[Record], list[Problem]]:
    if not text.strip():
        raise FileRejected(Problem(name, None, "the file is empty"))
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:4096]))
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c and c not in CSV_COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(unknown)}")
        raise FileRejected(
            Problem(name, 1, "; ".join(parts) + f" (columns: {', '.join(CSV_COLUMNS)})")
        )
    records: list[Record] = []
    problems: list[Problem] = []
    current: dict[str, Any] | None = None
    current_key: tuple[str, str] | None = None
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                Problem(name, number, f"{len(row)} cells where the header has {len(header)}")
            )
            current, current_key = None, None
            continue
        cells = {k: v.strip() for k, v in zip(header, row, strict=True) if k}
        line = {
            "sku": cells.get("sku"),
            "quantity": cells.get("quantity"),
            "unit_price": cells.get("unit_price"),
        }
        key = (cells.get("source", ""), cells.get("order_id", ""))
        if current is not None and key == current_key and key[1]:
            current["lines"].append(line)
            continue
        record: dict[str, Any] = {
            k: cells[k]
            for k in CSV_COLUMNS
            if k in cells
            and cells[k] != ""
            and k not in CUSTOMER_COLUMNS
            and k not in ("sku", "quantity", "unit_price")
        }
        customer = {k: cells[k] for k in CUSTOMER_COLUMNS if cells.get(k)}
        if customer:
            record["customer"] = customer
        record["lines"] = [line]
        current, current_key = record, key
        records.append((number, record))
    return records, problems


def read_orders(path: Path) -> tuple[list[Record], list[Problem]]:
    """The file's records with the line each starts on; FileRejected if it cannot be read."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".ndjson", ".jsonl"):
        raise FileRejected(
            Problem(name, None, f"unknown file type {suffix or '(none)'!r}: use .ndjson or .csv")
        )
    text = read_text(path)
    return csv_records(text, name) if suffix == ".csv" else ndjson_records(text, name)


async def import_orders(
    insights: Insights,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> OrderImportReport:
    """Check and import one file of orders; see the module docstring."""
    path = Path(path)
    report = OrderImportReport(str(path))
    progress = progress or _Silent()
    try:
        records, problems = read_orders(path)
    except FileRejected as rejected:
        report.problems.append(rejected.problem)
        return report
    report.records = len(records) + len(problems)
    report.problems.extend(problems)
    now = utcnow()
    progress.start("checking", len(records))
    try:
        async with insights.db.transaction() as session:
            for start in range(0, len(records), CHUNK):
                chunk: Sequence[Record] = records[start : start + CHUNK]
                result = await apply_batch(
                    session,
                    [record for _, record in chunk],
                    now=now,
                    region=insights.options.phone_region,
                    skip_invalid=True,
                    max_batch=None,
                )
                for problem in result.problems:
                    report.problems.append(
                        Problem(report.file, chunk[problem.index][0], problem.reason)
                    )
                report.applied += result.applied
                report.unchanged += result.unchanged
                report.matched += result.matched
                progress.advance(len(chunk))
            if report.problems and not skip_invalid:
                raise _Rollback
    except _Rollback:
        report.applied = report.matched = report.unchanged = 0
        report.problems.sort(key=lambda p: p.line or 0)
        return report
    report.committed = True
    report.problems.sort(key=lambda p: p.line or 0)
    if report.applied:
        progress.start("attributing", report.applied)
        await insights.refresh(progress=progress)
    return report
