"""``/_sim/*``: drive the store business from tests and demos, emitting what Square would emit.

Each driver answers with what it did, including the ``event_id`` of every webhook it queued (tests redeliver
them through ``POST /_webhooks/{event_id}/redeliver``). Unlike Square's API, which lets a count go negative,
the sale and pick-up drivers refuse (409) to take more than a store has on hand: a driver models a shopper
at a real shelf, who cannot carry away what is not there, and a negative count would only hide test mistakes.
Units an integrator took off the till for a pickup order (IN_STOCK -> SOLD with the order's ``reference_id``)
are no longer IN_STOCK, so the till cannot sell them; they are still on the shelf for the customer who comes
to collect that order (see ``sim_picked_up``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta

from services.sandbox.common.db import Transaction
from services.sandbox.pos import ledger, orders, square
from services.sandbox.pos.deps import PosSandbox
from shared.models.common import Sku
from shared.problems import ProblemError, not_found

STORE = Annotated[str, Meta(pattern=r"^(store-)?[A-Za-z0-9]{1,40}$")]
QTY = Annotated[int, Meta(ge=1, le=10_000)]
ORDER_ID = Annotated[str, Meta(pattern=r"^[A-Za-z0-9]{1,64}$")]


class StockMove(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    store: STORE
    sku: Sku
    qty: QTY


class OrderRef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: ORDER_ID


class SimResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    action: str
    location_id: str
    order_id: str | None = None
    catalog_object_id: str | None = None
    on_hand: dict[str, int] = {}
    fulfillment_state: str | None = None
    event_ids: list[str] = []


def _location(conn: Any, store: str) -> str:
    """Accept the canonical ``store-<code>`` or the Square location id."""
    code = store[len("store-") :] if store.startswith("store-") else store
    row = conn.execute("SELECT id FROM locations WHERE id = ?", (code.upper(),)).fetchone()
    if row is None:
        raise not_found(f"store {store}")
    return str(row[0])


def _variation(conn: Any, sku: str) -> str:
    row = conn.execute("SELECT id FROM variations WHERE sku = ? ORDER BY id LIMIT 1", (sku,)).fetchone()
    if row is None:
        raise not_found(f"sku {sku}")
    return str(row[0])


def _insufficient(short: list[dict[str, Any]]) -> ProblemError:
    return ProblemError("conflict", "not enough stock on hand at the store", errors=short)


def _counted(sandbox: PosSandbox, counts: list[square.InventoryCount]) -> tuple[dict[str, int], list[str]]:
    """Queue the webhook of the counts a driver moved (none if it moved none): what is on hand now, per
    variation, and the event ids queued."""
    event_id = ledger.notify_counts(sandbox, counts)
    return {c.catalog_object_id: int(c.quantity) for c in counts}, [event_id] if event_id else []


@post(
    "/_sim/sale",
    tags=["sandbox"],
    summary="A shopper buys at the till: order + IN_STOCK->SOLD + webhook",
    status_code=200,
)
async def sim_sale(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox], data: JSONBody[StockMove]
) -> SimResult:
    """A sale at the till, refused (409) beyond the store's IN_STOCK count.

    This models a seller who has turned "sold out at zero stock" on in Square (the Dashboard's setting that
    marks an item sold out when its tracked stock reaches zero, so Square Point of Sale stops selling it).
    Without that setting Square would let the till sell anyway and take IN_STOCK below zero; its API never
    refuses a sale for want of stock. Units held for pickups are not IN_STOCK, so they cannot be sold here.
    """
    conn = sandbox.db
    with Transaction(conn):
        location_id = _location(conn, data.store)
        variation_id = _variation(conn, data.sku)
        requested = square.Order(
            location_id=location_id,
            source=square.OrderSource(name="Square Point of Sale"),
            line_items=[square.OrderLineItem(quantity=str(data.qty), catalog_object_id=variation_id)],
        )
        order = orders.build(conn, requested)
        short = orders.short_lines(conn, order)
        if short:
            raise _insufficient(short)
        order = msgspec.structs.replace(order, state="COMPLETED", closed_at=order.created_at)
        orders.save(conn, order)
        counts = ledger.apply(conn, orders.sold_moves(order))
    on_hand, event_ids = _counted(sandbox, counts)
    return SimResult(
        action="sale",
        location_id=location_id,
        order_id=order.id,
        catalog_object_id=variation_id,
        on_hand=on_hand,
        event_ids=event_ids,
    )


@post(
    "/_sim/return",
    tags=["sandbox"],
    summary="A shopper brings an item back to the shelf: stock + webhook",
    status_code=200,
)
async def sim_return(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox], data: JSONBody[StockMove]
) -> SimResult:
    conn = sandbox.db
    with Transaction(conn):
        location_id = _location(conn, data.store)
        variation_id = _variation(conn, data.sku)
        move = ledger.Move(
            "ADJUSTMENT", variation_id, location_id, data.qty, "UNLINKED_RETURN", "IN_STOCK", square.now_ts(), None
        )
        counts = ledger.apply(conn, [move])
    on_hand, event_ids = _counted(sandbox, counts)
    return SimResult(
        action="return", location_id=location_id, catalog_object_id=variation_id, on_hand=on_hand, event_ids=event_ids
    )


def _open_pickup_order(conn: Any, order_id: str) -> square.Order:
    """The order the pickup drivers move on: it exists, has a PICKUP fulfillment and is still OPEN (409 if not)."""
    order = orders.load(conn, order_id)
    if order is None:
        raise not_found(f"order {order_id}")
    if not any(f.type == "PICKUP" for f in order.fulfillments or []):
        raise ProblemError("conflict", f"order {order_id} has no PICKUP fulfillment")
    if order.state != "OPEN":
        raise ProblemError("conflict", f"order {order_id} is {order.state}")
    return order


@post(
    "/_sim/pickup-ready",
    tags=["sandbox"],
    summary="Staff have picked the order: fulfillment PREPARED + webhook",
    status_code=200,
)
async def sim_pickup_ready(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox], data: JSONBody[OrderRef]
) -> SimResult:
    conn = sandbox.db
    with Transaction(conn):
        order = _open_pickup_order(conn, data.order_id)
        order, updates = orders.set_fulfillment_state(order, "PREPARED")
        if not updates:
            raise ProblemError("conflict", f"order {data.order_id} has no fulfillment to prepare")
        orders.save(conn, order)
    event_id = orders.notify_fulfillment(sandbox, order, updates)
    return SimResult(
        action="pickup-ready",
        location_id=order.location_id,
        order_id=order.id,
        fulfillment_state="PREPARED",
        event_ids=[event_id],
    )


@post(
    "/_sim/picked-up",
    tags=["sandbox"],
    summary="The customer collected: COMPLETED, stock sold + webhooks",
    status_code=200,
)
async def sim_picked_up(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox], data: JSONBody[OrderRef]
) -> SimResult:
    """The customer takes the order's units from the shelf: those set aside for this very order (held off
    the till) count as there, with whatever IN_STOCK the store has besides."""
    conn = sandbox.db
    with Transaction(conn):
        order = _open_pickup_order(conn, data.order_id)
        completed, updates = orders.set_fulfillment_state(order, "COMPLETED")
        if not updates:
            raise ProblemError("conflict", f"order {data.order_id} has no open fulfillment to complete")
        short = orders.short_lines(conn, order, orders.held_for(conn, order))
        if short:
            raise _insufficient(short)
        order = completed
        orders.save(conn, order)
        counts = ledger.apply(conn, orders.sold_moves(order))
    fulfilled = orders.notify_fulfillment(sandbox, order, updates)
    on_hand, counted = _counted(sandbox, counts)
    return SimResult(
        action="picked-up",
        location_id=order.location_id,
        order_id=order.id,
        fulfillment_state="COMPLETED",
        on_hand=on_hand,
        event_ids=[fulfilled, *counted],
    )


ROUTES = [sim_sale, sim_return, sim_pickup_ready, sim_picked_up]
