"""HTTP routes of ``process-orders`` (DESIGN §10): orders, their timeline, cancellation, returns.

Every route takes the owner (``X-Omnigate-Owner: <channel>:<id>``, passed on by the experience layer) and
scopes by it: another owner's order is a 404, and idempotency keys are per owner. ``POST /orders`` needs an
``Idempotency-Key``; its first answer is stored and replayed byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, HeaderParameter, JSONBody, Parameter

from shared import context
from shared.models.availability import OWNER_PATTERN
from shared.models.common import REF_PATTERN, Page
from shared.models.orders import CancelRequest, Order, OrderRequest, ReturnRequest, TimelineEntry
from shared.models.returns import Return
from shared.problems import CATALOGUE, MEDIA_TYPE, Problem, ProblemError, invalid, not_found, type_uri

from services.process.orders.idempotency import Idempotency, Stored, fingerprint, require_key
from services.process.orders.returns import Returns
from services.process.orders.saga import Saga
from services.process.orders.store import Locked, OrderRecord, ReturnRecord, Store, new_order_id, now_ms

_OWNER = re.compile(OWNER_PATTERN)
_REF = re.compile(REF_PATTERN)
_encoder = msgspec.json.Encoder()

OwnerHeader = Annotated[str | None, HeaderParameter(
    name="X-Omnigate-Owner", required=False, description="`<channel>:<customer or partner id>`: whose order this is")]
KeyHeader = Annotated[str | None, HeaderParameter(
    name="Idempotency-Key", required=False, description="Required: a unique key per order attempt (IETF draft)")]
Limit = Annotated[int, Parameter(ge=1, le=100, description="Page size, 1-100")]
Cursor = Annotated[str | None, Parameter(max_length=64, description="Opaque cursor from a previous page")]

ORDER_EXAMPLE = {
    "customer": {"id": "c-1001", "name": "Anna de Vries", "email": "anna@example.com"},
    "fulfilment": {"mode": "ship", "ship_to": {"name": "Anna de Vries", "line1": "Keizersgracht 1",
                                                "city": "Amsterdam", "postal_code": "1015 CJ", "country": "NL"}},
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


def _state(request: Request[Any, Any, Any]) -> tuple[Store, Saga, Returns, Idempotency]:
    s = request.app.state
    return s.store, s.saga, s.returns, s.idempotency


def _owner(value: str | None) -> str:
    if not value or not _OWNER.match(value):
        raise invalid("the X-Omnigate-Owner header is required: `<web|mobile|partner|ops>:<id>`",
                      errors=[{"field": "X-Omnigate-Owner", "value": (value or "")[:100]}])
    return value


async def _owned_order(store: Store, order_id: str, owner: str) -> OrderRecord:
    record = await store.order(order_id) if _REF.match(order_id) else None
    if record is None or record.owner != owner:
        raise not_found(f"order {order_id}")  # another owner's order does not exist for this caller
    return record


def _problem_bytes(request: Request[Any, Any, Any], slug: str, detail: str | None,
                   errors: list[dict[str, Any]] | None, *, status: int | None = None,
                   upstream: str | None = None) -> Stored:
    status = status or CATALOGUE[slug][0]
    problem = Problem(type=type_uri(slug), title=CATALOGUE[slug][1], status=status, detail=detail,
                      instance=request.url.path, request_id=context.request_id_var.get(), errors=errors,
                      upstream=upstream)
    return Stored(status, "", MEDIA_TYPE, _encoder.encode(problem))


def _answer(stored: Stored) -> Response[bytes]:
    headers = {"Location": stored.location} if stored.location else {}
    return Response(content=stored.body, status_code=stored.status, media_type=stored.media_type, headers=headers)


def _order_answer(request: Request[Any, Any, Any], record: OrderRecord) -> Stored:
    if record.state == "rejected":
        return _problem_bytes(request, record.slug or "unprocessable", record.reason, record.errors)
    if record.state == "failed" and record.errors and record.errors[0].get("upstream"):
        # Never accepted because a back-end was away: the caller may simply try again (not stored).
        failure = record.errors[0]
        status = int(failure.get("status") or 503)
        return _problem_bytes(request, "upstream-unavailable" if status == 503 else
                              ("upstream-timeout" if status == 504 else "upstream-error"),
                              record.reason, None, status=status, upstream=str(failure["upstream"]))
    settled = record.step == "done" or record.state in ("released", "cancelled", "failed")
    return Stored(201 if settled else 202, f"/orders/{record.id}", MediaType.JSON, _encoder.encode(record.view()))


@post("/orders", tags=["orders"], summary="Place an order (Idempotency-Key required)", status_code=201,
      responses={
          202: ResponseSpec(data_container=Order, description="Accepted while a back-end is away (pending_backend)"),
          409: ResponseSpec(data_container=Problem, media_type=MEDIA_TYPE, generate_examples=False,
                            description="insufficient-stock (naming the lines) or request-in-flight"),
          422: ResponseSpec(data_container=Problem, media_type=MEDIA_TYPE, generate_examples=False,
                            description="unknown SKU or store, untaxable country, or idempotency-key-reused"),
      })
async def create_order(
    request: Request[Any, Any, Any],
    data: Annotated[OrderRequest, Body(examples=[Example(summary="ship to home", value=ORDER_EXAMPLE),
                                                 Example(summary="pickup in store", value=PICKUP_EXAMPLE)])],
    owner: OwnerHeader = None,
    idempotency_key: KeyHeader = None,
) -> Response[Order]:
    """201 with the order once released to the warehouse or store; 202 (``pending_backend``) when accepted
    while the ERP, WMS or POS is away, finished later by the retry worker; 409 ``insufficient-stock`` or 422
    naming the lines when it is rejected. A replay of the key answers the first answer, byte for byte."""
    owner = _owner(owner)
    key = require_key(idempotency_key)
    store, saga, _, idempotency = _state(request)
    claim = await idempotency.begin(owner, key, fingerprint("POST", "/orders", await request.body()),
                                    new_order_id(), now_ms())
    if claim.stored is not None:
        return _answer(claim.stored)  # type: ignore[return-value]
    order_id = claim.resource_id
    try:
        record = None if claim.fresh else await store.order(order_id)
        if record is None:
            token = store.new_token()
            try:
                record = await saga.place(owner, data, order_id, token)
            except Locked:
                raise ProblemError("request-in-flight", "this order is still being processed", retry_after=1) from None
        stored = _order_answer(request, record)
    except BaseException:
        await idempotency.abandon(owner, key, order_id)
        raise
    if stored.status >= 500:
        await idempotency.abandon(owner, key, order_id)
    else:
        await idempotency.complete(owner, key, order_id, stored)
    return _answer(stored)  # type: ignore[return-value]


@get("/orders/{order_id:str}", tags=["orders"], summary="One order of the caller")
async def get_order(request: Request[Any, Any, Any], order_id: FromPath[str], owner: OwnerHeader = None) -> Order:
    store = _state(request)[0]
    return (await _owned_order(store, order_id, _owner(owner))).view()


def _cursor(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(base64.urlsafe_b64decode(value.encode() + b"==").decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("the cursor is not one this API issued", errors=[{"field": "cursor"}]) from None


@get("/orders", tags=["orders"], summary="The caller's orders, newest first, cursor-paged")
async def list_orders(request: Request[Any, Any, Any], owner: OwnerHeader = None, cursor: Cursor = None,
                      limit: Limit = 20) -> Page[Order]:
    owner = _owner(owner)
    store = _state(request)[0]
    rows = await store.owner_page(owner, _cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    records = await store.orders([order_id for order_id, _ in rows])
    next_cursor = base64.urlsafe_b64encode(repr(rows[-1][1]).encode()).decode().rstrip("=") if more else None
    return Page(items=[r.view() for r in records if r.owner == owner], next_cursor=next_cursor)


@get("/orders/{order_id:str}/timeline", tags=["orders"], summary="Every transition of one order")
async def get_timeline(request: Request[Any, Any, Any], order_id: FromPath[str],
                       owner: OwnerHeader = None) -> list[TimelineEntry]:
    """Time, source system, document id (reservation, ERP sales order, WMS order, POS task, shipment,
    receipt, credit memo) and the correlation id of the request that caused it."""
    store = _state(request)[0]
    record = await _owned_order(store, order_id, _owner(owner))
    return await store.timeline(record.id)


@post("/orders/{order_id:str}/cancel", tags=["orders"], summary="Cancel an order before it is released",
      status_code=200)
async def cancel_order(request: Request[Any, Any, Any], order_id: FromPath[str], data: JSONBody[CancelRequest],
                       owner: OwnerHeader = None) -> Response[Order]:
    """Releases the stock and cancels the ERP sales order: 200 when done, 202 while a back-end is away (the
    retry worker finishes it); 409 once the order is released (or rejected, failed)."""
    owner = _owner(owner)
    store, saga, _, _ = _state(request)
    await _owned_order(store, order_id, owner)
    token = store.new_token()
    await store.lock_waiting(order_id, token, store.lock_ttl_ms / 1000 * 3)
    async with store.held(order_id, token):
        record = await _owned_order(store, order_id, owner)
        record = await saga.cancel(record, token, data)
    return Response(record.view(), status_code=200 if record.state == "cancelled" else 202)


def _return_answer(request: Request[Any, Any, Any], ret: ReturnRecord) -> Response[Any]:
    if ret.state == "rejected":
        return _answer(_problem_bytes(request, "unprocessable", ret.waiting, [{"return_id": ret.id}]))
    status = 201 if ret.step in ("done", "await_receipt") else 202
    return Response(ret.view(), status_code=status, headers={"Location": f"/returns/{ret.id}"})


@post("/orders/{order_id:str}/returns", tags=["returns"], summary="Return lines of a delivered or picked-up order")
async def create_return(request: Request[Any, Any, Any], order_id: FromPath[str], data: JSONBody[ReturnRequest],
                        owner: OwnerHeader = None) -> Response[Return]:
    """``location`` is a DC (a return receipt is announced to the WMS; the refund follows its
    ``receipt.received``) or a store (the POS takes the goods back into stock at once)."""
    owner = _owner(owner)
    store, _, returns, _ = _state(request)
    await _owned_order(store, order_id, owner)
    token = store.new_token()
    await store.lock_waiting(order_id, token, store.lock_ttl_ms / 1000 * 3)
    async with store.held(order_id, token):
        record = await _owned_order(store, order_id, owner)
        ret = await returns.request(record, token, data)
    return _return_answer(request, ret)


@get("/returns/{return_id:str}", tags=["returns"], summary="One return of the caller")
async def get_return(request: Request[Any, Any, Any], return_id: FromPath[str], owner: OwnerHeader = None) -> Return:
    owner = _owner(owner)
    store = _state(request)[0]
    ret = await store.ret(return_id) if _REF.match(return_id) else None
    if ret is None or ret.owner != owner:
        raise not_found(f"return {return_id}")
    return ret.view()


ROUTES = [create_order, get_order, list_orders, get_timeline, cancel_order, create_return, get_return]
