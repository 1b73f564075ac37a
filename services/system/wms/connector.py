"""ShipBob's developer API (dated version ``2026-01``) as system-wms calls it: requests, error shapes, id maps.

Every call carries the personal access token as a bearer token; writes that ShipBob scopes to a channel (create
order, create return) carry ``shipbob_channel_id``. The connector turns ShipBob's answers into canonical documents
and its errors into ours: a missing document is our 404, a refused SKU or centre our 422, a duplicate
``reference_id`` the replay of an idempotent create, a refused token a 502 naming the WMS (our configuration is
wrong, not the caller's request). Transport failures already leave ``shared.http`` as 502/503/504 problems.

Unknown outcomes (DESIGN §4). ShipBob refuses a second order (and return) with the same ``reference_id`` in a
channel, so a repeated create is safe, and the connector decides on a refusal only after looking the document up
by reference. Creates and cancels of one reference run under the kernel's per-ref lock (``shared.locks``): a create
whose answer was lost keeps the lock until ShipBob's commit limit (``upstream_commit_limit_s``) has passed, so a
cancel by reference then finds whatever the create did, and a document that appears after a cancel is cancelled too.

Reference: https://developer.shipbob.com/2026-01/api; authentication https://developer.shipbob.com/auth.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import msgspec

from services.system.wms import mapping
from services.system.wms.mapping import Locations
from shared.http import Upstream, UpstreamResponse
from shared.idmap import IdMap
from shared.locks import Lock, Locks
from shared.models.common import Page
from shared.models.fulfilment import FulfilmentOrder, FulfilmentOrderRequest, Receipt, ReceiptRequest, Shipment
from shared.models.inventory import StockPosition
from shared.problems import ProblemError, invalid, not_found

API = f"/{mapping.API_VERSION}"
MAX_LEVELS_PAGE = 250
T = TypeVar("T")
_errors = msgspec.json.Decoder(dict[str, Any])


def vendor_error(resp: UpstreamResponse) -> dict[str, Any]:
    """ShipBob's error body as an object (model state, problem details or ApiError); {} if it has none."""
    try:
        return _errors.decode(resp.body) if resp.body else {}
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {}


def _message(error: dict[str, Any], resp: UpstreamResponse) -> str:
    if not error:
        return resp.body[:200].decode(errors="replace") or f"HTTP {resp.status}"
    for key in ("detail", "message", "title"):
        if isinstance(error.get(key), str) and error[key]:
            return str(error[key])
    parts = [f"{k}: {'; '.join(map(str, v))}" for k, v in error.items() if isinstance(v, list)]
    return ", ".join(parts)[:300] or str(error)[:300]


