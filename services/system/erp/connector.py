"""Odoo's external JSON-2 API on one side, Omnigate's canonical model on the other.

Every call is ``POST /json/2/<model>/<method>`` with the bearer API key. Read methods are idempotent, so they
opt into the hop client's retries; writes (and every call made on the way to a write) are sent once, because
the caller's saga retries the whole operation and a half-retried write path could double a document.

Odoo enforces no uniqueness on ``sale.order.client_order_ref``, ``account.move.ref`` or ``res.partner.ref``, so
creating a document for our ref is search-then-create under the kernel's per-ref lock (``shared.locks``): two
replicas, or ten concurrent retries, make one. A create whose answer is lost (a timeout, a reset, a 5xx) may
still commit in Odoo, so its lock stays held until ``upstream_commit_limit_s`` has passed (Odoo's own request
limit): the next search then sees whatever that create did, and never creates a second document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import msgspec
from redis.asyncio import Redis

from services.system.erp import mapping
from services.system.erp.mapping import (
    MOVE_FIELDS,
    PRODUCT_FIELDS,
    QUANT_FIELDS,
    SALE_LINE_FIELDS,
    SALE_ORDER_FIELDS,
    OdooMove,
    OdooPartner,
    OdooProduct,
    OdooQuant,
    OdooRecord,
    OdooSaleOrder,
    OdooSaleOrderLine,
    OdooWarehouse,
)
from services.system.erp.settings import ErpSettings
from shared.http import Upstream, UpstreamResponse
from shared.idmap import IdMap, chunks
from shared.locks import Lock, Locks
from shared.models.catalog import Item, Price
from shared.models.common import Page
from shared.models.inventory import StockPosition
from shared.models.orders import SalesOrder, SalesOrderLine, SalesOrderRequest
from shared.models.returns import CreditMemo, CreditMemoRequest
from shared.problems import ProblemError, not_found

log = logging.getLogger("omnigate.system.erp")

UPSTREAM = "erp"
# Used only when Odoo omits a currency_id (it never does for the records we read); the sandbox sells in EUR.
DEFAULT_CURRENCY = "EUR"
MAP_PAGE = 1000
ALL_RECORDS = {"active_test": False}
R = TypeVar("R", bound=OdooRecord)
K = TypeVar("K")
V = TypeVar("V")
MEMO_TTL_S = 30.0
MEMO_MAX = 100_000


class Memo(Generic[K, V]):
    """A worker's short-lived copy of id-map entries it has already resolved. Redis stays the shared map;
    this only spares the order path a Redis round trip per lookup (three per order). An entry lives
    ``MEMO_TTL_S``, so a map changed in Redis reaches every worker within that time."""

    def __init__(self) -> None:
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def put_many(self, pairs: Mapping[K, V]) -> None:
        if len(self._entries) + len(pairs) > MEMO_MAX:
            self._entries.clear()
        until = time.monotonic() + MEMO_TTL_S
        self._entries.update({k: (v, until) for k, v in pairs.items()})


class OdooErrorBody(msgspec.Struct):
    """Odoo's JSON-2 error object; only what we log and relay is declared."""

    name: str = ""
    message: str = ""


