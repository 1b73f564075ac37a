"""A signer's private key ring: made at first start, shared by every worker and replica through the state Redis.

One mechanism for every signer (the gateway's OAuth access tokens and identity tokens, a deployable's service
identity): :class:`KeyRing` keeps one signer's key set under ``<prefix>omnigate.signing-keys:<signer>`` (named
here, :func:`ring_key`), with RS256 or ES256 keys made by :func:`shared.identity.generate_key`.

Why the state Redis: a data directory is per host (not shared by replicas on other nodes) and a Kubernetes
Secret needs the pods to write Secrets (RBAC for a credential-writing service account) and a restart to see a
rotation. The state Redis is already what every worker and replica shares (durable: AOF, ``noeviction``). A first
start is race-free with one ``SET NX`` (every concurrent first start generates a candidate; exactly one is stored
and every worker then reads that one); a rotation is one compare-and-set (``shared/lua/swap.lua``) that every
worker sees on its next read, without a restart. The cost: private keys sit in Redis (and its AOF), so the state
Redis is as sensitive as a Secret would have been (the chart's Redis requires a password; NetworkPolicy admits
only Omnigate's pods).

The record is JSON: the current private JWK (``kid`` = RFC 7638 thumbprint) and the retired ones with the time
they were retired. A retired key stays published for ``keep_s`` after its retirement (the signer's token lifetime
plus leeway, so every token it signed has expired); later rotations drop it from the record. The public side is
:meth:`KeyRing.public`, the JWKS :func:`shared.identity.publish_keys` publishes for the verifiers below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from joserfc.jwk import JWKRegistry, Key, KeySet, KeySetSerialization
from redis.asyncio import Redis

from shared import scripts
from shared.clock import now_ms
from shared.identity import (
    ALGORITHMS,
    Identity,
    Minter,
    algorithm_of,
    generate_key,
    public_jwks,
    publish_keys,
    service_identity,
)

_SIGNER = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class RetiredKey(msgspec.Struct, frozen=True):
    jwk: dict[str, Any]
    retired_at_ms: int


class KeySetRecord(msgspec.Struct, frozen=True):
    current: dict[str, Any]
    retired: list[RetiredKey] = []


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(KeySetRecord)


def ring_key(prefix: str, signer: str) -> str:
    """The state-Redis key of ``signer``'s private key set (JSON, :class:`KeySetRecord`)."""
    if not _SIGNER.match(signer):
        raise ValueError(f"a signer's name is a deployable's name (lowercase, digits, '-'), not {signer!r}")
    return f"{prefix}omnigate.signing-keys:{signer}"


def import_key(jwk: dict[str, Any]) -> Key:
    """A stored private key; only what :func:`algorithm_of` accepts (RS256, ES256) and with a kid."""
    key = JWKRegistry.import_key(jwk)
    algorithm_of(key)
    if not key.kid or not key.is_private:
        raise ValueError("a stored signing key must be private and have a kid")
    return key


@dataclass(frozen=True)
class SigningKeys:
    """A parsed key set: the key new tokens are signed with and the retired ones still published."""

    current: Key
    retired: tuple[tuple[Key, int], ...]
    keep_ms: int  # how long a retired key stays published after its retirement

    def published(self, now: int | None = None) -> list[Key]:
        at = now_ms() if now is None else now
        return [self.current, *(key for key, retired_at in self.retired if retired_at + self.keep_ms > at)]

    def jwks(self, now: int | None = None) -> KeySetSerialization:
        """The public JWK Set (RFC 7517 §5) of :func:`shared.identity.public_jwks`: current key first."""
        return public_jwks(self.published(now))

    def verification_keys(self, now: int | None = None) -> KeySet:
        return KeySet(self.published(now))


def record_of(key: Key) -> KeySetRecord:
    return KeySetRecord(current=dict(key.as_dict(private=True)))


def rotated(record: KeySetRecord, new: Key, *, now: int, keep_ms: int) -> KeySetRecord:
    """``record`` with ``new`` as the current key; the old current is retired now, and retired keys whose tokens
    have all expired are dropped."""
    still_needed = [r for r in record.retired if r.retired_at_ms + keep_ms > now]
    return KeySetRecord(
        current=dict(new.as_dict(private=True)),
        retired=[RetiredKey(jwk=record.current, retired_at_ms=now), *still_needed],
    )


