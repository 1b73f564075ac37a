"""sandbox-wms against ShipBob's documented shapes (fixtures/shipbob): the documented requests, with the sandbox's
own ids in place of the examples', get answers whose every field is one the fixture has, with the same JSON type;
errors come in the same shape and status. Webhook deliveries (read from the sandbox's outbox) have the documented
payload layout and Standard Webhooks headers.

ShipBob's schema makes nearly every field nullable (``["string", "null"]``), so a null answered where the fixture has
a value is accepted; a value of another type is not. Litestar's TestClient drives the sandbox app in-process, on a
temporary data directory with a small seed.
"""

from __future__ import annotations

import copy
import functools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from services.sandbox.common.catalogue import generate
from services.sandbox.wms.app import create_app
from services.sandbox.wms.settings import SandboxWmsSettings
from services.sandbox.wms.sim import make_signer
from services.system.wms.mapping import TOPICS
from services.system.wms.webhooks import verify_signature
from tests.contract import vendor
from tests.contract.vendor import fixture_loaders

TOKEN = "conformance-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Port 9 (discard) refuses at once: deliveries are recorded and signed, and fail harmlessly.
HOOK_URL = "http://127.0.0.1:9/webhooks/wms"
API = "/2026-01"
SUBSCRIPTION_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the documented format: whsec_ and 32 base64 chars

fixture, body = fixture_loaders("shipbob")
# ShipBob's schema makes nearly every field nullable: a null on either side is within the contract.
assert_same_shape = functools.partial(vendor.assert_same_shape, nullable=True)


def test_the_shape_check_can_fail() -> None:
    with pytest.raises(AssertionError, match="fields not in the documented example"):
        assert_same_shape({"a": 1, "b": 2}, {"a": 0})
    with pytest.raises(AssertionError, match="expected string"):
        assert_same_shape({"a": [{"s": 1}]}, {"a": [{"s": "x"}]})
    assert_same_shape({"a": None}, {"a": "x"})


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> SandboxWmsSettings:
    return SandboxWmsSettings(
        data_dir=str(tmp_path_factory.mktemp("sandbox-wms")), seed_skus=40, wms_access_token=TOKEN
    )


@pytest.fixture(scope="module")
def client(settings: SandboxWmsSettings) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def ids(settings: SandboxWmsSettings, client: TestClient[Any]) -> dict[str, Any]:
    """Sandbox ids standing in for the documentation's: the channel, a centre and two SKUs stocked there."""
    cat = generate(settings.seed, settings.seed_skus, settings.seed_stores, settings.seed_dcs)
    channel = client.get(f"{API}/channel", headers=AUTH).json()["items"][0]["id"]
    centre = client.get(f"{API}/location", headers=AUTH).json()[0]
    levels = client.get(
        f"{API}/inventory-level/locations", params={"LocationId": centre["id"], "PageSize": 40}, headers=AUTH
    ).json()["items"]
    stocked = [
        lv for lv in levels if any(q["on_hand_quantity"] - q["committed_quantity"] >= 5 for q in lv["locations"])
    ]
    assert len(stocked) >= 2 and cat.products
    sub = body("webhook-subscription-create.request.json")
    # As published, the example's secret ("string") breaks the format the same page documents for it.
    refused = client.post(f"{API}/webhook", json=sub, headers=AUTH)
    assert refused.status_code == 400 and "secret" in refused.json()
    ours = {**sub, "url": HOOK_URL, "secret": SUBSCRIPTION_SECRET, "topics": list(TOPICS)}
    made = client.post(f"{API}/webhook", json=ours, headers=AUTH)
    assert made.status_code == 200
    assert_same_shape(made.json(), body("webhook-subscription-create.response.json"))
    return {
        "channel": channel,
        "centre": centre,
        "items": stocked[:2],
        "write": {**AUTH, "shipbob_channel_id": str(channel)},
    }


