"""system-pos's Square connector against Square's documented payloads (fixtures/square, copied verbatim from
/work/shared/vendor-payloads/square; the two *.synthetic.* files say so in their notes).

aioresponses replays the documented answers, errors included; the id maps use the real Redis of the test
session under a private prefix. Webhook signatures are checked with both worked examples Square's SDK ships.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aioresponses import aioresponses
from redis.asyncio import Redis

from services.system.pos import mapping
from services.system.pos.connector import SquareConnector
from services.system.pos.routes import verify_signature
from shared.http import Upstreams
from shared.models.fulfilment import FulfilmentLine, PickupTaskRequest
from shared.models.returns import ReturnLine, StoreReturnRequest
from shared.problems import ProblemError
from shared.settings import Settings
from tests.contract.vendor import any_query, fixture_loaders

FIXTURES = Path(__file__).parent / "fixtures" / "square"
BASE = "http://square.test"
TOKEN = "contract-token"


fixture, body = fixture_loaders("square")


def url(path: str) -> re.Pattern[str]:
    return any_query(BASE, path)


def sent(m: aioresponses, method: str, path: str) -> list[Any]:
    """JSON bodies and headers of the requests the connector made to ``path``."""
    out = []
    for (meth, u), calls in m.requests.items():
        if meth == method and str(u).startswith(BASE + path):
            for call in calls:
                data = call.kwargs.get("data")
                out.append((json.loads(data) if data else None, call.kwargs.get("headers", {})))
    return out


# The shared store beside the checkout (where CI clones it too).
VENDOR_COPY = Path(__file__).resolve().parents[3] / "shared" / "vendor-payloads" / "square"


@pytest.mark.skipif(not VENDOR_COPY.is_dir(), reason="the shared vendor payload store is not mounted here")
def test_fixtures_are_verbatim_copies() -> None:
    """Fixtures may not drift from the vendor examples they claim to copy; synthetic ones say so."""
    for path in sorted(FIXTURES.glob("*.json")):
        if ".synthetic." in path.name:
            assert "SYNTHETIC" in fixture(path.name)["notes"]
            continue
        assert path.read_bytes() == (VENDOR_COPY / path.name).read_bytes(), path.name


@pytest.fixture
async def pos(redis_url: str, key_prefix: str) -> AsyncIterator[SquareConnector]:
    settings = Settings(urls={"pos": BASE}, retry_attempts=1, breaker_fail_max=100, key_prefix=key_prefix,
                        pos_access_token=TOKEN)
    upstreams = Upstreams(settings, service="test-pos-contract")
    redis = Redis.from_url(redis_url)
    try:
        yield SquareConnector(upstreams["pos"], settings, redis)
    finally:
        await upstreams.close()
        await redis.aclose()


# --- documented answers ------------------------------------------------------------------------------------------


async def test_list_locations_maps_to_stores(pos: SquareConnector) -> None:
    with aioresponses() as m:
        m.get(url("/v2/locations"), payload=body("locations-list.response.json"))
        locations = await pos.refresh_locations()
        (_, headers), = sent(m, "GET", "/v2/locations")
    assert headers["Authorization"] == f"Bearer {TOKEN}" and headers["Square-Version"]
    stores = [mapping.location(loc) for loc in locations]
    assert [s.id for s in stores] == ["store-18yc4jdh91e1h", "store-3z4v4whqk64x9"]
    grant, midtown = stores
    assert (grant.name, grant.city, grant.postal_code, grant.country) == ("Grant Park", "San Francisco", "94114", "US")
    assert grant.latitude is None and grant.pickup and not grant.ship_from_store and grant.source_id == "18YC4JDH91E1H"
    # The second documented location has no address.country: the location's own country is used.
    assert midtown.country == "US" and midtown.latitude == 33.7889 and midtown.longitude == -84.3841
    assert await pos.location_id("store-3z4v4whqk64x9") == "3Z4V4WHQK64X9"


async def test_batch_retrieve_counts(pos: SquareConnector) -> None:
    documented = body("inventory-batch-retrieve-counts.request.json")
    with aioresponses() as m:
        m.post(url("/v2/inventory/counts/batch-retrieve"), payload=body("inventory-batch-retrieve-counts.response.json"))
        page = await pos.retrieve_counts(catalog_object_ids=documented["catalog_object_ids"],
                                         location_ids=documented["location_ids"])
        (request, _), = sent(m, "POST", "/v2/inventory/counts/batch-retrieve")
    assert set(request) <= set(documented) | {"cursor", "limit"}
    assert request["catalog_object_ids"] == documented["catalog_object_ids"]
    (count,) = page.counts
    assert page.cursor is None and mapping.is_stock(count)
    position = mapping.stock_position("SKU-1", mapping.store_id(count.location_id), count)
    assert position.on_hand == 79 and position.location == "store-59tnp9sa8vgda"
    assert position.as_of == datetime(2016, 11, 16, 22, 28, 1, 223000, tzinfo=timezone.utc)


async def test_batch_change_inventory(pos: SquareConnector) -> None:
    documented = body("inventory-batch-create-changes.request.json")
    with aioresponses() as m:
        m.post(url("/v2/inventory/changes/batch-create"), payload=body("inventory-batch-create-changes.response.json"))
        counts = await pos.change_inventory(documented)
    (count,) = counts
    assert (count.catalog_object_id, count.location_id, mapping.on_hand(count)) == (
        "W62UWFY35CWMYGVWK6TWJDNI", "C6W5YS5QM06F5", 53)


async def test_restock_request_has_the_documented_adjustment_shape() -> None:
    """Our ADJUSTMENT carries exactly fields of Square's documented InventoryAdjustment."""
    documented = body("inventory-retrieve-adjustment.response.json")["adjustment"]
    req = StoreReturnRequest(ref="r-1", store="store-c6w5ys5qm06f5", order_ref="o-1", currency="EUR",
                             lines=[ReturnLine(sku="A", qty=2, unit_price=100)])
    change = mapping.restock_changes(req, "C6W5YS5QM06F5", ["W62UWFY35CWMYGVWK6TWJDNI"], "2025-01-01T00:00:00.000Z")
    (entry,) = change["changes"]  # type: ignore[index]
    assert set(entry["adjustment"]) <= set(documented)
    assert entry["adjustment"]["quantity"] == "2" and entry["type"] == "ADJUSTMENT"


