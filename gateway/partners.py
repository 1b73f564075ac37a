"""Partner API keys (DESIGN §5): ``X-API-Key: og_<key id>_<secret>``, issued by ``omnigate partners``.

A key is shown once, at creation. The state Redis holds, per key id, a hash of: the partner, the plan (the plan
belongs to the key), the state (``active`` or ``revoked``), the creation time and HMAC-SHA256(pepper, secret) —
for the reasons clients.py gives for client secrets (a 256-bit random secret needs no slow password hash; the
pepper, never in Redis, makes a Redis dump useless for checking a guess). The pepper is the OAuth clients' one
(``OMNIGATE_GATEWAY_CLIENT_SECRET_PEPPER``): one server secret for the gateway's stored credentials, with the
HMAC's message domain-separated (``og-partner-key:<key id>:<secret>``) so a partner key's HMAC can never stand
for a client secret's, and bound to its key id.

A partner has at most two live keys, so a key can be rotated without downtime: ``rotate`` issues a second key
with the plan of the live one, the partner switches, then ``revoke`` ends the old one (refused at once: the
next request with it is a 401, as every worker reads the key's state from Redis on each request).

Issuing is one Lua script (partner_issue.lua): it counts the partner's live keys, takes the plan of the live one
for a rotation, and writes the key, all atomically, so two racing ``rotate`` runs cannot leave three live keys
(the second sees two and is refused). Why a script rather than WATCH/MULTI: no retry loop, one round trip, and
every key it touches is declared; to find a rotation's plan without reading a key named only inside the script,
the partner's live keys are a hash of key id -> plan. Revoking writes the key's state and removes it from that
hash in one MULTI.

``authenticate`` is on the request path, with one answer (401, nothing said about why) for every bad key —
malformed, unknown id, wrong secret, revoked — and a constant-time compare of the secret's HMAC. A key's partner,
plan and secret never change (only its state does), so a worker keeps the records of the keys it accepted in an
LRU and reads Redis only for a key it has not seen (one HGETALL); the state, which revocation changes, is checked
on every request by the limits' Lua call in the same round trip that counts the request (``guard_key``,
gateway/limiting.py), so a partner request costs one round trip, and a revoked key is still refused at once.
"""

from __future__ import annotations

import builtins
import re
import secrets
from collections.abc import Collection
from pathlib import Path
from typing import Literal

import msgspec
from cachetools import LRUCache
from redis.asyncio import Redis

from gateway.clients import secret_hmac
from gateway.keys import Keys
from gateway.plans import UnknownPlan, check_plan_name
from shared import scripts
from shared.clock import now_ms
from shared.problems import ProblemError
from shared.replies import fields, lua_text, text

