"""Malformed but correctly signed webhooks: 400 (or 403), never 500, nothing stored.

One test per case found in the attack round (issue 17, part 5), each sent through the
running gateway with a valid signature, so it reaches the parsers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from tests.channels.conftest import IG_ACCOUNT, Harness, make_harness
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Message
from vetrina.customers.models import ChannelIdentity, Customer
from vetrina.storage.database import Database
from vetrina.storage.lengths import ValueTooLong

IGSID = "6543210987654321"


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """The production body limit (128 KiB), so a 5000-deep body reaches the parser."""
    async with make_harness(tmp_path, VETRINA_WEBHOOK_MAX_BYTES="131072") as running:
        yield running


NUMBER = "+393331234567"


def event(**message: Any) -> dict[str, Any]:
    return {
        "sender": {"id": IGSID},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": 1569262485349,
        "message": {"mid": "mid.case.1", "text": "ciao", **message},
    }


def delivery(*events: Any, **entry: Any) -> dict[str, Any]:
    return {
        "object": "instagram",
        "entry": [{"id": IG_ACCOUNT, "time": 1, "messaging": list(events), **entry}],
    }


async def nothing_stored(harness: Harness) -> None:
    assert await harness.count(Message) == 0
    assert await harness.count(ChannelIdentity) == 0
    assert await harness.count(Customer) == 0


async def post_signed_instagram(harness: Harness, body: bytes) -> tuple[int, str]:
    return await harness.meta.deliver(harness.instagram_url, body)


INSTAGRAM_CASES: dict[str, bytes] = {
    "messaging is a number": json.dumps(
        delivery() | {"entry": [{"id": IG_ACCOUNT, "messaging": 5}]}
    ).encode(),
    "standby is a number": json.dumps(
        {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "standby": 7}]}
    ).encode(),
    "attachments is a number": json.dumps(delivery(event(attachments=5))).encode(),
    "5000-deep JSON": b'{"object": "instagram", "entry": [{"messaging": '
    + b"[" * 5000
    + b"]" * 5000
    + b"}]}",
    "5000-deep JSON in an ignored field": (
        b'{"object": "instagram", "entry": [], "x": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"
    ),
    "oversized integer sender id": json.dumps(
        delivery({**event(), "sender": {"id": 10**40}})
    ).encode(),
    "oversized integer timestamp": json.dumps(delivery({**event(), "timestamp": 10**40})).encode(),
    "timestamp Infinity": json.dumps(delivery({**event(), "timestamp": float("inf")})).encode(),
    "timestamp NaN": json.dumps(delivery({**event(), "timestamp": float("nan")})).encode(),
    "timestamp a fraction": json.dumps(delivery({**event(), "timestamp": 1.5})).encode(),
    "5000-character sender id": json.dumps(
        delivery({**event(), "sender": {"id": "1" * 5000}})
    ).encode(),
    "5000-character mid": json.dumps(delivery(event(mid="m" * 5000))).encode(),
    "text is an object": json.dumps(delivery(event(text={"a": 1}))).encode(),
    "event is a string": json.dumps(delivery("junk")).encode(),
    "too many events": json.dumps(delivery(*[event(mid=f"m{i}") for i in range(101)])).encode(),
    "invalid UTF-8": b'{"object": "instagram", "entry": [], "x": "\xff"}',
    "lone surrogate": b'{"object": "instagram", "entry": [], "x": "\\ud800"}',
}


@pytest.mark.parametrize("case", list(INSTAGRAM_CASES))
async def test_signed_malformed_instagram_delivery_gets_400_and_stores_nothing(
    harness: Harness, case: str
) -> None:
    status, text = await post_signed_instagram(harness, INSTAGRAM_CASES[case])
    assert status == 400, (case, text[:200])
    await nothing_stored(harness)


async def test_the_same_delivery_well_formed_is_stored(harness: Harness) -> None:
    """The cases above differ from an accepted delivery only in the malformed part."""
    status, _ = await post_signed_instagram(harness, json.dumps(delivery(event())).encode())
    assert status == 200
    await harness.until(lambda: harness.count(Message))
    assert (await harness.identity("instagram", IGSID)) is not None


async def test_a_numeric_sender_id_within_range_is_accepted_as_text(harness: Harness) -> None:
    status, _ = await post_signed_instagram(
        harness, json.dumps(delivery({**event(), "sender": {"id": int(IGSID)}})).encode()
    )
    assert status == 200
    assert (await harness.identity("instagram", IGSID)) is not None


async def raw_request(url: str, head: bytes, body: bytes) -> int:
    """One HTTP/1.1 request with header bytes exactly as given (clients would re-encode them)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            f"POST {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n".encode()
            + head
            + b"\r\n"
            + body
        )
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


NOT_UTF8 = b"\xe9\xff\xfe"


async def test_non_ascii_signature_bytes_are_refused_not_a_crash(harness: Harness) -> None:
    body = json.dumps(delivery(event())).encode()
    head = b"Content-Type: application/json\r\nX-Hub-Signature-256: sha256=" + NOT_UTF8 + b"\r\n"
    assert await raw_request(harness.instagram_url, head, body) == 403
    await nothing_stored(harness)


