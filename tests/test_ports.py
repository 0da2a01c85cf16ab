"""Ports for servers that start later come from outside the kernel's ephemeral range.

A port from ``bind(0)`` can become the local end of an outgoing connection before the
server that was meant to listen on it starts; the production failure test once waited
300 s for a Rasa server that could not bind. These checks fail on that old helper.
"""

from __future__ import annotations

import socket

from scripts.ports import ephemeral_range, free_port


def test_ports_are_outside_the_ephemeral_range_bindable_and_never_repeated() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(not low <= port <= high for port in ports), (low, high, ports)
    for port in ports[:20]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))

