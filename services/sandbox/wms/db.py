"""The sandbox WMS's SQLite schema and the row-level operations its routes and sims share.

Stock rows carry ``on_hand`` (physically in the building), ``allocated`` (promised to open fulfilment orders)
and ``in_transit`` (expected from suppliers), as 3PL stock snapshots do. Documents are stored as rows plus line
rows and rendered to the JSON documented in README.md by the ``*_json`` functions, so the API and the sims
answer with the same shapes.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

import msgspec

SCHEMA = """
CREATE TABLE warehouses (
  code TEXT PRIMARY KEY, name TEXT NOT NULL, line1 TEXT NOT NULL, city TEXT NOT NULL,
  postal_code TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT NOT NULL, barcode TEXT);
CREATE TABLE stock (
  warehouse TEXT NOT NULL REFERENCES warehouses(code), sku TEXT NOT NULL REFERENCES products(sku),
  on_hand INTEGER NOT NULL, allocated INTEGER NOT NULL DEFAULT 0, in_transit INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL, PRIMARY KEY (warehouse, sku));
CREATE INDEX stock_by_sku ON stock(sku);
CREATE TABLE fulfillment_orders (
  id TEXT PRIMARY KEY, order_reference TEXT NOT NULL UNIQUE, warehouse TEXT NOT NULL REFERENCES warehouses(code),
  status TEXT NOT NULL, ship_to TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  cancelled_at TEXT);
CREATE TABLE fulfillment_order_lines (
  order_id TEXT NOT NULL REFERENCES fulfillment_orders(id), line_no INTEGER NOT NULL, sku TEXT NOT NULL,
  quantity INTEGER NOT NULL, backordered INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (order_id, line_no));
CREATE TABLE shipments (
  id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES fulfillment_orders(id), warehouse TEXT NOT NULL,
  carrier TEXT NOT NULL, tracking_number TEXT NOT NULL, status TEXT NOT NULL, dispatched_at TEXT NOT NULL,
  delivered_at TEXT);
CREATE INDEX shipments_by_order ON shipments(order_id);
CREATE TABLE shipment_lines (
  shipment_id TEXT NOT NULL REFERENCES shipments(id), line_no INTEGER NOT NULL, sku TEXT NOT NULL,
  quantity INTEGER NOT NULL, PRIMARY KEY (shipment_id, line_no));
CREATE TABLE receipts (
  id TEXT PRIMARY KEY, reference TEXT NOT NULL UNIQUE, warehouse TEXT NOT NULL REFERENCES warehouses(code),
  type TEXT NOT NULL, status TEXT NOT NULL, notes TEXT, created_at TEXT NOT NULL, received_at TEXT);
CREATE TABLE receipt_lines (
  receipt_id TEXT NOT NULL REFERENCES receipts(id), line_no INTEGER NOT NULL, sku TEXT NOT NULL,
  quantity INTEGER NOT NULL, received_quantity INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (receipt_id, line_no));
"""


def now() -> str:
    """RFC 3339 UTC with a ``Z``, second precision, as the API documents its timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(prefix: str) -> str:
    """Opaque, prefixed ids (``fo_``, ``shp_``, ``rcv_``, ``evt_``): the kind is visible in logs."""
    return f"{prefix}_{os.urandom(8).hex()}"


# --- stock ---------------------------------------------------------------------------------------------


def stock_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "sku": row["sku"],
        "warehouse": row["warehouse"],
        "on_hand": row["on_hand"],
        "allocated": row["allocated"],
        "in_transit": row["in_transit"],
        "updated_at": row["updated_at"],
    }


