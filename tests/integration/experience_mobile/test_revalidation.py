"""Every GET of experience-mobile carries an ETag and answers 304 to ``If-None-Match`` (issue 9): a product, a page
of the catalogue search, an order, the page of the caller's orders and an order's timeline. Orders are one
shopper's: ``private, no-cache`` (a phone revalidates, a shared cache never keeps them) and no cache tags; once the
order changes (a cancel), its old ETag no longer holds. Another shopper never gets a 304 for an order that is not
theirs: the order is a 404 to them, ETag or not."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.estate import ORDER_SCOPES, ExperienceApi, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

ETAG = re.compile(r'^"[A-Za-z0-9_-]{22}"$')
SCOPES = ORDER_SCOPES | {"catalog:read", "availability:read"}


def get(
    mobile: ExperienceApi, path: str, caller: dict[str, str], etag: str | None = None, **query: str
) -> httpx.Response:
    headers = {**caller, **({"If-None-Match": etag} if etag is not None else {})}
    return httpx.get(mobile.url + path, params=query, headers=headers, timeout=30)


def revalidates(
    mobile: ExperienceApi, path: str, caller: dict[str, str], cache_control: str, **query: str
) -> httpx.Response:
    """``path`` answers 200 with a strong ETag and ``cache_control``; the ETag (also weak, or in a list, or ``*``)
    answers 304 without a body and with the same ETag and Cache-Control; another ETag the whole answer again."""
    first = get(mobile, path, caller, **query)
    assert first.status_code == 200, (path, first.text)
    etag = first.headers["etag"]
    assert ETAG.match(etag), (path, etag)
    assert first.headers["cache-control"] == cache_control, path
    for held in (etag, f"W/{etag}", f'"something-else", {etag}', "*"):
        again = get(mobile, path, caller, held, **query)
        assert again.status_code == 304, (path, held, again.text)
        assert again.content == b""
        assert (again.headers["etag"], again.headers["cache-control"]) == (etag, cache_control)
    for other in ('"something-else"', "garbage", etag.strip('"')):
        full = get(mobile, path, caller, other, **query)
        assert full.status_code == 200 and full.content == first.content, (path, other)
    return first


def test_every_mobile_get_answers_304_to_its_etag(estate: TestEstate, mobile: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    store = estate.set_store_stock(sku, 3)
    me = mobile.caller(f"c-{uuid.uuid4().hex[:10]}", SCOPES)
    # A pickup order: it can be cancelled until it is collected (a ship order only until it is released).
    placed = mobile.place(order_body(sku, mode="pickup", store=store), me)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    # Products: public and tagged, as the gateway's cache keeps them.
    product = revalidates(mobile, f"/products/{sku}", me, "public, max-age=30")
    assert product.headers["x-omnigate-cache-tags"] == f"sku:{sku}"
    page = revalidates(mobile, "/products", me, "public, max-age=30", q=sku)
    assert page.headers["x-omnigate-cache-tags"] == f"sku:{sku}" and page.json()["items"][0]["sku"] == sku
    # Orders: private, revalidated before every use, never tagged.
    order = revalidates(mobile, f"/orders/{order_id}", me, "private, no-cache")
    orders = revalidates(mobile, "/orders", me, "private, no-cache")
    timeline = revalidates(mobile, f"/orders/{order_id}/timeline", me, "private, no-cache")
    for answer in (order, orders, timeline):
        assert "x-omnigate-cache-tags" not in answer.headers and "x-omnigate-degraded" not in answer.headers
    assert order.json()["id"] == order_id and orders.json()["items"] == [order.json()]
    # The page's cursor paging answers conditionally too (the orders' cursor is process-orders' own).
    assert orders.json()["next_cursor"] is None

    # Someone else's order is a 404 to them whatever ETag they hold: no 304 tells them it exists.
    stranger = mobile.caller(f"c-{uuid.uuid4().hex[:10]}", SCOPES)
    for path in (f"/orders/{order_id}", f"/orders/{order_id}/timeline"):
        assert_problem(get(mobile, path, stranger, "*"), 404, "not-found")
        assert_problem(get(mobile, path, stranger, order.headers["etag"]), 404, "not-found")
    assert get(mobile, "/orders", stranger, orders.headers["etag"]).json()["items"] == []

    # The order changes: every ETag of it held before answers the new order in full.
    cancelled = mobile.cancel(order_id, me)
    assert cancelled.status_code in (200, 202), cancelled.text
    for path, before in (
        (f"/orders/{order_id}", order),
        ("/orders", orders),
        (f"/orders/{order_id}/timeline", timeline),
    ):
        after = get(mobile, path, me, before.headers["etag"])
        assert after.status_code == 200, (path, after.text)
        assert after.headers["etag"] != before.headers["etag"] and after.content != before.content, path
    assert get(mobile, f"/orders/{order_id}", me).json()["status"] in ("cancelled", "pending_backend")
