"""The customer API: profile, timeline, consents, merges, export and erasure.

Every route needs ``Authorization: Bearer <VETRINA_API_TOKEN>`` (constant-time compare;
401 when missing or wrong, 503 when no token is configured). The OpenAPI description
(:data:`~vetrina.gateway.api.openapi.OPENAPI`) is served without a token at
``GET /api/openapi.json``. Errors are the gateway's one shape,
``{"error": {"code", "message", "details"}}``, with a stable ``code``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.errors import CustomerError, UnknownMerge
from vetrina.customers.merge_sync import merge_and_sync, undo_and_sync
from vetrina.customers.merging import MergeRecord
from vetrina.customers.models import IDENTITY_CHANNELS, ChannelIdentity, CustomerMerge
from vetrina.customers.privacy import erase_customer, export_customer
from vetrina.customers.profile import MAX_PAGE, profile, record_consent, timeline, update_profile
from vetrina.gateway.api.openapi import OPENAPI
from vetrina.gateway.http import (
    ApiError,
    customer_error,
    json_response,
    parse_id,
    read_object,
    require_bearer,
)
from vetrina.gateway.keys import SERVICES
from vetrina.gateway.merges import merge_json
from vetrina.gateway.services import Services
from vetrina.insights.orders import customer_orders

log = logging.getLogger(__name__)

CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Route = Callable[[web.Request, Services], Awaitable[web.Response]]


def guarded(handler: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The bearer token checked, customer errors and bad input turned into answers."""

    async def run(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        require_bearer(request, services.settings.api_token, "customers", "VETRINA_API_TOKEN")
        try:
            return await handler(request, services)
        except CustomerError as error:
            raise customer_error(error) from None
        except ValueError as error:
            raise ApiError(422, "invalid", str(error)) from None

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _customer_id(request: web.Request) -> str:
    raw = request.match_info["customer_id"]
    if not CUSTOMER_ID.match(raw):
        raise ApiError(404, "unknown_customer", "no such customer")
    return raw


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f"{name!r} must be a non-empty text of at most {limit} characters")
    return value.strip()


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 12:
        raise ValueError(f"{name} must be a whole number between {low} and {high}")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


# --- handlers ------------------------------------------------------------------------------


@guarded
async def find_customer(request: web.Request, services: Services) -> web.Response:
    """The customer behind a channel identity."""
    channel = request.query.get("channel", "")
    external_id = request.query.get("external_id", "")
    if channel not in IDENTITY_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(IDENTITY_CHANNELS)}")
    if not external_id or len(external_id) > 200 or "\x00" in external_id:
        raise ValueError("external_id must be given (at most 200 characters)")
    async with services.db.sessions() as session:
        customer_id = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
        if customer_id is None:
            raise ApiError(404, "unknown_identity", "no customer has this identity")
        return json_response(await _profile(session, customer_id))


async def _profile(session: AsyncSession, customer_id: str) -> dict[str, Any]:
    """The customers package's profile plus the person's matched orders (online and till;
    insights sits above customers, so the two meet here)."""
    found = await profile(session, customer_id)
    return {**found, "orders": await customer_orders(session, [customer_id], limit=20)}


@guarded
async def get_profile(request: web.Request, services: Services) -> web.Response:
    async with services.db.sessions() as session:
        return json_response(await _profile(session, _customer_id(request)))


@guarded
async def patch_profile(request: web.Request, services: Services) -> web.Response:
    customer_id = _customer_id(request)
    body = await read_object(request)
    if "name" in body:
        body["display_name"] = body.pop("name")
    async with services.db.transaction() as session:
        await update_profile(session, customer_id, body)
    async with services.db.sessions() as session:
        return json_response(await _profile(session, customer_id))


