"""``Idempotency-Key`` as the IETF httpapi draft describes it, scoped by owner.

The first request with a key claims it (in flight, with a lease) and its response - status, ``Location``,
media type and body - is stored for 24 h and replayed byte for byte. The same key with a different request
payload (its fingerprint) is refused with 422; a duplicate that arrives while the first is still in flight
gets 409. The lease lets a duplicate take over a key whose first request died with its process (the order it
started is then answered from its current state, the saga having been resumed by the retry worker).
A 5xx answer is not stored: the key is released so the client may retry it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis

from shared.problems import ProblemError, invalid

HEADER = "idempotency-key"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# KEYS: record. ARGV: fingerprint, resource id, now ms, lease-until ms, ttl ms.
_BEGIN = """
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'inflight', 'id', ARGV[2], 'until', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'new', ARGV[2]}
end
local t = {}
for i = 1, #h, 2 do t[h[i]] = h[i + 1] end
if t['fp'] ~= ARGV[1] then return {'mismatch', t['id']} end
if t['state'] == 'done' then return {'done', t['id'], t['status'], t['location'], t['media'], t['body']} end
if tonumber(t['until']) > tonumber(ARGV[3]) then return {'inflight', t['id']} end
redis.call('HSET', KEYS[1], 'until', ARGV[4])
return {'takeover', t['id']}
"""
# KEYS: record. ARGV: id, status, location, media, body, ttl ms.
_COMPLETE = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'location', ARGV[3], 'media', ARGV[4], 'body', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""
# KEYS: record. ARGV: id.
_ABANDON = """
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'inflight' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Stored:
    status: int
    location: str
    media_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Claim:
    """``fresh`` = this request owns the key; ``resource_id`` = the order (or return) the key stands for;
    ``stored`` = the first response, to replay."""

    resource_id: str
    fresh: bool
    stored: Stored | None = None


def require_key(value: str | None) -> str:
    if not value:
        raise invalid("the Idempotency-Key header is required on this request",
                      errors=[{"field": "Idempotency-Key", "detail": "missing"}])
    if not KEY_PATTERN.match(value):
        raise invalid("the Idempotency-Key header must match [A-Za-z0-9._:-]{1,128}",
                      errors=[{"field": "Idempotency-Key", "value": value[:140]}])
    return value


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class Idempotency:
    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int, inflight_s: float) -> None:
        self.redis = redis
        self.base = f"{prefix}omnigate.orders:idem:"
        self.ttl_ms = ttl_s * 1000
        self.inflight_ms = int(inflight_s * 1000)
        self._begin = redis.register_script(_BEGIN)
        self._complete = redis.register_script(_COMPLETE)
        self._abandon = redis.register_script(_ABANDON)

    def key(self, owner: str, key: str) -> str:
        return f"{self.base}{owner}:{key}"

    async def begin(self, owner: str, key: str, fp: str, new_id: str, now_ms: int) -> Claim:
        reply = await self._begin(keys=[self.key(owner, key)],
                                  args=[fp, new_id, now_ms, now_ms + self.inflight_ms, self.ttl_ms])
        outcome = reply[0].decode()
        resource_id = reply[1].decode()
        if outcome == "mismatch":
            raise ProblemError("idempotency-key-reused",
                               "this Idempotency-Key was first used with a different request body")
        if outcome == "inflight":
            raise ProblemError("request-in-flight", "the first request with this Idempotency-Key is still being "
                               "processed; retry after it completes", retry_after=1)
        if outcome == "done":
            status, location, media, body = reply[2:6]
            return Claim(resource_id, False, Stored(int(status), location.decode(), media.decode(), body))
        return Claim(resource_id, True)

    async def complete(self, owner: str, key: str, resource_id: str, stored: Stored) -> None:
        await self._complete(keys=[self.key(owner, key)],
                             args=[resource_id, stored.status, stored.location, stored.media_type, stored.body,
                                   self.ttl_ms])

    async def abandon(self, owner: str, key: str, resource_id: str) -> None:
        await self._abandon(keys=[self.key(owner, key)], args=[resource_id])


def encode(value: object) -> bytes:
    return msgspec.json.encode(value)
