"""process-availability HTTP (DESIGN §10): ATP reads, reservations, prices, reconciliations.

Every route takes the caller's verified identity (``X-Omnigate-Identity``, issue 8 "identity all the way down";
the kernel answers 401 without a valid one) and lets in only what its rule below names (403
``insufficient_scope`` otherwise), checked by the kernel before the handler runs:

- ATP reads (``/availability/...``): a caller (web, mobile, partner, passed on by an experience API) with
  ``availability:read``; a service identity (``channel=internal``) or an operator (``ops:*``).
- Price reads (``GET /prices/{sku}``, ``POST /prices/query``): the same with ``catalog:read``.
- Reservations (reserve, read, extend, commit, release): a service identity (process-orders) or an operator.
  A reservation is the write side of an order: no shopper or partner reaches it directly, and a set's reader is
  the deployable that holds it. The owner travels in the reservation body (a service acts for no owner).
- Price sync and reconciliations (start and read): operators only.

Path and query values are typed (the kernel's ``shared.params``; SKU, ref and postal patterns, quantities,
limits), so the framework refuses a bad one before anything reaches Redis; bodies are the contract Structs of
``shared.models.availability``, decoded strictly.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, JSONBody, Parameter

from services.process.availability.atp import AtpReader, sku_availability
from services.process.availability.prices import Prices
from services.process.availability.reconcile import Reconciler
from services.process.availability.reservations import Reservations
from services.process.availability.settings import AvailabilitySettings
from services.process.availability.stores import POSTAL_PATTERN, Locations, centroid, distance_km
from shared import params
from shared.clock import now_ms
from shared.identity import OPERATORS, Access, Identity
from shared.models.availability import (
    MAX_QUERY_SKUS,
    AvailabilityQuery,
    AvailabilityQueryResult,
    BasketLine,
    ExtendRequest,
    PriceQuery,
    PriceQueryResult,
    Reconciliation,
    ReconciliationRequest,
    ReservationRequest,
    ReservationSet,
    SkuAvailability,
    StoreAvailability,
    StoreLineAvailability,
)
from shared.models.catalog import Price
from shared.models.common import Qty, Sku
from shared.problems import ProblemError, invalid, not_found
from shared.service import requires

MAX_BASKET = 50


def _readers(scope: str) -> Access:
    """A read: callers (web, mobile, partner) holding ``scope``, any service identity, any operator."""
    return Access({"web": scope, "mobile": scope, "partner": scope, "internal": None, "ops": "ops:*"})


# Who may call which kind of route (the module docstring says why); each route names one of these.
ATP_READERS = requires(_readers("availability:read"))
PRICE_READERS = requires(_readers("catalog:read"))
RESERVERS = requires(Access({"internal": None, "ops": "ops:*"}))
OPERATORS_ONLY = requires(OPERATORS)


# --- availability ---------------------------------------------------------------------------------------------


# Examples use SKUs and stores of the default sandbox seed, so they work as written against `make run`.
SKU_EXAMPLES = ("OG-1000-BLK-XS-000000", "OG-1233-BEI-L-003741")
QUERY_EXAMPLE = {"skus": list(SKU_EXAMPLES), "explain": False}
RESERVATION_EXAMPLE = {
    "order_id": "o-demo-0001",
    "owner": "web:c-1001",
    "lines": [
        {"line_id": "1", "sku": SKU_EXAMPLES[0], "location": "dc-tlb", "qty": 2},
        {"line_id": "2", "sku": SKU_EXAMPLES[1], "location": "store-kfr9qs7nff0n5", "qty": 1},
    ],
    "ttl_s": 900,
}


@get(
    "/availability/stores",
    tags=["availability"],
    summary="Stores near a postal code with stock for a basket",
    dependencies=ATP_READERS,
)
async def stores_near(
    identity: NamedDependency[Identity],
    atp: NamedDependency[AtpReader],
    locations: NamedDependency[Locations],
    # The items' own types check each SKU and qty (msgspec reads them); Litestar checks the list's length.
    sku: Annotated[
        list[Sku], Parameter(min_items=1, max_items=MAX_BASKET, description="SKUs of the basket (repeat the parameter)")
    ],
    postal: Annotated[
        str, Parameter(pattern=POSTAL_PATTERN.pattern, description="Postal code to measure distance from")
    ],
    qty: Annotated[list[Qty] | None, Parameter(description="One qty for every SKU, or one per SKU; default 1")] = None,
    limit: Annotated[int, Parameter(ge=1, le=100, description="How many stores, nearest first")] = 10,
) -> list[StoreAvailability]:
    """Every pickup store, nearest first, with what it has of each basket line and whether it has it all.

    The postal code is placed by the stores' own postal codes (a geocoder is a seam; see stores.py)."""
    skus = sku  # one query parameter per SKU: ?sku=A&sku=B
    if len(set(skus)) != len(skus):
        raise invalid("each SKU once; give the quantity with qty")
    qtys = qty or [1]
    if len(qtys) not in (1, len(skus)):
        raise invalid("give one qty for every SKU, or one qty per SKU in the same order")
    basket = [BasketLine(sku=s, qty=qtys[0] if len(qtys) == 1 else qtys[i]) for i, s in enumerate(skus)]
    known = await locations.all()
    stores = [loc for loc in known.values() if loc.type == "store" and loc.pickup]
    origin = centroid(postal, stores)
    if origin is None:
        raise ProblemError(
            "unprocessable",
            f"postal code {postal} cannot be placed near any store",
            errors=[{"field": "postal", "value": postal}],
        )
    now = now_ms()
    fields, staleness = await atp.read(skus, now)
    per_sku = []
    for line, raw in zip(basket, fields, strict=True):
        found = sku_availability(line.sku, raw, known, staleness_ms=staleness)
        if found is None:
            raise not_found(f"sku {line.sku}")
        per_sku.append({a.location: a.available for a in found.locations})
    answers = []
    for store in stores:
        lines = [
            StoreLineAvailability(sku=line.sku, available=avail.get(store.id, 0))
            for line, avail in zip(basket, per_sku, strict=True)
        ]
        where = (
            (store.latitude, store.longitude) if store.latitude is not None and store.longitude is not None else None
        )
        answers.append(
            StoreAvailability(
                store=store,
                distance_km=round(distance_km(origin, where), 2) if where else float("inf"),
                complete=all(sl.available >= line.qty for sl, line in zip(lines, basket, strict=True)),
                lines=lines,
            )
        )
    answers.sort(key=lambda a: (a.distance_km, a.store.id))
    return answers[:limit]


