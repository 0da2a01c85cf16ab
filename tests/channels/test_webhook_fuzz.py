"""Hypothesis: correctly signed, randomly shaped webhook bodies never get a 5xx, and a
refused one stores nothing (issue 17, part 5).

Bodies start from the providers' documented payloads and have parts replaced by random
JSON (any type, huge integers, NaN/Infinity, deep nesting, long strings) or random form
values, plus wholly random bodies. Every request is signed as the provider signs it, so
it reaches the schema and the parsers. After each one: a status below 500; if it was
refused (4xx), no message, identity or customer was added; if it was taken, what was
stored fits its columns.

Hypothesis runs in a worker thread (its tests are synchronous) while the gateway serves
on the session's event loop; the thread counts rows through its own SQLite connection.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.channels.conftest import IG_ACCOUNT, Harness, make_harness

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
IGSID = "6543210987654321"

texts = st.text(max_size=50) | st.text(min_size=150, max_size=400)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**19, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


DEEP = "__deep__"  # stands for deeply nested JSON, spliced into the bytes afterwards
anything = json_values | st.just(DEEP)
depths = st.integers(min_value=150, max_value=5000)


def base_delivery() -> dict[str, Any]:
    mid = "mid." + uuid.uuid4().hex
    return {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ACCOUNT,
                "time": 1569262486134,
                "messaging": [
                    {
                        "sender": {"id": IGSID},
                        "recipient": {"id": IG_ACCOUNT},
                        "timestamp": 1569262485349,
                        "message": {
                            "mid": mid,
                            "text": "ciao",
                            "attachments": [{"type": "image", "payload": {"url": "https://x/1"}}],
                            "quick_reply": {"payload": "/greet"},
                            "reply_to": {"story": {"id": "1790", "url": "https://x/s"}},
                        },
                    }
                ],
                "standby": [],
            }
        ],
    }


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(paths(item, (*prefix, index)))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = replaced(value[head], tuple(rest), new)
    return copy


@st.composite
def instagram_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "random", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "random":
        body: Any = draw(anything)
    else:
        body = base_delivery()
        for _ in range(draw(st.integers(1, 3))):
            where = draw(st.sampled_from(paths(body)))
            body = replaced(body, where, draw(anything))
    raw = json.dumps(body).encode()  # NaN / Infinity are written as such, as a bug might
    depth = draw(depths)
    return raw.replace(json.dumps(DEEP).encode(), b"[" * depth + b"]" * depth)


TWILIO_FIELDS = [
    "MessageSid",
    "SmsMessageSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "ProfileName",
    "MediaUrl0",
    "MediaContentType0",
    "Latitude",
    "Longitude",
    "MessageType",
    "ButtonPayload",
    "ButtonText",
    "Address",
    "Label",
    "WaId",
]
form_values = st.one_of(
    st.text(max_size=40),
    st.text(min_size=200, max_size=6000),
    st.integers().map(str),
    st.sampled_from(["NaN", "Infinity", "-inf", "1e400", "9" * 30, ""]),
    st.from_regex(r"whatsapp:\+[0-9]{1,40}", fullmatch=True),
)


@st.composite
def whatsapp_forms(draw: st.DrawFn) -> dict[str, str]:
    sid = "SM" + uuid.uuid4().hex
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "From": "whatsapp:+393331234567",
        "To": "whatsapp:+14155238886",
        "Body": "ciao",
        "NumMedia": "0",
        "ProfileName": "Giulia",
        "Latitude": "45.46",
        "Longitude": "9.19",
        "AccountSid": "AC" + "1" * 32,
    }
    overrides = draw(
        st.dictionaries(
            st.sampled_from(TWILIO_FIELDS) | st.text(min_size=1, max_size=12),
            form_values,
            max_size=4,
        )
    )
    form.update(overrides)
    for name in draw(st.lists(st.sampled_from(sorted(form)), max_size=2)):
        form.pop(name, None)
    return form


status_forms = st.fixed_dictionaries(
    {"MessageSid": st.just("SM" + "a" * 32) | form_values},
    optional={
        "MessageStatus": st.sampled_from(["sent", "delivered", "read", "failed", "undelivered"])
        | form_values,
        "ErrorCode": form_values,
        "ErrorMessage": form_values,
    },
)
message_ids = st.none() | st.integers(-5, 10**25).map(str) | st.text(max_size=12)


class Counter:
    """Row counts through a connection of this thread's own (the gateway uses SQLite)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def counts(self) -> tuple[int, int, int]:
        with sqlite3.connect(self._path, timeout=10) as connection:
            # Inbound messages only: the bot's replies to accepted bodies are stored by
            # the gateway's worker at any moment.
            return tuple(  # type: ignore[return-value]
                connection.execute(query).fetchone()[0]
                for query in (
                    "SELECT count(*) FROM messages WHERE direction = 'in'",
                    "SELECT count(*) FROM channel_identities",
                    "SELECT count(*) FROM customers",
                )
            )

    def over_long(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self._path, timeout=10) as connection:
            return connection.execute(
                "SELECT id, length(provider_message_id), channel FROM messages "
                "WHERE length(provider_message_id) > 200 UNION ALL "
                "SELECT id, length(external_id), channel FROM channel_identities "
                "WHERE length(external_id) > 200 OR length(display_name) > 200"
            ).fetchall()


