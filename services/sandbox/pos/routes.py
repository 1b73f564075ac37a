"""The Square v2 subset the sandbox POS serves (DESIGN §3).

``Authorization: Bearer <pos_access_token>`` on every call (``Square-Version`` accepted, any value). Errors
leave in Square's ``{"errors": [{category, code, detail, field}]}`` envelope, because a Square client parses
nothing else: the routes' own as :class:`square.SquareError`, the framework's (no such route, wrong method, bad
JSON, oversized bodies, a bug) through ``square.render_error`` (services/sandbox/common/errors.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import sqlite3
from datetime import UTC
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response, Router, get, post, put
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from services.sandbox.common.db import Transaction
from services.sandbox.common.deps import settings_of
from services.sandbox.common.errors import field_of
from services.sandbox.pos import ledger, orders, square
from services.sandbox.pos.deps import PosSandbox
from services.sandbox.pos.seed import LOW_STOCK_ALERT
from services.sandbox.pos.settings import SandboxPosSettings

T = TypeVar("T")
_encoder = msgspec.json.Encoder()
_MAX_IDS = 1000


def _json(value: msgspec.Struct, status: int = 200) -> Response[bytes]:
    return Response(content=_encoder.encode(value), status_code=status, media_type="application/json")


def square_error_response(status: int, error: square.Error) -> Response[bytes]:
    return _json(square.ErrorResponse([error]), status)


def _on_square_error(request: Request[Any, Any, Any], exc: square.SquareError) -> Response[bytes]:
    return square_error_response(exc.status, exc.error)


def bearer_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Square answers 401 AUTHENTICATION_ERROR for a missing or wrong access token."""
    token = settings_of(connection, SandboxPosSettings).pos_access_token
    header = connection.headers.get("authorization", "")
    scheme, _sep, presented = header.partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
        raise square.SquareError(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized.")


def decode(body: bytes, type_: type[T]) -> T:
    """Decode a request body into a Square request Struct, failing as Square does (400 with the field)."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field, missing = field_of(message)
        code = "MISSING_REQUIRED_PARAMETER" if missing else "INVALID_VALUE"
        raise square.bad_request(message, code=code, field=field) from None
    except msgspec.DecodeError as exc:
        raise square.bad_request(f"the request body is not valid JSON: {exc}") from None


def _request_hash(value: msgspec.Struct) -> str:
    return hashlib.sha256(_encoder.encode(value)).hexdigest()


def replay(conn: Any, endpoint: str, key: str, request_hash: str) -> bytes | None:
    """The first answer to this idempotency key; a reused key with another request is Square's 400."""
    row = conn.execute(
        "SELECT request_hash, response FROM idempotency WHERE endpoint = ? AND key = ?", (endpoint, key)
    ).fetchone()
    if row is None:
        return None
    if row[0] != request_hash:
        raise square.bad_request(
            "idempotency_key was already used with a different request",
            code="IDEMPOTENCY_KEY_REUSED",
            field="idempotency_key",
        )
    return bytes(row[1])


def remember(conn: Any, endpoint: str, key: str, request_hash: str, response: bytes) -> None:
    conn.execute(
        "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)", (endpoint, key, request_hash, response, square.now_ts())
    )


def _encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def _decode_cursor(cursor: str, parts: int) -> list[str]:
    try:
        values = base64.urlsafe_b64decode(cursor.encode()).decode().split("\x1f")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        values = []
    if len(values) != parts or len(cursor) > 512:
        raise square.bad_request("invalid cursor", code="INVALID_CURSOR", field="cursor")
    return values


def _limit(value: int | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not 1 <= value <= maximum:
        raise square.bad_request(f"limit must be between 1 and {maximum}", code="INVALID_VALUE", field="limit")
    return value


def _ids(values: list[str] | None, field: str) -> list[str] | None:
    if values is not None and len(values) > _MAX_IDS:
        raise square.bad_request(f"at most {_MAX_IDS} ids", code="INVALID_VALUE", field=field)
    return values


# --- locations -----------------------------------------------------------------------------------------------


def location_of(row: Any, merchant_id: str) -> square.Location:
    return square.Location(
        id=row["id"],
        name=row["name"],
        address=square.Address(
            address_line_1=row["address_line_1"], locality=row["locality"], postal_code=row["postal_code"], country="NL"
        ),
        timezone="Europe/Amsterdam",
        capabilities=["CREDIT_CARD_PROCESSING"],
        status="ACTIVE",
        created_at=row["created_at"],
        merchant_id=merchant_id,
        country="NL",
        language_code="nl-NL",
        currency=square.CURRENCY,
        business_name="Omnigate",
        type="PHYSICAL",
        coordinates=square.Coordinates(latitude=row["latitude"], longitude=row["longitude"]),
        description=row["description"],
    )


@get("/locations", summary="ListLocations")
async def list_locations(request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox]) -> Response[bytes]:
    rows = sandbox.db.execute("SELECT * FROM locations ORDER BY name, id").fetchall()
    merchant = ledger.merchant_id(sandbox)
    return _json(square.ListLocationsResponse([location_of(r, merchant) for r in rows]))


# --- catalog -------------------------------------------------------------------------------------------------


def catalog_object(row: Any) -> square.CatalogObject:
    """An item variation as Square serves it (one per item here: the catalogue's product)."""
    return square.CatalogObject(
        type="ITEM_VARIATION",
        id=row["id"],
        updated_at=row["updated_at"],
        version=row["version"],
        is_deleted=False,
        present_at_all_locations=True,
        item_variation_data=square.ItemVariationData(
            item_id=row["item_id"],
            name=row["name"],
            sku=row["sku"],
            ordinal=0,
            pricing_type="FIXED_PRICING",
            price_money=square.Money(amount=row["price_amount"], currency=row["currency"]),
            track_inventory=True,
            inventory_alert_type="LOW_QUANTITY",
            inventory_alert_threshold=LOW_STOCK_ALERT,
        ),
    )


@post("/catalog/search", summary="SearchCatalogObjects (ITEM_VARIATION, exact_query on sku or name)", status_code=200)
async def search_catalog(request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox]) -> Response[bytes]:
    req = decode(await request.body(), square.SearchCatalogObjectsRequest)
    limit = _limit(req.limit, 100, 1000)
    clauses, args = ["1 = 1"], []
    if req.object_types is not None and "ITEM_VARIATION" not in req.object_types:
        clauses.append("0 = 1")  # only item variations live in this catalog
    if req.query is not None and req.query.exact_query is not None:
        exact = req.query.exact_query
        column = {"sku": "sku", "name": "name"}.get(exact.attribute_name)
        if column is None:
            clauses.append("0 = 1")
        else:
            clauses.append(f"{column} = ?")
            args.append(exact.attribute_value)
    if req.cursor is not None:
        (after_id,) = _decode_cursor(req.cursor, 1)
        clauses.append("id > ?")
        args.append(after_id)
    rows = sandbox.db.execute(
        f"SELECT * FROM variations WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?", (*args, limit + 1)
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return _json(
        square.SearchCatalogObjectsResponse(
            objects=[catalog_object(r) for r in rows] or None,
            cursor=_encode_cursor(rows[-1]["id"]) if more else None,
            latest_time=square.now_ts(),
        )
    )


STOCK_LEVELS = ("OUT", "LOW")
SORT_ORDERS = ("ASC", "DESC")
ARCHIVED_STATES = ("ARCHIVED_STATE_NOT_ARCHIVED", "ARCHIVED_STATE_ARCHIVED", "ARCHIVED_STATE_ALL")
_MAX_ITEMS_PAGE = 100
_MAX_CUSTOM_ATTRIBUTE_FILTERS = 10


def _enum(value: str | None, allowed: tuple[str, ...], field: str) -> None:
    if value is not None and value not in allowed:
        raise square.bad_request(
            f"`{value}` is not one of {', '.join(allowed)}", code="INVALID_ENUM_VALUE", field=field
        )


def _text_clauses(text: str | None) -> tuple[list[str], list[Any]]:
    """Every whitespace-separated term of ``text_filter`` occurs, in any case, in the item's name or the
    variation's name or SKU (the sandbox's items have no description, abbreviation or UPC)."""
    clauses: list[str] = []
    args: list[Any] = []
    for term in (text or "").lower().split():
        clauses.append("(instr(lower(v.name), ?) > 0 OR instr(lower(v.sku), ?) > 0)")
        args += [term, term]
    return clauses, args


def _stock_clause(levels: list[str], locations: list[str] | None) -> tuple[str, list[Any]]:
    """A variation is OUT at a location with no unit IN_STOCK there (no count is none), LOW with 1 to its alert
    threshold; it matches if it has one of ``levels`` at one of ``locations`` (every location if not given)."""
    for i, level in enumerate(levels):
        _enum(level, STOCK_LEVELS, f"stock_levels[{i}]")
    wanted = []
    if "OUT" in levels:
        wanted.append("coalesce(c.quantity, 0) <= 0")
    if "LOW" in levels:
        wanted.append(f"coalesce(c.quantity, 0) BETWEEN 1 AND {LOW_STOCK_ALERT}")
    where = f"l.id IN ({','.join('?' * len(locations))}) AND " if locations else ""
    clause = (
        "EXISTS (SELECT 1 FROM locations l LEFT JOIN counts c ON c.catalog_object_id = v.id AND c.location_id = l.id "
        f"WHERE {where}({' OR '.join(wanted)}))"
    )
    return clause, list(locations or [])


def _item_filters(req: square.SearchCatalogItemsRequest) -> tuple[list[str], list[Any]]:
    """SQL over ``variations v`` for the request's filters, all of which must hold (Square: filters combine with
    AND). The sandbox's items are REGULAR, never archived, present at every location and carry no custom
    attributes, so a filter on anything else matches nothing; an empty list filters nothing."""
    _enum(req.archived_state, ARCHIVED_STATES, "archived_state")
    if len(req.custom_attribute_filters or []) > _MAX_CUSTOM_ATTRIBUTE_FILTERS:
        raise square.bad_request(
            f"at most {_MAX_CUSTOM_ATTRIBUTE_FILTERS} custom attribute filters",
            code="INVALID_VALUE",
            field="custom_attribute_filters",
        )
    clauses, args = _text_clauses(req.text_filter)
    categories = _ids(req.category_ids, "category_ids")
    if categories:
        clauses.append(f"category_id(v.sku) IN ({','.join('?' * len(categories))})")
        args += categories
    locations = _ids(req.enabled_location_ids, "enabled_location_ids") or None
    if locations:
        clauses.append(f"EXISTS (SELECT 1 FROM locations WHERE id IN ({','.join('?' * len(locations))}))")
        args += locations
    if req.stock_levels:
        clause, more = _stock_clause(req.stock_levels, locations)
        clauses.append(clause)
        args += more
    nothing = (
        (req.product_types and "REGULAR" not in req.product_types)
        or req.custom_attribute_filters
        or req.archived_state == "ARCHIVED_STATE_ARCHIVED"
    )
    if nothing:
        clauses.append("0 = 1")
    return clauses, args


def catalog_item(row: Any) -> square.CatalogItemObject:
    category = square.CatalogObjectCategory(id=row["category_id"])
    return square.CatalogItemObject(
        type="ITEM",
        id=row["item_id"],
        updated_at=row["updated_at"],
        version=row["version"],
        is_deleted=False,
        present_at_all_locations=True,
        item_data=square.ItemData(
            name=row["name"],
            product_type="REGULAR",
            is_archived=False,
            categories=[category],
            reporting_category=category,
            variations=[catalog_object(row)],
        ),
    )


@post(
    "/catalog/search-catalog-items",
    summary="SearchCatalogItems (text, category, enabled location and stock level filters, name order, cursor)",
    status_code=200,
)
async def search_catalog_items(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox]
) -> Response[bytes]:
    """Items with their variations, by item name (``sort_order`` ASC by default), at most 100 a page. A cursor
    belongs to the query it came from. ``matched_variation_ids`` lists the variations the filters matched."""
    req = decode(await request.body(), square.SearchCatalogItemsRequest)
    limit = _limit(req.limit, _MAX_ITEMS_PAGE, _MAX_ITEMS_PAGE)
    _enum(req.sort_order, SORT_ORDERS, "sort_order")
    direction = req.sort_order or "ASC"
    clauses, args = _item_filters(req)
    query = [req.text_filter, req.category_ids, req.stock_levels, req.enabled_location_ids, req.product_types]
    query_hash = hashlib.sha256(_encoder.encode([*query, req.archived_state, direction])).hexdigest()[:16]
    if req.cursor is not None:
        name, after_id, cursor_query = _decode_cursor(req.cursor, 3)
        if cursor_query != query_hash:
            raise square.bad_request("the cursor belongs to another query", code="INVALID_CURSOR", field="cursor")
        clauses.append(f"(v.name, v.id) {'>' if direction == 'ASC' else '<'} (?, ?)")
        args += [name, after_id]
    rows = sandbox.db.execute(
        f"SELECT v.*, category_id(v.sku) AS category_id FROM variations v WHERE {' AND '.join(clauses) or '1 = 1'} "
        f"ORDER BY v.name {direction}, v.id {direction} LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return _json(
        square.SearchCatalogItemsResponse(
            items=[catalog_item(r) for r in rows] or None,
            cursor=_encode_cursor(rows[-1]["name"], rows[-1]["id"], query_hash) if more else None,
            matched_variation_ids=[r["id"] for r in rows] or None,
        )
    )


