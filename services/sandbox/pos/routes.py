"""The Square v2 subset the sandbox POS serves (DESIGN §3).

``Authorization: Bearer <pos_access_token>`` on every call (``Square-Version`` accepted, any value). Errors
leave in Square's ``{"errors": [{category, code, detail, field}]}`` envelope, the framework's own included
(bad JSON, oversized bodies), because a Square client parses nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import timezone
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath

from services.sandbox.common.db import Transaction
from services.sandbox.pos import ledger, orders, square

T = TypeVar("T")
_encoder = msgspec.json.Encoder()
_MISSING = re.compile(r"missing required field `([^`]+)`")
_PATH = re.compile(r"at `\$\.?([^`]*)`")
_MAX_IDS = 1000


def _json(value: msgspec.Struct, status: int = 200) -> Response[bytes]:
    return Response(content=_encoder.encode(value), status_code=status, media_type="application/json")


def square_error_response(status: int, error: square.Error) -> Response[bytes]:
    return _json(square.ErrorResponse([error]), status)


def _on_square_error(request: Request[Any, Any, Any], exc: square.SquareError) -> Response[bytes]:
    return square_error_response(exc.status, exc.error)


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    codes = {401: "UNAUTHORIZED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_ENTITY_TOO_LARGE",
             415: "UNSUPPORTED_MEDIA_TYPE"}
    category = "API_ERROR" if status >= 500 else "INVALID_REQUEST_ERROR"
    code = codes.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_SERVER_ERROR")
    return square_error_response(status, square.Error(category=category, code=code, detail=str(exc.detail)))


def bearer_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Square answers 401 AUTHENTICATION_ERROR for a missing or wrong access token."""
    token = connection.app.state.settings.pos_access_token
    header = connection.headers.get("authorization", "")
    scheme, _sep, presented = header.partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
        raise square.SquareError(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED",
                                 "This request could not be authorized.")


def decode(body: bytes, type_: type[T]) -> T:
    """Decode a request body into a Square request Struct, failing as Square does (400 with the field)."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = _PATH.search(message)
        missing = _MISSING.search(message)
        field = (path.group(1) if path else "") or None
        if missing:
            field = f"{field}.{missing.group(1)}" if field else missing.group(1)
            raise square.bad_request(message, code="MISSING_REQUIRED_PARAMETER", field=field) from None
        raise square.bad_request(message, code="INVALID_VALUE", field=field) from None
    except msgspec.DecodeError as exc:
        raise square.bad_request(f"the request body is not valid JSON: {exc}") from None


def _request_hash(value: msgspec.Struct) -> str:
    return hashlib.sha256(_encoder.encode(value)).hexdigest()


def replay(conn: Any, endpoint: str, key: str, request_hash: str) -> bytes | None:
    """The first answer to this idempotency key; a reused key with another request is Square's 400."""
    row = conn.execute("SELECT request_hash, response FROM idempotency WHERE endpoint = ? AND key = ?",
                       (endpoint, key)).fetchone()
    if row is None:
        return None
    if row[0] != request_hash:
        raise square.bad_request("idempotency_key was already used with a different request",
                                 code="IDEMPOTENCY_KEY_REUSED", field="idempotency_key")
    return bytes(row[1])


def remember(conn: Any, endpoint: str, key: str, request_hash: str, response: bytes) -> None:
    conn.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)",
                 (endpoint, key, request_hash, response, square.now_ts()))


def _check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= 192:
        raise square.bad_request("idempotency_key must be 1 to 192 characters", code="INVALID_VALUE",
                                 field="idempotency_key")


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
        id=row["id"], name=row["name"],
        address=square.Address(address_line_1=row["address_line_1"], locality=row["locality"],
                               postal_code=row["postal_code"], country="NL"),
        timezone="Europe/Amsterdam", capabilities=["CREDIT_CARD_PROCESSING"], status="ACTIVE",
        created_at=row["created_at"], merchant_id=merchant_id, country="NL", language_code="nl-NL",
        currency=square.CURRENCY, business_name="Omnigate", type="PHYSICAL",
        coordinates=square.Coordinates(latitude=row["latitude"], longitude=row["longitude"]),
        description=row["description"],
    )


@get("/locations", summary="ListLocations")
async def list_locations(request: Request[Any, Any, Any]) -> Response[bytes]:
    state = request.app.state
    rows = state.db.execute("SELECT * FROM locations ORDER BY name, id").fetchall()
    merchant = ledger.merchant_id(state)
    return _json(square.ListLocationsResponse([location_of(r, merchant) for r in rows]))


# --- catalog -------------------------------------------------------------------------------------------------


def catalog_object(row: Any) -> square.CatalogObject:
    return square.CatalogObject(
        type="ITEM_VARIATION", id=row["id"], updated_at=row["updated_at"], version=row["version"],
        is_deleted=False, present_at_all_locations=True,
        item_variation_data=square.ItemVariationData(
            item_id=row["item_id"], name=row["name"], sku=row["sku"], ordinal=0, pricing_type="FIXED_PRICING",
            price_money=square.Money(amount=row["price_amount"], currency=row["currency"]),
        ),
    )


