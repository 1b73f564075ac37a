"""experience-mobile's product shaping (services/experience/mobile/views.py) and the kit's page pieces
(common/products.py cursors, common/views.py ``shown_page``), pure: the cases the live estate does not stage (the
stores part alone failing, a SKU without a price or never stocked, a store that cannot be measured, a system-erp
cursor too long to wrap, pages mixing whole and degraded products)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.experience.common import products
from services.experience.common.products import PageFacts, ProductFacts, Unavailable
from services.experience.common.views import Shown, shown_page
from services.experience.mobile import views
from shared import cursor as cursors
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


def atp(location: str, available: int, sku: str = "OG-1") -> Availability:
    return Availability(sku=sku, location=location, available=available, as_of=T0, staleness_ms=0)


def stock(ship: int, sku: str = "OG-1", **per_location: int) -> AvailabilityQueryResult:
    held = [atp(loc.replace("_", "-"), qty, sku) for loc, qty in per_location.items()]
    found = SkuAvailability(sku=sku, ship=atp("ship", ship, sku), locations=held, as_of=T0)
    price = Price(sku=sku, amount=1995, currency="EUR", as_of=T0)
    return AvailabilityQueryResult(items=[found], prices=PriceQueryResult(prices=[price]))


def near(store: str, available: int, distance: float) -> StoreAvailability:
    where = Location(id=store, type="store", name=store.title(), country="NL", pickup=True, source="pos", source_id="x")
    line = StoreLineAvailability(sku="OG-1", available=available)
    return StoreAvailability(store=where, distance_km=distance, complete=available > 0, lines=[line])


def test_a_whole_product_is_compact_and_tagged_by_its_sku_and_the_store_shown() -> None:
    facts = ProductFacts(
        item=ITEM,
        stock=stock(5, dc_tlb=5, store_b=2),
        stores=[near("store-a", 0, 0.0), near("store-b", 2, float("inf"))],
        postal="1234 AB",
    )
    shown = views.product(facts)
    assert shown.body == views.MobileProduct(
        sku="OG-1",
        name="Tote",
        price=views.MobilePrice(amount=1995, currency="EUR"),
        status="in_stock",
        count=5,
        nearest_store=views.MobileStore(id="store-b", name="Store-B", distance_km=None, available=2),
    )
    assert shown.whole and shown.tags == ["sku:OG-1", "location:store-b"]


def test_store_only_counts_every_store_and_out_of_stock_counts_none() -> None:
    only_in_stores = views.product(
        ProductFacts(item=ITEM, stock=stock(0, store_a=1, store_b=3), stores=None, postal=None)
    )
    assert (only_in_stores.body.status, only_in_stores.body.count, only_in_stores.body.nearest_store) == (
        "store_only",
        4,
        None,
    )
    never = AvailabilityQueryResult(items=[], unknown=["OG-1"], prices=PriceQueryResult(prices=[], missing=["OG-1"]))
    unsold = views.product(ProductFacts(item=ITEM, stock=never, stores=None, postal="1234 AB"))
    # Not for sale and never stocked are facts, not failures: a null price, nothing unknown, cacheable.
    assert unsold.body == views.MobileProduct(sku="OG-1", name="Tote", price=None, status="out_of_stock", count=0)
    assert unsold.whole and unsold.tags == ["sku:OG-1"]


def test_the_stores_failing_alone_leaves_the_price_and_names_availability_unknown() -> None:
    shown = views.product(
        ProductFacts(item=ITEM, stock=stock(1, dc_tlb=1), stores=Unavailable("slow"), postal="1234 AB")
    )
    assert shown.body == views.MobileProduct(
        sku="OG-1",
        name="Tote",
        price=views.MobilePrice(amount=1995, currency="EUR"),
        status="unknown",
        count=None,
        unknown=["availability"],
    )
    assert shown.degraded == ["availability"]
    down = views.product(ProductFacts(item=ITEM, stock=Unavailable("away"), stores=None, postal=None))
    assert (down.body.price, down.body.unknown, down.degraded) == (
        None,
        ["price", "availability"],
        ["price", "availability"],
    )


def test_a_page_is_degraded_in_every_part_any_product_lacks_and_tagged_once_per_tag() -> None:
    a = Shown(body=1, degraded=[], tags=["sku:A", "location:store-x"])
    b = Shown(body=2, degraded=["availability"], tags=["sku:B", "location:store-x"])
    c = Shown(body=3, degraded=["price", "availability"], tags=["sku:C"])
    page = shown_page([a, b, c], "next")
    assert (page.body.items, page.body.next_cursor) == ([1, 2, 3], "next")
    assert page.degraded == ["availability", "price"] and not page.whole
    assert page.tags == ["sku:A", "location:store-x", "sku:B", "sku:C"]
    empty = views.products(PageFacts(items=[], next_cursor=None, stock=stock(0), stores=None, postal=None))
    assert empty.whole and empty.tags == [] and empty.body.items == []


def test_the_public_cursor_wraps_system_erps_and_takes_only_its_own() -> None:
    theirs = cursors.encode("erp-search", 41, "a1b2c3d4e5f6")
    ours = products.public_cursor(theirs)
    assert ours is not None and ours != theirs and len(ours) <= cursors.MAX_CURSOR
    assert products.erp_cursor(ours) == theirs
    assert products.public_cursor(None) is None and products.erp_cursor(None) is None
    for foreign in (theirs, cursors.encode("products", 5), cursors.encode("orders", "x"), "%%%", "bm90IGpzb24"):
        with pytest.raises(ProblemError) as refused:
            products.erp_cursor(foreign)
        assert refused.value.status == 400 and refused.value.errors == [{"field": "cursor"}]
    # A system-erp cursor too long to wrap within our own cap is system-erp's fault, never a silent truncation.
    with pytest.raises(ProblemError) as broken:
        products.public_cursor("x" * 200)
    assert (broken.value.status, broken.value.upstream) == (502, "system-erp")
