"""sandbox-pos against Square's documented shapes: the documented requests (with the sandbox's own ids in
place of the example's) get answers with the documented fields, types and conventions.

Litestar's TestClient drives the sandbox app in-process, on a temporary data directory with a small seed.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from services.sandbox.common.catalogue import generate
from services.sandbox.pos.app import create_app
from services.sandbox.pos import square
from services.sandbox.pos.square import object_id
from shared.settings import Settings
from tests.contract.vendor import fixture_loaders

FIXTURES = Path(__file__).parent / "fixtures" / "square"
TOKEN = "conformance-token"
SIGNATURE_KEY = "conformance-signature-key"
# Port 9 (discard) refuses at once: webhooks are recorded and signed, their delivery fails harmlessly.
WEBHOOK_URL = "http://127.0.0.1:9/webhooks/pos"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Square-Version": "2025-08-20"}
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


_, body = fixture_loaders("square")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=str(tmp_path_factory.mktemp("sandbox-pos")), seed_skus=50, seed_stores=3,
                    pos_access_token=TOKEN, pos_webhook_signature_key=SIGNATURE_KEY, pos_webhook_url=WEBHOOK_URL)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def ids(settings: Settings) -> dict[str, Any]:
    """Sandbox ids standing in for the documentation's example ids."""
    cat = generate(settings.seed, settings.seed_skus, settings.seed_stores, settings.seed_dcs)
    store = cat.stores[0]
    stocked = [p for p in cat.products if (cat.store_stock(store, p) or 0) >= 5]
    return {"location": store.square_id, "product": stocked[0], "variation": object_id("ITEM_VARIATION", stocked[0].sku),
            "other": object_id("ITEM_VARIATION", stocked[1].sku), "catalogue": cat}


def assert_same_shape(ours: Any, documented: Any, path: str = "$", *, extra: frozenset[str] = frozenset()) -> None:
    """Every field we answer exists in the documented example with the same JSON type (recursively)."""
    if isinstance(documented, dict):
        assert isinstance(ours, dict), f"{path}: expected object"
        unknown = set(ours) - set(documented) - extra
        assert not unknown, f"{path}: fields not in the documented example: {sorted(unknown)}"
        for key in set(ours) & set(documented):
            assert_same_shape(ours[key], documented[key], f"{path}.{key}", extra=extra)
    elif isinstance(documented, list):
        assert isinstance(ours, list), f"{path}: expected array"
        if documented and ours:
            example = documented[0]
            if all(isinstance(d, dict) for d in documented):
                example = {}  # the documented items together show every field an item may carry
                for d in documented:
                    example = {**d, **example}
            for item in ours:
                assert_same_shape(item, example, f"{path}[]", extra=extra)
    elif isinstance(documented, bool):
        assert isinstance(ours, bool), f"{path}: expected boolean"
    elif isinstance(documented, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), f"{path}: expected number"
    elif isinstance(documented, str):
        assert isinstance(ours, str), f"{path}: expected string"


