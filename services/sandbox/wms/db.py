"""The sandbox WMS's SQLite schema and the row-level operations its routes and sims share (ShipBob 2026-01 subset).

ShipBob's model, kept as it is: fulfilment centres (``locations``, integer ids, an airport-style abbreviation),
inventory items (``inventory``: one per SKU, integer ``inventory_id``), inventory levels per fulfilment centre
(``on_hand`` physically there, ``committed`` to open shipments, ``awaiting`` on inbound receiving orders), orders
of a channel (unique ``reference_id`` per channel) that ship as one or more shipments, returns, warehouse
receiving orders (WROs) and an inventory history (``inventory_history``: every on-hand movement with an
increasing id, what ``POST /inventory/history:query`` pages through by cursor). Rows are rendered to ShipBob's
view models by the ``*_json`` functions, so the API, the sims and the webhooks answer with the same shapes.

Shapes: https://developer.shipbob.com/2026-01/api (OpenAPI ``api-2026-01``).
"""

from __future__ import annotations

import base64
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

import msgspec

API_VERSION = "2026-01"
SCHEMA = """
CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL, scopes TEXT NOT NULL);
CREATE TABLE locations (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, abbreviation TEXT NOT NULL UNIQUE, timezone TEXT NOT NULL,
  address1 TEXT NOT NULL, city TEXT NOT NULL, zip_code TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE inventory (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, barcode TEXT);
CREATE TABLE inventory_levels (
  location_id INTEGER NOT NULL REFERENCES locations(id), inventory_id INTEGER NOT NULL REFERENCES inventory(id),
  on_hand INTEGER NOT NULL, committed INTEGER NOT NULL DEFAULT 0, awaiting INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (location_id, inventory_id));
CREATE TABLE inventory_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, location_id INTEGER NOT NULL, inventory_id INTEGER NOT NULL,
  category TEXT NOT NULL, quantity_change INTEGER NOT NULL, committed_change INTEGER NOT NULL DEFAULT 0,
  at TEXT NOT NULL, order_id INTEGER);
CREATE INDEX history_by_location ON inventory_history(location_id, id);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL, reference_id TEXT NOT NULL, order_number TEXT,
  status TEXT NOT NULL, type TEXT NOT NULL, shipping_method TEXT NOT NULL, recipient TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]', created_date TEXT NOT NULL, UNIQUE (channel_id, reference_id));
CREATE TABLE order_products (
  order_id INTEGER NOT NULL REFERENCES orders(id), line_no INTEGER NOT NULL, inventory_id INTEGER NOT NULL,
  quantity INTEGER NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE TABLE shipments (
  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), location_id INTEGER NOT NULL,
  status TEXT NOT NULL, carrier TEXT, carrier_service TEXT, tracking_number TEXT, tracking_url TEXT,
  created_date TEXT NOT NULL, actual_fulfillment_date TEXT, delivery_date TEXT, last_update_at TEXT NOT NULL);
CREATE INDEX shipments_by_order ON shipments(order_id);
CREATE TABLE shipment_products (
  shipment_id INTEGER NOT NULL REFERENCES shipments(id), inventory_id INTEGER NOT NULL, quantity INTEGER NOT NULL,
  quantity_committed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (shipment_id, inventory_id));
CREATE TABLE returns (
  id INTEGER PRIMARY KEY, channel_id INTEGER NOT NULL, reference_id TEXT NOT NULL, location_id INTEGER NOT NULL,
  status TEXT NOT NULL, original_shipment_id INTEGER, tracking_number TEXT, insert_date TEXT NOT NULL,
  completed_date TEXT, UNIQUE (channel_id, reference_id));
CREATE TABLE return_inventory (
  return_id INTEGER NOT NULL REFERENCES returns(id), line_no INTEGER NOT NULL, inventory_id INTEGER NOT NULL,
  quantity INTEGER NOT NULL, requested_action TEXT NOT NULL, quantity_processed INTEGER,
  PRIMARY KEY (return_id, line_no));
CREATE TABLE receiving_orders (
  id INTEGER PRIMARY KEY, purchase_order_number TEXT, location_id INTEGER NOT NULL, status TEXT NOT NULL,
  expected_arrival_date TEXT NOT NULL, insert_date TEXT NOT NULL, last_updated_date TEXT NOT NULL);
CREATE TABLE receiving_items (
  wro_id INTEGER NOT NULL REFERENCES receiving_orders(id), inventory_id INTEGER NOT NULL,
  expected_quantity INTEGER NOT NULL, received_quantity INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (wro_id, inventory_id));
CREATE TABLE webhook_subscriptions (
  id TEXT PRIMARY KEY, url TEXT NOT NULL, topics TEXT NOT NULL, secret TEXT NOT NULL, description TEXT,
  created_at TEXT NOT NULL);
"""
FIRST_ORDER_ID = 310_000_000
FIRST_SHIPMENT_ID = 520_000_000
FIRST_RETURN_ID = 1_200_000
FIRST_WRO_ID = 880_000
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def now() -> str:
    """RFC 3339 UTC with milliseconds (ShipBob stamps with fractional seconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def next_id(conn: sqlite3.Connection, table: str, first: int) -> int:
    row = conn.execute(f"SELECT max(id) FROM {table}").fetchone()  # noqa: S608 - table names are ours
    return int(row[0]) + 1 if row[0] is not None else first


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def tracking_number() -> str:
    return "3S" + os.urandom(6).hex().upper()


# --- catalogue -------------------------------------------------------------------------------------------------


def location_json(row: sqlite3.Row) -> dict[str, Any]:
    """``Locations.LocationViewModel``."""
    return {
        "abbreviation": row["abbreviation"],
        "access_granted": True,
        "attributes": [],
        "id": row["id"],
        "is_active": True,
        "is_receiving_enabled": True,
        "is_shipping_enabled": True,
        "name": row["name"],
        "region": {"id": 1, "name": "Europe"},
        "services": [
            {
                "address": {
                    "address1": row["address1"],
                    "address2": None,
                    "city": row["city"],
                    "country": row["country"],
                    "email": None,
                    "name": row["name"],
                    "phone_number": None,
                    "state": None,
                    "zip_code": row["zip_code"],
                },
                "enabled": True,
                "service_type": service,
            }
            for service in ("Receiving", "Returns")
        ],
        "timezone": row["timezone"],
    }


def location(conn: sqlite3.Connection, location_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM locations WHERE id = ?", (location_id,)).fetchone()
    return row


def location_by_abbreviation(conn: sqlite3.Connection, abbreviation: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM locations WHERE abbreviation = ?", (abbreviation,)).fetchone()
    return row


def inventory_by_sku(conn: sqlite3.Connection, skus: list[str]) -> dict[str, sqlite3.Row]:
    unique = sorted(set(skus))
    marks = ",".join("?" * len(unique))
    rows = conn.execute(f"SELECT * FROM inventory WHERE sku IN ({marks})", unique).fetchall()  # noqa: S608
    return {r["sku"]: r for r in rows}


def inventory_item(conn: sqlite3.Connection, inventory_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM inventory WHERE id = ?", (inventory_id,)).fetchone()
    return row


def ensure_level(conn: sqlite3.Connection, location_id: int, inventory_id: int) -> None:
    """A known item a fulfilment centre never held gets a zero level, as a WMS creates one at first movement."""
    conn.execute(
        "INSERT OR IGNORE INTO inventory_levels(location_id, inventory_id, on_hand, committed, awaiting) "
        "VALUES (?, ?, 0, 0, 0)",
        (location_id, inventory_id),
    )


def move_on_hand(
    conn: sqlite3.Connection,
    location_id: int,
    inventory_id: int,
    change: int,
    category: str,
    *,
    committed_change: int = 0,
    order_id: int | None = None,
    stamp: str | None = None,
) -> None:
    """Change on-hand (and committed) at one fulfilment centre and record it in the inventory history."""
    ensure_level(conn, location_id, inventory_id)
    conn.execute(
        "UPDATE inventory_levels SET on_hand = max(0, on_hand + ?), committed = max(0, committed + ?) "
        "WHERE location_id = ? AND inventory_id = ?",
        (change, committed_change, location_id, inventory_id),
    )
    conn.execute(
        "INSERT INTO inventory_history(location_id, inventory_id, category, quantity_change, committed_change, at, "
        "order_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (location_id, inventory_id, category, change, committed_change, stamp or now(), order_id),
    )


def fc_levels_json(conn: sqlite3.Connection, item: sqlite3.Row, location_id: int | None) -> dict[str, Any]:
    """``Inventory.InventoryQuantityFcResponse``: one item, its quantities per fulfilment centre."""
    clauses, args = "l.inventory_id = ?", [item["id"]]
    if location_id is not None:
        clauses += " AND l.location_id = ?"
        args.append(location_id)
    rows = conn.execute(
        "SELECT l.*, f.name FROM inventory_levels l JOIN locations f ON f.id = l.location_id "  # noqa: S608
        f"WHERE {clauses} ORDER BY l.location_id",
        args,
    ).fetchall()
    return {
        "inventory_id": item["id"],
        "locations": [
            {
                "awaiting_quantity": r["awaiting"],
                "committed_quantity": r["committed"],
                "fulfillable_quantity": max(0, r["on_hand"] - r["committed"]),
                "internal_transfer_quantity": 0,
                "location_id": r["location_id"],
                "name": r["name"],
                "on_hand_quantity": r["on_hand"],
            }
            for r in rows
        ],
        "name": item["name"],
        "sku": item["sku"],
    }


# --- orders and shipments ------------------------------------------------------------------------------------


def shipment_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """``Orders.ShipmentViewModel``."""
    order = conn.execute("SELECT * FROM orders WHERE id = ?", (row["order_id"],)).fetchone()
    fc = location(conn, row["location_id"])
    products = conn.execute(
        "SELECT p.*, i.sku, i.name FROM shipment_products p JOIN inventory i ON i.id = p.inventory_id "
        "WHERE p.shipment_id = ? ORDER BY i.sku",
        (row["id"],),
    ).fetchall()
    recipient = _decoder.decode(order["recipient"])
    shipped = row["tracking_number"] is not None
    return {
        "actual_fulfillment_date": row["actual_fulfillment_date"],
        "created_date": row["created_date"],
        "delivery_date": row["delivery_date"],
        "estimated_fulfillment_date": None,
        "estimated_fulfillment_date_status": "FulfilledOnTime" if shipped else "PendingOnTime",
        "gift_message": None,
        "id": row["id"],
        "insurance_value": None,
        "invoice_amount": None,
        "invoice_currency_code": None,
        "is_tracking_uploaded": False,
        "last_tracking_update_at": row["actual_fulfillment_date"],
        "last_update_at": row["last_update_at"],
        "location": {"id": row["location_id"], "name": fc["name"] if fc else None},
        "measurements": None,
        "order_id": row["order_id"],
        "package_material_type": "Box" if shipped else "Unknown",
        "parent_cartons": None,
        "products": [
            {
                "id": p["inventory_id"],
                "inventory_items": [
                    {
                        "expiration_date": None,
                        "id": p["inventory_id"],
                        "is_dangerous_goods": False,
                        "lot": None,
                        "name": p["name"],
                        "quantity": p["quantity"],
                        "quantity_committed": p["quantity_committed"],
                        "serial_numbers": None,
                    }
                ],
                "name": p["name"],
                "reference_id": p["sku"],
                "sku": p["sku"],
            }
            for p in products
        ],
        "recipient": {
            "address": recipient["address"],
            "email": recipient.get("email"),
            "full_name": recipient["name"],
            "name": recipient["name"],
            "phone_number": recipient.get("phone_number"),
        },
        "reference_id": order["reference_id"],
        "require_signature": False,
        "ship_option": order["shipping_method"],
        "status": row["status"],
        "status_details": _status_details(conn, row),
        "tracking": (
            {
                "bol": None,
                "carrier": row["carrier"],
                "carrier_service": row["carrier_service"],
                "pro_number": None,
                "scac": None,
                "shipping_date": row["actual_fulfillment_date"],
                "tracking_number": row["tracking_number"],
                "tracking_url": row["tracking_url"],
            }
            if shipped
            else None
        ),
    }


def _status_details(conn: sqlite3.Connection, row: sqlite3.Row) -> list[dict[str, Any]]:
    if row["status"] != "Exception":
        return []
    short = conn.execute(
        "SELECT inventory_id FROM shipment_products WHERE shipment_id = ? AND quantity_committed < quantity",
        (row["id"],),
    ).fetchall()
    return [
        {
            "description": "Inventory is out of stock at the assigned fulfillment center",
            "exception_fulfillment_center_id": row["location_id"],
            "extra_information": None,
            "id": 2,
            "inventory_id": r["inventory_id"],
            "name": "OutOfStock",
        }
        for r in short
    ]


def order_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """``Orders.OrderViewModel``."""
    channel = conn.execute("SELECT * FROM channels WHERE id = ?", (row["channel_id"],)).fetchone()
    products = conn.execute(
        "SELECT p.*, i.sku, i.name FROM order_products p JOIN inventory i ON i.id = p.inventory_id "
        "WHERE p.order_id = ? ORDER BY p.line_no",
        (row["id"],),
    ).fetchall()
    shipments = conn.execute("SELECT * FROM shipments WHERE order_id = ? ORDER BY id", (row["id"],)).fetchall()
    return {
        "channel": {"id": channel["id"], "name": channel["name"]},
        "created_date": row["created_date"],
        "financials": {"total_price": None},
        "gift_message": None,
        "id": row["id"],
        "order_number": row["order_number"],
        "products": [
            {
                "external_line_id": p["line_no"],
                "gtin": None,
                "id": p["inventory_id"],
                "quantity": p["quantity"],
                "quantity_unit_of_measure_code": None,
                "reference_id": p["sku"],
                "sku": p["sku"],
                "unit_price": None,
                "upc": None,
            }
            for p in products
        ],
        "purchase_date": None,
        "recipient": _decoder.decode(row["recipient"]),
        "reference_id": row["reference_id"],
        "retailer_program_data": None,
        "shipments": [shipment_json(conn, s) for s in shipments],
        "shipping_method": row["shipping_method"],
        "shipping_terms": None,
        "status": row["status"],
        "tags": _decoder.decode(row["tags"]),
        "type": row["type"],
    }


def find_order(
    conn: sqlite3.Connection, *, order_id: int | None = None, reference: str | None = None
) -> sqlite3.Row | None:
    if order_id is not None:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return row
    row = conn.execute("SELECT * FROM orders WHERE reference_id = ? ORDER BY id LIMIT 1", (reference,)).fetchone()
    return row


def refresh_order_status(conn: sqlite3.Connection, order_id: int) -> None:
    """An order's status follows its shipments': all cancelled -> Cancelled, all shipped -> Fulfilled, some ->
    PartiallyFulfilled, any in exception -> Exception, else Processing."""
    statuses = [r[0] for r in conn.execute("SELECT status FROM shipments WHERE order_id = ?", (order_id,))]
    live = [s for s in statuses if s != "Cancelled"]
    done = [s for s in live if s in ("Completed", "LabeledCreated")]
    if not live:
        status = "Cancelled"
    elif len(done) == len(live):
        status = "Fulfilled"
    elif done:
        status = "PartiallyFulfilled"
    elif "Exception" in live:
        status = "Exception"
    else:
        status = "Processing"
    conn.execute("UPDATE orders SET status = ? WHERE id = ?", (status, order_id))


# --- returns and receiving -------------------------------------------------------------------------------------


def return_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """``Returns.PublicReturnDto`` (the GET shape; its inventory items carry their SKU)."""
    channel = conn.execute("SELECT * FROM channels WHERE id = ?", (row["channel_id"],)).fetchone()
    fc = location(conn, row["location_id"])
    lines = conn.execute(
        "SELECT r.*, i.sku, i.name FROM return_inventory r JOIN inventory i ON i.id = r.inventory_id "
        "WHERE r.return_id = ? ORDER BY r.line_no",
        (row["id"],),
    ).fetchall()
    return {
        "arrived_date": row["completed_date"],
        "awaiting_arrival_date": row["insert_date"],
        "cancelled_date": None,
        "channel": {"id": channel["id"], "name": channel["name"]},
        "completed_date": row["completed_date"],
        "customer_name": "Omnigate Retail",
        "fulfillment_center": {"id": row["location_id"], "name": fc["name"] if fc else None},
        "id": row["id"],
        "insert_date": row["insert_date"],
        "inventory": [
            {
                "action_requested": {
                    "action": line["requested_action"],
                    "action_type": "Merchant",
                    "instructions": None,
                },
                "action_taken": (
                    [
                        {
                            "action": line["requested_action"],
                            "action_reason": "Good",
                            "image_url": None,
                            "quantity_processed": line["quantity_processed"],
                        }
                    ]
                    if line["quantity_processed"] is not None
                    else []
                ),
                "barcodes": [],
                "id": line["inventory_id"],
                "lot_information": None,
                "name": line["name"],
                "quantity": line["quantity"],
                "sku": line["sku"],
            }
            for line in lines
        ],
        "invoice": None,
        "original_shipment_id": row["original_shipment_id"],
        "processing_date": row["completed_date"],
        "reference_id": row["reference_id"],
        "return_type": "Regular",
        "shipment_tracking_number": None,
        "status": row["status"],
        "status_history": [{"status": "AwaitingArrival", "timestamp": row["insert_date"]}]
        + ([{"status": "Completed", "timestamp": row["completed_date"]}] if row["completed_date"] else []),
        "store_order_id": None,
        "tracking_number": row["tracking_number"],
        "transactions": [],
    }


def find_return(
    conn: sqlite3.Connection, *, return_id: int | None = None, reference: str | None = None
) -> sqlite3.Row | None:
    if return_id is not None:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM returns WHERE id = ?", (return_id,)).fetchone()
        return row
    row = conn.execute("SELECT * FROM returns WHERE reference_id = ? ORDER BY id LIMIT 1", (reference,)).fetchone()
    return row


def receiving_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """``Receiving.V2.WarehouseReceivingOrderViewModel``."""
    fc = location(conn, row["location_id"])
    items = conn.execute(
        "SELECT r.*, i.sku FROM receiving_items r JOIN inventory i ON i.id = r.inventory_id WHERE r.wro_id = ?",
        (row["id"],),
    ).fetchall()
    return {
        "box_labels_uri": None,
        "box_packaging_type": "OneSkuPerBox",
        "expected_arrival_date": row["expected_arrival_date"],
        "external_sync_timestamp": None,
        "fulfillment_center": {
            "address1": fc["address1"] if fc else None,
            "address2": None,
            "city": fc["city"] if fc else None,
            "country": fc["country"] if fc else None,
            "email": None,
            "id": row["location_id"],
            "name": fc["name"] if fc else None,
            "phone_number": None,
            "state": None,
            "timezone": fc["timezone"] if fc else None,
            "zip_code": fc["zip_code"] if fc else None,
        },
        "id": row["id"],
        "insert_date": row["insert_date"],
        "inventory_quantities": [
            {
                "expected_quantity": i["expected_quantity"],
                "inventory_id": i["inventory_id"],
                "received_quantity": i["received_quantity"],
                "sku": i["sku"],
                "stowed_quantity": i["received_quantity"],
            }
            for i in items
        ],
        "last_updated_date": row["last_updated_date"],
        "package_type": "Package",
        "purchase_order_number": row["purchase_order_number"],
        "status": row["status"],
        "status_history": [],
    }


def encode_json(value: Any) -> str:
    return _encoder.encode(value).decode()
