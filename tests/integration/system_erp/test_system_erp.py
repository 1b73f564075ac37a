"""system-erp against the running estate: real sandbox-erp (Odoo JSON-2 subset), real Redis, real processes.

Covers the canonical reads, idempotent sales orders and credit memos (counted in the sandbox's own SQLite file,
since Odoo enforces no uniqueness on ``client_order_ref``), the bad-input matrix, and the breaker Done-means:
an ERP outage answers 503 naming ``erp`` at once, an open breaker answers without reaching the ERP, and the
breaker closes again after ``breaker_reset_s``.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from services.sandbox.common.catalogue import Catalogue
from tests.estate import assert_problem

pytestmark = pytest.mark.estate

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", autouse=True)
def erp_reachable(estate: Any, catalogue: Catalogue) -> None:
    """Readiness ignores the ERP by design, and system-erp's start-up map fill may have met a sandbox that was
    not listening yet (opening the breaker): wait until a read gets through before testing."""
    with httpx.Client(base_url=estate.url("system-erp"), timeout=15) as client:
        wait_until_erp_answers(estate, client, catalogue.products[0].sku)


problem = assert_problem


def count(estate: Any, sql: str, *params: Any) -> int:
    conn = sqlite3.connect(f"file:{estate.db_path('sandbox-erp')}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def ref(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def order_body(catalogue: Catalogue, order_ref: str, **changes: Any) -> dict[str, Any]:
    product = catalogue.products[3]
    body: dict[str, Any] = {
        "ref": order_ref,
        "customer_id": "cust-it-1",
        "customer_name": "Integration Test",
        "currency": "EUR",
        "lines": [{"sku": product.sku, "qty": 2, "unit_price": product.price_cents}],
    }
    body.update(changes)
    return body


def hits(sandbox: httpx.Client) -> int:
    return int(sandbox.get("/_stats").json()["total"])


def wait_until_erp_answers(estate: Any, erp: httpx.Client, sku: str) -> None:
    estate.wait_until_every_worker_answers("system-erp", f"/items/{sku}")


# --- reads ---------------------------------------------------------------------------------------------------


def test_item_and_price_match_the_catalogue(erp: httpx.Client, catalogue: Catalogue) -> None:
    product = catalogue.products[7]
    item = erp.get(f"/items/{product.sku}")
    assert item.status_code == 200, item.text
    assert item.json()["sku"] == product.sku and item.json()["name"] == product.name
    assert item.json()["barcode"] == product.barcode and item.json()["weight_grams"] == product.weight_grams
    price = erp.get(f"/prices/{product.sku}").json()
    assert (price["amount"], price["currency"], price["source"]) == (product.price_cents, "EUR", "erp")


def test_items_and_prices_page_through_the_whole_catalogue(erp: httpx.Client, catalogue: Catalogue) -> None:
    for path, limit in (("/items", 70), ("/prices", 500)):
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(20):
            params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = erp.get(path, params=params)
            assert page.status_code == 200, page.text
            seen += [entry["sku"] for entry in page.json()["items"]]
            cursor = page.json().get("next_cursor")
            if not cursor:
                break
        assert seen == [p.sku for p in catalogue.products], path


def test_financial_stock_per_dc_and_per_sku(erp: httpx.Client, catalogue: Catalogue) -> None:
    dc = catalogue.dcs[1]
    page = erp.get("/stock", params={"location": dc.location_id, "limit": 50})
    assert page.status_code == 200, page.text
    positions = page.json()["items"]
    assert len(positions) == 50 and page.json()["next_cursor"]
    by_sku = {p.sku: p for p in catalogue.products}
    for position in positions:
        assert position["location"] == dc.location_id and position["source"] == "erp"
        assert position["on_hand"] == catalogue.dc_stock(dc, by_sku[position["sku"]])
    product = catalogue.products[11]
    across = erp.get(f"/stock/{product.sku}").json()
    assert {p["location"]: p["on_hand"] for p in across} == {
        d.location_id: catalogue.dc_stock(d, product) for d in catalogue.dcs
    }


def test_price_change_in_the_erp_is_visible(erp: httpx.Client, sandbox: httpx.Client, catalogue: Catalogue) -> None:
    product = catalogue.products[-1]
    before = erp.get(f"/prices/{product.sku}").json()
    changed = sandbox.post("/_sim/price", json={"sku": product.sku, "price_cents": product.price_cents + 1001})
    assert changed.status_code == 200, changed.text
    after = erp.get(f"/prices/{product.sku}").json()
    assert after["amount"] == product.price_cents + 1001
    assert after["as_of"] >= before["as_of"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/items/NO-SUCH-SKU", 404),
        ("/prices/NO-SUCH-SKU", 404),
        ("/stock/NO-SUCH-SKU", 404),
        ("/items/bad%20sku!", 400),
        ("/items/" + "A" * 65, 400),
        ("/items?limit=0", 400),
        ("/items?limit=501", 400),
        ("/items?limit=abc", 400),
        ("/prices?cursor=not-a-cursor", 400),
        ("/stock?location=nowhere", 400),
        ("/stock?location=dc-nope", 404),
        ("/sales-orders/NO-SUCH-REF", 404),
        ("/sales-orders/bad%20ref", 400),
        ("/credit-memos/NO-SUCH-REF", 404),
    ],
)
def test_bad_reads_are_problems(erp: httpx.Client, path: str, status: int) -> None:
    problem(erp.get(path), status)


# --- sales orders ----------------------------------------------------------------------------------------------


def test_sales_order_twice_makes_one_document(estate: Any, erp: httpx.Client, catalogue: Catalogue) -> None:
    order_ref = ref("so")
    first = erp.post("/sales-orders", json=order_body(catalogue, order_ref))
    assert first.status_code == 201, first.text
    second = erp.post("/sales-orders", json=order_body(catalogue, order_ref))
    assert second.status_code == 200, second.text
    assert first.json()["created"] is True and second.json()["created"] is False
    assert first.json()["erp_id"] == second.json()["erp_id"]
    product = catalogue.products[3]
    assert first.json()["amount_total"] == 2 * product.price_cents
    assert second.json()["lines"] == [{"sku": product.sku, "qty": 2, "unit_price": product.price_cents}]
    assert count(estate, "SELECT count(*) FROM sale_order WHERE client_order_ref = ?", order_ref) == 1
    got = erp.get(f"/sales-orders/{order_ref}")
    assert got.status_code == 200 and got.json()["erp_id"] == first.json()["erp_id"]


def test_ten_concurrent_creates_with_one_ref_make_one_document(
    estate: Any, erp: httpx.Client, catalogue: Catalogue
) -> None:
    order_ref = ref("so-race")
    url = estate.url("system-erp") + "/sales-orders"

    def create(_: int) -> httpx.Response:
        return httpx.post(url, json=order_body(catalogue, order_ref), timeout=30)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(create, range(10)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 9 + [201], [a.text for a in answers]
    assert len({a.json()["erp_id"] for a in answers}) == 1
    assert count(estate, "SELECT count(*) FROM sale_order WHERE client_order_ref = ?", order_ref) == 1
    # The race crossed processes: both workers served (each call is its own connection).
    assert len({a.headers["x-served-by"] for a in answers}) == estate.workers("system-erp")


def test_confirm_and_cancel_are_idempotent(erp: httpx.Client, catalogue: Catalogue) -> None:
    order_ref = ref("so-life")
    assert erp.post("/sales-orders", json=order_body(catalogue, order_ref)).json()["state"] == "draft"
    for _ in range(2):
        confirmed = erp.post(f"/sales-orders/{order_ref}/confirm")
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["state"] == "sale"
    for _ in range(2):
        cancelled = erp.post(f"/sales-orders/{order_ref}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["state"] == "cancel"
    problem(erp.post(f"/sales-orders/{order_ref}/confirm"), 409)
    problem(erp.post("/sales-orders/NO-SUCH-REF/confirm"), 404)
    problem(erp.post("/sales-orders/NO-SUCH-REF/cancel"), 404)


def test_credit_memo_is_posted_once(estate: Any, erp: httpx.Client, catalogue: Catalogue) -> None:
    order_ref, memo_ref = ref("so"), ref("rma")
    product = catalogue.products[3]
    erp.post("/sales-orders", json=order_body(catalogue, order_ref))
    body = {
        "ref": memo_ref,
        "order_ref": order_ref,
        "customer_id": "cust-it-1",
        "customer_name": "Integration Test",
        "currency": "EUR",
        "lines": [{"sku": product.sku, "qty": 1, "unit_price": product.price_cents}],
        "reason": "too small",
    }
    first = erp.post("/credit-memos", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "posted" and first.json()["amount_total"] == product.price_cents
    assert first.json()["order_ref"] == order_ref and first.json()["name"].startswith("RINV/")
    second = erp.post("/credit-memos", json=body)
    assert second.status_code == 200 and second.json()["erp_id"] == first.json()["erp_id"]
    got = erp.get(f"/credit-memos/{memo_ref}")
    assert got.status_code == 200 and got.json()["name"] == first.json()["name"]
    assert count(estate, "SELECT count(*) FROM account_move WHERE ref = ?", memo_ref) == 1


def _line(sku: str = "OG-1", qty: Any = 1, unit_price: Any = 100, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "qty": qty, "unit_price": unit_price, **extra}


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"surprise": 1}, 400),  # unknown field
        ({"lines": [_line(extra_field=True)]}, 400),
        ({"lines": [_line(qty="2")]}, 400),  # wrong type
        ({"lines": [_line(qty=0)]}, 400),
        ({"lines": [_line(qty=-3)]}, 400),
        ({"lines": [_line(qty=10_001)]}, 400),
        ({"lines": [_line(unit_price=-1)]}, 400),
        ({"lines": [_line(sku="bad sku")]}, 400),
        ({"lines": [_line(sku="x" * 65)]}, 400),
        ({"lines": []}, 400),
        ({"lines": [_line()] * 501}, 400),
        ({"currency": "euro"}, 400),
        ({"ref": "has space"}, 400),
        ({"customer_name": ""}, 400),
        ({"customer_id": "has space"}, 400),
        ({"lines": [_line(sku="NO-SUCH-SKU-1"), _line(sku="NO-SUCH-SKU-2")]}, 422),
    ],
)
def test_bad_sales_orders_are_problems(
    estate: Any, erp: httpx.Client, catalogue: Catalogue, change: dict[str, Any], status: int
) -> None:
    order_ref = ref("so-bad")
    body = problem(erp.post("/sales-orders", json=order_body(catalogue, order_ref, **change)), status)
    if status == 422:
        assert [e["line"] for e in body["errors"]] == [0, 1]
    assert count(estate, "SELECT count(*) FROM sale_order WHERE client_order_ref = ?", order_ref) == 0


def test_unparseable_and_oversized_bodies_are_problems(erp: httpx.Client, estate: Any) -> None:
    problem(erp.post("/sales-orders", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    problem(erp.post("/sales-orders", content=b"[]", headers={"Content-Type": "application/json"}), 400)
    big = b'{"ref": "x", "customer": "' + b"a" * (estate.settings.max_body_bytes + 10) + b'"}'
    # Its own connection: the server answers 413 without reading the body and closes the connection.
    problem(
        httpx.post(
            str(erp.base_url).rstrip("/") + "/sales-orders",
            content=big,
            headers={"Content-Type": "application/json"},
            timeout=10,
        ),
        413,
    )
    problem(
        erp.post(
            "/credit-memos",
            json={
                "ref": "r",
                "order_ref": "o",
                "customer_id": "c",
                "customer_name": "C",
                "currency": "EUR",
                "lines": [_line(qty=0)],
            },
        ),
        400,
    )


# --- breaker Done-means ------------------------------------------------------------------------------------


def test_erp_outage_opens_the_breaker_and_it_closes_again(
    estate: Any, erp: httpx.Client, sandbox: httpx.Client, catalogue: Catalogue
) -> None:
    settings = estate.settings
    workers = estate.workers("system-erp")
    sku = catalogue.products[5].sku
    url = f"{estate.url('system-erp')}/items/{sku}"
    wait_until_erp_answers(estate, erp, sku)
    assert sandbox.put("/_faults", json={"outage": True}).status_code == 200
    before = hits(sandbox)
    started = time.monotonic()
    first = httpx.get(url, timeout=10)
    elapsed = time.monotonic() - started
    body = problem(first, 503)
    assert body["upstream"] == "erp"
    assert elapsed < settings.http_timeout_s, elapsed
    # One GET is retried up to retry_attempts times, each attempt a breaker failure: fail_max of them open it.
    # (The price feed polls the same ERP through the same breaker, so its calls share that budget: the bound
    # that holds with background traffic is the cap asserted below, workers x fail_max in all.)
    assert hits(sandbox) - before >= min(settings.retry_attempts, settings.breaker_fail_max)
    # Breakers are per worker (DESIGN §5): fresh connections spread over the workers until each answers from
    # its open breaker; opening them all costs each worker at most fail_max calls to the ERP.
    open_in: set[str] = set()
    for _ in range(100):
        response = httpx.get(url, timeout=10)
        if "breaker" in problem(response, 503)["detail"]:
            open_in.add(response.headers["x-served-by"])
        if len(open_in) == workers:
            break
    assert len(open_in) == workers, open_in
    assert hits(sandbox) - before <= workers * settings.breaker_fail_max
    opened = hits(sandbox)
    served_while_open: set[str] = set()
    for _ in range(10):
        response = httpx.get(url, timeout=10)
        body = problem(response, 503)
        assert body["upstream"] == "erp" and "breaker" in body["detail"]
        assert int(response.headers.get("retry-after", "0")) >= 1
        served_while_open.add(response.headers["x-served-by"])
    assert hits(sandbox) == opened, "an open breaker must not reach the ERP"
    assert sandbox.delete("/_faults").status_code == 204
    time.sleep(settings.breaker_reset_s)
    wait_until_erp_answers(estate, erp, sku)  # every worker's breaker closed again
    assert hits(sandbox) > opened


def test_a_post_during_an_outage_reaches_the_erp_once(
    estate: Any, erp: httpx.Client, sandbox: httpx.Client, catalogue: Catalogue
) -> None:
    wait_until_erp_answers(estate, erp, catalogue.products[5].sku)
    order_ref = ref("so-outage")
    assert sandbox.put("/_faults", json={"outage": True}).status_code == 200
    before = sandbox.get("/_stats").json()
    body = problem(erp.post("/sales-orders", json=order_body(catalogue, order_ref)), 503)
    assert body["upstream"] == "erp"
    after = sandbox.get("/_stats").json()
    assert after["total"] - before["total"] == 1
    sandbox.delete("/_faults")
    created = erp.post("/sales-orders", json=order_body(catalogue, order_ref))
    assert created.status_code == 201, created.text
    assert count(estate, "SELECT count(*) FROM sale_order WHERE client_order_ref = ?", order_ref) == 1
