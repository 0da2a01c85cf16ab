"""The client address behind trusted proxies: which forwarded headers are believed."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from vetrina.gateway.console.proxies import TrustedProxies
from vetrina.settings import Settings, SettingsError

PROXIES = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8", "::1"])


class Transport:
    def __init__(self, peer: str) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.peer, 4711) if name == "peername" else default


def client(peer: str, **headers: str) -> str:
    request = make_mocked_request(
        "POST", "/console/login", headers=headers, transport=Transport(peer)
    )
    return PROXIES.client(request)


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # Straight from a client: forwarded headers are the client's own words, ignored.
        ("203.0.113.9", {"X-Forwarded-For": "198.51.100.1"}, "203.0.113.9"),
        ("203.0.113.9", {"Forwarded": "for=198.51.100.1"}, "203.0.113.9"),
        # Through our proxy: the address the proxy saw (the right-most untrusted hop).
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"),
        ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}, "198.51.100.1"),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1, 10.1.2.3"}, "198.51.100.1"),
        ("127.0.0.1", {"Forwarded": 'for=6.6.6.6, for="198.51.100.1:4711"'}, "198.51.100.1"),
        ("127.0.0.1", {"Forwarded": 'for="[2001:db8::7]:4711"'}, "2001:db8::7"),
        ("::1", {"X-Forwarded-For": "2001:db8::8"}, "2001:db8::8"),
        # Every hop ours: the first one is the client.
        ("127.0.0.1", {"X-Forwarded-For": "10.0.0.5, 10.0.0.6"}, "10.0.0.5"),
        # No header, or a garbled one, from the proxy: the proxy itself.
        ("127.0.0.1", {}, "127.0.0.1"),
        ("127.0.0.1", {"X-Forwarded-For": "not-an-address"}, "127.0.0.1"),
        ("127.0.0.1", {"X-Forwarded-For": "198.51.100.1, , 1.2.3.4"}, "127.0.0.1"),
        ("127.0.0.1", {"X-Forwarded-For": ", ".join(["1.2.3.4"] * 40)}, "127.0.0.1"),
        ("127.0.0.1", {"Forwarded": "for=unknown"}, "127.0.0.1"),
    ],
)
def test_the_client_is_read_from_trusted_proxies_only(
    peer: str, headers: dict[str, str], expected: str
) -> None:
    assert client(peer, **headers) == expected


def test_no_trusted_proxies_means_the_socket_peer() -> None:
    request = make_mocked_request(
        "GET", "/", headers={"X-Forwarded-For": "198.51.100.1"}, transport=Transport("127.0.0.1")
    )
    assert TrustedProxies().client(request) == "127.0.0.1"


def test_the_setting_is_checked() -> None:
    settings = Settings.from_env({"VETRINA_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert settings.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="VETRINA_TRUSTED_PROXIES"):
        Settings.from_env({"VETRINA_TRUSTED_PROXIES": "nginx"})
