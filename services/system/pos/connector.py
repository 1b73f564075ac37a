"""Square v2 <-> Omnigate: the calls system-pos makes to the POS and how their answers are read.

Square answers errors in its ``{"errors": [...]}`` envelope. The requests sent here are built from input that
was already validated and ids that come from Square itself, so a 4xx from Square is the POS's (or our
configuration's) fault and becomes a 502 naming the upstream, with Square's errors attached; the exceptions
are a reused idempotency key (the caller re-used a ref for a different document: 409), a stale order version
(:class:`VersionMismatch`, which the caller resolves by reading the order again), a missing order (404) and
rate limiting (503 with Retry-After). A 4xx is a definite refusal (``in_doubt`` False: nothing was done);
5xx, timeouts and an open breaker are raised by shared.http and say themselves whether they are in doubt.

Vendor ids are mapped to canonical ones with :class:`shared.idmap.IdMap` (system "pos"): ``item`` maps a
``catalog_object_id`` to its SKU, ``location`` a location id to ``store-<id lower-cased>``. The maps are
filled from the POS's own catalogue at start (in the background) and again on a miss.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis

from services.system.pos import mapping
from services.system.pos.settings import PosSettings
from shared.http import Upstream, UpstreamResponse
from shared.idmap import IdMap
from shared.problems import ProblemError

log = logging.getLogger("omnigate.system.pos")
T = TypeVar("T")
SQUARE_VERSION = "2025-08-20"
CATALOG_PAGE = 1000
# A miss refreshes the whole catalogue at most this often per worker (an unknown id must not storm the POS).
REFRESH_INTERVAL_S = 5.0


class VersionMismatch(ProblemError):
    """UpdateOrder named a version that is no longer the order's current one (Square's VERSION_MISMATCH)."""


class SquareConnector:
    def __init__(self, upstream: Upstream, settings: PosSettings, redis: Redis) -> None:
        self.upstream = upstream
        self.settings = settings
        self.items = IdMap(redis, prefix=settings.key_prefix, system="pos", kind="item")
        self.locations = IdMap(redis, prefix=settings.key_prefix, system="pos", kind="location")
        self._refresh_lock = asyncio.Lock()
        self._last_catalog_refresh = 0.0

    # --- transport -------------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.settings.pos_access_token}",
            "Square-Version": SQUARE_VERSION,
            "Accept": "application/json",
        }

    async def _call(
        self, method: str, path: str, body: Any = None, *, idempotent: bool | None = None
    ) -> UpstreamResponse:
        return await self.upstream.request(method, path, json=body, headers=self._headers(), idempotent=idempotent)

    def _read(self, response: UpstreamResponse, type_: type[T], what: str) -> T:
        if response.ok:
            return response.json(type_)
        raise self.error(response, what)

    def error(self, response: UpstreamResponse, what: str) -> ProblemError:
        """Translate a Square 4xx into our problem (see the module docstring)."""
        try:
            errors = msgspec.json.decode(response.body, type=mapping.SqErrors).errors
        except (msgspec.DecodeError, msgspec.ValidationError):
            errors = []
        listed = [msgspec.structs.asdict(e) for e in errors] or None
        codes = ", ".join(f"{e.category}/{e.code}" for e in errors) or "no Square error envelope"
        if any(e.code == "IDEMPOTENCY_KEY_REUSED" for e in errors):
            return ProblemError(
                "conflict", f"{what}: the ref was already used for a different request", errors=listed, in_doubt=False
            )
        if any(e.code == "VERSION_MISMATCH" for e in errors):
            return VersionMismatch("conflict", f"{what}: the order changed meanwhile", errors=listed, in_doubt=False)
        if response.status == 429:
            return ProblemError(
                "upstream-unavailable",
                f"pos: rate limited on {what}",
                upstream="pos",
                retry_after=int(response.headers.get("Retry-After", "1") or 1),
                errors=listed,
                in_doubt=False,
            )
        return ProblemError(
            "upstream-error",
            f"pos: {what} answered {response.status} ({codes})",
            upstream="pos",
            errors=listed,
            in_doubt=False,
        )

    # --- Square endpoints ------------------------------------------------------------------------------------

    async def list_locations(self, *, retry: bool = True) -> list[mapping.SqLocation]:
        response = await self._call("GET", "/v2/locations", idempotent=retry)
        return self._read(response, mapping.SqListLocations, "ListLocations").locations

    async def search_variations(
        self, *, sku: str | None = None, cursor: str | None = None, limit: int = CATALOG_PAGE, retry: bool = True
    ) -> mapping.SqSearchCatalog:
        body: dict[str, Any] = {"object_types": ["ITEM_VARIATION"], "limit": limit}
        if sku is not None:
            body["query"] = {"exact_query": {"attribute_name": "sku", "attribute_value": sku}}
        if cursor is not None:
            body["cursor"] = cursor
        response = await self._call("POST", "/v2/catalog/search", body, idempotent=retry)
        return self._read(response, mapping.SqSearchCatalog, "SearchCatalogObjects")

    async def retrieve_counts(
        self,
        *,
        catalog_object_ids: Sequence[str] | None = None,
        location_ids: Sequence[str] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> mapping.SqCounts:
        body: dict[str, Any] = {}
        if catalog_object_ids:
            body["catalog_object_ids"] = list(catalog_object_ids)
        if location_ids:
            body["location_ids"] = list(location_ids)
        if cursor is not None:
            body["cursor"] = cursor
        if limit is not None:
            body["limit"] = limit
        response = await self._call("POST", "/v2/inventory/counts/batch-retrieve", body, idempotent=True)
        return self._read(response, mapping.SqCounts, "BatchRetrieveInventoryCounts")

    async def change_inventory(self, body: dict[str, object]) -> list[mapping.SqCount]:
        # Safe to retry: Square replays the first answer for the same idempotency_key.
        response = await self._call("POST", "/v2/inventory/changes/batch-create", body, idempotent=True)
        return self._read(response, mapping.SqCounts, "BatchChangeInventory").counts

    async def create_order(self, body: dict[str, object]) -> mapping.SqOrder:
        response = await self._call("POST", "/v2/orders", body, idempotent=True)
        return self._read(response, mapping.SqOrderResponse, "CreateOrder").order

    async def retrieve_order(self, order_id: str) -> mapping.SqOrder | None:
        response = await self._call("GET", f"/v2/orders/{order_id}")
        if response.status == 404:
            return None
        return self._read(response, mapping.SqOrderResponse, "RetrieveOrder").order

    async def update_order(self, order_id: str, body: dict[str, object]) -> mapping.SqOrder:
        # Safe to retry: a repeated idempotency_key changes nothing and is answered with the order as it is.
        response = await self._call("PUT", f"/v2/orders/{order_id}", body, idempotent=True)
        return self._read(response, mapping.SqOrderResponse, "UpdateOrder").order

    async def search_orders(self, body: dict[str, object]) -> mapping.SqSearchOrders:
        response = await self._call("POST", "/v2/orders/search", body, idempotent=True)
        return self._read(response, mapping.SqSearchOrders, "SearchOrders")

    async def find_order(self, location_id: str, reference_id: str, created_from: datetime) -> mapping.SqOrder | None:
        """The oldest order of a location created since ``created_from`` that carries ``reference_id``.

        Square's SearchOrders has no reference filter, so the location's orders of that window are paged
        through (oldest first) and matched here."""
        cursor: str | None = None
        while True:
            page = await self.search_orders(mapping.search_orders_body(location_id, created_from, cursor))
            for order in page.orders:
                if order.reference_id == reference_id:
                    return order
            cursor = page.cursor
            if not cursor:
                return None

    # --- id maps ---------------------------------------------------------------------------------------------

    async def refresh_locations(self, *, retry: bool = True) -> list[mapping.SqLocation]:
        locations = await self.list_locations(retry=retry)
        await self.locations.put_many({loc.id: mapping.store_id(loc.id) for loc in locations})
        return locations

    async def refresh_catalog(self, *, retry: bool = True) -> int:
        """Page through every item variation and record ``catalog_object_id -> sku``; returns how many."""
        cursor: str | None = None
        total = 0
        while True:
            page = await self.search_variations(cursor=cursor, retry=retry)
            pairs = {
                o.id: o.item_variation_data.sku
                for o in page.objects
                if o.type == "ITEM_VARIATION"
                and not o.is_deleted
                and o.item_variation_data
                and o.item_variation_data.sku
            }
            await self.items.put_many(pairs)
            total += len(pairs)
            cursor = page.cursor
            if not cursor:
                break
        self._last_catalog_refresh = time.monotonic()
        return total

    async def warm_up(self) -> None:
        """Fill both maps. One attempt per call (the caller backs off between calls), so a POS that is
        still starting does not trip the breaker that serves live requests."""
        await self.refresh_locations(retry=False)
        count = await self.refresh_catalog(retry=False)
        log.info("pos id maps filled: %d item variations", count)

    async def _refresh_catalog_on_miss(self) -> None:
        async with self._refresh_lock:
            if time.monotonic() - self._last_catalog_refresh >= REFRESH_INTERVAL_S:
                await self.refresh_catalog()

    async def variation_id(self, sku: str) -> str | None:
        """The Square catalog object id of a SKU (searched by SKU on a miss), or None if the POS lacks it."""
        found = await self.items.vendor(sku)
        if found is not None:
            return found
        page = await self.search_variations(sku=sku, limit=10)
        for obj in page.objects:
            data = obj.item_variation_data
            if obj.type == "ITEM_VARIATION" and not obj.is_deleted and data is not None and data.sku == sku:
                await self.items.put_many({obj.id: sku})
                return obj.id
        return None

    async def skus(self, catalog_object_ids: Sequence[str]) -> list[str | None]:
        """SKUs of catalog object ids, refreshing the map once if some are unknown."""
        found = await self.items.canonical_many(catalog_object_ids)
        if any(s is None for s in found):
            await self._refresh_catalog_on_miss()
            found = await self.items.canonical_many(catalog_object_ids)
        return found

    async def location_id(self, store: str) -> str | None:
        """The Square location id of a canonical ``store-<code>``, or None if the POS has no such store."""
        found = await self.locations.vendor(store)
        if found is None:
            await self.refresh_locations()
            found = await self.locations.vendor(store)
        return found
