"""``/_sim/*``: drive the warehouse from tests and demos, and the webhooks a real 3PL would send.

Each sim changes the WMS's state the way the physical event would (a parcel leaves, a return arrives, a
cycle count corrects on-hand) and enqueues the documented webhook, signed Stripe-style. Sims answer with what
they did, including the webhook ids, so tests can redeliver a notification via ``/_webhooks/{id}/redeliver``.
Sims are sandbox controls, not vendor API: their errors are problem+json like the kit's other controls.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from msgspec import Meta

from services.sandbox.common.db import Transaction
from services.sandbox.wms import db
from services.sandbox.wms.deps import WmsSandbox
from services.sandbox.wms.routes import CANCELLABLE, WarehouseCode
from shared.models.common import Ref, Sku
from shared.problems import ProblemError, invalid, not_found

SIGNATURE_HEADER = "X-WMS-Signature"
_encoder = msgspec.json.Encoder()
CARRIERS = ("PostNL", "DHL Parcel", "DPD")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`` (README, "Verifying webhooks")."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def make_signer(secret: str) -> Callable[[str, bytes], dict[str, str]]:
    def signer(_url: str, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: signature(secret, int(time.time()), body)}

    return signer


def emit(sandbox: WmsSandbox, type_: str, data: dict[str, Any]) -> str:
    event_id = db.new_id("evt")
    body = _encoder.encode({"id": event_id, "type": type_, "created_at": db.now(), "data": data})
    sandbox.sender().enqueue(event_id, sandbox.settings.wms_webhook_url, body)
    return event_id


class _SimInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ShipInput(_SimInput, kw_only=True):
    order_reference: Ref
    carrier: Annotated[str, Meta(min_length=1, max_length=40)] | None = None


class DeliverInput(_SimInput, kw_only=True):
    order_reference: Ref


class ReceivedLine(_SimInput, kw_only=True):
    sku: Sku
    qty: Annotated[int, Meta(ge=0, le=100_000)]


class ReceiveInput(_SimInput, kw_only=True):
    """Either ``reference`` (an announced return receipt, received in full unless ``lines`` says what
    actually arrived: fewer units, or more) or ``warehouse, sku, qty`` (a supplier delivery)."""

    reference: Ref | None = None
    lines: Annotated[list[ReceivedLine], Meta(min_length=1, max_length=500)] | None = None
    warehouse: WarehouseCode | None = None
    sku: Sku | None = None
    qty: Annotated[int, Meta(ge=1, le=100_000)] | None = None


class CountInput(_SimInput, kw_only=True):
    warehouse: WarehouseCode
    sku: Sku
    on_hand: Annotated[int, Meta(ge=0, le=10_000_000)]


async def _decode(request: Request[Any, Any, Any], type_: type[Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body(), type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise invalid(str(exc)) from None


def _order(conn: sqlite3.Connection, reference: str) -> sqlite3.Row:
    row = db.find_order(conn, reference=reference)
    if row is None:
        raise not_found(f"fulfillment order {reference}")
    return row


@post(
    "/_sim/ship",
    tags=["sandbox"],
    summary="Dispatch a fulfillment order (shipment.dispatched webhook)",
    status_code=200,
)
async def sim_ship(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: ShipInput = await _decode(request, ShipInput)
    conn = sandbox.db
    order = _order(conn, data.order_reference)
    if order["status"] not in CANCELLABLE:
        raise ProblemError("conflict", f"fulfillment order {data.order_reference} is {order['status']}")
    lines = conn.execute(
        "SELECT sku, quantity FROM fulfillment_order_lines WHERE order_id = ? ORDER BY line_no", (order["id"],)
    ).fetchall()
    needed = Counter[str]()
    for line in lines:
        needed[line["sku"]] += line["quantity"]
    short = []
    for sku, qty in needed.items():
        on_hand = conn.execute(
            "SELECT on_hand FROM stock WHERE warehouse = ? AND sku = ?", (order["warehouse"], sku)
        ).fetchone()[0]
        if on_hand < qty:
            short.append({"sku": sku, "needed": qty, "on_hand": on_hand})
    if short:
        # A warehouse cannot put in a parcel what is not on its shelves: receive stock first.
        raise ProblemError("conflict", "the order is backordered: not enough on hand to ship", errors=short)
    shipment_id = db.new_id("shp")
    stamp = db.now()
    carrier = data.carrier or CARRIERS[int(hashlib.sha256(order["id"].encode()).hexdigest(), 16) % len(CARRIERS)]
    with Transaction(conn):
        conn.execute(
            "INSERT INTO shipments(id, order_id, warehouse, carrier, tracking_number, status, dispatched_at) "
            "VALUES (?, ?, ?, ?, ?, 'dispatched', ?)",
            (shipment_id, order["id"], order["warehouse"], carrier, "3S" + os.urandom(6).hex().upper(), stamp),
        )
        conn.executemany(
            "INSERT INTO shipment_lines(shipment_id, line_no, sku, quantity) VALUES (?, ?, ?, ?)",
            [(shipment_id, n, line["sku"], line["quantity"]) for n, line in enumerate(lines, start=1)],
        )
        for sku, qty in needed.items():
            conn.execute(
                "UPDATE stock SET on_hand = on_hand - ?, allocated = max(0, allocated - ?), updated_at = ? "
                "WHERE warehouse = ? AND sku = ?",
                (qty, qty, stamp, order["warehouse"], sku),
            )
        conn.execute(
            "UPDATE fulfillment_orders SET status = 'shipped', updated_at = ? WHERE id = ?", (stamp, order["id"])
        )
    shipment = db.shipment_json(conn, conn.execute("SELECT * FROM shipments WHERE id = ?", (shipment_id,)).fetchone())
    event_id = emit(sandbox, "shipment.dispatched", shipment)
    return {
        "order_id": order["id"],
        "order_reference": data.order_reference,
        "shipment": shipment,
        "webhooks": [event_id],
    }


@post(
    "/_sim/deliver", tags=["sandbox"], summary="Deliver a shipped order (shipment.delivered webhook)", status_code=200
)
async def sim_deliver(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: DeliverInput = await _decode(request, DeliverInput)
    conn = sandbox.db
    order = _order(conn, data.order_reference)
    if order["status"] != "shipped":
        raise ProblemError("conflict", f"fulfillment order {data.order_reference} is {order['status']}, not shipped")
    stamp = db.now()
    with Transaction(conn):
        conn.execute(
            "UPDATE shipments SET status = 'delivered', delivered_at = ? WHERE order_id = ? AND delivered_at IS NULL",
            (stamp, order["id"]),
        )
        conn.execute(
            "UPDATE fulfillment_orders SET status = 'delivered', updated_at = ? WHERE id = ?", (stamp, order["id"])
        )
    shipments = [
        db.shipment_json(conn, row)
        for row in conn.execute("SELECT * FROM shipments WHERE order_id = ? ORDER BY id", (order["id"],)).fetchall()
    ]
    event_ids = [emit(sandbox, "shipment.delivered", shipment) for shipment in shipments]
    return {
        "order_id": order["id"],
        "order_reference": data.order_reference,
        "shipments": shipments,
        "webhooks": event_ids,
    }


def _dock_counts(reference: str, expected: list[sqlite3.Row], lines: list[ReceivedLine] | None) -> list[int]:
    """What the dock counted for each announced line: the announced quantity unless ``lines`` says otherwise
    (split over the lines of a SKU in order; the last line of a SKU takes any surplus)."""
    counted = Counter[str]()
    for received in lines or []:
        counted[received.sku] += received.qty
    unexpected = sorted(set(counted) - {line["sku"] for line in expected})
    if unexpected:
        raise invalid(f"receipt {reference} expects no {', '.join(unexpected)}")
    if lines is None:
        return [line["quantity"] for line in expected]
    quantities: list[int] = []
    for line in expected:
        last = line["line_no"] == max(x["line_no"] for x in expected if x["sku"] == line["sku"])
        qty = counted[line["sku"]] if last else min(line["quantity"], counted[line["sku"]])
        counted[line["sku"]] -= qty
        quantities.append(qty)
    return quantities


def _receive_return(conn: sqlite3.Connection, reference: str, lines: list[ReceivedLine] | None, stamp: str) -> str:
    """Receive an announced return receipt into its warehouse; returns the receipt's id."""
    receipt = db.find_receipt(conn, reference=reference)
    if receipt is None:
        raise not_found(f"receipt {reference}")
    if receipt["status"] != "expected":
        raise ProblemError("conflict", f"receipt {reference} is {receipt['status']}")
    receipt_id: str = receipt["id"]
    expected = conn.execute(
        "SELECT line_no, sku, quantity FROM receipt_lines WHERE receipt_id = ? ORDER BY line_no", (receipt_id,)
    ).fetchall()
    quantities = _dock_counts(reference, expected, lines)
    with Transaction(conn):
        for line, qty in zip(expected, quantities, strict=True):
            db.ensure_stock_row(conn, receipt["warehouse"], line["sku"])
            conn.execute(
                "UPDATE stock SET on_hand = on_hand + ?, updated_at = ? WHERE warehouse = ? AND sku = ?",
                (qty, stamp, receipt["warehouse"], line["sku"]),
            )
            conn.execute(
                "UPDATE receipt_lines SET received_quantity = ? WHERE receipt_id = ? AND line_no = ?",
                (qty, receipt_id, line["line_no"]),
            )
        conn.execute("UPDATE receipts SET status = 'received', received_at = ? WHERE id = ?", (stamp, receipt_id))
    return receipt_id


