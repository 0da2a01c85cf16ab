"""Importing catalog, store and stock files (CSV or JSON), all-or-nothing.

Every record is checked first; each bad one is reported as ``file:line: reason``. If any
record is bad, nothing is written, unless ``skip_invalid`` is set, in which case the good
records are written and the bad ones reported as skipped. Writing happens in one
transaction, so an error half-way (a lost connection, a constraint) also leaves the
database as it was. Re-importing the same file changes nothing but ``updated_at``:
products are keyed by product code, variants by SKU, stores by code, stock by (store, SKU).

Files must be UTF-8 (a BOM is fine). CSV may be comma-, semicolon- or tab-separated.

Catalog CSV, one row per variant::

    product_code,name_it,name_en,category,brand,sku,size,colour,price[,ean,currency,
    description_it,description_en,images,promo_name,promo_kind,promo_value,promo_starts,
    promo_ends]

Catalog JSON: ``{"products": [{"code", "name": {"it", "en"}, "description": {"it", "en"},
"category", "brand", "images": [...], "promotions": [...], "variants": [{"sku", "ean",
"size", "colour", "price", "currency", "promotions": [...]}]}]}``; a promotion is
``{"name", "kind": "percent"|"fixed", "value", "starts", "ends"}`` (product-level ones apply
to every variant).

Stores CSV: ``code,name,city,address,postal_code,latitude,longitude[,country,timezone,phone,
services,active,hours_mon … hours_sun,exceptions]`` with hours like ``10:00-13:00,15:30-19:30``
or ``closed`` and exceptions like ``12-25=closed|2026-12-24=10:00-16:00``. Stores JSON:
``{"stores": [{…, "hours": {"mon": "10:00-19:30", …}, "exceptions": {"12-25": "closed"}}]}``.

Stock: CSV ``store,sku,on_hand`` or JSON ``[{"store", "sku", "on_hand"}]`` (or
``{"items": [...]}``); store ``online`` is the web shop's stock.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import json.decoder
import json.scanner
import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.catalog.models import Variant
from vetrina.catalog.validation import (
    Checks,
    ProductRow,
    StockLine,
    StoreRow,
    VariantRow,
    product_record,
    stock_record,
    store_record,
    variant_record,
)
from vetrina.catalog.writing import (
    Written,
    chunks,
    resolve_stock,
    write_catalog,
    write_stock,
    write_stores,
)
from vetrina.hours import WEEKDAYS
from vetrina.storage.database import Database

MAX_FILE_BYTES = 512 * 1024 * 1024


class Kind(str, enum.Enum):
    CATALOG = "catalog"
    STORES = "stores"
    STOCK = "stock"


@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


COLUMNS = {
    Kind.CATALOG: Columns(
        (
            "product_code",
            "name_it",
            "name_en",
            "category",
            "brand",
            "sku",
            "size",
            "colour",
            "price",
        ),
        (
            "ean",
            "currency",
            "description_it",
            "description_en",
            "images",
            "promo_name",
            "promo_kind",
            "promo_value",
            "promo_starts",
            "promo_ends",
        ),
    ),
    Kind.STORES: Columns(
        ("code", "name", "city", "address", "postal_code", "latitude", "longitude"),
        (
            "country",
            "timezone",
            "phone",
            "services",
            "active",
            "exceptions",
            *(f"hours_{day}" for day in WEEKDAYS),
        ),
    ),
    Kind.STOCK: Columns(("store", "sku", "on_hand")),
}
JSON_LIST_KEYS = {Kind.CATALOG: "products", Kind.STORES: "stores", Kind.STOCK: "items"}
PRODUCT_KEYS = {
    "code",
    "name",
    "description",
    "category",
    "brand",
    "images",
    "promotions",
    "variants",
}
VARIANT_KEYS = {"sku", "ean", "size", "colour", "price", "currency", "promotions"}
STORE_KEYS = {
    "code",
    "name",
    "city",
    "address",
    "postal_code",
    "latitude",
    "longitude",
    "country",
    "timezone",
    "phone",
    "services",
    "active",
    "hours",
    "exceptions",
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.reason}"
            if self.line
            else f"{self.file}: {self.reason}"
        )


@dataclass
class ImportReport:
    kind: Kind
    file: str
    records: int = 0
    valid: int = 0
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False
    written: dict[str, Written] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Everything in the file was written."""
        return self.applied and not self.problems

    def summary(self) -> str:
        if not self.applied:
            return (
                f"{self.file}: nothing imported: {len(self.problems)} problem(s) in "
                f"{self.records} record(s)"
            )
        parts = ", ".join(f"{name}: {counts}" for name, counts in self.written.items())
        skipped = f"; {len(self.problems)} record(s) skipped" if self.problems else ""
        return f"{self.file}: imported {self.valid} of {self.records} record(s) ({parts}){skipped}"


