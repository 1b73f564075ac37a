"""The slice of Odoo's ORM that the sandbox ERP serves: models, domains, search/read, create and actions.

Each model is declared once (fields, their columns, which methods it answers) and one generic search/read
serves all of them, so the sandbox behaves alike across models as Odoo does: many2one fields read as
``[id, display_name]``, empty values as ``false``, one2many fields as id lists, ``active`` records only unless
the context says ``active_test: false``. Failures are :class:`OdooError` carrying the status and exception name
that Odoo's JSON-2 endpoint would answer with.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.sandbox.common.db import Transaction
from services.sandbox.erp.seed import odoo_now

FieldKind = Literal["int", "float", "str", "bool", "m2o", "o2m", "datetime"]


class OdooError(Exception):
    """A failure Odoo reports as a JSON error object (``name`` is the fully qualified exception class)."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


def value_error(message: str) -> OdooError:
    # Odoo lets ValueError (bad domain field, bad leaf, invalid field in vals) escape as a 500.
    return OdooError(500, "builtins.ValueError", message)


def user_error(message: str) -> OdooError:
    return OdooError(422, "odoo.exceptions.UserError", message)


def unprocessable(message: str) -> OdooError:
    return OdooError(422, "werkzeug.exceptions.UnprocessableEntity", message)


@dataclass(frozen=True, slots=True)
class Field:
    kind: FieldKind
    relation: str | None = None  # target table of a many2one / one2many
    inverse: str | None = None  # one2many: the child's many2one column
    display: str = "name"  # many2one: the target column shown as display name
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    table: str
    fields: Mapping[str, Field]
    methods: frozenset[str]
    creatable: frozenset[str] = frozenset()  # fields accepted in ``create`` vals

    @property
    def has_active(self) -> bool:
        return "active" in self.fields


READ_METHODS = frozenset({"search_read", "search", "read", "search_count"})
_ID = Field("int", readonly=True)

MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model(
            "product.product",
            "product_product",
            {
                "id": _ID,
                "default_code": Field("str"),
                "name": Field("str"),
                "barcode": Field("str"),
                "list_price": Field("float"),
                "categ_id": Field("m2o", "product_category"),
                "currency_id": Field("m2o", "res_currency"),
                "active": Field("bool"),
                "weight": Field("float"),
                "write_date": Field("datetime", readonly=True),
            },
            READ_METHODS,
        ),
        Model(
            "stock.warehouse",
            "stock_warehouse",
            {"id": _ID, "code": Field("str"), "name": Field("str")},
            frozenset({"search_read", "search", "read"}),
        ),
        Model(
            "stock.quant",
            "stock_quant",
            {
                "id": _ID,
                "product_id": Field("m2o", "product_product"),
                "location_id": Field("m2o", "stock_location"),
                "warehouse_id": Field("m2o", "stock_warehouse", display="code"),
                "quantity": Field("float"),
                "reserved_quantity": Field("float"),
                "write_date": Field("datetime", readonly=True),
            },
            frozenset({"search_read", "search", "read", "search_count"}),
        ),
        Model(
            "res.partner",
            "res_partner",
            {
                "id": _ID,
                "name": Field("str"),
                "ref": Field("str"),
                "email": Field("str"),
                "is_company": Field("bool"),
                "active": Field("bool"),
                "write_date": Field("datetime", readonly=True),
            },
            frozenset({"search_read", "search", "read", "create"}),
            frozenset({"name", "ref", "email", "is_company"}),
        ),
        Model(
            "sale.order",
            "sale_order",
            {
                "id": _ID,
                "name": Field("str", readonly=True),
                "client_order_ref": Field("str"),
                "partner_id": Field("m2o", "res_partner"),
                "state": Field("str", readonly=True),
                "currency_id": Field("m2o", "res_currency", readonly=True),
                "note": Field("str"),
                "amount_untaxed": Field("float", readonly=True),
                "amount_total": Field("float", readonly=True),
                "order_line": Field("o2m", "sale_order_line", inverse="order_id"),
                "date_order": Field("datetime", readonly=True),
                "create_date": Field("datetime", readonly=True),
                "write_date": Field("datetime", readonly=True),
            },
            frozenset({"search_read", "search", "read", "search_count", "create", "action_confirm", "action_cancel"}),
            frozenset({"client_order_ref", "partner_id", "note", "order_line"}),
        ),
        Model(
            "sale.order.line",
            "sale_order_line",
            {
                "id": _ID,
                "order_id": Field("m2o", "sale_order"),
                "product_id": Field("m2o", "product_product"),
                "name": Field("str"),
                "product_uom_qty": Field("float"),
                "price_unit": Field("float"),
                "price_subtotal": Field("float", readonly=True),
            },
            frozenset({"search_read", "search", "read"}),
            frozenset({"product_id", "name", "product_uom_qty", "price_unit"}),
        ),
        Model(
            "account.move",
            "account_move",
            {
                "id": _ID,
                "name": Field("str", readonly=True),
                "move_type": Field("str"),
                "ref": Field("str"),
                "invoice_origin": Field("str"),
                "partner_id": Field("m2o", "res_partner"),
                "state": Field("str", readonly=True),
                "currency_id": Field("m2o", "res_currency", readonly=True),
                "amount_total": Field("float", readonly=True),
                "invoice_line_ids": Field("o2m", "account_move_line", inverse="move_id"),
                "create_date": Field("datetime", readonly=True),
                "write_date": Field("datetime", readonly=True),
            },
            frozenset({"search_read", "search", "read", "search_count", "create", "action_post"}),
            frozenset({"move_type", "ref", "invoice_origin", "partner_id", "invoice_line_ids"}),
        ),
        Model(
            "account.move.line",
            "account_move_line",
            {
                "id": _ID,
                "move_id": Field("m2o", "account_move"),
                "product_id": Field("m2o", "product_product"),
                "name": Field("str"),
                "quantity": Field("float"),
                "price_unit": Field("float"),
                "price_subtotal": Field("float", readonly=True),
            },
            frozenset({"search_read", "search", "read"}),
            frozenset({"product_id", "name", "quantity", "price_unit"}),
        ),
    )
}

# --- domains -----------------------------------------------------------------------------------------------

_COMPARISONS = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
# A SQL function: lower-case for every script (SQLite's lower() folds ASCII only).
LOWER = "odoo_lower"


def _lower(value: object) -> str | None:
    # PostgreSQL compares a non-text column by its text (Odoo casts the column ``::text`` for like operators).
    return None if value is None else str(value).lower()


def prepare(conn: sqlite3.Connection) -> None:
    """Register the SQL functions the compiled domains call, once per connection (SQLite refuses to redefine a
    function while a statement is running)."""
    conn.create_function(LOWER, 1, _lower, deterministic=True)


_LOGIC = {"&", "|", "!"}


@dataclass(slots=True)
class _Sql:
    text: str
    params: list[Any] = field(default_factory=list)


def _scalar(f: Field, value: Any, leaf: Sequence[Any]) -> Any:
    if f.kind == "m2o" and isinstance(value, list) and value and isinstance(value[0], int):
        return value[0]
    if f.kind == "bool":
        return 1 if value else 0
    if isinstance(value, (list, dict)):
        raise value_error(f"Invalid value {value!r} in domain term {list(leaf)!r}")
    return value


def _leaf_field(model: Model, leaf: Sequence[Any]) -> Field:
    """The field a leaf ``[name, operator, value]`` compares, once its shape, field and operator type pass."""
    if not (isinstance(leaf, (list, tuple)) and len(leaf) == 3 and isinstance(leaf[0], str)):
        raise value_error(f"Invalid leaf {leaf!r}")
    name, op, _ = leaf
    f = model.fields.get(name)
    if f is None or f.kind == "o2m":
        raise value_error(f"Invalid field {model.name}.{name} in leaf {list(leaf)!r}")
    if not isinstance(op, str):
        raise value_error(f"Invalid operator {op!r} in leaf {list(leaf)!r}")
    return f


