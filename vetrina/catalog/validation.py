"""Checking one imported record and turning it into a typed row.

Every parser raises :class:`Invalid` with a message for the operator ("price: '12,5,0' is
not an amount like 49.90"); :class:`Checks` collects all of a record's problems so a bad
row is reported once, with every reason. CSV (all strings, Italian "49,90" accepted) and
JSON (numbers, lists) go through the same parsers.
"""

from __future__ import annotations

# ruff: noqa: S101  (the asserts narrow types once ``checks.ok``: every field parsed)
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from vetrina.catalog.errors import InvalidLocation
from vetrina.catalog.pricing import PromotionKind, Terms
from vetrina.catalog.stores import (
    DEFAULT_TIMEZONE,
    SERVICES,
    WEEKDAYS,
    Coordinates,
    OpeningHours,
    check_timezone,
)

T = TypeVar("T")
CATALOG_TIMEZONE = ZoneInfo("Europe/Rome")  # dates without a zone in catalog files
MAX_QUANTITY = 100_000  # pieces of one variant in one place; more is a typo or a unit mix-up
MAX_PRICE_CENTS = 100_000_000  # € 1,000,000.00
ONLINE_LOCATION = "online"
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_AMOUNT = re.compile(r"^-?\d+([.,]\d{1,2})?$")


class Invalid(ValueError):
    """One field's value cannot be used; the message says why."""


@dataclass(frozen=True)
class VariantRow:
    sku: str
    size: str
    colour: str
    price_cents: int
    ean: str | None = None
    currency: str = "EUR"
    promotions: tuple[Terms, ...] = ()


