"""The calls process-orders makes: process-availability (prices, ATP, reservations) and the system APIs.

shared.http raises 502/503/504 problems naming the upstream for anything transient (5xx, timeouts, an open
breaker): the saga waits those out (``pending_backend``). A 4xx answer is the upstream refusing *this* request
for a reason that a retry will not change (unknown SKU, stock gone, a cancelled document): it is raised here
as :class:`Refused`, carrying the upstream's problem, and ends the order (rejected, or failed and compensated).
A 409 that says "retry" (a document of ours locked by a concurrent request) is transient, not a refusal.

Every call to process-availability carries process-orders' own *service identity* (``X-Omnigate-Identity``,
``channel=internal``, signed with its own key ring), never the shopper's token: a saga step runs in the
shopper's request or later in the retry worker, where there is no caller (and a caller's token may have
expired), and it must be the same call either way. The shopper's owner still reaches process-availability: it
is in the reservation itself (``ReservationRequest.owner``), taken from the identity process-orders verified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from shared.http import UpstreamResponse, Upstreams
from shared.models.availability import (
    AvailabilityQuery,
    AvailabilityQueryResult,
    PriceQuery,
    PriceQueryResult,
    ReservationRequest,
    ReservationSet,
)
from shared.models.fulfilment import (
    FulfilmentOrder,
    FulfilmentOrderRequest,
    PickupTask,
    PickupTaskRequest,
    Receipt,
    ReceiptRequest,
)
from shared.models.inventory import Location
from shared.models.orders import SalesOrder, SalesOrderRequest
from shared.models.returns import CreditMemo, CreditMemoRequest, StoreReturn, StoreReturnRequest
from shared.problems import Problem, ProblemError

T = TypeVar("T")
AVAILABILITY = "process-availability"
ERP = "system-erp"
WMS = "system-wms"
POS = "system-pos"
SYSTEM_OF = {AVAILABILITY: "availability", ERP: "erp", WMS: "wms", POS: "pos"}


class Refused(Exception):
    """An upstream's 4xx answer to a request of ours: a business refusal, final for this step."""

    def __init__(self, upstream: str, status: int, problem: Problem | None, raw: bytes) -> None:
        self.upstream = upstream
        self.status = status
        self.problem = problem
        self.slug = problem.type.rsplit("/", 1)[-1] if problem else ""
        self.detail = (problem.detail or problem.title) if problem else raw[:200].decode(errors="replace")
        super().__init__(f"{upstream} answered {status}: {self.detail}")

    @property
    def errors(self) -> list[dict[str, Any]] | None:
        return self.problem.errors if self.problem else None