def outbox(settings: SandboxWmsSettings, topic: str) -> list[tuple[dict[str, str], Any]]:
    """The deliveries queued for ``topic``: their headers as one attempt sends them (signed now by the sandbox's
    own signer, as the sender does at each attempt), checked by system-wms's verifier, and their payloads."""
    db = sqlite3.connect(Path(settings.data_dir) / "sandbox" / "sandbox-wms.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT url, headers, body FROM _webhooks ORDER BY created_at").fetchall()
        signer = make_signer(lambda: db)
        out = []
        for row in rows:
            stored = json.loads(row["headers"])
            if stored.get("x-webhook-topic") != topic:
                continue
            raw = bytes(row["body"])
            headers = {k.lower(): v for k, v in {**stored, **signer(row["url"], raw, stored)}.items()}
            verify_signature(SUBSCRIPTION_SECRET, raw, headers)
            out.append((headers, json.loads(raw)))
    finally:
        db.close()
    return out


def order_request(ids: dict[str, Any], ref: str) -> dict[str, Any]:
    request = copy.deepcopy(body("order-create.request.json"))
    first, second = ids["items"]
    request.update(reference_id=ref, order_number=ref, location_id=ids["centre"]["id"])
    request["products"] = [
        {"name": first["name"], "reference_id": first["sku"], "quantity": 2},
        {"name": second["name"], "reference_id": second["sku"], "quantity": 1},
    ]
    return request


def test_authentication_is_required(client: TestClient[Any]) -> None:
    documented = fixture("error-401-unauthorized.synthetic.error.json")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.get(f"{API}/location", headers=headers)
        assert response.status_code == documented["status"]
        assert response.content == b"" and documented["body"] is None


def test_channels_and_locations(client: TestClient[Any]) -> None:
    channels = client.get(f"{API}/channel", headers=AUTH)
    assert channels.status_code == 200
    assert_same_shape(channels.json(), body("channels.response.json"))
    assert any("orders_write" in c["scopes"] for c in channels.json()["items"])
    locations = client.get(f"{API}/location", headers=AUTH)
    assert locations.status_code == 200
    assert_same_shape(locations.json(), body("locations.response.json"))
    assert all(loc["abbreviation"] for loc in locations.json())


def test_inventory_levels_and_history(client: TestClient[Any], ids: dict[str, Any]) -> None:
    centre = ids["centre"]["id"]
    page = client.get(f"{API}/inventory-level/locations", params={"LocationId": centre, "PageSize": 2}, headers=AUTH)
    assert page.status_code == 200
    assert_same_shape(page.json(), body("inventory-levels-by-location.response.json"))
    assert len(page.json()["items"]) == 2 and page.json()["next"]
    item = ids["items"][0]
    one = client.get(f"{API}/inventory-level/{item['inventory_id']}/locations", headers=AUTH)
    assert one.status_code == 200 and one.json()["sku"] == item["sku"]
    assert_same_shape(one.json(), body("inventory-level-item-by-location.response.json"))
    missing = client.get(f"{API}/inventory-level/1/locations", headers=AUTH)
    documented = fixture("error-404-inventory.synthetic.error.json")
    assert missing.status_code == documented["status"]
    assert_same_shape(missing.json(), documented["body"])
    request = {
        **body("inventory-history.request.json"),
        "facility_id": centre,
        "cursor": 0,
        "start_date": "2026-01-01T00:00:00Z",
        "end_date": None,
        "event_category": None,
        "inventory_ids": [i["inventory_id"] for i in ids["items"]],
    }
    history = client.post(f"{API}/inventory/history:query", json=request, headers=AUTH)
    assert history.status_code == 200
    assert_same_shape(history.json(), body("inventory-history.synthetic.response.json"))


