"""The "Order Completed" record: parsing and the checks that need no database.

A record (JSON object, or a CSV row turned into one by :mod:`vetrina.insights.importing`)::

    {"order_id": "T-1001", "type": "order", "occurred_at": "2026-11-20T17:42:00+01:00",
     "source": "pos", "store": "MI-DUOMO", "staff": "giulia@example.com",
     "customer": {"shop_account": "u-1", "loyalty_id": "L77", "phone": "+39 333 1234567",
                  "email": "Anna@Example.com"},
     "booking_code": "K7M2QX", "coupon": "WELCOME10", "currency": "EUR",
     "lines": [{"sku": "VT0001-NER-42", "quantity": 1, "unit_price": "59.90"}],
     "total": "59.90"}

A refund has ``"type": "refund"`` and ``"refund_of": <order_id of the same source>``.
Amounts are decimal strings or JSON numbers in the currency's units and become integer
cents; JSON is read with ``parse_float=Decimal`` so no float ever touches money.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from vetrina.customers.phones import normalise_phone

SOURCES = ("pos", "web")
KINDS = ("order", "refund")
MAX_LINES = 200
# Clocks of tills drift: a sale a few minutes "in the future" is a clock, not a typo.
FUTURE_SKEW = timedelta(minutes=5)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_BOOKING_CODE = re.compile(r"^[A-Z0-9]{4,12}$")


def normalise_email(raw: str) -> str | None:
    """Case-folded address, or None when it is not shaped like one."""
    value = raw.strip()
    return value.casefold() if _EMAIL.match(value) and len(value) <= 254 else None


def _money(amount_cents: int) -> str:
    sign = "-" if amount_cents < 0 else ""
    whole, part = divmod(abs(amount_cents), 100)
    return f"{sign}{whole}.{part:02d}"


def cents(value: Any) -> int | None:
    """Exact cents from ``"59.90"``, ``59.9`` (Decimal from the JSON parser) or ``60``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal, float)):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    scaled = amount * 100
    if scaled != scaled.to_integral_value():
        return None  # more than two decimals: not an amount a till prints
    return int(scaled)


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class Contact:
    shop_account: str | None = None
    loyalty_id: str | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.shop_account or self.loyalty_id or self.phone or self.email)


@dataclass(frozen=True)
class OrderRecord:
    order_id: str
    kind: str
    refund_of: str | None
    occurred_at: datetime
    source: str
    store: str | None
    staff: str | None
    contact: Contact
    booking_code: str | None
    coupon: str | None
    currency: str
    lines: tuple[Line, ...]
    total_cents: int
    digest: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.order_id)


def _text(record: Mapping[str, Any], name: str, limit: int, reasons: list[str]) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        reasons.append(f"{name}: expected text")
        return None
    value = value.strip()
    if len(value) > limit:
        reasons.append(f"{name}: longer than {limit} characters")
        return None
    return value or None


def _occurred_at(value: Any, now: datetime, reasons: list[str]) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        reasons.append("occurred_at: required, ISO 8601 with an offset")
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        reasons.append(f"occurred_at: {value[:40]!r} is not an ISO 8601 date and time")
        return None
    if when.tzinfo is None:
        reasons.append("occurred_at: needs a UTC offset (e.g. +01:00 or Z)")
        return None
    when = when.astimezone(timezone.utc)
    if when > now + FUTURE_SKEW:
        reasons.append(f"occurred_at: {value[:40]} is in the future")
        return None
    return when


def _contact(value: Any, reasons: list[str], region: str) -> Contact:
    if value is None:
        return Contact()
    if not isinstance(value, Mapping):
        reasons.append("customer: expected an object")
        return Contact()
    shop = _text(value, "shop_account", 200, reasons)
    loyalty = _text(value, "loyalty_id", 64, reasons)
    phone = email = None
    raw_phone = _text(value, "phone", 40, reasons)
    if raw_phone is not None:
        phone = normalise_phone(raw_phone, region)
        if phone is None:
            reasons.append(f"customer.phone: {raw_phone!r} is not a valid phone number")
    raw_email = _text(value, "email", 254, reasons)
    if raw_email is not None:
        email = normalise_email(raw_email)
        if email is None:
            reasons.append(f"customer.email: {raw_email!r} is not an email address")
    return Contact(shop, loyalty, phone, email)


