"""Wiring of ``gateway``: the edge of the estate. This first part is the embedded OAuth 2.0 authorization server
(token endpoint, JWKS, RFC 8414 metadata); routing to the experience APIs and its policies come next."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from gateway import routes
from gateway.access import AccessTokens
from gateway.authorization import TokenEndpoint, TokenServer
from gateway.clients import ClientStore
from gateway.deps import WIRING, Parts
from gateway.keys import Keys
from gateway.settings import GatewaySettings
from gateway.tokens import keyring
from shared.service import create_service
from shared.settings import get_settings

NAME = "gateway"


def create_app(settings: GatewaySettings | None = None) -> Litestar:
    settings = settings or get_settings(GatewaySettings)

    @asynccontextmanager
    async def authorization_lifespan(app: Litestar) -> AsyncIterator[None]:
        keys = Keys(settings.key_prefix)
        ring = keyring(app.state.redis, settings)
        # Every worker and replica makes sure of the one key set before it serves (SET NX: one wins the race),
        # and publishes its public keys for the layers below (the same JWKS from every worker: idempotent).
        await ring.published()
        server = TokenServer(
            issuer=settings.gateway_issuer,
            ttl_s=settings.gateway_token_ttl_s,
            pepper=settings.gateway_client_secret_pepper,
        )
        clients = ClientStore(app.state.redis, keys, pepper=settings.gateway_client_secret_pepper)
        # The check of access tokens (ours and the configured external issuers'): built here so that a bad
        # issuers file stops the start; the request pipeline uses it from Parts.
        access = AccessTokens.build(settings, ring)
        try:
            WIRING.keep(app.state, Parts(TokenEndpoint(server, clients, ring), server, ring, access))
            yield
        finally:
            await access.aclose()

    return create_service(
        NAME,
        routes.ROUTES,
        title="Gateway",
        description="The edge of Omnigate. Its embedded OAuth 2.0 authorization server issues RFC 9068 JWT access "
        "tokens to registered clients (`client_credentials`, RFC 6749 §4.4), publishes its signing keys as a JWK "
        "Set and describes itself with RFC 8414 metadata. The token endpoint answers errors in RFC 6749 §5.2's "
        "JSON shape (not problem+json), as OAuth clients expect.",
        lifespan=[authorization_lifespan],
        settings=settings,
        dependencies=WIRING.dependencies,
    )
