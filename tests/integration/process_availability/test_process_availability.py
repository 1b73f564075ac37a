"""process-availability against the running estate: real system APIs and sandboxes, real Redis, 2 workers."""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from services.sandbox.common.catalogue import generate
from services.sandbox.common.settings import SandboxSettings
from shared.identity import HEADER
from tests.estate import assert_problem

pytestmark = pytest.mark.estate

NAME = "process-availability"
OWNER = "web:test-customer"
OPERATOR = "ops:test"  # what ``av`` calls as; direct calls below carry the same identity


def _client(estate: Any, name: str = NAME) -> httpx.Client:
    return httpx.Client(base_url=estate.url(name), timeout=15)


@pytest.fixture(scope="module")
def skus(estate: Any) -> list[str]:
    """SKUs this module alone moves stock of (the session's allocator hands each out once)."""
    return estate.fresh_skus(24)


def _loc(body: dict[str, Any], location: str) -> dict[str, Any]:
    return next(entry for entry in body["locations"] if entry["location"] == location)


def _terms(av: httpx.Client, sku: str, location: str) -> dict[str, int]:
    """The projection's figures for (sku, location), as ``explain`` shows them: on_hand, reserved, ..."""
    body = av.get(f"/availability/{sku}", params={"explain": "true"}).json()
    return {t["name"]: t["value"] for t in _loc(body, location)["explain"]}


