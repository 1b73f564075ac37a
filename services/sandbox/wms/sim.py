"""``/_sim/*``: drive the warehouse from tests and demos, and the webhooks ShipBob would send.

Each sim changes the WMS's state the way the physical event would and queues what ShipBob sends for it
(2026-01 topics): a parcel leaves (``order.shipped``, once per shipment: an order split into parcels fires it per
parcel), a carrier delivers (``order.shipment.delivered``), a customer return is processed
(``return.completed``). ShipBob sends no webhook for stock: a cycle count or a supplier delivery (a warehouse
receiving order received in full) only moves inventory levels and writes inventory history, which system-wms
polls. Sims answer with what they did, including the delivery ids (``webhook-id``) of the webhooks they queued,
so tests can redeliver one via ``/_webhooks/{id}/redeliver``. Sims are sandbox controls, not vendor API: their
errors are problem+json like the kit's other controls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from msgspec import Meta

from services.sandbox.common.db import Transaction
from services.sandbox.wms import db
from services.sandbox.wms.deps import WmsSandbox
from services.sandbox.wms.routes import emit, insert_receiving
from shared.models.common import Ref, Sku
from shared.problems import ProblemError, invalid, not_found

CARRIERS = ("PostNL", "DHL Parcel", "DPD")
Warehouse = Annotated[str, Meta(pattern=r"^[A-Z0-9]{2,10}$")]


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks ``webhook-signature``: ``v1,`` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")) with
    the key the base64-decoded part of a ``whsec_`` secret (https://www.standardwebhooks.com, as ShipBob signs
    deliveries of subscriptions made through the dated API)."""
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def make_signer(
    conn_getter: Callable[[], sqlite3.Connection],
) -> Callable[[str, bytes, dict[str, str]], dict[str, str]]:
    """Signs each attempt afresh (``webhook-timestamp`` is now) with the secret of the subscription at ``url``."""

    def signer(url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        row = conn_getter().execute("SELECT secret FROM webhook_subscriptions WHERE url = ? LIMIT 1", (url,)).fetchone()
        if row is None:
            return {}
        msg_id = headers.get("webhook-id", "")
        stamp = int(time.time())
        return {"webhook-timestamp": str(stamp), "webhook-signature": sign(row[0], msg_id, stamp, body)}

    return signer


class _SimInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class SimLine(_SimInput, kw_only=True):
    sku: Sku
    qty: Annotated[int, Meta(ge=0, le=100_000)]


class ShipLine(_SimInput, kw_only=True):
    """Units split off into a parcel: at least one (a parcel with nothing in it is not a shipment)."""

    sku: Sku
    qty: Annotated[int, Meta(ge=1, le=100_000)]


class ShipInput(_SimInput, kw_only=True):
    """Ship the order's open shipment, or, with ``lines``, only those units: ShipBob splits them off into a
    shipment of their own (the rest stays open), so an order leaves as several parcels."""

    order_reference: Ref
    carrier: Annotated[str, Meta(min_length=1, max_length=40)] | None = None
    lines: Annotated[list[ShipLine], Meta(min_length=1, max_length=500)] | None = None


class DeliverInput(_SimInput, kw_only=True):
    order_reference: Ref


class ReceiveInput(_SimInput, kw_only=True):
    """Either ``reference`` (a customer return, processed in full unless ``lines`` says what actually arrived) or
    ``warehouse, sku, qty`` (a supplier delivery: a warehouse receiving order received in full)."""

    reference: Ref | None = None
    lines: Annotated[list[SimLine], Meta(min_length=1, max_length=500)] | None = None
    warehouse: Warehouse | None = None
    sku: Sku | None = None
    qty: Annotated[int, Meta(ge=1, le=100_000)] | None = None


class CountInput(_SimInput, kw_only=True):
    warehouse: Warehouse
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
        raise not_found(f"order {reference}")
    return row


def _centre(conn: sqlite3.Connection, abbreviation: str) -> sqlite3.Row:
    row = db.location_by_abbreviation(conn, abbreviation)
    if row is None:
        raise not_found(f"fulfillment center {abbreviation}")
    return row


def _item(conn: sqlite3.Connection, sku: str) -> sqlite3.Row:
    found = db.inventory_by_sku(conn, [sku])
    if sku not in found:
        raise not_found(f"SKU {sku}")
    return found[sku]


def _split(conn: sqlite3.Connection, shipment: sqlite3.Row, lines: list[ShipLine], stamp: str) -> int:
    """Move ``lines`` out of the open ``shipment`` into a new shipment at the same centre; returns its id."""
    products = {
        r["sku"]: r
        for r in conn.execute(
            "SELECT p.*, i.sku FROM shipment_products p JOIN inventory i ON i.id = p.inventory_id WHERE shipment_id = ?",
            (shipment["id"],),
        )
    }
    wanted = Counter[str]()
    for line in lines:
        wanted[line.sku] += line.qty
    for sku, qty in wanted.items():
        if sku not in products or products[sku]["quantity"] < qty:
            raise ProblemError("conflict", f"the open shipment does not hold {qty} of {sku}")
    if all(products[sku]["quantity"] == qty for sku, qty in wanted.items()) and set(wanted) == set(products):
        return int(shipment["id"])  # the whole shipment: nothing to split
    new_id = db.next_id(conn, "shipments", db.FIRST_SHIPMENT_ID)
    conn.execute(
        "INSERT INTO shipments(id, order_id, location_id, status, created_date, last_update_at) "
        "VALUES (?, ?, ?, 'Processing', ?, ?)",
        (new_id, shipment["order_id"], shipment["location_id"], stamp, stamp),
    )
    for sku, qty in wanted.items():
        if qty == 0:
            continue
        row = products[sku]
        committed = min(qty, row["quantity_committed"])
        conn.execute(
            "INSERT INTO shipment_products(shipment_id, inventory_id, quantity, quantity_committed) VALUES (?, ?, ?, ?)",
            (new_id, row["inventory_id"], qty, committed),
        )
        if row["quantity"] == qty:
            conn.execute(
                "DELETE FROM shipment_products WHERE shipment_id = ? AND inventory_id = ?",
                (shipment["id"], row["inventory_id"]),
            )
        else:
            conn.execute(
                "UPDATE shipment_products SET quantity = quantity - ?, quantity_committed = quantity_committed - ? "
                "WHERE shipment_id = ? AND inventory_id = ?",
                (qty, committed, shipment["id"], row["inventory_id"]),
            )
    return new_id


def _summary(conn: sqlite3.Connection, shipment_id: int) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM shipments WHERE id = ?", (shipment_id,)).fetchone()
    lines = conn.execute(
        "SELECT i.sku, p.quantity FROM shipment_products p JOIN inventory i ON i.id = p.inventory_id "
        "WHERE shipment_id = ? ORDER BY i.sku",
        (shipment_id,),
    ).fetchall()
    return {
        "id": str(row["id"]),
        "order_id": str(row["order_id"]),
        "status": row["status"],
        "carrier": row["carrier"],
        "tracking_number": row["tracking_number"],
        "tracking_url": row["tracking_url"],
        # The times as a canonical document renders them (the facts system-wms publishes carry these).
        "dispatched_at": _canonical_time(row["actual_fulfillment_date"]),
        "delivered_at": _canonical_time(row["delivery_date"]),
        "lines": [{"sku": r["sku"], "quantity": r["quantity"]} for r in lines],
    }


def _canonical_time(stamp: str | None) -> str | None:
    return (
        msgspec.json.decode(msgspec.json.encode(stamp), type=datetime).isoformat().replace("+00:00", "Z")
        if stamp
        else None
    )


@post("/_sim/ship", tags=["sandbox"], summary="Ship an order, or part of it (order.shipped webhook)", status_code=200)
async def sim_ship(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: ShipInput = await _decode(request, ShipInput)
    conn = sandbox.db
    order = _order(conn, data.order_reference)
    shipment = conn.execute(
        "SELECT * FROM shipments WHERE order_id = ? AND status IN ('Processing', 'Exception', 'OnHold') "
        "AND tracking_number IS NULL ORDER BY id LIMIT 1",
        (order["id"],),
    ).fetchone()
    if shipment is None:
        raise ProblemError("conflict", f"order {data.order_reference} is {order['status']}: nothing left to ship")
    stamp = db.now()
    with Transaction(conn):
        shipment_id = _split(conn, shipment, data.lines, stamp) if data.lines else int(shipment["id"])
        products = conn.execute("SELECT * FROM shipment_products WHERE shipment_id = ?", (shipment_id,)).fetchall()
        short = []
        for p in products:
            on_hand = conn.execute(
                "SELECT on_hand FROM inventory_levels WHERE location_id = ? AND inventory_id = ?",
                (shipment["location_id"], p["inventory_id"]),
            ).fetchone()
            if on_hand is None or on_hand[0] < p["quantity"]:
                short.append(
                    {"inventory_id": p["inventory_id"], "needed": p["quantity"], "on_hand": on_hand and on_hand[0]}
                )
        if short:
            # A warehouse cannot put in a parcel what is not on its shelves: receive stock first.
            raise ProblemError("conflict", "the shipment is out of stock: not enough on hand to ship", errors=short)
        for p in products:
            db.move_on_hand(
                conn,
                shipment["location_id"],
                p["inventory_id"],
                -p["quantity"],
                "OrderPicked",
                committed_change=-p["quantity_committed"],
                order_id=order["id"],
                stamp=stamp,
            )
            conn.execute(
                "UPDATE shipment_products SET quantity_committed = quantity WHERE shipment_id = ? AND inventory_id = ?",
                (shipment_id, p["inventory_id"]),
            )
        digest = int(hashlib.sha256(str(shipment_id).encode()).hexdigest(), 16)
        carrier = data.carrier or CARRIERS[digest % len(CARRIERS)]
        number = db.tracking_number()
        # ``tracking.tracking_url`` is nullable; ShipBob leaves it empty for many carriers outside the US, and so
        # does the sandbox (the layer above then links the carrier's own page).
        page: str | None = None
        conn.execute(
            "UPDATE shipments SET status = 'Completed', carrier = ?, carrier_service = 'Standard', tracking_number = ?, "
            "tracking_url = ?, actual_fulfillment_date = ?, last_update_at = ? WHERE id = ?",
            (carrier, number, page, stamp, stamp, shipment_id),
        )
        db.refresh_order_status(conn, order["id"])
    row = conn.execute("SELECT * FROM shipments WHERE id = ?", (shipment_id,)).fetchone()
    webhooks = emit(sandbox, "order.shipped", db.shipment_json(conn, row))
    return {
        "order_id": str(order["id"]),
        "order_reference": data.order_reference,
        "shipment": _summary(conn, shipment_id),
        "webhooks": webhooks,
    }


@post(
    "/_sim/deliver",
    tags=["sandbox"],
    summary="The carrier delivers an order's shipped parcels (order.shipment.delivered webhooks)",
    status_code=200,
)
async def sim_deliver(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: DeliverInput = await _decode(request, DeliverInput)
    conn = sandbox.db
    order = _order(conn, data.order_reference)
    parcels = conn.execute(
        "SELECT id FROM shipments WHERE order_id = ? AND tracking_number IS NOT NULL AND delivery_date IS NULL "
        "ORDER BY id",
        (order["id"],),
    ).fetchall()
    if not parcels:
        raise ProblemError("conflict", f"order {data.order_reference} has no parcel on its way")
    stamp = db.now()
    with Transaction(conn):
        for parcel in parcels:
            conn.execute(
                "UPDATE shipments SET delivery_date = ?, last_update_at = ? WHERE id = ?", (stamp, stamp, parcel["id"])
            )
    webhooks: list[str] = []
    for parcel in parcels:
        row = conn.execute("SELECT * FROM shipments WHERE id = ?", (parcel["id"],)).fetchone()
        webhooks += emit(sandbox, "order.shipment.delivered", db.shipment_json(conn, row))
    return {
        "order_id": str(order["id"]),
        "order_reference": data.order_reference,
        "shipments": [_summary(conn, p["id"]) for p in parcels],
        "webhooks": webhooks,
    }


def _processed(reference: str, expected: list[sqlite3.Row], lines: list[SimLine] | None) -> list[int]:
    """What the dock processed for each announced line: the announced quantity unless ``lines`` says otherwise
    (split over the lines of a SKU in order; the last line of a SKU takes any surplus)."""
    counted = Counter[str]()
    for received in lines or []:
        counted[received.sku] += received.qty
    unexpected = sorted(set(counted) - {line["sku"] for line in expected})
    if unexpected:
        raise invalid(f"return {reference} expects no {', '.join(unexpected)}")
    if lines is None:
        return [line["quantity"] for line in expected]
    quantities: list[int] = []
    for line in expected:
        last = line["line_no"] == max(x["line_no"] for x in expected if x["sku"] == line["sku"])
        qty = counted[line["sku"]] if last else min(line["quantity"], counted[line["sku"]])
        counted[line["sku"]] -= qty
        quantities.append(qty)
    return quantities


def _receive_return(sandbox: WmsSandbox, reference: str, lines: list[SimLine] | None) -> dict[str, Any]:
    conn = sandbox.db
    row = db.find_return(conn, reference=reference)
    if row is None:
        raise not_found(f"return {reference}")
    if row["status"] in ("Completed", "Cancelled"):
        raise ProblemError("conflict", f"return {reference} is {row['status']}")
    expected = conn.execute(
        "SELECT r.*, i.sku FROM return_inventory r JOIN inventory i ON i.id = r.inventory_id WHERE return_id = ? "
        "ORDER BY line_no",
        (row["id"],),
    ).fetchall()
    quantities = _processed(reference, expected, lines)
    stamp = db.now()
    with Transaction(conn):
        for line, qty in zip(expected, quantities, strict=True):
            conn.execute(
                "UPDATE return_inventory SET quantity_processed = ? WHERE return_id = ? AND line_no = ?",
                (qty, row["id"], line["line_no"]),
            )
            if qty and line["requested_action"] in ("Restock", "Default"):
                db.move_on_hand(conn, row["location_id"], line["inventory_id"], qty, "InventoryRestocked", stamp=stamp)
        conn.execute("UPDATE returns SET status = 'Completed', completed_date = ? WHERE id = ?", (stamp, row["id"]))
    found = db.find_return(conn, return_id=row["id"])
    assert found is not None
    body = db.return_json(conn, found)
    return {"return": body, "webhooks": emit(sandbox, "return.completed", body)}


def _receive_delivery(conn: sqlite3.Connection, warehouse: str, sku: str, qty: int) -> dict[str, Any]:
    """A supplier delivery: a warehouse receiving order, received and stowed in full on arrival."""
    centre, item = _centre(conn, warehouse), _item(conn, sku)
    stamp = db.now()
    with Transaction(conn):
        wro_id = insert_receiving(conn, centre["id"], {item["id"]: qty}, f"PO-{int(time.time() * 1000)}", stamp)
        conn.execute("UPDATE receiving_items SET received_quantity = expected_quantity WHERE wro_id = ?", (wro_id,))
        conn.execute(
            "UPDATE inventory_levels SET awaiting = max(0, awaiting - ?) WHERE location_id = ? AND inventory_id = ?",
            (qty, centre["id"], item["id"]),
        )
        db.move_on_hand(conn, centre["id"], item["id"], qty, "ReceivingStow", stamp=stamp)
        conn.execute(
            "UPDATE receiving_orders SET status = 'Completed', last_updated_date = ? WHERE id = ?", (stamp, wro_id)
        )
    row = conn.execute("SELECT * FROM receiving_orders WHERE id = ?", (wro_id,)).fetchone()
    return {"receiving_order": db.receiving_json(conn, row), "webhooks": []}


@post(
    "/_sim/receive",
    tags=["sandbox"],
    summary="Process a customer return (return.completed) or receive a supplier delivery (no webhook)",
    status_code=200,
)
async def sim_receive(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: ReceiveInput = await _decode(request, ReceiveInput)
    supplier = (data.warehouse, data.sku, data.qty)
    if data.reference is not None and supplier == (None, None, None):
        return _receive_return(sandbox, data.reference, data.lines)
    if data.reference is None and data.lines is None and None not in supplier:
        assert data.warehouse is not None and data.sku is not None and data.qty is not None
        return _receive_delivery(sandbox.db, data.warehouse, data.sku, data.qty)
    raise invalid("give either {reference} or {warehouse, sku, qty}")


@post("/_sim/count", tags=["sandbox"], summary="Cycle count: set absolute on-hand (no webhook)", status_code=200)
async def sim_count(request: Request[Any, Any, Any], sandbox: NamedDependency[WmsSandbox]) -> dict[str, Any]:
    data: CountInput = await _decode(request, CountInput)
    conn = sandbox.db
    centre, item = _centre(conn, data.warehouse), _item(conn, data.sku)
    with Transaction(conn):
        db.ensure_level(conn, centre["id"], item["id"])
        (current,) = conn.execute(
            "SELECT on_hand FROM inventory_levels WHERE location_id = ? AND inventory_id = ?",
            (centre["id"], item["id"]),
        ).fetchone()
        db.move_on_hand(conn, centre["id"], item["id"], data.on_hand - current, "InventoryAdjusted")
    return {"levels": db.fc_levels_json(conn, item, centre["id"]), "webhooks": []}


ROUTES = [sim_ship, sim_deliver, sim_receive, sim_count]
