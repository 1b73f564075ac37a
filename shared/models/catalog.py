"""Items and prices: the ERP is the system of record for both."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta

from shared.models.common import Currency, MinorUnits, Model, Sku


class Item(Model, kw_only=True):
    sku: Sku
    name: str
    barcode: str | None = None
    category: str | None = None
    uom: str = "unit"
    active: bool = True
    weight_grams: Annotated[int, Meta(ge=0)] | None = None


class Price(Model, kw_only=True):
    sku: Sku
    amount: MinorUnits
    currency: Currency
    tax_included: bool = True
    as_of: datetime
    source: str = "erp"
