"""The order and return routes of every experience API, built once per channel (DESIGN §10): the same paths the
gateway forwards, with the channel prefix kept (``/web/v1/orders``, ``/mobile/v1/orders``, ``/partner/v1/orders``,
``/<channel>/v1/orders/{id}/returns``, ``/<channel>/v1/returns/{id}``).

Handlers are thin: the guard (``allowed``, common/deps.py) has already checked the caller's channel and scope;
the handler calls process-orders with the caller's own identity token (common/backends.py) and shapes the answer
with the channel's views. Placing an order takes process-orders' canonical ``OrderRequest`` as it is (every
channel submits the same shape today; a channel-shaped body would be mapped here, in the channel's views), and
needs an ``Idempotency-Key`` (checked here, a 400 before any hop; then passed through as it came, so a replay
answers the first answer and another caller's key never replays: process-orders scopes keys by owner). Opening a
return is the same: process-orders' ``ReturnRequest`` as it is, an ``Idempotency-Key`` required. The listing
passes its filters (``status``, ``updated_since``) and its cursor through to process-orders, which owns the data
and the cursor (a cursor issued for other filters is its 400).
process-orders' refusals reach the caller as the same problem (status and ``type``); its absence is the kernel's
502/503/504 naming it.

A channel may have its order reads revalidated (``revalidate``: mobile's ``private, no-cache``): each GET then
answers under the kernel's cache contract (shared/caching.py ``conditional``) with a strong ETag of the body and
that ``Cache-Control``, and 304 without a body when ``If-None-Match`` holds the current ETag. An order is one
shopper's, so it is never ``public`` (the gateway's shared cache never keeps it); ``no-cache`` makes a phone
revalidate before every use, and a 304 spares it the body.

The product routes of web and mobile answer through :func:`product_answer`: a whole answer is ``public,
max-age`` with its tags, a degraded one ``no-store`` naming the parts it lacks, and either is conditional.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, Parameter

from services.experience.common.backends import Opened, OrdersClient, Placed
from services.experience.common.deps import READ, RETURNS, WRITE
from services.experience.common.views import Views
from shared import caching, params
from shared.idempotency import HEADER as KEY_HEADER
from shared.idempotency import KeyHeader, RequiredKeyHeader, parse_key
from shared.identity import CarriedIdentity, Channel
from shared.models.orders import CancelRequest, OrderRequest, ReturnRequest
from shared.problems import MEDIA_TYPE, Problem

_encoder = msgspec.json.Encoder()

# process-orders' cap on a page; without a limit, a channel's own page size (OMNIGATE_<CHANNEL>_ORDERS_PAGE_SIZE).
PageLimit = Annotated[
    int | None,
    Parameter(ge=1, le=100, description="Orders per page, 1-100; the channel's page size if absent"),
]

_IF_NONE_MATCH = (
    "ETags of answers the client holds (RFC 9110 §13.1.2, weak comparison, or `*`): 304 when the current "
    "answer's is among them."
)
IfNoneMatch = Annotated[str | None, HeaderParameter(name="If-None-Match", required=False, description=_IF_NONE_MATCH)]
# The same header, left out of the OpenAPI document: the order reads of a channel that does not revalidate them
# (``order_routes`` resolves the handlers' ``Revalidation`` annotation to one of the two).
_IfNoneMatchIgnored = Annotated[
    str | None, HeaderParameter(name="If-None-Match", required=False, include_in_schema=False)
]
Revalidation = IfNoneMatch
# The shapes a channel's order reads answer in, for their OpenAPI entries: ``order_routes`` resolves these names
# to the channel's own (``views.order_type``...) when it builds its handlers.
OrderShape = Any
OrderPage = Any
OrderSteps = Any

NOT_MODIFIED = {
    304: ResponseSpec(data_container=None, description="Not modified: If-None-Match holds the current ETag (no body)")
}
ETAG_HEADER = ResponseHeader(
    name="ETag",
    documentation_only=True,
    description="Strong ETag of the body bytes, the same from every worker and replica.",
)


def cache_headers(cache_control: str, *, tags: str | None = None) -> list[ResponseHeader]:
    """The OpenAPI entries of a conditional answer's headers: ETag, ``Cache-Control`` (``cache_control`` says
    which) and, for a cacheable one, the cache tags (``tags`` says which)."""
    headers = [ETAG_HEADER, ResponseHeader(name="Cache-Control", documentation_only=True, description=cache_control)]
    if tags is not None:
        headers.append(ResponseHeader(name=caching.TAGS_HEADER, documentation_only=True, description=tags))
    return headers


def product_answer(
    request: Request[Any, Any, Any], body: bytes, *, max_age_s: int, degraded: Sequence[str], tags: Sequence[str]
) -> Response[Any]:
    """A product answer (one product, or a page of them) under the cache contract (shared/caching.py): whole,
    ``public, max-age=<max_age_s>`` with its ``tags`` (none: no tags header); ``degraded`` (the parts it lacks),
    ``no-store`` without tags; either with its ETag, and 304 when ``If-None-Match`` holds it."""
    return caching.conditional(
        body,
        request.headers.getall("if-none-match", []),
        cache_control=caching.NO_STORE if degraded else caching.max_age(max_age_s),
        tags=None if degraded or not tags else tags,
        degraded=degraded,
    )


_PROBLEMS = {
    400: "the body, a parameter or the Idempotency-Key is not valid",
    401: "no valid identity token (X-Omnigate-Identity)",
    403: "the identity is of another channel, or lacks the scope",
    404: "no such order of the caller's",
    409: "insufficient-stock (naming the lines), a cancel too late, or request-in-flight (Retry-After)",
    422: "unknown SKU or store, untaxable country, or idempotency-key-reused",
    503: "process-orders (or a back-end it needs to accept the order) is away: retry after Retry-After",
}


def problem_specs(descriptions: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """The OpenAPI entries of a route's problem answers: status -> when it is given."""
    return {
        status: ResponseSpec(data_container=Problem, media_type=MEDIA_TYPE, generate_examples=False, description=text)
        for status, text in descriptions.items()
    }


