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
from services.sandbox.pos import square
from services.sandbox.pos.app import create_app
from services.sandbox.pos.settings import SandboxPosSettings
from services.sandbox.pos.square import object_id
from tests.contract.vendor import assert_same_shape, fixture_loaders

FIXTURES = Path(__file__).parent / "fixtures" / "square"
TOKEN = "conformance-token"
SIGNATURE_KEY = "conformance-signature-key"
# Port 9 (discard) refuses at once: webhooks are recorded and signed, their delivery fails harmlessly.
WEBHOOK_URL = "http://127.0.0.1:9/webhooks/pos"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Square-Version": "2025-08-20"}
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
STOCK_ALERT_FIELDS = frozenset({"track_inventory", "inventory_alert_type", "inventory_alert_threshold"})
VARIATION_FIELDS = STOCK_ALERT_FIELDS | {"sku"}


_, body = fixture_loaders("square")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> SandboxPosSettings:
    return SandboxPosSettings(
        data_dir=str(tmp_path_factory.mktemp("sandbox-pos")),
        seed_skus=50,
        seed_stores=3,
        pos_access_token=TOKEN,
        pos_webhook_signature_key=SIGNATURE_KEY,
        pos_webhook_url=WEBHOOK_URL,
    )


@pytest.fixture(scope="module")
def client(settings: SandboxPosSettings) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def ids(settings: SandboxPosSettings) -> dict[str, Any]:
    """Sandbox ids standing in for the documentation's example ids."""
    cat = generate(settings.seed, settings.seed_skus, settings.seed_stores, settings.seed_dcs)
    store = cat.stores[0]
    stocked = [p for p in cat.products if (cat.store_stock(store, p) or 0) >= 5]
    return {
        "location": store.square_id,
        "product": stocked[0],
        "variation": object_id("ITEM_VARIATION", stocked[0].sku),
        "other": object_id("ITEM_VARIATION", stocked[1].sku),
        "catalogue": cat,
    }


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
    request = {
        "object_types": ["ITEM_VARIATION"],
        "query": {"exact_query": {"attribute_name": "sku", "attribute_value": product.sku}},
        "limit": 100,
    }
    response = client.post("/v2/catalog/search", json=request, headers=AUTH)
    assert response.status_code == 200
    answer = response.json()
    # Documented layout of a variation (nested in the documented ITEM example) plus Square's `sku` field and its
    # stock tracking fields (CatalogItemVariation in api.json; the documented examples carry none of them).
    documented_variation = body("catalog-search-objects.response.json")["objects"][0]["item_data"]["variations"][0]
    (obj,) = answer["objects"]
    assert_same_shape(obj, documented_variation, extra=VARIATION_FIELDS)
    assert_same_shape(answer, body("catalog-search-by-sku.synthetic.response.json"), extra=STOCK_ALERT_FIELDS)
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


def test_batch_change_inventory_is_idempotent_and_signals(
    client: TestClient[Any], ids: dict[str, Any], settings: SandboxPosSettings
) -> None:
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
    rows = [
        r
        for r in db.execute("SELECT id, url, body FROM _webhooks")
        if ids["other"].encode() in r[2] and b'"53"' in r[2]
    ]
    db.close()
    assert len(rows) == 1
    event_id, url, raw = rows[0]
    assert url == WEBHOOK_URL
    event = json.loads(raw)
    assert_same_shape(event, body("webhook-inventory-count-updated.webhook.json"))
    assert event["event_id"] == event_id and event["type"] == "inventory.count.updated"
    assert event["data"]["object"]["inventory_counts"][0]["quantity"] == "53"


@pytest.mark.parametrize(
    "name", ["webhook-signature-test-notification.webhook.json", "webhook-signature-escaped-chars.webhook.json"]
)
def test_sandbox_signs_as_square_does(name: str) -> None:
    """The sandbox's signer reproduces both of Square's worked signature examples byte for byte."""
    f = json.loads((FIXTURES / name).read_text())
    signed = square.sign(f["signature_key"], f["notification_url"], f["body"].encode())
    assert signed == f["headers"]["x-square-hmacsha256-signature"]


