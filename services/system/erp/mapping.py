"""Pure conversions between Odoo's JSON-2 records and Omnigate's canonical model (no I/O here).

Odoo speaks floats in currency units, ``false`` for empty values, ``[id, display_name]`` for many2one fields and
naive UTC ``"YYYY-MM-DD HH:MM:SS"`` timestamps; the canonical model speaks integer minor units, ``None``,
canonical ids and aware UTC datetimes. Money goes through ``Decimal(str(x))`` so that 19.95 becomes 1995, not
1994 (``19.95 * 100 == 1994.9999999999998``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from shared import cursor
from shared.models.catalog import Item, Price
from shared.models.inventory import StockPosition
from shared.models.orders import SalesOrder, SalesOrderLine, SalesOrderRequest, SalesOrderState
from shared.models.returns import CreditMemo, CreditMemoRequest
from shared.problems import invalid

# A many2one value: ``[id, display_name]`` or ``false`` when empty.
Many2one = tuple[int, str | bool] | bool
OdooText = str | bool
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SOURCE = "erp"


class OdooRecord(msgspec.Struct, kw_only=True):
    """Base of the Odoo shapes we read. Unknown fields are ignored: Odoo modules add fields freely."""

    id: int


class OdooProduct(OdooRecord, kw_only=True):
    default_code: OdooText = False
    name: str = ""
    barcode: OdooText = False
    list_price: float = 0.0
    categ_id: Many2one = False
    currency_id: Many2one = False
    active: bool = True
    weight: float = 0.0
    write_date: OdooText = False


class OdooWarehouse(OdooRecord, kw_only=True):
    code: str
    name: str = ""


class OdooQuant(OdooRecord, kw_only=True):
    product_id: Many2one
    warehouse_id: Many2one = False
    location_id: Many2one = False
    quantity: float = 0.0
    reserved_quantity: float = 0.0
    write_date: OdooText = False


class OdooPartner(OdooRecord, kw_only=True):
    name: str = ""


class OdooSaleOrder(OdooRecord, kw_only=True):
    name: str
    client_order_ref: OdooText = False
    state: SalesOrderState
    currency_id: Many2one = False
    amount_total: float = 0.0


class OdooSaleOrderLine(OdooRecord, kw_only=True):
    product_id: Many2one
    product_uom_qty: float
    price_unit: float


class OdooMove(OdooRecord, kw_only=True):
    name: str
    ref: OdooText = False
    invoice_origin: OdooText = False
    move_type: str = "entry"
    state: str
    currency_id: Many2one = False
    amount_total: float = 0.0


PRODUCT_FIELDS = [
    "default_code",
    "name",
    "barcode",
    "list_price",
    "categ_id",
    "currency_id",
    "active",
    "weight",
    "write_date",
]
QUANT_FIELDS = ["product_id", "warehouse_id", "location_id", "quantity", "reserved_quantity", "write_date"]
SALE_ORDER_FIELDS = ["name", "client_order_ref", "state", "currency_id", "amount_total"]
SALE_LINE_FIELDS = ["product_id", "product_uom_qty", "price_unit"]
MOVE_FIELDS = ["name", "ref", "invoice_origin", "move_type", "state", "currency_id", "amount_total"]


# --- scalars -------------------------------------------------------------------------------------------------


def to_minor(amount: float) -> int:
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_units(minor: int) -> float:
    return float(Decimal(minor) / 100)


def text(value: OdooText) -> str | None:
    return value if isinstance(value, str) and value else None


def m2o_id(value: Many2one) -> int | None:
    return value[0] if isinstance(value, tuple) else None


def m2o_name(value: Many2one) -> str | None:
    return value[1] if isinstance(value, tuple) and isinstance(value[1], str) else None


def odoo_datetime(value: OdooText) -> datetime:
    """Odoo's naive UTC timestamp; a missing one is the epoch (older than anything, so never wins a merge)."""
    if not isinstance(value, str) or not value:
        return EPOCH
    return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def quantity(value: float) -> int:
    """Odoo quantities are floats; canonical stock counts are non-negative integers (negative quants exist)."""
    return max(0, int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def location_for_warehouse(code: str) -> str:
    return f"dc-{code.strip().lower()}"


def currency_of(value: Many2one, default: str) -> str:
    return m2o_name(value) or default


# --- cursors -------------------------------------------------------------------------------------------------


def encode_cursor(after_id: int) -> str:
    """Keyset cursor over Odoo ids (the kernel's codec): stable while records are added, opaque to callers."""
    return cursor.encode("erp", after_id)


def decode_cursor(value: str | None) -> int:
    found = cursor.decode(value, "erp", int)
    if found is None:
        return 0
    return _after(found[0])


def _after(after_id: int) -> int:
    if not 0 <= after_id < 2**53:
        raise invalid("the cursor is not one this API issued", errors=[{"field": "cursor"}])
    return after_id


def _fingerprint(text: str) -> str:
    return hashlib.blake2s(text.casefold().encode(), digest_size=6).hexdigest()


def encode_search_cursor(after_id: int, text: str) -> str:
    """Keyset cursor of a search: the Odoo id and a fingerprint of the (normalised) text searched for, so a
    cursor continues only the search it came from (or the same text in another case, which finds the same)."""
    return cursor.encode("erp-search", after_id, _fingerprint(text))


def decode_search_cursor(value: str | None, text: str) -> int:
    found = cursor.decode(value, "erp-search", int, str)
    if found is None:
        return 0
    if found[1] != _fingerprint(text):
        raise invalid("the cursor belongs to another search: start again without it", errors=[{"field": "cursor"}])
    return _after(found[0])


# --- search --------------------------------------------------------------------------------------------------

# Where a catalogue search looks: the name, the SKU (Odoo's internal reference), the barcode and the category
# (a many2one: Odoo matches ``ilike`` against the category's display name, "All / Saleable / Footwear").
SEARCH_FIELDS = ("name", "default_code", "barcode", "categ_id")


def like_literal(text: str) -> str:
    """``text`` matched literally by Odoo's ``like`` operators. Odoo wraps an ``ilike`` value in ``%...%`` and
    hands it to PostgreSQL as a pattern, so ``%`` and ``_`` in it are wildcards and ``\\`` the escape; escape them
    as Odoo's own ``odoo.tools.sql.escape_psql`` does (a backslash before each)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_domain(text: str) -> list[Any]:
    """The Odoo domain of a catalogue search (prefix notation, Odoo ORM reference "Search domains",
    https://www.odoo.com/documentation/19.0/developer/reference/backend/orm.html#search-domains): ``text``,
    case-insensitively and literally, in any of :data:`SEARCH_FIELDS`, i.e. ``['|', '|', '|', [f, 'ilike',
    text], ...]``. ANDed with the caller's other terms by Odoo's implicit ``&``."""
    value = like_literal(text)
    return [*["|"] * (len(SEARCH_FIELDS) - 1), *[[field, "ilike", value] for field in SEARCH_FIELDS]]


# --- records -> canonical ------------------------------------------------------------------------------------


def item(product: OdooProduct) -> Item:
    return Item(
        sku=str(product.default_code),
        name=product.name,
        barcode=text(product.barcode),
        category=m2o_name(product.categ_id),
        active=product.active,
        weight_grams=int(Decimal(str(product.weight)) * 1000) if product.weight else None,
    )


def price(product: OdooProduct, default_currency: str) -> Price:
    return Price(
        sku=str(product.default_code),
        amount=to_minor(product.list_price),
        currency=currency_of(product.currency_id, default_currency),
        as_of=odoo_datetime(product.write_date),
        source=SOURCE,
    )


def stock_position(quant: OdooQuant, sku: str, location: str) -> StockPosition:
    return StockPosition(
        sku=sku,
        location=location,
        on_hand=quantity(quant.quantity),
        as_of=odoo_datetime(quant.write_date),
        source=SOURCE,
    )


def sales_order(
    order: OdooSaleOrder, ref: str, lines: list[tuple[str, OdooSaleOrderLine]], default_currency: str, created: bool
) -> SalesOrder:
    return SalesOrder(
        ref=ref,
        erp_id=str(order.id),
        name=order.name,
        state=order.state,  # Odoo's states are the canonical ones
        currency=currency_of(order.currency_id, default_currency),
        amount_total=to_minor(order.amount_total),
        lines=[
            SalesOrderLine(sku=sku, qty=quantity(line.product_uom_qty), unit_price=to_minor(line.price_unit))
            for sku, line in lines
        ],
        created=created,
    )


def credit_memo(move: OdooMove, ref: str, default_currency: str, created: bool) -> CreditMemo:
    return CreditMemo(
        ref=ref,
        order_ref=text(move.invoice_origin) or "",
        erp_id=str(move.id),
        name=move.name,
        state=move.state,
        currency=currency_of(move.currency_id, default_currency),
        amount_total=to_minor(move.amount_total),
        created=created,
    )


# --- canonical -> vals ---------------------------------------------------------------------------------------


def sale_order_vals(request: SalesOrderRequest, partner_id: int, product_ids: list[int]) -> dict[str, Any]:
    vals: dict[str, Any] = {
        "client_order_ref": request.ref,
        "partner_id": partner_id,
        "order_line": [
            [0, 0, {"product_id": pid, "product_uom_qty": line.qty, "price_unit": to_units(line.unit_price)}]
            for pid, line in zip(product_ids, request.lines, strict=True)
        ],
    }
    if request.note:
        vals["note"] = request.note
    return vals


def credit_memo_vals(request: CreditMemoRequest, partner_id: int, product_ids: list[int]) -> dict[str, Any]:
    return {
        "move_type": "out_refund",
        "ref": request.ref,
        "invoice_origin": request.order_ref,
        "partner_id": partner_id,
        "invoice_line_ids": [
            [
                0,
                0,
                {
                    "product_id": pid,
                    "quantity": line.qty,
                    "price_unit": to_units(line.unit_price),
                    **({"name": request.reason} if request.reason else {}),
                },
            ]
            for pid, line in zip(product_ids, request.lines, strict=True)
        ],
    }