def _in(f: Field, col: str, op: str, value: object, leaf: Sequence[Any]) -> _Sql:
    """``in`` / ``not in``: a single value is a one-item list, and ``false`` / ``None`` in the list match NULL."""
    if not isinstance(value, (list, tuple)):
        value = [value]
    values = [_scalar(f, v, leaf) for v in value if v is not False and v is not None]
    has_null = len(values) != len(value)
    parts = [f"{col} IN ({', '.join('?' * len(values))})"] if values else []
    if has_null:
        parts.append(f"{col} IS NULL")
    if op == "in":
        return _Sql("(" + " OR ".join(parts) + ")" if parts else "0", values)
    return _Sql("NOT (" + " OR ".join(parts) + ")" if parts else "1", values)


def _ilike(f: Field, col: str, op: str, value: object) -> _Sql:
    """``ilike`` / ``not ilike`` (substring) and ``=ilike`` (whole pattern); a many2one matches its display.

    As Odoo on PostgreSQL does: the value is wrapped in ``%...%`` unescaped (``%`` and ``_`` in it stay
    wildcards), a backslash escapes the next character (PostgreSQL's default ``ESCAPE``), a pattern may not end
    in a lone backslash, and case is ignored for every script, not only ASCII (SQLite's own LIKE folds ASCII
    only, so both sides are lower-cased first, as PostgreSQL's ILIKE does for multibyte text)."""
    if not isinstance(value, str):
        raise value_error(f"Invalid value {value!r} for operator {op!r}")
    pattern = value if op == "=ilike" else f"%{value}%"
    if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
        # psycopg2.errors.InvalidEscapeSequence, which Odoo lets escape as a server error.
        raise OdooError(500, "psycopg2.errors.InvalidEscapeSequence", "LIKE pattern must not end with escape character")
    match = f"{LOWER}(?) ESCAPE '\\'"
    if f.kind == "m2o":
        target = f.relation
        sql = f'{col} IN (SELECT id FROM {target} WHERE {LOWER}("{f.display}") LIKE {match})'
    else:
        sql = f"{LOWER}(COALESCE({col}, '')) LIKE {match}"
    return _Sql(f"NOT ({sql})" if op == "not ilike" else sql, [pattern])


def _leaf(model: Model, leaf: Sequence[Any]) -> _Sql:
    f = _leaf_field(model, leaf)
    name, op, value = leaf
    col = f'"{name}"'
    op = op.lower()
    if op in ("=", "!=") and (value is False or value is None) and f.kind != "bool":
        return _Sql(f"{col} IS NULL" if op == "=" else f"{col} IS NOT NULL")
    if op in _COMPARISONS:
        return _Sql(f"{col} {_COMPARISONS[op]} ?", [_scalar(f, value, leaf)])
    if op in ("in", "not in"):
        return _in(f, col, op, value, leaf)
    if op in ("ilike", "not ilike", "=ilike"):
        return _ilike(f, col, op, value)
    raise value_error(f"Invalid operator {op!r} in leaf {list(leaf)!r}")


def compile_domain(model: Model, domain: Any, context: Mapping[str, Any]) -> _Sql:
    """Odoo's prefix-notation domain to a SQL WHERE clause (implicit AND between top-level terms)."""
    if not isinstance(domain, list):
        raise value_error(f"Invalid domain {domain!r}")
    stack: list[_Sql] = []
    for term in reversed(domain):
        if isinstance(term, str) and term in _LOGIC:
            if term == "!":
                if not stack:
                    raise value_error("Invalid domain: '!' without operand")
                a = stack.pop()
                stack.append(_Sql(f"NOT ({a.text})", a.params))
            else:
                if len(stack) < 2:
                    raise value_error(f"Invalid domain: {term!r} needs two operands")
                a, b = stack.pop(), stack.pop()
                joiner = " AND " if term == "&" else " OR "
                stack.append(_Sql(f"({a.text}{joiner}{b.text})", a.params + b.params))
        else:
            stack.append(_leaf(model, term))
    mentions_active = any(isinstance(t, (list, tuple)) and t and t[0] == "active" for t in domain)
    if model.has_active and not mentions_active and context.get("active_test", True) is not False:
        stack.append(_Sql('"active" = 1'))
    if not stack:
        return _Sql("1")
    return _Sql(" AND ".join(f"({s.text})" for s in stack), [p for s in stack for p in s.params])


