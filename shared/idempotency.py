"""``Idempotency-Key`` for every mutating route (draft-ietf-httpapi-idempotency-key-header-07).

The key is an RFC 8941/9651 Structured Field *String* (``"k"``); a bare token or bare opaque key (``k``, a UUID,
``12345``) names the same key. Anything else (a byte sequence, a boolean, a list, parameters, two header lines, a
key longer than 255 characters) is a 400. :data:`KEY_PATTERN` says exactly that in the OpenAPI documents
(:data:`KeyHeader`, :data:`RequiredKeyHeader`), so a client or a generator can build a key from the document
alone.

A key is scoped by the deployable and the caller (its owner), and stands for one *resource* (the order or
return its first request started). The first request claims it with a lease that is renewed while it runs;
its answer (status, ``Location``, media type, body) is then stored for ``ttl_s`` and replayed byte for byte.
A request whose payload differs (its fingerprint) is refused with 422; one that arrives while the first is in
flight gets 409 ``request-in-flight`` with ``Retry-After``. A first attempt that died (its process killed, or
ending in a 5xx) leaves the key naming its resource: the next request with it *takes over* and **resumes**:
it answers from the resource the first attempt started, and starts it (with the same id) only if the first
attempt never got as far as writing it. A key therefore never starts a second resource.

The fingerprint that tells "the same request" from "a reused key" is a SHA-256 over the method, the route
template, the owner and the *decoded* request re-encoded canonically (keys sorted, text NFC-normalised by the
body decoder, defaults filled in), not over the body's bytes: whitespace, key order and Unicode normal form
do not make a request different.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from http_sfv.item import Item
from litestar import Request, Response
from litestar.params import HeaderParameter
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import clock, outage, scripts
from shared.background import wait_until_set
from shared.locks import stop_helper
from shared.problems import ProblemError, invalid

HEADER = "Idempotency-Key"
MAX_KEY = 255
INFLIGHT_RETRY_S = 1  # Retry-After of a 409 request-in-flight (seconds)
# A bare key that is no valid sf-string or token (a UUID that starts with a digit, a number) is still the key.
_BARE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+=~-]*$")
# Every key this module takes, as one regular expression (ECMA and Python alike): an sf-string of 1-255
# characters (printable ASCII, `"` and `\` escaped), an sf-token, or a bare opaque key.
KEY_PATTERN = (
    r'^(?:"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"]){1,255}"'
    r"|[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]{0,254}"
    r"|[A-Za-z0-9][A-Za-z0-9._:/+=~-]{0,254})$"
)
_KEY_DESCRIPTION = (
    "A key naming this attempt (draft-ietf-httpapi-idempotency-key-header): a Structured Field String such as "
    '`"8e03978e-40d5-43e8"` (a bare key is taken too). A replay with the same key answers the first answer; the '
    "same key with another request is 422 `idempotency-key-reused`."
)
KeyHeader = Annotated[
    str | None, HeaderParameter(name=HEADER, required=False, pattern=KEY_PATTERN, description=_KEY_DESCRIPTION)
]
RequiredKeyHeader = Annotated[
    str, HeaderParameter(name=HEADER, required=True, pattern=KEY_PATTERN, description=_KEY_DESCRIPTION)
]


@dataclass(frozen=True, slots=True)
class Stored:
    """A response, as stored for replay."""

    status: int
    location: str
    media_type: str
    body: bytes

    def response(self) -> Response[bytes]:
        headers = {"Location": self.location} if self.location else {}
        return Response(content=self.body, status_code=self.status, media_type=self.media_type, headers=headers)


Start = Callable[[str], Awaitable[Stored]]
Resume = Callable[[str], Awaitable[Stored | None]]


def parse_key(values: Sequence[str], *, required: bool) -> str | None:
    """The key named by the ``Idempotency-Key`` header lines ``values``; 400 problem if malformed."""
    if not values:
        if required:
            raise invalid(
                f"the {HEADER} header is required on this request", errors=[{"field": HEADER, "detail": "missing"}]
            )
        return None
    if len(values) > 1:
        raise invalid(f"send one {HEADER} header, not {len(values)}", errors=[{"field": HEADER}])
    raw = values[0].strip()
    item = Item()
    try:
        item.parse(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return _bare(raw)
    if item.params:
        raise _bad(raw, "a String without parameters")
    if not isinstance(item.value, str):  # Token subclasses str: a bare token is the same key
        return _bare(raw)  # a number, say: taken as a bare key, whatever sf would make of it
    key = str(item.value)
    if not 1 <= len(key) <= MAX_KEY:
        raise _bad(raw, f"1 to {MAX_KEY} characters")
    return key


def _bare(raw: str) -> str:
    if not _BARE.match(raw) or len(raw) > MAX_KEY:
        raise _bad(raw, 'a Structured Field String such as "8e03978e-40d5-43e8"')
    return raw


def _bad(raw: str, wanted: str) -> ProblemError:
    return invalid(f"the {HEADER} header must be {wanted}", errors=[{"field": HEADER, "value": raw[:300]}])


_canonical = msgspec.json.Encoder(order="sorted")


def fingerprint(method: str, route: str, owner: str, request: Any) -> str:
    """SHA-256 of method, route template, owner and the decoded request encoded canonically."""
    digest = hashlib.sha256()
    for part in (method.upper(), route, owner):
        digest.update(part.encode())
        digest.update(b"\n")
    digest.update(_canonical.encode(msgspec.to_builtins(request) if request is not None else None))
    return digest.hexdigest()


class Idempotency:
    """The idempotency records of one deployable; see the module docstring."""

    def __init__(self, redis: Redis, *, prefix: str, service: str, ttl_s: int, inflight_s: float) -> None:
        self.redis = redis
        self.base = f"{prefix}omnigate.idem:{service}:"
        self.ttl_ms = int(ttl_s * 1000)
        self.inflight_ms = int(inflight_s * 1000)
        self._begin = scripts.kernel(redis, "idempotency_begin")
        self._renew = scripts.kernel(redis, "idempotency_renew")
        self._complete = scripts.kernel(redis, "idempotency_complete")
        self._lapse = scripts.kernel(redis, "idempotency_lapse")

    def record_key(self, owner: str, key: str) -> str:
        return f"{self.base}{owner}:{key}"

    async def respond(
        self,
        request: Request[Any, Any, Any],
        *,
        owner: str,
        data: Any,
        new_id: str,
        start: Start,
        resume: Resume,
        required: bool = True,
    ) -> Response[bytes]:
        """Run a mutating command at most once per key: ``start(resource_id)`` does it, ``resume(resource_id)``
        answers from a resource an earlier attempt started (or None if it never got that far)."""
        key = parse_key(request.headers.getall(HEADER, []), required=required)
        if key is None:
            return (await start(new_id)).response()
        route = request.scope.get("path_template") or request.url.path
        record = self.record_key(owner, key)
        holder = os.urandom(8).hex()
        now = clock.now_ms()
        reply = await self._begin(
            keys=[record],
            args=[
                fingerprint(request.method, route, owner, data),
                new_id,
                now,
                now + self.inflight_ms,
                self.ttl_ms,
                holder,
            ],
        )
        outcome, resource_id = reply[0].decode(), reply[1].decode()
        if outcome == "mismatch":
            raise ProblemError("idempotency-key-reused", f"this {HEADER} was first used with a different request")
        if outcome == "done":
            status, location, media, body = reply[2:6]
            return Stored(int(status), location.decode(), media.decode(), body).response()
        if outcome == "inflight":
            # Most first requests answer within a second: ask for a retry then, not when the first one's lease
            # would run out (up to its whole TTL), which is only when a dead first attempt can be taken over.
            leased_s = max(1, math.ceil((int(reply[2]) - now) / 1000))
            raise ProblemError(
                "request-in-flight",
                f"the first request with this {HEADER} is still being processed; retry after it completes",
                retry_after=min(INFLIGHT_RETRY_S, leased_s),
            )
        return (
            await self._run(record, holder, resource_id, start, resume if outcome == "takeover" else None)
        ).response()

    async def _run(self, record: str, holder: str, resource_id: str, start: Start, resume: Resume | None) -> Stored:
        done = asyncio.Event()
        renewing = asyncio.create_task(self._keep_alive(record, holder, done))
        try:
            stored = await resume(resource_id) if resume is not None else None
            if stored is None:
                stored = await start(resource_id)
        except BaseException:
            await stop_helper(done, renewing)
            with suppress(RedisConnectionError, RedisTimeoutError):  # Redis away: the lease lapses on its own
                await asyncio.shield(self._lapse(keys=[record], args=[holder]))
            raise
        await stop_helper(done, renewing)
        if stored.status >= 500:
            # Not an answer to keep: the next request with this key resumes the resource at once.
            await self._lapse(keys=[record], args=[holder])
        else:
            await self._complete(
                keys=[record],
                args=[holder, stored.status, stored.location, stored.media_type, stored.body, self.ttl_ms],
            )
        return stored

    async def _keep_alive(self, record: str, holder: str, done: asyncio.Event) -> None:
        while not await wait_until_set(done, self.inflight_ms / 3000):
            until = clock.now_ms() + self.inflight_ms
            try:
                if not await self._renew(keys=[record], args=[holder, until]):
                    return
            except (RedisConnectionError, RedisTimeoutError):
                if outage.cancelled():
                    raise asyncio.CancelledError from None
                # Redis away: the lease may lapse, and a replay then resumes what this started.