class KeyRing:
    """One signer's key set in the state Redis, parsed once per change (parsing a private key costs about a ms).

    ``alg`` is what a first start and a rotation generate (RS256 or ES256); a stored set is used as it is.
    """

    def __init__(self, redis: Redis, prefix: str, signer: str, *, keep_s: int, alg: str = "ES256") -> None:
        if alg not in ALGORITHMS:
            raise ValueError(f"signing keys are RS256 or ES256, not {alg}")
        self.redis = redis
        self.prefix = prefix
        self.signer = signer
        self.key = ring_key(prefix, signer)
        self.keep_ms = keep_s * 1000
        self.alg = alg
        self._swap = scripts.kernel(redis, "swap")
        self._raw: bytes | None = None
        self._parsed: SigningKeys | None = None

    async def ensure(self) -> SigningKeys:
        """The stored key set; at the very first start, a new one (exactly one, whoever else starts at once)."""
        raw = await self.redis.get(self.key)
        if raw is None:
            await self.redis.set(self.key, _encoder.encode(record_of(generate_key(self.alg))), nx=True)
            raw = await self.redis.get(self.key)
            if raw is None:
                raise RuntimeError(f"the signing key set vanished from Redis right after it was stored ({self.key})")
        return self._parse(raw if isinstance(raw, bytes) else raw.encode())

    async def current(self) -> SigningKeys:
        return await self.ensure()

    async def published(self, keys: SigningKeys | None = None) -> SigningKeys:
        """Publish this signer's public keys (``keys``, or the stored set made at first start) for the verifiers
        below (:func:`shared.identity.publish_keys`); the one way every signer publishes, at start and on rotation."""
        found = keys or await self.ensure()
        await publish_keys(self.redis, self.prefix, self.signer, found.jwks())
        return found

    async def public(self) -> KeySetSerialization:
        """The public JWKS to publish (``publish_keys(redis, prefix, ring.signer, await ring.public())``)."""
        return (await self.current()).jwks()

    async def rotate(self) -> SigningKeys:
        """Make a new current key; the old one stays published until the tokens it signed have expired."""
        await self.ensure()
        new = generate_key(self.alg)
        while True:  # another rotation may land between the read and the swap: then rotate on top of it
            raw = await self.redis.get(self.key)
            if raw is None:
                raise RuntimeError(f"no signing key set to rotate at {self.key}")
            record = rotated(_decoder.decode(raw), new, now=now_ms(), keep_ms=self.keep_ms)
            if await self._swap(keys=[self.key], args=[raw, _encoder.encode(record)]):
                break
        return await self.current()

    def _parse(self, raw: bytes) -> SigningKeys:
        if raw != self._raw or self._parsed is None:
            record = _decoder.decode(raw)
            self._parsed = SigningKeys(
                current=import_key(record.current),
                retired=tuple((import_key(r.jwk), r.retired_at_ms) for r in record.retired),
                keep_ms=self.keep_ms,
            )
            self._raw = raw
        return self._parsed


class ServiceSigner:
    """A deployable's own service identity (``channel=internal``, its name) for calls that have no caller.

    Its key ring is its own (signer = the deployable's name), made at first start and published by every worker
    at start, so a verifier below accepts its tokens only as this service's identity (never as a shopper's).
    The minter reuses one token until shortly before it expires: no signing on the hot path."""

    def __init__(self, ring: KeyRing, minter: Minter, identity: Identity) -> None:
        self.ring = ring
        self.minter = minter
        self.identity = identity

    @classmethod
    async def start(cls, redis: Redis, prefix: str, name: str, *, ttl_s: int = 300) -> ServiceSigner:
        ring = KeyRing(redis, prefix, name, keep_s=ttl_s + 60)
        keys = await ring.published()
        return cls(ring, Minter(keys.current, ttl_s=ttl_s, renew_s=min(60, ttl_s // 2)), service_identity(name))

    def token(self) -> str:
        """The ``X-Omnigate-Identity`` value of this deployable's calls with no caller."""
        return self.minter.mint(self.identity)
