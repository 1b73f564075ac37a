"""The typed clients of the layer below, as every experience API calls it: process-orders (orders), and for
the catalogue process-availability (ATP, prices) and system-erp (items; DESIGN §1: the one system API an
experience API may read).

Every call carries the caller's own internal identity token, exactly as the experience API received it
(``Upstream.request(..., identity=token)``, DESIGN §5): the process layer verifies it again (process-orders scopes
every read and every idempotency key by the owner it names; process-availability lets in ``availability:read``).
The experience layer never mints an identity and never sends an owner header.

Answers, by kind:

- 2xx: decoded into the canonical structs (``shared.models``); a body that does not fit is the kernel's 502
  ``upstream-error`` naming the upstream (``UpstreamResponse.json``).
- 4xx: the layer below refusing *this* request (404 for an order of another owner or an unknown item, 409
  ``insufficient-stock`` or ``request-in-flight``, 422 ``idempotency-key-reused`` or a postal code no store is
  near, 400 for bad input): :class:`Refused`, which the caller sees as the same problem (status, ``type``,
  detail, errors, ``Retry-After``), not as an upstream failure.
- transient (5xx, timeout, connection lost, breaker open): the kernel's 502/503/504 problem naming the upstream,
  raised by ``shared.http``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import msgspec

from shared.clock import rfc3339
from shared.http import UpstreamResponse, Upstreams
from shared.idempotency import HEADER as KEY_HEADER
from shared.models.availability import AvailabilityQuery, AvailabilityQueryResult, StoreAvailability
from shared.models.catalog import Item
from shared.models.common import Page
from shared.models.orders import CancelRequest, Order, OrderRequest, ReturnRequest, TimelineEntry
from shared.models.returns import Return
from shared.problems import CATALOGUE, STATUS_SLUGS, TYPE_BASE, Problem, ProblemError

T = TypeVar("T")
ORDERS = "process-orders"
AVAILABILITY = "process-availability"
ERP = "system-erp"
# Headers of a refusal that the caller needs as much as its body.
_REFUSAL_HEADERS = ("Retry-After", "WWW-Authenticate")


class Refused(ProblemError):
    """A 4xx answer of the layer below (process-orders, process-availability, system-erp), relayed as the same
    problem: same status, same catalogue ``type``."""

    @classmethod
    def of(cls, response: UpstreamResponse) -> Refused:
        try:
            problem = msgspec.json.decode(response.body, type=Problem)
        except (msgspec.DecodeError, msgspec.ValidationError):
            # Not a problem document: process-orders broke its own contract.
            upstream = response.upstream or ORDERS
            raise ProblemError(
                "upstream-error",
                f"{upstream}: answered {response.status} without a problem document",
                upstream=upstream,
            ) from None
        slug = problem.type.removeprefix(TYPE_BASE)
        if slug not in CATALOGUE:
            slug = STATUS_SLUGS.get(response.status, "invalid-request")
        headers = {name: response.headers[name] for name in _REFUSAL_HEADERS if name in response.headers}
        return cls(
            slug,
            problem.detail,
            status=response.status,
            errors=problem.errors,
            retry_after=problem.retry_after,
            headers=headers,
            in_doubt=False,
        )


class Placed(msgspec.Struct, frozen=True):
    """process-orders' answer to a placement or a cancel: 201/200 (done) or 202 (a back-end step still to come),
    the order, and the headers worth passing on (``Idempotency-Replayed`` if it says so)."""

    status: int
    order: Order
    headers: Mapping[str, str]


class Opened(msgspec.Struct, frozen=True):
    """process-orders' answer to opening a return: 201 (announced to the DC, or taken back at a store) or 202 (a
    back-end step still to come), the return, and the headers worth passing on."""

    status: int
    ret: Return
    headers: Mapping[str, str]


# Success headers of process-orders that the caller sees again (Location is rewritten to the channel's path).
PASSED_ON = ("Idempotency-Replayed",)


class OrdersClient:
    """process-orders' routes (DESIGN §10), each call on behalf of the caller whose ``token`` it carries."""

    def __init__(self, http: Upstreams) -> None:
        self.http = http

    def _read(self, response: UpstreamResponse, type_: type[T]) -> T:
        if response.ok:
            return response.json(type_)
        raise Refused.of(response)

    def _placed(self, response: UpstreamResponse) -> Placed:
        order = self._read(response, Order)
        headers = {name: response.headers[name] for name in PASSED_ON if name in response.headers}
        return Placed(response.status, order, headers)

    @staticmethod
    def _key(key: str | None) -> dict[str, str]:
        return {KEY_HEADER: key} if key is not None else {}

    async def place(self, data: OrderRequest, *, key: str, token: str) -> Placed:
        """``POST /orders`` with the caller's ``Idempotency-Key`` as it came (process-orders parses it again)."""
        response = await self.http[ORDERS].post("/orders", json=data, headers=self._key(key), identity=token)
        return self._placed(response)

    async def order(self, order_id: str, *, token: str) -> Order:
        return self._read(await self.http[ORDERS].get(f"/orders/{order_id}", identity=token), Order)

    async def orders(
        self,
        cursor: str | None,
        limit: int,
        *,
        status: str | None = None,
        updated_since: datetime | None = None,
        token: str,
    ) -> Page[Order]:
        """One page of the caller's orders, newest first, in ``status`` and changed at or after ``updated_since``
        (an aware time) if given; ``cursor`` is process-orders' own, passed through (it carries the filters it
        was issued for: with others, process-orders' 400)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if status is not None:
            params["status"] = status
        if updated_since is not None:
            params["updated_since"] = rfc3339(updated_since)
        response = await self.http[ORDERS].get("/orders", params=params, identity=token)
        return self._read(response, Page[Order])

    async def timeline(self, order_id: str, *, token: str) -> list[TimelineEntry]:
        response = await self.http[ORDERS].get(f"/orders/{order_id}/timeline", identity=token)
        if response.ok:
            return response.json_list(TimelineEntry)
        raise Refused.of(response)

    async def cancel(self, order_id: str, data: CancelRequest, *, key: str | None, token: str) -> Placed:
        response = await self.http[ORDERS].post(
            f"/orders/{order_id}/cancel", json=data, headers=self._key(key), identity=token
        )
        return self._placed(response)

    async def open_return(self, order_id: str, data: ReturnRequest, *, key: str, token: str) -> Opened:
        """``POST /orders/{order_id}/returns`` with the caller's ``Idempotency-Key`` as it came: 404 for an order
        that is not the caller's, 409 before it was delivered or picked up, 422 for lines or quantities it
        cannot return (:class:`Refused`)."""
        response = await self.http[ORDERS].post(
            f"/orders/{order_id}/returns", json=data, headers=self._key(key), identity=token
        )
        ret = self._read(response, Return)
        headers = {name: response.headers[name] for name in PASSED_ON if name in response.headers}
        return Opened(response.status, ret, headers)

    async def ret(self, return_id: str, *, token: str) -> Return:
        """``GET /returns/{return_id}``: 404 for a return that is not the caller's (:class:`Refused`)."""
        return self._read(await self.http[ORDERS].get(f"/returns/{return_id}", identity=token), Return)


