"""Wiring of ``gateway``: the edge of the estate. Its own routes are the embedded OAuth 2.0 authorization server
(token endpoint, JWKS, RFC 8414 metadata); every other public path is an entry of gateway/routes.toml, forwarded
to its upstream by gateway/proxy.py behind the route's policies, with one access-log line per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.cors import CORSConfig
from redis.asyncio import Redis

from gateway import contracts, purge, routes, routing
from gateway.access import AccessTokens
from gateway.authorization import TokenEndpoint, TokenServer
from gateway.cache import ResponseCache
from gateway.clients import ClientStore
from gateway.deps import WIRING, Parts
from gateway.edge import GatewayEdge
from gateway.identities import CallerIdentities
from gateway.keys import Keys
from gateway.partners import PartnerKeys
from gateway.plans import load as load_limits
from gateway.ratelimit import Limiter
from gateway.settings import GatewaySettings
from gateway.tokens import keyring
from shared.background import in_background
from shared.clock import worker_id
from shared.events import Consumer, EventBus
from shared.service import create_service
from shared.settings import get_settings

NAME = "gateway"


def create_app(settings: GatewaySettings | None = None) -> Litestar:
    settings = settings or get_settings(GatewaySettings)
    table = routing.load(Path(settings.gateway_routes_file) if settings.gateway_routes_file else routing.DEFAULT_FILE)
    limits = load_limits(settings.gateway_limits_file)  # a bad limits file stops the start

    @asynccontextmanager
    async def authorization_lifespan(app: Litestar) -> AsyncIterator[None]:
        for upstream in sorted(table.upstreams):
            settings.url_for(upstream)  # every upstream of the table is configured, or the start fails naming it
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
        limiter = Limiter(settings.redis_url, prefix=settings.key_prefix)
        # The response cache's own client: a cache Redis that is slow or away costs a request at most this long
        # before it is answered from upstream.
        cache_redis = Redis.from_url(settings.cache_url, socket_connect_timeout=0.5, socket_timeout=0.5)
        cache = ResponseCache(
            cache_redis, prefix=settings.key_prefix, shares_state=settings.cache_url == settings.redis_url
        )
        try:
            WIRING.keep(
                app.state,
                Parts(
                    token_endpoint=TokenEndpoint(server, clients, ring),
                    token_server=server,
                    keyring=ring,
                    access_tokens=access,
                    upstreams=app.state.http,
                    partner_keys=PartnerKeys(
                        app.state.redis, keys, pepper=settings.gateway_client_secret_pepper, plans=limits.plans
                    ),
                    limits=limits,
                    limiter=limiter,
                    identities=CallerIdentities(
                        ring, ttl_s=settings.gateway_identity_ttl_s, refresh_s=settings.gateway_identity_refresh_s
                    ),
                    trusted_proxies=settings.gateway_trusted_proxies,
                    cache=cache,
                    docs_script_url=settings.gateway_docs_script_url,
                ),
            )
            yield
        finally:
            await access.aclose()
            await limiter.aclose()
            await cache_redis.aclose()

    return create_service(
        NAME,
        [*routes.ROUTES, *contracts.ROUTES],
        title="Gateway",
        description="The edge of Omnigate. Its embedded OAuth 2.0 authorization server issues RFC 9068 JWT access "
        "tokens to registered clients (`client_credentials`, RFC 6749 §4.4), publishes its signing keys as a JWK "
        "Set and describes itself with RFC 8414 metadata. The token endpoint answers errors in RFC 6749 §5.2's "
        "JSON shape (not problem+json), as OAuth clients expect.",
        lifespan=[authorization_lifespan, in_background("gateway-cache-purge", purges)],
        settings=settings,
        dependencies=WIRING.dependencies,
        wrappers=[GatewayEdge.wrapper(table)],
        cors=cors_policy(settings),
    )


async def purges(app: Litestar) -> None:
    """This worker's member of the cache's purge group (gateway/purge.py), until the gateway stops."""
    settings: GatewaySettings = app.state.settings
    consumer = Consumer(
        EventBus(app.state.redis, prefix=settings.key_prefix, service=NAME),
        group=purge.GROUP,
        name=worker_id(),
        domains=purge.DOMAINS,
        handler=purge.Purger(WIRING.of(app.state).cache).handle,
        start_id="$",
        block_ms=500,
    )
    await consumer.run(app.state.stop)


def cors_policy(settings: GatewaySettings) -> CORSConfig | None:
    """The configured web shops may call the gateway from a browser: bearer tokens (no cookies), the headers
    an API client sends, and the answer headers it needs to read (limits, retry hints, ETags, correlation)."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "X-Request-ID"],
        expose_headers=["RateLimit", "RateLimit-Policy", "Retry-After", "ETag", "Location", "X-Request-ID"],
        allow_credentials=False,
        max_age=600,
    )
