"""experience-partner end to end: a partner submits orders through the stable ``/partner/v1`` contract and sees
only its own; other partners and other channels get 404 and 403."""

from __future__ import annotations

import uuid

import pytest

from tests.estate import ExperienceApi, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

CONTRACT = {
    "id",
    "status",
    "customer_id",
    "fulfilment",
    "store",
    "lines",
    "currency",
    "subtotal",
    "tax",
    "total",
    "payment_reference",
    "created_at",
    "updated_at",
    "reason",
    "tracking",
}


def test_a_partner_sees_only_its_own_orders_in_the_partner_contract(estate: TestEstate, partner: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=5)
    ours, theirs = (f"p-{uuid.uuid4().hex[:10]}" for _ in range(2))
    us, them = partner.caller(ours), partner.caller(theirs)
    key = uuid.uuid4().hex
    placed = partner.place(order_body(sku, 2, customer="shop-77"), us, key)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert set(order) == CONTRACT, order
    assert placed.headers["location"] == f"/partner/v1/orders/{order['id']}"
    assert order["status"] == "released" and order["customer_id"] == "shop-77" and order["fulfilment"] == "ship"
    assert order["tracking"] == []  # not shipped yet
    assert set(order["lines"][0]) == {"line_id", "sku", "qty", "unit_price", "location"}
    assert partner.place(order_body(sku, 2, customer="shop-77"), us, key).json() == order  # replayed
    assert partner.get(f"/orders/{order['id']}", us).json() == order
    assert [o["id"] for o in partner.get("/orders", us).json()["items"]] == [order["id"]]
    events = partner.get(f"/orders/{order['id']}/timeline", us).json()
    assert all(set(e) == {"at", "status", "detail"} for e in events) and events[-1]["status"] == "released"

    assert_problem(partner.get(f"/orders/{order['id']}", them), 404, "not-found")
    assert_problem(partner.get(f"/orders/{order['id']}/timeline", them), 404, "not-found")
    assert partner.get("/orders", them).json()["items"] == []
    other = partner.place(order_body(sku, 2, customer="shop-77"), them, key)  # their key is their own
    assert other.status_code == 201 and other.json()["id"] != order["id"]
    before = partner.orders_served()
    web_shopper = partner.caller(f"c-{uuid.uuid4().hex[:10]}", channel="web")
    assert_problem(partner.get("/orders", web_shopper), 403, "forbidden")
    assert_problem(partner.place(order_body(sku), web_shopper), 403, "forbidden")
    assert partner.orders_served() == before
