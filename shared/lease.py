"""Leases with fencing tokens: background work that N replicas must do once (DESIGN §6).

A lease is a Redis key holding ``<owner>:<token>`` with a TTL. Acquiring it increments a per-lease counter,
so every holder gets a larger token than any holder before it. Work done under a lease should check, at the
moment it writes, that its token is still the current one (:meth:`Lease.fence_ok`, or a script loaded with the
kernel's ``fence.lua`` prelude),
so a holder that stalled past its TTL (a GC pause, a frozen VM) cannot overwrite a newer holder's work.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import suppress

from redis.asyncio import Redis

from shared import outage, scripts
from shared.background import run_rounds
from shared.clock import worker_id

log = logging.getLogger("omnigate.lease")


def default_owner() -> str:
    return f"{worker_id()}/{os.urandom(3).hex()}"


class Lease:
    def __init__(self, redis: Redis, name: str, *, prefix: str = "", ttl_ms: int = 10_000, owner: str | None = None):
        self.redis = redis
        self.name = name
        self.key = f"{prefix}omnigate.lease:{name}"
        self._counter = f"{prefix}omnigate.lease-token:{name}"
        self.ttl_ms = ttl_ms
        self.owner = owner or default_owner()
        self.token: int | None = None
        self._acquire = scripts.kernel(redis, "lease_acquire")
        self._renew = scripts.kernel(redis, "lock_renew")  # a lease renews and releases as a lock does
        self._release = scripts.kernel(redis, "lock_release")

    @property
    def value(self) -> str:
        return f"{self.owner}:{self.token}"

    async def acquire(self) -> int | None:
        """Take (or keep) the lease; returns the fencing token, or None while another owner holds it."""
        token = await self._acquire(keys=[self.key, self._counter], args=[self.owner, self.ttl_ms])
        self.token = int(token) if token is not None else None
        return self.token

    async def renew(self) -> bool:
        if self.token is None:
            return False
        if await self._renew(keys=[self.key], args=[self.value, self.ttl_ms]):
            return True
        self.token = None
        return False

    async def release(self) -> None:
        if self.token is not None:
            await self._release(keys=[self.key], args=[self.value])
            self.token = None

    async def fence_ok(self) -> bool:
        """True while this holder's token is the current one."""
        return self.token is not None and (await self.redis.get(self.key)) == self.value.encode()


async def run_under_lease(
    lease: Lease,
    work: Callable[[Lease], Awaitable[object]],
    *,
    interval_s: float,
    stop: asyncio.Event,
) -> None:
    """Every ``interval_s``, if this process holds (or wins) the lease, run one round of ``work``.

    Rounds must be shorter than the lease TTL; a round that outlives it loses the fence, and its writes,
    guarded by the fence, are refused.
    """

    async def round_() -> None:
        if await lease.acquire() is not None:
            await work(lease)

    await run_rounds(f"lease {lease.name}", round_, interval_s=interval_s, stop=stop)
    with suppress(*outage.REDIS_DOWN):
        await lease.release()