def _order_by(model: Model, order: Any) -> str:
    if order is None or order == "":
        return '"id" ASC'
    if not isinstance(order, str):
        raise value_error(f"Invalid order {order!r}")
    parts = []
    for chunk in order.split(","):
        words = chunk.split()
        if not words or len(words) > 2:
            raise value_error(f"Invalid order {order!r}")
        name = words[0]
        direction = words[1].upper() if len(words) == 2 else "ASC"
        f = model.fields.get(name)
        if f is None or f.kind == "o2m" or direction not in ("ASC", "DESC"):
            raise value_error(f"Invalid order {order!r} for model {model.name}")
        parts.append(f'"{name}" {direction}')
    return ", ".join(parts)


def _int(value: Any, what: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise value_error(f"Invalid {what} {value!r}")
    return value


# --- search and read ---------------------------------------------------------------------------------------


def search(
    conn: sqlite3.Connection,
    model: Model,
    domain: Any,
    *,
    offset: Any = 0,
    limit: Any = None,
    order: Any = None,
    context: Mapping[str, Any],
) -> list[int]:
    where = compile_domain(model, domain, context)
    sql = f"SELECT id FROM {model.table} WHERE {where.text} ORDER BY {_order_by(model, order)}"
    lim = _int(limit, "limit", allow_none=True)
    off = _int(offset or 0, "offset")
    sql += f" LIMIT {lim if lim is not None else -1} OFFSET {off}"
    return [row[0] for row in conn.execute(sql, where.params)]


def search_count(conn: sqlite3.Connection, model: Model, domain: Any, *, limit: Any, context: Mapping[str, Any]) -> int:
    where = compile_domain(model, domain, context)
    count = conn.execute(f"SELECT count(*) FROM {model.table} WHERE {where.text}", where.params).fetchone()[0]
    lim = _int(limit, "limit", allow_none=True)
    return min(count, lim) if lim is not None else int(count)


def _field_names(model: Model, fields: Any) -> list[str]:
    if fields is None or fields == []:
        return list(model.fields)
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise value_error(f"Invalid fields {fields!r}")
    unknown = [f for f in fields if f not in model.fields]
    if unknown:
        raise value_error(f"Invalid field {unknown[0]!r} on model {model.name!r}")
    return ["id", *[f for f in fields if f != "id"]]


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


def _stored_rows(
    conn: sqlite3.Connection, model: Model, names: Sequence[str], ids: Sequence[int]
) -> dict[int, sqlite3.Row]:
    """The stored columns of ``names`` for each of ``ids``, by id; Odoo's MissingError names the first absent id."""
    stored = [n for n in names if model.fields[n].kind != "o2m"]
    rows = conn.execute(
        f"SELECT {', '.join(chr(34) + n + chr(34) for n in stored)} FROM {model.table} "
        f"WHERE id IN ({_placeholders(len(ids))})",
        list(ids),
    ).fetchall()
    by_id = {row["id"]: row for row in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise OdooError(
            404,
            "odoo.exceptions.MissingError",
            f"Record does not exist or has been deleted.\n(Record: {model.name}({missing[0]},))",
        )
    return by_id


def _display_names(conn: sqlite3.Connection, f: Field, rows: Iterable[sqlite3.Row], name: str) -> dict[int, Any]:
    """A many2one column's display names (the target's ``display`` column), by target id."""
    targets = sorted({row[name] for row in rows if row[name] is not None})
    if not targets:
        return {}
    return dict(
        conn.execute(
            f'SELECT id, "{f.display}" FROM {f.relation} WHERE id IN ({_placeholders(len(targets))})',
            targets,
        ).fetchall()
    )


def _child_ids(conn: sqlite3.Connection, f: Field, ids: Sequence[int]) -> dict[int, list[int]]:
    """A one2many field's child ids (ascending) for each parent id, empty lists included."""
    grouped: dict[int, list[int]] = {i: [] for i in ids}
    for child_id, parent in conn.execute(
        f"SELECT id, {f.inverse} FROM {f.relation} WHERE {f.inverse} IN ({_placeholders(len(ids))}) ORDER BY id",
        list(ids),
    ):
        grouped[parent].append(child_id)
    return grouped


def _record(
    model: Model,
    names: Sequence[str],
    row: sqlite3.Row,
    displays: Mapping[str, Mapping[int, Any]],
    children: Mapping[str, Mapping[int, list[int]]],
) -> dict[str, Any]:
    """One record as Odoo reads it: many2one as ``[id, display_name]``, one2many as ids, empty as ``false``."""
    record: dict[str, Any] = {}
    for n in names:
        f = model.fields[n]
        if f.kind == "o2m":
            record[n] = children[n][row["id"]]
            continue
        value = row[n]
        if f.kind == "m2o":
            record[n] = [value, displays[n].get(value, False)] if value is not None else False
        elif f.kind == "bool":
            record[n] = bool(value)
        elif value is None:
            record[n] = False
        else:
            record[n] = value
    return record


def read(conn: sqlite3.Connection, model: Model, ids: Sequence[int], fields: Any) -> list[dict[str, Any]]:
    names = _field_names(model, fields)
    if not ids:
        return []
    by_id = _stored_rows(conn, model, names, ids)
    displays: dict[str, dict[int, Any]] = {}
    children: dict[str, dict[int, list[int]]] = {}
    for n in names:
        f = model.fields[n]
        if f.kind == "m2o":
            displays[n] = _display_names(conn, f, by_id.values(), n)
        elif f.kind == "o2m":
            children[n] = _child_ids(conn, f, ids)
    return [_record(model, names, by_id[i], displays, children) for i in ids]


# --- create and actions ------------------------------------------------------------------------------------


def _check_vals(model: Model, vals: Any) -> dict[str, Any]:
    if not isinstance(vals, dict):
        raise value_error(f"Invalid values for {model.name}: {vals!r}")
    for name in vals:
        if name not in model.fields:
            raise value_error(f"Invalid field {name!r} in {model.name!r}")
        if name not in model.creatable:
            raise value_error(f"Field {name!r} of {model.name!r} cannot be set on create in this sandbox")
    return vals


def _typed(model: Model, name: str, value: Any) -> Any:
    f = model.fields[name]
    if f.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise value_error(f"Invalid value {value!r} for {model.name}.{name}")
        return float(value)
    if f.kind == "m2o":
        if value is False or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise value_error(f"Invalid value {value!r} for {model.name}.{name}")
        return value
    if f.kind == "bool":
        return 1 if value else 0
    if f.kind == "str":
        if value is False or value is None:
            return None
        if not isinstance(value, str):
            raise value_error(f"Invalid value {value!r} for {model.name}.{name}")
        return value
    return value


def _exists(conn: sqlite3.Connection, table: str, record_id: int | None, what: str) -> None:
    if record_id is None or conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (record_id,)).fetchone() is None:
        # Odoo's psycopg2 foreign-key violation surfaces as a ValidationError with this wording.
        raise OdooError(
            422,
            "odoo.exceptions.ValidationError",
            f"The operation cannot be completed: {what} {record_id!r} does not exist.",
        )


def _insert(conn: sqlite3.Connection, table: str, values: Mapping[str, Any]) -> int:
    cols = list(values)
    cur = conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({_placeholders(len(cols))})", [values[c] for c in cols]
    )
    return int(cur.lastrowid or 0)


