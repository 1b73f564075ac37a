"""A partner's order listing, filtered (issue 9): ``GET /partner/v1/orders?status=&updated_since=&cursor=&limit=``.
process-orders owns the data and the filters: a partner gets its own orders in a state, or changed since a time,
newest first, paged by a cursor that is good only for the filters it was issued with (another filter's is a 400);
bad filters are 400s; another partner's orders never show, whatever the filter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.estate import ExperienceApi, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [order["id"] for order in response.json()["items"]]


def listing(partner: ExperienceApi, caller: dict[str, str], **query: Any) -> httpx.Response:
    return partner.get("/orders", caller, **{k: str(v) for k, v in query.items()})


def test_a_partner_lists_its_orders_by_status_and_last_change(
    estate: TestEstate, partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]
) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=10)
    store = estate.set_store_stock(sku, 2)
    us, them = new_partner(), new_partner()

    def place(body: dict[str, Any], caller: dict[str, str]) -> dict[str, Any]:
        placed = partner.place(body, caller)
        assert placed.status_code == 201, placed.text
        return placed.json()  # type: ignore[no-any-return]

    shipped = place(order_body(sku, 1, customer="shop-1"), us)
    released = place(order_body(sku, 1, customer="shop-2"), us)
    cancelled = place(order_body(sku, 1, mode="pickup", store=store, customer="shop-3"), us)
    theirs = place(order_body(sku, 1, customer="shop-9"), them)
    assert {shipped["status"], released["status"], cancelled["status"]} == {"released"}
    # Everything before this instant; what follows changes two of our orders and one of theirs.
    settled = [partner.get(f"/orders/{o['id']}", us).json() for o in (shipped, released, cancelled)]
    mark = max(datetime.fromisoformat(o["updated_at"]) for o in settled) + timedelta(milliseconds=1)
    estate.ship(shipped["id"])
    partner.wait_order(shipped["id"], us, "status", "shipped")
    assert partner.cancel(cancelled["id"], us).json()["status"] == "cancelled"
    estate.ship(theirs["id"])
    partner.wait_order(theirs["id"], them, "status", "shipped")

    newest_first = [cancelled["id"], released["id"], shipped["id"]]
    assert ids(listing(partner, us)) == newest_first
    assert ids(listing(partner, us, status="shipped")) == [shipped["id"]]
    assert ids(listing(partner, us, status="released")) == [released["id"]]
    assert ids(listing(partner, us, status="cancelled")) == [cancelled["id"]]
    assert ids(listing(partner, us, status="delivered")) == []
    since = mark.isoformat()  # with its offset (+00:00), sent encoded
    assert ids(listing(partner, us, updated_since=since)) == [cancelled["id"], shipped["id"]]
    assert ids(listing(partner, us, updated_since=since, status="shipped")) == [shipped["id"]]
    # The same instant in another offset is the same filter.
    elsewhere = mark.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    assert ids(listing(partner, us, updated_since=elsewhere)) == [cancelled["id"], shipped["id"]]
    # The filtered listing pages by its own cursor, and the last page has none.
    first = listing(partner, us, updated_since=since, limit=1)
    assert ids(first) == [cancelled["id"]] and first.json()["next_cursor"]
    cursor = first.json()["next_cursor"]
    second = listing(partner, us, updated_since=since, limit=1, cursor=cursor)
    assert ids(second) == [shipped["id"]] and second.json()["next_cursor"] is None, second.json()
    # ... and only with the filters it was issued for.
    for other in ({"status": "shipped"}, {"updated_since": since, "status": "shipped"}, {}):
        problem = assert_problem(listing(partner, us, cursor=cursor, **other), 400, "invalid-request")
        assert problem["errors"] == [{"field": "cursor"}], (other, problem)
    unfiltered = listing(partner, us, limit=1).json()["next_cursor"]
    assert_problem(listing(partner, us, cursor=unfiltered, status="released"), 400, "invalid-request")
    assert ids(listing(partner, us, cursor=unfiltered, limit=5)) == newest_first[1:]
    # Another partner's orders never show, under any filter; ours never show to them.
    assert ids(listing(partner, them, status="shipped")) == [theirs["id"]]
    assert ids(listing(partner, them, updated_since=since)) == [theirs["id"]]
    assert ids(listing(partner, them, status="cancelled")) == []


def test_bad_filters_are_400s(partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]) -> None:
    me = new_partner()
    for query in (
        {"status": "lost"},
        {"status": ""},
        {"updated_since": "yesterday"},
        {"updated_since": "2025-05-01T12:00:00"},  # no offset: which day's noon?
        {"updated_since": "0001-01-01T00:00:00+05:00"},
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"cursor": "%%%"},
    ):
        assert_problem(listing(partner, me, **query), 400, "invalid-request")
    assert ids(listing(partner, me, updated_since="2025-05-01T12:00:00Z", status="shipped", limit=100)) == []
