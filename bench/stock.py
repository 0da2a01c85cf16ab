"""Catalog and stock at scale: product resolution, availability and nearest stores.

Builds a large catalog in a fresh database (SQLite in a temp folder and, where reachable,
a throw-away PostgreSQL database), then measures through the domain API that the
assistant calls (``SqlInventory``, ``Resolver``), one call at a time:

  - product resolution from free text: the assistant's resolver (vetrina.catalog.resolution:
    colours, sizes, places, category synonyms, stems, prefixes, rapidfuzz for typos, over
    the in-memory product index), on clean text, on text with a typo, and on SKUs/EANs;
  - availability of one variant in one store;
  - nearest stores with stock for a variant from a random point in Italy;

and prints p50/p99 per query, the targets, and the query plans (EXPLAIN QUERY PLAN /
EXPLAIN) of the availability and stocked-stores queries.

Defaults: 100,000 variants (10 per product) × 200 stores, each variant stocked in 10 % of
the stores (≈ 2,000,000 store_stock rows: stock rows exist only where stock exists).

    .venv/bin/python bench/stock.py [--variants 100000] [--stores 200] [--density 0.10]
                                    [--queries 2000] [--no-postgres] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vetrina.catalog.availability import (
    AVAILABILITY_QUERY,
    STOCKED_STORES_QUERY,
    SqlInventory,
    explain,
)
from vetrina.catalog.products import product_code_of
from vetrina.catalog.resolution import Resolver
from vetrina.catalog.search import ProductIndex
from vetrina.catalog.stores import Coordinates
from vetrina.catalog.validation import ean_check_digit
from vetrina.storage.database import Database
from vetrina.storage.migrate import upgrade

TARGET_MS = {"resolve": 20.0, "availability": 5.0, "nearest": 5.0}
VARIANTS_PER_PRODUCT = 10
CHUNK = 50_000
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)

CITIES = [  # name, latitude, longitude (city centres)
    ("Milano", 45.4642, 9.1900),
    ("Roma", 41.9028, 12.4964),
    ("Torino", 45.0703, 7.6869),
    ("Napoli", 40.8518, 14.2681),
    ("Firenze", 43.7696, 11.2558),
    ("Bologna", 44.4949, 11.3426),
    ("Genova", 44.4056, 8.9463),
    ("Verona", 45.4384, 10.9916),
    ("Bari", 41.1171, 16.8719),
    ("Palermo", 38.1157, 13.3615),
    ("Venezia", 45.4408, 12.3155),
    ("Padova", 45.4064, 11.8768),
    ("Trieste", 45.6495, 13.7768),
    ("Brescia", 45.5416, 10.2118),
    ("Bergamo", 45.6983, 9.6773),
    ("Catania", 37.5079, 15.0830),
    ("Cagliari", 39.2238, 9.1217),
    ("Parma", 44.8015, 10.3279),
    ("Modena", 44.6471, 10.9252),
    ("Reggio Calabria", 38.1113, 15.6473),
    ("Perugia", 43.1107, 12.3908),
    ("Pescara", 42.4618, 14.2161),
    ("Ancona", 43.6158, 13.5189),
    ("Lecce", 40.3515, 18.1750),
    ("Salerno", 40.6824, 14.7681),
    ("Pisa", 43.7228, 10.4017),
    ("Trento", 46.0748, 11.1217),
    ("Bolzano", 46.4983, 11.3548),
    ("Udine", 46.0711, 13.2346),
    ("Como", 45.8081, 9.0852),
    ("Monza", 45.5845, 9.2744),
    ("Rimini", 44.0678, 12.5695),
]
CATEGORIES = [
    ("Sneakers", "sneakers"),
    ("Stivali", "boots"),
    ("Mocassini", "loafers"),
    ("Décolleté", "pumps"),
    ("Sandali", "sandals"),
    ("Giacca", "jacket"),
    ("Cappotto", "coat"),
    ("Maglione", "sweater"),
    ("Camicia", "shirt"),
    ("T-shirt", "T-shirt"),
    ("Jeans", "jeans"),
    ("Pantaloni", "trousers"),
    ("Abito", "dress"),
    ("Gonna", "skirt"),
    ("Borsa", "bag"),
    ("Cintura", "belt"),
]
MATERIALS = [
    ("pelle", "leather"),
    ("camoscio", "suede"),
    ("tela", "canvas"),
    ("lana", "wool"),
    ("cotone", "cotton"),
    ("lino", "linen"),
    ("seta", "silk"),
    ("cashmere", "cashmere"),
]
COLOURS = [
    "nero",
    "bianco",
    "blu",
    "grigio",
    "marrone",
    "beige",
    "rosso",
    "verde",
    "cammello",
    "bordeaux",
    "rosa",
    "azzurro",
]
SIZES = ["XS", "S", "M", "L", "XL", "36", "37", "38", "39", "40", "41", "42", "43", "44"]
SYLLABLES = [
    "bre",
    "ra",
    "na",
    "vi",
    "gli",
    "tra",
    "ste",
    "ve",
    "po",
    "si",
    "li",
    "por",
    "to",
    "fi",
    "no",
    "ca",
    "pri",
    "mal",
    "do",
    "lo",
    "mi",
    "ti",
    "gar",
    "co",
]
BRANDS = [
    "Vetrina",
    "Officina Brera",
    "Passo Leggero",
    "Tessitura Arno",
    "Corte Veneta",
    "Sartoria Partenope",
    "Calzaturificio Marche",
    "Lanificio Biella",
]


# --- building --------------------------------------------------------------------------


def model_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize())
    return sorted(names)


class Catalog:
    """The generated catalog, kept in memory for the queries (SKUs, names, store codes)."""

    def __init__(self, variants: int, stores: int, density: float, seed: int) -> None:
        rng = random.Random(seed)
        self.products = max(1, variants // VARIANTS_PER_PRODUCT)
        self.variant_count = self.products * VARIANTS_PER_PRODUCT
        self.store_count = stores
        self.density = density
        self.seed = seed
        models = model_names(rng, 400)
        self.product_rows = []
        self.names: list[str] = []
        for p in range(1, self.products + 1):
            cat_it, cat_en = rng.choice(CATEGORIES)
            mat_it, mat_en = rng.choice(MATERIALS)
            model = rng.choice(models)
            brand = rng.choice(BRANDS)
            name_it = f"{cat_it} {model} in {mat_it}"
            self.names.append(name_it)
            self.product_rows.append(
                (
                    p,
                    f"P{p:06d}",
                    name_it,
                    f"{model} {mat_en} {cat_en}",
                    "",
                    "",
                    cat_en.lower(),
                    brand,
                    "[]",
                    NOW,
                    NOW,
                )
            )
        self.skus: list[str] = []
        self.eans: list[str] = []
        self.colours: list[str] = []
        self.variant_rows = []
        for p in range(1, self.products + 1):
            colours = rng.sample(COLOURS, 2)
            sizes = rng.sample(SIZES, VARIANTS_PER_PRODUCT // 2)
            for c in colours:
                for s in sizes:
                    v = len(self.skus) + 1
                    sku = f"P{p:06d}-{c[:4].upper()}-{s}"
                    body = f"80{v:010d}"
                    ean = body + str(ean_check_digit(body))
                    self.skus.append(sku)
                    self.eans.append(ean)
                    self.colours.append(c)
                    price = rng.randint(19, 599) * 100 - 10
                    self.variant_rows.append((v, p, sku, ean, s, c, price, "EUR", NOW, NOW))
        hours = (
            '{"mon": ["15:00-19:30"], "tue": ["10:00-19:30"], "wed": ["10:00-19:30"], '
            '"thu": ["10:00-19:30"], "fri": ["10:00-19:30"], "sat": ["10:00-19:30"], "sun": []}'
        )
        self.store_codes = []
        self.store_rows = []
        for s in range(1, stores + 1):
            city, lat, lon = CITIES[(s - 1) % len(CITIES)]
            code = f"S{s:04d}"
            self.store_codes.append(code)
            self.store_rows.append(
                (
                    s,
                    code,
                    f"Vetrina {city} {s}",
                    city,
                    f"Via Roma {s}",
                    "00100",
                    "IT",
                    round(lat + rng.uniform(-0.04, 0.04), 6),
                    round(lon + rng.uniform(-0.04, 0.04), 6),
                    "Europe/Rome",
                    None,
                    hours,
                    "{}",
                    '["try_on"]',
                    True,
                    NOW,
                    NOW,
                )
            )

    def stock_rows(self) -> Iterator[list[tuple[Any, ...]]]:
        """store_stock rows in primary-key order, CHUNK at a time (never all in memory)."""
        rng = random.Random(self.seed + 1)
        per_variant = max(1, round(self.density * self.store_count))
        stores = range(1, self.store_count + 1)
        chunk: list[tuple[Any, ...]] = []
        for v in range(1, self.variant_count + 1):
            for s in sorted(rng.sample(stores, per_variant)):
                on_hand = rng.choices((0, 1, 2, 3, 4, 6, 9), weights=(5, 15, 15, 20, 20, 15, 10))[0]
                reserved = 1 if on_hand >= 2 and rng.random() < 0.02 else 0
                chunk.append((v, s, on_hand, reserved, NOW))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def tables(self) -> tuple[tuple[str, list[tuple[Any, ...]]], ...]:
        """Rows of the small tables, in the column order of ``COLUMNS``."""
        return (
            ("stores", self.store_rows),
            ("products", self.product_rows),
            ("variants", self.variant_rows),
        )

    @property
    def stock_count(self) -> int:
        return self.variant_count * max(1, round(self.density * self.store_count))


# Columns are named, so a column added later with a default does not break the build.
COLUMNS = {
    "stores": (
        "id, code, name, city, address, postal_code, country, latitude, longitude, timezone, "
        "phone, opening_hours, hours_exceptions, services, active, created_at, updated_at"
    ),
    "products": (
        "id, code, name_it, name_en, description_it, description_en, category, brand, images, "
        "created_at, updated_at"
    ),
    "variants": (
        "id, product_id, sku, ean, size, colour, price_cents, currency, created_at, updated_at"
    ),
}


def bar(label: str, total: int) -> Any:
    return typer.progressbar(length=total, label=f"  {label:<12}", file=sys.stderr)


def build_sqlite(path: Path, catalog: Catalog) -> None:
    def ts(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [
            tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)
            for row in rows
        ]

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        for table, rows in catalog.tables():
            marks = ",".join("?" * len(COLUMNS[table].split(",")))
            conn.executemany(  # table and columns come from COLUMNS, never from input
                f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})", ts(rows)  # noqa: S608
            )
    with bar("store_stock", catalog.stock_count) as progress, conn:
        for chunk in catalog.stock_rows():
            conn.executemany(
                "INSERT INTO store_stock (variant_id, store_id, on_hand, reserved, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                ts(chunk),
            )
            progress.update(len(chunk))
    conn.execute("ANALYZE")
    conn.close()


def build_postgres(url: str, catalog: Catalog) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, rows in catalog.tables():
            columns = COLUMNS[table]
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {len(rows)})")
        with (
            bar("store_stock", catalog.stock_count) as progress,
            cur.copy(
                "COPY store_stock (variant_id, store_id, on_hand, reserved, updated_at) FROM STDIN"
            ) as copy,
        ):
            for chunk in catalog.stock_rows():
                for row in chunk:
                    copy.write_row(row)
                progress.update(len(chunk))
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")


# --- measuring -------------------------------------------------------------------------


def with_typo(rng: random.Random, name: str) -> str:
    """One swapped pair of letters in the model name: "Stivali Brelivi" → "stivali brleivi"."""
    words = name.lower().split()
    model = words[1]
    i = rng.randrange(1, len(model) - 1)
    typo = model[:i] + model[i + 1] + model[i] + model[i + 2 :]
    return f"{words[0]} {typo} taglia 42 a Milano"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def timed(calls: Sequence[Callable[[], Awaitable[Any]]]) -> list[float]:
    for call in calls[:50]:  # warm-up: connection pool, statement caches
        await call()
    latencies = []
    for call in calls:
        start = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def line(name: str, values: list[float], target: float | None) -> dict[str, float]:
    p50, p99 = pct(values, 50), pct(values, 99)
    verdict = "" if target is None else ("  ok" if p99 < target else "  OVER TARGET")
    goal = f"(target p99 < {target:g} ms)" if target is not None else ""
    print(
        f"    {name:<34} n={len(values):<6} p50={p50:7.3f} ms  p99={p99:7.3f} ms  "
        f"max={max(values):7.2f} ms  {goal}{verdict}",
        flush=True,
    )
    return {"p50": p50, "p99": p99}


async def measure(url: str, catalog: Catalog, queries: int) -> dict[str, dict[str, float]]:
    rng = random.Random(catalog.seed + 2)
    db = Database(url)
    inventory = SqlInventory(db, safety_stock=2)
    results: dict[str, dict[str, float]] = {}
    try:
        async with db.engine.connect() as conn:
            sku, store = (
                catalog.skus[12345 % len(catalog.skus)],
                catalog.store_codes[7 % catalog.store_count],
            )
            print("  query plan, availability (SKU × store):")
            for row in await explain(conn, AVAILABILITY_QUERY, {"sku": sku, "store_code": store}):
                print(f"    {row}")
            print("  query plan, stores holding a variant (nearest-with-stock):")
            for row in await explain(conn, STOCKED_STORES_QUERY, {"sku": sku}):
                print(f"    {row}")

        start = time.perf_counter()
        async with db.sessions() as session:
            index = await ProductIndex.load(session)
        resolver = Resolver.of(index, await inventory.stores())
        print(
            f"  resolver index built in {time.perf_counter() - start:.2f} s "
            f"({len(index)} products, {len(catalog.skus)} SKUs/EANs)"
        )

        def text_query() -> str:
            p = rng.randrange(catalog.products)
            words = catalog.names[p].lower().split()
            colour = catalog.colours[p * VARIANTS_PER_PRODUCT]
            picked = [w for w in words if w != "in"]
            rng.shuffle(picked)
            return " ".join(["avete", *picked[: rng.choice((1, 2, 3))], colour, "taglia 42"])

        texts = [text_query() for _ in range(queries)]
        typos = [
            with_typo(rng, catalog.names[rng.randrange(catalog.products)]) for _ in range(queries)
        ]
        resolved = sum(resolver.resolve(t)[1].product is not None for t in texts)
        print(f"  {resolved / len(texts):.0%} of the free-text queries name one product outright")
        codes = [
            rng.choice((catalog.skus, catalog.eans))[rng.randrange(catalog.variant_count)]
            for _ in range(queries)
        ]

        async def resolve(text: str) -> Any:
            return resolver.resolve(text)

        async def by_code(code: str) -> Any:
            async with db.sessions() as session:
                return await product_code_of(session, code)

        print("  latency, one call at a time through the domain API:")
        results["resolve_text"] = line(
            "resolve: free text",
            await timed([lambda t=t: resolve(t) for t in texts]),
            TARGET_MS["resolve"],
        )
        results["resolve_typo"] = line(
            "resolve: free text with a typo",
            await timed([lambda t=t: resolve(t) for t in typos]),
            TARGET_MS["resolve"],
        )
        results["resolve_code"] = line(
            "resolve: SKU/EAN in text (memory)",
            await timed([lambda c=c: resolve(f"avete {c}?") for c in codes]),
            TARGET_MS["resolve"],
        )
        results["resolve_sql"] = line(
            "resolve: SKU/EAN (indexed SQL)",
            await timed([lambda c=c: by_code(c) for c in codes]),
            TARGET_MS["resolve"],
        )
        pairs = [
            (rng.choice(catalog.skus), rng.choice(catalog.store_codes)) for _ in range(queries)
        ]
        results["availability"] = line(
            "availability (variant, store)",
            await timed([lambda s=s, c=c: inventory.availability(s, c) for s, c in pairs]),
            TARGET_MS["availability"],
        )
        points = [
            Coordinates(rng.uniform(37.5, 45.8), rng.uniform(7.5, 16.5)) for _ in range(queries)
        ]
        nearest = [(rng.choice(catalog.skus), p) for p in points]
        results["nearest"] = line(
            "nearest 5 stores with stock",
            await timed([lambda s=s, p=p: inventory.nearest_with_stock(s, p) for s, p in nearest]),
            TARGET_MS["nearest"],
        )
        directory = await inventory.stores()

        async def stores_near(point: Coordinates) -> Any:
            return directory.nearest(point, limit=5)

        results["stores_near"] = line(
            "nearest 5 stores (no stock check)",
            await timed([lambda p=p: stores_near(p) for p in points]),
            None,
        )
    finally:
        await db.dispose()
    return results


# --- main ------------------------------------------------------------------------------


def postgres_admin_url(cli_value: str | None) -> str:
    return cli_value or os.environ.get(
        "VETRINA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )


def run_backend(
    name: str, url: str, build: Callable[[], None], catalog: Catalog, queries: int
) -> dict[str, Any]:
    print(f"\n== {name}", flush=True)
    start = time.perf_counter()
    upgrade(url)
    build()
    built = time.perf_counter() - start
    print(f"  built in {built:.1f} s (schema + bulk load + ANALYZE)", flush=True)
    results = asyncio.run(measure(url, catalog, queries))
    return {"build_s": built, **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument(
        "--density",
        type=float,
        default=0.10,
        help="share of stores that stock each variant (default 0.10)",
    )
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="admin URL; a throw-away database is created there and dropped",
    )
    args = parser.parse_args()
    if not 0 < args.density <= 1 or args.variants < 10 or args.stores < 1:
        parser.error("need --variants ≥ 10, --stores ≥ 1 and 0 < --density ≤ 1")

    start = time.perf_counter()
    catalog = Catalog(args.variants, args.stores, args.density, args.seed)
    print(
        f"catalog: {catalog.products:,} products, {catalog.variant_count:,} variants, "
        f"{catalog.store_count} stores; each variant in {args.density:.0%} of stores → "
        f"{catalog.stock_count:,} store_stock rows "
        f"(generated in {time.perf_counter() - start:.1f} s)",
        flush=True,
    )
    summary: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="vetrina-bench-") as folder:
        path = Path(folder) / "bench.db"
        summary["SQLite"] = run_backend(
            f"SQLite {sqlite3.sqlite_version} ({path})",
            f"sqlite+aiosqlite:///{path}",
            lambda: build_sqlite(path, catalog),
            catalog,
            args.queries,
        )
    if not args.no_postgres:
        summary.update(run_postgres(postgres_admin_url(args.postgres_url), catalog, args.queries))

    print("\n== summary (ms; targets: resolve p99 < 20, availability and nearest p99 < 5)")
    keys = [
        "resolve_text",
        "resolve_typo",
        "resolve_code",
        "resolve_sql",
        "availability",
        "nearest",
        "stores_near",
    ]
    print(f"  {'backend':<12}{'build s':>9}" + "".join(f"{k:>22}" for k in keys))
    for backend, figures in summary.items():
        cells = "".join(f"{figures[k]['p50']:>10.3f} /{figures[k]['p99']:>9.3f}" for k in keys)
        print(f"  {backend:<12}{figures['build_s']:>9.1f}{cells}")
    print("  (each cell: p50 / p99)")


def run_postgres(admin_url: str, catalog: Catalog, queries: int) -> dict[str, dict[str, Any]]:
    import psycopg
    from sqlalchemy.engine import make_url

    try:
        with psycopg.connect(admin_url, connect_timeout=3, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            name = f"vetrina_bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as error:
        print(f"\n== PostgreSQL skipped: not reachable at {admin_url} ({error.__class__.__name__})")
        return {}
    base = make_url(admin_url).set(database=name)
    sync_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
    async_url = base.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    try:
        return {
            "PostgreSQL": run_backend(
                f"PostgreSQL {version} (database {name}, dropped afterwards)",
                async_url,
                lambda: build_postgres(sync_url, catalog),
                catalog,
                queries,
            )
        }
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
