"""How experience-web shows orders: the whole order (a web page has room for it), with links to what the shopper
may do next. Pure functions over process-orders' canonical answers; no I/O."""

from __future__ import annotations

from services.experience.common.views import Priced, Views, priced
from shared.models.common import Model
from shared.models.orders import Customer, Fulfilment, Order, OrderLine, OrderState, TimelineEntry

BASE = "/web/v1"


class WebLinks(Model, kw_only=True):
    """Paths (under the gateway's origin) of the order and of what can be done with it."""

    order: str
    timeline: str
    cancel: str


class WebOrder(Priced, kw_only=True):
    """The whole order as the web shop shows it (its owner aside), with links."""

    id: str
    state: OrderState
    customer: Customer
    fulfilment: Fulfilment
    lines: list[OrderLine]
    links: WebLinks


def order(found: Order) -> WebOrder:
    path = f"{BASE}/orders/{found.id}"
    return WebOrder(
        id=found.id,
        state=found.state,
        customer=found.customer,
        fulfilment=found.fulfilment,
        lines=found.lines,
        **priced(found),
        links=WebLinks(order=path, timeline=f"{path}/timeline", cancel=f"{path}/cancel"),
    )


def entry(found: TimelineEntry) -> TimelineEntry:
    """A web timeline shows every transition as it is: time, state, system, document id, correlation id."""
    return found


VIEWS = Views(order=order, order_type=WebOrder, entry=entry, entry_type=TimelineEntry)