def _count_at_dc(estate: Any, av: httpx.Client, sku: str, on_hand: int, dc: str = "dc-tlb") -> None:
    """Set the WMS on-hand with a cycle count and wait until the projection shows it (reservations aside)."""
    response = httpx.post(
        estate.url("sandbox-wms") + "/_sim/count",
        json={"warehouse": dc[3:].upper(), "sku": sku, "on_hand": on_hand},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    def shown() -> bool:
        body = av.get(f"/availability/{sku}", params={"explain": "true"}).json()
        terms = {t["name"]: t["value"] for t in _loc(body, dc)["explain"]}
        return terms["on_hand"] == on_hand

    estate.wait_for(shown, timeout=5, what=f"projection shows the count of {sku} at {dc}")


def _reserve(
    client: httpx.Client, order_id: str, lines: list[tuple[str, str, int]], ttl_s: int = 900, owner: str = OWNER
) -> httpx.Response:
    return client.post(
        "/reservations",
        json={
            "order_id": order_id,
            "owner": owner,
            "ttl_s": ttl_s,
            "lines": [
                {"line_id": str(i + 1), "sku": s, "location": loc, "qty": q} for i, (s, loc, q) in enumerate(lines)
            ],
        },
    )


# --- prices ---------------------------------------------------------------------------------------------------


def test_prices_answer_from_the_projection_while_the_erp_is_down(
    estate: Any, av: httpx.Client, skus: list[str]
) -> None:
    sku = skus[0]
    with _client(estate, "system-erp") as erp:
        truth = erp.get(f"/prices/{sku}").json()
    assert av.get(f"/prices/{sku}").json()["amount"] == truth["amount"]
    sync = av.post("/prices/sync")
    assert sync.status_code == 200 and sync.json()["count"] == 300, sync.text
    sandbox = httpx.Client(base_url=estate.url("sandbox-erp"), timeout=10)
    try:
        assert sandbox.put("/_faults", json={"outage": True}).status_code == 200
        for _ in range(4):  # both workers, fresh connections
            price = httpx.get(estate.url(NAME) + f"/prices/{sku}", headers=estate.identity(OPERATOR), timeout=10)
            assert price.status_code == 200 and price.json()["amount"] == truth["amount"]
        query = av.post("/prices/query", json={"skus": [sku, skus[1], "NOPE-404"]})
        assert query.status_code == 200
        assert {p["sku"] for p in query.json()["prices"]} == {sku, skus[1]} and query.json()["missing"] == ["NOPE-404"]
        # Stock and prices in one call (a checkout's one hop): the same prices as /prices/query.
        both = av.post("/availability/query", json={"skus": [sku, skus[1], "NOPE-404"], "prices": True})
        assert both.status_code == 200, both.text
        assert both.json()["prices"] == query.json() and both.json()["unknown"] == ["NOPE-404"]
        assert {item["sku"] for item in both.json()["items"]} == {sku, skus[1]}
        # A sync needs the ERP: it fails as a problem naming the upstream, and prices keep answering.
        failed = av.post("/prices/sync")
        assert failed.status_code in (502, 503, 504), failed.text
        assert av.get(f"/prices/{sku}").status_code == 200
    finally:
        sandbox.delete("/_faults")
        sandbox.close()
    estate.wait_for(lambda: av.post("/prices/sync").status_code == 200, timeout=20, what="a sync after the ERP is back")


# --- ATP reads ------------------------------------------------------------------------------------------------


def test_atp_terms_ship_and_explain(estate: Any, av: httpx.Client, skus: list[str]) -> None:
    sku = skus[2]
    body = av.get(f"/availability/{sku}", params={"explain": "true"}).json()
    stores = {s["id"]: s for s in httpx.get(estate.url("system-pos") + "/stores").json()}
    ship_total = 0
    for entry in body["locations"]:
        terms = {t["name"]: t for t in entry["explain"]}
        assert set(terms) == {"on_hand", "reserved", "safety_stock", "in_transit"}
        expected = max(0, terms["on_hand"]["value"] - terms["reserved"]["value"] - terms["safety_stock"]["value"])
        assert entry["available"] == expected and entry["incoming"] == terms["in_transit"]["value"]
        assert terms["on_hand"]["source"] == ("wms" if entry["location"].startswith("dc-") else "pos")
        assert entry["staleness_ms"] >= 0 and entry["as_of"]
        if entry["location"].startswith("dc-"):  # ship orders are fulfilled from DCs only (stores.ships)
            ship_total += entry["available"]
        else:
            assert entry["location"] in stores
    assert body["ship"]["available"] == ship_total
    assert {t["name"] for t in body["ship"]["explain"]} <= {f"{e['location']}.available" for e in body["locations"]}
    # The DC figure is the WMS's own.
    with _client(estate, "system-wms") as wms:
        for position in wms.get(f"/stock/{sku}").json():
            assert _loc(body, position["location"])["explain"][0]["value"] == position["on_hand"]
    s = estate.settings_of(SandboxSettings)  # a read moves no stock: any 100 catalogue SKUs will do
    hundred = [p.sku for p in generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs).products[:100]]
    bulk = av.post("/availability/query", json={"skus": hundred + ["NOPE-1"], "locations": ["dc-tlb"]})
    assert bulk.status_code == 200
    result = bulk.json()
    assert len(result["items"]) == 100 and result["unknown"] == ["NOPE-1"]
    assert result["prices"] is None  # prices only when asked for
    assert all([entry["location"] for entry in item["locations"]] == ["dc-tlb"] for item in result["items"])


def test_stores_near_a_postal_code_nearest_first(estate: Any, av: httpx.Client, skus: list[str]) -> None:
    stores = httpx.get(estate.url("system-pos") + "/stores").json()
    target = stores[1]
    response = av.get(
        "/availability/stores",
        params=[("sku", skus[3]), ("sku", skus[4]), ("qty", "1"), ("postal", target["postal_code"]), ("limit", "3")],
    )
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == 3 and answers[0]["store"]["id"] == target["id"] and answers[0]["distance_km"] == 0
    assert [a["distance_km"] for a in answers] == sorted(a["distance_km"] for a in answers)
    for answer in answers:
        atp = {
            s: _loc(av.get(f"/availability/{s}").json(), answer["store"]["id"])["available"]
            if any(e["location"] == answer["store"]["id"] for e in av.get(f"/availability/{s}").json()["locations"])
            else 0
            for s in (skus[3], skus[4])
        }
        assert {line["sku"]: line["available"] for line in answer["lines"]} == atp
        assert answer["complete"] == all(v >= 1 for v in atp.values())


