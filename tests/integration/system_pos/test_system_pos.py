"""system-pos against the running estate: real sandbox-pos, real Redis, real processes."""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import pytest

from tests.estate import assert_problem

if TYPE_CHECKING:
    from tests.integration.system_pos.conftest import Pos

pytestmark = pytest.mark.estate

PROBLEM = "application/problem+json"


_problem = assert_problem


def _entries(estate: Any, domain: str) -> list[dict[str, Any]]:
    """The events on a domain's stream, each as its id, its type and the whole envelope."""
    return [{"id": e["id"], "type": e["type"], "event": e} for e in estate.events(domain)]


# --- stores and stock ----------------------------------------------------------------------------------------


def test_stores_are_canonical_locations(pos: Pos) -> None:
    stores = pos.stores()
    assert len(stores) == 6
    for store in stores:
        assert store["type"] == "store" and store["pickup"] is True and store["source"] == "pos"
        assert store["id"] == "store-" + store["source_id"].lower()
        assert store["country"] == "NL" and store["postal_code"] and store["city"]
    # The seed marks every fourth store as ship-from-store (catalogue n % 4 == 0): 2 of 6.
    assert sum(s["ship_from_store"] for s in stores) == 2


def test_stock_pages_and_sku_view_agree(pos: Pos) -> None:
    store = pos.stores()[0]["id"]
    seen: list[dict[str, Any]] = []
    cursor = None
    with pos.client() as c:
        for _ in range(20):
            params: dict[str, Any] = {"location": store, "limit": 50}
            if cursor:
                params["cursor"] = cursor
            response = c.get("/stock", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= 50
            seen.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        assert cursor is None
        # About 60% of 300 SKUs: paging must have crossed several pages without repeats.
        assert 100 < len(seen) < 300
        assert len({p["sku"] for p in seen}) == len(seen)
        for p in seen:
            assert p["location"] == store and p["source"] == "pos" and p["on_hand"] >= 0 and p["as_of"]
        sample = seen[0]
        across = c.get(f"/stock/{sample['sku']}")
        assert across.status_code == 200, across.text
        here = [p for p in across.json() if p["location"] == store]
        assert here and here[0]["on_hand"] == sample["on_hand"]


# --- pickup tasks --------------------------------------------------------------------------------------------


def test_pickup_task_is_idempotent_by_ref(estate: Any, pos: Pos) -> None:
    store = pos.stores()[1]["id"]
    sku, _ = pos.stocked(store)
    ref = f"pk-{uuid.uuid4().hex[:12]}"
    request = {"ref": ref, "store": store, "customer_name": "Ada Lovelace", "lines": [{"sku": sku, "qty": 1}]}
    with pos.client() as c:
        first = c.post("/pickup-tasks", json=request)
        second = c.post("/pickup-tasks", json=request)
        assert first.status_code == 201, first.text
        assert second.status_code == 200, second.text
        assert first.json()["pos_id"] == second.json()["pos_id"]
        assert first.json()["created"] is True and second.json()["created"] is False
        assert first.json()["status"] == "proposed"
        fetched = c.get(f"/pickup-tasks/{ref}")
        assert fetched.status_code == 200 and fetched.json()["lines"] == [{"sku": sku, "qty": 1}]
        conflict = c.post("/pickup-tasks", json={**request, "customer_name": "Someone Else"})
        _problem(conflict, 409)
    with sqlite3.connect(f"file:{estate.db_path('sandbox-pos')}?mode=ro", uri=True) as db:
        (count,) = db.execute("SELECT count(*) FROM orders WHERE reference_id = ?", (ref,)).fetchone()
    assert count == 1


def test_pickup_ready_and_completed_reach_the_fulfilment_stream(estate: Any, pos: Pos) -> None:
    store = pos.stores()[2]["id"]
    sku, _ = pos.stocked(store)
    ref = f"pk-{uuid.uuid4().hex[:12]}"
    with pos.client() as c:
        task = c.post(
            "/pickup-tasks",
            json={"ref": ref, "store": store, "customer_name": "Grace Hopper", "lines": [{"sku": sku, "qty": 2}]},
        ).json()
    with pos.client("sandbox-pos") as sb:
        assert sb.post("/_sim/pickup-ready", json={"order_id": task["pos_id"]}).status_code == 200
        estate.wait_for(
            lambda: [
                e for e in _entries(estate, "fulfilment") if e["type"] == "pickup.ready" and e["event"]["key"] == ref
            ],
            5,
            what="pickup.ready",
        )
        done = sb.post("/_sim/picked-up", json={"order_id": task["pos_id"]})
        assert done.status_code == 200, done.text
    completed = estate.wait_for(
        lambda: [
            e for e in _entries(estate, "fulfilment") if e["type"] == "pickup.completed" and e["event"]["key"] == ref
        ],
        5,
        what="pickup.completed",
    )
    assert completed[0]["event"]["payload"] == {"task_ref": ref, "store": store, "lines": [{"sku": sku, "qty": 2}]}
    with pos.client() as c:
        assert c.get(f"/pickup-tasks/{ref}").json()["status"] == "completed"


def test_store_return_is_idempotent_and_restocks(pos: Pos) -> None:
    store = pos.stores()[3]["id"]
    sku, before = pos.stocked(store, min_qty=0)
    ref = f"rt-{uuid.uuid4().hex[:12]}"
    request = {
        "ref": ref,
        "store": store,
        "order_ref": "ord-1",
        "currency": "EUR",
        "lines": [{"sku": sku, "qty": 2, "unit_price": 1995}],
    }
    with pos.client() as c:
        first = c.post("/returns", json=request)
        second = c.post("/returns", json=request)
        assert first.status_code == 201, first.text
        assert second.status_code == 200 and second.json()["pos_id"] == first.json()["pos_id"]
        after = [p for p in c.get(f"/stock/{sku}").json() if p["location"] == store][0]["on_hand"]
    assert after == before + 2  # restocked once, not twice


# --- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/stock", None, 400),  # location missing
        ("GET", "/stock?location=nowhere", None, 400),
        ("GET", "/stock?location=dc-tlb", None, 404),
        ("GET", "/stock?location=store-nosuchstore", None, 404),
        ("GET", "/stock?location=store-x&limit=0", None, 400),
        ("GET", "/stock?location=store-x&limit=5000", None, 400),
        ("GET", "/stock?location=store-x&cursor=%3Cscript%3E", None, 400),
        ("GET", "/stock/bad%20sku!", None, 400),
        ("GET", "/stock/" + "A" * 65, None, 400),
        ("GET", "/stock/NO-SUCH-SKU", None, 404),
        ("GET", "/pickup-tasks/never-made", None, 404),
        ("GET", "/pickup-tasks/bad%20ref", None, 400),
        ("POST", "/pickup-tasks/bad%20ref/cancel", None, 400),
        ("POST", "/pickup-tasks/" + "a" * 65 + "/cancel", None, 400),
        ("POST", "/pickup-tasks/never-made-either/cancel", None, 404),
        ("POST", "/pickup-tasks", {"ref": "x", "store": "store-x", "customer_name": "a", "lines": [], "extra": 1}, 400),
        (
            "POST",
            "/pickup-tasks",
            {"ref": "x", "store": "store-x", "customer_name": "a", "lines": [{"sku": "A", "qty": -1}]},
            400,
        ),
        (
            "POST",
            "/pickup-tasks",
            {"ref": "x", "store": "store-x", "customer_name": "a", "lines": [{"sku": "A", "qty": 10_000_000}]},
            400,
        ),
        (
            "POST",
            "/pickup-tasks",
            {"ref": "x", "store": "store-x", "customer_name": "a", "lines": [{"sku": "A", "qty": "2"}]},
            400,
        ),
        (
            "POST",
            "/pickup-tasks",
            {"ref": "x y", "store": "store-x", "customer_name": "a", "lines": [{"sku": "A", "qty": 1}]},
            400,
        ),
        (
            "POST",
            "/pickup-tasks",
            {"ref": "x", "store": "store-nosuchstore", "customer_name": "a", "lines": [{"sku": "A", "qty": 1}]},
            404,
        ),
        (
            "POST",
            "/returns",
            {
                "ref": "r",
                "store": "store-x",
                "order_ref": "o",
                "currency": "eur",
                "lines": [{"sku": "A", "qty": 1, "unit_price": 1}],
            },
            400,
        ),
        (
            "POST",
            "/returns",
            {
                "ref": "r",
                "store": "store-x",
                "order_ref": "o",
                "currency": "EUR",
                "lines": [{"sku": "A", "qty": 1, "unit_price": -5}],
            },
            400,
        ),
    ],
)
def test_bad_input_is_a_problem(pos: Pos, method: str, path: str, body: Any, status: int) -> None:
    with pos.client() as c:
        response = c.request(method, path, json=body)
    _problem(response, status)


