"""RFC 9068 JWT access tokens: what the gateway's authorization server mints, and the check that reads them.

Signing and checking go through joserfc (authlib's own JOSE library; ``authlib.jose`` and authlib's RFC 9068
generator built on it are deprecated). The keys are the gateway's kernel key ring (shared/signing.py), made RS256. The check is the one every consumer of our tokens needs: RS256 only
(no ``none``, no HMAC, so a public key can never be used as an HMAC secret), ``typ`` ``at+jwt``, the issuer,
the audience (a string or an array holding ours), ``exp``/``nbf``/``iat`` with a small leeway.
"""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from redis.asyncio import Redis

from gateway.settings import GatewaySettings
from shared.identity import algorithm_of
from shared.signing import KeyRing

ALGORITHM = "RS256"  # what the gateway's ring generates and the only algorithm the check accepts
SIGNER = "gateway"  # the gateway's name as a signer: its key ring and its published keys

AUDIENCE = "omnigate"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1


class InvalidToken(Exception):
    """The token is not one we accept; the message says why (for logs, never for the caller)."""


def mint(
    key: Key,
    *,
    issuer: str,
    client_id: str,
    scope: str,
    ttl_s: int,
    now: int,
    subject: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed access token (RFC 9068 §2.2) for ``client_id``; ``now`` in epoch seconds."""
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
        **(extra or {}),
    }
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


def keyring(redis: Redis, settings: GatewaySettings) -> KeyRing:
    """The gateway's kernel key ring: a retired key stays published until every token it signed has expired."""
    keep_s = settings.gateway_token_ttl_s + settings.gateway_leeway_s
    return KeyRing(redis, settings.key_prefix, SIGNER, keep_s=keep_s, alg=ALGORITHM)


def verify(token: str, keys: KeySet, *, issuer: str, leeway_s: int, now: int | None = None) -> dict[str, Any]:
    """The claims of a valid access token of ours, or :class:`InvalidToken`."""
    try:
        decoded = jwt.decode(token, keys, algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise InvalidToken(f"not a token signed by a published key: {exc}") from exc
    if decoded.header.get("typ") != TOKEN_TYPE:
        raise InvalidToken(f"typ is {decoded.header.get('typ')!r}, not {TOKEN_TYPE!r}")
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway_s,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        sub={"essential": True},
        client_id={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise InvalidToken(f"claims refused: {exc}") from exc
    return decoded.claims


def scopes(claims: dict[str, Any]) -> frozenset[str]:
    value = claims.get("scope", "")
    return frozenset(value.split()) if isinstance(value, str) else frozenset()
