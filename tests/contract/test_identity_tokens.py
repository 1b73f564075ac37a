"""The identity token's security corpus (DESIGN §5): every forged, stale or misplaced token is a 401 problem.

Keys are published in the real state Redis (``publish_keys``) and read back by the verifier the way a deployable
reads them; time is a controllable clock, so expiry, cool-downs and key refreshes are exercised without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import Key
from redis.asyncio import Redis

from shared.identity import (
    AUDIENCE,
    DEFAULT_ISSUER,
    TOKEN_TYPE,
    FileKeys,
    Identity,
    Minter,
    RedisKeys,
    Verifier,
    generate_key,
    keys_key,
    public_jwks,
    publish_keys,
    service_identity,
    withdraw_keys,
)
from shared.problems import ProblemError
from shared.signing import KeyRing

T0 = 1_800_000_000.0
SHOPPER = Identity(sub="c-1001", channel="web", customer_id="c-1001", scopes=frozenset({"orders:read"}))
CHALLENGE = 'Bearer realm="omnigate-internal", error="invalid_token"'
# RFC 6750 §3: the challenge's attribute values hold only %x20-21 / %x23-5B / %x5D-7E.
CHALLENGE_SYNTAX = re.compile(
    r'Bearer realm="omnigate-internal"(, error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*")?'
)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> Key:
    return generate_key("RS256")


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return generate_key("ES256")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def keys(aredis: Redis, key_prefix: str, rsa_key: Key) -> AsyncIterator[RedisKeys]:
    """The gateway's RSA key published in the state Redis."""
    await publish_keys(aredis, key_prefix, "gateway", public_jwks([rsa_key]))
    yield RedisKeys(aredis, key_prefix)


@pytest.fixture
def verifier(keys: RedisKeys, clock: Clock) -> Verifier:
    return Verifier([keys], clock=clock, leeway_s=30, refresh_s=60, cooldown_s=10)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "iss": DEFAULT_ISSUER,
        "aud": AUDIENCE,
        "sub": "c-1001",
        "channel": "web",
        "customer_id": "c-1001",
        "scope": "orders:read",
        "iat": int(T0),
        "exp": int(T0) + 300,
        "jti": "j-1",
    }
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def signed(key: Key, payload: dict[str, Any], **header: Any) -> str:
    """A token signed with ``key`` (a real signature), with the header we mint or the one given."""
    alg = "RS256" if key.key_type == "RSA" else "ES256"
    protected = {"alg": alg, "kid": key.kid, "typ": TOKEN_TYPE, **header}
    return jws.serialize_compact(protected, json.dumps(payload).encode(), key, algorithms=[protected["alg"]])


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)))


async def assert_refused(verifier: Verifier, token: str | None, detail: str = "") -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        await verifier.verify(token)
    problem = caught.value
    assert (problem.slug, problem.status) == ("unauthorized", 401), problem
    assert problem.to_problem().type == "https://omnigate.dev/problems/unauthorized"
    assert CHALLENGE_SYNTAX.fullmatch(problem.headers["WWW-Authenticate"]), problem.headers["WWW-Authenticate"]
    assert detail in (problem.detail or ""), problem.detail
    return problem


async def test_a_minted_token_verifies_to_the_same_identity(verifier: Verifier, rsa_key: Key, clock: Clock) -> None:
    token = Minter(rsa_key, clock=clock).mint(SHOPPER)
    identity = await verifier.verify(token)
    assert identity == SHOPPER and identity.owner == "web:c-1001"


async def test_an_es256_key_verifies_too(
    aredis: Redis, key_prefix: str, verifier: Verifier, ec_key: Key, clock: Clock
) -> None:
    await publish_keys(aredis, key_prefix, "gateway", public_jwks([ec_key]))
    await verifier.reload()
    assert await verifier.verify(Minter(ec_key, clock=clock).mint(SHOPPER)) == SHOPPER


async def test_no_token_is_a_challenge_without_an_error_code(verifier: Verifier) -> None:
    for token in (None, ""):
        problem = await assert_refused(verifier, token, "X-Omnigate-Identity")
        assert problem.headers["WWW-Authenticate"] == 'Bearer realm="omnigate-internal"'


