"""experience-web's product detail end to end against the live estate (issue 9): the ERP's item with the price
projection's price and the stock projection's availability for delivery and pickup, composed from system-erp and
process-availability; the nearest stores with stock for a postal code; the cache contract the gateway's cache
follows (strong ETag of the body, 304 on If-None-Match, ``public, max-age=30`` and cache tags on a whole answer,
``no-store`` on a degraded one); process-availability down or slow degrades the answer, system-erp down fails it;
bad input, unknown SKUs and refused callers get their problems.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden, so a field
the contract does not name fails the test.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

import httpx
import msgspec
import pytest

from tests.estate import ExperienceApi, Shelves, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

PRODUCT_SCOPES = frozenset({"catalog:read", "availability:read"})
ETAG = re.compile(r'^"[A-Za-z0-9_-]{22}"$')


# --- the documented contract, strictly ---------------------------------------------------------------------------


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


class PickupStore(Strict):
    store: str
    name: str | None
    city: str | None
    distance_km: float | None
    available: int


class Pickup(Strict):
    stores_with_stock: int
    stores: list[PickupStore]


class Availability(Strict):
    status: Literal["in_stock", "store_only", "out_of_stock", "unknown"]
    ship_to_home: ShipToHome | None = None
    pickup: Pickup | None = None
    reason: str | None = None


class Product(Strict):
    sku: str
    name: str
    category: str | None
    barcode: str | None
    uom: str
    weight_grams: int | None
    active: bool
    price: Price
    availability: Availability


def product_of(response: httpx.Response) -> Product:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return msgspec.json.decode(response.content, type=Product)


# --- helpers -----------------------------------------------------------------------------------------------------


def shopper(web: ExperienceApi, scopes: frozenset[str] = PRODUCT_SCOPES, channel: str | None = None) -> dict[str, str]:
    return web.caller(f"c-{uuid.uuid4().hex[:10]}", scopes, channel)


def view(
    web: ExperienceApi, sku: str, caller: dict[str, str], *, url: str | None = None, **query: str
) -> httpx.Response:
    return httpx.get(f"{url or web.url}/products/{sku}", params=query, headers=caller, timeout=30)


def below(estate: TestEstate, sku: str) -> dict[str, Any]:
    """What process-availability itself says of ``sku`` (an operator's read): its ATP item and its price."""
    answer = httpx.post(
        estate.url("process-availability") + "/availability/query",
        json={"skus": [sku], "prices": True},
        headers=estate.identity("ops:test"),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {"item": body["items"][0], "price": body["prices"]["prices"][0]}


def item_of(estate: TestEstate, sku: str) -> dict[str, Any]:
    answer = httpx.get(estate.url("system-erp") + f"/items/{sku}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def tags_of(response: httpx.Response) -> list[str]:
    return response.headers["x-omnigate-cache-tags"].split(" ")


def whole(estate: TestEstate, web: ExperienceApi, sku: str, caller: dict[str, str]) -> httpx.Response:
    """The product's answer once every experience-web worker gives it whole again (a breaker an outage opened in
    a worker stays open a moment after the outage ends)."""
    found: dict[str, httpx.Response] = {}

    def every_worker_answers() -> bool:
        answer = view(web, sku, caller)  # a fresh connection each time: the workers share them out
        if answer.status_code == 200 and answer.headers["cache-control"].startswith("public"):
            found[answer.headers["x-served-by"]] = answer
        return len(found) == estate.workers("experience-web")

    estate.wait_for(
        every_worker_answers,
        timeout=estate.settings.breaker_reset_s * 5 + 10,
        interval=0.1,
        what="a whole answer from every worker",
    )
    return next(iter(found.values()))


# --- the whole answer --------------------------------------------------------------------------------------------


def test_a_stocked_product_with_price_delivery_and_pickup(
    estate: TestEstate, web: ExperienceApi, shelves: Shelves
) -> None:
    (sku,) = estate.fresh_skus()
    utrecht, groningen = shelves.store("Utrecht"), shelves.store("Groningen")
    shelves.stock(sku, tlb=4, zwl=3, stores={utrecht: 5, groningen: 2})
    answer = view(web, sku, shopper(web))
    found = product_of(answer)

    item, truth = item_of(estate, sku), below(estate, sku)
    assert (found.sku, found.name, found.category, found.barcode) == (
        sku,
        item["name"],
        item["category"],
        item["barcode"],
    )
    assert (found.uom, found.weight_grams, found.active) == (item["uom"], item["weight_grams"], item["active"])
    price = truth["price"]
    assert found.price == Price(
        status="priced",
        amount=price["amount"],
        currency=price["currency"],
        tax_included=price["tax_included"],
        as_of=msgspec.convert(price["as_of"], datetime),
    )
    assert found.price.amount and found.price.amount > 0
    # Ship-to-home is what the DCs (and no store here: Utrecht and Groningen do not ship) can promise.
    assert found.availability.status == "in_stock"
    assert found.availability.ship_to_home is not None
    assert found.availability.ship_to_home.available == truth["item"]["ship"]["available"] == 7
    assert found.availability.ship_to_home.as_of == msgspec.convert(truth["item"]["ship"]["as_of"], datetime)
    # Without a postal code: every store with stock, most first, by id alone (no distance to tell).
    assert found.availability.pickup == Pickup(
        stores_with_stock=2,
        stores=[
            PickupStore(store=utrecht, name=None, city=None, distance_km=None, available=5),
            PickupStore(store=groningen, name=None, city=None, distance_km=None, available=2),
        ],
    )
    assert found.availability.reason is None and found.price.reason is None
    # The raw body has no member the contract leaves out (a degraded part's reason is omitted, not null).
    raw = answer.json()
    assert "reason" not in raw["availability"] and "reason" not in raw["price"]

    # The cache contract of a whole answer.
    assert answer.headers["cache-control"] == "public, max-age=30"
    assert ETAG.match(answer.headers["etag"]), answer.headers["etag"]
    assert tags_of(answer) == [
        f"sku:{sku}",
        "location:dc-tlb",
        "location:dc-zwl",
        f"location:{utrecht}",
        f"location:{groningen}",
    ]


def test_pickup_only_and_out_of_stock(estate: TestEstate, web: ExperienceApi, shelves: Shelves) -> None:
    only_in_store, nowhere = estate.fresh_skus(2)
    groningen = shelves.store("Groningen")
    shelves.stock(only_in_store, tlb=0, stores={groningen: 1})
    shelves.stock(nowhere, tlb=0)
    me = shopper(web)

    store_only = view(web, only_in_store, me)
    found = product_of(store_only).availability
    assert found.status == "store_only"
    assert found.ship_to_home is not None and found.ship_to_home.available == 0
    assert found.pickup == Pickup(
        stores_with_stock=1,
        stores=[PickupStore(store=groningen, name=None, city=None, distance_km=None, available=1)],
    )
    assert tags_of(store_only)[0] == f"sku:{only_in_store}" and f"location:{groningen}" in tags_of(store_only)

    out = view(web, nowhere, me)
    found = product_of(out).availability
    assert found.status == "out_of_stock" and found.pickup == Pickup(stores_with_stock=0, stores=[])
    assert found.ship_to_home is not None and found.ship_to_home.available == 0
    # Out of stock is a fact, not a failure: cacheable, and purged when stock arrives.
    assert out.headers["cache-control"] == "public, max-age=30"
    assert tags_of(out) == [f"sku:{nowhere}", "location:dc-tlb", "location:dc-zwl"]


def test_a_ship_from_store_stores_units_are_promised_for_pickup_not_delivery(
    estate: TestEstate, web: ExperienceApi, shelves: Shelves
) -> None:
    """Ship orders are fulfilled from the DCs only, so ship-to-home promises the DCs' units and no store's, even
    one the POS marks ship-from-store (a newcomer's report: with the DCs empty, such a store's units showed
    ``in_stock`` with 52 to deliver, and every ship order was refused 409)."""
    (sku,) = estate.fresh_skus()
    shipping = next(store_id for store_id, s in shelves.stores.items() if s["ship_from_store"])
    shelves.stock(sku, tlb=0, stores={shipping: 6})
    found = product_of(view(web, sku, shopper(web))).availability
    assert found.ship_to_home is not None and found.ship_to_home.available == 0
    assert found.status == "store_only"
    assert found.pickup is not None and found.pickup.stores_with_stock == 1
    # What the page promises is what an order can take: a ship order for one unit is refused, as shown.
    placed = httpx.post(
        estate.url("process-orders") + "/orders",
        json=order_body(sku, customer="c-sfs"),
        headers={**estate.identity("web:c-sfs"), "Idempotency-Key": f"sfs-{sku}"},
        timeout=30,
    )
    assert placed.status_code == 409, placed.text


def test_the_nearest_stores_with_stock_for_a_postal_code(
    estate: TestEstate, web: ExperienceApi, shelves: Shelves
) -> None:
    (sku,) = estate.fresh_skus()
    utrecht, amsterdam, groningen = (shelves.store(c) for c in ("Utrecht", "Amsterdam", "Groningen"))
    shelves.stock(sku, tlb=1, stores={utrecht: 1, amsterdam: 3, groningen: 2})
    # 3512 AB lies in Utrecht (the stores' own postal codes place it): Utrecht, then Amsterdam, then Groningen;
    # the stores without the SKU (Rotterdam, Den Haag, Eindhoven) are left out though some are nearer.
    answer = view(web, sku, shopper(web), postal="3512 AB")
    pickup = product_of(answer).availability.pickup
    assert pickup is not None and pickup.stores_with_stock == 3
    assert [(s.store, s.available) for s in pickup.stores] == [(utrecht, 1), (amsterdam, 3), (groningen, 2)]
    for shown in pickup.stores:
        assert (shown.name, shown.city) == (shelves.stores[shown.store]["name"], shelves.stores[shown.store]["city"])
    # Distances are process-availability's own (great-circle, km), nearest first.
    near = httpx.get(
        estate.url("process-availability") + "/availability/stores",
        params={"sku": sku, "postal": "3512 AB", "limit": 100},
        headers=estate.identity("ops:test"),
        timeout=10,
    ).json()
    distances = {s["store"]["id"]: s["distance_km"] for s in near}
    assert [s.distance_km for s in pickup.stores] == [distances[s.store] for s in pickup.stores]
    assert pickup.stores[0].distance_km == 0.0 and 30 < pickup.stores[1].distance_km < 45  # type: ignore[operator]
    assert answer.headers["cache-control"] == "public, max-age=30"
    assert set(tags_of(answer)) == {
        f"sku:{sku}",
        "location:dc-tlb",
        "location:dc-zwl",
        *(f"location:{s}" for s in (utrecht, amsterdam, groningen)),
    }

    # A postal code no store is near is the caller's mistake (process-availability's 422, relayed).
    problem = assert_problem(view(web, sku, shopper(web), postal="ZZ 99"), 422, "unprocessable")
    assert "ZZ 99" in str(problem["detail"])


# --- the cache contract ------------------------------------------------------------------------------------------


def test_etag_answers_304_and_changes_with_the_stock(estate: TestEstate, web: ExperienceApi, shelves: Shelves) -> None:
    (sku,) = estate.fresh_skus()
    shelves.stock(sku, tlb=2)
    me = shopper(web)
    first = view(web, sku, me)
    etag = first.headers["etag"]

    # Every worker gives the same body the same ETag (the gateway's cache may ask any of them).
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as client:
            url = f"{web.url}/products/{sku}"
            return await asyncio.gather(*(client.get(url, headers=me) for _ in range(32)))

    answers = asyncio.run(burst())
    assert {a.headers["etag"] for a in answers} == {etag}
    assert len({a.headers["x-served-by"] for a in answers}) == estate.workers("experience-web") == 2

    for held in (etag, f"W/{etag}", f'"something-else", {etag}', "*"):
        again = httpx.get(f"{web.url}/products/{sku}", headers={**me, "If-None-Match": held}, timeout=10)
        assert again.status_code == 304, (held, again.text)
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "public, max-age=30"
        assert again.headers["x-omnigate-cache-tags"] == first.headers["x-omnigate-cache-tags"]
    for other in ('"something-else"', "not-an-etag", etag.strip('"')):
        full = httpx.get(f"{web.url}/products/{sku}", headers={**me, "If-None-Match": other}, timeout=10)
        assert full.status_code == 200 and full.content == first.content, other

    # New stock, new body, new ETag: the old one no longer holds.
    estate.set_dc_stock(sku, tlb=5)
    changed = httpx.get(f"{web.url}/products/{sku}", headers={**me, "If-None-Match": etag}, timeout=10)
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert product_of(changed).availability.ship_to_home.available == 5  # type: ignore[union-attr]


# --- degraded parts and failures below ----------------------------------------------------------------------------


def test_process_availability_down_degrades_the_answer(
    estate: TestEstate, web: ExperienceApi, shelves: Shelves
) -> None:
    (sku,) = estate.fresh_skus()
    shelves.stock(sku, tlb=3)
    me = shopper(web)
    healthy = product_of(view(web, sku, me))
    estate.pause("process-availability")
    try:
        answer = view(web, sku, me, postal="3512 AB")
        found = product_of(answer)
        raw = answer.json()
    finally:
        estate.resume("process-availability")
    # The product is still shown, availability and price say they are unknown and why, and nothing else.
    assert (found.sku, found.name) == (sku, healthy.name)
    assert set(raw["availability"]) == {"status", "reason"} and found.availability.status == "unknown"
    assert set(raw["price"]) == {"status", "reason"} and found.price.status == "unknown"
    assert "process-availability" in str(found.availability.reason), found.availability.reason
    # Never kept as fresh; still an ETag, and no tags (nothing to purge: it is not kept).
    assert answer.headers["cache-control"] == "no-store"
    assert ETAG.match(answer.headers["etag"])
    assert "x-omnigate-cache-tags" not in answer.headers
    # Back: the whole answer again, cacheable.
    back = whole(estate, web, sku, me)
    assert product_of(back) == healthy


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A URL whose server takes connections (the kernel queues them) and never answers: a hung upstream."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_a_slow_process_availability_is_waited_for_only_the_budget(
    estate: TestEstate, web: ExperienceApi, shelves: Shelves, blackhole: str
) -> None:
    (sku,) = estate.fresh_skus()
    shelves.stock(sku, tlb=1)
    # An experience-web whose process-availability hangs, granting it 0.4 s (the hop's own timeout is 1.5 s,
    # with retries).
    url = estate.start_instance(
        "experience-web",
        "hung-availability",
        env={"OMNIGATE_URL_PROCESS_AVAILABILITY": blackhole, "OMNIGATE_WEB_PRODUCT_BUDGET_S": "0.4"},
    )
    me = shopper(web)

    def timed() -> tuple[httpx.Response, float]:
        started = time.monotonic()
        answer = view(web, sku, me, url=url + "/web/v1")
        return answer, time.monotonic() - started

    try:
        answer, elapsed = timed()
        # The budget's timeouts count against the breaker: once it opens in a worker, that worker answers at once.
        later = [timed() for _ in range(3 * estate.settings.breaker_fail_max * estate.workers("experience-web"))]
    finally:
        estate.stop_instance("experience-web", "hung-availability")
    found = product_of(answer)
    assert found.availability == Availability(status="unknown", reason="process-availability: no answer within 0.4s")
    assert found.price == Price(status="unknown", reason="process-availability: no answer within 0.4s")
    assert answer.headers["cache-control"] == "no-store"
    assert 0.4 <= elapsed < 1.4, elapsed
    cut_off = [(a, t) for a, t in later if "circuit breaker open" in str(product_of(a).availability.reason)]
    assert cut_off, [product_of(a).availability.reason for a, _ in later]
    assert all(t < 0.35 and a.headers["cache-control"] == "no-store" for a, t in cut_off), cut_off


def test_system_erp_down_is_503_with_retry_after(estate: TestEstate, web: ExperienceApi, shelves: Shelves) -> None:
    (sku,) = estate.fresh_skus()
    shelves.stock(sku, tlb=1)
    me = shopper(web)
    estate.pause("system-erp")
    try:
        answer = view(web, sku, me)
    finally:
        estate.resume("system-erp")
    problem = assert_problem(answer, 503, "upstream-unavailable")
    assert problem["upstream"] == "system-erp"
    assert int(answer.headers["retry-after"]) >= 1
    assert "etag" not in answer.headers and "x-omnigate-cache-tags" not in answer.headers
    assert product_of(whole(estate, web, sku, me)).sku == sku


# --- refusals ----------------------------------------------------------------------------------------------------


def test_unknown_skus_and_bad_input(web: ExperienceApi) -> None:
    me = shopper(web)
    problem = assert_problem(view(web, "OG-NO-SUCH-SKU", me), 404, "not-found")
    assert "OG-NO-SUCH-SKU" in str(problem["detail"])
    for bad in ("bad%20sku", "a" * 65, "%C3%A9t%C3%A9", "semi%3Bcolon"):
        assert_problem(httpx.get(f"{web.url}/products/{bad}", headers=me, timeout=10), 400, "invalid-request")
    for postal in ("", "%", "1", "x" * 13, "-1234", "1234\nAB"):
        assert_problem(view(web, "OG-NO-SUCH-SKU", me, postal=postal), 400, "invalid-request")


def test_refused_callers_reach_nothing_below(estate: TestEstate, web: ExperienceApi, shelves: Shelves) -> None:
    (sku,) = estate.fresh_skus()
    shelves.stock(sku, tlb=1)
    erp, availability = estate.url("system-erp"), estate.url("process-availability")
    before = (estate.served(erp, "/items"), estate.served(availability, "/availability"))
    missing_availability = shopper(web, frozenset({"catalog:read", "orders:read"}))
    missing_catalog = shopper(web, frozenset({"availability:read", "orders:read"}))

    unauthenticated = assert_problem(view(web, sku, {}), 401, "unauthorized")
    assert unauthenticated["status"] == 401
    for other in ("mobile", "partner"):
        assert_problem(view(web, sku, shopper(web, PRODUCT_SCOPES, other)), 403, "forbidden")
    for caller, scope in ((missing_availability, "availability:read"), (missing_catalog, "catalog:read")):
        refused = view(web, sku, caller)
        assert_problem(refused, 403, "forbidden")
        assert f'scope="{scope}"' in refused.headers["www-authenticate"], refused.headers
    assert (estate.served(erp, "/items"), estate.served(availability, "/availability")) == before
