import pytest

from vetrina.conversations.text import InvalidMessage, clean_text


def test_keeps_ordinary_text_and_trims() -> None:
    assert clean_text("  Ciao, avete il trench nero in M? 🧥 ", 2000) == (
        "Ciao, avete il trench nero in M? 🧥"
    )


def test_drops_control_characters_but_keeps_newlines() -> None:
    assert clean_text("ciao\x00\x07\x1b[31m\nriga due\t!", 2000) == "ciao[31m\nriga due\t!"


def test_lone_surrogates_become_replacement_characters() -> None:
    assert clean_text("a\ud800b", 2000) == "a\ufffdb"


@pytest.mark.parametrize("raw", ["", "   ", "\x00\x01", "\n\t "])
def test_empty_is_refused(raw: str) -> None:
    with pytest.raises(InvalidMessage) as error:
        clean_text(raw, 2000)
    assert error.value.code == "empty_message"


def test_over_long_is_refused_with_the_limit() -> None:
    with pytest.raises(InvalidMessage) as error:
        clean_text("x" * 10_000, 2000)
    assert error.value.code == "message_too_long"
    assert "2000" in str(error.value)


@pytest.mark.parametrize("raw", [None, 42, ["ciao"], {"text": "ciao"}, b"ciao"])
def test_non_text_is_refused(raw: object) -> None:
    with pytest.raises(InvalidMessage) as error:
        clean_text(raw, 2000)
    assert error.value.code == "invalid_message"
