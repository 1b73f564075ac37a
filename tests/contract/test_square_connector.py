"""system-pos's Square connector against Square's documented payloads (fixtures/square, copied verbatim from
/work/shared/vendor-payloads/square; the two *.synthetic.* files say so in their notes).

aioresponses replays the documented answers, errors included; the id maps use the real Redis of the test
session under a private prefix. Webhook signatures are checked with both worked examples Square's SDK ships.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aioresponses import aioresponses
from redis.asyncio import Redis

from services.system.pos import mapping
from services.system.pos.connector import SquareConnector, VersionMismatch
from services.system.pos.pickups import Pickups
from services.system.pos.webhooks import verify_signature
from shared.events import EventBus
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
    settings = Settings(
        urls={"pos": BASE}, retry_attempts=1, breaker_fail_max=100, key_prefix=key_prefix, pos_access_token=TOKEN
    )
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
        ((_, headers),) = sent(m, "GET", "/v2/locations")
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
        m.post(
            url("/v2/inventory/counts/batch-retrieve"), payload=body("inventory-batch-retrieve-counts.response.json")
        )
        page = await pos.retrieve_counts(
            catalog_object_ids=documented["catalog_object_ids"], location_ids=documented["location_ids"]
        )
        ((request, _),) = sent(m, "POST", "/v2/inventory/counts/batch-retrieve")
    assert set(request) <= set(documented) | {"cursor", "limit"}
    assert request["catalog_object_ids"] == documented["catalog_object_ids"]
    (count,) = page.counts
    assert page.cursor is None and mapping.is_stock(count)
    position = mapping.stock_position("SKU-1", mapping.store_id(count.location_id), count)
    assert position.on_hand == 79 and position.location == "store-59tnp9sa8vgda"
    assert position.as_of == datetime(2016, 11, 16, 22, 28, 1, 223000, tzinfo=UTC)


async def test_batch_change_inventory(pos: SquareConnector) -> None:
    documented = body("inventory-batch-create-changes.request.json")
    with aioresponses() as m:
        m.post(url("/v2/inventory/changes/batch-create"), payload=body("inventory-batch-create-changes.response.json"))
        counts = await pos.change_inventory(documented)
    (count,) = counts
    assert (count.catalog_object_id, count.location_id, mapping.on_hand(count)) == (
        "W62UWFY35CWMYGVWK6TWJDNI",
        "C6W5YS5QM06F5",
        53,
    )


async def test_restock_request_has_the_documented_adjustment_shape() -> None:
    """Our ADJUSTMENT carries exactly fields of Square's documented InventoryAdjustment."""
    documented = body("inventory-retrieve-adjustment.response.json")["adjustment"]
    req = StoreReturnRequest(
        ref="r-1",
        store="store-c6w5ys5qm06f5",
        order_ref="o-1",
        currency="EUR",
        lines=[ReturnLine(sku="A", qty=2, unit_price=100)],
    )
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
        ((request, _),) = sent(m, "POST", "/v2/catalog/search")
    assert request["object_types"] == ["ITEM_VARIATION"]
    assert request["query"] == {"exact_query": {"attribute_name": "sku", "attribute_value": "OG-1000-BLK-XS-000000"}}
    # Now mapped in Redis both ways: no further call needed.
    assert await pos.skus(["5GSZPX6EU7MM75S57OONG3V5"]) == ["OG-1000-BLK-XS-000000"]


async def test_create_order_for_a_pickup(pos: SquareConnector) -> None:
    documented = body("orders-create.request.json")
    req = PickupTaskRequest(
        ref="my-order-001", store="store-057p5vyj4a5x1", customer_name="Ada", lines=[FulfilmentLine(sku="A", qty=2)]
    )
    request_body = mapping.pickup_order(req, "057P5VYJ4A5X1", ["BEMYCSMIJL46OCDV4KYIKXIB"])
    assert set(request_body) == set(documented)
    assert set(request_body["order"]) - set(documented["order"]) == {"fulfillments"}  # type: ignore[arg-type]
    with aioresponses() as m:
        m.post(url("/v2/orders"), payload=body("orders-create.response.json"))
        order = await pos.create_order(request_body)
        ((request, _),) = sent(m, "POST", "/v2/orders")
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
    assert problem.in_doubt is False  # Square refused it: nothing was done, a lock need not wait it out


async def test_reused_idempotency_key_is_a_conflict(pos: SquareConnector) -> None:
    errors = {
        "errors": [
            {
                "category": "INVALID_REQUEST_ERROR",
                "code": "IDEMPOTENCY_KEY_REUSED",
                "detail": "reused",
                "field": "idempotency_key",
            }
        ]
    }
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