async def test_non_ascii_authorization_bytes_on_a_signed_webhook_change_nothing(
    harness: Harness,
) -> None:
    """Authorization is not read by the webhook: the signed delivery is taken as usual."""
    body = json.dumps(delivery(event())).encode()
    head = (
        b"Content-Type: application/json\r\nX-Hub-Signature-256: "
        + harness.meta.sign(body).encode()
        + b"\r\nAuthorization: Bearer "
        + NOT_UTF8
        + b"\r\n"
    )
    assert await raw_request(harness.instagram_url, head, body) == 200


async def test_non_ascii_authorization_bytes_to_the_fake_providers_are_refused(
    harness: Harness,
) -> None:
    """The local fakes speak the providers' APIs: a garbled token is 400/401, not 500."""
    head = b"Content-Type: application/json\r\nAuthorization: Bearer " + NOT_UTF8 + b"\r\n"
    meta = await raw_request(f"{harness.meta_url}/v25.0/me/messages", head, b"{}")
    assert meta == 400  # Meta answers a bad token with 400 and error code 190
    basic = b"Authorization: Basic " + NOT_UTF8 + b"\r\n"
    twilio = await raw_request(
        f"{harness.twilio_url}/2010-04-01/Accounts/{harness.twilio.account_sid}/Messages.json",
        basic,
        b"",
    )
    assert twilio == 401


WHATSAPP_CASES: dict[str, dict[str, str]] = {
    "5000-digit number": {"From": "whatsapp:+" + "3" * 5000},
    "number with letters": {"From": "whatsapp:+39abc"},
    "5000-character MessageSid": {
        "MessageSid": "SM" + "a" * 5000,
        "SmsMessageSid": "SM" + "a" * 5000,
    },
    "NumMedia not a number": {"NumMedia": "many"},
    "NumMedia huge": {"NumMedia": "9" * 400},
    "latitude Infinity": {"Latitude": "Infinity", "Longitude": "9.19"},
    "longitude NaN": {"Latitude": "45.46", "Longitude": "NaN"},
    "latitude 1e400": {"Latitude": "1e400", "Longitude": "9.19"},
    "profile name of 5000 characters": {"ProfileName": "x" * 5000},
}


@pytest.mark.parametrize("case", list(WHATSAPP_CASES))
async def test_signed_malformed_whatsapp_message_gets_400_and_stores_nothing(
    harness: Harness, case: str
) -> None:
    params = {**harness.twilio.incoming(NUMBER, "ciao"), **WHATSAPP_CASES[case]}
    status, text = await harness.twilio.deliver(harness.whatsapp_url, params)
    assert status == 400, (case, text[:200])
    await nothing_stored(harness)


async def test_repeated_whatsapp_parameter_gets_400(harness: Harness) -> None:
    params = harness.twilio.incoming(NUMBER, "ciao")
    pairs = [*params.items(), ("From", "whatsapp:+393330000000")]
    url = harness.whatsapp_url
    signature = harness.twilio.sign(harness.public_url + "/webhooks/whatsapp", params)
    async with (
        aiohttp.ClientSession() as client,
        client.post(url, data=pairs, headers={"X-Twilio-Signature": signature}) as response,
    ):
        assert response.status in (400, 403)
    await nothing_stored(harness)


@pytest.mark.parametrize(
    "message_id", ["99999999999999999999999", "9223372036854775808", "\u00b2", "-1", "1e3"]
)
async def test_status_callback_with_an_impossible_message_id_gets_400(
    harness: Harness, message_id: str
) -> None:
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    url = f"{harness.whatsapp_url}/status?message_id={quote(message_id)}"
    status, _ = await harness.twilio.deliver(url, params)
    assert status == 400


async def test_status_callback_with_a_bad_error_code_gets_400(harness: Harness) -> None:
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "9" * 400}
    status, _ = await harness.twilio.deliver(f"{harness.whatsapp_url}/status", params)
    assert status == 400


async def test_non_ascii_twilio_signature_bytes_are_refused(harness: Harness) -> None:
    params = harness.twilio.incoming(NUMBER, "ciao")
    head = (
        b"Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: "
        + NOT_UTF8
        + b"\r\n"
    )
    assert await raw_request(harness.whatsapp_url, head, urlencode(params).encode()) == 403
    await nothing_stored(harness)


async def test_a_value_longer_than_its_column_is_refused_on_sqlite_too(sqlite_db: Database) -> None:
    """The guard behind the schemas: SQLite would store 5000 characters in VARCHAR(200)."""
    inbox = Inbox(sqlite_db)
    with pytest.raises(ValueTooLong) as refused:
        await inbox.receive(InboundMessage("instagram", "1" * 5000, "ciao", "mid.long"))
    assert refused.value.column == "channel_identities.external_id" and refused.value.limit == 200
    async with sqlite_db.sessions() as session:
        for model in (Message, ChannelIdentity, Customer):
            assert await session.scalar(select(func.count()).select_from(model)) == 0

    stored = await inbox.receive(InboundMessage("instagram", IGSID, "ciao", "mid.ok"))
    with pytest.raises(ValueTooLong):  # a change is measured too, not only a new row
        async with sqlite_db.transaction() as session:
            customer = await session.get_one(Customer, stored.customer_id)
            customer.display_name = "x" * 201
    async with sqlite_db.sessions() as session:
        assert (await session.get_one(Customer, stored.customer_id)).display_name is None
