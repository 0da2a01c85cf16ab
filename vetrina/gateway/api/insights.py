"""HTTP: ``POST /api/orders`` and ``GET /api/insights/kpis`` (and its ``.csv`` twin).

The composition root mounts :func:`routes` and :func:`booking_routes`; their paths are
part of the OpenAPI document (:data:`OPENAPI_PATHS`). The handlers find the services of
the running app through ``insights_of`` / ``outcomes_of`` (they open with the database).

``POST /api/orders`` — for a shop or a till system:

- ``Authorization: Bearer <VETRINA_ORDERS_TOKEN>`` (constant-time compare); 401 when
  missing or wrong, 503 when no token is configured (the endpoint is off).
- Body: a JSON array of at most 1,000 order records (or ``{"orders": [...]}``), see
  :mod:`vetrina.insights.records`; more is 413, not JSON or not a list is 400.
- 200 ``{"applied": n, "matched": k, "unchanged": u}``; a resent batch is all
  ``unchanged``. 422 lists every bad record by index and reason, and nothing is applied.

``GET /api/insights/kpis?from=YYYY-MM-DD&to=YYYY-MM-DD[&store=][&channel=][&group_by=]``
— JSON of :func:`vetrina.insights.kpis.kpis`; ``/api/insights/kpis.csv`` the same as CSV.
Who may read what is decided by the ``kpi_access`` callable the gateway passes (a
reporting bearer token sees every store); :func:`kpi_query` and :func:`csv_response` are
shared with the console's Insights page, where a consultant's session sees only theirs.

Errors are the API's one shape, ``{"error": {"code", "message", "details"}}``: handlers
raise :class:`~vetrina.gateway.http.ApiError` and the app's ``errors`` middleware answers;
the bearer checks are :mod:`vetrina.gateway.http`'s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from vetrina.bookings.outcomes import (
    BookingOutcomes,
    BookingUnknown,
    OutcomeError,
    OutcomeView,
    WrongStore,
)
from vetrina.gateway.http import ApiError, bearer_matches, require_bearer
from vetrina.gateway.keys import BOOKING_OUTCOMES, INSIGHTS
from vetrina.insights.kpis import FIELDS, GROUPS, KpiError, KpiQuery, period, to_csv
from vetrina.insights.orders import MAX_BATCH
from vetrina.insights.service import Insights
from vetrina.settings import Settings

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 60.0  # seconds between rounds of incremental attribution and rollups

MAX_BODY_BYTES = 8 * 1024 * 1024  # 1,000 generous orders fit in a fraction of this


@dataclass(frozen=True)
class KpiAccess:
    """What the caller may see: ``stores`` None means every store."""

    stores: frozenset[str] | None = None


AccessCheck = Callable[[web.Request], Awaitable[KpiAccess | None]]


def bearer_access(token: str) -> AccessCheck:
    """Every store for a request with this bearer token (a reporting or BI tool)."""

    async def check(request: web.Request) -> KpiAccess | None:
        return KpiAccess() if bearer_matches(request, token) else None

    return check


async def _body(request: web.Request) -> bytes | None:
    """The whole body, or None past :data:`MAX_BODY_BYTES` (not the app's 1 MB default)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def kpi_query(params: Mapping[str, str], access: KpiAccess) -> KpiQuery:
    """The query of ``?from&to&store&channel&group_by`` within ``access``; raises the
    400/403 :class:`ApiError`. Shared by the API and the console, so both refuse the same
    things."""
    try:
        start, end = period(params.get("from", ""), params.get("to", ""))
        store = params.get("store") or None
        if access.stores is not None:
            if store is None and len(access.stores) == 1:
                store = next(iter(access.stores))
            if store is None or store not in access.stores:
                raise ApiError(
                    403,
                    "forbidden_store",
                    "choose one of your stores with ?store=",
                    {"stores": sorted(access.stores)},
                )
        return KpiQuery(
            start,
            end,
            store=store,
            channel=params.get("channel") or None,
            group_by=params.get("group_by") or None,
        )
    except KpiError as problem:
        raise ApiError(400, "bad_query", str(problem)) from None


def csv_response(query: KpiQuery, document: Mapping[str, Any]) -> web.Response:
    """The ``.csv`` twin of a KPI document, as a download named after its period."""
    name = f"kpis-{query.start.isoformat()}-{query.end.isoformat()}.csv"
    return web.Response(
        text=to_csv(document),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def routes(
    insights_of: Callable[[web.Request], Insights], *, orders_token: str, kpi_access: AccessCheck
) -> list[web.RouteDef]:
    async def post_orders(request: web.Request) -> web.Response:
        require_bearer(request, orders_token, "orders", "VETRINA_ORDERS_TOKEN")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            raw = await _body(request)
            if raw is None:
                raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
            body = json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "not_json", "the body is not JSON") from None
        records = body.get("orders") if isinstance(body, dict) else body
        if not isinstance(records, list):
            raise ApiError(
                400, "not_a_list", 'expected a JSON array of orders, or {"orders": [...]}'
            )
        if len(records) > MAX_BATCH:
            raise ApiError(
                413,
                "batch_too_large",
                f"at most {MAX_BATCH} orders per batch, got {len(records)}: split it",
                {"max": MAX_BATCH, "received": len(records)},
            )
        result = await insights_of(request).ingest(records)
        if result.problems:
            raise ApiError(
                422,
                "invalid_records",
                f"{len({p.index for p in result.problems})} of {len(records)} record(s) are "
                "invalid; nothing was applied",
                {
                    "errors": [
                        {"index": p.index, "order_id": p.order_id, "reason": p.reason}
                        for p in result.problems
                    ]
                },
            )
        log.info(
            "orders: %d applied, %d matched, %d unchanged",
            result.applied,
            result.matched,
            result.unchanged,
        )
        return web.json_response(
            {"applied": result.applied, "matched": result.matched, "unchanged": result.unchanged}
        )

    async def query_of(request: web.Request) -> KpiQuery:
        access = await kpi_access(request)
        if access is None:
            raise ApiError(401, "unauthorised", "sign in, or send the reporting bearer token")
        return kpi_query(request.query, access)

    async def get_kpis(request: web.Request) -> web.Response:
        query = await query_of(request)
        return web.json_response(await insights_of(request).kpis(query))

    async def get_kpis_csv(request: web.Request) -> web.Response:
        query = await query_of(request)
        return csv_response(query, await insights_of(request).kpis(query))

    return [
        web.post("/api/orders", post_orders),
        web.get("/api/insights/kpis", get_kpis),
        web.get("/api/insights/kpis.csv", get_kpis_csv),
    ]


def outcome_error(problem: OutcomeError) -> ApiError:
    """404 unknown code, 422 another store's booking, 409 a move its state forbids; the
    till's API and the console's day sheet answer the same."""
    if isinstance(problem, BookingUnknown):
        return ApiError(404, problem.code, f"no booking {problem}")
    if isinstance(problem, WrongStore):
        return ApiError(422, problem.code, str(problem))
    return ApiError(409, problem.code, str(problem))


def outcome_json(view: OutcomeView) -> dict[str, Any]:
    return {
        "code": view.code,
        "store": view.store,
        "status": view.status,
        "checked_in_at": view.checked_in_at.isoformat() if view.checked_in_at else None,
        "checked_in_by": view.checked_in_by,
        "action": view.action,
        "undid": view.undid,
        "actor": view.actor,
        "at": view.at.isoformat(),
    }


def booking_routes(
    outcomes_of: Callable[[web.Request], BookingOutcomes], *, checkin_token: str
) -> list[web.RouteDef]:
    """``POST /api/bookings/{code}/check-in`` for a store tablet or till (bearer token).

    Optional JSON body ``{"store": "MI-DUOMO", "staff": "giulia@example.com"}``. 200 with
    the booking's state; 404 unknown code, 409 cancelled / completed / no-show / already
    checked in, 422 a booking of another store than ``store``.
    """

    async def check_in(request: web.Request) -> web.Response:
        require_bearer(request, checkin_token, "check-in", "VETRINA_CHECKIN_TOKEN")
        body: Any = {}
        if request.can_read_body:
            raw = await _body(request)
            try:
                body = json.loads(raw or b"{}")
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "not_json", "the body is not JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "not_an_object", 'expected {"store": ..., "staff": ...}')
        store = body.get("store") if isinstance(body.get("store"), str) else None
        staff = body.get("staff") if isinstance(body.get("staff"), str) else None
        try:
            view = await outcomes_of(request).check_in(
                request.match_info["code"], actor=(staff or "till")[:254], store=store
            )
        except OutcomeError as problem:
            raise outcome_error(problem) from None
        return web.json_response(outcome_json(view))

    return [web.post("/api/bookings/{code}/check-in", check_in)]


_ERROR = {"$ref": "#/components/schemas/Error"}  # the API's one shape (openapi.py)
_QUERY = [
    {
        "name": "from",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "date"},
    },
    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
    {"name": "store", "in": "query", "schema": {"type": "string"}},
    {"name": "channel", "in": "query", "schema": {"type": "string"}},
    {"name": "group_by", "in": "query", "schema": {"type": "string", "enum": list(GROUPS)}},
]
_FIGURES = {
    "type": "object",
    "properties": {name: {"description": text} for name, text in FIELDS.items()},
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/orders": {
        "post": {
            "summary": "Orders and till sales (Order Completed records), at most 1,000",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "array",
                            "maxItems": MAX_BATCH,
                            "items": {
                                "type": "object",
                                "required": ["order_id", "occurred_at", "source", "lines", "total"],
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "applied",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "applied": {"type": "integer"},
                                    "matched": {"type": "integer"},
                                    "unchanged": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                **{
                    code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
                    for code, text in (
                        ("400", "not JSON / not a list"),
                        ("401", "bad token"),
                        ("413", "more than 1,000 records"),
                        ("422", "every bad record, nothing applied"),
                        ("503", "no token configured"),
                    )
                },
            },
        }
    },
    "/api/insights/kpis": {
        "get": {
            "summary": "The omnichannel KPIs for a period, a store, a channel, grouped",
            "parameters": _QUERY,
            "responses": {
                "200": {
                    "description": "KPIs",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "totals": _FIGURES,
                                    "groups": {"type": "array", "items": _FIGURES},
                                    "top_out_of_stock": {
                                        "type": "array",
                                        "items": {"type": "object"},
                                    },
                                },
                            }
                        }
                    },
                },
                "400": {
                    "description": "bad dates or grouping",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "401": {
                    "description": "not signed in",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "403": {
                    "description": "not one of your stores",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        }
    },
    "/api/bookings/{code}/check-in": {
        "post": {
            "summary": "A store tablet or till checks a shopper in by booking code",
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "checked in"},
                **{
                    code: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
                    for code, text in (
                        ("401", "bad token"),
                        ("404", "unknown code"),
                        ("409", "cancelled, completed or already checked in"),
                        ("422", "a booking of another store"),
                    )
                },
            },
        }
    },
    "/api/insights/kpis.csv": {
        "get": {
            "summary": "The same KPIs as CSV, one row per group",
            "parameters": _QUERY,
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}},
        }
    },
}


def add_routes(app: web.Application, settings: Settings) -> None:
    """Orders, KPIs and check-in, each behind its own bearer token (off while unset)."""
    app.router.add_routes(
        routes(
            lambda request: request.app[INSIGHTS],
            orders_token=settings.orders_token,
            kpi_access=bearer_access(settings.insights_token),
        )
    )
    app.router.add_routes(
        booking_routes(
            lambda request: request.app[BOOKING_OUTCOMES], checkin_token=settings.checkin_token
        )
    )


async def refresh_worker(insights: Insights, *, interval: float = REFRESH_INTERVAL) -> None:
    """Keep attribution and the rollups current: what changed since the last round
    (messages, handoffs, stock checks, links, merges, bookings) is attributed again. An
    ingest attributes its own orders at once; this catches everything else. It holds a
    lock, so several gateway instances may all run it."""
    while True:
        await asyncio.sleep(interval)
        try:
            await insights.refresh()
        except Exception:  # the next round retries; the dirty keys are still stored
            log.exception("insights refresh round failed")
