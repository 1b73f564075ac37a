"""system-pos HTTP: stores, store stock, pickup tasks and counter returns (DESIGN §10); Square's webhooks are in
webhooks.py.

Pickup tasks, the hold on their units and counter returns (each once per ref) live in pickups.py; the handlers
here delegate (paths and query strings are typed with the kernel's ``shared.params``, bodies are canonical
Structs, so bad values are refused before a handler runs)."""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from services.system.pos import mapping
from services.system.pos.connector import SquareConnector
from services.system.pos.pickups import Pickups, StoreReturns
from shared import params
from shared.models.common import Page
from shared.models.fulfilment import PickupTask, PickupTaskRequest
from shared.models.inventory import Location, StockPosition
from shared.models.returns import StoreReturn, StoreReturnRequest
from shared.problems import ProblemError, not_found

log = logging.getLogger("omnigate.system.pos")
_encoder = msgspec.json.Encoder()
# Square's own cursor, passed through: opaque, but checked for shape before it goes into a request to the POS.
SquareCursor = Annotated[
    str | None, Parameter(pattern=r"^[A-Za-z0-9+/=_.:-]{1,512}$", description="Opaque cursor from a previous page")
]
Limit = Annotated[int, Parameter(ge=1, le=1000, description="Page size, 1-1000")]


def _digest(value: msgspec.Struct) -> str:
    return hashlib.sha256(_encoder.encode(value)).hexdigest()


async def _store_location(pos: SquareConnector, store: str) -> str:
    """The Square location id of a canonical store id (already checked for shape by its type)."""
    if not store.startswith(mapping.STORE_PREFIX):
        raise not_found(f"store {store} (the POS holds stores only)")
    location_id = await pos.location_id(store)
    if location_id is None:
        raise not_found(f"store {store}")
    return location_id


async def _variation_ids(pos: SquareConnector, lines: list[Any]) -> list[str]:
    ids: list[str] = []
    missing: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        vid = await pos.variation_id(line.sku)
        if vid is None:
            missing.append({"field": f"lines[{i}].sku", "value": line.sku})
        else:
            ids.append(vid)
    if missing:
        raise ProblemError("unprocessable", "the POS has no item for some SKUs", errors=missing)
    return ids


# --- stores and stock --------------------------------------------------------------------------------------------


@get("/stores", summary="Stores (Square locations) as canonical locations")
async def list_stores(pos: NamedDependency[SquareConnector]) -> list[Location]:
    locations = await pos.refresh_locations()
    return [mapping.location(loc) for loc in locations if (loc.status or "ACTIVE") == "ACTIVE"]


@get("/stock", summary="Stock on hand at one store, a page at a time")
async def store_stock(
    pos: NamedDependency[SquareConnector],
    location: params.LocationId,
    cursor: SquareCursor = None,
    limit: Limit = 100,
) -> Page[StockPosition]:
    location_id = await _store_location(pos, location)
    page = await pos.retrieve_counts(location_ids=[location_id], cursor=cursor, limit=limit)
    counts = [c for c in page.counts if mapping.is_stock(c) and c.location_id == location_id]
    skus = await pos.skus([c.catalog_object_id for c in counts])
    items = [mapping.stock_position(sku, location, c) for sku, c in zip(skus, counts, strict=True) if sku is not None]
    return Page(items=items, next_cursor=page.cursor or None)


@get("/stock/{sku:str}", summary="Stock on hand of one SKU in every store that carries it")
async def sku_stock(pos: NamedDependency[SquareConnector], sku: params.Sku) -> list[StockPosition]:
    variation_id = await pos.variation_id(sku)
    if variation_id is None:
        raise not_found(f"sku {sku} at the POS")
    positions: list[StockPosition] = []
    cursor: str | None = None
    while True:
        page = await pos.retrieve_counts(catalog_object_ids=[variation_id], cursor=cursor)
        for count in page.counts:
            if mapping.is_stock(count) and count.catalog_object_id == variation_id:
                positions.append(mapping.stock_position(sku, mapping.store_id(count.location_id), count))
        cursor = page.cursor
        if not cursor:
            return positions


# --- pickup tasks ------------------------------------------------------------------------------------------------


@post(
    "/pickup-tasks",
    summary="Ask a store to prepare a pickup (a Square order with a PICKUP fulfillment) and take "
    "its units off the till",
)
async def create_pickup_task(
    data: JSONBody[PickupTaskRequest],
    pos: NamedDependency[SquareConnector],
    pickups: NamedDependency[Pickups],
) -> Response[PickupTask]:
    """Idempotent by ``ref``: a repeat answers 200 with the same task. The units leave the store's sellable
    stock (Square ``IN_STOCK -> SOLD``) and ``pickup.held`` is published with the counts the POS reported.
    409 ``conflict`` (with Retry-After) while another request on the same ref runs or its outcome is unknown."""
    location_id = await _store_location(pos, data.store)
    # Resolve every SKU before claiming the ref, so a request refused for a bad SKU can be corrected.
    variation_ids = await _variation_ids(pos, data.lines)
    task, created = await pickups.create(data, _digest(data), location_id, variation_ids)
    return Response(task, status_code=201 if created else 200)


@get("/pickup-tasks/{ref:str}", summary="A pickup task and its state at the store")
async def get_pickup_task(ref: params.Ref, pickups: NamedDependency[Pickups]) -> PickupTask:
    return await pickups.task(ref)


@post(
    "/pickup-tasks/{ref:str}/cancel",
    summary="Cancel a pickup task by its ref and give its units back to the till",
    status_code=200,
)
async def cancel_pickup_task(ref: params.Ref, pickups: NamedDependency[Pickups]) -> PickupTask:
    """Sets the order's PICKUP fulfillment to CANCELED at the POS and gives the held units back. Idempotent: a
    cancelled task answers 200 with status ``canceled``. 404 when no order exists for the ref (a create of that
    ref is refused afterwards), 409 when the task was already collected, or (with Retry-After) while another
    request on the ref runs or its outcome is unknown."""
    return await pickups.cancel(ref)


# --- counter returns ----------------------------------------------------------------------------------------------


@post("/returns", summary="Record a return taken back at a store counter and put the units back in stock")
async def create_store_return(
    data: JSONBody[StoreReturnRequest],
    pos: NamedDependency[SquareConnector],
    store_returns: NamedDependency[StoreReturns],
) -> Response[StoreReturn]:
    location_id = await _store_location(pos, data.store)
    variation_ids = await _variation_ids(pos, data.lines)
    taken, created = await store_returns.create(data, _digest(data), location_id, variation_ids)
    return Response(taken, status_code=201 if created else 200)


ROUTES = [
    list_stores,
    store_stock,
    sku_stock,
    create_pickup_task,
    get_pickup_task,
    cancel_pickup_task,
    create_store_return,
]
