"""HTTP routes of ``process-orders`` (DESIGN §10): orders, their timeline, cancellation, returns.

Every route takes the caller's verified identity (``X-Omnigate-Identity``, minted by the gateway and passed on by
the experience layer; the kernel verifies it and answers 401 without a valid one) and derives the owner from it
(``identity.require_owner()``: ``<channel>:<customer or partner id>``); a bare owner header is never read.
Every read is scoped by that owner: another owner's order is a 404, and idempotency keys are per owner. A
service identity acts for no owner (403); document reconciliations are for operators (``channel=ops``,
``ops:*``). Mutating routes follow the
kernel's ``Idempotency-Key`` semantics (``shared.idempotency``): required to place an order or open a return,
honoured on a cancel; the first answer is stored and replayed byte for byte, and a key whose first attempt died
resumes the order or return it started, never a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, JSONBody, Parameter, QueryParameter

from services.process.orders.records import (
    OrderRecord,
    ReturnRecord,
    ReturnStep,
    Step,
    new_order_id,
    new_return_id,
    not_accepted,
)
from services.process.orders.returns import Returns
from services.process.orders.saga import Saga
from services.process.orders.settings import OrdersSettings
from services.process.orders.store import Store
from services.process.orders.sweep import Sweep, new_sweep_id
from shared import context, cursor, params
from shared.changes import Exists, Locked
from shared.clock import rfc3339
from shared.idempotency import Idempotency, KeyHeader, RequiredKeyHeader, Stored
from shared.identity import OPERATORS, Identity
from shared.models.common import Page
from shared.models.orders import (
    CancelRequest,
    DocumentReconciliation,
    DocumentReconciliationRequest,
    Order,
    OrderRequest,
    ReturnRequest,
    TimelineEntry,
)
from shared.models.returns import Return
from shared.problems import CATALOGUE, MEDIA_TYPE, Problem, ProblemError, invalid, not_found, type_uri
from shared.service import requires

_encoder = msgspec.json.Encoder()
CURSOR_TAG = "orders"

Limit = Annotated[int, Parameter(ge=1, le=100, description="Page size, 1-100")]
Cursor = Annotated[str | None, Parameter(max_length=256, description="Opaque cursor from a previous page")]

ORDER_EXAMPLE = {
    "customer": {"id": "c-1001", "name": "Anna de Vries", "email": "anna@example.com"},
    "fulfilment": {
        "mode": "ship",
        "ship_to": {
            "name": "Anna de Vries",
            "line1": "Keizersgracht 1",
            "city": "Amsterdam",
            "postal_code": "1015 CJ",
            "country": "NL",
        },
    },
    "lines": [{"line_id": "1", "sku": "OG-1000-BLK-XS-000000", "qty": 2}],
    "currency": "EUR",
    "payment_reference": "psp_7f3a9c",
}
PICKUP_EXAMPLE = {
    "customer": {"id": "c-1002", "name": "Bram Jansen"},
    "fulfilment": {"mode": "pickup", "store": "store-kfr9qs7nff0n5"},
    "lines": [{"line_id": "1", "sku": "OG-1233-BEI-L-003741", "qty": 1}],
    "currency": "EUR",
    "payment_reference": "psp_91bd02",
}


async def _owned_order(store: Store, order_id: str, owner: str) -> OrderRecord:
    record = await store.order(order_id)
    if record is None or record.owner != owner:
        raise not_found(f"order {order_id}")  # another owner's order does not exist for this caller
    return record


def _problem(
    request: Request[Any, Any, Any],
    slug: str,
    detail: str | None,
    errors: list[dict[str, Any]] | None,
    *,
    status: int | None = None,
    upstream: str | None = None,
    instance: str | None = None,
) -> Stored:
    """A problem answer to store; ``instance`` names the occurrence (the refused order's own URL)."""
    status = status or CATALOGUE[slug][0]
    problem = Problem(
        type=type_uri(slug),
        title=CATALOGUE[slug][1],
        status=status,
        detail=detail,
        instance=instance or request.url.path,
        request_id=context.request_id_var.get(),
        errors=errors,
        upstream=upstream,
    )
    return Stored(status, "", MEDIA_TYPE, _encoder.encode(problem))


def undecided(record: OrderRecord) -> bool:
    """Neither accepted nor refused yet (its first attempt died before the reservation was decided)."""
    return record.step in (Step.RESERVE, Step.ACCEPT) and record.goal is None


def _unique_lines(data: OrderRequest | ReturnRequest) -> None:
    duplicates = data.duplicate_line_ids()
    if duplicates:
        what = "an order" if isinstance(data, OrderRequest) else "a return"
        raise ProblemError(
            "unprocessable",
            f"line ids must be unique within {what}",
            errors=[{"field": "lines[].line_id", "value": line_id, "detail": "duplicate"} for line_id in duplicates],
        )


def _order_answer(request: Request[Any, Any, Any], record: OrderRecord) -> Stored:
    if record.state == "rejected":
        return _problem(
            request, record.slug or "unprocessable", record.reason, record.errors, instance=f"/orders/{record.id}"
        )
    if not_accepted(record):
        # Never accepted because a back-end was away: 503, not stored; replaying the key places it again.
        failure = (record.errors or [{}])[0]
        status = int(failure.get("status") or 503)
        slug = {503: "upstream-unavailable", 504: "upstream-timeout"}.get(status, "upstream-error")
        return _problem(
            request,
            slug,
            record.reason,
            None,
            status=status,
            upstream=str(failure["upstream"]),
            instance=f"/orders/{record.id}",
        )
    settled = record.step == Step.DONE or record.state in ("released", "cancelled", "failed")
    return Stored(201 if settled else 202, f"/orders/{record.id}", MediaType.JSON, _encoder.encode(record.view()))


LOCK_WAIT_S = 3.0  # how long a cancel or return waits for a saga step of the order to end


@post(
    "/orders",
    tags=["orders"],
    summary="Place an order (Idempotency-Key required)",
    status_code=201,
    responses={
        201: ResponseSpec(data_container=Order, description="Document created, URL follows", generate_examples=False),
        202: ResponseSpec(data_container=Order, description="Accepted while a back-end is away (pending_backend)"),
        409: ResponseSpec(
            data_container=Problem,
            media_type=MEDIA_TYPE,
            generate_examples=False,
            description="insufficient-stock (naming the lines) or request-in-flight",
        ),
        422: ResponseSpec(
            data_container=Problem,
            media_type=MEDIA_TYPE,
            generate_examples=False,
            description="unknown SKU or store, untaxable country, or idempotency-key-reused",
        ),
        503: ResponseSpec(
            data_container=Problem,
            media_type=MEDIA_TYPE,
            generate_examples=False,
            description="not accepted: a back-end (or the state store) is away; replay the same "
            "Idempotency-Key to place the same order again",
        ),
    },
)
async def create_order(
    request: Request[Any, Any, Any],
    data: Annotated[
        OrderRequest,
        Body(
            examples=[
                Example(summary="ship to home", value=ORDER_EXAMPLE),
                Example(summary="pickup in store", value=PICKUP_EXAMPLE),
            ]
        ),
    ],
    store: NamedDependency[Store],
    saga: NamedDependency[Saga],
    idempotency: NamedDependency[Idempotency],
    identity: NamedDependency[Identity],
    idempotency_key: RequiredKeyHeader,
) -> Response[bytes]:
    """201 with the order once released to the warehouse or store; 202 (``pending_backend``) when accepted
    while the ERP, WMS or POS is away, finished later by the retry worker; 409 ``insufficient-stock`` or 422
    naming the lines when it is rejected (or when two lines share a ``line_id``). A replay of the key answers the
    first answer, byte for byte; a replay after the first attempt died answers from the order it started."""
    owner = identity.require_owner()
    _unique_lines(data)

    async def start(order_id: str) -> Stored:
        try:
            record = await saga.place(owner, data, order_id, store.lock(order_id))
        except Exists:
            found = await resume(order_id)
            assert found is not None
            return found
        except Locked:
            raise ProblemError("request-in-flight", "this order is still being processed", retry_after=1) from None
        return _order_answer(request, record)

    async def resume(order_id: str) -> Stored | None:
        """The key's first attempt started this order and left no answer: answer from the order, after taking
        it as far as it goes now if it was not decided yet (never "accepted" for an order that may still be
        refused), or placing it again if it was not accepted because a back-end was away."""
        record = await store.order(order_id)
        if record is None:
            return None
        if undecided(record) or (not_accepted(record) and record.step == Step.DONE):
            lock = store.lock(order_id)
            if not await lock.try_acquire():
                raise ProblemError("request-in-flight", "this order is still being processed", retry_after=1)
            try:
                async with lock.kept_alive():
                    record = await store.order(order_id)
                    assert record is not None
                    if not_accepted(record) and record.step == Step.DONE:
                        record = await saga.place_again(record, lock)
                    elif undecided(record):
                        record = await saga.drive(record, lock)
            finally:
                await lock.release()
        return _order_answer(request, record)

    return await idempotency.respond(request, owner=owner, data=data, new_id=new_order_id(), start=start, resume=resume)


@get("/orders/{order_id:str}", tags=["orders"], summary="One order of the caller")
async def get_order(
    order_id: params.OrderId, store: NamedDependency[Store], identity: NamedDependency[Identity]
) -> Order:
    return (await _owned_order(store, order_id, identity.require_owner())).view()


class _Filters(msgspec.Struct, frozen=True):
    """What a listing is filtered by, as its cursors carry it (``""``: not filtered by it): a cursor is good only
    for the listing with the same filters."""

    status: str = ""
    updated_since: str = ""

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.updated_since)

    def keep(self, since: datetime | None) -> Callable[[OrderRecord], bool] | None:
        if not self.filtered:
            return None
        return lambda record: (
            (not self.status or record.state == self.status) and (since is None or record.updated_at >= since)
        )


