"""Stock and store answers as domain responses: which ``utter_*`` to send, with what values.

Every sentence lives in ``bot/domain/*.yml`` (an Italian default and an English variation
for ``language: en``); this module only picks the response and fills its variables with
data: product and store names, sizes, prices (``format_price``), distances, hours. The
few words that appear *inside* those values ("last pieces", weekday names, "closed")
are ``utter_label_*`` responses of the domain too, read with :func:`label`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from vetrina.catalog.availability import Status, VariantStock
from vetrina.catalog.pricing import Quote, format_price
from vetrina.catalog.products import size_key
from vetrina.catalog.stock_check import (
    Alternative,
    HoursAnswer,
    Outcome,
    StockCheck,
    StoreHours,
)
from vetrina.catalog.stores import WEEKDAYS, Interval, StoreInfo
from vetrina.catalog.vocabulary import CITY_ALIASES, colour_name
from vetrina.storage.base import utcnow

WHATSAPP = "whatsapp"
# Italian city name (folded) → its English name, where English has one ("Roma" → "Rome").
_CITY_EN = {italian: english.title() for english, italian in CITY_ALIASES.items()}


@dataclass(frozen=True)
class Reply:
    response: str
    variables: dict[str, Any] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)


# --- words from the domain -------------------------------------------------------------


def label(domain: Mapping[str, Any], name: str, language: str) -> str:
    """The text of response ``name`` for ``language`` (its English variation for "en",
    else the unconditioned Italian one)."""
    variations = (domain.get("responses") or {}).get(name) or []
    default = ""
    for variation in variations:
        conditions = variation.get("condition") or []
        if not conditions:
            default = default or variation.get("text", "")
            continue
        if any(c.get("name") == "language" and c.get("value") == language for c in conditions):
            return str(variation.get("text", ""))
    return str(default)


def weekday_names(domain: Mapping[str, Any], language: str) -> list[str]:
    names = [n.strip() for n in label(domain, "utter_label_weekdays", language).split(",")]
    return names if len(names) == 7 else list(WEEKDAYS)


def moment_text(
    moment: datetime,
    zone: tzinfo,
    language: str,
    domain: Mapping[str, Any],
    *,
    now: datetime | None = None,
    with_date: bool = True,
) -> str:
    """"oggi alle 10:00", "domani alle 10:00", else "sab 28/11 alle 10:00" (no date with
    ``with_date=False``): a weekday is never said when the day is today or tomorrow."""
    local = moment.astimezone(zone)
    today = (now or utcnow()).astimezone(zone).date()
    time = f"{local:%H:%M}"
    if local.date() == today:
        return label(domain, "utter_label_today", language).format(time=time)
    if local.date() == today + timedelta(days=1):
        return label(domain, "utter_label_tomorrow", language).format(time=time)
    day = weekday_names(domain, language)[local.weekday()]
    if with_date:
        day = f"{day} {local:%d/%m}"
    return label(domain, "utter_label_moment", language).format(day=day, time=time)


def city_name(city: str, language: str) -> str:
    """A store's city as the shopper reads it: "Rome" in English, "Roma" in Italian."""
    if language == "en":
        return _CITY_EN.get(city.strip().casefold(), city)
    return city


# --- values ------------------------------------------------------------------------------


def distance(km: float, language: str) -> str:
    if km < 1:
        return f"{round(km * 1000, -1):.0f} m"
    text = f"{km:.1f}" if km < 10 else f"{km:.0f}"
    return (text.replace(".", ",") if language == "it" else text) + " km"


def price_values(quote: Quote | None, language: str) -> dict[str, str]:
    if quote is None:
        return {"price": "", "list_price": "", "promotion": ""}
    values = {
        "price": format_price(quote.final_cents, quote.currency, language),
        "list_price": format_price(quote.list_cents, quote.currency, language),
        "promotion": "",
    }
    if quote.on_sale and quote.promotion is not None:
        terms = quote.promotion
        off = (
            f"-{terms.value}%"
            if terms.kind == "percent"
            else "-" + format_price(terms.value, quote.currency, language)
        )
        values["promotion"] = f"{terms.name} {off}".strip()
    return values


