"""The KPIs, read from the rollups only (never from messages or orders).

Every figure is a sum of ``insights_daily`` counters over the period (UTC days, both
ends included), optionally for one store and one channel, grouped by day, store, channel
or consultant; rates are computed from those sums, durations from their histograms
(nearest-rank percentiles: the median of 1, 2, 3 is 2, of 1, 2 it is 1).

What each field means is in :data:`FIELDS` (the README and the OpenAPI document show
the same text).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.conversations.consultants import Consultant
from vetrina.insights.attribution import DISTANCE_LABELS
from vetrina.insights.models import DailyRollup, DemandRollup
from vetrina.insights.rollups import ALL_STORES

GROUPS = ("day", "store", "channel", "consultant")
MAX_DAYS = 731
TOP_ASKS = 10

FIELDS: dict[str, str] = {
    "store_purchases": "till (pos) sales in the period",
    "store_purchases_after_booking": "till sales with a try-on booking among their touchpoints",
    "share_after_booking": "store_purchases_after_booking / store_purchases (seed target ~5 %)",
    "store_purchases_after_chat": "till sales with a conversation, consultant or stock check "
    "among their touchpoints",
    "share_after_chat": "store_purchases_after_chat / store_purchases",
    "e_reservations": "try-on bookings created (by creation day)",
    "store_locator_uses": "nearest-store questions and shared locations",
    "conversations": "conversations: one customer's messages on one day",
    "automated": "conversations never handed to a person",
    "handed_off": "conversations handed to a consultant queue",
    "automation_rate": "automated / conversations",
    "handoff_rate": "handed_off / conversations",
    "first_response_median_s": "median seconds from a handoff request to the first "
    "consultant message",
    "first_response_p90_s": "90th percentile of the same",
    "queue_wait_median_s": "median seconds from a handoff request to a consultant claiming it",
    "queue_wait_p90_s": "90th percentile of the same",
    "bookings": "bookings starting in the period",
    "bookings_attended": "of those, checked in or completed",
    "bookings_no_show": "of those, released as no-shows",
    "bookings_cancelled": "of those, cancelled",
    "show_rate": "attended / (attended + no-shows)",
    "bookings_converted": "bookings credited by a purchase (influenced view, net of refunds)",
    "booking_conversion": "bookings_converted / (bookings - cancelled)",
    "orders": "orders and till sales (not refunds)",
    "refunds": "refund records",
    "revenue_cents": "net revenue in cents (orders minus refunds)",
    "last_touch_revenue_cents": "net revenue credited to its last touchpoint",
    "last_touch_orders": "orders with a last-touch credit",
    "influenced_revenue_cents": "net revenue of orders with any touchpoint in its windows",
    "influenced_orders": "orders with any touchpoint in its windows",
    "revenue_per_conversation_cents": "last_touch_revenue_cents / conversations",
    "matched_orders": "orders matched to a customer",
    "match_rate": "matched_orders / orders",
    "key_mix": "matched orders by the key that matched them",
    "stock_asks": "stock questions about a product",
    "out_of_stock_asks": "of those, answered out of stock",
    "last_pieces_asks": "of those, answered last pieces",
    "out_of_stock_share": "out_of_stock_asks / stock_asks",
    "last_pieces_share": "last_pieces_asks / stock_asks",
    "purchases_by_distance": "purchases online and in store by the buyer's distance to the "
    "nearest store (where a location is known)",
}


class KpiError(ValueError):
    """A query the KPIs cannot answer (bad dates, unknown grouping)."""


@dataclass(frozen=True)
class KpiQuery:
    start: date
    end: date
    store: str | None = None
    channel: str | None = None
    group_by: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise KpiError("'to' is before 'from'")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise KpiError(f"at most {MAX_DAYS} days per query")
        if self.group_by is not None and self.group_by not in GROUPS:
            raise KpiError(f"group_by: one of {', '.join(GROUPS)}")
        if self.group_by == "consultant" and self.channel:
            raise KpiError("group_by=consultant cannot be combined with a channel filter")


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(histogram: Mapping[int, int], p: float) -> int | None:
    """Nearest-rank percentile of a {value: count} histogram."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(p * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


