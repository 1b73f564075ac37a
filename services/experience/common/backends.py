"""The typed client of process-orders, as every experience API calls it.

Every call carries the caller's own internal identity token, exactly as the experience API received it
(``Upstream.request(..., identity=token)``, DESIGN §5): process-orders verifies it again and scopes every read and
every idempotency key by the owner it names. The experience layer never mints an identity and never sends an
owner header.

Answers, by kind:

- 2xx: decoded into the canonical structs (``shared.models.orders``); a body that does not fit is the kernel's
  502 ``upstream-error`` naming process-orders (``UpstreamResponse.json``).
- 4xx: process-orders refusing *this* request (404 for an order of another owner, 409 ``insufficient-stock`` or
  ``request-in-flight``, 422 ``idempotency-key-reused``, 400 for bad input): :class:`Refused`, which the caller
  sees as the same problem (status, ``type``, detail, errors, ``Retry-After``), not as an upstream failure.
- transient (5xx, timeout, connection lost, breaker open): the kernel's 502/503/504 problem naming
  process-orders, raised by ``shared.http``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec

from shared.http import UpstreamResponse, Upstreams
from shared.idempotency import HEADER as KEY_HEADER
from shared.models.common import Page
from shared.models.orders import CancelRequest, Order, OrderRequest, TimelineEntry
from shared.problems import CATALOGUE, STATUS_SLUGS, TYPE_BASE, Problem, ProblemError

T = TypeVar("T")
ORDERS = "process-orders"
# Headers of a refusal that the caller needs as much as its body.
_REFUSAL_HEADERS = ("Retry-After", "WWW-Authenticate")


class Refused(ProblemError):
    """process-orders' 4xx answer, relayed as the same problem: same status, same catalogue ``type``."""

    @classmethod
    def of(cls, response: UpstreamResponse) -> Refused:
        try:
            problem = msgspec.json.decode(response.body, type=Problem)
        except (msgspec.DecodeError, msgspec.ValidationError):
            # Not a problem document: process-orders broke its own contract.
            raise ProblemError(
                "upstream-error", f"{ORDERS}: answered {response.status} without a problem document", upstream=ORDERS
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

    async def orders(self, cursor: str | None, limit: int, *, token: str) -> Page[Order]:
        """One page of the caller's orders, newest first; ``cursor`` is process-orders' own, passed through."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
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
