"""The sandbox POS's stock ledger: inventory changes, the counts they produce, and their webhooks.

Square keeps counts per state; this sandbox keeps the IN_STOCK count (what a store has on hand) and records
every change. Like Square, it lets a count go negative (a sale the shelf did not know about is still a sale);
only the ``/_sim`` drivers refuse to sell stock a store does not have (see sim.py).
Every change that moves a count is followed by one ``inventory.count.updated`` notification carrying the
affected counts, signed and delivered by the sandbox kit, with the event id as the notification id so tests
can redeliver it byte for byte.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from services.sandbox.pos import square
from services.sandbox.pos.deps import PosSandbox

_encoder = msgspec.json.Encoder()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Move:
    """One validated change: ``delta`` applies to IN_STOCK, ``absolute`` replaces it (a physical count)."""

    type: str
    catalog_object_id: str
    location_id: str
    quantity: int
    from_state: str | None
    to_state: str | None
    occurred_at: str
    reference_id: str | None

    @property
    def touches_stock(self) -> bool:
        if self.type == "PHYSICAL_COUNT":
            return self.to_state == "IN_STOCK"
        return "IN_STOCK" in (self.from_state, self.to_state)


def validate_change(conn: sqlite3.Connection, change: square.InventoryChange, index: int) -> Move:
    """Check one change of a batch the way Square does: its type, its object, its states and quantity."""
    where = f"changes[{index}]"
    if change.type == "PHYSICAL_COUNT":
        at = f"{where}.physical_count"
        pc = _required(change.physical_count, at)
        _check_state(pc.state, f"{at}.state")
        qty = _quantity(pc.quantity, f"{at}.quantity", least=0, refusal="a physical count cannot be negative")
        square.parse_ts(pc.occurred_at, f"{at}.occurred_at")
        move = Move(
            "PHYSICAL_COUNT", pc.catalog_object_id, pc.location_id, qty, None, pc.state, pc.occurred_at, pc.reference_id
        )
    elif change.type == "ADJUSTMENT":
        at = f"{where}.adjustment"
        adj = _required(change.adjustment, at)
        _check_state(adj.from_state, f"{at}.from_state")
        _check_state(adj.to_state, f"{at}.to_state")
        if adj.from_state == adj.to_state:
            raise square.bad_request(
                "from_state and to_state must differ", code="INVALID_VALUE", field=f"{at}.to_state"
            )
        qty = _quantity(adj.quantity, f"{at}.quantity", least=1, refusal="an adjustment quantity must be positive")
        square.parse_ts(adj.occurred_at, f"{at}.occurred_at")
        move = Move(
            "ADJUSTMENT",
            adj.catalog_object_id,
            adj.location_id,
            qty,
            adj.from_state,
            adj.to_state,
            adj.occurred_at,
            adj.reference_id,
        )
    else:
        raise square.bad_request(
            f"unsupported change type `{change.type}`", code="INVALID_ENUM_VALUE", field=f"{where}.type"
        )
    if not variation_exists(conn, move.catalog_object_id):
        raise square.bad_request(
            f"catalog object `{move.catalog_object_id}` not found",
            code="INVALID_VALUE",
            field=f"{where}.catalog_object_id",
        )
    if not location_exists(conn, move.location_id):
        raise square.bad_request(
            f"location `{move.location_id}` not found", code="INVALID_VALUE", field=f"{where}.location_id"
        )
    return move


def _required(part: T | None, field: str) -> T:
    """The part of a change its ``type`` names (``physical_count`` or ``adjustment``) must be there."""
    if part is None:
        name = field.rsplit(".", 1)[-1]
        raise square.bad_request(f"{name} is required", code="MISSING_REQUIRED_PARAMETER", field=field)
    return part


def _quantity(raw: str, field: str, *, least: int, refusal: str) -> int:
    """A change's quantity: a decimal string, at least ``least`` (``refusal`` says why not)."""
    qty = square.parse_quantity(raw, field)
    if qty < least:
        raise square.bad_request(refusal, code="INVALID_VALUE", field=field)
    return qty


