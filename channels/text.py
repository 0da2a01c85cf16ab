"""Splitting a long reply into parts a provider accepts, at sentence boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable

Measure = Callable[[str], int]

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"[.!?…](?:[\"'”’)\]]*)(?=\s)")
_LINE = re.compile(r"\n")
_SPACE = re.compile(r"\s")


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _longest_prefix(text: str, limit: int, measure: Measure) -> int:
    """The largest ``end`` with ``measure(text[:end]) <= limit``."""
    if measure is len:
        return min(len(text), limit)
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _last_match_end(pattern: re.Pattern[str], text: str, start: int) -> int | None:
    best = None
    for match in pattern.finditer(text):
        if match.end() >= start:
            best = match.end()
    return best


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """``text`` in parts of at most ``limit`` (as ``measure`` counts), cut where a reader would.

    Preference: a paragraph break, the end of a sentence, a line break, a space; a word
    longer than ``limit`` is cut where it must. No part is empty.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if measure(rest) <= limit:
            parts.append(rest)
            break
        end = max(1, _longest_prefix(rest, limit, measure))
        window = rest[:end]
        cut = None
        for pattern, earliest in (
            (_PARAGRAPH, end // 2),
            (_SENTENCE_END, end // 3),
            (_LINE, end // 3),
            (_SPACE, end // 3),
        ):
            cut = _last_match_end(pattern, window, earliest)
            if cut:
                break
        cut = cut or end
        part = rest[:cut].rstrip()
        if part:
            parts.append(part)
        rest = rest[cut:].lstrip()
    return parts
