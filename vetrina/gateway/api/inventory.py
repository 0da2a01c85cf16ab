"""``POST /api/inventory/stock``: store stock counts pushed by an inventory or POS system.

The contract, for integrators:

- ``Authorization: Bearer <VETRINA_INVENTORY_TOKEN>`` (compared in constant time); 401 when
  missing or wrong, 503 when no token is configured (the endpoint is off).
- Errors are the gateway's one shape, ``{"error": {"code", "message", "details"}}``.
- Body: ``[{"store": "MI-DUOMO", "sku": "VT0001-NER-42", "on_hand": 3}, ...]`` or
  ``{"items": [...]}``, at most ``MAX_BATCH`` items (413 beyond). ``store`` may be
  ``"online"`` for the web shop's stock. ``on_hand`` is a whole number from 0 up.
- All or nothing per batch: if any item is bad (unknown store or SKU, negative or
  non-numeric quantity, the same store and SKU twice), nothing is applied and the answer
  is 422, code ``invalid_items``, with ``details``: ``{"applied": 0, "errors": [{"index",
  "store", "sku", "reason"}]}`` listing every bad item.
  Fix and resend the whole batch; nothing needs undoing.
- 200 ``{"applied": n}`` otherwise. Counts are absolute, not deltas, so resending a batch
  (a retry after a timeout) leaves the same stock: the endpoint is idempotent.
"""

from __future__ import annotations

import logging

from aiohttp import web

from vetrina.catalog.validation import Checks, StockLine, stock_record
from vetrina.catalog.writing import resolve_stock, write_stock
from vetrina.gateway.http import ApiError, json_response, read_json, require_bearer
from vetrina.gateway.keys import SERVICES

log = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_BODY = 1024 * 1024  # the app's client_max_size


def _echo(item: object, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    return value[:64] if isinstance(value, str) else None


async def post_stock(request: web.Request) -> web.Response:
    """Apply a batch of absolute stock counts, all or nothing."""
    services = request.app[SERVICES]
    require_bearer(
        request, services.settings.inventory_token, "inventory", "VETRINA_INVENTORY_TOKEN"
    )
    body = await read_json(request, limit=MAX_BODY)
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise ApiError(
            400, "bad_request", 'expected a JSON list of {store, sku, on_hand}, or {"items": [...]}'
        )
    if len(items) > MAX_BATCH:
        raise ApiError(
            413, "too_large", f"at most {MAX_BATCH} items per batch, got {len(items)}: split it"
        )

    errors: dict[int, str] = {}
    lines: list[tuple[int, StockLine]] = []
    for index, item in enumerate(items):
        checks = Checks()
        line = stock_record(item, checks)
        if line is None:
            errors[index] = "; ".join(checks.reasons)
        else:
            lines.append((index, line))
    async with services.db.transaction() as session:
        resolved, problems = await resolve_stock(session, [line for _, line in lines])
        for position, reason in problems.items():
            errors[lines[position][0]] = reason
        if errors:
            raise ApiError(
                422, "invalid_items", "nothing applied: fix these items and resend the batch",
                {
                    "applied": 0,
                    "errors": [
                        {
                            "index": i,
                            "store": _echo(items[i], "store"),
                            "sku": _echo(items[i], "sku"),
                            "reason": errors[i],
                        }
                        for i in sorted(errors)
                    ],
                },
            )
        await write_stock(session, [item for item in resolved if item is not None])
    log.info("stock update: %d item(s) applied", len(lines))
    return json_response({"applied": len(lines)})
