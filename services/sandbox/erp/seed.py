"""Seeds the sandbox ERP from the shared catalogue so that its SKUs and DCs agree with the WMS and POS.

Product ids are the catalogue index + 1 and warehouse ids the DC position + 1, as a fresh Odoo database would
number them; quants are the ERP's *financial* stock per DC (``catalogue.dc_stock``), one per product and DC in
the warehouse's ``<CODE>/Stock`` location.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from services.sandbox.common.catalogue import CURRENCY, Catalogue

DEFAULT_PARTNER = "Omnigate Retail B.V."


def odoo_now() -> str:
    """Odoo's datetime format: naive UTC, seconds precision."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def seed(conn: sqlite3.Connection, cat: Catalogue) -> None:
    now = odoo_now()
    conn.execute("INSERT INTO res_currency(id, name) VALUES (1, ?)", (CURRENCY,))
    categories: dict[str, int] = {}
    for product in cat.products:
        categories.setdefault(product.category, len(categories) + 1)
    conn.executemany(
        "INSERT INTO product_category(id, name) VALUES (?, ?)",
        [(cid, f"All / Saleable / {name.title()}") for name, cid in categories.items()],
    )
    conn.executemany(
        "INSERT INTO product_product(id, default_code, name, barcode, list_price, categ_id, currency_id, active,"
        " weight, write_date) VALUES (?, ?, ?, ?, ?, ?, 1, 1, ?, ?)",
        [
            (
                p.index + 1,
                p.sku,
                p.name,
                p.barcode,
                p.price_cents / 100,
                categories[p.category],
                p.weight_grams / 1000,
                now,
            )
            for p in cat.products
        ],
    )
    for n, dc in enumerate(cat.dcs, start=1):
        code = dc.code.upper()
        conn.execute("INSERT INTO stock_warehouse(id, code, name) VALUES (?, ?, ?)", (n, code, dc.name))
        conn.execute("INSERT INTO stock_location(id, name, warehouse_id) VALUES (?, ?, ?)", (n, f"{code}/Stock", n))
        conn.executemany(
            "INSERT INTO stock_quant(product_id, location_id, warehouse_id, quantity, reserved_quantity, write_date)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            [(p.index + 1, n, n, float(cat.dc_stock(dc, p)), now) for p in cat.products],
        )
    conn.execute(
        "INSERT INTO res_partner(id, name, ref, is_company, active, write_date) VALUES (1, ?, NULL, 1, 1, ?)",
        (DEFAULT_PARTNER, now),
    )
