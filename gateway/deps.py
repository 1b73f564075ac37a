"""The collaborators of the gateway, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.access import AccessTokens
from gateway.authorization import TokenEndpoint, TokenServer
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


WIRING = Wiring("gateway_parts", Parts)
