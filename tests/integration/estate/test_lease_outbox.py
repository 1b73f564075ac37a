"""Leases (one holder, fencing tokens) and the transactional outbox, against a real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from shared.events import EventBus
from shared.lease import Lease, run_under_lease
from shared.models.events import Event
from shared.outbox import Outbox


async def test_one_holder_at_a_time_and_tokens_only_grow(aredis: Redis, key_prefix: str) -> None:
    a = Lease(aredis, "sweep", prefix=key_prefix, ttl_ms=200, owner="a")
    b = Lease(aredis, "sweep", prefix=key_prefix, ttl_ms=200, owner="b")
    first = await a.acquire()
    assert first is not None and await b.acquire() is None
    assert await a.acquire() == first, "re-acquiring by the holder keeps its token"
    await asyncio.sleep(0.3)  # a stalls past its TTL
    second = await b.acquire()
    assert second is not None and second > first
    assert not await a.fence_ok(), "the stalled holder is fenced off"
    assert not await a.renew()
    assert await b.fence_ok()
    await b.release()
    assert await aredis.get(b.key) is None


async def test_run_under_lease_runs_work_in_one_of_many_contenders(aredis: Redis, key_prefix: str) -> None:
    stop = asyncio.Event()
    rounds: dict[str, int] = {"x": 0, "y": 0, "z": 0}

    def work_of(name: str):  # type: ignore[no-untyped-def]
        async def work(lease: Lease) -> None:
            rounds[name] += 1

        return work

    tasks = [
        asyncio.create_task(
            run_under_lease(
                Lease(aredis, "relay", prefix=key_prefix, ttl_ms=5000, owner=n), work_of(n), interval_s=0.01, stop=stop
            )
        )
        for n in rounds
    ]
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*tasks)
    assert sum(1 for v in rounds.values() if v) == 1, rounds


def event(i: int) -> Event:
    return Event(
        id=f"orders:o{i}:accepted",
        type="order.accepted",
        occurred_at=datetime.now(UTC),
        source="process-orders",
        key=f"o{i}",
        payload={"order_id": f"o{i}"},
    )


async def test_outbox_entries_exist_only_with_their_state_and_relay_once(aredis: Redis, key_prefix: str) -> None:
    bus = EventBus(aredis, prefix=key_prefix)
    outbox = Outbox(aredis, bus, name="orders", prefix=key_prefix)
    async with aredis.pipeline(transaction=True) as pipe:
        pipe.set(f"{key_prefix}order:o1", b"accepted")
        outbox.add(pipe, "orders", event(1))
        await pipe.execute()
    with pytest.raises(RuntimeError):
        async with aredis.pipeline(transaction=True) as pipe:
            pipe.set(f"{key_prefix}order:o2", b"accepted")
            outbox.add(pipe, "orders", event(2))
            raise RuntimeError("crashed before EXEC")  # the state write never executes, so neither does its event
    assert await outbox.pending() == 1
    # A relay that crashed after publishing but before deleting publishes again: the bus dedupes.
    await bus.publish("orders", event(1))
    assert await outbox.relay_once() == 1
    assert await outbox.pending() == 0
    assert [e[1][b"id"] for e in await aredis.xrange(bus.stream("orders"))] == [b"orders:o1:accepted"]
