"""Forwarding: the last step of every routes.toml entry's pipeline (gateway/edge.py), sending the request on to
its upstream.

The path and query go on unchanged (the channel prefix kept, DESIGN §10) and the body byte for byte, so a
back-end's webhook signature still verifies at the system API. What identifies the caller never goes on: the
caller's ``Authorization``, ``X-API-Key`` and cookies are dropped, and so is any ``X-Omnigate-*`` header a caller
sent (only the gateway speaks for a caller below it: the identity token its authentication policy minted is
added by the hop client). Hop-by-hop headers (RFC 9110 §7.6.1) stay on their hop. ``X-Request-ID`` and
``traceparent`` are the edge's own, carried by the kernel's hop client.

The hop is the kernel's (shared/http.py): the route's timeout, its breaker per route per worker (an open one
is a fast 503 problem+json with ``Retry-After``), retries only for routes that allow them (GET/HEAD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote

from litestar.types import HTTPScope, Receive

from gateway.routing import Route
from shared.http import Upstream, UpstreamResponse
from shared.problems import ProblemError

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
_BODILESS = frozenset({"GET", "HEAD"})
_VALIDATORS = ("if-none-match", "if-modified-since")


def outbound(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request headers (ASGI, lower-case names) that go on to the upstream (repeated fields joined,
    RFC 9110 §5.3)."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1")
        if name in NOT_FORWARDED or name.startswith(INTERNAL_PREFIX):
            continue
        value = raw_value.decode("latin-1")
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def inbound(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The upstream's answer headers that go back to the caller, as ASGI fields (``Content-Type`` included); the
    upstream's ``X-Omnigate-*`` fields (cache tags) are for the gateway only."""
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        lower = name.lower()
        if lower not in NOT_RETURNED and not lower.startswith(INTERNAL_PREFIX):
            kept.append((lower.encode("latin-1"), value.encode("latin-1")))
    return kept


async def read_body(scope: HTTPScope, receive: Receive, limit: int) -> bytes:
    """The request body, whole; 413 problem+json beyond ``limit`` bytes (announced or received). A GET or HEAD
    that announces no body (neither ``Content-Length`` nor ``Transfer-Encoding``, RFC 9112 §6.3) has none."""
    if not _announces_body(scope, limit) and scope["method"] in _BODILESS:
        return b""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ProblemError("invalid-request", "the client went away before its request body arrived")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _announces_body(scope: HTTPScope, limit: int) -> bool:
    """Whether the request says it has a body; 413 if it announces more than ``limit`` bytes."""
    announced = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise ProblemError("invalid-request", "Content-Length is not a number of bytes")
            if int(value) > limit:
                raise _too_large(limit)
            announced = True
        elif name == b"transfer-encoding":
            announced = True
    return announced


def _too_large(limit: int) -> ProblemError:
    return ProblemError("payload-too-large", f"this route takes request bodies of at most {limit} bytes")


async def send(
    upstream: Upstream,
    route: Route,
    scope: HTTPScope,
    body: bytes,
    identity: str | None,
    *,
    conditional: bool = True,
) -> UpstreamResponse:
    """Send the request on to ``upstream`` and return its answer. ``conditional=False`` leaves out the caller's
    validators (``If-None-Match``, ``If-Modified-Since``), so a cache gets the whole answer to keep and evaluates
    them itself. Transient failures are the hop client's problem+json errors (502/503/504, ``Retry-After`` when
    known)."""
    query = scope["query_string"].decode("latin-1")
    headers = outbound(scope["headers"])
    if not conditional:
        for name in _VALIDATORS:
            headers.pop(name, None)
    return await upstream.request(
        scope["method"],
        _path_as_sent(scope) + (f"?{query}" if query else ""),
        content=body or None,
        headers=headers,
        identity=identity,
        idempotent=route.retry,
        timeout_s=route.timeout_s,
    )


def _path_as_sent(scope: HTTPScope) -> str:
    """The request's path as the caller encoded it (ASGI ``raw_path``): the decoded ``path`` would turn an encoded
    ``%23`` or ``%3F`` in a segment into the start of a fragment or a query on the next hop."""
    raw = scope.get("raw_path")
    if raw:
        return raw.decode("latin-1")
    return quote(scope["path"], safe="/:@!$&'()*+,;=~")


async def forward(
    upstream: Upstream, route: Route, scope: HTTPScope, body: bytes, identity: str | None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Send the request on to ``upstream``: the status, answer headers (ASGI fields) and body it answered."""
    answer = await send(upstream, route, scope, body, identity)
    return answer.status, inbound(answer.headers), answer.body