def _commands(model: Model, name: str, value: Any) -> list[dict[str, Any]]:
    """x2many commands on create: only ``(0, 0, vals)`` (create a line) is part of this subset."""
    if not isinstance(value, list):
        raise value_error(f"Invalid value {value!r} for {model.name}.{name}: expected a list of commands")
    lines = []
    for command in value:
        if not (isinstance(command, list) and len(command) == 3 and command[0] == 0 and isinstance(command[2], dict)):
            raise value_error(f"Unsupported x2many command {command!r} for {model.name}.{name}")
        lines.append(command[2])
    return lines


def _product_name(conn: sqlite3.Connection, product_id: int) -> str:
    row = conn.execute("SELECT default_code, name FROM product_product WHERE id = ?", (product_id,)).fetchone()
    return f"[{row[0]}] {row[1]}" if row[0] else str(row[1])


def _line_values(conn: sqlite3.Connection, line_model: Model, vals: Any, qty_field: str) -> dict[str, Any]:
    vals = _check_vals(line_model, vals)
    product_id = _typed(line_model, "product_id", vals.get("product_id"))
    _exists(conn, "product_product", product_id, "product")
    qty = _typed(line_model, qty_field, vals.get(qty_field, 1.0))
    if "price_unit" in vals:
        price = _typed(line_model, "price_unit", vals["price_unit"])
    else:
        price = conn.execute("SELECT list_price FROM product_product WHERE id = ?", (product_id,)).fetchone()[0]
    name = _typed(line_model, "name", vals.get("name")) or _product_name(conn, product_id)
    return {
        "product_id": product_id,
        "name": name,
        qty_field: qty,
        "price_unit": price,
        "price_subtotal": round(qty * price, 2),
    }


