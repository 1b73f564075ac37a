"""Seeds the sandbox POS from the shared catalogue: one Square location per store, one item variation per
product, and the store counts the catalogue says each store carries (about 60% of the range).

Catalog ids are derived from the SKU, so they are the same on every machine and after a reseed. Each product's
category (apparel, footwear...) is a Square CATEGORY whose id is derived from its name the same way; the
categories are not stored here but read from the catalogue (db.prepare).
A store that ships from store carries the marker ``#ship-from-store`` in its location ``description``: Square
has no such flag, and the description is the field a merchant edits in the Dashboard (see system-pos mapping).
"""

from __future__ import annotations

import sqlite3

from services.sandbox.common.catalogue import Catalogue
from services.sandbox.pos import square

SHIP_FROM_STORE_MARKER = "#ship-from-store"
# Every variation tracks its stock with a low-stock alert at this many units (Square's inventory_alert_type
# LOW_QUANTITY and inventory_alert_threshold, which a merchant sets per item in the Dashboard): SearchCatalogItems'
# LOW stock level is 1 to this many units at a location, OUT none.
LOW_STOCK_ALERT = 5


def seed(conn: sqlite3.Connection, cat: Catalogue) -> None:
    now = square.now_ts()
    conn.executemany(
        "INSERT INTO locations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                s.square_id,
                s.name,
                f"Winkelstraat {10 + i}",
                s.city,
                s.postal_code,
                s.latitude,
                s.longitude,
                f"{s.name} store" + (f" {SHIP_FROM_STORE_MARKER}" if s.ship_from_store else ""),
                now,
            )
            for i, s in enumerate(cat.stores)
        ],
    )
    version = 1_700_000_000_000
    conn.executemany(
        "INSERT INTO variations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                square.object_id("ITEM_VARIATION", p.sku),
                square.object_id("ITEM", p.sku),
                p.sku,
                p.name,
                p.price_cents,
                square.CURRENCY,
                now,
                version,
            )
            for p in cat.products
        ],
    )
    rows = []
    for store in cat.stores:
        for product in cat.products:
            qty = cat.store_stock(store, product)
            if qty is not None:
                rows.append((square.object_id("ITEM_VARIATION", product.sku), store.square_id, qty, now))
    conn.executemany("INSERT INTO counts VALUES (?, ?, ?, ?)", rows)
