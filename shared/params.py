"""Path and query parameter types of every Omnigate API: the canonical id formats, checked by the framework.

A handler declares ``sku: params.Sku`` and a value that does not fit is refused before the handler runs, as the
kernel's 400 ``invalid-request`` problem (in a sandbox, as the vendor's error, by its own exception handler), and
the OpenAPI document shows the pattern. The formats are the ones bodies use (``shared.models.common``); they are
declared again here because Litestar reads only ``Parameter`` metadata from a handler signature and silently drops
a msgspec ``Meta`` there: ``sku: common.Sku`` on a handler would arrive unchecked. (Inside a list the items'
msgspec types do hold, ``list[common.Sku]``, because msgspec itself reads them.)

Two more Litestar rules shape this module. A constraint inside ``Annotated[...] | None`` is not enforced, so an
optional value has its own alias (``Annotated[str | None, ...]``). And constraints do not stack (the first
``Parameter`` wins), so a route cannot narrow one of these types: page sizes, whose maxima are each API's own
contract, stay with their API.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from litestar.params import Parameter

from shared.body import nfc
from shared.cursor import MAX_CURSOR
from shared.models.common import LOCATION_PATTERN, POSTAL_PATTERN, REF_PATTERN, SKU_PATTERN
from shared.models.orders import OrderState
from shared.problems import invalid

SEARCH_TEXT_MAX = 100
# No control characters: C0 (tabs and line breaks included), DEL and C1. The text must end where the match does,
# said with (?![\s\S]): Python's ``$`` also matches before a final line break, and would let "shirt\n" through.
SEARCH_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*(?![\s\S])"

Sku = Annotated[str, Parameter(pattern=SKU_PATTERN, description="Canonical SKU: the ERP's internal reference")]
Ref = Annotated[str, Parameter(pattern=REF_PATTERN, description="A document reference")]
OptionalRef = Annotated[str | None, Parameter(pattern=REF_PATTERN, description="Only the document with this reference")]
OrderId = Annotated[str, Parameter(pattern=REF_PATTERN, description="The order id")]
ReturnId = Annotated[str, Parameter(pattern=REF_PATTERN, description="The return id")]
ReconciliationId = Annotated[
    str, Parameter(pattern=REF_PATTERN, description="The id the start of the reconciliation answered")
]
LocationId = Annotated[str, Parameter(pattern=LOCATION_PATTERN, description="`dc-<code>` or `store-<code>`")]
OptionalLocationId = Annotated[
    str | None, Parameter(pattern=LOCATION_PATTERN, description="Only this location: `dc-<code>` or `store-<code>`")
]
OptionalPostal = Annotated[
    str | None,
    Parameter(
        pattern=POSTAL_PATTERN,
        description="A postal code (2-12 letters, digits, spaces or dashes, e.g. `3512 AB`): answers nearest it",
    ),
]
# Cursors of the kernel's codec (shared.cursor), which checks the rest; a vendor's cursor passed through is typed
# by the API that passes it.
Cursor = Annotated[str | None, Parameter(max_length=MAX_CURSOR, description="Opaque cursor from a previous page")]
# Filters of an order listing (process-orders' ``GET /orders`` and the experience APIs' that call it). A time is
# passed through :func:`aware`, which refuses one without an offset.
OrderStatus = Annotated[
    OrderState | None,
    Parameter(description="Only orders in this state (one of the order lifecycle's states, e.g. `shipped`)"),
]
# Taken as text and read by :func:`aware` (an RFC 3339 date-time with an offset, nothing else): the framework's
# own conversion would also take a number as seconds since 1970, which the document does not say.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})?$")
UpdatedSince = Annotated[
    str | None,
    Parameter(
        max_length=64,
        schema_extra={"format": "date-time"},
        description="Only orders changed at or after this time: RFC 3339 with an offset, e.g. "
        "`2025-05-01T12:00:00Z` (an offset's `+` is `%2B` in a URL)",
    ),
]
# Free text a person typed to search with (a catalogue search's ``q``). The API that takes it passes it through
# :func:`search_text`, which trims and NFC-normalises it and refuses text that is blank once trimmed.
SearchText = Annotated[
    str | None,
    Parameter(
        min_length=1,
        max_length=SEARCH_TEXT_MAX,
        pattern=SEARCH_TEXT_PATTERN,
        description=f"Text to search for: 1-{SEARCH_TEXT_MAX} characters, no control characters, not blank; "
        "matched case-insensitively as a substring",
    ),
]


def search_text(value: str | None, *, field: str = "q") -> str | None:
    """A :data:`SearchText` value as APIs match it: NFC-normalised (DESIGN §4: text is normalised at the edge)
    and trimmed; None stays None. Blank text is a 400 ``invalid-request`` problem naming ``field``."""
    if value is None:
        return None
    text = nfc(value).strip()
    if not text:
        raise invalid(f"{field} is blank: give some text to search for", errors=[{"field": field}])
    return str(text)


def aware(given: str | datetime | None, *, field: str) -> datetime | None:
    """A time a caller gave (e.g. :data:`UpdatedSince`: RFC 3339 text) in UTC; None stays None. Text that is no
    date-time, or a time without an offset, is a 400 ``invalid-request`` problem naming ``field``: RFC 3339 times
    carry one, and guessing the zone would move the caller's window by hours."""
    if given is None:
        return None
    if isinstance(given, str):
        if not _DATE_TIME.match(given):
            raise invalid(f"{field} is not an RFC 3339 date-time, e.g. 2025-05-01T12:00:00Z", errors=[{"field": field}])
        try:
            given = datetime.fromisoformat(given.upper())  # RFC 3339 allows "t" and "z" too
        except ValueError:
            raise invalid(f"{field} is not a valid date-time", errors=[{"field": field}]) from None
    value = given
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid(f"{field} needs an offset (RFC 3339), e.g. 2025-05-01T12:00:00Z", errors=[{"field": field}])
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00: before the first instant a datetime holds
        raise invalid(f"{field} is out of range", errors=[{"field": field}]) from None
