"""The gateway's response cache (DESIGN §5): public answers of GET/HEAD routes kept in the cache Redis, shared by
every gateway worker and replica, and purged by business events instead of waiting for a TTL.

**What is stored.** Only a route with a ``cache`` policy in routes.toml, only a 200, only when the upstream's
``Cache-Control`` allows a shared cache to keep it (``public``, ``max-age`` or ``s-maxage``; never ``private``,
``no-store`` or ``no-cache``; RFC 9111 §3) and the answer sets no cookie and varies on nothing the route's key does
not hold. A degraded answer is sent with ``no-store`` by the experience APIs, so it is never kept. Freshness is the
route's ``ttl_s`` or the upstream's ``s-maxage``/``max-age``, whichever is shorter.

**Key.** The route, the consumer class (``customer``, ``client``, ``partner`` or ``anonymous``: a class shares
public answers, never one consumer's private ones, which are not stored at all), the path with its query as sent,
and the values of the route's ``vary`` request headers, hashed (SHA-256).

**Tags and purge.** The upstream names what its answer depends on in ``X-Omnigate-Cache-Tags`` (space-separated
``sku:<SKU>``, ``location:<id>``; the header never reaches the caller). Each tag is a set of the entries carrying
it. :meth:`ResponseCache.purge` drops every entry of a tag and stamps the tag with the cache Redis's clock; an
answer fetched before that stamp is not stored afterwards (the race of a purge landing while a stale answer is
on its way back). The gateway purges on ``availability.changed`` and ``price.applied``, which process-availability
publishes once its projections applied a change (gateway/purge.py), never on raw back-end events.

**Stale answers.** An entry is kept ``stale_if_error_s`` past its freshness; while the upstream fails (5xx,
timeout, open breaker) a stale entry is served instead of the error (RFC 5861 ``stale-if-error``). So it is while
the upstream answers *degraded* (``X-Omnigate-Degraded`` naming the parts it could not get, because a layer below
is away): the whole answer kept before, marked stale, serves the caller better than one without availability.

``Cache-Status`` (RFC 9211, cache name ``omnigate``) says what happened: ``hit; ttl=12`` (served from the cache),
``fwd=uri-miss; fwd-status=200; stored`` (fetched, kept), ``fwd=stale; fwd-status=503; ttl=-4`` (fetched, failed,
the stale entry served; ``detail="upstream degraded"`` when the upstream's answer was degraded), ``fwd=bypass; detail=...`` (the cache Redis was away: the answer came from upstream).
``Age`` (RFC 9111 §5.1) accompanies every answer from the cache.

The cache Redis is ``CACHE_REDIS_URL`` (the state Redis by default; in the chart an ``allkeys-lru`` instance without
persistence): losing it loses nothing but hits. When it cannot be reached the gateway answers from upstream.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path

import msgspec
from http_sfv.item import Item
from http_sfv.list import List as SfList
from http_sfv.types import Token
from litestar.types import HTTPScope
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway import proxy
from gateway.routing import CachePolicy, Route
from shared import caching, scripts
from shared.http import Upstream
from shared.outage import Outage
from shared.problems import ProblemError

log = logging.getLogger("omnigate.gateway.cache")
# Logged once per outage (shared.outage), not per request.
UNCACHED = Outage(
    "the response cache", "cached routes are answered from upstream and nothing is kept, until it is back"
)

NAME = "omnigate"  # this cache's name in Cache-Status
TAGS_HEADER = caching.TAGS_HEADER.lower()
DEGRADED_HEADER = caching.DEGRADED_HEADER.lower()
READ = Path(__file__).with_name("cache_read.lua")
STORE = Path(__file__).with_name("cache_store.lua")
PURGE = Path(__file__).with_name("cache_purge.lua")
# A purge stamp outlives any request in flight when it landed (routes time out within 60 s).
PURGE_STAMP_MS = 120_000
MAX_ENTRY_BYTES = 1_048_576
MAX_TAGS = 200
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
_NOT_SHARED = frozenset({"private", "no-store", "no-cache"})


class CacheUnavailable(Exception):
    """The cache Redis cannot be reached; the request is answered from upstream."""


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """One stored answer: its status, the header fields the caller gets (ASGI, lower-case), its body, its ETag,
    and when (cache Redis clock, ms) it was stored, stops being fresh and stops being usable at all."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: str | None
    stored_ms: int
    fresh_until_ms: int
    stale_until_ms: int

    def age_s(self, now_ms: int) -> int:
        return max(0, (now_ms - self.stored_ms) // 1000)

    def ttl_s(self, now_ms: int) -> int:
        """Remaining freshness in whole seconds (negative once stale), as Cache-Status' ``ttl``."""
        return (self.fresh_until_ms - now_ms) // 1000


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


class ResponseCache:
    """The cache in the Redis ``redis`` under the deployment's key ``prefix`` (see the module)."""

    def __init__(self, redis: Redis, *, prefix: str, shares_state: bool = False) -> None:
        self.redis = redis
        # The cache Redis is the state Redis (a local estate; the chart's default is a separate one): a read can
        # ride on the limits' round trip (gateway/ratelimit.lua).
        self.shares_state = shares_state
        self.base = f"{prefix}omnigate.gateway:cache"
        self._read = scripts.load(redis, READ)
        self._store = scripts.load(redis, STORE)
        self._purge = scripts.load(redis, PURGE)

    def key(
        self, route: Route, consumer_class: str, path: str, query: bytes, headers: Iterable[tuple[bytes, bytes]]
    ) -> str:
        """The entry key of a request (see the module)."""
        policy = route.cache
        digest = hashlib.sha256()
        digest.update(path.encode())
        digest.update(b"?" + query)
        if policy is not None and policy.vary:
            wanted = {name.encode(): i for i, name in enumerate(policy.vary)}
            values: list[list[bytes]] = [[] for _ in policy.vary]
            for name, value in headers:
                index = wanted.get(name)
                if index is not None:
                    values[index].append(value)
            for found in values:
                digest.update(b"\n" + b",".join(found))
        return f"{self.base}:entry:{route.name}:{consumer_class}:{digest.hexdigest()}"

    def _tag_keys(self, tag: str) -> tuple[str, str]:
        return f"{self.base}:tag:{tag}", f"{self.base}:purged:{tag}"

    async def read(self, key: str) -> tuple[Entry | None, int]:
        """The entry under ``key`` (None if there is none, or it cannot be decoded) and the cache Redis's clock
        (ms) at the read. :class:`CacheUnavailable` if the cache Redis cannot be reached."""
        try:
            raw, now_ms = await self._read(keys=[key])
        except _UNAVAILABLE as exc:
            raise CacheUnavailable(str(exc)) from exc
        return self.decode(key, raw), int(now_ms)

    @staticmethod
    def decode(key: str, raw: bytes | None) -> Entry | None:
        """The entry stored as ``raw`` (None if there is none, or it cannot be decoded: it is replaced)."""
        if not raw:
            return None
        try:
            return _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("cache entry %s cannot be decoded; it is replaced", key)
            return None

    async def store(self, key: str, entry: Entry, tags: list[str], read_ms: int) -> bool:
        """Keep ``entry`` under ``key`` until its stale limit, in the sets of its ``tags``, unless a tag was
        purged at or after ``read_ms`` (the answer may predate the purge). Returns whether it was stored."""
        keys = [key]
        stamps = []
        for tag in tags:
            tag_set, stamp = self._tag_keys(tag)
            keys.append(tag_set)
            stamps.append(stamp)
        try:
            stored = await self._store(
                keys=[*keys, *stamps],
                args=[_encoder.encode(entry), max(1, entry.stale_until_ms - entry.stored_ms), read_ms, len(tags)],
            )
        except _UNAVAILABLE as exc:
            raise CacheUnavailable(str(exc)) from exc
        return bool(stored)

    async def purge(self, tags: Iterable[str]) -> int:
        """Drop every entry carrying any of ``tags``; returns how many were dropped."""
        dropped = 0
        for tag in tags:
            tag_set, stamp = self._tag_keys(tag)
            dropped += int(await self._purge(keys=[tag_set, stamp], args=[PURGE_STAMP_MS]))
        return dropped


def storable(
    policy: CachePolicy, status: int, headers: Mapping[str, str], *, vary: frozenset[str]
) -> tuple[int, list[str]] | None:
    """How long (seconds) an upstream answer may stay fresh and the tags it carries, or None when a shared
    cache must not keep it (see the module). ``vary``: the request headers the entry key holds."""
    if status != 200 or "set-cookie" in headers:
        return None
    directives = _cache_control(headers.get("cache-control", ""))
    if directives.keys() & _NOT_SHARED or not directives.keys() & {"public", "max-age", "s-maxage"}:
        return None
    varies = {v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()}
    if "*" in varies or not varies <= vary:
        return None
    lifetime = policy.ttl_s
    for name in ("s-maxage", "max-age"):  # s-maxage overrides max-age for a shared cache (RFC 9111 §5.2.2.10)
        if name in directives:
            seconds = directives[name]
            if seconds is None or not seconds.isdigit():
                return None
            lifetime = min(lifetime, int(seconds))
            break
    if lifetime <= 0:
        return None
    sent = headers.get(TAGS_HEADER, "")
    tags = caching.parse_tags(sent)
    if len(tags) > MAX_TAGS or len(tags) != len(sent.split()):
        log.warning("an answer's cache tags are not valid (%s); it is not stored", headers.get(TAGS_HEADER, "")[:200])
        return None
    return lifetime, tags


def _cache_control(value: str) -> dict[str, str | None]:
    directives: dict[str, str | None] = {}
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            directives[name.lower()] = argument.strip('"') if argument else None
    return directives


def entry_of(
    status: int,
    fields: list[tuple[bytes, bytes]],
    body: bytes,
    *,
    lifetime_s: int,
    policy: CachePolicy,
    read_ms: int,
    fetched_s: float,
) -> Entry | None:
    """The entry to keep for an answer (None if its body is too large to be worth a cache round trip)."""
    if len(body) > MAX_ENTRY_BYTES:
        return None
    stored_ms = read_ms + int((time.monotonic() - fetched_s) * 1000)
    etag = next((value.decode("latin-1") for name, value in fields if name == b"etag"), None)
    return Entry(
        status=status,
        headers=[(name, value) for name, value in fields if name != TAGS_HEADER.encode()],
        body=body,
        etag=etag,
        stored_ms=stored_ms,
        fresh_until_ms=stored_ms + lifetime_s * 1000,
        stale_until_ms=stored_ms + (lifetime_s + policy.stale_if_error_s) * 1000,
    )


def not_modified(if_none_match: bytes | None, etag: str | None) -> bool:
    """Whether the request's ``If-None-Match`` matches ``etag`` (the kernel's comparison, shared/caching.py)."""
    if if_none_match is None or etag is None:
        return False
    return caching.none_match([if_none_match.decode("latin-1")], etag)


@functools.lru_cache(maxsize=4096)
def status_field(
    *,
    hit: bool = False,
    fwd: str | None = None,
    fwd_status: int | None = None,
    ttl: int | None = None,
    stored: bool = False,
    detail: str | None = None,
) -> bytes:
    """A ``Cache-Status`` field value of this cache (RFC 9211: a List with our cache's name as a Token)."""
    member = Item(Token(NAME))
    if hit:
        member.params["hit"] = True
    if fwd is not None:
        member.params["fwd"] = Token(fwd)
    if fwd_status is not None:
        member.params["fwd-status"] = fwd_status
    if ttl is not None:
        member.params["ttl"] = ttl
    if stored:
        member.params["stored"] = True
    if detail is not None:
        member.params["detail"] = detail
    field = SfList()
    field.append(member)
    return str(field).encode()


async def serve(
    cache: ResponseCache,
    upstream: Upstream,
    route: Route,
    scope: HTTPScope,
    key: str,
    identity: Callable[[], Awaitable[str | None]],
    prefetched: tuple[bytes | None, int] | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A read of a cached route (see the module), once the caller was authenticated and counted: from the cache
    while fresh, else from upstream (kept if it may be), else, while the upstream fails or degrades, from a stale
    entry. ``key`` is the request's entry (:meth:`ResponseCache.key`); ``prefetched`` its stored value and the
    cache clock when the limits' round trip read it already; ``identity()`` the identity token to send upstream.
    Status, ASGI header fields and body of the answer."""
    validator = next((value for name, value in scope["headers"] if name == b"if-none-match"), None)
    if prefetched is not None:
        entry, read_ms = cache.decode(key, prefetched[0]), prefetched[1]
        UNCACHED.up()
    else:
        try:
            entry, read_ms = await cache.read(key)
            UNCACHED.up()
        except CacheUnavailable as exc:
            UNCACHED.down(exc)
            status, fields, body = await proxy.forward(upstream, route, scope, b"", await identity())
            return status, [*fields, (b"cache-status", status_field(fwd="bypass", detail="cache unavailable"))], body
    if entry is not None and read_ms < entry.fresh_until_ms:
        return _from_cache(entry, read_ms, validator, status_field(hit=True, ttl=entry.ttl_s(read_ms)))
    fetched = time.monotonic()
    try:
        answer = await proxy.send(upstream, route, scope, b"", await identity(), conditional=False)
    except ProblemError as failed:
        now_ms = read_ms + int((time.monotonic() - fetched) * 1000)
        if failed.status >= 500 and entry is not None and now_ms < entry.stale_until_ms:
            return _from_cache(
                entry, now_ms, validator, status_field(fwd="stale", fwd_status=failed.status, ttl=entry.ttl_s(now_ms))
            )
        raise
    headers = {name.lower(): value for name, value in answer.headers.items()}
    now_ms = read_ms + int((time.monotonic() - fetched) * 1000)
    if DEGRADED_HEADER in headers and entry is not None and now_ms < entry.stale_until_ms:
        # A part of the answer is missing (a layer below is away): the whole answer kept before stands in while
        # it may, marked stale (RFC 5861 stale-if-error, for an error of the layers below).
        state = status_field(fwd="stale", fwd_status=answer.status, ttl=entry.ttl_s(now_ms), detail="upstream degraded")
        return _from_cache(entry, now_ms, validator, state)
    fields = proxy.inbound(answer.headers)
    stored = await _keep(cache, key, route, answer.status, headers, fields, answer.body, read_ms, fetched)
    state = status_field(fwd="stale" if entry is not None else "uri-miss", fwd_status=answer.status, stored=stored)
    if answer.status == 200 and not_modified(validator, headers.get("etag")):
        return 304, [*_validators(fields), (b"cache-status", state)], b""
    return answer.status, [*fields, (b"cache-status", state)], answer.body


async def _keep(
    cache: ResponseCache,
    key: str,
    route: Route,
    status: int,
    headers: Mapping[str, str],
    fields: list[tuple[bytes, bytes]],
    body: bytes,
    read_ms: int,
    fetched: float,
) -> bool:
    """Store an upstream answer if a shared cache may; whether it was stored (a cache Redis away loses a hit)."""
    policy = route.cache
    kept = storable(policy, status, headers, vary=frozenset(policy.vary)) if policy is not None else None
    if kept is None or policy is None:
        return False
    lifetime_s, tags = kept
    fresh = entry_of(status, fields, body, lifetime_s=lifetime_s, policy=policy, read_ms=read_ms, fetched_s=fetched)
    if fresh is None:
        return False
    try:
        return await cache.store(key, fresh, tags, read_ms)
    except CacheUnavailable as exc:
        UNCACHED.down(exc)
        return False


# What a 304 carries of the answer it stands for (RFC 9110 §15.4.5).
_KEPT_BY_304 = frozenset({b"etag", b"cache-control", b"vary", b"expires", b"content-location"})


def _validators(fields: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in fields if name in _KEPT_BY_304]


def _from_cache(
    entry: Entry, now_ms: int, validator: bytes | None, state: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """An answer from a stored entry, with ``Age`` and ``Cache-Status``: 304 when the caller's ``If-None-Match``
    matches it."""
    served = [(b"age", str(entry.age_s(now_ms)).encode()), (b"cache-status", state)]
    if not_modified(validator, entry.etag):
        return 304, [*_validators(entry.headers), *served], b""
    return entry.status, [*entry.headers, *served], entry.body
