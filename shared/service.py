"""The service factory: what every Omnigate deployable gets for free.

``create_service`` builds a Litestar app with health and readiness probes, Prometheus metrics, request-id and
W3C trace propagation, JSON logs, problem+json for every error (the framework's own included), a Redis client,
the outbound hop client, the identity verifier and the stop event of every background loop in ``app.state``.
A handler that declares ``identity: NamedDependency[Identity]`` is reached only with a valid internal identity
token (``X-Omnigate-Identity``, DESIGN §5): the kernel verifies it, and a request without one is a 401; a route
declared with ``dependencies=requires(<shared.identity.Access>)`` also lets in only the channels and scopes that
rule names (403 otherwise). ``caller: NamedDependency[CarriedIdentity]`` gives the same identity with its token, for a
deployable that passes its caller on to the layer below (the experience APIs). A deployable's ``app.py`` only
wires its routes and its own
start-up work; this keeps eleven deployables alike where they should be alike.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Annotated, Any, TypeGuard, get_args

import msgspec
from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema, Server
from litestar.params import HeaderParameter
from litestar.routes import HTTPRoute
from litestar.types import (
    ASGIApp,
    ControllerRouterHandler,
    ExceptionHandlersMap,
    HTTPScope,
    Message,
    Receive,
    Scope,
    Send,
)
from redis.asyncio import BlockingConnectionPool, Connection, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared import context, logs, metrics, outage
from shared.body import StrictBody
from shared.http import Upstreams
from shared.idempotency import HEADER as IDEMPOTENCY_HEADER
from shared.identity import HEADER, Access, CarriedIdentity, Identity, RedisKeys, Verifier
from shared.problems import CATALOGUE, MEDIA_TYPE, STATUS_SLUGS, Problem, ProblemError, type_uri
from shared.settings import Settings, get_settings
from shared.signing import ServiceSigner

log = logging.getLogger("omnigate.service")
# A pooled Redis connection idle this long (seconds) is PINGed before a command uses it (redis-py health check).
REDIS_HEALTH_CHECK_S = 30
_encoder = msgspec.json.Encoder()

ReadinessCheck = Callable[[Litestar], Awaitable[None]]
Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
# An outer ASGI layer: given the app and the handler inside it, the handler to put in its place. Outer layers
# see every request, the router's own 404/405 answers included (route middleware never does).
Wrapper = Callable[[Litestar, ASGIApp], ASGIApp]


def served_by(service: str) -> str:
    return f"{service}/{os.getpid()}"


# --- problem rendering -------------------------------------------------------------------------------


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=_encoder.encode(problem),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=headers or {},
    )


def problem_of(exc: Exception, *, method: str, path: str) -> tuple[Problem, dict[str, str]]:
    """The problem+json answer (RFC 9457) for an exception that escaped a request, with its headers.

    A :class:`ProblemError` as raised; the state Redis away, 503 ``service-unavailable`` with ``Retry-After``
    (one warning per outage, shared/outage.py); anything else is a bug: its traceback is logged (tests scan for
    it) and the answer is a 500 that names the request id, never a disguised 4xx. The one mapping of every
    deployable, for Litestar's exception handlers and for a raw ASGI path (the gateway's forwarding) alike."""
    request_id = context.request_id_var.get()
    if isinstance(exc, outage.REDIS_DOWN):
        outage.REDIS.down(exc)
        exc = ProblemError(
            "service-unavailable",
            "the state store (Redis) is unavailable; retry shortly",
            retry_after=outage.RETRY_AFTER_S,
        )
    if isinstance(exc, ProblemError):
        return exc.to_problem(instance=path, request_id=request_id), exc.headers
    log.error("unhandled exception on %s %s", method, path, exc_info=exc)
    slug = "internal-error"
    problem = Problem(
        type=type_uri(slug),
        title=CATALOGUE[slug][1],
        status=500,
        detail="An unexpected error occurred; it has been logged with this request id.",
        instance=path,
        request_id=request_id,
    )
    return problem, {}


def problem_answer(
    problem: Problem, headers: Mapping[str, str] | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A problem+json answer as status, ASGI header fields and body, for a layer that answers without
    Litestar's response classes."""
    body = _encoder.encode(problem)
    fields = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    fields += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    return problem.status, fields, body


