"""Contract tests of the Odoo JSON-2 connector (system-erp): Odoo's documented payloads replayed with aioresponses.

The documented examples (res.partner search_read, the 401 error object) are copied verbatim from Odoo's
documentation into ``fixtures/odoo``; the product, stock and sales-order shapes Odoo does not document verbatim
are synthetic fixtures that say so in their ``notes``. Redis is real (a unique key prefix), only the ERP is mocked.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from litestar.testing import TestClient
from redis.asyncio import Redis
from yarl import URL

from services.system.erp import mapping
from services.system.erp.app import create_app
from services.system.erp.connector import OdooConnector
from services.system.erp.settings import ErpSettings
from shared.http import Upstreams
from shared.models.orders import SalesOrderLine, SalesOrderRequest
from shared.problems import MEDIA_TYPE, ProblemError
from tests.contract.vendor import fixture_loaders

FIXTURES = Path(__file__).parent / "fixtures" / "odoo"
BASE = "http://erp.test"
SKU = "OG-1000-BLK-XS-000000"


fixture, _ = fixture_loaders("odoo")


def url(model: str, method: str) -> str:
    return f"{BASE}/json/2/{model}/{method}"


def sent(mock: aioresponses, model: str, method: str) -> list[Any]:
    return mock.requests.get(("POST", URL(url(model, method))), [])


def sent_json(call: Any) -> Any:
    return json.loads(call.kwargs["data"])


def make_settings(prefix: str) -> ErpSettings:
    documented = fixture("json2-res.partner-search_read.request.json")["headers"]
    return ErpSettings(
        key_prefix=prefix,
        erp_api_key=documented["Authorization"].split(" ", 1)[1],
        erp_database=documented["X-Odoo-Database"],
        urls={"erp": BASE},
        retry_backoff_s=0.001,
        # The price feed is a background poller with its own test (tests/integration/system_erp/test_price_events.py).
        # Booting the whole app on aioresponses' mocked transport, a cancellation of the feed's task at
        # shutdown was lost (the lifespan then waited forever); real processes shut down cleanly.
        erp_price_poll_s=0,
    )


@pytest.fixture
async def settings() -> AsyncIterator[ErpSettings]:
    prefix = f"test-odoo-contract-{uuid.uuid4().hex[:8]}:"
    yield make_settings(prefix)
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
async def connector(settings: ErpSettings) -> AsyncIterator[OdooConnector]:
    redis = Redis.from_url(settings.redis_url)
    upstreams = Upstreams(settings, service="contract-test")
    yield OdooConnector(upstreams["erp"], redis, settings)
    await upstreams.close()
    await redis.aclose()


async def test_documented_search_read_is_sent_and_read_as_documented(connector: OdooConnector) -> None:
    request = fixture("json2-res.partner-search_read.request.json")
    response = fixture("json2-res.partner-search_read.response.json")
    with aioresponses() as mock:
        mock.post(url("res.partner", "search_read"), status=200, payload=response["body"])
        answer = await connector.call("res.partner", "search_read", request["body"], retry=True)
        (call,) = sent(mock, "res.partner", "search_read")
    assert json.loads(answer.body) == response["body"]
    assert sent_json(call) == request["body"]
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == request["headers"]["Authorization"]
    assert headers["X-Odoo-Database"] == request["headers"]["X-Odoo-Database"]
    assert headers["Content-Type"].startswith("application/json")


async def test_customer_is_resolved_from_the_documented_partner_answer_then_cached(connector: OdooConnector) -> None:
    response = fixture("json2-res.partner-search_read.response.json")
    with aioresponses() as mock:
        mock.post(url("res.partner", "search_read"), status=200, payload=response["body"])
        assert await connector.partner_id("cust-deco", "Deco Addict") == 25
        assert await connector.partner_id("cust-deco", "Deco Addict") == 25  # second time from the worker's memo
        calls = sent(mock, "res.partner", "search_read")
        assert not sent(mock, "res.partner", "create")
    assert len(calls) == 1
    assert sent_json(calls[0])["domain"] == [["ref", "=", "cust-deco"]]
    # The shared Redis map holds it for the other workers; a fresh worker (no memo) reads it from there.
    assert await connector.partners.vendor("cust-deco") == "25"
    connector.partner_of = type(connector.partner_of)()
    with aioresponses() as mock:
        assert await connector.partner_id("cust-deco", "Deco Addict") == 25
        assert not sent(mock, "res.partner", "search_read")


async def test_documented_401_becomes_a_502_problem_naming_erp(
    connector: OdooConnector, caplog: pytest.LogCaptureFixture
) -> None:
    error = fixture("json2-error-401-invalid-apikey.error.json")
    with aioresponses() as mock:
        mock.post(
            url("product.product", "search_read"),
            status=401,
            payload=error["body"],
            headers={"WWW-Authenticate": "bearer"},
        )
        with pytest.raises(ProblemError) as raised:
            await connector.item(SKU)
        assert len(sent(mock, "product.product", "search_read")) == 1  # a 4xx is not retried
    assert raised.value.status == 502
    assert raised.value.slug == "upstream-error"
    assert raised.value.upstream == "erp"
    assert "401" in (raised.value.detail or "")
    assert "erp refused" in caplog.text
    assert "Traceback" not in caplog.text  # Odoo's debug traceback is never copied into our logs


def test_documented_401_reaches_our_caller_as_502_problem_json(settings: ErpSettings) -> None:
    error = fixture("json2-error-401-invalid-apikey.error.json")
    with aioresponses() as mock:
        mock.post(re.compile(re.escape(BASE) + r"/json/2/.*"), status=401, payload=error["body"], repeat=True)
        with TestClient(create_app(settings)) as client:
            answer = client.get(f"/items/{SKU}")
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith(MEDIA_TYPE)
    problem = answer.json()
    assert problem["upstream"] == "erp"
    assert problem["type"].endswith("/upstream-error")
    assert "Invalid apikey" not in answer.text and "Traceback" not in answer.text


async def test_product_search_read_maps_to_item_and_exact_price(connector: OdooConnector) -> None:
    products = fixture("json2-product.product-search_read.synthetic.response.json")
    with aioresponses() as mock:
        mock.post(url("product.product", "search_read"), status=200, payload=products["body"], repeat=True)
        item = await connector.item(SKU)
        price = await connector.price(SKU)
        first = sent(mock, "product.product", "search_read")[0]
    assert sent_json(first) == products["request"]
    assert item.sku == SKU and item.name == "Coastal T-Shirt Blk XS"
    assert item.category == "All / Saleable / Accessories" and item.barcode == "8733218196006"
    assert item.weight_grams == 975
    assert price.amount == 1995  # 19.95 * 100 is 1994.999... in floats
    assert price.currency == "EUR" and price.source == "erp"
    assert price.as_of.isoformat() == "2025-06-01T10:15:00+00:00"
    # A single-item read is the hot path: it makes no Redis write (the map is filled at start and on misses).
    assert await connector.products.vendor(SKU) is None


async def test_unknown_sku_is_a_404_not_an_upstream_error(connector: OdooConnector) -> None:
    with aioresponses() as mock:
        mock.post(url("product.product", "search_read"), status=200, payload=[])
        with pytest.raises(ProblemError) as raised:
            await connector.item("NO-SUCH-SKU")
    assert raised.value.status == 404


async def test_stock_quants_map_to_positions_per_dc(connector: OdooConnector) -> None:
    products = fixture("json2-product.product-search_read.synthetic.response.json")
    quants = fixture("json2-stock.quant-search_read.synthetic.response.json")
    warehouses = fixture("json2-stock.warehouse-search_read.synthetic.response.json")
    with aioresponses() as mock:
        mock.post(url("product.product", "search_read"), status=200, payload=products["body"])
        mock.post(url("stock.quant", "search_read"), status=200, payload=quants["body"])
        mock.post(url("stock.warehouse", "search_read"), status=200, payload=warehouses["body"])
        positions = await connector.stock_for(SKU)
        (quant_call,) = sent(mock, "stock.quant", "search_read")
    assert sent_json(quant_call)["domain"][0] == ["product_id", "=", 1]
    by_location = {p.location: p for p in positions}
    assert set(by_location) == {"dc-tlb", "dc-zwl"}
    assert by_location["dc-tlb"].on_hand == 340
    assert by_location["dc-zwl"].on_hand == 0  # Odoo allows negative quants; canonical counts do not
    assert all(p.source == "erp" and p.sku == SKU for p in positions)


async def test_new_sales_order_is_searched_then_created_with_odoo_commands(connector: OdooConnector) -> None:
    products = fixture("json2-product.product-search_read.synthetic.response.json")
    partners = fixture("json2-res.partner-search_read.response.json")
    create_request = fixture("json2-sale.order-create.synthetic.request.json")
    create_response = fixture("json2-sale.order-create.synthetic.response.json")
    orders = fixture("json2-sale.order-search_read.synthetic.response.json")
    request = SalesOrderRequest(
        ref="ord-123",
        customer_id="cust-deco",
        customer_name="Deco Addict",
        currency="EUR",
        lines=[SalesOrderLine(sku=SKU, qty=3, unit_price=1995)],
    )
    with aioresponses() as mock:
        mock.post(url("sale.order", "search_read"), status=200, payload=[])
        mock.post(url("product.product", "search_read"), status=200, payload=products["body"])
        mock.post(url("res.partner", "search_read"), status=200, payload=partners["body"])
        mock.post(url("sale.order", "create"), status=200, payload=create_response["body"])
        mock.post(url("sale.order", "read"), status=200, payload=orders["body"])
        order = await connector.create_sales_order(request)
        (search,) = sent(mock, "sale.order", "search_read")
        (create,) = sent(mock, "sale.order", "create")
        (read,) = sent(mock, "sale.order", "read")
    assert sent_json(search)["domain"] == [["client_order_ref", "=", "ord-123"]]
    assert sent_json(create) == create_request["body"]
    assert sent_json(read)["ids"] == create_response["body"]
    assert order.created is True
    assert (order.erp_id, order.name, order.state, order.amount_total) == ("42", "S00042", "sale", 5985)
    assert order.lines == [SalesOrderLine(sku=SKU, qty=3, unit_price=1995)]


async def test_existing_sales_order_is_returned_without_create(connector: OdooConnector) -> None:
    orders = fixture("json2-sale.order-search_read.synthetic.response.json")
    lines = fixture("json2-sale.order.line-search_read.synthetic.response.json")
    products = fixture("json2-product.product-search_read.synthetic.response.json")
    request = SalesOrderRequest(
        ref="ord-123",
        customer_id="cust-deco",
        customer_name="Deco Addict",
        currency="EUR",
        lines=[SalesOrderLine(sku=SKU, qty=3, unit_price=1995)],
    )
    with aioresponses() as mock:
        mock.post(url("sale.order", "search_read"), status=200, payload=orders["body"])
        mock.post(url("sale.order.line", "search_read"), status=200, payload=lines["body"])
        mock.post(url("product.product", "read"), status=200, payload=products["body"])
        order = await connector.create_sales_order(request)
        assert not sent(mock, "sale.order", "create")
    assert order.created is False
    assert order.name == "S00042" and order.amount_total == 5985
    assert order.lines == [SalesOrderLine(sku=SKU, qty=3, unit_price=1995)]


async def test_sales_order_with_unknown_sku_is_422_naming_the_line(connector: OdooConnector) -> None:
    request = SalesOrderRequest(
        ref="ord-124",
        customer_id="c",
        customer_name="C",
        currency="EUR",
        lines=[SalesOrderLine(sku="NOPE-1", qty=1, unit_price=100)],
    )
    with aioresponses() as mock:
        mock.post(url("sale.order", "search_read"), status=200, payload=[])
        mock.post(url("product.product", "search_read"), status=200, payload=[])
        with pytest.raises(ProblemError) as raised:
            await connector.create_sales_order(request)
        assert not sent(mock, "sale.order", "create")
    assert raised.value.status == 422
    assert raised.value.errors == [{"line": 0, "sku": "NOPE-1", "detail": "the ERP has no product with this SKU"}]


async def test_odoo_500_is_a_502_and_a_body_of_the_wrong_shape_too(connector: OdooConnector) -> None:
    with aioresponses() as mock:
        mock.post(
            url("product.product", "search_read"), status=500, payload={"name": "builtins.ValueError"}, repeat=True
        )
        with pytest.raises(ProblemError) as raised:
            await connector.item(SKU)
        assert len(sent(mock, "product.product", "search_read")) == connector.settings.retry_attempts
    assert raised.value.status == 502 and raised.value.upstream == "erp"
    with aioresponses() as mock:
        mock.post(url("product.product", "search_read"), status=200, payload={"unexpected": "object"})
        with pytest.raises(ProblemError) as raised:
            await connector.item(SKU)
    assert raised.value.status == 502 and raised.value.upstream == "erp"


async def test_a_catalogue_search_sends_the_fixtures_domain_and_reads_items(connector: OdooConnector) -> None:
    request = fixture("json2-product.product-search_read-search.synthetic.request.json")
    products = fixture("json2-product.product-search_read.synthetic.response.json")
    with aioresponses() as mock:
        mock.post(url("product.product", "search_read"), status=200, payload=products["body"])
        page = await connector.items(None, 100, search="shirt")
        (call,) = sent(mock, "product.product", "search_read")
    assert sent_json(call) == request["body"]
    assert [item.sku for item in page.items] == [SKU] and page.next_cursor is None
    assert page.items[0].category == "All / Saleable / Accessories"


async def test_a_search_is_matched_literally_and_its_cursor_continues_only_that_search(
    connector: OdooConnector,
) -> None:
    products = fixture("json2-product.product-search_read.synthetic.response.json")
    two = [products["body"][0], {**products["body"][0], "id": 2, "default_code": "OG-1000-BLK-S-000001"}]
    typed = "10%_off\\"
    with aioresponses() as mock:
        mock.post(url("product.product", "search_read"), status=200, payload=two)  # one more than the limit
        mock.post(url("product.product", "search_read"), status=200, payload=two[1:])
        first = await connector.items(None, 1, search=typed)
        second = await connector.items(first.next_cursor, 1, search=typed)
        calls = sent(mock, "product.product", "search_read")
    # Odoo wraps the value in %...% and PostgreSQL reads % and _ as wildcards, \ as the escape: all escaped.
    domain = sent_json(calls[0])["domain"]
    assert domain[2:5] == ["|", "|", "|"]
    assert [leaf[1:] for leaf in domain[5:]] == [["ilike", "10\\%\\_off\\\\"]] * 4
    assert [leaf[0] for leaf in domain[5:]] == ["name", "default_code", "barcode", "categ_id"]
    assert first.next_cursor is not None and sent_json(calls[1])["domain"][0] == ["id", ">", 1]
    assert [i.sku for i in first.items + second.items] == [SKU, "OG-1000-BLK-S-000001"]
    # The cursor of one search does not continue another, nor the plain listing, nor the reverse.
    plain = mapping.encode_cursor(1)
    for cursor, search in ((first.next_cursor, "other"), (first.next_cursor, None), (plain, typed)):
        with pytest.raises(ProblemError) as raised:
            await connector.items(cursor, 1, search=search)
        assert raised.value.status == 400 and raised.value.errors == [{"field": "cursor"}]
