"""The collaborators of the gateway, built once by app.py's lifespan and provided to handlers by type (and to
its request pipeline, gateway/edge.py, by :func:`parts_of`)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar

from gateway.access import AccessTokens
from gateway.authorization import TokenEndpoint, TokenServer
from gateway.cache import ResponseCache
from gateway.identities import CallerIdentities
from gateway.partners import PartnerKeys
from gateway.plans import Limits
from gateway.ratelimit import Limiter
from shared.deps import Wiring
from shared.http import Upstreams
from shared.signing import KeyRing


@dataclass(frozen=True, slots=True)
class Parts:
    token_endpoint: TokenEndpoint
    token_server: TokenServer
    keyring: KeyRing
    access_tokens: AccessTokens
    upstreams: Upstreams  # the kernel's hop client: the experience APIs, and the system APIs for webhooks
    partner_keys: PartnerKeys
    limits: Limits
    limiter: Limiter
    identities: CallerIdentities
    trusted_proxies: int
    cache: ResponseCache  # in the cache Redis (CACHE_REDIS_URL)
    docs_script_url: str  # the API reference renderer /docs/<channel> loads (OMNIGATE_GATEWAY_DOCS_SCRIPT_URL)


WIRING = Wiring("gateway_parts", Parts)


def parts_of(app: Litestar) -> Parts:
    """The gateway's parts, for its request pipeline (an outer ASGI layer, where no dependency injection runs)."""
    return WIRING.of(app.state)
