"""The mobile app's routes through the gateway (issue 9; routes.toml ``mobile-products-read``): a product and a page
of the catalogue search are kept by the gateway's cache (a hit never reaches experience-mobile; 304 from the cache
on the ETag experience-mobile gave; the cache tags never reach the phone), and a purge of the SKU drops them; an
order is private: never kept, every read reaches experience-mobile, which answers its ETag with a 304 passed
through the gateway."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.estate import TestEstate, assert_problem, cache_status, order_body

PRODUCTS = "/mobile/v1/products"
DEADLINE_S = 5.0


@pytest.fixture
def phone(shopper_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {shopper_token(f'c-phone-{uuid.uuid4().hex[:8]}', 'mobile')}"}


def _mobile_served(estate: TestEstate, route: str = PRODUCTS) -> float:
    return estate.served(estate.url("experience-mobile"), route)


def _from_cache(
    estate: TestEstate, gateway: httpx.Client, path: str, headers: dict[str, str], **query: str
) -> httpx.Response:
    """The answer the gateway keeps for ``path``, once reads of it come from the cache: three hits with its body
    and a 304 on its ETag, none reaching experience-mobile. A purge may land after an answer was kept (the purges
    of a stock change just made, or of the price projection's first sync while the estate warms up), dropping it:
    harmless, but no hit; so this reads until a kept answer holds, and fails if none does within the deadline."""
    deadline = time.monotonic() + 2 * DEADLINE_S
    while True:
        kept = gateway.get(path, params=query, headers=headers)
        assert kept.status_code == 200, kept.text
        if not (cache_status(kept).get("stored") or cache_status(kept).get("hit")):
            assert time.monotonic() < deadline, f"{path}: no answer kept: {kept.headers}"
            time.sleep(0.1)
            continue
        before = _mobile_served(estate)
        hits = [gateway.get(path, params=query, headers=headers) for _ in range(3)]
        unchanged = gateway.get(path, params=query, headers={**headers, "If-None-Match": kept.headers["etag"]})
        seen = [(h.status_code, h.headers.get("cache-status"), h.content == kept.content) for h in (*hits, unchanged)]
        if all(cache_status(h).get("hit") for h in (*hits, unchanged)) and _mobile_served(estate) == before:
            assert all(h.status_code == 200 and h.content == kept.content for h in hits), seen
            assert unchanged.status_code == 304 and unchanged.content == b"", seen
            assert unchanged.headers["etag"] == kept.headers["etag"]
            return kept
        assert time.monotonic() < deadline, f"{path}: no answer served from the cache: {seen}"
        time.sleep(0.2)


def _count(answer: httpx.Response) -> int:
    """The units a product answer (or the first product of a page) says can be had."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return int(body["count"] if "count" in body else body["items"][0]["count"])


def test_mobile_products_and_pages_are_served_from_the_cache(
    estate: TestEstate, gateway: httpx.Client, phone: dict[str, str]
) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=6)
    counts = {}
    for path, query in ((f"{PRODUCTS}/{sku}", {}), (PRODUCTS, {"q": sku})):
        first = _from_cache(estate, gateway, path, phone, **query)
        counts[path] = _count(first)
        assert "x-omnigate-cache-tags" not in first.headers  # the tags are the gateway's, never the phone's
        assert first.headers["cache-control"] == "public, max-age=30"
    # A stock change of the SKU purges both (process-availability's availability.changed, tagged sku:<SKU>):
    # four units fewer at the DC, four fewer to deliver (ship-to-home is the DCs').
    estate.set_dc_stock(sku, tlb=2)
    deadline = time.monotonic() + DEADLINE_S
    for path, query in ((f"{PRODUCTS}/{sku}", {}), (PRODUCTS, {"q": sku})):
        while True:
            answer = gateway.get(path, params=query, headers=phone)
            if not cache_status(answer).get("hit") and _count(answer) == counts[path] - 4:
                break
            assert time.monotonic() < deadline, f"{path} not purged within {DEADLINE_S} s: {answer.headers}"
            time.sleep(0.2)  # within the shopper's limit (100 a minute)


def test_a_mobile_order_is_never_kept_and_revalidates_through_the_gateway(
    estate: TestEstate, gateway: httpx.Client, phone: dict[str, str], shopper_token: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=3)
    placed = gateway.post(
        "/mobile/v1/orders", json=order_body(sku, customer="x"), headers={**phone, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert placed.status_code == 201, placed.text
    path = f"/mobile/v1/orders/{placed.json()['id']}"
    first = gateway.get(path, headers=phone)
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    assert "cache-status" not in first.headers
    before = _mobile_served(estate, "/mobile/v1/orders")
    again = gateway.get(path, headers={**phone, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
    other = {"Authorization": f"Bearer {shopper_token(f'c-phone-{uuid.uuid4().hex[:8]}', 'mobile')}"}
    assert_problem(gateway.get(path, headers={**other, "If-None-Match": first.headers["etag"]}), 404, "not-found")
    assert _mobile_served(estate, "/mobile/v1/orders") == before + 2, "every order read reaches experience-mobile"