# --- freshness ------------------------------------------------------------------------------------------------


def test_a_pos_sale_changes_atp_within_the_deadline(estate: Any, av: httpx.Client) -> None:
    store = httpx.get(estate.url("system-pos") + "/stores").json()[2]["id"]
    page = httpx.get(estate.url("system-pos") + "/stock", params={"location": store, "limit": 1000}).json()
    sku = next(p["sku"] for p in page["items"][::-1] if p["on_hand"] >= 3)
    before = _loc(av.get(f"/availability/{sku}").json(), store)["available"]
    started = time.monotonic()
    sale = httpx.post(estate.url("sandbox-pos") + "/_sim/sale", json={"store": store, "sku": sku, "qty": 2})
    assert sale.status_code == 200, sale.text
    estate.wait_for(
        lambda: _loc(av.get(f"/availability/{sku}").json(), store)["available"] == before - 2,
        timeout=5,
        interval=0.02,
        what="the sale shows in ATP",
    )
    assert time.monotonic() - started < 5
    estate.wait_for(
        lambda: [
            e
            for e in estate.events("availability")
            if e["type"] == "availability.changed"
            and e["key"] == sku
            and any(loc["location"] == store and loc["available"] == before - 2 for loc in e["payload"]["locations"])
        ],
        timeout=2,
        what="availability.changed published for the sale",
    )


# --- reservations ---------------------------------------------------------------------------------------------


def test_no_oversell_200_concurrent_reservations_for_50_units(estate: Any, av: httpx.Client, skus: list[str]) -> None:
    sku = skus[10]
    _count_at_dc(estate, av, sku, 50)
    assert _loc(av.get(f"/availability/{sku}").json(), "dc-tlb")["available"] == 50
    run = uuid.uuid4().hex[:8]
    # Reservations are process-orders' to make: its own service identity (channel=internal), as on the hop.
    service = {HEADER: estate.service_token("process-orders")}

    def one(i: int) -> httpx.Response:
        # Fresh connections: both workers.
        with httpx.Client(base_url=estate.url(NAME), headers=service, timeout=30) as client:
            return _reserve(client, f"ovs-{run}-{i}", [(sku, "dc-tlb", 1)])

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(one, range(200)))
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 409]
    assert len(created) == 50 and len(refused) == 150, [
        r.status_code for r in responses if r.status_code not in (201, 409)
    ]
    for response in refused:
        problem = assert_problem(response, 409, "insufficient-stock")
        assert problem["errors"][0]["sku"] == sku and problem["errors"][0]["location"] == "dc-tlb"
        assert problem["errors"][0]["line_id"] == "1" and problem["errors"][0]["requested"] == 1
    assert len({r.headers["x-served-by"] for r in responses}) == estate.workers(NAME)
    assert _loc(av.get(f"/availability/{sku}").json(), "dc-tlb")["available"] == 0
    assert _terms(av, sku, "dc-tlb")["reserved"] == 50
    # Clean up: releasing gives all 50 back.
    for response in created:
        assert av.post(f"/reservations/{response.json()['order_id']}/release").status_code == 200
    assert _loc(av.get(f"/availability/{sku}").json(), "dc-tlb")["available"] == 50