def test_unknown_sku_in_a_pickup_is_unprocessable(pos: Pos) -> None:
    store = pos.stores()[0]["id"]
    with pos.client() as c:
        response = c.post(
            "/pickup-tasks",
            json={
                "ref": f"pk-{uuid.uuid4().hex[:8]}",
                "store": store,
                "customer_name": "a",
                "lines": [{"sku": "NO-SUCH-SKU", "qty": 1}],
            },
        )
    _problem(response, 422)


def test_oversized_and_malformed_bodies(pos: Pos) -> None:
    with pos.client() as c:
        # Its own connection: the server answers 413 without reading the body and closes the connection.
        _problem(
            httpx.post(
                str(c.base_url).rstrip("/") + "/pickup-tasks",
                content=b"x" * 2_000_000,
                headers={"content-type": "application/json"},
                timeout=10,
            ),
            413,
        )
        _problem(c.post("/pickup-tasks", content=b"{not json", headers={"content-type": "application/json"}), 400)


def test_webhook_signatures_are_checked(pos: Pos) -> None:
    body = msgspec.json.encode(
        {
            "merchant_id": "M",
            "type": "webhooks.test_notification",
            "event_id": str(uuid.uuid4()),
            "created_at": "2025-01-01T00:00:00Z",
            "data": {"type": "webhooks", "id": "x"},
        }
    )
    good = pos.sign(body)
    flipped = body.replace(b"webhooks.test", b"webhooks.tesT")
    with pos.client() as c:
        _problem(c.post("/webhooks/pos", content=body), 401)
        _problem(c.post("/webhooks/pos", content=body, headers={"x-square-hmacsha256-signature": "AAAA"}), 401)
        _problem(c.post("/webhooks/pos", content=flipped, headers={"x-square-hmacsha256-signature": good}), 401)
        ok = c.post("/webhooks/pos", content=body, headers={"x-square-hmacsha256-signature": good})
        assert ok.status_code == 200 and ok.json()["status"] == "ignored"
        garbage = b"[1, 2"
        _problem(
            c.post("/webhooks/pos", content=garbage, headers={"x-square-hmacsha256-signature": pos.sign(garbage)}),
            400,
        )
        wrong = msgspec.json.encode(
            {
                "type": "inventory.count.updated",
                "event_id": "e",
                "data": {"object": {"inventory_counts": [{"quantity": 3}]}},
            }
        )
        _problem(
            c.post("/webhooks/pos", content=wrong, headers={"x-square-hmacsha256-signature": pos.sign(wrong)}), 400
        )