def item(name: str, colour: str | None, size: str | None, language: str) -> str:
    """The product as the shopper asked for it: "Trench Positano in gabardine (nero, M)"."""
    details = [colour_name(colour, language) if colour else None, size]
    shown = ", ".join(d for d in details if d)
    return f"{name} ({shown})" if shown else name


def sizes_text(
    variants: Iterable[VariantStock], language: str, domain: Mapping[str, Any], *, by_colour: bool
) -> str:
    """The sizes in stock: "S, M, L (last pieces)", or per colour "black: S, M · beige: L"."""
    few = label(domain, "utter_label_last_pieces", language)
    groups: dict[str, list[VariantStock]] = {}
    for v in variants:
        if v.stock.status is not Status.OUT_OF_STOCK:
            groups.setdefault(v.colour, []).append(v)

    def one(vs: list[VariantStock]) -> str:
        vs = sorted(vs, key=lambda v: size_key(v.size))
        return ", ".join(
            f"{v.size} ({few})" if v.stock.status is Status.LAST_PIECES else v.size for v in vs
        )

    if not by_colour:
        return one([v for vs in groups.values() for v in vs])
    return " · ".join(f"{colour_name(c, language)}: {one(vs)}" for c, vs in sorted(groups.items()))


def hours_text(intervals: Sequence[Interval], language: str, domain: Mapping[str, Any]) -> str:
    if not intervals:
        return label(domain, "utter_label_closed", language)
    return ", ".join(f"{i.opens:%H:%M}\N{EN DASH}{i.closes:%H:%M}" for i in intervals)


def week_text(store: StoreInfo, language: str, domain: Mapping[str, Any]) -> str:
    """The weekly hours, equal days grouped: "lun-ven 10:00-19:30 · sab 10:00-20:00"
    (with en dashes)."""
    names = weekday_names(domain, language)
    days = [hours_text(store.hours.weekly[n], language, domain) for n in range(7)]
    parts = []
    start = 0
    for n in range(1, 8):
        if n == 7 or days[n] != days[start]:
            span = names[start] if n - 1 == start else f"{names[start]}\N{EN DASH}{names[n - 1]}"
            parts.append(f"{span} {days[start]}")
            start = n
    return " · ".join(parts)


def when_text(
    moment: datetime | None, store: StoreInfo, language: str, domain: Mapping[str, Any]
) -> str:
    """When a store opens again: "oggi alle 10:00", "domani alle 10:00", "lun alle 10:00"."""
    if moment is None:
        return "—"
    return moment_text(moment, store.hours.zone, language, domain, with_date=False)


def store_lines(entries: Iterable[tuple[StoreInfo, float | None, str]], language: str) -> str:
    lines = []
    for store, km, extra in entries:
        line = f"• {store.name} ({store.address}, {city_name(store.city, language)})"
        if km is not None:
            line += f" — {distance(km, language)}"
        if extra:
            line += f": {extra}"
        lines.append(line)
    return "\n".join(lines)


def store_button(store: StoreInfo) -> dict[str, str]:
    return {
        "title": store.name,
        "payload": "/choose_store" + json.dumps({"store_code": store.code}),
    }


def product_button(code: str, title: str) -> dict[str, str]:
    return {"title": title, "payload": "/choose_product" + json.dumps({"product_code": code})}


# --- stock answers -----------------------------------------------------------------------


