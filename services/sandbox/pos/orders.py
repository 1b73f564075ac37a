"""Square orders in the sandbox: creation (sales, pickups, returns), retrieval, updates, search and
fulfillment progress.

Orders are filled in the way Square fills them on CreateOrder (uids, names and prices from the catalog,
line totals, ``state`` OPEN, ``version`` 1) and stored as Square's Order JSON. Taxes, discounts and
service charges are accepted but not computed: the sandbox answers with zero tax and discount money.
Completing an order with catalog line items takes them out of IN_STOCK (IN_STOCK -> SOLD), as Square does
when an order is completed.

UpdateOrder is served for what an integrator does with a pickup: moving a fulfillment (named by its ``uid``)
to another state, under Square's optimistic concurrency (``order.version`` must be the current version, else
VERSION_MISMATCH; each change that lands bumps it). Square refuses updates to COMPLETED or CANCELED orders, and
a fulfillment that is over (COMPLETED, CANCELED, FAILED) does not move again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from services.sandbox.pos import ledger, square
from services.sandbox.pos.deps import PosSandbox

_decoder = msgspec.json.Decoder(square.Order)
_encoder = msgspec.json.Encoder()


def _money(amount: int) -> square.Money:
    return square.Money(amount=amount, currency=square.CURRENCY)


def _variation(conn: sqlite3.Connection, catalog_object_id: str, field: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM variations WHERE id = ?", (catalog_object_id,)).fetchone()
    if row is None:
        raise square.bad_request(f"catalog object `{catalog_object_id}` not found", code="INVALID_VALUE", field=field)
    return row


def _price(
    conn: sqlite3.Connection, catalog_object_id: str | None, name: str | None, base: square.Money | None, field: str
) -> tuple[str | None, int]:
    if catalog_object_id is not None:
        row = _variation(conn, catalog_object_id, f"{field}.catalog_object_id")
        return row["name"], int(row["price_amount"])
    if name is None or base is None:
        raise square.bad_request(
            "an ad hoc line item needs name and base_price_money",
            code="MISSING_REQUIRED_PARAMETER",
            field=f"{field}.base_price_money",
        )
    if base.currency != square.CURRENCY:
        raise square.bad_request(
            f"currency must be {square.CURRENCY}, the location's currency",
            code="INVALID_VALUE",
            field=f"{field}.base_price_money.currency",
        )
    return name, base.amount


def _quantity(value: str, field: str) -> int:
    """A line's quantity: Square's decimal string, whole units, more than zero."""
    qty = square.parse_quantity(value, field)
    if qty <= 0:
        raise square.bad_request("quantity must be positive", code="INVALID_VALUE", field=field)
    return qty


def _line_item(conn: sqlite3.Connection, item: square.OrderLineItem, field: str) -> tuple[square.OrderLineItem, int]:
    """A requested line item filled in, and its gross amount."""
    qty = _quantity(item.quantity, f"{field}.quantity")
    name, price = _price(conn, item.catalog_object_id, item.name, item.base_price_money, field)
    filled = square.OrderLineItem(
        uid=item.uid or square.uid(),
        name=name,
        quantity=str(qty),
        catalog_object_id=item.catalog_object_id,
        variation_name="Regular" if item.catalog_object_id else None,
        note=item.note,
        base_price_money=_money(price),
        gross_sales_money=_money(price * qty),
        total_tax_money=_money(0),
        total_discount_money=_money(0),
        total_money=_money(price * qty),
    )
    return filled, price * qty


def _fulfillment(f: square.Fulfillment, field: str, now: str) -> square.Fulfillment:
    """A requested fulfillment checked and filled in: PROPOSED unless a state is given, a pickup placed ``now``."""
    if f.type is None:
        raise square.bad_request("type is required", code="MISSING_REQUIRED_PARAMETER", field=f"{field}.type")
    if f.type == "PICKUP" and f.pickup_details is None:
        raise square.bad_request(
            "pickup_details is required for a PICKUP fulfillment",
            code="MISSING_REQUIRED_PARAMETER",
            field=f"{field}.pickup_details",
        )
    state = f.state or "PROPOSED"
    if state not in square.FULFILLMENT_STATES:
        raise square.bad_request(
            f"`{state}` is not a fulfillment state", code="INVALID_ENUM_VALUE", field=f"{field}.state"
        )
    details = f.pickup_details
    if details is not None:
        details = msgspec.structs.replace(details, placed_at=now)
    return square.Fulfillment(type=f.type, state=state, uid=f.uid or square.uid(), pickup_details=details)


def _return_line_item(
    conn: sqlite3.Connection, returned: square.OrderReturnLineItem, field: str
) -> tuple[square.OrderReturnLineItem, int]:
    """A requested return line filled in, and its gross amount."""
    qty = _quantity(returned.quantity, f"{field}.quantity")
    name, price = _price(conn, returned.catalog_object_id, returned.name, returned.base_price_money, field)
    filled = square.OrderReturnLineItem(
        uid=returned.uid or square.uid(),
        source_line_item_uid=returned.source_line_item_uid,
        name=name,
        quantity=str(qty),
        catalog_object_id=returned.catalog_object_id,
        base_price_money=_money(price),
        gross_return_money=_money(price * qty),
        total_money=_money(price * qty),
    )
    return filled, price * qty


def _return(conn: sqlite3.Connection, ret: square.OrderReturn, field: str) -> tuple[square.OrderReturn, int]:
    """A requested return filled in, and the gross amount of its lines."""
    priced = [
        _return_line_item(conn, returned, f"{field}.return_line_items[{j}]")
        for j, returned in enumerate(ret.return_line_items or [])
    ]
    filled = square.OrderReturn(
        uid=ret.uid or square.uid(), source_order_id=ret.source_order_id, return_line_items=[i for i, _ in priced]
    )
    return filled, sum(amount for _, amount in priced)


def build(conn: sqlite3.Connection, requested: square.Order) -> square.Order:
    """Fill in a requested order as Square's CreateOrder does."""
    if not ledger.location_exists(conn, requested.location_id):
        raise square.not_found(f"location `{requested.location_id}` not found", field="order.location_id")
    now = square.now_ts()
    priced_lines = [
        _line_item(conn, item, f"order.line_items[{i}]") for i, item in enumerate(requested.line_items or [])
    ]
    fulfillments = [
        _fulfillment(f, f"order.fulfillments[{i}]", now) for i, f in enumerate(requested.fulfillments or [])
    ]
    priced_returns = [_return(conn, ret, f"order.returns[{i}]") for i, ret in enumerate(requested.returns or [])]
    lines = [line for line, _ in priced_lines]
    returns = [ret for ret, _ in priced_returns]
    if not lines and not returns:
        raise square.bad_request(
            "an order needs line_items or returns", code="MISSING_REQUIRED_PARAMETER", field="order.line_items"
        )
    gross_total = sum(amount for _, amount in priced_lines)
    returned_total = sum(amount for _, amount in priced_returns)
    zero = _money(0)
    return square.Order(
        id=square.order_id(),
        location_id=requested.location_id,
        reference_id=requested.reference_id,
        source=requested.source or square.OrderSource(name="Omnigate"),
        customer_id=requested.customer_id,
        line_items=lines or None,
        fulfillments=fulfillments or None,
        returns=returns or None,
        return_amounts=square.MoneyAmounts(total_money=_money(returned_total), tax_money=zero, discount_money=zero)
        if returns
        else None,
        net_amounts=square.MoneyAmounts(
            total_money=_money(gross_total - returned_total),
            tax_money=zero,
            discount_money=zero,
            tip_money=zero,
            service_charge_money=zero,
        ),
        created_at=now,
        updated_at=now,
        state="OPEN",
        version=1,
        total_money=_money(gross_total),
        total_tax_money=zero,
        total_discount_money=zero,
        total_tip_money=zero,
        total_service_charge_money=zero,
    )