def _lines(value: Any, reasons: list[str]) -> tuple[Line, ...]:
    if not isinstance(value, list) or not value:
        reasons.append("lines: expected a non-empty list of {sku, quantity, unit_price}")
        return ()
    if len(value) > MAX_LINES:
        reasons.append(f"lines: at most {MAX_LINES} lines per order")
        return ()
    lines: list[Line] = []
    for number, raw in enumerate(value, start=1):
        if not isinstance(raw, Mapping):
            reasons.append(f"lines[{number}]: expected an object")
            continue
        sku = _text(raw, "sku", 64, reasons)
        quantity = raw.get("quantity")
        if isinstance(quantity, str) and quantity.strip().lstrip("-").isdigit():
            quantity = int(quantity.strip())
        if isinstance(quantity, Decimal) and quantity == quantity.to_integral_value():
            quantity = int(quantity)
        price = cents(raw.get("unit_price"))
        bad = False
        if sku is None:
            reasons.append(f"lines[{number}].sku: required")
            bad = True
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            reasons.append(f"lines[{number}].quantity: expected a whole number")
            bad = True
        elif quantity <= 0:
            reasons.append(f"lines[{number}].quantity: {quantity} is not a positive quantity")
            bad = True
        if price is None or price < 0:
            reasons.append(
                f"lines[{number}].unit_price: expected an amount >= 0 with at most 2 decimals"
            )
            bad = True
        if not bad and sku is not None and isinstance(quantity, int) and price is not None:
            lines.append(Line(sku, quantity, price))
    return tuple(lines)


def digest_of(record: OrderRecord) -> str:
    """SHA-256 of the normalised record: the same sale sent as JSON or CSV, with "59.9" or
    59.90, a phone with or without spaces, has the same digest."""
    contact = record.contact
    fields = [
        record.order_id,
        record.kind,
        record.refund_of,
        record.occurred_at.isoformat(),
        record.source,
        record.store,
        record.staff,
        contact.shop_account,
        contact.loyalty_id,
        contact.phone,
        contact.email,
        record.booking_code,
        record.coupon,
        record.currency,
        [[line.sku, line.quantity, line.unit_price_cents] for line in record.lines],
        record.total_cents,
    ]
    canonical = json.dumps(fields, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_record(
    raw: Any, *, now: datetime, region: str = "IT", tolerance_cents: int = 1
) -> tuple[OrderRecord | None, list[str]]:
    """The record, or None with every reason it is bad (all of them, not the first)."""
    if not isinstance(raw, Mapping):
        return None, ["expected an object"]
    reasons: list[str] = []
    order_id = _text(raw, "order_id", 64, reasons)
    if order_id is None and not reasons:
        reasons.append("order_id: required")
    kind = raw.get("type") or "order"
    if kind not in KINDS:
        reasons.append(f"type: {str(kind)[:20]!r} is not 'order' or 'refund'")
    refund_of = _text(raw, "refund_of", 64, reasons)
    if kind == "refund" and refund_of is None:
        reasons.append("refund_of: required for a refund (the order_id it refunds)")
    if kind == "order" and refund_of is not None:
        reasons.append("refund_of: only a refund refers to another order")
    occurred_at = _occurred_at(raw.get("occurred_at"), now, reasons)
    source = raw.get("source")
    if source not in SOURCES:
        reasons.append("source: expected 'pos' or 'web'")
    store = _text(raw, "store", 32, reasons)
    if source == "pos" and store is None:
        reasons.append("store: required for a till (pos) sale")
    staff = _text(raw, "staff", 254, reasons)
    if staff is not None:
        staff = normalise_email(staff) or staff.casefold()
    contact = _contact(raw.get("customer"), reasons, region)
    booking_code = _text(raw, "booking_code", 12, reasons)
    if booking_code is not None:
        booking_code = booking_code.upper()
        if not _BOOKING_CODE.match(booking_code):
            reasons.append(f"booking_code: {booking_code!r} is not a booking code")
    coupon = _text(raw, "coupon", 64, reasons)
    currency = (_text(raw, "currency", 3, reasons) or "EUR").upper()
    if not _CURRENCY.match(currency):
        reasons.append(f"currency: {currency!r} is not an ISO 4217 code")
    lines = _lines(raw.get("lines"), reasons)
    total = cents(raw.get("total"))
    if total is None or total < 0:
        reasons.append("total: expected an amount >= 0 with at most 2 decimals")
    elif lines and not any(r.startswith("lines") for r in reasons):
        expected = sum(line.quantity * line.unit_price_cents for line in lines)
        # A till may round each line: allow a cent per line, never more.
        if abs(expected - total) > tolerance_cents * len(lines):
            reasons.append(
                f"total: {_money(total)} does not add up to the lines ({_money(expected)})"
            )
    if reasons:
        return None, reasons
    assert order_id is not None and occurred_at is not None and total is not None  # noqa: S101
    record = OrderRecord(
        order_id=order_id,
        kind=str(kind),
        refund_of=refund_of,
        occurred_at=occurred_at,
        source=str(source),
        store=store,
        staff=staff,
        contact=contact,
        booking_code=booking_code,
        coupon=coupon,
        currency=currency,
        lines=lines,
        total_cents=total,
        digest="",
    )
    return replace(record, digest=digest_of(record)), []
