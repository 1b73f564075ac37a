"""Vendor id <-> canonical id maps, kept in Redis (DESIGN §4).

Each system API learns the map from its back-end's own catalogue (Odoo product ids, Square catalog object and
location ids) and keeps it in two Redis hashes per kind, so every worker and replica resolves ids the same way
and a restart does not have to re-read the whole catalogue before it can answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from redis.asyncio import Redis
from redis.typing import EncodableT

from shared import replies


class IdMap:
    def __init__(self, redis: Redis, *, prefix: str, system: str, kind: str) -> None:
        self.redis = redis
        base = f"{prefix}omnigate.idmap:{system}:{kind}"
        self._to_canonical = f"{base}:to-canonical"
        self._to_vendor = f"{base}:to-vendor"

    async def put_many(self, pairs: Mapping[str, str]) -> None:
        """Record ``vendor id -> canonical id`` pairs (both directions, one round trip)."""
        if not pairs:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            to_canonical: dict[EncodableT, EncodableT] = {v: c for v, c in pairs.items()}
            to_vendor: dict[EncodableT, EncodableT] = {c: v for v, c in pairs.items()}
            pipe.hset(self._to_canonical, mapping=to_canonical)
            pipe.hset(self._to_vendor, mapping=to_vendor)
            await pipe.execute()

    async def canonical(self, vendor_id: str) -> str | None:
        value = await self.redis.hget(self._to_canonical, vendor_id)
        return replies.text_or_none(value)

    async def vendor(self, canonical_id: str) -> str | None:
        value = await self.redis.hget(self._to_vendor, canonical_id)
        return replies.text_or_none(value)

    async def canonical_many(self, vendor_ids: Sequence[str]) -> list[str | None]:
        if not vendor_ids:
            return []
        values = await self.redis.hmget(self._to_canonical, list(vendor_ids))
        return [replies.text_or_none(v) for v in values]

    async def vendor_many(self, canonical_ids: Sequence[str]) -> list[str | None]:
        if not canonical_ids:
            return []
        values = await self.redis.hmget(self._to_vendor, list(canonical_ids))
        return [replies.text_or_none(v) for v in values]

    async def size(self) -> int:
        return int(await self.redis.hlen(self._to_canonical))

    async def clear(self) -> None:
        await self.redis.delete(self._to_canonical, self._to_vendor)


def chunks(items: Iterable[str], size: int) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