# --- inventory -----------------------------------------------------------------------------------------------


@post("/inventory/counts/batch-retrieve", summary="BatchRetrieveInventoryCounts", status_code=200)
async def batch_retrieve_counts(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox]
) -> Response[bytes]:
    req = decode(await request.body(), square.BatchRetrieveInventoryCountsRequest)
    limit = _limit(req.limit, 1000, 1000)
    clauses, args = ["1 = 1"], []
    for column, values, field in (
        ("catalog_object_id", req.catalog_object_ids, "catalog_object_ids"),
        ("location_id", req.location_ids, "location_ids"),
    ):
        values = _ids(values, field)
        if values:
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    if req.updated_after is not None:
        since = square.parse_ts(req.updated_after, "updated_after").astimezone(UTC)
        clauses.append("calculated_at > ?")
        args.append(square.format_ts(since))
    if req.states is not None and "IN_STOCK" not in req.states:
        clauses.append("0 = 1")
    if req.cursor is not None:
        cat_id, loc_id = _decode_cursor(req.cursor, 2)
        clauses.append("(catalog_object_id, location_id) > (?, ?)")
        args.extend([cat_id, loc_id])
    rows = sandbox.db.execute(
        f"SELECT * FROM counts WHERE {' AND '.join(clauses)} ORDER BY catalog_object_id, location_id LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    counts = [
        square.InventoryCount(
            catalog_object_id=r["catalog_object_id"],
            catalog_object_type="ITEM_VARIATION",
            state="IN_STOCK",
            location_id=r["location_id"],
            quantity=str(r["quantity"]),
            calculated_at=r["calculated_at"],
        )
        for r in rows
    ]
    cursor = _encode_cursor(rows[-1]["catalog_object_id"], rows[-1]["location_id"]) if more else None
    return _json(square.InventoryCountsResponse(errors=[], counts=counts, cursor=cursor))