class Progress(Protocol):
    """Where an import reports progress (the CLI draws bars; tests pass nothing)."""

    def start(self, label: str, total: int) -> None: ...
    def advance(self, count: int) -> None: ...


class _Silent:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


class FileRejected(Exception):
    """The file as a whole cannot be read (encoding, syntax, columns)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


Record = tuple[int | None, Any]  # (line, CSV dict or JSON value)


async def import_file(
    db: Database,
    kind: Kind | str,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check and import one file; see the module docstring for formats and guarantees."""
    kind = Kind(kind)
    path = Path(path)
    report = ImportReport(kind, str(path))
    progress = progress or _Silent()
    try:
        records = read_records(kind, path)
    except FileRejected as rejected:
        report.problems.append(rejected.problem)
        return report
    report.records = len(records)
    progress.start("checking", len(records))
    try:
        async with db.transaction() as session:
            if kind is Kind.CATALOG:
                products, sku_lines = _catalog(records, report, progress)
                clashing = await _check_eans(session, products, sku_lines, report)
                if not _proceed(report, skip_invalid):
                    return report
                products = _without(products, clashing)
                total = sum(len(p.variants) for p in products)
                report.valid = total
                progress.start("writing", total)
                report.written = await write_catalog(session, products, progress=progress.advance)
            elif kind is Kind.STORES:
                stores = _stores(records, report, progress)
                if not _proceed(report, skip_invalid):
                    return report
                report.valid = len(stores)
                progress.start("writing", len(stores))
                report.written = await write_stores(session, stores, progress=progress.advance)
            else:
                lines = _stock(records, report, progress)
                resolved, problems = await resolve_stock(session, [line for _, line in lines])
                for index, reason in problems.items():
                    report.problems.append(Problem(report.file, lines[index][0], reason))
                if not _proceed(report, skip_invalid):
                    return report
                good = [item for item in resolved if item is not None]
                report.valid = len(good)
                progress.start("writing", len(good))
                report.written = await write_stock(session, good, progress=progress.advance)
            report.applied = True
    except (IntegrityError, DBAPIError) as error:
        report.applied = False
        report.written = {}
        detail = str(getattr(error, "orig", error)).splitlines()[0]
        report.problems.append(
            Problem(report.file, None, f"the database refused the import: {detail}")
        )
    report.problems.sort(key=lambda p: p.line or 0)
    return report


def _proceed(report: ImportReport, skip_invalid: bool) -> bool:
    report.problems.sort(key=lambda p: p.line or 0)
    return not report.problems or skip_invalid


# --- reading ---------------------------------------------------------------------------


def read_records(kind: Kind, path: Path) -> list[Record]:
    """The file's records with their line numbers; FileRejected if it cannot be read."""
    name = str(path)
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return csv_records(text, name, COLUMNS[kind])
    if suffix == ".json":
        return json_records(text, name, JSON_LIST_KEYS[kind])
    raise FileRejected(
        Problem(name, None, f"unknown file type {suffix or '(none)'!r}: use .csv or .json")
    )


