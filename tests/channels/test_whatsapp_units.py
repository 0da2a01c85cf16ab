"""WhatsApp adapter pieces: parsing Twilio's documented payloads, rendering, error mapping."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from channels.whatsapp.render import MAX_BODY_CHARS, match_choice, numbered_options, render
from channels.whatsapp.sender import TwilioTransport, rest_error
from channels.whatsapp.status import parse_status
from channels.whatsapp.webhook import BadWebhook, parse_form, parse_incoming
from tests.channels.payloads import (
    WHATSAPP_IMAGE,
    WHATSAPP_LOCATION,
    WHATSAPP_STATUS_DELIVERED,
    WHATSAPP_STATUS_FAILED,
    WHATSAPP_TEXT,
)
from vetrina.conversations.delivery import Reported
from vetrina.conversations.ports import DeliveryHeld, OutboundView
from vetrina.storage.base import utcnow

BUTTONS = [{"title": "Small", "payload": "/size_s"}, {"title": "Large", "payload": "/size_l"}]


def test_text_payload() -> None:
    inbound = parse_incoming(WHATSAPP_TEXT, 2000)
    assert inbound.channel == "whatsapp"
    assert inbound.external_id == "+393331234567"
    assert inbound.provider_message_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert inbound.display_name == "Giulia"
    assert inbound.text == "Ciao, avete il trench nero in taglia M?"
    assert inbound.metadata == {}


def test_image_payload_keeps_the_media_url() -> None:
    inbound = parse_incoming(WHATSAPP_IMAGE, 2000)
    assert inbound.text == "[image]"
    assert inbound.metadata["media"] == [
        {"url": WHATSAPP_IMAGE["MediaUrl0"], "content_type": "image/jpeg"}
    ]


def test_location_payload_becomes_coordinates_for_the_assistant() -> None:
    inbound = parse_incoming(WHATSAPP_LOCATION, 2000)
    assert inbound.metadata["location"] == {
        "lat": 45.4642035,
        "lon": 9.189982,
        "address": "Piazza del Duomo, Milano",
        "label": "Duomo",
    }
    assert inbound.metadata["assistant_text"] == (
        '/share_location{"latitude": 45.4642035, "longitude": 9.189982}'
    )
    assert inbound.text == "📍 45.4642, 9.1900 (Duomo)"


@pytest.mark.parametrize(("lat", "lon"), [("91", "9"), ("45", "181"), ("-90.5", "9")])
def test_impossible_coordinates_are_not_a_location(lat: str, lon: str) -> None:
    inbound = parse_incoming({**WHATSAPP_LOCATION, "Latitude": lat, "Longitude": lon}, 2000)
    assert "location" not in inbound.metadata


@pytest.mark.parametrize(("lat", "lon"), [("nan", "9"), ("x", "9"), ("45", "inf"), ("1e400", "9")])
def test_coordinates_that_are_not_decimals_refuse_the_webhook(lat: str, lon: str) -> None:
    with pytest.raises(BadWebhook):
        parse_incoming({**WHATSAPP_LOCATION, "Latitude": lat, "Longitude": lon}, 2000)


def test_template_button_tap_sends_its_payload() -> None:
    params = {
        **WHATSAPP_TEXT,
        "Body": "Confermo",
        "ButtonText": "Confermo",
        "ButtonPayload": "/affirm",
    }
    inbound = parse_incoming(params, 2000)
    assert inbound.metadata["assistant_text"] == "/affirm" and inbound.text == "Confermo"


def test_long_and_dirty_text_is_cleaned_and_shortened_not_refused() -> None:
    inbound = parse_incoming({**WHATSAPP_TEXT, "Body": "ciao\x00" + "x" * 50}, 20)
    assert len(inbound.text) == 20 and inbound.text.endswith("…") and "\x00" not in inbound.text


@pytest.mark.parametrize("missing", ["MessageSid", "From"])
def test_payload_without_ids_is_refused(missing: str) -> None:
    params = {k: v for k, v in WHATSAPP_TEXT.items() if k not in {missing, "SmsMessageSid"}}
    with pytest.raises(BadWebhook):
        parse_incoming(params, 2000)


def test_form_parsing_and_signature_use_every_parameter() -> None:
    from urllib.parse import urlencode

    body = urlencode(WHATSAPP_TEXT).encode()
    params = parse_form(body)
    url = "https://chat.example.com/webhooks/whatsapp"
    signature = RequestValidator("token").compute_signature(url, WHATSAPP_TEXT)
    assert RequestValidator("token").validate(url, params, signature)
    assert not RequestValidator("token").validate(url + "?x=1", params, signature)
    with pytest.raises(ValueError):
        parse_form(b"Body=ciao&From")


def view(text: str, buttons: list[dict] | None = None, image: str | None = None) -> OutboundView:
    payload: dict = {}
    if buttons:
        payload["buttons"] = buttons
    if image:
        payload["image"] = image
    return OutboundView(1, "c", "whatsapp", "bot", text, payload, utcnow())


def test_buttons_become_a_numbered_list_in_the_customers_language() -> None:
    assert numbered_options("Che taglia?", BUTTONS, "it") == (
        "Che taglia?\n\n1. Small\n2. Large\n\nRispondi con il numero dell'opzione."
    )
    assert numbered_options("", BUTTONS, "en").startswith("Choose an option:\n\n1. Small")


def test_render_splits_long_text_and_puts_the_image_on_the_first_part() -> None:
    text = ("Una frase di prova abbastanza lunga. " * 100).strip()
    parts = render(view(text, image="https://cdn.example.com/trench.jpg"), "it")
    assert len(parts) == 3
    assert all(len(p.body) <= MAX_BODY_CHARS for p in parts)
    assert parts[0].media_urls == ("https://cdn.example.com/trench.jpg",)
    assert parts[1].media_urls == () and parts[2].media_urls == ()
    assert " ".join(p.body for p in parts) == text


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1", "/size_s"),
        ("2", "/size_l"),
        ("2.", "/size_l"),
        ("2)", "/size_l"),
        ("2️⃣", "/size_l"),
        ("  large ", "/size_l"),
        ("Small!", "/size_s"),
        ("3", None),
        ("0", None),
        ("medium", None),
        ("", None),
        ("large please", None),
    ],
)
def test_match_choice(reply: str, expected: str | None) -> None:
    choice = match_choice(reply, BUTTONS)
    assert (choice["payload"] if choice else None) == expected


def test_status_callbacks_map_onto_delivery_reports() -> None:
    delivered = parse_status(WHATSAPP_STATUS_DELIVERED, 7)
    assert delivered is not None
    assert (delivered.status, delivered.provider_message_id, delivered.message_id) == (
        Reported.DELIVERED,
        "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        7,
    )
    failed = parse_status(WHATSAPP_STATUS_FAILED, None)
    assert failed is not None and failed.status is Reported.FAILED and not failed.transient
    assert "30003" in (failed.error or "")
    assert parse_status({**WHATSAPP_STATUS_DELIVERED, "MessageStatus": "queued"}, None) is None


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("30001", Reported.FAILED, True),
        ("30008", Reported.FAILED, True),
        ("63018", Reported.FAILED, True),
        ("30005", Reported.FAILED, False),
        ("21610", Reported.FAILED, False),
        ("63016", Reported.HELD, False),
        ("", Reported.FAILED, False),
    ],
)
def test_error_codes_decide_retry_hold_or_give_up(
    code: str, status: Reported, transient: bool
) -> None:
    report = parse_status({**WHATSAPP_STATUS_FAILED, "ErrorCode": code}, None)
    assert report is not None and (report.status, report.transient) == (status, transient)


@pytest.mark.parametrize(
    ("http", "code", "transient", "held"),
    [
        (500, 20500, True, False),
        (503, 20503, True, False),
        (429, 20429, True, False),
        (400, 21211, False, False),
        (401, 20003, False, False),
        (400, 63016, False, True),
    ],
)
def test_rest_errors(http: int, code: int, transient: bool, held: bool) -> None:
    error = rest_error(TwilioRestException(http, "uri", "msg", code))
    assert error.transient is transient and isinstance(error, DeliveryHeld) is held


async def test_transport_points_the_official_client_at_the_base_url() -> None:
    fake = TwilioTransport("http://127.0.0.1:9999/fake/twilio")
    real = TwilioTransport()
    try:
        url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
        assert (
            fake.rewrite(url)
            == "http://127.0.0.1:9999/fake/twilio/2010-04-01/Accounts/AC1/Messages.json"
        )
        assert real.rewrite(url) == url
        assert fake.rewrite("https://example.com/x") == "https://example.com/x"
    finally:
        await fake.close()
        await real.close()
