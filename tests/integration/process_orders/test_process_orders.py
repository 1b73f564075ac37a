"""process-orders against the live estate (real Redis, real processes, 2 workers per process deployable).

Each test takes its own SKUs (from the end of the seeded catalogue) and sets their DC stock through the WMS
sandbox (a cycle count, which reaches the availability projection as ``inventory.counted``), so the tests do
not depend on each other or on the seed's quantities. Documents are counted in the sandboxes' own SQLite files.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.estate import TestEstate, assert_problem

if TYPE_CHECKING:
    from tests.integration.process_orders.conftest import Orders

pytestmark = pytest.mark.estate


# --- helpers ---------------------------------------------------------------------------------------------------


def keyed(owner: dict[str, str]) -> dict[str, str]:
    """The identity header plus a fresh Idempotency-Key (required on every request that creates something)."""
    return {**owner, "Idempotency-Key": uuid.uuid4().hex}


async def _burst(url: str, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as client:
        return await asyncio.gather(*(client.post(url, json=body, headers=h) for body, h in requests))


def burst(orders: Orders, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    return asyncio.run(_burst(orders.url + "/orders", requests))


# --- happy paths and reads -----------------------------------------------------------------------------------


def test_ship_order_is_released_with_prices_tax_and_a_timeline(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5, zwl=9)
    price = httpx.get(estate.url("system-erp") + f"/prices/{sku}", timeout=10).json()["amount"]
    response = orders.place(orders.body(sku, 3))
    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"/orders/{order['id']}"
    assert order["state"] == "released"
    assert order["lines"][0]["unit_price"] == price and order["lines"][0]["location"] == "dc-zwl"  # most ATP
    assert order["total"] == 3 * price and order["tax"] == 3 * price - round(3 * price / 1.21)
    assert orders.erp_states([order["id"]]) == {order["id"]: "sale"}
    assert orders.wms_orders([order["id"]]) == {order["id"]: 1}
    assert orders.atp(sku)["dc-zwl"] == 6
    entries = orders.timeline(order["id"])
    assert [e["state"] for e in entries if e["detail"] != "sales order created"] == [
        "received",
        "reserved",
        "accepted",
        "confirmed",
        "released",
    ]
    systems = {e["state"]: e["system"] for e in entries}
    assert systems["confirmed"] == "erp" and systems["released"] == "wms"
    assert all(e["correlation_id"] == response.headers["x-request-id"] for e in entries)
    assert any(e["system"] == "erp" and e["document_id"].startswith("S") for e in entries)
    # Reserved and allocated in one call: the set never sat in the expiry index.
    reservations = httpx.get(
        estate.url("process-availability") + f"/reservations/{order['id']}",
        headers=estate.identity("ops:test"),  # reservations are read by the write side (service or operator)
        timeout=10,
    ).json()
    assert reservations["state"] == "allocated" and reservations["expires_at"] is None
    # The last saga write released the order's lock with it.
    assert not estate.order_locked(order["id"])
    # Another owner does not see it.
    other = httpx.get(estate.url("process-orders") + f"/orders/{order['id']}", headers=estate.identity("web:c-2"))
    assert_problem(other, 404, "not-found")
    assert_problem(
        httpx.get(
            estate.url("process-orders") + f"/orders/{order['id']}/timeline",
            headers=estate.identity("partner:p-9"),
        ),
        404,
        "not-found",
    )


def test_split_only_when_partial_shipment_is_allowed(estate: TestEstate, orders: Orders) -> None:
    a, b = estate.fresh_skus(2)
    orders.set_dc_stock(a, tlb=4, zwl=0)
    orders.set_dc_stock(b, tlb=0, zwl=4)
    body = orders.body(a, 2)
    body["lines"].append({"line_id": "2", "sku": b, "qty": 2})
    problem = assert_problem(orders.place(body), 409, "insufficient-stock")
    assert {e["line_id"] for e in problem["errors"]} == {"2"} or {e["line_id"] for e in problem["errors"]} == {"1"}
    body["fulfilment"]["allow_partial"] = True
    response = orders.place(body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert {ln["line_id"]: ln["location"] for ln in order["lines"]} == {"1": "dc-tlb", "2": "dc-zwl"}
    assert orders.wms_orders([f"{order['id']}-1", f"{order['id']}-2"]) == {
        f"{order['id']}-1": 1,
        f"{order['id']}-2": 1,
    }
    assert orders.erp_orders([order["id"]]) == {order["id"]: 1}


def test_list_is_the_owners_newest_first_with_a_cursor(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=10)
    owner = f"mobile:{uuid.uuid4().hex[:12]}"
    ids = [orders.place(orders.body(sku), owner=owner).json()["id"] for _ in range(3)]
    url = estate.url("process-orders") + "/orders"
    first = httpx.get(url, params={"limit": 2}, headers=estate.identity(owner)).json()
    second = httpx.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=estate.identity(owner)).json()
    assert [o["id"] for o in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert httpx.get(url, headers=estate.identity("mobile:nobody-here")).json()["items"] == []
    assert_problem(httpx.get(url, params={"cursor": "%%%"}, headers=estate.identity(owner)), 400)


def test_bad_input_is_a_problem_never_a_500(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=3)
    url = estate.url("process-orders") + "/orders"
    assert_problem(httpx.post(url, json=orders.body(sku), headers=estate.identity("web:c-1")), 400)  # no key
    assert_problem(httpx.post(url, json=orders.body(sku), headers={"Idempotency-Key": "k1"}), 401)  # no identity
    for qty in (0, -1, 10_001, 10**12, "1", 1.5):
        assert_problem(orders.place(orders.body(sku, qty)), 400)  # type: ignore[arg-type]
    assert_problem(orders.place(orders.body(sku, extra_field=1)), 400)
    assert_problem(orders.place(orders.body("bad sku!")), 400)
    assert_problem(orders.place({**orders.body(sku), "lines": []}), 400)
    unknown = assert_problem(orders.place(orders.body("NO-SUCH-SKU-1")), 422, "unprocessable")
    assert unknown["errors"] == [{"line_id": "1", "sku": "NO-SUCH-SKU-1", "detail": "unknown SKU"}]
    store = assert_problem(orders.place(orders.body(sku, mode="pickup", store="store-nosuchstore")), 422)
    assert store["errors"][0]["detail"] == "unknown store"
    no_tax = orders.body(sku)
    no_tax["fulfilment"]["ship_to"] = {**no_tax["fulfilment"]["ship_to"], "country": "US"}
    assert_problem(orders.place(no_tax), 422, "unprocessable")
    assert_problem(orders.place({**orders.body(sku), "fulfilment": {"mode": "ship"}}), 400)
    twice = orders.body(sku)
    twice["lines"].append({"line_id": "1", "sku": sku, "qty": 1})
    # well-formed (the schema cannot say "unique by line_id") but not processable: 422 naming the duplicate
    duplicate = assert_problem(orders.place(twice), 422, "unprocessable")
    assert duplicate["errors"] == [{"field": "lines[].line_id", "value": "1", "detail": "duplicate"}]
    assert_problem(httpx.post(url, content=b"{not json", headers=orders.headers()), 400)
    assert_problem(httpx.get(estate.url("process-orders") + "/orders/nope!", headers=estate.identity("web:c-1")), 400)
    assert_problem(httpx.get(estate.url("process-orders") + "/returns/r0", headers=estate.identity("web:c-1")), 404)


# --- idempotency -------------------------------------------------------------------------------------------------


def test_idempotency_one_order_for_twenty_concurrent_posts_and_identical_replays(
    estate: TestEstate, orders: Orders
) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=20)
    key = uuid.uuid4().hex
    body = orders.body(sku, 2)
    answers = burst(orders, [(body, orders.headers("web:c-1", key))] * 20)
    created = [a for a in answers if a.status_code == 201]
    busy = [a for a in answers if a.status_code == 409]
    assert len(created) + len(busy) == 20, [a.status_code for a in answers]
    assert created, "the first request must have been answered (or replayed) as created"
    assert len({a.content for a in created}) == 1 and len({a.headers["location"] for a in created}) == 1
    for answer in busy:
        assert_problem(answer, 409, "request-in-flight")
        assert answer.headers["retry-after"] == "1"  # the first answers within a second, not a lease TTL later
    order_id = created[0].json()["id"]
    replay = orders.place(body, key=key)
    assert (replay.status_code, replay.content, replay.headers["location"]) == (
        201,
        created[0].content,
        created[0].headers["location"],
    )
    assert orders.erp_orders([order_id]) == {order_id: 1}
    assert orders.wms_orders([order_id]) == {order_id: 1}
    assert orders.atp(sku)["dc-tlb"] == 18
    # Scoped by owner: the same key from another owner is another order.
    other = orders.place(body, owner="partner:p-1", key=key)
    assert other.status_code == 201 and other.json()["id"] != order_id
    # Same key, different body.
    assert_problem(orders.place(orders.body(sku, 3), key=key), 422, "idempotency-key-reused")


def test_a_rejection_is_what_a_replay_returns(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=1)
    key = uuid.uuid4().hex
    first = orders.place(orders.body(sku, 2), key=key)
    problem = assert_problem(first, 409, "insufficient-stock")
    assert problem["errors"] == [{"line_id": "1", "sku": sku, "location": "dc-tlb", "requested": 2, "available": 1}]
    orders.set_dc_stock(sku, tlb=5)
    again = orders.place(orders.body(sku, 2), key=key)
    assert (again.status_code, again.content) == (409, first.content)


# --- no oversell ---------------------------------------------------------------------------------------------


def test_no_oversell_200_concurrent_orders_for_50_units(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=50, zwl=0)
    answers = burst(orders, [(orders.body(sku), orders.headers(f"web:buyer-{n}")) for n in range(200)])
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 50, 409: 150}, (statuses, [a.text for a in answers if a.status_code == 503][:2])
    for answer in answers:
        if answer.status_code == 409:
            problem = assert_problem(answer, 409, "insufficient-stock")
            assert problem["errors"][0]["line_id"] == "1" and problem["errors"][0]["sku"] == sku
    assert len({a.headers["x-served-by"] for a in answers}) == estate.workers("process-orders")
    ids = [a.json()["id"] for a in answers if a.status_code == 201]
    assert all(a.json()["state"] == "released" for a in answers if a.status_code == 201)
    assert orders.atp(sku)["dc-tlb"] == 0
    marks = ",".join("?" * len(ids))
    lines = estate.sql(
        "sandbox-wms",
        "SELECT sum(l.quantity), count(*) FROM order_products l JOIN orders o ON o.id = l.order_id "
        f"JOIN inventory i ON i.id = l.inventory_id WHERE o.reference_id IN ({marks}) AND i.sku = ?",
        (*ids, sku),
    )
    assert lines == [(50, 50)]
    assert sum(orders.erp_orders(ids).values()) == 50


# --- outage ----------------------------------------------------------------------------------------------------


def test_erp_outage_accepts_what_stock_covers_and_finishes_after(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=60, zwl=0)
    assert httpx.put(estate.url("sandbox-erp") + "/_faults", json={"outage": True}).status_code == 200
    answers = burst(orders, [(orders.body(sku), orders.headers(f"web:outage-{n}")) for n in range(100)])
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {202: 60, 409: 40}, statuses
    accepted = [a.json() for a in answers if a.status_code == 202]
    assert {o["state"] for o in accepted} == {"pending_backend"}
    assert all(a.headers["location"] == f"/orders/{a.json()['id']}" for a in answers if a.status_code == 202)
    ids = [o["id"] for o in accepted]
    assert orders.atp(sku)["dc-tlb"] == 0
    estate.clear_faults()
    estate.wait_for(
        lambda: all(estate.order_record(i)["state"] == "released" for i in ids),
        timeout=40,
        interval=0.3,
        what="all 60 released after the ERP is back",
    )
    assert orders.erp_orders(ids) == {i: 1 for i in ids}
    assert set(orders.erp_states(ids).values()) == {"sale"}
    assert orders.wms_orders(ids) == {i: 1 for i in ids}
    some = accepted[0]["id"]
    states = [e["state"] for e in orders.timeline(some, owner=accepted[0]["owner"])]
    assert "pending_backend" in states and states[-1] == "released"


# --- crash and replicas --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sandbox", "route", "step"),
    [
        ("sandbox-erp", "/json/2/sale.order/create", "erp_order"),
        ("sandbox-erp", "/json/2/sale.order/action_confirm", "erp_confirm"),
        ("sandbox-wms", "/2026-01/order", "release"),
    ],
)
def test_kill_at_a_step_boundary_then_every_saga_resumes_once(
    estate: TestEstate, orders: Orders, sandbox: str, route: str, step: str
) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=30)
    ids, thread = orders.pause_at(sku, sandbox=sandbox, route=route, step=step, count=8)
    estate.restart("process-orders", kill=True)
    thread.join(30)
    estate.clear_faults()
    estate.wait_for(
        lambda: all(estate.order_record(i)["state"] == "released" for i in ids),
        timeout=30,
        interval=0.2,
        what="every order released after the restart",
    )
    assert orders.erp_orders(ids) == {i: 1 for i in ids}
    assert set(orders.erp_states(ids).values()) == {"sale"}
    assert orders.wms_orders(ids) == {i: 1 for i in ids}
    # Replicas: both workers of the restarted deployable run the retry loop, yet each saga was claimed once.
    claims = estate.saga_claims()
    assert {i: claims.get(f"o:{i}", 0) for i in ids} == {i: 1 for i in ids}
    assert len(estate.saga_pollers()) >= estate.workers("process-orders")
    assert orders.atp(sku)["dc-tlb"] == 30 - len(ids)


# --- fulfilment events, cancel ---------------------------------------------------------------------------------


def pickup_store(orders: Orders, sku: str) -> tuple[str, int]:
    stock = orders.atp(sku)
    store = max((loc for loc in stock if loc.startswith("store-")), key=lambda loc: stock[loc])
    return store, stock[store]


def test_events_advance_ship_and_pickup_orders(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    ship = orders.place(orders.body(sku, 1)).json()
    assert httpx.post(estate.url("sandbox-wms") + "/_sim/ship", json={"order_reference": ship["id"]}).status_code == 200
    orders.wait_state(ship["id"], "shipped")
    assert (
        httpx.post(estate.url("sandbox-wms") + "/_sim/deliver", json={"order_reference": ship["id"]}).status_code == 200
    )
    orders.wait_state(ship["id"], "delivered")
    store, available = pickup_store(orders, sku)
    assert available >= 1
    response = orders.place(orders.body(sku, 1, mode="pickup", store=store))
    assert response.status_code == 201, response.text
    pickup = response.json()
    assert pickup["lines"][0]["location"] == store
    released = [e for e in orders.timeline(pickup["id"]) if e["state"] == "released"][0]
    assert released["system"] == "pos"
    pos_order = released["document_id"]
    assert httpx.post(estate.url("sandbox-pos") + "/_sim/pickup-ready", json={"order_id": pos_order}).status_code == 200
    orders.wait_state(pickup["id"], "ready_for_pickup")
    assert httpx.post(estate.url("sandbox-pos") + "/_sim/picked-up", json={"order_id": pos_order}).status_code == 200
    orders.wait_state(pickup["id"], "picked_up")
    wanted = [
        f"order.{s}" for s in ("received", "reserved", "accepted", "confirmed", "released", "shipped", "delivered")
    ]

    def relayed() -> list[str]:
        mine = [e for e in estate.events("orders") if e["key"] == ship["id"]]
        # Each transition is its own event, named by the order's transition count: orders:<id>:<seq>:<state>.
        assert all(e["id"] == f"orders:{ship['id']}:{n}:{e['type'][6:]}" for n, e in enumerate(mine, start=1))
        return [e["type"] for e in mine]

    estate.wait_for(lambda: relayed() == wanted, timeout=10, what="order lifecycle events relayed to the orders stream")


def test_cancel_before_release_compensates_and_after_release_is_409(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=6)
    assert httpx.put(estate.url("sandbox-wms") + "/_faults", json={"outage": True}).status_code == 200
    response = orders.place(orders.body(sku, 2))
    assert response.status_code == 202, response.text
    order = response.json()
    assert order["state"] == "pending_backend" and orders.atp(sku)["dc-tlb"] == 4
    cancel = httpx.post(
        estate.url("process-orders") + f"/orders/{order['id']}/cancel",
        json={"reason": "changed mind"},
        headers=estate.identity("web:c-1"),
        timeout=30,
    )
    # The WMS answered the create with a 5xx: a fulfilment order may exist. The cancel is accepted (202) and
    # finishes once the WMS can be asked (the system API waits out the create's outcome first).
    assert cancel.status_code == 202, cancel.text
    again = httpx.post(
        estate.url("process-orders") + f"/orders/{order['id']}/cancel",
        json={},
        headers=estate.identity("web:c-1"),
        timeout=30,
    )
    assert again.status_code in (200, 202), again.text
    estate.clear_faults()
    orders.wait_state(order["id"], "cancelled", timeout=30)
    assert orders.erp_states([order["id"]]) == {order["id"]: "cancel"}
    assert orders.wms_orders([order["id"]]) == {}, "the outage kept the create from the WMS"
    assert orders.atp(sku)["dc-tlb"] == 6
    done = httpx.post(
        estate.url("process-orders") + f"/orders/{order['id']}/cancel",
        json={},
        headers=estate.identity("web:c-1"),
        timeout=30,
    )
    assert done.status_code == 200 and done.json()["state"] == "cancelled"
    estate.wait_until_every_worker_answers("system-wms", f"/stock/{sku}")
    released = orders.place(orders.body(sku, 1))
    assert released.status_code == 201, released.text
    late = httpx.post(
        estate.url("process-orders") + f"/orders/{released.json()['id']}/cancel",
        json={},
        headers=estate.identity("web:c-1"),
        timeout=30,
    )
    assert_problem(late, 409, "conflict")
    assert_problem(
        httpx.post(
            estate.url("process-orders") + f"/orders/{released.json()['id']}/cancel",
            json={},
            headers=estate.identity("web:other"),
        ),
        404,
    )


# --- returns ---------------------------------------------------------------------------------------------------


def test_returns_at_a_dc_and_at_a_store_end_refunded_with_stock_back(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    order = orders.place(orders.body(sku, 2)).json()
    url = estate.url("process-orders") + f"/orders/{order['id']}/returns"
    owner = estate.identity("web:c-1")
    early = httpx.post(url, json={"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"}, headers=keyed(owner))
    assert_problem(early, 409, "conflict")  # not delivered yet
    httpx.post(estate.url("sandbox-wms") + "/_sim/ship", json={"order_reference": order["id"]}).raise_for_status()
    httpx.post(estate.url("sandbox-wms") + "/_sim/deliver", json={"order_reference": order["id"]}).raise_for_status()
    orders.wait_state(order["id"], "delivered")
    assert_problem(
        httpx.post(url, json={"lines": [{"line_id": "1", "qty": 3}], "location": "dc-tlb"}, headers=keyed(owner)), 422
    )
    assert_problem(
        httpx.post(url, json={"lines": [{"line_id": "9", "qty": 1}], "location": "dc-tlb"}, headers=keyed(owner)), 422
    )
    # One return line per order line, as one order line per line id: a line named twice is refused, not summed.
    twice = {"lines": [{"line_id": "1", "qty": 1}, {"line_id": "1", "qty": 1}], "location": "dc-tlb"}
    problem = assert_problem(httpx.post(url, json=twice, headers=keyed(owner)), 422, "unprocessable")
    assert problem["errors"] == [{"field": "lines[].line_id", "value": "1", "detail": "duplicate"}]
    before = orders.atp(sku)["dc-tlb"]
    response = httpx.post(
        url,
        json={"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb", "reason": "too small"},
        headers=keyed(owner),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    ret = response.json()
    assert ret["state"] == "return_requested" and response.headers["location"] == f"/returns/{ret['id']}"
    httpx.post(estate.url("sandbox-wms") + "/_sim/receive", json={"reference": ret["id"]}).raise_for_status()
    get_return = estate.url("process-orders") + f"/returns/{ret['id']}"
    estate.wait_for(
        lambda: httpx.get(get_return, headers=owner).json()["state"] == "refunded",
        timeout=15,
        what="DC return refunded",
    )
    estate.wait_for(lambda: orders.atp(sku)["dc-tlb"] == before + 1, timeout=10, what="returned unit back in ATP")
    memos = estate.sql("sandbox-erp", "SELECT state, move_type FROM account_move WHERE ref = ?", (ret["id"],))
    assert memos == [("posted", "out_refund")]
    assert_problem(httpx.get(get_return, headers=estate.identity("web:c-2")), 404)
    states = [e["state"] for e in orders.timeline(order["id"])]
    assert states[-3:] == ["return_received", "restocked", "refunded"]
    # The second unit, at a store counter: refunded at once, stock back at the store.
    store, _ = pickup_store(orders, sku)
    store_before = orders.atp(sku)[store]
    response = httpx.post(
        url, json={"lines": [{"line_id": "1", "qty": 1}], "location": store}, headers=keyed(owner), timeout=30
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "refunded"
    estate.wait_for(lambda: orders.atp(sku)[store] == store_before + 1, timeout=10, what="store return in ATP")
    store_ret = response.json()["id"]
    assert estate.sql("sandbox-erp", "SELECT count(*) FROM account_move WHERE ref = ?", (store_ret,)) == [(1,)]
    # Everything is back now: nothing more to return.
    assert_problem(
        httpx.post(url, json={"lines": [{"line_id": "1", "qty": 1}], "location": store}, headers=keyed(owner)), 422
    )
    estate.wait_for(
        lambda: "return.refunded" in {e["type"] for e in estate.events("returns") if e["key"] == ret["id"]},
        timeout=10,
        what="return events relayed to the returns stream",
    )
