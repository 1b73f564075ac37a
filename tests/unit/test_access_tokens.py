"""The gateway's access-token security corpus (DESIGN §5, RFC 8725): every forged, stale or misplaced bearer token
is a 401 problem with RFC 6750's challenge, and a valid one names the right caller.

The keys are the gateway's real key ring in the real state Redis (a private key prefix); time is a controllable
clock, so expiry, cool-downs and cache hits are exercised without sleeping. External issuers over HTTP:
tests/integration/gateway/test_external_issuers.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import Key
from redis.asyncio import Redis

from gateway.access import AccessTokens, Caller, bearer_of, load_issuers
from gateway.settings import GatewaySettings
from gateway.tokens import keyring, mint
from shared.identity import generate_key
from shared.problems import ProblemError
from shared.settings import from_env
from shared.signing import KeyRing

ISSUER = "https://gw.example.com"
LEEWAY = 30
COOLDOWN = 10
# RFC 6750 §3: the challenge's attribute values hold only %x20-21 / %x23-5B / %x5D-7E.
CHALLENGE = re.compile(
    r'Bearer realm="omnigate", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"'
)


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def settings_for(redis_url: str, prefix: str, **env: str) -> GatewaySettings:
    return from_env(
        GatewaySettings,
        {
            "REDIS_URL": redis_url,
            "OMNIGATE_KEY_PREFIX": prefix,
            "OMNIGATE_GATEWAY_ISSUER": ISSUER,
            "OMNIGATE_GATEWAY_LEEWAY_S": str(LEEWAY),
            "OMNIGATE_GATEWAY_JWKS_COOLDOWN_S": str(COOLDOWN),
            "OMNIGATE_GATEWAY_JWKS_REFRESH_S": "300",
            **env,
        },
    )


@pytest.fixture
def settings(redis_url: str, key_prefix: str) -> GatewaySettings:
    return settings_for(redis_url, key_prefix)


@pytest.fixture
async def ring(aredis: Redis, settings: GatewaySettings) -> KeyRing:
    found = keyring(aredis, settings)
    await found.ensure()
    return found


@pytest.fixture
def tokens(settings: GatewaySettings, ring: KeyRing, clock: Clock) -> AccessTokens:
    return AccessTokens.build(settings, ring, clock=clock)


async def current(ring: KeyRing) -> Key:
    return (await ring.current()).current


def shopper(key: Key, clock: Clock, *, ttl_s: int = 300, issuer: str = ISSUER) -> str:
    return mint(
        key,
        issuer=issuer,
        client_id="omnigate-cli",
        scope="orders:read orders:write",
        ttl_s=ttl_s,
        now=int(clock()),
        channel="web",
        subject="c-1001",
        customer_id="c-1001",
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(clock: Clock, **changes: Any) -> dict[str, Any]:
    now = int(clock())
    found: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "omnigate",
        "sub": "c-1001",
        "client_id": "omnigate-cli",
        "scope": "orders:read",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "j-1",
        "channel": "web",
        "customer_id": "c-1001",
    }
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def signed(key: Key, payload: dict[str, Any], **header: Any) -> str:
    """A token really signed with ``key``, with the header we mint or the one given."""
    protected = {k: v for k, v in {"alg": "RS256", "kid": key.kid, "typ": "at+jwt", **header}.items() if v is not None}
    if "crit" in protected:  # joserfc will not make a token whose crit it does not understand: by hand
        protected_b64 = b64(json.dumps(protected).encode())
        return f"{protected_b64}.{b64(json.dumps(payload).encode())}.{b64(b'x' * 256)}"
    return jws.serialize_compact(protected, json.dumps(payload).encode(), key, algorithms=[protected["alg"]])


async def assert_refused(tokens: AccessTokens, token: str | None, detail: str = "") -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        await tokens.verify(token)
    problem = caught.value
    assert (problem.slug, problem.status) == ("unauthorized", 401), problem
    assert CHALLENGE.fullmatch(problem.headers["WWW-Authenticate"]), problem.headers["WWW-Authenticate"]
    assert detail in (problem.detail or ""), problem.detail
    return problem


# --- valid tokens -------------------------------------------------------------------------------------------------


async def test_a_shoppers_token_names_the_customer(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    caller = await tokens.verify(shopper(await current(ring), clock))
    assert caller == Caller(
        issuer=ISSUER,
        sub="c-1001",
        channel="web",
        customer_id="c-1001",
        client_id="omnigate-cli",
        scopes=frozenset({"orders:read", "orders:write"}),
    )
    assert caller.consumer == "customer:c-1001"


async def test_a_partner_clients_token_names_the_partner_and_its_plan(
    tokens: AccessTokens, ring: KeyRing, clock: Clock
) -> None:
    token = mint(
        await current(ring),
        issuer=ISSUER,
        client_id="ogc_1",
        scope="availability:read",
        ttl_s=300,
        now=int(clock()),
        channel="partner",
        partner_id="acme",
        plan="gold",
    )
    caller = await tokens.verify(token)
    assert (caller.channel, caller.partner_id, caller.client_id, caller.plan) == ("partner", "acme", "ogc_1", "gold")
    assert (caller.sub, caller.customer_id, caller.consumer) == ("ogc_1", None, "partner:acme")


async def test_a_client_without_partner_or_customer_is_its_own_consumer(
    tokens: AccessTokens, ring: KeyRing, clock: Clock
) -> None:
    token = mint(
        await current(ring), issuer=ISSUER, client_id="ogc_2", scope="catalog:read", ttl_s=300, now=int(clock()),
        channel="mobile",
    )  # fmt: skip
    caller = await tokens.verify(token)
    assert (caller.channel, caller.consumer) == ("mobile", "client:ogc_2")


async def test_an_audience_array_holding_ours_is_accepted(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    caller = await tokens.verify(signed(await current(ring), claims(clock, aud=["other", "omnigate"])))
    assert caller.customer_id == "c-1001"


async def test_a_missing_scope_is_403_insufficient_scope(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    caller = await tokens.verify(shopper(await current(ring), clock))
    caller.require(["orders:read"])
    with pytest.raises(ProblemError) as caught:
        caller.require(["orders:read", "returns:write"])
    assert (caught.value.status, caught.value.slug) == (403, "forbidden")
    challenge = caught.value.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="omnigate", error="insufficient_scope"'), challenge
    assert 'scope="orders:read returns:write"' in challenge


def test_the_bearer_of_an_authorization_header() -> None:
    assert bearer_of("Bearer abc.def.ghi") == bearer_of("bearer  abc.def.ghi ") == "abc.def.ghi"
    assert bearer_of("Basic dXNlcjpwYXNz") is None
    assert bearer_of(None) is bearer_of("") is bearer_of("Bearer ") is None


# --- the corpus ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""])
async def test_no_token_is_a_challenge_without_an_error_code(tokens: AccessTokens, token: str | None) -> None:
    with pytest.raises(ProblemError) as caught:
        await tokens.verify(token)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"] == 'Bearer realm="omnigate"'  # RFC 6750 §3.1


@pytest.mark.parametrize("token", ["abc", "a.b.c", "....", "x" * 5000, "eyJ9.e30.", "ä.b.c"])
async def test_a_malformed_token_is_refused(tokens: AccessTokens, token: str) -> None:
    await assert_refused(tokens, token)


async def test_an_expired_token_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    key = await current(ring)
    await assert_refused(tokens, signed(key, claims(clock, exp=int(clock()) - LEEWAY - 1)), "expired")
    assert await tokens.verify(signed(key, claims(clock, exp=int(clock()) - LEEWAY + 5)))  # within the leeway


async def test_a_token_not_yet_valid_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    key = await current(ring)
    await assert_refused(tokens, signed(key, claims(clock, nbf=int(clock()) + LEEWAY + 60)), "not valid yet")
    await assert_refused(tokens, signed(key, claims(clock, iat=int(clock()) + LEEWAY + 60, nbf=None)), "future")


async def test_another_issuer_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    key = await current(ring)
    await assert_refused(tokens, shopper(key, clock, issuer="https://evil.example.com"), "issuer")
    await assert_refused(tokens, signed(key, claims(clock, iss=None)), "issuer")


@pytest.mark.parametrize("aud", ["someone-else", ["someone-else", "omnigate-internal"], []])
async def test_another_audience_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock, aud: Any) -> None:
    await assert_refused(tokens, signed(await current(ring), claims(clock, aud=aud)), "not for omnigate")


async def test_alg_none_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    kid = (await current(ring)).kid
    for alg in ("none", "None", "NONE"):
        header = b64(json.dumps({"alg": alg, "typ": "at+jwt", "kid": kid}).encode())
        await assert_refused(tokens, f"{header}.{b64(json.dumps(claims(clock)).encode())}.", "algorithm")


async def test_hs256_keyed_with_the_public_key_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    """The classic confusion: an HMAC keyed with our public key's bytes (joserfc refuses to make one: by hand)."""
    key = await current(ring)
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'at+jwt', 'kid': key.kid}).encode())}."
    signing_input += b64(json.dumps(claims(clock)).encode())
    for public in (key.as_pem(private=False), json.dumps(key.as_dict(private=False)).encode()):
        mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        await assert_refused(tokens, f"{signing_input}.{b64(mac)}", "algorithm")


