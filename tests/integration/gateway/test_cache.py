"""The gateway's response cache end to end (issue 9, DESIGN §5), on the web product page (``GET
/web/v1/products/{sku}``, cached 30 s by routes.toml): an answer served from the cache never reaches
experience-web; a POS sale of the SKU and a reservation purge it (once process-availability applied them); a stale
answer stands in while the process layer is away; two gateway instances share one cache; a spent limit is refused
on a cached route too; private answers are never kept."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.routing import DEFAULT_FILE
from tests.estate import TestEstate, assert_problem, cache_status, order_body

PRODUCTS = "/web/v1/products"
PURGE_DEADLINE_S = 5.0


@pytest.fixture
def shopper(shopper_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {shopper_token(f'c-cache-{uuid.uuid4().hex[:8]}', 'web')}"}


def _settled(estate: TestEstate) -> None:
    """Every stock change made so far has purged what it purges (later answers are kept and stay kept)."""
    estate.wait_for(estate.purges_settled, timeout=10, what="the cache purges of the changes made so far")


@pytest.fixture
def product(estate: TestEstate) -> str:
    """A SKU of its own, stocked at the DC, its purges landed."""
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 20)
    _settled(estate)
    return sku


def _stored(gateway: httpx.Client, sku: str, headers: dict[str, str]) -> httpx.Response:
    """Read the product until the gateway keeps an answer: the purges of the stock changes just made land a moment
    after the projection shows them (outbox relay, then the purge group), and an answer read before a purge is
    rightly not kept (it may be stale)."""
    deadline = time.monotonic() + PURGE_DEADLINE_S
    while True:
        answer = gateway.get(f"{PRODUCTS}/{sku}", headers=headers)
        assert answer.status_code == 200, answer.text
        if cache_status(answer).get("stored"):
            return answer
        assert time.monotonic() < deadline, f"no answer kept within {PURGE_DEADLINE_S} s: {answer.headers}"
        time.sleep(0.1)


def _web_served(estate: TestEstate) -> float:
    return estate.served(estate.url("experience-web"), PRODUCTS)


def _cached(gateway: httpx.Client, sku: str, headers: dict[str, str]) -> httpx.Response:
    """Read the product until an answer comes from the cache (the first one kept fetches and stores it)."""
    _stored(gateway, sku, headers)
    second = gateway.get(f"{PRODUCTS}/{sku}", headers=headers)
    assert second.status_code == 200 and cache_status(second).get("hit"), second.headers
    return second


def _ship(answer: httpx.Response) -> int:
    return int(answer.json()["availability"]["ship_to_home"]["available"])


def _pickup(answer: httpx.Response) -> dict[str, int]:
    return {s["store"]: s["available"] for s in answer.json()["availability"]["pickup"]["stores"]}


def test_a_product_answer_is_served_from_the_cache_without_reaching_experience_web(
    estate: TestEstate, gateway: httpx.Client, shopper: dict[str, str], product: str
) -> None:
    first = _stored(gateway, product, shopper)
    assert cache_status(first) in (
        {"fwd": "uri-miss", "fwd-status": 200, "stored": True},
        {"fwd": "stale", "fwd-status": 200, "stored": True},
    )
    assert "x-omnigate-cache-tags" not in first.headers  # the tags are the gateway's, never the caller's
    before = _web_served(estate)
    hits = [gateway.get(f"{PRODUCTS}/{product}", headers=shopper) for _ in range(5)]
    assert _web_served(estate) == before, "a hit never reaches experience-web"
    for hit in hits:
        assert hit.status_code == 200 and hit.content == first.content
        state = cache_status(hit)
        assert state["hit"] is True and 0 < int(state["ttl"]) <= 30  # type: ignore[call-overload]
        assert 0 <= int(hit.headers["age"]) <= 30
        assert "ratelimit" in hit.headers, "a hit is counted against the limits like any request"
    # 304 from the cache on the ETag experience-web gave
    etag = first.headers["etag"]
    unchanged = gateway.get(f"{PRODUCTS}/{product}", headers={**shopper, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == etag
    assert cache_status(unchanged)["hit"] is True
    assert _web_served(estate) == before


def test_another_shopper_shares_public_answers_but_never_private_ones(
    estate: TestEstate, gateway: httpx.Client, shopper_token: Callable[..., str], product: str
) -> None:
    anna, bram = (
        {"Authorization": f"Bearer {shopper_token(f'c-cache-{uuid.uuid4().hex[:8]}', 'web')}"} for _ in range(2)
    )
    _cached(gateway, product, anna)
    assert cache_status(gateway.get(f"{PRODUCTS}/{product}", headers=bram))["hit"] is True
    # An order is private: every read goes to experience-web, which answers only its owner.
    placed = gateway.post(
        "/web/v1/orders",
        json=order_body(product, 1, customer="x"),
        headers={**anna, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    path = f"/web/v1/orders/{placed.json()['id']}"
    before = estate.served(estate.url("experience-web"), "/web/v1/orders")
    assert gateway.get(path, headers=anna).status_code == 200
    assert gateway.get(path, headers=anna).status_code == 200
    assert_problem(gateway.get(path, headers=bram), 404, "not-found")
    assert estate.served(estate.url("experience-web"), "/web/v1/orders") == before + 3
    assert "cache-status" not in gateway.get(path, headers=anna).headers


def _purged(gateway: httpx.Client, sku: str, headers: dict[str, str], *, ship: int | None = None) -> httpx.Response:
    deadline = time.monotonic() + PURGE_DEADLINE_S
    while True:
        answer = gateway.get(f"{PRODUCTS}/{sku}", headers=headers)
        assert answer.status_code == 200, answer.text
        if not cache_status(answer).get("hit") and (ship is None or _ship(answer) == ship):
            return answer
        assert time.monotonic() < deadline, f"not purged within {PURGE_DEADLINE_S} s: {answer.headers}"
        time.sleep(0.1)  # (a shopper may read 100 times a minute)


def test_a_pos_sale_of_the_sku_purges_its_answers(
    estate: TestEstate, gateway: httpx.Client, shopper: dict[str, str], product: str
) -> None:
    # more than any seeded store holds, so the page (stores with the most stock first) lists this one
    store = estate.set_store_stock(product, 50)
    _settled(estate)
    cached = _cached(gateway, product, shopper)
    assert _pickup(cached).get(store) == 50, cached.text
    sold = httpx.post(estate.url("sandbox-pos") + "/_sim/sale", json={"store": store, "sku": product, "qty": 1})
    assert sold.status_code == 200, sold.text
    started = time.monotonic()
    fresh = _purged(gateway, product, shopper)
    assert _pickup(fresh).get(store) == 49
    print(f"POS sale -> fresh answer through the gateway: {time.monotonic() - started:.3f} s")


def test_a_reservation_purges_the_answers_of_its_sku(
    estate: TestEstate, gateway: httpx.Client, shopper: dict[str, str], product: str
) -> None:
    cached = _cached(gateway, product, shopper)
    ship = _ship(cached)
    placed = gateway.post(
        "/web/v1/orders",
        json=order_body(product, 2, customer="x"),
        headers={**shopper, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    _purged(gateway, product, shopper, ship=ship - 2)


@pytest.fixture
def second_gateway(estate: TestEstate) -> Iterator[str]:
    url = estate.start_instance("gateway", "cache-second")
    yield url
    estate.stop_instance("gateway", "cache-second")


def test_two_gateway_instances_share_their_hits(
    estate: TestEstate, gateway: httpx.Client, second_gateway: str, shopper: dict[str, str], product: str
) -> None:
    first = _stored(gateway, product, shopper)
    before = _web_served(estate)
    other = httpx.get(f"{second_gateway}{PRODUCTS}/{product}", headers=shopper)
    assert other.status_code == 200 and other.content == first.content
    assert cache_status(other)["hit"] is True
    assert other.headers["x-served-by"] != first.headers["x-served-by"]
    assert _web_served(estate) == before


@pytest.fixture
def short_lived_gateway(estate: TestEstate, tmp_path: Path) -> Iterator[str]:
    """A gateway instance whose product answers stay fresh for 1 s (its own copy of routes.toml), so a test can
    see an entry go stale without waiting out the shipped 30 s."""
    routes = tmp_path / "routes.toml"
    shipped = DEFAULT_FILE.read_text()
    assert "ttl_s = 30" in shipped
    routes.write_text(shipped.replace("ttl_s = 30", "ttl_s = 1"))
    url = estate.start_instance("gateway", "cache-short", env={"OMNIGATE_GATEWAY_ROUTES_FILE": str(routes)})
    yield url
    estate.stop_instance("gateway", "cache-short")


def test_a_stale_answer_stands_in_while_the_process_layer_is_away(
    estate: TestEstate, short_lived_gateway: str, shopper: dict[str, str], product: str
) -> None:
    gateway = httpx.Client(base_url=short_lived_gateway, timeout=30)
    whole = _stored(gateway, product, shopper)
    (never_seen,) = estate.fresh_skus(1)
    time.sleep(1.2)  # the entry is stale now, and kept for stale_if_error_s more
    estate.pause("process-availability")
    try:
        stood_in = gateway.get(f"{PRODUCTS}/{product}", headers=shopper)
        assert stood_in.status_code == 200 and stood_in.content == whole.content
        state = cache_status(stood_in)
        assert state["fwd"] == "stale" and state["fwd-status"] == 200 and int(state["ttl"]) < 0, state  # type: ignore[call-overload]
        assert state["detail"] == "upstream degraded"
        assert int(stood_in.headers["age"]) >= 1
        # Without an answer kept before, the caller gets the degraded one, and it is never stored.
        degraded = gateway.get(f"{PRODUCTS}/{never_seen}", headers=shopper)
        assert degraded.status_code == 200 and degraded.json()["availability"]["status"] == "unknown"
        assert degraded.headers["cache-control"] == "no-store" and "stored" not in cache_status(degraded)
    finally:
        estate.resume("process-availability")
    # Back: the next whole answer replaces the stale one (once experience-web's breaker lets it try again).
    estate.wait_for(
        lambda: cache_status(gateway.get(f"{PRODUCTS}/{product}", headers=shopper)).get("stored"),
        timeout=15,
        interval=0.25,  # (a shopper may read 100 times a minute)
        what="a whole answer stored again",
    )
    gateway.close()


def test_a_price_change_purges_the_product_page(
    estate: TestEstate, gateway: httpx.Client, shopper: dict[str, str], product: str
) -> None:
    """An ERP price change reaches the price projection; its ``price.applied`` purges the page (the raw
    ``price.changed`` of system-erp never does: the projection may not have applied it yet)."""
    estate.wait_for(estate.price_feed_has_cursor, timeout=10, what="the price feed has a cursor")
    cached = _cached(gateway, product, shopper)
    amount = cached.json()["price"]["amount"] + 500
    changed = httpx.post(
        estate.url("sandbox-erp") + "/_sim/price", json={"sku": product, "price_cents": amount}, timeout=10
    )
    assert changed.status_code == 200, changed.text
    deadline = time.monotonic() + 20  # the ERP price feed is polled, then the projection applies and purges
    while True:
        answer = gateway.get(f"{PRODUCTS}/{product}", headers=shopper)
        assert answer.status_code == 200, answer.text
        if answer.json()["price"]["amount"] == amount:
            assert not cache_status(answer).get("hit"), "a new price is never served from a hit"
            break
        assert time.monotonic() < deadline, "the new price was not shown within 10 s"
        time.sleep(0.25)  # (a shopper may read 100 times a minute)


def test_a_spent_limit_is_refused_on_a_cached_route(
    estate: TestEstate, gateway: httpx.Client, shopper: dict[str, str], product: str
) -> None:
    """The limits are counted before the cache is read: a shopper whose limit is spent gets the 429, not the kept
    answer, and nothing reaches experience-web either way."""
    # From an address of its own, so the 100 requests spend no other test's client-IP limit.
    caller = {**shopper, "X-Forwarded-For": f"198.18.{uuid.uuid4().int % 256}.{1 + uuid.uuid4().int % 254}"}
    _cached(gateway, product, caller)
    before = _web_served(estate)
    answers = []
    for _ in range(150):  # the shipped web shopper limit is 100 a minute
        answers.append(gateway.get(f"{PRODUCTS}/{product}", headers=caller))
        if answers[-1].status_code != 200:
            break
    refused = answers[-1]
    assert_problem(refused, 429, "too-many-requests")
    assert "web-shopper" in refused.json()["detail"] and int(refused.headers["retry-after"]) >= 1
    assert "cache-status" not in refused.headers, "a refused request is not answered from the cache"
    assert all(cache_status(a).get("hit") for a in answers[:-1])
    assert _web_served(estate) == before