def test_order_lifecycle_with_split_shipments(
    client: TestClient[Any], ids: dict[str, Any], settings: SandboxWmsSettings
) -> None:
    ref = "o-conformance-1"
    created = client.post(f"{API}/order", json=order_request(ids, ref), headers=ids["write"])
    assert created.status_code == 201, created.text
    assert_same_shape(created.json(), body("order-create.synthetic.response.json"))
    order_id = created.json()["id"]
    # The same reference in the channel again: 422 in the orders endpoints' model-state shape.
    again = client.post(f"{API}/order", json=order_request(ids, ref), headers=ids["write"])
    documented = fixture("error-422-duplicate-reference.synthetic.error.json")
    assert again.status_code == documented["status"] and "reference_id" in again.json()
    assert_same_shape(again.json(), documented["body"])
    by_ref = client.get(f"{API}/order", params={"ReferenceIds": ref}, headers=AUTH)
    assert by_ref.status_code == 200 and [o["id"] for o in by_ref.json()] == [order_id]
    assert_same_shape(by_ref.json(), body("order-by-reference.synthetic.response.json"))
    # Ship the first SKU as a parcel of its own, then the rest: two shipments, each with tracking.
    first_sku = ids["items"][0]["sku"]
    shipped = client.post("/_sim/ship", json={"order_reference": ref, "lines": [{"sku": first_sku, "qty": 2}]})
    assert shipped.status_code == 200, shipped.text
    assert client.post("/_sim/ship", json={"order_reference": ref}).status_code == 200
    assert client.post("/_sim/deliver", json={"order_reference": ref}).status_code == 200
    got = client.get(f"{API}/order/{order_id}", headers=AUTH)
    assert got.status_code == 200
    assert_same_shape(got.json(), body("order-get.synthetic.response.json"))
    parcels = [s for s in got.json()["shipments"] if s["tracking"]]
    assert len(parcels) == 2 and all(s["tracking"]["tracking_number"] and s["tracking"]["carrier"] for s in parcels)
    shipment = client.get(f"{API}/shipment/{parcels[0]['id']}", headers=AUTH)
    assert shipment.status_code == 200
    assert_same_shape(shipment.json(), body("shipment-get.synthetic.response.json"))
    for topic, name in (
        ("order.shipped", "webhook-order-shipped.synthetic.webhook.json"),
        ("order.shipment.delivered", "webhook-order-shipment-delivered.synthetic.webhook.json"),
    ):
        deliveries = [(h, b) for h, b in outbox(settings, topic) if b["reference_id"] == ref]
        assert len(deliveries) == 2, topic
        for headers, payload in deliveries:
            assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
            assert headers["webhook-signature"].startswith("v1,")
            assert_same_shape(payload, body(name))
    # Shipped parcels cannot be cancelled: ShipBob answers Failure per shipment.
    cancel = client.post(f"{API}/order/{order_id}:cancel", headers=AUTH)
    assert cancel.status_code == 200 and cancel.json()["status"] == "Failure"
    assert_same_shape(cancel.json(), body("order-cancel.synthetic.response.json"))


def test_cancel_and_missing_order(client: TestClient[Any], ids: dict[str, Any]) -> None:
    created = client.post(f"{API}/order", json=order_request(ids, "o-conformance-2"), headers=ids["write"])
    assert created.status_code == 201
    cancel = client.post(f"{API}/order/{created.json()['id']}:cancel", headers=AUTH)
    assert cancel.status_code == 200 and cancel.json()["status"] == "Success"
    assert_same_shape(cancel.json(), body("order-cancel.synthetic.response.json"))
    documented = fixture("error-404-order.synthetic.error.json")
    missing = client.get(f"{API}/order/999999999", headers=AUTH)
    assert missing.status_code == documented["status"] and missing.content == b""


def test_validation_errors_are_model_state(client: TestClient[Any], ids: dict[str, Any]) -> None:
    documented = fixture("error-400-validation.synthetic.error.json")
    bad = order_request(ids, "o-conformance-3")
    del bad["shipping_method"]
    del bad["recipient"]["address"]["country"]
    response = client.post(f"{API}/order", json=bad, headers=ids["write"])
    assert response.status_code == documented["status"], response.text
    answer = response.json()
    assert answer and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in answer.values())
    no_channel = client.post(f"{API}/order", json=order_request(ids, "o-conformance-4"), headers=AUTH)
    assert no_channel.status_code == 400 and "shipbob_channel_id" in no_channel.json()


def test_the_frameworks_own_errors_are_shipbobs_too(client: TestClient[Any], ids: dict[str, Any]) -> None:
    """No problem+json on the vendor API (issue 11): a path ShipBob does not serve is an empty 404, a method a
    path does not take and a body that is not JSON are model state; the operator routes keep problem+json."""
    unknown = client.get(f"{API}/no-such-thing", headers=AUTH)
    assert unknown.status_code == 404 and unknown.content == b"", unknown.text
    for response, status in (
        (client.delete(f"{API}/channel", headers=AUTH), 405),
        (
            client.post(
                f"{API}/order", content=b"{not json", headers={**ids["write"], "Content-Type": "application/json"}
            ),
            400,
        ),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json"), response.headers
        answer = response.json()
        assert answer and all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in answer.values())
    operator = client.put("/_faults", json={"latency_ms": -1})
    assert operator.status_code == 400 and operator.headers["content-type"].startswith("application/problem+json")


