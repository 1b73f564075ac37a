"""Locks with fencing: the one "only one at a time" of Omnigate (DESIGN §4 "Unknown outcomes", §6).

A lock is a Redis key holding its holder's value (unique per acquisition). While the body of ``locked(...)``
runs, the lock is renewed in the background, so a slow back-end step cannot outlive it; writes to Redis made
under the lock are *fenced*: a script checks, in the same atomic step, that the lock still holds this
holder's value (the kernel's ``fence.lua`` prelude, or :meth:`Lock.fence_ok`), so a holder that stalled past its TTL cannot overwrite
the work of the next one.

Some writes go to a back-end, which no fence can reach. Their outcome is unknown when the answer is lost
(a timeout, a reset, a 5xx, a breaker that opened mid-way): the back-end may still commit. A call made
through :meth:`Lock.write` that fails that way leaves the lock *in doubt*, and instead of being released it
is kept until the back-end's commit limit has passed (``settle_s``, ``upstream_commit_limit_s``). The next
holder therefore searches by reference only once whatever the lost call did is visible: "search then create"
never creates twice, and a compensation never misses a document that was still being created.

Keys: ``<prefix>omnigate.lock:<name>``. Acquiring waits up to ``wait_s`` and then answers 409
``conflict`` with ``Retry-After`` (how long the lock still has to run), which callers treat as "try later".
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import outage, scripts
from shared.background import wait_until_set
from shared.problems import ProblemError

log = logging.getLogger("omnigate.locks")
T = TypeVar("T")


class Fenced(Exception):
    """This holder lost its lock (it stalled past the TTL, or the lock was taken over): its write was refused."""


def in_doubt(exc: BaseException) -> bool:
    """Whether a failed call may still have done its work at the other end.

    A refusal (a 4xx problem) and a call that never left (connection refused, an open breaker) are definite;
    a timeout, a reset, a 5xx, an unreadable answer, a cancellation mid-call or an unexpected error are not.
    """
    if isinstance(exc, ProblemError):
        return exc.in_doubt
    return True


class Lock:
    """One lock name and one holder value; see the module docstring."""

    def __init__(self, redis: Redis, key: str, *, ttl_ms: int) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self.value = f"{os.getpid()}:{os.urandom(8).hex()}"
        self.held = False
        self.lost = False
        self.in_doubt = False
        self._renew = scripts.kernel(redis, "lock_renew")
        self._release = scripts.kernel(redis, "lock_release")

    async def try_acquire(self) -> bool:
        self.held = bool(await self.redis.set(self.key, self.value, nx=True, px=self.ttl_ms))
        return self.held

    async def acquire(self, wait_s: float) -> None:
        """Take the lock, waiting up to ``wait_s`` for its holder; 409 ``conflict`` with Retry-After if not."""
        deadline = asyncio.get_running_loop().time() + wait_s
        pause = 0.02
        while not await self.try_acquire():
            if asyncio.get_running_loop().time() >= deadline:
                remaining_ms = await self.redis.pttl(self.key)
                retry_after = max(1, math.ceil(remaining_ms / 1000)) if remaining_ms and remaining_ms > 0 else 1
                raise ProblemError(
                    "conflict",
                    f"{self.key.rsplit('omnigate.lock:', 1)[-1]} is busy with another "
                    "request, or waits until an earlier request's outcome is known; retry shortly",
                    retry_after=retry_after,
                )
            await asyncio.sleep(pause)
            pause = min(0.2, pause * 1.5)

    def adopt(self) -> None:
        """The lock was taken by a script of the caller (with :attr:`value`): treat it as held."""
        self.held = True

    async def renew(self) -> bool:
        if not self.held:
            return False
        if await self._renew(keys=[self.key], args=[self.value, self.ttl_ms]):
            return True
        self.held, self.lost = False, True
        return False

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self._release(keys=[self.key], args=[self.value])

    async def keep_for(self, ms: int) -> None:
        """Leave the lock held (not renewed) for ``ms`` more: an outcome is in doubt until then."""
        if self.held:
            self.held = False
            await self._renew(keys=[self.key], args=[self.value, max(1, ms)])

    async def fence_ok(self) -> bool:
        return self.held and (await self.redis.get(self.key)) == self.value.encode()

    async def write(self, call: Awaitable[T]) -> T:
        """Await a call that may change a back-end; if its outcome is in doubt, the lock becomes in doubt."""
        try:
            return await call
        except BaseException as exc:
            if in_doubt(exc):
                self.in_doubt = True
            raise

    @asynccontextmanager
    async def holding(self, wait_s: float) -> AsyncIterator[Lock]:
        """Acquire (waiting up to ``wait_s``, else 409 as :meth:`acquire`), renew while the body runs, release."""
        await self.acquire(wait_s)
        try:
            async with self.kept_alive():
                yield self
        finally:
            await self.release()

    @asynccontextmanager
    async def kept_alive(self) -> AsyncIterator[Lock]:
        """Renew the (held) lock every third of its TTL while the body runs."""
        done = asyncio.Event()

        async def renew() -> None:
            while not await wait_until_set(done, self.ttl_ms / 3000):
                try:
                    if not await self.renew():
                        if self.lost:
                            log.warning("lost the lock %s while holding it", self.key)
                        return
                except (RedisConnectionError, RedisTimeoutError):
                    if outage.cancelled():
                        raise asyncio.CancelledError from None
                    # Redis away: try again; if the TTL runs out first, the fence refuses our writes.

        task = asyncio.create_task(renew())
        try:
            yield self
        finally:
            await stop_helper(done, task)


async def stop_helper(done: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Stop a helper task of a request (a renewal loop): by its flag first, by cancelling it if it is in the
    middle of a call, and never waiting on it for more than a second (a cancellation that redis-py turned into
    an error must not hold the request up)."""
    done.set()
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: a failed renewal is reported by the fence, not by asyncio at exit


class Locks:
    """The locks of one deployable (one key prefix)."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self.redis = redis
        self.base = f"{prefix}omnigate.lock:"

    def key(self, name: str) -> str:
        return self.base + name

    def lock(self, name: str, *, ttl_s: float) -> Lock:
        return Lock(self.redis, self.key(name), ttl_ms=int(ttl_s * 1000))

    @asynccontextmanager
    async def locked(
        self, name: str, *, ttl_s: float, wait_s: float = 0.0, settle_s: float | None = None
    ) -> AsyncIterator[Lock]:
        """Hold the lock ``name`` while the body runs (renewed), then release it; a body whose back-end write
        (:meth:`Lock.write`) ended in doubt leaves it held for ``settle_s`` (default: its TTL) instead."""
        lock = self.lock(name, ttl_s=ttl_s)
        await lock.acquire(wait_s)
        try:
            async with lock.kept_alive():
                yield lock
        finally:
            await release_or_keep(lock, settle_s if settle_s is not None else ttl_s)


async def release_or_keep(lock: Lock, settle_s: float) -> None:
    """The end of a holder's turn: released, or kept while a write it sent is in doubt. Shielded, so a
    cancelled holder still settles its lock."""
    step = lock.keep_for(int(settle_s * 1000)) if lock.in_doubt else lock.release()
    with suppress(RedisConnectionError, RedisTimeoutError):  # Redis away: the lock's TTL ends it
        await asyncio.shield(step)
