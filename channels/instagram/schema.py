"""The shape of a Meta Instagram webhook delivery, checked before anything reads it.

A correctly signed body can still be malformed (a bug on either side, or a leaked app
secret): it is refused whole with 400 and nothing is stored, instead of half-parsed.
The body is parsed by pydantic-core's JSON parser (Rust; nesting deeper than its
recursion limit, ``NaN`` and ``Infinity`` are refused without touching Python's stack),
then validated: types, string lengths, list lengths and integer ranges. Every string
that reaches the database fits its column (ids and ``mid``: ``VARCHAR(200)``).

Unknown keys, and keys we never read (``entry.id``, ``entry.time``, ``recipient``), are
ignored: Meta adds fields, and a field we do not use must not turn deliveries into
errors. They are still parsed (nesting, ``NaN``), never validated. Shapes follow
https://developers.facebook.com/docs/instagram-platform/webhooks/examples.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic_core
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

MAX_ENTRIES = 100
MAX_EVENTS = 100
MAX_ATTACHMENTS = 20
MAX_TEXT = 20_000  # longer than Instagram allows; the webhook shortens to max_chars
MAX_URL = 4096
# Milliseconds since the epoch fit in a double exactly up to 2**53.
MAX_TIMESTAMP = 2**53

# Instagram-scoped ids, account ids, story ids: numeric strings in practice.
_ID_PATTERN = r"^[0-9A-Za-z_.:-]+$"
_MID_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces: base64-like message ids

MAX_NUMERIC_ID = 10**20  # ids are 64-bit numbers; anything larger is not one


def _number_as_text(value: object) -> object:
    """Meta sends ids as strings; a JSON number is taken too, if it is a plausible id."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < MAX_NUMERIC_ID:
            raise ValueError("id out of range")
        return str(value)
    return value


Id = Annotated[
    StrictStr,
    BeforeValidator(_number_as_text),
    StringConstraints(min_length=1, max_length=100, pattern=_ID_PATTERN),
]
Mid = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200, pattern=_MID_PATTERN)]
Text = Annotated[StrictStr, StringConstraints(max_length=MAX_TEXT)]
Payload = Annotated[StrictStr, StringConstraints(max_length=2000)]
Url = Annotated[StrictStr, StringConstraints(max_length=MAX_URL)]
Kind = Annotated[StrictStr, StringConstraints(max_length=40)]
Timestamp = Annotated[StrictInt, Field(ge=0, le=MAX_TIMESTAMP)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class Party(_Shape):
    id: Id


class AttachmentPayload(_Shape):
    url: Url | None = None


class Attachment(_Shape):
    type: Kind = "file"
    payload: AttachmentPayload | None = None


class QuickReply(_Shape):
    payload: Payload | None = None


class Story(_Shape):
    id: Id | None = None
    url: Url | None = None


class ReplyTo(_Shape):
    mid: Mid | None = None
    story: Story | None = None


class Message(_Shape):
    mid: Mid | None = None
    text: Text | None = None
    attachments: Annotated[list[Attachment], Field(max_length=MAX_ATTACHMENTS)] = []
    is_echo: StrictBool = False
    is_deleted: StrictBool = False
    is_unsupported: StrictBool = False
    quick_reply: QuickReply | None = None
    reply_to: ReplyTo | None = None


class Postback(_Shape):
    mid: Mid | None = None
    title: Text | None = None
    payload: Payload | None = None


class Read(_Shape):
    mid: Mid | None = None


class Event(_Shape):
    sender: Party | None = None
    timestamp: Timestamp = 0
    message: Message | None = None
    postback: Postback | None = None
    read: Read | None = None
    # Recognised and not answered: only their presence matters.
    reaction: dict[str, Any] | None = None
    referral: dict[str, Any] | None = None


class Entry(_Shape):
    messaging: Annotated[list[Event], Field(max_length=MAX_EVENTS)] = []
    standby: Annotated[list[Event], Field(max_length=MAX_EVENTS)] = []
    changes: Annotated[list[dict[str, Any]], Field(max_length=MAX_EVENTS)] = []


class Notification(_Shape):
    object: Annotated[StrictStr, StringConstraints(max_length=40)]
    entry: Annotated[list[Entry], Field(max_length=MAX_ENTRIES)]


class MalformedDelivery(ValueError):
    """A signed body that is not a delivery we can read; ``str()`` says where."""


_NOTIFICATION = TypeAdapter(Notification)


def _where(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{location}: {first['msg']}"


def read_notification(body: bytes) -> Notification:
    """The delivery in ``body``, or :class:`MalformedDelivery` (never another exception)."""
    try:
        data = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as error:  # syntax, bad UTF-8, nesting too deep, NaN/Infinity
        raise MalformedDelivery(f"malformed JSON: {error}") from None
    try:
        return _NOTIFICATION.validate_python(data)
    except ValidationError as error:
        raise MalformedDelivery(_where(error)) from None