def _check_state(state: str, field: str) -> None:
    if state not in square.INVENTORY_STATES:
        raise square.bad_request(f"`{state}` is not a valid inventory state", code="INVALID_ENUM_VALUE", field=field)


def variation_exists(conn: sqlite3.Connection, catalog_object_id: str) -> bool:
    return conn.execute("SELECT 1 FROM variations WHERE id = ?", (catalog_object_id,)).fetchone() is not None


def location_exists(conn: sqlite3.Connection, location_id: str) -> bool:
    return conn.execute("SELECT 1 FROM locations WHERE id = ?", (location_id,)).fetchone() is not None


def on_hand(conn: sqlite3.Connection, catalog_object_id: str, location_id: str) -> int:
    row = conn.execute(
        "SELECT quantity FROM counts WHERE catalog_object_id = ? AND location_id = ?",
        (catalog_object_id, location_id),
    ).fetchone()
    return int(row[0]) if row else 0


def apply(conn: sqlite3.Connection, moves: Sequence[Move]) -> list[square.InventoryCount]:
    """Apply moves inside the caller's transaction; returns the IN_STOCK counts they changed."""
    now = square.now_ts()
    touched: dict[tuple[str, str], None] = {}
    for move in moves:
        conn.execute(
            "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                square.random_id(),
                move.type,
                move.catalog_object_id,
                move.location_id,
                move.from_state,
                move.to_state,
                move.quantity,
                move.occurred_at,
                now,
                move.reference_id,
            ),
        )
        if not move.touches_stock:
            continue
        key = (move.catalog_object_id, move.location_id)
        row = conn.execute(
            "SELECT quantity, calculated_at FROM counts WHERE catalog_object_id = ? AND location_id = ?", key
        ).fetchone()
        current, previous_at = (int(row[0]), row[1]) if row else (0, None)
        if move.type == "PHYSICAL_COUNT":
            new = move.quantity
        elif move.from_state == "IN_STOCK":
            new = current - move.quantity
        else:
            new = current + move.quantity
        calculated_at = square.after(previous_at, now)
        conn.execute(
            "INSERT INTO counts VALUES (?, ?, ?, ?) ON CONFLICT(catalog_object_id, location_id) "
            "DO UPDATE SET quantity = excluded.quantity, calculated_at = excluded.calculated_at",
            (*key, new, calculated_at),
        )
        touched[key] = None
    return [count_of(conn, *key) for key in touched]


def count_of(conn: sqlite3.Connection, catalog_object_id: str, location_id: str) -> square.InventoryCount:
    row = conn.execute(
        "SELECT quantity, calculated_at FROM counts WHERE catalog_object_id = ? AND location_id = ?",
        (catalog_object_id, location_id),
    ).fetchone()
    return square.InventoryCount(
        catalog_object_id=catalog_object_id,
        catalog_object_type="ITEM_VARIATION",
        state="IN_STOCK",
        location_id=location_id,
        quantity=str(row[0]),
        calculated_at=row[1],
    )


def merchant_id(sandbox: PosSandbox) -> str:
    return square.object_id("MERCHANT", str(sandbox.catalogue.seed))[:13]


def notify(sandbox: PosSandbox, event_type: str, data: square.EventData) -> str:
    """Queue one signed webhook notification; returns its ``event_id`` (= the kit's notification id)."""
    event_id = str(uuid.uuid4())
    event = square.WebhookEvent(
        merchant_id=merchant_id(sandbox), type=event_type, event_id=event_id, created_at=square.now_ts(), data=data
    )
    sandbox.sender().enqueue(event_id, sandbox.settings.pos_webhook_url, _encoder.encode(event))
    return event_id


def notify_counts(sandbox: PosSandbox, counts: Sequence[square.InventoryCount]) -> str | None:
    if not counts:
        return None
    data = square.EventData(
        type="inventory_counts",
        id=str(uuid.uuid4()),
        object=square.InventoryCountsObject(inventory_counts=list(counts)),
    )
    return notify(sandbox, "inventory.count.updated", data)
