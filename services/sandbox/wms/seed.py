"""Seeds the sandbox WMS from the shared catalogue: its DCs as warehouses, every SKU, per-DC stock.

On-hand comes from ``catalogue.dc_stock`` so the WMS agrees with what the other sandboxes derive from the same
catalogue; in-transit quantities (open supplier deliveries) are a deterministic sprinkle on about one SKU in
five, so stock snapshots show the column doing something.
"""

from __future__ import annotations

import random
import sqlite3

from services.sandbox.common.catalogue import COUNTRY, Catalogue
from services.sandbox.wms.db import now


def warehouse_code(dc_code: str) -> str:
    """The WMS names warehouses by upper-case site code ("TLB"); the catalogue keeps them lower-case."""
    return dc_code.upper()


def seed(conn: sqlite3.Connection, cat: Catalogue) -> None:
    stamp = now()
    conn.executemany(
        "INSERT INTO warehouses(code, name, line1, city, postal_code, country) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (warehouse_code(dc.code), dc.name, f"Distributieweg {n}", dc.city, dc.postal_code, COUNTRY)
            for n, dc in enumerate(cat.dcs, start=1)
        ],
    )
    conn.executemany(
        "INSERT INTO products(sku, name, barcode) VALUES (?, ?, ?)",
        [(p.sku, p.name, p.barcode) for p in cat.products],
    )
    rows = []
    for dc in cat.dcs:
        for product in cat.products:
            rng = random.Random(f"{cat.seed}:wms-transit:{dc.code}:{product.index}")
            in_transit = rng.randint(10, 120) if rng.random() < 0.2 else 0
            rows.append((warehouse_code(dc.code), product.sku, cat.dc_stock(dc, product), in_transit, stamp))
    conn.executemany(
        "INSERT INTO stock(warehouse, sku, on_hand, allocated, in_transit, updated_at) VALUES (?, ?, ?, 0, ?, ?)",
        rows,
    )
