"""The gateway's rate-limit policy: each request counts against the limits its routes.toml entry names, exactly
across every worker and replica (gateway/ratelimit.py: `limits`' moving window in the state Redis).

``ip`` counts every request, a refused credential's too (so guessing tokens or keys from one address is limited);
``shopper`` (web and mobile customers) and ``plan`` (the partner's plan, from its API key or OAuth client; a
client acting for nobody has the plain client limit) count an accepted caller's. A request's limits are counted
together, in one round trip after its credential was checked (all of them spent, or none when one refuses): the
credential check costs no round trip on the hot path (the validated-token LRU), and the benchmark measured the
separate client-IP round trip at 0.4 ms of the gateway's added latency. Every limited answer carries ``RateLimit-Policy``
and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers-11), refusals included; a refusal is 429 problem+json with
``Retry-After``.

When the counters cannot be reached (Redis away), the route's explicit choice applies (``when_limits_down`` in
routes.toml; reads open, writes closed by default): ``open`` serves the request unlimited and says so in the
access log (``limit`` = ``unlimited``), ``closed`` answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging

from litestar.types import HTTPScope

from gateway import partners, ratelimit
from gateway.access import Caller
from gateway.deps import Parts
from gateway.exchange import Exchange
from gateway.plans import Policy, UnknownPlan
from gateway.routing import LimitKind, Route
from shared.outage import Outage
from shared.problems import ProblemError

log = logging.getLogger("omnigate.gateway.limits")
RETRY_AFTER_S = 1
# Logged once per outage (shared.outage), not per request.
COUNTERS = Outage(
    "the rate-limit counters (state Redis)",
    "fail-open routes are served unlimited, the others answer 503, until they are back",
)


async def count(
    parts: Parts, route: Route, scope: HTTPScope, current: Exchange, caller: Caller | None, *, read: str | None = None
) -> tuple[bytes | None, int] | None:
    """Count the request against the route's limits in one round trip: all of them for an accepted ``caller``,
    only the client-IP limit for a request whose credential was refused (``caller`` None), so that guessing
    tokens or keys from one address is limited too. Records the decisions and their headers on ``current``;
    429 problem+json when a limit is spent, 503 when the counters are away on a route that fails closed.

    ``read``: a key of the state Redis to read in the same round trip (a response cache entry); its value and
    the Redis clock are returned (None when nothing was counted or the counters were away)."""
    wanted = [kind for kind in route.limits if caller is not None or kind == "ip"]
    # A partner API key from a worker's LRU may have been revoked since: its state is checked in the same round
    # trip (gateway/partners.py), or on its own when the route counts no limit.
    key_id = caller.client_id if caller is not None and caller.issuer == "apikey" else None
    if not wanted:
        if key_id is not None:
            await parts.partner_keys.check_active(key_id)
        return None
    guard = parts.partner_keys.guard_key(key_id) if key_id is not None else None
    try:
        counted = [_policy(parts, route, kind, scope, caller) for kind in wanted]
        try:
            current.decisions, prefetched = await parts.limiter.hit_and_read(counted, route.cost, read, guard=guard)
            COUNTERS.up()
        except ratelimit.GuardRefused:
            COUNTERS.up()
            assert key_id is not None
            parts.partner_keys.forget(key_id)
            raise await refused_credential(parts, route, scope, current, partners.refused()) from None
        current.headers.update(ratelimit.headers(current.decisions))
        if not all(d.allowed for d in current.decisions):
            current.limit = "refused"
            raise ratelimit.too_many_requests(current.decisions)
        current.limit = "ok"
        return prefetched
    except ratelimit.LimitsUnavailable as exc:
        COUNTERS.down(exc)
        if not route.fails_open or guard is not None:  # a key whose revocation cannot be checked is not served
            current.limit = "unavailable"
            what = "the API key's state and the rate-limit counters" if guard is not None else "the rate-limit counters"
            raise ProblemError(
                "service-unavailable",
                f"{what} cannot be reached; this request is not served unchecked",
                retry_after=RETRY_AFTER_S,
            ) from exc
        current.limit = "unlimited"  # the access log says so, request by request
        return None


async def refused_credential(
    parts: Parts, route: Route, scope: HTTPScope, current: Exchange, refusal: ProblemError
) -> ProblemError:
    """The answer to a request whose credential was refused (``refusal``, a 401 or 403): its client-IP limit is
    counted alone, so guessing tokens or keys from one address is limited too; the 429 when that limit is spent,
    else ``refusal``."""
    try:
        await count(parts, route, scope, current, None)
    except ProblemError as limited:
        if limited.status == 429:
            limited.__cause__ = refusal
            return limited
    return refusal


def _policy(parts: Parts, route: Route, kind: LimitKind, scope: HTTPScope, caller: Caller | None) -> tuple[Policy, str]:
    """The policy and subject a request counts against for one kind of limit."""
    if kind == "ip":
        channel = route.channel if route.channel in ("web", "mobile") else "web"
        return parts.limits.ip(channel), f"ip:{client_ip(scope, parts.trusted_proxies)}"
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


def client_ip(scope: HTTPScope, trusted_proxies: int) -> str:
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
