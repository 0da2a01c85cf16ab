"""``POST /api/inventory/stock``: store stock counts pushed by an inventory or POS system.

The contract, for integrators:

- ``Authorization: Bearer <VETRINA_INVENTORY_TOKEN>`` (compared in constant time); 401 when
  missing or wrong, 503 when no token is configured (the endpoint is off).
- Body: ``[{"store": "MI-DUOMO", "sku": "VT0001-NER-42", "on_hand": 3}, ...]`` or
  ``{"items": [...]}``, at most ``MAX_BATCH`` items (413 beyond). ``store`` may be
  ``"online"`` for the web shop's stock. ``on_hand`` is a whole number from 0 up.
- All or nothing per batch: if any item is bad (unknown store or SKU, negative or
  non-numeric quantity, the same store and SKU twice), nothing is applied and the answer
  is 422 with ``{"errors": [{"index", "store", "sku", "reason"}]}`` listing every bad item.
  Fix and resend the whole batch; nothing needs undoing.
- 200 ``{"applied": n}`` otherwise. Counts are absolute, not deltas, so resending a batch
  (a retry after a timeout) leaves the same stock: the endpoint is idempotent.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web

from vetrina.catalog.validation import Checks, StockLine, stock_record
from vetrina.catalog.writing import resolve_stock, write_stock

log = logging.getLogger(__name__)

MAX_BATCH = 1000


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def _authorised(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _echo(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    return value[:64] if isinstance(value, str) else None


async def post_stock(request: web.Request) -> web.Response:
    from vetrina.gateway.app import SERVICES  # app.py imports this module

    services = request.app[SERVICES]
    token = services.settings.inventory_token
    if not token:
        return _error(503, "the stock endpoint is disabled: set VETRINA_INVENTORY_TOKEN")
    if not _authorised(request.headers.get("Authorization", ""), token):
        log.warning("stock update refused: bad or missing bearer token from %s", request.remote)
        return _error(
            401,
            "missing or wrong bearer token",
            **{"WWW-Authenticate": 'Bearer realm="inventory"'},
        )
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the body is not JSON")
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return _error(400, 'expected a JSON list of {store, sku, on_hand}, or {"items": [...]}')
    if len(items) > MAX_BATCH:
        return _error(413, f"at most {MAX_BATCH} items per batch, got {len(items)}: split it")

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
            return web.json_response(
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
                status=422,
            )
        await write_stock(session, [item for item in resolved if item is not None])
    log.info("stock update: %d item(s) applied", len(lines))
    return web.json_response({"applied": len(lines)})
