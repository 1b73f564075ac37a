"""experience-mobile's products end to end against the live estate (issue 9): a product and the catalogue search in
compact payloads (only what a phone shows: SKU, name, price, an availability status with a count, the nearest
store with it for a postal code), search pages equal to system-erp's and cursor-paged with our cursor; the cache
contract (``public, max-age`` with tags when whole, ``no-store`` when degraded); process-availability away
degrades every product; bad input and refused callers get their problems.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden, so a field
the contract does not name (a phone does not need it) fails the test.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

import httpx
import msgspec
import pytest

from shared import cursor as cursors
from tests.estate import ExperienceApi, Shelves, TestEstate, assert_problem

pytestmark = pytest.mark.estate

PRODUCT_SCOPES = frozenset({"catalog:read", "availability:read"})
ETAG = re.compile(r'^"[A-Za-z0-9_-]{22}"$')
NOUN = "Hoodie"  # a noun of the seed's product names: a few phone pages of hits
PAGE = 10  # a phone's page (MobileSettings)


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Price(Strict):
    amount: int
    currency: str


class Store(Strict):
    id: str
    name: str
    distance_km: float | None
    available: int


class Product(Strict):
    sku: str
    name: str
    price: Price | None
    status: Literal["in_stock", "store_only", "out_of_stock", "unknown"]
    count: int | None
    nearest_store: Store | None = None
    unknown: list[Literal["price", "availability"]] = []


class ProductPage(Strict):
    items: list[Product]
    next_cursor: str | None


def product_of(response: httpx.Response) -> Product:
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=Product)


def page_of(response: httpx.Response) -> ProductPage:
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=ProductPage)


def shopper(
    mobile: ExperienceApi, scopes: frozenset[str] = PRODUCT_SCOPES, channel: str | None = None
) -> dict[str, str]:
    return mobile.caller(f"c-{uuid.uuid4().hex[:10]}", scopes, channel)


def view(mobile: ExperienceApi, sku: str, caller: dict[str, str], **query: str) -> httpx.Response:
    return httpx.get(f"{mobile.url}/products/{sku}", params=query, headers=caller, timeout=30)


def search(mobile: ExperienceApi, caller: dict[str, str], **query: Any) -> httpx.Response:
    return httpx.get(f"{mobile.url}/products", params=query, headers=caller, timeout=30)


def erp_search(estate: TestEstate, **query: Any) -> dict[str, Any]:
    answer = httpx.get(estate.url("system-erp") + "/items", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def price_below(estate: TestEstate, sku: str) -> Price:
    """The price projection's price of ``sku`` (an operator's read of process-availability)."""
    answer = httpx.post(
        estate.url("process-availability") + "/prices/query",
        json={"skus": [sku]},
        headers=estate.identity("ops:test"),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    (price,) = answer.json()["prices"]
    return Price(amount=price["amount"], currency=price["currency"])


def shelved(estate: TestEstate, skus: list[str]) -> dict[str, dict[str, int]]:
    """Per SKU, the stores that have it on their shelves and how many (process-availability's ATP, an operator's
    read)."""
    answer = httpx.post(
        estate.url("process-availability") + "/availability/query",
        json={"skus": skus},
        headers=estate.identity("ops:test"),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, dict[str, int]] = {sku: {} for sku in skus}
    for item in answer.json()["items"]:
        for at in item["locations"]:
            if at["location"].startswith("store-") and at["available"] > 0:
                found[item["sku"]][at["location"]] = at["available"]
    return found


# --- one product -------------------------------------------------------------------------------------------------


def test_a_product_on_a_phone_is_compact(estate: TestEstate, mobile: ExperienceApi, shelves: Shelves) -> None:
    in_stock, store_only, nowhere = estate.fresh_skus(3)
    # Utrecht and Groningen do not ship from store: their units are for pickup only.
    utrecht, groningen = shelves.store("Utrecht"), shelves.store("Groningen")
    shelves.stock(in_stock, tlb=4, zwl=3, stores={groningen: 2})
    shelves.stock(store_only, tlb=0, stores={utrecht: 1, groningen: 3})
    shelves.stock(nowhere, tlb=0)
    me = shopper(mobile)

    answer = view(mobile, in_stock, me)
    found = product_of(answer)
    # Only what a phone shows: no catalogue fields, no per-location figures, no empty extras.
    assert set(answer.json()) == {"sku", "name", "price", "status", "count"}
    item = httpx.get(estate.url("system-erp") + f"/items/{in_stock}", timeout=10).json()
    assert found == Product(
        sku=in_stock, name=item["name"], price=price_below(estate, in_stock), status="in_stock", count=7
    )
    assert answer.headers["cache-control"] == "public, max-age=30"
    assert ETAG.match(answer.headers["etag"])
    assert answer.headers["x-omnigate-cache-tags"] == f"sku:{in_stock}"

    # With a postal code, the nearest store that has it: 3512 AB is in Utrecht, which has none; Groningen has.
    near = view(mobile, in_stock, me, postal="3512 AB")
    nearest = product_of(near).nearest_store
    assert nearest is not None and (nearest.id, nearest.available) == (groningen, 2)
    assert nearest.name == shelves.stores[groningen]["name"]
    assert nearest.distance_km is not None and 100 < nearest.distance_km < 200
    assert near.headers["x-omnigate-cache-tags"] == f"sku:{in_stock} location:{groningen}"

    # Only in stores: the count is what the stores hold for pickup; the nearest is Utrecht itself.
    pickup = product_of(view(mobile, store_only, me, postal="3512 AB"))
    assert (pickup.status, pickup.count) == ("store_only", 4)
    assert pickup.nearest_store is not None and pickup.nearest_store.id == utrecht
    assert pickup.nearest_store.distance_km == 0.0 and pickup.nearest_store.available == 1

    # Out of stock: a count of 0, and with a postal code no store to show (the field is left out).
    out = view(mobile, nowhere, me, postal="3512 AB")
    assert (product_of(out).status, product_of(out).count) == ("out_of_stock", 0)
    assert "nearest_store" not in out.json() and "unknown" not in out.json()
    assert out.headers["cache-control"] == "public, max-age=30"


def test_process_availability_down_degrades_products_and_pages(
    estate: TestEstate, mobile: ExperienceApi, shelves: Shelves
) -> None:
    (sku,) = estate.fresh_skus()
    shelves.stock(sku, tlb=3)
    me = shopper(mobile)
    healthy = product_of(view(mobile, sku, me))
    healthy_page = page_of(search(mobile, me, q=NOUN))
    estate.pause("process-availability")
    try:
        answer = view(mobile, sku, me, postal="3512 AB")
        listed = search(mobile, me, q=NOUN)
    finally:
        estate.resume("process-availability")
    # The product is still shown by the ERP's name; price and availability are unknown, and named so.
    assert product_of(answer) == Product(
        sku=sku, name=healthy.name, price=None, status="unknown", count=None, unknown=["price", "availability"]
    )
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-omnigate-degraded"] == "price availability"
    assert "x-omnigate-cache-tags" not in answer.headers and ETAG.match(answer.headers["etag"])
    # A page: system-erp's items all the same, each without price and availability.
    page = page_of(listed)
    assert [p.sku for p in page.items] == [p.sku for p in healthy_page.items]
    assert page.next_cursor == healthy_page.next_cursor
    assert all(
        (p.status, p.count, p.price, p.unknown) == ("unknown", None, None, ["price", "availability"])
        for p in page.items
    )
    assert listed.headers["cache-control"] == "no-store"
    assert listed.headers["x-omnigate-degraded"] == "price availability"
    # Back: whole again, from every worker (a breaker the outage opened closes a moment later).
    seen: dict[str, Product] = {}

    def every_worker_answers_whole() -> bool:
        again = view(mobile, sku, me)
        if again.status_code == 200 and again.headers["cache-control"].startswith("public"):
            seen[again.headers["x-served-by"]] = product_of(again)
        return len(seen) == estate.workers("experience-mobile")

    estate.wait_for(every_worker_answers_whole, timeout=estate.settings.breaker_reset_s * 5 + 10, interval=0.1)
    assert all(p == healthy for p in seen.values()), seen


# --- the catalogue search ------------------------------------------------------------------------------------------


def test_search_pages_on_a_phone_are_system_erps_search_pages(estate: TestEstate, mobile: ExperienceApi) -> None:
    me = shopper(mobile)
    ours: str | None = None
    theirs: str | None = None
    pages = 0
    while True:
        answer = search(mobile, me, q=NOUN, **({"cursor": ours} if ours else {}))
        page = page_of(answer)
        erp = erp_search(estate, q=NOUN, limit=PAGE, **({"cursor": theirs} if theirs else {}))
        assert [(p.sku, p.name) for p in page.items] == [(i["sku"], i["name"]) for i in erp["items"]]
        assert (page.next_cursor is None) == (erp["next_cursor"] is None)
        for raw in answer.json()["items"]:
            assert set(raw) == {"sku", "name", "price", "status", "count"}, raw
        assert all(p.status != "unknown" and p.count is not None for p in page.items)
        assert answer.headers["cache-control"] == "public, max-age=30"
        assert answer.headers["x-omnigate-cache-tags"].split(" ") == [f"sku:{p.sku}" for p in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        assert cursors.decode(page.next_cursor, "products", str) == (erp["next_cursor"],)
        ours, theirs = page.next_cursor, erp["next_cursor"]
    assert pages >= 2, "the search must span pages for this test to mean anything"
    # No limit on a phone: its page is the app's (MobileSettings), and a limit is no parameter of this route.
    assert len(page_of(search(mobile, me)).items) == PAGE


def test_a_search_with_a_postal_code_shows_each_products_nearest_store(
    estate: TestEstate, mobile: ExperienceApi, shelves: Shelves
) -> None:
    (sku,) = estate.fresh_skus()
    groningen = shelves.store("Groningen")
    shelves.stock(sku, tlb=0, stores={groningen: 2})
    me = shopper(mobile)
    erp, availability = estate.url("system-erp"), estate.url("process-availability")
    before = (estate.served(erp, "/items"), estate.served(availability, "/availability"))
    answer = search(mobile, me, q=sku, postal="3512 AB")
    (found,) = page_of(answer).items
    # One search, then one ATP-and-price query and one stores search for the page, together.
    after = (estate.served(erp, "/items"), estate.served(availability, "/availability"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)
    assert (found.sku, found.status, found.count) == (sku, "store_only", 2)
    assert found.nearest_store is not None and (found.nearest_store.id, found.nearest_store.available) == (groningen, 2)
    assert answer.headers["x-omnigate-cache-tags"] == f"sku:{sku} location:{groningen}"
    # A page of many: each with the nearest store that has it, if any of the 100 nearest does.
    many = page_of(search(mobile, me, q=NOUN, postal="3512 AB"))
    on_shelf = shelved(estate, [p.sku for p in many.items])
    assert any(on_shelf.values()), "some product of the page must be on a store's shelf for this to mean anything"
    for product in many.items:
        if not on_shelf[product.sku]:
            assert product.nearest_store is None, product
        else:
            assert product.nearest_store is not None, product
            assert on_shelf[product.sku][product.nearest_store.id] == product.nearest_store.available
    # A postal code no store is near is the caller's mistake (process-availability's 422, relayed).
    assert_problem(search(mobile, me, q=sku, postal="ZZ 99"), 422, "unprocessable")


# --- refusals ----------------------------------------------------------------------------------------------------


def test_bad_input_and_refused_callers(estate: TestEstate, mobile: ExperienceApi) -> None:
    me = shopper(mobile)
    problem = assert_problem(view(mobile, "OG-NO-SUCH-SKU", me), 404, "not-found")
    assert "OG-NO-SUCH-SKU" in str(problem["detail"])
    erp, availability = estate.url("system-erp"), estate.url("process-availability")
    before = (estate.served(erp, "/items"), estate.served(availability, "/availability"))
    for bad in ("bad%20sku", "a" * 65, "semi%3Bcolon"):
        assert_problem(httpx.get(f"{mobile.url}/products/{bad}", headers=me, timeout=10), 400, "invalid-request")
    for query in (
        {"q": ""},
        {"q": "  "},
        {"q": "x" * 101},
        {"q": "hood\x00ie"},
        {"q": NOUN, "cursor": "not-a-cursor"},
        {"q": NOUN, "cursor": cursors.encode("erp-search", 10, "abc")},
        {"q": NOUN, "postal": "%"},
    ):
        assert_problem(search(mobile, me, **query), 400, "invalid-request")
    assert_problem(view(mobile, "OG-NO-SUCH-SKU", me, postal="1"), 400, "invalid-request")
    assert_problem(search(mobile, {}, q=NOUN), 401, "unauthorized")
    for other in ("web", "partner"):
        assert_problem(search(mobile, shopper(mobile, PRODUCT_SCOPES, other), q=NOUN), 403, "forbidden")
        assert_problem(view(mobile, "OG-NO-SUCH-SKU", shopper(mobile, PRODUCT_SCOPES, other)), 403, "forbidden")
    refused = view(mobile, "OG-NO-SUCH-SKU", shopper(mobile, frozenset({"catalog:read", "orders:read"})))
    assert_problem(refused, 403, "forbidden")
    assert 'scope="availability:read"' in refused.headers["www-authenticate"]
    assert (estate.served(erp, "/items"), estate.served(availability, "/availability")) == before
