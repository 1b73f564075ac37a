"""Every document we create at a back-end, times every unclear outcome of its create: exactly one document.

The sandbox commits the create, then loses its answer (``/_faults`` with ``"when": "after"``): past the hop
timeout, cut off mid-body, or replaced by a 500 (DESIGN §4, "Unknown outcomes"). The order or return still ends
where it should, and the back-end's own database holds one document for our reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.estate import TestEstate
from tests.integration.process_orders.test_order_truths import (
    credit_memos,
    deliver,
    fault,
    get_return,
    request_return,
    stocked_store,
)
from tests.integration.process_orders.test_process_orders import (
    clear_faults,
    order_body,
    place,
    record,
    set_dc_stock,
    skus,
    sql,
)

pytestmark = pytest.mark.estate

OUTCOMES = {
    "timeout": lambda estate: {"latency_ms": int((estate.settings.http_timeout_s + 1) * 1000)},
    "reset": lambda estate: {"reset": True},
    "5xx": lambda estate: {"error_rate": 1.0},
}


@pytest.fixture(autouse=True)
def _faults_cleared(estate: TestEstate) -> Any:
    yield
    clear_faults(estate)


def lose_answers(estate: TestEstate, sandbox: str, route: str, outcome: str) -> None:
    """The create commits, then its answer is lost, for every attempt the hop makes of it."""
    fault(
        estate,
        sandbox,
        route=route,
        method="POST",
        exact=True,
        when="after",
        times=estate.settings.retry_attempts,
        **OUTCOMES[outcome](estate),
    )


def released(estate: TestEstate, response: httpx.Response) -> str:
    assert response.status_code in (201, 202), response.text
    order_id: str = response.json()["id"]
    estate.wait_for(
        lambda: record(estate, order_id)["state"] == "released",
        timeout=40,
        interval=0.3,
        what=f"order {order_id} released",
    )
    return order_id


def refunded(estate: TestEstate, response: httpx.Response) -> str:
    assert response.status_code in (201, 202), response.text
    return_id: str = response.json()["id"]
    estate.wait_for(
        lambda: get_return(estate, return_id)["state"] == "refunded",
        timeout=40,
        interval=0.3,
        what=f"return {return_id} refunded",
    )
    return return_id


def count(estate: TestEstate, sandbox: str, query: str, *args: Any) -> int:
    return int(sql(estate, sandbox, query, args)[0][0])


def erp_sales_order(estate: TestEstate, outcome: str) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=3)
    lose_answers(estate, "sandbox-erp", "/json/2/sale.order/create", outcome)
    order_id = released(estate, place(estate, order_body(sku)))
    assert sql(estate, "sandbox-erp", "SELECT state FROM sale_order WHERE client_order_ref = ?", (order_id,)) == [
        ("sale",)
    ]


def erp_partner(estate: TestEstate, outcome: str) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=3)
    customer = f"c-new-{uuid.uuid4().hex[:10]}"
    body = order_body(sku)
    body["customer"] = {"id": customer, "name": "Nieuwe Klant"}
    lose_answers(estate, "sandbox-erp", "/json/2/res.partner/create", outcome)
    released(estate, place(estate, body, owner=f"web:{customer}"))
    assert count(estate, "sandbox-erp", "SELECT count(*) FROM res_partner WHERE ref = ?", customer) == 1


def delivered_order(estate: TestEstate, qty: int = 1) -> dict[str, Any]:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=3)
    order: dict[str, Any] = place(estate, order_body(sku, qty)).json()
    deliver(estate, order["id"])
    return order


def erp_credit_memo(estate: TestEstate, outcome: str) -> None:
    order = delivered_order(estate)
    store = stocked_store(estate, order["lines"][0]["sku"], 0)
    lose_answers(estate, "sandbox-erp", "/json/2/account.move/create", outcome)
    return_id = refunded(
        estate, request_return(estate, order["id"], {"lines": [{"line_id": "1", "qty": 1}], "location": store})
    )
    assert [state for state, _ in credit_memos(estate, return_id)] == ["posted"]


def wms_fulfilment_order(estate: TestEstate, outcome: str) -> None:
    (sku,) = skus(estate)
    set_dc_stock(estate, sku, tlb=3)
    lose_answers(estate, "sandbox-wms", "/api/v1/fulfillment-orders", outcome)
    order_id = released(estate, place(estate, order_body(sku)))
    assert sql(
        estate, "sandbox-wms", "SELECT status FROM fulfillment_orders WHERE order_reference = ?", (order_id,)
    ) == [("received",)]


def wms_receipt(estate: TestEstate, outcome: str) -> None:
    order = delivered_order(estate)
    lose_answers(estate, "sandbox-wms", "/api/v1/receipts", outcome)
    response = request_return(estate, order["id"], {"lines": [{"line_id": "1", "qty": 1}], "location": "dc-tlb"})
    assert response.status_code in (201, 202), response.text
    return_id = response.json()["id"]
    estate.wait_for(
        lambda: count(estate, "sandbox-wms", "SELECT count(*) FROM receipts WHERE reference = ?", return_id) == 1,
        timeout=30,
        what="the receipt at the WMS",
    )
    clear_faults(estate)
    estate.wait_for(
        lambda: (
            httpx.post(estate.url("sandbox-wms") + "/_sim/receive", json={"reference": return_id}).status_code == 200
        ),
        timeout=30,
        interval=0.3,
        what="the receipt received",
    )
    refunded(estate, response)
    assert count(estate, "sandbox-wms", "SELECT count(*) FROM receipts WHERE reference = ?", return_id) == 1


def pos_pickup(estate: TestEstate, outcome: str) -> None:
    (sku,) = skus(estate)
    store = stocked_store(estate, sku, 1)
    lose_answers(estate, "sandbox-pos", "/v2/orders", outcome)
    order_id = released(estate, place(estate, order_body(sku, 1, mode="pickup", store=store)))
    assert count(estate, "sandbox-pos", "SELECT count(*) FROM orders WHERE reference_id = ?", order_id) == 1


def pos_return(estate: TestEstate, outcome: str) -> None:
    order = delivered_order(estate)
    store = stocked_store(estate, order["lines"][0]["sku"], 0)
    lose_answers(estate, "sandbox-pos", "/v2/orders", outcome)
    return_id = refunded(
        estate, request_return(estate, order["id"], {"lines": [{"line_id": "1", "qty": 1}], "location": store})
    )
    assert count(estate, "sandbox-pos", "SELECT count(*) FROM orders WHERE reference_id = ?", return_id) == 1
    restocks = sql(
        estate,
        "sandbox-pos",
        "SELECT quantity FROM changes WHERE reference_id = ? AND to_state = 'IN_STOCK'",
        (return_id,),
    )
    assert restocks == [(1,)], "the unit went back on the shelf once"


KINDS: dict[str, Callable[[TestEstate, str], None]] = {
    "erp-sales-order": erp_sales_order,
    "erp-credit-memo": erp_credit_memo,
    "erp-partner": erp_partner,
    "wms-fulfilment-order": wms_fulfilment_order,
    "wms-receipt": wms_receipt,
    "pos-pickup": pos_pickup,
    "pos-return": pos_return,
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_one_document_whatever_happened_to_the_answer(estate: TestEstate, kind: str, outcome: str) -> None:
    KINDS[kind](estate, outcome)