@pytest.mark.parametrize(
    "name", ["webhook-signature-test-notification.webhook.json", "webhook-signature-escaped-chars.webhook.json"]
)
def test_square_worked_signature_examples_verify(name: str) -> None:
    f = fixture(name)
    raw = f["body"].encode()
    header = f["headers"]["x-square-hmacsha256-signature"]
    assert verify_signature(f["signature_key"], f["notification_url"], raw, header)
    for i in (0, len(raw) // 2, len(raw) - 1):
        flipped = raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1 :]
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
    assert ev.occurred_at == datetime(2019, 10, 29, 18, 38, 45, 102960, tzinfo=UTC)
    # Same notification again: same id, which the bus dedupes.
    assert mapping.counted_event(event.event_id, "SKU-9", "store-yyqr03dgctxa4", count, None).id == ev.id


def test_order_fulfillment_updated_becomes_pickup_ready() -> None:
    raw = json.dumps(body("webhook-order-fulfillment-updated.synthetic.webhook.json")).encode()
    event = msgspec.json.decode(raw, type=mapping.SqWebhook)
    data = msgspec.json.decode(event.data, type=mapping.SqFulfillmentData)
    (update,) = data.object.order_fulfillment_updated.fulfillment_update
    assert event.created_at is not None
    ev = mapping.pickup_event(
        event.event_id,
        update,
        "my-order-001",
        "store-057p5vyj4a5x1",
        [FulfilmentLine(sku="A", qty=1)],
        event.created_at,
        None,
    )
    assert ev.type == "pickup.ready" and ev.key == "my-order-001"
    assert ev.id == "pos:b3adf364-4937-436e-a833-49c72b4baee8:bYDtYxMd7jWTxaoDLOJA4b:PREPARED"
    assert ev.payload == {"task_ref": "my-order-001", "store": "store-057p5vyj4a5x1", "lines": [{"sku": "A", "qty": 1}]}