# --- done means ----------------------------------------------------------------------------------------------


def test_a_store_sale_is_one_counted_event_even_when_redelivered(estate: Any, pos: Pos) -> None:
    store = pos.stores()[4]["id"]
    sku, before = pos.stocked(store)
    with pos.client("sandbox-pos") as sb:
        sale = sb.post("/_sim/sale", json={"store": store, "sku": sku, "qty": 2})
        assert sale.status_code == 200, sale.text
        result = sale.json()
        (event_id,) = result["event_ids"]
        (variation_id,) = result["on_hand"]
        assert result["on_hand"][variation_id] == before - 2
        expected_id = f"pos:{event_id}:{variation_id}:{result['location_id']}"

        def mine() -> list[dict[str, Any]]:
            return [e for e in _entries(estate, "inventory") if e["id"] == expected_id]

        deadline = time.monotonic() + 5
        while not mine() and time.monotonic() < deadline:
            time.sleep(0.05)
        found = mine()
        assert len(found) == 1, "the sale did not reach the inventory stream within 5 s"
        event = found[0]["event"]
        assert found[0]["type"] == "inventory.counted" and event["key"] == f"{sku}@{store}"
        assert event["source"] == "pos"
        assert event["payload"]["sku"] == sku and event["payload"]["location"] == store
        assert event["payload"]["on_hand"] == before - 2

        again = sb.post(f"/_webhooks/{event_id}/redeliver")
        # The kit answers 201 for its own POST; "status" is what system-pos answered the redelivery with.
        assert again.is_success and again.json()["status"] == 200, again.text
    time.sleep(0.3)
    assert len(mine()) == 1
    assert (
        len(
            [
                e
                for e in _entries(estate, "inventory")
                if e["event"]["key"] == f"{sku}@{store}" and e["id"].startswith(f"pos:{event_id}:")
            ]
        )
        == 1
    )


