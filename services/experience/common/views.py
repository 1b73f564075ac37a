"""What a channel's ``views.py`` gives the experience kit: how it shapes process-orders' answers; and what a
shaped product answer tells the cache contract (:class:`Shown`).

A channel shapes an order and a timeline entry with pure functions (no I/O, no request): web shows the whole order,
mobile what a phone shows, partner a stable ``/partner/v1`` contract. Each function returns a msgspec Struct of the
channel's own, named here too so that the routes document it in the channel's OpenAPI document. A return is shown
as :class:`ShownReturn` unless the channel shapes it too (partner does: its contract is its own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import GenericAlias
from typing import Annotated, Any, Generic, TypeVar

from msgspec import Meta

from shared.models.common import Currency, LocationId, MinorUnits, Model, Page
from shared.models.orders import Order, TimelineEntry
from shared.models.returns import Return, ReturnLine, ReturnState

O = TypeVar("O")
E = TypeVar("E")
B = TypeVar("B")


class Tracking(Model, kw_only=True):
    """One parcel of an order on its way, as web and partner show it (process-orders' ``Order.shipments``)."""

    carrier: Annotated[str, Meta(description="The carrier, as the warehouse names it (`PostNL`, `DHL Parcel`...).")]
    tracking_number: Annotated[str, Meta(description="The carrier's tracking number of the parcel.")]
    url: Annotated[
        str | None,
        Meta(description="The carrier's track-and-trace page of the parcel; null for a carrier without a known one."),
    ]
    shipped_at: Annotated[datetime, Meta(description="When the parcel left the warehouse (UTC).")]


T = TypeVar("T", bound=Tracking)


def tracking(found: Order, shown_as: type[T]) -> list[T]:
    """The parcels of ``found`` shipped so far, in the order they left, as the channel's own :class:`Tracking`
    (its name is part of the channel's published contract)."""
    return [
        shown_as(carrier=s.carrier, tracking_number=s.tracking_number, url=s.tracking_url, shipped_at=s.shipped_at)
        for s in found.shipments
    ]


class Priced(Model, kw_only=True):
    """What web and partner show of every order alike: money in minor units of ``currency``, the payment
    reference the channel authorised, times UTC RFC 3339, and why it is rejected, failed, cancelled or waiting."""

    currency: Currency
    subtotal: MinorUnits
    tax: MinorUnits
    total: MinorUnits
    payment_reference: str
    created_at: datetime
    updated_at: datetime
    reason: str | None = None


def priced(order: Order) -> dict[str, Any]:
    """The :class:`Priced` fields of ``order``, to build a channel's struct with (``WebOrder(**priced(o), ...)``)."""
    return {field: getattr(order, field) for field in Priced.__struct_fields__}


class ShownReturn(Model, kw_only=True):
    """A return of one of the caller's orders, as process-orders keeps it (its owner aside): the lines returned
    (``unit_price`` in minor units, as the order was priced), the DC or store taking them back, its state
    (``return_requested`` -> ``return_received`` or ``partially_received`` -> ``restocked``/``refunded`` ->
    ``closed``; ``rejected`` if a back-end refused it), times UTC RFC 3339, and once the goods arrived what was
    received per SKU (refunds follow what was received, not what was asked)."""

    id: str
    order_id: str
    state: ReturnState
    lines: list[ReturnLine]
    location: LocationId
    created_at: datetime
    updated_at: datetime
    received: Annotated[
        dict[str, int] | None,
        Meta(description="Units received per SKU once the DC or store observed them arriving; null until then."),
    ] = None


def shown_return(found: Return) -> ShownReturn:
    return ShownReturn(
        id=found.id,
        order_id=found.order_id,
        state=found.state,
        lines=found.lines,
        location=found.location,
        created_at=found.created_at,
        updated_at=found.updated_at,
        received=found.received,
    )


@dataclass(frozen=True, slots=True)
class Views(Generic[O, E]):
    """A channel's shaping of an order (``order`` -> ``order_type``), of a timeline entry (``entry`` ->
    ``entry_type``) and of a return (``ret`` -> ``return_type``; the kit's :class:`ShownReturn` by default)."""

    order: Callable[[Order], O]
    order_type: type[O]
    entry: Callable[[TimelineEntry], E]
    entry_type: type[E]
    ret: Callable[[Return], Any] = shown_return
    return_type: type[Any] = ShownReturn
    # A named page type for the OpenAPI document (a ``Page[order_type]`` subclass), else ``Page[order_type]``.
    page_shape: type[Page[O]] | None = None

    def page(self, page: Page[Order]) -> Page[O]:
        return Page(items=[self.order(order) for order in page.items], next_cursor=page.next_cursor)

    def timeline(self, entries: list[TimelineEntry]) -> list[E]:
        return [self.entry(entry) for entry in entries]

    @property
    def page_type(self) -> Any:
        """``page_shape``, or ``Page[order_type]`` (for the OpenAPI document; a type checker cannot spell it for a
        variable)."""
        return self.page_shape or GenericAlias(Page, (self.order_type,))

    @property
    def timeline_type(self) -> Any:
        return GenericAlias(list, (self.entry_type,))


@dataclass(frozen=True, slots=True)
class Shown(Generic[B]):
    """A product answer (``body``) and what the cache contract (shared/caching.py) needs to know of it: the parts
    that could not be read (``degraded``, e.g. ``["availability", "price"]``; none: the answer is whole, so a
    shared cache may keep it) and the tags naming what it depends on (``sku:<SKU>``, ``location:<id>``)."""

    body: B
    degraded: list[str]
    tags: list[str]

    @property
    def whole(self) -> bool:
        return not self.degraded


def shown_page(shown: Sequence[Shown[O]], next_cursor: str | None) -> Shown[Page[O]]:
    """A page of shown products: degraded in every part any of them is (each part once, in order), tagged by
    what each depends on (each tag once, in order)."""
    degraded = list(dict.fromkeys(part for one in shown for part in one.degraded))
    tags = list(dict.fromkeys(tag for one in shown for tag in one.tags))
    return Shown(Page(items=[one.body for one in shown], next_cursor=next_cursor), degraded, tags)