def test_authentication_is_required(client: TestClient[Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.get("/v2/locations", headers=headers)
        assert response.status_code == 401
        (error,) = response.json()["errors"]
        assert error["category"] == "AUTHENTICATION_ERROR" and error["code"] == "UNAUTHORIZED"
        assert_same_shape(response.json(), body("error-envelope-sdk-fixture.error.json"))


def test_list_locations(client: TestClient[Any], ids: dict[str, Any]) -> None:
    response = client.get("/v2/locations", headers=AUTH)
    assert response.status_code == 200
    documented = body("locations-list.response.json")
    assert_same_shape(response.json(), documented)
    locations = response.json()["locations"]
    assert len(locations) == 3
    by_id = {loc["id"]: loc for loc in locations}
    store = ids["catalogue"].stores[0]
    loc = by_id[store.square_id]
    assert loc["status"] == "ACTIVE" and loc["currency"] == "EUR" and loc["capabilities"]
    assert loc["address"]["postal_code"] == store.postal_code and loc["address"]["country"] == "NL"
    assert loc["coordinates"] == {"latitude": store.latitude, "longitude": store.longitude}
    assert RFC3339_MS.match(loc["created_at"])


def test_catalog_search_by_sku(client: TestClient[Any], ids: dict[str, Any]) -> None:
    product = ids["product"]
    request = {"object_types": ["ITEM_VARIATION"],
               "query": {"exact_query": {"attribute_name": "sku", "attribute_value": product.sku}}, "limit": 100}
    response = client.post("/v2/catalog/search", json=request, headers=AUTH)
    assert response.status_code == 200
    answer = response.json()
    # Documented layout of a variation (nested in the documented ITEM example) plus Square's `sku` field.
    documented_variation = body("catalog-search-objects.response.json")["objects"][0]["item_data"]["variations"][0]
    (obj,) = answer["objects"]
    assert_same_shape(obj, documented_variation, extra=frozenset({"sku"}))
    assert_same_shape(answer, body("catalog-search-by-sku.synthetic.response.json"))
    assert obj["id"] == ids["variation"] and obj["type"] == "ITEM_VARIATION"
    assert obj["item_variation_data"]["sku"] == product.sku
    assert obj["item_variation_data"]["price_money"] == {"amount": product.price_cents, "currency": "EUR"}


def test_catalog_search_pages_with_cursors(client: TestClient[Any]) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        request: dict[str, Any] = {"object_types": ["ITEM_VARIATION"], "limit": 20}
        if cursor:
            request["cursor"] = cursor
        answer = client.post("/v2/catalog/search", json=request, headers=AUTH).json()
        seen.extend(o["id"] for o in answer.get("objects", []))
        cursor = answer.get("cursor")
        if not cursor:
            break
    assert len(seen) == 50 and len(set(seen)) == 50


def test_documented_catalog_request_is_accepted(client: TestClient[Any]) -> None:
    """The documented prefix search for ITEMs: the sandbox has item variations only, so nothing matches."""
    response = client.post("/v2/catalog/search", json=body("catalog-search-objects.request.json"), headers=AUTH)
    assert response.status_code == 200 and "objects" not in response.json()


def test_batch_retrieve_counts(client: TestClient[Any], ids: dict[str, Any]) -> None:
    request = copy.deepcopy(body("inventory-batch-retrieve-counts.request.json"))
    request["catalog_object_ids"] = [ids["variation"]]
    request["location_ids"] = [ids["location"]]
    response = client.post("/v2/inventory/counts/batch-retrieve", json=request, headers=AUTH)
    assert response.status_code == 200
    documented = body("inventory-batch-retrieve-counts.response.json")
    answer = response.json()
    assert_same_shape(answer, documented)
    (count,) = answer["counts"]
    assert set(count) == set(documented["counts"][0]) and answer["errors"] == []
    expected = ids["catalogue"].store_stock(ids["catalogue"].stores[0], ids["product"])
    assert count["quantity"] == str(expected) and DECIMAL.match(count["quantity"])
    assert RFC3339_MS.match(count["calculated_at"]) and count["state"] == "IN_STOCK"


def test_batch_retrieve_counts_pages(client: TestClient[Any]) -> None:
    seen: set[tuple[str, str]] = set()
    cursor = None
    pages = 0
    while True:
        request: dict[str, Any] = {"limit": 17}
        if cursor:
            request["cursor"] = cursor
        answer = client.post("/v2/inventory/counts/batch-retrieve", json=request, headers=AUTH).json()
        pages += 1
        seen |= {(c["catalog_object_id"], c["location_id"]) for c in answer["counts"]}
        cursor = answer.get("cursor")
        if not cursor:
            break
    assert pages > 2 and len(seen) > 40
    bad = client.post("/v2/inventory/counts/batch-retrieve", json={"cursor": "!!"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["errors"][0]["category"] == "INVALID_REQUEST_ERROR"


def test_batch_change_inventory_is_idempotent_and_signals(client: TestClient[Any], ids: dict[str, Any],
                                                          settings: Settings) -> None:
    request = copy.deepcopy(body("inventory-batch-create-changes.request.json"))
    change = request["changes"][0]["physical_count"]
    change["catalog_object_id"] = ids["other"]
    change["location_id"] = ids["location"]
    response = client.post("/v2/inventory/changes/batch-create", json=request, headers=AUTH)
    assert response.status_code == 200
    documented = body("inventory-batch-create-changes.response.json")
    assert_same_shape(response.json(), documented)
    (count,) = response.json()["counts"]
    assert set(count) == set(documented["counts"][0]) and count["quantity"] == "53"
    replay = client.post("/v2/inventory/changes/batch-create", json=request, headers=AUTH)
    assert replay.content == response.content
    reused = copy.deepcopy(request)
    reused["changes"][0]["physical_count"]["quantity"] = "54"
    clash = client.post("/v2/inventory/changes/batch-create", json=reused, headers=AUTH)
    assert clash.status_code == 400 and clash.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # One signed inventory.count.updated notification, shaped like the documented event, not two.
    db = sqlite3.connect(Path(settings.data_dir) / "sandbox" / "sandbox-pos.sqlite3")
    rows = [r for r in db.execute("SELECT id, url, body FROM _webhooks")
            if ids["other"].encode() in r[2] and b'"53"' in r[2]]
    db.close()
    assert len(rows) == 1
    event_id, url, raw = rows[0]
    assert url == WEBHOOK_URL
    event = json.loads(raw)
    assert_same_shape(event, body("webhook-inventory-count-updated.webhook.json"))
    assert event["event_id"] == event_id and event["type"] == "inventory.count.updated"
    assert event["data"]["object"]["inventory_counts"][0]["quantity"] == "53"


@pytest.mark.parametrize("name", ["webhook-signature-test-notification.webhook.json",
                                  "webhook-signature-escaped-chars.webhook.json"])
def test_sandbox_signs_as_square_does(name: str) -> None:
    """The sandbox's signer reproduces both of Square's worked signature examples byte for byte."""
    f = json.loads((FIXTURES / name).read_text())
    signed = square.sign(f["signature_key"], f["notification_url"], f["body"].encode())
    assert signed == f["headers"]["x-square-hmacsha256-signature"]


def test_batch_change_inventory_adjustment(client: TestClient[Any], ids: dict[str, Any]) -> None:
    documented = body("inventory-retrieve-adjustment.response.json")["adjustment"]
    adjustment = {k: documented[k] for k in ("from_state", "to_state", "quantity", "reference_id")}
    adjustment.update(catalog_object_id=ids["variation"], location_id=ids["location"],
                      occurred_at="2016-11-16T23:44:22.837Z")
    before = client.post("/v2/inventory/counts/batch-retrieve", headers=AUTH,
                         json={"catalog_object_ids": [ids["variation"]], "location_ids": [ids["location"]]}).json()
    response = client.post("/v2/inventory/changes/batch-create", headers=AUTH, json={
        "idempotency_key": "adjust-1", "changes": [{"type": "ADJUSTMENT", "adjustment": adjustment}]})
    assert response.status_code == 200
    (count,) = response.json()["counts"]
    assert int(count["quantity"]) == int(before["counts"][0]["quantity"]) - 7
    assert count["calculated_at"] > before["counts"][0]["calculated_at"]


def test_create_order_documented_request(client: TestClient[Any], ids: dict[str, Any]) -> None:
    request = copy.deepcopy(body("orders-create.request.json"))
    request["order"]["location_id"] = ids["location"]
    request["order"]["line_items"][1]["catalog_object_id"] = ids["variation"]
    request["order"]["line_items"][0]["base_price_money"]["currency"] = "EUR"
    request["order"]["discounts"][2]["amount_money"]["currency"] = "EUR"
    response = client.post("/v2/orders", json=request, headers=AUTH)
    assert response.status_code == 200, response.text
    order = response.json()["order"]
    assert_same_shape(response.json(), body("orders-create.response.json"))
    assert order["location_id"] == ids["location"] and order["reference_id"] == "my-order-001"
    assert order["state"] == "OPEN" and order["version"] == 1 and RFC3339_MS.match(order["created_at"])
    assert [li["quantity"] for li in order["line_items"]] == ["1", "2"]
    assert order["line_items"][1]["base_price_money"] == {"amount": ids["product"].price_cents, "currency": "EUR"}
    again = client.post("/v2/orders", json=request, headers=AUTH)
    assert again.json()["order"]["id"] == order["id"]
    fetched = client.get(f"/v2/orders/{order['id']}", headers=AUTH)
    assert fetched.status_code == 200 and fetched.json() == response.json()


def test_pickup_order_and_its_fulfillment_webhook(client: TestClient[Any], ids: dict[str, Any],
                                                  settings: Settings) -> None:
    request = {"idempotency_key": "pickup-1", "order": {
        "location_id": ids["location"], "reference_id": "pickup-1",
        "line_items": [{"catalog_object_id": ids["variation"], "quantity": "1"}],
        "fulfillments": [{"type": "PICKUP", "state": "PROPOSED",
                          "pickup_details": {"recipient": {"display_name": "Ada"}}}]}}
    order = client.post("/v2/orders", json=request, headers=AUTH).json()["order"]
    assert order["fulfillments"][0]["state"] == "PROPOSED" and order["fulfillments"][0]["uid"]
    ready = client.post("/_sim/pickup-ready", json={"order_id": order["id"]})
    assert ready.status_code == 200, ready.text
    (event_id,) = ready.json()["event_ids"]
    db = sqlite3.connect(Path(settings.data_dir) / "sandbox" / "sandbox-pos.sqlite3")
    (raw,) = db.execute("SELECT body FROM _webhooks WHERE id = ?", (event_id,)).fetchone()
    db.close()
    event = json.loads(raw)
    assert_same_shape(event, body("webhook-order-fulfillment-updated.synthetic.webhook.json"))
    update = event["data"]["object"]["order_fulfillment_updated"]
    assert update["order_id"] == order["id"]
    assert update["fulfillment_update"] == [{"fulfillment_uid": order["fulfillments"][0]["uid"],
                                             "old_state": "PROPOSED", "new_state": "PREPARED"}]


@pytest.mark.parametrize(
    ("path", "payload", "code"),
    [
        ("/v2/orders", {"order": {}}, "MISSING_REQUIRED_PARAMETER"),
        ("/v2/orders", {"order": {"location_id": "NOPE"}}, "NOT_FOUND"),
        ("/v2/orders", {"order": {"location_id": None}}, "INVALID_VALUE"),
        ("/v2/inventory/changes/batch-create", {"changes": []}, "MISSING_REQUIRED_PARAMETER"),
        ("/v2/inventory/changes/batch-create", {"idempotency_key": "k", "changes": [{"type": "TRANSFER"}]},
         "INVALID_ENUM_VALUE"),
        ("/v2/inventory/counts/batch-retrieve", {"limit": 5000}, "INVALID_VALUE"),
        ("/v2/inventory/counts/batch-retrieve", {"updated_after": "yesterday"}, "INVALID_TIME"),
    ],
)
def test_bad_requests_get_square_errors(client: TestClient[Any], path: str, payload: Any, code: str) -> None:
    response = client.post(path, json=payload, headers=AUTH)
    assert 400 <= response.status_code < 500
    (error,) = response.json()["errors"]
    assert error["code"] == code and error["category"] == "INVALID_REQUEST_ERROR"
    assert_same_shape(response.json(), body("error-envelope-sdk-fixture.error.json"))


def test_injected_failure_uses_square_envelope(client: TestClient[Any]) -> None:
    client.put("/_faults", json={"route": "/v2/locations", "error_rate": 1.0})
    try:
        response = client.get("/v2/locations", headers=AUTH)
    finally:
        client.delete("/_faults")
    assert response.status_code == 500
    (error,) = msgspec.json.decode(response.content)["errors"]
    assert error["category"] == "API_ERROR" and error["code"] == "INTERNAL_SERVER_ERROR"