def test_negative_and_fractional_square_quantities() -> None:
    count = mapping.SqCount(
        catalog_object_id="A", location_id="L", quantity="-3", calculated_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert mapping.on_hand(count) == 0
    assert mapping.quantity("4.00000") == 4
    with pytest.raises(ValueError):
        mapping.quantity("four")


# --- pickup holds, UpdateOrder, SearchOrders ---------------------------------------------------------------------


def _order(
    state: str = "PROPOSED",
    version: int = 1,
    location_id: str = "057P5VYJ4A5X1",
    catalog_object_id: str = "BEMYCSMIJL46OCDV4KYIKXIB",
    reference_id: str = "o-2025-000123",
) -> dict[str, Any]:
    """The order of orders-update.synthetic.response.json, in the given fulfillment state."""
    order = copy.deepcopy(body("orders-update.synthetic.response.json")["order"])
    order["fulfillments"][0]["state"] = state
    order.update(version=version, location_id=location_id, reference_id=reference_id)
    order["line_items"][0]["catalog_object_id"] = catalog_object_id
    return order  # type: ignore[no-any-return]


def test_hold_and_unhold_are_documented_adjustments() -> None:
    documented = body("inventory-retrieve-adjustment.response.json")["adjustment"]
    order = msgspec.convert(_order(), mapping.SqOrder)
    hold = mapping.hold_changes("o-1", order, "2025-08-20T10:00:00.000+00:00")
    unhold = mapping.unhold_changes("o-1", order, "2025-08-20T11:00:00.000+00:00")
    assert set(hold) == set(unhold) == {"idempotency_key", "changes"}
    assert (hold["idempotency_key"], unhold["idempotency_key"]) == ("hold:o-1", "unhold:o-1")
    for changes, states in ((hold, ("IN_STOCK", "SOLD")), (unhold, ("NONE", "IN_STOCK"))):
        (change,) = changes["changes"]  # type: ignore[misc]
        adjustment = change["adjustment"]
        assert change["type"] == "ADJUSTMENT" and set(adjustment) <= set(documented)
        assert (adjustment["from_state"], adjustment["to_state"]) == states
        assert adjustment["quantity"] == "1" and adjustment["reference_id"] == "o-1"
        assert adjustment["catalog_object_id"] == "BEMYCSMIJL46OCDV4KYIKXIB"
        assert adjustment["location_id"] == "057P5VYJ4A5X1"
    # The same order and time make the same request: what Square remembers under the key.
    assert mapping.hold_changes("o-1", order, "2025-08-20T10:00:00.000+00:00") == hold


def test_pickup_held_event_carries_the_counts_square_answered() -> None:
    (count,) = msgspec.convert(body("inventory-batch-create-changes.response.json"), mapping.SqCounts).counts
    ev = mapping.held_event(
        "o-1",
        "store-c6w5ys5qm06f5",
        [FulfilmentLine(sku="SKU-9", qty=1)],
        [("SKU-9", count)],
        count.calculated_at,
        "req-1",
    )
    assert ev.id == "pos:hold:o-1" and ev.type == "pickup.held" and ev.key == "o-1" and ev.source == "pos"
    assert ev.payload == {
        "task_ref": "o-1",
        "store": "store-c6w5ys5qm06f5",
        "lines": [{"sku": "SKU-9", "qty": 1}],
        "counts": [
            {"sku": "SKU-9", "location": "store-c6w5ys5qm06f5", "on_hand": 53, "as_of": "2016-11-16T22:28:01.223000Z"}
        ],
    }


async def test_update_order_cancels_the_pickup_fulfillment(pos: SquareConnector) -> None:
    documented = body("orders-update.synthetic.request.json")
    order = msgspec.convert(_order(), mapping.SqOrder)
    fulfillment = mapping.pickup_fulfillment(order)
    assert fulfillment is not None and fulfillment.uid is not None
    request_body = mapping.cancel_update("o-2025-000123", order, fulfillment.uid)
    assert request_body == documented
    with aioresponses() as m:
        m.put(url(f"/v2/orders/{order.id}"), payload=body("orders-update.synthetic.response.json"))
        updated = await pos.update_order(order.id, request_body)
        ((sent_body, headers),) = sent(m, "PUT", f"/v2/orders/{order.id}")
    assert sent_body == documented and headers["Square-Version"]
    assert updated.version == 2 and [f.state for f in updated.fulfillments] == ["CANCELED"]
    assert mapping.pickup_status(updated) == "canceled"


async def test_version_mismatch_is_a_definite_conflict(pos: SquareConnector) -> None:
    envelope = fixture("error-version-mismatch.synthetic.error.json")
    with aioresponses() as m:
        m.put(url("/v2/orders/X"), status=envelope["status"], payload=envelope["body"])
        with pytest.raises(VersionMismatch) as caught:
            await pos.update_order("X", {"order": {"version": 1}})
    assert caught.value.status == 409 and caught.value.in_doubt is False


async def test_search_orders_finds_a_reference_across_pages(pos: SquareConnector) -> None:
    documented = body("orders-search.synthetic.request.json")
    page = body("orders-search.synthetic.response.json")
    first = copy.deepcopy(page)
    first["orders"][0]["reference_id"] = "someone-else"
    last = copy.deepcopy(page)
    del last["cursor"]
    since = datetime(2025, 8, 20, 9, 59, tzinfo=UTC)
    with aioresponses() as m:
        m.post(url("/v2/orders/search"), payload=first)
        m.post(url("/v2/orders/search"), payload=last)
        found = await pos.find_order("057P5VYJ4A5X1", "o-2025-000123", since)
        requests = [b for b, _ in sent(m, "POST", "/v2/orders/search")]
    assert found is not None and found.id == page["orders"][0]["id"] and found.version == 1
    assert len(requests) == 2
    for request in requests:
        assert set(request) <= set(documented) | {"cursor"}
        assert request["location_ids"] == documented["location_ids"]
        assert request["query"]["sort"] == documented["query"]["sort"]
        assert request["query"]["filter"]["date_time_filter"] == documented["query"]["filter"]["date_time_filter"]
    assert "cursor" not in requests[0] and requests[1]["cursor"] == page["cursor"]
    with aioresponses() as m:
        m.post(url("/v2/orders/search"), payload={})  # Square answers {} when nothing matches
        assert await pos.find_order("057P5VYJ4A5X1", "o-2025-000123", since) is None


# The Pickups domain against replayed Square answers and the real Redis, with a short commit limit.

LOCATION, VARIATION = "C6W5YS5QM06F5", "W62UWFY35CWMYGVWK6TWJDNI"  # the documented batch-create answer's ids


@pytest.fixture
async def pickups(redis_url: str, key_prefix: str) -> AsyncIterator[Pickups]:
    settings = Settings(
        urls={"pos": BASE},
        retry_attempts=1,
        breaker_fail_max=100,
        key_prefix=key_prefix,
        pos_access_token=TOKEN,
        upstream_commit_limit_s=2.5,
    )
    upstreams = Upstreams(settings, service="test-pos-contract")
    redis = Redis.from_url(redis_url)
    try:
        pos = SquareConnector(upstreams["pos"], settings, redis)
        await pos.items.put_many({VARIATION: "SKU-9"})
        yield Pickups(pos, redis, EventBus(redis, prefix=key_prefix, service="test"), settings)
    finally:
        await upstreams.close()
        await redis.aclose()


def _changes(m: aioresponses) -> list[Any]:
    return [b for b, _ in sent(m, "POST", "/v2/inventory/changes/batch-create")]


async def test_a_hold_in_doubt_keeps_the_lock_then_a_cancel_resolves_it(pickups: Pickups) -> None:
    """The hold's answer is lost: a cancel must wait the commit limit out, then make the hold definite (same
    request again) before giving it back, so the till ends where it started and projections hear of it once."""
    ref = "o-2025-000123"
    request = PickupTaskRequest(
        ref=ref, store=mapping.store_id(LOCATION), customer_name="Ada", lines=[FulfilmentLine(sku="SKU-9", qty=1)]
    )
    proposed = _order(location_id=LOCATION, catalog_object_id=VARIATION)
    counts = body("inventory-batch-create-changes.response.json")
    with aioresponses() as m:
        m.post(url("/v2/orders"), payload={"order": proposed})
        m.post(url("/v2/inventory/changes/batch-create"), status=500, payload={"errors": []})
        with pytest.raises(ProblemError) as caught:
            await pickups.create(request, "digest-1", LOCATION, [VARIATION])
        assert caught.value.in_doubt
        # The lock is kept while the lost hold may still land: a cancel is told to come back.
        with pytest.raises(ProblemError) as busy:
            await pickups.cancel(ref)
        assert busy.value.status == 409 and busy.value.retry_after
        await asyncio.sleep(2.7)
        m.get(url(f"/v2/orders/{proposed['id']}"), payload={"order": proposed})
        m.put(url(f"/v2/orders/{proposed['id']}"), payload={"order": _order("CANCELED", 2, LOCATION, VARIATION)})
        m.post(url("/v2/inventory/changes/batch-create"), payload=counts)
        m.post(url("/v2/inventory/changes/batch-create"), payload=counts)
        task = await pickups.cancel(ref)
        changes = _changes(m)
    assert task.status == "canceled" and task.pos_id == proposed["id"]
    hold, resent, unhold = changes
    assert hold == resent and hold["idempotency_key"] == f"hold:{ref}"  # byte for byte: Square replays it
    assert unhold["idempotency_key"] == f"unhold:{ref}"
    assert unhold["changes"][0]["adjustment"]["from_state"] == "NONE"
    record = await pickups.record(ref)
    assert record is not None and record.hold == "released" and record.order_id == proposed["id"]
    entries = await pickups.redis.xrange(pickups.bus.stream("fulfilment"))
    assert [e[1][b"id"] for e in entries] == [f"pos:hold:{ref}".encode()]
    # Cancelled: a repeat answers as it is, and gives nothing back twice.
    with aioresponses() as m:
        m.get(url(f"/v2/orders/{proposed['id']}"), payload={"order": _order("CANCELED", 2, LOCATION, VARIATION)})
        again = await pickups.cancel(ref)
        assert again.status == "canceled" and _changes(m) == []


async def test_a_cancel_finds_a_lost_create_by_search_and_a_collected_task_is_a_conflict(pickups: Pickups) -> None:
    ref = "o-2025-000123"
    request = PickupTaskRequest(
        ref=ref, store=mapping.store_id(LOCATION), customer_name="Ada", lines=[FulfilmentLine(sku="SKU-9", qty=1)]
    )
    proposed = _order(location_id=LOCATION, catalog_object_id=VARIATION)
    with aioresponses() as m:
        m.post(url("/v2/orders"), exception=TimeoutError())
        with pytest.raises(ProblemError) as caught:
            await pickups.create(request, "digest-1", LOCATION, [VARIATION])
        assert caught.value.in_doubt
    await asyncio.sleep(2.7)
    completed = _order("COMPLETED", 3, LOCATION, VARIATION)
    with aioresponses() as m:
        m.post(url("/v2/orders/search"), payload={"orders": [completed]})
        with pytest.raises(ProblemError) as conflict:
            await pickups.cancel(ref)
        ((search, _),) = sent(m, "POST", "/v2/orders/search")
    assert conflict.value.status == 409 and not _changes(m)
    record = await pickups.record(ref)
    assert record is not None and record.order_id == proposed["id"] and record.claimed_at
    start = datetime.fromisoformat(search["query"]["filter"]["date_time_filter"]["created_at"]["start_at"])
    assert start == datetime.fromisoformat(record.claimed_at) - timedelta(minutes=1)


async def test_a_cancel_that_finds_nothing_refuses_a_later_create(pickups: Pickups) -> None:
    with pytest.raises(ProblemError) as missing:
        await pickups.cancel("never-created")
    assert missing.value.status == 404
    request = PickupTaskRequest(
        ref="never-created",
        store=mapping.store_id(LOCATION),
        customer_name="Ada",
        lines=[FulfilmentLine(sku="SKU-9", qty=1)],
    )
    with aioresponses() as m, pytest.raises(ProblemError) as refused:
        await pickups.create(request, "digest-1", LOCATION, [VARIATION])
    assert refused.value.status == 409 and not m.requests
