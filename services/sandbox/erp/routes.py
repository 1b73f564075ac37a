"""Odoo's external JSON-2 API (``POST /json/2/<model>/<method>``), the subset Omnigate's ERP connector uses.

The request body is the method's keyword arguments (plus ``ids`` for record methods and ``context``); the
response body is the method's return value. Errors are Odoo's JSON error object
``{name, message, arguments, context, debug}`` with the statuses Odoo's own tests assert (401 + ``WWW-Authenticate:
bearer``, 400 bad body, 404 unknown model or method, 422 missing/unexpected argument, 500 bad domain field), so
the connector is written against the behaviour it will meet in production.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from services.sandbox.common.errors import VendorError
from services.sandbox.erp import orm
from services.sandbox.erp.deps import ErpSandbox
from services.sandbox.erp.orm import OdooError
from services.sandbox.erp.settings import SandboxErpSettings

JSON = "application/json; charset=utf-8"

# method -> (is a record method taking ``ids``, accepted keyword arguments, required keyword arguments)
SIGNATURES: dict[str, tuple[bool, frozenset[str], frozenset[str]]] = {
    "search_read": (False, frozenset({"domain", "fields", "offset", "limit", "order"}), frozenset()),
    "search": (False, frozenset({"domain", "offset", "limit", "order"}), frozenset({"domain"})),
    "search_count": (False, frozenset({"domain", "limit"}), frozenset({"domain"})),
    "read": (True, frozenset({"fields", "load"}), frozenset()),
    "create": (False, frozenset({"vals_list"}), frozenset({"vals_list"})),
    "action_confirm": (True, frozenset(), frozenset()),
    "action_cancel": (True, frozenset(), frozenset()),
    "action_post": (True, frozenset(), frozenset()),
}


def error_document(status: int, name: str, message: str) -> bytes:
    """Odoo's JSON-2 error object (external_api.rst, "API > Response"): exactly name, message, arguments, context
    and debug."""
    body = {
        "name": name,
        "message": message,
        "arguments": [message, status],
        "context": {},
        # Odoo puts the server traceback here; the sandbox has none to give, so it names the exception.
        "debug": f"{name}: {message}\n",
    }
    return msgspec.json.encode(body)


def error_response(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=error_document(status, name, message), status_code=status, media_type=JSON, headers=headers or {}
    )


# The werkzeug exception Odoo raises for each status the framework or the fault injector answers with.
_EXCEPTIONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "UnprocessableEntity",
    500: "InternalServerError",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def render_error(error: VendorError) -> tuple[bytes, str]:
    """Odoo's error object for every error the framework (no such route, wrong method, a body too large) or the
    fault injector raises, named by the werkzeug exception Odoo raises for that status."""
    name = f"werkzeug.exceptions.{_EXCEPTIONS.get(error.status, 'HTTPException')}"
    return error_document(error.status, name, error.message), JSON


def _authorised(request: Request[Any, Any, Any], settings: SandboxErpSettings) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    expected = settings.erp_api_key
    return (
        bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), expected.encode())
    )


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return value
    raise orm.value_error(f"Invalid ids {value!r}")


def _method(model_name: str, method: str) -> orm.Model:
    """The model, if it exists and answers ``method`` (else Odoo's 404 NotFound)."""
    model = orm.MODELS.get(model_name)
    if model is None:
        raise OdooError(404, "werkzeug.exceptions.NotFound", f"the model {model_name!r} does not exist")
    if method not in model.methods or method not in SIGNATURES:
        raise OdooError(404, "werkzeug.exceptions.NotFound", f"the method {model_name}.{method} does not exist")
    return model


def _arguments(model_name: str, method: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """Pop ``context`` and ``ids`` off the body and check the rest against the method's signature."""
    is_record_method, accepted, required = SIGNATURES[method]
    context = kwargs.pop("context", None) or {}
    if not isinstance(context, dict):
        raise orm.value_error(f"Invalid context {context!r}")
    ids = _ids(kwargs.pop("ids", None)) if is_record_method else None
    if not is_record_method and "ids" in kwargs:
        raise orm.unprocessable(f"cannot call {model_name}.{method} with ids")
    unexpected = sorted(set(kwargs) - accepted)
    if unexpected:
        raise orm.unprocessable(f"{method}() got an unexpected keyword argument {unexpected[0]!r}")
    missing = sorted(required - set(kwargs))
    if missing:
        raise orm.unprocessable(f"{method}() missing 1 required positional argument: {missing[0]!r}")
    return context, ids or []


def _search(
    conn: sqlite3.Connection, model: orm.Model, domain: object, kwargs: dict[str, Any], context: dict[str, Any]
) -> list[int]:
    offset, limit, order = kwargs.get("offset", 0), kwargs.get("limit"), kwargs.get("order")
    return orm.search(conn, model, domain, offset=offset, limit=limit, order=order, context=context)


_Call = Callable[[sqlite3.Connection, orm.Model, dict[str, Any], dict[str, Any], list[int]], object]
# The read methods by name; any other method that passed _method is one of orm.action's.
_CALLS: dict[str, _Call] = {
    "search_read": lambda conn, model, kw, ctx, ids: orm.read(
        conn, model, _search(conn, model, kw.get("domain") or [], kw, ctx), kw.get("fields")
    ),
    "search": lambda conn, model, kw, ctx, ids: _search(conn, model, kw["domain"], kw, ctx),
    "search_count": lambda conn, model, kw, ctx, ids: orm.search_count(
        conn, model, kw["domain"], limit=kw.get("limit"), context=ctx
    ),
    "read": lambda conn, model, kw, ctx, ids: orm.read(conn, model, ids, kw.get("fields")),
    "create": lambda conn, model, kw, ctx, ids: orm.create(conn, model, kw["vals_list"]),
}


def dispatch(conn: sqlite3.Connection, model_name: str, method: str, kwargs: dict[str, Any]) -> Any:
    model = _method(model_name, method)
    context, ids = _arguments(model_name, method, kwargs)
    call = _CALLS.get(method)
    if call is None:
        return orm.action(conn, model, method, ids)
    return call(conn, model, kwargs, context, ids)


@post(
    "/json/2/{model:str}/{method:str}",
    status_code=200,
    tags=["odoo"],
    summary="Call a model method (Odoo external JSON-2 API)",
)
async def json2(
    request: Request[Any, Any, Any], model: FromPath[str], method: FromPath[str], sandbox: NamedDependency[ErpSandbox]
) -> Response[bytes]:
    """Authenticate with the bearer API key, then call ``model.method(**body)`` and answer its return value."""
    settings = sandbox.settings
    if not _authorised(request, settings):
        return error_response(401, "werkzeug.exceptions.Unauthorized", "Invalid apikey", {"WWW-Authenticate": "bearer"})
    database = request.headers.get("x-odoo-database")
    if database is not None and database != settings.erp_database:
        return error_response(404, "werkzeug.exceptions.NotFound", f"database {database!r} not found")
    raw = await request.body()
    try:
        kwargs = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError as exc:
        return error_response(400, "werkzeug.exceptions.BadRequest", f"could not parse the body as json: {exc}")
    if not isinstance(kwargs, dict):
        return error_response(400, "werkzeug.exceptions.BadRequest", "the body must be a json object")
    try:
        result = dispatch(sandbox.db, model, method, kwargs)
    except OdooError as exc:
        return error_response(exc.status, exc.name, exc.message)
    return Response(content=msgspec.json.encode(result), status_code=200, media_type=JSON)
