"""The experience kit's return routes on the web channel (issue 9: returns on every channel): a shopper returns a
line of a delivered order at a store counter (refunded at once) through ``POST /web/v1/orders/{id}/returns`` and
reads it at ``GET /web/v1/returns/{id}``, in the kit's return shape; another shopper gets 404s, another channel and
a caller without ``returns:write`` get 403s. The order listing's filters are the kit's too.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import httpx
import msgspec
import pytest

from tests.estate import ExperienceApi, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

SHOPPER_SCOPES = frozenset({"orders:read", "orders:write", "returns:write"})


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ReturnLine(Strict):
    sku: str
    qty: int
    unit_price: int


class ShownReturn(Strict):
    id: str
    order_id: str
    state: Literal[
        "return_requested", "partially_received", "return_received", "refunded", "restocked", "closed", "rejected"
    ]
    lines: list[ReturnLine]
    location: str
    created_at: datetime
    updated_at: datetime
    received: dict[str, int] | None = None


def return_of(response: httpx.Response, status: int = 200) -> ShownReturn:
    assert response.status_code == status, response.text
    return msgspec.json.decode(response.content, type=ShownReturn)


def test_a_shopper_returns_a_line_at_a_store_and_reads_the_return(estate: TestEstate, web: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=4)
    store = estate.set_store_stock(sku, 1)
    anna = web.caller(f"c-{uuid.uuid4().hex[:10]}", SHOPPER_SCOPES)
    bram = web.caller(f"c-{uuid.uuid4().hex[:10]}", SHOPPER_SCOPES)
    placed = web.place(order_body(sku, 2), anna)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    body = {"lines": [{"line_id": "1", "qty": 1}], "location": store, "reason": "too big"}
    assert_problem(web.open_return(order["id"], body, anna), 409, "conflict")  # not delivered yet
    estate.ship(order["id"])
    estate.deliver(order["id"])
    web.wait_order(order["id"], anna, "state", "delivered")
    # Refused callers: another shopper (404), another channel and a caller without returns:write (403).
    assert_problem(web.open_return(order["id"], body, bram), 404, "not-found")
    mobile = web.caller("c-1", SHOPPER_SCOPES, channel="mobile")
    assert_problem(web.open_return(order["id"], body, mobile), 403, "forbidden")
    no_scope = web.caller("c-1", SHOPPER_SCOPES - {"returns:write"})
    assert_problem(web.open_return(order["id"], body, no_scope), 403, "forbidden")

    # At a store counter the goods are taken back and refunded at once; the stock is back on the shelf.
    opened = web.open_return(order["id"], body, anna)
    ret = return_of(opened, 201)
    assert opened.headers["location"] == f"/web/v1/returns/{ret.id}"
    assert (ret.order_id, ret.state, ret.location) == (order["id"], "refunded", store)
    assert ret.lines == [ReturnLine(sku=sku, qty=1, unit_price=order["lines"][0]["unit_price"])]
    assert ret.received == {sku: 1}
    assert return_of(web.get(f"/returns/{ret.id}", anna)) == ret
    assert_problem(web.get(f"/returns/{ret.id}", bram), 404, "not-found")
    assert_problem(web.get(f"/returns/{ret.id}", mobile), 403, "forbidden")
    estate.wait_for(lambda: estate.atp(sku).get(store) == 2, timeout=10, what="the returned unit back at the store")

    # The kit's listing filters hold on the web too.
    listed = web.get("/orders", anna, status="delivered")
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()["items"]] == [order["id"]]
    assert web.get("/orders", anna, status="released").json()["items"] == []
    assert web.get("/orders", bram, status="delivered").json()["items"] == []
