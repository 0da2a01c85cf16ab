"""The shape of Twilio's WhatsApp webhooks, checked before anything reads them.

Twilio posts ``application/x-www-form-urlencoded`` parameters
(https://www.twilio.com/docs/messaging/guides/webhook-request and the status callback
parameters). A correctly signed request can still be malformed; it is refused whole with
400 and nothing is stored. Each parameter we read has a type, a length and, for ids,
numbers and coordinates, a format: a ``MessageSid`` fits ``messages.provider_message_id``
(``VARCHAR(200)``), a number fits ``channel_identities.external_id``, ``NumMedia`` is a
small integer, coordinates are finite decimals. Parameters we do not read are ignored
(Twilio adds new ones) but still count toward the form's size and field limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

MAX_TEXT = 20_000  # Twilio's Body is at most 1,600 characters; longer is shortened anyway
MAX_MEDIA = 10  # Twilio sends at most ten media per message

# SIDs are two letters and 32 hex digits; accept any alphanumeric of a sane length.
Sid = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z]{2}[0-9A-Za-z]{1,62}$")]
WhatsAppAddress = Annotated[StrictStr, StringConstraints(pattern=r"^(whatsapp:)?\+?[0-9]{3,20}$")]
Text = Annotated[StrictStr, StringConstraints(max_length=MAX_TEXT)]
Short = Annotated[StrictStr, StringConstraints(max_length=300)]
Url = Annotated[StrictStr, StringConstraints(max_length=2048)]
ContentType = Annotated[StrictStr, StringConstraints(max_length=100)]
Count = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{1,3}$")]
Coordinate = Annotated[StrictStr, StringConstraints(pattern=r"^[+-]?[0-9]{1,3}(\.[0-9]{1,15})?$")]
Status = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z_-]{1,30}$")]
ErrorCodeText = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{0,8}$")]


class _Form(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Incoming(_Form):
    """An incoming message (``POST /webhooks/whatsapp``)."""

    MessageSid: Sid | None = None
    SmsMessageSid: Sid | None = None
    From: WhatsAppAddress | None = None
    To: Annotated[StrictStr, StringConstraints(max_length=100)] | None = None
    Body: Text | None = None
    ProfileName: Short | None = None
    NumMedia: Count | None = None
    MessageType: Annotated[StrictStr, StringConstraints(max_length=40)] | None = None
    Latitude: Coordinate | None = None
    Longitude: Coordinate | None = None
    Address: Short | None = None
    Label: Short | None = None
    ButtonPayload: Annotated[StrictStr, StringConstraints(max_length=2000)] | None = None
    ButtonText: Text | None = None
    media: Annotated[list[tuple[Url, ContentType | None]], Field(max_length=MAX_MEDIA)] = []


class StatusCallback(_Form):
    """A delivery status callback (``POST /webhooks/whatsapp/status``)."""

    MessageSid: Sid | None = None
    SmsSid: Sid | None = None
    MessageStatus: Status | None = None
    SmsStatus: Status | None = None
    ErrorCode: ErrorCodeText | None = None
    ErrorMessage: Annotated[StrictStr, StringConstraints(max_length=1000)] | None = None


class MalformedWebhook(ValueError):
    """A signed request whose parameters are not what Twilio sends; ``str()`` says which."""


_INCOMING = TypeAdapter(Incoming)
_STATUS = TypeAdapter(StatusCallback)
# Our own id, handed back in the status callback's query string.
MAX_MESSAGE_ID = 2**63 - 1


def _where(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "form"
    return f"{location}: {first['msg']}"


def _single(params: Mapping[str, str]) -> dict[str, str]:
    """One value per name: a repeated parameter is not something Twilio sends."""
    getall = getattr(params, "getall", None)
    values: dict[str, str] = {}
    for name in params:
        if getall is not None and len(getall(name)) > 1:
            raise MalformedWebhook(f"{name}: given more than once")
        values[name] = params[name]
    return values


def read_incoming(params: Mapping[str, str]) -> Incoming:
    """The parameters of an incoming message, or :class:`MalformedWebhook`."""
    values: dict[str, object] = dict(_single(params))
    count = values.get("NumMedia")
    media: list[tuple[str, str | None]] = []
    if isinstance(count, str) and count.isascii() and count.isdigit():
        for index in range(min(int(count), MAX_MEDIA)):
            url = params.get(f"MediaUrl{index}")
            if url:
                media.append((url, params.get(f"MediaContentType{index}") or None))
    values["media"] = media
    try:
        return _INCOMING.validate_python(values)
    except ValidationError as error:
        raise MalformedWebhook(_where(error)) from None


def read_status(params: Mapping[str, str]) -> StatusCallback:
    """The parameters of a status callback, or :class:`MalformedWebhook`."""
    try:
        return _STATUS.validate_python(_single(params))
    except ValidationError as error:
        raise MalformedWebhook(_where(error)) from None


def read_message_id(raw: str | None) -> int | None:
    """Our message id from the status callback's query: ASCII digits, within BIGINT."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_MESSAGE_ID):
        raise MalformedWebhook("message_id: expected our message id")
    return int(raw)
