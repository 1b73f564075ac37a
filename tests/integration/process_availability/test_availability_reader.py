"""Regression: concurrent ATP reads on a fresh worker must not mistake one pipeline's shape for another's."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from services.process.availability.atp import AtpReader
from services.process.availability.keys import Keys


async def test_concurrent_first_reads_each_get_their_own_hashes(aredis: Redis, key_prefix: str) -> None:
    keys = Keys(key_prefix)
    await aredis.set(keys.built, 1)
    await aredis.set(keys.fresh, 0)
    await aredis.hset(keys.sku("SKU-A"), mapping={"dc-tlb|oh": 5})
    await aredis.hset(keys.sku("SKU-B"), mapping={"dc-tlb|oh": 7})
    reader = AtpReader(aredis, keys)  # a worker that has not yet seen the projection built
    results = await asyncio.gather(*(reader.read(["SKU-A", "SKU-B"], 1) for _ in range(20)))
    for fields, _ in results:
        assert fields == [{b"dc-tlb|oh": b"5"}, {b"dc-tlb|oh": b"7"}]
