"""Forwarding: the one handler behind every routes.toml entry, sending the request on to its upstream.

The path and query go on unchanged (the channel prefix kept, DESIGN §10) and the body byte for byte, so a
back-end's webhook signature still verifies at the system API. What identifies the caller never goes on: the
caller's ``Authorization``, ``X-API-Key`` and cookies are dropped, and so is any ``X-Omnigate-*`` header a caller
sent (only the gateway speaks for a caller below it: the identity token its authentication policy minted is
added by the hop client). Hop-by-hop headers (RFC 9110 §7.6.1) stay on their hop. ``X-Request-ID`` and
``traceparent`` are the edge's own, carried by the kernel's hop client.

The hop is the kernel's (shared/http.py): the route's timeout, its breaker per upstream per worker (an open one
is a fast 503 problem+json with ``Retry-After``), retries only for routes that allow them (GET/HEAD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from litestar import Request, Response, route
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware

from gateway import exchange
from gateway.routing import RouteTable
from shared.http import Upstreams

# RFC 9110 §7.6.1 hop-by-hop fields, plus what the hop client recomputes (length, host).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# The caller's credentials and correlation never travel below the edge (the edge sends its own).
NOT_FORWARDED = HOP_BY_HOP | {
    "authorization",
    "x-api-key",
    "cookie",
    "x-request-id",
    "traceparent",
    "tracestate",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
}
# The upstream's own correlation and serving headers: the gateway's edge answers with its own.
NOT_RETURNED = HOP_BY_HOP | {"x-request-id", "traceparent", "x-served-by", "server", "date", "set-cookie"}
INTERNAL_PREFIX = "x-omnigate-"


def outbound(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request headers that go on to the upstream (repeated fields joined, RFC 9110 §5.3)."""
    kept: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in NOT_FORWARDED or lower.startswith(INTERNAL_PREFIX):
            continue
        kept[lower] = f"{kept[lower]}, {value}" if lower in kept else value
    return kept


def inbound(headers: Mapping[str, str]) -> dict[str, str]:
    """The upstream's answer headers that go back to the caller."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in NOT_RETURNED or lower == "content-type":
            continue
        kept[lower] = f"{kept[lower]}, {value}" if lower in kept else value
    return kept


async def forward(request: Request[Any, Any, Any], upstreams: NamedDependency[Upstreams]) -> Response[bytes]:
    current, entry = exchange.enter(request.scope)
    query = request.scope["query_string"].decode("latin-1")
    path = request.scope["path"] + (f"?{query}" if query else "")
    body = await request.body()
    answer = await upstreams[entry.upstream].request(
        request.method,
        path,
        content=body or None,
        headers=outbound(request.headers.items()),
        identity=current.identity_token,
        idempotent=entry.retry,
        timeout_s=entry.timeout_s,
    )
    return Response(
        content=answer.body,
        status_code=answer.status,
        headers=inbound(answer.headers),
        media_type=answer.headers.get("Content-Type", "application/octet-stream"),
    )


def handlers(table: RouteTable, policies: Iterable[ASGIMiddleware] = ()) -> list[HTTPRouteHandler]:
    """One forwarding handler per routes.toml entry, guarded by the gateway's policies (outermost first).

    The handlers are internal plumbing: the public contracts are the experience APIs' documents, so the
    gateway's own OpenAPI document does not list them."""
    return [
        route(
            entry.paths,
            http_method=sorted(entry.methods),
            name=entry.name,
            opt={exchange.ROUTE_OPT: entry},
            request_max_body_size=entry.max_body_bytes,
            middleware=list(policies),
            include_in_schema=False,
        )(forward)
        for entry in table.route
    ]