def test_returns(client: TestClient[Any], ids: dict[str, Any], settings: SandboxWmsSettings) -> None:
    ref = "o-conformance-5"
    created = client.post(f"{API}/order", json=order_request(ids, ref), headers=ids["write"])
    assert created.status_code == 201
    assert client.post("/_sim/ship", json={"order_reference": ref}).status_code == 200
    item = ids["items"][0]
    request = copy.deepcopy(body("return-create.request.json"))
    request.update(reference_id="r-conformance-1", fulfillment_center={"id": ids["centre"]["id"]})
    # The guide's example sends the shipment id as a string of digits; it is kept a string here.
    request["original_shipment_id"] = str(created.json()["shipments"][0]["id"])
    request["inventory"][0]["id"] = item["inventory_id"]
    made = client.post(f"{API}/return", json=request, headers=ids["write"])
    assert made.status_code == 201, made.text
    assert_same_shape(made.json(), body("return-create.synthetic.response.json"))
    assert made.json()["status"] == "AwaitingArrival"
    again = client.post(f"{API}/return", json=request, headers=ids["write"])
    documented = fixture("error-422-return.synthetic.error.json")
    assert again.status_code == documented["status"]
    assert_same_shape(again.json(), documented["body"])
    assert client.post("/_sim/receive", json={"reference": "r-conformance-1"}).status_code == 200
    got = client.get(f"{API}/return/{made.json()['id']}", headers=AUTH)
    assert got.status_code == 200 and got.json()["status"] == "Completed"
    assert_same_shape(got.json(), body("return-get.synthetic.response.json"))
    listed = client.get(f"{API}/return", params={"ReferenceIds": "r-conformance-1"}, headers=AUTH)
    assert listed.status_code == 200
    assert_same_shape(listed.json(), body("return-by-reference.synthetic.response.json"))
    ((_, payload),) = [
        (h, b) for h, b in outbox(settings, "return.completed") if b["reference_id"] == "r-conformance-1"
    ]
    assert_same_shape(payload, body("webhook-return-completed.synthetic.webhook.json"))


def test_receiving_orders(client: TestClient[Any], ids: dict[str, Any]) -> None:
    request = copy.deepcopy(body("receiving-create.request.json"))
    request["fulfillment_center"] = {"id": ids["centre"]["id"]}
    request["boxes"][0]["box_items"][0]["inventory_id"] = ids["items"][1]["inventory_id"]
    made = client.post(f"{API}/receiving", json=request, headers=AUTH)
    assert made.status_code == 201, made.text
    assert_same_shape(made.json(), body("receiving-get.synthetic.response.json"))
    got = client.get(f"{API}/receiving/{made.json()['id']}", headers=AUTH)
    assert got.status_code == 200 and got.json()["status"] == "Awaiting"
    assert_same_shape(got.json(), body("receiving-get.synthetic.response.json"))
    listed = client.get(f"{API}/receiving", headers=AUTH)
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    for wro in listed.json():
        assert_same_shape(wro, body("receiving-get.synthetic.response.json"))


def test_subscriptions_list(client: TestClient[Any], ids: dict[str, Any]) -> None:
    listed = client.get(f"{API}/webhook", headers=AUTH)
    assert listed.status_code == 200 and listed.json()["items"]
    assert_same_shape(listed.json(), body("webhook-subscriptions.response.json"))
    assert "secret" not in listed.json()["items"][0]


def test_exception_webhook_when_stock_is_short(
    client: TestClient[Any], ids: dict[str, Any], settings: SandboxWmsSettings
) -> None:
    request = order_request(ids, "o-conformance-6")
    request["products"] = [{**request["products"][1], "quantity": 100_000}]
    created = client.post(f"{API}/order", json=request, headers=ids["write"])
    assert created.status_code == 201 and created.json()["shipments"][0]["status"] == "Exception"
    deliveries = [b for _, b in outbox(settings, "order.shipment.exception") if b["reference_id"] == "o-conformance-6"]
    assert len(deliveries) == 1
    assert_same_shape(deliveries[0], body("webhook-order-shipment-exception.synthetic.webhook.json"))
