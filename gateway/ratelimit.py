"""Exact rate limits across every gateway worker and replica, and the headers that advertise them.

Why the `limits` library's moving window: it keeps, per counter, the timestamps of the units spent in the last
window in one Redis list and decides with one atomic Lua script, so N workers and M replicas sharing the state
Redis let through exactly the limit (DESIGN §9 measured Litestar's own limiter letting 70 of 50 through with two
workers); the sliding-window counter would approximate. The gateway runs that same algorithm on the same list
layout as one script for all of a request's policies with their header state (gateway/ratelimit.lua, one round
trip instead of two per policy, as DESIGN §9 plans once the benchmark shows the round trip matters); a test runs
it against `limits` itself on the same request sequence. Counters live under
``<key prefix>omnigate.gateway:ratelimit:`` (gateway/keys.py), so tests and estates sharing one Redis never share
them; a counter is named by the policy and the subject (``partner:acme``, ``customer:c-1``, ``ip:1.2.3.4``).

:class:`Limiter` only counts and reports: when Redis cannot be reached it raises :class:`LimitsUnavailable`, and
the request pipeline decides per route whether to fail open or closed.

:func:`headers` writes ``RateLimit-Policy`` and ``RateLimit`` as specified by **draft-ietf-httpapi-ratelimit-headers-11**
(https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/11/, May 2026; its field syntax is that of
-09 and -10): both are Structured Field Lists (RFC 9651) of String items, a policy with ``q`` (quota units) and
``w`` (window, seconds), a service limit with ``r`` (remaining units) and ``t`` (seconds within which no more than
``r`` may be used). Serialised with ``http-sfv``, not by formatting strings. A refused decision adds
``Retry-After`` (RFC 9110 §10.2.3, delay-seconds), never earlier than the end of the effective window (draft §6).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
from http_sfv.item import Item
from http_sfv.list import List as SfList
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.keys import Keys
from gateway.plans import Policy
from shared import scripts
from shared.problems import ProblemError

REVISION = "draft-ietf-httpapi-ratelimit-headers-11"
SCRIPT = Path(__file__).with_name("ratelimit.lua")

# Redis failures that mean "the limits cannot be counted now" (down, unreachable, slow, a replica after failover);
# any other Redis error is a bug and stays an exception.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)


class LimitsUnavailable(Exception):
    """The rate-limit store (the state Redis) cannot be reached; the caller decides to fail open or closed."""


class GuardRefused(Exception):
    """The guard of a hit (a partner API key's record) is not active: nothing was spent or read."""


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

    One EVALSHA per call (gateway/ratelimit.lua) checks and spends every policy of the request and reads their
    state for the headers: the `limits` library's algorithm and list layout, without its two round trips per
    policy (the benchmark measured 1.4 ms of the gateway's 3.2 ms of CPU per request there). Its own small
    connection pool; ``timeout_s`` bounds connecting and every reply, so a Redis that is down is a prompt
    :class:`LimitsUnavailable`, not a hung request. ``clock`` (epoch seconds) is the gateway's, as `limits` uses
    the caller's clock too: replicas need synchronised clocks.
    """

    def __init__(
        self, redis_url: str, *, prefix: str, timeout_s: float = 1.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._pool = ConnectionPool.from_url(redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        self._redis = Redis(connection_pool=self._pool)
        self._script = scripts.load(self._redis, SCRIPT)
        self._base = Keys(prefix).ratelimit
        self.clock = clock

    def key(self, policy: Policy, subject: str) -> str:
        return f"{self._base}:{policy.name}:{subject}"

    async def hit(self, policy: Policy, subject: str, cost: int = 1) -> Decision:
        """Spend ``cost`` units of ``policy`` for ``subject``, if that many are left in the moving window."""
        return (await self.hit_all([(policy, subject)], cost))[0]

    async def hit_all(self, counted: Sequence[tuple[Policy, str]], cost: int = 1) -> list[Decision]:
        """See :meth:`hit_and_read` (without the read)."""
        decisions, _ = await self.hit_and_read(counted, cost)
        return decisions

    async def hit_and_read(
        self,
        counted: Sequence[tuple[Policy, str]],
        cost: int = 1,
        read: str | None = None,
        *,
        guard: str | None = None,
    ) -> tuple[list[Decision], tuple[bytes | None, int] | None]:
        """Spend ``cost`` units of every ``(policy, subject)`` if each has that many left, else of none: one
        decision per policy, in order (a policy that would have let the request through is ``allowed`` even when
        another refused it, and nothing was spent).

        ``ValueError`` if ``cost`` is below 1 or above a policy's limit (such a request could never pass: a
        configuration error of the route). :class:`LimitsUnavailable` if Redis cannot be reached.

        ``read``: a key of this Redis to read in the same round trip (the gateway's response cache entry, when the
        cache lives in the state Redis): its value (None if absent) and this Redis's clock (ms) come back with the
        decisions, read after the units were spent (whatever the decisions).

        ``guard``: a hash of this Redis whose ``state`` field must be ``active`` for anything to be spent or read
        (a partner API key's record, so a revoked key is refused in this same round trip); :class:`GuardRefused`
        if it is not."""
        for policy, _ in counted:
            if not 1 <= cost <= policy.limit:
                raise ValueError(f"a hit costs 1 to {policy.limit} units of {policy.name}, not {cost}")
        now = self.clock()
        args: list[str | int] = [repr(now), 0 if guard is None else 1]
        for policy, _ in counted:
            args += [policy.limit, policy.window_s, cost]
        keys = [self.key(p, s) for p, s in counted]
        keys += [k for k in (guard, read) if k is not None]
        try:
            reply = await self._script(keys=keys, args=args)
        except _UNAVAILABLE as exc:
            raise LimitsUnavailable(f"rate limits cannot be counted: {exc}") from exc
        if reply[0] == -1:
            raise GuardRefused(guard)
        decisions = []
        for i, (policy, _) in enumerate(counted):
            refused, count, oldest = reply[1 + 3 * i : 4 + 3 * i]
            oldest_s = float(oldest) if oldest else now
            # Another worker's entry may carry a timestamp a moment after this request's ``now``: never past
            # a whole window.
            reset_s = min(policy.window_s, max(0, math.ceil(oldest_s + policy.window_s - now)))
            decisions.append(
                Decision(
                    policy=policy.name,
                    limit=policy.limit,
                    window_s=policy.window_s,
                    allowed=not refused,
                    remaining=max(0, policy.limit - int(count)),
                    reset_s=reset_s,
                    retry_after_s=max(1, reset_s) if refused else None,
                )
            )
        if read is None:
            return decisions, None
        clock_ms, value = reply[1 + 3 * len(counted) :]
        return decisions, (value or None, int(clock_ms))

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._pool.disconnect()


def _item(name: str, **params: int) -> Item:
    item = Item(name)
    for key, value in params.items():
        item.params[key] = value
    return item


@functools.lru_cache(maxsize=256)
def _policy_field(policies: tuple[tuple[str, int, int], ...]) -> str:
    """``RateLimit-Policy`` of a set of policies (the same for every request counted against them)."""
    field = SfList()
    for name, limit, window_s in policies:
        field.append(_item(name, q=limit, w=window_s))
    return str(field)


@functools.lru_cache(maxsize=256)
def _name(policy: str) -> str:
    """A policy's name as a Structured Field String (serialised by http-sfv, once per name)."""
    return str(Item(policy))


def headers(decisions: Sequence[Decision]) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` (one list member per decision, in order) and, if any decision was
    refused, ``Retry-After`` (the longest wait among the refused). Empty when there is no decision.

    The policy field is serialised once per set of policies; in ``RateLimit`` each member is the policy's name
    (serialised once) with two non-negative Integer parameters, which RFC 9651 §4.1.4 writes as plain decimals
    (equal to http-sfv's output: a unit test compares them)."""
    if not decisions:
        return {}
    policy = _policy_field(tuple((d.policy, d.limit, d.window_s) for d in decisions))
    limits = ", ".join(f"{_name(d.policy)};r={d.remaining};t={d.reset_s}" for d in decisions)
    fields = {"RateLimit-Policy": policy, "RateLimit": limits}
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
