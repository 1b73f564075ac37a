"""The gateway's response cache against the real Redis (gateway/cache.py and its Lua scripts): what a shared
cache may keep (RFC 9111), entries keyed apart by consumer class, query and vary headers, a purge that drops every
entry of a tag, and a purge that lands while an answer is on its way back winning over it."""

from __future__ import annotations

import msgspec
import pytest
from redis.asyncio import Redis

from estate.launcher import free_port
from gateway.cache import CacheUnavailable, Entry, ResponseCache, entry_of, not_modified, status_field, storable
from gateway.routing import CachePolicy, Route

POLICY = CachePolicy(ttl_s=30, stale_if_error_s=300, vary=("accept-language",))
ROUTE = msgspec.convert(
    {
        "name": "web-products-read",
        "prefix": "/web/v1/products",
        "methods": ["GET"],
        "upstream": "experience-web",
        "auth": "oauth",
        "channel": "web",
        "scopes": ["catalog:read"],
        "cache": {"ttl_s": 30, "stale_if_error_s": 300, "vary": ["accept-language"]},
    },
    Route,
)
PUBLIC = {"cache-control": "public, max-age=30", "x-omnigate-cache-tags": "sku:SKU-1 location:dc-tlb"}


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, PUBLIC, (30, ["sku:SKU-1", "location:dc-tlb"])),
        (200, {"cache-control": "public, max-age=10, s-maxage=5"}, (5, [])),  # s-maxage rules a shared cache
        (200, {"cache-control": "max-age=600"}, (30, [])),  # the route's ttl caps the upstream's
        (200, {"cache-control": "public"}, (30, [])),
        (200, {"cache-control": "private, max-age=30"}, None),
        (200, {"cache-control": "no-store"}, None),
        (200, {"cache-control": "public, no-cache"}, None),
        (200, {}, None),  # no word from the upstream: not stored
        (200, {"cache-control": "public, max-age=0"}, None),
        (200, {"cache-control": "public, max-age=x"}, None),
        (200, {**PUBLIC, "set-cookie": "a=b"}, None),
        (200, {**PUBLIC, "vary": "Authorization"}, None),  # varies on what the key does not hold
        (200, {**PUBLIC, "vary": "Accept-Language"}, (30, ["sku:SKU-1", "location:dc-tlb"])),
        (200, {**PUBLIC, "vary": "*"}, None),
        (200, {**PUBLIC, "x-omnigate-cache-tags": "sku:bad tag!"}, None),
        (404, PUBLIC, None),
        (206, PUBLIC, None),
    ],
)
def test_what_a_shared_cache_may_keep(
    status: int, headers: dict[str, str], expected: tuple[int, list[str]] | None
) -> None:
    assert storable(POLICY, status, headers, vary=frozenset(POLICY.vary)) == expected


def test_if_none_match_is_a_weak_comparison_over_a_list() -> None:
    assert not_modified(b'"a", W/"b"', '"b"')
    assert not_modified(b'W/"a"', '"a"')
    assert not_modified(b"*", '"x"')
    assert not not_modified(b'"a"', '"b"')
    assert not not_modified(None, '"b"')
    assert not not_modified(b'"a"', None)


def test_cache_status_is_an_rfc_9211_list_naming_this_cache() -> None:
    assert status_field(hit=True, ttl=12) == b"omnigate;hit;ttl=12"
    assert status_field(fwd="uri-miss", fwd_status=200, stored=True) == b"omnigate;fwd=uri-miss;fwd-status=200;stored"
    assert status_field(fwd="stale", fwd_status=503, ttl=-4) == b"omnigate;fwd=stale;fwd-status=503;ttl=-4"
    assert status_field(fwd="bypass", detail="cache unavailable") == b'omnigate;fwd=bypass;detail="cache unavailable"'


@pytest.fixture
async def cache(redis_url: str, key_prefix: str) -> ResponseCache:
    return ResponseCache(Redis.from_url(redis_url), prefix=key_prefix)


