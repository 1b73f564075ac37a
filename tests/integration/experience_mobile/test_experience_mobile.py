"""experience-mobile end to end: a phone's caller places and follows orders in compact payloads (only what a phone
shows), and only with a mobile identity."""

from __future__ import annotations

import uuid

import pytest

from tests.estate import ExperienceApi, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate

COMPACT = {"id", "status", "total", "currency", "line_count", "summary", "created_at"}


def test_a_phone_sees_compact_orders_and_steps(estate: TestEstate, mobile: ExperienceApi) -> None:
    a, b, c = estate.fresh_skus(3)
    for sku in (a, b, c):
        estate.set_dc_stock(sku, tlb=5)
    me = mobile.caller(f"c-{uuid.uuid4().hex[:10]}")
    body = order_body(a, 2)
    body["lines"] += [{"line_id": "2", "sku": b, "qty": 1}, {"line_id": "3", "sku": c, "qty": 1}]
    placed = mobile.place(body, me)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert set(order) == COMPACT, order
    assert placed.headers["location"] == f"/mobile/v1/orders/{order['id']}"
    assert order["status"] == "released" and order["line_count"] == 3 and order["currency"] == "EUR"
    assert order["summary"] == f"2× {a}, 1× {b} +1"
    assert mobile.get(f"/orders/{order['id']}", me).json() == order
    page = mobile.get("/orders", me).json()
    assert page == {"items": [order], "next_cursor": None}
    steps = mobile.get(f"/orders/{order['id']}/timeline", me).json()
    assert all(set(step) == {"at", "status"} for step in steps) and steps[-1]["status"] == "released"


def test_mobile_pages_with_the_cursor_and_takes_only_mobile_callers(estate: TestEstate, mobile: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=20)
    subject = f"c-{uuid.uuid4().hex[:10]}"
    me = mobile.caller(subject)
    ids = [mobile.place(order_body(sku), me).json()["id"] for _ in range(12)]
    first = mobile.get("/orders", me).json()
    assert len(first["items"]) == 10 and first["next_cursor"]  # a phone's page (MobileSettings)
    second = mobile.get("/orders", me, cursor=first["next_cursor"]).json()
    assert [o["id"] for o in first["items"] + second["items"]] == ids[::-1] and second["next_cursor"] is None
    before = mobile.orders_served()
    for channel in ("web", "partner"):
        assert_problem(mobile.get("/orders", mobile.caller(subject, channel=channel)), 403, "forbidden")
        assert_problem(mobile.place(order_body(sku), mobile.caller(subject, channel=channel)), 403, "forbidden")
    assert mobile.orders_served() == before
