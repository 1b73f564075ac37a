"""Constrained scalar types and small value objects shared by every canonical model.

Validation lives in the types, so every edge that decodes a canonical payload with msgspec enforces the same
rules (DESIGN §7): SKUs match ``[A-Za-z0-9._-]{1,64}``, quantities are positive and capped, money is integer
minor units with an ISO 4217 code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Generic, Protocol, TypeVar

import msgspec
from msgspec import Meta

# An id starts with a letter or digit: "." and ".." are path segments of their own (a client or proxy resolves
# /orders/../returns to /returns), never an id.
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
LOCATION_PATTERN = r"^(dc|store)-[a-z0-9][a-z0-9-]{0,39}$"
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
# A postal code of any country's format: a letter or digit, then letters, digits, spaces or dashes (2-12 in all).
POSTAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 -]{1,11}$"
MAX_LINE_QTY = 10_000
MAX_LINES = 500

Sku = Annotated[str, Meta(pattern=SKU_PATTERN, description="Canonical SKU: the ERP's internal reference")]
LocationId = Annotated[str, Meta(pattern=LOCATION_PATTERN, description="`dc-<code>` or `store-<code>`")]
Ref = Annotated[str, Meta(pattern=REF_PATTERN, description="A document reference chosen by the caller")]
Qty = Annotated[int, Meta(ge=1, le=MAX_LINE_QTY, description="A positive quantity, capped per line")]
Count = Annotated[int, Meta(ge=0, description="A non-negative stock count")]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
MinorUnits = Annotated[int, Meta(ge=0, le=10**12, description="Money in minor units (cents)")]
CountryCode = Annotated[str, Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
ShortText = Annotated[str, Meta(min_length=1, max_length=200)]

T = TypeVar("T")


class HasLineId(Protocol):
    @property
    def line_id(self) -> str: ...


def duplicate_line_ids(lines: Iterable[HasLineId]) -> list[str]:
    """Line ids given to more than one line of a request (an order, a reservation, a return): a rule across items
    no schema can state, so a request that breaks it is well-formed but cannot be processed."""
    counted: dict[str, int] = {}
    for line in lines:
        counted[line.line_id] = counted.get(line.line_id, 0) + 1
    return sorted(line_id for line_id, n in counted.items() if n > 1)


class Model(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=False):
    """Base of every canonical payload: unknown fields are refused at every edge."""


class Money(Model, kw_only=True):
    amount: MinorUnits
    currency: Currency


class Address(Model, kw_only=True):
    name: ShortText
    line1: ShortText
    line2: Annotated[str, Meta(max_length=200)] | None = None
    city: ShortText
    postal_code: Annotated[str, Meta(min_length=1, max_length=20)]
    country: CountryCode
    phone: Annotated[str, Meta(max_length=40)] | None = None
    email: Annotated[str, Meta(max_length=200)] | None = None


class Page(Model, Generic[T], kw_only=True):
    """A page of a cursor-paged listing; ``next_cursor`` is opaque and absent on the last page."""

    items: list[T]
    next_cursor: str | None = None


def to_utc(value: datetime) -> datetime:
    """Timestamps are UTC; a naive one from a back-end is taken as UTC rather than guessed."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