async def test_an_expired_token_is_refused_after_the_leeway(verifier: Verifier, rsa_key: Key, clock: Clock) -> None:
    token = signed(rsa_key, claims(iat=int(T0) - 400, exp=int(T0) - 31))
    problem = await assert_refused(verifier, token, "expired")
    assert problem.headers["WWW-Authenticate"].startswith(CHALLENGE)
    within_leeway = signed(rsa_key, claims(iat=int(T0) - 300, exp=int(T0) - 10))
    assert await verifier.verify(within_leeway) == SHOPPER


async def test_a_token_not_yet_valid_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    await assert_refused(verifier, signed(rsa_key, claims(nbf=int(T0) + 120)), "not valid yet")
    await assert_refused(verifier, signed(rsa_key, claims(iat=int(T0) + 120, exp=int(T0) + 400)), "lifetime")


async def test_a_long_lived_token_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    await assert_refused(verifier, signed(rsa_key, claims(exp=int(T0) + 86_400)), "lifetime")


async def test_another_issuer_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    await assert_refused(verifier, signed(rsa_key, claims(iss="https://evil.example")), "issuer")


async def test_another_audience_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    await assert_refused(verifier, signed(rsa_key, claims(aud="someone-else")), AUDIENCE)
    await assert_refused(verifier, signed(rsa_key, claims(aud=["someone-else", "omnigate"])), AUDIENCE)


async def test_an_audience_array_holding_ours_is_accepted(verifier: Verifier, rsa_key: Key) -> None:
    assert await verifier.verify(signed(rsa_key, claims(aud=["omnigate-audit", AUDIENCE]))) == SHOPPER


async def test_a_caller_token_for_the_public_audience_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    """A caller's RFC 9068 access token (signed by the same gateway key) is not an identity token."""
    access = claims(aud="omnigate", client_id="web-shop", channel=None, customer_id=None)
    await assert_refused(verifier, signed(rsa_key, access, typ="at+jwt"), "typ")
    await assert_refused(verifier, signed(rsa_key, claims(aud="omnigate")), AUDIENCE)


async def test_alg_none_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    for alg in ("none", "None", "NONE"):
        token = unsigned({"alg": alg, "kid": rsa_key.kid, "typ": TOKEN_TYPE}, claims())
        await assert_refused(verifier, token, "algorithm")


async def test_hs256_keyed_with_the_public_key_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    """The classic key-confusion attack: HMAC with the RSA public key's bytes as the shared secret."""
    header = {"alg": "HS256", "kid": rsa_key.kid, "typ": TOKEN_TYPE}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}".encode()
    for secret in (rsa_key.as_pem(private=False), json.dumps(rsa_key.as_dict(private=False)).encode()):
        mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
        await assert_refused(verifier, signing_input.decode() + "." + b64(mac), "algorithm")


async def test_other_algorithms_are_refused(verifier: Verifier, rsa_key: Key) -> None:
    for alg in ("PS256", "RS512", "ES384", "EdDSA", "HS512"):
        header = {"alg": alg, "kid": rsa_key.kid, "typ": TOKEN_TYPE}
        await assert_refused(verifier, unsigned(header, claims(), b"x" * 64), "algorithm")


async def test_an_algorithm_that_does_not_fit_the_key_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    header = {"alg": "ES256", "kid": rsa_key.kid, "typ": TOKEN_TYPE}
    await assert_refused(verifier, unsigned(header, claims(), b"x" * 64), "does not fit")


async def test_a_foreign_key_under_our_kid_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    foreign = generate_key("RS256")
    await assert_refused(verifier, signed(foreign, claims(), kid=rsa_key.kid), "signature")


async def test_a_token_without_kid_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    header = {"alg": "RS256", "typ": TOKEN_TYPE}
    token = jws.serialize_compact(header, json.dumps(claims()).encode(), rsa_key, algorithms=["RS256"])
    await assert_refused(verifier, token, "kid")


