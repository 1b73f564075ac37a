"""Shipment tracking on orders (issue 9) without Redis or back-ends: the tracking URL of a parcel (the vendor's link
if it is one a customer can follow, else the carrier's public page from process-orders' one carrier table, null
for a carrier it does not know), a parcel kept once on the order however often its fact comes, and order records
and answers stored before shipments were kept decoding as before."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from services.process.orders.carriers import carrier_key, tracking_url
from services.process.orders.intake import received
from services.process.orders.records import OrderRecord
from services.process.orders.saga import read_fact, shipment_of
from shared.models.common import Address
from shared.models.events import Event, ShipmentDispatched, event_payload
from shared.models.fulfilment import FulfilmentLine
from shared.models.orders import Order, OrderRequest, OrderShipment

TO = Address(name="A", line1="Keizersgracht 1", city="Amsterdam", postal_code="1015 cj", country="NL")
AT = datetime(2026, 3, 2, 10, 2, 5, tzinfo=UTC)


def order_record() -> OrderRecord:
    request = msgspec.convert(
        {
            "customer": {"id": "c-1", "name": "Anna"},
            "fulfilment": {"mode": "ship", "ship_to": msgspec.to_builtins(TO)},
            "lines": [{"line_id": "1", "sku": "A-1", "qty": 2}],
            "currency": "EUR",
            "payment_reference": "p",
        },
        OrderRequest,
    )
    return received("web:c-1", request, "o1")


def dispatched(
    carrier: str = "PostNL", number: str = "3SABC123", *, url: str | None = None, ref: str = "shp_1"
) -> Event:
    fact = ShipmentDispatched(
        shipment_ref=ref,
        order_ref="o1",
        location="dc-tlb",
        carrier=carrier,
        tracking_number=number,
        lines=[FulfilmentLine(sku="A-1", qty=2)],
        tracking_url=url,
    )
    return Event(
        id=f"wms:evt_{ref}",
        type="shipment.dispatched",
        occurred_at=AT,
        source="wms",
        key="o1",
        payload=event_payload(fact),
    )


# --- the carrier table ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("carrier", "url"),
    [
        ("PostNL", "https://jouw.postnl.nl/track-and-trace/3SABC123-NL-1015CJ"),
        ("Post NL", "https://jouw.postnl.nl/track-and-trace/3SABC123-NL-1015CJ"),
        (
            "DHL Parcel",
            "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id=3SABC123",
        ),
        ("dhl", "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id=3SABC123"),
        ("UPS", "https://www.ups.com/track?tracknum=3SABC123"),
        ("DPD", "https://tracking.dpd.de/status/en_US/parcel/3SABC123"),
        ("GLS", "https://gls-group.eu/EU/en/parcel-tracking?match=3SABC123"),
        ("Fietskoerier Utrecht", None),
        ("", None),
    ],
)
def test_the_carriers_page_is_the_url_or_none_for_a_carrier_the_table_does_not_know(
    carrier: str, url: str | None
) -> None:
    assert tracking_url(carrier, "3SABC123", TO) == url


def test_carriers_are_matched_by_name_and_first_word_never_by_a_part_of_a_word() -> None:
    assert [carrier_key(c) for c in ("DHL eCommerce", "d.h.l.", "UPS Express", "upsilon", "GLS-NL")] == [
        "dhl",
        "dhl",
        "ups",
        None,
        "gls",
    ]


def test_values_put_into_a_url_are_percent_encoded() -> None:
    assert tracking_url("UPS", "1Z 99&x=y", TO) == "https://www.ups.com/track?tracknum=1Z%2099%26x%3Dy"
    assert tracking_url("UPS", "  ", TO) is None


def test_postnl_needs_the_destination_and_has_no_page_without_it() -> None:
    assert tracking_url("PostNL", "3SABC123", None) is None
    assert tracking_url("DPD", "05212", None) == "https://tracking.dpd.de/status/en_US/parcel/05212"


def test_the_vendors_own_link_wins_when_a_customer_can_follow_it() -> None:
    own = "https://track.example-3pl.com/p/3SABC123"
    assert tracking_url("Fietskoerier", "3SABC123", TO, given=own) == own
    assert tracking_url("PostNL", "3SABC123", TO, given=own) == own
    for bad in ("http://track.example.com/p/1", "javascript:alert(1)", "/p/1", "https:///p/1", "https://a b", ""):
        assert tracking_url("UPS", "1", TO, given=bad) == "https://www.ups.com/track?tracknum=1", bad
    assert (
        tracking_url("UPS", "1", TO, given="https://x.example/" + "a" * 2000) == "https://www.ups.com/track?tracknum=1"
    )


# --- a parcel on the order ------------------------------------------------------------------------------------


def test_a_shipment_fact_becomes_the_orders_parcel_with_its_tracking() -> None:
    record = order_record()
    event = dispatched("DHL Parcel", "JVGL0123")
    fact = read_fact(event)
    assert fact is not None and fact.parcel is not None
    assert (fact.ref, fact.document, fact.detail) == ("o1", "shp_1", "shipment.dispatched: DHL Parcel JVGL0123")
    parcel = shipment_of(record, fact.parcel, event)
    assert parcel == OrderShipment(
        shipment_ref="shp_1",
        carrier="DHL Parcel",
        tracking_number="JVGL0123",
        tracking_url="https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id=JVGL0123",
        shipped_at=AT,
        location="dc-tlb",
        lines=[FulfilmentLine(sku="A-1", qty=2)],
    )
    own = dispatched(url="https://track.example-3pl.com/p/1")
    own_fact = read_fact(own)
    assert own_fact is not None and own_fact.parcel is not None
    assert shipment_of(record, own_fact.parcel, own).tracking_url == "https://track.example-3pl.com/p/1"


def test_a_parcel_is_kept_once_by_its_shipment_or_its_carriers_tracking_number() -> None:
    record = order_record()
    first = OrderShipment(
        shipment_ref="shp_1", carrier="PostNL", tracking_number="3S1", shipped_at=AT, location="dc-tlb"
    )
    assert record.add_shipment(first)
    assert not record.add_shipment(msgspec.structs.replace(first, tracking_number="3S-other"))  # same shipment
    assert not record.add_shipment(
        msgspec.structs.replace(first, shipment_ref="shp_9", carrier="postnl")
    )  # same parcel
    assert record.add_shipment(msgspec.structs.replace(first, shipment_ref="shp_2", tracking_number="3S2"))
    assert record.add_shipment(msgspec.structs.replace(first, shipment_ref="shp_3", carrier="DHL"))  # DHL's 3S1
    assert [s.shipment_ref for s in record.shipments] == ["shp_1", "shp_2", "shp_3"]
    assert [s.shipment_ref for s in record.view().shipments] == ["shp_1", "shp_2", "shp_3"]


def test_records_and_answers_stored_before_shipments_were_kept_decode_with_none() -> None:
    record = order_record()
    raw = msgspec.json.decode(msgspec.json.encode(record))
    del raw["shipments"]
    old = msgspec.json.decode(msgspec.json.encode(raw), type=OrderRecord)
    assert old.shipments == [] and old == record
    answer = msgspec.json.decode(msgspec.json.encode(record.view()))
    del answer["shipments"]
    assert msgspec.json.decode(msgspec.json.encode(answer), type=Order).shipments == []
    # And a record with parcels reads back as it was written.
    record.add_shipment(
        OrderShipment(shipment_ref="shp_1", carrier="UPS", tracking_number="1Z", shipped_at=AT, location="dc-tlb")
    )
    assert msgspec.json.decode(msgspec.json.encode(record), type=OrderRecord) == record


def test_a_fact_from_before_tracking_urls_decodes_without_one() -> None:
    payload = dict(dispatched().payload)
    del payload["tracking_url"]
    fact = msgspec.convert(payload, ShipmentDispatched)
    assert fact.tracking_url is None and fact.tracking_number == "3SABC123"