@post("/inventory/changes/batch-create", summary="BatchChangeInventory (PHYSICAL_COUNT, ADJUSTMENT)", status_code=200)
async def batch_change_inventory(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox]
) -> Response[bytes]:
    req = decode(await request.body(), square.BatchChangeInventoryRequest)
    changes = req.changes or []
    if len(changes) > 100:
        raise square.bad_request("at most 100 changes per request", code="INVALID_VALUE", field="changes")
    digest = _request_hash(req)
    conn = sandbox.db
    with Transaction(conn):
        previous = replay(conn, "inventory/changes/batch-create", req.idempotency_key, digest)
        if previous is not None:
            return Response(content=previous, media_type="application/json")
        moves = [ledger.validate_change(conn, change, i) for i, change in enumerate(changes)]
        counts = ledger.apply(conn, moves)
        body = _encoder.encode(square.InventoryCountsResponse(errors=[], counts=counts))
        remember(conn, "inventory/changes/batch-create", req.idempotency_key, digest, body)
    ledger.notify_counts(sandbox, counts)
    return Response(content=body, media_type="application/json")


# --- orders --------------------------------------------------------------------------------------------------


@post("/orders", summary="CreateOrder (line items, PICKUP fulfillments, returns)", status_code=200)
async def create_order(request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox]) -> Response[bytes]:
    conn = sandbox.db
    req = decode(await request.body(), square.CreateOrderRequest)
    digest = _request_hash(req)
    with Transaction(conn):
        if req.idempotency_key is not None:
            previous = replay(conn, "orders", req.idempotency_key, digest)
            if previous is not None:
                return Response(content=previous, media_type="application/json")
        order = orders.build(conn, req.order)
        orders.save(conn, order)
        body = _encoder.encode(square.OrderResponse(order))
        if req.idempotency_key is not None:
            remember(conn, "orders", req.idempotency_key, digest, body)
    return Response(content=body, media_type="application/json")


