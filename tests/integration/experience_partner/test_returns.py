"""A partner returns lines of its orders through ``/partner/v1`` (issue 9): ``POST /partner/v1/orders/{id}/returns``
(``returns:write``, ``Idempotency-Key`` required) once the order was delivered, ``GET /partner/v1/returns/{id}`` to
follow it until the DC's receipt refunds it. process-orders' refusals reach the partner as the same problems (409
before delivery, 422 for more than was ordered); another partner's order or return is a 404; a caller without the
scope or the channel, or without a key, never reaches process-orders.

Answers are decoded with Structs written here from the documented contract, unknown fields forbidden.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import httpx
import msgspec
import pytest

from tests.estate import ExperienceApi, TestEstate, assert_problem, order_body
from tests.integration.experience_partner.conftest import PARTNER_SCOPES

pytestmark = pytest.mark.estate


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class ReturnLine(Strict):
    sku: str
    qty: int
    unit_price: int


class Received(Strict):
    sku: str
    qty: int


class PartnerReturn(Strict):
    id: str
    order_id: str
    status: Literal[
        "return_requested", "partially_received", "return_received", "refunded", "restocked", "closed", "rejected"
    ]
    location: str
    lines: list[ReturnLine]
    received: list[Received] | None
    created_at: datetime
    updated_at: datetime


def return_of(response: httpx.Response, status: int = 200) -> PartnerReturn:
    assert response.status_code == status, response.text
    return msgspec.json.decode(response.content, type=PartnerReturn)


def test_a_partner_returns_a_delivered_order_and_follows_it_to_the_refund(
    estate: TestEstate, partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]
) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=5)
    us, them = new_partner(), new_partner()
    placed = partner.place(order_body(sku, 2, customer="shop-1"), us)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    body = {"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb", "reason": "damaged"}
    # Released, then shipped: nothing has reached the customer yet (process-orders' 409, relayed).
    assert_problem(partner.open_return(order["id"], body, us), 409, "conflict")
    estate.ship(order["id"])
    partner.wait_order(order["id"], us, "status", "shipped")
    assert_problem(partner.open_return(order["id"], body, us), 409, "conflict")
    estate.deliver(order["id"])
    partner.wait_order(order["id"], us, "status", "delivered")
    # process-orders' refusals of the request itself, relayed with their status and type.
    assert_problem(partner.open_return(order["id"], {**body, "lines": [{"line_id": "1", "qty": 3}]}, us), 422)
    assert_problem(partner.open_return(order["id"], {**body, "lines": [{"line_id": "9", "qty": 1}]}, us), 422)

    key = uuid.uuid4().hex
    opened = partner.open_return(order["id"], body, us, key)
    ret = return_of(opened, 201)
    assert opened.headers["location"] == f"/partner/v1/returns/{ret.id}"
    assert (ret.order_id, ret.status, ret.location, ret.received) == (order["id"], "return_requested", "dc-tlb", None)
    assert ret.lines == [ReturnLine(sku=sku, qty=1, unit_price=order["lines"][0]["unit_price"])]
    # The same key answers the same return; nothing new is opened.
    again = partner.open_return(order["id"], body, us, key)
    assert return_of(again, 201).id == ret.id
    assert return_of(partner.get(f"/returns/{ret.id}", us)).id == ret.id

    # Another partner: our order and our return do not exist for them.
    assert_problem(partner.open_return(order["id"], body, them), 404, "not-found")
    assert_problem(partner.get(f"/returns/{ret.id}", them), 404, "not-found")

    # The DC receives the parcel: the refund follows what arrived.
    estate.receive_return(ret.id)

    def refunded() -> PartnerReturn | None:
        found = return_of(partner.get(f"/returns/{ret.id}", us))
        return found if found.status == "refunded" else None

    done = estate.wait_for(refunded, timeout=20, what="the return refunded")
    assert done.received == [Received(sku=sku, qty=1)] and done.updated_at > ret.updated_at
    # One unit is left to return: two are more than that.
    assert_problem(partner.open_return(order["id"], {**body, "lines": [{"line_id": "1", "qty": 2}]}, us), 422)


def test_refused_callers_never_reach_process_orders(
    estate: TestEstate, partner: ExperienceApi, new_partner: Callable[[], dict[str, str]]
) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=2)
    me = new_partner()
    order_id = partner.place(order_body(sku), me).json()["id"]
    body = {"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"}
    before = partner.orders_served() + estate.served(estate.url("process-orders"), "/returns")
    without_scope = partner.caller("p-no-returns", PARTNER_SCOPES - {"returns:write"})
    refused = partner.open_return(order_id, body, without_scope)
    assert_problem(refused, 403, "forbidden")
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    reader = partner.caller("p-no-reads", PARTNER_SCOPES - {"orders:read"})
    assert_problem(partner.get("/returns/r0123", reader), 403, "forbidden")
    shopper = partner.caller("c-1", PARTNER_SCOPES, channel="web")
    assert_problem(partner.open_return(order_id, body, shopper), 403, "forbidden")
    assert_problem(partner.get("/returns/r0123", shopper), 403, "forbidden")
    assert_problem(partner.open_return(order_id, body, {}), 401, "unauthorized")
    no_key = httpx.post(partner.url + f"/orders/{order_id}/returns", json=body, headers=me, timeout=10)
    assert_problem(no_key, 400, "invalid-request")
    for bad in (
        {**body, "lines": [{"line_id": "1", "qty": 0}]},
        {**body, "lines": []},
        {**body, "location": "warehouse 7"},
        {**body, "refund_to": "elsewhere"},
    ):
        assert_problem(partner.open_return(order_id, bad, me), 400, "invalid-request")
    assert_problem(partner.open_return("bad id!", body, me), 400, "invalid-request")
    assert_problem(partner.get("/returns/bad%20id!", me), 400, "invalid-request")
    after = partner.orders_served() + estate.served(estate.url("process-orders"), "/returns")
    assert after == before, "a refused request reached process-orders"
    # A return id that is nobody's is process-orders' 404.
    assert_problem(partner.get("/returns/r0123", me), 404, "not-found")
