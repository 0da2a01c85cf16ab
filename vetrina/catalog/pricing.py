"""The price of a variant at a moment: list price, the promotion that applies, the final price.

One pure function, :func:`quote`, used by every channel (chat, website, store), so a
shopper is quoted the same amount everywhere. Rules:

- a promotion is active from ``starts_at`` (inclusive) to ``ends_at`` (exclusive; ``None``
  means open-ended);
- ``percent`` takes ``value`` per cent off (rounded half up to the cent); ``fixed`` takes
  ``value`` cents off, never below zero;
- promotions do not stack: when several are active, the one that gives the customer the
  lowest price wins (ties: the one ending first, so "ends soon" is what we show).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class PromotionKind(str, enum.Enum):
    PERCENT = "percent"  # value: per cent off, 1–99
    FIXED = "fixed"  # value: cents off


class PromotionLike(Protocol):
    """What :func:`quote` reads from a promotion: the ORM row and :class:`Terms` both fit."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> int: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Terms:
    """A promotion as plain data (what a quote carries and an importer produces)."""

    kind: str
    value: int
    starts_at: datetime
    ends_at: datetime | None = None
    name: str = ""

    @classmethod
    def of(cls, promotion: PromotionLike) -> Terms:
        return cls(
            PromotionKind(promotion.kind).value,
            promotion.value,
            promotion.starts_at,
            promotion.ends_at,
            promotion.name,
        )


@dataclass(frozen=True)
class Quote:
    list_cents: int
    final_cents: int
    currency: str = "EUR"
    promotion: Terms | None = None

    @property
    def discount_cents(self) -> int:
        return self.list_cents - self.final_cents

    @property
    def on_sale(self) -> bool:
        return self.final_cents < self.list_cents


def is_active(promotion: PromotionLike, at: datetime) -> bool:
    _aware(at)
    if at < promotion.starts_at:
        return False
    return promotion.ends_at is None or at < promotion.ends_at


def discounted(list_cents: int, promotion: PromotionLike) -> int:
    """The price after ``promotion`` alone (whether or not it is active)."""
    kind = PromotionKind(promotion.kind)
    if kind is PromotionKind.PERCENT:
        off = (list_cents * promotion.value + 50) // 100
    else:
        off = promotion.value
    return max(0, list_cents - off)


def quote(
    list_cents: int,
    promotions: Iterable[PromotionLike],
    at: datetime,
    currency: str = "EUR",
) -> Quote:
    """The price a customer pays at ``at`` (timezone-aware): the best active promotion wins."""
    _aware(at)
    best: tuple[int, datetime | None, PromotionLike] | None = None
    for promotion in promotions:
        if not is_active(promotion, at):
            continue
        price = discounted(list_cents, promotion)
        if best is None or _better(price, promotion.ends_at, best[0], best[1]):
            best = (price, promotion.ends_at, promotion)
    if best is None or best[0] >= list_cents:
        return Quote(list_cents, list_cents, currency)
    return Quote(list_cents, best[0], currency, Terms.of(best[2]))


def format_price(cents: int, currency: str = "EUR", language: str = "it") -> str:
    """``49,90 €`` in Italian, ``€49.90`` in English: the one way every channel writes money."""
    units, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    symbol = "€" if currency == "EUR" else currency + " "
    if language == "it":
        grouped = f"{units:,}".replace(",", ".")
        return f"{sign}{grouped},{rest:02d} {symbol.strip()}"
    return f"{sign}{symbol}{units:,}.{rest:02d}"


def _better(price: int, ends: datetime | None, best_price: int, best_ends: datetime | None) -> bool:
    if price != best_price:
        return price < best_price
    if ends is None:
        return False
    return best_ends is None or ends < best_ends


def _aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("prices are computed at a timezone-aware moment, got a naive datetime")