def _problem(body: bytes) -> Problem | None:
    try:
        return msgspec.json.decode(body, type=Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class Backends:
    def __init__(self, http: Upstreams, service_token: Callable[[], str]) -> None:
        self.http = http
        self.service_token = service_token  # this deployable's service identity (shared.signing.ServiceSigner)

    def _read(self, upstream: str, response: UpstreamResponse, type_: type[T]) -> T:
        if response.ok:
            return response.json(type_)
        problem = _problem(response.body)
        if (
            response.status == 409
            and problem is not None
            and (problem.retry_after or "retry-after" in response.headers)
        ):
            # The upstream is busy with the same document (its per-ref lock): try again later.
            raise ProblemError(
                "upstream-unavailable",
                f"{upstream}: {problem.detail}",
                upstream=upstream,
                retry_after=problem.retry_after or 1,
            )
        raise Refused(upstream, response.status, problem, response.body)

    async def _post(self, upstream: str, path: str, body: Any, type_: type[T], *, idempotent: bool = False) -> T:
        identity = self.service_token() if upstream == AVAILABILITY else None
        response = await self.http[upstream].post(path, json=body, identity=identity, idempotent=idempotent)
        return self._read(upstream, response, type_)

    # --- process-availability ---------------------------------------------------------------------------------

    async def prices(self, skus: list[str]) -> PriceQueryResult:
        return await self._post(AVAILABILITY, "/prices/query", PriceQuery(skus=skus), PriceQueryResult, idempotent=True)

    async def availability(
        self, skus: list[str], locations: list[str] | None, *, prices: bool = False
    ) -> AvailabilityQueryResult:
        return await self._post(
            AVAILABILITY,
            "/availability/query",
            AvailabilityQuery(skus=skus, locations=locations, prices=prices),
            AvailabilityQueryResult,
            idempotent=True,
        )

    async def reserve(self, request: ReservationRequest) -> ReservationSet:
        # Idempotent by (order, line): safe to retry on a lost answer.
        return await self._post(AVAILABILITY, "/reservations", request, ReservationSet, idempotent=True)

    async def commit(self, order_id: str) -> ReservationSet:
        return await self._post(AVAILABILITY, f"/reservations/{order_id}/commit", None, ReservationSet, idempotent=True)

    async def release(self, order_id: str) -> None:
        response = await self.http[AVAILABILITY].post(
            f"/reservations/{order_id}/release", identity=self.service_token(), idempotent=True
        )
        if response.status != 404:  # nothing held: nothing to release
            self._read(AVAILABILITY, response, ReservationSet)

    # --- system-erp -----------------------------------------------------------------------------------------

    async def sales_order(self, request: SalesOrderRequest) -> SalesOrder:
        # Not retried here: system-erp de-duplicates by ref, and the saga retries the step as a whole.
        return await self._post(ERP, "/sales-orders", request, SalesOrder)

    async def confirm_sales_order(self, ref: str) -> SalesOrder:
        return await self._post(ERP, f"/sales-orders/{ref}/confirm", None, SalesOrder)

    async def cancel_sales_order(self, ref: str) -> None:
        """Cancel every sales order of the ref (system-erp waits out a create still in doubt); 404: none."""
        response = await self.http[ERP].post(f"/sales-orders/{ref}/cancel")
        if response.status != 404:  # never created: nothing to cancel
            self._read(ERP, response, SalesOrder)

    async def credit_memo(self, request: CreditMemoRequest) -> CreditMemo:
        return await self._post(ERP, "/credit-memos", request, CreditMemo)

    # --- lookups by reference (the document sweep) ------------------------------------------------------------

    async def _get(
        self, upstream: str, path: str, type_: type[T], params: dict[str, str | int] | None = None
    ) -> T | None:
        response = await self.http[upstream].get(path, params=params)
        if response.status == 404:
            return None
        return self._read(upstream, response, type_)

    async def sales_orders(self, ref: str) -> list[SalesOrder]:
        """Every ERP sales order carrying the ref (Odoo lets duplicates exist)."""
        return await self._get(ERP, "/sales-orders", list[SalesOrder], {"ref": ref}) or []

    async def cancel_one_sales_order(self, ref: str, erp_id: str) -> None:
        response = await self.http[ERP].post(f"/sales-orders/{ref}/cancel", params={"erp_id": erp_id})
        if response.status != 404:
            self._read(ERP, response, SalesOrder)

    async def credit_memos(self, ref: str) -> list[CreditMemo]:
        return await self._get(ERP, "/credit-memos", list[CreditMemo], {"ref": ref}) or []

    async def find_fulfilment_order(self, ref: str) -> FulfilmentOrder | None:
        return await self._get(WMS, f"/fulfilment-orders/{ref}", FulfilmentOrder)

    async def find_receipt(self, ref: str) -> Receipt | None:
        return await self._get(WMS, f"/receipts/{ref}", Receipt)

    async def find_pickup_task(self, ref: str) -> PickupTask | None:
        return await self._get(POS, f"/pickup-tasks/{ref}", PickupTask)

    # --- system-wms / system-pos ----------------------------------------------------------------------------

    async def fulfilment_order(self, request: FulfilmentOrderRequest) -> FulfilmentOrder:
        return await self._post(WMS, "/fulfilment-orders", request, FulfilmentOrder)

    async def cancel_fulfilment_order(self, ref: str) -> None:
        response = await self.http[WMS].post(f"/fulfilment-orders/{ref}/cancel")
        if response.status != 404:
            self._read(WMS, response, FulfilmentOrder)

    async def receipt(self, request: ReceiptRequest) -> Receipt:
        return await self._post(WMS, "/receipts", request, Receipt)

    async def pickup_task(self, request: PickupTaskRequest) -> PickupTask:
        return await self._post(POS, "/pickup-tasks", request, PickupTask)

    async def cancel_pickup_task(self, ref: str) -> None:
        """Cancel by reference (the store gives the held units back to the till); 404: never created."""
        response = await self.http[POS].post(f"/pickup-tasks/{ref}/cancel")
        if response.status != 404:
            self._read(POS, response, PickupTask)

    async def store_return(self, request: StoreReturnRequest) -> StoreReturn:
        return await self._post(POS, "/returns", request, StoreReturn)

    async def stores(self) -> list[Location]:
        response = await self.http[POS].get("/stores")
        return self._read(POS, response, list[Location])
