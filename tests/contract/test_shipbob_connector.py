"""system-wms's ShipBob connector against ShipBob's documented shapes (fixtures/shipbob). A fixture without
``.synthetic.`` in its name is an example copied from ShipBob's documentation (its ``source_url`` says where); a
synthetic one is a scenario built from the 2026-01 schemas where no example could be copied, and where an example of
the same answer exists, the scenario must have its shape (``test_scenarios_have_the_documented_shape``).

aioresponses replays the answers, errors included; the id maps and per-ref locks use the real Redis of the test
session under a private prefix. Webhook payloads go through the Standard Webhooks verification (signed at run time
with the maintained ``standardwebhooks`` library, as ShipBob signs deliveries of dated-API subscriptions).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from aioresponses import aioresponses
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from services.system.wms import mapping
from services.system.wms.connector import WmsConnector, next_cursor
from services.system.wms.settings import WHSEC_PATTERN, WmsSettings
from services.system.wms.webhooks import signing_secret, verify_signature
from shared.http import Upstreams
from shared.idmap import IdMap
from shared.locks import Locks
from shared.models.common import Address
from shared.models.fulfilment import FulfilmentLine, FulfilmentOrderRequest, ReceiptRequest
from shared.problems import ProblemError
from shared.settings import from_env
from tests.contract.vendor import FIXTURE_ROOT, any_query, assert_same_shape, fixture_loaders

BASE = "http://shipbob.test"
API = f"{BASE}/2026-01"
TOKEN = "contract-token"
SECRET = "contract-webhook-secret"
REF = "o-2026-000123"

fixture, body = fixture_loaders("shipbob")


def url(path: str) -> re.Pattern[str]:
    return any_query(API, path)


def sent(m: aioresponses, method: str, path: str) -> list[tuple[Any, dict[str, str], str]]:
    """JSON bodies, headers and URLs of the requests the connector made to ``path`` (query excluded)."""
    out = []
    for (meth, u), calls in m.requests.items():
        if meth == method and str(u).split("?")[0] == API + path:
            for call in calls:
                data = call.kwargs.get("json", call.kwargs.get("data"))
                if isinstance(data, (bytes, str)):
                    data = json.loads(data)
                out.append((data, call.kwargs.get("headers", {}), str(u)))
    return out


def test_every_fixture_names_its_source_and_synthetic_ones_say_so() -> None:
    files = sorted((FIXTURE_ROOT / "shipbob").glob("*.json"))
    assert len(files) >= 30
    assert len([f for f in files if ".synthetic." not in f.name]) >= 11
    for path in files:
        f = fixture(path.name)
        assert {
            "source_url",
            "source_repo_path",
            "api_version",
            "method",
            "path",
            "kind",
            "status",
            "body",
            "notes",
        } <= set(f)
        assert f["api_version"].startswith("ShipBob 20"), path.name
        # An example copied from an older dated version's page says why it holds for 2026-01.
        assert f["api_version"].startswith("ShipBob 2026-01") or "2026-01" in f["notes"], path.name
        assert f["source_url"] or f["source_repo_path"] or f.get("reference_page"), path.name
        assert ("SYNTHETIC" in f["notes"]) == (".synthetic." in path.name), path.name


# Scenario (synthetic) bodies whose answer ShipBob's documentation shows an example of: same fields, same types.
SCENARIOS_OF_EXAMPLES = [
    ("locations.synthetic.response.json", "locations.response.json"),
    ("inventory-levels-by-location.synthetic.response.json", "inventory-levels-by-location.response.json"),
    ("inventory-level-item-by-location.synthetic.response.json", "inventory-level-item-by-location.response.json"),
]


@pytest.mark.parametrize(("scenario", "example"), SCENARIOS_OF_EXAMPLES)
def test_scenarios_have_the_documented_shape(scenario: str, example: str) -> None:
    assert (fixture(scenario)["method"], fixture(scenario)["kind"]) == (fixture(example)["method"], "response")
    assert_same_shape(body(scenario), body(example), nullable=True)


@pytest.fixture
async def wms(redis_url: str, key_prefix: str) -> AsyncIterator[WmsConnector]:
    settings = WmsSettings(urls={"wms": BASE}, retry_attempts=1, breaker_fail_max=100, key_prefix=key_prefix)
    upstreams = Upstreams(settings, service="test-wms-contract")
    redis = Redis.from_url(redis_url)
    try:
        yield WmsConnector(
            upstreams["wms"],
            TOKEN,
            Locks(redis, prefix=key_prefix),
            IdMap(redis, prefix=key_prefix, system="wms", kind="inventory"),
            commit_limit_s=0.5,
            lock_wait_s=1.0,
        )
    finally:
        await upstreams.close()
        await redis.aclose()


def account(m: aioresponses) -> None:
    """The channel and the fulfilment centres every write and mapping reads first (repeatable)."""
    m.get(url("/channel"), payload=body("channels.response.json"), repeat=True)
    m.get(url("/location"), payload=body("locations.synthetic.response.json"), repeat=True)


def request(lines: list[tuple[str, int]] | None = None, location: str = "dc-tlb") -> FulfilmentOrderRequest:
    return FulfilmentOrderRequest(
        ref=REF,
        location=location,
        ship_to=Address(
            name="Ada Lovelace", line1="Stationsplein 1", city="Utrecht", postal_code="3511 ED", country="NL"
        ),
        lines=[FulfilmentLine(sku=s, qty=q) for s, q in (lines or [("OG-1000-BLK-M", 2), ("OG-2000-WHT-L", 1)])],
    )


# --- orders ----------------------------------------------------------------------------------------------------


async def test_create_order_sends_the_documented_shape_and_maps_the_answer(wms: WmsConnector) -> None:
    documented = body("order-create.request.json")
    with aioresponses() as m:
        account(m)
        m.post(url("/order"), status=201, payload=body("order-create.synthetic.response.json"))
        order = await wms.create_fulfilment_order(request())
        ((sent_body, headers, _),) = sent(m, "POST", "/order")
    # Every field we send is one ShipBob's guide sends, nested the same way; products by reference_id (the SKU).
    assert set(sent_body) <= set(documented) | {"location_id"}
    assert set(sent_body["recipient"]) <= set(documented["recipient"])
    assert set(sent_body["recipient"]["address"]) <= set(documented["recipient"]["address"])
    assert all(set(p) <= set(documented["products"][0]) for p in sent_body["products"])
    assert sent_body["reference_id"] == REF and sent_body["type"] == "DTC" and sent_body["location_id"] == 10
    assert headers["Authorization"] == f"Bearer {TOKEN}" and headers["shipbob_channel_id"] == "128944"
    assert (order.ref, order.location, order.wms_id, order.status, order.created) == (
        REF,
        "dc-tlb",
        "309589638",
        "received",
        True,
    )
    assert [(line.sku, line.qty) for line in order.lines] == [("OG-1000-BLK-M", 2), ("OG-2000-WHT-L", 1)]
    assert order.shipment_refs == []


async def test_split_order_maps_each_parcel_with_its_carrier_and_tracking(wms: WmsConnector) -> None:
    with aioresponses() as m:
        account(m)
        m.get(url("/order"), payload=[body("order-get.synthetic.response.json")])
        order = await wms.fulfilment_order(REF)
        ((_, _, asked),) = sent(m, "GET", "/order")
    assert "ReferenceIds=o-2026-000123" in asked
    assert order.status == "shipped"  # one parcel delivered, the other still on its way
    assert order.shipment_refs == ["201", "202"]
    with aioresponses() as m:
        account(m)
        m.get(url("/shipment/202"), payload=body("shipment-get.synthetic.response.json"))
        shipment = await wms.shipment("202")
    assert (shipment.ref, shipment.order_ref, shipment.location, shipment.carrier, shipment.tracking_number) == (
        "202",
        REF,
        "dc-tlb",
        "PostNL",
        "JVGL0600000000000002",
    )
    assert [(line.sku, line.qty) for line in shipment.lines] == [("OG-2000-WHT-L", 1)]
    assert shipment.dispatched_at == datetime(2026, 2, 4, 10, 30, tzinfo=UTC) and shipment.delivered_at is None
    # Every live parcel delivered: the order is delivered.
    delivered = copy.deepcopy(body("order-get.synthetic.response.json"))
    delivered["shipments"][1]["delivery_date"] = "2026-02-06T09:00:00+00:00"
    locations = await wms.locations()
    assert mapping.fulfilment_order(msgspec.convert(delivered, mapping.SbOrder), locations).status == "delivered"


async def test_duplicate_reference_is_looked_up_and_replayed(wms: WmsConnector) -> None:
    """ShipBob refuses a second order with the same reference_id in the channel (422); the connector looks the
    order up by reference and answers it as the replay, if it is the same order."""
    duplicate = fixture("error-422-duplicate-reference.synthetic.error.json")
    with aioresponses() as m:
        account(m)
        m.post(url("/order"), status=duplicate["status"], payload=duplicate["body"])
        m.get(url("/order"), payload=body("order-by-reference.synthetic.response.json"))
        order = await wms.create_fulfilment_order(request())
        assert len(sent(m, "GET", "/order")) == 1
    assert order.ref == REF and order.wms_id == "309589638" and order.created is False
    # The same reference for different lines is a conflict, not a replay.
    with aioresponses() as m:
        account(m)
        m.post(url("/order"), status=duplicate["status"], payload=duplicate["body"])
        m.get(url("/order"), payload=body("order-by-reference.synthetic.response.json"))
        with pytest.raises(ProblemError) as caught:
            await wms.create_fulfilment_order(request([("OG-1000-BLK-M", 5)]))
    assert caught.value.status == 409


async def test_cancel_by_reference(wms: WmsConnector) -> None:
    with aioresponses() as m:
        account(m)
        m.get(url("/order"), payload=body("order-by-reference.synthetic.response.json"))
        m.post(url("/order/309589638:cancel"), payload=body("order-cancel.synthetic.response.json"))
        order = await wms.cancel_fulfilment_order(REF)
    assert order.status == "cancelled"
    refused = copy.deepcopy(body("order-cancel.synthetic.response.json"))
    refused.update(status="Failure", order=body("order-get.synthetic.response.json"))
    refused["canceled_shipment_results"][0].update(is_success=False, reason="Shipment has already shipped")
    with aioresponses() as m:
        account(m)
        m.get(url("/order"), payload=[body("order-get.synthetic.response.json")])
        m.post(url("/order/309589638:cancel"), payload=refused)
        with pytest.raises(ProblemError) as caught:
            await wms.cancel_fulfilment_order(REF)
    assert caught.value.status == 409


# --- inventory -------------------------------------------------------------------------------------------------


async def test_inventory_levels_per_fulfilment_centre_page_by_next(wms: WmsConnector) -> None:
    with aioresponses() as m:
        account(m)
        m.get(url("/inventory-level/locations"), payload=body("inventory-levels-by-location.synthetic.response.json"))
        page = await wms.stock_page("dc-tlb", None, 2)
        ((_, _, asked),) = sent(m, "GET", "/inventory-level/locations")
    assert "LocationId=10" in asked and "PageSize=2" in asked
    assert [(p.sku, p.location, p.on_hand, p.in_transit) for p in page.items] == [
        ("OG-1000-BLK-M", "dc-tlb", 40, 12),
        ("OG-2000-WHT-L", "dc-tlb", 3, 0),
    ]
    assert page.next_cursor == "Mg" and next_cursor(None) is None
    # ShipBob's documented links are paths, with the parameter as `cursor` (the channel listing's example).
    assert next_cursor(body("channels.response.json")["next"]) == "eyJJZCI6NzY4MzksIkN1cnNvclR5cGUiOjB5"
    # The SKUs were remembered with their inventory ids: the per-SKU read needs no search.
    with aioresponses() as m:
        account(m)
        m.get(
            url("/inventory-level/9557855/locations"),
            payload=body("inventory-level-item-by-location.synthetic.response.json"),
        )
        positions = await wms.stock_for_sku("OG-1000-BLK-M")
    assert {(p.location, p.on_hand) for p in positions} == {("dc-tlb", 40), ("dc-mad", 7)}


async def test_inventory_history_page(wms: WmsConnector) -> None:
    documented = body("inventory-history.request.json")
    with aioresponses() as m:
        m.post(url("/inventory/history:query"), payload=body("inventory-history.synthetic.response.json"))
        page = await wms.inventory_history(10, 880001, "2026-02-01T00:00:00+00:00")
        ((sent_body, _, _),) = sent(m, "POST", "/inventory/history:query")
    assert set(sent_body) <= set(documented) and sent_body["facility_id"] == 10 and sent_body["cursor"] == 880001
    assert [(e.inventory_audit_event_id, e.event_category) for e in page.data or []] == [
        (880002, "OrderPicked"),
        (880003, "InventoryAdjusted"),
    ]
    assert page.next is None


# --- returns and receiving -------------------------------------------------------------------------------------


async def test_create_return_then_read_it_back_by_reference(wms: WmsConnector) -> None:
    documented = body("return-create.request.json")
    await wms.inventory_ids.put_many({"9557855": "OG-1000-BLK-M"})
    awaiting = copy.deepcopy(body("return-by-reference.synthetic.response.json"))
    awaiting["items"][0].update(status="AwaitingArrival", completed_date=None)
    with aioresponses() as m:
        account(m)
        m.post(url("/return"), status=201, payload=body("return-create.synthetic.response.json"))
        m.get(url("/return"), payload=awaiting)
        receipt = await wms.create_receipt(
            ReceiptRequest(ref="r-2026-000045", location="dc-tlb", lines=[FulfilmentLine(sku="OG-1000-BLK-M", qty=1)])
        )
        ((sent_body, headers, _),) = sent(m, "POST", "/return")
    assert set(sent_body) <= set(documented) and set(sent_body["inventory"][0]) <= set(documented["inventory"][0])
    assert sent_body["fulfillment_center"] == {"id": 10} and headers["shipbob_channel_id"] == "128944"
    assert (receipt.ref, receipt.location, receipt.status, receipt.created) == (
        "r-2026-000045",
        "dc-tlb",
        "expected",
        True,
    )
    with aioresponses() as m:
        account(m)
        m.get(url("/return"), payload=body("return-by-reference.synthetic.response.json"))
        done = await wms.receipt("r-2026-000045")
    assert done.status == "received" and done.received_at == datetime(2026, 2, 12, 10, 30, tzinfo=UTC)


def test_receiving_order_shape_is_what_the_mapping_reads() -> None:
    """system-wms creates no WROs (supplier deliveries reach stock through the inventory poll); the documented
    WRO answer still decodes with the stock the history then reports."""
    wro = body("receiving-get.synthetic.response.json")
    assert wro["status"] in ("Awaiting", "Processing", "Completed", "Cancelled", "Incomplete", "Arrived")
    (line,) = wro["inventory_quantities"]
    assert line["received_quantity"] == line["stowed_quantity"] == 24


# --- errors ----------------------------------------------------------------------------------------------------


async def test_refused_token_is_a_502_naming_the_wms(wms: WmsConnector) -> None:
    err = fixture("error-401-unauthorized.synthetic.error.json")
    with aioresponses() as m:
        m.get(url("/location"), status=err["status"], body=b"", headers={"WWW-Authenticate": "Bearer"})
        with pytest.raises(ProblemError) as caught:
            await wms.locations()
    assert caught.value.status == 502 and caught.value.upstream == "wms" and caught.value.in_doubt is False


async def test_missing_order_and_inventory_are_404(wms: WmsConnector) -> None:
    with aioresponses() as m:
        account(m)
        m.get(url("/order"), payload=[])
        with pytest.raises(ProblemError) as caught:
            await wms.fulfilment_order("o-nope")
    assert caught.value.status == 404
    err = fixture("error-404-inventory.synthetic.error.json")
    await wms.inventory_ids.put_many({"1": "OG-GONE"})
    with aioresponses() as m:
        account(m)
        m.get(url("/inventory-level/1/locations"), status=404, payload=err["body"])
        with pytest.raises(ProblemError) as caught:
            await wms.stock_for_sku("OG-GONE")
    assert caught.value.status == 404


async def test_validation_error_is_a_refusal_with_its_fields(wms: WmsConnector) -> None:
    err = fixture("error-400-validation.synthetic.error.json")
    with aioresponses() as m:
        account(m)
        m.post(url("/order"), status=err["status"], payload=err["body"])
        with pytest.raises(ProblemError) as caught:
            await wms.create_fulfilment_order(request())
    problem = caught.value
    assert problem.status == 422 and problem.in_doubt is False
    assert problem.errors and {e["field"] for e in problem.errors} == set(err["body"])


async def test_server_errors_and_rate_limits_are_transient(wms: WmsConnector) -> None:
    with aioresponses() as m:
        m.get(url("/location"), status=503, body=b"")
        with pytest.raises(ProblemError) as caught:
            await wms.locations()
    assert caught.value.status in (502, 503) and caught.value.upstream == "wms"
    with aioresponses() as m:
        m.get(url("/location"), status=429, body=b"", headers={"Retry-After": "7"})
        with pytest.raises(ProblemError) as caught:
            await wms.locations()
    assert caught.value.status == 503 and caught.value.retry_after == 7


async def test_lost_create_answer_is_in_doubt_and_found_by_reference(wms: WmsConnector) -> None:
    """A create whose answer is lost is not a refusal: the next attempt meets ShipBob's duplicate refusal and
    finds the order the first attempt made."""
    with aioresponses() as m:
        account(m)
        m.post(url("/order"), exception=TimeoutError())
        with pytest.raises(ProblemError) as caught:
            await wms.create_fulfilment_order(request())
    assert caught.value.in_doubt
    duplicate = fixture("error-422-duplicate-reference.synthetic.error.json")
    with aioresponses() as m:
        account(m)
        m.post(url("/order"), status=422, payload=duplicate["body"])
        m.get(url("/order"), payload=body("order-by-reference.synthetic.response.json"))
        order = await wms.create_fulfilment_order(request())
    assert order.wms_id == "309589638" and order.created is False


# --- webhooks --------------------------------------------------------------------------------------------------


def signed(raw: bytes, msg_id: str, *, at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    signature = Webhook(signing_secret(secret)).sign(msg_id, stamp, raw.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(stamp.timestamp())), "webhook-signature": signature}


@pytest.mark.parametrize(
    "name",
    [
        "webhook-order-shipped.synthetic.webhook.json",
        "webhook-order-shipment-delivered.synthetic.webhook.json",
        "webhook-order-shipment-exception.synthetic.webhook.json",
        "webhook-return-completed.synthetic.webhook.json",
    ],
)
def test_standard_webhooks_signatures_accept_and_refuse(name: str) -> None:
    f = fixture(name)
    raw = json.dumps(f["body"]).encode()
    headers = signed(raw, f["headers"]["webhook-id"])
    verify_signature(SECRET, raw, headers)  # accepted
    refusals: list[tuple[bytes, dict[str, str], str]] = [
        (raw[:-1] + b" ", headers, SECRET),  # body tampered
        (raw, headers, "another-secret"),  # other secret
        (raw, {**headers, "webhook-id": "msg_other"}, SECRET),  # id not signed
        (raw, signed(raw, f["headers"]["webhook-id"], at=time.time() - 3600), SECRET),  # stale
        (raw, {k: v for k, v in headers.items() if k != "webhook-signature"}, SECRET),  # unsigned
        (raw, headers, ""),  # no secret configured
    ]
    for raw_body, hdrs, secret in refusals:
        with pytest.raises(ProblemError) as caught:
            verify_signature(secret, raw_body, hdrs)
        assert caught.value.status == 401


def test_a_secret_is_passed_in_the_format_shipbob_accepts() -> None:
    """ShipBob takes a subscription's secret only as ``whsec_`` and 32 base64 characters (its create-subscription
    page): one in that format is used as given; any other configured value derives one, the same every time."""
    given = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
    assert signing_secret(given) == given
    derived = signing_secret(SECRET)
    assert re.fullmatch(WHSEC_PATTERN, derived) and derived == signing_secret(SECRET) != signing_secret("other-secret")
    launcher_made = "x7-_Qp" * 8  # secrets.token_urlsafe gives '-' and '_', outside base64's alphabet
    assert re.fullmatch(WHSEC_PATTERN, signing_secret(launcher_made))
    for refused in ("whsec_short", "whsec_" + "A" * 33, "too-short"):
        with pytest.raises(ValueError, match="wms_webhook_secret"):
            from_env(WmsSettings, {"OMNIGATE_WMS_WEBHOOK_SECRET": refused})
    assert from_env(WmsSettings, {"OMNIGATE_WMS_WEBHOOK_SECRET": given}).wms_webhook_secret == given


def _locations() -> mapping.Locations:
    return mapping.Locations.of(msgspec.convert(body("locations.synthetic.response.json"), list[mapping.SbLocation]))


def test_order_shipped_becomes_one_dispatch_per_parcel() -> None:
    f = fixture("webhook-order-shipped.synthetic.webhook.json")
    raw = json.dumps(f["body"]).encode()
    ((domain, event),) = mapping.events_for("order.shipped", "msg_1", raw, _locations(), "req-1")
    assert domain == "fulfilment" and event.type == "shipment.dispatched" and event.id == "wms:msg_1"
    assert event.key == REF and event.occurred_at == datetime(2026, 2, 4, 10, 30, tzinfo=UTC)
    assert event.payload["shipment_ref"] == "202" and event.payload["carrier"] == "PostNL"
    assert event.payload["lines"] == [{"sku": "OG-2000-WHT-L", "qty": 1}] and event.payload["location"] == "dc-tlb"
    # A redelivery (same webhook-id) makes the same event id, which the bus dedupes.
    assert mapping.events_for("order.shipped", "msg_1", raw, _locations())[0][1].id == event.id


def test_delivered_exception_and_return_completed() -> None:
    delivered = json.dumps(body("webhook-order-shipment-delivered.synthetic.webhook.json")).encode()
    ((_, event),) = mapping.events_for("order.shipment.delivered", "msg_2", delivered, _locations())
    assert event.type == "delivery.completed" and event.payload["shipment_ref"] == "201"
    assert event.occurred_at == datetime(2026, 2, 5, 11, 20, tzinfo=UTC)
    exception = json.dumps(body("webhook-order-shipment-exception.synthetic.webhook.json")).encode()
    assert mapping.events_for("order.shipment.exception", "msg_3", exception, _locations()) == []
    returned = json.dumps(body("webhook-return-completed.synthetic.webhook.json")).encode()
    ((_, event),) = mapping.events_for("return.completed", "msg_4", returned, _locations())
    assert event.type == "receipt.received" and event.key == "r-2026-000045"
    assert event.payload["lines"] == [{"sku": "OG-1000-BLK-M", "qty": 1}] and event.payload["location"] == "dc-tlb"
    # A shipped payload without tracking is refused as invalid, not published half-filled.
    untracked = copy.deepcopy(body("webhook-order-shipped.synthetic.webhook.json"))
    untracked["tracking"] = None
    with pytest.raises(msgspec.ValidationError):
        mapping.events_for("order.shipped", "msg_5", json.dumps(untracked).encode(), _locations())


async def test_subscription_is_made_once_with_the_documented_request(wms: WmsConnector) -> None:
    documented = body("webhook-subscription-create.request.json")
    hook, secret = "https://omnigate.example.com/webhooks/wms", signing_secret("contract-webhook-secret")
    with aioresponses() as m:
        m.get(url("/webhook"), payload={"items": [], "next": None, "prev": None})
        m.post(url("/webhook"), payload=body("webhook-subscription-create.response.json"))
        sub_id = await wms.subscribe(hook, secret)
        ((sent_body, _, _),) = sent(m, "POST", "/webhook")
    assert set(sent_body) == set(documented) and sorted(sent_body["topics"]) == sorted(mapping.TOPICS)
    assert re.fullmatch(WHSEC_PATTERN, sent_body["secret"]) and sent_body["url"] == hook
    assert sub_id == "12345"
    # The documented listing, with our subscription in it: nothing is made again.
    listed = copy.deepcopy(body("webhook-subscriptions.response.json"))
    listed["items"][0].update(url=hook, topics=list(mapping.TOPICS))
    listed["next"] = listed["prev"] = None
    with aioresponses() as m:
        m.get(url("/webhook"), payload=listed)
        assert await wms.subscribe(hook, secret) == sub_id
        assert sent(m, "POST", "/webhook") == []