def _on_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    return problem_response(*problem_of(exc, method=request.method, path=request.url.path))


def kernel_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The kernel's own problem+json answer to an exception (a framework ``HTTPException`` or any other), for a
    deployable whose ``exception_handlers`` answer in another shape but leave some paths to the kernel."""
    if isinstance(exc, HTTPException):
        return _on_http_exception(request, exc)
    return _on_exception(request, exc)


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    slug = STATUS_SLUGS.get(status, "invalid-request" if status < 500 else "internal-error")
    errors = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [e if isinstance(e, dict) else {"message": str(e)} for e in exc.extra]
    elif isinstance(exc.extra, dict) and exc.extra:
        errors = [exc.extra]
    detail = exc.detail if exc.detail and exc.detail != CATALOGUE[slug][1] else None
    problem = Problem(
        type=type_uri(slug),
        title=CATALOGUE[slug][1],
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=context.request_id_var.get(),
        errors=errors,
    )
    headers = dict(exc.headers or {})
    if status >= 500:
        log.error("framework error %s on %s %s: %s", status, request.method, request.url.path, exc.detail)
    return problem_response(problem, headers)


# --- correlation and metrics around the whole app ----------------------------------------------------


def is_http(scope: Scope) -> TypeGuard[HTTPScope]:
    """Whether an ASGI scope is an HTTP request (Litestar types the scope's ``type`` as a plain enum, so a
    comparison alone does not tell the type checker which scope it holds)."""
    return scope["type"] == ScopeType.HTTP


class _Edge:
    """Outermost ASGI layer: request context, ``X-Served-By`` and request metrics.

    It wraps Litestar's own handler (not a route middleware) so that it also sees the router's 404/405
    answers, which never reach route-level middleware.
    """

    def __init__(self, inner: ASGIApp, service: str) -> None:
        self.inner = inner
        self.service = service
        self.served_by = served_by(service).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_http(scope):
            await self._http(scope, receive, send)
        else:
            await self.inner(scope, receive, send)

    async def _http(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        request_id_header = traceparent_header = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id_header = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent_header = value.decode("latin-1")
        request_id, traceparent = context.begin(request_id_header, traceparent_header)
        extra_headers = [
            (b"x-request-id", request_id.encode()),
            (b"traceparent", traceparent.encode()),
            (b"x-served-by", self.served_by),
        ]
        status_holder = [500]
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), *extra_headers]
            await send(message)

        try:
            await self.inner(scope, receive, send_with_headers)
        finally:
            route = scope.get("path_template") or "<unmatched>"
            metrics.HTTP_REQUESTS.labels(self.service, method, route, str(status_holder[0])).inc()
            metrics.HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)


# --- probes --------------------------------------------------------------------------------------------


@get("/healthz", tags=["operations"], summary="Liveness: the process is up", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    tags=["operations"],
    summary="Readiness: this deployable's own dependencies answer",
    responses={
        503: ResponseSpec(
            data_container=Problem,
            media_type=MEDIA_TYPE,
            generate_examples=False,
            description="A dependency is not ready (`errors` names each failed check)",
        )
    },
)
async def readyz(request: Request[Any, Any, Any]) -> Response[bytes]:
    checks: Sequence[ReadinessCheck] = request.app.state.readiness_checks
    failures: list[dict[str, str]] = []
    for check in checks:
        try:
            await check(request.app)
        except Exception as exc:  # readiness reports, it does not crash
            failures.append({"check": getattr(check, "__name__", "check"), "error": repr(exc)})
    if failures:
        raise ProblemError("service-unavailable", "a dependency of this deployable is not ready", errors=failures)
    return Response(content=b'{"status":"ready"}', media_type=MediaType.JSON)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint() -> Response[bytes]:
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)


class _RedisConnection(Connection):
    """A Redis connection whose every lost socket is a ``ConnectionError``.

    uvloop raises ``RuntimeError`` ("the handler is closed") when a write meets a socket the server has just
    closed - seen when the state Redis is killed while a connection is being set up - and redis-py lets it
    through. It is the same outage, so it leaves here as one (503 with Retry-After, not a 500)."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"connection to Redis lost: {exc}") from exc


