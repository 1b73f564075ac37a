"""Driving a record through its steps: the one mechanism under the order saga (saga.py) and a return (returns.py).

Both keep their next step on the record and run one step at a time under the order's lock; a step writes the
record again, with the step after it, in one kernel state change (``shared.changes``) that carries its timeline
entries (on the order's timeline: a return's entries sit among its order's) and its lifecycle events
(``<kind>.<state>`` on ``<kind>s``). A failure means the same to both: a back-end's refusal (4xx) is the kind's own
turn (reject, compensate); an upstream away (5xx, timeout, open breaker) is the kind's to handle, by parking the
record in the due set for a retry after a backoff (:meth:`Driver._retry`) unless it can end it now; a lost lock
(``Fenced``) means another driver holds the record and continues it. What differs by kind - the steps, where the
record is stored, its member of the due set, its event payload, when it stops - is each subclass's.
"""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from services.process.orders.backends import Refused
from services.process.orders.records import OrderRecord, ReturnRecord
from services.process.orders.settings import OrdersSettings
from services.process.orders.store import Store
from shared.changes import Change, now_entry
from shared.clock import now_ms, utcnow
from shared.locks import Fenced, Lock
from shared.models.orders import TimelineEntry
from shared.problems import ProblemError

log = logging.getLogger("omnigate.orders.driver")

R = TypeVar("R", OrderRecord, ReturnRecord)


def backoff_s(attempts: int, base: float, cap: float) -> float:
    delay = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay * random.uniform(0.8, 1.2)


class Driver(ABC, Generic[R]):
    kind: ClassVar[str]  # "order" or "return": its events are ``<kind>.<state>`` on the ``<kind>s`` domain

    def __init__(self, store: Store, settings: OrdersSettings) -> None:
        self.store = store
        self.settings = settings

    # --- what differs by kind ---------------------------------------------------------------------------------

    @abstractmethod
    def _key(self, record: R) -> str:
        """Where the record is stored."""

    @abstractmethod
    def _member(self, record: R) -> str:
        """The record's member of the due set (the retry worker tells the kinds apart by it)."""

    @abstractmethod
    def _order_id(self, record: R) -> str:
        """The order whose timeline the record's entries go on."""

    @abstractmethod
    def _payload(self, record: R, state: str) -> dict[str, object]:
        """The lifecycle event's payload when the record enters ``state``."""

    @abstractmethod
    def _settled(self, record: R) -> bool:
        """Nothing is left for the retry worker: the save that finds it so takes the record out of the due set."""

    def _stops(self, record: R) -> bool:
        """The driver stops here: settled (a kind may also stop where it waits for a fact or a time)."""
        return self._settled(record)

    @abstractmethod
    async def _step(self, record: R, lock: Lock) -> None:
        """Run the record's next step."""

    @abstractmethod
    async def _refused(self, record: R, lock: Lock, exc: Refused) -> None:
        """A back-end refused the step."""

    @abstractmethod
    async def _transient(self, record: R, lock: Lock, exc: ProblemError) -> bool:
        """An upstream is away (or busy with this record's document); True if the record was parked for a retry."""

    # --- writes -----------------------------------------------------------------------------------------------

    def _entry(self, record: R, state: str, system: str, document_id: str | None, detail: str | None) -> TimelineEntry:
        return now_entry(state, system, document_id=document_id, correlation_id=record.correlation_id, detail=detail)

    def transition(
        self,
        change: Change,
        record: R,
        state: str,
        system: str,
        *,
        document_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        change.transition(
            record,
            state,
            timeline=self.store.keys.timeline(self._order_id(record)),
            entry=self._entry(record, state, system, document_id, detail),
            domain=f"{self.kind}s",
            source=f"{self.kind}s",
            event_type=f"{self.kind}.{state}",
            payload=self._payload(record, state),
        )

    def note(self, change: Change, record: R, system: str, detail: str, *, document_id: str | None = None) -> None:
        """A timeline entry that is not a transition (a document found, a fact that changes nothing yet)."""
        change.append(
            self.store.keys.timeline(self._order_id(record)),
            self._entry(record, record.state, system, document_id, detail),
        )

    def _last_write(self, change: Change, record: R) -> None:
        """What the save of a settled record adds to its change: it leaves the due set."""
        change.not_due(self._member(record))

    async def save(self, record: R, lock: Lock, change: Change, *, acquire: bool = False, create: bool = False) -> None:
        record.updated_at = utcnow()
        change.put(self._key(record), record, create=create)
        if self._settled(record):
            self._last_write(change, record)
        await self.store.apply(lock, change, acquire=acquire)

    def _retry(self, record: R, exc: ProblemError) -> tuple[Change, float]:
        """Count an attempt and park the record for the next one: the change that puts it in the due set after a
        backoff (at least the upstream's ``Retry-After``), and that delay in seconds."""
        record.attempts += 1
        delay = backoff_s(record.attempts, self.settings.orders_retry_base_s, self.settings.orders_retry_max_s)
        if exc.retry_after:
            delay = max(delay, float(exc.retry_after))
        return self.store.change().due(self._member(record), now_ms() + int(delay * 1000)), delay

    # --- driving ----------------------------------------------------------------------------------------------

    async def _run(self, record: R, lock: Lock) -> bool:
        """Run the record's steps until it :meth:`_stops` or is parked for a retry; False if the lock was lost
        (another driver continues it). A 4xx that is not a back-end's refusal is raised."""
        try:
            while not self._stops(record):
                if await self._advance(record, lock):
                    break
        except Fenced:  # from a step or from saving its outcome (a refusal, a parked retry)
            log.warning("%s %s: lock lost; another driver continues it", self.kind, record.id)
            return False
        return True

    async def _advance(self, record: R, lock: Lock) -> bool:
        """One step and the handling of its outcome; True if the record was parked for a retry."""
        try:
            await self._step(record, lock)
        except Refused as exc:
            await self._refused(record, lock, exc)
        except ProblemError as exc:
            if exc.status < 500:
                raise
            return await self._transient(record, lock, exc)
        return False
