"""Signed identity tokens: valid, expired, tampered, wrong key or algorithm, bad claims."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from vetrina.customers.tokens import (
    EXPIRED,
    INVALID,
    IdentityTokenError,
    issue_identity_token,
    verify_identity_token,
)

SECRET = "s3cret-shared-with-the-shop-0123456789"


def test_a_valid_token_names_the_shop_account() -> None:
    token = issue_identity_token(SECRET, "acct-42", name="Giulia Rossi", email="g@example.com",
                                 language="EN", ttl=600)
    shop = verify_identity_token(SECRET, token)
    assert shop.account_id == "acct-42"
    assert shop.name == "Giulia Rossi" and shop.email == "g@example.com" and shop.language == "en"
    assert shop.expires_at.timestamp() == pytest.approx(time.time() + 600, abs=5)


def test_an_expired_token_is_refused_as_expired() -> None:
    token = issue_identity_token(SECRET, "acct-42", ttl=60, now=time.time() - 3600)
    with pytest.raises(IdentityTokenError) as error:
        verify_identity_token(SECRET, token)
    assert error.value.code == EXPIRED


def test_clock_leeway_is_small() -> None:
    token = issue_identity_token(SECRET, "acct-42", ttl=60, now=time.time() - 75)
    assert verify_identity_token(SECRET, token).account_id == "acct-42"  # 15 s late: leeway


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "acct-victim"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _tamper(issue_identity_token(SECRET, "acct-42")), id="tampered"),
        pytest.param(lambda: issue_identity_token("another-secret-of-32-characters!!", "acct-42"),
                     id="other-key"),
        pytest.param(lambda: jwt.encode({"sub": "acct-42", "exp": int(time.time()) + 60}, None,
                                        algorithm="none"), id="alg-none"),
        pytest.param(lambda: jwt.encode({"sub": "acct-42", "exp": int(time.time()) + 60},
                                        SECRET, algorithm="HS512"), id="other-alg"),
        pytest.param(lambda: jwt.encode({"exp": int(time.time()) + 60}, SECRET,
                                        algorithm="HS256"), id="no-sub"),
        pytest.param(lambda: jwt.encode({"sub": "acct-42"}, SECRET, algorithm="HS256"),
                     id="no-exp"),
        pytest.param(lambda: issue_identity_token(SECRET, "acct-42", ttl=7 * 86400),
                     id="too-long-lived"),
        pytest.param(lambda: "not.a.token", id="garbage"),
        pytest.param(lambda: "", id="empty"),
        pytest.param(lambda: 12345, id="not-a-string"),
        pytest.param(lambda: "x" * 5000, id="huge"),
    ],
)
def test_bad_tokens_are_invalid(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IdentityTokenError) as error:
        verify_identity_token(SECRET, make())
    assert error.value.code == INVALID


def test_no_secret_means_tokens_are_off() -> None:
    token = issue_identity_token(SECRET, "acct-42")
    with pytest.raises(IdentityTokenError) as error:
        verify_identity_token("", token)
    assert error.value.code == INVALID
