"""sandbox-pos through Square's official Python SDK: every endpoint the sandbox implements, its success and error
paths, each answer validated by the SDK's own model (conftest.py ``Sdk.conforms``, ``square_error``).

Driven against the running sandbox of the session's estate (a real granian process). Stock is staged on SKUs no
other test uses (``estate.fresh_skus``), through the SDK itself.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from square.core.api_error import ApiError
from square.types.batch_change_inventory_response import BatchChangeInventoryResponse
from square.types.batch_get_inventory_counts_response import BatchGetInventoryCountsResponse
from square.types.catalog_object import CatalogObject_Item, CatalogObject_ItemVariation
from square.types.create_order_response import CreateOrderResponse
from square.types.get_order_response import GetOrderResponse
from square.types.list_locations_response import ListLocationsResponse
from square.types.search_catalog_items_response import SearchCatalogItemsResponse
from square.types.search_catalog_objects_response import SearchCatalogObjectsResponse
from square.types.search_orders_response import SearchOrdersResponse
from square.types.update_order_response import UpdateOrderResponse

from services.sandbox.common.catalogue import Catalogue, generate
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.pos.settings import SandboxPosSettings
from tests.estate import TestEstate
from tests.integration.sandbox_pos.conftest import Sdk, square_error

# The SDK reads pydantic v1 attributes under pydantic v2 (its own compatibility layer): its warning, not ours.
pytestmark = [pytest.mark.estate, pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")]


@pytest.fixture(scope="module")
def catalogue(estate: TestEstate) -> Catalogue:
    s = estate.settings_of(SandboxSettings)
    return generate(s.seed, s.seed_skus, s.seed_stores, s.seed_dcs)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _variation_id(sdk: Sdk, sku: str) -> str:
    found = sdk.client.catalog.search(
        object_types=["ITEM_VARIATION"], query={"exact_query": {"attribute_name": "sku", "attribute_value": sku}}
    )
    sdk.conforms(SearchCatalogObjectsResponse)
    (obj,) = found.objects or []
    assert isinstance(obj, CatalogObject_ItemVariation) and obj.id
    return obj.id


def _all_items(sdk: Sdk, **query: Any) -> list[CatalogObject_Item]:
    """Every item a SearchCatalogItems query finds, page after page (each page checked strictly)."""
    items: list[CatalogObject_Item] = []
    cursor = None
    for _ in range(100):
        page = sdk.client.catalog.search_items(**query, **({"cursor": cursor} if cursor else {}))
        strict = sdk.conforms(SearchCatalogItemsResponse)
        for item in strict.items or []:
            assert isinstance(item, CatalogObject_Item), item
            items.append(item)
        assert page.matched_variation_ids is None or set(page.matched_variation_ids) <= {
            v.id for item in strict.items or [] for v in (item.item_data.variations if item.item_data else None) or []
        }
        cursor = page.cursor
        if not cursor:
            return items
    raise AssertionError("SearchCatalogItems never ended its pages")


def _sku(item: CatalogObject_Item) -> str:
    assert item.item_data is not None and item.item_data.variations
    (variation,) = item.item_data.variations
    assert isinstance(variation, CatalogObject_ItemVariation) and variation.item_variation_data is not None
    assert variation.item_variation_data.item_id == item.id
    sku = variation.item_variation_data.sku
    assert sku
    return sku


def _name(item: CatalogObject_Item) -> str:
    assert item.item_data is not None and item.item_data.name
    return item.item_data.name


# --- locations and SearchCatalogObjects -------------------------------------------------------------------------


def test_locations_list(sdk: Sdk, catalogue: Catalogue) -> None:
    answer = sdk.client.locations.list()
    sdk.conforms(ListLocationsResponse)
    assert {loc.id for loc in answer.locations or []} == {s.square_id for s in catalogue.stores}
    assert all(loc.status == "ACTIVE" and loc.currency == "EUR" for loc in answer.locations or [])


def test_catalog_search_objects_by_sku(sdk: Sdk, catalogue: Catalogue) -> None:
    product = catalogue.products[0]
    answer = sdk.client.catalog.search(
        object_types=["ITEM_VARIATION"],
        query={"exact_query": {"attribute_name": "sku", "attribute_value": product.sku}},
        limit=10,
    )
    sdk.conforms(SearchCatalogObjectsResponse)
    (obj,) = answer.objects or []
    assert isinstance(obj, CatalogObject_ItemVariation) and obj.item_variation_data is not None
    assert obj.item_variation_data.sku == product.sku
    assert obj.item_variation_data.price_money is not None
    assert obj.item_variation_data.price_money.amount == product.price_cents


# --- SearchCatalogItems ------------------------------------------------------------------------------------------


def test_search_items_by_sku_text(sdk: Sdk, catalogue: Catalogue) -> None:
    product = catalogue.products[1]
    answer = sdk.client.catalog.search_items(text_filter=product.sku.lower())
    strict = sdk.conforms(SearchCatalogItemsResponse)
    (item,) = strict.items or []
    assert isinstance(item, CatalogObject_Item) and _sku(item) == product.sku and _name(item) == product.name
    assert answer.matched_variation_ids == [item.item_data.variations[0].id]  # type: ignore[union-attr,index]
    assert item.item_data is not None and item.item_data.product_type == "REGULAR"


def test_search_items_text_filter_matches_every_term(sdk: Sdk, catalogue: Catalogue) -> None:
    noun = catalogue.products[2].name.split()[1]  # "Hoodie", "T-Shirt"...
    colour = catalogue.products[2].sku.split("-")[2]  # a term of the SKU: BLK, NVY...
    found = _all_items(sdk, text_filter=f"{noun.upper()} {colour.lower()}", limit=40)
    expected = {
        p.sku
        for p in catalogue.products
        if noun.lower() in p.name.lower() and (colour.lower() in p.name.lower() or colour.lower() in p.sku.lower())
    }
    assert {_sku(i) for i in found} == expected and expected


def test_search_items_pages_in_name_order(sdk: Sdk, catalogue: Catalogue) -> None:
    ascending = _all_items(sdk, limit=60)
    assert sorted(_sku(i) for i in ascending) == sorted(p.sku for p in catalogue.products)
    names = [_name(i) for i in ascending]
    assert names == sorted(names)
    descending = _all_items(sdk, limit=100, sort_order="DESC")
    assert [i.id for i in descending] == [i.id for i in reversed(ascending)]


def test_search_items_by_category(sdk: Sdk, catalogue: Catalogue) -> None:
    first = sdk.client.catalog.search_items(text_filter=catalogue.products[3].sku)
    sdk.conforms(SearchCatalogItemsResponse)
    (item,) = first.items or []
    assert isinstance(item, CatalogObject_Item) and item.item_data is not None
    (category,) = item.item_data.categories or []
    assert category.id
    found = _all_items(sdk, category_ids=[category.id], limit=100)
    wanted = catalogue.products[3].category
    assert {_sku(i) for i in found} == {p.sku for p in catalogue.products if p.category == wanted}
    for each in found:
        assert [c.id for c in (each.item_data.categories or [])] == [category.id]  # type: ignore[union-attr]
    assert sdk.client.catalog.search_items(category_ids=["NO_SUCH_CATEGORY"]).items is None


def _count(sdk: Sdk, variation: str, location: str, qty: int) -> None:
    sdk.client.inventory.batch_create_changes(
        idempotency_key=uuid.uuid4().hex,
        changes=[
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": variation,
                    "location_id": location,
                    "quantity": str(qty),
                    "state": "IN_STOCK",
                    "occurred_at": _now(),
                },
            }
        ],
    )
    strict = sdk.conforms(BatchChangeInventoryResponse)
    (count,) = strict.counts or []
    assert count.quantity == str(qty)


def test_search_items_by_stock_level_at_a_location(sdk: Sdk, estate: TestEstate, catalogue: Catalogue) -> None:
    """OUT and LOW as Square's stock alerts see them (the variation's inventory_alert_threshold, at the
    locations asked for), checked on staged counts and against every count the SDK reads."""
    location = catalogue.stores[2].square_id
    out, low, plenty = (_variation_id(sdk, sku) for sku in estate.fresh_skus(3))
    _count(sdk, out, location, 0)
    _count(sdk, low, location, 1)
    _count(sdk, plenty, location, 25)
    variations = {
        v.id: v.item_variation_data
        for item in _all_items(sdk, limit=100)
        for v in (item.item_data.variations if item.item_data else None) or []
        if isinstance(v, CatalogObject_ItemVariation)
    }
    threshold = variations[low].inventory_alert_threshold  # type: ignore[union-attr]
    assert variations[low].inventory_alert_type == "LOW_QUANTITY" and threshold and threshold >= 1  # type: ignore[union-attr]
    counts = {
        c.catalog_object_id: int(c.quantity or "0")
        for c in sdk.client.inventory.batch_get_counts(location_ids=[location])
    }
    by_level = {
        "OUT": {v for v in variations if counts.get(v, 0) <= 0},
        "LOW": {v for v in variations if 0 < counts.get(v, 0) <= threshold},
    }
    for levels in (["OUT"], ["LOW"], ["OUT", "LOW"]):
        found = _all_items(sdk, enabled_location_ids=[location], stock_levels=levels, limit=100)
        matched = {item.item_data.variations[0].id for item in found}  # type: ignore[union-attr,index]
        assert matched == set().union(*(by_level[level] for level in levels)), levels
    assert out in by_level["OUT"] and low in by_level["LOW"]
    assert plenty not in by_level["OUT"] | by_level["LOW"]
    assert sdk.client.catalog.search_items(enabled_location_ids=["NO_SUCH_LOCATION"]).items is None


def test_search_items_documented_request_is_accepted(sdk: Sdk) -> None:
    """Square's documented example request (custom attribute filters of a wine shop): accepted; nothing in this
    catalogue carries those attributes, so nothing matches."""
    answer = sdk.client.catalog.search_items(
        text_filter="red",
        category_ids=["WINE_CATEGORY_ID"],
        stock_levels=["OUT", "LOW"],
        enabled_location_ids=["ATL_LOCATION_ID"],
        limit=100,
        sort_order="ASC",
        product_types=["REGULAR"],
        custom_attribute_filters=[
            {"custom_attribute_definition_id": "VEGAN_DEFINITION_ID", "bool_filter": True},
            {"custom_attribute_definition_id": "BRAND_DEFINITION_ID", "string_filter": "Dark Horse"},
            {"key": "VINTAGE", "number_filter": {"min": "2017", "max": "2018"}},
            {
                "custom_attribute_definition_id": "VARIETAL_DEFINITION_ID",
                "selection_uids_filter": "MERLOT_SELECTION_ID",
            },
        ],
    )
    sdk.conforms(SearchCatalogItemsResponse)
    assert answer.items is None


# --- inventory ---------------------------------------------------------------------------------------------------


def test_inventory_counts_page_through_the_sdk_pager(sdk: Sdk, catalogue: Catalogue) -> None:
    location = catalogue.stores[0].square_id
    pages = list(sdk.client.inventory.batch_get_counts(location_ids=[location], limit=40).iter_pages())
    strict = [sdk.conforms(BatchGetInventoryCountsResponse, answer) for answer in sdk.answers[-len(pages) :]]
    seen = [c.catalog_object_id for page in strict for c in page.counts or []]
    assert len(pages) > 2 and len(seen) == len(set(seen)) > 80
    assert all(c.location_id == location and c.state == "IN_STOCK" for page in strict for c in page.counts or [])


def test_inventory_changes(sdk: Sdk, estate: TestEstate, catalogue: Catalogue) -> None:
    (sku,) = estate.fresh_skus(1)
    variation, location = _variation_id(sdk, sku), catalogue.stores[1].square_id
    _count(sdk, variation, location, 9)
    answer = sdk.client.inventory.batch_create_changes(
        idempotency_key=uuid.uuid4().hex,
        changes=[
            {
                "type": "ADJUSTMENT",
                "adjustment": {
                    "catalog_object_id": variation,
                    "location_id": location,
                    "from_state": "IN_STOCK",
                    "to_state": "SOLD",
                    "quantity": "2",
                    "occurred_at": _now(),
                },
            }
        ],
    )
    sdk.conforms(BatchChangeInventoryResponse)
    (count,) = answer.counts or []
    assert count.quantity == "7"
    (read,) = list(sdk.client.inventory.batch_get_counts(catalog_object_ids=[variation], location_ids=[location]))
    assert read.quantity == "7"


# --- orders ------------------------------------------------------------------------------------------------------


def test_orders_create_get_update_search(sdk: Sdk, estate: TestEstate, catalogue: Catalogue) -> None:
    (sku,) = estate.fresh_skus(1)
    variation, location = _variation_id(sdk, sku), catalogue.stores[3].square_id
    reference = f"sdk-{uuid.uuid4().hex[:12]}"
    created = sdk.client.orders.create(
        order={
            "location_id": location,
            "reference_id": reference,
            "line_items": [{"catalog_object_id": variation, "quantity": "2"}],
        },
        idempotency_key=reference,
    )
    sdk.conforms(CreateOrderResponse)
    assert created.order is not None and created.order.id and created.order.state == "OPEN"
    assert created.order.line_items and created.order.line_items[0].quantity == "2"
    order_id = created.order.id
    fetched = sdk.client.orders.get(order_id)
    sdk.conforms(GetOrderResponse)
    assert fetched.order is not None and fetched.order.reference_id == reference
    updated = sdk.client.orders.update(
        order_id, order={"location_id": location, "version": created.order.version}, idempotency_key=uuid.uuid4().hex
    )
    sdk.conforms(UpdateOrderResponse)
    assert updated.order is not None and updated.order.id == order_id
    searched = sdk.client.orders.search(
        location_ids=[location],
        query={"filter": {"state_filter": {"states": ["OPEN"]}}, "sort": {"sort_field": "CREATED_AT"}},
        limit=50,
    )
    sdk.conforms(SearchOrdersResponse)
    assert order_id in {o.id for o in searched.orders or []}


# --- errors: each one Square's envelope, as the SDK parses it ----------------------------------------------------


def test_unauthorized(sdk: Sdk) -> None:
    with pytest.raises(ApiError) as caught:
        sdk.as_("not-the-token").locations.list()
    square_error(caught.value, 401, "AUTHENTICATION_ERROR", "UNAUTHORIZED")
    with pytest.raises(ApiError) as caught:
        sdk.as_("not-the-token").catalog.search_items(text_filter="x")
    square_error(caught.value, 401, "AUTHENTICATION_ERROR", "UNAUTHORIZED")


def test_unknown_order_is_not_found(sdk: Sdk) -> None:
    with pytest.raises(ApiError) as caught:
        sdk.client.orders.get("NO_SUCH_ORDER")
    square_error(caught.value, 404, "INVALID_REQUEST_ERROR", "NOT_FOUND")


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"limit": 101}, "INVALID_VALUE", "limit"),
        ({"stock_levels": ["EMPTY"]}, "INVALID_ENUM_VALUE", "stock_levels[0]"),
        ({"sort_order": "SIDEWAYS"}, "INVALID_ENUM_VALUE", "sort_order"),
        ({"cursor": "not-a-cursor"}, "INVALID_CURSOR", "cursor"),
        ({"text_filter": 7}, "INVALID_VALUE", "text_filter"),
    ],
)
def test_search_items_bad_requests(sdk: Sdk, query: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        sdk.client.catalog.search_items(**query)
    error = square_error(caught.value, 400, "INVALID_REQUEST_ERROR", code)
    assert error.field == field


def test_other_bad_requests(sdk: Sdk) -> None:
    with pytest.raises(ApiError) as caught:
        sdk.client.inventory.batch_get_counts(limit=5000).items  # noqa: B018 - the first page is fetched here
    assert square_error(caught.value, 400, "INVALID_REQUEST_ERROR", "INVALID_VALUE").field == "limit"
    with pytest.raises(ApiError) as caught:
        sdk.client.orders.create(order={"location_id": "NO_SUCH_LOCATION"}, idempotency_key=uuid.uuid4().hex)
    square_error(caught.value, 404, "INVALID_REQUEST_ERROR", "NOT_FOUND")


def test_an_endpoint_the_sandbox_lacks_is_squares_not_found(sdk: Sdk) -> None:
    """GET /v2/catalog/list exists at Square, not in this subset: a 404 in Square's envelope, not a problem."""
    with pytest.raises(ApiError) as caught:
        sdk.client.catalog.list()
    square_error(caught.value, 404, "INVALID_REQUEST_ERROR", "NOT_FOUND")