async def test_a_foreign_key_under_our_kid_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    foreign = generate_key("RS256")
    await assert_refused(tokens, signed(foreign, claims(clock), kid=(await current(ring)).kid), "signature")


async def test_an_es256_key_under_our_rs256_kid_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    foreign = generate_key("ES256")
    token = signed(foreign, claims(clock), alg="ES256", kid=(await current(ring)).kid)
    await assert_refused(tokens, token, "algorithm")


async def test_an_unknown_kid_is_refused(tokens: AccessTokens, clock: Clock) -> None:
    await assert_refused(tokens, signed(generate_key("RS256"), claims(clock)), "not published")


async def test_a_token_without_kid_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    key = await current(ring)
    token = jws.serialize_compact({"alg": "RS256", "typ": "at+jwt"}, json.dumps(claims(clock)).encode(), key)
    await assert_refused(tokens, token, "kid")


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://evil.example.com/jwks.json"},
        {"x5u": "https://evil.example.com/cert.pem"},
        {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"], "exp": 1},
        {"x5t": "abc"},  # tolerated from external IdPs only
    ],
    ids=["jku", "x5u", "jwk", "x5c", "crit", "x5t"],
)
async def test_key_choosing_headers_are_refused(
    tokens: AccessTokens, ring: KeyRing, clock: Clock, header: dict[str, Any]
) -> None:
    await assert_refused(tokens, signed(await current(ring), claims(clock), **header), "may not carry")


