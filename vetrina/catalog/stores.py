"""Stores as the assistant sees them: where they are, when they are open, what they offer.

Opening hours are wall-clock times in the store's time zone (Europe/Rome by default), so
"10:00–19:30" means the same on either side of a DST change. A day's hours come from, in
order: a dated exception (``2026-12-24``), a yearly one (``12-25``, every Christmas), the
weekday. The chain has a few hundred stores at most, so the directory lives in memory
and distances are computed for all of them (faster than any SQL prefilter at this size).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.catalog.errors import InvalidLocation, UnknownStore
from vetrina.catalog.models import Store
from vetrina.hours import (
    DEFAULT_TIMEZONE,
    WEEKDAYS,
    Interval,
    WeeklyHours,
    check_timezone,
    parse_intervals,
)

# A store's opening hours are the one weekly-hours type (consultants' hours are too).
OpeningHours = WeeklyHours

__all__ = [
    "DEFAULT_TIMEZONE",
    "WEEKDAYS",
    "Coordinates",
    "Interval",
    "NearbyStore",
    "OpeningHours",
    "StoreDirectory",
    "StoreInfo",
    "check_timezone",
    "distance_km",
    "fold",
    "load_store_directory",
    "parse_intervals",
    "store_info",
]

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
    # A manager's switch: nothing can be tried on or picked up there for now.
    temporarily_closed: bool = False

    def is_open(self, at: datetime) -> bool:
        return self.hours.is_open(at)

    def offers(self, service: str) -> bool:
        return service in self.services and not self.temporarily_closed


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
        temporarily_closed=row.temporarily_closed,
    )


async def load_store_directory(session: AsyncSession) -> StoreDirectory:
    rows = (await session.scalars(select(Store).order_by(Store.code))).all()
    return StoreDirectory((row.id, store_info(row)) for row in rows)
