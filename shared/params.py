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

from typing import Annotated

from litestar.params import Parameter

from shared.cursor import MAX_CURSOR
from shared.models.common import LOCATION_PATTERN, POSTAL_PATTERN, REF_PATTERN, SKU_PATTERN

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
