"""experience-web end to end against the live estate: a shopper's web identity places an order through the web
API, reads, lists, follows and cancels it; process-orders' refusals reach the shopper as the same problems; and
a caller without a valid identity, of another channel or without the scope never gets through to process-orders.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.estate import ExperienceApi, TestEstate, assert_problem, order_body

pytestmark = pytest.mark.estate


def test_a_shopper_places_reads_lists_follows_and_cancels(estate: TestEstate, web: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=5)
    shopper = f"c-{uuid.uuid4().hex[:10]}"
    me = web.caller(shopper)
    key = uuid.uuid4().hex
    placed = web.place(order_body(sku, 2, customer=shopper), me, key)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    path = f"/web/v1/orders/{order['id']}"
    assert placed.headers["location"] == path
    assert order["state"] == "released" and order["lines"][0]["qty"] == 2 and order["total"] > 0
    assert order["links"] == {"order": path, "timeline": path + "/timeline", "cancel": path + "/cancel"}
    assert "owner" not in order
    # The same key replays the first answer (process-orders stores it; the web shapes it the same way).
    replay = web.place(order_body(sku, 2, customer=shopper), me, key)
    assert (replay.status_code, replay.json(), replay.headers["location"]) == (201, order, path)
    assert estate.atp(sku)["dc-tlb"] == 3, "the replay placed nothing new"

    read = web.get(f"/orders/{order['id']}", me)
    assert read.status_code == 200 and read.json() == order
    listed = web.get("/orders", me)
    assert listed.status_code == 200 and [o["id"] for o in listed.json()["items"]] == [order["id"]]
    timeline = web.get(f"/orders/{order['id']}/timeline", me)
    assert timeline.status_code == 200, timeline.text
    states = [e["state"] for e in timeline.json()]
    assert states[0] == "received" and states[-1] == "released" and "confirmed" in states
    assert_problem(web.get("/orders", me, cursor="%%%"), 400, "invalid-request")  # process-orders' 400, relayed

    # Released to the warehouse: too late to cancel (process-orders' 409, same status and type).
    assert_problem(web.cancel(order["id"], me), 409, "conflict")
    # A pickup can be cancelled until it is collected.
    store = estate.set_store_stock(sku, 2)
    pickup = web.place(order_body(sku, 1, mode="pickup", store=store, customer=shopper), me)
    assert pickup.status_code == 201, pickup.text
    cancelled = web.cancel(pickup.json()["id"], me)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled" and "location" not in cancelled.headers
    estate.wait_for(lambda: estate.atp(sku).get(store) == 2, timeout=10, what="the pickup's stock back at the store")
    assert [o["id"] for o in web.get("/orders", me).json()["items"]] == [pickup.json()["id"], order["id"]]


def test_another_customers_order_is_404_and_their_key_never_replays(estate: TestEstate, web: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=5)
    anna, bram = web.caller(f"c-{uuid.uuid4().hex[:10]}"), web.caller(f"c-{uuid.uuid4().hex[:10]}")
    key = uuid.uuid4().hex
    first = web.place(order_body(sku), anna, key)
    assert first.status_code == 201, first.text
    order_id = first.json()["id"]
    for response in (
        web.get(f"/orders/{order_id}", bram),
        web.get(f"/orders/{order_id}/timeline", bram),
        web.cancel(order_id, bram),
    ):
        assert_problem(response, 404, "not-found")
    assert web.get("/orders", bram).json()["items"] == []
    # Bram's request with Anna's key is Bram's own: a new order, never Anna's answer.
    second = web.place(order_body(sku), bram, key)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != order_id
    # A business refusal reaches the shopper with its status and type: more than the stock holds.
    refused = assert_problem(web.place(order_body(sku, 50), anna), 409, "insufficient-stock")
    assert refused["errors"], refused
    # The same key with another request is process-orders' 422, relayed.
    assert_problem(web.place(order_body(sku, 2), anna, key), 422, "idempotency-key-reused")


def test_refused_callers_never_reach_process_orders(estate: TestEstate, web: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=5)
    owner = f"c-{uuid.uuid4().hex[:10]}"
    order_id = web.place(order_body(sku), web.caller(owner)).json()["id"]
    before = web.orders_served()
    reads = [f"/orders/{order_id}", "/orders", f"/orders/{order_id}/timeline"]

    def writes(caller: dict[str, str]) -> list[httpx.Response]:
        return [web.place(order_body(sku), caller), web.cancel(order_id, caller)]

    for response in [*writes({}), *(web.get(p, {}) for p in reads)]:
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith('Bearer realm="omnigate-internal"')
    for response in [
        *writes(web.caller(owner, channel="mobile")),
        *(web.get(p, web.caller(owner, channel="mobile")) for p in reads),
    ]:
        assert_problem(response, 403, "forbidden")
    reader, writer = web.caller(owner, frozenset({"orders:read"})), web.caller(owner, frozenset({"orders:write"}))
    for response in [*writes(reader), *(web.get(p, writer) for p in reads)]:
        problem = assert_problem(response, 403, "forbidden")
        assert "insufficient_scope" in response.headers["www-authenticate"], problem
    # No Idempotency-Key: refused before any hop.
    no_key = httpx.post(web.url + "/orders", json=order_body(sku), headers=web.caller(owner), timeout=10)
    assert_problem(no_key, 400, "invalid-request")
    assert web.orders_served() == before, "a refused request reached process-orders"
    assert web.get(f"/orders/{order_id}", web.caller(owner)).status_code == 200
    assert web.orders_served() == before + 1


def test_both_workers_serve_the_shoppers(estate: TestEstate, web: ExperienceApi) -> None:
    (sku,) = estate.fresh_skus()
    estate.set_dc_stock(sku, tlb=3)
    me = web.caller(f"c-{uuid.uuid4().hex[:10]}")
    order_id = web.place(order_body(sku), me).json()["id"]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:
            return await asyncio.gather(*(client.get(web.url + f"/orders/{order_id}", headers=me) for _ in range(64)))

    answers = asyncio.run(burst())
    assert all(a.status_code == 200 and a.json()["id"] == order_id for a in answers)
    served = {a.headers["x-served-by"] for a in answers}
    assert len(served) == estate.workers("experience-web") == 2, served
