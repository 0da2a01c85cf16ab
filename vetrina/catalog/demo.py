"""A deterministic demo retailer: fashion and footwear, 320 products (~4,000 variants), 18
stores in real Italian shopping streets with plausible hours, stock and promotions.

The same seed always gives the same data. Product codes, SKUs and store codes depend only
on positions (VT0001, VT0001-NER-42, MI-DUOMO), so loading again upserts the same rows:
``vetrina demo`` is safe to run on every ``make run``. Promotion dates are fixed calendar
windows (not "today"), so the data does not change with the date it is generated on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam

from vetrina.catalog.models import Store, StoreStock, Variant
from vetrina.catalog.pricing import Terms
from vetrina.catalog.validation import (
    ONLINE_LOCATION,
    ProductRow,
    StockLine,
    StoreRow,
    VariantRow,
    ean_check_digit,
)
from vetrina.catalog.writing import (
    Written,
    ids_by,
    resolve_stock,
    write_catalog,
    write_stock,
    write_stores,
)
from vetrina.hours import WEEKDAYS
from vetrina.storage.base import table_of
from vetrina.storage.database import Database

DEFAULT_SEED = 42
PRODUCTS = 320

SHOE = [str(n) for n in range(36, 47)]
SHOE_WOMEN = [str(n) for n in range(35, 42)]
SHOE_MEN = [str(n) for n in range(39, 47)]
LETTERS = ["XS", "S", "M", "L", "XL"]
LETTERS_WIDE = ["XS", "S", "M", "L", "XL", "XXL"]
ITALIAN = [str(n) for n in range(38, 50, 2)]
WAIST = [str(n) for n in range(26, 37, 2)]

# key, Italian, English, sizes, price range (euros), materials
CATEGORIES = [
    ("sneakers", "Sneakers", "sneakers", SHOE, (79, 169), ["pelle", "tela", "camoscio"]),
    ("stivali", "Stivali", "boots", SHOE, (139, 329), ["pelle", "camoscio"]),
    ("mocassini", "Mocassini", "loafers", SHOE_MEN, (99, 249), ["pelle", "camoscio"]),
    ("decollete", "Décolleté", "pumps", SHOE_WOMEN, (89, 259), ["pelle", "vernice"]),
    ("sandali", "Sandali", "sandals", SHOE_WOMEN, (59, 179), ["pelle", "rafia"]),
    ("stringate", "Stringate", "lace-up shoes", SHOE_MEN, (119, 289), ["pelle"]),
    ("giacche", "Giacca", "jacket", LETTERS, (129, 399), ["lana", "cotone", "lino"]),
    ("cappotti", "Cappotto", "coat", LETTERS_WIDE, (199, 599), ["lana", "cashmere"]),
    ("trench", "Trench", "trench coat", LETTERS, (179, 449), ["cotone", "gabardine"]),
    ("maglieria", "Maglione", "sweater", LETTERS, (59, 189), ["lana", "cashmere", "cotone"]),
    ("camicie", "Camicia", "shirt", LETTERS_WIDE, (49, 129), ["cotone", "lino", "seta"]),
    ("tshirt", "T-shirt", "T-shirt", LETTERS_WIDE, (19, 59), ["cotone"]),
    ("jeans", "Jeans", "jeans", WAIST, (59, 159), ["denim"]),
    ("pantaloni", "Pantaloni", "trousers", ITALIAN, (69, 199), ["lana", "cotone", "lino"]),
    ("abiti", "Abito", "dress", ITALIAN, (79, 299), ["seta", "cotone", "lino"]),
    ("gonne", "Gonna", "skirt", ITALIAN, (49, 149), ["lana", "cotone", "seta"]),
    ("borse", "Borsa", "bag", ["UNI"], (89, 449), ["pelle", "tela"]),
    ("cinture", "Cintura", "belt", ["85", "90", "95", "100", "105"], (39, 99), ["pelle"]),
]
MATERIALS = {
    "pelle": "leather",
    "tela": "canvas",
    "camoscio": "suede",
    "vernice": "patent leather",
    "rafia": "raffia",
    "lana": "wool",
    "cotone": "cotton",
    "lino": "linen",
    "cashmere": "cashmere",
    "seta": "silk",
    "denim": "denim",
    "gabardine": "gabardine",
}
COLOURS = {  # Italian name → (code, English)
    "nero": ("NER", "black"),
    "bianco": ("BIA", "white"),
    "blu": ("BLU", "navy"),
    "grigio": ("GRI", "grey"),
    "marrone": ("MAR", "brown"),
    "beige": ("BEI", "beige"),
    "rosso": ("ROS", "red"),
    "verde": ("VER", "green"),
    "cammello": ("CAM", "camel"),
    "bordeaux": ("BOR", "burgundy"),
    "rosa": ("RSA", "pink"),
    "azzurro": ("AZZ", "light blue"),
}
MODELS = [
    "Brera",
    "Navigli",
    "Trastevere",
    "Posillipo",
    "Oltrarno",
    "Vomero",
    "Portofino",
    "Capri",
    "Amalfi",
    "Dolomiti",
    "Garda",
    "Como",
    "Langhe",
    "Murano",
    "Positano",
    "Taormina",
    "Cortina",
    "Monferrato",
    "Chianti",
    "Salento",
    "Cilento",
    "Maremma",
    "Etna",
    "Riviera",
]
BRANDS = [
    "Vetrina",
    "Officina Brera",
    "Passo Leggero",
    "Tessitura Arno",
    "Corte Veneta",
    "Sartoria Partenope",
]

_NATIONAL = {
    "01-01": "closed",
    "04-25": "11:00-19:00",
    "05-01": "closed",
    "06-02": "11:00-19:00",
    "08-15": "closed",
    "11-01": "11:00-19:00",
    "12-24": "10:00-17:00",
    "12-25": "closed",
    "12-26": "closed",
    "12-31": "10:00-17:00",
    "2026-04-05": "closed",
    "2026-04-06": "11:00-19:00",  # Easter, Easter Monday
    "2027-03-28": "closed",
    "2027-03-29": "11:00-19:00",
}
_WEEK = WEEKDAYS
_ALL = ["try_on", "click_and_collect", "returns"]
_FLAGSHIP = [*_ALL, "tailoring", "personal_shopper"]


def _hours(
    weekday: str, saturday: str | None = None, sunday: str = "closed", monday: str | None = None
) -> dict[str, str]:
    hours = {day: weekday for day in _WEEK[:5]}
    hours["sat"] = saturday or weekday
    hours["sun"] = sunday
    if monday:
        hours["mon"] = monday
    return hours


# code, name, city, address, CAP, lat, lon, hours, patron saint day, services
_STORES = [
    (
        "MI-DUOMO",
        "Vetrina Milano Duomo",
        "Milano",
        "Corso Vittorio Emanuele II 15",
        "20122",
        45.4651,
        9.1930,
        _hours("10:00-20:00", sunday="10:00-20:00"),
        ("12-07", "11:00-19:00"),
        _FLAGSHIP,
    ),
    (
        "MI-BUENOSAIRES",
        "Vetrina Milano Buenos Aires",
        "Milano",
        "Corso Buenos Aires 33",
        "20124",
        45.4790,
        9.2108,
        _hours("10:00-19:30", sunday="11:00-19:00"),
        ("12-07", "closed"),
        _ALL,
    ),
    (
        "RM-CORSO",
        "Vetrina Roma Via del Corso",
        "Roma",
        "Via del Corso 189",
        "00186",
        41.9010,
        12.4813,
        _hours("10:00-20:00", sunday="10:00-20:00"),
        ("06-29", "11:00-19:00"),
        _FLAGSHIP,
    ),
    (
        "RM-PRATI",
        "Vetrina Roma Prati",
        "Roma",
        "Via Cola di Rienzo 173",
        "00192",
        41.9072,
        12.4640,
        _hours("10:00-19:30", sunday="10:30-13:30,15:30-19:30"),
        ("06-29", "closed"),
        _ALL,
    ),
    (
        "TO-ROMA",
        "Vetrina Torino Via Roma",
        "Torino",
        "Via Roma 305",
        "10123",
        45.0675,
        7.6830,
        _hours("10:00-19:30", sunday="11:00-19:00"),
        ("06-24", "closed"),
        _FLAGSHIP,
    ),
    (
        "NA-TOLEDO",
        "Vetrina Napoli Toledo",
        "Napoli",
        "Via Toledo 256",
        "80132",
        40.8428,
        14.2486,
        _hours("09:30-20:00", sunday="10:00-14:00"),
        ("09-19", "closed"),
        _FLAGSHIP,
    ),
    (
        "FI-CALZAIUOLI",
        "Vetrina Firenze Calzaiuoli",
        "Firenze",
        "Via dei Calzaiuoli 44",
        "50122",
        43.7712,
        11.2551,
        _hours("10:00-19:30", sunday="10:00-19:30"),
        ("06-24", "closed"),
        _FLAGSHIP,
    ),
    (
        "BO-INDIPENDENZA",
        "Vetrina Bologna Indipendenza",
        "Bologna",
        "Via dell'Indipendenza 28",
        "40121",
        44.4975,
        11.3440,
        _hours("10:00-19:30", sunday="11:00-19:00"),
        ("10-04", "closed"),
        _ALL,
    ),
    (
        "GE-XXSETTEMBRE",
        "Vetrina Genova XX Settembre",
        "Genova",
        "Via XX Settembre 120",
        "16121",
        44.4053,
        8.9380,
        _hours("09:30-19:30"),
        ("06-24", "closed"),
        _ALL,
    ),
    (
        "VR-MAZZINI",
        "Vetrina Verona Via Mazzini",
        "Verona",
        "Via Giuseppe Mazzini 40",
        "37121",
        45.4408,
        10.9970,
        _hours("10:00-19:30", sunday="11:00-19:00", monday="15:00-19:30"),
        ("05-21", "closed"),
        _ALL,
    ),
    (
        "VE-MERCERIE",
        "Vetrina Venezia Mercerie",
        "Venezia",
        "San Marco 715, Mercerie",
        "30124",
        45.4355,
        12.3380,
        _hours("10:00-19:30", sunday="10:00-19:30"),
        ("11-21", "closed"),
        _ALL,
    ),
    (
        "PD-ROMA",
        "Vetrina Padova",
        "Padova",
        "Via Roma 60",
        "35122",
        45.4040,
        11.8760,
        _hours("09:30-19:30", monday="15:00-19:30"),
        ("06-13", "closed"),
        _ALL,
    ),
    (
        "BG-XXSETTEMBRE",
        "Vetrina Bergamo",
        "Bergamo",
        "Via XX Settembre 50",
        "24122",
        45.6935,
        9.6680,
        _hours("09:30-19:30", sunday="10:00-19:00", monday="15:00-19:30"),
        ("08-26", "closed"),
        _ALL,
    ),
    (
        "TS-ITALIA",
        "Vetrina Trieste",
        "Trieste",
        "Corso Italia 12",
        "34122",
        45.6505,
        13.7750,
        _hours("09:30-19:30"),
        ("11-03", "closed"),
        ["click_and_collect", "returns"],
    ),
    (
        "BA-SPARANO",
        "Vetrina Bari Sparano",
        "Bari",
        "Via Sparano da Bari 87",
        "70121",
        41.1215,
        16.8700,
        _hours("09:30-13:30,16:30-20:30"),
        ("12-06", "closed"),
        _ALL,
    ),
    (
        "PA-RUGGEROSETTIMO",
        "Vetrina Palermo Ruggero Settimo",
        "Palermo",
        "Via Ruggero Settimo 74",
        "90141",
        38.1230,
        13.3560,
        _hours("09:30-13:30,16:00-20:00"),
        ("07-15", "closed"),
        _ALL,
    ),
    (
        "CT-ETNEA",
        "Vetrina Catania Via Etnea",
        "Catania",
        "Via Etnea 150",
        "95131",
        37.5070,
        15.0860,
        _hours("09:30-13:30,16:30-20:30"),
        ("02-05", "closed"),
        _ALL,
    ),
    (
        "CA-GARIBALDI",
        "Vetrina Cagliari",
        "Cagliari",
        "Via Giuseppe Garibaldi 80",
        "09127",
        39.2175,
        9.1150,
        _hours("09:30-13:30,16:30-20:00"),
        ("10-30", "closed"),
        ["click_and_collect", "returns"],
    ),
]
FLAGSHIPS = {"MI-DUOMO", "RM-CORSO", "TO-ROMA", "NA-TOLEDO", "FI-CALZAIUOLI"}


def _utc(day: str) -> datetime:
    """Midnight in Italy at the start of ``day``, as a UTC instant."""
    local = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo("Europe/Rome"))
    return local.astimezone(timezone.utc)


# name, kind, value, starts, ends (exclusive)
SALES = [
    ("Saldi invernali", "percent", 30, "2026-01-03", "2026-03-01"),
    ("Saldi estivi", "percent", 30, "2026-07-04", "2026-09-01"),
    ("Saldi invernali", "percent", 30, "2027-01-02", "2027-03-01"),
    ("Saldi estivi", "percent", 30, "2027-07-03", "2027-09-01"),
]
OUTLET = ("Outlet", "percent", 40, "2025-01-01", None)
LOYALTY = ("Promo fedeltà", "fixed", 1000, "2026-11-01", "2027-01-01")


@dataclass(frozen=True)
class DemoData:
    products: list[ProductRow]
    stores: list[StoreRow]
    stock: list[StockLine]
    reserved: list[tuple[str, str, int]]  # (store, sku, pieces held for bookings)

    @property
    def variant_count(self) -> int:
        return sum(len(p.variants) for p in self.products)


def generate(seed: int = DEFAULT_SEED) -> DemoData:
    """The demo data for ``seed``; pure: no database, no clock."""
    rng = random.Random(seed)  # noqa: S311  (a reproducible demo, not a secret)
    stores = [_store(*spec) for spec in _STORES]
    products = [_product(rng, index) for index in range(1, PRODUCTS + 1)]
    stock: list[StockLine] = []
    reserved: list[tuple[str, str, int]] = []
    for product in products:
        for variant in product.variants:
            for store in stores:
                carried = 0.75 if store.code in FLAGSHIPS else 0.5
                if rng.random() >= carried:
                    continue
                on_hand = rng.choices(range(9), weights=[4, 14, 14, 16, 16, 12, 10, 8, 6])[0]
                stock.append(StockLine(store.code, variant.sku, on_hand))
                if on_hand >= 2 and rng.random() < 0.03:
                    reserved.append((store.code, variant.sku, 1))
            online = 0 if rng.random() < 0.1 else rng.randint(1, 40)
            stock.append(StockLine(ONLINE_LOCATION, variant.sku, online))
    return DemoData(products, stores, stock, reserved)


def _store(
    code: str,
    name: str,
    city: str,
    address: str,
    cap: str,
    lat: float,
    lon: float,
    hours: dict[str, str],
    patron: tuple[str, str],
    services: Sequence[str],
) -> StoreRow:
    exceptions = {**_NATIONAL, patron[0]: patron[1]}
    return StoreRow(
        code,
        name,
        city,
        address,
        cap,
        lat,
        lon,
        {day: [] if value == "closed" else value.split(",") for day, value in hours.items()},
        {
            day: [] if value == "closed" else value.split(",")
            for day, value in sorted(exceptions.items())
        },
        tuple(sorted(services)),
    )


def _product(rng: random.Random, index: int) -> ProductRow:
    key, name_it, name_en, sizes, (low, high), materials = rng.choice(CATEGORIES)
    model = rng.choice(MODELS)
    material = rng.choice(materials)
    brand = rng.choice(BRANDS)
    code = f"VT{index:04d}"
    price = rng.randint(low, high) * 100 - rng.choice([0, 10])
    colours = sorted(rng.sample(sorted(COLOURS), rng.choice([1, 2, 2, 3])))
    promotions: list[Terms] = []
    if rng.random() < 0.25:
        promotions += [Terms(k, v, _utc(s), _utc(e), n) for n, k, v, s, e in SALES]
    if rng.random() < 0.05:
        n, k, v, s, _ = OUTLET
        promotions.append(Terms(k, v, _utc(s), None, n))
    if rng.random() < 0.08 and price > 5000:
        n, k, v, s, e = LOYALTY
        promotions.append(Terms(k, v, _utc(s), _utc(e), n))
    variants: list[VariantRow] = []
    for colour in colours:
        colour_code = COLOURS[colour][0]
        for size in sizes:
            serial = index * 100 + len(variants)
            body = f"800123{serial:06d}"
            variants.append(
                VariantRow(
                    sku=f"{code}-{colour_code}-{size}",
                    size=size,
                    colour=colour,
                    price_cents=price,
                    ean=body + str(ean_check_digit(body)),
                    promotions=tuple(promotions),
                )
            )
    material_en = MATERIALS[material]
    it = f"{name_it} {model} in {material}"
    en = f"{model} {material_en} {name_en}"
    return ProductRow(
        code=code,
        name_it=it,
        name_en=en[0].upper() + en[1:],
        category=key,
        brand=brand,
        description_it=(
            f"{it} di {brand}: realizzato in Italia, disponibile in "
            f"{', '.join(colours)}. Taglie {sizes[0]}–{sizes[-1]}."
        ),
        description_en=(
            f"{en[0].upper() + en[1:]} by {brand}, made in Italy, in "
            f"{', '.join(COLOURS[c][1] for c in colours)}. Sizes {sizes[0]}–{sizes[-1]}."
        ),
        images=tuple(f"/static/catalog/{code}-{COLOURS[c][0]}.jpg" for c in colours),
        variants=tuple(variants),
    )


async def load_demo(db: Database, seed: int = DEFAULT_SEED) -> dict[str, Written]:
    """Upsert the demo data in one transaction (idempotent: same seed, same rows)."""
    data = generate(seed)
    async with db.transaction() as session:
        written = await write_stores(session, data.stores)
        written.update(await write_catalog(session, data.products))
        resolved, problems = await resolve_stock(session, data.stock)
        # The generator only names its own SKUs and stores.
        assert not problems, problems  # noqa: S101  (a bug in the generator, not bad input)
        written.update(await write_stock(session, [r for r in resolved if r is not None]))
        variants = await ids_by(
            session, Variant.sku, Variant.id, (sku for _, sku, _ in data.reserved)
        )
        stores = await ids_by(session, Store.code, Store.id, (code for code, _, _ in data.reserved))
        table = table_of(StoreStock)
        hold = (
            table.update()
            .where(table.c.store_id == bindparam("s"), table.c.variant_id == bindparam("v"))
            .values(reserved=bindparam("r"))
        )
        await session.execute(
            hold,
            [{"s": stores[store], "v": variants[sku], "r": n} for store, sku, n in data.reserved],
        )
    written["reserved"] = Written(set=len(data.reserved))
    return written
