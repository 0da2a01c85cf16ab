"""The customer API: profile, timeline, consents, merges, export and erasure.

Every route needs ``Authorization: Bearer <VETRINA_API_TOKEN>`` (constant-time compare;
401 when missing or wrong, 503 when no token is configured). The OpenAPI description
(:data:`OPENAPI`) is served without a token at ``GET /api/openapi.json``; keep the two in
step (``tests/customers/test_api.py`` checks every route is described).

Errors are ``{"error": code, "message": text}`` with a stable ``code``.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web

from vetrina.customers.errors import (
    AlreadyUndone,
    CustomerError,
    CustomerGone,
    SelfMerge,
    UndoBlocked,
    UnknownCustomer,
    UnknownMerge,
)
from vetrina.customers.merging import MergeRecord, carry_memory, merge_customers, undo_merge
from vetrina.customers.models import IDENTITY_CHANNELS, ChannelIdentity, CustomerMerge
from vetrina.customers.ports import AssistantMemory
from vetrina.customers.privacy import erase_customer, export_customer
from vetrina.customers.profile import (
    MAX_PAGE,
    profile,
    record_consent,
    timeline,
    update_profile,
)
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

MEMORY = web.AppKey("customer_memory", AssistantMemory)
DATABASE = web.AppKey("customer_db", Database)
TOKEN = web.AppKey("customer_api_token", str)

MAX_BODY = 64 * 1024
_STATUS = {
    UnknownCustomer: 404, UnknownMerge: 404, CustomerGone: 409, AlreadyUndone: 409,
    UndoBlocked: 409, SelfMerge: 422,
}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def _customer_error(error: CustomerError) -> web.Response:
    return _error(_STATUS.get(type(error), 422), error.code, str(error))




def _authorised(request: web.Request) -> web.Response | None:
    token = request.app[TOKEN]
    if not token:
        return _error(503, "disabled", "the customer API is disabled: set VETRINA_API_TOKEN")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return _error(401, "unauthorised", "missing or wrong bearer token")
    return None


def guarded(handler: Any) -> Any:
    async def run(request: web.Request) -> web.StreamResponse:
        refused = _authorised(request)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except CustomerError as error:
            return _customer_error(error)
        except ValueError as error:
            return _error(422, "invalid", str(error))

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length and request.content_length > MAX_BODY:
        raise ValueError("the body is too large")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise ValueError("the body is too large")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")  # noqa: TRY004 (a 422 for the client)
    return body


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
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _merge_json(record: MergeRecord, memory: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "survivor_id": record.survivor_id,
        "merged_id": record.merged_id,
        "actor": record.actor,
        "reason": record.reason,
        "created_at": record.created_at.isoformat(),
        "undone_at": record.undone_at.isoformat() if record.undone_at else None,
        "undone_by": record.undone_by,
        "moved": record.moved,
        "overridden": record.overridden,
        "kept_on_undo": record.kept_on_undo,
    }
    if memory is not None:
        body["assistant_memory"] = memory
    return body


async def _refresh_memory(request: web.Request, customer_id: str) -> str:
    """Give the customer's conversation in the assistant the slots of their profile."""
    try:
        await carry_memory(request.app[DATABASE], request.app[MEMORY], customer_id)
    except Exception as error:  # the merge stands; the memory is a nicety, reported
        log.exception("could not update the assistant's memory of %s", customer_id)
        return f"failed: {error}"[:300]
    return "updated"


# --- handlers ------------------------------------------------------------------------------


@guarded
async def find_customer(request: web.Request) -> web.Response:
    """The customer behind a channel identity."""
    channel = request.query.get("channel", "")
    external_id = request.query.get("external_id", "")
    if channel not in IDENTITY_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(IDENTITY_CHANNELS)}")
    if not external_id or len(external_id) > 200:
        raise ValueError("external_id must be given (at most 200 characters)")
    async with request.app[DATABASE].sessions() as session:
        from sqlalchemy import select

        customer_id = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
        if customer_id is None:
            return _error(404, "unknown_identity", "no customer has this identity")
        return web.json_response(await profile(session, customer_id))


@guarded
async def get_profile(request: web.Request) -> web.Response:
    async with request.app[DATABASE].sessions() as session:
        return web.json_response(await profile(session, request.match_info["customer_id"]))


@guarded
async def patch_profile(request: web.Request) -> web.Response:
    body = await _body(request)
    if "name" in body:
        body["display_name"] = body.pop("name")
    customer_id = request.match_info["customer_id"]
    async with request.app[DATABASE].transaction() as session:
        await update_profile(session, customer_id, body)
    async with request.app[DATABASE].sessions() as session:
        return web.json_response(await profile(session, customer_id))