def _document_problems(app: Litestar) -> None:
    """Document the framework's own error answers as what they are: problem+json (``Problem``), not Litestar's
    default ``{status_code, detail, extra}`` JSON, which this kernel never sends (its exception handlers render
    every error as RFC 9457). Only the answers Litestar generated are changed; an answer a route declares keeps its
    shape (the OAuth token endpoint's RFC 6749 errors, say)."""
    problem = Reference(ref="#/components/schemas/Problem")
    for item in (app.openapi_schema.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.delete, item.patch, item.head, item.options):
            for status, response in ((operation.responses or {}) if operation else {}).items():
                if status.isdigit() and int(status) >= 400 and _framework_error(response):
                    assert isinstance(response, OpenAPIResponse)
                    response.content = {MEDIA_TYPE: OpenAPIMediaType(schema=problem)}


def _document_idempotency(app: Litestar) -> None:
    """Every operation that takes an ``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header §2.7)
    documents the two refusals the kernel's idempotency store gives it (shared/idempotency.py): 422
    ``idempotency-key-reused`` (the key came with another request) and 409 ``request-in-flight`` (the first
    request with the key is still being processed). A route that already documents the status keeps its words."""
    problem = {MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))}
    answers = {
        "422": "The request is not valid, or its Idempotency-Key came with another request (`idempotency-key-reused`)",
        "409": "A request with this Idempotency-Key is still being processed (`request-in-flight`): retry later",
    }
    for item in (app.openapi_schema.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.delete, item.patch):
            params = (operation.parameters or []) if operation else []
            if operation is None or not any(
                getattr(p, "param_in", None) == "header"
                and getattr(p, "name", "").lower() == IDEMPOTENCY_HEADER.lower()
                for p in params
            ):
                continue
            responses = operation.responses = operation.responses or {}
            for status, description in answers.items():
                responses.setdefault(status, OpenAPIResponse(description=description, content=dict(problem)))


def _framework_error(response: object) -> bool:
    if (
        not isinstance(response, OpenAPIResponse)
        or not response.content
        or set(response.content) != {"application/json"}
    ):
        return False
    schema = response.content["application/json"].schema
    shapes = schema.one_of if isinstance(schema, Schema) and schema.one_of else [schema]
    return all(
        isinstance(s, Schema) and s.properties is not None and {"status_code", "detail"} <= s.properties.keys()
        for s in shapes
    )


_ITEM_KEYWORDS = {
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "enum": "enum",
    "format": "format",
}


def _document_item_constraints(app: Litestar) -> None:
    """Document what the items of a list field must be (``list[Sku]``: each a SKU's pattern) and whether they
    must be unique, as msgspec's own JSON Schema of the model says: Litestar documents such items by their type
    alone, so a client (or a generator) could not tell a valid request from the document."""
    structs: set[type[msgspec.Struct]] = set()
    handlers = [handler for route in app.routes if isinstance(route, HTTPRoute) for handler in route.route_handlers]
    for handler in handlers:
        signature = getattr(handler, "parsed_fn_signature", None)
        if signature is None:
            continue
        annotations = [p.annotation for p in signature.parameters.values()] + [signature.return_type.annotation]
        annotations += [spec.data_container for spec in (getattr(handler, "responses", None) or {}).values()]
        for annotation in annotations:
            structs.update(_structs_in(annotation))
    if not structs or app.openapi_schema.components is None:
        return
    _, models = msgspec.json.schema_components(sorted(structs, key=lambda t: t.__name__))
    documented = app.openapi_schema.components.schemas or {}
    for name, model in models.items():
        schema = documented.get(name)
        if isinstance(schema, Schema) and schema.properties:
            for field, wanted in model.get("properties", {}).items():
                _constrain_items(schema.properties.get(field), wanted)


def _structs_in(annotation: Any) -> Iterator[type[msgspec.Struct]]:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        yield annotation
        return
    for arg in get_args(annotation):
        yield from _structs_in(arg)


def _array_of(schema: Any) -> Any:
    """The array member of a schema (itself, or the array in an optional's ``oneOf``/``anyOf``)."""
    if isinstance(schema, dict):
        if schema.get("type") == "array":
            return schema
        return next((_array_of(m) for m in schema.get("anyOf", []) if _array_of(m) is not None), None)
    if isinstance(schema, Schema):
        if schema.type == OpenAPIType.ARRAY:
            return schema
        return next((_array_of(m) for m in (schema.one_of or []) if _array_of(m) is not None), None)
    return None


