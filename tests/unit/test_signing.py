"""The kernel's key ring (shared.signing) on the real state Redis: one key set per signer, made once by whoever
starts first, rotated by compare-and-set, retired keys published until their tokens expired, public keys only."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis

from shared.identity import algorithm_of, generate_key, public_jwks
from shared.signing import KeyRing, SigningKeys, import_key, record_of, ring_key, rotated


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_rotation_keeps_the_previous_key_published_until_its_tokens_expire(alg: str) -> None:
    first, second, third = generate_key(alg), generate_key(alg), generate_key(alg)
    record = rotated(record_of(first), second, now=1_000_000, keep_ms=60_000)
    record = rotated(record, third, now=1_030_000, keep_ms=60_000)  # first still needed for 30 s more
    parsed = SigningKeys(
        current=third,
        retired=tuple((import_key(r.jwk), r.retired_at_ms) for r in record.retired),
        keep_ms=60_000,
    )
    assert [k["kid"] for k in parsed.jwks(now=1_040_000)["keys"]] == [third.kid, second.kid, first.kid]
    assert [k["kid"] for k in parsed.jwks(now=1_061_000)["keys"]] == [third.kid, second.kid]
    assert [k["kid"] for k in parsed.jwks(now=1_091_000)["keys"]] == [third.kid]
    assert all("d" not in k for k in parsed.jwks(now=0)["keys"])  # never a private part
    assert parsed.jwks(now=1_091_000) == public_jwks([third])  # the one JWKS shape
    later = rotated(record, generate_key(alg), now=1_100_000, keep_ms=60_000)
    assert [r.jwk["kid"] for r in later.retired] == [third.kid]  # expired retirees leave the record


def test_a_stored_key_must_be_a_private_signing_key_of_an_allowed_kind() -> None:
    with pytest.raises(ValueError):
        import_key(public_jwks([generate_key("ES256")])["keys"][0])  # public only
    with pytest.raises(ValueError):
        import_key({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "kid": "x"})


@pytest.mark.parametrize("signer", ["", "Gateway", "a b", "x" * 64, "../etc"])
def test_a_signer_is_named_like_a_deployable(signer: str) -> None:
    with pytest.raises(ValueError):
        ring_key("p:", signer)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_concurrent_first_starts_make_exactly_one_key_set(aredis: Redis, key_prefix: str, alg: str) -> None:
    """Eight workers starting at once on an empty Redis each generate a candidate; one is kept, all use it."""
    rings = [KeyRing(aredis, key_prefix, "process-orders", keep_s=60, alg=alg) for _ in range(8)]
    found = await asyncio.gather(*(ring.ensure() for ring in rings))
    assert len({keys.current.kid for keys in found}) == 1
    assert algorithm_of(found[0].current) == alg and found[0].current.is_private
    again = await KeyRing(aredis, key_prefix, "process-orders", keep_s=60, alg=alg).ensure()
    assert again.current.kid == found[0].current.kid


async def test_one_redis_key_per_signer_under_the_deployment_prefix(aredis: Redis, key_prefix: str) -> None:
    gateway = KeyRing(aredis, key_prefix, "gateway", keep_s=60, alg="RS256")
    orders = KeyRing(aredis, key_prefix, "process-orders", keep_s=60)
    assert gateway.key == f"{key_prefix}omnigate.signing-keys:gateway" != orders.key
    mine, theirs = await gateway.ensure(), await orders.ensure()
    assert mine.current.kid != theirs.current.kid
    assert (algorithm_of(mine.current), algorithm_of(theirs.current)) == ("RS256", "ES256")
    stored = json.loads(await aredis.get(gateway.key))
    assert stored["current"]["kid"] == mine.current.kid and stored["retired"] == []
    await orders.rotate()
    assert (await gateway.current()).current.kid == mine.current.kid  # one signer's rotation leaves the other


async def test_rotation_is_seen_by_every_ring_and_keeps_the_old_key_published(aredis: Redis, key_prefix: str) -> None:
    ring, other_worker = (KeyRing(aredis, key_prefix, "gateway", keep_s=60) for _ in range(2))
    old = (await ring.ensure()).current
    new = (await ring.rotate()).current
    assert new.kid != old.kid
    seen = await other_worker.current()
    assert seen.current.kid == new.kid
    public = await other_worker.public()
    assert [k["kid"] for k in public["keys"]] == [new.kid, old.kid]  # current first, the retired one still there
    assert all("d" not in k and k["use"] == "sig" and k["alg"] == "ES256" for k in public["keys"])
    assert public == public_jwks([new, old])


async def test_retired_keys_are_published_only_for_keep_s(aredis: Redis, key_prefix: str) -> None:
    ring = KeyRing(aredis, key_prefix, "gateway", keep_s=0)  # tokens that live no time at all
    old = (await ring.ensure()).current
    keys = await ring.rotate()
    assert [k.kid for k in keys.published()] == [keys.current.kid]
    assert old.kid not in {k["kid"] for k in (await ring.public())["keys"]}


async def test_concurrent_rotations_never_lose_a_key(aredis: Redis, key_prefix: str) -> None:
    """Rotations at once each land (compare-and-set, retried on top of the other): every new key is kept."""
    rings = [KeyRing(aredis, key_prefix, "gateway", keep_s=60) for _ in range(4)]
    first = (await rings[0].ensure()).current
    made = await asyncio.gather(*(ring.rotate() for ring in rings))
    final = await rings[0].current()
    published = [key.kid for key in final.published()]
    assert len(published) == 5 and first.kid in published
    assert {keys.current.kid for keys in made} <= set(published)


def test_a_ring_makes_only_allowed_algorithms(aredis: Redis, key_prefix: str) -> None:
    with pytest.raises(ValueError):
        KeyRing(aredis, key_prefix, "gateway", keep_s=60, alg="HS256")
