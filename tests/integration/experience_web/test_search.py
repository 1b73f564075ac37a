"""experience-web's catalogue search end to end against the live estate (issue 9): ``GET /web/v1/products?q=``
pages are system-erp's search pages (same items, same order, a page boundary wherever system-erp has one), each hit
with its price and availability summary from ONE process-availability query per page; the public cursor is ours
(the kernel's codec) and continues only its own search; the cache contract as on the product page (tags: every
SKU of the page; ETag and 304); process-availability away degrades every hit and the page is ``no-store``;
system-erp away is a 503; bad input and refused callers get their problems before any hop.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

import httpx
import msgspec
import pytest

from shared import cursor as cursors
from tests.estate import ExperienceApi, Shelves, TestEstate, assert_problem

pytestmark = pytest.mark.estate

PRODUCT_SCOPES = frozenset({"catalog:read", "availability:read"})
ETAG = re.compile(r'^"[A-Za-z0-9_-]{22}"$')
NOUN = "Parka"  # a noun of the seed's product names (services/sandbox/common/catalogue.py): a few pages of hits


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Price(Strict):
    status: Literal["priced", "unpriced", "unknown"]
    amount: int | None = None
    currency: str | None = None
    tax_included: bool | None = None
    as_of: datetime | None = None
    reason: str | None = None


class ShipToHome(Strict):
    available: int
    incoming: int
    as_of: datetime | None


class Summary(Strict):
    status: Literal["in_stock", "store_only", "out_of_stock", "unknown"]
    ship_to_home: ShipToHome | None = None
    stores_with_stock: int | None = None
    reason: str | None = None


class Hit(Strict):
    sku: str
    name: str
    category: str | None
    active: bool
    price: Price
    availability: Summary


class HitPage(Strict):
    items: list[Hit]
    next_cursor: str | None


def page_of(response: httpx.Response) -> HitPage:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return msgspec.json.decode(response.content, type=HitPage)


def shopper(web: ExperienceApi, scopes: frozenset[str] = PRODUCT_SCOPES, channel: str | None = None) -> dict[str, str]:
    return web.caller(f"c-{uuid.uuid4().hex[:10]}", scopes, channel)


def search(web: ExperienceApi, caller: dict[str, str], **query: Any) -> httpx.Response:
    return httpx.get(f"{web.url}/products", params=query, headers=caller, timeout=30)


def erp_search(estate: TestEstate, **query: Any) -> dict[str, Any]:
    """system-erp's own page of the search (what the web page must show, item for item)."""
    answer = httpx.get(estate.url("system-erp") + "/items", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def below(estate: TestEstate, skus: list[str]) -> dict[str, Any]:
    """What process-availability itself says of ``skus`` (an operator's read): ATP items and prices by SKU."""
    answer = httpx.post(
        estate.url("process-availability") + "/availability/query",
        json={"skus": skus, "prices": True},
        headers=estate.identity("ops:test"),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {
        "items": {i["sku"]: i for i in body["items"]},
        "prices": {p["sku"]: p for p in body["prices"]["prices"]},
        "unknown": body["unknown"],
    }


def expected_summary(item: dict[str, Any] | None) -> Summary:
    """The availability summary process-availability's ATP item makes (None: a SKU it never held)."""
    if item is None:
        return Summary(status="out_of_stock", ship_to_home=ShipToHome(available=0, incoming=0, as_of=None))
    ship = item["ship"]
    stores = [a for a in item["locations"] if a["location"].startswith("store-") and a["available"] > 0]
    status: Literal["in_stock", "store_only", "out_of_stock"] = (
        "in_stock" if ship["available"] > 0 else "store_only" if stores else "out_of_stock"
    )
    return Summary(
        status=status,
        ship_to_home=ShipToHome(
            available=ship["available"], incoming=ship["incoming"], as_of=msgspec.convert(ship["as_of"], datetime)
        ),
        stores_with_stock=len(stores),
    )


def expected_price(price: dict[str, Any] | None) -> Price:
    if price is None:
        return Price(status="unpriced")
    return Price(
        status="priced",
        amount=price["amount"],
        currency=price["currency"],
        tax_included=price["tax_included"],
        as_of=msgspec.convert(price["as_of"], datetime),
    )


def served(estate: TestEstate, name: str, route: str) -> float:
    return estate.served(estate.url(name), route)


# --- pages -------------------------------------------------------------------------------------------------------


def test_search_pages_are_system_erps_search_pages_with_price_and_availability(
    estate: TestEstate, web: ExperienceApi
) -> None:
    me = shopper(web)
    ours: str | None = None
    theirs: str | None = None
    pages = 0
    while True:
        query = {"q": NOUN, "limit": 4}
        answer = search(web, me, **query, **({"cursor": ours} if ours else {}))
        page = page_of(answer)
        erp = erp_search(estate, **query, **({"cursor": theirs} if theirs else {}))
        # Item for item system-erp's page: same SKUs in the same order, its name, category and active flag.
        assert [(h.sku, h.name, h.category, h.active) for h in page.items] == [
            (i["sku"], i["name"], i["category"], i["active"]) for i in erp["items"]
        ]
        assert all(NOUN.lower() in h.name.lower() for h in page.items)
        # A next page exactly where system-erp has one, behind a cursor of our own.
        assert (page.next_cursor is None) == (erp["next_cursor"] is None)
        if page.next_cursor is not None:
            assert page.next_cursor != erp["next_cursor"]
            assert cursors.decode(page.next_cursor, "products", str) == (erp["next_cursor"],)
        # Price and availability are process-availability's, hit by hit.
        truth = below(estate, [h.sku for h in page.items])
        for h in page.items:
            assert h.price == expected_price(truth["prices"].get(h.sku)), h.sku
            assert h.availability == expected_summary(truth["items"].get(h.sku)), h.sku
        # The cache contract: whole, public, tagged by every SKU of the page in its order.
        assert answer.headers["cache-control"] == "public, max-age=30"
        assert ETAG.match(answer.headers["etag"])
        assert answer.headers["x-omnigate-cache-tags"].split(" ") == [f"sku:{h.sku}" for h in page.items]
        assert "x-omnigate-degraded" not in answer.headers
        pages += 1
        if page.next_cursor is None:
            break
        ours, theirs = page.next_cursor, erp["next_cursor"]
    assert pages >= 2, "the search must span pages for this test to mean anything"
    # The default page is 20, and the search without q is system-erp's whole listing, page by page.
    assert len(page_of(search(web, me)).items) == 20
    first = page_of(search(web, me, limit=7))
    assert [h.sku for h in first.items] == [i["sku"] for i in erp_search(estate, limit=7)["items"]]


def test_one_process_availability_query_per_page_and_none_for_an_empty_one(
    estate: TestEstate, web: ExperienceApi
) -> None:
    me = shopper(web)
    search(web, me, q=NOUN, limit=5)  # warm: connections, breakers
    before = (served(estate, "process-availability", "/availability"), served(estate, "system-erp", "/items"))
    page = page_of(search(web, me, q=NOUN, limit=5))
    assert len(page.items) == 5
    after = (served(estate, "process-availability", "/availability"), served(estate, "system-erp", "/items"))
    # One system-erp search and one process-availability query for the five SKUs (no stores search: no postal).
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)

    empty = search(web, me, q="no such thing")
    assert page_of(empty) == HitPage(items=[], next_cursor=None)
    assert empty.json() == {"items": [], "next_cursor": None}
    assert empty.headers["cache-control"] == "public, max-age=30"
    assert "x-omnigate-cache-tags" not in empty.headers  # nothing to purge it by: it ages out
    assert served(estate, "process-availability", "/availability") == after[0]


def test_a_stocked_product_found_by_its_sku_barcode_or_name(
    estate: TestEstate, web: ExperienceApi, shelves: Shelves
) -> None:
    in_stock, store_only, nowhere = estate.fresh_skus(3)
    utrecht, groningen = shelves.store("Utrecht"), shelves.store("Groningen")
    shelves.stock(in_stock, tlb=4, zwl=3, stores={utrecht: 5, groningen: 2})
    shelves.stock(store_only, tlb=0, stores={groningen: 1})
    shelves.stock(nowhere, tlb=0)
    me = shopper(web)

    (hit,) = page_of(search(web, me, q=in_stock.lower())).items  # case-insensitive
    assert hit.sku == in_stock
    assert hit.availability.status == "in_stock" and hit.availability.stores_with_stock == 2
    assert hit.availability.ship_to_home is not None and hit.availability.ship_to_home.available == 7
    assert hit.price.status == "priced" and hit.price.amount and hit.price.amount > 0
    (hit,) = page_of(search(web, me, q=f"  {store_only}  ")).items  # trimmed
    assert (hit.availability.status, hit.availability.stores_with_stock) == ("store_only", 1)
    (hit,) = page_of(search(web, me, q=nowhere)).items
    assert (hit.availability.status, hit.availability.stores_with_stock) == ("out_of_stock", 0)
    # The raw body omits a reason that does not apply (it is not null).
    raw = search(web, me, q=nowhere).json()["items"][0]
    assert "reason" not in raw["availability"] and "reason" not in raw["price"]


# --- the cache contract ------------------------------------------------------------------------------------------


def test_a_page_answers_304_to_its_etag_and_a_new_one_once_stock_moves(
    estate: TestEstate, web: ExperienceApi, shelves: Shelves
) -> None:
    (sku,) = estate.fresh_skus()
    shelves.stock(sku, tlb=2)
    me = shopper(web)
    first = search(web, me, q=sku)
    etag = first.headers["etag"]
    for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = search(web, {**me, "If-None-Match": held}, q=sku)
        assert again.status_code == 304 and again.content == b"", held
        assert again.headers["etag"] == etag and again.headers["cache-control"] == "public, max-age=30"
        assert again.headers["x-omnigate-cache-tags"] == f"sku:{sku}"
    assert search(web, {**me, "If-None-Match": '"other"'}, q=sku).content == first.content
    # Another page is another body, and another ETag.
    assert search(web, me, q=NOUN, limit=3).headers["etag"] != etag
    estate.set_dc_stock(sku, tlb=6)
    changed = search(web, {**me, "If-None-Match": etag}, q=sku)
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    ship = page_of(changed).items[0].availability.ship_to_home
    assert ship is not None and ship.available == 6


# --- degraded parts and failures below ----------------------------------------------------------------------------


def whole_page(estate: TestEstate, web: ExperienceApi, caller: dict[str, str], **query: Any) -> httpx.Response:
    """The page once every experience-web worker answers it whole again (a breaker an outage opened in a worker
    stays open a moment after the outage ends)."""
    found: dict[str, httpx.Response] = {}

    def every_worker_answers() -> bool:
        answer = search(web, caller, **query)
        if answer.status_code == 200 and answer.headers["cache-control"].startswith("public"):
            found[answer.headers["x-served-by"]] = answer
        return len(found) == estate.workers("experience-web")

    estate.wait_for(every_worker_answers, timeout=estate.settings.breaker_reset_s * 5 + 10, interval=0.1)
    return next(iter(found.values()))


def test_process_availability_down_degrades_every_hit_of_the_page(estate: TestEstate, web: ExperienceApi) -> None:
    me = shopper(web)
    healthy = page_of(search(web, me, q=NOUN, limit=4))
    estate.pause("process-availability")
    try:
        answer = search(web, me, q=NOUN, limit=4)
        degraded = page_of(answer)
        raw = answer.json()
    finally:
        estate.resume("process-availability")
    # The page is still system-erp's, every hit without price and availability, saying why.
    assert [(h.sku, h.name) for h in degraded.items] == [(h.sku, h.name) for h in healthy.items]
    assert degraded.next_cursor == healthy.next_cursor
    for hit, raw_hit in zip(degraded.items, raw["items"], strict=True):
        assert hit.price.status == "unknown" and hit.availability.status == "unknown"
        assert "process-availability" in str(hit.availability.reason), hit.availability.reason
        assert set(raw_hit["price"]) == set(raw_hit["availability"]) == {"status", "reason"}
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-omnigate-degraded"] == "price availability"
    assert "x-omnigate-cache-tags" not in answer.headers and ETAG.match(answer.headers["etag"])
    # The cursor of a degraded page continues the search as well as a whole one's.
    assert degraded.next_cursor is not None
    assert page_of(search(web, me, q=NOUN, limit=4, cursor=degraded.next_cursor)).items
    # Back: whole again.
    assert page_of(whole_page(estate, web, me, q=NOUN, limit=4)) == healthy


def test_system_erp_down_is_503_with_retry_after(estate: TestEstate, web: ExperienceApi) -> None:
    me = shopper(web)
    estate.pause("system-erp")
    try:
        answer = search(web, me, q=NOUN)
    finally:
        estate.resume("system-erp")
    problem = assert_problem(answer, 503, "upstream-unavailable")
    assert problem["upstream"] == "system-erp" and int(answer.headers["retry-after"]) >= 1
    assert "etag" not in answer.headers
    assert page_of(whole_page(estate, web, me, q=NOUN)).items


# --- refusals ----------------------------------------------------------------------------------------------------


def test_bad_search_input_is_a_400_before_any_hop(estate: TestEstate, web: ExperienceApi) -> None:
    me = shopper(web)
    first = page_of(search(web, me, q=NOUN, limit=2))
    assert first.next_cursor is not None
    raw_erp_cursor = erp_search(estate, q=NOUN, limit=2)["next_cursor"]
    before = (served(estate, "system-erp", "/items"), served(estate, "process-availability", "/availability"))
    refused: list[dict[str, Any]] = [
        {"q": ""},
        {"q": "   "},
        {"q": "\u00a0\u2003"},
        {"q": "x" * 101},
        {"q": "parka\n"},
        {"q": "par\tka"},
        {"q": NOUN, "limit": 0},
        {"q": NOUN, "limit": 51},
        {"q": NOUN, "limit": "many"},
        {"q": NOUN, "cursor": "not-a-cursor"},
        {"q": NOUN, "cursor": raw_erp_cursor},  # system-erp's own cursor is not ours
        {"q": NOUN, "cursor": cursors.encode("orders", 1_700_000_000_000, "o-1")},  # another listing's
        {"q": NOUN, "cursor": "x" * 257},
    ]
    for query in refused:
        problem = assert_problem(search(web, me, **query), 400, "invalid-request")
        assert problem["errors"], (query, problem)
    assert (served(estate, "system-erp", "/items"), served(estate, "process-availability", "/availability")) == before
    # Our cursor continues only its own search: system-erp refuses it for another text (its 400, relayed).
    problem = assert_problem(search(web, me, q="Hoodie", limit=2, cursor=first.next_cursor), 400, "invalid-request")
    assert "another search" in str(problem["detail"])
    # ...and the same text in another case or with spaces around it is the same search.
    again = page_of(search(web, me, q=f" {NOUN.upper()} ", limit=2, cursor=first.next_cursor))
    assert again == page_of(search(web, me, q=NOUN, limit=2, cursor=first.next_cursor))


def test_refused_callers_reach_nothing_below(estate: TestEstate, web: ExperienceApi) -> None:
    erp, availability = estate.url("system-erp"), estate.url("process-availability")
    before = (estate.served(erp, "/items"), estate.served(availability, "/availability"))
    assert_problem(search(web, {}, q=NOUN), 401, "unauthorized")
    for other in ("mobile", "partner"):
        assert_problem(search(web, shopper(web, PRODUCT_SCOPES, other), q=NOUN), 403, "forbidden")
    for scopes, lacking in (
        (frozenset({"catalog:read", "orders:read"}), "availability:read"),
        (frozenset({"availability:read"}), "catalog:read"),
    ):
        refused = search(web, shopper(web, scopes), q=NOUN)
        assert_problem(refused, 403, "forbidden")
        assert f'scope="{lacking}"' in refused.headers["www-authenticate"]
    assert (estate.served(erp, "/items"), estate.served(availability, "/availability")) == before
