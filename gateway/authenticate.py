"""The gateway's authentication policy: who the caller is, whether this route is theirs, and the identity the
layers below will see.

Per routes.toml entry (``auth``): ``oauth`` takes an ``Authorization: Bearer`` access token (our own issuer's or a
configured external issuer's, gateway/access.py), ``apikey`` a partner key (``X-API-Key: og_<id>_<secret>``,
gateway/partners.py), ``oauth_or_apikey`` either (a request carrying both is refused: one credential, one
caller), ``none`` neither (back-end webhooks, whose signature the system API checks). The caller must be on the
route's channel and hold its scopes (403 ``insufficient_scope``); a web or mobile route acts for a customer, so a
client token naming none is refused there.

The caller's credential stops here. In its place the gateway mints the internal identity token
(gateway/identities.py) that proxy.py sends below; the access log records the consumer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import msgspec

from gateway.access import REALM, Caller, bearer_of, insufficient_scope
from gateway.deps import Parts
from gateway.partners import HEADER as API_KEY_HEADER
from gateway.routing import Route
from shared.identity import Identity, forbidden, missing, refused

# What a partner API key may do: everything the partner channel offers (its routes still ask for their scopes).
PARTNER_KEY_SCOPES = frozenset({"catalog:read", "availability:read", "orders:read", "orders:write", "returns:write"})
_AUTHORIZATION = b"authorization"
_API_KEY = API_KEY_HEADER.lower().encode()


async def authenticate(parts: Parts, route: Route, headers: Iterable[tuple[bytes, bytes]]) -> Caller:
    """The caller of an authenticated ``route``, from the request's ASGI ``headers``, checked for the route's
    channel and scopes. 401 (RFC 6750 ``WWW-Authenticate``) without a valid credential, 403 otherwise."""
    caller = await _caller(parts, route, headers)
    _check(caller, route)
    return caller


async def identity_token(parts: Parts, caller: Caller) -> str:
    """The internal identity token the layers below receive for ``caller`` (from the minter's LRU)."""
    return await parts.identities.token(_identity(caller))


async def _caller(parts: Parts, route: Route, headers: Iterable[tuple[bytes, bytes]]) -> Caller:
    bearer = api_key = None
    for name, value in headers:
        if name == _AUTHORIZATION:
            bearer = bearer_of(value.decode("latin-1"))
            if bearer is None:  # another scheme (Basic...) is not a credential here
                raise refused("the Authorization header is not a Bearer token", realm=REALM)
        elif name == _API_KEY:
            api_key = value.decode("latin-1")
    if bearer is not None and api_key is not None:
        raise refused("send one credential: an access token or an API key, not both", realm=REALM)
    if api_key is not None and route.auth in ("apikey", "oauth_or_apikey"):
        key = await parts.partner_keys.authenticate(api_key)
        return Caller(
            issuer="apikey",
            sub=key.partner_id,
            channel="partner",
            partner_id=key.partner_id,
            client_id=key.key_id,
            scopes=PARTNER_KEY_SCOPES,
            plan=key.plan,
        )
    if route.auth == "apikey":
        raise missing(API_KEY_HEADER, realm=REALM)
    return await parts.access_tokens.verify(bearer)


def _check(caller: Caller, route: Route) -> None:
    if caller.channel != route.channel:
        raise insufficient_scope(
            f"this route is for the {route.channel} channel; the credential is a {caller.channel} caller's",
            scope=" ".join(route.scopes),
        )
    caller.require(route.scopes)
    if route.channel in ("web", "mobile") and caller.customer_id is None:
        raise forbidden(
            "this route acts for a customer; the token names none (a shopper's token is needed)",
            scope=" ".join(route.scopes),
            realm=REALM,
        )


@functools.lru_cache(maxsize=10_000)
def _identity(caller: Caller) -> Identity:
    """The internal identity of ``caller`` (validated: an id the layers below would refuse is refused here);
    kept per caller like the tokens it keys (a caller is immutable), so the hot path converts nothing."""
    try:
        return msgspec.convert(
            {
                "sub": caller.sub,
                "channel": caller.channel,
                "customer_id": caller.customer_id if caller.channel != "partner" else None,
                "partner_id": caller.partner_id,
                "scopes": sorted(caller.scopes),
            },
            Identity,
        )
    except (msgspec.ValidationError, ValueError) as exc:
        raise forbidden(f"this caller's identifiers cannot be carried below the gateway: {exc}", realm=REALM) from exc
