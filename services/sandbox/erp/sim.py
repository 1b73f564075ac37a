"""Drivers of the sandbox ERP's business from tests and demos (``/_sim/*``): what back-office users would do.

A price change is made in the ERP by a merchandiser, not through the integration API, so it gets its own
driver; the price sync of the process layer must then notice it (``write_date`` moves on).
"""

from __future__ import annotations

import sqlite3
from typing import Annotated

import msgspec
from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta

from services.sandbox.erp.seed import odoo_now
from shared.models.common import Sku
from shared.problems import not_found


class PriceChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    sku: Sku
    price_cents: Annotated[int, Meta(ge=0, le=10**9)]


class PriceChanged(msgspec.Struct, kw_only=True):
    sku: str
    product_id: int
    list_price: float
    write_date: str


@post("/_sim/price", status_code=200, tags=["sandbox"], summary="Change a product's sales price in the ERP")
async def sim_price(data: JSONBody[PriceChange], conn: NamedDependency[sqlite3.Connection]) -> PriceChanged:
    now = odoo_now()
    list_price = data.price_cents / 100
    row = conn.execute(
        "UPDATE product_product SET list_price = ?, write_date = ? WHERE default_code = ? RETURNING id",
        (list_price, now, data.sku),
    ).fetchone()
    if row is None:
        raise not_found(f"product {data.sku}")
    return PriceChanged(sku=data.sku, product_id=row[0], list_price=list_price, write_date=now)


ROUTES = [sim_price]
