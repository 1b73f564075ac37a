"""OAuth clients of the embedded authorization server, in the state Redis (``omnigate clients create``).

A client secret is shown once, at creation, and stored as HMAC-SHA256(pepper, secret). Why an HMAC and not a
password hash (bcrypt, scrypt, argon2): the secret is 256 random bits made by us, not a human-chosen password, so
there is nothing for a slow hash to protect against (no dictionary, no brute force of 2^256); a password hash
would cost tens of milliseconds of CPU on every token request, a cheap denial of service on the token endpoint.
The HMAC's key (the pepper, from the Secret, never in Redis) means a copy of Redis alone does not even let one
check a guessed secret. Partner API keys are stored the same way (DESIGN §5).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec
from redis.asyncio import Redis

from gateway.keys import Keys
from shared.clock import now_ms

# DESIGN §5: the scopes our tokens may carry.
SCOPES = ("catalog:read", "availability:read", "orders:read", "orders:write", "returns:write", "ops:read")
CLIENT_ID_PREFIX = "ogc_"


CHANNELS = ("web", "mobile", "partner")


class UnknownScope(ValueError):
    pass


class OAuthClient(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    name: str
    scopes: list[str]
    secret_hmac: str  # hex HMAC-SHA256(pepper, secret)
    created_at_ms: int
    partner: str | None = None
    channel: str | None = None  # web or mobile for a client without a partner (absent: web)
    plan: str | None = (
        None  # a partner plan of limits.toml (gateway/plans.py), carried by its tokens (``plan`` claim); None: the plain client limit
    )

    @property
    def caller_channel(self) -> str:
        """The channel its tokens carry: a partner's client is always ``partner``; else ``web`` or ``mobile``."""
        return "partner" if self.partner else self.channel or "web"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OAuthClient)


def secret_hmac(pepper: str, secret: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(client: OAuthClient, pepper: str, secret: str) -> bool:
    return hmac.compare_digest(client.secret_hmac, secret_hmac(pepper, secret))


def parse_scopes(text: str) -> list[str]:
    """A space-separated scope list (RFC 6749 §3.3), each one of DESIGN §5's, without repeats, in that order."""
    wanted = text.split()
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise UnknownScope(f"unknown scope(s) {', '.join(unknown)}; known: {' '.join(SCOPES)}")
    if not wanted:
        raise UnknownScope("a client needs at least one scope")
    return [s for s in SCOPES if s in wanted]


class ClientStore:
    def __init__(self, redis: Redis, keys: Keys, *, pepper: str) -> None:
        if not pepper:
            raise ValueError("no client secret pepper configured: set OMNIGATE_GATEWAY_CLIENT_SECRET_PEPPER")
        self.redis = redis
        self.keys = keys
        self.pepper = pepper

    async def create(
        self,
        *,
        name: str,
        scopes: str,
        partner: str | None = None,
        channel: str | None = None,
        plan: str | None = None,
    ) -> tuple[OAuthClient, str]:
        """A new client and its secret (the only time the secret exists outside the caller's hands). A client
        with a ``partner`` is on the partner channel; one without is on ``channel`` (web or mobile, default web)."""
        if partner and channel not in (None, "partner"):
            raise ValueError(f"a partner's client is on the partner channel, not {channel}")
        if not partner and channel not in (None, "web", "mobile"):
            raise ValueError(f"a client without a partner is on the web or mobile channel, not {channel}")
        if plan and not partner:
            raise ValueError("a plan is a partner's: give the partner the client acts for")
        secret = secrets.token_urlsafe(32)
        client = OAuthClient(
            client_id=CLIENT_ID_PREFIX + secrets.token_hex(12),
            name=name,
            scopes=parse_scopes(scopes),
            secret_hmac=secret_hmac(self.pepper, secret),
            created_at_ms=now_ms(),
            partner=partner or None,
            channel="partner" if partner else channel or "web",
            plan=plan or None,
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.client(client.client_id), _encoder.encode(client), nx=True)
            pipe.sadd(self.keys.clients, client.client_id)
            stored, _ = await pipe.execute()
        if not stored:  # 96 random bits collided: never in practice, but never overwrite a client either
            raise RuntimeError(f"client id {client.client_id} already exists")
        return client, secret

    async def get(self, client_id: str) -> OAuthClient | None:
        if not client_id.startswith(CLIENT_ID_PREFIX) or len(client_id) > 64:
            return None
        raw = await self.redis.get(self.keys.client(client_id))
        return None if raw is None else _decoder.decode(raw)
