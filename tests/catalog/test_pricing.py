"""One price for every channel: promotions by time window, best one for the customer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vetrina.catalog.errors import UnknownSku
from vetrina.catalog.pricing import Terms, format_price, quote
from vetrina.catalog.products import price_of
from vetrina.storage.database import Database

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def promo(
    kind: str,
    value: int,
    starts: datetime = NOW - DAY,
    ends: datetime | None = NOW + DAY,
    name: str = "",
) -> Terms:
    return Terms(kind, value, starts, ends, name)


def test_no_promotion_is_the_list_price() -> None:
    q = quote(12990, [], NOW)
    assert (q.list_cents, q.final_cents, q.promotion, q.on_sale) == (12990, 12990, None, False)


def test_percentage_rounds_half_up_to_the_cent() -> None:
    assert quote(12990, [promo("percent", 20)], NOW).final_cents == 10392
    # 15 % of 9.99 is 1.4985 → 1.50 off
    assert quote(999, [promo("percent", 15)], NOW).final_cents == 849


def test_fixed_amount_off_and_never_below_zero() -> None:
    assert quote(12990, [promo("fixed", 1000)], NOW).final_cents == 11990
    assert quote(500, [promo("fixed", 1000)], NOW).final_cents == 0


def test_expired_and_future_promotions_do_not_apply() -> None:
    expired = promo("percent", 50, NOW - 10 * DAY, NOW - DAY)
    future = promo("percent", 50, NOW + DAY, NOW + 10 * DAY)
    assert quote(10000, [expired, future], NOW).final_cents == 10000


def test_window_starts_inclusive_ends_exclusive() -> None:
    window = promo("percent", 10, NOW, NOW + DAY)
    assert quote(10000, [window], NOW).final_cents == 9000
    assert quote(10000, [window], NOW + DAY).final_cents == 10000
    assert quote(10000, [window], NOW - timedelta(microseconds=1)).final_cents == 10000


def test_open_ended_promotion_applies_forever_after_start() -> None:
    assert quote(10000, [promo("percent", 40, ends=None)], NOW + 1000 * DAY).final_cents == 6000


def test_overlapping_promotions_do_not_stack_the_best_for_the_customer_wins() -> None:
    percent, fixed = promo("percent", 20, name="-20%"), promo("fixed", 3000, name="-30 €")
    cheap = quote(12990, [percent, fixed], NOW)
    assert (cheap.final_cents, cheap.promotion and cheap.promotion.name) == (9990, "-30 €")
    dear = quote(20000, [percent, fixed], NOW)
    assert (dear.final_cents, dear.promotion and dear.promotion.name) == (16000, "-20%")


def test_equal_promotions_show_the_one_ending_first() -> None:
    late = promo("percent", 20, ends=NOW + 10 * DAY, name="late")
    soon = promo("percent", 20, ends=NOW + DAY, name="soon")
    assert quote(10000, [late, soon], NOW).promotion.name == "soon"  # type: ignore[union-attr]
    assert quote(10000, [soon, late], NOW).promotion.name == "soon"  # type: ignore[union-attr]


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        quote(10000, [], datetime(2026, 1, 1))


def test_format_price_per_language() -> None:
    assert format_price(129990, "EUR", "it") == "1.299,90 €"
    assert format_price(4990, "EUR", "en") == "€49.90"


async def test_price_of_a_sku_is_the_same_quote_everywhere(catalog: Database) -> None:
    async with catalog.sessions() as session:
        in_sale = await price_of(
            session, "BOOT-NER-40", at=datetime(2026, 2, 1, tzinfo=timezone.utc)
        )
        after = await price_of(session, "BOOT-NER-40", at=datetime(2026, 3, 1, tzinfo=timezone.utc))
        other = await price_of(session, "BOOT-NER-41", at=datetime(2026, 2, 1, tzinfo=timezone.utc))
        with pytest.raises(UnknownSku):
            await price_of(session, "NOPE")
    assert (in_sale.final_cents, in_sale.promotion.name) == (10392, "Saldi")  # type: ignore[union-attr]
    assert (after.final_cents, after.promotion) == (12990, None)
    assert other.final_cents == 12990
