"""The record checks that need no database: money, dates, phones, emails, totals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.insights.world import NOW, T0, sale
from vetrina.customers.phones import normalise_phone
from vetrina.insights.records import cents, normalise_email, parse_record


def reasons(raw: object) -> list[str]:
    record, problems = parse_record(raw, now=NOW)
    assert (record is None) == bool(problems)
    return problems


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+39 333 123 4567", "+393331234567"),
        ("0039 333-1234567", "+393331234567"),
        ("333 1234567", "+393331234567"),
        ("02 1234 5678", "+390212345678"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phones_become_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12", "not a phone", "+39 333", "+1 555 0100 99999999"])
def test_bad_phones_are_refused(raw: str) -> None:
    assert normalise_phone(raw) is None


def test_email_is_case_folded_and_checked() -> None:
    assert normalise_email("  Anna.Rossi@Example.COM ") == "anna.rossi@example.com"
    assert normalise_email("anna@") is None
    assert normalise_email("anna example.com") is None


def test_money_is_exact_cents() -> None:
    assert cents("59.90") == 5990
    assert cents(Decimal("0.1")) == 10
    assert cents(60) == 6000
    assert cents("0.105") is None  # a third decimal is no till amount
    assert cents("abc") is None
    assert cents(True) is None
    record, _ = parse_record(sale("A", T0, total="0.30", unit="0.10", quantity=3), now=NOW)
    assert record is not None and record.total_cents == 30


def test_a_good_sale_parses_with_its_keys() -> None:
    record, problems = parse_record(
        sale(
            "A",
            T0,
            customer={"phone": "333 111 1111", "email": "Anna@Example.com"},
            booking_code="k7m2qx",
            staff="Giulia@Example.com",
        ),
        now=NOW,
    )
    assert problems == []
    assert record is not None
    assert record.contact.phone == "+393331111111"
    assert record.contact.email == "anna@example.com"
    assert record.booking_code == "K7M2QX"
    assert record.staff == "giulia@example.com"
    assert record.occurred_at == T0


def test_same_sale_in_another_spelling_has_the_same_digest() -> None:
    a, _ = parse_record(
        sale("A", T0, total="100.00", customer={"phone": "+39 333 1111111"}), now=NOW
    )
    b, _ = parse_record(sale("A", T0, total="100", customer={"phone": "3331111111"}), now=NOW)
    c, _ = parse_record(sale("A", T0, total="100", customer={"phone": "3331111112"}), now=NOW)
    assert a is not None and b is not None and c is not None
    assert a.digest == b.digest != c.digest


def test_negative_quantity() -> None:
    assert reasons(sale("A", T0, quantity=-1, total="-100.00")) == [
        "lines[1].quantity: -1 is not a positive quantity",
        "total: expected an amount >= 0 with at most 2 decimals",
    ]


def test_total_must_add_up_within_a_cent_per_line() -> None:
    assert reasons(sale("A", T0, total="100.01")) == []  # rounding
    assert reasons(sale("A", T0, total="100.02")) == [
        "total: 100.02 does not add up to the lines (100.00)"
    ]


def test_future_occurred_at_and_missing_offset() -> None:
    assert reasons(sale("A", NOW + timedelta(minutes=4))) == []  # a till clock drifting
    assert reasons(sale("A", NOW + timedelta(minutes=6))) == [
        f"occurred_at: {(NOW + timedelta(minutes=6)).isoformat()} is in the future"
    ]
    record = sale("A", T0)
    record["occurred_at"] = "2026-03-10T12:00:00"
    assert reasons(record) == ["occurred_at: needs a UTC offset (e.g. +01:00 or Z)"]
    record["occurred_at"] = "yesterday"
    assert reasons(record) == ["occurred_at: 'yesterday' is not an ISO 8601 date and time"]


def test_malformed_phone_and_email_are_both_reported() -> None:
    assert reasons(sale("A", T0, customer={"phone": "12ab", "email": "anna@"})) == [
        "customer.phone: '12ab' is not a valid phone number",
        "customer.email: 'anna@' is not an email address",
    ]


def test_shape_problems() -> None:
    assert reasons([]) == ["expected an object"]
    record = sale("A", T0, store=None)
    assert reasons(record) == ["store: required for a till (pos) sale"]
    assert reasons(sale("A", T0, source="shop")) == ["source: expected 'pos' or 'web'"]
    refund = sale("R", T0, type="refund")
    assert reasons(refund) == ["refund_of: required for a refund (the order_id it refunds)"]
    no_lines = sale("A", T0)
    no_lines["lines"] = []
    assert reasons(no_lines) == ["lines: expected a non-empty list of {sku, quantity, unit_price}"]
