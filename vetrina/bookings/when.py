"""When a shopper wants to come, from what they write in Italian or English.

"domani alle 17", "sabato pomeriggio", "next Tuesday morning", "il 5 dicembre alle 11:30",
"giovedì 26", "tomorrow at 5pm". The day phrase is read by :mod:`dateparser` (a
well-kept library that knows Italian and English month and day names, relative days and
"next …"); the time of day and the part of the day ("pomeriggio", "morning") are read here
with small patterns, because dateparser drops "alle 17" and does not know "pomeriggio".

Two things dateparser would silently get wrong are caught first: a date that does not
exist ("31 febbraio" → :class:`~vetrina.bookings.errors.InvalidDate`, so the bot can say
so instead of "I did not understand") and day-first numeric dates ("5/12" is the 5th of
December here). Whether the moment is in the past, or the store is open then, is for the
caller: this module only reads the words.
"""

from __future__ import annotations

import calendar
import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import dateparser

from vetrina.bookings.errors import InvalidDate


class DayPart(str, enum.Enum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"

    @property
    def hours(self) -> tuple[time, time]:
        """The local wall-clock window [from, to) that the words mean."""
        return _PART_HOURS[self]


_PART_HOURS = {
    DayPart.MORNING: (time(8, 0), time(13, 0)),
    DayPart.AFTERNOON: (time(13, 0), time(18, 0)),
    DayPart.EVENING: (time(17, 30), time(23, 0)),
}


@dataclass(frozen=True)
class WhenAsked:
    """What the words say; any part may be missing ("alle 17": no day; "sabato": no time)."""

    day: date | None = None
    at: time | None = None
    part: DayPart | None = None

    @property
    def empty(self) -> bool:
        return self.day is None and self.at is None and self.part is None


MONTHS = {
    # Italian
    "gennaio": 1, "febbraio": 2, "marzo": 3, "aprile": 4, "maggio": 5, "giugno": 6,
    "luglio": 7, "agosto": 8, "settembre": 9, "ottobre": 10, "novembre": 11, "dicembre": 12,
    # English
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
WEEKDAYS = (
    "lunedì|lunedi|martedì|martedi|mercoledì|mercoledi|giovedì|giovedi|venerdì|venerdi|"
    "sabato|domenica|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
)
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th|°|º)?"

_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}}){_ORD}\s+(?:di\s+|of\s+)?({_MONTH_NAMES})\b(?:\s+(\d{{4}}))?"
)
_MONTH_DAY = re.compile(rf"\b({_MONTH_NAMES})\s+(\d{{1,2}}){_ORD}\b(?:,?\s+(\d{{4}}))?")
_NUMERIC = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b")
_WEEKDAY = re.compile(
    rf"\b(?:(next|this|questo|questa|il\s+prossimo|la\s+prossima|prossimo|prossima)\s+)?"
    rf"({WEEKDAYS})\b(?:\s+(prossimo|prossima|next|(\d{{1,2}}){_ORD}(?!\s*[:.]\d)))?"
)
_RELATIVE = re.compile(
    r"\b(dopodomani|day after tomorrow|domani|tomorrow|oggi|today|stasera|tonight|ieri|yesterday)\b"
)
_RELATIVE_DAYS = {
    "oggi": 0, "today": 0, "stasera": 0, "tonight": 0, "domani": 1, "tomorrow": 1,
    "dopodomani": 2, "day after tomorrow": 2, "ieri": -1, "yesterday": -1,
}  # fmt: skip

# "alle 17", "alle 17:30", "ore 11", "at 5pm", "at 17.30", "5 pm", "17:30", "h 18".
_TIME_WORD = re.compile(
    r"\b(?:alle(?:\s+ore)?|all'|ore|verso\s+le|dalle|at|around|from|h)\s*"
    r"(\d{1,2})(?:\s*[:.]\s*(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?(?![\d/])"
)
_TIME_BARE = re.compile(r"\b(\d{1,2})\s*[:.]\s*(\d{2})\s*(am|pm)?\b|\b(\d{1,2})\s*(am|pm)\b")
_NOON = re.compile(r"\b(mezzogiorno|noon|midday)\b")

_PARTS = (
    (re.compile(r"\b(mattina|mattino|mattinata|morning)\b"), DayPart.MORNING),
    (re.compile(r"\b(pomeriggio|afternoon)\b"), DayPart.AFTERNOON),
    (re.compile(r"\b(sera|serata|stasera|evening|tonight)\b"), DayPart.EVENING),
)


def read_when(text: str, now: datetime) -> WhenAsked:
    """The day, time and part of the day in ``text``; ``now`` is the store's local time.

    Raises :class:`InvalidDate` for a date or time that cannot exist ("31 febbraio",
    "alle 25").
    """
    lowered = " ".join(text.lower().replace("’", "'").split())
    today = now.date()
    at, lowered = _read_time(lowered)
    part = next((p for pattern, p in _PARTS if pattern.search(lowered)), None)
    if at is not None and at.hour < 12 and part in (DayPart.AFTERNOON, DayPart.EVENING):
        at = time(at.hour + 12, at.minute)  # "alle 5 del pomeriggio"
    elif at is not None and 1 <= at.hour <= 7 and part is None:
        at = time(at.hour + 12, at.minute)  # "alle 5": nobody tries clothes on at dawn
    return WhenAsked(_read_day(lowered, today), at, part)