@guarded
async def get_timeline(request: web.Request) -> web.Response:
    offset = _int_query(request, "offset", 0, 0, 10**9)
    limit = _int_query(request, "limit", 50, 1, MAX_PAGE)
    order = request.query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise ValueError("order must be asc or desc")
    async with request.app[DATABASE].sessions() as session:
        page = await timeline(
            session, request.match_info["customer_id"], offset=offset, limit=limit,
            newest_first=order == "desc",
        )
    return web.json_response(
        {"items": page.items, "total": page.total, "offset": page.offset, "limit": page.limit,
         "next_offset": page.next_offset}
    )


@guarded
async def post_consent(request: web.Request) -> web.Response:
    body = await _body(request)
    channel = _text(body, "channel", 20)
    if channel not in IDENTITY_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(IDENTITY_CHANNELS)}")
    if not isinstance(body.get("granted"), bool):
        raise ValueError("'granted' must be true or false")  # noqa: TRY004
    wording = _text(body, "wording", 5000)
    source = _text(body, "source", 40, required=False)
    customer_id = request.match_info["customer_id"]
    async with request.app[DATABASE].transaction() as session:
        await record_consent(session, customer_id, channel or "", body["granted"], wording or "",
                             source=source)
    async with request.app[DATABASE].sessions() as session:
        return web.json_response(await profile(session, customer_id), status=201)


@guarded
async def get_export(request: web.Request) -> web.Response:
    customer_id = request.match_info["customer_id"]
    document = await export_customer(request.app[DATABASE], customer_id, request.app[MEMORY])
    return web.json_response(
        document,
        headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}.json"'},
        dumps=lambda data: json.dumps(data, ensure_ascii=False, default=str),
    )


@guarded
async def post_erasure(request: web.Request) -> web.Response:
    customer_id = request.match_info["customer_id"]
    try:
        report = await erase_customer(request.app[DATABASE], customer_id, request.app[MEMORY])
    except CustomerError:
        raise
    except Exception as error:  # the assistant's store unreachable: safe to call again
        log.exception("erasure of %s incomplete", customer_id)
        return _error(502, "erasure_incomplete", f"try again: {error.__class__.__name__}")
    return web.json_response(
        {"customer_ids": report.customer_ids, "counts": report.counts,
         "assistant_events_deleted": report.assistant_events_deleted,
         "already_erased": report.already_erased}
    )


@guarded
async def post_merge(request: web.Request) -> web.Response:
    body = await _body(request)
    survivor = _text(body, "survivor_id", 64)
    merged = _text(body, "merged_id", 64)
    actor = _text(body, "actor", 200)
    reason = _text(body, "reason", 2000)
    record = await merge_customers(
        request.app[DATABASE], survivor or "", merged or "", actor=actor or "", reason=reason or ""
    )
    memory = await _refresh_memory(request, record.survivor_id)
    return web.json_response(_merge_json(record, memory), status=201)


@guarded
async def get_merge(request: web.Request) -> web.Response:
    merge_id = _merge_id(request)
    async with request.app[DATABASE].sessions() as session:
        row = await session.get(CustomerMerge, merge_id)
        if row is None:
            raise UnknownMerge(merge_id)
        return web.json_response(_merge_json(MergeRecord.of(row)))


@guarded
async def post_undo(request: web.Request) -> web.Response:
    body = await _body(request)
    actor = _text(body, "actor", 200)
    record = await undo_merge(request.app[DATABASE], _merge_id(request), actor=actor or "")
    memory = await _refresh_memory(request, record.merged_id)
    return web.json_response(_merge_json(record, memory))


