"""Returns: request -> receipt at a DC (the WMS reports ``receipt.received``) or at a store counter (the POS
takes it back into stock at once) -> ERP credit memo -> ``refunded``.

Money follows observed facts (DESIGN §4): the refund and the return's state follow what the DC *received*,
at the order line's recorded price, not what was requested. A receipt of fewer units refunds those and leaves
the return ``partially_received``; it closes (``closed``, reported) after ``orders_return_close_days`` if the
rest never comes. A receipt of more units than requested refunds no more than was requested, and the surplus is
reported. The restock is the WMS's own count of what arrived (the availability projection applies it).

A return is a small saga of its own, run under its order's lock (returned quantities are checked against the
order, so two returns of one order must not race) and parked in the same due set when a back-end is away; the
order saga's loop and writes (driver.py) drive it. Every transition is a kernel state change: an entry on its order's timeline and a ``return.<state>`` event on
``returns`` whose id names the transition.
"""

from __future__ import annotations

import logging
from collections import Counter

import msgspec

from services.process.orders.backends import SYSTEM_OF, Refused
from services.process.orders.driver import Driver
from services.process.orders.records import OrderRecord, ReturnRecord, ReturnStep
from services.process.orders.saga import Saga
from shared import context
from shared.changes import Change
from shared.clock import now_ms, utcnow
from shared.locks import Lock
from shared.models.events import ReceiptReceived
from shared.models.fulfilment import FulfilmentLine, ReceiptRequest
from shared.models.orders import ReturnRequest, TimelineEntry
from shared.models.returns import CreditMemoRequest, ReturnLine, StoreReturnRequest
from shared.problems import ProblemError, not_found

log = logging.getLogger("omnigate.orders.returns")

DAY_MS = 86_400_000
PARKED = frozenset({ReturnStep.DONE, ReturnStep.AWAIT_RECEIPT})


def member(order_id: str, return_id: str) -> str:
    return f"r:{order_id}:{return_id}"


def credited_lines(ret: ReturnRecord) -> list[ReturnLine]:
    """The lines to refund: what was received of each requested line, never more than requested, at the
    line's recorded price (received units of a SKU fill its lines in order)."""
    left = Counter(ret.received or {})
    lines = []
    for line in ret.lines:
        qty = min(line.qty, left[line.sku])
        left[line.sku] -= qty
        if qty > 0:
            lines.append(ReturnLine(sku=line.sku, qty=qty, unit_price=line.unit_price))
    return lines