def create(conn: sqlite3.Connection, model: Model, vals_list: Any) -> list[int]:
    records = vals_list if isinstance(vals_list, list) else [vals_list]
    creator = _CREATORS[model.name]
    with Transaction(conn):
        return [creator(conn, model, _check_vals(model, vals)) for vals in records]


def _create_partner(conn: sqlite3.Connection, model: Model, vals: dict[str, Any]) -> int:
    name = _typed(model, "name", vals.get("name"))
    if not name:
        raise OdooError(422, "odoo.exceptions.ValidationError", "Contacts require a name")
    return _insert(
        conn,
        "res_partner",
        {
            "name": name,
            "ref": _typed(model, "ref", vals.get("ref")),
            "email": _typed(model, "email", vals.get("email")),
            "is_company": _typed(model, "is_company", vals.get("is_company", False)),
            "active": 1,
            "write_date": odoo_now(),
        },
    )


def _create_sale_order(conn: sqlite3.Connection, model: Model, vals: dict[str, Any]) -> int:
    partner_id = _typed(model, "partner_id", vals.get("partner_id"))
    _exists(conn, "res_partner", partner_id, "customer")
    lines = [
        _line_values(conn, MODELS["sale.order.line"], v, "product_uom_qty")
        for v in _commands(model, "order_line", vals.get("order_line", []))
    ]
    now = odoo_now()
    total = round(sum(line["price_subtotal"] for line in lines), 2)
    order_id = _insert(
        conn,
        "sale_order",
        {
            "name": "/",
            "client_order_ref": _typed(model, "client_order_ref", vals.get("client_order_ref")),
            "partner_id": partner_id,
            "state": "draft",
            "currency_id": 1,
            "note": _typed(model, "note", vals.get("note")),
            "amount_untaxed": total,
            "amount_total": total,
            "date_order": now,
            "create_date": now,
            "write_date": now,
        },
    )
    conn.execute("UPDATE sale_order SET name = ? WHERE id = ?", (f"S{order_id:05d}", order_id))
    for line in lines:
        _insert(conn, "sale_order_line", {"order_id": order_id, **line})
    return order_id