@pytest.mark.parametrize("typ", [None, "JWT", "omnigate-identity+jwt"])
async def test_a_token_not_typed_at_jwt_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock, typ) -> None:
    await assert_refused(tokens, signed(await current(ring), claims(clock), typ=typ), "typ")


async def test_application_at_jwt_is_the_same_typ(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    assert await tokens.verify(signed(await current(ring), claims(clock), typ="application/AT+JWT"))


async def test_a_tampered_payload_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    head, _, signature = shopper(await current(ring), clock).split(".")
    forged = claims(clock, customer_id="c-9999", sub="c-9999")
    await assert_refused(tokens, f"{head}.{b64(json.dumps(forged).encode())}.{signature}", "signature")


async def test_a_tampered_signature_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    token = shopper(await current(ring), clock)
    head, body, signature = token.split(".")
    flipped = b64(bytes([base64.urlsafe_b64decode(signature + "==")[0] ^ 1])) + signature[2:]
    for bad in (token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), f"{head}.{body}.{flipped}"):
        await assert_refused(tokens, bad, "signature")


async def test_a_token_without_exp_is_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    await assert_refused(tokens, signed(await current(ring), claims(clock, exp=None)), "exp")


async def test_claims_we_do_not_mint_are_refused(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    key = await current(ring)
    await assert_refused(tokens, signed(key, claims(clock, admin=True)), "claims")
    await assert_refused(tokens, signed(key, claims(clock, channel="ops")), "claims")
    await assert_refused(tokens, signed(key, claims(clock, channel="partner")), "caller")  # no partner_id
    await assert_refused(tokens, signed(key, claims(clock, customer_id="c 1")), "claims")


# --- the cache and the keys ---------------------------------------------------------------------------------------


async def test_a_cache_hit_still_checks_expiry(tokens: AccessTokens, ring: KeyRing, clock: Clock) -> None:
    token = shopper(await current(ring), clock, ttl_s=120)
    assert await tokens.verify(token)
    clock.now += 120 + LEEWAY - 1
    assert await tokens.verify(token)  # from the cache, within the leeway
    clock.now += 1
    await assert_refused(tokens, token, "expired")
    await assert_refused(tokens, token, "expired")  # and again once it left the cache


async def test_after_a_rotation_old_and_new_tokens_verify_without_a_restart(
    tokens: AccessTokens, ring: KeyRing, clock: Clock
) -> None:
    old = shopper(await current(ring), clock)
    assert (await tokens.verify(old)).customer_id == "c-1001"
    new_key = (await ring.rotate()).current
    new = shopper(new_key, clock)
    clock.now += COOLDOWN  # the keys were read for the first token: the next read of an unknown kid waits this long
    assert (await tokens.verify(new)).customer_id == "c-1001"
    assert (await tokens.verify(old)).customer_id == "c-1001"  # the previous key is still published
    fresh_old = signed((await ring.current()).retired[0][0], claims(clock, jti="j-2"))
    assert await tokens.verify(fresh_old)  # not only from the cache: the retired key still verifies


async def test_our_own_keys_are_read_again_at_once_on_an_unknown_kid(
    tokens: AccessTokens, ring: KeyRing, clock: Clock
) -> None:
    """The token endpoint signs with a new key the moment it is made: a worker that read the ring just before must
    not refuse the next token (no cool-down for our own ring, unlike an external IdP's JWKS)."""
    assert await tokens.verify(shopper(await current(ring), clock))
    new = shopper((await ring.rotate()).current, clock)
    clock.now += 0.001  # a moment later, well within the external issuers' cool-down
    assert await tokens.verify(new)


async def test_a_cached_token_whose_key_was_withdrawn_is_refused(
    aredis: Redis, redis_url: str, key_prefix: str, clock: Clock
) -> None:
    """A retired key is kept for the token lifetime plus leeway (here one second); once the keys are read again
    after that, a token it signed is refused even from the cache."""
    settings = settings_for(redis_url, key_prefix, OMNIGATE_GATEWAY_TOKEN_TTL_S="1", OMNIGATE_GATEWAY_LEEWAY_S="0")
    ring = keyring(aredis, settings)
    tokens = AccessTokens.build(settings, ring, clock=clock)
    old = shopper((await ring.ensure()).current, clock, ttl_s=600)
    assert await tokens.verify(old)
    await ring.rotate()
    time.sleep(1.1)  # the ring retires keys by the wall clock
    clock.now += settings.gateway_jwks_refresh_s
    await assert_refused(tokens, old, "not published")


async def test_unreadable_keys_are_a_503_not_a_refusal(clock: Clock, key_prefix: str) -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        settings = settings_for("redis://127.0.0.1:1/0", key_prefix)
        tokens = AccessTokens.build(settings, keyring(down, settings), clock=clock)
        with pytest.raises(ProblemError) as caught:
            await tokens.verify(signed(generate_key("RS256"), claims(clock)))
        assert (caught.value.slug, caught.value.status) == ("service-unavailable", 503)
        assert int(caught.value.headers["Retry-After"]) >= 1
    finally:
        await down.aclose()


# --- the issuers file ---------------------------------------------------------------------------------------------


def test_the_issuers_file_is_decoded_strictly(tmp_path: Path) -> None:
    good = tmp_path / "issuers.toml"
    good.write_text(
        '[[issuer]]\nissuer = "https://idp.example.com/"\njwks_uri = "https://idp.example.com/jwks"\n'
        'audience = "omnigate"\ntyp = ["JWT"]\ncustomer_claim = "email"\nchannel = "mobile"\n'
    )
    (config,) = load_issuers(good)
    assert (config.customer_claim, config.channel, config.algorithms, config.typ) == (
        "email",
        "mobile",
        ("RS256", "ES256"),
        ("JWT",),
    )
    for body in (
        good.read_text() + 'unknown = "x"\n',  # an unknown key is an error, not ignored
        good.read_text().replace('channel = "mobile"', 'channel = "partner"'),
        good.read_text() + 'algorithms = ["HS256"]\n',
        good.read_text() + 'algorithms = ["none"]\n',
        good.read_text().replace('typ = ["JWT"]', "typ = []"),
        good.read_text() * 2,  # the same issuer twice
        good.read_text().replace("https://idp.example.com/jwks", "file:///etc/passwd"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(body)
        with pytest.raises(ValueError, match="issuers file"):
            load_issuers(bad)