HEADER = "X-API-Key"
PREFIX = "og_"
MAX_LIVE = 2
PARTNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # within the identity token's partner_id (shared/identity.py)
_PARTNER = re.compile(PARTNER_PATTERN)
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
# og_ + 16 hex digits (64 random bits) + _ + secrets.token_urlsafe(32) (43 characters, 256 random bits).
_PRESENTED = re.compile(r"^og_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_PRESENTED_MAX = 3 + 16 + 1 + 43
# Compared against when the key id is unknown, so that an unknown id costs what a wrong secret costs.
_NO_HMAC = "0" * 64

State = Literal["active", "revoked"]


class PartnerKeyError(ValueError):
    """An operator's request about partner keys that cannot be done; the message says why and what to do."""


class PartnerKey(msgspec.Struct, frozen=True, kw_only=True):
    """A partner API key without its secret: ``created_ms``/``revoked_ms`` are Unix epoch milliseconds."""

    key_id: str
    partner_id: str
    plan: str
    state: State
    created_ms: int
    revoked_ms: int | None = None


class _Stored(PartnerKey, frozen=True, kw_only=True):
    secret_hmac: str  # hex HMAC-SHA256(pepper, "og-partner-key:<key id>:<secret>")

    def public(self) -> PartnerKey:
        return msgspec.convert(msgspec.to_builtins(self), PartnerKey, from_attributes=False)


def refused() -> ProblemError:
    """401 for any API key we do not accept; the same words whatever was wrong with it (nothing to learn)."""
    return ProblemError(
        "unauthorized",
        f"the {HEADER} is not valid",
        headers={"WWW-Authenticate": 'ApiKey realm="omnigate"'},
        in_doubt=False,
    )


def check_partner_id(partner_id: str) -> str:
    if not _PARTNER.match(partner_id):
        raise PartnerKeyError(f"a partner id matches {PARTNER_PATTERN}, not {partner_id!r}")
    return partner_id


class PartnerKeys:
    """The partner API keys in the state Redis (``redis``, never decoding replies), named by ``keys``.

    ``pepper`` is the HMAC key of stored secrets; ``plans`` the plan names limits.toml defines (a key's plan must
    be one of them when it is issued)."""

    def __init__(self, redis: Redis, keys: Keys, *, pepper: str, plans: Collection[str]) -> None:
        if not pepper:
            raise ValueError("no secret pepper configured: set OMNIGATE_GATEWAY_CLIENT_SECRET_PEPPER")
        self.redis = redis
        self.keys = keys
        self.pepper = pepper
        self.plans = frozenset(plans)
        self._issue_script = scripts.load(redis, Path(__file__).with_name("partner_issue.lua"))
        # key id -> its record as read while active (the state in it is not current: see guard_key)
        self._accepted: LRUCache[str, _Stored] = LRUCache(maxsize=10_000)

    def _hmac(self, key_id: str, secret: str) -> str:
        return secret_hmac(self.pepper, f"og-partner-key:{key_id}:{secret}")

    async def create(self, partner_id: str, plan: str) -> tuple[PartnerKey, str]:
        """A new live key of ``plan`` for ``partner_id`` and the full key string (``og_<key id>_<secret>``, shown
        this once). A partner with one live key may get a second (e.g. on another plan, to move to it); with two,
        :class:`PartnerKeyError` (revoke one first). :class:`~gateway.plans.UnknownPlan` for a plan limits.toml
        does not define."""
        check_partner_id(partner_id)
        if check_plan_name(plan) not in self.plans:
            raise UnknownPlan(f"unknown plan {plan!r}; limits.toml defines: {', '.join(sorted(self.plans))}")
        return await self._issue(partner_id, plan)

    async def rotate(self, partner_id: str) -> tuple[PartnerKey, str]:
        """A second live key with the plan of the partner's live one (both stay live until one is revoked).
        :class:`PartnerKeyError` if the partner has no live key (create one) or already has two (revoke one)."""
        check_partner_id(partner_id)
        return await self._issue(partner_id, None)

    async def _issue(self, partner_id: str, plan: str | None) -> tuple[PartnerKey, str]:
        while True:
            key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
            created_ms = now_ms()
            record = {
                "key_id": key_id,
                "partner_id": partner_id,
                "state": "active",
                "created_ms": str(created_ms),
                "secret_hmac": self._hmac(key_id, secret),
            }
            reply = await self._issue_script(
                keys=[
                    self.keys.partner_live(partner_id),
                    self.keys.partner_keys(partner_id),
                    self.keys.partner_key(key_id),
                ],
                args=[key_id, plan or "", MAX_LIVE, *(x for pair in record.items() for x in pair)],
            )
            answer = [lua_text(x) for x in reply]
            if answer[0] == "ok":
                issued = PartnerKey(
                    key_id=key_id, partner_id=partner_id, plan=answer[1], state="active", created_ms=created_ms
                )
                return issued, f"{PREFIX}{key_id}_{secret}"
            if answer[0] == "too-many":
                raise PartnerKeyError(
                    f"partner {partner_id} already has {len(answer) - 1} live keys ({', '.join(sorted(answer[1:]))}): "
                    "revoke one first (omnigate partners revoke --key KEY_ID)"
                )
            if answer[0] == "no-live":
                raise PartnerKeyError(
                    f"partner {partner_id} has no live key to rotate: create one (omnigate partners create)"
                )
            # "exists": 64 random bits collided with an issued key id; never overwrite a key, draw again.

    async def _records(self, key_ids: builtins.list[str]) -> builtins.list[_Stored]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key_id in key_ids:
                pipe.hgetall(self.keys.partner_key(key_id))
            replies = await pipe.execute()
        return [stored for reply in replies if (stored := _decode(reply)) is not None]

    async def revoke(self, key_id: str) -> PartnerKey:
        """Revoke a key (refused from its next request on); revoking a revoked key changes nothing.
        :class:`PartnerKeyError` for a key id that was never issued."""
        record_key = self.keys.partner_key(key_id) if _KEY_ID.match(key_id) else ""
        stored = _decode(await self.redis.hgetall(record_key)) if record_key else None
        if stored is None:
            raise PartnerKeyError(f"no partner key {key_id!r} (omnigate partners list --partner ID shows them)")
        if stored.state == "revoked":
            return stored.public()
        revoked = msgspec.structs.replace(stored, state="revoked", revoked_ms=now_ms())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(record_key, mapping={"state": revoked.state, "revoked_ms": str(revoked.revoked_ms)})
            pipe.hdel(self.keys.partner_live(stored.partner_id), key_id)
            await pipe.execute()
        return revoked.public()

    async def list(self, partner_id: str) -> builtins.list[PartnerKey]:
        """Every key the partner was given, live and revoked, oldest first."""
        check_partner_id(partner_id)
        ids = await self.redis.smembers(self.keys.partner_keys(partner_id))
        found = await self._records(sorted(text(i) for i in ids))
        return [k.public() for k in sorted(found, key=lambda k: (k.created_ms, k.key_id))]

    async def authenticate(self, presented: str) -> PartnerKey:
        """The key ``presented`` (an ``X-API-Key`` value) is, if its secret is right: :func:`refused` (401) for a
        malformed, unknown, wrong or revoked key alike; the secret is compared in constant time.

        A key this worker accepted before is answered from its LRU without a round trip and may have been revoked
        since: the caller must then check its state, with the request's limits (``guard_key`` as the limiter's
        guard) or with :meth:`check_active`. A key read from Redis now was active when read."""
        match = _PRESENTED.match(presented) if len(presented) <= _PRESENTED_MAX else None
        if match is None:
            raise refused()
        key_id, secret = match.groups()
        stored = self._accepted.get(key_id)
        if stored is None:
            stored = _decode(await self.redis.hgetall(self.keys.partner_key(key_id)))
        matches = secrets.compare_digest(stored.secret_hmac if stored else _NO_HMAC, self._hmac(key_id, secret))
        if stored is None or not matches or stored.state != "active":
            raise refused()
        self._accepted[key_id] = stored
        return stored.public()

    def guard_key(self, key_id: str) -> str:
        """The Redis hash whose ``state`` field says whether key ``key_id`` is still active."""
        return self.keys.partner_key(key_id)

    async def check_active(self, key_id: str) -> None:
        """:func:`refused` unless key ``key_id`` is active now (one HGET; for a request that counts no limit)."""
        if text(await self.redis.hget(self.guard_key(key_id), "state") or b"") != "active":
            self.forget(key_id)
            raise refused()

    def forget(self, key_id: str) -> None:
        """Drop a key found no longer active from this worker's LRU (its next request reads Redis again)."""
        self._accepted.pop(key_id, None)


def _decode(reply: object) -> _Stored | None:
    """A key's hash as stored (``None`` if there is no such key)."""
    if not isinstance(reply, dict) or not reply:
        return None
    return msgspec.convert({text(k): text(v) for k, v in fields(reply).items()}, _Stored, strict=False)
