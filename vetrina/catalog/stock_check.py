"""Is it in my size at the store near me? One call from a shopper's words to the facts.

:meth:`StockChecker.check` takes the text, the conversation's context (the product on
screen, the product, size, colour and store already talked about, the favourite store,
a shared location) and returns a :class:`StockCheck`: plain data, no text. The
conversation layer words it in the shopper's language.

What is decided here, in order:

- the product: a button choice, a code/SKU/EAN, the shopper's words (several close
  matches: ``AMBIGUOUS_PRODUCT`` with the best few), the product on screen when the
  shopper says "this" or has just opened it, the product already talked about;
- colour and size: from the words, a typed SKU, the conversation (same product only),
  or the only one the product has; one it never has: ``UNKNOWN_COLOUR`` /
  ``UNKNOWN_SIZE`` with what it does have;
- the store: a button choice, a store, city or postal code in the words ("a Brescia",
  without a store there: the nearest to Brescia), "near me" with a location (without:
  ``NEED_LOCATION``), a location shared now, the store already talked about, the
  favourite store, a location shared before; none: ``ASK_STORE``;
- the answer: status and price of the variant(s) in that store (a city with several
  stores: every one, the best first), and when it is not there: the other sizes there,
  the nearest stores that have it (with distance) and whether it can be ordered online;
  whether the store is open now and today's hours.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from vetrina.catalog.availability import (
    InventoryProvider,
    NearbyStock,
    Status,
    StockLevel,
    VariantStock,
)
from vetrina.catalog.errors import InvalidLocation, UnknownProduct, UnknownStore, UnknownVariant
from vetrina.catalog.pricing import Quote
from vetrina.catalog.products import ProductView, VariantView, get_product, same_size, size_key
from vetrina.catalog.resolution import ParsedQuery, Resolver, StoreHint
from vetrina.catalog.search import ProductInfo
from vetrina.catalog.stores import (
    Coordinates,
    Interval,
    NearbyStore,
    StoreDirectory,
    StoreInfo,
    distance_km,
    fold,
)
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

MAX_CANDIDATES = 4  # products offered as buttons when the words fit several
ALTERNATIVES = 3  # nearest other stores offered when it is not in the chosen one
_STATUS_RANK = {Status.IN_STOCK: 0, Status.LAST_PIECES: 1, Status.OUT_OF_STOCK: 2}


class Outcome(str, enum.Enum):
    ANSWER = "answer"  # product and store known: the availability
    ASK_PRODUCT = "ask_product"  # no product named and none in the conversation
    UNKNOWN_PRODUCT = "unknown_product"
    AMBIGUOUS_PRODUCT = "ambiguous_product"  # ``candidates`` to choose from
    UNKNOWN_COLOUR = "unknown_colour"  # ``options``: the colours it has
    UNKNOWN_SIZE = "unknown_size"  # ``options``: the sizes it has (in that colour)
    ASK_STORE = "ask_store"  # product known, no store, no location
    NEED_LOCATION = "need_location"  # "near me" without a location
    UNKNOWN_STORE = "unknown_store"  # ``place``: what the shopper wrote
    INVALID_LOCATION = "invalid_location"  # a shared location that is no place
    NEAREST_STORES = "nearest_stores"  # a location without a product: ``nearest``
    STORE_INFO = "store_info"  # a store without a product: its hours


@dataclass(frozen=True)
class CheckContext:
    """What the conversation already knows (slots, message metadata)."""

    product_code: str | None = None  # the product talked about so far
    page_product: str | None = None  # code, SKU or EAN of the product on screen
    last_page_product: str | None = None  # the product on screen at the previous turn
    size: str | None = None
    colour: str | None = None
    store_code: str | None = None  # the store talked about so far
    favourite_store: str | None = None
    location: Coordinates | None = None  # a location shared earlier
    shared_location: tuple[object, object] | None = None  # (lat, lon) sent with this message
    chosen_product: str | None = None  # a product button
    chosen_store: str | None = None  # a store button


@dataclass(frozen=True)
class StoreHours:
    store: StoreInfo
    open_now: bool
    today: tuple[Interval, ...]
    closes_at: datetime | None
    next_opening: datetime | None
    distance_km: float | None = None


@dataclass(frozen=True)
class VariantResult:
    sku: str
    size: str
    colour: str
    stock: StockLevel
    price: Quote


@dataclass(frozen=True)
class StoreResult:
    """The asked variants (or every size) of the product in one store."""

    store: StoreInfo
    variants: tuple[VariantStock, ...]  # every variant of the colour(s) considered
    results: tuple[VariantResult, ...]  # the asked size, one per colour (empty: no size)
    distance_km: float | None = None

    @property
    def status(self) -> Status:
        levels = [r.stock.status for r in self.results] or [v.stock.status for v in self.variants]
        return min(levels, key=_STATUS_RANK.__getitem__) if levels else Status.OUT_OF_STOCK

    @property
    def in_stock_sizes(self) -> tuple[VariantStock, ...]:
        return tuple(v for v in self.variants if v.stock.status is not Status.OUT_OF_STOCK)


@dataclass(frozen=True)
class Alternative:
    store: StoreInfo
    distance_km: float
    sizes: tuple[str, ...]  # the sizes it has there (of the colour(s) considered)
    status: Status


@dataclass(frozen=True)
class StockCheck:
    outcome: Outcome
    query: ParsedQuery
    product: ProductView | None = None
    colour: str | None = None
    size: str | None = None
    candidates: tuple[ProductInfo, ...] = ()
    candidate_count: int = 0
    options: tuple[str, ...] = ()
    place: str | None = None
    store: StoreResult | None = None
    store_source: str | None = None  # "chosen", "text", "place", "location", "context", "favourite"
    also_in_city: tuple[StoreInfo, ...] = ()
    alternatives: tuple[Alternative, ...] = ()
    online: StockLevel | None = None
    hours: StoreHours | None = None
    nearest: tuple[StoreHours, ...] = ()
    location: Coordinates | None = None  # the location to remember (shared now)
    cities: tuple[str, ...] = ()  # for UNKNOWN_STORE: the cities that have a store

    @property
    def status(self) -> Status | None:
        return self.store.status if self.store is not None else None

    @property
    def bookable(self) -> bool:
        """A try-on may be booked only when it is in stock (never on the last pieces)."""
        return self.status is Status.IN_STOCK

    @property
    def price(self) -> Quote | None:
        if self.store is not None and self.store.results:
            return self.store.results[0].price
        if self.product is None:
            return None
        variants = [
            v for v in self.product.variants if self.colour is None or v.colour == self.colour
        ]
        if self.size is not None:
            variants = [v for v in variants if same_size(v.size, self.size)] or variants
        return min((v.price for v in variants), key=lambda q: q.final_cents, default=None)

    @property
    def sku(self) -> str | None:
        if self.store is not None and len(self.store.results) == 1:
            return self.store.results[0].sku
        return None

    def record(self) -> dict[str, object]:
        """What is kept in the customer's profile about this check (JSON-able)."""
        return {
            "outcome": self.outcome.value,
            "text": self.query.text[:300],
            "product_code": self.product.code if self.product else None,
            "sku": self.sku,
            "size": self.size,
            "colour": self.colour,
            "store_code": self.store.store.code if self.store else None,
            "status": self.status.value if self.status else None,
            "candidates": [c.code for c in self.candidates],
            "place": self.place,
        }