def test_a_method_the_sandbox_lacks_is_squares_method_not_allowed(sdk: Sdk) -> None:
    """CreateLocation is POST /v2/locations, where the subset serves GET only."""
    with pytest.raises(ApiError) as caught:
        sdk.client.locations.create(location={"name": "Pop-up"})
    square_error(caught.value, 405, "INVALID_REQUEST_ERROR", "METHOD_NOT_ALLOWED")
    assert "GET" in (caught.value.headers or {}).get("allow", "")


def test_what_the_sdk_cannot_send_still_gets_squares_envelope(sdk: Sdk, estate: TestEstate) -> None:
    """A body that is not JSON and one past the size limit, sent by hand; the SDK's own error parser reads them."""
    token = estate.settings_of(SandboxPosSettings).pos_access_token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    url = estate.url("sandbox-pos") + "/v2/catalog/search-catalog-items"
    unreadable = httpx.post(url, content=b"{not json", headers=headers)
    square_error(unreadable, 400, "INVALID_REQUEST_ERROR", "BAD_REQUEST")
    too_large = httpx.post(url, content=b'{"text_filter": "' + b"x" * 1_100_000 + b'"}', headers=headers)
    square_error(too_large, 413, "INVALID_REQUEST_ERROR", "REQUEST_ENTITY_TOO_LARGE")
    unknown = httpx.get(estate.url("sandbox-pos") + "/v3/nothing", headers=headers)
    square_error(unknown, 404, "INVALID_REQUEST_ERROR", "NOT_FOUND")


def test_a_server_error_is_squares_api_error(sdk: Sdk, estate: TestEstate) -> None:
    control = estate.url("sandbox-pos") + "/_faults"
    httpx.put(control, json={"route": "/v2/locations", "error_rate": 1.0}).raise_for_status()
    try:
        with pytest.raises(ApiError) as caught:
            sdk.client.locations.list()
    finally:
        httpx.delete(control).raise_for_status()
    square_error(caught.value, 500, "API_ERROR", "INTERNAL_SERVER_ERROR")