def test_a_sale_beyond_stock_is_refused(pos: Pos) -> None:
    store = pos.stores()[5]["id"]
    sku, on_hand = pos.stocked(store, min_qty=0)
    with pos.client("sandbox-pos") as sb:
        _problem(sb.post("/_sim/sale", json={"store": store, "sku": sku, "qty": on_hand + 1}), 409)
        _problem(sb.post("/_sim/sale", json={"store": store, "sku": sku, "qty": 0}), 400)
        _problem(sb.post("/_sim/sale", json={"store": "store-nope", "sku": sku, "qty": 1}), 404)


# --- store stock promised to pickups (issue 6, section 6) ------------------------------------------------------


def _pickup(c: httpx.Client, ref: str, store: str, sku: str, qty: int = 1) -> httpx.Response:
    return c.post(
        "/pickup-tasks",
        json={"ref": ref, "store": store, "customer_name": "Ada Lovelace", "lines": [{"sku": sku, "qty": qty}]},
    )


def test_pickups_take_their_units_off_the_till_and_a_cancel_gives_one_back(estate: Any, pos: Pos) -> None:
    (sku,) = estate.fresh_skus(1)
    store = pos.stores()[0]["id"]
    pos.set_in_stock(sku, store, 12)
    refs = [f"hold-{uuid.uuid4().hex[:10]}" for _ in range(9)]
    with pos.client() as c:
        for ref in refs:
            response = _pickup(c, ref, store, sku)
            assert response.status_code == 201, response.text
        # The hold is part of accepting the task: the till sees it as soon as the create answered.
        assert pos.in_stock(sku, store) == 3
        assert sum(pos.adjustments(ref, "IN_STOCK", "SOLD") for ref in refs) == 9
        again = _pickup(c, refs[0], store, sku)
        assert again.status_code == 200 and again.json()["created"] is False and again.json()["status"] == "proposed"
        assert pos.adjustments(refs[0], "IN_STOCK", "SOLD") == 1 and pos.in_stock(sku, store) == 3
    held = [e for e in _entries(estate, "fulfilment") if e["type"] == "pickup.held" and e["event"]["key"] in refs]
    assert sorted(e["id"] for e in held) == sorted(f"pos:hold:{ref}" for ref in refs)  # one each, retry included
    assert sorted(e["event"]["payload"]["counts"][0]["on_hand"] for e in held) == list(range(3, 12))
    for e in held:
        payload = e["event"]["payload"]
        assert payload["store"] == store and payload["lines"] == [{"sku": sku, "qty": 1}]
        assert payload["counts"][0]["sku"] == sku and payload["counts"][0]["location"] == store
    with pos.client("sandbox-pos") as sb:
        sales = [sb.post("/_sim/sale", json={"store": store, "sku": sku, "qty": 1}) for _ in range(12)]
    assert [s.status_code for s in sales] == [200] * 3 + [409] * 9
    assert pos.in_stock(sku, store) == 0
    with pos.client() as c:
        cancelled = c.post(f"/pickup-tasks/{refs[0]}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "canceled" and cancelled.json()["pos_id"] == again.json()["pos_id"]
        assert cancelled.json()["lines"] == [{"sku": sku, "qty": 1}]
        assert pos.in_stock(sku, store) == 1
        (order,) = pos.orders(refs[0])
        assert [f["state"] for f in order["fulfillments"]] == ["CANCELED"]
        # Idempotent: a cancelled task answers as it is and gives nothing back twice; a create does not re-hold.
        repeat = c.post(f"/pickup-tasks/{refs[0]}/cancel")
        assert repeat.status_code == 200 and repeat.json()["status"] == "canceled"
        recreated = _pickup(c, refs[0], store, sku)
        assert recreated.status_code == 200 and recreated.json()["status"] == "canceled"
        assert c.get(f"/pickup-tasks/{refs[0]}").json()["status"] == "canceled"
    assert pos.adjustments(refs[0], "NONE", "IN_STOCK") == 1
    assert pos.adjustments(refs[0], "IN_STOCK", "SOLD") == 1
    assert pos.in_stock(sku, store) == 1
    assert len(pos.orders(refs[0])) == 1


def test_a_collected_pickup_gives_its_hold_back_once_and_cannot_be_cancelled(estate: Any, pos: Pos) -> None:
    (sku,) = estate.fresh_skus(1)
    store = pos.stores()[1]["id"]
    pos.set_in_stock(sku, store, 2)
    ref = f"hold-{uuid.uuid4().hex[:10]}"
    with pos.client() as c:
        task = _pickup(c, ref, store, sku, qty=2).json()
    assert pos.in_stock(sku, store) == 0
    with pos.client("sandbox-pos") as sb:
        _problem(sb.post("/_sim/sale", json={"store": store, "sku": sku, "qty": 1}), 409)
        # The customer's two units are on the shelf, set aside: collecting them works at IN_STOCK 0.
        done = sb.post("/_sim/picked-up", json={"order_id": task["pos_id"]})
        assert done.status_code == 200, done.text
    # Square's completion took 2 out of IN_STOCK; system-pos gives the hold back on the webhook.
    estate.wait_for(lambda: pos.adjustments(ref, "NONE", "IN_STOCK") == 1, 10, what="the hold given back")
    assert pos.in_stock(sku, store) == 0
    estate.wait_for(
        lambda: [
            e for e in _entries(estate, "fulfilment") if e["type"] == "pickup.completed" and e["event"]["key"] == ref
        ],
        5,
        what="pickup.completed",
    )
    with pos.client() as c:
        _problem(c.post(f"/pickup-tasks/{ref}/cancel"), 409)
        assert c.get(f"/pickup-tasks/{ref}").json()["status"] == "completed"
    time.sleep(0.5)  # a redelivered or late webhook gives nothing back twice
    assert pos.adjustments(ref, "NONE", "IN_STOCK") == 1 and pos.in_stock(sku, store) == 0


def test_a_cancel_finds_a_pickup_whose_create_answer_was_lost(estate: Any, pos: Pos) -> None:
    (sku,) = estate.fresh_skus(1)
    store = pos.stores()[2]["id"]
    pos.set_in_stock(sku, store, 5)
    ref = f"lost-{uuid.uuid4().hex[:10]}"
    attempts = estate.settings.retry_attempts
    with pos.client("sandbox-pos") as sb:
        # Square creates the order, then every answer (the hop's retries too) is lost.
        assert (
            sb.put(
                "/_faults",
                json={"route": "/v2/orders", "method": "POST", "when": "after", "error_rate": 1.0, "times": attempts},
            ).status_code
            == 200
        )
        try:
            with pos.client() as c:
                failed = _pickup(c, ref, store, sku)
                assert failed.status_code in (502, 503, 504), failed.text
                # The outcome is unknown until Square's commit limit has passed: a cancel is told to come back.
                busy = c.post(f"/pickup-tasks/{ref}/cancel")
                _problem(busy, 409)
                assert int(busy.headers["retry-after"]) >= 1
                cancelled = estate.wait_for(
                    lambda: (r := c.post(f"/pickup-tasks/{ref}/cancel")).status_code == 200 and r,
                    timeout=estate.settings.upstream_commit_limit_s + 10,
                    interval=0.5,
                    what="the cancel goes through",
                )
                assert cancelled.json()["status"] == "canceled"
                assert c.get(f"/pickup-tasks/{ref}").json()["status"] == "canceled"
        finally:
            sb.delete("/_faults")
    (order,) = pos.orders(ref)  # found by SearchOrders, cancelled, not created again
    assert cancelled.json()["pos_id"] == order["id"]
    assert [f["state"] for f in order["fulfillments"]] == ["CANCELED"]
    assert pos.adjustments(ref, "IN_STOCK", "SOLD") == 0  # the hold was never sent, so nothing to give back
    assert pos.adjustments(ref, "NONE", "IN_STOCK") == 0 and pos.in_stock(sku, store) == 5


def test_a_cancel_of_an_unknown_ref_is_404_and_that_ref_is_not_created_later(pos: Pos) -> None:
    store = pos.stores()[3]["id"]
    sku, _ = pos.stocked(store, min_qty=1)
    ref = f"never-{uuid.uuid4().hex[:10]}"
    with pos.client() as c:
        _problem(c.post(f"/pickup-tasks/{ref}/cancel"), 404)
        _problem(_pickup(c, ref, store, sku), 409)
        _problem(c.get(f"/pickup-tasks/{ref}"), 404)
    assert pos.orders(ref) == []