def test_batch_change_inventory_adjustment(client: TestClient[Any], ids: dict[str, Any]) -> None:
    documented = body("inventory-retrieve-adjustment.response.json")["adjustment"]
    adjustment = {k: documented[k] for k in ("from_state", "to_state", "quantity", "reference_id")}
    adjustment.update(
        catalog_object_id=ids["variation"], location_id=ids["location"], occurred_at="2016-11-16T23:44:22.837Z"
    )
    before = client.post(
        "/v2/inventory/counts/batch-retrieve",
        headers=AUTH,
        json={"catalog_object_ids": [ids["variation"]], "location_ids": [ids["location"]]},
    ).json()
    response = client.post(
        "/v2/inventory/changes/batch-create",
        headers=AUTH,
        json={"idempotency_key": "adjust-1", "changes": [{"type": "ADJUSTMENT", "adjustment": adjustment}]},
    )
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


def test_pickup_order_and_its_fulfillment_webhook(
    client: TestClient[Any], ids: dict[str, Any], settings: SandboxPosSettings
) -> None:
    request = {
        "idempotency_key": "pickup-1",
        "order": {
            "location_id": ids["location"],
            "reference_id": "pickup-1",
            "line_items": [{"catalog_object_id": ids["variation"], "quantity": "1"}],
            "fulfillments": [
                {"type": "PICKUP", "state": "PROPOSED", "pickup_details": {"recipient": {"display_name": "Ada"}}}
            ],
        },
    }
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
    assert update["fulfillment_update"] == [
        {"fulfillment_uid": order["fulfillments"][0]["uid"], "old_state": "PROPOSED", "new_state": "PREPARED"}
    ]