@get("/orders/{order_id:str}", summary="RetrieveOrder")
async def retrieve_order(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox], order_id: FromPath[str]
) -> Response[bytes]:
    order = orders.load(sandbox.db, order_id)
    if order is None:
        raise square.not_found(f"Order `{order_id}` not found", field="order_id")
    return _json(square.OrderResponse(order))


UPDATE_ENDPOINT = "orders/update"


@put("/orders/{order_id:str}", summary="UpdateOrder (fulfillment state changes by uid)", status_code=200)
async def update_order(
    request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox], order_id: FromPath[str]
) -> Response[bytes]:
    """A sparse update under Square's rules (see orders.py). A repeated ``idempotency_key`` changes nothing
    and answers the order as it is now (Square: "The latest order version is returned"), whatever the body;
    a key first used for another order is refused."""
    conn = sandbox.db
    req = decode(await request.body(), square.UpdateOrderRequest)
    if req.fields_to_clear:
        raise square.bad_request("this sandbox does not clear fields", code="INVALID_VALUE", field="fields_to_clear")
    with Transaction(conn):
        order = orders.load(conn, order_id)
        if order is None:
            raise square.not_found(f"Order `{order_id}` not found", field="order_id")
        if req.idempotency_key is not None and _update_replayed(conn, req.idempotency_key, order_id):
            return _json(square.OrderResponse(order))
        updated, updates = orders.update(order, req.order)
        counts = _save_update(conn, order, updated, updates)
        if req.idempotency_key is not None:
            remember(conn, UPDATE_ENDPOINT, req.idempotency_key, _request_hash(req), order_id.encode())
    if updates:
        orders.notify_fulfillment(sandbox, updated, updates)
    ledger.notify_counts(sandbox, counts)
    return _json(square.OrderResponse(updated))