class WmsConnector:
    def __init__(
        self,
        upstream: Upstream,
        token: str,
        locks: Locks,
        inventory_ids: IdMap,
        commit_limit_s: float,
        lock_wait_s: float,
        *,
        channel_id: int = 0,
        shipping_method: str = "Standard",
    ) -> None:
        self.upstream = upstream
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.locks = locks
        self.inventory_ids = inventory_ids
        self.commit_limit_s = commit_limit_s
        self.lock_wait_s = lock_wait_s
        self.shipping_method = shipping_method
        self._channel_id = channel_id or None
        self._locations: Locations | None = None
        self._guard = asyncio.Lock()

    def _locked(self, kind: str, ref: str) -> AbstractAsyncContextManager[Lock]:
        return self.locks.locked(
            f"wms:{kind}:{ref}", ttl_s=self.commit_limit_s, wait_s=self.lock_wait_s, settle_s=self.commit_limit_s
        )

    def fail(self, resp: UpstreamResponse, what: str) -> ProblemError:
        """The problem for an error ShipBob answered; ``what`` names the document for 404s."""
        error = vendor_error(resp)
        message = _message(error, resp)
        if resp.status == 404:
            return not_found(what)
        if resp.status in (400, 422):
            errors = [{"field": k, "messages": v} for k, v in error.items() if isinstance(v, list)] or None
            return ProblemError("unprocessable", f"the WMS refused it: {message}", errors=errors)
        if resp.status == 429:
            retry_after = resp.headers.get("Retry-After", "1")
            return ProblemError(
                "upstream-unavailable",
                "wms: rate limited",
                upstream="wms",
                retry_after=int(retry_after) if retry_after.isdigit() else 1,
            )
        # Any other 4xx is a definite refusal (nothing was done: a lock need not wait out the commit limit); a 5xx
        # may have committed.
        definite = resp.status < 500
        if resp.status in (401, 403):
            return ProblemError(
                "upstream-error", f"wms: our access token was refused ({resp.status})", upstream="wms", in_doubt=False
            )
        return ProblemError(
            "upstream-error", f"wms: answered {resp.status}: {message}", upstream="wms", in_doubt=not definite
        )

    async def _get(self, path: str, type_: type[T], what: str, params: dict[str, str | int] | None = None) -> T:
        resp = await self.upstream.get(f"{API}{path}", params=params, headers=self.headers)
        if not resp.ok:
            raise self.fail(resp, what)
        return resp.json(type_)

    # account: channel and fulfilment centres (per-worker caches of what ShipBob's account says)

    async def channel_id(self) -> int:
        """The configured channel, else the first one the token may write orders with (ShipBob's quickstart)."""
        if self._channel_id is None:
            channels = await self._get("/channel", mapping.SbChannels, "channel")
            writable = [c.id for c in channels.items or [] if "orders_write" in (c.scopes or [])]
            if not writable:
                raise ProblemError("upstream-error", "wms: no channel with orders_write for our token", upstream="wms")
            self._channel_id = writable[0]
        return self._channel_id

    async def write_headers(self) -> dict[str, str]:
        return {**self.headers, "shipbob_channel_id": str(await self.channel_id())}

    async def locations(self, *, refresh: bool = False) -> Locations:
        async with self._guard:
            if self._locations is None or refresh:
                centres = await self._get("/location", list[mapping.SbLocation], "locations")
                self._locations = Locations.of(centres)
            return self._locations

    async def centre(self, location: str) -> int:
        mapping.is_dc(location)
        try:
            return (await self.locations()).centre(location)
        except ProblemError:
            return (await self.locations(refresh=True)).centre(location)

    async def write_centre(self, location: str) -> int:
        """The centre a document is created at: one the WMS does not have is a refused body (422), not a 404."""
        try:
            return await self.centre(location)
        except ProblemError as exc:
            if exc.status != 404:
                raise
            raise ProblemError("unprocessable", f"the WMS refused it: {exc.detail}") from None

    # stock

    async def stock_page(self, location: str | None, cursor: str | None, limit: int) -> Page[StockPosition]:
        """Inventory levels per fulfilment centre, paged by ShipBob's ``next`` link (its ``Cursor`` is ours)."""
        params: dict[str, str | int] = {"PageSize": min(limit, MAX_LEVELS_PAGE)}
        centre = await self.centre(location) if location is not None else None
        if centre is not None:
            params["LocationId"] = centre
        if cursor:
            params["Cursor"] = cursor
        as_of = datetime.now(UTC)
        resp = await self.upstream.get(f"{API}/inventory-level/locations", params=params, headers=self.headers)
        if resp.status == 400 and cursor:
            raise invalid("cursor is not valid for this listing")
        if not resp.ok:
            raise self.fail(resp, f"location {location}")
        page = resp.json(mapping.SbFcLevelsPage)
        locations = await self.locations()
        items = [p for levels in page.items or [] for p in mapping.stock_positions(levels, locations, as_of, centre)]
        await self._remember(page.items or [])
        return Page(items=items, next_cursor=next_cursor(page.next))

    async def _remember(self, levels: list[mapping.SbFcLevels]) -> None:
        await self.inventory_ids.put_many({str(lv.inventory_id): lv.sku for lv in levels if lv.sku})

    async def levels_for(self, sku: str) -> mapping.SbFcLevels:
        """The item whose SKU is exactly ``sku`` (``SearchBy`` matches SKUs in part, so the answer is filtered)."""
        page = await self._get(
            "/inventory-level/locations", mapping.SbFcLevelsPage, f"SKU {sku}", {"SearchBy": sku, "PageSize": 50}
        )
        await self._remember(page.items or [])
        for levels in page.items or []:
            if levels.sku == sku:
                return levels
        raise not_found(f"SKU {sku}")

    async def stock_for_sku(self, sku: str) -> list[StockPosition]:
        """``GET /inventory-level/{inventoryId}/locations``, the item found by SKU once (kept in the id map)."""
        inventory_id = await self.inventory_id(sku)
        as_of = datetime.now(UTC)
        levels = await self._get(f"/inventory-level/{inventory_id}/locations", mapping.SbFcLevels, f"SKU {sku}")
        return mapping.stock_positions(levels, await self.locations(), as_of)

    async def inventory_id(self, sku: str) -> int:
        known = await self.inventory_ids.vendor(sku)
        if known is not None:
            return int(known)
        return (await self.levels_for(sku)).inventory_id

    # orders

    async def _orders_by_ref(self, ref: str) -> list[mapping.SbOrder]:
        return await self._get("/order", list[mapping.SbOrder], f"fulfilment order {ref}", {"ReferenceIds": ref})

    async def _order_by_ref(self, ref: str) -> mapping.SbOrder:
        found = [o for o in await self._orders_by_ref(ref) if o.reference_id == ref]
        if not found:
            raise not_found(f"fulfilment order {ref}")
        return found[0]

    async def create_fulfilment_order(self, req: FulfilmentOrderRequest) -> FulfilmentOrder:
        """Create once per ``ref``: ShipBob refuses a second ``reference_id`` in the channel (422), which becomes
        a replay once the order found by reference is the same order. Safe to retry after a timeout."""
        centre = await self.write_centre(req.location)
        headers = await self.write_headers()
        body = mapping.order_body(req, centre, self.shipping_method)
        async with self._locked("fulfilment-order", req.ref) as lock:
            resp = await lock.write(self.upstream.post(f"{API}/order", json=body, headers=headers, idempotent=True))
            return await self._created_order(req, resp)

    async def _created_order(self, req: FulfilmentOrderRequest, resp: UpstreamResponse) -> FulfilmentOrder:
        locations = await self.locations()
        if resp.status in (200, 201):
            return mapping.fulfilment_order(resp.json(mapping.SbOrder), locations, created=True)
        if resp.status == 422 and "reference_id" in vendor_error(resp):
            existing = mapping.fulfilment_order(await self._order_by_ref(req.ref), locations)
            if existing.location != req.location or not mapping.same_lines(existing.lines, req.lines):
                raise ProblemError("conflict", f"ref {req.ref} was already used for a different fulfilment order")
            return existing
        if resp.ok:
            raise ProblemError("upstream-error", f"wms: unexpected {resp.status} on create", upstream="wms")
        raise self.fail(resp, f"fulfilment order {req.ref}")

    async def fulfilment_order(self, ref: str) -> FulfilmentOrder:
        return mapping.fulfilment_order(await self._order_by_ref(ref), await self.locations())

    async def cancel_fulfilment_order(self, ref: str) -> FulfilmentOrder:
        """Cancel by reference, after any create of the ref whose outcome is in doubt (the lock waits it out).
        ShipBob cancels the shipments that have not shipped; if none could be (all shipped), that is our 409."""
        async with self._locked("fulfilment-order", ref):
            order = await self._order_by_ref(ref)
            resp = await self.upstream.post(f"{API}/order/{order.id}:cancel", headers=self.headers, idempotent=True)
            if not resp.ok:
                raise self.fail(resp, f"fulfilment order {ref}")
            result = resp.json(mapping.SbCanceledOrder)
            after = result.order or await self._order_by_ref(ref)
            if result.status == "Failure" and after.status != "Cancelled":
                raise ProblemError("conflict", f"the WMS refused it: fulfilment order {ref} has shipped")
            return mapping.fulfilment_order(after, await self.locations())

    # shipments

    async def shipment(self, ref: str) -> Shipment:
        if not ref.isdigit():
            raise not_found(f"shipment {ref}")
        row = await self._get(f"/shipment/{ref}", mapping.SbShipment, f"shipment {ref}")
        return mapping.shipment(row, await self.locations())

    # receipts: customer returns (ShipBob return orders)

    async def _return_by_ref(self, ref: str) -> mapping.SbReturn:
        page = await self._get("/return", mapping.SbReturnPage, f"receipt {ref}", {"ReferenceIds": ref})
        found = [r for r in page.items or [] if r.reference_id == ref]
        if not found:
            raise not_found(f"receipt {ref}")
        return found[0]

    async def create_receipt(self, req: ReceiptRequest) -> Receipt:
        centre = await self.write_centre(req.location)
        ids = {line.sku: await self.inventory_id(line.sku) for line in req.lines}
        headers = await self.write_headers()
        body = mapping.return_body(req, centre, ids)
        async with self._locked("receipt", req.ref) as lock:
            resp = await lock.write(self.upstream.post(f"{API}/return", json=body, headers=headers, idempotent=True))
            return await self._created_receipt(req, resp)

    async def _created_receipt(self, req: ReceiptRequest, resp: UpstreamResponse) -> Receipt:
        locations = await self.locations()
        if resp.status in (200, 201):
            # The create answers without SKUs (PublicReturnV1Dto): read the return back by reference for them.
            resp.json(mapping.SbReturn)
            return mapping.receipt(await self._return_by_ref(req.ref), locations, created=True)
        error = vendor_error(resp)
        if resp.status == 422 and "reference_id" in _message(error, resp).lower().replace(" ", "_"):
            existing = mapping.receipt(await self._return_by_ref(req.ref), locations)
            if existing.location != req.location or not mapping.same_lines(existing.lines, req.lines):
                raise ProblemError("conflict", f"ref {req.ref} was already used for a different receipt")
            return existing
        if resp.ok:
            raise ProblemError("upstream-error", f"wms: unexpected {resp.status} on create", upstream="wms")
        raise self.fail(resp, f"receipt {req.ref}")

    async def receipt(self, ref: str) -> Receipt:
        return mapping.receipt(await self._return_by_ref(ref), await self.locations())

    # inventory history and webhook subscriptions (used by inventory_feed.py and the subscription at start)

    async def inventory_history(self, centre: int, cursor: int, since: str) -> mapping.SbHistoryPage:
        resp = await self.upstream.post(
            f"{API}/inventory/history:query",
            json={"facility_id": centre, "cursor": cursor, "start_date": since},
            headers=self.headers,
            idempotent=True,  # a query: nothing changes at ShipBob
        )
        if not resp.ok:
            raise self.fail(resp, f"inventory history of {centre}")
        return resp.json(mapping.SbHistoryPage)

    async def levels_of(self, inventory_ids: list[int], centre: int) -> list[mapping.SbFcLevels]:
        page = await self._get(
            "/inventory-level/locations",
            mapping.SbFcLevelsPage,
            "inventory levels",
            {"InventoryIds": ",".join(map(str, inventory_ids)), "LocationId": centre, "PageSize": MAX_LEVELS_PAGE},
        )
        return page.items or []

    async def subscribe(self, url: str, secret: str) -> str:
        """Make sure one subscription posts every topic we handle to ``url``; returns its id. An existing one that
        lacks topics is replaced (ShipBob subscriptions cannot be edited)."""
        # Every worker and replica starts with this; one at a time (a kernel lock), so they make one subscription.
        async with self.locks.locked("wms:webhook-subscription", ttl_s=30.0, wait_s=30.0):
            return await self._subscribe(url, secret)

    async def _subscribe(self, url: str, secret: str) -> str:
        subscriptions = await self._get("/webhook", mapping.SbSubscriptions, "webhook subscriptions")
        kept: str | None = None
        for found in subscriptions.items or []:
            if found.url != url:
                continue
            if kept is None and set(mapping.TOPICS) <= set(found.topics):
                kept = found.id
            else:  # a second subscription to the same URL would deliver every event twice
                await self.upstream.request("DELETE", f"{API}/webhook/{found.id}", headers=self.headers)
        if kept is not None:
            return kept
        resp = await self.upstream.post(
            f"{API}/webhook",
            json={"topics": list(mapping.TOPICS), "url": url, "secret": secret, "description": "Omnigate system-wms"},
            headers=self.headers,
        )
        if not resp.ok:
            raise self.fail(resp, "webhook subscription")
        return resp.json(mapping.SbSubscription).id


def next_cursor(next_url: str | None) -> str | None:
    """ShipBob pages by a ``next`` link; its cursor query value is the opaque cursor we hand out. The link may be a
    path or a URL, and its parameter is named ``cursor`` in ShipBob's documented examples (``"next":
    "/2026-01/channel?cursor=eyJ..."``) and ``Cursor`` in its parameter lists: ASP.NET reads query names without
    regard to case, so either is the cursor."""
    if not next_url:
        return None
    for name, values in parse_qs(urlsplit(next_url).query).items():
        if name.lower() == "cursor":
            return values[0]
    return None
