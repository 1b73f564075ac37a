"""The retry worker: resumes sagas that are due, in every worker of every replica, each saga by one at a time.

Every unfinished saga sits in the due set: an order being driven is due "one lock TTL from now" (so if its
driver dies, it becomes due when the dead driver's lock expires), a parked one at its next attempt, an order
with facts parked against it at once. A worker claims a due saga atomically - still due, lock free, then pushed
out by a TTL and counted - so a saga that a replica has just finished (it left the set before its lock was
released) is never driven again, and two replicas starting together resume each stranded saga once. A restart
therefore needs no special recovery pass: the first rounds of this loop are the recovery.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from services.process.orders.records import ReturnStep, Step
from services.process.orders.returns import Returns
from services.process.orders.saga import Saga
from services.process.orders.store import Store
from services.process.orders.tracking import Facts
from shared import context, outage
from shared.background import run_rounds
from shared.clock import now_ms, worker_id
from shared.locks import Lock

log = logging.getLogger("omnigate.orders.recovery")
BATCH = 100


class RetryWorker:
    def __init__(self, saga: Saga, returns: Returns, facts: Facts) -> None:
        self.saga = saga
        self.returns = returns
        self.facts = facts
        self.store: Store = saga.store
        self.settings = saga.settings
        self.name = worker_id()
        self._active: set[str] = set()
        self._slots = asyncio.Semaphore(max(1, self.settings.orders_retry_concurrency))
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        await run_rounds("orders retry worker", self.round, interval_s=self.settings.orders_retry_poll_s, stop=stop)

    async def round(self) -> int:
        """Claim and start every due saga this worker can take now; returns how many it claimed."""
        await self.store.redis.hset(self.store.keys.workers, self.name, now_ms())
        started = 0
        for due in await self.store.due_members(BATCH):
            if due in self._active:
                continue
            order_id = due.split(":")[1]
            lock = self.store.lock(order_id)
            if not await self.store.claim(due, lock, now_ms() + self.store.lock_ttl_ms):
                continue
            started += 1
            self._active.add(due)
            task = asyncio.create_task(self._resume(due, order_id, lock))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return started

    async def _resume(self, due: str, order_id: str, lock: Lock) -> None:
        try:
            async with self._slots, lock.kept_alive():
                if due.startswith("r:"):
                    await self._resume_return(due, order_id, lock)
                else:
                    await self._resume_order(due, order_id, lock)
        except asyncio.CancelledError:
            raise
        except outage.REDIS_DOWN as exc:
            if outage.cancelled():
                raise asyncio.CancelledError from None
            outage.REDIS.down(exc)  # it stays due: resumed once Redis is back
        except Exception:
            log.exception("resuming %s failed", due)
        finally:
            self._active.discard(due)
            with suppress(*outage.REDIS_DOWN):
                await lock.release()

    async def _resume_order(self, due: str, order_id: str, lock: Lock) -> None:
        record = await self.store.order(order_id)
        if record is not None and record.step != Step.DONE:
            context.begin(record.correlation_id, None)
            log.info("resuming order %s at step %s (state %s)", order_id, record.step, record.state)
            await self.saga.drive(record, lock)
        if not lock.held:
            return  # the saga's last write released the lock (and left the due set): nothing was parked
        await self.facts.settle(order_id, lock)
        record = await self.store.order(order_id)
        if lock.held and (record is None or record.step == Step.DONE):
            await self.store.apply(lock, self.store.change().not_due(due))

    async def _resume_return(self, due: str, order_id: str, lock: Lock) -> None:
        ret = await self.store.ret(due.split(":")[2])
        if ret is None or ret.step in (ReturnStep.DONE, ReturnStep.AWAIT_RECEIPT):
            await self.store.apply(lock, self.store.change().not_due(due))
            return
        context.begin(ret.correlation_id, None)
        log.info("resuming return %s at step %s", ret.id, ret.step)
        await self.returns.resume(ret, lock)