@dataclass(frozen=True)
class ProductRow:
    code: str
    name_it: str
    name_en: str
    category: str
    brand: str
    description_it: str = ""
    description_en: str = ""
    images: tuple[str, ...] = ()
    variants: tuple[VariantRow, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The product's own columns (what must agree across CSV rows of one product)."""
        return {
            "name_it": self.name_it,
            "name_en": self.name_en,
            "category": self.category,
            "brand": self.brand,
            "description_it": self.description_it,
            "description_en": self.description_en,
            "images": list(self.images),
        }


@dataclass(frozen=True)
class StoreRow:
    code: str
    name: str
    city: str
    address: str
    postal_code: str
    latitude: float
    longitude: float
    opening_hours: dict[str, list[str]]
    hours_exceptions: dict[str, list[str]] = field(default_factory=dict)
    services: tuple[str, ...] = ()
    country: str = "IT"
    timezone: str = DEFAULT_TIMEZONE
    phone: str | None = None
    active: bool = True


@dataclass(frozen=True)
class StockLine:
    """A count from an inventory or POS system: ``store`` is a store code or ``"online"``."""

    store: str
    sku: str
    on_hand: int


class Checks:
    """Collects every problem of one record: ``checks.get("price", parse_price, raw)``."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.reasons: list[str] = []

    def get(self, name: str, parse: Callable[[Any], T], value: Any) -> T | None:
        try:
            return parse(value)
        except Invalid as error:
            self.reasons.append(f"{self.prefix}{name}: {error}")
        except InvalidLocation as error:
            self.reasons.append(f"{self.prefix}{name}: {error}")
        return None

    def fail(self, reason: str) -> None:
        self.reasons.append(f"{self.prefix}{reason}")

    @property
    def ok(self) -> bool:
        return not self.reasons


# --- field parsers ---------------------------------------------------------------------


def text(max_length: int, *, required: bool = True) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise Invalid(f"must be text, got {value!r}")
        stripped = value.strip()
        if required and not stripped:
            raise Invalid("is empty")
        if len(stripped) > max_length:
            raise Invalid(f"is longer than {max_length} characters")
        return stripped

    return parse


def optional_text(max_length: int) -> Callable[[Any], str | None]:
    parse = text(max_length, required=False)
    return lambda value: parse(value) or None


def code(value: Any) -> str:
    """A SKU, product or store code: letters, digits and ``. _ / -``, no spaces."""
    result = text(64)(value)
    if not _CODE.match(result):
        raise Invalid(f"{result!r} may only hold letters, digits and . _ / -")
    return result


def amount_cents(value: Any) -> int:
    """``49.90``, ``49,90``, ``€ 49,90`` or a JSON number → 4990 cents; must be positive."""
    if isinstance(value, bool) or value is None:
        raise Invalid(f"must be an amount like 49.90, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(f"must be an amount like 49.90, got {value!r}")
        raw = str(value)
    elif isinstance(value, str):
        raw = value.strip().replace("€", "").strip()
        if not raw:
            raise Invalid("is empty")
        if not _AMOUNT.match(raw):
            raise Invalid(f"{value!r} is not an amount like 49.90")
        raw = raw.replace(",", ".")
    else:
        raise Invalid(f"must be an amount like 49.90, got {value!r}")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise Invalid(f"{value!r} is not an amount like 49.90") from None
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise Invalid(f"{value!r} has more than two decimals")
    if cents <= 0:
        raise Invalid(f"must be greater than zero, got {value!r}")
    if cents > MAX_PRICE_CENTS:
        raise Invalid(f"{value!r} is not a plausible amount")
    return int(cents)


def ean(value: Any) -> str | None:
    """An EAN-8, UPC-A, EAN-13 or GTIN-14 with a correct check digit; empty is allowed."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip().isdigit():
        raise Invalid(f"{value!r} is not made of digits")
    digits = value.strip()
    if len(digits) not in (8, 12, 13, 14):
        raise Invalid(f"{digits!r} has {len(digits)} digits (EAN has 8, 12, 13 or 14)")
    if ean_check_digit(digits[:-1]) != int(digits[-1]):
        raise Invalid(f"{digits!r} has a wrong check digit")
    return digits


def ean_check_digit(body: str) -> int:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def currency(value: Any) -> str:
    if value is None or value == "":
        return "EUR"
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise Invalid(f"{value!r} is not a three-letter currency code like EUR")
    return value.strip().upper()


def url_list(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split("|") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise Invalid(f"must be a list of URLs, got {value!r}")
    urls = []
    for item in items:
        if not isinstance(item, str) or not item.strip().startswith(("https://", "http://", "/")):
            raise Invalid(f"{item!r} is not an http(s) URL or a /path")
        urls.append(item.strip())
    return tuple(urls)


def quantity(value: Any) -> int:
    """Whole pieces, 0 to MAX_QUANTITY: ``5`` or ``"5"``; not ``-1``, ``2.5``, ``"five"``."""
    if isinstance(value, bool):
        raise Invalid(f"must be a whole number of pieces, got {value!r}")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int):
        raise Invalid(f"must be a whole number of pieces, got {value!r}")
    if value < 0:
        raise Invalid(f"cannot be negative, got {value}")
    if value > MAX_QUANTITY:
        raise Invalid(f"{value} is more than {MAX_QUANTITY} pieces; check the unit")
    return value


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return True
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"1", "true", "yes", "y", "si", "sì"}:
            return True
        if word in {"0", "false", "no", "n"}:
            return False
    raise Invalid(f"must be true or false, got {value!r}")