def encode_page_token(warehouse: str, sku: str) -> str:
    return base64.urlsafe_b64encode(f"{warehouse}|{sku}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[str, str] | None:
    """The token is opaque to clients; a token we did not mint decodes to None (a 400 for the caller)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    warehouse, sep, sku = raw.partition("|")
    if not sep or not warehouse or not sku:
        return None
    return warehouse, sku


def stock_page(
    conn: sqlite3.Connection, warehouse: str | None, after: tuple[str, str] | None, size: int
) -> tuple[list[sqlite3.Row], str | None]:
    clauses: list[str] = []
    params: list[Any] = []
    if warehouse is not None:
        clauses.append("warehouse = ?")
        params.append(warehouse)
    if after is not None:
        clauses.append("(warehouse, sku) > (?, ?)")
        params.extend(after)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT * FROM stock {where} ORDER BY warehouse, sku LIMIT ?", (*params, size + 1)).fetchall()
    token = encode_page_token(rows[size - 1]["warehouse"], rows[size - 1]["sku"]) if len(rows) > size else None
    return rows[:size], token


def ensure_stock_row(conn: sqlite3.Connection, warehouse: str, sku: str) -> None:
    """A known SKU a warehouse has never held gets a zero row, as a WMS creates one at first movement."""
    conn.execute(
        "INSERT OR IGNORE INTO stock(warehouse, sku, on_hand, allocated, in_transit, updated_at) "
        "VALUES (?, ?, 0, 0, 0, ?)",
        (warehouse, sku, now()),
    )


def unknown_skus(conn: sqlite3.Connection, skus: list[str]) -> list[str]:
    unique = sorted(set(skus))
    marks = ",".join("?" * len(unique))
    known = {r[0] for r in conn.execute(f"SELECT sku FROM products WHERE sku IN ({marks})", unique)}
    return [s for s in unique if s not in known]


def warehouse_exists(conn: sqlite3.Connection, code: str) -> bool:
    return conn.execute("SELECT 1 FROM warehouses WHERE code = ?", (code,)).fetchone() is not None


# --- fulfillment orders and shipments -------------------------------------------------------------------


def order_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    lines = conn.execute(
        "SELECT sku, quantity, backordered FROM fulfillment_order_lines WHERE order_id = ? ORDER BY line_no",
        (row["id"],),
    ).fetchall()
    shipments = conn.execute(
        "SELECT id FROM shipments WHERE order_id = ? ORDER BY dispatched_at, id", (row["id"],)
    ).fetchall()
    return {
        "id": row["id"],
        "order_reference": row["order_reference"],
        "warehouse": row["warehouse"],
        "status": row["status"],
        "ship_to": msgspec.json.decode(row["ship_to"]),
        "lines": [{"sku": r["sku"], "quantity": r["quantity"], "backordered": r["backordered"]} for r in lines],
        "shipment_ids": [r["id"] for r in shipments],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "cancelled_at": row["cancelled_at"],
    }


def find_order(
    conn: sqlite3.Connection, *, order_id: str | None = None, reference: str | None = None
) -> sqlite3.Row | None:
    if order_id is not None:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM fulfillment_orders WHERE id = ?", (order_id,)).fetchone()
        return row
    row = conn.execute("SELECT * FROM fulfillment_orders WHERE order_reference = ?", (reference,)).fetchone()
    return row


def shipment_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    lines = conn.execute(
        "SELECT sku, quantity FROM shipment_lines WHERE shipment_id = ? ORDER BY line_no", (row["id"],)
    ).fetchall()
    reference = conn.execute(
        "SELECT order_reference FROM fulfillment_orders WHERE id = ?", (row["order_id"],)
    ).fetchone()[0]
    return {
        "id": row["id"],
        "order_id": row["order_id"],
        "order_reference": reference,
        "warehouse": row["warehouse"],
        "status": row["status"],
        "carrier": row["carrier"],
        "tracking_number": row["tracking_number"],
        "lines": [{"sku": r["sku"], "quantity": r["quantity"]} for r in lines],
        "dispatched_at": row["dispatched_at"],
        "delivered_at": row["delivered_at"],
    }


# --- receipts -------------------------------------------------------------------------------------------------


def receipt_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    lines = conn.execute(
        "SELECT sku, quantity, received_quantity FROM receipt_lines WHERE receipt_id = ? ORDER BY line_no",
        (row["id"],),
    ).fetchall()
    return {
        "id": row["id"],
        "reference": row["reference"],
        "warehouse": row["warehouse"],
        "type": row["type"],
        "status": row["status"],
        "notes": row["notes"],
        "lines": [
            {"sku": r["sku"], "quantity": r["quantity"], "received_quantity": r["received_quantity"]} for r in lines
        ],
        "created_at": row["created_at"],
        "received_at": row["received_at"],
    }


def find_receipt(
    conn: sqlite3.Connection, *, receipt_id: str | None = None, reference: str | None = None
) -> sqlite3.Row | None:
    if receipt_id is not None:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM receipts WHERE id = ?", (receipt_id,)).fetchone()
        return row
    row = conn.execute("SELECT * FROM receipts WHERE reference = ?", (reference,)).fetchone()
    return row


def insert_receipt(
    conn: sqlite3.Connection,
    *,
    reference: str,
    warehouse: str,
    type_: str,
    status: str,
    lines: list[tuple[str, int]],
    notes: str | None = None,
) -> str:
    receipt_id = new_id("rcv")
    stamp = now()
    conn.execute(
        "INSERT INTO receipts(id, reference, warehouse, type, status, notes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (receipt_id, reference, warehouse, type_, status, notes, stamp),
    )
    conn.executemany(
        "INSERT INTO receipt_lines(receipt_id, line_no, sku, quantity) VALUES (?, ?, ?, ?)",
        [(receipt_id, n, sku, qty) for n, (sku, qty) in enumerate(lines, start=1)],
    )
    return receipt_id
