"""``GET /items?q=``: catalogue search in system-erp, matched by the ERP (Odoo ``search_read``, ``ilike`` terms
joined by ``|``) against the sandbox's seeded catalogue, paged with the cursor of that search."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.sandbox.common.catalogue import Catalogue, Product
from tests.estate import assert_problem

pytestmark = pytest.mark.estate


def category(product: Product) -> str:
    """The category as the ERP shows it (Odoo's display name of product.category: its full path)."""
    return f"All / Saleable / {product.category.title()}"


def matching(catalogue: Catalogue, text: str) -> list[str]:
    """What a case-insensitive, literal substring search of ``text`` finds, in the ERP's (seed) order."""
    needle = text.strip().lower()
    return [
        p.sku
        for p in catalogue.products
        if any(needle in field.lower() for field in (p.name, p.sku, p.barcode, category(p)))
    ]


def search_all(erp: httpx.Client, q: str, limit: int = 7) -> list[dict[str, Any]]:
    """Every page of a search, following ``next_cursor``."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"q": q, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = erp.get("/items", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        found += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return found
    raise AssertionError("the search did not end")


def test_a_search_finds_the_text_in_name_sku_barcode_or_category_whatever_its_case(
    erp: httpx.Client, catalogue: Catalogue
) -> None:
    product = catalogue.products[11]
    noun = product.name.split()[1]  # "<adjective> <noun> <colour> <size>"
    for q in (noun.upper(), product.sku.lower(), product.barcode[2:9], f"  {product.category.upper()} "):
        expected = matching(catalogue, q)
        assert product.sku in expected and len(expected) < len(catalogue.products), q
        found = search_all(erp, q)
        assert [item["sku"] for item in found] == expected, q
    # The items are the catalogue's, as GET /items/{sku} answers them.
    (item,) = [i for i in search_all(erp, product.sku) if i["sku"] == product.sku]
    assert item == erp.get(f"/items/{product.sku}").json()
    assert item["category"] == category(product)


def test_search_text_is_literal_and_without_q_every_item_is_listed(erp: httpx.Client, catalogue: Catalogue) -> None:
    # % and _ are plain characters (unescaped, the ERP would read them as wildcards): "T_Shirt" is not "T-Shirt".
    assert matching(catalogue, "T-Shirt") and search_all(erp, "T-Shirt")
    for q in ("T_Shirt", "%", "_", "\\", "Shirt%"):
        assert matching(catalogue, q) == [], q
        assert search_all(erp, q) == [], q
    # A search that matches nothing is an empty page; no q lists everything as before.
    empty = erp.get("/items", params={"q": "no such thing"})
    assert empty.status_code == 200 and empty.json() == {"items": [], "next_cursor": None}
    page = erp.get("/items", params={"limit": 500})
    assert [i["sku"] for i in page.json()["items"]] == [p.sku for p in catalogue.products[:500]]
    # The longest text allowed is searched.
    assert erp.get("/items", params={"q": "x" * 100}).status_code == 200


@pytest.mark.parametrize(
    ("q", "why"),
    [
        ("", "empty"),
        ("   ", "blank once trimmed"),
        ("\u00a0\u2003", "blank once trimmed (Unicode spaces)"),
        ("x" * 101, "longer than 100 characters"),
        ("shirt\x00", "NUL"),
        ("t-\tshirt", "a tab (C0)"),
        ("shirt\n", "a line break (C0)"),
        ("shirt\x7f", "DEL"),
        ("shirt\x85", "NEL (C1)"),
    ],
)
def test_bad_search_text_is_a_400_problem(erp: httpx.Client, q: str, why: str) -> None:
    problem = assert_problem(erp.get("/items", params={"q": q}), 400, "invalid-request")
    errors = problem["errors"]
    assert isinstance(errors, list) and errors, (why, problem)
    # The framework's own checks name the parameter as ``key``, the kernel's as ``field``.
    assert all(e.get("key", e.get("field")) == "q" for e in errors), (why, problem)


def test_a_cursor_continues_only_the_search_it_came_from(erp: httpx.Client, catalogue: Catalogue) -> None:
    noun = catalogue.products[11].name.split()[1]
    first = erp.get("/items", params={"q": noun, "limit": 1}).json()
    listing = erp.get("/items", params={"limit": 1}).json()
    assert first["next_cursor"] and listing["next_cursor"]
    # The same search, with another case or padding, is the same search once normalised.
    again = erp.get("/items", params={"q": f" {noun.upper()} ", "limit": 1, "cursor": first["next_cursor"]})
    assert again.status_code == 200 and again.json()["items"][0]["sku"] == matching(catalogue, noun)[1]
    for params in (
        {"q": "other", "cursor": first["next_cursor"]},
        {"cursor": first["next_cursor"]},
        {"q": noun, "cursor": listing["next_cursor"]},
    ):
        problem = assert_problem(erp.get("/items", params=params), 400, "invalid-request")
        assert problem["errors"] == [{"field": "cursor"}], problem
