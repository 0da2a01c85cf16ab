"""Fuzzing every webhook and API endpoint with hypothesis: no 5xx, no stored garbage.

A gateway with a fake assistant and fake providers (``tests/channels/conftest.py``) gets
random requests: forms and JSON of random shape, correctly signed (so they reach the
parsers) or not (so they must be refused before anything is stored), random path
parameters and bodies for the customer API taken from its OpenAPI description, random
inventory batches, console logins and socket.io messages. The server must answer each
with a status below 500, and what it stored must be well formed.

Hypothesis runs in a worker thread (its tests are synchronous) while the gateway serves
on the session's event loop.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.channels.conftest import IG_ACCOUNT, Harness, make_harness
from vetrina.catalog.models import StoreStock
from vetrina.conversations.models import Message

API_TOKEN = "fuzz-api-token-0123456789"
INVENTORY_TOKEN = "fuzz-inventory-token-0123456789"
STAFF_TOKEN = "fuzz-staff-token-0123456789"
FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)

text = st.text(max_size=300)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(), text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=20,
)
TWILIO_FIELDS = ["MessageSid", "From", "To", "Body", "NumMedia", "WaId", "ProfileName",
                 "MediaUrl0", "MediaContentType0", "Latitude", "Longitude", "MessageType",
                 "AccountSid", "ButtonPayload", "MessageStatus", "ErrorCode", "SmsSid"]
twilio_forms = st.dictionaries(
    st.sampled_from(TWILIO_FIELDS) | st.text(min_size=1, max_size=15), text, max_size=12
)


def instagram_payloads() -> st.SearchStrategy[Any]:
    event = st.fixed_dictionaries(
        {"sender": st.fixed_dictionaries({"id": text}), "recipient": st.fixed_dictionaries({"id": st.just(IG_ACCOUNT) | text})},
        optional={
            "timestamp": json_values,
            "message": st.dictionaries(st.sampled_from(["mid", "text", "attachments", "is_echo", "quick_reply", "reply_to", "is_deleted"]), json_values, max_size=5),
            "postback": json_values, "read": json_values, "reaction": json_values,
        },
    )
    entry = st.fixed_dictionaries({"id": st.just(IG_ACCOUNT) | text, "time": json_values},
                                  optional={"messaging": st.lists(event | json_values, max_size=3)})
    return st.one_of(
        st.fixed_dictionaries({"object": st.just("instagram") | text}, optional={"entry": st.lists(entry | json_values, max_size=3)}),
        json_values,
    )


def fuzz_in_thread(check: Any) -> Any:
    """Run a hypothesis test (synchronous) without blocking the server's event loop."""
    return asyncio.to_thread(check)


async def stored_garbage(harness: Harness, max_chars: int = 2000) -> list[str]:
    problems = []
    for message in await harness.messages(direction="in"):
        if message.channel not in {"web", "whatsapp", "instagram"}:
            problems.append(f"message {message.id}: channel {message.channel!r}")
        if not isinstance(message.text, str) or len(message.text) > max_chars or "\x00" in message.text:
            problems.append(f"message {message.id}: bad text {message.text!r:.80}")
        if message.channel != "web" and not message.provider_message_id:
            problems.append(f"message {message.id}: no provider id")
    return problems


async def count_messages(harness: Harness) -> int:
    async with harness.services.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def test_fuzzed_webhooks_never_fail_and_store_only_clean_messages(tmp_path: Path) -> None:
    async with make_harness(tmp_path) as harness:
        twilio, meta = harness.twilio, harness.meta
        statuses: list[int] = []

        # Random forms are almost never valid webhooks (a "From" of random text is refused),
        # so one documented, valid message is always tried too: the accepting path runs.
        valid_form = twilio.incoming("+393331112233", "ciao, avete il trench?")
        valid_event = meta.batch([[meta.message_event("178414" + "2" * 11, "hello there")]])

        @FUZZ
        @given(form=twilio_forms, sign=st.booleans(), status_path=st.booleans())
        @example(form=valid_form, sign=True, status_path=False)
        def whatsapp(form: dict[str, str], sign: bool, status_path: bool) -> None:
            url = harness.whatsapp_url + ("/status" if status_path else "")
            signed_url = harness.public_url + url[len(harness.url):]
            signature = twilio.sign(signed_url, form) if sign else "forged"
            response = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
            statuses.append(response.status_code)
            assert response.status_code < 500, (form, response.text[:200])
            if not sign:
                assert 400 <= response.status_code < 500  # refused (403, or 400 unreadable)

        @FUZZ
        @given(payload=instagram_payloads(), sign=st.booleans(), raw=st.binary(max_size=200))
        @example(payload=valid_event, sign=True, raw=b"")
        def instagram(payload: Any, sign: bool, raw: bytes) -> None:
            body = json.dumps(payload).encode() if payload is not None else raw
            headers = {"Content-Type": "application/json",
                       "X-Hub-Signature-256": meta.sign(body) if sign else "sha256=00"}
            response = httpx.post(harness.instagram_url, content=body, headers=headers, timeout=10)
            statuses.append(response.status_code)
            assert response.status_code < 500, (payload, response.text[:200])
            if not sign:
                assert 400 <= response.status_code < 500  # refused (403, or 400 unreadable)

        @FUZZ
        @given(params=st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]) | text, text, max_size=4))
        def instagram_verify(params: dict[str, str]) -> None:
            response = httpx.get(harness.instagram_url, params=params, timeout=10)
            assert response.status_code < 500

        before = await count_messages(harness)
        # Forged requests alone first: nothing may be stored.
        forged = st.dictionaries(st.sampled_from(TWILIO_FIELDS), text, max_size=8)

        @FUZZ
        @given(form=forged)
        def forged_only(form: dict[str, str]) -> None:
            response = httpx.post(harness.whatsapp_url, data=form,
                                  headers={"X-Twilio-Signature": "AAAA"}, timeout=10)
            assert 400 <= response.status_code < 500

        await fuzz_in_thread(forged_only)
        assert await count_messages(harness) == before
        await fuzz_in_thread(whatsapp)
        await fuzz_in_thread(instagram)
        await fuzz_in_thread(instagram_verify)
        await harness.quiet(1.0)
        assert any(200 <= s < 300 for s in statuses), "no fuzzed webhook was ever accepted"
        assert await stored_garbage(harness) == []


