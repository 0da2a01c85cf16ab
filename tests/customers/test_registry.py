"""What the packages above customers plug in, and the one message catalogue."""

from __future__ import annotations

import pytest

import vetrina.bookings
import vetrina.conversations  # noqa: F401
from vetrina import messages
from vetrina.customers.registry import (
    customer_tables,
    kept_on_erasure,
    owned_tables,
    registered,
    timeline_sources,
)
from vetrina.language import SUPPORTED


def test_every_table_with_customer_rows_is_owned_and_conversations_move_themselves() -> None:
    owned = {t.name for t in owned_tables()}
    assert {
        "bookings", "channel_identities", "conversations", "handoff_transitions",
        "interactions", "link_codes", "marketing_consents", "messages",
    } <= owned
    moved_row_by_row = {t.name for t in customer_tables()}
    assert "messages" not in moved_row_by_row and "conversations" not in moved_row_by_row
    assert "bookings" in moved_row_by_row
    assert kept_on_erasure() == {"bookings"}
    assert [s.kind for s in timeline_sources()] == ["message"]
    assert {d.package for d in registered()} >= {"customers", "conversations", "bookings"}


def test_every_message_has_every_language() -> None:
    for key, texts in messages.MESSAGES.items():
        assert set(texts) >= set(SUPPORTED), key


def test_an_unknown_language_falls_back_to_the_default() -> None:
    assert messages.message("link_code", "fr", code="123456", minutes=10) == messages.message(
        "link_code", "it", code="123456", minutes=10
    )
    assert "123456" in messages.message("link_code", "en", code="123456", minutes=10)


def test_a_missing_translation_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(messages.MESSAGES, "half", {"it": "solo italiano"})
    with pytest.raises(RuntimeError, match="half"):
        messages._check()
