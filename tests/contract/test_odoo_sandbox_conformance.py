"""Conformance of sandbox-erp to Odoo's JSON-2 API: the documented requests get answers of the documented shape.

The documented res.partner requests are sent verbatim (the sandbox is configured with the doc's dummy API key
and database), the error statuses are those Odoo's own tests assert, and the synthetic product/stock/sales-order
fixtures must come back with the same keys and JSON types from the sandbox as the connector tests replay.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from services.sandbox.erp.app import create_app
from services.sandbox.erp.settings import SandboxErpSettings
from services.system.erp import mapping
from tests.contract.vendor import fixture_loaders

FIXTURES = Path(__file__).parent / "fixtures" / "odoo"
ERROR_KEYS = {"name", "message", "arguments", "context", "debug"}


fixture, _ = fixture_loaders("odoo")


DOCUMENTED_REQUEST = fixture("json2-res.partner-search_read.request.json")
HEADERS = {k: v for k, v in DOCUMENTED_REQUEST["headers"].items() if k not in ("Host", "Content-Type")}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = SandboxErpSettings(
        data_dir=str(tmp_path),
        seed_skus=24,
        seed_stores=1,
        seed_dcs=2,
        erp_api_key=HEADERS["Authorization"].split(" ", 1)[1],
        erp_database=HEADERS["X-Odoo-Database"],
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def call(client: TestClient[Any], model: str, method: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post(f"/json/2/{model}/{method}", json=body, headers=HEADERS if headers is None else headers)


def json_type(value: Any) -> str:
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def assert_same_shape(actual: dict[str, Any], documented: dict[str, Any]) -> None:
    assert set(actual) == set(documented)
    for key, value in documented.items():
        assert json_type(actual[key]) == json_type(value), key
        if isinstance(value, list):  # many2one: [id, display_name]
            assert len(actual[key]) == len(value) and json_type(actual[key][0]) == "number", key


def test_documented_search_read_answers_the_documented_shape(client: TestClient[Any]) -> None:
    created = call(
        client,
        "res.partner",
        "create",
        {"vals_list": [{"name": "Deco Addict", "is_company": True}, {"name": "Deco Person"}]},
    )
    assert created.status_code == 200
    answer = call(
        client,
        "res.partner",
        "search_read",
        DOCUMENTED_REQUEST["body"],
        headers={**HEADERS, "Content-Type": DOCUMENTED_REQUEST["headers"]["Content-Type"]},
    )
    documented = fixture("json2-res.partner-search_read.response.json")
    assert answer.status_code == documented["status"]
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert [set(r) for r in body] == [set(documented["body"][0])]  # only the company matches is_company = true
    assert body[0]["name"] == "Deco Addict" and body[0]["id"] == created.json()[0]


def test_documented_search_answers_ids(client: TestClient[Any]) -> None:
    call(client, "res.partner", "create", {"vals_list": [{"name": "Deco Addict", "is_company": True}]})
    answer = call(client, "res.partner", "search", fixture("json2-res.partner-search.request.json")["body"])
    assert answer.status_code == 200
    ids = answer.json()
    assert len(ids) == 1 and isinstance(ids[0], int)


@pytest.mark.parametrize("authorization", [None, "bearer wrong-key", "Basic Zm9vOmJhcg==", "bearer"])
def test_missing_or_invalid_key_is_the_documented_401(client: TestClient[Any], authorization: str | None) -> None:
    documented = fixture("json2-error-401-invalid-apikey.error.json")
    headers = {"X-Odoo-Database": HEADERS["X-Odoo-Database"]}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = call(client, "res.partner", "search_read", DOCUMENTED_REQUEST["body"], headers=headers)
    assert answer.status_code == documented["status"] == 401
    assert answer.headers["www-authenticate"].lower() == "bearer"
    body = answer.json()
    assert set(body) == set(documented["body"]) == ERROR_KEYS
    assert (body["name"], body["message"]) == (documented["body"]["name"], documented["body"]["message"])
    assert body["arguments"] == documented["body"]["arguments"]


def test_bearer_scheme_is_case_insensitive(client: TestClient[Any]) -> None:
    key = HEADERS["Authorization"].split(" ", 1)[1]
    answer = call(
        client, "res.partner", "search_read", {"fields": ["name"]}, headers={"Authorization": f"BEARER {key}"}
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("path", "content", "status"),
    [
        ("/json/2/res.partner/search_read", b"{not json", 400),
        ("/json/2/res.partner/search_read", b"[1, 2]", 400),
        ("/json/2/res.nothing/search_read", b"{}", 404),
        ("/json/2/res.partner/unlink", b"{}", 404),
        ("/json/2/res.partner/search", b"{}", 422),  # missing argument
        ("/json/2/res.partner/search_read", b'{"ids": [1]}', 422),  # ids on an @api.model method
        ("/json/2/res.partner/search_read", b'{"domain": [["no_such_field", "=", 1]]}', 500),
    ],
)
def test_errors_have_odoos_statuses_and_exactly_its_keys(
    client: TestClient[Any], path: str, content: bytes, status: int
) -> None:
    answer = client.post(path, content=content, headers={**HEADERS, "Content-Type": "application/json"})
    assert answer.status_code == status
    assert set(answer.json()) == ERROR_KEYS


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "name"),
    [
        ("GET", "/json/2/res.partner/search_read", None, 405, "MethodNotAllowed"),  # JSON-2 is POST only
        ("POST", "/json/2/res.partner", b"{}", 404, "NotFound"),  # no such route
        ("GET", "/web/nothing", None, 404, "NotFound"),
        (
            "POST",
            "/json/2/res.partner/search_read",
            b'{"domain": "' + b"x" * 1_100_000 + b'"}',
            413,
            "RequestEntityTooLarge",
        ),
    ],
)
def test_framework_errors_are_odoo_error_objects(
    client: TestClient[Any], method: str, path: str, content: bytes | None, status: int, name: str
) -> None:
    """What the framework answers before any model method runs is Odoo's error object too, never problem+json."""
    answer = client.request(method, path, content=content, headers={**HEADERS, "Content-Type": "application/json"})
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == ERROR_KEYS
    assert body["name"] == f"werkzeug.exceptions.{name}"
    assert body["arguments"] == [body["message"], status] and body["message"]
    if status == 405:
        assert "POST" in answer.headers["allow"]


