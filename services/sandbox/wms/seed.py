"""Seeds the sandbox WMS (ShipBob subset) from the shared catalogue: one API channel, the DCs as fulfilment centres,
every SKU as an inventory item, and inventory levels per fulfilment centre.

On-hand comes from ``catalogue.dc_stock`` so the WMS agrees with what the other sandboxes derive from the same
catalogue; awaiting quantities (open receiving orders) are a deterministic sprinkle on about one SKU in five.
A fulfilment centre's ``abbreviation`` is the DC's code in upper case ("TLB"): ShipBob names centres by an
airport-style code, and system-wms maps ``dc-<code>`` to the centre with that abbreviation.
"""

from __future__ import annotations

import random
import sqlite3

from services.sandbox.common.catalogue import COUNTRY, Catalogue

CHANNEL_ID = 100102
CHANNEL_SCOPES = (
    "orders_read",
    "orders_write",
    "inventory_read",
    "returns_read",
    "returns_write",
    "receiving_read",
    "receiving_write",
    "webhooks_read",
    "webhooks_write",
    "fulfillments_read",
)
FIRST_LOCATION_ID = 41
FIRST_INVENTORY_ID = 20_000_000


def inventory_id(index: int) -> int:
    return FIRST_INVENTORY_ID + index


def seed(conn: sqlite3.Connection, cat: Catalogue) -> None:
    conn.execute(
        "INSERT INTO channels(id, name, scopes) VALUES (?, ?, ?)",
        (CHANNEL_ID, "Omnigate API", ",".join(CHANNEL_SCOPES)),
    )
    locations = [(FIRST_LOCATION_ID + n, dc) for n, dc in enumerate(cat.dcs)]
    conn.executemany(
        "INSERT INTO locations(id, name, abbreviation, timezone, address1, city, zip_code, country) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                lid,
                f"{dc.city} ({COUNTRY})",
                dc.code.upper(),
                "Europe/Amsterdam",
                f"Distributieweg {n + 1}",
                dc.city,
                dc.postal_code,
                COUNTRY,
            )
            for n, (lid, dc) in enumerate(locations)
        ],
    )
    conn.executemany(
        "INSERT INTO inventory(id, sku, name, barcode) VALUES (?, ?, ?, ?)",
        [(inventory_id(p.index), p.sku, p.name, p.barcode) for p in cat.products],
    )
    rows = []
    for lid, dc in locations:
        for product in cat.products:
            rng = random.Random(f"{cat.seed}:wms-transit:{dc.code}:{product.index}")
            awaiting = rng.randint(10, 120) if rng.random() < 0.2 else 0
            rows.append((lid, inventory_id(product.index), cat.dc_stock(dc, product), awaiting))
    conn.executemany(
        "INSERT INTO inventory_levels(location_id, inventory_id, on_hand, committed, awaiting) VALUES (?, ?, ?, 0, ?)",
        rows,
    )
