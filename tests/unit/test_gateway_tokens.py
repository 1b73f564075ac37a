"""The gateway's authorization server without I/O: RFC 9068 tokens as minted (their check: test_access_tokens.py),
client secrets and scopes, and authlib's token endpoint driven through our adapter (the key ring itself: test_signing.py)."""

from __future__ import annotations

import base64
import time

import pytest
from joserfc import jwt

from gateway.authorization import TokenRequest, TokenServer, parse_form
from gateway.clients import OAuthClient, UnknownScope, parse_scopes, secret_hmac
from gateway.tokens import mint
from shared.identity import generate_key
from shared.signing import SigningKeys

ISSUER = "https://gw.example.com"
PEPPER = "pepper"
SECRET = "s3cret-value"
KEY = generate_key("RS256")
OTHER = generate_key("RS256")


def token(key=KEY, **overrides) -> str:
    args = {
        "issuer": ISSUER,
        "client_id": "ogc_1",
        "scope": "orders:read",
        "ttl_s": 60,
        "now": int(time.time()),
        "channel": "web",
    }
    return mint(key, **{**args, **overrides})


def test_a_minted_token_is_an_rfc9068_access_token() -> None:
    decoded = jwt.decode(token(), KEY)
    assert decoded.header == {"alg": "RS256", "typ": "at+jwt", "kid": KEY.kid}
    claims = decoded.claims
    assert {"iss", "aud", "sub", "client_id", "scope", "iat", "exp", "jti", "channel"} <= set(claims)
    assert (claims["aud"], claims["sub"], claims["client_id"]) == ("omnigate", "ogc_1", "ogc_1")
    assert claims["exp"] - claims["iat"] == 60
    assert "partner_id" not in claims and "plan" not in claims  # absent, not null
    # Checking tokens is gateway/access.py's: tests/unit/test_access_tokens.py.


def test_two_tokens_never_share_a_jti() -> None:
    assert jwt.decode(token(), KEY).claims["jti"] != jwt.decode(token(), KEY).claims["jti"]


def test_access_tokens_are_only_signed_rs256() -> None:
    with pytest.raises(ValueError, match="RS256"):
        token(key=generate_key("ES256"))


def test_scopes_are_designs_only() -> None:
    assert parse_scopes("orders:write orders:read orders:read") == ["orders:read", "orders:write"]
    for bad in ("orders:delete", "", "admin"):
        with pytest.raises(UnknownScope):
            parse_scopes(bad)


def test_form_parameters_may_not_repeat() -> None:
    assert parse_form("application/x-www-form-urlencoded; charset=utf-8", b"grant_type=x&scope=a+b") == {
        "grant_type": "x",
        "scope": "a b",
    }
    for content_type, body in (("application/json", b"{}"), ("application/x-www-form-urlencoded", b"a=1&a=2")):
        with pytest.raises(Exception, match="invalid_request"):
            parse_form(content_type, body)


# --- authlib's token endpoint through our adapter ------------------------------------------------------------

CLIENT = OAuthClient(
    client_id="ogc_abc",
    name="test",
    scopes=["orders:read", "orders:write"],
    secret_hmac=secret_hmac(PEPPER, SECRET),
    created_at_ms=0,
    partner="acme",
    channel="partner",
    plan="gold",
)
SERVER = TokenServer(issuer=ISSUER, ttl_s=300, pepper=PEPPER)
KEYS = SigningKeys(current=KEY, retired=(), keep_ms=0)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def ask(form: dict[str, str], headers: dict[str, str] | None = None, client: OAuthClient | None = CLIENT):
    return SERVER.answer(TokenRequest(ISSUER + "/oauth/token", form, headers or {}, client, KEYS))


def test_client_credentials_by_basic_and_by_post() -> None:
    by_basic = ask({"grant_type": "client_credentials", "scope": "orders:read"}, basic("ogc_abc", SECRET))
    by_post = ask({"grant_type": "client_credentials", "client_id": "ogc_abc", "client_secret": SECRET})
    assert by_basic.status == by_post.status == 200, (by_basic, by_post)
    assert by_basic.headers["Cache-Control"] == "no-store"
    assert (by_basic.body["token_type"], by_basic.body["expires_in"]) == ("Bearer", 300)
    assert by_basic.body["scope"] == "orders:read"
    assert by_post.body["scope"] == "orders:read orders:write"  # no scope asked: every scope the client holds
    claims = jwt.decode(by_basic.body["access_token"], KEY).claims
    assert (claims["client_id"], claims["partner_id"], claims["scope"]) == ("ogc_abc", "acme", "orders:read")
    assert (claims["channel"], claims["plan"]) == ("partner", "gold")


@pytest.mark.parametrize(
    ("form", "headers", "client", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, basic("ogc_abc", "wrong"), CLIENT, 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, basic("ogc_nobody", SECRET), None, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "ogc_abc", "client_secret": "x"},
            {},
            CLIENT,
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, {}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, basic("ogc_abc", SECRET), CLIENT, 400, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "scope": "returns:write"},
            basic("ogc_abc", SECRET),
            CLIENT,
            400,
            "invalid_scope",
        ),
        ({"grant_type": "client_credentials", "scope": "root"}, basic("ogc_abc", SECRET), CLIENT, 400, "invalid_scope"),
    ],
    ids=[
        "wrong-secret",
        "unknown-client",
        "wrong-post-secret",
        "no-credentials",
        "grant",
        "lacking-scope",
        "unknown-scope",
    ],
)
def test_errors_are_rfc6749_json(form, headers, client, status, error) -> None:
    answer = ask(form, headers, client)
    assert (answer.status, answer.body["error"]) == (status, error), answer
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic "), answer.headers
