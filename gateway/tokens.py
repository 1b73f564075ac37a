"""RFC 9068 JWT access tokens: what the gateway's authorization server (and ``omnigate token``) mints.

Signing goes through joserfc (authlib's own JOSE library; ``authlib.jose`` and authlib's RFC 9068 generator built
on it are deprecated). The keys are the gateway's kernel key ring (shared/signing.py), made RS256. Checking a token
is gateway/access.py's (:class:`gateway.access.AccessTokens`): one way to check our tokens and other issuers'.

Besides RFC 9068's claims a token carries who the caller is to Omnigate: ``channel`` (web, mobile, partner), and
``customer_id`` (a shopper's token), ``partner_id`` (a partner's client) and ``plan`` when there are any.
"""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import Key
from redis.asyncio import Redis

from gateway.settings import GatewaySettings
from shared.identity import algorithm_of
from shared.signing import KeyRing

ALGORITHM = "RS256"  # what the gateway's ring generates and the only algorithm the check accepts of ours
SIGNER = "gateway"  # the gateway's name as a signer: its key ring and its published keys

AUDIENCE = "omnigate"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1


def mint(
    key: Key,
    *,
    issuer: str,
    client_id: str,
    scope: str,
    ttl_s: int,
    now: int,
    channel: str,
    subject: str | None = None,
    customer_id: str | None = None,
    partner_id: str | None = None,
    plan: str | None = None,
) -> str:
    """A signed access token (RFC 9068 §2.2) for ``client_id`` on ``channel``; ``now`` in epoch seconds; ``sub``
    is ``subject`` (a shopper) or the client itself (``client_credentials``, RFC 9068 §2.2)."""
    if algorithm_of(key) != ALGORITHM:
        raise ValueError(f"access tokens are signed {ALGORITHM}, not {algorithm_of(key)}")
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject or client_id,
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(16),
        "channel": channel,
    }
    optional = {"customer_id": customer_id, "partner_id": partner_id, "plan": plan}
    claims.update({name: value for name, value in optional.items() if value is not None})
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


def keyring(redis: Redis, settings: GatewaySettings) -> KeyRing:
    """The gateway's kernel key ring: a retired key stays published until every token it signed has expired."""
    keep_s = settings.gateway_token_ttl_s + settings.gateway_leeway_s
    return KeyRing(redis, settings.key_prefix, SIGNER, keep_s=keep_s, alg=ALGORITHM)
