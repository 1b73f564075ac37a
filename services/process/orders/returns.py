"""Returns: request -> receipt at a DC (the WMS reports ``receipt.received``) or at a store counter (the POS
takes it back into stock at once) -> ERP credit memo -> ``refunded``.

A return is a small saga of its own, run under its order's lock (returned quantities are checked against
the order, so two returns of one order must not race) and parked in the same due set when a back-end is away.
Every transition is also an entry on its order's timeline and a ``return.<state>`` event on ``returns``.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import context
from shared.models.common import utcnow
from shared.models.events import Event
from shared.models.fulfilment import FulfilmentLine, ReceiptRequest
from shared.models.orders import ReturnRequest
from shared.models.returns import CreditMemoRequest, ReturnLine, StoreReturnRequest
from shared.problems import ProblemError, not_found

from services.process.orders.backends import SYSTEM_OF, Refused
from services.process.orders.saga import Saga, backoff_s
from services.process.orders.store import Fenced, OrderRecord, ReturnRecord, Write, entry, new_return_id, now_ms

log = logging.getLogger("omnigate.orders.returns")

RETURNABLE = frozenset({"delivered", "picked_up"})


def member(order_id: str, return_id: str) -> str:
    return f"r:{order_id}:{return_id}"


def return_event(record: ReturnRecord) -> Event:
    return Event(
        id=f"returns:{record.id}:{record.state}", type=f"return.{record.state}", occurred_at=record.updated_at,
        source="orders", correlation_id=record.correlation_id, key=record.id,
        payload={"return_id": record.id, "order_id": record.order_id, "owner": record.owner, "state": record.state,
                 "location": record.location},
    )


class Returns:
    def __init__(self, saga: Saga) -> None:
        self.saga = saga
        self.store = saga.store
        self.backends = saga.backends

    def transition(self, write: Write, ret: ReturnRecord, state: str, system: str, *, document_id: str | None = None,
                   detail: str | None = None) -> None:
        ret.state = state  # type: ignore[assignment]
        ret.updated_at = utcnow()
        write.timeline(ret.order_id, entry(state, system, document_id=document_id or ret.id,
                                           correlation_id=ret.correlation_id, detail=detail or f"return {ret.id}"))
        write.event("returns", return_event(ret))

    async def save(self, ret: ReturnRecord, token: str, write: Write) -> None:
        ret.updated_at = utcnow()
        write.ret(ret)
        if ret.step in ("done", "await_receipt"):
            write.not_due(member(ret.order_id, ret.id))
        await self.store.apply(ret.order_id, token, write)

    async def request(self, order: OrderRecord, token: str, data: ReturnRequest) -> ReturnRecord:
        """Open a return on ``order`` (the caller holds its lock) and drive it as far as it goes now."""
        if order.state not in RETURNABLE:
            raise ProblemError("conflict", f"order {order.id} is {order.state}; only a delivered or picked-up "
                               "order can be returned", errors=[{"state": order.state}])
        errors: list[dict[str, Any]] = []
        wanted: dict[str, int] = {}
        for line in data.lines:
            wanted[line.line_id] = wanted.get(line.line_id, 0) + line.qty
        for line_id, qty in wanted.items():
            ordered = order.line(line_id)
            if ordered is None:
                errors.append({"line_id": line_id, "detail": "the order has no such line"})
            elif qty > ordered.qty - order.returned.get(line_id, 0):
                errors.append({"line_id": line_id, "requested": qty,
                               "returnable": ordered.qty - order.returned.get(line_id, 0)})
        if errors:
            raise ProblemError("unprocessable", "these lines cannot be returned in these quantities", errors=errors)
        if data.location.startswith("store-"):
            store = await self.saga.store_location(data.location)
            if store is None:
                raise ProblemError("unprocessable", f"store {data.location} does not exist",
                                   errors=[{"field": "location", "value": data.location, "detail": "unknown store"}])
        now = utcnow()
        lines = []
        for line_id, qty in wanted.items():
            ordered = order.line(line_id)
            assert ordered is not None
            lines.append(ReturnLine(sku=ordered.sku, qty=qty, unit_price=ordered.unit_price))
        ret = ReturnRecord(id=new_return_id(), order_id=order.id, owner=order.owner, state="return_requested",
                           lines=lines, line_ids=list(wanted), location=data.location, reason=data.reason,
                           created_at=now, updated_at=now, correlation_id=context.request_id_var.get())
        for line_id, qty in wanted.items():
            order.returned[line_id] = order.returned.get(line_id, 0) + qty
        order.returns.append(ret.id)
        order.updated_at = now
        write = Write(self.store).order(order).due(member(order.id, ret.id), now_ms() + self.store.lock_ttl_ms)
        self.transition(write, ret, "return_requested", "orders", detail=data.reason)
        await self.save(ret, token, write)
        return await self.drive(ret, token)

    async def drive(self, ret: ReturnRecord, token: str) -> ReturnRecord:
        while ret.step not in ("done", "await_receipt"):
            try:
                if ret.step == "announce":
                    await self._announce(ret, token)
                elif ret.step == "credit":
                    await self._credit(ret, token)
                else:
                    raise AssertionError(f"unknown return step {ret.step}")
            except Refused as exc:
                await self._refused(ret, token, exc)
            except ProblemError as exc:
                if exc.status < 500:
                    raise
                ret.attempts += 1
                ret.waiting = f"{exc.detail or exc.title}"
                delay = backoff_s(ret.attempts, self.saga.settings.orders_retry_base_s,
                                  self.saga.settings.orders_retry_max_s)
                await self.save(ret, token, Write(self.store).due(member(ret.order_id, ret.id),
                                                                  now_ms() + int(delay * 1000)))
                log.info("return %s waits for %s (attempt %d): %s", ret.id, exc.upstream, ret.attempts, ret.waiting)
                return ret
            except Fenced:
                log.warning("return %s: lock lost; another driver continues it", ret.id)
                return ret
        return ret

    async def _announce(self, ret: ReturnRecord, token: str) -> None:
        lines = [FulfilmentLine(sku=ln.sku, qty=ln.qty) for ln in ret.lines]
        write = Write(self.store)
        if ret.location.startswith("dc-"):
            receipt = await self.backends.receipt(ReceiptRequest(ref=ret.id, location=ret.location, lines=lines,
                                                                 reason=(ret.reason or "customer return")[:200]))
            ret.document_id = receipt.wms_id
            if receipt.status == "received":  # the receipt event was handled before this answer was written
                ret.step = "credit"
                self.transition(write, ret, "return_received", "wms", document_id=receipt.wms_id)
                self.transition(write, ret, "restocked", "wms", document_id=receipt.wms_id)
            else:
                ret.step = "await_receipt"
                write.timeline(ret.order_id, entry(ret.state, "wms", document_id=receipt.wms_id,
                                                   correlation_id=ret.correlation_id,
                                                   detail=f"return {ret.id}: receipt expected at {ret.location}"))
        else:
            order = await self.store.order(ret.order_id)
            assert order is not None
            taken = await self.backends.store_return(StoreReturnRequest(
                ref=ret.id, store=ret.location, order_ref=ret.order_id, lines=ret.lines, currency=order.currency))
            ret.document_id = taken.pos_id
            ret.step = "credit"
            self.transition(write, ret, "return_received", "pos", document_id=taken.pos_id)
            self.transition(write, ret, "restocked", "pos", document_id=taken.pos_id,
                            detail=f"return {ret.id}: back in stock at {ret.location}")
        await self.save(ret, token, write)

    async def received(self, ret: ReturnRecord, token: str, receipt_ref: str) -> ReturnRecord:
        """The WMS received the goods (``receipt.received``): they are back on hand; refund next."""
        if ret.step not in ("announce", "await_receipt"):
            return ret
        ret.step = "credit"
        write = Write(self.store).due(member(ret.order_id, ret.id), now_ms() + self.store.lock_ttl_ms)
        self.transition(write, ret, "return_received", "wms", document_id=ret.document_id or receipt_ref)
        self.transition(write, ret, "restocked", "wms", document_id=ret.document_id or receipt_ref,
                        detail=f"return {ret.id}: back on hand at {ret.location}")
        await self.save(ret, token, write)
        return await self.drive(ret, token)

    async def _credit(self, ret: ReturnRecord, token: str) -> None:
        order = await self.store.order(ret.order_id)
        if order is None:
            raise not_found(f"order {ret.order_id}")
        memo = await self.backends.credit_memo(CreditMemoRequest(
            ref=ret.id, order_ref=ret.order_id, customer=order.customer.name, currency=order.currency,
            lines=ret.lines, reason=(ret.reason or "customer return")[:200]))
        ret.credit_memo = memo.name
        ret.step = "done"
        ret.waiting = None
        write = Write(self.store)
        self.transition(write, ret, "refunded", "erp", document_id=memo.name, detail=f"return {ret.id}: credit memo")
        await self.save(ret, token, write)

    async def _refused(self, ret: ReturnRecord, token: str, exc: Refused) -> None:
        """A back-end refused the return (an unknown DC, say): it ends rejected and the quantities are free."""
        system = SYSTEM_OF.get(exc.upstream, exc.upstream)
        order = await self.store.order(ret.order_id)
        write = Write(self.store)
        if order is not None:
            for line_id, line in zip(ret.line_ids, ret.lines):
                order.returned[line_id] = max(0, order.returned.get(line_id, 0) - line.qty)
            write.order(order)
        ret.step = "done"
        ret.waiting = f"{system} refused: {exc.detail}"
        self.transition(write, ret, "rejected", system, detail=ret.waiting)
        await self.save(ret, token, write)
