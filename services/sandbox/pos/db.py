"""The sandbox POS's SQLite schema: Square locations, item variations, inventory counts and changes, orders.

Counts are kept per (variation, location) for the IN_STOCK state only, the state Square's counts endpoints
and ``inventory.count.updated`` report for stock on hand. Quantities are integers here (our catalogue sells
whole units) and leave as Square's decimal strings. Orders are stored as Square's own Order JSON, so what
``GET /v2/orders/{id}`` answers is exactly what was created and updated. Idempotency keys are remembered per
endpoint with the request they came with, as Square does.
"""

from __future__ import annotations

import sqlite3

from services.sandbox.common.catalogue import Catalogue
from services.sandbox.pos import square

SCHEMA = """
CREATE TABLE locations (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, address_line_1 TEXT NOT NULL, locality TEXT NOT NULL,
  postal_code TEXT NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL, description TEXT,
  created_at TEXT NOT NULL);
CREATE TABLE variations (
  id TEXT PRIMARY KEY, item_id TEXT NOT NULL, sku TEXT NOT NULL, name TEXT NOT NULL,
  price_amount INTEGER NOT NULL, currency TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX variations_sku ON variations(sku);
CREATE TABLE counts (
  catalog_object_id TEXT NOT NULL, location_id TEXT NOT NULL, quantity INTEGER NOT NULL,
  calculated_at TEXT NOT NULL, PRIMARY KEY (catalog_object_id, location_id));
CREATE INDEX counts_location ON counts(location_id, catalog_object_id);
CREATE TABLE changes (
  id TEXT PRIMARY KEY, type TEXT NOT NULL, catalog_object_id TEXT NOT NULL, location_id TEXT NOT NULL,
  from_state TEXT, to_state TEXT, quantity INTEGER NOT NULL, occurred_at TEXT NOT NULL,
  created_at TEXT NOT NULL, reference_id TEXT);
CREATE TABLE idempotency (
  endpoint TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, response BLOB NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (endpoint, key));
CREATE TABLE orders (
  id TEXT PRIMARY KEY, location_id TEXT NOT NULL, reference_id TEXT, state TEXT NOT NULL,
  body BLOB NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX orders_reference ON orders(reference_id);
"""


def prepare(conn: sqlite3.Connection, cat: Catalogue) -> None:
    """Register ``category_id(sku)``: the Square CATEGORY id of a variation's item, from the catalogue it was seeded
    from (seed.py), for SearchCatalogItems' ``category_ids`` filter and its answers."""
    categories = {p.sku: square.object_id("CATEGORY", p.category) for p in cat.products}
    conn.create_function("category_id", 1, categories.get, deterministic=True)
