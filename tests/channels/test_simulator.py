"""The channel simulator: signed webhooks from a page, replies from the in-process fakes."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.channels.conftest import make_harness
from vetrina.settings import Settings, SettingsError

NO_CREDENTIALS = {
    "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "", "TWILIO_WHATSAPP_FROM": "",
    "META_APP_SECRET": "", "META_VERIFY_TOKEN": "", "INSTAGRAM_ACCESS_TOKEN": "",
    "INSTAGRAM_ACCOUNT_ID": "", "VETRINA_ENV": "development",
}


async def test_simulator_runs_both_channels_without_any_account(tmp_path: Path) -> None:
    async with make_harness(tmp_path, **NO_CREDENTIALS) as harness:
        assert harness.channels.simulated == {"whatsapp", "instagram"}
        async with aiohttp.ClientSession(base_url=harness.url) as client, client.get("/simulator") as page:
            assert page.status == 200 and "Channel simulator" in await page.text()
            async with client.post("/simulator/api/whatsapp",
                                   json={"number": "+393331234567", "name": "Giulia", "text": "ciao"}) as r:
                assert (await r.json())["webhook_status"] == 200
            async with client.post("/simulator/api/instagram",
                                   json={"igsid": "6543210987654321", "name": "Marco", "text": "hello"}) as r:
                assert (await r.json())["webhook_status"] == 200

            async def replies(channel: str, user: str) -> list[dict]:
                async with client.get("/simulator/api/replies", params={"channel": channel, "user": user}) as r:
                    return (await r.json())["replies"]

            wa = await harness.until(lambda: replies("whatsapp", "+393331234567"))
            ig = await harness.until(lambda: replies("instagram", "6543210987654321"))
        assert wa[0]["text"] == "echo: ciao" and ig[0]["text"] == "echo: hello"
        # the in-process fake Twilio reported delivery back through the signed status webhook
        await harness.until(lambda: harness.messages(channel="whatsapp", direction="out", status="delivered"))


async def test_simulator_refuses_bad_input(tmp_path: Path) -> None:
    async with make_harness(tmp_path, **NO_CREDENTIALS) as harness:
        async with aiohttp.ClientSession(base_url=harness.url) as client, client.post("/simulator/api/whatsapp", json={"number": "abc", "text": "x"}) as r:
            assert r.status == 400
            async with client.post("/simulator/api/instagram", data=b"not json") as r:
                assert r.status == 400
        assert await harness.messages() == []


async def test_with_real_credentials_the_simulator_leaves_that_channel_alone(tmp_path: Path) -> None:
    async with make_harness(tmp_path, VETRINA_SIMULATOR="true") as harness:
        assert harness.channels.simulated == set()
        async with aiohttp.ClientSession(base_url=harness.url) as client, client.post("/simulator/api/whatsapp", json={"number": "+39333000", "text": "x"}) as r:
            assert r.status == 404


async def test_no_simulator_in_production_or_tests_by_default(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"VETRINA_ENV": "production", "VETRINA_SIMULATOR": "true"})
    assert not Settings.from_env({"VETRINA_ENV": "production"}).simulator
    assert Settings.from_env({}).simulator  # development
    async with make_harness(tmp_path) as harness, aiohttp.ClientSession(
        base_url=harness.url
    ) as client, client.get("/simulator") as page:
        assert page.status == 404


def test_provider_settings_from_the_environment() -> None:
    settings = Settings.from_env({
        "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_WHATSAPP_FROM": "+14155238886",
        "TWILIO_TEMPLATE_BOOKING_REMINDER": "HX1", "TWILIO_API_BASE_URL": "http://fake/",
        "META_GRAPH_BASE_URL": "http://graph/v25.0/",
    })
    assert settings.twilio.configured and settings.twilio.whatsapp_from == "whatsapp:+14155238886"
    assert settings.twilio.template_sid("BOOKING_REMINDER") == "HX1"
    assert settings.twilio.api_base_url == "http://fake"
    assert settings.meta.graph_base_url == "http://graph/v25.0"
    assert settings.meta.missing() == [
        "META_APP_SECRET", "META_VERIFY_TOKEN", "INSTAGRAM_ACCESS_TOKEN", "INSTAGRAM_ACCOUNT_ID",
    ]
    assert Settings.from_env({}).twilio.api_base_url == "https://api.twilio.com"