def read_text(path: Path) -> str:
    name = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FileRejected(Problem(name, None, f"larger than {MAX_FILE_BYTES // 2**20} MB"))
        data = path.read_bytes()
    except FileRejected:
        raise
    except OSError as error:
        raise FileRejected(
            Problem(name, None, f"cannot read the file: {error.strerror or error}")
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise FileRejected(
            Problem(
                name,
                line,
                f"not UTF-8 text (byte 0x{data[error.start]:02x} at column {column}); "
                "save the file as UTF-8 (in Excel: 'CSV UTF-8')",
            )
        ) from None
    if "\x00" in text:
        raise FileRejected(
            Problem(name, None, "looks like a binary file (a spreadsheet?); export it as CSV UTF-8")
        )
    return text


def csv_records(text: str, name: str, columns: Columns) -> list[Record]:
    if not text.strip():
        raise FileRejected(Problem(name, None, "the file is empty"))
    first_line = text.lstrip("\r\n").splitlines()[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[Record] = []
    try:
        header = [h.strip().lower() for h in next(reader)]
        header_line = reader.line_num
        _check_header(header, columns, name, header_line)
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                records.append(
                    (
                        start,
                        ValueError(
                            f"has {len(row)} fields, the header has {len(header)} "
                            "(an unquoted separator inside a value?)"
                        ),
                    )
                )
                continue
            records.append((start, dict(zip(header, row, strict=False))))
    except csv.Error as error:
        raise FileRejected(Problem(name, reader.line_num, f"not valid CSV: {error}")) from None
    return records


def _check_header(header: list[str], columns: Columns, name: str, line: int) -> None:
    known = (*columns.required, *columns.optional)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    missing = [c for c in columns.required if c not in header]
    unknown = [h for h in header if h not in known]
    reasons = []
    if missing:
        reasons.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        reasons.append(f"unknown column(s): {', '.join(unknown)}")
    if duplicated:
        reasons.append(f"repeated column(s): {', '.join(duplicated)}")
    if reasons:
        raise FileRejected(
            Problem(name, line, "; ".join(reasons) + f" (expected: {', '.join(known)})")
        )


# The pure-Python pieces of the stdlib decoder; typeshed does not declare them.
_JSON_OBJECT: Callable[..., tuple[Any, int]] = vars(json.decoder)["JSONObject"]
_MAKE_SCANNER: Callable[[json.JSONDecoder], Any] = vars(json.scanner)["py_make_scanner"]


class _LineDecoder(json.JSONDecoder):
    """A JSON decoder that remembers the line on which each object starts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines: dict[int, int] = {}

        def parse_object(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
            result, end = _JSON_OBJECT(s_and_end, *args, **kwargs)
            self.lines[id(result)] = bisect_right(self._starts, s_and_end[1] - 1)
            return result, end

        self.parse_object = parse_object
        self.scan_once = _MAKE_SCANNER(self)

    def line_of(self, value: Any, default: int | None = None) -> int | None:
        return self.lines.get(id(value), default)


def json_records(text: str, name: str, list_key: str) -> list[Record]:
    decoder = _LineDecoder(text)
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as error:
        raise FileRejected(
            Problem(name, error.lineno, f"invalid JSON: {error.msg} (column {error.colno})")
        ) from None
    items = data
    if isinstance(data, dict):
        keys = [k for k in (list_key, "items") if k in data]
        if len(data) != 1 or not keys:
            raise FileRejected(
                Problem(name, 1, f"expected a list, or an object with one key {list_key!r}")
            )
        items = data[keys[0]]
    if not isinstance(items, list):
        raise FileRejected(Problem(name, 1, f"{list_key!r} must be a list"))
    records: list[Record] = []
    for item in items:
        records.append((decoder.line_of(item), _Tracked(item, decoder)))
    return records


@dataclass(frozen=True)
class _Tracked:
    """A JSON value with the decoder that knows the lines of its nested objects."""

    value: Any
    decoder: _LineDecoder


# --- per kind --------------------------------------------------------------------------


def _catalog(
    records: list[Record], report: ImportReport, progress: Progress
) -> tuple[list[ProductRow], dict[str, int | None]]:
    products: dict[str, ProductRow] = {}
    first_line: dict[str, int | None] = {}
    variants: dict[str, list[VariantRow]] = {}
    sku_lines: dict[str, int | None] = {}
    ean_lines: dict[str, int | None] = {}

    def problem(line: int | None, reasons: list[str] | str) -> None:
        text = reasons if isinstance(reasons, str) else "; ".join(reasons)
        report.problems.append(Problem(report.file, line, text))

    def add_variant(line: int | None, product: ProductRow, variant: VariantRow) -> None:
        if variant.sku in sku_lines:
            problem(line, f"sku: {variant.sku!r} already on line {sku_lines[variant.sku]}")
            return
        if variant.ean and variant.ean in ean_lines:
            problem(line, f"ean: {variant.ean!r} already on line {ean_lines[variant.ean]}")
            return
        known = products.get(product.code)
        if known is None:
            products[product.code] = product
            first_line[product.code] = line
        elif known.fields() != product.fields():
            differ = [k for k, v in product.fields().items() if known.fields()[k] != v]
            problem(
                line,
                f"product {product.code!r}: {', '.join(differ)} differ(s) from line "
                f"{first_line[product.code]}",
            )
            return
        sku_lines[variant.sku] = line
        if variant.ean:
            ean_lines[variant.ean] = line
        variants.setdefault(product.code, []).append(variant)

    for line, record in records:
        progress.advance(1)
        if isinstance(record, ValueError):
            problem(line, str(record))
        elif isinstance(record, dict):  # a CSV row
            checks = Checks()
            product = product_record(record, checks)
            promos = _csv_promotion(record)
            variant = variant_record(record, checks, promos)
            if not checks.ok:
                problem(line, checks.reasons)
            elif product and variant:
                add_variant(line, product, variant)
        else:
            for v_line, product, variant in _json_product(record, line, problem):
                add_variant(v_line, product, variant)
    rows = [
        replace(p, variants=tuple(variants[code]))
        for code, p in products.items()
        if code in variants
    ]
    return rows, sku_lines


def _csv_promotion(record: Mapping[str, str]) -> list[tuple[str, Mapping[str, Any]]]:
    fields = {
        k[len("promo_") :]: (record.get(k) or "").strip() for k in record if k.startswith("promo_")
    }
    if not any(fields.values()):
        return []
    return [("promotion", fields)]


def _json_product(
    record: _Tracked, line: int | None, problem: Any
) -> list[tuple[int | None, ProductRow, VariantRow]]:
    item, decoder = record.value, record.decoder
    if not isinstance(item, dict):
        problem(line, "a product must be an object")
        return []
    checks = Checks()
    unknown = sorted(set(item) - PRODUCT_KEYS)
    if unknown:
        checks.fail(f"unknown field {unknown[0]!r} (expected: {', '.join(sorted(PRODUCT_KEYS))})")
    name = _languages(item.get("name"), "name", checks, required=True)
    description = _languages(item.get("description"), "description", checks, required=False)
    product = product_record(
        {
            "product_code": item.get("code"),
            "name_it": name.get("it"),
            "name_en": name.get("en"),
            "description_it": description.get("it"),
            "description_en": description.get("en"),
            "category": item.get("category"),
            "brand": item.get("brand"),
            "images": item.get("images"),
        },
        checks,
    )
    shared = _promotion_list(item.get("promotions"), "promotions", checks)
    raw_variants = item.get("variants")
    if not isinstance(raw_variants, list) or not raw_variants:
        checks.fail("variants: must be a non-empty list")
        raw_variants = []
    if not checks.ok or product is None:
        problem(line, checks.reasons)
        return []
    found = []
    for index, raw in enumerate(raw_variants):
        v_line = decoder.line_of(raw, line)
        v_checks = Checks(f"variants[{index}].")
        if not isinstance(raw, dict):
            problem(v_line, f"variants[{index}]: must be an object")
            continue
        unknown = sorted(set(raw) - VARIANT_KEYS)
        if unknown:
            v_checks.fail(
                f"unknown field {unknown[0]!r} (expected: {', '.join(sorted(VARIANT_KEYS))})"
            )
        own = _promotion_list(raw.get("promotions"), "promotions", v_checks)
        variant = variant_record(raw, v_checks, [*shared, *own])
        if variant is None or not v_checks.ok:
            problem(v_line, v_checks.reasons)
            continue
        found.append((v_line, product, variant))
    return found


def _languages(value: Any, name: str, checks: Checks, *, required: bool) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if (
        not isinstance(value, dict)
        or (required and not {"it", "en"} <= set(value))
        or set(value) - {"it", "en"}
    ):
        checks.fail(f'{name}: must be {{"it": "…", "en": "…"}}')
        return {}
    return value


def _promotion_list(value: Any, name: str, checks: Checks) -> list[tuple[str, Mapping[str, Any]]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        checks.fail(f"{name}: must be a list of objects")
        return []
    return [(f"{name}[{i}]", p) for i, p in enumerate(value)]


def _stores(records: list[Record], report: ImportReport, progress: Progress) -> list[StoreRow]:
    stores: list[StoreRow] = []
    lines: dict[str, int | None] = {}
    for line, record in records:
        progress.advance(1)
        checks = Checks()
        row: StoreRow | None = None
        if isinstance(record, ValueError):
            checks.fail(str(record))
        elif isinstance(record, dict):
            row = store_record(_csv_store(record, checks), checks)
        elif not isinstance(record.value, dict):
            checks.fail("a store must be an object")
        else:
            unknown = sorted(set(record.value) - STORE_KEYS)
            if unknown:
                checks.fail(
                    f"unknown field {unknown[0]!r} (expected: {', '.join(sorted(STORE_KEYS))})"
                )
            row = store_record(record.value, checks)
        if checks.ok and row is not None:
            if row.code in lines:
                checks.fail(f"code: {row.code!r} already on line {lines[row.code]}")
            else:
                lines[row.code] = line
                stores.append(row)
        if not checks.ok:
            report.problems.append(Problem(report.file, line, "; ".join(checks.reasons)))
    return stores


def _csv_store(record: Mapping[str, str], checks: Checks) -> dict[str, Any]:
    result: dict[str, Any] = {k: v for k, v in record.items() if not k.startswith("hours_")}
    result["hours"] = {day: record[f"hours_{day}"] for day in WEEKDAYS if f"hours_{day}" in record}
    exceptions: dict[str, str] = {}
    for entry in (record.get("exceptions") or "").split("|"):
        if not entry.strip():
            continue
        day, sep, hours = entry.partition("=")
        if not sep:
            checks.fail(f"exceptions: {entry.strip()!r} is not like 12-25=closed")
            continue
        exceptions[day.strip()] = hours.strip()
    result["exceptions"] = exceptions
    return result


def _stock(
    records: list[Record], report: ImportReport, progress: Progress
) -> list[tuple[int | None, StockLine]]:
    lines = []
    for line, record in records:
        progress.advance(1)
        checks = Checks()
        if isinstance(record, ValueError):
            checks.fail(str(record))
            stock = None
        else:
            stock = stock_record(record.value if isinstance(record, _Tracked) else record, checks)
        if stock is None:
            report.problems.append(Problem(report.file, line, "; ".join(checks.reasons)))
        else:
            lines.append((line, stock))
    return lines


async def _check_eans(
    session: AsyncSession,
    products: Sequence[ProductRow],
    sku_lines: Mapping[str, int | None],
    report: ImportReport,
) -> set[str]:
    """An EAN the file gives to one SKU must not belong to another SKU already stored;
    returns the SKUs that break this rule."""
    clashing: set[str] = set()
    wanted = {v.ean: v.sku for p in products for v in p.variants if v.ean}
    in_file = {v.sku for p in products for v in p.variants}
    for chunk in chunks(sorted(wanted), 500):
        rows = await session.execute(select(Variant.ean, Variant.sku).where(Variant.ean.in_(chunk)))
        for ean, owner in rows:
            if owner != wanted[ean] and owner not in in_file:
                clashing.add(wanted[ean])
                report.problems.append(
                    Problem(
                        report.file,
                        sku_lines.get(wanted[ean]),
                        f"ean: {ean!r} already belongs to SKU {owner!r}",
                    )
                )
    return clashing


def _without(products: Sequence[ProductRow], skus: set[str]) -> list[ProductRow]:
    if not skus:
        return list(products)
    kept = []
    for product in products:
        variants = tuple(v for v in product.variants if v.sku not in skus)
        if variants:
            kept.append(replace(product, variants=variants))
    return kept
