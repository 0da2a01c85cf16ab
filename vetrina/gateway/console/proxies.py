"""The client's address behind trusted reverse proxies (``VETRINA_TRUSTED_PROXIES``).

``X-Forwarded-For`` and ``Forwarded`` are believed only when the socket peer is one of
the trusted proxies; the client is then the right-most address of the chain that is not
itself a trusted proxy (each proxy appends the address it saw, so everything left of
the last untrusted hop may be forged by the client). A garbled header from a trusted
proxy counts as no header: the proxy's own address is used.

aiohttp-remotes was the first choice: its ``XForwardedFiltered`` believes the header
from any peer (a client connecting directly could name any address), and
``XForwardedStrict``/``ForwardedStrict`` answer 400 to a direct connection and need a
fixed hop count, so this small parser (on aiohttp's own RFC 7239 parsing of
``Forwarded``) is used instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import hdrs, web

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_HOPS = 32


def _address(text: str) -> IPAddress | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, spec: Iterable[str]) -> TrustedProxies:
        """Addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``); ValueError if bad."""
        return cls(tuple(ipaddress.ip_network(item.strip(), strict=False)
                         for item in spec if item.strip()))

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def _chain(self, request: web.Request) -> list[IPAddress] | None:
        """The forwarded chain, oldest first; ``None`` when a header is garbled."""
        if hdrs.FORWARDED in request.headers:
            try:
                elements = request.forwarded
            except ValueError:
                return None
            chain = [_address(element.get("for") or "") for element in elements]
        else:
            values = request.headers.getall(hdrs.X_FORWARDED_FOR, [])
            chain = [_address(part) for value in values for part in value.split(",")]
        if not chain or len(chain) > MAX_HOPS or any(hop is None for hop in chain):
            return None
        return [hop for hop in chain if hop is not None]

    def client(self, request: web.Request) -> str:
        """The address the request came from, as far as trusted proxies can tell."""
        peer = _address(request.remote or "")
        if peer is None:
            return request.remote or "unknown"
        if not self.trusts(peer):
            return str(peer)
        chain = self._chain(request)
        if chain is None:
            return str(peer)
        for hop in reversed(chain):
            if not self.trusts(hop):
                return str(hop)
        return str(chain[0])  # every hop is a proxy of ours: the first one is the client