def test_injected_failures_and_operator_routes(client: TestClient[Any]) -> None:
    """An injected 500 is Odoo's InternalServerError object; the sandbox's own controls speak problem+json."""
    assert client.put("/_faults", json={"route": "/json/2/", "error_rate": 1.0}).status_code == 200
    answer = call(client, "res.partner", "search_read", {})
    assert answer.status_code == 500 and answer.json()["name"] == "werkzeug.exceptions.InternalServerError"
    assert set(answer.json()) == ERROR_KEYS
    refused = client.put("/_faults", json={"latency_ms": -5})
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("application/problem+json")


def test_product_search_read_has_the_synthetic_fixtures_shape(client: TestClient[Any]) -> None:
    products = fixture("json2-product.product-search_read.synthetic.response.json")
    answer = call(client, "product.product", "search_read", products["request"])
    assert answer.status_code == 200
    (record,) = answer.json()
    assert record["default_code"] == products["request"]["domain"][0][2]
    assert_same_shape(record, products["body"][0])


def test_stock_quant_and_warehouse_have_the_synthetic_fixtures_shape(client: TestClient[Any]) -> None:
    quants = call(
        client, "stock.quant", "search_read", {"domain": [["product_id", "=", 1]], "fields": mapping.QUANT_FIELDS}
    ).json()
    assert len(quants) == 2  # one per DC
    assert_same_shape(quants[0], fixture("json2-stock.quant-search_read.synthetic.response.json")["body"][0])
    warehouses = call(client, "stock.warehouse", "search_read", {"fields": ["code", "name"]}).json()
    assert [w["code"] for w in warehouses] == ["TLB", "ZWL"]
    assert_same_shape(warehouses[0], fixture("json2-stock.warehouse-search_read.synthetic.response.json")["body"][0])


