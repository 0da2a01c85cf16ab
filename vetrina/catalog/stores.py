"""Stores as the assistant sees them: where they are, when they are open, what they offer.

Opening hours are wall-clock times in the store's time zone (Europe/Rome by default), so
"10:00–19:30" means the same on either side of a DST change. A day's hours come from, in
order: a dated exception (``2026-12-24``), a yearly one (``12-25``, every Christmas), the
weekday. The chain has a few hundred stores at most, so the directory lives in memory
and distances are computed for all of them (faster than any SQL prefilter at this size).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.catalog.errors import InvalidLocation, UnknownStore
from vetrina.catalog.models import Store

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIMEZONE = "Europe/Rome"
EARTH_RADIUS_KM = 6371.0088
SERVICES = frozenset(
    {
        "try_on",
        "click_and_collect",
        "reserve_and_collect",
        "tailoring",
        "returns",
        "personal_shopper",
    }
)
CLOSED_WORDS = frozenset({"closed", "chiuso", "-"})
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_DAY_KEY = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")


# --- coordinates -----------------------------------------------------------------------


@dataclass(frozen=True)
class Coordinates:
    """A validated point: finite, in range, and not 0,0 (what a device without a fix sends)."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        for name, value, limit in (
            ("latitude", self.latitude, 90.0),
            ("longitude", self.longitude, 180.0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidLocation(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InvalidLocation(f"{name} must be a finite number, got {value!r}")
            if not -limit <= value <= limit:
                raise InvalidLocation(
                    f"{name} must be between -{limit:g} and {limit:g}, got {value}"
                )
        if self.latitude == 0 and self.longitude == 0:
            raise InvalidLocation("0,0 is not a real location (a device without a position fix)")

    @classmethod
    def of(cls, latitude: object, longitude: object) -> Coordinates:
        """Build from what a channel gives (numbers or strings); raise InvalidLocation."""
        if latitude is None or longitude is None or latitude == "" or longitude == "":
            raise InvalidLocation("no location given")
        return cls(_number(latitude, "latitude"), _number(longitude, "longitude"))


def _number(value: object, name: str) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            raise InvalidLocation(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidLocation(f"{name} must be a number, got {value!r}")
    return float(value)


def distance_km(a: Coordinates, b: Coordinates) -> float:
    """Great-circle (haversine) distance; within 0.5 % of the road-free truth."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# --- opening hours ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Interval:
    opens: time
    closes: time

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}"


def parse_intervals(value: object) -> tuple[Interval, ...]:
    """``"10:00-13:00,15:30-19:30"``, a list of such strings, or ``"closed"`` → intervals.

    Raises ValueError with a message fit for the operator.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "" or text in CLOSED_WORDS:
            return ()
        parts = [p for p in re.split(r"[,;]", text)]
    elif isinstance(value, (list, tuple)):
        parts = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"hours must be strings like '10:00-19:30', got {item!r}")  # noqa: TRY004
            parts.extend(item.split(","))
    else:
        raise ValueError(f"hours must be like '10:00-19:30' or 'closed', got {value!r}")  # noqa: TRY004
    intervals = []
    for part in parts:
        match = _INTERVAL.match(part.strip())
        if not match:
            raise ValueError(f"hours {part.strip()!r} are not like '10:00-19:30'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"hours {part.strip()!r} are not a time of day")
        interval = Interval(time(h1, m1), time(h2, m2))
        if interval.opens >= interval.closes:
            raise ValueError(f"hours {part.strip()!r} close before they open")
        intervals.append(interval)
    intervals.sort()
    for earlier, later in pairwise(intervals):
        if later.opens < earlier.closes:
            raise ValueError(f"hours {earlier} and {later} overlap")
    return tuple(intervals)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


@dataclass(frozen=True)
class OpeningHours:
    weekly: tuple[tuple[Interval, ...], ...]  # seven entries, Monday first
    exceptions: Mapping[str, tuple[Interval, ...]] = field(default_factory=dict)
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def from_json(
        cls,
        weekly: Mapping[str, Any],
        exceptions: Mapping[str, Any] | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> OpeningHours:
        """From the stored/imported shape; raises ValueError naming the bad entry."""
        unknown = set(weekly) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday {min(unknown)!r} (use {', '.join(WEEKDAYS)})")
        days = tuple(parse_intervals(weekly.get(day)) for day in WEEKDAYS)
        parsed: dict[str, tuple[Interval, ...]] = {}
        for key, value in (exceptions or {}).items():
            parsed[_day_key(key)] = parse_intervals(value)
        return cls(days, parsed, check_timezone(timezone))

    def to_json(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        weekly = {day: [str(i) for i in self.weekly[n]] for n, day in enumerate(WEEKDAYS)}
        exceptions = {
            key: [str(i) for i in value] for key, value in sorted(self.exceptions.items())
        }
        return weekly, exceptions

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def on(self, day: date) -> tuple[Interval, ...]:
        """The hours of a local calendar day: dated exception, yearly exception, weekday."""
        dated = self.exceptions.get(day.isoformat())
        if dated is not None:
            return dated
        yearly = self.exceptions.get(day.isoformat()[5:])
        if yearly is not None:
            return yearly
        return self.weekly[day.weekday()]

    def is_open(self, at: datetime) -> bool:
        local = _local(at, self.zone)
        now = local.time()
        return any(i.opens <= now < i.closes for i in self.on(local.date()))

    def closes_at(self, at: datetime) -> datetime | None:
        """When the store closes if it is open at ``at`` (local time), else ``None``."""
        local = _local(at, self.zone)
        for interval in self.on(local.date()):
            if interval.opens <= local.time() < interval.closes:
                return datetime.combine(local.date(), interval.closes, tzinfo=self.zone)
        return None

    def next_opening(self, at: datetime, *, within_days: int = 14) -> datetime | None:
        """The next time the store opens after ``at`` (local time), or ``None`` if not soon."""
        local = _local(at, self.zone)
        for offset in range(within_days + 1):
            day = local.date() + timedelta(days=offset)
            for interval in self.on(day):
                opening = datetime.combine(day, interval.opens, tzinfo=self.zone)
                if opening > local:
                    return opening
        return None


def _day_key(key: object) -> str:
    if not isinstance(key, str) or not _DAY_KEY.match(key.strip()):
        raise ValueError(f"exception day {key!r} is not YYYY-MM-DD or MM-DD")
    key = key.strip()
    probe = key if len(key) == 10 else f"2024-{key}"  # a leap year accepts 02-29
    try:
        date.fromisoformat(probe)
    except ValueError:
        raise ValueError(f"exception day {key!r} is not a real date") from None
    return key


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("opening hours are checked at a timezone-aware moment")
    return at.astimezone(zone)


# --- the store directory ---------------------------------------------------------------


@dataclass(frozen=True)
class StoreInfo:
    code: str
    name: str
    city: str
    address: str
    postal_code: str
    location: Coordinates
    hours: OpeningHours
    services: frozenset[str] = frozenset()
    country: str = "IT"
    phone: str | None = None
    active: bool = True

    def is_open(self, at: datetime) -> bool:
        return self.hours.is_open(at)

    def offers(self, service: str) -> bool:
        return service in self.services


@dataclass(frozen=True)
class NearbyStore:
    store: StoreInfo
    distance_km: float


def fold(text: str) -> str:
    """Case- and accent-insensitive form: "Forlì" and "forli" are the same city."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


class StoreDirectory:
    """Every store, by code and by database id, with nearest-first search."""

    def __init__(self, stores: Iterable[tuple[int, StoreInfo]]) -> None:
        self._by_id: dict[int, StoreInfo] = dict(stores)
        self._by_code = {store.code: store for store in self._by_id.values()}
        self._id_of = {store.code: id_ for id_, store in self._by_id.items()}

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[StoreInfo]:
        return iter(self._by_code.values())

    def get(self, code: str) -> StoreInfo:
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownStore(code) from None

    def by_id(self, store_id: int) -> StoreInfo | None:
        return self._by_id.get(store_id)

    def id_of(self, code: str) -> int:
        self.get(code)
        return self._id_of[code]

    def in_city(self, city: str) -> list[StoreInfo]:
        wanted = fold(city)
        return [s for s in self._by_code.values() if s.active and fold(s.city) == wanted]

    def nearest(
        self,
        origin: Coordinates,
        *,
        limit: int = 5,
        within_km: float | None = None,
        service: str | None = None,
        candidates: Sequence[StoreInfo] | None = None,
    ) -> list[NearbyStore]:
        """Active stores nearest to ``origin``, optionally within a radius or with a service."""
        pool = self._by_code.values() if candidates is None else candidates
        found = []
        for store in pool:
            if not store.active or (service and service not in store.services):
                continue
            distance = distance_km(origin, store.location)
            if within_km is None or distance <= within_km:
                found.append(NearbyStore(store, distance))
        found.sort(key=lambda n: (n.distance_km, n.store.code))
        return found[:limit]


def store_info(row: Store) -> StoreInfo:
    return StoreInfo(
        code=row.code,
        name=row.name,
        city=row.city,
        address=row.address,
        postal_code=row.postal_code,
        location=Coordinates(row.latitude, row.longitude),
        hours=OpeningHours.from_json(row.opening_hours, row.hours_exceptions, row.timezone),
        services=frozenset(row.services or ()),
        country=row.country,
        phone=row.phone,
        active=row.active,
    )


async def load_store_directory(session: AsyncSession) -> StoreDirectory:
    rows = (await session.scalars(select(Store).order_by(Store.code))).all()
    return StoreDirectory((row.id, store_info(row)) for row in rows)