def _update_replayed(conn: sqlite3.Connection, key: str, order_id: str) -> bool:
    """Whether ``key`` already updated this order (a replay); a key first used for another order is refused."""
    row = conn.execute(
        "SELECT response FROM idempotency WHERE endpoint = ? AND key = ?", (UPDATE_ENDPOINT, key)
    ).fetchone()
    if row is None:
        return False
    if bytes(row[0]).decode() != order_id:
        raise square.bad_request(
            "idempotency_key was already used for another order", code="IDEMPOTENCY_KEY_REUSED", field="idempotency_key"
        )
    return True


def _save_update(
    conn: sqlite3.Connection, order: square.Order, updated: square.Order, updates: list[square.FulfillmentUpdate]
) -> list[square.InventoryCount]:
    """Store an update that changed something; one that completed the order takes its lines out of IN_STOCK."""
    if not updates:
        return []
    orders.save(conn, updated)
    if orders.completed_now(order, updated):
        return ledger.apply(conn, orders.sold_moves(updated))
    return []


SORT_FIELDS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}
_MAX_LOCATIONS = 10


def _unsupported_filters(filters: square.SearchOrdersFilter) -> None:
    for name in ("fulfillment_filter", "source_filter", "customer_filter"):
        if getattr(filters, name) is not None:
            raise square.bad_request(
                f"this sandbox does not implement {name}", code="INVALID_VALUE", field=f"query.filter.{name}"
            )


def _states(filters: square.SearchOrdersFilter) -> list[str] | None:
    states = filters.state_filter.states if filters.state_filter is not None else None
    for i, value in enumerate(states or []):
        if value not in square.ORDER_STATES:
            raise square.bad_request(
                f"`{value}` is not an order state",
                code="INVALID_ENUM_VALUE",
                field=f"query.filter.state_filter.states[{i}]",
            )
    return states


def _sort(query: square.SearchOrdersQuery) -> tuple[str, str]:
    """(sort field, ASC|DESC): CREATED_AT, newest first, unless the query says otherwise."""
    sort = query.sort or square.SearchOrdersSort(sort_field="CREATED_AT")
    if sort.sort_field == "CLOSED_AT":
        raise square.bad_request(
            "this sandbox does not sort or filter by closed_at", code="INVALID_VALUE", field="query.sort.sort_field"
        )
    if sort.sort_field not in SORT_FIELDS:
        raise square.bad_request(
            f"`{sort.sort_field}` is not a sort field", code="INVALID_ENUM_VALUE", field="query.sort.sort_field"
        )
    direction = sort.sort_order or "DESC"
    if direction not in ("ASC", "DESC"):
        raise square.bad_request(
            f"`{direction}` is not a sort order", code="INVALID_ENUM_VALUE", field="query.sort.sort_order"
        )
    return sort.sort_field, direction


