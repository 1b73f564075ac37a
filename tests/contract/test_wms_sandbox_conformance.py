"""The sandbox WMS answers the documented requests with the documented shapes (same fixtures as the connector).

A shape is the set of keys with their JSON types, recursively (``null`` in the documentation matches any
type, as an optional field). The sandbox's signed webhooks are also checked against the connector's verifier,
so signer and verifier cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from services.sandbox.wms.app import create_app
from services.sandbox.wms.settings import SandboxWmsSettings
from services.system.wms.webhooks import verify_signature
from shared.problems import ProblemError
from tests.contract.vendor import fixture_loaders

FIXTURES = Path(__file__).parent / "fixtures" / "wms"
API_KEY = "conformance-key"
SECRET = "conformance-secret"
H = {"X-Api-Key": API_KEY}


fixture, body = fixture_loaders("wms")


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return None
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def same_shape(documented: Any, actual: Any, where: str = "$") -> None:
    doc, act = shape(documented), shape(actual)
    _compare(doc, act, where)


def _compare(doc: Any, act: Any, where: str) -> None:
    if doc is None or act is None:
        return  # documented null (optional) or an absent optional value
    if isinstance(doc, dict):
        assert isinstance(act, dict), f"{where}: expected an object, got {act}"
        assert set(doc) == set(act), f"{where}: keys differ: documented {sorted(doc)} vs {sorted(act)}"
        for key in doc:
            _compare(doc[key], act[key], f"{where}.{key}")
    elif isinstance(doc, list):
        assert isinstance(act, list), f"{where}: expected an array"
        if doc and act:
            _compare(doc[0], act[0], f"{where}[0]")
    else:
        assert doc == act, f"{where}: documented {doc}, got {act}"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    settings = SandboxWmsSettings(
        data_dir=str(tmp_path_factory.mktemp("wms-conformance")),
        seed_skus=60,
        seed_stores=2,
        seed_dcs=2,
        wms_api_key=API_KEY,
        wms_webhook_secret=SECRET,
        # Nothing listens there: notifications stay in the outbox, where the test reads them.
        wms_webhook_url="http://127.0.0.1:9/webhooks/wms",
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_missing_key_is_the_documented_401(client: TestClient[Any]) -> None:
    for headers in ({}, {"X-Api-Key": "wrong"}):
        r = client.get("/api/v1/warehouses", headers=headers)
        assert r.status_code == 401 and r.json() == body("error-unauthorized.error.json")


def test_warehouses(client: TestClient[Any]) -> None:
    r = client.get("/api/v1/warehouses", headers=H)
    assert r.status_code == 200
    same_shape(body("warehouses-list.response.json"), r.json())
    assert [w["code"] for w in r.json()["items"]] == ["TLB", "ZWL"]


def test_stock_listing_pages_with_tokens(client: TestClient[Any]) -> None:
    r = client.get("/api/v1/stock", params={"warehouse": "TLB", "page_size": 2}, headers=H)
    assert r.status_code == 200
    same_shape(body("stock-list.response.json"), r.json())
    first = r.json()
    assert len(first["items"]) == 2 and first["next_page_token"]
    seen = {i["sku"] for i in first["items"]}
    token = first["next_page_token"]
    pages = 1
    while token:
        page = client.get(
            "/api/v1/stock", params={"warehouse": "TLB", "page_size": 25, "page_token": token}, headers=H
        ).json()
        assert not seen & {i["sku"] for i in page["items"]}, "pages overlap"
        seen |= {i["sku"] for i in page["items"]}
        token = page["next_page_token"]
        pages += 1
    assert len(seen) == 60 and pages == 4


@pytest.mark.parametrize(
    "params", [{"page_size": 1001}, {"page_size": 0}, {"page_token": "garbage!"}, {"warehouse": "tlb"}]
)
def test_stock_listing_bad_queries_are_400_envelopes(client: TestClient[Any], params: dict[str, Any]) -> None:
    r = client.get("/api/v1/stock", params=params, headers=H)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


def test_stock_of_one_sku(client: TestClient[Any]) -> None:
    documented = body("stock-sku.response.json")
    r = client.get(f"/api/v1/stock/{documented['sku']}", headers=H)
    assert r.status_code == 200
    same_shape(documented, r.json())
    assert [i["warehouse"] for i in r.json()["items"]] == ["TLB", "ZWL"]
    missing = client.get("/api/v1/stock/NOPE-1", headers=H)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_order_lifecycle_matches_the_documentation(client: TestClient[Any]) -> None:
    request = body("fulfillment-order-create.request.json")
    sku = request["lines"][0]["sku"]
    before = client.get(f"/api/v1/stock/{sku}", headers=H).json()["items"][0]

    created = client.post("/api/v1/fulfillment-orders", json=request, headers=H)
    assert created.status_code == 201
    same_shape(body("fulfillment-order-create.response.json"), created.json())
    order = created.json()
    assert order["status"] == "received" and order["order_reference"] == request["order_reference"]
    after = client.get(f"/api/v1/stock/{sku}", headers=H).json()["items"][0]
    assert after["allocated"] == before["allocated"] + 2 and after["on_hand"] == before["on_hand"]

    duplicate = client.post("/api/v1/fulfillment-orders", json=request, headers=H)
    assert duplicate.status_code == 409
    same_shape(body("fulfillment-order-duplicate.error.json"), duplicate.json())
    assert duplicate.json()["error"]["code"] == "duplicate_order_reference"
    assert duplicate.json()["error"]["details"]["id"] == order["id"]

    shipped = client.post("/_sim/ship", json={"order_reference": request["order_reference"]})
    assert shipped.status_code == 200
    listed = client.get("/api/v1/fulfillment-orders", params={"order_reference": request["order_reference"]}, headers=H)
    same_shape(body("fulfillment-order-list.response.json"), listed.json())
    assert listed.json()["items"][0]["status"] == "shipped"
    after_ship = client.get(f"/api/v1/stock/{sku}", headers=H).json()["items"][0]
    assert after_ship["on_hand"] == before["on_hand"] - 2 and after_ship["allocated"] == before["allocated"]

    shipment_id = listed.json()["items"][0]["shipment_ids"][0]
    shipment = client.get(f"/api/v1/shipments/{shipment_id}", headers=H)
    assert shipment.status_code == 200
    same_shape(body("shipment-get.response.json"), shipment.json())

    cancel = client.post(f"/api/v1/fulfillment-orders/{order['id']}/cancel", headers=H)
    assert cancel.status_code == 409
    same_shape(body("fulfillment-order-not-cancellable.error.json"), cancel.json())
    assert cancel.json()["error"]["code"] == "order_not_cancellable"


def test_cancel_before_shipping_releases_allocation_and_repeats(client: TestClient[Any]) -> None:
    request = {**body("fulfillment-order-create.request.json"), "order_reference": "ORD-CANCEL-1"}
    sku = request["lines"][0]["sku"]
    before = client.get(f"/api/v1/stock/{sku}", headers=H).json()["items"][0]["allocated"]
    order = client.post("/api/v1/fulfillment-orders", json=request, headers=H).json()
    for _ in range(2):
        r = client.post(f"/api/v1/fulfillment-orders/{order['id']}/cancel", headers=H)
        assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["cancelled_at"]
    assert client.get(f"/api/v1/stock/{sku}", headers=H).json()["items"][0]["allocated"] == before


def test_backorder_is_accepted_and_reported(client: TestClient[Any]) -> None:
    request = {
        **body("fulfillment-order-create.request.json"),
        "order_reference": "ORD-BACK-1",
        "lines": [{"sku": body("fulfillment-order-create.request.json")["lines"][0]["sku"], "quantity": 10000}],
    }
    r = client.post("/api/v1/fulfillment-orders", json=request, headers=H)
    assert r.status_code == 201 and r.json()["lines"][0]["backordered"] > 0
    assert client.post("/_sim/ship", json={"order_reference": "ORD-BACK-1"}).status_code == 409


@pytest.mark.parametrize(
    "patch, status, code",
    [
        ({"lines": [{"sku": "NOPE-1", "quantity": 1}]}, 422, "unknown_sku"),
        ({"warehouse": "XXX"}, 422, "unknown_warehouse"),
        ({"lines": []}, 400, "invalid_request"),
        ({"lines": [{"sku": "OG-1000-BLK-XS-000000", "quantity": 0}]}, 400, "invalid_request"),
        ({"lines": [{"sku": "OG-1000-BLK-XS-000000", "quantity": 10001}]}, 400, "invalid_request"),
        ({"lines": [{"sku": "bad sku", "quantity": 1}]}, 400, "invalid_request"),
        ({"surprise": True}, 400, "invalid_request"),
        ({"order_reference": 12}, 400, "invalid_request"),
    ],
)
def test_create_errors_use_the_envelope(client: TestClient[Any], patch: dict[str, Any], status: int, code: str) -> None:
    request = {**body("fulfillment-order-create.request.json"), "order_reference": "ORD-ERR-1", **patch}
    r = client.post("/api/v1/fulfillment-orders", json=request, headers=H)
    assert r.status_code == status and r.json()["error"]["code"] == code
    if code == "unknown_sku":
        same_shape(body("error-unknown-sku.error.json"), r.json())


def test_receipt_create_and_lookup(client: TestClient[Any]) -> None:
    request = body("receipt-create.request.json")
    r = client.post("/api/v1/receipts", json=request, headers=H)
    assert r.status_code == 201
    same_shape(body("receipt-create.response.json"), r.json())
    assert r.json()["status"] == "expected"
    again = client.post("/api/v1/receipts", json=request, headers=H)
    assert again.status_code == 409 and again.json()["error"]["details"]["id"] == r.json()["id"]
    by_ref = client.get("/api/v1/receipts", params={"reference": request["reference"]}, headers=H).json()
    assert [i["id"] for i in by_ref["items"]] == [r.json()["id"]]
    assert client.get(f"/api/v1/receipts/{r.json()['id']}", headers=H).json() == r.json()
    assert client.get("/api/v1/receipts/rcv_nope", headers=H).status_code == 404


def _outbox(client: TestClient[Any], event_id: str) -> tuple[bytes, dict[str, str]]:
    """The recorded body, and the headers the sandbox signs it with when it sends it."""
    sandbox = client.app.state.sandbox
    row = sandbox.db.execute("SELECT url, body FROM _webhooks WHERE id = ?", (event_id,)).fetchone()
    assert row is not None, f"webhook {event_id} was not recorded"
    body = bytes(row["body"])
    return body, sandbox.sender().signer(row["url"], body)


def test_webhooks_have_documented_shapes_and_verifiable_signatures(client: TestClient[Any]) -> None:
    request = {**body("fulfillment-order-create.request.json"), "order_reference": "ORD-HOOK-1"}
    assert client.post("/api/v1/fulfillment-orders", json=request, headers=H).status_code == 201
    receipt = {**body("receipt-create.request.json"), "reference": "RMA-HOOK-1"}
    assert client.post("/api/v1/receipts", json=receipt, headers=H).status_code == 201
    sku = request["lines"][0]["sku"]
    cases = [
        (client.post("/_sim/ship", json={"order_reference": "ORD-HOOK-1"}), "webhook-shipment-dispatched.webhook.json"),
        (client.post("/_sim/receive", json={"reference": "RMA-HOOK-1"}), "webhook-receipt-received.webhook.json"),
        (
            client.post("/_sim/receive", json={"warehouse": "ZWL", "sku": sku, "qty": 5}),
            "webhook-receipt-received.webhook.json",
        ),
        (
            client.post("/_sim/count", json={"warehouse": "ZWL", "sku": sku, "on_hand": 12}),
            "webhook-stock-counted.webhook.json",
        ),
    ]
    for response, fixture_name in cases:
        assert response.status_code == 200, response.text
        (event_id,) = response.json()["webhooks"]
        raw, headers = _outbox(client, event_id)
        same_shape(body(fixture_name), msgspec.json.decode(raw))
        verify_signature(SECRET, headers["X-WMS-Signature"], raw)
        with pytest.raises(ProblemError):
            verify_signature("another-secret", headers["X-WMS-Signature"], raw)
    delivered = client.post("/_sim/deliver", json={"order_reference": "ORD-HOOK-1"})
    (event_id,) = delivered.json()["webhooks"]
    raw, _ = _outbox(client, event_id)
    decoded = msgspec.json.decode(raw)
    assert decoded["type"] == "shipment.delivered" and decoded["data"]["delivered_at"]
