"""File imports: validation with file:line:reason, all-or-nothing, --skip-invalid, upserts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from vetrina.catalog.importing import ImportReport, import_file
from vetrina.catalog.models import OnlineStock, Product, Promotion, Store, StoreStock, Variant
from vetrina.storage.database import Database
from vetrina.storage.migrate import upgrade_async

CATALOG_HEADER = "product_code,name_it,name_en,category,brand,sku,size,colour,price,ean,promo_kind,promo_value,promo_starts,promo_ends\n"
CATALOG_ROWS = (
    'P1,Stivale Brera,Brera boot,stivali,Vetrina,P1-NER-40,40,nero,"129,90",8001230000015,percent,20,2026-01-03,2026-02-28\n'
    "P1,Stivale Brera,Brera boot,stivali,Vetrina,P1-NER-41,41,nero,129.90,,,,,\n"
    "P2,Sneaker Navigli,Navigli sneaker,sneakers,Vetrina,P2-BIA-42,42,bianco,89,,fixed,10,2026-01-01,\n"
)
STORES_CSV = (
    "code;name;city;address;postal_code;latitude;longitude;services;hours_mon;hours_tue;hours_wed;hours_thu;hours_fri;hours_sat;hours_sun;exceptions\n"
    "MI;Vetrina Milano;Milano;Corso Vittorio Emanuele II 15;20122;45,4651;9,1930;try_on|returns;15:00-19:30;10:00-19:30;10:00-19:30;10:00-19:30;10:00-19:30;10:00-19:30;closed;12-25=closed|2026-12-24=10:00-16:00\n"
    'RM;Vetrina Roma;Roma;Via del Corso 189;00186;41.9010;12.4813;;"10:00-13:00,15:00-19:30";10:00-19:30;10:00-19:30;10:00-19:30;10:00-19:30;10:00-19:30;10:00-19:30;\n'
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


async def counts(db: Database) -> dict[str, int]:
    async with db.sessions() as session:
        return {
            model.__tablename__: int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (Product, Variant, Promotion, Store, StoreStock, OnlineStock)
        }


async def snapshot(db: Database) -> dict[str, list[Any]]:
    """Every catalog value except ids and timestamps."""
    async with db.sessions() as session:
        return {
            "products": (
                await session.execute(
                    select(
                        Product.code,
                        Product.name_it,
                        Product.name_en,
                        Product.category,
                        Product.brand,
                        Product.images,
                    ).order_by(Product.code)
                )
            ).all(),
            "variants": (
                await session.execute(
                    select(
                        Variant.sku,
                        Variant.ean,
                        Variant.size,
                        Variant.colour,
                        Variant.price_cents,
                        Product.code,
                    )
                    .join(Product)
                    .order_by(Variant.sku)
                )
            ).all(),
            "promotions": (
                await session.execute(
                    select(
                        Variant.sku,
                        Promotion.kind,
                        Promotion.value,
                        Promotion.starts_at,
                        Promotion.ends_at,
                    )
                    .join(Variant)
                    .order_by(Variant.sku)
                )
            ).all(),
            "stores": (
                await session.execute(
                    select(
                        Store.code,
                        Store.latitude,
                        Store.opening_hours,
                        Store.hours_exceptions,
                        Store.services,
                    ).order_by(Store.code)
                )
            ).all(),
            "stock": (
                await session.execute(
                    select(Store.code, Variant.sku, StoreStock.on_hand)
                    .join(Store)
                    .join(Variant)
                    .order_by(Store.code, Variant.sku)
                )
            ).all(),
        }


def problems(report: ImportReport) -> list[str]:
    return [str(p) for p in report.problems]


async def load_basics(db: Database, tmp_path: Path) -> None:
    stores = await import_file(db, "stores", write(tmp_path, "stores.csv", STORES_CSV))
    catalog = await import_file(
        db, "catalog", write(tmp_path, "catalog.csv", CATALOG_HEADER + CATALOG_ROWS)
    )
    assert stores.ok and catalog.ok, (problems(stores), problems(catalog))


async def test_valid_catalog_csv(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "catalog.csv", CATALOG_HEADER + CATALOG_ROWS)
    report = await import_file(db, "catalog", path)
    assert report.ok and (report.records, report.valid) == (3, 3)
    assert str(report.written["products"]) == "2 new, 0 updated"
    assert str(report.written["variants"]) == "3 new, 0 updated"
    async with db.sessions() as session:
        boot = await session.scalar(select(Variant).where(Variant.sku == "P1-NER-40"))
        promotions = (await session.scalars(select(Promotion).order_by(Promotion.kind))).all()
    assert boot is not None and (boot.price_cents, boot.ean, boot.currency) == (
        12990,
        "8001230000015",
        "EUR",
    )
    assert [(p.kind, p.value) for p in promotions] == [("fixed", 1000), ("percent", 20)]
    sale = next(p for p in promotions if p.kind == "percent")
    # dates are Italian days; the end day is included: 2026-02-28 24:00 CET = 23:00 UTC
    assert sale.starts_at.isoformat() == "2026-01-02T23:00:00+00:00"
    assert sale.ends_at is not None and sale.ends_at.isoformat() == "2026-02-28T23:00:00+00:00"


async def test_reimport_is_idempotent(db: Database, tmp_path: Path) -> None:
    await load_basics(db, tmp_path)
    before, rows = await snapshot(db), await counts(db)
    again = await import_file(db, "catalog", tmp_path / "catalog.csv")
    stores = await import_file(db, "stores", tmp_path / "stores.csv")
    assert again.ok and stores.ok
    assert str(again.written["variants"]) == "0 new, 3 updated"
    assert await snapshot(db) == before and await counts(db) == rows


async def test_reimport_updates_by_sku(db: Database, tmp_path: Path) -> None:
    await load_basics(db, tmp_path)
    changed = CATALOG_HEADER + CATALOG_ROWS.replace("129.90", "99.00")
    report = await import_file(db, "catalog", write(tmp_path, "changed.csv", changed))
    assert report.ok
    async with db.sessions() as session:
        price = await session.scalar(select(Variant.price_cents).where(Variant.sku == "P1-NER-41"))
        promotions = await session.scalar(select(func.count()).select_from(Promotion))
    assert price == 9900 and promotions == 2
    assert (await counts(db))["variants"] == 3


async def test_bad_rows_are_reported_and_nothing_changes(db: Database, tmp_path: Path) -> None:
    await load_basics(db, tmp_path)
    before = await snapshot(db)
    bad = (
        CATALOG_HEADER
        + CATALOG_ROWS.replace("129.90", "99.00")  # a valid change that must not be applied
        + "P3,Borsa,Bag,borse,Vetrina,P3-NER-UNI,UNI,nero,-5,,,,,\n"
        + "P3,Borsa,Bag,borse,Vetrina,P3 NER,UNI,nero,abc,12345,,,,\n"
        + "P1,Stivale Brera,Brera boot,stivali,Vetrina,P1-NER-41,42,nero,10,,,,,\n"
        + "P4,Gonna,Skirt,gonne,Vetrina,P4-ROS-40,40,rosso,50,,percent,150,2026-13-01,\n"
        + "P1,Stivale DIVERSO,Brera boot,stivali,Vetrina,P1-NER-43,43,nero,10,,,,,\n"
        + "P5,Camicia,Shirt,camicie,Vetrina,P5-BIA-M,M,bianco,49,8001230000016,,,,\n"
    )
    report = await import_file(db, "catalog", write(tmp_path, "bad.csv", bad))
    assert not report.applied
    assert problems(report) == [
        f"{tmp_path}/bad.csv:5: price: must be greater than zero, got '-5'",
        (
            f"{tmp_path}/bad.csv:6: sku: 'P3 NER' may only hold letters, digits and . _ / -; "
            "price: 'abc' is not an amount like 49.90; ean: '12345' has 5 digits "
            "(EAN has 8, 12, 13 or 14)"
        ),
        f"{tmp_path}/bad.csv:7: sku: 'P1-NER-41' already on line 3",
        (
            f"{tmp_path}/bad.csv:8: promotion: value: a percentage must be a whole number "
            "from 1 to 99, got 150; starts: '2026-13-01' is not a date like 2026-01-05"
        ),
        f"{tmp_path}/bad.csv:9: product 'P1': name_it differ(s) from line 2",
        f"{tmp_path}/bad.csv:10: ean: '8001230000016' has a wrong check digit",
    ]
    assert await snapshot(db) == before


async def test_skip_invalid_imports_the_good_rows(db: Database, tmp_path: Path) -> None:
    content = CATALOG_HEADER + CATALOG_ROWS + "P9,X,X,x,X,P9-1,1,nero,zero,,,,,\n"
    report = await import_file(
        db, "catalog", write(tmp_path, "some.csv", content), skip_invalid=True
    )
    assert report.applied and not report.ok and report.valid == 3
    assert problems(report) == [f"{tmp_path}/some.csv:5: price: 'zero' is not an amount like 49.90"]
    assert (await counts(db))["variants"] == 3
    assert "1 record(s) skipped" in report.summary()


async def test_wrong_columns_reject_the_file(db: Database, tmp_path: Path) -> None:
    content = "product_code,name,sku,prezzo\nP1,Stivale,P1-40,10\n"
    report = await import_file(
        db, "catalog", write(tmp_path, "cols.csv", content), skip_invalid=True
    )
    assert not report.applied and len(report.problems) == 1
    message = str(report.problems[0])
    assert message.startswith(
        f"{tmp_path}/cols.csv:1: missing column(s): name_it, name_en, category, brand, size, colour, price; unknown column(s): name, prezzo"
    )
    assert (await counts(db))["products"] == 0


async def test_wrong_encoding_rejects_the_file(db: Database, tmp_path: Path) -> None:
    content = (
        CATALOG_HEADER + "P1,Stivale ciò,Boot,stivali,Vetrina,P1-40,40,nero,10,,,,,\n"
    ).encode("latin-1")
    report = await import_file(db, "catalog", write(tmp_path, "latin.csv", content))
    assert problems(report) == [
        f"{tmp_path}/latin.csv:2: not UTF-8 text (byte 0xf2 at column 14); save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    ]
    assert not report.applied and (await counts(db))["products"] == 0


async def test_utf8_bom_semicolons_and_multiline_fields(db: Database, tmp_path: Path) -> None:
    content = (
        "\ufeffproduct_code;name_it;name_en;category;brand;sku;size;colour;price;description_it\n"
        'P1;Stivale "Brera";Boot;stivali;Vetrina;P1-40;40;nero;10,50;"due\nrighe"\n'
        'P1;Stivale "Brera";Boot;stivali;Vetrina;P1-41;41;nero;;"due\nrighe"\n'
    )
    report = await import_file(db, "catalog", write(tmp_path, "it.csv", content))
    # the first record spans lines 2-3, so the second starts on line 4
    assert problems(report) == [f"{tmp_path}/it.csv:4: price: is empty"]


async def test_field_count_mismatch_names_the_line(db: Database, tmp_path: Path) -> None:
    content = CATALOG_HEADER + "P1,Stivale, nero,Boot,stivali,Vetrina,P1-40,40,nero,10,,,,,\n"
    report = await import_file(db, "catalog", write(tmp_path, "fields.csv", content))
    assert problems(report) == [
        f"{tmp_path}/fields.csv:2: has 15 fields, the header has 14 (an unquoted separator inside a value?)"
    ]


def catalog_json(price: Any = 129.9) -> str:
    return json.dumps(
        {
            "products": [
                {
                    "code": "P1",
                    "name": {"it": "Stivale Brera", "en": "Brera boot"},
                    "category": "stivali",
                    "brand": "Vetrina",
                    "images": ["https://img.example.com/p1.jpg"],
                    "promotions": [
                        {
                            "name": "Saldi",
                            "kind": "percent",
                            "value": 30,
                            "starts": "2026-01-03",
                            "ends": "2026-02-28",
                        }
                    ],
                    "variants": [
                        {"sku": "P1-40", "size": "40", "colour": "nero", "price": price},
                        {
                            "sku": "P1-41",
                            "size": "41",
                            "colour": "nero",
                            "price": "129,90",
                            "promotions": [
                                {
                                    "kind": "fixed",
                                    "value": "20.00",
                                    "starts": "2026-01-10T09:00:00+01:00",
                                }
                            ],
                        },
                    ],
                },
            ]
        },
        indent=2,
    )


async def test_json_catalog(db: Database, tmp_path: Path) -> None:
    report = await import_file(db, "catalog", write(tmp_path, "catalog.json", catalog_json()))
    assert report.ok, problems(report)
    rows = await counts(db)
    assert (rows["products"], rows["variants"], rows["promotions"]) == (1, 2, 3)


async def test_json_bad_variant_is_reported_at_its_line(db: Database, tmp_path: Path) -> None:
    report = await import_file(
        db, "catalog", write(tmp_path, "catalog.json", catalog_json(price=-1))
    )
    assert problems(report) == [
        f"{tmp_path}/catalog.json:24: variants[0].price: must be greater than zero, got -1"
    ]
    assert (await counts(db))["products"] == 0


async def test_invalid_json_names_line_and_column(db: Database, tmp_path: Path) -> None:
    report = await import_file(
        db, "catalog", write(tmp_path, "broken.json", '{"products": [\n  {"code": "P1",}\n]}')
    )
    assert problems(report) == [
        f"{tmp_path}/broken.json:2: invalid JSON: Expecting property name enclosed in double quotes (column 17)"
    ]


async def test_stores_csv_and_json(db: Database, tmp_path: Path) -> None:
    report = await import_file(db, "stores", write(tmp_path, "stores.csv", STORES_CSV))
    assert report.ok, problems(report)
    stores_json = json.dumps(
        {
            "stores": [
                {
                    "code": "TO",
                    "name": "Vetrina Torino",
                    "city": "Torino",
                    "address": "Via Roma 305",
                    "postal_code": "10123",
                    "latitude": 45.0675,
                    "longitude": 7.683,
                    "services": ["try_on"],
                    "hours": {"mon": "10:00-19:30", "sat": ["10:00-13:00", "14:00-19:30"]},
                    "exceptions": {"06-24": "closed"},
                }
            ]
        }
    )
    assert (await import_file(db, "stores", write(tmp_path, "s.json", stores_json))).ok
    async with db.sessions() as session:
        milan = await session.scalar(select(Store).where(Store.code == "MI"))
        turin = await session.scalar(select(Store).where(Store.code == "TO"))
    assert milan is not None and turin is not None
    assert (milan.latitude, milan.services, milan.opening_hours["sun"]) == (
        45.4651,
        ["returns", "try_on"],
        [],
    )
    assert milan.hours_exceptions == {"12-25": [], "2026-12-24": ["10:00-16:00"]}
    assert (
        turin.opening_hours["sat"] == ["10:00-13:00", "14:00-19:30"]
        and turin.opening_hours["tue"] == []
    )


async def test_bad_stores_are_reported(db: Database, tmp_path: Path) -> None:
    content = (
        STORES_CSV.splitlines()[0]
        + "\n"
        + (
            "online;Web;Milano;Via 1;20122;45.4;9.1;;10:00-19:00;;;;;;;\n"
            "NA;Napoli;Napoli;Via Toledo 1;8013;95.0;nan;magic;19:00-10:00;;;;;;;25-12=closed\n"
            "GE;Genova;Genova;Via XX Settembre 1;16121;44.4;8.9;;;;;;;;;\n"
        )
    )
    report = await import_file(db, "stores", write(tmp_path, "bad.csv", content))
    assert problems(report) == [
        f"{tmp_path}/bad.csv:2: code: 'online' is reserved for the web shop's stock",
        (
            f"{tmp_path}/bad.csv:3: latitude: '95.0' is not between -90 and 90; longitude: 'nan' "
            "is not between -180 and 180; postal_code: '8013' is not an Italian CAP (five "
            "digits); services: unknown service 'magic' (known: click_and_collect, "
            "personal_shopper, reserve_and_collect, returns, tailoring, try_on); hours: hours "
            "'19:00-10:00' close before they open"
        ),
        f"{tmp_path}/bad.csv:4: hours: the store is never open (give hours, or active=false)",
    ]
    assert (await counts(db))["stores"] == 0


async def test_stock_import_and_its_errors(db: Database, tmp_path: Path) -> None:
    await load_basics(db, tmp_path)
    good = "store,sku,on_hand\nMI,P1-NER-40,3\nRM,P1-NER-40,0\nonline,P2-BIA-42,12\n"
    report = await import_file(db, "stock", write(tmp_path, "stock.csv", good))
    assert report.ok and str(report.written["store stock"]) == "2 set"
    before = await snapshot(db)
    bad = "store,sku,on_hand\nMI,P1-NER-40,5\nMI,P1-NER-41,-2\nXX,P1-NER-41,1\nMI,NOPE,1\nRM,P1-NER-41,tre\nRM,P1-NER-41,2.5\nMI,P1-NER-40,4\n"
    report = await import_file(db, "stock", write(tmp_path, "bad.csv", bad))
    assert problems(report) == [
        f"{tmp_path}/bad.csv:3: on_hand: cannot be negative, got -2",
        f"{tmp_path}/bad.csv:4: unknown store 'XX'",
        f"{tmp_path}/bad.csv:5: unknown SKU 'NOPE'",
        f"{tmp_path}/bad.csv:6: on_hand: must be a whole number of pieces, got 'tre'",
        f"{tmp_path}/bad.csv:7: on_hand: must be a whole number of pieces, got '2.5'",
        f"{tmp_path}/bad.csv:8: store 'MI' and SKU 'P1-NER-40' already given at item 0",
    ]
    assert await snapshot(db) == before


async def test_unknown_file_type_and_missing_file(db: Database, tmp_path: Path) -> None:
    report = await import_file(db, "stock", write(tmp_path, "stock.xlsx", b"PK\x03\x04"))
    assert problems(report) == [
        f"{tmp_path}/stock.xlsx: unknown file type '.xlsx': use .csv or .json"
    ]
    report = await import_file(db, "stock", tmp_path / "missing.csv")
    assert problems(report) == [
        f"{tmp_path}/missing.csv: cannot read the file: No such file or directory"
    ]


async def test_cli_import_exit_codes_and_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI runs its own event loop, so it is driven from a worker thread here."""
    from vetrina.cli import app

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await upgrade_async(url)
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()

    async def invoke(*args: str) -> Any:
        return await asyncio.to_thread(runner.invoke, app, list(args))

    stores = write(tmp_path, "stores.csv", STORES_CSV)
    ok = await invoke("import", "stores", str(stores))
    assert ok.exit_code == 0, ok.output
    assert "imported 2 of 2 record(s) (stores: 2 new, 0 updated)" in ok.output
    bad = write(tmp_path, "stock.csv", "store,sku,on_hand\nMI,NOPE,-1\n")
    failed = await invoke("import", "stock", str(bad))
    assert failed.exit_code == 1
    assert f"{bad}:2: on_hand: cannot be negative, got -1" in failed.output
    assert "nothing imported" in failed.output and "--skip-invalid" in failed.output
    demo = await invoke("demo", "--seed", "3")
    assert demo.exit_code == 0 and "demo data (seed 3) loaded" in demo.output


async def test_json_stock_and_unknown_fields(db: Database, tmp_path: Path) -> None:
    await load_basics(db, tmp_path)
    items = {
        "items": [
            {"store": "MI", "sku": "P1-NER-40", "on_hand": 2},
            {"store": "ONLINE", "sku": "P1-NER-41", "on_hand": 7},
        ]
    }
    report = await import_file(db, "stock", write(tmp_path, "stock.json", json.dumps(items)))
    assert report.ok, problems(report)
    assert str(report.written["online stock"]) == "1 set"
    bad = json.dumps([{"store": "MI", "sku": "P1-NER-40", "qty": 2}], indent=1)
    report = await import_file(db, "stock", write(tmp_path, "bad.json", bad))
    assert problems(report) == [
        (
            f"{tmp_path}/bad.json:2: unknown field 'qty' (expected store, sku, on_hand); "
            "on_hand: is missing"
        )
    ]
    stores = json.dumps({"stores": [{"code": "X1", "nome": "Negozio"}]})
    report = await import_file(db, "stores", write(tmp_path, "s.json", stores))
    assert not report.applied and "unknown field 'nome'" in problems(report)[0]