async def test_catalog_search_reads_variations_and_skips_what_is_not_one(pos: SquareConnector) -> None:
    with aioresponses() as m:
        # The documented example answers ITEMs without SKUs: nothing to map, nothing to break.
        m.post(url("/v2/catalog/search"), payload=body("catalog-search-objects.response.json"))
        assert await pos.refresh_catalog() == 0
    with aioresponses() as m:
        m.post(url("/v2/catalog/search"), payload=body("catalog-search-by-sku.synthetic.response.json"))
        assert await pos.variation_id("OG-1000-BLK-XS-000000") == "5GSZPX6EU7MM75S57OONG3V5"
        (request, _), = sent(m, "POST", "/v2/catalog/search")
    assert request["object_types"] == ["ITEM_VARIATION"]
    assert request["query"] == {"exact_query": {"attribute_name": "sku", "attribute_value": "OG-1000-BLK-XS-000000"}}
    # Now mapped in Redis both ways: no further call needed.
    assert await pos.skus(["5GSZPX6EU7MM75S57OONG3V5"]) == ["OG-1000-BLK-XS-000000"]


async def test_create_order_for_a_pickup(pos: SquareConnector) -> None:
    documented = body("orders-create.request.json")
    req = PickupTaskRequest(ref="my-order-001", store="store-057p5vyj4a5x1", customer_name="Ada",
                            lines=[FulfilmentLine(sku="A", qty=2)])
    request_body = mapping.pickup_order(req, "057P5VYJ4A5X1", ["BEMYCSMIJL46OCDV4KYIKXIB"])
    assert set(request_body) == set(documented)
    assert set(request_body["order"]) - set(documented["order"]) == {"fulfillments"}  # type: ignore[arg-type]
    with aioresponses() as m:
        m.post(url("/v2/orders"), payload=body("orders-create.response.json"))
        order = await pos.create_order(request_body)
        (request, _), = sent(m, "POST", "/v2/orders")
    assert request["idempotency_key"] == "my-order-001" and request["order"]["reference_id"] == "my-order-001"
    assert order.id == "CAISENgvlJ6jLWAzERDzjyHVybY" and order.reference_id == "my-order-001"
    assert [li.quantity for li in order.line_items] == ["1", "2"]
    assert order.state == "OPEN"


# --- errors ------------------------------------------------------------------------------------------------------


async def test_square_error_envelope_becomes_a_502_naming_the_pos(pos: SquareConnector) -> None:
    envelope = fixture("error-envelope-sdk-fixture.error.json")
    with aioresponses() as m:
        m.post(url("/v2/orders"), status=envelope["status"], payload=envelope["body"])
        with pytest.raises(ProblemError) as caught:
            await pos.create_order({"order": {"location_id": "X"}})
    problem = caught.value
    assert problem.status == 502 and problem.upstream == "pos"
    assert problem.errors and [e["code"] for e in problem.errors] == ["BAD_REQUEST", "UNAUTHORIZED"]


async def test_reused_idempotency_key_is_a_conflict(pos: SquareConnector) -> None:
    errors = {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "IDEMPOTENCY_KEY_REUSED",
                          "detail": "reused", "field": "idempotency_key"}]}
    with aioresponses() as m:
        m.post(url("/v2/orders"), status=400, payload=errors)
        with pytest.raises(ProblemError) as caught:
            await pos.create_order({"order": {"location_id": "X"}})
    assert caught.value.status == 409