def _merge_id(request: web.Request) -> int:
    raw = request.match_info["merge_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise UnknownMerge(0)
    return int(raw)


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


# --- OpenAPI -----------------------------------------------------------------------------

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict[str, Any], *extra: int) -> dict[str, Any]:
    descriptions = {
        400: "Bad request", 401: "Missing or wrong bearer token", 404: "Not found",
        409: "Conflict: merged, erased, already undone or blocked", 422: "Invalid input",
        502: "The assistant's store could not be reached; safe to retry",
        503: "The API is disabled (no VETRINA_API_TOKEN)",
    }
    responses = dict(ok)
    for status in (401, 503, *extra):
        responses[str(status)] = {
            "description": descriptions[status],
            "content": {"application/json": {"schema": _ERROR}},
        }
    return responses


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_CUSTOMER_ID = {
    "name": "customer_id", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
_MERGE_ID = {
    "name": "merge_id", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
}
_NULL_TEXT = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {"type": "string", "format": "date-time", "nullable": True}
_PROFILE = {"$ref": "#/components/schemas/Profile"}
_MERGE = {"$ref": "#/components/schemas/Merge"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Vetrina customer API",
        "version": "1.0.0",
        "description": "Customer profiles, their timeline across channels, merges (with "
        "undo), export and erasure. Bearer token: VETRINA_API_TOKEN.",
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/customers": {
            "get": {
                "operationId": "findCustomer",
                "summary": "The customer behind a channel identity",
                "parameters": [
                    {"name": "channel", "in": "query", "required": True,
                     "schema": {"type": "string", "enum": list(IDENTITY_CHANNELS)}},
                    {"name": "external_id", "in": "query", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
                ],
                "responses": _responses({"200": _json("The profile", _PROFILE)}, 404, 422),
            }
        },
        "/api/customers/{customer_id}": {
            "parameters": [_CUSTOMER_ID],
            "get": {
                "operationId": "getProfile",
                "summary": "A customer's profile",
                "responses": _responses({"200": _json("The profile", _PROFILE)}, 404),
            },
            "patch": {
                "operationId": "updateProfile",
                "summary": "Change profile fields (only those given)",
                "requestBody": _body_schema({"$ref": "#/components/schemas/ProfileChanges"}),
                "responses": _responses({"200": _json("The profile", _PROFILE)}, 404, 422),
            },
        },
        "/api/customers/{customer_id}/timeline": {
            "parameters": [_CUSTOMER_ID],
            "get": {
                "operationId": "getTimeline",
                "summary": "Messages (every channel), interactions and merges, by time",
                "parameters": [
                    {"name": "offset", "in": "query",
                     "schema": {"type": "integer", "minimum": 0, "maximum": 1000000000}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
                    {"name": "order", "in": "query",
                     "schema": {"type": "string", "enum": ["asc", "desc"]}},
                ],
                "responses": _responses(
                    {"200": _json("One page", {"$ref": "#/components/schemas/TimelinePage"})},
                    404, 422,
                ),
            },
        },
        "/api/customers/{customer_id}/consents": {
            "parameters": [_CUSTOMER_ID],
            "post": {
                "operationId": "recordConsent",
                "summary": "Record a marketing consent answer with its wording",
                "requestBody": _body_schema({"$ref": "#/components/schemas/Consent"}),
                "responses": _responses({"201": _json("The profile", _PROFILE)}, 404, 422),
            },
        },
        "/api/customers/{customer_id}/export": {
            "parameters": [_CUSTOMER_ID],
            "get": {
                "operationId": "exportCustomer",
                "summary": "Everything held about the customer (and customers merged into it)",
                "responses": _responses(
                    {"200": _json("The export", {"$ref": "#/components/schemas/Export"})}, 404
                ),
            },
        },
        "/api/customers/{customer_id}/erasure": {
            "parameters": [_CUSTOMER_ID],
            "post": {
                "operationId": "eraseCustomer",
                "summary": "Erase the customer's personal data everywhere (keeps counts)",
                "responses": _responses(
                    {"200": _json("Done", {"$ref": "#/components/schemas/Erasure"})}, 404, 502
                ),
            },
        },
        "/api/merges": {
            "post": {
                "operationId": "mergeCustomers",
                "summary": "Merge merged_id into survivor_id",
                "requestBody": _body_schema({"$ref": "#/components/schemas/MergeRequest"}),
                "responses": _responses({"201": _json("The merge", _MERGE)}, 404, 409, 422),
            }
        },
        "/api/merges/{merge_id}": {
            "parameters": [_MERGE_ID],
            "get": {
                "operationId": "getMerge",
                "summary": "A merge",
                "responses": _responses({"200": _json("The merge", _MERGE)}, 404),
            },
        },
        "/api/merges/{merge_id}/undo": {
            "parameters": [_MERGE_ID],
            "post": {
                "operationId": "undoMerge",
                "summary": "Undo a merge (once)",
                "requestBody": _body_schema({
                    "type": "object", "required": ["actor"],
                    "properties": {"actor": {"type": "string", "minLength": 1, "maxLength": 200}},
                }),
                "responses": _responses({"200": _json("The merge", _MERGE)}, 404, 409, 422),
            },
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object", "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "Identity": {
                "type": "object",
                "required": ["channel", "external_id", "display_name", "linked_via",
                             "created_at", "last_seen_at"],
                "properties": {
                    "channel": {"type": "string"}, "external_id": {"type": "string"},
                    "display_name": _NULL_TEXT, "linked_via": _NULL_TEXT,
                    "created_at": _TIME, "last_seen_at": _TIME,
                },
            },
            "ConsentState": {
                "type": "object", "required": ["granted", "wording", "source", "given_at"],
                "properties": {
                    "granted": {"type": "boolean"}, "wording": {"type": "string"},
                    "source": _NULL_TEXT, "given_at": _TIME,
                },
            },
            "Profile": {
                "type": "object",
                "required": ["id", "name", "language", "sizes", "favourite_store_code", "tags",
                             "notes", "last_channel", "last_seen_at", "created_at",
                             "merged_into_id", "erased_at", "identities", "marketing_consent"],
                "properties": {
                    "id": {"type": "string"},
                    "name": _NULL_TEXT,
                    "language": _NULL_TEXT,
                    "sizes": {"type": "object", "additionalProperties": {"type": "string"}},
                    "favourite_store_code": _NULL_TEXT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "notes": _NULL_TEXT,
                    "last_channel": _NULL_TEXT,
                    "last_seen_at": _NULL_TIME,
                    "created_at": _TIME,
                    "merged_into_id": _NULL_TEXT,
                    "erased_at": _NULL_TIME,
                    "identities": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Identity"},
                    },
                    "marketing_consent": {
                        "type": "object",
                        "additionalProperties": {"$ref": "#/components/schemas/ConsentState"},
                    },
                },
            },
            "ProfileChanges": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "maxLength": 200, "nullable": True},
                    "language": {"type": "string", "enum": ["it", "en"], "nullable": True},
                    "favourite_store_code": {"type": "string", "maxLength": 32, "nullable": True},
                    "sizes": {
                        "type": "object", "maxProperties": 20,
                        "additionalProperties": {"type": "string", "maxLength": 20},
                    },
                    "tags": {
                        "type": "array", "maxItems": 50,
                        "items": {"type": "string", "minLength": 1, "maxLength": 40},
                    },
                    "notes": {"type": "string", "maxLength": 10000, "nullable": True},
                },
            },
            "Consent": {
                "type": "object", "required": ["channel", "granted", "wording"],
                "properties": {
                    "channel": {"type": "string", "enum": list(IDENTITY_CHANNELS)},
                    "granted": {"type": "boolean"},
                    "wording": {"type": "string", "minLength": 1, "maxLength": 5000},
                    "source": {"type": "string", "minLength": 1, "maxLength": 40},
                },
            },
            "TimelineItem": {
                "type": "object", "required": ["type", "id", "at", "channel"],
                "properties": {
                    "type": {"type": "string",
                             "description": "message, merge, or an interaction kind "
                             "(stock_check, booking_*, handoff, channel_linked…)"},
                    "id": {"type": "integer"},
                    "at": _TIME,
                    "channel": _NULL_TEXT,
                    "direction": {"type": "string", "enum": ["in", "out"]},
                    "author": {"type": "string",
                               "enum": ["customer", "bot", "consultant", "system"]},
                    "text": {"type": "string"},
                    "status": {"type": "string"},
                    "data": {"type": "object"},
                },
            },
            "TimelinePage": {
                "type": "object", "required": ["items", "total", "offset", "limit", "next_offset"],
                "properties": {
                    "items": {"type": "array",
                              "items": {"$ref": "#/components/schemas/TimelineItem"}},
                    "total": {"type": "integer"}, "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "next_offset": {"type": "integer", "nullable": True},
                },
            },
            "Export": {
                "type": "object",
                "required": ["exported_at", "customer", "merged_customers", "tables",
                             "assistant_events"],
                "properties": {
                    "exported_at": _TIME,
                    "customer": _PROFILE,
                    "merged_customers": {"type": "array", "items": _PROFILE},
                    "tables": {"type": "object", "additionalProperties": {
                        "type": "array", "items": {"type": "object"}}},
                    "assistant_events": {"type": "array", "items": {"type": "object"}},
                },
            },
            "Erasure": {
                "type": "object",
                "required": ["customer_ids", "counts", "assistant_events_deleted",
                             "already_erased"],
                "properties": {
                    "customer_ids": {"type": "array", "items": {"type": "string"}},
                    "counts": {"type": "object"},
                    "assistant_events_deleted": {"type": "integer"},
                    "already_erased": {"type": "boolean"},
                },
            },
            "MergeRequest": {
                "type": "object", "required": ["survivor_id", "merged_id", "actor", "reason"],
                "properties": {
                    "survivor_id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "merged_id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "actor": {"type": "string", "minLength": 1, "maxLength": 200},
                    "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
                },
            },
            "Merge": {
                "type": "object",
                "required": ["id", "survivor_id", "merged_id", "actor", "reason", "created_at",
                             "undone_at", "undone_by", "moved", "overridden", "kept_on_undo"],
                "properties": {
                    "id": {"type": "integer"},
                    "survivor_id": {"type": "string"}, "merged_id": {"type": "string"},
                    "actor": {"type": "string"}, "reason": {"type": "string"},
                    "created_at": _TIME, "undone_at": _NULL_TIME, "undone_by": _NULL_TEXT,
                    "moved": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "overridden": {"type": "object"},
                    "kept_on_undo": {"type": "object"},
                    "assistant_memory": {
                        "type": "string",
                        "description": "updated, or failed: reason (the merge stands)",
                    },
                },
            },
        },
    },
}
