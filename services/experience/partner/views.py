"""How experience-partner shows orders: the stable ``/partner/v1`` contract, its own Structs (not the canonical
model, so the process layer can change without breaking a partner's integration; a change here is a new version).

A partner knows its order by the id process-orders gave it and by its own customer reference (``customer_id``,
the ``customer.id`` it submitted); process-orders carries no other partner reference today. Internal detail (the
owner, the back-ends' document ids, correlation ids) stays out. Pure functions; no I/O."""

from __future__ import annotations

from datetime import datetime

from services.experience.common.views import Priced, Views, priced
from shared.models.common import LocationId, MinorUnits, Model, Qty
from shared.models.orders import FulfilmentMode, Order, OrderState, TimelineEntry


class PartnerLine(Model, kw_only=True):
    """A line: ``unit_price`` in minor units, as priced when the order was placed; ``location`` once sourced."""

    line_id: str
    sku: str
    qty: Qty
    unit_price: MinorUnits
    location: LocationId | None = None


class PartnerOrder(Priced, kw_only=True):
    """An order in the ``/partner/v1`` contract."""

    id: str
    status: OrderState
    customer_id: str
    fulfilment: FulfilmentMode
    store: LocationId | None = None
    lines: list[PartnerLine]


class PartnerEvent(Model, kw_only=True):
    """One transition of an order, for a partner's status sync."""

    at: datetime
    status: str
    detail: str | None = None


def order(found: Order) -> PartnerOrder:
    return PartnerOrder(
        id=found.id,
        status=found.state,
        customer_id=found.customer.id,
        fulfilment=found.fulfilment.mode,
        store=found.fulfilment.store,
        lines=[
            PartnerLine(line_id=x.line_id, sku=x.sku, qty=x.qty, unit_price=x.unit_price, location=x.location)
            for x in found.lines
        ],
        **priced(found),
    )


def entry(found: TimelineEntry) -> PartnerEvent:
    return PartnerEvent(at=found.at, status=found.state, detail=found.detail)


VIEWS = Views(order=order, order_type=PartnerOrder, entry=entry, entry_type=PartnerEvent)
