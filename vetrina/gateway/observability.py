"""``/metrics`` for Prometheus and the request-id middleware of the gateway."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from vetrina.conversations.models import PENDING_INBOUND, Direction, Message, OutboundStatus
from vetrina.observability.logs import new_request_id, request_id
from vetrina.observability.metrics import (
    HANDOFF_QUEUE_LENGTH,
    HANDOFF_WAIT,
    QUEUE_DEPTH,
    REGISTRY,
)
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request gets an id (the proxy's ``X-Request-Id`` if it sent a sane one),
    written on each log line of its handling and sent back in the response."""
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _REQUEST_ID.match(incoming) else new_request_id()
    token = request_id.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers["X-Request-Id"] = rid
        raise
    finally:
        request_id.reset(token)
    if not response.prepared:
        response.headers["X-Request-Id"] = rid
    return response


async def refresh_database_gauges(db: Database) -> None:
    """Queue depths and the handoff queue, read from the database at scrape time."""
    async with db.sessions() as session:
        inbound = await session.scalar(
            select(func.count()).where(
                Message.direction == Direction.IN.value, Message.status.in_(PENDING_INBOUND)
            )
        )
        outbound = await session.scalar(
            select(func.count()).where(
                Message.direction == Direction.OUT.value,
                Message.status == OutboundStatus.PENDING.value,
            )
        )
    QUEUE_DEPTH.labels("inbound").set(inbound or 0)
    QUEUE_DEPTH.labels("outbound").set(outbound or 0)
    try:
        async with db.sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT count(*), min(waiting_since) FROM conversations "
                        "WHERE status = 'waiting'"
                    )
                )
            ).one()
    except SQLAlchemyError:  # a database from before the handoff tables
        return
    count, oldest = row
    HANDOFF_QUEUE_LENGTH.set(count or 0)
    if isinstance(oldest, str):  # SQLite hands raw-SQL datetimes back as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        HANDOFF_WAIT.set(max(0.0, (utcnow() - oldest).total_seconds()))
    else:
        HANDOFF_WAIT.set(0)


def metrics_handler(database: Callable[[web.Request], Database]) -> Handler:
    async def metrics(request: web.Request) -> web.Response:
        try:
            await refresh_database_gauges(database(request))
        except SQLAlchemyError:
            log.warning("metrics: database not reachable; queue gauges not refreshed")
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return metrics