def moment(value: Any, *, end_of_day: bool = False) -> datetime:
    """``2026-01-05`` (a day in Italy; as an end, the whole day is included) or an ISO
    date-time (``2026-01-05T10:00:00+01:00``; without offset, Italian time) → UTC."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be a date like 2026-01-05, got {value!r}")
    raw = value.strip()
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise Invalid(f"{raw!r} is not a date like 2026-01-05") from None
        if end_of_day:
            day += timedelta(days=1)
        local = datetime.combine(day, time(0), tzinfo=CATALOG_TIMEZONE)
    else:
        try:
            local = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{raw!r} is not a date-time like 2026-01-05T10:00:00+01:00") from None
        if local.tzinfo is None:
            local = local.replace(tzinfo=CATALOG_TIMEZONE)
    return local.astimezone(ZoneInfo("UTC"))


def promotion(raw: Mapping[str, Any], list_cents: int | None) -> Terms:
    """A promotion from ``{kind, value, starts, ends?, name?}``; ``fixed`` values are amounts."""
    checks = Checks()
    kind = checks.get("kind", _promotion_kind, raw.get("kind"))
    value: int | None = None
    if kind == PromotionKind.PERCENT.value:
        value = checks.get("value", _percent, raw.get("value"))
    elif kind == PromotionKind.FIXED.value:
        value = checks.get("value", amount_cents, raw.get("value"))
        if value is not None and list_cents is not None and value >= list_cents:
            checks.fail("value: a fixed discount must be less than the price")
    starts = checks.get("starts", moment, raw.get("starts"))
    ends_raw = raw.get("ends")
    ends = None
    if ends_raw not in (None, ""):
        ends = checks.get("ends", lambda v: moment(v, end_of_day=True), ends_raw)
    if starts and ends and ends <= starts:
        checks.fail("ends: must be after starts")
    name = checks.get("name", text(120, required=False), raw.get("name"))
    if not checks.ok:
        raise Invalid("; ".join(checks.reasons))
    assert kind is not None and value is not None and starts is not None
    return Terms(kind, value, starts, ends, name or "")


def _promotion_kind(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in {k.value for k in PromotionKind}:
        return value.strip().lower()
    raise Invalid(f"must be 'percent' or 'fixed', got {value!r}")


def _percent(value: Any) -> int:
    if isinstance(value, str):
        value = value.strip().rstrip("%").strip()
        value = int(value) if value.isdigit() else value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
        raise Invalid(f"a percentage must be a whole number from 1 to 99, got {value!r}")
    return value


def coordinate(limit: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if value is None or value == "":
            raise Invalid("is empty")
        if isinstance(value, str):
            try:
                number = float(value.strip().replace(",", "."))
            except ValueError:
                raise Invalid(f"{value!r} is not a number") from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            raise Invalid(f"{value!r} is not a number")
        if not math.isfinite(number) or not -limit <= number <= limit:
            raise Invalid(f"{value!r} is not between -{limit:g} and {limit:g}")
        return number

    return parse


def postal_code(value: Any) -> str:
    result = text(10)(value)
    if not re.fullmatch(r"[A-Za-z0-9 -]{2,10}", result):
        raise Invalid(f"{result!r} is not a postal code")
    return result


def country(value: Any) -> str:
    if value is None or value == "":
        return "IT"
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        raise Invalid(f"{value!r} is not a two-letter country code like IT")
    return value.strip().upper()


def services(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split("|") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise Invalid(f"must be a list of services, got {value!r}")
    found = []
    for item in items:
        name = item.strip().lower() if isinstance(item, str) else item
        if name not in SERVICES:
            raise Invalid(f"unknown service {item!r} (known: {', '.join(sorted(SERVICES))})")
        found.append(name)
    return tuple(sorted(set(found)))


def timezone(value: Any) -> str:
    if value is None or value == "":
        return DEFAULT_TIMEZONE
    try:
        return check_timezone(str(value).strip())
    except ValueError as error:
        raise Invalid(str(error)) from None


# --- records ---------------------------------------------------------------------------


def variant_record(
    raw: Mapping[str, Any],
    checks: Checks,
    promotions: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> VariantRow | None:
    """The variant columns of a catalog record (CSV row or JSON variant object), with its
    promotions given as ``(where, {kind, value, starts, ends, name})`` pairs."""
    sku = checks.get("sku", code, raw.get("sku"))
    size = checks.get("size", text(20), raw.get("size"))
    colour = checks.get("colour", text(40), raw.get("colour"))
    price = checks.get("price", amount_cents, raw.get("price"))
    ean_value = checks.get("ean", ean, raw.get("ean"))
    money = checks.get("currency", currency, raw.get("currency"))
    terms_list: list[Terms] = []
    for where, item in promotions:
        terms = checks.get(where, lambda r: promotion(r, price), item)
        if terms is not None:
            terms_list.append(terms)
    if not checks.ok:
        return None
    assert sku and size and colour and price and money
    return VariantRow(sku, size, colour, price, ean_value, money, tuple(terms_list))


def product_record(raw: Mapping[str, Any], checks: Checks) -> ProductRow | None:
    """The product columns of a catalog record, without variants."""
    product_code = checks.get("product_code", code, raw.get("product_code"))
    name_it = checks.get("name_it", text(200), raw.get("name_it"))
    name_en = checks.get("name_en", text(200), raw.get("name_en"))
    category = checks.get("category", text(80), raw.get("category"))
    brand = checks.get("brand", text(80), raw.get("brand"))
    description_it = checks.get(
        "description_it", text(5000, required=False), raw.get("description_it")
    )
    description_en = checks.get(
        "description_en", text(5000, required=False), raw.get("description_en")
    )
    images = checks.get("images", url_list, raw.get("images"))
    if not checks.ok:
        return None
    assert product_code and name_it and name_en and category and brand
    return ProductRow(
        product_code,
        name_it,
        name_en,
        category,
        brand,
        description_it or "",
        description_en or "",
        images or (),
    )


def store_record(raw: Mapping[str, Any], checks: Checks) -> StoreRow | None:
    """A store from ``{code, name, city, address, postal_code, latitude, longitude, hours:
    {mon: "10:00-19:30", ...}, exceptions: {"12-25": "closed"}, services, ...}``."""
    store_code = checks.get("code", code, raw.get("code"))
    if store_code and store_code.lower() == ONLINE_LOCATION:
        checks.fail(f"code: {store_code!r} is reserved for the web shop's stock")
    name = checks.get("name", text(120), raw.get("name"))
    city = checks.get("city", text(80), raw.get("city"))
    address = checks.get("address", text(200), raw.get("address"))
    postal = checks.get("postal_code", postal_code, raw.get("postal_code"))
    latitude = checks.get("latitude", coordinate(90), raw.get("latitude"))
    longitude = checks.get("longitude", coordinate(180), raw.get("longitude"))
    if latitude is not None and longitude is not None:
        checks.get("location", lambda _: Coordinates(latitude, longitude), None)
    country_code = checks.get("country", country, raw.get("country"))
    if country_code == "IT" and postal and not re.fullmatch(r"\d{5}", postal):
        checks.fail(f"postal_code: {postal!r} is not an Italian CAP (five digits)")
    zone = checks.get("timezone", timezone, raw.get("timezone"))
    phone = checks.get("phone", optional_text(40), raw.get("phone"))
    offered = checks.get("services", services, raw.get("services"))
    active = checks.get("active", boolean, raw.get("active"))
    hours_raw = raw.get("hours") or {}
    exceptions_raw = raw.get("exceptions") or {}
    hours: OpeningHours | None = None
    if not isinstance(hours_raw, Mapping):
        checks.fail(f"hours: must map weekdays ({', '.join(WEEKDAYS)}) to hours")
    elif not isinstance(exceptions_raw, Mapping):
        checks.fail("exceptions: must map days (YYYY-MM-DD or MM-DD) to hours")
    else:
        try:
            hours = OpeningHours.from_json(hours_raw, exceptions_raw, zone or DEFAULT_TIMEZONE)
        except ValueError as error:
            checks.fail(f"hours: {error}")
        else:
            if not any(hours.weekly) and not hours.exceptions:
                checks.fail("hours: the store is never open (give hours, or active=false)")
    if not checks.ok:
        return None
    assert store_code and name and city and address and postal and hours
    assert latitude is not None and longitude is not None
    weekly, exceptions = hours.to_json()
    return StoreRow(
        store_code,
        name,
        city,
        address,
        postal,
        latitude,
        longitude,
        weekly,
        exceptions,
        offered or (),
        country_code or "IT",
        zone or DEFAULT_TIMEZONE,
        phone,
        True if active is None else active,
    )


def stock_record(raw: Any, checks: Checks) -> StockLine | None:
    """``{store, sku, on_hand}``: the same rules for files and for the HTTP feed."""
    if not isinstance(raw, Mapping):
        checks.fail("must be an object with store, sku and on_hand")
        return None
    unknown = sorted(set(raw) - {"store", "sku", "on_hand"})
    if unknown:
        checks.fail(f"unknown field {unknown[0]!r} (expected store, sku, on_hand)")
    store = checks.get("store", code, raw.get("store"))
    sku = checks.get("sku", code, raw.get("sku"))
    if "on_hand" not in raw:
        checks.fail("on_hand: is missing")
        on_hand = None
    else:
        on_hand = checks.get("on_hand", quantity, raw.get("on_hand"))
    if not checks.ok:
        return None
    assert store and sku and on_hand is not None
    return StockLine(ONLINE_LOCATION if store.lower() == ONLINE_LOCATION else store, sku, on_hand)