def _time_range(dates: square.SearchOrdersDateTimeFilter | None, sort_field: str) -> tuple[str | None, str | None]:
    """(start, end) of the one date_time_filter range, which must be on the sort field."""
    start = end = None
    if dates is None:
        return start, end
    ranges = {
        name: getattr(dates, name)
        for name in ("created_at", "updated_at", "closed_at")
        if getattr(dates, name) is not None
    }
    if len(ranges) > 1:
        raise square.bad_request(
            "filter on one time range at a time", code="INVALID_VALUE", field="query.filter.date_time_filter"
        )
    for name, span in ranges.items():
        if name != SORT_FIELDS.get(sort_field):
            # Square: the sort field must be the field the date time filter filters on.
            raise square.bad_request(
                f"a date_time_filter on {name} needs sort_field {name.upper()}", field="query.sort.sort_field"
            )
        where = f"query.filter.date_time_filter.{name}"
        if span.start_at is not None:
            start = square.format_ts(square.parse_ts(span.start_at, f"{where}.start_at"))
        if span.end_at is not None:
            end = square.format_ts(square.parse_ts(span.end_at, f"{where}.end_at"))
    return start, end


def _search_plan(req: square.SearchOrdersRequest) -> tuple[str, str, list[str] | None, str | None, str | None]:
    """Validate a SearchOrders query as Square does: (sort column, ASC|DESC, states, start, end)."""
    query = req.query or square.SearchOrdersQuery()
    filters = query.filter or square.SearchOrdersFilter()
    _unsupported_filters(filters)
    states = _states(filters)
    sort_field, direction = _sort(query)
    start, end = _time_range(filters.date_time_filter, sort_field)
    return SORT_FIELDS[sort_field], direction, states, start, end


@post("/orders/search", summary="SearchOrders (state and created/updated time filters, sort, cursor)", status_code=200)
async def search_orders(request: Request[Any, Any, Any], sandbox: NamedDependency[PosSandbox]) -> Response[bytes]:
    """Orders of up to 10 locations, a page at a time. As Square documents: time ranges are inclusive, an
    absent end is the time of the cursor's first request, and a cursor belongs to the query it came from."""
    req = decode(await request.body(), square.SearchOrdersRequest)
    if not req.location_ids:
        raise square.bad_request("location_ids is required", code="MISSING_REQUIRED_PARAMETER", field="location_ids")
    if len(req.location_ids) > _MAX_LOCATIONS:
        raise square.bad_request(f"at most {_MAX_LOCATIONS} location ids", code="INVALID_VALUE", field="location_ids")
    limit = _limit(req.limit, 500, 1000)
    column, direction, states, start, end = _search_plan(req)
    query_hash = hashlib.sha256(_encoder.encode([req.location_ids, req.query, req.return_entries])).hexdigest()[:16]
    after: tuple[str, str] | None = None
    if req.cursor is not None:
        value, after_id, first_end, cursor_query = _decode_cursor(req.cursor, 4)
        if cursor_query != query_hash:
            raise square.bad_request("the cursor belongs to another query", code="INVALID_CURSOR", field="cursor")
        after, end = (value, after_id), end or first_end
    end = end or square.now_ts()
    clauses = [f"location_id IN ({','.join('?' * len(req.location_ids))})", f"{column} <= ?"]
    args: list[Any] = [*req.location_ids, end]
    if states is not None:
        clauses.append(f"state IN ({','.join('?' * len(states))})" if states else "0 = 1")
        args.extend(states)
    if start is not None:
        clauses.append(f"{column} >= ?")
        args.append(start)
    if after is not None:
        clauses.append(f"({column}, id) {'>' if direction == 'ASC' else '<'} (?, ?)")
        args.extend(after)
    rows = sandbox.db.execute(
        f"SELECT id, {column} AS at, body FROM orders WHERE {' AND '.join(clauses)} "
        f"ORDER BY {column} {direction}, id {direction} LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    found = [orders.decode(row["body"]) for row in rows[:limit]]
    cursor = _encode_cursor(rows[limit - 1]["at"], rows[limit - 1]["id"], end, query_hash) if more else None
    if req.return_entries:
        entries = [
            square.OrderEntry(order_id=o.id or "", version=o.version or 1, location_id=o.location_id) for o in found
        ]
        return _json(square.SearchOrdersResponse(order_entries=entries or None, cursor=cursor))
    return _json(square.SearchOrdersResponse(orders=found or None, cursor=cursor))


ROUTER = Router(
    path="/v2",
    route_handlers=[
        list_locations,
        search_catalog,
        search_catalog_items,
        batch_retrieve_counts,
        batch_change_inventory,
        create_order,
        retrieve_order,
        update_order,
        search_orders,
    ],
    guards=[bearer_guard],
    exception_handlers={square.SquareError: _on_square_error},
    tags=["square"],
)