_FILTERED = (float, str, str)  # a filtered listing's cursor: position, status, updated_since
_UNFILTERED = (float,)


def _decodes(given: str | None, shape: tuple[type[float] | type[str], ...]) -> bool:
    try:
        cursor.decode(given, CURSOR_TAG, *shape)
    except ProblemError:
        return False
    return True


def _position(given: str | None, filters: _Filters) -> tuple[Any, ...] | None:
    """The position ``given`` carries, if it is a cursor of this listing with these ``filters``; a 400 naming
    the cursor otherwise (the kernel's codec's, or one that says the filters differ)."""
    shape, other = (_FILTERED, _UNFILTERED) if filters.filtered else (_UNFILTERED, _FILTERED)
    other_filters = invalid(
        "the cursor belongs to this listing with other filters: pass the same status and updated_since as the "
        "request it came from, or start again without a cursor",
        errors=[{"field": "cursor"}],
    )
    if not _decodes(given, shape) and _decodes(given, other):
        raise other_filters
    position = cursor.decode(given, CURSOR_TAG, *shape)  # the codec's own 400 for a cursor of neither shape
    if position is not None and filters.filtered and _Filters(position[1], position[2]) != filters:
        raise other_filters
    return position


@get(
    "/orders",
    tags=["orders"],
    summary="The caller's orders, newest first, cursor-paged; by status and last change if asked",
    responses={
        400: ResponseSpec(
            data_container=Problem,
            media_type=MEDIA_TYPE,
            generate_examples=False,
            description="a filter is not valid, or the cursor is not one this listing issued (another listing's, "
            "or this one's with other filters)",
        )
    },
)
async def list_orders(
    store: NamedDependency[Store],
    identity: NamedDependency[Identity],
    settings: NamedDependency[OrdersSettings],
    cursor_: Annotated[
        str | None, QueryParameter(name="cursor", max_length=256, description="Opaque cursor from a previous page")
    ] = None,
    limit: Limit = 20,
    status: params.OrderStatus = None,
    updated_since: params.UpdatedSince = None,
) -> Page[Order]:
    """Newest first by creation. ``status`` keeps the orders in that state now; ``updated_since`` those changed
    at or after that time (``updated_at``, UTC): an order changed again while a client pages is still in the
    listing once it matches. A filtered page looks at no more than ``OMNIGATE_ORDERS_LIST_SCAN`` orders, so it may
    hold fewer than ``limit`` orders (even none) and still a ``next_cursor``: follow it until it is null. A
    cursor carries the filters it was issued for; with other filters it is a 400."""
    owner = identity.require_owner()
    since = params.aware(updated_since, field="updated_since")
    filters = _Filters(status or "", rfc3339(since) if since is not None else "")
    position = _position(cursor_, filters)
    records, after = await store.owner_orders(
        owner,
        position[0] if position else None,
        limit,
        keep=filters.keep(since),
        budget=settings.orders_list_scan,
    )
    next_cursor = None
    if after is not None:
        extra = (filters.status, filters.updated_since) if filters.filtered else ()
        next_cursor = cursor.encode(CURSOR_TAG, after, *extra)
    return Page(items=[r.view() for r in records], next_cursor=next_cursor)