def _receive_delivery(conn: sqlite3.Connection, warehouse: str, sku: str, qty: int, stamp: str) -> str:
    """Receive a supplier delivery (a purchase order received in full on arrival); returns the receipt's id."""
    if not db.warehouse_exists(conn, warehouse):
        raise not_found(f"warehouse {warehouse}")
    if db.unknown_skus(conn, [sku]):
        raise not_found(f"SKU {sku}")
    with Transaction(conn):
        receipt_id = db.insert_receipt(
            conn,
            reference="PO-" + os.urandom(5).hex().upper(),
            warehouse=warehouse,
            type_="purchase_order",
            status="received",
            lines=[(sku, qty)],
        )
        conn.execute("UPDATE receipt_lines SET received_quantity = quantity WHERE receipt_id = ?", (receipt_id,))
        conn.execute("UPDATE receipts SET received_at = ? WHERE id = ?", (stamp, receipt_id))
        db.ensure_stock_row(conn, warehouse, sku)
        conn.execute(
            "UPDATE stock SET on_hand = on_hand + ?, in_transit = max(0, in_transit - ?), updated_at = ? "
            "WHERE warehouse = ? AND sku = ?",
            (qty, qty, stamp, warehouse, sku),
        )
    return receipt_id


@post(
    "/_sim/receive",
    tags=["sandbox"],
    summary="Receive a return or a supplier delivery (receipt.received)",
    status_code=200,
)
async def sim_receive(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: ReceiveInput = await _decode(request, ReceiveInput)
    conn = sandbox.db
    supplier = (data.warehouse, data.sku, data.qty)
    stamp = db.now()
    if data.reference is not None and supplier == (None, None, None):
        receipt_id = _receive_return(conn, data.reference, data.lines, stamp)
    elif data.reference is None and data.lines is None and None not in supplier:
        assert data.warehouse is not None and data.sku is not None and data.qty is not None
        receipt_id = _receive_delivery(conn, data.warehouse, data.sku, data.qty, stamp)
    else:
        raise invalid("give either {reference} or {warehouse, sku, qty}")
    row = db.find_receipt(conn, receipt_id=receipt_id)
    assert row is not None
    receipt_data = db.receipt_json(conn, row)
    event_id = emit(sandbox, "receipt.received", receipt_data)
    return {"receipt": receipt_data, "webhooks": [event_id]}


@post(
    "/_sim/count",
    tags=["sandbox"],
    summary="Cycle count: set absolute on-hand (stock.counted webhook)",
    status_code=200,
)
async def sim_count(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: CountInput = await _decode(request, CountInput)
    conn = sandbox.db
    if not db.warehouse_exists(conn, data.warehouse):
        raise not_found(f"warehouse {data.warehouse}")
    if db.unknown_skus(conn, [data.sku]):
        raise not_found(f"SKU {data.sku}")
    stamp = db.now()
    with Transaction(conn):
        db.ensure_stock_row(conn, data.warehouse, data.sku)
        conn.execute(
            "UPDATE stock SET on_hand = ?, updated_at = ? WHERE warehouse = ? AND sku = ?",
            (data.on_hand, stamp, data.warehouse, data.sku),
        )
    stock = db.stock_json(
        conn.execute("SELECT * FROM stock WHERE warehouse = ? AND sku = ?", (data.warehouse, data.sku)).fetchone()
    )
    event_id = emit(
        sandbox,
        "stock.counted",
        {"warehouse": data.warehouse, "counted_at": stamp, "counts": [{"sku": data.sku, "on_hand": data.on_hand}]},
    )
    return {"stock": stock, "webhooks": [event_id]}


ROUTES = [sim_ship, sim_deliver, sim_receive, sim_count]
