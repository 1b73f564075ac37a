"""What process-orders keeps about an order and a return, and the rules for changing it.

The records are msgspec structs stored as JSON (store.py reads and writes them; nothing here does I/O). A change
of where an order stands that has a rule attached - it may be cancelled, it may be returned in these quantities,
it turns to compensation - is one method on the record, so the saga, the returns and the routes apply the same
rule and no caller sets those fields by hand.

The steps are enums whose values are the strings records have always been stored with: a record written before
the enums existed decodes, and one written now reads the same to anything that reads the raw JSON.
"""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from shared.models.fulfilment import FulfilmentLine
from shared.models.orders import Customer, Fulfilment, Order, OrderLine, OrderShipment, OrderState
from shared.models.returns import Return, ReturnLine, ReturnState
from shared.problems import ProblemError


class Step(StrEnum):
    """The order saga's next step (saga.py runs one per value, in this order unless it compensates)."""

    RESERVE = "reserve"
    ACCEPT = "accept"
    ERP_ORDER = "erp_order"
    ERP_CONFIRM = "erp_confirm"
    RELEASE = "release"
    COMPENSATE = "compensate"
    # Compensation refused by a back-end (what cannot be undone): it is recorded and the order finishes.
    COMPENSATED = "compensate:done"
    DONE = "done"


class ReturnStep(StrEnum):
    """A return's next step (returns.py)."""

    ANNOUNCE = "announce"
    AWAIT_RECEIPT = "await_receipt"
    CREDIT = "credit"
    AWAIT_CLOSE = "await_close"
    CLOSE = "close"
    DONE = "done"


AFTER_RELEASE: frozenset[str] = frozenset({"released", "shipped", "ready_for_pickup", "delivered", "picked_up"})
FINAL: frozenset[str] = frozenset({"rejected", "failed", "cancelled"})
# A pickup order can be cancelled until it is collected: the store gives its held units back to the till.
PICKUP_CANCELLABLE: frozenset[str] = frozenset({"released", "ready_for_pickup"})
RETURNABLE: frozenset[str] = frozenset({"delivered", "picked_up"})


def new_order_id() -> str:
    return "o" + os.urandom(10).hex()


def new_return_id() -> str:
    return "r" + os.urandom(10).hex()


class Group(msgspec.Struct, kw_only=True):
    """One fulfilment document: the whole order (ref = order id) or a split part (ref = ``<order id>-<n>``).

    The warehouse may ship a part as several parcels (ShipBob splits a shipment): ``parcels`` are the units each
    dispatched parcel carried (shipment ref -> SKU -> units), ``delivered_parcels`` the parcels delivered. The part
    is ``shipped`` once its parcels carry all its units, and ``delivered`` once it is shipped and each of its
    parcels was delivered (facts in any order: a delivery reported before its dispatch counts when the dispatch
    comes)."""

    ref: str
    location: str
    line_ids: list[str]
    document_id: str | None = None
    shipped: bool = False
    delivered: bool = False
    parcels: dict[str, dict[str, int]] = {}
    delivered_parcels: list[str] = []


