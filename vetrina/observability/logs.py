"""JSON log lines that carry the request id and the message id being worked on.

A message keeps one id from the moment it is stored: the gateway's web request or
webhook (``request_id``, also sent back as ``X-Request-Id``), the worker's turn
(``message_id``, which goes to Rasa as ``metadata.vetrina_message_id``), and the action
server (which logs the same ``message_id`` from the tracker's latest message). Search
the logs of every process for one id to follow a message end to end.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
message_id: ContextVar[int | str | None] = ContextVar("message_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def working_on(message: int | str | None) -> Iterator[None]:
    """Log lines written inside the block name ``message``."""
    token = message_id.set(message)
    try:
        yield
    finally:
        message_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, extras, exception."""

    def __init__(self, process: str = "gateway") -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "process": self._process,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        rid, mid = request_id.get(), message_id.get()
        if rid:
            entry["request_id"] = rid
        if mid is not None:
            entry["message_id"] = mid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", *, json_lines: bool = True, process: str = "gateway"
) -> None:
    """Set up the root logger once per process (``vetrina serve``, the action server)."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