def _entry(read_ms: int, body: bytes = b'{"sku":"SKU-1"}') -> Entry:
    fields = [(b"content-type", b"application/json"), (b"etag", b'"v1"'), (b"x-omnigate-cache-tags", b"sku:SKU-1")]
    found = entry_of(200, fields, body, lifetime_s=30, policy=POLICY, read_ms=read_ms, fetched_s=0.0)
    assert found is not None
    return found


def test_keys_part_consumer_classes_queries_and_vary_values(cache: ResponseCache) -> None:
    def key(consumer: str, query: bytes, *headers: tuple[bytes, bytes]) -> str:
        return cache.key(ROUTE, consumer, "/web/v1/products/SKU-1", query, [(b"authorization", b"x"), *headers])

    base = key("customer", b"postal=1012")
    assert key("customer", b"postal=1012", (b"user-agent", b"other")) == base  # not a vary header
    assert key("partner", b"postal=1012") != base
    assert key("customer", b"postal=3011") != base
    assert key("customer", b"postal=1012", (b"accept-language", b"nl")) != base
    assert base.startswith(f"{cache.base}:entry:web-products-read:customer:")


async def test_an_entry_is_read_back_with_the_cache_clock_and_without_its_tags(cache: ResponseCache) -> None:
    key = cache.key(ROUTE, "customer", "/web/v1/products/SKU-1", b"", [])
    missing, read_ms = await cache.read(key)
    assert missing is None and read_ms > 1_700_000_000_000
    entry = _entry(read_ms)
    assert b"x-omnigate-cache-tags" not in dict(entry.headers)  # tags are the gateway's, never the caller's
    assert await cache.store(key, entry, ["sku:SKU-1"], read_ms)
    found, later_ms = await cache.read(key)
    assert found == entry and later_ms >= read_ms
    assert entry.fresh_until_ms - entry.stored_ms == 30_000
    assert entry.stale_until_ms - entry.stored_ms == 330_000
    assert 329_000 < await cache.redis.pttl(key) <= 330_000


async def test_a_purge_drops_every_entry_of_its_tag_and_only_those(cache: ResponseCache) -> None:
    keys = [cache.key(ROUTE, "customer", f"/web/v1/products/SKU-1?p={i}", b"", []) for i in range(3)]
    other = cache.key(ROUTE, "customer", "/web/v1/products/SKU-2", b"", [])
    _, read_ms = await cache.read(keys[0])
    for key in keys:
        assert await cache.store(key, _entry(read_ms), ["sku:SKU-1", "location:dc-tlb"], read_ms)
    assert await cache.store(other, _entry(read_ms), ["sku:SKU-2", "location:dc-tlb"], read_ms)
    assert await cache.purge(["sku:SKU-1"]) == 3
    assert [(await cache.read(key))[0] for key in keys] == [None, None, None]
    assert (await cache.read(other))[0] is not None
    assert await cache.purge(["sku:SKU-1"]) == 0


async def test_an_answer_read_before_a_purge_is_not_stored_after_it(cache: ResponseCache) -> None:
    """The race a purge must win: the answer was fetched (read_ms) before the purge landed, and would put the
    old availability back in the cache for a whole TTL if it were stored after it."""
    key = cache.key(ROUTE, "customer", "/web/v1/products/SKU-3", b"", [])
    _, read_ms = await cache.read(key)
    await cache.purge(["sku:SKU-3"])
    assert not await cache.store(key, _entry(read_ms), ["sku:SKU-3"], read_ms)
    assert (await cache.read(key))[0] is None
    _, after_ms = await cache.read(key)
    fresh = _entry(after_ms + 1)
    assert await cache.store(key, fresh, ["sku:SKU-3"], after_ms + 1)  # fetched after the purge: kept


async def test_an_unreachable_cache_is_reported_not_decided(key_prefix: str) -> None:
    unreachable = ResponseCache(
        Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5), prefix=key_prefix
    )
    with pytest.raises(CacheUnavailable):
        await unreachable.read("k")