def test_sale_order_create_and_reads_have_the_synthetic_fixtures_shape(client: TestClient[Any]) -> None:
    (partner,) = call(client, "res.partner", "create", {"vals_list": [{"name": "Deco Addict"}]}).json()
    request = fixture("json2-sale.order-create.synthetic.request.json")["body"]
    request["vals_list"][0]["partner_id"] = partner
    created = call(client, "sale.order", "create", request)
    assert created.status_code == 200
    ids = created.json()
    assert len(ids) == 1 and isinstance(ids[0], int)
    ref = request["vals_list"][0]["client_order_ref"]
    (order,) = call(
        client,
        "sale.order",
        "search_read",
        {"domain": [["client_order_ref", "=", ref]], "fields": mapping.SALE_ORDER_FIELDS},
    ).json()
    assert_same_shape(order, fixture("json2-sale.order-search_read.synthetic.response.json")["body"][0])
    assert order["state"] == "draft" and order["amount_total"] == 59.85 and order["name"] == f"S{ids[0]:05d}"
    (line,) = call(
        client,
        "sale.order.line",
        "search_read",
        {"domain": [["order_id", "=", ids[0]]], "fields": mapping.SALE_LINE_FIELDS},
    ).json()
    assert_same_shape(line, fixture("json2-sale.order.line-search_read.synthetic.response.json")["body"][0])
    assert call(client, "sale.order", "action_confirm", {"ids": ids}).json() is True
    again = call(client, "sale.order", "action_confirm", {"ids": ids})
    assert again.status_code == 422 and set(again.json()) == ERROR_KEYS


def test_no_uniqueness_on_client_order_ref(client: TestClient[Any]) -> None:
    """Odoo has no unique constraint on client_order_ref, so neither has the sandbox."""
    vals = {"client_order_ref": "dup-1", "partner_id": 1, "order_line": []}
    assert call(client, "sale.order", "create", {"vals_list": [vals, vals]}).status_code == 200
    count = call(client, "sale.order", "search_count", {"domain": [["client_order_ref", "=", "dup-1"]]}).json()
    assert count == 2


def test_sim_price_changes_the_list_price_and_write_date(client: TestClient[Any]) -> None:
    sku = "OG-1000-BLK-XS-000000"
    answer = client.post("/_sim/price", json={"sku": sku, "price_cents": 1995})
    assert answer.status_code == 200
    (product,) = call(
        client,
        "product.product",
        "search_read",
        {"domain": [["default_code", "=", sku]], "fields": ["list_price", "write_date"]},
    ).json()
    assert product["list_price"] == 19.95 and mapping.to_minor(product["list_price"]) == 1995
    assert client.post("/_sim/price", json={"sku": "NOPE", "price_cents": 1}).status_code == 404
    assert client.post("/_sim/price", json={"sku": sku, "price_cents": -1}).status_code == 400


# --- catalogue search: ilike and '|' as Odoo on PostgreSQL answers them -------------------------------------------

SEARCH = fixture("json2-product.product-search_read-search.synthetic.request.json")


def products_named(tmp_path: Path, names: dict[int, str]) -> None:
    """Rename products in the sandbox's own SQLite file (product.product is not writable through its API)."""
    path = tmp_path / "sandbox" / "sandbox-erp.sqlite3"
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.executemany("UPDATE product_product SET name = ? WHERE id = ?", [(n, i) for i, n in names.items()])
        conn.commit()
    finally:
        conn.close()


