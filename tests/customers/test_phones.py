"""Phone numbers to E.164 with ``phonenumbers``: Italian, foreign and malformed ones."""

from __future__ import annotations

import pytest

from vetrina.customers.phones import find_mobile, normalise_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+39 333 123 4567", "IT", "+393331234567"),
        ("0039 333-1234567", "IT", "+393331234567"),
        ("333 1234567", "IT", "+393331234567"),
        ("02 1234 5678", "IT", "+390212345678"),  # a Milan landline is a valid number
        ("+41 79 123 45 67", "IT", "+41791234567"),  # Swiss mobile
        ("+33 6 12 34 56 78", "IT", "+33612345678"),  # French mobile
        ("+1 (650) 253-0000", "IT", "+16502530000"),
        ("079 123 45 67", "CH", "+41791234567"),  # the region decides a local number
        ("06 12 34 56 78", "FR", "+33612345678"),
    ],
)
def test_valid_numbers_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12",
        "not a phone",
        "+39 333",  # too short
        "+39 333 1234567890",  # too long
        "+44 7700 900123",  # reserved for drama, never assigned
        "+999 1234 5678",  # no such country code
        "333 1234567 ext",  # letters in the number
    ],
)
def test_malformed_numbers_are_refused(raw: str) -> None:
    assert normalise_phone(raw) is None


def test_a_local_number_depends_on_the_region() -> None:
    # Italian mobile digits are no Swiss number.
    assert normalise_phone("333 1234567", "IT") == "+393331234567"
    assert normalise_phone("333 1234567", "CH") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("il mio numero è +39 333 1234567, grazie", "+393331234567"),
        ("scrivimi al 3331234567", "+393331234567"),
        ("mon portable: +33 6 12 34 56 78", "+33612345678"),
        ("WhatsApp +41 79 123 45 67 bitte", "+41791234567"),
        ("chiamate lo 02 1234 5678", None),  # a landline gets no WhatsApp code
        ("ordine 12345, taglia 42", None),
        (None, None),
    ],
)
def test_mobile_numbers_found_in_free_text(text: str | None, expected: str | None) -> None:
    assert find_mobile(text) == expected
