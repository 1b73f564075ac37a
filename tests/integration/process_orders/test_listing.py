"""process-orders' filtered listing (issue 9): ``GET /orders?status=&updated_since=`` keeps the owner's orders in a
state or changed since a time, newest first. A filtered page looks at no more than ``OMNIGATE_ORDERS_LIST_SCAN``
orders: shown here with an instance that looks at two, whose pages are sparse (fewer orders than the limit, one of
them none) yet carry a cursor, and together list exactly the matching orders, once each, in order."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.estate import TestEstate, assert_problem
from tests.integration.process_orders.conftest import Orders


def page(url: str, owner: dict[str, str], **query: Any) -> dict[str, Any]:
    answer = httpx.get(url + "/orders", params={k: str(v) for k, v in query.items()}, headers=owner, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_filtered_listing_looks_at_a_bounded_number_of_orders_per_page(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=10)
    owner = f"web:list-{uuid.uuid4().hex[:8]}"
    placed = []
    for _ in range(5):
        answer = orders.place(orders.body(sku), owner)
        assert answer.status_code == 201, answer.text
        placed.append(answer.json()["id"])
    first, _, _, fourth, _ = placed
    for order_id in (first, fourth):
        estate.ship(order_id)
        orders.wait_state(order_id, "shipped", owner=owner)
    me = estate.identity(owner)
    # The deployable's own budget (1000) sees every order at once.
    whole = page(orders.url, me, status="shipped", limit=10)
    assert [o["id"] for o in whole["items"]] == [fourth, first] and whole["next_cursor"] is None

    narrow = estate.start_instance("process-orders", "scan2", env={"OMNIGATE_ORDERS_LIST_SCAN": "2"}, workers=1)
    try:
        pages, cursor = [], None
        while True:
            got = page(narrow, me, status="shipped", limit=10, **({"cursor": cursor} if cursor else {}))
            pages.append([o["id"] for o in got["items"]])
            cursor = got["next_cursor"]
            if cursor is None:
                break
            assert len(pages) < 10, pages
        # Newest first, two orders looked at per page: (5th, 4th) (3rd, 2nd) (1st).
        assert pages == [[fourth], [], [first]]
        # A cursor of a filtered page keeps its filter: with another, or none, it is refused.
        sparse = page(narrow, me, status="shipped", limit=10)["next_cursor"]
        for other in ({"status": "released"}, {}):
            refused = httpx.get(narrow + "/orders", params={"cursor": sparse, **other}, headers=me, timeout=10)
            assert_problem(refused, 400, "invalid-request")
        # An unfiltered listing pages as before, whatever the budget.
        assert [o["id"] for o in page(narrow, me, limit=3)["items"]] == placed[::-1][:3]
    finally:
        estate.stop_instance("process-orders", "scan2")