class CatalogClient:
    """system-erp's item reads (``GET /items/{sku}``, ``GET /items?q=``), on behalf of the caller whose ``token``
    it carries."""

    def __init__(self, http: Upstreams) -> None:
        self.http = http

    async def item(self, sku: str, *, token: str) -> Item:
        """The ERP's item; 404 ``not-found`` (:class:`Refused`) when the ERP has no item with this SKU."""
        response = await self.http[ERP].get(f"/items/{sku}", identity=token)
        if response.ok:
            return response.json(Item)
        raise Refused.of(response)

    async def search(self, q: str | None, cursor: str | None, limit: int, *, token: str) -> Page[Item]:
        """One page of system-erp's catalogue search (``GET /items?q=&cursor=&limit=``): the items whose name,
        SKU, barcode or category contains ``q`` (every item without it), in the ERP's order, ``limit`` at most;
        ``next_cursor`` is system-erp's own. A ``q`` or a cursor it refuses (a cursor of another search) is its 400
        (:class:`Refused`)."""
        params: dict[str, str | int] = {"limit": limit}
        if q is not None:
            params["q"] = q
        if cursor is not None:
            params["cursor"] = cursor
        response = await self.http[ERP].get("/items", params=params, identity=token)
        if response.ok:
            return response.json(Page[Item])
        raise Refused.of(response)


# process-availability's cap on ``GET /availability/stores?limit=``: the most stores one search looks at.
STORES_SEARCHED = 100
# process-availability's cap on the SKUs of one ``GET /availability/stores`` (a basket): the largest page of
# products that can be shown with its nearest stores in one call.
STORES_SKUS = 50


class AvailabilityClient:
    """process-availability's reads for a product and in bulk (DESIGN §10), on behalf of the caller whose ``token``
    it carries (process-availability lets in a web, mobile or partner caller with ``availability:read``).

    ``budget_s``: how long the caller can wait for the answer. With one, the read is a single attempt limited to
    it (no retries: a page would rather go without availability than wait); its timeout is the kernel's 504 and
    counts against process-availability's breaker, so a hung process-availability is cut off after
    ``breaker_fail_max`` reads and then costs nothing until the breaker lets a call through again. Without one,
    the kernel's timeout and retries apply."""

    def __init__(self, http: Upstreams) -> None:
        self.http = http

    async def query(
        self,
        skus: Sequence[str],
        locations: Sequence[str] | None = None,
        *,
        token: str,
        budget_s: float | None = None,
    ) -> AvailabilityQueryResult:
        """ATP of ``skus`` (1-500, each once; ship-to-home, and per location: every stocked one, or those of
        ``locations``) with their prices from the price projection, in one ``POST /availability/query`` with
        ``prices: true``; a read, so retried as one without a budget. A SKU the projection never held is in
        ``unknown``, one without a price in ``prices.missing``; a location that does not exist is
        process-availability's 422 (:class:`Refused`); its absence is the kernel's 503/504."""
        query = AvailabilityQuery(
            skus=list(skus), locations=list(locations) if locations is not None else None, prices=True
        )
        response = await self.http[AVAILABILITY].post(
            "/availability/query", json=query, identity=token, idempotent=budget_s is None, timeout_s=budget_s
        )
        if response.ok:
            return response.json(AvailabilityQueryResult)
        raise Refused.of(response)

    async def stores(
        self, skus: list[str], postal: str, *, token: str, budget_s: float | None = None
    ) -> list[StoreAvailability] | None:
        """The pickup stores nearest to ``postal`` (the :data:`STORES_SEARCHED` nearest, nearest first), each with
        what it has of each of ``skus`` (1-:data:`STORES_SKUS`, each once; ``GET /availability/stores``); None
        when the projection never held one of them (its 404). A postal code no store is near is
        process-availability's 422 (:class:`Refused`)."""
        params = [("postal", postal), ("limit", str(STORES_SEARCHED)), *(("sku", sku) for sku in skus)]
        response = await self.http[AVAILABILITY].get(
            "/availability/stores", params=params, identity=token, idempotent=budget_s is None, timeout_s=budget_s
        )
        if response.ok:
            return response.json_list(StoreAvailability)
        if response.status == 404:
            return None
        raise Refused.of(response)