@dataclass(frozen=True)
class HoursAnswer:
    outcome: Outcome  # STORE_INFO, ASK_STORE, NEED_LOCATION, UNKNOWN_STORE, INVALID_LOCATION
    stores: tuple[StoreHours, ...] = ()
    place: str | None = None
    location: Coordinates | None = None
    cities: tuple[str, ...] = ()


@dataclass
class _Stores:
    """Which store(s) a message means."""

    outcome: Outcome | None = None  # set when no store can be chosen
    stores: list[StoreInfo] = field(default_factory=list)
    origin: Coordinates | None = None  # distances are measured from here
    source: str | None = None
    place: str | None = None


class StockChecker:
    def __init__(
        self,
        db: Database,
        inventory: InventoryProvider,
        resolver: Callable[[], Awaitable[Resolver]],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._inventory = inventory
        self._resolver = resolver
        self._clock = clock

    # --- stock ------------------------------------------------------------------------

    async def check(self, text: str, context: CheckContext = CheckContext()) -> StockCheck:
        resolver = await self._resolver()
        query = resolver.parse(text)
        now = self._clock()
        try:
            shared = _coordinates(context.shared_location)
        except InvalidLocation:
            return StockCheck(Outcome.INVALID_LOCATION, query)
        if shared is not None:
            context = replace(context, location=shared)
        if query.store is not None and query.store.kind == "unknown":
            # "a Parigi": whatever the product, there is no store to check.
            return StockCheck(
                Outcome.UNKNOWN_STORE, query, place=query.store.text, cities=await self._cities()
            )

        picked = self._pick_product(resolver, query, context)
        if isinstance(picked, StockCheck):
            return replace(picked, location=shared)
        if picked is None:
            return await self._without_product(query, context, shared, now)
        code, sku = picked
        try:
            async with self._db.sessions() as session:
                product = await get_product(session, code, at=now)
        except UnknownProduct:
            return StockCheck(Outcome.UNKNOWN_PRODUCT, query, place=code)
        same_product = code == context.product_code
        typed = _variant(product, sku)
        colour = query.colour or (typed.colour if typed else None)
        if colour is None and same_product:
            colour = context.colour
        size = query.size or (typed.size if typed and sku and query.code else None)
        if size is None and same_product:
            size = context.size
        if len(product.colours) == 1 and colour is None:
            colour = product.colours[0]
        if len(product.sizes) == 1 and size is None:
            size = product.sizes[0]
        base = StockCheck(Outcome.ANSWER, query, product, location=shared)
        if colour is not None and not any(fold(c) == fold(colour) for c in product.colours):
            return replace(
                base, outcome=Outcome.UNKNOWN_COLOUR, colour=colour, options=tuple(product.colours)
            )
        colour = (
            next((c for c in product.colours if fold(c) == fold(colour)), None) if colour else None
        )
        if size is not None:
            try:
                sized = product.variants_for(size=size, colour=colour)
            except UnknownVariant as error:
                return replace(
                    base,
                    outcome=Outcome.UNKNOWN_SIZE,
                    colour=colour,
                    size=size,
                    options=tuple(error.options),
                )
            size = sized[0].size
        base = replace(base, colour=colour, size=size)

        where = await self._stores(query, context, shared)
        if where.outcome is not None:
            cities = await self._cities() if where.outcome is Outcome.UNKNOWN_STORE else ()
            return replace(base, outcome=where.outcome, place=where.place, cities=cities)
        results = [
            await self._in_store(product, store, colour, size, where.origin, now)
            for store in where.stores
        ]
        results.sort(
            key=lambda r: (
                _STATUS_RANK[r.status],
                -len(r.in_stock_sizes),
                r.distance_km or 0,
                r.store.code,
            )
        )
        best = results[0]
        also = tuple(r.store for r in results[1:] if r.status is not Status.OUT_OF_STOCK)
        answer = replace(
            base,
            store=best,
            store_source=where.source,
            also_in_city=also,
            hours=store_hours(best.store, now, best.distance_km),
        )
        if best.status is Status.OUT_OF_STOCK:
            origin = where.origin or best.store.location
            asked = best.results or best.variants
            sizes = {v.sku: v.size for v in asked}
            exclude = {r.store.code for r in results}
            answer = replace(
                answer,
                alternatives=await self._alternatives(sizes, origin, exclude),
                online=await self._online(list(sizes)),
            )
        return answer

    def _pick_product(
        self, resolver: Resolver, query: ParsedQuery, context: CheckContext
    ) -> tuple[str, str | None] | StockCheck | None:
        index = resolver.index
        if context.chosen_product:
            hit = index.exact(context.chosen_product)
            if hit is None:
                return StockCheck(Outcome.UNKNOWN_PRODUCT, query, place=context.chosen_product)
            return hit
        if query.code is not None:
            return query.code
        guessed = all(w.how in ("fuzzy", "prefix") for w in query.product_words)
        if query.product_words and query.unmatched and guessed:
            # "red ski suit": one word we know nothing of, one that only looks like ours.
            return StockCheck(Outcome.UNKNOWN_PRODUCT, query, place=query.product_text)
        if query.product_words:
            choice = resolver.choose(query)
            if choice.product is not None:
                return choice.product.product_code, None
            if choice.candidates:
                found = [index.info(m.product_code) for m in choice.candidates]
                infos = tuple(i for i in found if i is not None)
                return StockCheck(
                    Outcome.AMBIGUOUS_PRODUCT,
                    query,
                    candidates=infos[:MAX_CANDIDATES],
                    candidate_count=len(infos),
                    colour=query.colour,
                    size=query.size,
                )
        page = index.exact(context.page_product) if context.page_product else None
        page_is_new = context.page_product != context.last_page_product
        if page and (query.deictic or page_is_new or not context.product_code):
            return page
        says_more = bool(query.size or query.colour or query.store or query.near_me)
        if query.unmatched and not (context.product_code and says_more):
            return StockCheck(Outcome.UNKNOWN_PRODUCT, query, place=query.product_text)
        if context.product_code and index.info(context.product_code) is not None:
            return context.product_code, None
        return None

    async def _without_product(
        self,
        query: ParsedQuery,
        context: CheckContext,
        shared: Coordinates | None,
        now: datetime,
    ) -> StockCheck:
        """No product: a location gives the nearest stores, a store gives its hours."""
        base = StockCheck(Outcome.ASK_PRODUCT, query, location=shared)
        if (
            query.store is None
            and not query.near_me
            and shared is None
            and not context.chosen_store
        ):
            return base
        where = await self._stores(query, context, shared)
        if where.outcome in (Outcome.UNKNOWN_STORE, Outcome.NEED_LOCATION):
            cities = await self._cities() if where.outcome is Outcome.UNKNOWN_STORE else ()
            return replace(base, outcome=where.outcome, place=where.place, cities=cities)
        if where.outcome is not None:
            return base
        if where.source in ("location", "place") and where.origin is not None:
            directory = await self._inventory.stores()
            nearest = directory.nearest(where.origin, limit=3)
            return replace(
                base,
                outcome=Outcome.NEAREST_STORES,
                nearest=tuple(store_hours(n.store, now, n.distance_km) for n in nearest),
            )
        return replace(
            base,
            outcome=Outcome.STORE_INFO,
            nearest=tuple(store_hours(s, now) for s in where.stores),
            store_source=where.source,
        )

    async def _in_store(
        self,
        product: ProductView,
        store: StoreInfo,
        colour: str | None,
        size: str | None,
        origin: Coordinates | None,
        now: datetime,
    ) -> StoreResult:
        variants = await self._inventory.variants_in_store(product.code, store.code, colour=colour)
        prices = {v.sku: v.price for v in product.variants}
        results = tuple(
            VariantResult(v.sku, v.size, v.colour, v.stock, prices[v.sku])
            for v in variants
            if size is not None and same_size(v.size, size)
        )
        distance = distance_km(origin, store.location) if origin is not None else None
        return StoreResult(store, tuple(variants), results, distance)

    async def _alternatives(
        self, sizes: dict[str, str], origin: Coordinates, exclude: set[str]
    ) -> tuple[Alternative, ...]:
        """The nearest other stores with any of ``sizes`` (sku → size), sizes merged."""
        found: dict[str, Alternative] = {}
        for sku, size in sizes.items():
            nearby = await self._inventory.nearest_with_stock(
                sku, origin, limit=ALTERNATIVES + len(exclude)
            )
            for near in nearby:
                if near.store.code not in exclude:
                    _merge(found, near, size)
        ranked = sorted(found.values(), key=lambda a: (a.distance_km, a.store.code))
        return tuple(ranked[:ALTERNATIVES])

    async def _online(self, skus: list[str]) -> StockLevel | None:
        best: StockLevel | None = None
        for sku in skus:
            level = await self._inventory.online(sku)
            if best is None or level.available > best.available:
                best = level
        return best

    # --- stores -----------------------------------------------------------------------

    async def _cities(self) -> tuple[str, ...]:
        directory = await self._inventory.stores()
        return tuple(sorted({s.city for s in directory if s.active}))

    async def _stores(
        self,
        query: ParsedQuery,
        context: CheckContext,
        shared: Coordinates | None,
    ) -> _Stores:
        directory = await self._inventory.stores()
        location = shared or context.location
        if context.chosen_store:
            store = _active(directory, context.chosen_store)
            if store is None:
                return _Stores(Outcome.UNKNOWN_STORE, place=context.chosen_store)
            return _Stores(stores=[store], origin=location, source="chosen")
        hint = query.store
        if hint is not None:
            return self._from_hint(directory, hint, location)
        if query.near_me:
            if location is None:
                return _Stores(Outcome.NEED_LOCATION)
            return _nearest(directory, location)
        if shared is not None:
            return _nearest(directory, shared)
        for code, source in (
            (context.store_code, "context"),
            (context.favourite_store, "favourite"),
        ):
            store = _active(directory, code) if code else None
            if store is not None:
                return _Stores(stores=[store], origin=context.location, source=source)
        if context.location is not None:
            return _nearest(directory, context.location)
        return _Stores(Outcome.ASK_STORE)

    def _from_hint(
        self, directory: StoreDirectory, hint: StoreHint, location: Coordinates | None
    ) -> _Stores:
        if hint.kind == "unknown":
            return _Stores(Outcome.UNKNOWN_STORE, place=hint.text)
        if hint.kind == "place" and hint.origin is not None:
            found = _nearest(directory, hint.origin)
            found.source, found.place = "place", hint.text
            return found
        stores = [s for s in hint.stores if s.active]
        if not stores:
            return _Stores(Outcome.UNKNOWN_STORE, place=hint.text)
        return _Stores(stores=stores, origin=location, source="text", place=hint.text)

    # --- hours ------------------------------------------------------------------------

    async def hours(self, text: str, context: CheckContext = CheckContext()) -> HoursAnswer:
        """Opening hours of the store(s) the shopper means (a city: each of its stores)."""
        resolver = await self._resolver()
        query = resolver.parse(text)
        now = self._clock()
        try:
            shared = _coordinates(context.shared_location)
        except InvalidLocation:
            return HoursAnswer(Outcome.INVALID_LOCATION)
        where = await self._stores(query, context, shared)
        if where.outcome is not None:
            cities = await self._cities() if where.outcome is Outcome.UNKNOWN_STORE else ()
            return HoursAnswer(where.outcome, place=where.place, location=shared, cities=cities)
        stores = tuple(
            store_hours(s, now, distance_km(where.origin, s.location) if where.origin else None)
            for s in where.stores
        )
        return HoursAnswer(Outcome.STORE_INFO, stores, where.place, shared)


def store_hours(store: StoreInfo, at: datetime, distance: float | None = None) -> StoreHours:
    local = at.astimezone(store.hours.zone)
    return StoreHours(
        store,
        store.hours.is_open(at),
        store.hours.on(local.date()),
        store.hours.closes_at(at),
        None if store.hours.is_open(at) else store.hours.next_opening(at),
        distance,
    )


def _variant(product: ProductView, sku: str | None) -> VariantView | None:
    return next((v for v in product.variants if v.sku == sku), None) if sku else None


def _coordinates(raw: tuple[object, object] | None) -> Coordinates | None:
    if raw is None:
        return None
    return Coordinates.of(*raw)


def _active(directory: StoreDirectory, code: str) -> StoreInfo | None:
    try:
        store = directory.get(code)
    except UnknownStore:
        return None
    return store if store.active else None


def _nearest(directory: StoreDirectory, origin: Coordinates) -> _Stores:
    nearest: list[NearbyStore] = directory.nearest(origin, limit=1)
    if not nearest:
        return _Stores(Outcome.UNKNOWN_STORE)
    return _Stores(stores=[nearest[0].store], origin=origin, source="location")


def _merge(found: dict[str, Alternative], near: NearbyStock, size: str) -> None:
    current = found.get(near.store.code)
    if current is None:
        found[near.store.code] = Alternative(
            near.store, near.distance_km, (size,), near.stock.status
        )
        return
    sizes = tuple(sorted(set(current.sizes) | {size}, key=size_key))
    status = min((current.status, near.stock.status), key=_STATUS_RANK.__getitem__)
    found[near.store.code] = Alternative(current.store, current.distance_km, sizes, status)
