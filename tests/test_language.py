"""Language detection used by the inbox and the language slot."""

import pytest

from vetrina.language import detect_language, normalise_language


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("ciao", None, "it"),
        ("hello", None, "en"),
        ("vorrei sapere se avete il trench nero", None, "it"),
        ("do you have the black trench in size M", None, "en"),
        ("do you have the black trench in size M", "it", "en"),  # clearly English: switch
        ("trench", "it", None),  # one English product word does not switch an Italian
        ("ok", "it", None),
        ("/ask_capabilities", None, None),
        ("[story mention]", None, None),  # a channel placeholder, not the customer's words
        ("[image]", "it", None),
        ("", None, None),
    ],
)
def test_detect_language(text: str, current: str | None, expected: str | None) -> None:
    assert detect_language(text, current) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("it-IT", "it"), ("EN", "en"), ("en_GB", "en"), ("fr", None), (None, None), (3, None)],
)
def test_normalise_language(value: object, expected: str | None) -> None:
    assert normalise_language(value) == expected


def test_a_booking_code_never_decides_the_language() -> None:
    """Every booking code (random letters and digits) leaves the words to decide: CI once
    answered "cancel booking WXRJA9" in Italian because of the code's letters."""
    import random

    from vetrina.bookings.calendar import CODE_ALPHABET, CODE_LENGTH

    chance = random.Random(7)
    codes = ["WXRJA9", "WXRJAB", "ZZZZ22"] + [
        "".join(chance.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)) for _ in range(300)
    ]
    for code in codes:
        assert detect_language(f"cancel booking {code}") == "en", code
        assert detect_language(f"annulla la prenotazione {code}") == "it", code
        assert detect_language(code) is None, code