def test_reservation_lifecycle_replay_commit_release(estate: Any, av: httpx.Client, skus: list[str]) -> None:
    sku_a, sku_b = skus[11], skus[12]
    before_a = _loc(av.get(f"/availability/{sku_a}").json(), "dc-zwl")["available"]
    before_b = _loc(av.get(f"/availability/{sku_b}").json(), "dc-zwl")["available"]
    order = f"life-{uuid.uuid4().hex[:8]}"
    first = _reserve(av, order, [(sku_a, "dc-zwl", 2), (sku_b, "dc-zwl", 1)])
    assert first.status_code == 201 and first.json()["state"] == "held"
    assert [line["id"] for line in first.json()["lines"]] == [f"{order}:1", f"{order}:2"]
    replay = _reserve(av, order, [(sku_a, "dc-zwl", 2), (sku_b, "dc-zwl", 1)])
    assert replay.status_code == 200 and replay.json() == first.json()
    assert _loc(av.get(f"/availability/{sku_a}").json(), "dc-zwl")["available"] == before_a - 2
    assert_problem(_reserve(av, order, [(sku_a, "dc-zwl", 3)]), 409, "conflict")  # same line, other qty
    assert_problem(_reserve(av, order, [(sku_a, "dc-zwl", 2)], owner="web:someone-else"), 409, "conflict")
    # All or nothing: one short line, nothing held.
    short = _reserve(av, f"{order}-x", [(sku_a, "dc-zwl", 1), (sku_b, "dc-zwl", 10_000)])
    problem = assert_problem(short, 409, "insufficient-stock")
    assert [e["line_id"] for e in problem["errors"]] == ["2"]
    assert _loc(av.get(f"/availability/{sku_a}").json(), "dc-zwl")["available"] == before_a - 2
    extended = av.post(f"/reservations/{order}/extend", json={"ttl_s": 60})
    assert extended.status_code == 200 and extended.json()["expires_at"]
    committed = av.post(f"/reservations/{order}/commit")
    assert committed.status_code == 200 and committed.json()["state"] == "allocated"
    assert committed.json()["expires_at"] is None
    assert av.post(f"/reservations/{order}/commit").status_code == 200  # idempotent
    assert not estate.reservation_expiry_indexed(order)
    released = av.post(f"/reservations/{order}/release")
    assert released.status_code == 200 and {line["state"] for line in released.json()["lines"]} == {"released"}
    assert av.post(f"/reservations/{order}/release").status_code == 200
    assert _loc(av.get(f"/availability/{sku_a}").json(), "dc-zwl")["available"] == before_a
    assert _loc(av.get(f"/availability/{sku_b}").json(), "dc-zwl")["available"] == before_b
    assert_problem(av.post(f"/reservations/{order}/commit"), 409, "conflict")