@post("/catalog/search", summary="SearchCatalogObjects (ITEM_VARIATION, exact_query on sku or name)", status_code=200)
async def search_catalog(request: Request[Any, Any, Any]) -> Response[bytes]:
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
    rows = request.app.state.db.execute(
        f"SELECT * FROM variations WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?", (*args, limit + 1)
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return _json(square.SearchCatalogObjectsResponse(
        objects=[catalog_object(r) for r in rows] or None,
        cursor=_encode_cursor(rows[-1]["id"]) if more else None,
        latest_time=square.now_ts(),
    ))


# --- inventory -----------------------------------------------------------------------------------------------


@post("/inventory/counts/batch-retrieve", summary="BatchRetrieveInventoryCounts", status_code=200)
async def batch_retrieve_counts(request: Request[Any, Any, Any]) -> Response[bytes]:
    req = decode(await request.body(), square.BatchRetrieveInventoryCountsRequest)
    limit = _limit(req.limit, 1000, 1000)
    clauses, args = ["1 = 1"], []
    for column, values, field in (("catalog_object_id", req.catalog_object_ids, "catalog_object_ids"),
                                  ("location_id", req.location_ids, "location_ids")):
        values = _ids(values, field)
        if values:
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    if req.updated_after is not None:
        since = square.parse_ts(req.updated_after, "updated_after").astimezone(timezone.utc)
        clauses.append("calculated_at > ?")
        args.append(square.format_ts(since))
    if req.states is not None and "IN_STOCK" not in req.states:
        clauses.append("0 = 1")
    if req.cursor is not None:
        cat_id, loc_id = _decode_cursor(req.cursor, 2)
        clauses.append("(catalog_object_id, location_id) > (?, ?)")
        args.extend([cat_id, loc_id])
    rows = request.app.state.db.execute(
        f"SELECT * FROM counts WHERE {' AND '.join(clauses)} ORDER BY catalog_object_id, location_id LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    counts = [
        square.InventoryCount(catalog_object_id=r["catalog_object_id"], catalog_object_type="ITEM_VARIATION",
                              state="IN_STOCK", location_id=r["location_id"], quantity=str(r["quantity"]),
                              calculated_at=r["calculated_at"])
        for r in rows
    ]
    cursor = _encode_cursor(rows[-1]["catalog_object_id"], rows[-1]["location_id"]) if more else None
    return _json(square.InventoryCountsResponse(errors=[], counts=counts, cursor=cursor))


@post("/inventory/changes/batch-create", summary="BatchChangeInventory (PHYSICAL_COUNT, ADJUSTMENT)", status_code=200)
async def batch_change_inventory(request: Request[Any, Any, Any]) -> Response[bytes]:
    state = request.app.state
    req = decode(await request.body(), square.BatchChangeInventoryRequest)
    _check_idempotency_key(req.idempotency_key)
    changes = req.changes or []
    if len(changes) > 100:
        raise square.bad_request("at most 100 changes per request", code="INVALID_VALUE", field="changes")
    digest = _request_hash(req)
    conn = state.db
    with Transaction(conn):
        previous = replay(conn, "inventory/changes/batch-create", req.idempotency_key, digest)
        if previous is not None:
            return Response(content=previous, media_type="application/json")
        moves = [ledger.validate_change(conn, change, i) for i, change in enumerate(changes)]
        counts = ledger.apply(conn, moves)
        body = _encoder.encode(square.InventoryCountsResponse(errors=[], counts=counts))
        remember(conn, "inventory/changes/batch-create", req.idempotency_key, digest, body)
    ledger.notify_counts(state, counts)
    return Response(content=body, media_type="application/json")


# --- orders --------------------------------------------------------------------------------------------------


@post("/orders", summary="CreateOrder (line items, PICKUP fulfillments, returns)", status_code=200)
async def create_order(request: Request[Any, Any, Any]) -> Response[bytes]:
    conn = request.app.state.db
    req = decode(await request.body(), square.CreateOrderRequest)
    if req.idempotency_key is not None:
        _check_idempotency_key(req.idempotency_key)
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
async def retrieve_order(request: Request[Any, Any, Any], order_id: FromPath[str]) -> Response[bytes]:
    order = orders.load(request.app.state.db, order_id)
    if order is None:
        raise square.not_found(f"Order `{order_id}` not found", field="order_id")
    return _json(square.OrderResponse(order))


ROUTER = Router(
    path="/v2",
    route_handlers=[list_locations, search_catalog, batch_retrieve_counts, batch_change_inventory, create_order,
                    retrieve_order],
    guards=[bearer_guard],
    exception_handlers={square.SquareError: _on_square_error, HTTPException: _on_http_exception},
    tags=["square"],
)
