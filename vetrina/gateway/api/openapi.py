"""The customer API's OpenAPI description, served at ``GET /api/openapi.json``.

``tests/customers/test_api.py`` checks that every route is described and that answers
match these schemas; keep the two in step with :mod:`.customers`.
"""

from __future__ import annotations

from typing import Any

from vetrina.customers.models import IDENTITY_CHANNELS
from vetrina.customers.profile import MAX_PAGE
from vetrina.gateway.api.insights import OPENAPI_PATHS as INSIGHTS_PATHS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict[str, Any], *extra: int) -> dict[str, Any]:
    descriptions = {
        400: "Bad request: the body is not JSON, or nested too deep",
        401: "Missing or wrong bearer token", 404: "Not found",
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
                "responses": _responses({"200": _json("The profile", _PROFILE)}, 400, 404, 422),
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
                "responses": _responses({"201": _json("The profile", _PROFILE)}, 400, 404, 422),
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
                "responses": _responses({"201": _json("The merge", _MERGE)}, 400, 404, 409, 422),
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
                "responses": _responses({"200": _json("The merge", _MERGE)}, 400, 404, 409, 422),
            },
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"},
                        "details": {"type": "object"},
                    },
                }},
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
                    "orders": {
                        "type": "array",
                        "description": "matched orders and refunds, online and till, newest "
                                       "first (at most 20): store, items, total, matched key",
                        "items": {"$ref": "#/components/schemas/CustomerOrder"},
                    },
                },
            },
            "CustomerOrder": {
                "type": "object",
                "required": ["kind", "source", "order_id", "occurred_at", "store", "items",
                             "total_cents", "currency", "matched_key"],
                "properties": {
                    "kind": {"type": "string", "enum": ["order", "refund"]},
                    "source": {"type": "string", "enum": ["pos", "web"]},
                    "order_id": {"type": "string"},
                    "occurred_at": _TIME,
                    "store": _NULL_TEXT,
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sku": {"type": "string"}, "quantity": {"type": "integer"},
                                "unit_price_cents": {"type": "integer"},
                            },
                        },
                    },
                    "total_cents": {"type": "integer", "description": "negative for a refund"},
                    "currency": {"type": "string"},
                    "matched_key": _NULL_TEXT,
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

# Orders, KPIs and check-in (vetrina.gateway.api.insights) are described in the same document.
OPENAPI["paths"].update(INSIGHTS_PATHS)