@pytest.mark.parametrize(
    ("path", "payload", "code"),
    [
        ("/v2/orders", {"order": {}}, "MISSING_REQUIRED_PARAMETER"),
        ("/v2/orders", {"order": {"location_id": "NOPE"}}, "NOT_FOUND"),
        ("/v2/orders", {"order": {"location_id": None}}, "INVALID_VALUE"),
        ("/v2/inventory/changes/batch-create", {"changes": []}, "MISSING_REQUIRED_PARAMETER"),
        (
            "/v2/inventory/changes/batch-create",
            {"idempotency_key": "k", "changes": [{"type": "TRANSFER"}]},
            "INVALID_ENUM_VALUE",
        ),
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


# --- UpdateOrder, SearchOrders and pickups held off the till -------------------------------------------------------


def _pickup(client: TestClient[Any], location: str, variation: str, ref: str, qty: int = 1) -> dict[str, Any]:
    request = {
        "idempotency_key": f"create-{ref}",
        "order": {
            "location_id": location,
            "reference_id": ref,
            "line_items": [{"catalog_object_id": variation, "quantity": str(qty)}],
            "fulfillments": [
                {"type": "PICKUP", "state": "PROPOSED", "pickup_details": {"recipient": {"display_name": "Ada"}}}
            ],
        },
    }
    response = client.post("/v2/orders", json=request, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["order"]  # type: ignore[no-any-return]


def _webhooks_for(settings: SandboxPosSettings, order_id: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(Path(settings.data_dir) / "sandbox" / "sandbox-pos.sqlite3")
    rows = db.execute("SELECT body FROM _webhooks ORDER BY created_at").fetchall()
    db.close()
    events = [json.loads(r[0]) for r in rows]
    return [e for e in events if e["type"] == "order.fulfillment.updated" and e["data"]["id"] == order_id]


def _square_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == code, error
    assert_same_shape(response.json(), body("error-envelope-sdk-fixture.error.json"))
    return error  # type: ignore[no-any-return]


def test_update_order_cancels_a_pickup_fulfillment(
    client: TestClient[Any], ids: dict[str, Any], settings: SandboxPosSettings
) -> None:
    order = _pickup(client, ids["location"], ids["variation"], "upd-1")
    request = copy.deepcopy(body("orders-update.synthetic.request.json"))
    request["order"].update(location_id=ids["location"], version=order["version"])
    request["order"]["fulfillments"][0]["uid"] = order["fulfillments"][0]["uid"]
    response = client.put(f"/v2/orders/{order['id']}", json=request, headers=AUTH)
    assert response.status_code == 200, response.text
    assert_same_shape(response.json(), body("orders-update.synthetic.response.json"))
    updated = response.json()["order"]
    (fulfillment,) = updated["fulfillments"]
    assert fulfillment["state"] == "CANCELED" and RFC3339_MS.match(fulfillment["pickup_details"]["canceled_at"])
    assert updated["version"] == 2 and updated["state"] == "OPEN" and updated["updated_at"] >= order["updated_at"]
    assert client.get(f"/v2/orders/{order['id']}", headers=AUTH).json() == response.json()
    (hook,) = _webhooks_for(settings, order["id"])
    assert_same_shape(hook, body("webhook-order-fulfillment-updated.synthetic.webhook.json"))
    assert hook["data"]["object"]["order_fulfillment_updated"]["fulfillment_update"] == [
        {"fulfillment_uid": fulfillment["uid"], "old_state": "PROPOSED", "new_state": "CANCELED"}
    ]
    # The same key again changes nothing and answers the order as it is, whatever the body says.
    replay = client.put(
        f"/v2/orders/{order['id']}", json={**request, "order": {**request["order"], "version": 1}}, headers=AUTH
    )
    assert replay.status_code == 200 and replay.json() == response.json()
    assert len(_webhooks_for(settings, order["id"])) == 1
    # A cancelled fulfillment stays cancelled; a stale version is Square's VERSION_MISMATCH.
    prepared = copy.deepcopy(request)
    prepared.update(idempotency_key="upd-1-again")
    prepared["order"].update(version=2)
    prepared["order"]["fulfillments"][0]["state"] = "PREPARED"
    _square_error(client.put(f"/v2/orders/{order['id']}", json=prepared, headers=AUTH), 400, "BAD_REQUEST")
    prepared["order"].update(version=1)
    error = _square_error(client.put(f"/v2/orders/{order['id']}", json=prepared, headers=AUTH), 400, "VERSION_MISMATCH")
    assert error["field"] == "order.version" and error["category"] == "INVALID_REQUEST_ERROR"
    assert_same_shape(error, body("error-version-mismatch.synthetic.error.json")["errors"][0])
    other = _pickup(client, ids["location"], ids["variation"], "upd-2")
    _square_error(client.put(f"/v2/orders/{other['id']}", json=request, headers=AUTH), 400, "IDEMPOTENCY_KEY_REUSED")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"order": {"fulfillments": [{"state": "CANCELED"}]}}, 400, "BAD_REQUEST"),  # no version
        ({"order": {"version": 1, "fulfillments": [{"uid": "nope", "state": "CANCELED"}]}}, 400, "INVALID_VALUE"),
        ({"order": {"version": 1, "fulfillments": [{"state": "CANCELED"}]}}, 400, "MISSING_REQUIRED_PARAMETER"),
        ({"order": {"version": 1, "fulfillments": [{"uid": "UID", "state": "DONE"}]}}, 400, "INVALID_ENUM_VALUE"),
        ({"order": {"version": 1, "line_items": [{"quantity": "2"}]}}, 400, "INVALID_VALUE"),  # not implemented
        ({"order": {"version": 1, "state": "CANCELED"}}, 400, "INVALID_VALUE"),
        ({"order": {"version": 1}, "fields_to_clear": ["note"]}, 400, "INVALID_VALUE"),
        ({"order": {"version": 1}, "idempotency_key": ""}, 400, "INVALID_VALUE"),
    ],
)
def test_bad_updates_get_square_errors(
    client: TestClient[Any], ids: dict[str, Any], change: dict[str, Any], status: int, code: str
) -> None:
    order = _pickup(client, ids["location"], ids["variation"], f"bad-{code}-{len(json.dumps(change))}")
    text = json.dumps(change).replace('"UID"', json.dumps(order["fulfillments"][0]["uid"]))
    response = client.put(
        f"/v2/orders/{order['id']}", content=text, headers={**AUTH, "content-type": "application/json"}
    )
    _square_error(response, status, code)
    assert client.get(f"/v2/orders/{order['id']}", headers=AUTH).json()["order"]["version"] == 1
    _square_error(client.put("/v2/orders/NOPE", json={"order": {"version": 1}}, headers=AUTH), 404, "NOT_FOUND")