def save(conn: sqlite3.Connection, order: square.Order) -> None:
    conn.execute(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, "
        "body = excluded.body, updated_at = excluded.updated_at",
        (
            order.id,
            order.location_id,
            order.reference_id,
            order.state,
            _encoder.encode(order),
            order.created_at,
            order.updated_at,
        ),
    )


def decode(body: bytes) -> square.Order:
    return _decoder.decode(body)


def load(conn: sqlite3.Connection, order_id: str) -> square.Order | None:
    row = conn.execute("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()
    return _decoder.decode(row[0]) if row else None


def sold_moves(order: square.Order) -> list[ledger.Move]:
    """IN_STOCK -> SOLD for each catalog line of a completed order."""
    assert order.created_at is not None
    return [
        ledger.Move(
            "ADJUSTMENT",
            item.catalog_object_id,
            order.location_id,
            int(item.quantity),
            "IN_STOCK",
            "SOLD",
            square.now_ts(),
            order.id,
        )
        for item in order.line_items or []
        if item.catalog_object_id is not None
    ]


def held_for(conn: sqlite3.Connection, order: square.Order) -> dict[str, int]:
    """Units an integrator took off the till for this order, per catalog object: its IN_STOCK -> SOLD
    adjustments (``reference_id`` = the order's ``reference_id``) less the NONE -> IN_STOCK that gave them back.
    They are still on the shelf, set aside for the customer who comes to collect them."""
    if not order.reference_id:
        return {}
    rows = conn.execute(
        "SELECT catalog_object_id, SUM(CASE WHEN from_state = 'IN_STOCK' AND to_state = 'SOLD' THEN quantity "
        "WHEN from_state = 'NONE' AND to_state = 'IN_STOCK' THEN -quantity ELSE 0 END) FROM changes "
        "WHERE type = 'ADJUSTMENT' AND reference_id = ? AND location_id = ? GROUP BY catalog_object_id",
        (order.reference_id, order.location_id),
    ).fetchall()
    return {row[0]: max(0, int(row[1])) for row in rows}


def short_lines(
    conn: sqlite3.Connection, order: square.Order, held: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """Catalog lines the location does not have enough of on the shelf: IN_STOCK plus the units ``held``
    (set aside for this order)."""
    short = []
    for item in order.line_items or []:
        if item.catalog_object_id is None:
            continue
        have = ledger.on_hand(conn, item.catalog_object_id, order.location_id)
        if held:
            have += held.get(item.catalog_object_id, 0)
        if have < int(item.quantity):
            short.append({"catalog_object_id": item.catalog_object_id, "on_hand": have, "wanted": int(item.quantity)})
    return short


_STAMPS = {
    "RESERVED": "accepted_at",
    "PREPARED": "ready_at",
    "COMPLETED": "picked_up_at",
    "CANCELED": "canceled_at",
    "FAILED": "rejected_at",
}


def _moved(f: square.Fulfillment, new_state: str, now: str) -> square.Fulfillment:
    """The fulfillment in ``new_state``, with the PICKUP timestamp Square sets for it."""
    details = f.pickup_details
    stamp = _STAMPS.get(new_state)
    if f.type == "PICKUP" and stamp is not None:
        details = msgspec.structs.replace(details or square.PickupDetails(), **{stamp: now})
    return msgspec.structs.replace(f, state=new_state, pickup_details=details)


def _finish(
    order: square.Order, fulfillments: list[square.Fulfillment], updates: list[square.FulfillmentUpdate], now: str
) -> square.Order:
    """The order after fulfillment changes: a new version if any landed; completed once a fulfillment was
    completed and none is left open."""
    completed = any(u.new_state == "COMPLETED" for u in updates) and all(
        f.state in square.FINAL_FULFILLMENT_STATES for f in fulfillments
    )
    return msgspec.structs.replace(
        order,
        fulfillments=fulfillments,
        updated_at=now if updates else order.updated_at,
        version=(order.version or 1) + (1 if updates else 0),
        state="COMPLETED" if completed else order.state,
        closed_at=now if completed else order.closed_at,
    )


def set_fulfillment_state(order: square.Order, new_state: str) -> tuple[square.Order, list[square.FulfillmentUpdate]]:
    """Move every open PICKUP fulfillment to ``new_state``; COMPLETED also completes the order."""
    now = square.now_ts()
    updates: list[square.FulfillmentUpdate] = []
    fulfillments: list[square.Fulfillment] = []
    for f in order.fulfillments or []:
        if f.type == "PICKUP" and f.state not in square.FINAL_FULFILLMENT_STATES and f.state != new_state:
            assert f.uid is not None and f.state is not None
            updates.append(square.FulfillmentUpdate(fulfillment_uid=f.uid, old_state=f.state, new_state=new_state))
            f = _moved(f, new_state, now)
        fulfillments.append(f)
    return _finish(order, fulfillments, updates, now), updates


def _check_updatable(order: square.Order, sparse: square.SparseOrder) -> None:
    """Square's refusals of an UpdateOrder as a whole: a closed order, a missing or stale version, and (in this
    sandbox) a change of location or of the order's own state."""
    if order.state in ("COMPLETED", "CANCELED"):
        raise square.bad_request(
            f"order `{order.id}` is {order.state}: completed and canceled orders cannot be updated", field="order"
        )
    if sparse.version is None:
        raise square.bad_request("order.version is required", field="order.version")
    if sparse.version != order.version:
        raise square.SquareError(
            400,
            "INVALID_REQUEST_ERROR",
            "VERSION_MISMATCH",
            f"version {sparse.version} is not the current version {order.version} of order `{order.id}`",
            field="order.version",
        )
    if sparse.location_id is not None and sparse.location_id != order.location_id:
        raise square.bad_request("location_id cannot be changed", code="INVALID_VALUE", field="order.location_id")
    if sparse.state is not None and sparse.state != order.state:
        raise square.bad_request(
            "this sandbox changes fulfillment states only, not the order state",
            code="INVALID_VALUE",
            field="order.state",
        )


def _fulfillment_move(
    fulfillments: list[square.Fulfillment], change: square.SparseFulfillment, field: str
) -> tuple[int, square.FulfillmentUpdate] | None:
    """Which fulfillment ``change`` moves and how, or None if it leaves the state as it is; raises Square's errors."""
    if change.uid is None:
        raise square.bad_request(
            "uid is required: this sandbox updates existing fulfillments only",
            code="MISSING_REQUIRED_PARAMETER",
            field=f"{field}.uid",
        )
    at = next((n for n, f in enumerate(fulfillments) if f.uid == change.uid), None)
    if at is None:
        raise square.bad_request(
            f"the order has no fulfillment `{change.uid}`", code="INVALID_VALUE", field=f"{field}.uid"
        )
    current = fulfillments[at]
    if change.type is not None and change.type != current.type:
        raise square.bad_request("a fulfillment's type cannot be changed", code="INVALID_VALUE", field=f"{field}.type")
    if change.state is None or change.state == current.state:
        return None
    if change.state not in square.FULFILLMENT_STATES:
        raise square.bad_request(
            f"`{change.state}` is not a fulfillment state", code="INVALID_ENUM_VALUE", field=f"{field}.state"
        )
    if current.state in square.FINAL_FULFILLMENT_STATES:
        raise square.bad_request(
            f"fulfillment `{change.uid}` is {current.state} and cannot change state", field=f"{field}.state"
        )
    assert current.state is not None
    return at, square.FulfillmentUpdate(fulfillment_uid=change.uid, old_state=current.state, new_state=change.state)


def update(order: square.Order, sparse: square.SparseOrder) -> tuple[square.Order, list[square.FulfillmentUpdate]]:
    """Apply a sparse UpdateOrder ``order`` (fulfillment states by uid) as Square does; raises Square's errors."""
    _check_updatable(order, sparse)
    now = square.now_ts()
    fulfillments = list(order.fulfillments or [])
    updates: list[square.FulfillmentUpdate] = []
    for i, change in enumerate(sparse.fulfillments or []):
        # Each change sees the fulfillments as the changes before it left them.
        move = _fulfillment_move(fulfillments, change, f"order.fulfillments[{i}]")
        if move is None:
            continue
        at, fulfillment_update = move
        updates.append(fulfillment_update)
        fulfillments[at] = _moved(fulfillments[at], fulfillment_update.new_state, now)
    return _finish(order, fulfillments, updates, now), updates


def completed_now(before: square.Order, after: square.Order) -> bool:
    return before.state != "COMPLETED" and after.state == "COMPLETED"


def notify_fulfillment(sandbox: PosSandbox, order: square.Order, updates: list[square.FulfillmentUpdate]) -> str:
    assert order.id is not None and order.created_at and order.updated_at and order.state and order.version
    data = square.EventData(
        type="order_fulfillment_updated",
        id=order.id,
        object=square.OrderFulfillmentUpdatedObject(
            order_fulfillment_updated=square.OrderFulfillmentUpdated(
                order_id=order.id,
                version=order.version,
                location_id=order.location_id,
                state=order.state,
                created_at=order.created_at,
                updated_at=order.updated_at,
                fulfillment_update=updates,
            )
        ),
    )
    return ledger.notify(sandbox, "order.fulfillment.updated", data)
