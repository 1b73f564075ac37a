"""Orders and returns stay true when outcomes are unknown, requests repeat and facts arrive early (issue 6).

Each test is one reported input of a *kind* of failure (DESIGN §4, "Unknown outcomes" and "Facts win over
expectations"), run against the live estate; documents are counted in the sandboxes' own SQLite files.
"""

from __future__ import annotations

import base64
import json
import time
import unicodedata
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.process.orders.settings import OrdersSettings
from tests.estate import TestEstate, assert_problem

if TYPE_CHECKING:
    from tests.integration.process_orders.conftest import Orders

pytestmark = pytest.mark.estate


def slow_past_timeout_ms(estate: TestEstate) -> int:
    """The reported latency: twice the hop timeout plus a second (the back-end commits after we gave up)."""
    return int((2 * estate.settings.http_timeout_s + 1) * 1000)


def pos_orders(estate: TestEstate, ref: str) -> list[dict[str, Any]]:
    rows = estate.sql("sandbox-pos", "SELECT body FROM orders WHERE reference_id = ? ORDER BY created_at", (ref,))
    return [json.loads(r[0]) for r in rows]


# --- 1. a back-end call that timed out has an unknown outcome -------------------------------------------------


def test_a_slow_erp_sales_order_create_makes_one_sales_order(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    estate.fault("sandbox-erp", route="/json/2/sale.order/create", latency_ms=slow_past_timeout_ms(estate))
    response = orders.place(orders.body(sku))
    assert response.status_code in (201, 202), response.text
    order_id = response.json()["id"]
    estate.wait_for(
        lambda: estate.order_record(order_id)["state"] == "released",
        timeout=40,
        interval=0.3,
        what="the order released once the ERP's slow create is known",
    )
    time.sleep(slow_past_timeout_ms(estate) / 1000)  # any create still under way commits by now
    assert orders.erp_orders([order_id]) == {order_id: 1}
    assert orders.erp_states([order_id]) == {order_id: "sale"}


def test_a_slow_credit_memo_create_makes_one_credit_memo(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    order = orders.place(orders.body(sku, 1)).json()
    orders.deliver(order["id"])
    estate.fault("sandbox-erp", route="/json/2/account.move/create", latency_ms=slow_past_timeout_ms(estate))
    response = orders.request_return(order["id"], {"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"})
    assert response.status_code in (201, 202), response.text
    ret = response.json()
    httpx.post(estate.url("sandbox-wms") + "/_sim/receive", json={"reference": ret["id"]}).raise_for_status()
    estate.wait_for(
        lambda: orders.get_return(ret["id"])["state"] == "refunded",
        timeout=40,
        interval=0.3,
        what="the return refunded once the ERP's slow create is known",
    )
    time.sleep(slow_past_timeout_ms(estate) / 1000)  # any create still under way commits by now
    assert [state for state, _ in orders.credit_memos(ret["id"])] == ["posted"]


def test_a_cancel_after_a_slow_wms_create_leaves_no_live_fulfilment_order(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=4)
    estate.fault(
        "sandbox-wms",
        route="/2026-01/order",
        method="POST",
        exact=True,
        latency_ms=slow_past_timeout_ms(estate),
    )
    response = orders.place(orders.body(sku, 2))
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    assert orders.cancel(order_id).status_code in (200, 202)
    estate.wait_for(
        lambda: estate.order_record(order_id)["state"] == "cancelled",
        timeout=30,
        interval=0.3,
        what="the order cancelled",
    )
    # The WMS committed the create after our hop gave up: the compensation must cancel it too.
    time.sleep(slow_past_timeout_ms(estate) / 1000)
    estate.wait_for(
        lambda: orders.wms_status(order_id) in (None, "cancelled"),
        timeout=30,
        interval=0.3,
        what="no live fulfilment order behind the cancelled order",
    )
    assert orders.wms_status(order_id) == "cancelled"
    assert orders.atp(sku)["dc-tlb"] == 4


def test_a_cancel_after_a_slow_pos_pickup_create_cancels_the_pickup(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    store = orders.stocked_store(sku, 1)
    estate.fault("sandbox-pos", route="/v2/orders", method="POST", exact=True, latency_ms=slow_past_timeout_ms(estate))
    response = orders.place(orders.body(sku, 1, mode="pickup", store=store))
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    assert orders.cancel(order_id).status_code in (200, 202)
    estate.wait_for(
        lambda: estate.order_record(order_id)["state"] == "cancelled",
        timeout=30,
        interval=0.3,
        what="the order cancelled",
    )
    time.sleep(slow_past_timeout_ms(estate) / 1000)
    estate.wait_for(
        lambda: len(pos_orders(estate, order_id)) == 1,
        timeout=30,
        interval=0.3,
        what="the POS order the slow create made",
    )
    states = [f["state"] for f in pos_orders(estate, order_id)[0]["fulfillments"]]
    estate.wait_for(
        lambda: [f["state"] for f in pos_orders(estate, order_id)[0]["fulfillments"]] == ["CANCELED"],
        timeout=30,
        interval=0.3,
        what=f"the pickup's fulfilment CANCELED (is {states})",
    )


# --- 2. a repeated request never acts twice, nor re-places an existing order --------------------------------


def test_a_key_replayed_after_a_crash_answers_the_order_it_started(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    count = 6
    orders.set_dc_stock(sku, tlb=count)  # exactly what the orders take: a re-placed order finds no stock
    started: dict[str, tuple[str, str]] = {}
    ids, thread = orders.pause_at(
        sku,
        sandbox="sandbox-wms",
        route="/2026-01/order",
        step="release",
        count=count,
        started=started,
    )
    estate.restart("process-orders", kill=True)
    thread.join(30)
    estate.clear_faults()
    estate.wait_for(
        lambda: all(estate.order_record(i)["state"] == "released" for i in ids),
        timeout=30,
        interval=0.2,
        what="every order released after the restart",
    )
    time.sleep(
        float(estate.settings_of(OrdersSettings).orders_inflight_s) + 0.5
    )  # the dead first attempts' in-flight leases lapse
    for order_id in ids:
        owner, key = started[order_id]
        replay = orders.place(orders.body(sku), owner=owner, key=key)
        assert replay.status_code == 201, replay.text
        assert replay.json()["id"] == order_id and replay.json()["state"] == "released"
        assert estate.order_record(order_id)["state"] == "released"
    assert orders.erp_orders(ids) == {i: 1 for i in ids}
    assert orders.wms_orders(ids) == {i: 1 for i in ids}


def test_the_same_return_sent_twice_is_one_return(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    order = orders.place(orders.body(sku, 2)).json()
    orders.deliver(order["id"])
    stores = [loc for loc in orders.atp(sku) if loc.startswith("store-")]
    body = {"lines": [{"line_id": "1", "qty": 1}], "location": stores[0]}
    key = uuid.uuid4().hex
    first = orders.request_return(order["id"], body, key=key)
    second = orders.request_return(order["id"], body, key=key)
    assert first.status_code == 201, first.text
    assert (second.status_code, second.content) == (first.status_code, first.content)
    memos = estate.sql("sandbox-erp", "SELECT count(*) FROM account_move WHERE invoice_origin = ?", (order["id"],))
    assert memos == [(1,)], f"one credit memo for the order's one return, not {memos}"
    assert len(estate.order_record(order["id"])["returns"]) == 1


def test_idempotency_keys_are_structured_field_strings(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    url = estate.url("process-orders") + "/orders"
    key = uuid.uuid4().hex
    quoted = httpx.post(
        url, json=orders.body(sku), headers={**estate.identity("web:c-1"), "Idempotency-Key": f'"{key}"'}, timeout=30
    )
    bare = httpx.post(
        url, json=orders.body(sku), headers={**estate.identity("web:c-1"), "Idempotency-Key": key}, timeout=30
    )
    assert quoted.status_code == 201, quoted.text
    assert (bare.status_code, bare.content) == (201, quoted.content), '"k" and k name the same key'
    # (a number such as "1" is a bare key, as shared.idempotency.KEY_PATTERN documents)
    for bad in ('"a", "b"', "?1", ":aGVsbG8=:", '"unterminated', ""):
        assert_problem(
            httpx.post(url, json=orders.body(sku), headers={**estate.identity("web:c-1"), "Idempotency-Key": bad}), 400
        )
    two_lines = httpx.Headers(
        [*estate.identity("web:c-1").items(), ("Idempotency-Key", '"a1"'), ("Idempotency-Key", '"a2"')]
    )
    assert_problem(httpx.post(url, json=orders.body(sku), headers=two_lines), 400)


def test_the_fingerprint_is_the_request_not_its_bytes(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    url = estate.url("process-orders") + "/orders"
    key = uuid.uuid4().hex
    body = orders.body(sku)
    body["customer"]["name"] = unicodedata.normalize("NFC", "José Núñez")
    first = httpx.post(
        url,
        content=json.dumps(body).encode(),
        headers={**estate.identity("web:c-1"), "Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert first.status_code == 201, first.text
    same = dict(reversed(list(body.items())))  # other key order
    same["customer"] = {"name": unicodedata.normalize("NFD", "José Núñez"), "id": "c-1"}
    same["fulfilment"] = {**body["fulfilment"], "allow_partial": False}  # a default, spelled out
    again = httpx.post(
        url,
        content=json.dumps(same, indent=2).encode(),
        headers={**estate.identity("web:c-1"), "Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert (again.status_code, again.content) == (201, first.content)


# --- 3. facts and events have their own identity and may arrive early ---------------------------------------


def test_entering_pending_backend_twice_is_two_events(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    estate.fault("sandbox-erp", outage=True)
    response = orders.place(orders.body(sku))
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    estate.fault("sandbox-wms", route="/2026-01/order", method="POST", exact=True, outage=True)
    assert httpx.delete(estate.url("sandbox-erp") + "/_faults").status_code == 204
    estate.wait_for(
        lambda: [e["state"] for e in orders.timeline(order_id)].count("pending_backend") >= 2,
        timeout=40,
        interval=0.3,
        what="pending_backend entered a second time (WMS down)",
    )
    estate.clear_faults()
    orders.wait_state(order_id, "released", timeout=40)

    def pending_events() -> list[str]:
        return [
            e["id"] for e in estate.events("orders") if e["key"] == order_id and e["type"] == "order.pending_backend"
        ]

    estate.wait_for(
        lambda: len(pending_events()) >= 2,
        timeout=10,
        interval=0.2,
        what=f"two order.pending_backend events on the stream (have {pending_events()})",
    )
    assert len(set(pending_events())) == 2


def test_a_shipment_that_arrives_before_the_release_is_recorded_still_ships_the_order(
    estate: TestEstate, orders: Orders
) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    # The WMS takes the order, but every answer to the create is lost for a while: the order waits in
    # pending_backend while the warehouse ships and delivers it.
    estate.fault(
        "sandbox-wms",
        route="/2026-01/order",
        method="POST",
        exact=True,
        when="after",
        error_rate=1.0,
    )
    response = orders.place(orders.body(sku, 1))
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    estate.wait_for(lambda: orders.wms_status(order_id) == "received", timeout=15, what="the WMS holds the order")
    deliver_sims = estate.url("sandbox-wms")
    assert httpx.post(deliver_sims + "/_sim/ship", json={"order_reference": order_id}).status_code == 200
    assert httpx.post(deliver_sims + "/_sim/deliver", json={"order_reference": order_id}).status_code == 200
    # Longer than five redeliveries of a stream message would take (claim idle x 5, plus their backoff).
    time.sleep(estate.settings_of(OrdersSettings).orders_claim_idle_s * 5 + 3)
    assert estate.order_record(order_id)["state"] == "pending_backend"
    estate.clear_faults()
    orders.wait_state(order_id, "delivered", timeout=40)
    dead = [d for d in estate.dead_letters() if order_id in d["data"]]
    assert dead == []
    assert orders.wms_orders([order_id]) == {order_id: 1}


# --- 4. money follows observed facts -----------------------------------------------------------------------------


def test_a_partial_receipt_refunds_what_arrived(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    order = orders.place(orders.body(sku, 2)).json()
    unit = order["lines"][0]["unit_price"]
    orders.deliver(order["id"])
    response = orders.request_return(order["id"], {"lines": [{"line_id": "1", "qty": 2}], "location": "dc-tlb"})
    assert response.status_code == 201, response.text
    ret = response.json()["id"]
    received = httpx.post(
        estate.url("sandbox-wms") + "/_sim/receive", json={"reference": ret, "lines": [{"sku": sku, "qty": 1}]}
    )
    assert received.status_code == 200, received.text
    estate.wait_for(lambda: len(orders.credit_memos(ret)) == 1, timeout=20, what="a credit memo")
    time.sleep(1)
    assert orders.credit_memos(ret) == [("posted", unit / 100)], "refund what was received, at the line's price"
    assert orders.get_return(ret)["state"] == "partially_received"
    assert orders.get_return(ret)["received"] == {sku: 1}
    # The other unit never comes: the return closes short after the configured time, and says so.
    estate.wait_for(
        lambda: orders.get_return(ret)["state"] == "closed", timeout=30, interval=0.5, what="the partial return closed"
    )
    closing = [e for e in orders.timeline(order["id"]) if e["state"] == "closed"]
    assert len(closing) == 1 and "1 of 2" in closing[0]["detail"]
    assert len(orders.credit_memos(ret)) == 1


def test_a_receipt_of_more_than_was_returned_refunds_no_more_and_is_reported(
    estate: TestEstate, orders: Orders
) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=5)
    order = orders.place(orders.body(sku, 2)).json()
    unit = order["lines"][0]["unit_price"]
    orders.deliver(order["id"])
    before = orders.atp(sku)["dc-tlb"]
    response = orders.request_return(order["id"], {"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"})
    assert response.status_code == 201, response.text
    ret = response.json()["id"]
    received = httpx.post(
        estate.url("sandbox-wms") + "/_sim/receive", json={"reference": ret, "lines": [{"sku": sku, "qty": 3}]}
    )
    assert received.status_code == 200, received.text
    estate.wait_for(lambda: orders.get_return(ret)["state"] == "refunded", timeout=20, what="refunded")
    assert orders.credit_memos(ret) == [("posted", unit / 100)], "no more than the one unit returned"
    assert any("more than requested" in (e["detail"] or "") for e in orders.timeline(order["id"]))
    # The restock is what the DC counted on its shelf: all three.
    estate.wait_for(lambda: orders.atp(sku)["dc-tlb"] == before + 3, timeout=10, what="three units back on hand")


# --- 5. customers are who their id says ------------------------------------------------------------------------


def partners(estate: TestEstate, ref: str) -> list[str]:
    return [r[0] for r in estate.sql("sandbox-erp", "SELECT name FROM res_partner WHERE ref = ?", (ref,))]


def test_customers_are_keyed_by_id_never_by_name(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=10)
    run = uuid.uuid4().hex[:8]
    a, b, c = f"c-jj-{run}-a", f"c-jj-{run}-b", f"c-jose-{run}"
    for customer, name in (
        (a, "Jan Jansen"),
        (b, "Jan Jansen"),
        (c, unicodedata.normalize("NFC", "José")),
        (c, unicodedata.normalize("NFD", "José")),
    ):
        body = orders.body(sku)
        body["customer"] = {"id": customer, "name": name}
        assert orders.place(body, owner=f"web:{customer}").status_code == 201
    assert partners(estate, a) == ["Jan Jansen"] and partners(estate, b) == ["Jan Jansen"]
    assert partners(estate, c) == [unicodedata.normalize("NFC", "José")]


# --- 6. store stock promised to a pickup cannot be sold at the till ----------------------------------------------


def pos_in_stock(estate: TestEstate, sku: str, store: str) -> int:
    rows = estate.sql(
        "sandbox-pos",
        "SELECT c.quantity FROM counts c JOIN variations v ON v.id = c.catalog_object_id "
        "WHERE v.sku = ? AND c.location_id = ?",
        (sku, store[len("store-") :].upper()),
    )
    return int(rows[0][0]) if rows else 0


def set_store_stock(estate: TestEstate, orders: Orders, sku: str, store: str, qty: int) -> None:
    estate.count_at_till(sku, store, qty)
    estate.wait_for(lambda: orders.atp(sku).get(store) == qty, timeout=10, what=f"ATP {qty} at {store}")


def test_pickups_take_their_units_off_the_till(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    store = orders.stocked_store(sku, 0)
    set_store_stock(estate, orders, sku, store, 12)
    ids = []
    for n in range(9):
        response = orders.place(orders.body(sku, 1, mode="pickup", store=store), owner=f"web:pick-{n}")
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    estate.wait_for(
        lambda: pos_in_stock(estate, sku, store) == 3,
        timeout=10,
        what=f"the POS sells only 3 at the till (IN_STOCK is {pos_in_stock(estate, sku, store)})",
    )
    estate.wait_for(lambda: orders.atp(sku)[store] == 3, timeout=10, what="store ATP counts the 9 once")
    sales = [
        httpx.post(estate.url("sandbox-pos") + "/_sim/sale", json={"store": store, "sku": sku, "qty": 1})
        for _ in range(12)
    ]
    assert [s.status_code for s in sales] == [200] * 3 + [409] * 9
    response = orders.cancel(ids[0], owner="web:pick-0")
    assert response.status_code in (200, 202), response.text
    estate.wait_for(lambda: pos_in_stock(estate, sku, store) == 1, timeout=15, what="a cancel gives its unit back")
    estate.wait_for(lambda: orders.atp(sku)[store] == 1, timeout=10, what="store ATP after the cancel")


# --- 7. a dependency that is down is a 503, and bad input is a 4xx ----------------------------------------------


def test_special_floats_in_a_cursor_are_refused(estate: TestEstate) -> None:
    url = estate.url("process-orders") + "/orders"
    for value in ("nan", "inf", "-inf", "1e999"):
        cursor = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
        assert_problem(httpx.get(url, params={"cursor": cursor}, headers=estate.identity("web:c-1"), timeout=10), 400)


def test_get_order_still_answers(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=2)
    order = orders.place(orders.body(sku)).json()
    assert orders.get(order["id"])["state"] == "released"
