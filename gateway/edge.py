"""The gateway's request pipeline: every public path of routes.toml, from the caller's request to the upstream's
answer, as one outer ASGI layer (a kernel ``Wrapper``, inside the kernel's request-context and metrics edge).

For a path some routes.toml entry covers, in this order (one module per policy):

1. the entry that takes the method (405 problem+json with ``Allow`` when only others do; a CORS preflight goes
   to Litestar's CORS policy, configured by ``OMNIGATE_GATEWAY_CORS_ORIGINS``);
2. authentication (gateway/authenticate.py): the caller's token or partner key, checked for the route's channel
   and scopes (401/403 problem+json, RFC 6750 ``WWW-Authenticate``);
3. the limits (gateway/limiting.py), all of the request's in one round trip to the state Redis; a refused
   credential still counts against the client-IP limit;
4. the request body, up to the entry's ``max_body_bytes`` (413);
5. the internal identity the layers below see (gateway/identities.py) and the hop (gateway/proxy.py), through
   the response cache on a route that has one (gateway/cache.py): a revoked key or a spent limit is refused
   before the cache is read.

Every answer, refusals included, carries the headers the policies collected (``RateLimit``...) and, for an
allowed web origin, the CORS grant; every request, the gateway's own routes included, makes one access-log line
(gateway/accesslog.py). Paths no entry covers (the OAuth server, JWKS, probes, metrics, the router's 404) are
Litestar's.

Why not Litestar handlers with route middleware, as before: the benchmark (tests/bench/gateway.py) measured the
framework's request, dependency and response layers plus a second round trip for the client-IP limit at more
than half of the gateway's CPU per forwarded request; this path does only what forwarding needs and renders its
refusals with the kernel's one problem mapping (shared/service.py ``problem_of``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Message,
    Receive,
    Scope,
    Send,
)

from gateway import accesslog, cache, limiting, proxy
from gateway.authenticate import authenticate, identity_token
from gateway.deps import parts_of
from gateway.exchange import Exchange
from gateway.routing import SAFE_METHODS, Route, RouteTable
from shared.problems import ProblemError
from shared.service import is_http, problem_answer, problem_of

_OPTIONS = "OPTIONS"
_DOT_SEGMENT = re.compile(r"/\.{1,2}(/|$)")


class GatewayEdge:
    """The outer layer of the gateway (see the module): routes.toml's paths through the pipeline, anything else
    to Litestar (``inner``), one access-log line for each."""

    def __init__(self, app: Litestar, inner: ASGIApp, table: RouteTable) -> None:
        self.app = app
        self.inner = inner
        self.table = table
        self.cors: CORSConfig | None = app.cors_config
        self._cors_fields: dict[tuple[bytes, bool], list[tuple[bytes, bytes]]] = {}

    @classmethod
    def wrapper(cls, table: RouteTable) -> Callable[[Litestar, ASGIApp], GatewayEdge]:
        """The kernel ``Wrapper`` building this layer for ``table``."""
        return lambda app, inner: cls(app, inner, table)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_http(scope):
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        current = Exchange()
        method = scope["method"]
        prefix, route, allowed = self.table.match(method, scope["path"])
        status = 500
        try:
            if _DOT_SEGMENT.search(scope["path"]):
                status = await self._refuse(scope, send, current)
            elif prefix is None or (method == _OPTIONS and self.cors is not None):
                status = await self._litestar(scope, receive, send)
            else:
                scope["path_template"] = prefix  # the route label of the kernel's request metrics
                status = await self._forwarded(scope, receive, send, current, route, allowed)
        finally:
            accesslog.record(scope, current, status, started)

    async def _refuse(self, scope: HTTPScope, send: Send, current: Exchange) -> int:
        """A path with a ``.`` or ``..`` segment: the route it matches here is not the path the hop would send
        (clients and HTTP libraries resolve such segments), so it is refused before any policy."""
        problem, headers = problem_of(
            ProblemError("invalid-request", "a path may not hold '.' or '..' segments"),
            method=scope["method"],
            path=scope["path"],
        )
        status, fields, body = problem_answer(problem, headers)
        await send({"type": "http.response.start", "status": status, "headers": fields})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return status

    async def _litestar(self, scope: HTTPScope, receive: Receive, send: Send) -> int:
        status = [500]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.inner(scope, receive, watch)
        return status[0]

    async def _forwarded(
        self,
        scope: HTTPScope,
        receive: Receive,
        send: Send,
        current: Exchange,
        route: Route | None,
        allowed: frozenset[str],
    ) -> int:
        try:
            if route is None:
                raise ProblemError(
                    "method-not-allowed",
                    f"{scope['method']} is not served on this path",
                    headers={"Allow": ", ".join(sorted(allowed))},
                )
            current.route = route
            status, fields, body = await self._pipeline(scope, receive, current, route)
            if status != 304:  # a 304 has no content (RFC 9110 §15.4.5)
                fields.append((b"content-length", str(len(body)).encode()))
        except Exception as exc:  # every refusal, and a bug's 500, leaves as problem+json
            problem, headers = problem_of(exc, method=scope["method"], path=scope["path"])
            status, fields, body = problem_answer(problem, headers)
        if current.headers:  # what a refusal already carries is not sent twice
            present = {name for name, _ in fields}
            for name, value in current.headers.items():
                field = name.lower().encode("latin-1")
                if field not in present:
                    fields.append((field, value.encode("latin-1")))
        fields += self._cors(scope)
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": fields}
        end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
        await send(start)
        await send(end)
        return status

    async def _pipeline(
        self, scope: HTTPScope, receive: Receive, current: Exchange, route: Route
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        parts = parts_of(self.app)
        caller = None
        if route.auth != "none":
            try:
                caller = await authenticate(parts, route, scope["headers"])
            except ProblemError as refusal:
                answer = await limiting.refused_credential(parts, route, scope, current, refusal)
                if answer is refusal:
                    raise
                raise answer from refusal
            current.caller = caller
            current.consumer = caller.consumer
        cached = route.cache is not None and scope["method"] in SAFE_METHODS
        consumer_class = caller.consumer.partition(":")[0] if caller is not None else "anonymous"
        key = (
            parts.cache.key(route, consumer_class, scope["path"], scope["query_string"], scope["headers"])
            if cached
            else None
        )
        # With the cache in the state Redis, its entry is read in the limits' round trip (DESIGN §9).
        prefetched = await limiting.count(
            parts, route, scope, current, caller, read=key if parts.cache.shares_state else None
        )

        async def identity() -> str | None:
            return await identity_token(parts, caller) if caller is not None else None

        if key is not None:
            return await cache.serve(
                parts.cache, parts.upstreams.part(route.upstream, route.name), route, scope, key, identity, prefetched
            )
        body = await proxy.read_body(scope, receive, route.max_body_bytes)
        return await proxy.forward(
            parts.upstreams.part(route.upstream, route.name), route, scope, body, await identity()
        )

    def _cors(self, scope: HTTPScope) -> list[tuple[bytes, bytes]]:
        """The CORS fields of an answer to a browser (Litestar's CORS policy, as its middleware applies it to
        the answers it sees: an allowed origin is granted, any other only learns the policy)."""
        if self.cors is None:
            return []
        origin = None
        has_cookie = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"cookie":
                has_cookie = True
        if origin is None:
            return []
        fields = self._cors_fields.get((origin, has_cookie))
        if fields is None:
            config = self.cors
            granted = dict(config.simple_headers)
            text = origin.decode("latin-1")
            if (config.is_allow_all_origins and has_cookie) or (
                not config.is_allow_all_origins and config.is_origin_allowed(origin=text)
            ):
                granted["Access-Control-Allow-Origin"] = text
                granted["Vary"] = "Origin"
            granted["Access-Control-Allow-Headers"] = ", ".join(sorted(set(config.allow_headers)))
            granted["Access-Control-Allow-Methods"] = ", ".join(sorted(set(config.allow_methods)))
            fields = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in granted.items()]
            if len(self._cors_fields) < 1024:  # a bounded memo: origins are the caller's to choose
                self._cors_fields[(origin, has_cookie)] = fields
        return fields
