"""process-orders against the live estate (real Redis, real processes, 2 workers per process deployable).

Each test takes its own SKUs (from the end of the seeded catalogue) and sets their DC stock through the WMS
sandbox (a cycle count, which reaches the availability projection as ``inventory.counted``), so the tests do
not depend on each other or on the seed's quantities. Documents are counted in the sandboxes' own SQLite files.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.estate import TestEstate, assert_problem

pytestmark = pytest.mark.estate

ADDRESS = {
    "name": "Anna de Vries",
    "line1": "Keizersgracht 1",
    "city": "Amsterdam",
    "postal_code": "1015 CJ",
    "country": "NL",
}


# --- helpers ---------------------------------------------------------------------------------------------------


def skus(estate: TestEstate, n: int = 1) -> list[str]:
    return estate.fresh_skus(n)


def atp(estate: TestEstate, sku: str) -> dict[str, int]:
    answer = httpx.post(estate.url("process-availability") + "/availability/query", json={"skus": [sku]}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {a["location"]: a["available"] for a in answer.json()["items"][0]["locations"]}


def set_dc_stock(estate: TestEstate, sku: str, tlb: int, zwl: int = 0) -> None:
    """Count the SKU at both DCs and wait until the projection shows exactly that ATP."""
    for warehouse, qty in (("TLB", tlb), ("ZWL", zwl)):
        response = httpx.post(
            estate.url("sandbox-wms") + "/_sim/count",
            json={"warehouse": warehouse, "sku": sku, "on_hand": qty},
            timeout=10,
        )
        assert response.status_code == 200, response.text
    estate.wait_for(
        lambda: (lambda a: a.get("dc-tlb") == tlb and a.get("dc-zwl") == zwl)(atp(estate, sku)),
        timeout=10,
        what=f"ATP of {sku} = {tlb}/{zwl}",
    )


def order_body(sku: str, qty: int = 1, *, mode: str = "ship", store: str | None = None, **extra: Any) -> dict[str, Any]:
    fulfilment: dict[str, Any] = {"mode": mode}
    if mode == "ship":
        fulfilment["ship_to"] = ADDRESS
    else:
        fulfilment["store"] = store
    body = {
        "customer": {"id": "c-1", "name": "Anna de Vries"},
        "fulfilment": fulfilment,
        "lines": [{"line_id": "1", "sku": sku, "qty": qty}],
        "currency": "EUR",
        "payment_reference": "psp_1",
    }
    body.update(extra)
    return body


def headers(owner: str = "web:c-1", key: str | None = None) -> dict[str, str]:
    return {"X-Omnigate-Owner": owner, "Idempotency-Key": key or uuid.uuid4().hex}


def keyed(owner: dict[str, str]) -> dict[str, str]:
    """The owner header plus a fresh Idempotency-Key (required on every request that creates something)."""
    return {**owner, "Idempotency-Key": uuid.uuid4().hex}


def place(estate: TestEstate, body: dict[str, Any], owner: str = "web:c-1", key: str | None = None) -> httpx.Response:
    return httpx.post(estate.url("process-orders") + "/orders", json=body, headers=headers(owner, key), timeout=30)


def get_order(estate: TestEstate, order_id: str, owner: str = "web:c-1") -> dict[str, Any]:
    response = httpx.get(
        estate.url("process-orders") + f"/orders/{order_id}", headers={"X-Omnigate-Owner": owner}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def timeline(estate: TestEstate, order_id: str, owner: str = "web:c-1") -> list[dict[str, Any]]:
    response = httpx.get(
        estate.url("process-orders") + f"/orders/{order_id}/timeline", headers={"X-Omnigate-Owner": owner}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_state(estate: TestEstate, order_id: str, state: str, timeout: float = 15, owner: str = "web:c-1") -> None:
    estate.wait_for(
        lambda: get_order(estate, order_id, owner)["state"] == state, timeout=timeout, what=f"order {order_id} {state}"
    )


async def _burst(url: str, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as client:
        return await asyncio.gather(*(client.post(url, json=body, headers=h) for body, h in requests))


def burst(estate: TestEstate, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    return asyncio.run(_burst(estate.url("process-orders") + "/orders", requests))


def sql(estate: TestEstate, name: str, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{estate.db_path(name)}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def erp_orders(estate: TestEstate, refs: list[str]) -> Counter[str]:
    marks = ",".join("?" * len(refs))
    rows = sql(
        estate,
        "sandbox-erp",
        f"SELECT client_order_ref FROM sale_order WHERE client_order_ref IN ({marks})",
        tuple(refs),
    )
    return Counter(r[0] for r in rows)


def erp_states(estate: TestEstate, refs: list[str]) -> dict[str, str]:
    marks = ",".join("?" * len(refs))
    rows = sql(
        estate,
        "sandbox-erp",
        f"SELECT client_order_ref, state FROM sale_order WHERE client_order_ref IN ({marks})",
        tuple(refs),
    )
    return dict(rows)


def wms_orders(estate: TestEstate, refs: list[str]) -> Counter[str]:
    marks = ",".join("?" * len(refs))
    rows = sql(
        estate,
        "sandbox-wms",
        f"SELECT order_reference FROM fulfillment_orders WHERE order_reference IN ({marks})",
        tuple(refs),
    )
    return Counter(r[0] for r in rows)


def record(estate: TestEstate, order_id: str) -> dict[str, Any]:
    raw = estate.redis.get(f"{estate.prefix}omnigate.orders:order:{order_id}")
    assert raw is not None
    return json.loads(raw)  # type: ignore[no-any-return]


def clear_faults(estate: TestEstate) -> None:
    for name in ("sandbox-erp", "sandbox-wms", "sandbox-pos"):
        assert httpx.delete(estate.url(name) + "/_faults", timeout=10).status_code == 204


@pytest.fixture(autouse=True)
def _faults_cleared(estate: TestEstate) -> Any:
    yield
    clear_faults(estate)


# --- happy paths and reads -----------------------------------------------------------------------------------


def test_ship_order_is_released_with_prices_tax_and_a_timeline(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=5, zwl=9)
    price = httpx.get(estate.url("system-erp") + f"/prices/{sku}", timeout=10).json()["amount"]
    response = place(estate, order_body(sku, 3))
    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["location"] == f"/orders/{order['id']}"
    assert order["state"] == "released"
    assert order["lines"][0]["unit_price"] == price and order["lines"][0]["location"] == "dc-zwl"  # most ATP
    assert order["total"] == 3 * price and order["tax"] == 3 * price - round(3 * price / 1.21)
    assert erp_states(estate, [order["id"]]) == {order["id"]: "sale"}
    assert wms_orders(estate, [order["id"]]) == {order["id"]: 1}
    assert atp(estate, sku)["dc-zwl"] == 6
    entries = timeline(estate, order["id"])
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
    reservations = httpx.get(estate.url("process-availability") + f"/reservations/{order['id']}", timeout=10).json()
    assert reservations["state"] == "allocated" and reservations["expires_at"] is None
    # The last saga write released the order's lock with it.
    assert estate.redis.exists(f"{estate.prefix}omnigate.lock:order:{order['id']}") == 0
    # Another owner does not see it.
    other = httpx.get(estate.url("process-orders") + f"/orders/{order['id']}", headers={"X-Omnigate-Owner": "web:c-2"})
    assert_problem(other, 404, "not-found")
    assert_problem(
        httpx.get(
            estate.url("process-orders") + f"/orders/{order['id']}/timeline",
            headers={"X-Omnigate-Owner": "partner:p-9"},
        ),
        404,
        "not-found",
    )


def test_split_only_when_partial_shipment_is_allowed(estate: TestEstate) -> None:
    a, b = skus(estate, 2)
    set_dc_stock(estate, a, tlb=4, zwl=0)
    set_dc_stock(estate, b, tlb=0, zwl=4)
    body = order_body(a, 2)
    body["lines"].append({"line_id": "2", "sku": b, "qty": 2})
    problem = assert_problem(place(estate, body), 409, "insufficient-stock")
    assert {e["line_id"] for e in problem["errors"]} == {"2"} or {e["line_id"] for e in problem["errors"]} == {"1"}
    body["fulfilment"]["allow_partial"] = True
    response = place(estate, body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert {ln["line_id"]: ln["location"] for ln in order["lines"]} == {"1": "dc-tlb", "2": "dc-zwl"}
    assert wms_orders(estate, [f"{order['id']}-1", f"{order['id']}-2"]) == {
        f"{order['id']}-1": 1,
        f"{order['id']}-2": 1,
    }
    assert erp_orders(estate, [order["id"]]) == {order["id"]: 1}


def test_list_is_the_owners_newest_first_with_a_cursor(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=10)
    owner = f"mobile:{uuid.uuid4().hex[:12]}"
    ids = [place(estate, order_body(sku), owner=owner).json()["id"] for _ in range(3)]
    url = estate.url("process-orders") + "/orders"
    first = httpx.get(url, params={"limit": 2}, headers={"X-Omnigate-Owner": owner}).json()
    second = httpx.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers={"X-Omnigate-Owner": owner}
    ).json()
    assert [o["id"] for o in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert httpx.get(url, headers={"X-Omnigate-Owner": "mobile:nobody-here"}).json()["items"] == []
    assert_problem(httpx.get(url, params={"cursor": "%%%"}, headers={"X-Omnigate-Owner": owner}), 400)


def test_bad_input_is_a_problem_never_a_500(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=3)
    url = estate.url("process-orders") + "/orders"
    assert_problem(httpx.post(url, json=order_body(sku), headers={"X-Omnigate-Owner": "web:c-1"}), 400)  # no key
    assert_problem(httpx.post(url, json=order_body(sku), headers={"Idempotency-Key": "k1"}), 400)  # no owner
    assert_problem(httpx.post(url, json=order_body(sku), headers=headers(owner="nobody")), 400)
    for qty in (0, -1, 10_001, 10**12, "1", 1.5):
        assert_problem(place(estate, order_body(sku, qty)), 400)  # type: ignore[arg-type]
    assert_problem(place(estate, order_body(sku, extra_field=1)), 400)
    assert_problem(place(estate, order_body("bad sku!")), 400)
    assert_problem(place(estate, {**order_body(sku), "lines": []}), 400)
    unknown = assert_problem(place(estate, order_body("NO-SUCH-SKU-1")), 422, "unprocessable")
    assert unknown["errors"] == [{"line_id": "1", "sku": "NO-SUCH-SKU-1", "detail": "unknown SKU"}]
    store = assert_problem(place(estate, order_body(sku, mode="pickup", store="store-nosuchstore")), 422)
    assert store["errors"][0]["detail"] == "unknown store"
    no_tax = order_body(sku)
    no_tax["fulfilment"]["ship_to"] = {**ADDRESS, "country": "US"}
    assert_problem(place(estate, no_tax), 422, "unprocessable")
    assert_problem(place(estate, {**order_body(sku), "fulfilment": {"mode": "ship"}}), 400)
    twice = order_body(sku)
    twice["lines"].append({"line_id": "1", "sku": sku, "qty": 1})
    assert_problem(place(estate, twice), 400)
    assert_problem(httpx.post(url, content=b"{not json", headers=headers()), 400)
    assert_problem(
        httpx.get(estate.url("process-orders") + "/orders/nope!", headers={"X-Omnigate-Owner": "web:c-1"}), 404
    )
    assert_problem(
        httpx.get(estate.url("process-orders") + "/returns/r0", headers={"X-Omnigate-Owner": "web:c-1"}), 404
    )


# --- idempotency -------------------------------------------------------------------------------------------------


def test_idempotency_one_order_for_twenty_concurrent_posts_and_identical_replays(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=20)
    key = uuid.uuid4().hex
    body = order_body(sku, 2)
    answers = burst(estate, [(body, headers("web:c-1", key))] * 20)
    created = [a for a in answers if a.status_code == 201]
    busy = [a for a in answers if a.status_code == 409]
    assert len(created) + len(busy) == 20, [a.status_code for a in answers]
    assert created, "the first request must have been answered (or replayed) as created"
    assert len({a.content for a in created}) == 1 and len({a.headers["location"] for a in created}) == 1
    for answer in busy:
        assert_problem(answer, 409, "request-in-flight")
    order_id = created[0].json()["id"]
    replay = place(estate, body, key=key)
    assert (replay.status_code, replay.content, replay.headers["location"]) == (
        201,
        created[0].content,
        created[0].headers["location"],
    )
    assert erp_orders(estate, [order_id]) == {order_id: 1}
    assert wms_orders(estate, [order_id]) == {order_id: 1}
    assert atp(estate, sku)["dc-tlb"] == 18
    # Scoped by owner: the same key from another owner is another order.
    other = place(estate, body, owner="partner:p-1", key=key)
    assert other.status_code == 201 and other.json()["id"] != order_id
    # Same key, different body.
    assert_problem(place(estate, order_body(sku, 3), key=key), 422, "idempotency-key-reused")


def test_a_rejection_is_what_a_replay_returns(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=1)
    key = uuid.uuid4().hex
    first = place(estate, order_body(sku, 2), key=key)
    problem = assert_problem(first, 409, "insufficient-stock")
    assert problem["errors"] == [{"line_id": "1", "sku": sku, "location": "dc-tlb", "requested": 2, "available": 1}]
    set_dc_stock(estate, sku, tlb=5)
    again = place(estate, order_body(sku, 2), key=key)
    assert (again.status_code, again.content) == (409, first.content)


# --- no oversell ---------------------------------------------------------------------------------------------


def test_no_oversell_200_concurrent_orders_for_50_units(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=50, zwl=0)
    answers = burst(estate, [(order_body(sku), headers(f"web:buyer-{n}")) for n in range(200)])
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 50, 409: 150}, statuses
    for answer in answers:
        if answer.status_code == 409:
            problem = assert_problem(answer, 409, "insufficient-stock")
            assert problem["errors"][0]["line_id"] == "1" and problem["errors"][0]["sku"] == sku
    assert len({a.headers["x-served-by"] for a in answers}) == estate.workers("process-orders")
    ids = [a.json()["id"] for a in answers if a.status_code == 201]
    assert all(a.json()["state"] == "released" for a in answers if a.status_code == 201)
    assert atp(estate, sku)["dc-tlb"] == 0
    marks = ",".join("?" * len(ids))
    lines = sql(
        estate,
        "sandbox-wms",
        "SELECT sum(l.quantity), count(*) FROM fulfillment_order_lines l JOIN fulfillment_orders o "
        f"ON o.id = l.order_id WHERE o.order_reference IN ({marks}) AND l.sku = ?",
        (*ids, sku),
    )
    assert lines == [(50, 50)]
    assert sum(erp_orders(estate, ids).values()) == 50


# --- outage ----------------------------------------------------------------------------------------------------


def test_erp_outage_accepts_what_stock_covers_and_finishes_after(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=60, zwl=0)
    assert httpx.put(estate.url("sandbox-erp") + "/_faults", json={"outage": True}).status_code == 200
    answers = burst(estate, [(order_body(sku), headers(f"web:outage-{n}")) for n in range(100)])
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {202: 60, 409: 40}, statuses
    accepted = [a.json() for a in answers if a.status_code == 202]
    assert {o["state"] for o in accepted} == {"pending_backend"}
    assert all(a.headers["location"] == f"/orders/{a.json()['id']}" for a in answers if a.status_code == 202)
    ids = [o["id"] for o in accepted]
    assert atp(estate, sku)["dc-tlb"] == 0
    clear_faults(estate)
    estate.wait_for(
        lambda: all(record(estate, i)["state"] == "released" for i in ids),
        timeout=40,
        interval=0.3,
        what="all 60 released after the ERP is back",
    )
    assert erp_orders(estate, ids) == {i: 1 for i in ids}
    assert set(erp_states(estate, ids).values()) == {"sale"}
    assert wms_orders(estate, ids) == {i: 1 for i in ids}
    some = accepted[0]["id"]
    states = [e["state"] for e in timeline(estate, some, owner=accepted[0]["owner"])]
    assert "pending_backend" in states and states[-1] == "released"


# --- crash and replicas --------------------------------------------------------------------------------------


def idempotency_record(estate: TestEstate, owner: str, key: str) -> str:
    return f"{estate.prefix}omnigate.idem:process-orders:{owner}:{key}"


def pause_orders_at(
    estate: TestEstate,
    sku: str,
    *,
    sandbox: str,
    route: str,
    step: str,
    count: int,
    started: dict[str, tuple[str, str]] | None = None,
) -> tuple[list[str], threading.Thread]:
    """Place ``count`` orders while the sandbox answers ``route`` slowly (below the hop timeout), and return
    once every one of them is written and parked at ``step``: a step boundary a crash can hit. ``started``
    (if given) receives, per order id, the owner and Idempotency-Key that placed it."""
    latency = {"route": route, "latency_ms": 1200}
    assert httpx.put(estate.url(sandbox) + "/_faults", json=latency).status_code == 200
    owners = [f"web:pause-{step}-{uuid.uuid4().hex[:8]}-{n}" for n in range(count)]
    keys = [uuid.uuid4().hex for _ in owners]
    url = estate.url("process-orders") + "/orders"

    async def fire() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(
                *(client.post(url, json=order_body(sku), headers=headers(o, k)) for o, k in zip(owners, keys)),
                return_exceptions=True,
            )

    thread = threading.Thread(target=lambda: asyncio.run(fire()))
    thread.start()
    idem = [idempotency_record(estate, o, k) for o, k in zip(owners, keys)]

    def paused() -> list[str] | None:
        ids = [estate.redis.hget(key, "id") for key in idem]
        if None in ids:
            return None
        order_ids = [i.decode() for i in ids if i is not None]
        if started is not None:
            started.update({i: (o, k) for i, o, k in zip(order_ids, owners, keys)})
        # The key names its order before the order is written (pricing and sourcing come first).
        raws = [estate.redis.get(f"{estate.prefix}omnigate.orders:order:{i}") for i in order_ids]
        if None in raws or not all(record(estate, i)["step"] == step for i in order_ids):
            return None
        return order_ids

    return estate.wait_for(paused, timeout=20, interval=0.02, what=f"every order paused at {step}"), thread


@pytest.mark.parametrize(
    ("sandbox", "route", "step"),
    [
        ("sandbox-erp", "/json/2/sale.order/create", "erp_order"),
        ("sandbox-erp", "/json/2/sale.order/action_confirm", "erp_confirm"),
        ("sandbox-wms", "/api/v1/fulfillment-orders", "release"),
    ],
)
def test_kill_at_a_step_boundary_then_every_saga_resumes_once(
    estate: TestEstate, sandbox: str, route: str, step: str
) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=30)
    ids, thread = pause_orders_at(estate, sku, sandbox=sandbox, route=route, step=step, count=8)
    estate.restart("process-orders", kill=True)
    thread.join(30)
    clear_faults(estate)
    estate.wait_for(
        lambda: all(record(estate, i)["state"] == "released" for i in ids),
        timeout=30,
        interval=0.2,
        what="every order released after the restart",
    )
    assert erp_orders(estate, ids) == {i: 1 for i in ids}
    assert set(erp_states(estate, ids).values()) == {"sale"}
    assert wms_orders(estate, ids) == {i: 1 for i in ids}
    # Replicas: both workers of the restarted deployable run the retry loop, yet each saga was claimed once.
    claims = estate.redis.hgetall(f"{estate.prefix}omnigate.orders:claims")
    assert {i: int(claims.get(f"o:{i}".encode(), 0)) for i in ids} == {i: 1 for i in ids}
    pollers = estate.redis.hgetall(f"{estate.prefix}omnigate.orders:workers")
    assert len(pollers) >= estate.workers("process-orders")
    assert atp(estate, sku)["dc-tlb"] == 30 - len(ids)


# --- fulfilment events, cancel ---------------------------------------------------------------------------------


def pickup_store(estate: TestEstate, sku: str) -> tuple[str, int]:
    stock = atp(estate, sku)
    store = max((loc for loc in stock if loc.startswith("store-")), key=lambda loc: stock[loc])
    return store, stock[store]


def test_events_advance_ship_and_pickup_orders(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=5)
    ship = place(estate, order_body(sku, 1)).json()
    assert httpx.post(estate.url("sandbox-wms") + "/_sim/ship", json={"order_reference": ship["id"]}).status_code == 200
    wait_state(estate, ship["id"], "shipped")
    assert (
        httpx.post(estate.url("sandbox-wms") + "/_sim/deliver", json={"order_reference": ship["id"]}).status_code == 200
    )
    wait_state(estate, ship["id"], "delivered")
    store, available = pickup_store(estate, sku)
    assert available >= 1
    response = place(estate, order_body(sku, 1, mode="pickup", store=store))
    assert response.status_code == 201, response.text
    pickup = response.json()
    assert pickup["lines"][0]["location"] == store
    released = [e for e in timeline(estate, pickup["id"]) if e["state"] == "released"][0]
    assert released["system"] == "pos"
    pos_order = released["document_id"]
    assert httpx.post(estate.url("sandbox-pos") + "/_sim/pickup-ready", json={"order_id": pos_order}).status_code == 200
    wait_state(estate, pickup["id"], "ready_for_pickup")
    assert httpx.post(estate.url("sandbox-pos") + "/_sim/picked-up", json={"order_id": pos_order}).status_code == 200
    wait_state(estate, pickup["id"], "picked_up")
    wanted = [
        f"order.{s}" for s in ("received", "reserved", "accepted", "confirmed", "released", "shipped", "delivered")
    ]

    def relayed() -> list[str]:
        mine = [
            json.loads(f[b"data"])
            for _, f in estate.redis.xrange(estate.stream("orders"))
            if json.loads(f[b"data"])["key"] == ship["id"]
        ]
        # Each transition is its own event, named by the order's transition count: orders:<id>:<seq>:<state>.
        assert all(e["id"] == f"orders:{ship['id']}:{n}:{e['type'][6:]}" for n, e in enumerate(mine, start=1))
        return [e["type"] for e in mine]

    estate.wait_for(lambda: relayed() == wanted, timeout=10, what="order lifecycle events relayed to the orders stream")


def test_cancel_before_release_compensates_and_after_release_is_409(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=6)
    assert httpx.put(estate.url("sandbox-wms") + "/_faults", json={"outage": True}).status_code == 200
    response = place(estate, order_body(sku, 2))
    assert response.status_code == 202, response.text
    order = response.json()
    assert order["state"] == "pending_backend" and atp(estate, sku)["dc-tlb"] == 4
    cancel = httpx.post(
        estate.url("process-orders") + f"/orders/{order['id']}/cancel",
        json={"reason": "changed mind"},
        headers={"X-Omnigate-Owner": "web:c-1"},
        timeout=30,
    )
    # The WMS answered the create with a 5xx: a fulfilment order may exist. The cancel is accepted (202) and
    # finishes once the WMS can be asked (the system API waits out the create's outcome first).
    assert cancel.status_code == 202, cancel.text
    again = httpx.post(
        estate.url("process-orders") + f"/orders/{order['id']}/cancel",
        json={},
        headers={"X-Omnigate-Owner": "web:c-1"},
        timeout=30,
    )
    assert again.status_code in (200, 202), again.text
    clear_faults(estate)
    wait_state(estate, order["id"], "cancelled", timeout=30)
    assert erp_states(estate, [order["id"]]) == {order["id"]: "cancel"}
    assert wms_orders(estate, [order["id"]]) == {}, "the outage kept the create from the WMS"
    assert atp(estate, sku)["dc-tlb"] == 6
    done = httpx.post(
        estate.url("process-orders") + f"/orders/{order['id']}/cancel",
        json={},
        headers={"X-Omnigate-Owner": "web:c-1"},
        timeout=30,
    )
    assert done.status_code == 200 and done.json()["state"] == "cancelled"
    estate.wait_until_every_worker_answers("system-wms", f"/stock/{sku}")
    released = place(estate, order_body(sku, 1))
    assert released.status_code == 201, released.text
    late = httpx.post(
        estate.url("process-orders") + f"/orders/{released.json()['id']}/cancel",
        json={},
        headers={"X-Omnigate-Owner": "web:c-1"},
        timeout=30,
    )
    assert_problem(late, 409, "conflict")
    assert_problem(
        httpx.post(
            estate.url("process-orders") + f"/orders/{released.json()['id']}/cancel",
            json={},
            headers={"X-Omnigate-Owner": "web:other"},
        ),
        404,
    )


# --- returns ---------------------------------------------------------------------------------------------------


def test_returns_at_a_dc_and_at_a_store_end_refunded_with_stock_back(estate: TestEstate) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=5)
    order = place(estate, order_body(sku, 2)).json()
    url = estate.url("process-orders") + f"/orders/{order['id']}/returns"
    owner = {"X-Omnigate-Owner": "web:c-1"}
    early = httpx.post(url, json={"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"}, headers=keyed(owner))
    assert_problem(early, 409, "conflict")  # not delivered yet
    httpx.post(estate.url("sandbox-wms") + "/_sim/ship", json={"order_reference": order["id"]}).raise_for_status()
    httpx.post(estate.url("sandbox-wms") + "/_sim/deliver", json={"order_reference": order["id"]}).raise_for_status()
    wait_state(estate, order["id"], "delivered")
    assert_problem(
        httpx.post(url, json={"lines": [{"line_id": "1", "qty": 3}], "location": "dc-tlb"}, headers=keyed(owner)), 422
    )
    assert_problem(
        httpx.post(url, json={"lines": [{"line_id": "9", "qty": 1}], "location": "dc-tlb"}, headers=keyed(owner)), 422
    )
    before = atp(estate, sku)["dc-tlb"]
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
    estate.wait_for(lambda: atp(estate, sku)["dc-tlb"] == before + 1, timeout=10, what="returned unit back in ATP")
    memos = sql(estate, "sandbox-erp", "SELECT state, move_type FROM account_move WHERE ref = ?", (ret["id"],))
    assert memos == [("posted", "out_refund")]
    assert_problem(httpx.get(get_return, headers={"X-Omnigate-Owner": "web:c-2"}), 404)
    states = [e["state"] for e in timeline(estate, order["id"])]
    assert states[-3:] == ["return_received", "restocked", "refunded"]
    # The second unit, at a store counter: refunded at once, stock back at the store.
    store, _ = pickup_store(estate, sku)
    store_before = atp(estate, sku)[store]
    response = httpx.post(
        url, json={"lines": [{"line_id": "1", "qty": 1}], "location": store}, headers=keyed(owner), timeout=30
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "refunded"
    estate.wait_for(lambda: atp(estate, sku)[store] == store_before + 1, timeout=10, what="store return in ATP")
    store_ret = response.json()["id"]
    assert sql(estate, "sandbox-erp", "SELECT count(*) FROM account_move WHERE ref = ?", (store_ret,)) == [(1,)]
    # Everything is back now: nothing more to return.
    assert_problem(
        httpx.post(url, json={"lines": [{"line_id": "1", "qty": 1}], "location": store}, headers=keyed(owner)), 422
    )
    estate.wait_for(
        lambda: (
            "return.refunded"
            in {
                json.loads(f[b"data"])["type"]
                for _, f in estate.redis.xrange(estate.stream("returns"))
                if json.loads(f[b"data"])["key"] == ret["id"]
            }
        ),
        timeout=10,
        what="return events relayed to the returns stream",
    )