def figures(sums: Mapping[str, int], hists: Mapping[str, Mapping[int, int]]) -> dict[str, Any]:
    """The named KPI fields from summed counters of one group."""
    m = defaultdict(int, sums)
    conversations = m["conversations"]
    distance: dict[str, dict[str, int]] = {}
    for index, label in enumerate(DISTANCE_LABELS):
        online = hists.get("purchases_web_by_distance", {}).get(index, 0)
        store = hists.get("purchases_pos_by_distance", {}).get(index, 0)
        if online or store:
            distance[label] = {"online": online, "store": store}
    keys = {k[4:]: v for k, v in m.items() if k.startswith("key_") and v}
    return {
        "store_purchases": m["store_purchases"],
        "store_purchases_after_booking": m["store_purchases_booking"],
        "share_after_booking": _ratio(m["store_purchases_booking"], m["store_purchases"]),
        "store_purchases_after_chat": m["store_purchases_chat"],
        "share_after_chat": _ratio(m["store_purchases_chat"], m["store_purchases"]),
        "e_reservations": m["bookings_created"],
        "store_locator_uses": m["locator_uses"],
        "conversations": conversations,
        "automated": m["automated"],
        "handed_off": m["handed_off"],
        "automation_rate": _ratio(m["automated"], conversations),
        "handoff_rate": _ratio(m["handed_off"], conversations),
        "first_response_median_s": percentile(hists.get("first_response", {}), 0.5),
        "first_response_p90_s": percentile(hists.get("first_response", {}), 0.9),
        "queue_wait_median_s": percentile(hists.get("queue_wait", {}), 0.5),
        "queue_wait_p90_s": percentile(hists.get("queue_wait", {}), 0.9),
        "bookings": m["bookings"],
        "bookings_attended": m["bookings_attended"],
        "bookings_no_show": m["bookings_no_show"],
        "bookings_cancelled": m["bookings_cancelled"],
        "show_rate": _ratio(m["bookings_attended"], m["bookings_attended"] + m["bookings_no_show"]),
        "bookings_converted": m["bookings_converted"],
        "booking_conversion": _ratio(
            m["bookings_converted"], m["bookings"] - m["bookings_cancelled"]
        ),
        "orders": m["orders"],
        "refunds": m["refunds"],
        "revenue_cents": m["revenue"],
        "last_touch_revenue_cents": m["last_touch_revenue"],
        "last_touch_orders": m["last_touch_orders"],
        "influenced_revenue_cents": m["influenced_revenue"],
        "influenced_orders": m["influenced_orders"],
        "revenue_per_conversation_cents": (
            m["last_touch_revenue"] // conversations if conversations else None
        ),
        "matched_orders": m["matched"],
        "match_rate": _ratio(m["matched"], m["orders"]),
        "key_mix": keys,
        "stock_asks": m["stock_asks"],
        "out_of_stock_asks": m["stock_out"],
        "last_pieces_asks": m["stock_last"],
        "out_of_stock_share": _ratio(m["stock_out"], m["stock_asks"]),
        "last_pieces_share": _ratio(m["stock_last"], m["stock_asks"]),
        "purchases_by_distance": distance,
    }


HISTOGRAMS = frozenset(
    {"first_response", "queue_wait", "purchases_web_by_distance", "purchases_pos_by_distance"}
)


def _filtered(query: KpiQuery, statement: Select[Any]) -> Select[Any]:
    statement = statement.where(DailyRollup.day >= query.start, DailyRollup.day <= query.end)
    if query.store is not None:
        statement = statement.where(DailyRollup.store_code == query.store)
    if query.group_by == "consultant":
        return statement.where(DailyRollup.dim == "consultant")
    if query.group_by == "channel":
        statement = statement.where(DailyRollup.dim == "channel")
        if query.channel:
            statement = statement.where(DailyRollup.dim_value == query.channel)
        return statement
    if query.channel:
        return statement.where(DailyRollup.dim == "channel", DailyRollup.dim_value == query.channel)
    return statement.where(DailyRollup.dim == "all")