def _create_move(conn: sqlite3.Connection, model: Model, vals: dict[str, Any]) -> int:
    move_type = _typed(model, "move_type", vals.get("move_type", "entry"))
    if move_type not in ("entry", "out_invoice", "out_refund", "in_invoice", "in_refund"):
        raise value_error(f"Wrong value for account.move.move_type: {move_type!r}")
    partner_id = _typed(model, "partner_id", vals.get("partner_id"))
    if partner_id is not None:
        _exists(conn, "res_partner", partner_id, "customer")
    lines = [
        _line_values(conn, MODELS["account.move.line"], v, "quantity")
        for v in _commands(model, "invoice_line_ids", vals.get("invoice_line_ids", []))
    ]
    now = odoo_now()
    move_id = _insert(
        conn,
        "account_move",
        {
            "name": "/",
            "move_type": move_type,
            "ref": _typed(model, "ref", vals.get("ref")),
            "invoice_origin": _typed(model, "invoice_origin", vals.get("invoice_origin")),
            "partner_id": partner_id,
            "state": "draft",
            "currency_id": 1,
            "amount_total": round(sum(x["price_subtotal"] for x in lines), 2),
            "create_date": now,
            "write_date": now,
        },
    )
    for line in lines:
        _insert(conn, "account_move_line", {"move_id": move_id, **line})
    return move_id


_CREATORS: dict[str, Callable[[sqlite3.Connection, Model, dict[str, Any]], int]] = {
    "res.partner": _create_partner,
    "sale.order": _create_sale_order,
    "account.move": _create_move,
}


def _states(conn: sqlite3.Connection, model: Model, ids: Iterable[int]) -> dict[int, str]:
    ids = list(ids)
    rows = conn.execute(f"SELECT id, state FROM {model.table} WHERE id IN ({_placeholders(len(ids))})", ids).fetchall()
    found = {r[0]: r[1] for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise OdooError(
            404,
            "odoo.exceptions.MissingError",
            f"Record does not exist or has been deleted.\n(Record: {model.name}({missing[0]},))",
        )
    return found


def action(conn: sqlite3.Connection, model: Model, method: str, ids: list[int]) -> bool:
    """``action_confirm`` / ``action_cancel`` on sale.order, ``action_post`` on account.move (Odoo's rules)."""
    with Transaction(conn):
        states = _states(conn, model, ids)
        now = odoo_now()
        if method == "action_confirm":
            if any(s not in ("draft", "sent") for s in states.values()):
                raise user_error("Some orders are not in a state requiring confirmation.")
            conn.execute(
                f"UPDATE sale_order SET state = 'sale', write_date = ? WHERE id IN ({_placeholders(len(ids))})",
                [now, *ids],
            )
            return True
        if method == "action_cancel":
            conn.execute(
                f"UPDATE sale_order SET state = 'cancel', write_date = ? WHERE id IN ({_placeholders(len(ids))})",
                [now, *ids],
            )
            return True
        if method == "action_post":
            for move_id, state in states.items():
                if state != "draft":
                    raise user_error("The entry is already posted or cancelled; only draft entries can be posted.")
                row = conn.execute("SELECT move_type FROM account_move WHERE id = ?", (move_id,)).fetchone()
                prefix = {"out_refund": "RINV", "out_invoice": "INV"}.get(row[0], "MISC")
                year = datetime.now(UTC).year
                seq = (
                    conn.execute(
                        "SELECT count(*) FROM account_move WHERE state = 'posted' AND name LIKE ?",
                        (f"{prefix}/{year}/%",),
                    ).fetchone()[0]
                    + 1
                )
                conn.execute(
                    "UPDATE account_move SET state = 'posted', name = ?, write_date = ? WHERE id = ?",
                    (f"{prefix}/{year}/{seq:05d}", now, move_id),
                )
            # Odoo's action_post returns False so that the web client does not try to open a record.
            return False
    raise AssertionError(f"no action {method}")