async def test_fuzzed_apis_never_fail(tmp_path: Path) -> None:
    env = {"VETRINA_API_TOKEN": API_TOKEN, "VETRINA_INVENTORY_TOKEN": INVENTORY_TOKEN,
           "VETRINA_STAFF_TOKEN": STAFF_TOKEN}
    async with make_harness(tmp_path, **env) as harness, httpx.AsyncClient() as client:
        spec = (await client.get(f"{harness.url}/api/openapi.json")).json()
        # One real customer, so that some fuzzed calls reach the handlers' depths.
        await harness.twilio.deliver(harness.whatsapp_url, harness.twilio.incoming("+393339998877", "ciao"))
        [inbound] = await harness.until(lambda: harness.messages(direction="in"))
        real_customer = inbound.customer_id
        operations = [
            (path, method) for path, item in spec["paths"].items()
            for method in item if method in {"get", "post", "patch", "put", "delete"}
        ]
        assert operations

        path_values = st.one_of(st.just(real_customer), st.just("1"), st.text(min_size=1, max_size=40))

        @FUZZ
        @given(operation=st.sampled_from(operations), value=path_values, body=json_values,
               query=st.dictionaries(st.sampled_from(["channel", "external_id", "offset", "limit", "order"]) | text, text, max_size=3),
               authorised=st.booleans())
        def customer_api(operation: tuple[str, str], value: str, body: Any,
                         query: dict[str, str], authorised: bool) -> None:
            path, method = operation
            for name in ("{customer_id}", "{merge_id}"):
                path = path.replace(name, quote(value, safe=""))
            headers = {"Authorization": f"Bearer {API_TOKEN}"} if authorised else {}
            headers["Content-Type"] = "application/json"
            response = httpx.request(method.upper(), harness.url + path, params=query,
                                     content=json.dumps(body), headers=headers, timeout=10)
            assert response.status_code < 500, (method, path, body, response.text[:300])
            if not authorised:
                assert response.status_code in {401, 403, 404, 405}

        @FUZZ
        @given(body=json_values | st.lists(st.fixed_dictionaries(
            {"store": text | st.just("MI-DUOMO"), "sku": text, "on_hand": json_values}), max_size=5))
        def inventory(body: Any) -> None:
            # json.dumps, not httpx's json=: NaN and Infinity go out as Python writes them.
            response = httpx.post(f"{harness.url}/api/inventory/stock", content=json.dumps(body),
                                  headers={"Authorization": f"Bearer {INVENTORY_TOKEN}",
                                           "Content-Type": "application/json"}, timeout=10)
            assert response.status_code < 500, (body, response.text[:300])

        @FUZZ
        @given(form=st.dictionaries(st.sampled_from(["email", "password", "next"]) | text, text, max_size=4),
               code=text, date=text)
        def pages(form: dict[str, str], code: str, date: str) -> None:
            response = httpx.post(f"{harness.url}/console/login", data=form, timeout=10)
            assert response.status_code < 500
            safe = quote(code, safe="") or "x"
            response = httpx.get(f"{harness.url}/bookings/{safe}/calendar.ics", params={"t": date}, timeout=10)
            assert response.status_code < 500
            response = httpx.get(f"{harness.url}/staff/stores/{safe}/bookings", params={"date": date},
                                 headers={"Authorization": f"Bearer {STAFF_TOKEN}"}, timeout=10)
            assert response.status_code < 500

        await fuzz_in_thread(customer_api)
        await fuzz_in_thread(inventory)
        await fuzz_in_thread(pages)
        async with harness.services.db.sessions() as session:
            negative = await session.scalar(
                select(func.count()).select_from(StoreStock).where(StoreStock.on_hand < 0)
            )
        assert not negative
        assert await stored_garbage(harness) == []


async def test_fuzzed_web_chat_messages_never_break_the_socket(tmp_path: Path) -> None:
    from tests.chat_client import WebCustomer

    # Garbage at machine speed: the message limits (tested in
    # tests/channels/test_web_protocol.py) would refuse the valid samples past 20.
    limits = {"VETRINA_WEB_MAX_MESSAGES": "1000", "VETRINA_WEB_MAX_MESSAGES_PER_ADDRESS": "1000"}
    async with make_harness(tmp_path, **limits) as harness:
        customer = await WebCustomer(harness.url).connect()
        samples: list[Any] = []

        @FUZZ
        @given(payload=json_values, message=json_values | text)
        def collect(payload: Any, message: Any) -> None:
            samples.append(payload)
            samples.append({"message": message, "customData": payload})

        await fuzz_in_thread(collect)
        try:
            for sample in samples:
                await customer.sio.emit("user_uttered", sample)
            await customer.sio.emit("session_request", samples[:3])
            # Still served: a proper message after the garbage is stored and answered
            # (the garbage that was a valid message gets its own echo first).
            await customer.send("ciao dopo il rumore")
            while (await customer.next("bot_uttered", timeout=20))["text"] != "echo: ciao dopo il rumore":
                pass
        finally:
            await customer.close()
        assert await stored_garbage(harness) == []
