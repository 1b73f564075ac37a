"""The gateway's Limiter against the real Redis: exact across OS processes (two processes, each with its own event
loop and connections, 500 hits on a 100/minute policy let exactly 100 through), refusals that say when to come
back, costs above one counted as that many units, and an unreachable Redis reported, not decided."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from threading import Barrier

import pytest
from redis.asyncio import Redis

from estate.launcher import free_port
from gateway.plans import Policy
from gateway.ratelimit import Decision, GuardRefused, Limiter, LimitsUnavailable

HITS_PER_PROCESS = 250


async def _hits(redis_url: str, prefix: str, rate: str, count: int, ready: Barrier | None = None) -> list[Decision]:
    limiter = Limiter(redis_url, prefix=prefix)
    policy = Policy.parse("partner-sandbox", rate)
    try:
        await limiter.hit(Policy.parse("warm-up", "1000/minute"), "connections")
        if ready is not None:  # both processes connected: start together
            await asyncio.to_thread(ready.wait, 30)
        # In waves of concurrent hits on several connections, so the two processes interleave in Redis.
        found: list[Decision] = []
        for start in range(0, count, 10):
            wave = [limiter.hit(policy, "partner:acme") for _ in range(min(10, count - start))]
            found.extend(await asyncio.gather(*wave))
            await asyncio.sleep(0.002)  # let the other process's waves in, even on a loaded machine
        return found
    finally:
        await limiter.aclose()


def hits_in_a_process(redis_url: str, prefix: str, rate: str, count: int, ready: Barrier) -> list[Decision]:
    """One OS process's share: its own event loop and Redis connections, starting with the other one."""
    return asyncio.run(_hits(redis_url, prefix, rate, count, ready))