@get(
    "/availability/{sku:str}",
    tags=["availability"],
    summary="ATP of one SKU: ship-to-home and per location",
    dependencies=ATP_READERS,
)
async def get_availability(
    identity: NamedDependency[Identity],
    atp: NamedDependency[AtpReader],
    locations: NamedDependency[Locations],
    sku: params.Sku,
    explain: Annotated[
        bool, Parameter(description="Include every term (on hand, reserved, safety stock, in transit)")
    ] = False,
) -> SkuAvailability:
    fields, staleness = await atp.read([sku], now_ms())
    found = sku_availability(sku, fields[0], await locations.all(), staleness_ms=staleness, explain=explain)
    if found is None:
        raise not_found(f"sku {sku}")
    return found


@post(
    "/availability/query",
    status_code=200,
    tags=["availability"],
    summary=f"ATP of up to {MAX_QUERY_SKUS} SKUs in one call",
    dependencies=ATP_READERS,
)
async def query_availability(
    identity: NamedDependency[Identity],
    data: Annotated[
        AvailabilityQuery, Body(examples=[Example(summary="two SKUs, every location", value=QUERY_EXAMPLE)])
    ],
    atp: NamedDependency[AtpReader],
    locations: NamedDependency[Locations],
    prices: NamedDependency[Prices],
) -> AvailabilityQueryResult:
    known = await locations.all()
    only = None
    if data.locations is not None:
        unknown = [loc for loc in data.locations if loc not in known]
        if unknown:
            raise ProblemError(
                "unprocessable",
                "some locations do not exist",
                errors=[{"field": "locations", "value": loc} for loc in unknown[:20]],
            )
        only = set(data.locations)
    skus = list(dict.fromkeys(data.skus))
    priced: PriceQueryResult | None = None
    if data.prices:
        (fields, staleness), priced = await asyncio.gather(atp.read(skus, now_ms()), prices.query(skus))
    else:
        fields, staleness = await atp.read(skus, now_ms())
    items, unknown_skus = [], []
    for sku, raw in zip(skus, fields, strict=True):
        found = sku_availability(sku, raw, known, staleness_ms=staleness, explain=data.explain, only=only)
        if found is None:
            unknown_skus.append(sku)
        else:
            items.append(found)
    return AvailabilityQueryResult(items=items, unknown=unknown_skus, prices=priced)


# --- reservations ---------------------------------------------------------------------------------------------


@post(
    "/reservations",
    tags=["reservations"],
    summary="Hold stock for every line of an order, all or nothing",
    response_description="The reservation set (201 when this call reserved, 200 for a replay)",
    dependencies=RESERVERS,
)
async def reserve(
    identity: NamedDependency[Identity],
    reservations: NamedDependency[Reservations],
    data: Annotated[
        ReservationRequest, Body(examples=[Example(summary="hold two lines for 15 minutes", value=RESERVATION_EXAMPLE)])
    ],
) -> Response[ReservationSet]:
    """Idempotent by (order_id, line_id). Not enough stock for any line: 409 ``insufficient-stock`` naming
    every short line, and nothing is held."""
    reservation_set, created = await reservations.reserve(data)
    return Response(reservation_set, status_code=201 if created else 200)


