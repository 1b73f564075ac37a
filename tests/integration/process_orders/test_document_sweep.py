"""The document sweep finds what the back-ends hold behind our orders that they should not, repairs it and
reports it (DESIGN §4, "Unknown outcomes"): on demand over HTTP and through ``omnigate reconcile documents``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.sandbox.erp.settings import SandboxErpSettings
from services.sandbox.wms.seed import CHANNEL_ID
from services.sandbox.wms.settings import SandboxWmsSettings
from tests.estate import TestEstate, assert_problem

if TYPE_CHECKING:
    from tests.integration.process_orders.conftest import Orders

pytestmark = pytest.mark.estate

OPS = "ops:test"  # an operator (channel ops, scope ops:*)


def sweep(estate: TestEstate, order_ids: list[str]) -> dict[str, Any]:
    url = estate.url("process-orders") + "/reconciliations/documents"
    started = httpx.post(url, json={"order_ids": order_ids}, headers=estate.identity(OPS), timeout=10)
    assert started.status_code == 202, started.text
    report: dict[str, Any] = started.json()
    deadline = time.monotonic() + 30
    while report["state"] == "running":
        assert time.monotonic() < deadline, "the sweep did not finish"
        time.sleep(0.2)
        report = httpx.get(f"{url}/{report['id']}", headers=estate.identity(OPS), timeout=10).json()
    assert report["state"] == "done", report
    return report


def odoo(estate: TestEstate, model: str, method: str, body: dict[str, Any]) -> Any:
    answer = httpx.post(
        estate.url("sandbox-erp") + f"/json/2/{model}/{method}",
        json=body,
        timeout=10,
        headers={"Authorization": f"bearer {estate.settings_of(SandboxErpSettings).erp_api_key}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def extra_sales_order(estate: TestEstate, ref: str) -> int:
    """A sales order for our ref that no one asked for: what a lost create that committed late leaves."""
    partner = odoo(estate, "res.partner", "search", {"domain": [], "limit": 1})[0]
    product = odoo(estate, "product.product", "search", {"domain": [], "limit": 1})[0]
    (order_id,) = odoo(
        estate,
        "sale.order",
        "create",
        {
            "vals_list": [
                {
                    "client_order_ref": ref,
                    "partner_id": partner,
                    "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 1}]],
                }
            ]
        },
    )
    return int(order_id)


def test_the_sweep_repairs_an_orphan_behind_a_cancelled_order_and_reports_it(
    estate: TestEstate, orders: Orders
) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=4)
    estate.fault("sandbox-wms", route="/2026-01/order", method="POST", exact=True, outage=True)
    response = orders.place(orders.body(sku))
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    assert orders.cancel(order_id).status_code in (200, 202)
    estate.clear_faults()
    estate.wait_for(
        lambda: estate.order_record(order_id)["state"] == "cancelled",
        timeout=30,
        interval=0.3,
        what="the order cancelled",
    )
    assert orders.wms_status(order_id) is None
    # Behind the cancelled order, documents appear that a lost create committed after the compensation.
    warehouse_order = httpx.post(
        estate.url("sandbox-wms") + "/2026-01/order",
        timeout=10,
        json={
            "reference_id": order_id,
            "shipping_method": "Standard",
            "type": "DTC",
            "products": [{"reference_id": sku, "quantity": 1}],
            "recipient": {"name": "A", "address": {"address1": "B", "city": "C", "zip_code": "1", "country": "NL"}},
        },
        headers={
            "Authorization": f"Bearer {estate.settings_of(SandboxWmsSettings).wms_access_token}",
            "shipbob_channel_id": str(CHANNEL_ID),
        },
    )
    assert warehouse_order.status_code == 201, warehouse_order.text
    extra_sales_order(estate, order_id)
    report = sweep(estate, [order_id])
    found = {(m["system"], m["kind"]): m for m in report["mismatches"]}
    assert set(found) == {("wms", "orphan"), ("erp", "orphan")}, report
    assert all(m["repaired"] and m["order_id"] == order_id for m in found.values())
    assert report["orders_checked"] == 1 and report["repaired"] == 2
    assert orders.wms_status(order_id) == "cancelled"
    assert set(orders.erp_states([order_id]).values()) == {"cancel"}
    # Repaired means repaired: a second sweep finds nothing.
    assert sweep(estate, [order_id])["mismatches"] == []


def test_the_sweep_cancels_a_duplicate_sales_order_and_keeps_the_confirmed_one(
    estate: TestEstate, orders: Orders
) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=4)
    order_id = orders.place(orders.body(sku)).json()["id"]
    assert estate.order_record(order_id)["state"] == "released"
    extra_sales_order(estate, order_id)
    report = sweep(estate, [order_id])
    assert [(m["system"], m["kind"], m["repaired"]) for m in report["mismatches"]] == [("erp", "duplicate", True)]
    states = estate.sql(
        "sandbox-erp", "SELECT state FROM sale_order WHERE client_order_ref = ? ORDER BY id", (order_id,)
    )
    assert states == [("sale",), ("cancel",)]


def test_omnigate_reconcile_documents_runs_a_sweep_and_reports(estate: TestEstate, orders: Orders) -> None:
    (sku,) = estate.fresh_skus()
    orders.set_dc_stock(sku, tlb=4)
    order_id = orders.place(orders.body(sku)).json()["id"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "estate.cli",
            "reconcile",
            "documents",
            "--url",
            estate.url("process-orders"),
            "--order",
            order_id,
            "--operator",
            "test",
        ],
        env={**os.environ, "REDIS_URL": estate.settings.redis_url, "OMNIGATE_KEY_PREFIX": estate.prefix},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["state"] == "done" and report["orders_checked"] == 1 and report["mismatches"] == []


def test_a_replayed_key_answers_the_sweep_it_started(estate: TestEstate) -> None:
    url = estate.url("process-orders") + "/reconciliations/documents"
    headers = {**estate.identity(OPS), "Idempotency-Key": '"sweep-' + uuid.uuid4().hex + '"'}
    first = httpx.post(url, json={"order_ids": ["o-none"]}, headers=headers, timeout=10)
    again = httpx.post(url, json={"order_ids": ["o-none"]}, headers=headers, timeout=10)
    assert first.status_code == 202 and (again.status_code, again.content) == (202, first.content)
    assert first.headers["location"] == f"/reconciliations/documents/{first.json()['id']}"


def test_reconciliations_are_for_operators(estate: TestEstate) -> None:
    url = estate.url("process-orders") + "/reconciliations/documents"
    assert_problem(httpx.post(url, json={}, headers=estate.identity("web:c-1")), 403, "forbidden")
    assert_problem(httpx.get(url + "/nope", headers=estate.identity(OPS)), 404)
    assert_problem(httpx.post(url, json={"days": 0}, headers=estate.identity(OPS)), 400)
    assert_problem(httpx.post(url, json={"order_ids": ["bad id!"]}, headers=estate.identity(OPS)), 400)
