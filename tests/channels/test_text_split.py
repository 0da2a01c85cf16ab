"""Splitting long replies where a reader would."""

import pytest

from channels.text import split_text, utf8_bytes


def test_short_text_is_one_part() -> None:
    assert split_text("  Ciao!  ", 10) == ["Ciao!"]
    assert split_text("", 10) == []


def test_prefers_paragraphs_then_sentences() -> None:
    text = "Prima frase. Seconda frase.\n\nNuovo paragrafo qui."
    assert split_text(text, 40) == ["Prima frase. Seconda frase.", "Nuovo paragrafo qui."]
    assert split_text("Uno due tre. Quattro cinque sei. Sette.", 20) == [
        "Uno due tre.", "Quattro cinque sei.", "Sette.",
    ]


def test_question_and_exclamation_marks_and_quotes_end_sentences() -> None:
    assert split_text('Davvero?" Sì! Certo.', 12) == ['Davvero?"', "Sì! Certo."]


def test_falls_back_to_spaces_then_a_hard_cut() -> None:
    assert split_text("parola " * 5, 14) == ["parola parola", "parola parola", "parola"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_byte_limit_counts_utf8() -> None:
    parts = split_text("è" * 30, 10, utf8_bytes)
    assert parts == ["è" * 5] * 6
    assert all(utf8_bytes(p) <= 10 for p in parts)


@pytest.mark.parametrize("limit", [1, 7, 50, 160])
def test_nothing_is_lost_and_no_part_is_too_long(limit: int) -> None:
    text = "La consegna avviene in 2-3 giorni lavorativi. Il reso è gratuito!\nA presto. " * 9
    parts = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