def _problems(*statuses: int) -> dict[int, ResponseSpec]:
    return problem_specs({status: _PROBLEMS[status] for status in statuses})


def _answer(status: int, content: Any, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(content=_encoder.encode(content), status_code=status, headers=dict(headers or {}))


def _key(request: Request[Any, Any, Any], *, required: bool) -> str | None:
    """The ``Idempotency-Key`` header as it came, once the kernel's parser accepts it (a 400 before any hop);
    passed through unparsed, so process-orders reads the very key the caller sent."""
    lines = request.headers.getall(KEY_HEADER, [])
    parse_key(lines, required=required)
    return lines[0] if lines else None


def _return_routes(base: str, views: Views[Any, Any]) -> list[HTTPRouteHandler]:
    """The return routes under ``base`` (``/<channel>/v1``): open a return of an order, read a return."""

    def return_spec(status: int, description: str) -> dict[int, ResponseSpec]:
        return {
            status: ResponseSpec(data_container=views.return_type, description=description, generate_examples=False)
        }

    def opened(answer: Opened) -> Response[bytes]:
        """process-orders' answer in the channel's shape; Location is the return's path under the channel."""
        headers = {"Location": f"{base}/returns/{answer.ret.id}", **answer.headers}
        return _answer(answer.status, views.ret(answer.ret), headers)

    @post(
        "/orders/{order_id:str}/returns",
        tags=["returns"],
        summary="Return lines of a delivered or picked-up order of the caller (Idempotency-Key required; "
        "returns:write)",
        opt={"scope": RETURNS},
        status_code=201,
        responses={
            **return_spec(201, "Opened: announced to the DC, or taken back and refunded at a store; Location names it"),
            **return_spec(202, "Opened while a back-end is away; announced later"),
            **problem_specs(
                {
                    400: "the body, the order id or the Idempotency-Key is not valid",
                    401: _PROBLEMS[401],
                    403: "the identity is of another channel, or lacks returns:write",
                    404: "no such order of the caller's",
                    409: "the order is not delivered or picked up (yet), or request-in-flight (Retry-After)",
                    422: "a line the order does not have, more units than are left to return, a back-end refused "
                    "the return, or idempotency-key-reused",
                    503: "process-orders is away: retry after Retry-After with the same Idempotency-Key",
                }
            ),
        },
    )
    async def open_return(
        request: Request[Any, Any, Any],
        order_id: params.OrderId,
        data: JSONBody[ReturnRequest],
        allowed: NamedDependency[CarriedIdentity],
        orders: NamedDependency[OrdersClient],
        idempotency_key: RequiredKeyHeader,
    ) -> Response[bytes]:
        """``lines`` name the order's lines (``line_id``) and how many units of each come back; ``location`` is
        the DC the parcel goes to (refunded for what the DC reports receiving) or the store the goods are
        handed in at (taken back and refunded at once). A replay of the key answers the first answer."""
        key = _key(request, required=True)
        assert key is not None  # required: parse_key refused a request without one
        return opened(await orders.open_return(order_id, data, key=key, token=allowed.token))

    @get(
        "/returns/{return_id:str}",
        tags=["returns"],
        summary="One return of the caller's orders (orders:read)",
        opt={"scope": READ},
        responses={
            **return_spec(200, "The return"),
            **problem_specs(
                {
                    400: "the return id is not valid",
                    401: _PROBLEMS[401],
                    403: _PROBLEMS[403],
                    404: "no such return of the caller's",
                }
            ),
        },
    )
    async def get_return(
        return_id: params.ReturnId, allowed: NamedDependency[CarriedIdentity], orders: NamedDependency[OrdersClient]
    ) -> Response[bytes]:
        return _answer(200, views.ret(await orders.ret(return_id, token=allowed.token)))

    return [open_return, get_return]


def _read_specs(
    views: Views[Any, Any], revalidate: str | None
) -> tuple[dict[str, Any], Callable[[Any, str], dict[int, ResponseSpec]]]:
    """The order reads' decorator arguments, and how each documents its 200 answer (its shape, a description).

    Their ``If-None-Match`` parameter is documented only where it is honoured. Where it is, a read's 200 is the
    handler's own success answer (its return type names the channel's shape), which carries the documented
    ``ETag`` and ``Cache-Control``, and a 304 is added; elsewhere its 200 is documented as an additional answer,
    as every channel's answers were before."""
    if revalidate is None:
        # The return types stay ``Any``: the additional 200 answer documents the shape (naming it once).
        namespace = {"Revalidation": _IfNoneMatchIgnored, "OrderShape": Any, "OrderPage": Any, "OrderSteps": Any}

        def plain(shape: Any, description: str) -> dict[int, ResponseSpec]:
            return {200: ResponseSpec(data_container=shape, description=description, generate_examples=False)}

        return {"signature_namespace": namespace}, plain
    if "private" not in revalidate:
        raise ValueError(f"orders are one shopper's: their Cache-Control must be private, not {revalidate!r}")
    headers = cache_headers(
        f"`{revalidate}`: one shopper's answer, never kept by a shared cache; revalidate with If-None-Match."
    )
    namespace = {
        "Revalidation": IfNoneMatch,
        "OrderShape": views.order_type,
        "OrderPage": views.page_type,
        "OrderSteps": views.timeline_type,
    }

    def conditional(shape: Any, description: str) -> dict[int, ResponseSpec]:
        return NOT_MODIFIED

    return {"signature_namespace": namespace, "response_headers": headers}, conditional


def order_routes(channel: Channel, views: Views[Any, Any], *, revalidate: str | None = None) -> Router:
    """The order routes of ``channel`` under ``/<channel>/v1`` (place, read, list, timeline, cancel) and its return
    routes (open, read), answering in ``views``' shapes. With ``revalidate`` (a private ``Cache-Control``, e.g.
    ``private, no-cache``) the three order reads answer conditionally with an ETag and that ``Cache-Control`` (see
    the module)."""
    base = f"/{channel}/v1"
    read_docs, answered = _read_specs(views, revalidate)

    def read(request: Request[Any, Any, Any], content: Any) -> Response[Any]:
        """A read's answer: conditional with an ETag when the channel revalidates, else a plain 200."""
        if revalidate is None:
            return _answer(200, content)
        return caching.conditional(
            _encoder.encode(content), request.headers.getall("if-none-match", []), cache_control=revalidate
        )

    def shaped(placed: Placed, *, located: bool) -> Response[bytes]:
        """process-orders' answer in the channel's shape; a placed order's Location is the channel's own path."""
        headers = {"Location": f"{base}/orders/{placed.order.id}"} if located else {}
        return _answer(placed.status, views.order(placed.order), {**headers, **placed.headers})

    def order_spec(status: int, description: str) -> dict[int, ResponseSpec]:
        return {status: ResponseSpec(data_container=views.order_type, description=description, generate_examples=False)}

    @post(
        "/orders",
        tags=["orders"],
        summary="Place an order (Idempotency-Key required; orders:write)",
        opt={"scope": WRITE},
        status_code=201,
        responses={
            **order_spec(201, "Placed and released to the warehouse or store; Location names it"),
            **order_spec(202, "Accepted while a back-end is away (pending_backend); finished later"),
            **_problems(400, 401, 403, 409, 422, 503),
        },
    )
    async def place_order(
        request: Request[Any, Any, Any],
        data: JSONBody[OrderRequest],
        allowed: NamedDependency[CarriedIdentity],
        orders: NamedDependency[OrdersClient],
        idempotency_key: RequiredKeyHeader,
    ) -> Response[bytes]:
        """Prices come from the price projection, not from the caller. 201 once released, 202 while a back-end
        is away; 409 ``insufficient-stock`` or 422 naming the lines when refused. A replay of the key answers
        the first answer (another caller's key is another key)."""
        key = _key(request, required=True)
        assert key is not None  # required: parse_key refused a request without one
        return shaped(await orders.place(data, key=key, token=allowed.token), located=True)

    @get(
        "/orders/{order_id:str}",
        tags=["orders"],
        summary="One order of the caller (orders:read)",
        opt={"scope": READ},
        response_description="The order",
        responses={**answered(views.order_type, "The order"), **_problems(401, 403, 404)},
        **read_docs,
    )
    async def get_order(
        request: Request[Any, Any, Any],
        order_id: params.OrderId,
        allowed: NamedDependency[CarriedIdentity],
        orders: NamedDependency[OrdersClient],
        if_none_match: Revalidation = None,
    ) -> Response[OrderShape]:
        return read(request, views.order(await orders.order(order_id, token=allowed.token)))

    @get(
        "/orders",
        tags=["orders"],
        summary="The caller's orders, newest first, cursor-paged, by status and last change (orders:read)",
        opt={"scope": READ},
        response_description="A page",
        responses={
            **answered(views.page_type, "A page"),
            **problem_specs(
                {
                    400: "a filter or the limit is not valid, or the cursor is not one this listing issued with "
                    "these filters",
                    401: _PROBLEMS[401],
                    403: _PROBLEMS[403],
                }
            ),
        },
        **read_docs,
    )
    async def list_orders(
        request: Request[Any, Any, Any],
        allowed: NamedDependency[CarriedIdentity],
        orders: NamedDependency[OrdersClient],
        page_size: NamedDependency[int],
        cursor: params.Cursor = None,
        limit: PageLimit = None,
        status: params.OrderStatus = None,
        updated_since: params.UpdatedSince = None,
        if_none_match: Revalidation = None,
    ) -> Response[OrderPage]:
        """Newest first. ``status``: only orders in that state now; ``updated_since``: only orders changed at or
        after that time (RFC 3339 with an offset) - poll with the time of your last sync to pick up every change.
        ``next_cursor`` is null on the last page; pass it back as ``cursor`` (with the same filters: a cursor
        of other filters is a 400) for the next one. A filtered page may hold fewer orders than the limit, even
        none, and still a ``next_cursor``: follow it until it is null."""
        since = params.aware(updated_since, field="updated_since")
        page = await orders.orders(cursor, limit or page_size, status=status, updated_since=since, token=allowed.token)
        return read(request, views.page(page))

    @get(
        "/orders/{order_id:str}/timeline",
        tags=["orders"],
        summary="Every transition of one order of the caller (orders:read)",
        opt={"scope": READ},
        response_description="Oldest first",
        responses={**answered(views.timeline_type, "Oldest first"), **_problems(401, 403, 404)},
        **read_docs,
    )
    async def get_timeline(
        request: Request[Any, Any, Any],
        order_id: params.OrderId,
        allowed: NamedDependency[CarriedIdentity],
        orders: NamedDependency[OrdersClient],
        if_none_match: Revalidation = None,
    ) -> Response[OrderSteps]:
        return read(request, views.timeline(await orders.timeline(order_id, token=allowed.token)))

    @post(
        "/orders/{order_id:str}/cancel",
        tags=["orders"],
        summary="Cancel an order of the caller (Idempotency-Key honoured; orders:write)",
        opt={"scope": WRITE},
        status_code=200,
        responses={
            **order_spec(200, "Cancelled: documents cancelled by reference, stock released"),
            **order_spec(202, "Cancelling while a back-end is away; finished later"),
            **_problems(400, 401, 403, 404, 409, 503),
        },
    )
    async def cancel_order(
        request: Request[Any, Any, Any],
        order_id: params.OrderId,
        data: JSONBody[CancelRequest],
        allowed: NamedDependency[CarriedIdentity],
        orders: NamedDependency[OrdersClient],
        idempotency_key: KeyHeader = None,
    ) -> Response[bytes]:
        """A ship order can be cancelled until it is released to the warehouse, a pickup until it is collected;
        409 after that."""
        key = _key(request, required=False)
        return shaped(await orders.cancel(order_id, data, key=key, token=allowed.token), located=False)

    return Router(
        base,
        route_handlers=[place_order, get_order, list_orders, get_timeline, cancel_order, *_return_routes(base, views)],
    )