async def test_unauthorized_and_rate_limited(pos: SquareConnector) -> None:
    auth = {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED", "detail": "no"}]}
    with aioresponses() as m:
        m.get(url("/v2/locations"), status=401, payload=auth)
        with pytest.raises(ProblemError) as caught:
            await pos.list_locations()
    assert caught.value.status == 502 and "AUTHENTICATION_ERROR/UNAUTHORIZED" in (caught.value.detail or "")
    with aioresponses() as m:
        m.get(url("/v2/locations"), status=429, payload={"errors": []}, headers={"Retry-After": "7"})
        with pytest.raises(ProblemError) as caught:
            await pos.list_locations()
    assert caught.value.status == 503 and caught.value.retry_after == 7


async def test_missing_order_and_server_errors(pos: SquareConnector) -> None:
    not_found = {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "NOT_FOUND", "detail": "nope"}]}
    with aioresponses() as m:
        m.get(url("/v2/orders/NOPE"), status=404, payload=not_found)
        assert await pos.retrieve_order("NOPE") is None
    with aioresponses() as m:
        m.get(url("/v2/orders/BOOM"), status=500, body=b"<html>oops</html>", content_type="text/html")
        with pytest.raises(ProblemError) as caught:
            await pos.retrieve_order("BOOM")
    assert caught.value.status == 502 and caught.value.upstream == "pos"
    with aioresponses() as m:
        m.get(url("/v2/locations"), status=200, body=b"not json")
        with pytest.raises(ProblemError) as caught:
            await pos.list_locations()
    assert caught.value.status == 502


# --- webhooks ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["webhook-signature-test-notification.webhook.json",
                                  "webhook-signature-escaped-chars.webhook.json"])
def test_square_worked_signature_examples_verify(name: str) -> None:
    f = fixture(name)
    raw = f["body"].encode()
    header = f["headers"]["x-square-hmacsha256-signature"]
    assert verify_signature(f["signature_key"], f["notification_url"], raw, header)
    for i in (0, len(raw) // 2, len(raw) - 1):
        flipped = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]
        assert not verify_signature(f["signature_key"], f["notification_url"], flipped, header)
    assert not verify_signature(f["signature_key"], f["notification_url"] + "/", raw, header)
    assert not verify_signature("other-key", f["notification_url"], raw, header)
    assert not verify_signature(f["signature_key"], f["notification_url"], raw, None)
    assert not verify_signature("", f["notification_url"], raw, header)


def test_inventory_count_updated_becomes_one_counted_event() -> None:
    raw = json.dumps(body("webhook-inventory-count-updated.webhook.json")).encode()
    event = msgspec.json.decode(raw, type=mapping.SqWebhook)
    data = msgspec.json.decode(event.data, type=mapping.SqCountsData)
    (count,) = data.object.inventory_counts
    ev = mapping.counted_event(event.event_id, "SKU-9", mapping.store_id(count.location_id), count, "req-1")
    assert ev.id == "pos:df5f3813-a913-45a1-94e9-fdc3f7d5e3b6:FGQ5JJWT2PYTHF35CKZ2DSKP:YYQR03DGCTXA4"
    assert ev.type == "inventory.counted" and ev.source == "pos" and ev.key == "SKU-9@store-yyqr03dgctxa4"
    assert ev.payload["on_hand"] == 10 and ev.payload["location"] == "store-yyqr03dgctxa4"
    assert ev.occurred_at == datetime(2019, 10, 29, 18, 38, 45, 102960, tzinfo=timezone.utc)
    # Same notification again: same id, which the bus dedupes.
    assert mapping.counted_event(event.event_id, "SKU-9", "store-yyqr03dgctxa4", count, None).id == ev.id


def test_order_fulfillment_updated_becomes_pickup_ready() -> None:
    raw = json.dumps(body("webhook-order-fulfillment-updated.synthetic.webhook.json")).encode()
    event = msgspec.json.decode(raw, type=mapping.SqWebhook)
    data = msgspec.json.decode(event.data, type=mapping.SqFulfillmentData)
    (update,) = data.object.order_fulfillment_updated.fulfillment_update
    assert event.created_at is not None
    ev = mapping.pickup_event(event.event_id, update, "my-order-001", "store-057p5vyj4a5x1",
                              [FulfilmentLine(sku="A", qty=1)], event.created_at, None)
    assert ev.type == "pickup.ready" and ev.key == "my-order-001"
    assert ev.id == "pos:b3adf364-4937-436e-a833-49c72b4baee8:bYDtYxMd7jWTxaoDLOJA4b:PREPARED"
    assert ev.payload == {"task_ref": "my-order-001", "store": "store-057p5vyj4a5x1", "lines": [{"sku": "A", "qty": 1}]}


def test_negative_and_fractional_square_quantities() -> None:
    count = mapping.SqCount(catalog_object_id="A", location_id="L", quantity="-3",
                            calculated_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert mapping.on_hand(count) == 0
    assert mapping.quantity("4.00000") == 4
    with pytest.raises(ValueError):
        mapping.quantity("four")