@get("/orders/{order_id:str}/timeline", tags=["orders"], summary="Every transition of one order")
async def get_timeline(
    order_id: params.OrderId, store: NamedDependency[Store], identity: NamedDependency[Identity]
) -> list[TimelineEntry]:
    """Time, source system, document id (reservation, ERP sales order, WMS order, POS task, shipment,
    receipt, credit memo) and the correlation id of the request that caused it."""
    record = await _owned_order(store, order_id, identity.require_owner())
    return await store.timeline(record.id)


def _cancel_answer(record: OrderRecord) -> Stored:
    return Stored(200 if record.state == "cancelled" else 202, "", MediaType.JSON, _encoder.encode(record.view()))


@post(
    "/orders/{order_id:str}/cancel",
    tags=["orders"],
    summary="Cancel an order (Idempotency-Key honoured)",
    status_code=200,
    responses={
        200: ResponseSpec(
            data_container=Order, description="Request fulfilled, document follows", generate_examples=False
        )
    },
)
async def cancel_order(
    request: Request[Any, Any, Any],
    order_id: params.OrderId,
    data: JSONBody[CancelRequest],
    store: NamedDependency[Store],
    saga: NamedDependency[Saga],
    idempotency: NamedDependency[Idempotency],
    identity: NamedDependency[Identity],
    idempotency_key: KeyHeader = None,
) -> Response[bytes]:
    """Cancels the fulfilment documents and the ERP sales order by reference and releases the stock: 200 when
    done, 202 while a back-end is away (or a document's create is still in doubt; the retry worker finishes
    it). A ship order can be cancelled until it is released to the warehouse, a pickup until it is collected;
    409 after that (or once rejected, failed)."""
    owner = identity.require_owner()
    await _owned_order(store, order_id, owner)

    async def start(_: str) -> Stored:
        async with store.lock(order_id).holding(LOCK_WAIT_S) as lock:
            record = await saga.cancel(await _owned_order(store, order_id, owner), lock, data)
        return _cancel_answer(record)

    async def resume(_: str) -> Stored | None:
        record = await store.order(order_id)
        return _cancel_answer(record) if record is not None and record.goal == "cancelled" else None

    return await idempotency.respond(
        request, owner=owner, data=data, new_id=order_id, start=start, resume=resume, required=False
    )


