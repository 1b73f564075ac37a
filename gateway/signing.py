"""The gateway's signing keys: made at first run, shared by every worker and replica through the state Redis.

Where the key set lives, and why there: DESIGN §5 first said "the data directory locally and a Kubernetes Secret
in the chart". Both are per-host (a data directory is not shared by replicas on other nodes) or need the pods to
write Secrets through the Kubernetes API (RBAC for a credential-writing service account) and a restart to see a
rotation. The state Redis is already what every worker and replica shares (durable: AOF, ``noeviction``), a
first start is made race-free with one ``SET NX`` (every concurrent first start generates a candidate; exactly
one is stored and every worker then reads that one), a rotation is one compare-and-set (``swap.lua``)
that every worker sees on its next token request without a restart, and the layers below will read the public
keys from the same place (DESIGN §5, identity). The cost: private keys sit in Redis (and its AOF), so the state
Redis is as sensitive as the Secret would have been (the chart's Redis requires a password; NetworkPolicy admits
only Omnigate's pods).

The record is JSON: the current private JWK (RS256, ``kid`` = RFC 7638 thumbprint) and the retired ones with the
time they were retired. A retired key stays published in the JWKS until every token it signed has expired (token
lifetime + leeway after retirement); later rotations drop it from the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from joserfc.jwk import Key, KeySet, RSAKey
from redis.asyncio import Redis

from gateway.keys import Keys
from shared import scripts
from shared.clock import now_ms

ALGORITHM = "RS256"
KEY_BITS = 2048


class RetiredKey(msgspec.Struct, frozen=True):
    jwk: dict[str, Any]
    retired_at_ms: int


class KeySetRecord(msgspec.Struct, frozen=True):
    current: dict[str, Any]
    retired: list[RetiredKey] = []


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(KeySetRecord)


def generate_key() -> RSAKey:
    key = RSAKey.generate_key(KEY_BITS, parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    key.ensure_kid()  # the RFC 7638 thumbprint
    return key


def _import(jwk: dict[str, Any]) -> RSAKey:
    return RSAKey.import_key(jwk)


@dataclass(frozen=True)
class SigningKeys:
    """A parsed key set: the key new tokens are signed with and the retired ones still published."""

    current: RSAKey
    retired: tuple[tuple[RSAKey, int], ...]
    keep_ms: int  # how long a retired key stays published after its retirement

    def published(self, now: int | None = None) -> list[Key]:
        at = now_ms() if now is None else now
        return [self.current, *(key for key, retired_at in self.retired if retired_at + self.keep_ms > at)]

    def jwks(self, now: int | None = None) -> dict[str, Any]:
        """The public JWK Set (RFC 7517 §5): current key first."""
        return {"keys": [key.as_dict(private=False) for key in self.published(now)]}

    def verification_keys(self, now: int | None = None) -> KeySet:
        return KeySet(self.published(now))


def record_of(key: RSAKey) -> KeySetRecord:
    return KeySetRecord(current=key.as_dict(private=True))


def rotated(record: KeySetRecord, new: RSAKey, *, now: int, keep_ms: int) -> KeySetRecord:
    """``record`` with ``new`` as the current key; the old current is retired now, and retired keys whose tokens
    have all expired are dropped."""
    still_needed = [r for r in record.retired if r.retired_at_ms + keep_ms > now]
    return KeySetRecord(
        current=new.as_dict(private=True), retired=[RetiredKey(jwk=record.current, retired_at_ms=now), *still_needed]
    )


class KeyRing:
    """The key set in the state Redis, parsed once per change (parsing a private RSA key costs about a ms)."""

    def __init__(self, redis: Redis, keys: Keys, *, keep_s: int) -> None:
        self.redis = redis
        self.key = keys.signing_keys
        self.keep_ms = keep_s * 1000
        self._swap = scripts.load(redis, Path(__file__).with_name("swap.lua"))
        self._raw: bytes | None = None
        self._parsed: SigningKeys | None = None

    async def ensure(self) -> SigningKeys:
        """The stored key set; at the very first start, a new one (exactly one, whoever else starts at once)."""
        raw = await self.redis.get(self.key)
        if raw is None:
            await self.redis.set(self.key, _encoder.encode(record_of(generate_key())), nx=True)
            raw = await self.redis.get(self.key)
            if raw is None:
                raise RuntimeError(f"the signing key set vanished from Redis right after it was stored ({self.key})")
        return self._parse(raw if isinstance(raw, bytes) else raw.encode())

    async def current(self) -> SigningKeys:
        return await self.ensure()

    async def rotate(self) -> SigningKeys:
        """Make a new current key; the old one stays published until the tokens it signed have expired."""
        await self.ensure()
        new = generate_key()
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
                current=_import(record.current),
                retired=tuple((_import(r.jwk), r.retired_at_ms) for r in record.retired),
                keep_ms=self.keep_ms,
            )
            self._raw = raw
        return self._parsed