def test_search_orders_pages_oldest_first(client: TestClient[Any], ids: dict[str, Any]) -> None:
    location = ids["catalogue"].stores[1].square_id  # a location no other test orders at
    started = client.post("/v2/orders/search", headers=AUTH, json={"location_ids": [location]}).json()
    assert started == {}  # nothing yet: Square answers an empty object
    created = [_pickup(client, location, ids["variation"], f"search-{n}") for n in range(5)]
    # Oldest first: by created_at (milliseconds: several orders may share one), then by id.
    made = [o["id"] for o in sorted(created, key=lambda o: (o["created_at"], o["id"]))]
    request = copy.deepcopy(body("orders-search.synthetic.request.json"))
    request["location_ids"] = [location]
    request["limit"] = 2
    request["query"]["filter"]["date_time_filter"]["created_at"]["start_at"] = "2020-01-01T00:00:00Z"
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page_request = {**request, "cursor": cursor} if cursor else request
        response = client.post("/v2/orders/search", json=page_request, headers=AUTH)
        assert response.status_code == 200, response.text
        assert_same_shape(response.json(), body("orders-search.synthetic.response.json"))
        assert len(response.json()["orders"]) <= 2
        seen.extend(o["id"] for o in response.json()["orders"])
        cursor = response.json().get("cursor")
        if not cursor:
            break
    assert seen == made  # created_at ascending, each once
    entries = client.post("/v2/orders/search", headers=AUTH, json={**request, "return_entries": True, "limit": 10})
    assert [e["order_id"] for e in entries.json()["order_entries"]] == made
    assert set(entries.json()["order_entries"][0]) == {"order_id", "version", "location_id"}
    newest = client.post("/v2/orders/search", headers=AUTH, json={"location_ids": [location], "limit": 1}).json()
    assert [o["id"] for o in newest["orders"]] == [made[-1]]  # default sort: CREATED_AT, newest first
    later = copy.deepcopy(request)
    later["query"]["filter"]["date_time_filter"]["created_at"]["start_at"] = "2999-01-01T00:00:00Z"
    assert client.post("/v2/orders/search", headers=AUTH, json=later).json() == {}
    completed = copy.deepcopy(request)
    completed["query"]["filter"]["state_filter"]["states"] = ["COMPLETED"]
    assert client.post("/v2/orders/search", headers=AUTH, json=completed).json() == {}
    other_query = {**later, "cursor": client.post("/v2/orders/search", json=request, headers=AUTH).json()["cursor"]}
    _square_error(client.post("/v2/orders/search", json=other_query, headers=AUTH), 400, "INVALID_CURSOR")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "MISSING_REQUIRED_PARAMETER"),
        ({"location_ids": [f"L{n}" for n in range(11)]}, "INVALID_VALUE"),
        ({"location_ids": ["L"], "limit": 0}, "INVALID_VALUE"),
        (
            {
                "location_ids": ["L"],
                "query": {
                    "filter": {"date_time_filter": {"created_at": {"start_at": "x"}}},
                    "sort": {"sort_field": "CREATED_AT"},
                },
            },
            "INVALID_TIME",
        ),
        (
            {
                "location_ids": ["L"],
                "query": {"filter": {"date_time_filter": {"created_at": {}}}, "sort": {"sort_field": "UPDATED_AT"}},
            },
            "BAD_REQUEST",
        ),
        ({"location_ids": ["L"], "query": {"sort": {"sort_field": "CLOSED_AT"}}}, "INVALID_VALUE"),
        ({"location_ids": ["L"], "query": {"sort": {"sort_field": "NAME"}}}, "INVALID_ENUM_VALUE"),
        ({"location_ids": ["L"], "query": {"filter": {"state_filter": {"states": ["GONE"]}}}}, "INVALID_ENUM_VALUE"),
        ({"location_ids": ["L"], "query": {"filter": {"fulfillment_filter": {}}}}, "INVALID_VALUE"),
        ({"location_ids": ["L"], "cursor": "!!"}, "INVALID_CURSOR"),
    ],
)
def test_bad_searches_get_square_errors(client: TestClient[Any], payload: dict[str, Any], code: str) -> None:
    _square_error(client.post("/v2/orders/search", json=payload, headers=AUTH), 400, code)