@pytest_asyncio.fixture
async def fuzzed(tmp_path: Path) -> AsyncIterator[tuple[Harness, Counter]]:
    async with make_harness(tmp_path, VETRINA_WEBHOOK_MAX_BYTES="131072") as harness:
        yield harness, Counter(tmp_path / "gateway.db")


def check(
    response: httpx.Response, before: tuple[int, int, int], counter: Counter, body: Any
) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:200], repr(body)[:300])
    if response.status_code >= 400:
        assert counter.counts() == before, ("refused but stored", repr(body)[:300])
    assert counter.over_long() == []


async def test_signed_random_instagram_bodies(fuzzed: tuple[Harness, Counter]) -> None:
    harness, counter = fuzzed
    outcomes: list[int] = []

    @FUZZ
    @given(body=instagram_bodies())
    def instagram(body: bytes) -> None:
        before = counter.counts()
        response = httpx.post(
            harness.instagram_url,
            content=body,
            timeout=30,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": harness.meta.sign(body),
            },
        )
        outcomes.append(response.status_code)
        check(response, before, counter, body)

    await asyncio.to_thread(instagram)
    assert 400 in outcomes and 200 in outcomes, outcomes  # both kinds were exercised


async def test_signed_random_whatsapp_forms(fuzzed: tuple[Harness, Counter]) -> None:
    harness, counter = fuzzed
    outcomes: list[int] = []
    signed_url = harness.public_url + "/webhooks/whatsapp"

    @FUZZ
    @given(form=whatsapp_forms())
    def whatsapp(form: dict[str, str]) -> None:
        before = counter.counts()
        response = httpx.post(
            harness.whatsapp_url,
            data=form,
            timeout=30,
            headers={"X-Twilio-Signature": harness.twilio.sign(signed_url, form)},
        )
        outcomes.append(response.status_code)
        check(response, before, counter, form)

    await asyncio.to_thread(whatsapp)
    assert 400 in outcomes and 200 in outcomes, outcomes


async def test_signed_random_whatsapp_status_callbacks(fuzzed: tuple[Harness, Counter]) -> None:
    harness, counter = fuzzed
    outcomes: list[int] = []

    @FUZZ
    @given(form=status_forms, message_id=message_ids)
    def status(form: dict[str, str], message_id: str | None) -> None:
        query = (
            ""
            if message_id is None
            else "?" + httpx.QueryParams({"message_id": message_id}).__str__()
        )
        path = "/webhooks/whatsapp/status" + query
        before = counter.counts()
        response = httpx.post(
            harness.url + path,
            data=form,
            timeout=30,
            headers={"X-Twilio-Signature": harness.twilio.sign(harness.public_url + path, form)},
        )
        outcomes.append(response.status_code)
        check(response, before, counter, (form, message_id))

    await asyncio.to_thread(status)
    assert 400 in outcomes and 204 in outcomes, outcomes
