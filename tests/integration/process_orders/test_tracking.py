"""Shipment tracking on orders (issue 9) against the live estate: the WMS sandbox ships an order (``/_sim/ship``, its
signed ``shipment.dispatched`` webhook through system-wms onto the fulfilment stream) and process-orders keeps the
parcel on the order (carrier, tracking number, tracking URL, when it left, what is in it) and names it on the
``shipped`` timeline entry; the same notification delivered again, or sent again under a new notification id,
keeps one parcel and adds nothing to the timeline; a split order ships as one parcel per part, each with its
own carrier and tracking number, and is ``shipped`` when its last part is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.estate import TestEstate

if TYPE_CHECKING:
    from tests.integration.process_orders.conftest import Orders

pytestmark = pytest.mark.estate

DHL = "https://www.dhl.com/global-en/home/tracking/tracking-parcel.html?submit=1&tracking-id="


def shipments(orders: Orders, order_id: str) -> list[dict[str, Any]]:
    return orders.get(order_id)["shipments"]  # type: ignore[no-any-return]


def test_a_shipped_order_keeps_its_parcel_once_however_often_the_fact_comes(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    placed = orders.place(orders.body(sku, 2))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["shipments"] == []
    shipped = estate.ship(order["id"], carrier="PostNL")
    parcel, (webhook,) = shipped["shipment"], shipped["webhooks"]
    orders.wait_state(order["id"], "shipped")

    (kept,) = shipments(orders, order["id"])
    number = parcel["tracking_number"]
    assert kept == {
        "shipment_ref": parcel["id"],
        "carrier": "PostNL",
        "tracking_number": number,
        # The order's ship-to is 1015 CJ, NL (tests/estate.py's ADDRESS): PostNL's page needs it.
        "tracking_url": f"https://jouw.postnl.nl/track-and-trace/{number}-NL-1015CJ",
        "shipped_at": parcel["dispatched_at"],
        "location": "dc-tlb",
        "lines": [{"sku": sku, "qty": 2}],
    }
    timeline = orders.timeline(order["id"])
    (entry,) = [e for e in timeline if e["state"] == "shipped"]
    assert entry["detail"] == f"shipment.dispatched: PostNL {number}" and entry["document_id"] == parcel["id"]

    # The sandbox sends the notification again byte for byte (the bus publishes it once), and then the same
    # news under a new notification id (a second fact about the same parcel, which process-orders takes).
    wms = estate.url("sandbox-wms")
    redelivered = httpx.post(wms + f"/_webhooks/{webhook}/redeliver", timeout=10)
    assert redelivered.status_code == 200 and redelivered.json()["status"] == 200, redelivered.text
    again = estate.resend_wms_webhook(webhook)
    estate.wait_for(
        lambda: any(e["id"] == f"wms:{again}" for e in estate.events("fulfilment")), what="the resent fact published"
    )
    estate.wait_for(lambda: estate.facts_settled(order["id"]), timeout=10, what="process-orders took the resent fact")
    after = orders.get(order["id"])
    assert after["state"] == "shipped" and after["shipments"] == [kept]
    assert orders.timeline(order["id"]) == timeline


def test_a_split_order_ships_a_parcel_per_part_each_with_its_own_tracking(estate: TestEstate, orders: Orders) -> None:
    a, b = estate.fresh_skus(2)
    orders.set_dc_stock(a, tlb=3, zwl=0)
    orders.set_dc_stock(b, tlb=0, zwl=3)
    body = orders.body(a, 1)
    body["lines"].append({"line_id": "2", "sku": b, "qty": 2})
    body["fulfilment"]["allow_partial"] = True
    placed = orders.place(body)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    first = estate.ship(f"{order_id}-1", carrier="DHL Parcel")["shipment"]
    estate.wait_for(lambda: len(shipments(orders, order_id)) == 1, timeout=10, what="the first parcel on the order")
    assert orders.get(order_id)["state"] == "released"  # one part is still in the warehouse
    # A carrier the table does not know: its parcel is followed by its number alone (no URL).
    second = estate.ship(f"{order_id}-2", carrier="Fietskoerier Utrecht")["shipment"]
    orders.wait_state(order_id, "shipped")

    kept = shipments(orders, order_id)
    assert [(s["shipment_ref"], s["carrier"], s["tracking_number"], s["tracking_url"]) for s in kept] == [
        (first["id"], "DHL Parcel", first["tracking_number"], DHL + first["tracking_number"]),
        (second["id"], "Fietskoerier Utrecht", second["tracking_number"], None),
    ]
    assert [(s["location"], s["lines"]) for s in kept] == [
        ("dc-tlb", [{"sku": a, "qty": 1}]),
        ("dc-zwl", [{"sku": b, "qty": 2}]),
    ]
    details = [e["detail"] for e in orders.timeline(order_id) if (e["detail"] or "").startswith("shipment.")]
    assert details == [
        f"shipment.dispatched: DHL Parcel {first['tracking_number']}",
        f"shipment.dispatched: Fietskoerier Utrecht {second['tracking_number']}",
    ]


def test_an_order_the_warehouse_ships_in_parcels_is_delivered_when_its_last_unit_is(
    estate: TestEstate, orders: Orders
) -> None:
    """The warehouse splits one fulfilment order into parcels (ShipBob's split shipment): the order is shipped when
    the last unit has left and delivered when every parcel has arrived; until then nothing can be returned, so no
    refund or restock is ever for units the customer does not have (a newcomer's report: 1 of 3 units delivered
    made the order ``delivered``, and a return of all 3 was refunded and restocked while 2 were still to ship)."""
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    placed = orders.place(orders.body(sku, 3))
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    wms = estate.url("sandbox-wms")

    def ship(body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(wms + "/_sim/ship", json={"order_reference": order_id, **body}, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["shipment"]  # type: ignore[no-any-return]

    first = ship({"lines": [{"sku": sku, "qty": 1}]})
    estate.wait_for(lambda: len(shipments(orders, order_id)) == 1, timeout=10, what="the first parcel on the order")
    estate.deliver(order_id)  # the first parcel arrives
    estate.wait_for(lambda: estate.facts_settled(order_id), timeout=10, what="the delivery taken")
    assert orders.get(order_id)["state"] == "released"  # two units are still in the warehouse
    early = orders.request_return(order_id, {"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"})
    assert early.status_code == 409, early.text

    second = ship({})
    orders.wait_state(order_id, "shipped")  # the last units have left
    assert [s["shipment_ref"] for s in shipments(orders, order_id)] == [first["id"], second["id"]]
    estate.deliver(order_id)
    orders.wait_state(order_id, "delivered")
    states = [e["state"] for e in orders.timeline(order_id)]
    assert states.count("shipped") == 1 and states.count("delivered") == 1, states
    returned = orders.request_return(order_id, {"lines": [{"line_id": "1", "qty": 3}], "location": "dc-tlb"})
    assert returned.status_code in (201, 202), returned.text
