"""Reading dates and times in Italian and English (no database)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from vetrina.bookings.errors import InvalidDate
from vetrina.bookings.when import DayPart, WhenAsked, read_when, without_when

# Monday 23 November 2026, 21:40 in Milan.
NOW = datetime(2026, 11, 23, 21, 40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("domani alle 17", WhenAsked(date(2026, 11, 24), time(17, 0))),
        ("sabato pomeriggio", WhenAsked(date(2026, 11, 28), None, DayPart.AFTERNOON)),
        ("next Tuesday morning", WhenAsked(date(2026, 11, 24), None, DayPart.MORNING)),
        ("martedì prossimo alle 11", WhenAsked(date(2026, 11, 24), time(11, 0))),
        ("il 5 dicembre alle 11:30", WhenAsked(date(2026, 12, 5), time(11, 30))),
        ("giovedì 26", WhenAsked(date(2026, 11, 26))),
        ("tomorrow at 5pm", WhenAsked(date(2026, 11, 24), time(17, 0))),
        ("dopodomani mattina", WhenAsked(date(2026, 11, 25), None, DayPart.MORNING)),
        ("5/12 alle 18.30", WhenAsked(date(2026, 12, 5), time(18, 30))),  # day first
        ("December 24th at 3pm", WhenAsked(date(2026, 12, 24), time(15, 0))),
        ("this saturday at noon", WhenAsked(date(2026, 11, 28), time(12, 0))),
        ("alle 5 del pomeriggio", WhenAsked(None, time(17, 0), DayPart.AFTERNOON)),
        ("alle 5", WhenAsked(None, time(17, 0))),  # shops are not open at 5 am
        ("12 gennaio", WhenAsked(date(2027, 1, 12))),  # January is next year's
        ("lunedì", WhenAsked(date(2026, 11, 30))),  # said on a Monday: the next one
        ("ieri alle 17", WhenAsked(date(2026, 11, 22), time(17, 0))),  # the caller refuses it
        (
            "vorrei prenotare il trench nero M a Milano domani alle 17",
            WhenAsked(date(2026, 11, 24), time(17, 0)),
        ),
        ("il trench costa 189.90", WhenAsked()),  # a price is not a time
        ("avete il trench nero in M?", WhenAsked()),
    ],
)
def test_dates_and_times_in_both_languages(text: str, expected: WhenAsked) -> None:
    assert read_when(text, NOW) == expected


@pytest.mark.parametrize(
    "text",
    ["31 febbraio", "il 30 febbraio alle 10", "February 30th", "31/4", "alle 25", "at 13pm",
     "lunedì 26"],  # 26 November 2026 is a Thursday
)
def test_impossible_dates_are_refused_not_guessed(text: str) -> None:
    with pytest.raises(InvalidDate):
        read_when(text, NOW)


def test_29_february_is_the_next_one_that_exists() -> None:
    assert read_when("29 febbraio", NOW).day == date(2028, 2, 29)


def test_without_when_keeps_the_rest_and_its_case() -> None:
    assert without_when("il trench nero M a Milano Domani alle 17") == "il trench nero M a Milano"
    assert without_when("the white sneakers 42 next Tuesday morning") == "the white sneakers 42"