@get(
    "/reservations/{order_id:str}",
    tags=["reservations"],
    summary="The reservation set of an order",
    dependencies=RESERVERS,
)
async def get_reservations(
    identity: NamedDependency[Identity], order_id: params.OrderId, reservations: NamedDependency[Reservations]
) -> ReservationSet:
    return await reservations.get(order_id)


@post(
    "/reservations/{order_id:str}/extend",
    status_code=200,
    tags=["reservations"],
    summary="Push a held set's deadline to now + ttl_s",
    dependencies=RESERVERS,
)
async def extend(
    identity: NamedDependency[Identity],
    reservations: NamedDependency[Reservations],
    order_id: params.OrderId,
    data: Annotated[ExtendRequest, Body(examples=[Example(summary="ten more minutes", value={"ttl_s": 600})])],
) -> ReservationSet:
    return await reservations.transition(order_id, "extend", data.ttl_s)


@post(
    "/reservations/{order_id:str}/commit",
    status_code=200,
    tags=["reservations"],
    summary="held -> allocated (the order was accepted): no expiry from now on",
    dependencies=RESERVERS,
)
async def commit(
    identity: NamedDependency[Identity], order_id: params.OrderId, reservations: NamedDependency[Reservations]
) -> ReservationSet:
    return await reservations.transition(order_id, "commit")


@post(
    "/reservations/{order_id:str}/release",
    status_code=200,
    tags=["reservations"],
    summary="Give the stock back (cancel or failure); idempotent",
    dependencies=RESERVERS,
)
async def release(
    identity: NamedDependency[Identity], order_id: params.OrderId, reservations: NamedDependency[Reservations]
) -> ReservationSet:
    return await reservations.transition(order_id, "release")


# --- prices ---------------------------------------------------------------------------------------------------


@post(
    "/prices/query",
    status_code=200,
    tags=["prices"],
    summary="Prices of many SKUs from the price projection",
    dependencies=PRICE_READERS,
)
async def query_prices(
    identity: NamedDependency[Identity],
    prices: NamedDependency[Prices],
    data: Annotated[
        PriceQuery,
        Body(examples=[Example(summary="a basket's prices", value={"skus": [SKU_EXAMPLES[0], SKU_EXAMPLES[1]]})]),
    ],
) -> PriceQueryResult:
    """Answers from Redis, so checkout prices keep working while the ERP is down."""
    return await prices.query(data.skus)


@get(
    "/prices/{sku:str}",
    tags=["prices"],
    summary="The price of one SKU from the price projection",
    dependencies=PRICE_READERS,
)
async def get_price(identity: NamedDependency[Identity], sku: params.Sku, prices: NamedDependency[Prices]) -> Price:
    price = await prices.get(sku)
    if price is None:
        raise not_found(f"price of sku {sku}")
    return price


@post(
    "/prices/sync",
    status_code=200,
    tags=["prices"],
    summary="Sync the price projection from the ERP now",
    response_description="`done` with the count, or 202 `running` if it takes longer than the wait",
    dependencies=OPERATORS_ONLY,
)
async def sync_prices(
    identity: NamedDependency[Identity],
    prices: NamedDependency[Prices],
    settings: NamedDependency[AvailabilitySettings],
) -> Response[Any]:
    status = await prices.request_sync(wait_s=settings.http_timeout_s * 4 + 2)
    return Response(status, status_code=200 if status.state == "done" else 202)


# --- reconciliations ------------------------------------------------------------------------------------------


@post(
    "/reconciliations",
    tags=["reconciliation"],
    status_code=202,
    summary="Compare the projection with WMS and POS, repair it, report the drift (in the background)",
    dependencies=OPERATORS_ONLY,
)
async def start_reconciliation(
    identity: NamedDependency[Identity],
    reconciler: NamedDependency[Reconciler],
    locations: NamedDependency[Locations],
    data: JSONBody[ReconciliationRequest | None] = None,
) -> Response[Reconciliation]:
    only = data.locations if data is not None else None
    if only is not None:
        known = await locations.all()
        unknown = [loc for loc in only if loc not in known]
        if unknown:
            raise ProblemError(
                "unprocessable",
                "some locations do not exist",
                errors=[{"field": "locations", "value": loc} for loc in unknown[:20]],
            )
    report = await reconciler.start(only)
    return Response(report, status_code=202, headers={"Location": f"/reconciliations/{report.id}"})


@get(
    "/reconciliations/{recon_id:str}",
    tags=["reconciliation"],
    summary="A reconciliation's state and drift",
    dependencies=OPERATORS_ONLY,
)
async def get_reconciliation(
    identity: NamedDependency[Identity], recon_id: params.ReconciliationId, reconciler: NamedDependency[Reconciler]
) -> Reconciliation:
    report = await reconciler.get(recon_id)
    if report is None:
        raise not_found(f"reconciliation {recon_id}")
    return report


ROUTES = [
    stores_near,
    get_availability,
    query_availability,
    reserve,
    get_reservations,
    extend,
    commit,
    release,
    query_prices,
    get_price,
    sync_prices,
    start_reconciliation,
    get_reconciliation,
]