def _read_time(text: str) -> tuple[time | None, str]:
    match = _TIME_WORD.search(text)
    if match:
        hour, minute, meridiem = match.group(1), match.group(2), match.group(3)
    elif (bare := _TIME_BARE.search(text)) is not None:
        match = bare
        if bare.group(1):
            hour, minute, meridiem = bare.group(1), bare.group(2), bare.group(3)
            if int(hour) > 23 or int(minute) > 59:  # "19.90" is a price, not a time
                return None, text
        else:
            hour, minute, meridiem = bare.group(4), None, bare.group(5)
    elif (noon := _NOON.search(text)) is not None:
        return time(12, 0), text[: noon.start()] + text[noon.end():]
    else:
        return None, text
    h, m = int(hour), int(minute or 0)
    if meridiem:
        if not 1 <= h <= 12:
            raise InvalidDate(f"{match.group(0).strip()!r} is not a time of day")
        h = h % 12 + (12 if meridiem.startswith("p") else 0)
    if h > 23 or m > 59:
        raise InvalidDate(f"{match.group(0).strip()!r} is not a time of day")
    return time(h, m), text[: match.start()] + " " + text[match.end():]


def _checked(year: int, month: int, day: int, said: str) -> date:
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise InvalidDate(f"{said!r} is not a real date")
    return date(year, month, day)


def _next_year_if_past(year: int | None, month: int, day: int, today: date, said: str) -> date:
    if year is not None:
        return _checked(year, month, day, said)
    if month == 2 and day == 29:  # the next 29 February, when there is one
        for y in range(today.year, today.year + 8):
            if calendar.isleap(y) and date(y, 2, 29) >= today:
                return date(y, 2, 29)
    candidate = _checked(today.year, month, day, said)
    return candidate if candidate >= today else _checked(today.year + 1, month, day, said)


def _year(raw: str | None) -> int | None:
    if raw is None:
        return None
    value = int(raw)
    return value + 2000 if value < 100 else value


def _parse(phrase: str, today: date) -> date | None:
    base = datetime.combine(today, time(12, 0))
    parsed = dateparser.parse(
        phrase,
        languages=["it", "en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": base,
            "DATE_ORDER": "DMY",
        },
    )
    return parsed.date() if parsed is not None else None


def _read_day(text: str, today: date) -> date | None:
    if (m := _DAY_MONTH.search(text)) is not None:
        month = MONTHS[m.group(2)]
        return _next_year_if_past(_year(m.group(3)), month, int(m.group(1)), today, m.group(0))
    if (m := _MONTH_DAY.search(text)) is not None:
        month = MONTHS[m.group(1)]
        return _next_year_if_past(_year(m.group(3)), month, int(m.group(2)), today, m.group(0))
    if (m := _NUMERIC.search(text)) is not None:
        day, month = int(m.group(1)), int(m.group(2))
        return _next_year_if_past(_year(m.group(3)), month, day, today, m.group(0))
    if (m := _RELATIVE.search(text)) is not None:
        return today + timedelta(days=_RELATIVE_DAYS[m.group(1)])
    if (m := _WEEKDAY.search(text)) is not None:
        weekday = m.group(2).replace("ì", "i")
        found = _parse(weekday, today)
        if found is None:
            return None
        if found <= today:  # "sabato" said on a Saturday means the next one
            found += timedelta(days=7)
        if m.group(4):  # "giovedì 26": the day number decides, the name must agree
            number = int(m.group(4))
            for offset in range(62):
                candidate = today + timedelta(days=offset)
                if candidate.day == number:
                    if candidate.weekday() != found.weekday():
                        raise InvalidDate(f"{m.group(0)!r}: that day is not a {m.group(2)}")
                    return candidate
            raise InvalidDate(f"{m.group(0)!r} is not a real date")
        return found
    return None


def without_when(text: str) -> str:
    """``text`` without its dates, times and parts of the day, so that "alle 17" is not
    read as a size 17 by the product resolver. The rest keeps its case ("M" is a size)."""
    cleaned = " ".join(text.replace("’", "'").split())
    for pattern in _ALL_PATTERNS:
        cleaned = pattern.sub(" ", cleaned)
    return " ".join(cleaned.split())


_ALL_PATTERNS = tuple(
    re.compile(p.pattern, re.IGNORECASE)
    for p in (
        _TIME_WORD, _TIME_BARE, _NOON, _DAY_MONTH, _MONTH_DAY, _NUMERIC, _RELATIVE, _WEEKDAY,
        *(part for part, _ in _PARTS),
    )
)
