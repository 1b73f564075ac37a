"""How experience-mobile shows orders: compact, only what a phone's order list and order screen show (id, status,
total, how many lines and a one-line summary, when it was placed), so payloads stay small on a mobile network.
Pure functions over process-orders' canonical answers; no I/O."""

from __future__ import annotations

from datetime import datetime

from services.experience.common.views import Views
from shared.models.common import Currency, MinorUnits, Model
from shared.models.orders import Order, OrderState, TimelineEntry

SUMMARY_SKUS = 2  # SKUs a summary names before "+N more"


class MobileOrder(Model, kw_only=True):
    """An order on a phone: ``total`` in minor units of ``currency``; ``summary`` like ``2× SKU-A, 1× SKU-B +3``."""

    id: str
    status: OrderState
    total: MinorUnits
    currency: Currency
    line_count: int
    summary: str
    created_at: datetime


class MobileStep(Model, kw_only=True):
    """One step of an order's progress, as a phone's tracking screen lists it."""

    at: datetime
    status: str


def summary(found: Order) -> str:
    shown = ", ".join(f"{line.qty}× {line.sku}" for line in found.lines[:SUMMARY_SKUS])
    more = len(found.lines) - SUMMARY_SKUS
    return f"{shown} +{more}" if more > 0 else shown


def order(found: Order) -> MobileOrder:
    return MobileOrder(
        id=found.id,
        status=found.state,
        total=found.total,
        currency=found.currency,
        line_count=len(found.lines),
        summary=summary(found),
        created_at=found.created_at,
    )


def entry(found: TimelineEntry) -> MobileStep:
    return MobileStep(at=found.at, status=found.state)


VIEWS = Views(order=order, order_type=MobileOrder, entry=entry, entry_type=MobileStep)