@guarded
async def get_timeline(request: web.Request, services: Services) -> web.Response:
    customer_id = _customer_id(request)
    offset = _int_query(request, "offset", 0, 0, 10**9)
    limit = _int_query(request, "limit", 50, 1, MAX_PAGE)
    order = request.query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise ValueError("order must be asc or desc")
    async with services.db.sessions() as session:
        page = await timeline(
            session, customer_id, offset=offset, limit=limit, newest_first=order == "desc"
        )
    return json_response(
        {"items": page.items, "total": page.total, "offset": page.offset, "limit": page.limit,
         "next_offset": page.next_offset}
    )


@guarded
async def post_consent(request: web.Request, services: Services) -> web.Response:
    customer_id = _customer_id(request)
    body = await read_object(request)
    channel = _text(body, "channel", 20)
    if channel not in IDENTITY_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(IDENTITY_CHANNELS)}")
    granted = body.get("granted")
    if not isinstance(granted, bool):
        raise ValueError("'granted' must be true or false")
    wording = _text(body, "wording", 5000)
    source = _text(body, "source", 40, required=False)
    async with services.db.transaction() as session:
        await record_consent(session, customer_id, channel or "", granted, wording or "",
                             source=source)
    async with services.db.sessions() as session:
        return json_response(await _profile(session, customer_id), status=201)


@guarded
async def get_export(request: web.Request, services: Services) -> web.Response:
    customer_id = _customer_id(request)
    document = await export_customer(services.db, customer_id, services.memory)
    return web.json_response(
        document,
        headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}.json"'},
        dumps=lambda data: json.dumps(data, ensure_ascii=False, default=str),
    )


@guarded
async def post_erasure(request: web.Request, services: Services) -> web.Response:
    customer_id = _customer_id(request)
    try:
        report = await erase_customer(services.db, customer_id, services.memory)
    except CustomerError:
        raise
    except Exception as error:  # the assistant's store unreachable: safe to call again
        log.exception("erasure of %s incomplete", customer_id)
        raise ApiError(
            502, "erasure_incomplete", f"try again: {error.__class__.__name__}"
        ) from None
    return json_response(
        {"customer_ids": report.customer_ids, "counts": report.counts,
         "assistant_events_deleted": report.assistant_events_deleted,
         "already_erased": report.already_erased}
    )


@guarded
async def post_merge(request: web.Request, services: Services) -> web.Response:
    body = await read_object(request)
    survivor = _text(body, "survivor_id", 64)
    merged = _text(body, "merged_id", 64)
    actor = _text(body, "actor", 200)
    reason = _text(body, "reason", 2000)
    done = await merge_and_sync(
        services.db, services.memory, survivor or "", merged or "", actor=actor or "",
        reason=reason or "",
    )
    return json_response(merge_json(done.record, done.assistant_memory), status=201)


@guarded
async def get_merge(request: web.Request, services: Services) -> web.Response:
    merge_id = _merge_id(request)
    async with services.db.sessions() as session:
        row = await session.get(CustomerMerge, merge_id)
        if row is None:
            raise UnknownMerge(merge_id)
        return json_response(merge_json(MergeRecord.of(row)))


@guarded
async def post_undo(request: web.Request, services: Services) -> web.Response:
    merge_id = _merge_id(request)
    body = await read_object(request)
    actor = _text(body, "actor", 200)
    done = await undo_and_sync(services.db, services.memory, merge_id, actor=actor or "")
    return json_response(merge_json(done.record, done.assistant_memory))


def _merge_id(request: web.Request) -> int:
    raw = request.match_info["merge_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise UnknownMerge(0)
    return parse_id(raw, "merge")


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def add_routes(app: web.Application) -> None:
    customer = "/api/customers/{customer_id}"
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/customers", find_customer)
    app.router.add_get(customer, get_profile)
    app.router.add_patch(customer, patch_profile)
    app.router.add_get(f"{customer}/timeline", get_timeline)
    app.router.add_post(f"{customer}/consents", post_consent)
    app.router.add_get(f"{customer}/export", get_export)
    app.router.add_post(f"{customer}/erasure", post_erasure)
    app.router.add_post("/api/merges", post_merge)
    app.router.add_get("/api/merges/{merge_id}", get_merge)
    app.router.add_post("/api/merges/{merge_id}/undo", post_undo)
