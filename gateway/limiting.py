"""The gateway's rate-limit policy: each request counts against the limits its routes.toml entry names, exactly
across every worker and replica (gateway/ratelimit.py: `limits`' moving window in the state Redis).

``ip`` is counted before the credential is checked (so guessing tokens or keys from one address is limited
too); ``shopper`` (web and mobile customers) and ``plan`` (the partner's plan, from its API key or OAuth client;
a client acting for nobody has the plain client limit) after it. Every limited answer carries ``RateLimit-Policy``
and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers-11), refusals included; a refusal is 429 problem+json with
``Retry-After``.

When the counters cannot be reached (Redis away), the route's explicit choice applies (``when_limits_down`` in
routes.toml; reads open, writes closed by default): ``open`` serves the request unlimited and says so in the
access log (``limit`` = ``unlimited``), ``closed`` answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from gateway import exchange, ratelimit
from gateway.deps import Parts, parts_of
from gateway.plans import Policy, UnknownPlan
from gateway.routing import LimitKind, Route
from shared.problems import ProblemError

log = logging.getLogger("omnigate.gateway.limits")
RETRY_AFTER_S = 1


class Limit(ASGIMiddleware):
    """Route middleware counting the request against the route's limits of ``kinds``."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, kinds: Sequence[LimitKind]) -> None:
        self.kinds = frozenset(kinds)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        current, route = exchange.enter(scope)
        wanted = [kind for kind in route.limits if kind in self.kinds]
        if wanted and current.limit != "unlimited":
            parts = parts_of(scope)
            try:
                counted = [_policy(parts, route, kind, scope, current) for kind in wanted]
                current.decisions += await parts.limiter.hit_all(counted, route.cost)
                if not all(d.allowed for d in current.decisions):
                    current.limit = "refused"
                    raise ratelimit.too_many_requests(current.decisions)
                current.limit = "ok"
            except ratelimit.LimitsUnavailable as exc:
                if not route.fails_open:
                    current.limit = "unavailable"
                    raise ProblemError(
                        "service-unavailable",
                        "the rate-limit counters cannot be reached; this route is not served unlimited",
                        retry_after=RETRY_AFTER_S,
                    ) from exc
                log.warning("route %s served unlimited: %s", route.name, exc)
                current.limit = "unlimited"
            finally:
                current.headers.update(ratelimit.headers(current.decisions))
        await next_app(scope, receive, send)


def _policy(
    parts: Parts, route: Route, kind: LimitKind, scope: Scope, current: exchange.Exchange
) -> tuple[Policy, str]:
    """The policy and subject a request counts against for one kind of limit."""
    if kind == "ip":
        channel = route.channel if route.channel in ("web", "mobile") else "web"
        return parts.limits.ip(channel), f"ip:{client_ip(scope, parts.trusted_proxies)}"
    caller = current.caller
    if caller is None:
        raise RuntimeError(f"route {route.name}: a {kind} limit needs the caller (authenticate first)")
    if kind == "shopper":
        return parts.limits.shopper(caller.channel), caller.consumer
    if caller.plan is None:
        return parts.limits.client, caller.consumer
    try:
        return parts.limits.plan(caller.plan), caller.consumer
    except UnknownPlan:
        # A plan removed from limits.toml while keys still name it: the plain client limit, not none.
        log.warning("plan %s of %s is not in limits.toml; the client limit applies", caller.plan, caller.consumer)
        return parts.limits.client, caller.consumer


def client_ip(scope: Scope, trusted_proxies: int) -> str:
    """The client's address: the peer's, or, behind ``trusted_proxies`` proxies of ours, the address the
    outermost of them saw (the n-th entry from the right of ``X-Forwarded-For``, which a client cannot forge)."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if trusted_proxies <= 0:
        return peer
    chain: list[str] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            chain += [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
    return chain[-trusted_proxies] if len(chain) >= trusted_proxies else peer
