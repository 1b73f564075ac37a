"""system-wms against the running estate: real sandbox-wms (ShipBob 2026-01 subset), real Redis, real webhooks
signed the Standard Webhooks way, and the leased inventory-history poll."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from typing import Any

import httpx
import pytest

from services.sandbox.wms.sim import sign
from services.system.wms.settings import WmsSettings
from services.system.wms.webhooks import signing_secret
from tests.estate import TestEstate, assert_problem

pytestmark = pytest.mark.estate

PROBLEM = "application/problem+json"


def ref(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


def order_body(order_ref: str, sku: str, qty: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "ref": order_ref,
        "location": "dc-tlb",
        "ship_to": {
            "name": "Ann de Vries",
            "line1": "Oudegracht 1",
            "city": "Utrecht",
            "postal_code": "3511 AB",
            "country": "NL",
        },
        "lines": [{"sku": sku, "qty": qty}],
        **extra,
    }


def events(estate: TestEstate, domain: str, event_id: str) -> list[dict[str, Any]]:
    return [e for e in estate.events(domain) if e["id"] == event_id]


def count_rows(estate: TestEstate, sql: str, *params: Any) -> int:
    conn = sqlite3.connect(f"file:{estate.db_path('sandbox-wms')}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def signed(
    secret: str, body: bytes, topic: str = "order.shipped", timestamp: int | None = None, msg_id: str | None = None
) -> dict[str, str]:
    """Headers of a ShipBob delivery signed with ``secret`` (Standard Webhooks)."""
    t = int(time.time()) if timestamp is None else timestamp
    delivery = msg_id or f"msg_{os.urandom(8).hex()}"
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(t),
        "webhook-signature": sign(signing_secret(secret), delivery, t, body),
        "x-webhook-topic": topic,
        "Content-Type": "application/json",
    }


# --- stock -------------------------------------------------------------------------------------------------------


def test_stock_pages_through_one_dc(wms: httpx.Client) -> None:
    first = wms.get("/stock", params={"location": "dc-tlb", "limit": 200})
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 200 and page["next_cursor"]
    assert {p["location"] for p in page["items"]} == {"dc-tlb"} and {p["source"] for p in page["items"]} == {"wms"}
    rest = wms.get("/stock", params={"location": "dc-tlb", "limit": 200, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 100 and rest["next_cursor"] is None
    assert not {p["sku"] for p in page["items"]} & {p["sku"] for p in rest["items"]}


def test_stock_of_one_sku_in_every_dc(wms: httpx.Client, sku: str) -> None:
    r = wms.get(f"/stock/{sku}")
    assert r.status_code == 200
    assert sorted(p["location"] for p in r.json()) == ["dc-tlb", "dc-zwl"]
    assert all(p["on_hand"] >= 0 and p["as_of"].endswith("Z") for p in r.json())


# --- fulfilment orders --------------------------------------------------------------------------------------------


def test_create_twice_is_one_order(estate: TestEstate, wms: httpx.Client, sku: str) -> None:
    order_ref = ref("ORD-TWICE")
    first = wms.post("/fulfilment-orders", json=order_body(order_ref, sku))
    second = wms.post("/fulfilment-orders", json=order_body(order_ref, sku))
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    assert first.json()["wms_id"] == second.json()["wms_id"]
    assert count_rows(estate, "SELECT count(*) FROM orders WHERE reference_id = ?", order_ref) == 1
    other = wms.post("/fulfilment-orders", json=order_body(order_ref, sku, qty=2))
    assert_problem(other, 409, "conflict")


def test_concurrent_creates_with_one_ref_make_one_order(estate: TestEstate, wms: httpx.Client, sku: str) -> None:
    order_ref = ref("ORD-RACE")
    statuses: list[int] = []
    served_by: set[str] = set()
    barrier = threading.Barrier(8)

    def create() -> None:
        with httpx.Client(base_url=estate.url("system-wms"), timeout=10) as client:
            barrier.wait()
            response = client.post("/fulfilment-orders", json=order_body(order_ref, sku))
            statuses.append(response.status_code)
            served_by.add(response.headers["x-served-by"])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert count_rows(estate, "SELECT count(*) FROM orders WHERE reference_id = ?", order_ref) == 1
    assert len(served_by) == estate.workers("system-wms"), "the race must cross both worker processes"


def test_a_split_shipment_publishes_one_dispatched_event_per_parcel_even_when_redelivered(
    estate: TestEstate, wms: httpx.Client, sandbox: httpx.Client, sku: str
) -> None:
    order_ref = ref("ORD-SHIP")
    assert wms.post("/fulfilment-orders", json=order_body(order_ref, sku, qty=3)).status_code == 201
    # A parcel with nothing in it is no shipment: refused, and nothing leaves.
    empty = sandbox.post("/_sim/ship", json={"order_reference": order_ref, "lines": [{"sku": sku, "qty": 0}]})
    assert empty.status_code == 400, empty.text
    # ShipBob splits one unit off into a parcel of its own; order.shipped fires for that parcel only.
    first = sandbox.post("/_sim/ship", json={"order_reference": order_ref, "lines": [{"sku": sku, "qty": 1}]})
    assert first.status_code == 200, first.text
    (first_hook,) = first.json()["webhooks"]
    (part,) = estate.wait_for(lambda: events(estate, "fulfilment", f"wms:{first_hook}"), 5.0, what="first parcel")
    assert part["payload"]["lines"] == [{"sku": sku, "qty": 1}]
    assert wms.get(f"/fulfilment-orders/{order_ref}").json()["status"] == "shipped"  # partly: the rest is open
    shipped = sandbox.post("/_sim/ship", json={"order_reference": order_ref})
    assert shipped.status_code == 200, shipped.text
    (webhook_id,) = shipped.json()["webhooks"]
    event_id = f"wms:{webhook_id}"
    (event,) = estate.wait_for(lambda: events(estate, "fulfilment", event_id), 5.0, what="shipment.dispatched")
    assert event["type"] == "shipment.dispatched" and event["key"] == order_ref and event["source"] == "wms"
    payload = event["payload"]
    assert payload["order_ref"] == order_ref and payload["location"] == "dc-tlb"
    assert payload["lines"] == [{"sku": sku, "qty": 2}]
    assert payload["shipment_ref"] != part["payload"]["shipment_ref"]

    redelivered = sandbox.post(f"/_webhooks/{webhook_id}/redeliver")
    assert redelivered.is_success and redelivered.json()["status"] == 200  # system-wms accepted it again
    assert len(events(estate, "fulfilment", event_id)) == 1
    # The projection applies the shipment event itself: no inventory delta may accompany it (DESIGN §4).
    assert not [e for e in estate.events("inventory") if e["id"].startswith(event_id)]

    order = wms.get(f"/fulfilment-orders/{order_ref}").json()
    assert order["status"] == "shipped"
    assert order["shipment_refs"] == [part["payload"]["shipment_ref"], payload["shipment_ref"]]
    shipment = wms.get(f"/shipments/{payload['shipment_ref']}").json()
    assert shipment["order_ref"] == order_ref and shipment["tracking_number"] == payload["tracking_number"]
    assert_problem(wms.post(f"/fulfilment-orders/{order_ref}/cancel"), 409, "conflict")

    delivered = sandbox.post("/_sim/deliver", json={"order_reference": order_ref})
    for delivery_hook in delivered.json()["webhooks"]:  # one per parcel
        event_id = f"wms:{delivery_hook}"
        (done,) = estate.wait_for(lambda e=event_id: events(estate, "fulfilment", e), 5.0, what="delivery")
        assert done["type"] == "delivery.completed" and done["key"] == order_ref
    assert wms.get(f"/fulfilment-orders/{order_ref}").json()["status"] == "delivered"


def test_cancel_before_shipping(wms: httpx.Client, sku: str) -> None:
    order_ref = ref("ORD-CXL")
    assert wms.post("/fulfilment-orders", json=order_body(order_ref, sku)).status_code == 201
    for _ in range(2):
        r = wms.post(f"/fulfilment-orders/{order_ref}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"


# --- receipts and counts -------------------------------------------------------------------------------------------


def test_return_receipt_flow(estate: TestEstate, wms: httpx.Client, sandbox: httpx.Client, sku: str) -> None:
    receipt_ref = ref("RMA")
    body = {"ref": receipt_ref, "location": "dc-tlb", "lines": [{"sku": sku, "qty": 1}], "reason": "too small"}
    first = wms.post("/receipts", json=body)
    again = wms.post("/receipts", json=body)
    assert (first.status_code, first.json()["status"], again.status_code, again.json()["created"]) == (
        201,
        "expected",
        200,
        False,
    )
    before = next(p for p in wms.get(f"/stock/{sku}").json() if p["location"] == "dc-tlb")["on_hand"]
    received = sandbox.post("/_sim/receive", json={"reference": receipt_ref})
    assert received.status_code == 200, received.text
    (hook,) = received.json()["webhooks"]
    (event,) = estate.wait_for(lambda: events(estate, "fulfilment", f"wms:{hook}"), 5.0, what="receipt.received")
    assert event["type"] == "receipt.received" and event["key"] == receipt_ref
    assert event["payload"] == {"receipt_ref": receipt_ref, "location": "dc-tlb", "lines": [{"sku": sku, "qty": 1}]}
    assert wms.get(f"/receipts/{receipt_ref}").json()["status"] == "received"
    after = next(p for p in wms.get(f"/stock/{sku}").json() if p["location"] == "dc-tlb")["on_hand"]
    assert after == before + 1


def test_cycle_count_reaches_the_inventory_stream_by_the_leased_poll(
    estate: TestEstate, sandbox: httpx.Client, sku: str
) -> None:
    """ShipBob sends no stock webhook: the poll of its inventory history turns the adjustment into a count."""
    counted = sandbox.post("/_sim/count", json={"warehouse": "ZWL", "sku": sku, "on_hand": 17})
    assert counted.status_code == 200 and counted.json()["webhooks"] == []

    def count_event() -> list[dict[str, Any]]:
        return [
            e
            for e in estate.events("inventory")
            if e["key"] == f"{sku}@dc-zwl" and e["payload"]["on_hand"] == 17 and e["id"].startswith("wms:history:")
        ]

    (event,) = estate.wait_for(count_event, 5.0, what="count")
    assert event["type"] == "inventory.counted" and event["source"] == "wms"


# --- webhook security ------------------------------------------------------------------------------------------------


def test_webhook_signature_is_enforced(estate: TestEstate, wms: httpx.Client) -> None:
    secret = estate.settings_of(WmsSettings).wms_webhook_secret
    body = json.dumps({"id": 1, "order_id": 2, "reference_id": "ORD-SIG", "status": "Completed"}).encode()
    stale = signed(secret, body, timestamp=int(time.time()) - 400)
    cases = [
        {"Content-Type": "application/json", "x-webhook-topic": "order.shipped"},
        signed("not-the-secret", body),
        stale,
        signed(secret, body, timestamp=int(time.time()) + 400),
        {**signed(secret, body), "webhook-signature": "v1,bm90LWl0"},
        {**signed(secret, body), "webhook-signature": "garbage"},
    ]
    for headers in cases:
        assert_problem(wms.post("/webhooks/wms", content=body, headers=headers), 401, "invalid-signature")
    tampered = body.replace(b"ORD-SIG", b"ORD-SIX")
    assert_problem(wms.post("/webhooks/wms", content=tampered, headers=signed(secret, body)), 401)


def test_signed_but_unhandled_topic_is_ignored_and_malformed_is_400(estate: TestEstate, wms: httpx.Client) -> None:
    secret = estate.settings_of(WmsSettings).wms_webhook_secret
    charge = json.dumps({"amount": 1.5}).encode()
    r = wms.post("/webhooks/wms", content=charge, headers=signed(secret, charge, "billing.charge.created"))
    assert r.status_code == 200 and r.json()["ignored"] is True
    # An exception (e.g. out of stock) has no canonical fact: acknowledged, nothing published, and the operator's
    # log says which order waits, where and why.
    exception = json.dumps(
        {
            "id": 5,
            "order_id": 6,
            "reference_id": "ORD-EXC",
            "status": "Exception",
            "location": {"id": 10, "name": "Tilburg (NL)"},
            "status_details": [{"name": "OutOfStock", "description": "Inventory is out of stock"}],
        }
    ).encode()
    r = wms.post("/webhooks/wms", content=exception, headers=signed(secret, exception, "order.shipment.exception"))
    assert r.status_code == 200 and r.json()["ignored"] is True
    logged = estate.log_path("system-wms").read_text()
    assert "order ORD-EXC shipment 5 at Tilburg (NL) is in exception: OutOfStock (Inventory is out of stock)" in logged
    for topic, bad in [
        ("order.shipment.exception", b'{"id": 5, "status": "Exception"}'),
        ("order.shipped", b"not json"),
        ("order.shipped", b'{"id": "x"}'),
        ("order.shipped", json.dumps({"id": 1, "order_id": 2, "reference_id": "R-1", "status": "Completed"}).encode()),
        ("return.completed", json.dumps({"id": 3, "reference_id": "RMA-1"}).encode()),
    ]:
        assert_problem(
            wms.post("/webhooks/wms", content=bad, headers=signed(secret, bad, topic)), 400, "invalid-request"
        )


# --- bad input ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, status",
    [
        (lambda b: {**b, "surprise": 1}, 400),
        (lambda b: {**b, "lines": [{"sku": b["lines"][0]["sku"], "qty": 0}]}, 400),
        (lambda b: {**b, "lines": [{"sku": b["lines"][0]["sku"], "qty": -3}]}, 400),
        (lambda b: {**b, "lines": [{"sku": b["lines"][0]["sku"], "qty": 10**9}]}, 400),
        (lambda b: {**b, "lines": [{"sku": b["lines"][0]["sku"], "qty": "2"}]}, 400),
        (lambda b: {**b, "lines": [{"sku": "bad sku!", "qty": 1}]}, 400),
        (lambda b: {**b, "lines": []}, 400),
        (lambda b: {**b, "ref": "x" * 65}, 400),
        (lambda b: {**b, "ref": None}, 400),
        (lambda b: {**b, "location": "store-abc"}, 400),
        (lambda b: {**b, "location": "DC-TLB"}, 400),
        (lambda b: {**b, "ship_to": {**b["ship_to"], "country": "Netherlands"}}, 400),
        (lambda b: {**b, "lines": [{"sku": "OG-NOT-IN-CATALOGUE", "qty": 1}]}, 422),
        (lambda b: {**b, "location": "dc-xyz"}, 422),
    ],
)
def test_bad_fulfilment_orders_are_problems(wms: httpx.Client, sku: str, mutate: Any, status: int) -> None:
    body = mutate(order_body(ref("ORD-BAD"), sku))
    assert_problem(wms.post("/fulfilment-orders", json=body), status)


def test_bad_bodies_and_queries_are_problems(wms: httpx.Client, sku: str) -> None:
    assert_problem(
        wms.post("/fulfilment-orders", content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    assert_problem(wms.post("/fulfilment-orders", content=b"[]"), 400)
    huge = json.dumps(order_body(ref("ORD-HUGE"), sku, note="x" * 1_100_000)).encode()
    # Its own connection: the server answers 413 without reading the body and closes the connection.
    oversized = httpx.post(
        str(wms.base_url).rstrip("/") + "/fulfilment-orders",
        content=huge,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_problem(oversized, 413)
    assert_problem(
        wms.post("/receipts", json={"ref": "R-1", "location": "dc-tlb", "lines": [{"sku": sku, "qty": 0}]}), 400
    )
    for params in (
        {"limit": 0},
        {"limit": 5000},
        {"location": "tlb"},
        {"cursor": "not a cursor!"},
        {"cursor": "Zm9vYmFy", "location": "dc-tlb"},
    ):
        assert_problem(wms.get("/stock", params=params), 400)
    assert_problem(wms.get("/stock", params={"location": "dc-xyz"}), 404)
    assert_problem(wms.get("/stock/bad%20sku"), 400)
    assert_problem(wms.get("/stock/OG-NOT-IN-CATALOGUE"), 404, "not-found")
    assert_problem(wms.get("/fulfilment-orders/ORD-NEVER"), 404, "not-found")
    assert_problem(wms.post("/fulfilment-orders/ORD-NEVER/cancel"), 404)
    assert_problem(wms.get("/shipments/shp_never"), 404)
    assert_problem(wms.get("/receipts/RMA-NEVER"), 404)
    assert_problem(wms.get("/fulfilment-orders/bad%20ref"), 400)