async def test_key_choosing_headers_are_refused_even_when_signed(verifier: Verifier, rsa_key: Key, ec_key: Key) -> None:
    public = ec_key.as_dict(private=False)  # small enough for the header size limit, so our own check answers
    for header in (
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": public},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
    ):
        token = unsigned({"alg": "RS256", "kid": rsa_key.kid, "typ": TOKEN_TYPE, **header}, claims(), b"x" * 256)
        await assert_refused(verifier, token, "may not carry")
    really_signed = signed(rsa_key, claims(), jku="https://evil.example/jwks.json")
    await assert_refused(verifier, really_signed, "jku")
    really_signed = signed(rsa_key, claims(), x5u="https://evil.example/cert.pem")
    await assert_refused(verifier, really_signed, "x5u")


async def test_a_tampered_payload_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    head, _, signature = signed(rsa_key, claims()).split(".")
    forged = claims(sub="c-2002", customer_id="c-2002")
    await assert_refused(verifier, f"{head}.{b64(json.dumps(forged).encode())}.{signature}", "signature")


async def test_a_tampered_signature_is_refused(verifier: Verifier, rsa_key: Key) -> None:
    head, body, signature = signed(rsa_key, claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    await assert_refused(verifier, f"{head}.{body}.{b64(bytes(raw))}", "signature")
    await assert_refused(verifier, f"{head}.{body}.", "signature")


async def test_garbage_is_refused_never_a_500(verifier: Verifier, rsa_key: Key) -> None:
    head, body, signature = signed(rsa_key, claims()).split(".")
    for token in (
        "abc",
        "a.b.c",
        "a.b",
        "....",
        f"{head}.{body}",
        f"{head}.{body}.{signature}.x",
        f"{b64(b'[1]')}.{body}.{signature}",
        f"{b64(b'not json')}.{body}.{signature}",
        "x" * 10_000,
    ):
        await assert_refused(verifier, token)


async def test_claims_are_decoded_strictly(verifier: Verifier, rsa_key: Key) -> None:
    await assert_refused(verifier, signed(rsa_key, claims(role="admin")), "claims")
    await assert_refused(verifier, signed(rsa_key, claims(exp="tomorrow")), "claims")
    await assert_refused(verifier, signed(rsa_key, claims(customer_id=None)), "customer_id")
    await assert_refused(verifier, signed(rsa_key, claims(partner_id="p-1")), "claims")
    await assert_refused(verifier, signed(rsa_key, claims(channel="root")), "claims")
    await assert_refused(verifier, signed(rsa_key, claims(sub="c 1")), "claims")


async def test_an_unknown_kid_is_refused_until_published_and_reloaded_after_the_cooldown(
    aredis: Redis, key_prefix: str, verifier: Verifier, rsa_key: Key, clock: Clock
) -> None:
    new = generate_key("ES256")
    token = Minter(new, clock=clock).mint(SHOPPER)
    await assert_refused(verifier, token, "not published")
    await publish_keys(aredis, key_prefix, "gateway", public_jwks([new, rsa_key]))
    clock.now += 5  # within the cool-down: no second read of Redis for an unknown kid
    await assert_refused(verifier, token, "not published")
    clock.now += 6
    assert await verifier.verify(token) == SHOPPER


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_rotation_keeps_the_previous_key_until_it_is_withdrawn(
    aredis: Redis, key_prefix: str, verifier: Verifier, clock: Clock, alg: str
) -> None:
    """The signer's kernel key ring (shared.signing) publishes what it signs with, one call each time."""
    ring = KeyRing(aredis, key_prefix, "gateway", keep_s=60, alg=alg)
    old = (await ring.ensure()).current
    await publish_keys(aredis, key_prefix, "gateway", await ring.public())
    old_token = Minter(old, clock=clock).mint(SHOPPER)
    assert await verifier.verify(old_token) == SHOPPER

    new = (await ring.rotate()).current
    await publish_keys(aredis, key_prefix, "gateway", await ring.public())
    new_token = Minter(new, clock=clock).mint(SHOPPER)
    clock.now += 11
    assert await verifier.verify(new_token) == SHOPPER
    assert await verifier.verify(old_token) == SHOPPER  # the previous key is still published

    # Once the retired key's time is over (a ring over the same key set with no time left to keep it), what the
    # ring publishes no longer holds it.
    after = KeyRing(aredis, key_prefix, "gateway", keep_s=0, alg=alg)
    await publish_keys(aredis, key_prefix, "gateway", await after.public())
    assert [key["kid"] for key in (await after.public())["keys"]] == [new.kid]
    clock.now += 60  # the next refresh of the key set forgets what the withdrawn key verified
    await assert_refused(verifier, old_token, "not published")
    assert await verifier.verify(new_token) == SHOPPER


async def test_a_cache_hit_still_checks_expiry(verifier: Verifier, rsa_key: Key, clock: Clock) -> None:
    token = Minter(rsa_key, ttl_s=120, clock=clock).mint(SHOPPER)
    assert await verifier.verify(token) == SHOPPER
    clock.now += 120 + 29
    assert await verifier.verify(token) == SHOPPER  # within the leeway
    clock.now += 1
    await assert_refused(verifier, token, "expired")
    await assert_refused(verifier, token, "expired")  # and again once it left the cache


async def test_a_service_key_speaks_only_for_its_own_service(
    aredis: Redis, key_prefix: str, verifier: Verifier, clock: Clock
) -> None:
    own = generate_key("ES256")
    await publish_keys(aredis, key_prefix, "process-orders", public_jwks([own]))
    minter = Minter(own, clock=clock)
    clock.now += 11
    identity = await verifier.verify(minter.mint(service_identity("process-orders")))
    assert identity.channel == "internal" and identity.service == "process-orders" and identity.owner is None
    await assert_refused(verifier, minter.mint(SHOPPER), "own service identity")
    await assert_refused(verifier, minter.mint(service_identity("process-availability")), "own service identity")
    ops = Identity(sub="alice", channel="ops", scopes=frozenset({"ops:*"}))
    await assert_refused(verifier, minter.mint(ops), "own service identity")


async def test_a_mounted_key_file_is_a_source_without_redis(tmp_path: Path, clock: Clock, rsa_key: Key) -> None:
    mounted = tmp_path / "gateway.jwks.json"
    mounted.write_text(json.dumps(public_jwks([rsa_key])))
    verifier = Verifier([FileKeys(mounted, "gateway")], clock=clock)
    assert await verifier.verify(Minter(rsa_key, clock=clock).mint(SHOPPER)) == SHOPPER


async def test_unreadable_keys_are_a_503_not_a_refusal_and_not_a_500(clock: Clock, rsa_key: Key) -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        verifier = Verifier([RedisKeys(down, "x:")], clock=clock)
        with pytest.raises(ProblemError) as caught:
            await verifier.verify(Minter(rsa_key, clock=clock).mint(SHOPPER))
        assert (caught.value.slug, caught.value.status) == ("service-unavailable", 503)
    finally:
        await down.aclose()


async def test_keys_are_held_in_process_between_refreshes(
    aredis: Redis, key_prefix: str, verifier: Verifier, rsa_key: Key, clock: Clock
) -> None:
    token = Minter(rsa_key, clock=clock).mint(SHOPPER)
    assert await verifier.verify(token) == SHOPPER
    await withdraw_keys(aredis, key_prefix, "gateway")
    clock.now += 5  # before the refresh: no read of Redis, the keys held in process verify
    assert await verifier.verify(signed(rsa_key, claims(jti="j-2"))) == SHOPPER


async def test_one_signers_unreadable_key_set_hides_no_other(
    aredis: Redis, key_prefix: str, verifier: Verifier, rsa_key: Key, clock: Clock
) -> None:
    await aredis.hset(keys_key(key_prefix), "process-orders", b"{not a key set")
    await verifier.reload()
    assert await verifier.verify(Minter(rsa_key, clock=clock).mint(SHOPPER)) == SHOPPER