def test_reserve_with_allocate_holds_and_commits_in_one_update(estate: Any, av: httpx.Client, skus: list[str]) -> None:
    sku_a, sku_b = skus[15], skus[16]
    before = _loc(av.get(f"/availability/{sku_a}").json(), "dc-zwl")["available"]
    order = f"alloc-{uuid.uuid4().hex[:8]}"
    body = {
        "order_id": order,
        "owner": OWNER,
        "allocate": True,
        "lines": [{"line_id": "1", "sku": sku_a, "location": "dc-zwl", "qty": 2}],
    }
    created = av.post("/reservations", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "allocated" and created.json()["expires_at"] is None
    assert {line["state"] for line in created.json()["lines"]} == {"allocated"}
    assert not estate.reservation_expiry_indexed(order)  # allocated never expires
    assert _loc(av.get(f"/availability/{sku_a}").json(), "dc-zwl")["available"] == before - 2
    replay = av.post("/reservations", json=body)
    assert replay.status_code == 200 and replay.json() == created.json()
    # A set first held without allocate is promoted by an allocating replay (a saga resumed mid-way).
    held = f"alloc-held-{uuid.uuid4().hex[:8]}"
    assert _reserve(av, held, [(sku_b, "dc-zwl", 1)]).status_code == 201
    assert estate.reservation_expiry_indexed(held)
    promoted = av.post(
        "/reservations",
        json={
            "order_id": held,
            "owner": OWNER,
            "allocate": True,
            "lines": [{"line_id": "1", "sku": sku_b, "location": "dc-zwl", "qty": 1}],
        },
    )
    assert promoted.status_code == 200 and promoted.json()["state"] == "allocated"
    assert not estate.reservation_expiry_indexed(held)
    # All or nothing still: a short line allocates nothing.
    short = av.post(
        "/reservations",
        json={
            **body,
            "order_id": f"{order}-x",
            "lines": [{"line_id": "1", "sku": sku_a, "location": "dc-zwl", "qty": 10_000}],
        },
    )
    assert_problem(short, 409, "insufficient-stock")
    # A released set is gone for an allocating replay, as for a commit.
    assert av.post(f"/reservations/{order}/release").status_code == 200
    assert_problem(av.post("/reservations", json=body), 409, "conflict")
    assert _loc(av.get(f"/availability/{sku_a}").json(), "dc-zwl")["available"] == before
    assert av.post(f"/reservations/{held}/release").status_code == 200


def test_held_reservation_expires_back_to_atp_with_an_event(estate: Any, av: httpx.Client, skus: list[str]) -> None:
    sku = skus[13]
    before = _loc(av.get(f"/availability/{sku}").json(), "dc-zwl")["available"]
    order = f"exp-{uuid.uuid4().hex[:8]}"
    assert _reserve(av, order, [(sku, "dc-zwl", 3)], ttl_s=10).status_code == 201
    assert _loc(av.get(f"/availability/{sku}").json(), "dc-zwl")["available"] == before - 3
    # The sweeper (not a caller) brings it back: watch ATP only.
    estate.wait_for(
        lambda: _loc(av.get(f"/availability/{sku}").json(), "dc-zwl")["available"] == before,
        timeout=15,
        interval=0.2,
        what="the expired reservation is back in ATP",
    )
    expired = estate.wait_for(
        lambda: [e for e in estate.events("availability") if e["type"] == "reservation.expired" and e["key"] == order],
        timeout=2,
        what="reservation.expired relayed",
    )
    assert len(expired) == 1 and expired[0]["payload"]["lines"] == [
        {"line_id": "1", "sku": sku, "location": "dc-zwl", "qty": 3}
    ]
    assert av.get(f"/reservations/{order}").json()["state"] == "expired"
    assert_problem(av.post(f"/reservations/{order}/extend", json={"ttl_s": 30}), 410, "reservation-expired")
    assert_problem(av.post(f"/reservations/{order}/commit"), 410, "reservation-expired")
    assert_problem(_reserve(av, order, [(sku, "dc-zwl", 3), (sku, "dc-tlb", 1)]), 410, "reservation-expired")
    allocating_replay = av.post(
        "/reservations",
        json={
            "order_id": order,
            "owner": OWNER,
            "allocate": True,
            "lines": [{"line_id": "1", "sku": sku, "location": "dc-zwl", "qty": 3}],
        },
    )
    assert_problem(allocating_replay, 410, "reservation-expired")


def test_shipment_lowers_on_hand_and_consumes_the_reservation_together(
    estate: Any, av: httpx.Client, skus: list[str]
) -> None:
    sku = skus[14]
    _count_at_dc(estate, av, sku, 30)
    order = f"ship{uuid.uuid4().hex[:8]}"
    assert _reserve(av, order, [(sku, "dc-tlb", 4)]).status_code == 201
    assert av.post(f"/reservations/{order}/commit").status_code == 200
    assert _loc(av.get(f"/availability/{sku}").json(), "dc-tlb")["available"] == 26
    time.sleep(1.1)  # the WMS stamps whole seconds: dispatch in a later second than the count
    fo = httpx.post(
        estate.url("system-wms") + "/fulfilment-orders",
        json={
            "ref": order,
            "location": "dc-tlb",
            "lines": [{"sku": sku, "qty": 4}],
            "ship_to": {
                "name": "Ann",
                "line1": "Oudegracht 1",
                "city": "Utrecht",
                "postal_code": "3511 AB",
                "country": "NL",
            },
        },
        timeout=10,
    )
    assert fo.status_code == 201, fo.text
    shipped = httpx.post(estate.url("sandbox-wms") + "/_sim/ship", json={"order_reference": order}, timeout=10)
    assert shipped.status_code == 200, shipped.text

    def consumed() -> bool:
        return av.get(f"/reservations/{order}").json()["state"] == "consumed"

    estate.wait_for(consumed, timeout=5, what="the shipment consumed the reservation")
    terms = {
        t["name"]: t["value"]
        for t in _loc(av.get(f"/availability/{sku}", params={"explain": "true"}).json(), "dc-tlb")["explain"]
    }
    assert terms["on_hand"] == 26 and terms["reserved"] == 0
    assert _loc(av.get(f"/availability/{sku}").json(), "dc-tlb")["available"] == 26
    # A redelivered webhook changes nothing (applied once by event id).
    hook = shipped.json()["webhooks"][0]
    assert httpx.post(estate.url("sandbox-wms") + f"/_webhooks/{hook}/redeliver", timeout=10).status_code in (200, 202)
    time.sleep(0.5)
    assert _loc(av.get(f"/availability/{sku}").json(), "dc-tlb")["available"] == 26


# --- store pickups held off the till -------------------------------------------------------------------------


def _pos_in_stock(estate: Any, sku: str, location_id: str) -> int:
    with sqlite3.connect(f"file:{estate.db_path('sandbox-pos')}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT c.quantity FROM counts c JOIN variations v ON v.id = c.catalog_object_id "
            "WHERE v.sku = ? AND c.location_id = ?",
            (sku, location_id),
        ).fetchall()
    return int(rows[0][0]) if rows else 0


def test_pickup_holds_replace_their_allocations_in_one_update(estate: Any, av: httpx.Client) -> None:
    """9 pickups of 1 at a store with 12: the POS holds 9 off the till and the store ATP counts them once (3),
    neither not at all (12 - 9 reserved = 3 only while allocated) nor twice (12 - 9 held - 9 reserved)."""
    (sku,) = estate.fresh_skus(1)
    pos = httpx.Client(base_url=estate.url("system-pos"), timeout=15)
    store = pos.get("/stores").json()[4]["id"]
    location_id = store[len("store-") :].upper()
    estate.count_at_till(sku, store, 12)

    def terms() -> dict[str, int]:
        body = av.get(f"/availability/{sku}", params={"explain": "true"}).json()
        entry = next((e for e in body["locations"] if e["location"] == store), None)
        if entry is None:
            return {"on_hand": -1}  # the store does not carry it yet: the count has not landed
        return {**{t["name"]: t["value"] for t in entry["explain"]}, "available": entry["available"]}

    estate.wait_for(lambda: terms()["on_hand"] == 12, timeout=10, what="the count of 12 in the projection")
    run = uuid.uuid4().hex[:8]
    refs = [f"pk{run}n{n}" for n in range(9)]  # no `-<n>` suffix: not a split ref
    for ref in refs:
        assert (
            av.post(
                "/reservations",
                json={
                    "order_id": ref,
                    "owner": OWNER,
                    "allocate": True,
                    "lines": [{"line_id": "1", "sku": sku, "location": store, "qty": 1}],
                },
            ).status_code
            == 201
        )
    assert terms() == {"on_hand": 12, "reserved": 9, "safety_stock": 0, "in_transit": 0, "available": 3}
    for ref in refs:
        task = pos.post(
            "/pickup-tasks",
            json={"ref": ref, "store": store, "customer_name": "Ada", "lines": [{"sku": sku, "qty": 1}]},
        )
        assert task.status_code == 201, task.text
    assert _pos_in_stock(estate, sku, location_id) == 3

    def held() -> bool:
        return all(av.get(f"/reservations/{ref}").json()["state"] == "consumed" for ref in refs)

    estate.wait_for(held, timeout=10, what="every pickup.held consumed its allocation")
    estate.wait_for(lambda: terms()["on_hand"] == 3, timeout=10, what="the POS counts applied")
    assert terms() == {"on_hand": 3, "reserved": 0, "safety_stock": 0, "in_transit": 0, "available": 3}
    # Each hold was one update: one availability.changed caused by each pickup.held (relayed from the outbox).
    wanted = {f"availability:pos:hold:{ref}:{sku}" for ref in refs}
    estate.wait_for(
        lambda: wanted <= {e["id"] for e in estate.events("availability")},
        timeout=5,
        what="an availability.changed caused by each pickup.held",
    )
    time.sleep(0.5)  # the inventory.count.updated webhooks of the same changes (same as_of) change nothing
    assert terms()["available"] == 3
    # Collected: Square's completion takes 1, the hold comes back; pickup.completed moves no on-hand.
    order_id = pos.get(f"/pickup-tasks/{refs[1]}").json()["pos_id"]
    assert (
        httpx.post(estate.url("sandbox-pos") + "/_sim/picked-up", json={"order_id": order_id}, timeout=10).status_code
        == 200
    )
    estate.wait_for(
        lambda: [e for e in estate.events("fulfilment") if e["type"] == "pickup.completed" and e["key"] == refs[1]],
        timeout=5,
        what="pickup.completed",
    )
    estate.wait_for(lambda: _pos_in_stock(estate, sku, location_id) == 3, timeout=10, what="the hold given back")
    estate.wait_for(
        lambda: terms()["on_hand"] == 3 and terms()["available"] == 3, timeout=10, what="ATP 3 after the collection"
    )
    # Cancelled: the unit comes back to the till and to ATP.
    assert pos.post(f"/pickup-tasks/{refs[0]}/cancel").json()["status"] == "canceled"
    assert _pos_in_stock(estate, sku, location_id) == 4
    estate.wait_for(lambda: terms()["available"] == 4, timeout=10, what="ATP 4 after the cancel")
    assert terms()["reserved"] == 0
    pos.close()


# --- reconciliation -------------------------------------------------------------------------------------------


def test_reconciliation_reports_exactly_the_drift_and_repairs_the_projection(
    estate: Any, av: httpx.Client, skus: list[str]
) -> None:
    sku_redis, sku_wms = skus[20], skus[21]
    truth_redis = _terms(av, sku_redis, "dc-tlb")["on_hand"]
    projected_wms = _terms(av, sku_wms, "dc-tlb")["on_hand"]
    estate.corrupt_projected_on_hand(sku_redis, "dc-tlb", truth_redis + 500)  # projection corrupted
    with sqlite3.connect(estate.db_path("sandbox-wms")) as db:  # back-end changed behind our back (no webhook)
        db.execute(
            "UPDATE inventory_levels SET on_hand = on_hand + 7 WHERE location_id = "
            "(SELECT id FROM locations WHERE abbreviation = 'TLB') AND inventory_id = (SELECT id FROM inventory WHERE sku = ?)",
            (sku_wms,),
        )
    started = av.post("/reconciliations", json={"locations": ["dc-tlb"]})
    assert started.status_code == 202 and started.headers["location"] == f"/reconciliations/{started.json()['id']}"
    report = estate.wait_for(
        lambda: (r := av.get(started.headers["location"]).json())["state"] != "running" and r,
        timeout=20,
        what="the reconciliation finishes",
    )
    assert report["state"] == "done", report
    drift = sorted((d["sku"], d["location"], d["projected"], d["actual"], d["source"]) for d in report["drift"])
    assert drift == sorted(
        [
            (sku_redis, "dc-tlb", truth_redis + 500, truth_redis, "wms"),
            (sku_wms, "dc-tlb", projected_wms, projected_wms + 7, "wms"),
        ]
    )
    assert report["repaired"] == 2
    assert _terms(av, sku_redis, "dc-tlb")["on_hand"] == truth_redis
    assert _terms(av, sku_wms, "dc-tlb")["on_hand"] == projected_wms + 7
    # ERP financial stock is reported apart and never used to repair.
    assert any(
        d["sku"] == sku_wms and d["source"] == "erp" and d["projected"] == projected_wms + 7
        for d in report["erp_drift"]
    )
    # A second run finds nothing left.
    again = av.post("/reconciliations", json={"locations": ["dc-tlb"]})
    second = estate.wait_for(
        lambda: (r := av.get(again.headers["location"]).json())["state"] != "running" and r,
        timeout=20,
        what="the second reconciliation finishes",
    )
    assert second["drift"] == []


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("qty", [0, -1, 10_001, 10**12, "1", 1.5, None])
def test_reservation_quantities_are_refused(av: httpx.Client, skus: list[str], qty: Any) -> None:
    body = {
        "order_id": "bad-qty",
        "owner": OWNER,
        "lines": [{"line_id": "1", "sku": skus[0], "location": "dc-tlb", "qty": qty}],
    }
    assert_problem(av.post("/reservations", json=body), 400)


def test_bad_input_is_a_problem(av: httpx.Client, skus: list[str]) -> None:
    sku = skus[0]
    assert_problem(av.get("/availability/NOPE-NOT-A-SKU"), 404, "not-found")
    assert_problem(av.get("/availability/bad sku!"), 400)
    assert_problem(av.post("/availability/query", json={"skus": [sku] * 501}), 400)
    assert_problem(av.post("/availability/query", json={"skus": []}), 400)
    assert_problem(av.post("/availability/query", json={"skus": [sku], "extra": 1}), 400)
    assert_problem(av.post("/availability/query", json={"skus": [sku], "locations": ["store-nope"]}), 422)
    line = {"line_id": "1", "sku": sku, "location": "dc-tlb", "qty": 1}
    base = {"order_id": "bad-1", "owner": OWNER, "lines": [line]}
    assert_problem(av.post("/reservations", json={**base, "surprise": True}), 400)
    assert_problem(av.post("/reservations", json={**base, "owner": "nobody"}), 400)
    assert_problem(av.post("/reservations", json={**base, "ttl_s": 1}), 400)
    assert_problem(av.post("/reservations", json={**base, "lines": []}), 400)
    assert_problem(av.post("/reservations", json={**base, "lines": [line, line]}), 400)
    assert_problem(av.post("/reservations", json={**base, "lines": [{**line, "sku": "NOPE-UNKNOWN"}]}), 422)
    assert_problem(av.post("/reservations", json={**base, "lines": [{**line, "location": "dc-nope"}]}), 422)
    assert_problem(av.post("/reservations", json={**base, "lines": [{**line, "location": "store-nope"}]}), 422)
    assert_problem(av.post("/reservations", content=b"{not json", headers={"content-type": "application/json"}), 400)
    assert_problem(av.post("/reservations/never-reserved/commit"), 404)
    assert_problem(av.post("/reservations/never-reserved/release"), 404)
    assert_problem(av.post("/reservations/never-reserved/extend", json={"ttl_s": 5}), 400)
    assert_problem(av.post("/reservations/bad id!/commit"), 400)
    assert_problem(av.get("/availability/stores", params={"sku": sku}), 400)
    assert_problem(av.get("/availability/stores", params={"sku": sku, "postal": "1012", "qty": 0}), 400)
    assert_problem(av.get("/availability/stores", params={"sku": "NOPE-UNKNOWN", "postal": "1012"}), 404)
    assert_problem(av.get("/availability/stores", params={"sku": sku, "postal": "ZZ"}), 422)
    assert_problem(av.get("/prices/NOPE-UNKNOWN"), 404)
    assert_problem(av.post("/prices/query", json={"skus": ["bad sku!"]}), 400)
    assert_problem(av.get("/reconciliations/nope"), 404)
    assert_problem(av.post("/reconciliations", json={"locations": ["dc-nope"]}), 422)