async def kpis(session: AsyncSession, query: KpiQuery) -> dict[str, Any]:
    """The KPI document: totals, groups (when grouped) and the demand the stores miss."""
    group_column: Any = {
        "day": DailyRollup.day,
        "store": DailyRollup.store_code,
        "channel": DailyRollup.dim_value,
        "consultant": DailyRollup.dim_value,
    }.get(query.group_by or "")
    columns: list[Any] = [DailyRollup.metric, DailyRollup.bucket, func.sum(DailyRollup.value)]
    if group_column is not None:
        columns.insert(0, group_column)
    statement = _filtered(query, select(*columns))
    statement = statement.group_by(*columns[:-1])
    sums: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hists: dict[Any, dict[str, dict[int, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for row in await session.execute(statement):
        if group_column is not None:
            group, metric, bucket, value = row
        else:
            group, (metric, bucket, value) = None, row
        for target in {None, group}:
            if metric in HISTOGRAMS:
                hists[target][metric][int(bucket)] += int(value)
            else:
                sums[target][metric] += int(value)
    document: dict[str, Any] = {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "store": query.store,
        "channel": query.channel,
        "group_by": query.group_by,
        "totals": figures(sums[None], hists[None]),
    }
    if query.group_by is not None:
        names = await _consultant_names(session, sums) if query.group_by == "consultant" else {}
        groups = []
        for group in sorted(k for k in set(sums) | set(hists) if k is not None):
            key: Any = group.isoformat() if isinstance(group, date) else group
            entry = {"key": key if key != "" else None}
            if query.group_by == "consultant":
                entry["name"] = names.get(str(group))
            groups.append({**entry, **figures(sums[group], hists[group])})
        document["groups"] = groups
        if query.group_by == "consultant":
            # The consultant view holds only what a consultant touched: say so.
            document["totals"] = None
    document["top_out_of_stock"] = await top_out_of_stock(session, query)
    return document


async def _consultant_names(session: AsyncSession, sums: Mapping[Any, Any]) -> dict[str, str]:
    ids = [int(k) for k in sums if isinstance(k, str) and k.isdigit()]
    if not ids:
        return {}
    rows = await session.execute(
        select(Consultant.id, Consultant.name).where(Consultant.id.in_(ids))
    )
    return {str(cid): name for cid, name in rows}


async def top_out_of_stock(session: AsyncSession, query: KpiQuery) -> list[dict[str, Any]]:
    """The products most often asked for and answered out of stock, in one store or (with
    no store named) over every store."""
    statement = (
        select(
            DemandRollup.product_code,
            DemandRollup.store_code,
            func.sum(DemandRollup.asks).label("asks"),
            func.sum(DemandRollup.out_of_stock).label("out"),
            func.sum(DemandRollup.last_pieces).label("last"),
        )
        .where(DemandRollup.day >= query.start, DemandRollup.day <= query.end)
        .group_by(DemandRollup.product_code, DemandRollup.store_code)
        .having(func.sum(DemandRollup.out_of_stock) > 0)
        .order_by(desc("out"), desc("asks"), DemandRollup.product_code, DemandRollup.store_code)
        .limit(TOP_ASKS)
    )
    statement = statement.where(DemandRollup.store_code == (query.store or ALL_STORES))
    return [
        {
            "product_code": product,
            "store": None if store in ("", ALL_STORES) else store,
            "asks": int(asks),
            "out_of_stock": int(out),
            "last_pieces": int(last),
        }
        for product, store, asks, out, last in await session.execute(statement)
    ]


def to_csv(document: Mapping[str, Any]) -> str:
    """The ``.csv`` twin: one row per group (or one row of totals), nested fields flattened."""
    rows = document.get("groups") or [{"key": None, **(document["totals"] or {})}]
    flat: list[dict[str, Any]] = []
    for row in rows:
        out: dict[str, Any] = {}
        for name, value in row.items():
            if name == "key_mix":
                for key, count in sorted(value.items()):
                    out[f"key_mix.{key}"] = count
            elif name == "purchases_by_distance":
                for label, split in value.items():
                    out[f"distance {label}.online"] = split["online"]
                    out[f"distance {label}.store"] = split["store"]
            else:
                out[name] = "" if value is None else value
        flat.append(out)
    header: list[str] = []
    for row in flat:
        header.extend(k for k in row if k not in header)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval=0, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def period(start: str, end: str) -> tuple[date, date]:
    """Parse ``YYYY-MM-DD`` bounds; KpiError with a clear reason otherwise."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except (TypeError, ValueError):
        raise KpiError("'from' and 'to' must be dates as YYYY-MM-DD") from None
    return first, last


__all__ = [
    "FIELDS",
    "KpiError",
    "KpiQuery",
    "figures",
    "kpis",
    "percentile",
    "period",
    "render",
    "to_csv",
]


def render(document: Mapping[str, Any], fmt: str) -> str:
    """``vetrina insights report --format table|csv|json``."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False)
    if fmt == "csv":
        return to_csv(document)
    if fmt != "table":
        raise KpiError("format: one of table, csv, json")
    rows = document.get("groups") or [{"key": "total", **(document["totals"] or {})}]
    names = [n for n in FIELDS if n not in ("key_mix", "purchases_by_distance")]
    keys = [str(row.get("name") or row.get("key") or "-") for row in rows]
    width = max(len(n) for n in names)
    lines = [" " * width + "  " + "  ".join(f"{k:>12}" for k in keys)]
    for name in names:
        cells = []
        for row in rows:
            value = row.get(name)
            cells.append(f"{'' if value is None else value:>12}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines) + "\n"