class OdooConnector:
    def __init__(self, upstream: Upstream, redis: Redis, settings: ErpSettings) -> None:
        self.upstream = upstream
        self.redis = redis
        self.settings = settings
        self.prefix = settings.key_prefix
        self.products = IdMap(redis, prefix=self.prefix, system=UPSTREAM, kind="product")
        self.warehouses = IdMap(redis, prefix=self.prefix, system=UPSTREAM, kind="warehouse")
        self.partners = IdMap(redis, prefix=self.prefix, system=UPSTREAM, kind="partner")
        self.product_of: Memo[str, int] = Memo()  # sku -> product id
        self.sku_of: Memo[int, str] = Memo()  # product id -> sku
        self.partner_of: Memo[str, int] = Memo()  # our customer id -> partner id
        self.headers = {"Authorization": f"bearer {settings.erp_api_key}"}
        if settings.erp_database:
            self.headers["X-Odoo-Database"] = settings.erp_database
        self.locks = Locks(redis, prefix=self.prefix)
        # A lock outlives its holder by the ERP's commit limit (a holder that dies mid-create leaves a create
        # that may still commit); a second request for the same ref waits a third of a hop timeout (well within
        # its caller's patience), then hears 409 with Retry-After.
        self.lock_ttl_s = settings.upstream_commit_limit_s
        self.lock_wait_s = settings.http_timeout_s / 3

    # --- protocol ----------------------------------------------------------------------------------------

    async def call(self, model: str, method: str, kwargs: dict[str, Any], *, retry: bool) -> UpstreamResponse:
        """One JSON-2 call; answers a 2xx as it came (decode it with ``.json``/``.json_list``, which name the
        upstream on a body that does not fit), turns Odoo's 4xx into our problems."""
        response = await self.upstream.post(
            f"/json/2/{model}/{method}", json=kwargs, headers=self.headers, idempotent=retry
        )
        if response.ok:
            return response
        try:
            error = msgspec.json.decode(response.body, type=OdooErrorBody)
        except (msgspec.DecodeError, msgspec.ValidationError):
            error = OdooErrorBody(name="", message=response.body[:200].decode("utf-8", "replace"))
        if response.status in (401, 403):
            # Our API key or its rights are wrong: a deployment problem, never the caller's.
            log.error(
                "erp refused Omnigate's credentials on %s.%s: HTTP %s %s %s",
                model,
                method,
                response.status,
                error.name,
                error.message,
            )
            raise ProblemError(
                "upstream-error",
                f"erp refused Omnigate's credentials (HTTP {response.status}); check OMNIGATE_ERP_API_KEY",
                upstream=UPSTREAM,
            )
        if response.status == 422 and error.name.startswith("odoo.exceptions."):
            # A business rule of the ERP (UserError, ValidationError): the document is in the wrong state.
            raise ProblemError("conflict", f"erp refused {model}.{method}: {error.message}", upstream=UPSTREAM)
        log.error("erp answered HTTP %s to %s.%s: %s %s", response.status, model, method, error.name, error.message)
        raise ProblemError(
            "upstream-error",
            f"erp answered {response.status} to {model}.{method}: {error.name or 'error'}",
            upstream=UPSTREAM,
        )

    async def search_read(
        self,
        model: str,
        type_: type[R],
        domain: list[Any],
        fields: list[str],
        *,
        limit: int | None = None,
        order: str = "id asc",
        context: dict[str, Any] | None = None,
        retry: bool = True,
    ) -> list[R]:
        kwargs: dict[str, Any] = {"domain": domain, "fields": fields, "order": order}
        if limit is not None:
            kwargs["limit"] = limit
        if context:
            kwargs["context"] = context
        response = await self.call(model, "search_read", kwargs, retry=retry)
        return response.json_list(type_)

    async def read(self, model: str, type_: type[R], ids: Sequence[int], fields: list[str], *, retry: bool) -> list[R]:
        kwargs = {"ids": list(ids), "fields": fields, "context": ALL_RECORDS}
        return (await self.call(model, "read", kwargs, retry=retry)).json_list(type_)

    async def create(self, model: str, vals: dict[str, Any]) -> int:
        ids = (await self.call(model, "create", {"vals_list": [vals]}, retry=False)).json_list(int)
        if len(ids) != 1:
            raise ProblemError("upstream-error", f"erp created {len(ids)} {model} records for one", upstream=UPSTREAM)
        return ids[0]

    # --- id maps -------------------------------------------------------------------------------------------

    async def fill_maps(self) -> int:
        """Learn every warehouse and product id of the ERP; answers how many products were mapped."""
        await self.refresh_warehouses(retry=True)
        after, mapped = 0, 0
        while True:
            batch = await self.search_read(
                "product.product",
                OdooProduct,
                [["id", ">", after], ["default_code", "!=", False]],
                ["default_code"],
                limit=MAP_PAGE,
                context=ALL_RECORDS,
            )
            await self.products.put_many({str(p.id): str(p.default_code) for p in batch})
            mapped += len(batch)
            if len(batch) < MAP_PAGE:
                return mapped
            after = batch[-1].id

    async def warm_up(self) -> None:
        """Fill the maps once (the caller retries in the background: a down ERP must not hold up readiness)."""
        mapped = await self.fill_maps()
        log.info("erp id maps filled: %d products", mapped)

    async def refresh_warehouses(self, *, retry: bool) -> None:
        warehouses = await self.search_read("stock.warehouse", OdooWarehouse, [], ["code", "name"], retry=retry)
        await self.warehouses.put_many({str(w.id): mapping.location_for_warehouse(w.code) for w in warehouses})

    async def product_ids(self, skus: Sequence[str], *, retry: bool) -> dict[str, int]:
        """SKU -> Odoo product id for the SKUs the ERP knows (unknown ones are absent)."""
        wanted = list(dict.fromkeys(skus))
        memo = {sku: pid for sku in wanted if (pid := self.product_of.get(sku)) is not None}
        if len(memo) == len(wanted):
            return memo
        known = dict(zip(wanted, await self.products.vendor_many(wanted), strict=True))
        misses = [sku for sku, vid in known.items() if vid is None]
        for batch in chunks(misses, MAP_PAGE):
            found = await self.search_read(
                "product.product",
                OdooProduct,
                [["default_code", "in", batch]],
                ["default_code"],
                context=ALL_RECORDS,
                retry=retry,
            )
            pairs = {str(p.id): str(p.default_code) for p in found}
            await self.products.put_many(pairs)
            known.update({sku: vid for vid, sku in pairs.items()})
        found_ids = {sku: int(vid) for sku, vid in known.items() if vid is not None}
        self.product_of.put_many(found_ids)
        return found_ids

    async def skus_for(self, product_ids: Sequence[int], *, retry: bool) -> dict[int, str]:
        wanted = list(dict.fromkeys(product_ids))
        memo = {pid: sku for pid in wanted if (sku := self.sku_of.get(pid)) is not None}
        if len(memo) == len(wanted):
            return memo
        known = dict(zip(wanted, await self.products.canonical_many([str(i) for i in wanted]), strict=True))
        misses = [pid for pid, sku in known.items() if sku is None]
        if misses:
            found = await self.read("product.product", OdooProduct, misses, ["default_code"], retry=retry)
            pairs = {str(p.id): p.default_code for p in found if isinstance(p.default_code, str) and p.default_code}
            await self.products.put_many(pairs)
            known.update({int(vid): str(sku) for vid, sku in pairs.items()})
        found_skus = {pid: sku for pid, sku in known.items() if sku is not None}
        self.sku_of.put_many(found_skus)
        return found_skus

    async def warehouse_id(self, location: str) -> int:
        vendor = await self.warehouses.vendor(location)
        if vendor is None:
            await self.refresh_warehouses(retry=True)
            vendor = await self.warehouses.vendor(location)
        if vendor is None:
            raise not_found(f"ERP warehouse for location {location}")
        return int(vendor)

    async def locations_for(self, warehouse_ids: Sequence[int]) -> dict[int, str]:
        ids = list(dict.fromkeys(warehouse_ids))
        known = await self.warehouses.canonical_many([str(i) for i in ids])
        if any(v is None for v in known):
            await self.refresh_warehouses(retry=True)
            known = await self.warehouses.canonical_many([str(i) for i in ids])
        return {wid: loc for wid, loc in zip(ids, known, strict=True) if loc is not None}

    async def partner_id(self, customer_id: str, name: str) -> int:
        """The ERP customer for our customer id (``res.partner.ref``), created on first use with ``name``.

        Keyed by the id, never the name: two customers called "Jan Jansen" are two partners, and one customer
        is one partner whatever Unicode form their name arrives in (bodies are NFC-normalised at the edge)."""
        memo = self.partner_of.get(customer_id)
        if memo is not None:
            return memo
        cached = await self.partners.vendor(customer_id)
        if cached is not None:
            self.partner_of.put_many({customer_id: int(cached)})
            return int(cached)
        async with self._locked("partner", customer_id) as lock:
            found = await self.search_read(
                "res.partner",
                OdooPartner,
                [["ref", "=", customer_id]],
                ["name"],
                limit=2,
                context=ALL_RECORDS,
                retry=False,
            )
            if len(found) > 1:
                log.warning("erp holds more than one partner for customer %s; using the oldest", customer_id)
            partner = (
                found[0].id
                if found
                else await lock.write(self.create("res.partner", {"name": name, "ref": customer_id}))
            )
        await self.partners.put_many({str(partner): customer_id})
        self.partner_of.put_many({customer_id: partner})
        return partner

    # --- catalogue and stock ----------------------------------------------------------------------------------

    async def _product(self, sku: str) -> OdooProduct:
        found = await self.search_read(
            "product.product", OdooProduct, [["default_code", "=", sku]], PRODUCT_FIELDS, limit=1, context=ALL_RECORDS
        )
        if not found:
            raise not_found(f"item {sku}")
        # No id-map write here: this is the hot read path, and the map is filled at start and on misses.
        return found[0]

    async def _product_page(
        self, cursor: str | None, limit: int, search: str | None = None
    ) -> tuple[list[OdooProduct], str | None]:
        """A page of products with a SKU (archived ones too), in Odoo id order after ``cursor``; with ``search``,
        only those matching it (:func:`mapping.search_domain`). Returns the page and the next cursor, if any."""
        after = mapping.decode_cursor(cursor) if search is None else mapping.decode_search_cursor(cursor, search)
        domain: list[Any] = [["id", ">", after], ["default_code", "!=", False]]
        if search is not None:
            domain += mapping.search_domain(search)
        batch = await self.search_read(
            "product.product", OdooProduct, domain, PRODUCT_FIELDS, limit=limit + 1, context=ALL_RECORDS
        )
        await self.products.put_many({str(p.id): str(p.default_code) for p in batch})
        more = len(batch) > limit
        batch = batch[:limit]
        if not (more and batch):
            return batch, None
        last = batch[-1].id
        return batch, (mapping.encode_cursor(last) if search is None else mapping.encode_search_cursor(last, search))

    async def item(self, sku: str) -> Item:
        return mapping.item(await self._product(sku))

    async def items(self, cursor: str | None, limit: int, *, search: str | None = None) -> Page[Item]:
        """Every item, or with ``search`` (normalised text, see ``shared.params.search_text``) those whose name,
        SKU, barcode or category contains it, case-insensitively: one ``product.product`` ``search_read`` per
        page. A cursor continues only the listing (or the search) it came from."""
        batch, next_cursor = await self._product_page(cursor, limit, search)
        return Page[Item](items=[mapping.item(p) for p in batch], next_cursor=next_cursor)

    async def price(self, sku: str) -> Price:
        return mapping.price(await self._product(sku), DEFAULT_CURRENCY)

    async def prices(self, cursor: str | None, limit: int) -> Page[Price]:
        batch, next_cursor = await self._product_page(cursor, limit)
        return Page[Price](items=[mapping.price(p, DEFAULT_CURRENCY) for p in batch], next_cursor=next_cursor)

    async def _positions(self, quants: list[OdooQuant]) -> list[StockPosition]:
        skus = await self.skus_for(
            [pid for q in quants if (pid := mapping.m2o_id(q.product_id)) is not None], retry=True
        )
        locations = await self.locations_for(
            [wid for q in quants if (wid := mapping.m2o_id(q.warehouse_id)) is not None]
        )
        positions = []
        for q in quants:
            sku = skus.get(mapping.m2o_id(q.product_id) or 0)
            location = locations.get(mapping.m2o_id(q.warehouse_id) or 0)
            if sku is not None and location is not None:  # quants of unmapped products/warehouses are not ours
                positions.append(mapping.stock_position(q, sku, location))
        return positions

    async def stock(self, location: str | None, cursor: str | None, limit: int) -> Page[StockPosition]:
        after = mapping.decode_cursor(cursor)
        domain: list[Any] = [["id", ">", after]]
        if location is not None:
            domain.append(["warehouse_id", "=", await self.warehouse_id(location)])
        else:
            domain.append(["warehouse_id", "!=", False])
        quants = await self.search_read("stock.quant", OdooQuant, domain, QUANT_FIELDS, limit=limit + 1)
        more = len(quants) > limit
        quants = quants[:limit]
        return Page[StockPosition](
            items=await self._positions(quants),
            next_cursor=mapping.encode_cursor(quants[-1].id) if more and quants else None,
        )

    async def stock_for(self, sku: str) -> list[StockPosition]:
        ids = await self.product_ids([sku], retry=True)
        if sku not in ids:
            raise not_found(f"item {sku}")
        quants = await self.search_read(
            "stock.quant", OdooQuant, [["product_id", "=", ids[sku]], ["warehouse_id", "!=", False]], QUANT_FIELDS
        )
        return await self._positions(quants)

    # --- documents ----------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _locked(self, kind: str, ref: str) -> AsyncIterator[Lock]:
        """Search-then-create (and cancel) of one document kind and ref, one request at a time."""
        async with self.locks.locked(
            f"erp:{kind}:{ref}",
            ttl_s=self.lock_ttl_s,
            wait_s=self.lock_wait_s,
            settle_s=self.settings.upstream_commit_limit_s,
        ) as lock:
            yield lock

    async def _resolve_lines(self, skus: list[str]) -> list[int]:
        ids = await self.product_ids(skus, retry=False)
        unknown = [
            {"line": n, "sku": sku, "detail": "the ERP has no product with this SKU"}
            for n, sku in enumerate(skus)
            if sku not in ids
        ]
        if unknown:
            raise ProblemError("unprocessable", f"{len(unknown)} line(s) name an unknown SKU", errors=unknown)
        return [ids[sku] for sku in skus]

    async def _find_orders(self, ref: str, *, retry: bool) -> list[OdooSaleOrder]:
        """Every sales order carrying our ref, oldest first (Odoo does not stop duplicates)."""
        return await self.search_read(
            "sale.order", OdooSaleOrder, [["client_order_ref", "=", ref]], SALE_ORDER_FIELDS, retry=retry
        )

    async def _find_order(self, ref: str, *, retry: bool) -> OdooSaleOrder | None:
        found = await self._find_orders(ref, retry=retry)
        if len(found) > 1:
            log.warning("erp holds %d sales orders for ref %s; using the oldest (%s)", len(found), ref, found[0].name)
        return found[0] if found else None

    async def _order_out(self, order: OdooSaleOrder, ref: str, *, created: bool, retry: bool) -> SalesOrder:
        lines = await self.search_read(
            "sale.order.line", OdooSaleOrderLine, [["order_id", "=", order.id]], SALE_LINE_FIELDS, retry=retry
        )
        skus = await self.skus_for(
            [pid for ln in lines if (pid := mapping.m2o_id(ln.product_id)) is not None], retry=retry
        )
        pairs = [(skus.get(mapping.m2o_id(ln.product_id) or 0, ""), ln) for ln in lines]
        return mapping.sales_order(order, ref, pairs, DEFAULT_CURRENCY, created)

    async def create_sales_order(self, request: SalesOrderRequest) -> SalesOrder:
        async with self._locked("sales-order", request.ref) as lock:
            # The lookup goes first and alone: with the ERP down, one request costs it exactly one call.
            existing = await self._find_order(request.ref, retry=False)
            if existing is not None:
                return await self._order_out(existing, request.ref, created=False, retry=False)
            product_ids = await self._resolve_lines([line.sku for line in request.lines])
            partner = await self.partner_id(request.customer_id, request.customer_name)
            order_id = await lock.write(
                self.create("sale.order", mapping.sale_order_vals(request, partner, product_ids))
            )
            # Created (we hold its id): a failure from here on is definite, the next search finds it.
            (order,) = await self.read("sale.order", OdooSaleOrder, [order_id], SALE_ORDER_FIELDS, retry=False)
            log.info("erp sales order %s created for ref %s", order.name, request.ref)
            return mapping.sales_order(
                order, request.ref, [(ln.sku, _line(ln)) for ln in request.lines], DEFAULT_CURRENCY, True
            )

    async def sales_order(self, ref: str) -> SalesOrder:
        order = await self._find_order(ref, retry=True)
        if order is None:
            raise not_found(f"sales order {ref}")
        return await self._order_out(order, ref, created=False, retry=True)

    async def sales_orders(self, ref: str) -> list[SalesOrder]:
        """Every sales order the ERP holds for our ref: what the document sweep compares and repairs."""
        return [
            await self._order_out(order, ref, created=False, retry=True)
            for order in await self._find_orders(ref, retry=True)
        ]

    async def transition_sales_order(self, ref: str, action: str) -> SalesOrder:
        """``action_confirm`` / ``action_cancel``; already in the target state is success (idempotent).

        Confirm acts on the ref's (oldest) sales order. Cancel acts by reference: every sales order carrying the
        ref is cancelled, so a duplicate made before this lock existed, or behind a lost answer, goes too."""
        target = "sale" if action == "action_confirm" else "cancel"
        async with self._locked("sales-order", ref):
            orders = await self._find_orders(ref, retry=False)
            if not orders:
                raise not_found(f"sales order {ref}")
            if target == "sale":
                orders = orders[:1]
                if orders[0].state == "cancel":
                    raise ProblemError("conflict", f"sales order {ref} is cancelled and cannot be confirmed")
            for order in orders:
                if order.state != target:
                    await self.call("sale.order", action, {"ids": [order.id]}, retry=False)
            # A successful action leaves the order in its target state (Odoo raises otherwise), and neither
            # action touches name, currency or amounts: no second read of the order.
            order = msgspec.structs.replace(orders[0], state=target)
            return await self._order_out(order, ref, created=False, retry=False)

    async def cancel_sales_order(self, ref: str, erp_id: int) -> SalesOrder:
        """Cancel one sales order of the ref (a duplicate the sweep found), by its ERP id."""
        async with self._locked("sales-order", ref):
            orders = {o.id: o for o in await self._find_orders(ref, retry=False)}
            order = orders.get(erp_id)
            if order is None:
                raise not_found(f"sales order {erp_id} of ref {ref}")
            if order.state != "cancel":
                await self.call("sale.order", "action_cancel", {"ids": [order.id]}, retry=False)
            return await self._order_out(
                msgspec.structs.replace(order, state="cancel"), ref, created=False, retry=False
            )

    async def _find_memo(self, ref: str, *, retry: bool) -> OdooMove | None:
        found = await self.search_read(
            "account.move",
            OdooMove,
            [["ref", "=", ref], ["move_type", "=", "out_refund"]],
            MOVE_FIELDS,
            limit=2,
            retry=retry,
        )
        if len(found) > 1:
            log.warning("erp holds more than one credit memo for ref %s; using the oldest (%s)", ref, found[0].name)
        return found[0] if found else None

    async def create_credit_memo(self, request: CreditMemoRequest) -> CreditMemo:
        async with self._locked("credit-memo", request.ref) as lock:
            move = await self._find_memo(request.ref, retry=False)
            created = move is None
            if move is None:
                product_ids = await self._resolve_lines([line.sku for line in request.lines])
                partner = await self.partner_id(request.customer_id, request.customer_name)
                move_id = await lock.write(
                    self.create("account.move", mapping.credit_memo_vals(request, partner, product_ids))
                )
                (move,) = await self.read("account.move", OdooMove, [move_id], MOVE_FIELDS, retry=False)
            if move.state == "draft":
                # Created but not posted (a crash between the two calls): finish the job.
                await self.call("account.move", "action_post", {"ids": [move.id]}, retry=False)
                (move,) = await self.read("account.move", OdooMove, [move.id], MOVE_FIELDS, retry=False)
            if created:
                log.info("erp credit memo %s posted for ref %s", move.name, request.ref)
            return mapping.credit_memo(move, request.ref, DEFAULT_CURRENCY, created)

    async def credit_memo(self, ref: str) -> CreditMemo:
        move = await self._find_memo(ref, retry=True)
        if move is None:
            raise not_found(f"credit memo {ref}")
        return mapping.credit_memo(move, ref, DEFAULT_CURRENCY, False)

    async def credit_memos(self, ref: str) -> list[CreditMemo]:
        """Every credit memo the ERP holds for our return ref: what the document sweep compares."""
        found = await self.search_read(
            "account.move", OdooMove, [["ref", "=", ref], ["move_type", "=", "out_refund"]], MOVE_FIELDS, retry=True
        )
        return [mapping.credit_memo(move, ref, DEFAULT_CURRENCY, False) for move in found]


def _line(line: SalesOrderLine) -> OdooSaleOrderLine:
    """The line as we sent it, in Odoo's shape, so a fresh order needs no second read of its lines."""
    return OdooSaleOrderLine(
        id=0, product_id=False, product_uom_qty=float(line.qty), price_unit=mapping.to_units(line.unit_price)
    )
