"""The document sweep (DESIGN §4, "Unknown outcomes"): each order's state against the documents the back-ends
hold for it, every mismatch repaired or reported.

For every settled order (its saga done) created in the window, by reference: the ERP's sales orders, the WMS's
fulfilment orders (ship) or the POS's pickup orders (pickup), and for its returns the ERP's credit memos and the
WMS's return receipts. What it repairs is what the saga's own rules say should not exist: a live document behind
an order that ended rejected, failed or cancelled is cancelled (an *orphan*: a create whose answer was lost and
that committed after the compensation), and a second live sales order of one ref is cancelled (a *duplicate*,
which Odoo does not prevent). What it cannot put right (a parcel that shipped behind a cancelled order, a
posted credit memo too many, a document missing behind a live order) is reported. Orders whose saga is still
running are left to the saga, and each order is checked under its lock, so a sweep never races a step.

Runs on a schedule under a lease (``orders_sweep_s``; one replica at a time) and on demand
(``POST /reconciliations/documents``); a report is kept for a week.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec

from services.process.orders.backends import Backends
from services.process.orders.records import AFTER_RELEASE, FINAL, OrderRecord, ReturnStep, Step
from services.process.orders.settings import OrdersSettings
from services.process.orders.store import Store
from shared.clock import utcnow
from shared.lease import Lease
from shared.locks import Lock
from shared.models.orders import (
    DocumentMismatch,
    DocumentReconciliation,
    DocumentReconciliationRequest,
    DocumentSystem,
    MismatchKind,
)
from shared.problems import ProblemError

log = logging.getLogger("omnigate.orders.sweep")
KEEP_S = 7 * 86_400
PAGE = 200
DAY_S = 86_400
LIVE_FULFILMENT = frozenset({"received", "picking", "packed"})
LIVE_PICKUP = frozenset({"proposed", "reserved", "prepared"})
_decoder = msgspec.json.Decoder(DocumentReconciliation)
_encoder = msgspec.json.Encoder()


def new_sweep_id() -> str:
    return uuid.uuid4().hex


class Sweep:
    def __init__(self, store: Store, backends: Backends, settings: OrdersSettings) -> None:
        self.store = store
        self.backends = backends
        self.settings = settings
        self._tasks: set[asyncio.Task[DocumentReconciliation]] = set()

    async def get(self, sweep_id: str) -> DocumentReconciliation | None:
        raw = await self.store.redis.get(self.store.keys.sweep(sweep_id))
        return _decoder.decode(raw) if raw is not None else None

    async def _save(self, report: DocumentReconciliation) -> None:
        await self.store.redis.set(self.store.keys.sweep(report.id), _encoder.encode(report), ex=KEEP_S)

    async def start(self, request: DocumentReconciliationRequest, sweep_id: str) -> DocumentReconciliation:
        """Record a running sweep and run it in the background of this worker."""
        report = DocumentReconciliation(id=sweep_id, state="running", started_at=utcnow())
        await self._save(report)
        task = asyncio.create_task(self.run(report, request), name=f"sweep-{report.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return report

    async def scheduled(self, lease: Lease) -> None:
        """One scheduled round (under the sweep lease)."""
        report = DocumentReconciliation(id=new_sweep_id(), state="running", started_at=utcnow())
        await self._save(report)
        await self.run(report, DocumentReconciliationRequest())

    async def run(
        self, report: DocumentReconciliation, request: DocumentReconciliationRequest
    ) -> DocumentReconciliation:
        mismatches: list[DocumentMismatch] = []
        skipped: list[str] = []
        checked = 0
        async for order_id in self._orders(request):
            lock = self.store.lock(order_id)
            if not await lock.try_acquire():
                skipped.append(order_id)  # a saga step holds it: the saga is in charge
                continue
            try:
                async with lock.kept_alive():
                    record = await self.store.order(order_id)
                    if record is None or record.step != Step.DONE:
                        continue
                    checked += 1
                    mismatches.extend(await self._order(record, lock))
            except ProblemError as exc:
                skipped.append(f"{order_id} ({exc.detail or exc.title})")
            finally:
                await lock.release()
        for mismatch in mismatches:
            log.warning(
                "document sweep %s: order %s %s %s %s: %s%s",
                report.id,
                mismatch.order_id,
                mismatch.system,
                mismatch.kind,
                mismatch.document or "-",
                mismatch.detail,
                " (repaired)" if mismatch.repaired else "",
            )
        report = msgspec.structs.replace(
            report,
            state="done",
            finished_at=utcnow(),
            orders_checked=checked,
            mismatches=mismatches,
            repaired=sum(m.repaired for m in mismatches),
            error=f"{len(skipped)} order(s) not checked: {', '.join(skipped[:20])}" if skipped else None,
        )
        await self._save(report)
        log.info(
            "document sweep %s: %d orders checked, %d mismatches, %d repaired",
            report.id,
            checked,
            len(mismatches),
            report.repaired,
        )
        return report

    async def _orders(self, request: DocumentReconciliationRequest) -> AsyncIterator[str]:
        if request.order_ids is not None:
            for order_id in dict.fromkeys(request.order_ids):
                yield order_id
            return
        since = time.time() - (request.days or self.settings.orders_sweep_days) * DAY_S
        offset = 0
        while True:
            page = await self.store.created_since(since, offset, PAGE)
            for order_id in page:
                yield order_id
            if len(page) < PAGE:
                return
            offset += len(page)

    async def _order(self, record: OrderRecord, lock: Lock) -> list[DocumentMismatch]:
        found = await self._sales_orders(record)
        for group in record.groups:
            if record.fulfilment.mode == "pickup":
                found.extend(await self._pickup(record, group.ref))
            else:
                found.extend(await self._fulfilment(record, group.ref))
        for return_id in record.returns:
            found.extend(await self._return(record, return_id))
        return found

    def _mismatch(
        self,
        record: OrderRecord,
        system: DocumentSystem,
        kind: MismatchKind,
        detail: str,
        *,
        document: str | None = None,
        repaired: bool = False,
        return_id: str | None = None,
    ) -> DocumentMismatch:
        return DocumentMismatch(
            order_id=record.id,
            return_id=return_id,
            system=system,
            document=document,
            kind=kind,
            detail=detail,
            repaired=repaired,
        )

    async def _sales_orders(self, record: OrderRecord) -> list[DocumentMismatch]:
        if record.state not in FINAL and record.state not in AFTER_RELEASE:
            return []
        live = [so for so in await self.backends.sales_orders(record.id) if so.state != "cancel"]
        found = []
        if record.state in FINAL:
            for so in live:
                await self.backends.cancel_one_sales_order(record.id, so.erp_id)
                found.append(
                    self._mismatch(
                        record,
                        "erp",
                        "orphan",
                        f"sales order {so.name} ({so.state}) behind an order that is {record.state}: cancelled",
                        document=so.name,
                        repaired=True,
                    )
                )
            return found
        if not live:
            return [
                self._mismatch(record, "erp", "missing", f"no live sales order for an order that is {record.state}")
            ]
        keep = next((so for so in live if so.state in ("sale", "done")), live[0])
        for so in live:
            if so is not keep:
                await self.backends.cancel_one_sales_order(record.id, so.erp_id)
                found.append(
                    self._mismatch(
                        record,
                        "erp",
                        "duplicate",
                        f"sales order {so.name} ({so.state}) duplicates {keep.name}: cancelled",
                        document=so.name,
                        repaired=True,
                    )
                )
        if keep.state not in ("sale", "done"):
            found.append(
                self._mismatch(
                    record,
                    "erp",
                    "unexpected_state",
                    f"sales order {keep.name} is {keep.state}, the order is {record.state}",
                    document=keep.name,
                )
            )
        return found

    async def _fulfilment(self, record: OrderRecord, ref: str) -> list[DocumentMismatch]:
        document = await self.backends.find_fulfilment_order(ref)
        found = (document.wms_id, document.status) if document is not None else None
        return await self._document(
            record,
            "wms",
            f"fulfilment order {ref}",
            found,
            LIVE_FULFILMENT,
            "cancelled",
            lambda: self.backends.cancel_fulfilment_order(ref),
        )

    async def _pickup(self, record: OrderRecord, ref: str) -> list[DocumentMismatch]:
        task = await self.backends.find_pickup_task(ref)
        found = (task.pos_id, task.status) if task is not None else None
        return await self._document(
            record,
            "pos",
            f"pickup {ref}",
            found,
            LIVE_PICKUP,
            "canceled",
            lambda: self.backends.cancel_pickup_task(ref),
        )

    async def _document(
        self,
        record: OrderRecord,
        system: DocumentSystem,
        what: str,
        found: tuple[str, str] | None,
        live: frozenset[str],
        cancelled: str,
        cancel: Callable[[], Awaitable[None]],
    ) -> list[DocumentMismatch]:
        """One fulfilment document (``found`` = its id and status) against the order's state."""
        if record.state in FINAL:
            if found is None or found[1] == cancelled:
                return []
            if found[1] in live:
                await cancel()
                return [
                    self._mismatch(
                        record,
                        system,
                        "orphan",
                        f"{what} ({found[1]}) behind an order that is {record.state}: cancelled",
                        document=found[0],
                        repaired=True,
                    )
                ]
            return [
                self._mismatch(
                    record,
                    system,
                    "not_cancellable",
                    f"{what} is {found[1]} behind an order that is {record.state}",
                    document=found[0],
                )
            ]
        if record.state in AFTER_RELEASE:
            if found is None:
                return [self._mismatch(record, system, "missing", f"no {what} for an order that is {record.state}")]
            if found[1] == cancelled:
                return [
                    self._mismatch(
                        record,
                        system,
                        "unexpected_state",
                        f"{what} is {cancelled}, the order is {record.state}",
                        document=found[0],
                    )
                ]
        return []

    async def _return(self, record: OrderRecord, return_id: str) -> list[DocumentMismatch]:
        ret = await self.store.ret(return_id)
        if ret is None or ret.step not in (ReturnStep.DONE, ReturnStep.AWAIT_CLOSE):
            return []
        found = []
        memos = [m for m in await self.backends.credit_memos(ret.id) if m.state != "cancel"]
        expected = 1 if ret.credit_memo else 0
        if len(memos) > expected:
            found.append(
                self._mismatch(
                    record,
                    "erp",
                    "duplicate",
                    f"{len(memos)} credit memos for return {ret.id}"
                    f" (expected {expected}): a posted credit memo is reversed by finance",
                    document=",".join(m.name for m in memos),
                    return_id=ret.id,
                )
            )
        elif len(memos) < expected:
            found.append(
                self._mismatch(
                    record,
                    "erp",
                    "missing",
                    f"credit memo {ret.credit_memo} of return {ret.id} is not in the ERP",
                    return_id=ret.id,
                )
            )
        if (
            ret.location.startswith("dc-")
            and ret.state != "rejected"
            and await self.backends.find_receipt(ret.id) is None
        ):
            found.append(
                self._mismatch(record, "wms", "missing", f"no receipt {ret.id} at {ret.location}", return_id=ret.id)
            )
        return found
