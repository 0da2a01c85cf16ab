"""Instagram adapter pieces: signatures, Meta's documented payloads, limits, rate limits."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from channels.instagram.render import messages, quick_replies, short_title
from channels.instagram.schema import MalformedDelivery, Notification, read_notification
from channels.instagram.sender import rate_limit_wait
from channels.instagram.webhook import Delivery, signature_of, valid_signature
from channels.instagram.webhook import parse_delivery as parse_notification
from tests.channels.payloads import IG_ACCOUNT, INSTAGRAM_BATCH, INSTAGRAM_TEXT
from vetrina.conversations.ports import OutboundView
from vetrina.storage.base import utcnow


def parse_delivery(payload: dict, account_id: str, max_chars: int) -> Delivery:
    """Validated as the webhook validates it, then parsed."""
    notification: Notification = read_notification(json.dumps(payload).encode())
    return parse_notification(notification, account_id, max_chars)


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = json.dumps(INSTAGRAM_TEXT).encode()
    expected = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert signature_of("secret", body) == expected
    assert valid_signature("secret", body, expected)
    assert valid_signature("secret", body, expected.upper().replace("SHA256=", "sha256="))
    assert not valid_signature("secret", body + b" ", expected)
    assert not valid_signature("other", body, expected)
    assert not valid_signature("secret", body, None)


def test_text_payload() -> None:
    delivery = parse_delivery(INSTAGRAM_TEXT, IG_ACCOUNT, 2000)
    [inbound] = delivery.ordered_messages()
    assert (inbound.channel, inbound.external_id, inbound.text) == (
        "instagram",
        "6543210987654321",
        "hello",
    )
    assert inbound.provider_message_id == "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1Nzkz"


def test_batch_every_entry_and_event() -> None:
    delivery = parse_delivery(INSTAGRAM_BATCH, IG_ACCOUNT, 2000)
    stored = delivery.ordered_messages()
    assert [m.provider_message_id for m in stored] == [
        "mid.batch.1",
        "mid.batch.2",
        "mid.batch.3",
        "mid.batch.4",
    ]
    assert delivery.reads == ["mid.ours.1"]
    assert delivery.ignored == {"echo": 1, "reaction": 1}
    image, story_reply, mention, quick = stored
    assert image.metadata["media"] == [
        {"type": "image", "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}
    ]
    assert (
        story_reply.text == "Che bello!"
        and story_reply.metadata["story_reply"]["id"] == "17900000000000001"
    )
    assert mention.text == "[story mention]" and mention.metadata["auto_reply"] == "story_mention"
    assert (
        quick.text == "Taglia M" and quick.metadata["assistant_text"] == '/choose_size{"size": "M"}'
    )


def test_an_echo_without_the_flag_is_still_ours() -> None:
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ACCOUNT,
                "messaging": [
                    {
                        "sender": {"id": IG_ACCOUNT},
                        "recipient": {"id": "1"},
                        "message": {"mid": "m1", "text": "x"},
                    },
                ],
            }
        ],
    }
    assert parse_delivery(payload, IG_ACCOUNT, 2000).messages == []


def test_batch_is_stored_oldest_first() -> None:
    late = {
        "sender": {"id": "1"},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": 20,
        "message": {"mid": "b", "text": "second"},
    }
    early = {
        "sender": {"id": "1"},
        "recipient": {"id": IG_ACCOUNT},
        "timestamp": 10,
        "message": {"mid": "a", "text": "first"},
    }
    payload = {
        "object": "instagram",
        "entry": [
            {"id": IG_ACCOUNT, "messaging": [late]},
            {"id": IG_ACCOUNT, "messaging": [early]},
        ],
    }
    assert [m.text for m in parse_delivery(payload, IG_ACCOUNT, 2000).ordered_messages()] == [
        "first",
        "second",
    ]


def test_deleted_unsupported_postback_and_unanswerable_events() -> None:
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ACCOUNT,
                "messaging": [
                    {"sender": {"id": "1"}, "message": {"mid": "d", "is_deleted": True}},
                    {"sender": {"id": "1"}, "message": {"mid": "u", "is_unsupported": True}},
                    {
                        "sender": {"id": "1"},
                        "timestamp": 5,
                        "postback": {"mid": "p", "title": "Orari", "payload": "/ask_hours"},
                    },
                    {"message": {"mid": "n"}},
                    {"sender": {"id": "1"}, "message": {"text": "no mid"}},
                ],
                "standby": [{"sender": {"id": "2"}, "message": {"mid": "s", "text": "other app"}}],
            }
        ],
    }
    delivery = parse_delivery(payload, IG_ACCOUNT, 2000)
    texts = {
        m.provider_message_id: (m.text, m.metadata.get("assistant_text"))
        for m in delivery.ordered_messages()
    }
    assert texts == {"u": ("[unsupported message]", None), "p": ("Orari", "/ask_hours")}
    assert delivery.ignored == {
        "deleted": 1,
        "no sender": 1,
        "message without mid": 1,
        "standby": 1,
    }


def test_junk_inside_a_signed_delivery_refuses_the_whole_delivery() -> None:
    """A malformed entry or event is not skipped: the delivery is refused (400), whole."""
    good = {"sender": {"id": "1"}, "message": {"mid": "ok", "text": "hi"}}
    for entries in (
        [{"id": IG_ACCOUNT, "messaging": [good, "junk"]}],
        [{"id": IG_ACCOUNT, "messaging": [good]}, "junk"],
    ):
        with pytest.raises(MalformedDelivery):
            read_notification(json.dumps({"object": "instagram", "entry": entries}).encode())


def view(text: str, buttons: list[dict] | None = None, image: str | None = None) -> OutboundView:
    payload: dict = {"buttons": buttons} if buttons else {}
    if image:
        payload["image"] = image
    return OutboundView(1, "c", "instagram", "bot", text, payload, utcnow())


def test_quick_replies_at_most_13_with_short_titles() -> None:
    buttons = [{"title": f"Una scelta molto lunga {i}", "payload": f"/p{i}"} for i in range(20)]
    replies = quick_replies(buttons)
    assert len(replies) == 13 and all(len(r["title"]) <= 20 for r in replies)
    assert replies[0] == {"content_type": "text", "title": "Una scelta molto lu…", "payload": "/p0"}
    assert short_title("Sì") == "Sì"


def test_long_text_is_split_under_1000_bytes_with_replies_on_the_last_part() -> None:
    text = ("Perché è così? Però sì. " * 120).strip()  # accented: bytes, not characters
    bodies = messages(view(text, [{"title": "Ok", "payload": "/ok"}], "https://cdn/x.jpg"), "it")
    assert bodies[0] == {"attachment": {"type": "image", "payload": {"url": "https://cdn/x.jpg"}}}
    texts = bodies[1:]
    assert len(texts) >= 3 and all(len(b["text"].encode()) <= 1000 for b in texts)
    assert "quick_replies" in texts[-1] and all("quick_replies" not in b for b in texts[:-1])


def test_buttons_without_text_get_a_prompt() -> None:
    [body] = messages(view("", [{"title": "Ok", "payload": "/ok"}]), "en")
    assert body["text"] == "Choose an option:"


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        "123": [
                            {
                                "type": "instagram",
                                "call_count": 100,
                                "estimated_time_to_regain_access": 2,
                            }
                        ]
                    }
                )
            },
            120.0,
        ),
        ({"X-App-Usage": json.dumps({"call_count": 50})}, None),
        (
            {
                "Retry-After": "5",
                "X-Business-Use-Case-Usage": json.dumps(
                    {"1": [{"estimated_time_to_regain_access": 1}]}
                ),
            },
            60.0,
        ),
        ({"X-Business-Use-Case-Usage": "not json"}, None),
        ({"Retry-After": "999999"}, 3600.0),
    ],
)
def test_rate_limit_headers(headers: dict[str, str], wait: float | None) -> None:
    assert rate_limit_wait(httpx.Headers(headers)) == wait