class OrderRecord(msgspec.Struct, kw_only=True):
    """What the saga keeps about an order: the public order plus where the saga stands."""

    id: str
    owner: str
    state: OrderState
    customer: Customer
    fulfilment: Fulfilment
    lines: list[OrderLine]
    currency: str
    subtotal: int
    tax: int
    total: int
    payment_reference: str
    created_at: datetime
    updated_at: datetime
    # The next saga step.
    step: Step = Step.RESERVE
    # Where compensation ends: failed or cancelled; and the step it started from (what may exist to undo).
    goal: str | None = None
    compensating_from: Step | None = None
    reason: str | None = None
    # A rejection's problem: its type slug and the lines it names.
    slug: str | None = None
    errors: list[dict[str, Any]] | None = None
    attempts: int = 0
    # How many transitions the order has made: the lifecycle events' identity (shared.changes).
    seq: int = 0
    # Placement attempts: an order not accepted because a back-end was away is placed again (same id) when its
    # Idempotency-Key is replayed; its reservations are fenced by this number.
    placement: int = 1
    groups: list[Group] = []
    erp_touched: bool = False
    erp_name: str | None = None
    returned: dict[str, int] = {}
    returns: list[str] = []
    correlation_id: str | None = None
    # The parcels shipped so far (shipment.dispatched facts), each once; a record written before they were kept
    # decodes with none.
    shipments: list[OrderShipment] = []

    def view(self) -> Order:
        return Order(
            id=self.id,
            owner=self.owner,
            state=self.state,
            customer=self.customer,
            fulfilment=self.fulfilment,
            lines=self.lines,
            currency=self.currency,
            subtotal=self.subtotal,
            tax=self.tax,
            total=self.total,
            payment_reference=self.payment_reference,
            created_at=self.created_at,
            updated_at=self.updated_at,
            reason=self.reason,
            shipments=self.shipments,
        )

    def line(self, line_id: str) -> OrderLine | None:
        return next((ln for ln in self.lines if ln.line_id == line_id), None)

    # --- the saga's turns --------------------------------------------------------------------------------------

    def reject(self, slug: str, detail: str, errors: list[dict[str, Any]] | None) -> None:
        """Refused (invalid for this estate, or no stock): the saga is done; ``slug``/``errors`` are the problem."""
        self.reason, self.errors, self.step, self.slug = detail, errors, Step.DONE, slug

    def compensate(self, goal: str, reason: str) -> None:
        """From now on the saga undoes what it did, from the step it stands at, and ends in ``goal``."""
        self.goal, self.reason = goal, reason
        self.compensating_from, self.step = self.step, Step.COMPENSATE

    def place_again(self, correlation_id: str | None) -> None:
        """A new placement attempt of an order that was not accepted (see :func:`not_accepted`)."""
        self.placement += 1
        self.step, self.goal, self.compensating_from = Step.RESERVE, None, None
        self.reason = self.slug = None
        self.errors, self.attempts, self.erp_touched = None, 0, False
        self.correlation_id = correlation_id

    def cancellable(self) -> bool:
        """A ship order can be cancelled until it is released to the WMS, a pickup until it is collected."""
        if self.state in FINAL:
            return False
        if self.fulfilment.mode == "pickup" and self.state in PICKUP_CANCELLABLE:
            return True
        return self.state not in AFTER_RELEASE and self.step != Step.DONE

    def cancel(self, reason: str) -> None:
        """Turn to compensation ending in ``cancelled``; a 409 once the order can no longer be cancelled."""
        if not self.cancellable():
            raise ProblemError(
                "conflict",
                f"order {self.id} is {self.state} and can no longer be cancelled",
                errors=[{"state": self.state}],
            )
        self.compensate("cancelled", reason)
        self.attempts = 0

    # --- shipments ---------------------------------------------------------------------------------------------

    def has_shipment(self, shipment_ref: str, carrier: str, tracking_number: str) -> bool:
        """Whether this parcel is kept already: the same back-end shipment, or the same carrier's tracking number
        (a fact delivered again, or sent again under a new notification id)."""
        return any(
            s.shipment_ref == shipment_ref
            or (s.tracking_number == tracking_number and s.carrier.casefold() == carrier.casefold())
            for s in self.shipments
        )

    def parcel_dispatched(self, group: Group, shipment_ref: str, lines: list[FulfilmentLine]) -> None:
        """Part ``group`` sent parcel ``shipment_ref`` with ``lines`` (once, however often the fact comes)."""
        if shipment_ref not in group.parcels:
            carried: dict[str, int] = {}
            for line in lines:
                carried[line.sku] = carried.get(line.sku, 0) + line.qty
            group.parcels[shipment_ref] = carried
        self._settle(group)

    def parcel_delivered(self, group: Group, shipment_ref: str) -> None:
        """Parcel ``shipment_ref`` of part ``group`` was delivered."""
        if shipment_ref not in group.delivered_parcels:
            group.delivered_parcels.append(shipment_ref)
        self._settle(group)

    def _settle(self, group: Group) -> None:
        owed: dict[str, int] = {}
        for line_id in group.line_ids:
            line = self.line(line_id)
            if line is not None:
                owed[line.sku] = owed.get(line.sku, 0) + line.qty
        carried: dict[str, int] = {}
        for parcel in group.parcels.values():
            for sku, qty in parcel.items():
                carried[sku] = carried.get(sku, 0) + qty
        if group.parcels or not group.shipped:  # a part marked shipped before parcels were kept stays shipped
            group.shipped = all(carried.get(sku, 0) >= qty for sku, qty in owed.items())
        group.delivered = (
            group.shipped
            and bool(group.parcels or group.delivered_parcels)
            and set(group.parcels) <= set(group.delivered_parcels)
        )

    def add_shipment(self, shipment: OrderShipment) -> bool:
        """Keep a parcel of the order, once; False (and nothing kept) if it is kept already."""
        if self.has_shipment(shipment.shipment_ref, shipment.carrier, shipment.tracking_number):
            return False
        self.shipments.append(shipment)
        return True

    # --- returns -----------------------------------------------------------------------------------------------

    def check_return(self, wanted: dict[str, int]) -> None:
        """``wanted`` (qty per line id) may be returned: the order was handed over, and each line has that many
        units left that no other return took. A 409 or 422 naming the lines otherwise."""
        if self.state not in RETURNABLE:
            raise ProblemError(
                "conflict",
                f"order {self.id} is {self.state}; only a delivered or picked-up order can be returned",
                errors=[{"state": self.state}],
            )
        errors: list[dict[str, Any]] = []
        for line_id, qty in wanted.items():
            ordered = self.line(line_id)
            if ordered is None:
                errors.append({"line_id": line_id, "detail": "the order has no such line"})
            elif qty > ordered.qty - self.returned.get(line_id, 0):
                errors.append(
                    {"line_id": line_id, "requested": qty, "returnable": ordered.qty - self.returned.get(line_id, 0)}
                )
        if errors:
            raise ProblemError("unprocessable", "these lines cannot be returned in these quantities", errors=errors)

    def book_return(self, return_id: str, wanted: dict[str, int]) -> None:
        """Count ``wanted`` as returned by return ``return_id`` (checked first: see :meth:`check_return`)."""
        self.check_return(wanted)
        for line_id, qty in wanted.items():
            self.returned[line_id] = self.returned.get(line_id, 0) + qty
        self.returns.append(return_id)

    def unbook_return(self, ret: ReturnRecord) -> None:
        """A return the back-end refused: its quantities may be returned again."""
        for line_id, line in zip(ret.line_ids, ret.lines, strict=True):
            self.returned[line_id] = max(0, self.returned.get(line_id, 0) - line.qty)


def not_accepted(record: OrderRecord) -> bool:
    """Failed before acceptance because a back-end was away: nothing was promised; the key may place it again."""
    return (
        record.goal == "failed"
        and record.state in ("received", "reserved", "failed")
        and bool(record.errors and record.errors[0].get("upstream"))
    )


class ReturnRecord(msgspec.Struct, kw_only=True):
    id: str
    order_id: str
    owner: str
    state: ReturnState
    lines: list[ReturnLine]
    line_ids: list[str]
    location: str
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    step: ReturnStep = ReturnStep.ANNOUNCE
    attempts: int = 0
    seq: int = 0
    waiting: str | None = None
    document_id: str | None = None
    credit_memo: str | None = None
    # What the back-end observed arriving, per SKU (a store counter takes what is handed over).
    received: dict[str, int] | None = None
    correlation_id: str | None = None

    def view(self) -> Return:
        return Return(
            id=self.id,
            order_id=self.order_id,
            owner=self.owner,
            state=self.state,
            lines=self.lines,
            location=self.location,
            created_at=self.created_at,
            updated_at=self.updated_at,
            received=self.received,
        )