def search(client: TestClient[Any], *leaves: Any, op: str = "|") -> list[int]:
    """Ids of the products matching ``leaves`` joined by ``op`` (prefix notation), archived ones too."""
    domain = [*[op] * (len(leaves) - 1), *leaves]
    answer = call(
        client,
        "product.product",
        "search_read",
        {"domain": domain, "fields": ["id"], "context": {"active_test": False}},
    )
    assert answer.status_code == 200, answer.text
    return [r["id"] for r in answer.json()]


def test_the_search_fixture_is_answered_with_every_match_in_any_field(client: TestClient[Any]) -> None:
    everything = call(
        client,
        "product.product",
        "search_read",
        {"domain": [], "fields": mapping.PRODUCT_FIELDS, "context": {"active_test": False}},
    ).json()
    answer = call(client, "product.product", "search_read", SEARCH["body"])
    assert answer.status_code == 200
    found = answer.json()
    shown = ("name", "default_code", "barcode")
    expected = [
        p["id"]
        for p in everything
        if any("shirt" in str(p[f]).lower() for f in shown) or "shirt" in p["categ_id"][1].lower()
    ]
    assert found and [p["id"] for p in found] == expected  # "T-Shirt" in names, in id order
    assert_same_shape(found[0], fixture("json2-product.product-search_read.synthetic.response.json")["body"][0])


def test_ilike_ignores_case_in_every_script_and_matches_a_many2one_by_its_display_name(
    client: TestClient[Any], tmp_path: Path
) -> None:
    products_named(tmp_path, {3: "Pull Élégant Ärmel", 4: "ÉLÉGANT scarf"})
    assert search(client, ["name", "ilike", "élégant"]) == [3, 4]
    assert search(client, ["name", "ilike", "äRMEL"]) == [3]
    # SKU, barcode: case folded too; a many2one compares its display name ("All / Saleable / <Category>").
    fields = ["default_code", "barcode", "categ_id"]
    (product,) = call(client, "product.product", "read", {"ids": [5], "fields": fields}).json()
    sku, barcode, categ = product["default_code"], product["barcode"], product["categ_id"][1]
    assert 5 in search(client, ["default_code", "ilike", sku.lower()])
    assert 5 in search(client, ["barcode", "ilike", barcode[2:9]])
    by_category = search(client, ["categ_id", "ilike", categ.split(" / ")[-1].upper()])
    assert 5 in by_category and search(client, ["categ_id", "ilike", "saleable / "]) == search(client)
    # '|' is an OR of the two criteria after it; without it, top-level criteria are ANDed.
    assert search(client, ["name", "ilike", "élégant"], ["name", "ilike", "ärmel"], op="&") == [3]
    assert search(client, ["name", "ilike", "scarf"], ["name", "ilike", "ärmel"]) == [3, 4]


def test_like_wildcards_and_backslash_escapes_are_postgresqls(client: TestClient[Any], tmp_path: Path) -> None:
    products_named(tmp_path, {3: "Wool 50% Scarf", 4: "Wool 50 Scarf", 5: "Back\\slash_Tee", 6: "BackXslashTee"})
    # Odoo does not escape the value: % and _ stay wildcards, as PostgreSQL reads the pattern %value%.
    assert search(client, ["name", "ilike", "50%scarf"]) == [3, 4]
    assert search(client, ["name", "ilike", "back_slash"]) == [5, 6]
    # Escaped with a backslash (odoo.tools.sql.escape_psql) they are literal.
    assert search(client, ["name", "ilike", "50\\%"]) == [3]
    assert search(client, ["name", "ilike", "\\_tee"]) == [5]
    assert search(client, ["name", "ilike", "back\\\\slash"]) == [5]
    # A trailing backslash escapes the closing % of ilike; =ilike's pattern may not end in one (a server error).
    assert search(client, ["name", "ilike", "tee\\"]) == []
    bad = call(client, "product.product", "search_read", {"domain": [["name", "=ilike", "tee\\"]], "fields": ["id"]})
    assert bad.status_code == 500 and set(bad.json()) == ERROR_KEYS
    assert bad.json()["name"] == "psycopg2.errors.InvalidEscapeSequence"