def stock_replies(
    check: StockCheck, language: str, domain: Mapping[str, Any], *, channel: str | None = None
) -> list[Reply]:
    """The messages that answer a stock check, in order."""
    outcome = check.outcome
    product = check.product
    name = product.name(language) if product else ""
    if outcome is Outcome.ASK_PRODUCT:
        return [Reply("utter_ask_product")]
    if outcome is Outcome.UNKNOWN_PRODUCT:
        query = check.query.product_text or check.place or check.query.text
        return [Reply("utter_product_not_found", {"query": query})]
    if outcome is Outcome.AMBIGUOUS_PRODUCT:
        buttons = [product_button(c.code, c.name(language)) for c in check.candidates]
        query = check.query.product_text or check.query.text
        return [
            Reply(
                "utter_product_ambiguous",
                {"query": query, "count": check.candidate_count},
                buttons,
            )
        ]
    if outcome is Outcome.UNKNOWN_COLOUR:
        colours = ", ".join(colour_name(c, language) for c in check.options)
        return [
            Reply(
                "utter_colour_not_available",
                {
                    "product": name,
                    "colour": colour_name(check.colour or "", language),
                    "colours": colours,
                },
            )
        ]
    if outcome is Outcome.UNKNOWN_SIZE:
        return [
            Reply(
                "utter_size_not_available",
                {
                    "product": item(name, check.colour, None, language),
                    "size": check.size,
                    "sizes": ", ".join(check.options),
                },
            )
        ]
    if outcome is Outcome.ASK_STORE:
        values = {"item": item(name, check.colour, check.size, language)}
        values.update(price_values(check.price, language))
        return [Reply("utter_ask_store", values)]
    if outcome is Outcome.NEED_LOCATION:
        return [ask_location(channel)]
    if outcome is Outcome.INVALID_LOCATION:
        return [Reply("utter_location_invalid")]
    if outcome is Outcome.UNKNOWN_STORE:
        return [unknown_store(check.place or "", [city_name(c, language) for c in check.cities])]
    if outcome is Outcome.NEAREST_STORES:
        entries = [(h.store, h.distance_km, "") for h in check.nearest]
        return [
            Reply(
                "utter_nearest_stores",
                {"stores": store_lines(entries, language)},
                [store_button(h.store) for h in check.nearest],
            )
        ]
    if outcome is Outcome.STORE_INFO:
        return [hours_reply(h, language, domain) for h in check.nearest]
    return _answer(check, language, domain)


def ask_location(channel: str | None) -> Reply:
    if channel == WHATSAPP:
        return Reply("utter_ask_location_whatsapp")
    return Reply("utter_ask_location")


def unknown_store(place: str, cities: Sequence[str]) -> Reply:
    return Reply("utter_store_not_found", {"place": place, "cities": ", ".join(cities)})


def _answer(check: StockCheck, language: str, domain: Mapping[str, Any]) -> list[Reply]:
    assert check.product is not None and check.store is not None
    result = check.store
    store = result.store
    name = check.product.name(language)
    replies: list[Reply] = []
    status = result.status
    price = price_values(check.price, language)
    sale = "_sale" if price["promotion"] else ""
    several_colours = check.colour is None and len({v.colour for v in result.variants}) > 1
    base = {"store": store.name, **price}

    if check.size is not None and not several_colours:
        base["item"] = item(name, check.colour or _only(result.results), check.size, language)
        if status is Status.OUT_OF_STOCK:
            replies.append(Reply("utter_stock_out_of_stock", base))
        else:
            replies.append(Reply(f"utter_stock_{status.value}{sale}", base))
    elif check.size is not None:
        base["item"] = item(name, None, check.size, language)
        few = label(domain, "utter_label_last_pieces", language)
        colours = [
            colour_name(r.colour, language)
            + (f" ({few})" if r.stock.status is Status.LAST_PIECES else "")
            for r in result.results
            if r.stock.status is not Status.OUT_OF_STOCK
        ]
        if colours:
            replies.append(
                Reply(f"utter_stock_colours{sale}", {**base, "colours": ", ".join(colours)})
            )
        else:
            replies.append(Reply("utter_stock_out_of_stock", base))
    else:
        base["item"] = item(name, check.colour, None, language)
        sizes = sizes_text(result.variants, language, domain, by_colour=several_colours)
        if sizes:
            replies.append(Reply(f"utter_stock_sizes{sale}", {**base, "sizes": sizes}))
        else:
            replies.append(Reply("utter_stock_sizes_none", base))

    if check.also_in_city:
        replies.append(
            Reply(
                "utter_stock_also_in_city",
                {
                    "city": city_name(store.city, language),
                    "stores": ", ".join(s.name for s in check.also_in_city),
                },
            )
        )
    if status is Status.OUT_OF_STOCK:
        if check.size is not None and result.in_stock_sizes:
            replies.append(
                Reply(
                    "utter_stock_other_sizes",
                    {
                        "store": store.name,
                        "sizes": sizes_text(
                            result.in_stock_sizes, language, domain, by_colour=several_colours
                        ),
                    },
                )
            )
        replies.append(_elsewhere(check, language, domain))
    elif check.hours is not None:
        replies.append(_open_now(check.hours, language, domain))
    return replies