def _constrain_items(documented: Any, wanted: dict[str, Any]) -> None:
    shown, model = _array_of(documented), _array_of(wanted)
    if shown is None or model is None:
        return
    if model.get("uniqueItems"):
        shown.unique_items = True
    items, model_items = shown.items, model.get("items")
    if not isinstance(items, Schema) or not isinstance(model_items, dict):
        return
    for keyword, attribute in _ITEM_KEYWORDS.items():
        if keyword in model_items and getattr(items, attribute) is None:
            setattr(items, attribute, model_items[keyword])


def provide_settings(state: State) -> Settings:
    """Every handler may declare ``settings: NamedDependency[<the deployable's settings struct>]``.

    Declare exactly the struct the deployable was built with (its own ``settings.py``): Litestar checks an
    injected value against the declared type, and a struct is not accepted where its base class is declared."""
    settings: Settings = state.settings
    return settings


IdentityToken = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        description="The internal identity token (a short-lived JWT minted by the gateway, or a deployable's "
        "service identity): who the call is for. Without a valid one the answer is 401.",
    ),
]


async def provide_identity(state: State, token: IdentityToken = None) -> Identity:
    """The verified identity of the call (``identity: NamedDependency[Identity]``); 401 without a valid token.

    Only ``X-Omnigate-Identity`` says who the caller is: a bare ``X-Omnigate-Owner`` header is never read."""
    verifier: Verifier = state.identity_verifier
    return await verifier.verify(token)


async def provide_caller(state: State, token: IdentityToken = None) -> CarriedIdentity:
    """The verified identity with its token (``caller: NamedDependency[CarriedIdentity]``), for a deployable that passes
    its caller on to the layer below unchanged; 401 without a valid token, as for ``identity``."""
    identity = await provide_identity(state, token)
    return CarriedIdentity(identity, token or "")  # verify() refused an empty token


def requires(access: Access) -> dict[str, Provide]:
    """A route's ``dependencies``: its ``identity`` is verified (401 without a valid token) *and* let in by
    ``access`` (403 ``insufficient_scope`` otherwise), e.g. ``@post(..., dependencies=requires(OPERATORS))``.

    The handler declares ``identity: NamedDependency[Identity]`` as every identity-taking handler does (that is
    what documents the header); the rule sits on the route, not in its body, so each route's requirement reads
    where the route is declared and is checked before the handler runs. A route that sets the rule but does not
    take ``identity`` would never check it: ``create_service`` refuses to build such an app."""

    async def provide_allowed_identity(state: State, token: IdentityToken = None) -> Identity:
        return access.check(await provide_identity(state, token))

    return {"identity": Provide(provide_allowed_identity)}


