"""What a channel's ``views.py`` gives the experience kit: how it shapes process-orders' answers.

A channel shapes an order and a timeline entry with pure functions (no I/O, no request): web shows the whole order,
mobile what a phone shows, partner a stable ``/partner/v1`` contract. Each function returns a msgspec Struct of the
channel's own, named here too so that the routes document it in the channel's OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import GenericAlias
from typing import Any, Generic, TypeVar

from shared.models.common import Currency, MinorUnits, Model, Page
from shared.models.orders import Order, TimelineEntry

O = TypeVar("O")
E = TypeVar("E")


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


@dataclass(frozen=True, slots=True)
class Views(Generic[O, E]):
    """A channel's shaping of an order (``order`` -> ``order_type``) and of a timeline entry (``entry`` ->
    ``entry_type``)."""

    order: Callable[[Order], O]
    order_type: type[O]
    entry: Callable[[TimelineEntry], E]
    entry_type: type[E]

    def page(self, page: Page[Order]) -> Page[O]:
        return Page(items=[self.order(order) for order in page.items], next_cursor=page.next_cursor)

    def timeline(self, entries: list[TimelineEntry]) -> list[E]:
        return [self.entry(entry) for entry in entries]

    @property
    def page_type(self) -> Any:
        """``Page[order_type]`` (for the OpenAPI document; a type checker cannot spell it for a variable)."""
        return GenericAlias(Page, (self.order_type,))

    @property
    def timeline_type(self) -> Any:
        return GenericAlias(list, (self.entry_type,))