def _only(results: Sequence[Any]) -> str | None:
    return results[0].colour if len(results) == 1 else None


def _elsewhere(check: StockCheck, language: str, domain: Mapping[str, Any]) -> Reply:
    online = check.online is not None and check.online.status is not Status.OUT_OF_STOCK
    suffix = "_online" if online else ""
    if not check.alternatives:
        return Reply(f"utter_stock_nowhere{suffix}")
    entries = [
        (a.store, a.distance_km, _alt_extra(a, check, language, domain)) for a in check.alternatives
    ]
    return Reply(
        f"utter_stock_alternatives{suffix}",
        {"stores": store_lines(entries, language)},
        [store_button(a.store) for a in check.alternatives],
    )


def _alt_extra(a: Alternative, check: StockCheck, language: str, domain: Mapping[str, Any]) -> str:
    """What a nearby store has: its sizes (when no size was asked for), last pieces."""
    parts = []
    if check.size is None or len(a.sizes) > 1:
        parts.append(", ".join(a.sizes))
    if a.status is Status.LAST_PIECES:
        parts.append(label(domain, "utter_label_last_pieces", language))
    return " · ".join(parts)


def _temporarily_closed(hours: StoreHours, language: str) -> Reply:
    """Whatever its usual hours say: a manager closed the store for now."""
    address = f"{hours.store.address}, {city_name(hours.store.city, language)}"
    return Reply("utter_store_temporarily_closed", {"store": hours.store.name, "address": address})


def _open_now(hours: StoreHours, language: str, domain: Mapping[str, Any]) -> Reply:
    if hours.store.temporarily_closed:
        return _temporarily_closed(hours, language)
    values = {
        "store": hours.store.name,
        "address": f"{hours.store.address}, {city_name(hours.store.city, language)}",
        "hours": hours_text(hours.today, language, domain),
        "next": when_text(hours.next_opening, hours.store, language, domain),
    }
    return Reply("utter_store_open_now" if hours.open_now else "utter_store_closed_now", values)


# --- store hours --------------------------------------------------------------------------


def hours_reply(hours: StoreHours, language: str, domain: Mapping[str, Any]) -> Reply:
    if hours.store.temporarily_closed:
        return _temporarily_closed(hours, language)
    values = {
        "store": hours.store.name,
        "address": f"{hours.store.address}, {city_name(hours.store.city, language)}",
        "today": hours_text(hours.today, language, domain),
        "week": week_text(hours.store, language, domain),
        "next": when_text(hours.next_opening, hours.store, language, domain),
        "phone": hours.store.phone or "",
    }
    name = "utter_store_hours_open" if hours.open_now else "utter_store_hours_closed"
    return Reply(name, values, [])


def hours_replies(
    answer: HoursAnswer, language: str, domain: Mapping[str, Any], *, channel: str | None = None
) -> list[Reply]:
    if answer.outcome is Outcome.STORE_INFO:
        return [hours_reply(h, language, domain) for h in answer.stores]
    if answer.outcome is Outcome.NEED_LOCATION:
        return [ask_location(channel)]
    if answer.outcome is Outcome.UNKNOWN_STORE:
        return [unknown_store(answer.place or "", [city_name(c, language) for c in answer.cities])]
    if answer.outcome is Outcome.INVALID_LOCATION:
        return [Reply("utter_location_invalid")]
    return [Reply("utter_ask_store_for_hours")]
