"""Exact rate limits across every gateway worker and replica, and the headers that advertise them.

Why the `limits` library's moving window: it keeps, per counter, the timestamps of the units spent in the last
window in one Redis list and decides with one atomic Lua script, so N workers and M replicas sharing the state
Redis let through exactly the limit (DESIGN §9 measured Litestar's own limiter letting 70 of 50 through with two
workers); the sliding-window counter would approximate. We do not hand-roll the algorithm. Counters live under
``<key prefix>omnigate.gateway:ratelimit:`` (gateway/keys.py), so tests and estates sharing one Redis never share
them; a counter is named by the policy and the subject (``partner:acme``, ``customer:c-1``, ``ip:1.2.3.4``).

:class:`Limiter` only counts and reports: when Redis cannot be reached it raises :class:`LimitsUnavailable`, and
the request pipeline decides per route whether to fail open or closed. A decision costs two round trips (the
atomic hit, then the window's state for ``remaining``/``reset``); DESIGN §9 plans one script doing the limit and
the cache read together if the benchmark shows the round trip matters.

:func:`headers` writes ``RateLimit-Policy`` and ``RateLimit`` as specified by **draft-ietf-httpapi-ratelimit-headers-11**
(https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/11/, May 2026; its field syntax is that of
-09 and -10): both are Structured Field Lists (RFC 9651) of String items, a policy with ``q`` (quota units) and
``w`` (window, seconds), a service limit with ``r`` (remaining units) and ``t`` (seconds within which no more than
``r`` may be used). Serialised with ``http-sfv``, not by formatting strings. A refused decision adds
``Retry-After`` (RFC 9110 §10.2.3, delay-seconds), never earlier than the end of the effective window (draft §6).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import msgspec
from http_sfv.item import Item
from http_sfv.list import List as SfList
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.keys import Keys
from gateway.plans import Policy
from shared.problems import ProblemError

REVISION = "draft-ietf-httpapi-ratelimit-headers-11"

# Redis failures that mean "the limits cannot be counted now" (down, unreachable, slow, a replica after failover);
# any other Redis error is a bug and stays an exception.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)


class LimitsUnavailable(Exception):
    """The rate-limit store (the state Redis) cannot be reached; the caller decides to fail open or closed."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one hit on one policy.

    ``limit`` units per ``window_s`` seconds; ``remaining`` units left after this hit (0 when refused for lack of
    units); ``reset_s`` seconds until the oldest unit in the window frees (the window itself when none is spent);
    ``retry_after_s`` (refused only) seconds to wait before trying again: when the first unit frees, so a retry
    costing more than one unit may be refused again.
    """

    policy: str
    limit: int
    window_s: int
    allowed: bool
    remaining: int
    reset_s: int
    retry_after_s: int | None = None


class Limiter:
    """Moving-window limits in the Redis at ``redis_url``, under the deployment's key ``prefix``.

    Its own small connection pool (the `limits` storage talks redis-py asyncio); ``timeout_s`` bounds connecting
    and every reply, so a Redis that is down is a prompt :class:`LimitsUnavailable`, not a hung request.
    """

    def __init__(self, redis_url: str, *, prefix: str, timeout_s: float = 1.0) -> None:
        self._pool = ConnectionPool.from_url(redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        # The storage takes redis-py's own options; our pool is one (so that aclose() can release it).
        options: dict[str, Any] = {"connection_pool": self._pool}
        storage = RedisStorage(
            "async+" + redis_url.removeprefix("async+"),
            implementation="redispy",
            key_prefix=Keys(prefix).ratelimit,
            wrap_exceptions=True,
            **options,
        )
        self._window = MovingWindowRateLimiter(storage)

    async def hit(self, policy: Policy, subject: str, cost: int = 1) -> Decision:
        """Spend ``cost`` units of ``policy`` for ``subject``, if that many are left in the moving window.

        ``ValueError`` if ``cost`` is below 1 or above the policy's limit (such a request could never pass: a
        configuration error of the route). :class:`LimitsUnavailable` if Redis cannot be reached."""
        if not 1 <= cost <= policy.limit:
            raise ValueError(f"a hit costs 1 to {policy.limit} units of {policy.name}, not {cost}")
        try:
            allowed = await self._window.hit(policy.item, policy.name, subject, cost=cost)
            stats = await self._window.get_window_stats(policy.item, policy.name, subject)
        except StorageError as exc:
            if isinstance(exc.storage_error, _UNAVAILABLE):
                raise LimitsUnavailable(f"rate limits cannot be counted: {exc.storage_error}") from exc
            raise exc.storage_error from exc
        reset_s = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(
            policy=policy.name,
            limit=policy.limit,
            window_s=policy.window_s,
            allowed=allowed,
            remaining=max(0, stats.remaining),
            reset_s=reset_s,
            retry_after_s=None if allowed else max(1, reset_s),
        )

    async def aclose(self) -> None:
        await self._pool.disconnect()


def _item(name: str, **params: int) -> Item:
    item = Item(name)
    for key, value in params.items():
        item.params[key] = value
    return item


def headers(decisions: Sequence[Decision]) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` (one list member per decision, in order) and, if any decision was
    refused, ``Retry-After`` (the longest wait among the refused). Empty when there is no decision."""
    if not decisions:
        return {}
    policies, limits = SfList(), SfList()
    for d in decisions:
        policies.append(_item(d.policy, q=d.limit, w=d.window_s))
        limits.append(_item(d.policy, r=d.remaining, t=d.reset_s))
    fields = {"RateLimit-Policy": str(policies), "RateLimit": str(limits)}
    waits = [d.retry_after_s for d in decisions if d.retry_after_s is not None]
    if waits:
        fields["Retry-After"] = str(max(waits))
    return fields


def too_many_requests(decisions: Sequence[Decision]) -> ProblemError:
    """The 429 problem for a request refused by (at least) one of ``decisions``, carrying every header above and
    naming the exceeded policies (the draft's ``violated-policies``, §5.1, as our ``errors`` member)."""
    refused = [d for d in decisions if not d.allowed]
    if not refused:
        raise ValueError("no decision was refused")
    wait = max(d.retry_after_s or 1 for d in refused)
    names = ", ".join(d.policy for d in refused)
    return ProblemError(
        "too-many-requests",
        f"rate limit exceeded ({names}); retry in {wait} s",
        retry_after=wait,
        errors=[{"policy": d.policy, "limit": d.limit, "window_s": d.window_s} for d in refused],
        headers=headers(decisions),
    )