def test_two_processes_let_exactly_the_limit_through(redis_url: str, key_prefix: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        ready = manager.Barrier(2)
        futures = [
            pool.submit(hits_in_a_process, redis_url, key_prefix, "100/minute", HITS_PER_PROCESS, ready)
            for _ in range(2)
        ]
        per_process = [f.result(timeout=90) for f in futures]
    decisions = [d for found in per_process for d in found]
    assert len(decisions) == 2 * HITS_PER_PROCESS
    allowed = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    assert len(allowed) == 100
    assert all(any(d.allowed for d in found) for found in per_process), "both processes were let through"
    assert {(d.policy, d.limit, d.window_s) for d in decisions} == {("partner-sandbox", 100, 60)}
    for d in refused:
        assert d.remaining == 0
        assert d.retry_after_s is not None and 1 <= d.retry_after_s <= 60
        assert d.retry_after_s == max(1, d.reset_s)
    assert all(0 <= d.remaining < 100 and d.retry_after_s is None for d in allowed)
    # The window is full for a minute: a later hit from this process is refused too.
    assert asyncio.run(_hits(redis_url, key_prefix, "100/minute", 1))[0].allowed is False


async def test_a_cost_spends_that_many_units(redis_url: str, key_prefix: str) -> None:
    limiter = Limiter(redis_url, prefix=key_prefix)
    policy = Policy.parse("partner-bulk", "10/minute")
    try:
        first = await limiter.hit(policy, "partner:acme", cost=4)
        second = await limiter.hit(policy, "partner:acme", cost=4)
        too_much = await limiter.hit(policy, "partner:acme", cost=3)
        last = await limiter.hit(policy, "partner:acme", cost=2)
        none_left = await limiter.hit(policy, "partner:acme")
        other = await limiter.hit(policy, "partner:globex", cost=10)
        with pytest.raises(ValueError, match="1 to 10 units"):
            await limiter.hit(policy, "partner:acme", cost=11)
        with pytest.raises(ValueError):
            await limiter.hit(policy, "partner:acme", cost=0)
    finally:
        await limiter.aclose()
    assert (first.allowed, first.remaining) == (True, 6)
    assert (second.allowed, second.remaining) == (True, 2)
    assert (too_much.allowed, too_much.remaining) == (False, 2)  # nothing spent: 2 units are still there
    assert too_much.retry_after_s is not None and 59 <= too_much.retry_after_s <= 60
    assert (last.allowed, last.remaining) == (True, 0)
    assert (none_left.allowed, none_left.remaining) == (False, 0)
    assert (other.allowed, other.remaining) == (True, 0), "each subject has its own window"


async def test_units_free_as_the_window_moves(redis_url: str, key_prefix: str) -> None:
    limiter = Limiter(redis_url, prefix=key_prefix)
    policy = Policy.parse("web-ip", "2/2 seconds")
    try:
        await limiter.hit(policy, "ip:192.0.2.1")
        await asyncio.sleep(1.1)
        await limiter.hit(policy, "ip:192.0.2.1")
        refused = await limiter.hit(policy, "ip:192.0.2.1")
        assert not refused.allowed and refused.retry_after_s == 1 == refused.reset_s
        await asyncio.sleep(refused.reset_s + 0.05)  # reset_s is rounded up: the first unit has freed by then
        again = await limiter.hit(policy, "ip:192.0.2.1")
    finally:
        await limiter.aclose()
    assert again.allowed, "the first unit freed after its two seconds"


async def test_an_unreachable_redis_is_reported_not_decided(key_prefix: str) -> None:
    limiter = Limiter(f"redis://127.0.0.1:{free_port()}/0", prefix=key_prefix, timeout_s=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(LimitsUnavailable, match="rate limits cannot be counted"):
            await limiter.hit(Policy.parse("client", "600/minute"), "client:ogc_1")
    finally:
        await limiter.aclose()
    assert time.monotonic() - started < 5


async def test_the_script_decides_as_the_limits_library_does_on_the_same_sequence(
    redis_url: str, key_prefix: str
) -> None:
    """gateway/ratelimit.lua runs the `limits` library's moving window itself (one round trip per request instead
    of two per policy): driven with the same request sequence as `limits`' own MovingWindowRateLimiter, every
    decision and every remaining count agree, across a window that partly expires (bursts half a window apart)."""
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter

    policy = Policy.parse("compare", "10/2 seconds")
    ours = Limiter(redis_url, prefix=key_prefix)
    reference = MovingWindowRateLimiter(
        RedisStorage("async+" + redis_url, implementation="redispy", key_prefix=key_prefix + "limits")
    )
    costs = [1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 2, 3, 1, 1]
    seen: list[tuple[bool, int]] = []
    try:
        for pause_s in (0.0, 1.0, 1.3, 0.4):  # bursts at t=0, 1.0, 2.3 (the first burst expired), 2.7
            await asyncio.sleep(pause_s)
            for cost in costs:
                mine = await ours.hit(policy, "subject", cost)
                allowed = await reference.hit(policy.item, "compare", "subject", cost=cost)
                stats = await reference.get_window_stats(policy.item, "compare", "subject")
                assert (mine.allowed, mine.remaining) == (allowed, stats.remaining), (pause_s, cost, seen)
                seen.append((allowed, stats.remaining))
    finally:
        await ours.aclose()
    assert {allowed for allowed, _ in seen} == {True, False}, "the sequence exercised both outcomes"


async def test_a_window_never_resets_later_than_its_length(redis_url: str, key_prefix: str) -> None:
    """Workers stamp entries with their own clock, so a worker may find an entry a moment newer than its ``now``
    (a 61 s ``t`` on a 60 s window, seen across two gateway instances): ``reset`` is capped at the window."""
    policy = Policy.parse("cap", "100/minute")
    ahead = Limiter(redis_url, prefix=key_prefix, clock=lambda: time.time() + 0.7)
    behind = Limiter(redis_url, prefix=key_prefix)
    try:
        await ahead.hit(policy, "s")
        decision = await behind.hit(policy, "s")
        assert decision.allowed and decision.reset_s <= 60, decision
    finally:
        await ahead.aclose()
        await behind.aclose()


async def test_a_read_rides_on_the_limits_round_trip(redis_url: str, key_prefix: str) -> None:
    """With the response cache in the state Redis, the entry is read in the same script as the limits: its value
    (None when absent) and Redis's clock come back with the decisions, refused or not."""
    limiter = Limiter(redis_url, prefix=key_prefix)
    policy = Policy.parse("web-shopper", "1/minute")
    entry = f"{key_prefix}omnigate.gateway:cache:entry:test"
    reader = Redis.from_url(redis_url)
    try:
        before = time.time() * 1000
        decisions, (absent, clock_ms) = await limiter.hit_and_read([(policy, "customer:c")], 1, entry)  # type: ignore[misc]
        assert decisions[0].allowed and absent is None and before - 1000 < clock_ms < before + 1000
        await reader.set(entry, b"\x93stored")
        decisions, (value, _) = await limiter.hit_and_read([(policy, "customer:c")], 1, entry)  # type: ignore[misc]
        assert not decisions[0].allowed and value == b"\x93stored"
        assert (await limiter.hit_and_read([(policy, "customer:d")], 1))[1] is None
    finally:
        await limiter.aclose()
        await reader.aclose()


async def test_a_guard_that_is_not_active_spends_and_reads_nothing(redis_url: str, key_prefix: str) -> None:
    """A partner key's record as the guard: while its state is ``active`` the hit counts (with the read riding
    along); once revoked, or absent, GuardRefused and no unit is spent."""
    limiter = Limiter(redis_url, prefix=key_prefix)
    policy = Policy.parse("partner-sandbox", "5/minute")
    guard = f"{key_prefix}omnigate.gateway:partner-key:test-guard"
    entry = f"{key_prefix}omnigate.gateway:cache:entry:guarded"
    redis = Redis.from_url(redis_url)
    try:
        await redis.hset(guard, mapping={"state": "active", "partner_id": "acme"})
        await redis.set(entry, b"kept")
        decisions, (value, _) = await limiter.hit_and_read(  # type: ignore[misc]
            [(policy, "partner:acme")], 1, entry, guard=guard
        )
        assert decisions[0].allowed and decisions[0].remaining == 4 and value == b"kept"
        await redis.hset(guard, "state", "revoked")
        with pytest.raises(GuardRefused):
            await limiter.hit_and_read([(policy, "partner:acme")], 1, entry, guard=guard)
        await redis.delete(guard)
        with pytest.raises(GuardRefused):
            await limiter.hit_and_read([(policy, "partner:acme")], 2, guard=guard)
        assert (await limiter.hit(policy, "partner:acme")).remaining == 3, "the refused hits spent nothing"
    finally:
        await limiter.aclose()
        await redis.aclose()
