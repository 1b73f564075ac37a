"""system-wms's connector against the WMS's documented payloads (fixtures copied from the sandbox README).

aioresponses replays the documented answers, errors included, so the connector's reading of the protocol
(paging, the 409-duplicate replay, the error envelope, webhook signatures) is checked without a back-end.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aioresponses import aioresponses
from redis.asyncio import Redis

from services.system.wms import mapping
from services.system.wms.connector import WmsConnector
from services.system.wms.webhooks import verify_signature
from shared.http import Upstreams
from shared.locks import Locks
from shared.models.common import Address
from shared.models.fulfilment import FulfilmentLine, FulfilmentOrderRequest, ReceiptRequest
from shared.problems import ProblemError
from shared.settings import Settings
from tests.contract.vendor import any_query, fixture_loaders

FIXTURES = Path(__file__).parent / "fixtures" / "wms"
README = Path(__file__).parents[2] / "services" / "sandbox" / "wms" / "README.md"
BASE = "http://wms.test"
API_KEY = "test-key"


fixture, body = fixture_loaders("wms")


def url(path: str) -> re.Pattern[str]:
    return any_query(BASE, path)


def connector(upstreams: Upstreams, redis: Redis, prefix: str) -> WmsConnector:
    """The connector with its per-ref locks on the real Redis (the locks are ours, not the vendor's)."""
    return WmsConnector(upstreams["wms"], API_KEY, Locks(redis, prefix=prefix), commit_limit_s=5, lock_wait_s=1)


@pytest.fixture
async def wms(aredis: Redis, key_prefix: str) -> AsyncIterator[WmsConnector]:
    settings = Settings(urls={"wms": BASE}, retry_attempts=1, breaker_fail_max=100)
    upstreams = Upstreams(settings, service="test-wms-contract")
    try:
        yield connector(upstreams, aredis, key_prefix)
    finally:
        await upstreams.close()


@pytest.fixture
def mocked() -> Any:
    with aioresponses() as m:
        yield m


def sent(mocked: Any, method: str, path: str) -> list[Any]:
    """The calls made to ``path`` (any query)."""
    return [call for (m, u), calls in mocked.requests.items() if m == method and u.path == path for call in calls]


def order_request() -> FulfilmentOrderRequest:
    """The canonical request that maps to the README's create example."""
    return FulfilmentOrderRequest(
        ref="ORD-100",
        location="dc-tlb",
        ship_to=Address(
            name="Ann de Vries",
            line1="Oudegracht 1",
            city="Utrecht",
            postal_code="3511 AB",
            country="NL",
            phone="+31301234567",
        ),
        lines=[FulfilmentLine(sku="OG-1000-BLK-XS-000000", qty=2)],
    )


def test_fixtures_are_the_readme_examples() -> None:
    """Fixtures may not drift from the documentation they claim to copy."""
    text = README.read_text()
    documented = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 15
    for path in files:
        doc = json.loads(path.read_text())
        assert doc["source_url"].startswith("services/sandbox/wms/README.md#"), path.name
        assert doc["api_version"] == "WMS API v1"
        if "body" in doc:
            assert doc["body"] in documented, f"{path.name} is not a README example"
        else:
            assert doc["raw_body"] in text and doc["headers"]["X-WMS-Signature"] in text


async def test_stock_page_maps_rows_and_passes_paging(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/stock"), status=200, payload=body("stock-list.response.json"))
    page = await wms.stock_page("dc-tlb", "abc_-1", 2)
    assert [p.sku for p in page.items] == ["OG-1000-BEI-S-000013", "OG-1000-BEI-XS-000012"]
    assert {p.location for p in page.items} == {"dc-tlb"}
    assert page.items[1].on_hand == 155 and page.items[1].in_transit == 40 and page.items[1].source == "wms"
    assert page.items[1].as_of.isoformat() == "2026-03-02T09:12:41+00:00"
    assert page.next_cursor == "VExCfE9HLTEwMDAtQkVJLVhTLTAwMDAxMg"
    (call,) = sent(mocked, "GET", "/api/v1/stock")
    assert call.kwargs["params"] == {"page_size": 2, "warehouse": "TLB", "page_token": "abc_-1"}
    assert call.kwargs["headers"]["X-Api-Key"] == API_KEY


async def test_stock_for_sku_gives_one_position_per_dc(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/stock/OG-1000-BLK-XS-000000"), status=200, payload=body("stock-sku.response.json"))
    positions = await wms.stock_for_sku("OG-1000-BLK-XS-000000")
    assert [(p.location, p.on_hand, p.in_transit) for p in positions] == [("dc-tlb", 340, 0), ("dc-zwl", 166, 41)]


async def test_unknown_sku_stock_is_404(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(
        url("/api/v1/stock/NOPE"),
        status=404,
        payload={"error": {"code": "not_found", "message": "SKU NOPE is not known to the WMS"}},
    )
    with pytest.raises(ProblemError) as info:
        await wms.stock_for_sku("NOPE")
    assert info.value.status == 404


async def test_create_sends_documented_body_and_maps_201(wms: WmsConnector, mocked: Any) -> None:
    mocked.post(url("/api/v1/fulfillment-orders"), status=201, payload=body("fulfillment-order-create.response.json"))
    order = await wms.create_fulfilment_order(order_request())
    assert order.created is True and order.wms_id == "fo_c92606ea9684d8f8" and order.status == "received"
    assert order.location == "dc-tlb" and order.lines == [FulfilmentLine(sku="OG-1000-BLK-XS-000000", qty=2)]
    (call,) = sent(mocked, "POST", "/api/v1/fulfillment-orders")
    assert msgspec.json.decode(call.kwargs["data"]) == body("fulfillment-order-create.request.json")


async def test_duplicate_reference_409_replays_the_existing_order(wms: WmsConnector, mocked: Any) -> None:
    mocked.post(url("/api/v1/fulfillment-orders"), status=409, payload=body("fulfillment-order-duplicate.error.json"))
    mocked.get(
        url("/api/v1/fulfillment-orders/fo_c92606ea9684d8f8"),
        status=200,
        payload=body("fulfillment-order-create.response.json"),
    )
    order = await wms.create_fulfilment_order(order_request())
    assert order.created is False and order.wms_id == "fo_c92606ea9684d8f8" and order.ref == "ORD-100"
    assert len(sent(mocked, "GET", "/api/v1/fulfillment-orders/fo_c92606ea9684d8f8")) == 1


async def test_duplicate_reference_with_other_content_is_a_conflict(wms: WmsConnector, mocked: Any) -> None:
    mocked.post(url("/api/v1/fulfillment-orders"), status=409, payload=body("fulfillment-order-duplicate.error.json"))
    mocked.get(
        url("/api/v1/fulfillment-orders/fo_c92606ea9684d8f8"),
        status=200,
        payload=body("fulfillment-order-create.response.json"),
    )
    other = order_request()
    other.lines = [FulfilmentLine(sku="OG-1000-BLK-XS-000000", qty=3)]
    with pytest.raises(ProblemError) as info:
        await wms.create_fulfilment_order(other)
    assert info.value.status == 409 and info.value.slug == "conflict"


async def test_unknown_sku_is_422_with_the_skus(wms: WmsConnector, mocked: Any) -> None:
    mocked.post(url("/api/v1/fulfillment-orders"), status=422, payload=body("error-unknown-sku.error.json"))
    with pytest.raises(ProblemError) as info:
        await wms.create_fulfilment_order(order_request())
    assert info.value.status == 422
    assert info.value.errors == [{"code": "unknown_sku", "skus": ["NOPE-1"]}]


async def test_refused_api_key_is_a_502_naming_the_wms(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/stock"), status=401, payload=body("error-unauthorized.error.json"))
    with pytest.raises(ProblemError) as info:
        await wms.stock_page("dc-tlb", None, 10)
    assert info.value.status == 502 and info.value.upstream == "wms"


async def test_non_envelope_4xx_is_still_explained(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/shipments/shp_x"), status=418, body=b"<html>teapot</html>")
    with pytest.raises(ProblemError) as info:
        await wms.shipment("shp_x")
    assert info.value.status == 502 and "418" in (info.value.detail or "")


async def test_get_by_ref_uses_the_documented_filter(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/fulfillment-orders"), status=200, payload=body("fulfillment-order-list.response.json"))
    order = await wms.fulfilment_order("ORD-100")
    assert order.status == "shipped" and order.shipment_refs == ["shp_64687fc7c9d623f7"]
    (call,) = sent(mocked, "GET", "/api/v1/fulfillment-orders")
    assert call.kwargs["params"] == {"order_reference": "ORD-100"}


async def test_get_by_unknown_ref_is_404(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/fulfillment-orders"), status=200, payload={"items": [], "next_page_token": None})
    with pytest.raises(ProblemError) as info:
        await wms.fulfilment_order("ORD-404")
    assert info.value.status == 404


async def test_cancel_after_shipping_is_a_conflict(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/fulfillment-orders"), status=200, payload=body("fulfillment-order-list.response.json"))
    mocked.post(
        url("/api/v1/fulfillment-orders/fo_c92606ea9684d8f8/cancel"),
        status=409,
        payload=body("fulfillment-order-not-cancellable.error.json"),
    )
    with pytest.raises(ProblemError) as info:
        await wms.cancel_fulfilment_order("ORD-100")
    assert info.value.status == 409 and "can no longer be cancelled" in (info.value.detail or "")


async def test_shipment_maps_to_canonical(wms: WmsConnector, mocked: Any) -> None:
    mocked.get(url("/api/v1/shipments/shp_64687fc7c9d623f7"), status=200, payload=body("shipment-get.response.json"))
    shipment = await wms.shipment("shp_64687fc7c9d623f7")
    assert shipment.ref == "shp_64687fc7c9d623f7" and shipment.order_ref == "ORD-100"
    assert shipment.location == "dc-tlb" and shipment.carrier == "PostNL" and shipment.delivered_at is None
    assert shipment.lines == [FulfilmentLine(sku="OG-1000-BLK-XS-000000", qty=2)]


async def test_receipt_create_sends_documented_body(wms: WmsConnector, mocked: Any) -> None:
    mocked.post(url("/api/v1/receipts"), status=201, payload=body("receipt-create.response.json"))
    req = ReceiptRequest(
        ref="RMA-100", location="dc-tlb", lines=[FulfilmentLine(sku="OG-1000-BLK-XS-000000", qty=1)], reason="too small"
    )
    receipt = await wms.create_receipt(req)
    assert receipt.created and receipt.status == "expected" and receipt.wms_id == "rcv_dd80b54b15000c66"
    (call,) = sent(mocked, "POST", "/api/v1/receipts")
    assert msgspec.json.decode(call.kwargs["data"]) == body("receipt-create.request.json")


async def test_receipt_duplicate_replays(wms: WmsConnector, mocked: Any) -> None:
    mocked.post(
        url("/api/v1/receipts"),
        status=409,
        payload={
            "error": {
                "code": "duplicate_receipt_reference",
                "message": "exists",
                "details": {"id": "rcv_dd80b54b15000c66"},
            }
        },
    )
    mocked.get(
        url("/api/v1/receipts"),
        status=200,
        payload={"items": [body("receipt-create.response.json")], "next_page_token": None},
    )
    req = ReceiptRequest(ref="RMA-100", location="dc-tlb", lines=[FulfilmentLine(sku="OG-1000-BLK-XS-000000", qty=1)])
    receipt = await wms.create_receipt(req)
    assert receipt.created is False and receipt.wms_id == "rcv_dd80b54b15000c66"


async def test_create_is_retried_after_a_5xx_and_the_retry_replays(mocked: Any, aredis: Redis, key_prefix: str) -> None:
    """The WMS enforces order_reference, so the connector may retry the POST: the retry meets the 409."""
    settings = Settings(urls={"wms": BASE}, retry_attempts=2, retry_backoff_s=0.001, breaker_fail_max=100)
    upstreams = Upstreams(settings, service="test-wms-contract-retry")
    try:
        wms = connector(upstreams, aredis, key_prefix)
        mocked.post(
            url("/api/v1/fulfillment-orders"), status=500, payload={"error": {"code": "internal_error", "message": "x"}}
        )
        mocked.post(
            url("/api/v1/fulfillment-orders"), status=409, payload=body("fulfillment-order-duplicate.error.json")
        )
        mocked.get(
            url("/api/v1/fulfillment-orders/fo_c92606ea9684d8f8"),
            status=200,
            payload=body("fulfillment-order-create.response.json"),
        )
        order = await wms.create_fulfilment_order(order_request())
        assert order.created is False and order.wms_id == "fo_c92606ea9684d8f8"
        assert len(sent(mocked, "POST", "/api/v1/fulfillment-orders")) == 2
    finally:
        await upstreams.close()


# --- webhooks -----------------------------------------------------------------------------------------------------


def envelope(name: str) -> mapping.WebhookEnvelope:
    return msgspec.json.decode(msgspec.json.encode(body(name)), type=mapping.WebhookEnvelope)


def test_signature_worked_example_verifies() -> None:
    doc = fixture("webhook-signature-example.webhook.json")
    raw = doc["raw_body"].encode()
    header = doc["headers"]["X-WMS-Signature"]
    verify_signature(doc["secret"], header, raw, now=doc["timestamp"] + 10)
    for bad_secret, bad_body, now in [
        ("other", raw, doc["timestamp"]),
        (doc["secret"], raw + b" ", doc["timestamp"]),
        (doc["secret"], raw, doc["timestamp"] + 301),
    ]:
        with pytest.raises(ProblemError) as info:
            verify_signature(bad_secret, header, bad_body, now=now)
        assert info.value.slug == "invalid-signature" and info.value.status == 401


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=1772445725", "t=abc,v1=00", "garbage"])
def test_malformed_signature_headers_are_refused(header: str | None) -> None:
    with pytest.raises(ProblemError) as info:
        verify_signature("whsec_test", header, b"{}", now=1772445725)
    assert info.value.status == 401


def test_empty_secret_refuses_everything() -> None:
    doc = fixture("webhook-signature-example.webhook.json")
    with pytest.raises(ProblemError):
        verify_signature("", doc["headers"]["X-WMS-Signature"], doc["raw_body"].encode(), now=doc["timestamp"])


def test_shipment_dispatched_becomes_one_fulfilment_event() -> None:
    events = mapping.events_for(envelope("webhook-shipment-dispatched.webhook.json"))
    assert [(d, e.type, e.id, e.key) for d, e in events] == [
        ("fulfilment", "shipment.dispatched", "wms:evt_c7ff53ebca0a8979", "ORD-100")
    ]
    payload = events[0][1].payload
    assert payload["shipment_ref"] == "shp_64687fc7c9d623f7" and payload["location"] == "dc-tlb"
    assert payload["lines"] == [{"sku": "OG-1000-BLK-XS-000000", "qty": 2}]
    # The projection applies the shipment itself; an inventory.adjusted here would subtract twice (DESIGN §4).
    assert all(e.type != "inventory.adjusted" for _, e in events)


def test_receipt_received_becomes_receipt_event_with_received_quantities() -> None:
    events = mapping.events_for(envelope("webhook-receipt-received.webhook.json"))
    assert [(d, e.type, e.id, e.key) for d, e in events] == [
        ("fulfilment", "receipt.received", "wms:evt_649e4d6d11052e82", "RMA-100")
    ]
    assert events[0][1].payload["lines"] == [{"sku": "OG-1000-BLK-XS-000000", "qty": 1}]


def test_stock_counted_becomes_absolute_counts_per_line() -> None:
    events = mapping.events_for(envelope("webhook-stock-counted.webhook.json"))
    assert [(d, e.type, e.id, e.key) for d, e in events] == [
        (
            "inventory",
            "inventory.counted",
            "wms:evt_b5ed68f886065120:OG-1000-BLK-XS-000000",
            "OG-1000-BLK-XS-000000@dc-zwl",
        )
    ]
    assert events[0][1].payload["on_hand"] == 12 and events[0][1].payload["location"] == "dc-zwl"


def test_delivered_without_delivered_at_is_refused() -> None:
    doc = body("webhook-shipment-dispatched.webhook.json")
    doc = {**doc, "type": "shipment.delivered"}
    env = msgspec.json.decode(msgspec.json.encode(doc), type=mapping.WebhookEnvelope)
    with pytest.raises(msgspec.ValidationError):
        mapping.events_for(env)


def test_unknown_webhook_type_yields_nothing_and_unknown_fields_are_refused() -> None:
    doc = body("webhook-stock-counted.webhook.json")
    assert (
        mapping.events_for(
            msgspec.json.decode(msgspec.json.encode({**doc, "type": "inventory.moved"}), type=mapping.WebhookEnvelope)
        )
        == []
    )
    with pytest.raises(msgspec.ValidationError):
        mapping.events_for(
            msgspec.json.decode(
                msgspec.json.encode({**doc, "data": {**doc["data"], "surprise": 1}}), type=mapping.WebhookEnvelope
            )
        )