class Returns(Driver[ReturnRecord]):
    kind = "return"

    def __init__(self, saga: Saga) -> None:
        super().__init__(saga.store, saga.settings)
        self.saga = saga
        self.backends = saga.backends

    # --- what is a return's own (driver.py) -------------------------------------------------------------------

    def _key(self, ret: ReturnRecord) -> str:
        return self.store.keys.ret(ret.id)

    def _member(self, ret: ReturnRecord) -> str:
        return member(ret.order_id, ret.id)

    def _order_id(self, ret: ReturnRecord) -> str:
        return ret.order_id

    def _payload(self, ret: ReturnRecord, state: str) -> dict[str, object]:
        return {
            "return_id": ret.id,
            "order_id": ret.order_id,
            "owner": ret.owner,
            "state": state,
            "location": ret.location,
            "received": ret.received,
        }

    def _entry(
        self, ret: ReturnRecord, state: str, system: str, document_id: str | None, detail: str | None
    ) -> TimelineEntry:
        # On its order's timeline, a return's entry names the return unless it names a document of its own.
        return super()._entry(ret, state, system, document_id or ret.id, detail or f"return {ret.id}")

    def _settled(self, ret: ReturnRecord) -> bool:
        return ret.step in PARKED

    def _stops(self, ret: ReturnRecord) -> bool:
        # A partial return waits for its closing time in the due set (the retry worker resumes it then).
        return ret.step in PARKED or ret.step == ReturnStep.AWAIT_CLOSE

    async def _step(self, ret: ReturnRecord, lock: Lock) -> None:
        await RETURN_STEPS[ret.step](self, ret, lock)

    async def request(self, order: OrderRecord, lock: Lock, data: ReturnRequest, return_id: str) -> ReturnRecord:
        """Open return ``return_id`` on ``order`` (the caller holds its lock) and drive it as far as it goes."""
        wanted: dict[str, int] = {}
        for line in data.lines:
            wanted[line.line_id] = wanted.get(line.line_id, 0) + line.qty
        order.check_return(wanted)
        if data.location.startswith("store-") and await self.saga.intake.store_location(data.location) is None:
            raise ProblemError(
                "unprocessable",
                f"store {data.location} does not exist",
                errors=[{"field": "location", "value": data.location, "detail": "unknown store"}],
            )
        now = utcnow()
        lines = []
        for line_id, qty in wanted.items():
            ordered = order.line(line_id)
            assert ordered is not None
            lines.append(ReturnLine(sku=ordered.sku, qty=qty, unit_price=ordered.unit_price))
        ret = ReturnRecord(
            id=return_id,
            order_id=order.id,
            owner=order.owner,
            state="return_requested",
            lines=lines,
            line_ids=list(wanted),
            location=data.location,
            reason=data.reason,
            created_at=now,
            updated_at=now,
            correlation_id=context.request_id_var.get(),
        )
        order.book_return(ret.id, wanted)
        order.updated_at = now
        change = self.store.change().put(self.store.keys.order(order.id), order)
        change.due(member(order.id, ret.id), now_ms() + self.store.lock_ttl_ms)
        self.transition(change, ret, "return_requested", "orders", detail=data.reason)
        change.put(self.store.keys.ret(ret.id), ret, create=True)  # a return id is created once
        await self.store.apply(lock, change)
        return await self.drive(ret, lock)

    async def drive(self, ret: ReturnRecord, lock: Lock) -> ReturnRecord:
        await self._run(ret, lock)
        return ret

    async def _transient(self, ret: ReturnRecord, lock: Lock, exc: ProblemError) -> bool:
        """An upstream is away: park the return in the due set for a retry after a backoff."""
        change, _ = self._retry(ret, exc)
        ret.waiting = f"{exc.detail or exc.title}"
        await self.save(ret, lock, change)
        log.info("return %s waits for %s (attempt %d): %s", ret.id, exc.upstream, ret.attempts, ret.waiting)
        return True

    async def _announce(self, ret: ReturnRecord, lock: Lock) -> None:
        lines = [FulfilmentLine(sku=ln.sku, qty=ln.qty) for ln in ret.lines]
        change = self.store.change()
        if ret.location.startswith("dc-"):
            receipt = await self.backends.receipt(
                ReceiptRequest(
                    ref=ret.id, location=ret.location, lines=lines, reason=(ret.reason or "customer return")[:200]
                )
            )
            ret.document_id = receipt.wms_id
            if receipt.status == "received":  # the receipt event was handled before this answer was written
                self._receive(change, ret, {ln.sku: ln.qty for ln in receipt.lines}, "wms", receipt.wms_id)
            else:
                ret.step = ReturnStep.AWAIT_RECEIPT
                self.note(
                    change,
                    ret,
                    "wms",
                    f"return {ret.id}: receipt expected at {ret.location}",
                    document_id=receipt.wms_id,
                )
        else:
            order = await self.store.order(ret.order_id)
            assert order is not None
            taken = await self.backends.store_return(
                StoreReturnRequest(
                    ref=ret.id, store=ret.location, order_ref=ret.order_id, lines=ret.lines, currency=order.currency
                )
            )
            ret.document_id = taken.pos_id
            counted: Counter[str] = Counter()
            for line in taken.lines:
                counted[line.sku] += line.qty
            self._receive(change, ret, dict(counted), "pos", taken.pos_id)
        await self.save(ret, lock, change)

    def _receive(
        self, change: Change, ret: ReturnRecord, received: dict[str, int], system: str, document_id: str
    ) -> None:
        """What arrived (per SKU) decides the return's state and what is refunded."""
        ret.received = dict(received)
        requested: Counter[str] = Counter()
        for line in ret.lines:
            requested[line.sku] += line.qty
        short = {sku: qty - received.get(sku, 0) for sku, qty in requested.items() if received.get(sku, 0) < qty}
        surplus = {sku: qty - requested.get(sku, 0) for sku, qty in received.items() if qty > requested.get(sku, 0)}
        got, asked = sum(min(received.get(s, 0), q) for s, q in requested.items()), sum(requested.values())
        if surplus:
            log.warning(
                "return %s: %s received more than was returned: %s (refunded no more than requested)",
                ret.id,
                system,
                surplus,
            )
            self.note(
                change,
                ret,
                system,
                f"return {ret.id}: {sum(surplus.values())} unit(s) more than requested "
                f"received ({', '.join(f'{s} +{q}' for s, q in sorted(surplus.items()))}): reported, not "
                "refunded",
                document_id=document_id,
            )
        ret.step = ReturnStep.CREDIT if got else ReturnStep.AWAIT_CLOSE
        if not short:
            self.transition(change, ret, "return_received", system, document_id=document_id)
            self.transition(
                change,
                ret,
                "restocked",
                system,
                document_id=document_id,
                detail=f"return {ret.id}: back on hand at {ret.location}",
            )
            return
        self.transition(
            change,
            ret,
            "partially_received",
            system,
            document_id=document_id,
            detail=f"return {ret.id}: {got} of {asked} unit(s) received",
        )
        if not got:
            change.due(member(ret.order_id, ret.id), self._closing_ms(ret))

    def _closing_ms(self, ret: ReturnRecord) -> int:
        return int(ret.created_at.timestamp() * 1000 + self.settings.orders_return_close_days * DAY_MS)

    async def settle_receipts(self, order_id: str, lock: Lock) -> None:
        """Apply the ``receipt.received`` facts parked against the order to its returns (the caller holds the
        order's lock). A receipt may come before the return recorded its announcement: it is applied anyway,
        since the WMS received the goods."""
        for event in await self.store.parked(order_id):
            if event.type != "receipt.received":
                continue
            fact = msgspec.convert(event.payload, ReceiptReceived, strict=False)
            change = self.store.change().hdel(self.store.keys.facts(order_id), event.id)
            ret = await self.store.ret(fact.receipt_ref)
            if ret is None or ret.step not in (ReturnStep.ANNOUNCE, ReturnStep.AWAIT_RECEIPT):
                await self.store.apply(lock, change)  # not a return of ours, or already received: done with it
                continue
            counted: Counter[str] = Counter()
            for line in fact.lines:
                counted[line.sku] += line.qty
            change.due(member(ret.order_id, ret.id), now_ms() + self.store.lock_ttl_ms)
            self._receive(change, ret, dict(counted), event.source, ret.document_id or fact.receipt_ref)
            await self.save(ret, lock, change)
            await self.drive(ret, lock)

    async def _credit(self, ret: ReturnRecord, lock: Lock) -> None:
        order = await self.store.order(ret.order_id)
        if order is None:
            raise not_found(f"order {ret.order_id}")
        lines = credited_lines(ret)
        memo = await self.backends.credit_memo(
            CreditMemoRequest(
                ref=ret.id,
                order_ref=ret.order_id,
                customer_id=order.customer.id,
                customer_name=order.customer.name,
                currency=order.currency,
                lines=lines,
                reason=(ret.reason or "customer return")[:200],
            )
        )
        ret.credit_memo = memo.name
        ret.waiting = None
        change = self.store.change()
        units = sum(ln.qty for ln in lines)
        if ret.state == "partially_received":
            ret.step = ReturnStep.AWAIT_CLOSE
            self.note(
                change,
                ret,
                "erp",
                f"return {ret.id}: credit memo for the {units} unit(s) received",
                document_id=memo.name,
            )
            change.due(member(ret.order_id, ret.id), self._closing_ms(ret))
        else:
            ret.step = ReturnStep.DONE
            self.transition(
                change,
                ret,
                "refunded",
                "erp",
                document_id=memo.name,
                detail=f"return {ret.id}: credit memo for {units} unit(s)",
            )
        await self.save(ret, lock, change)

    async def _close(self, ret: ReturnRecord, lock: Lock) -> None:
        """The rest of a partial return never came: close it short, and say so."""
        requested = sum(ln.qty for ln in ret.lines)
        got = sum(ln.qty for ln in credited_lines(ret))
        log.warning("return %s closed short: %d of %d unit(s) received", ret.id, got, requested)
        ret.step = ReturnStep.DONE
        change = self.store.change()
        self.transition(
            change,
            ret,
            "closed",
            "orders",
            detail=f"return {ret.id}: closed short, {got} of {requested} unit(s) received and refunded",
        )
        await self.save(ret, lock, change)

    async def resume(self, ret: ReturnRecord, lock: Lock) -> ReturnRecord:
        """The retry worker's entry: a partial return whose closing time has come moves on to ``close``."""
        if ret.step == ReturnStep.AWAIT_CLOSE and now_ms() >= self._closing_ms(ret):
            ret.step = ReturnStep.CLOSE
        return await self.drive(ret, lock)

    async def _refused(self, ret: ReturnRecord, lock: Lock, exc: Refused) -> None:
        """A back-end refused the return (an unknown DC, say): it ends rejected and the quantities are free."""
        system = SYSTEM_OF.get(exc.upstream, exc.upstream)
        order = await self.store.order(ret.order_id)
        change = self.store.change()
        if order is not None:
            order.unbook_return(ret)
            change.put(self.store.keys.order(order.id), order)
        ret.step = ReturnStep.DONE
        ret.waiting = f"{system} refused: {exc.detail}"
        self.transition(change, ret, "rejected", system, detail=ret.waiting)
        await self.save(ret, lock, change)


RETURN_STEPS = {
    ReturnStep.ANNOUNCE: Returns._announce,
    ReturnStep.CREDIT: Returns._credit,
    ReturnStep.CLOSE: Returns._close,
}
