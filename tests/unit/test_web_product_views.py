"""experience-web's product shaping (services/experience/web/views.py), pure: the cases the live estate does not
stage (a cap on the stores shown, a store that cannot be measured, a SKU without a price or never stocked, an
answer of process-availability that breaks its contract, the stores part alone failing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.experience.common.products import ProductFacts, Unavailable
from services.experience.web import views
from shared.models.availability import (
    AvailabilityQueryResult,
    PriceQueryResult,
    SkuAvailability,
    StoreAvailability,
    StoreLineAvailability,
)
from shared.models.catalog import Item, Price
from shared.models.inventory import Availability, Location
from shared.problems import ProblemError

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ITEM = Item(sku="OG-1", name="Tote", category="bags")


def atp(location: str, available: int) -> Availability:
    return Availability(sku="OG-1", location=location, available=available, as_of=T0, staleness_ms=0)


def stock(ship: int, **per_location: int) -> AvailabilityQueryResult:
    held = [atp(loc.replace("_", "-"), qty) for loc, qty in per_location.items()]
    found = SkuAvailability(sku="OG-1", ship=atp("ship", ship), locations=held, as_of=T0)
    price = Price(sku="OG-1", amount=1995, currency="EUR", as_of=T0)
    return AvailabilityQueryResult(items=[found], prices=PriceQueryResult(prices=[price]))


def near(store: str, available: int, distance: float) -> StoreAvailability:
    where = Location(id=store, type="store", name=store.title(), country="NL", pickup=True, source="pos", source_id="x")
    line = StoreLineAvailability(sku="OG-1", available=available)
    return StoreAvailability(store=where, distance_km=distance, complete=available > 0, lines=[line])


def test_the_stores_shown_are_capped_and_an_unmeasured_one_has_no_distance() -> None:
    stores = [
        near("store-a", 1, 0.0),
        near("store-b", 0, 1.0),
        near("store-c", 2, 5.5),
        near("store-d", 3, float("inf")),
    ]
    facts = ProductFacts(
        item=ITEM, stock=stock(4, dc_tlb=4, store_a=1, store_c=2, store_d=3), stores=stores, postal="1"
    )
    shown = views.product(facts, stores_shown=2)
    pickup = shown.body.availability.pickup
    assert pickup is not None and pickup.stores_with_stock == 3
    assert [(s.store, s.distance_km) for s in pickup.stores] == [("store-a", 0.0), ("store-c", 5.5)]
    assert shown.whole and shown.tags == ["sku:OG-1", "location:dc-tlb", "location:store-a", "location:store-c"]
    everything = views.product(facts, stores_shown=10).body.availability.pickup
    assert everything is not None and everything.stores[-1].distance_km is None


def test_unpriced_and_never_stocked_are_facts_not_failures() -> None:
    never = AvailabilityQueryResult(items=[], unknown=["OG-1"], prices=PriceQueryResult(prices=[], missing=["OG-1"]))
    shown = views.product(ProductFacts(item=ITEM, stock=never, stores=None, postal="3512 AB"), stores_shown=5)
    assert shown.body.price == views.ProductPrice(status="unpriced")
    assert shown.body.availability == views.ProductAvailability(
        status="out_of_stock",
        ship_to_home=views.ShipToHome(available=0, incoming=0, as_of=None),
        pickup=views.Pickup(stores_with_stock=0, stores=[]),
    )
    assert shown.whole and shown.tags == ["sku:OG-1"]


def test_the_stores_failing_alone_degrades_availability_but_keeps_the_price() -> None:
    facts = ProductFacts(item=ITEM, stock=stock(1, dc_tlb=1), stores=Unavailable("slow"), postal="3512 AB")
    shown = views.product(facts, stores_shown=5)
    assert shown.body.availability == views.ProductAvailability(status="unknown", reason="slow")
    assert shown.body.price.status == "priced" and shown.body.price.amount == 1995
    assert not shown.whole


def test_an_answer_without_the_prices_it_was_asked_for_is_the_upstreams_fault() -> None:
    broken = AvailabilityQueryResult(items=[], prices=None)
    with pytest.raises(ProblemError) as caught:
        views.product(ProductFacts(item=ITEM, stock=broken, stores=None, postal=None), stores_shown=5)
    assert (caught.value.status, caught.value.upstream) == (502, "process-availability")