def _return_answer(request: Request[Any, Any, Any], ret: ReturnRecord) -> Stored:
    if ret.state == "rejected":
        return _problem(request, "unprocessable", ret.waiting, [{"return_id": ret.id}])
    status = 201 if ret.step in (ReturnStep.DONE, ReturnStep.AWAIT_RECEIPT, ReturnStep.AWAIT_CLOSE) else 202
    return Stored(status, f"/returns/{ret.id}", MediaType.JSON, _encoder.encode(ret.view()))


@post(
    "/orders/{order_id:str}/returns",
    tags=["returns"],
    summary="Return lines of a delivered or picked-up order (Idempotency-Key required)",
    responses={
        201: ResponseSpec(data_container=Return, description="Document created, URL follows", generate_examples=False)
    },
)
async def create_return(
    request: Request[Any, Any, Any],
    order_id: params.OrderId,
    data: JSONBody[ReturnRequest],
    store: NamedDependency[Store],
    returns: NamedDependency[Returns],
    idempotency: NamedDependency[Idempotency],
    identity: NamedDependency[Identity],
    idempotency_key: RequiredKeyHeader,
) -> Response[bytes]:
    """``location`` is a DC (a return receipt is announced to the WMS; the refund follows what its
    ``receipt.received`` reports arriving) or a store (the POS takes the goods back into stock at once)."""
    owner = identity.require_owner()
    _unique_lines(data)
    await _owned_order(store, order_id, owner)

    async def start(return_id: str) -> Stored:
        async with store.lock(order_id).holding(LOCK_WAIT_S) as lock:
            record = await _owned_order(store, order_id, owner)
            try:
                ret = await returns.request(record, lock, data, return_id)
            except Exists:
                found = await store.ret(return_id)
                assert found is not None
                ret = found
        return _return_answer(request, ret)

    async def resume(return_id: str) -> Stored | None:
        ret = await store.ret(return_id)
        return _return_answer(request, ret) if ret is not None and ret.order_id == order_id else None

    return await idempotency.respond(
        request, owner=owner, data=data, new_id=new_return_id(), start=start, resume=resume
    )


