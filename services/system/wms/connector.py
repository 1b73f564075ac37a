"""The WMS protocol as README.md of sandbox-wms documents it: calls, error envelope, webhook signatures.

The connector turns the 3PL's answers into canonical documents and the 3PL's errors into ours: a missing
document is our 404, an unknown SKU our 422, a duplicate reference the replay of an idempotent create, a
refused API key a 502 naming the WMS (our configuration is wrong, not the caller's request). Transport
failures already leave ``shared.http`` as 502/503/504 problems.

Creates and cancels of one reference run under the kernel's per-ref lock (``shared.locks``). The WMS refuses a
second document for a reference, so a repeated create is safe; but a create whose answer was lost may still be
committing when a cancel arrives, and a cancel that found nothing would leave it live. So a create sent under
the lock that ends in doubt keeps the lock until the WMS's commit limit (``upstream_commit_limit_s``) has
passed: a cancel by reference then finds whatever the create did.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import msgspec

from services.system.wms import mapping
from shared.http import Upstream, UpstreamResponse
from shared.locks import Lock, Locks
from shared.models.common import Page
from shared.models.fulfilment import FulfilmentOrder, FulfilmentOrderRequest, Receipt, ReceiptRequest, Shipment
from shared.models.inventory import StockPosition
from shared.problems import ProblemError, invalid, not_found

API = "/api/v1"
_envelope_decoder = msgspec.json.Decoder(mapping.WmsErrorEnvelope)


# --- calls -------------------------------------------------------------------------------------------------------------


def vendor_error(resp: UpstreamResponse) -> mapping.WmsError | None:
    try:
        return _envelope_decoder.decode(resp.body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class WmsConnector:
    def __init__(
        self, upstream: Upstream, api_key: str, locks: Locks, commit_limit_s: float, lock_wait_s: float
    ) -> None:
        self.upstream = upstream
        self.headers = {"X-Api-Key": api_key, "Accept": "application/json"}
        self.locks = locks
        self.commit_limit_s = commit_limit_s
        self.lock_wait_s = lock_wait_s

    def _locked(self, kind: str, ref: str) -> AbstractAsyncContextManager[Lock]:
        return self.locks.locked(
            f"wms:{kind}:{ref}", ttl_s=self.commit_limit_s, wait_s=self.lock_wait_s, settle_s=self.commit_limit_s
        )

    def fail(self, resp: UpstreamResponse, what: str) -> ProblemError:
        """The problem for a 4xx the WMS answered; ``what`` names the document for 404s."""
        error = vendor_error(resp)
        code = error.code if error else "unknown"
        message = error.message if error else resp.body[:200].decode(errors="replace")
        if resp.status == 404:
            return not_found(what)
        if resp.status == 422:
            errors = [{"code": code, **(error.details or {})}] if error else None
            return ProblemError("unprocessable", f"the WMS refused it: {message}", errors=errors)
        if resp.status == 409:
            return ProblemError("conflict", f"the WMS refused it: {message}")
        if resp.status == 429:
            retry_after = resp.headers.get("Retry-After", "1")
            return ProblemError(
                "upstream-unavailable",
                "wms: rate limited",
                upstream="wms",
                retry_after=int(retry_after) if retry_after.isdigit() else 1,
            )
        if resp.status in (401, 403):
            return ProblemError("upstream-error", f"wms: our API key was refused ({code})", upstream="wms")
        return ProblemError("upstream-error", f"wms: answered {resp.status} {code}: {message}", upstream="wms")

    # stock

    async def stock_page(self, location: str | None, cursor: str | None, limit: int) -> Page[StockPosition]:
        params: dict[str, str | int] = {"page_size": limit}
        if location is not None:
            params["warehouse"] = mapping.warehouse_for(location)
        if cursor:
            params["page_token"] = cursor
        resp = await self.upstream.get(f"{API}/stock", params=params, headers=self.headers)
        if resp.status == 400 and cursor:
            # The only caller-supplied value we cannot check ourselves is the opaque cursor.
            raise invalid("cursor is not valid for this listing")
        if not resp.ok:
            raise self.fail(resp, f"location {location}")
        page = resp.json(mapping.WmsStockPage)
        return Page(items=[mapping.stock_position(r) for r in page.items], next_cursor=page.next_page_token)

    async def stock_for_sku(self, sku: str) -> list[StockPosition]:
        resp = await self.upstream.get(f"{API}/stock/{sku}", headers=self.headers)
        if not resp.ok:
            raise self.fail(resp, f"SKU {sku}")
        return [mapping.stock_position(r) for r in resp.json(mapping.WmsSkuStock).items]

    # fulfilment orders

    async def _order_by_ref(self, ref: str) -> mapping.WmsOrder:
        resp = await self.upstream.get(
            f"{API}/fulfillment-orders", params={"order_reference": ref}, headers=self.headers
        )
        if not resp.ok:
            raise self.fail(resp, f"fulfilment order {ref}")
        items = resp.json(mapping.WmsOrderList).items
        if not items:
            raise not_found(f"fulfilment order {ref}")
        return items[0]

    async def _order_by_id(self, order_id: str, ref: str) -> mapping.WmsOrder:
        resp = await self.upstream.get(f"{API}/fulfillment-orders/{order_id}", headers=self.headers)
        if not resp.ok:
            raise self.fail(resp, f"fulfilment order {ref}")
        return resp.json(mapping.WmsOrder)

    async def create_fulfilment_order(self, req: FulfilmentOrderRequest) -> FulfilmentOrder:
        """Create once per ``ref``: the WMS refuses a second order_reference (409), which we turn into a replay.

        Because the WMS enforces the reference, the POST is safe to retry after a timeout (``idempotent``).
        """
        async with self._locked("fulfilment-order", req.ref) as lock:
            resp = await lock.write(
                self.upstream.post(
                    f"{API}/fulfillment-orders", json=mapping.order_body(req), headers=self.headers, idempotent=True
                )
            )
            return await self._created_order(req, resp)

    async def _created_order(self, req: FulfilmentOrderRequest, resp: UpstreamResponse) -> FulfilmentOrder:
        if resp.status == 201:
            return mapping.fulfilment_order(resp.json(mapping.WmsOrder), created=True)
        error = vendor_error(resp)
        if resp.status == 409 and error is not None and error.code == "duplicate_order_reference":
            existing_id = (error.details or {}).get("id")
            order = (
                await self._order_by_id(existing_id, req.ref)
                if isinstance(existing_id, str) and existing_id
                else await self._order_by_ref(req.ref)
            )
            existing = mapping.fulfilment_order(order, created=False)
            if existing.location != req.location or not mapping.same_lines(existing.lines, req.lines):
                raise ProblemError("conflict", f"ref {req.ref} was already used for a different fulfilment order")
            return existing
        if resp.ok:
            raise ProblemError("upstream-error", f"wms: unexpected {resp.status} on create", upstream="wms")
        raise self.fail(resp, f"fulfilment order {req.ref}")

    async def fulfilment_order(self, ref: str) -> FulfilmentOrder:
        return mapping.fulfilment_order(await self._order_by_ref(ref))

    async def cancel_fulfilment_order(self, ref: str) -> FulfilmentOrder:
        """Cancel by reference, after any create of the ref whose outcome is in doubt (the lock waits it out)."""
        async with self._locked("fulfilment-order", ref):
            order = await self._order_by_ref(ref)
            # Cancelling a cancelled order answers 200 at the WMS, so a retried cancel is harmless.
            resp = await self.upstream.post(
                f"{API}/fulfillment-orders/{order.id}/cancel", headers=self.headers, idempotent=True
            )
            if not resp.ok:
                raise self.fail(resp, f"fulfilment order {ref}")
            return mapping.fulfilment_order(resp.json(mapping.WmsOrder))

    # shipments

    async def shipment(self, ref: str) -> Shipment:
        resp = await self.upstream.get(f"{API}/shipments/{ref}", headers=self.headers)
        if not resp.ok:
            raise self.fail(resp, f"shipment {ref}")
        return mapping.shipment(resp.json(mapping.WmsShipment))

    # receipts

    async def _receipt_by_ref(self, ref: str) -> mapping.WmsReceipt:
        resp = await self.upstream.get(f"{API}/receipts", params={"reference": ref}, headers=self.headers)
        if not resp.ok:
            raise self.fail(resp, f"receipt {ref}")
        items = resp.json(mapping.WmsReceiptList).items
        if not items:
            raise not_found(f"receipt {ref}")
        return items[0]

    async def create_receipt(self, req: ReceiptRequest) -> Receipt:
        async with self._locked("receipt", req.ref) as lock:
            resp = await lock.write(
                self.upstream.post(
                    f"{API}/receipts", json=mapping.receipt_body(req), headers=self.headers, idempotent=True
                )
            )
            return await self._created_receipt(req, resp)

    async def _created_receipt(self, req: ReceiptRequest, resp: UpstreamResponse) -> Receipt:
        if resp.status == 201:
            return mapping.receipt(resp.json(mapping.WmsReceipt), created=True)
        error = vendor_error(resp)
        if resp.status == 409 and error is not None and error.code == "duplicate_receipt_reference":
            existing = mapping.receipt(await self._receipt_by_ref(req.ref), created=False)
            if existing.location != req.location or not mapping.same_lines(existing.lines, req.lines):
                raise ProblemError("conflict", f"ref {req.ref} was already used for a different receipt")
            return existing
        if resp.ok:
            raise ProblemError("upstream-error", f"wms: unexpected {resp.status} on create", upstream="wms")
        raise self.fail(resp, f"receipt {req.ref}")

    async def receipt(self, ref: str) -> Receipt:
        return mapping.receipt(await self._receipt_by_ref(ref))