def test_picked_up_counts_the_units_held_for_that_order(client: TestClient[Any], ids: dict[str, Any]) -> None:
    """Units taken off the till for a pickup (IN_STOCK -> SOLD with its reference) cannot be sold at the till,
    but are on the shelf for that order's customer."""
    cat = ids["catalogue"]
    store = cat.stores[2]
    location, variation = store.square_id, object_id("ITEM_VARIATION", cat.products[5].sku)
    sku = cat.products[5].sku

    def change(key: str, kind: str, **fields: Any) -> None:
        entry = {"catalog_object_id": variation, "location_id": location, "occurred_at": square.now_ts(), **fields}
        response = client.post(
            "/v2/inventory/changes/batch-create",
            headers=AUTH,
            json={"idempotency_key": key, "changes": [{"type": kind, kind.lower(): entry}]},
        )
        assert response.status_code == 200, response.text

    change("held-count", "PHYSICAL_COUNT", quantity="1", state="IN_STOCK")
    held = _pickup(client, location, variation, "held-1")
    change("held-hold", "ADJUSTMENT", quantity="1", from_state="IN_STOCK", to_state="SOLD", reference_id="held-1")
    sale = client.post("/_sim/sale", json={"store": location, "sku": sku, "qty": 1})
    assert sale.status_code == 409  # nothing left to sell at the till
    not_held = _pickup(client, location, variation, "held-2")
    assert client.post("/_sim/picked-up", json={"order_id": not_held["id"]}).status_code == 409
    collected = client.post("/_sim/picked-up", json={"order_id": held["id"]})
    assert collected.status_code == 200, collected.text
    assert collected.json()["on_hand"] == {variation: -1}  # the completion's decrement; the integrator gives back
    change("held-unhold", "ADJUSTMENT", quantity="1", from_state="NONE", to_state="IN_STOCK", reference_id="held-1")
    counts = client.post(
        "/v2/inventory/counts/batch-retrieve",
        headers=AUTH,
        json={"catalog_object_ids": [variation], "location_ids": [location]},
    ).json()["counts"]
    assert counts[0]["quantity"] == "0"
    # A cancelled fulfillment cannot be collected.
    cancelled = _pickup(client, location, variation, "held-3")
    uid = cancelled["fulfillments"][0]["uid"]
    assert (
        client.put(
            f"/v2/orders/{cancelled['id']}",
            headers=AUTH,
            json={
                "idempotency_key": "held-3-cancel",
                "order": {"version": 1, "fulfillments": [{"uid": uid, "state": "CANCELED"}]},
            },
        ).status_code
        == 200
    )
    assert client.post("/_sim/picked-up", json={"order_id": cancelled["id"]}).status_code == 409
