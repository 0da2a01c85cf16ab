"""Web chat pieces on their own: Rasa's frames, session ids, limits, client addresses."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from channels.web.frames import rasa_frames, vetrina_frame
from channels.web.limits import MessageLimits, Window, client_address
from channels.web.session_ids import SessionIds, stored_secret
from vetrina.conversations.ports import OutboundView
from vetrina.storage.database import Database

KEY = "k" * 32


def view(text: str = "", **payload: Any) -> OutboundView:
    return OutboundView(7, "c1", "web", payload.pop("author", "bot"), text, payload,
                        datetime.now(timezone.utc))


def test_text_is_split_on_blank_lines_as_rasa_does() -> None:
    assert rasa_frames(view("  Uno.\n\nDue.\nTre.  ")) == [{"text": "Uno."}, {"text": "Due.\nTre."}]
    assert rasa_frames(view("")) == []


def test_a_custom_payload_goes_out_as_its_data_only() -> None:
    assert rasa_frames(view(custom={"data": [1, 2]})) == [[1, 2]]
    assert rasa_frames(view(custom={"other": 1})) == []  # Rasa would fail on it; we skip it


def test_vetrina_frame_names_the_consultant() -> None:
    frame = vetrina_frame(view("Ciao, sono Giulia", author="consultant",
                               consultant={"id": 3, "name": "Giulia"}))
    assert frame == {"text": "Ciao, sono Giulia", "id": 7, "author": "consultant",
                     "consultant_name": "Giulia"}


def test_a_link_button_keeps_its_url_for_vetrina_clients_only() -> None:
    url = "https://shop.example/bookings/K7M2QX/calendar.ics?t=secret"
    link = {"title": "Aggiungi al calendario", "payload": url, "url": url, "type": "web_url"}
    plain = {"title": "Sì", "payload": "/affirm"}
    message = view("Prenotato!", buttons=[plain, link])
    assert vetrina_frame(message)["quick_replies"] == [
        {"content_type": "text", "title": "Sì", "payload": "/affirm"},
        {"content_type": "text", "title": "Aggiungi al calendario", "payload": url,
         "type": "web_url", "url": url},
    ]
    # Rasa's own frames carry no url: stock widgets get exactly Rasa's keys.
    [frame] = rasa_frames(message)
    assert all(set(reply) == {"content_type", "title", "payload"} for reply in frame["quick_replies"])


def test_only_ids_the_server_signed_are_valid() -> None:
    ids = SessionIds(KEY)
    issued = ids.issue()
    assert ids.valid(issued) and issued != ids.issue()
    public, signature = issued.split(".")
    assert ids.public(issued) == public
    assert not ids.valid(public)
    assert not ids.valid(f"{public}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}")
    assert not SessionIds("x" * 32).valid(issued)
    for junk in (None, 42, "", "aaaaaaaa", "a.b", issued + "x", ["list"]):
        assert not ids.valid(junk)


async def test_the_stored_secret_is_made_once_and_shared(sqlite_db: Database) -> None:
    first = await stored_secret(sqlite_db)
    other = Database(sqlite_db.url)  # another instance of the gateway
    try:
        assert await stored_secret(other) == first and len(first) >= 32
    finally:
        await other.dispose()


def test_refused_messages_do_not_use_up_the_neighbours_room() -> None:
    now = [0.0]
    limits = MessageLimits(Window(3, 10, clock=lambda: now[0]), Window(4, 10, clock=lambda: now[0]))
    assert [limits.allow("s1", "sess1", "1.2.3.4") for _ in range(5)] == [True] * 3 + [False] * 2
    # Same address, another socket: the flood's refused attempts did not count.
    assert [limits.allow("s2", "sess2", "1.2.3.4") for _ in range(2)] == [True, False]
    now[0] = 10.1  # the window slid past
    assert limits.allow("s1", "sess1", "1.2.3.4")


def test_the_same_session_in_several_sockets_shares_one_limit() -> None:
    limits = MessageLimits(Window(2, 10), Window(100, 10))
    assert limits.allow("tab1", "sess", "a") and limits.allow("tab2", "sess", "b")
    assert not limits.allow("tab3", "sess", "c")


def test_forwarded_address_only_from_trusted_proxies() -> None:
    def environ(peer: str, forwarded: str) -> dict[str, object]:
        return {"aiohttp.request": SimpleNamespace(remote=peer),
                "HTTP_X_FORWARDED_FOR": forwarded}

    assert client_address(environ("9.9.9.9", "1.1.1.1"), frozenset()) == "9.9.9.9"
    proxies = frozenset({"10.0.0.2"})
    assert client_address(environ("9.9.9.9", "1.1.1.1"), proxies) == "9.9.9.9"
    # The client can put anything first; the proxy appends the real peer last.
    assert client_address(environ("10.0.0.2", "6.6.6.6, 1.1.1.1"), proxies) == "1.1.1.1"
    assert client_address(environ("10.0.0.2", ""), proxies) == "10.0.0.2"