def _check_identity_rules(app: Litestar) -> None:
    """Litestar resolves a dependency only for a handler that takes it: a route with its own ``identity`` rule
    (``requires``) must take ``identity``, or the rule would silently not apply."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            own = handler.dependencies or {}
            if "identity" in own and "identity" not in handler.parsed_fn_signature.parameters:
                raise TypeError(f"{handler.handler_name} sets an identity rule but does not take identity")


async def redis_ready(app: Litestar) -> None:
    await app.state.redis.ping()


# --- factory ---------------------------------------------------------------------------------------------


def create_service(
    name: str,
    route_handlers: Sequence[ControllerRouterHandler],
    *,
    title: str,
    description: str,
    version: str = "1.0.0",
    uses_redis: bool = True,
    lifespan: Sequence[Lifespan] = (),
    readiness_checks: Sequence[ReadinessCheck] = (),
    settings: Settings | None = None,
    dependencies: dict[str, Any] | None = None,
    wrappers: Sequence[Wrapper] = (),
    middleware: Sequence[Any] = (),
    signs_as_service: bool = False,
    cors: CORSConfig | None = None,
    exception_handlers: ExceptionHandlersMap | None = None,
) -> Litestar:
    """Build a deployable. ``lifespan`` contexts run after Redis and the hop client are up, in order.

    ``settings`` is the deployable's own struct (a :class:`Settings` subclass from its ``settings.py``, read with
    ``get_settings``); it is kept in ``app.state.settings`` and provided to handlers as ``settings``. Without one
    the kernel's own are read. ``wrappers`` are outer ASGI layers (the first is outermost, inside the kernel's
    own request-context edge); ``middleware`` is Litestar route middleware, for what only matched routes need.

    With Redis, every worker verifies identity tokens against the keys published in the state Redis (one
    :class:`Verifier` per worker, in ``app.state.identity_verifier``) and handlers may declare ``identity``.
    ``cors``: Litestar's CORS policy, for a deployable browsers call directly (the gateway).
    ``exception_handlers`` replace the kernel's problem+json rendering for the exception types they name (the
    sandboxes answer in their vendor's error shape); :func:`kernel_error_response` is the kernel's own answer.
    ``signs_as_service``: the deployable also carries its own service identity on calls that have no caller
    (``app.state.service_signer``, a :class:`ServiceSigner` whose public keys it publishes at start)."""
    settings = settings or get_settings(Settings)
    logs.configure(name, settings.log_level)
    checks: list[ReadinessCheck] = [redis_ready] if uses_redis else []
    checks.extend(readiness_checks)

    @asynccontextmanager
    async def kernel_lifespan(app: Litestar) -> AsyncIterator[None]:
        # The one stop event of the deployable: every background loop ends its rounds when it is set.
        app.state.stop = asyncio.Event()
        async with AsyncExitStack() as stack:
            if uses_redis:
                # A blocking pool: under a burst a request waits briefly for a connection instead of failing
                # (redis-py's default pool raises MaxConnectionsError once its limit is reached). Socket timeouts
                # bound a Redis that stops answering; a connection idle for REDIS_HEALTH_CHECK_S is PINGed before
                # use, so one the server dropped while it sat in the pool is replaced, not handed to a request.
                pool = BlockingConnectionPool.from_url(
                    settings.redis_url,
                    max_connections=settings.redis_max_connections,
                    timeout=settings.redis_pool_timeout_s,
                    connection_class=_RedisConnection,
                    socket_timeout=settings.redis_socket_timeout_s,
                    socket_connect_timeout=settings.redis_socket_timeout_s,
                    health_check_interval=REDIS_HEALTH_CHECK_S,
                )
                redis = Redis(connection_pool=pool)
                stack.push_async_callback(redis.aclose)
                app.state.redis = redis
                app.state.identity_verifier = Verifier([RedisKeys(redis, settings.key_prefix)])
                if signs_as_service:
                    app.state.service_signer = await ServiceSigner.start(redis, settings.key_prefix, name)
            app.state.http = Upstreams(settings, service=name)
            stack.push_async_callback(app.state.http.close)
            for entry in lifespan:
                await stack.enter_async_context(entry(app))
            stack.callback(app.state.stop.set)  # the first thing shutdown does: loops end their rounds
            yield

    app = Litestar(
        route_handlers=[healthz, readyz, metrics_endpoint, *route_handlers],
        lifespan=[kernel_lifespan],
        exception_handlers={
            ProblemError: _on_exception,
            HTTPException: _on_http_exception,
            **{kind: _on_exception for kind in outage.REDIS_DOWN},
            Exception: _on_exception,
            **(exception_handlers or {}),
        },
        openapi_config=OpenAPIConfig(
            title=title,
            version=version,
            description=description,
            servers=[Server(url="/")],
            use_handler_docstrings=True,
            path="/schema",
        ),
        request_max_body_size=settings.max_body_bytes,
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False),
            **({"identity": Provide(provide_identity), "caller": Provide(provide_caller)} if uses_redis else {}),
            **(dependencies or {}),
        },
        middleware=list(middleware),
        cors_config=cors,
        dto=StrictBody[msgspec.Struct],
        return_dto=None,
        logging_config=None,
        debug=False,
    )
    _check_identity_rules(app)
    _document_problems(app)
    _document_idempotency(app)
    _document_item_constraints(app)
    app.state.settings = settings
    app.state.service = name
    app.state.readiness_checks = checks
    handler = app.asgi_handler
    for wrap in reversed(wrappers):
        handler = wrap(app, handler)
    app.asgi_handler = _Edge(handler, name)
    return app