@get("/returns/{return_id:str}", tags=["returns"], summary="One return of the caller")
async def get_return(
    return_id: params.ReturnId, store: NamedDependency[Store], identity: NamedDependency[Identity]
) -> Return:
    owner = identity.require_owner()
    ret = await store.ret(return_id)
    if ret is None or ret.owner != owner:
        raise not_found(f"return {return_id}")
    return ret.view()


@post(
    "/reconciliations/documents",
    tags=["reconciliation"],
    status_code=202,
    summary="Compare orders with the back-ends' documents; repair or report every mismatch",
    dependencies=requires(OPERATORS),  # channel=ops with ops:* (403 otherwise)
    responses={
        202: ResponseSpec(
            data_container=DocumentReconciliation,
            description="Request accepted, processing continues off-line",
            generate_examples=False,
        )
    },
)
async def start_document_sweep(
    request: Request[Any, Any, Any],
    data: JSONBody[DocumentReconciliationRequest],
    sweep: NamedDependency[Sweep],
    idempotency: NamedDependency[Idempotency],
    identity: NamedDependency[Identity],
    idempotency_key: KeyHeader = None,
) -> Response[bytes]:
    """Starts a sweep (202, ``state: running``): for each settled order, its ERP sales orders, WMS fulfilment
    orders or POS pickups and its returns' credit memos and receipts, by reference. An orphan behind a rejected,
    failed or cancelled order and a duplicate sales order are cancelled (``repaired``); the rest is reported.
    Poll ``GET /reconciliations/documents/{id}`` for the report. An ``Idempotency-Key`` is honoured: a replay
    answers the sweep its first request started."""
    operator = identity.require_owner()  # ops:<operator>: its idempotency keys are its own

    def answer(report: DocumentReconciliation) -> Stored:
        return Stored(202, f"/reconciliations/documents/{report.id}", MediaType.JSON, _encoder.encode(report))

    async def start(sweep_id: str) -> Stored:
        return answer(await sweep.start(data, sweep_id))

    async def resume(sweep_id: str) -> Stored | None:
        report = await sweep.get(sweep_id)
        return answer(report) if report is not None else None

    return await idempotency.respond(
        request, owner=operator, data=data, new_id=new_sweep_id(), start=start, resume=resume, required=False
    )


@get(
    "/reconciliations/documents/{sweep_id:str}",
    tags=["reconciliation"],
    summary="A document sweep's report",
    dependencies=requires(OPERATORS),
)
async def get_document_sweep(
    sweep_id: params.ReconciliationId, sweep: NamedDependency[Sweep], identity: NamedDependency[Identity]
) -> DocumentReconciliation:
    report = await sweep.get(sweep_id)
    if report is None:
        raise not_found(f"document reconciliation {sweep_id}")
    return report


ROUTES = [
    create_order,
    get_order,
    list_orders,
    get_timeline,
    cancel_order,
    create_return,
    get_return,
    start_document_sweep,
    get_document_sweep,
]
