"""Through the gateway end to end: a shopper and a partner from their credential to an order and its timeline,
every hop real (gateway -> experience API -> process-orders -> availability and the system APIs); a shopper from
a product page to the tracking of the parcel the DC shipped (issue 9)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx

from tests.estate import TestEstate, order_body


def _ids() -> tuple[str, str]:
    return f"c-gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex


def test_a_shopper_goes_from_token_to_order_to_timeline(
    estate: TestEstate, gateway: httpx.Client, shopper_token: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 5)
    customer, key = _ids()
    auth = {"Authorization": f"Bearer {shopper_token(customer, 'web')}"}
    placed = gateway.post(
        "/web/v1/orders", json=order_body(sku, 2, customer=customer), headers={**auth, "Idempotency-Key": key}
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert placed.headers["location"].endswith(f"/web/v1/orders/{order_id}")
    assert placed.headers["x-served-by"].startswith("gateway/")
    assert "ratelimit" in placed.headers and "ratelimit-policy" in placed.headers
    assert placed.headers["x-request-id"]

    again = gateway.post(
        "/web/v1/orders", json=order_body(sku, 2, customer=customer), headers={**auth, "Idempotency-Key": key}
    )
    assert again.status_code == 201 and again.json()["id"] == order_id

    read = gateway.get(f"/web/v1/orders/{order_id}", headers=auth)
    assert read.status_code == 200 and read.json()["id"] == order_id
    mine = gateway.get("/web/v1/orders", headers=auth)
    assert [o["id"] for o in mine.json()["items"]] == [order_id]
    timeline = gateway.get(f"/web/v1/orders/{order_id}/timeline", headers=auth)
    assert timeline.status_code == 200, timeline.text
    assert [step["state"] for step in timeline.json()][:2] == ["received", "reserved"], timeline.text
    # the order belongs to the customer the token names, on the web channel
    assert estate.order_record(order_id)["owner"] == f"web:{customer}"


def test_a_partner_goes_from_key_to_order_to_status(
    estate: TestEstate, gateway: httpx.Client, partner_key: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 5)
    partner = f"p-gw-{uuid.uuid4().hex[:8]}"
    auth = {"X-API-Key": partner_key(partner, "standard")}
    bulk = gateway.post("/partner/v1/availability", json={"skus": [sku]}, headers=auth)
    assert bulk.status_code == 200, bulk.text
    (item,) = bulk.json()["items"]
    at = {loc["location"]: loc["available"] for loc in item["locations"]}
    assert item["sku"] == sku and at["dc-tlb"] == 5 and item["ship_to_home"]["available"] >= 5, item
    # bulk availability costs 5 units of the plan (gateway/routes.toml): the headers say what is left
    assert "r=" in bulk.headers["ratelimit"] and "partner-standard" in bulk.headers["ratelimit-policy"]
    placed = gateway.post(
        "/partner/v1/orders",
        json=order_body(sku, 1, customer="their-c-77"),
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert "partner-standard" in placed.headers["ratelimit-policy"]
    status = gateway.get(f"/partner/v1/orders/{order_id}", headers=auth)
    assert status.status_code == 200, status.text
    listed = gateway.get("/partner/v1/orders", headers=auth)
    assert [o["id"] for o in listed.json()["items"]] == [order_id]
    cancelled = gateway.post(f"/partner/v1/orders/{order_id}/cancel", json={"reason": "test"}, headers=auth)
    assert cancelled.status_code in (200, 409), cancelled.text
    after = gateway.get(f"/partner/v1/orders/{order_id}", headers=auth)
    assert after.status_code == 200 and ("ratelimit" in after.headers), after.text
    if cancelled.status_code == 200:
        assert after.json()["status"] == "cancelled", after.text
    assert estate.order_record(order_id)["owner"] == f"partner:{partner}"


# A shopper may make 100 requests a minute (gateway/limits.toml): a poll every 0.25 s for 10 s stays within it.
POLL_S = 0.25
SHIPPED_DEADLINE_S = 10.0


def test_a_web_shopper_goes_from_product_page_to_tracking(
    estate: TestEstate, gateway: httpx.Client, shopper_token: Callable[..., str]
) -> None:
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 4)
    customer, key = _ids()
    auth = {"Authorization": f"Bearer {shopper_token(customer, 'web')}"}
    product = gateway.get(f"/web/v1/products/{sku}", headers=auth)
    assert product.status_code == 200, product.text
    assert product.json()["sku"] == sku and product.json()["availability"]["status"] == "in_stock"

    placed = gateway.post(
        "/web/v1/orders", json=order_body(sku, 1, customer=customer), headers={**auth, "Idempotency-Key": key}
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert placed.json()["tracking"] == []
    parcel = estate.ship(order_id, carrier="PostNL")["shipment"]  # the WMS's webhook comes in through the gateway

    deadline = time.monotonic() + SHIPPED_DEADLINE_S
    while True:
        timeline = gateway.get(f"/web/v1/orders/{order_id}/timeline", headers=auth)
        assert timeline.status_code == 200, timeline.text
        shipped = [entry for entry in timeline.json() if entry["state"] == "shipped"]
        if shipped:
            break
        assert time.monotonic() < deadline, f"not shipped within {SHIPPED_DEADLINE_S} s: {timeline.text}"
        time.sleep(POLL_S)
    number = parcel["tracking_number"]
    assert shipped[0]["detail"] == f"shipment.dispatched: PostNL {number}"

    read = gateway.get(f"/web/v1/orders/{order_id}", headers=auth)
    assert read.status_code == 200, read.text
    assert read.json()["state"] == "shipped"
    # The order ships to 1015 CJ, NL (tests/estate.py's ADDRESS): PostNL's page is found by barcode and destination.
    assert read.json()["tracking"] == [
        {
            "carrier": "PostNL",
            "tracking_number": number,
            "url": f"https://jouw.postnl.nl/track-and-trace/{number}-NL-1015CJ",
            "shipped_at": parcel["dispatched_at"],
        }
    ]
