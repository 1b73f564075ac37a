"""A state change is one call: the record, its timeline entry, its outbox event and its place in the due set,
written together, fenced by the record's lock (DESIGN §4, §6; eShop's ``SaveEntitiesAsync``).

A :class:`Change` is built up - ``put`` the record (``create=True`` refuses to replace an existing one), a
``transition`` (the state, a timeline entry and the lifecycle event in one), ``due``/``not_due`` for the retry
worker's sorted set - and :func:`apply` runs it as one Lua script: the lock is checked (or taken) first, every
refusal is checked before anything is written, then everything is written. An event exists if and only if its
change does; the outbox relay publishes it later.

Lifecycle events have their own identity: ``<source>:<record id>:<seq>:<state>``, where ``seq`` counts the
record's transitions, so entering a state twice is two events, and re-publishing one transition (a relay that
crashed before deleting it) is the same event, which the bus de-duplicates.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared import scripts
from shared.clock import utcnow
from shared.locks import Fenced, Lock
from shared.models.events import Event
from shared.models.orders import TimelineEntry

_encoder = msgspec.json.Encoder()


class Exists(Exception):
    """A change that creates a record found one already there: nothing was written."""


class Locked(Exception):
    """A change that takes the lock found it held by another: nothing was written."""


class Record(Protocol):
    """What a record needs for :meth:`Change.transition`."""

    id: str
    state: Any
    seq: int
    updated_at: Any
    correlation_id: str | None


class Change:
    def __init__(self, *, outbox: str, due: str) -> None:
        self.outbox = outbox
        self.due_key = due
        self.keys: list[str] = []
        self.args: list[str | bytes | int | float] = []

    def _key(self, key: str) -> int:
        try:
            return self.keys.index(key) + 2
        except ValueError:
            self.keys.append(key)
            return len(self.keys) + 1

    def put(self, key: str, record: msgspec.Struct, *, create: bool = False) -> Change:
        self.args += ["CREATE" if create else "SET", self._key(key), _encoder.encode(record)]
        return self

    def append(self, key: str, value: msgspec.Struct) -> Change:
        self.args += ["RPUSH", self._key(key), _encoder.encode(value)]
        return self

    def zadd(self, key: str, score: float, member: str) -> Change:
        self.args += ["ZADD", self._key(key), score, member]
        return self

    def zrem(self, key: str, member: str) -> Change:
        self.args += ["ZREM", self._key(key), member]
        return self

    def hset(self, key: str, field: str, value: str | bytes) -> Change:
        self.args += ["HSET", self._key(key), field, value]
        return self

    def hdel(self, key: str, field: str) -> Change:
        self.args += ["HDEL", self._key(key), field]
        return self

    def delete(self, key: str) -> Change:
        self.args += ["DEL", self._key(key)]
        return self

    def event(self, domain: str, event: Event) -> Change:
        self.args += ["XADD", self._key(self.outbox), domain, _encoder.encode(event)]
        return self

    def due(self, member: str, at_ms: int) -> Change:
        return self.zadd(self.due_key, at_ms, member)

    def not_due(self, member: str) -> Change:
        return self.zrem(self.due_key, member)

    def transition(
        self,
        record: Record,
        state: str,
        *,
        timeline: str,
        entry: TimelineEntry,
        domain: str,
        source: str,
        event_type: str,
        payload: dict[str, object],
    ) -> Change:
        """``record`` enters ``state``: its transition count, the timeline entry and the lifecycle event.
        The caller puts the record itself (it may change more than its state in the same change)."""
        record.state = state
        record.seq += 1
        record.updated_at = entry.at
        self.append(timeline, entry)
        return self.event(
            domain,
            Event(
                id=f"{source}:{record.id}:{record.seq}:{state}",
                type=event_type,
                occurred_at=entry.at,
                source=source,
                correlation_id=record.correlation_id,
                key=record.id,
                payload=payload,
            ),
        )

    def unlock_unless(self, key: str) -> Change:
        """Release the lock in the same script as this last write of the holder's turn, unless ``key`` exists
        (something parked there waits for the holder): one round trip fewer on the common path."""
        self.args += ["UNLOCK_IF_EMPTY", self._key(key)]
        return self


class Changes:
    """Applies :class:`Change`s on one Redis."""

    def __init__(self, redis: Redis) -> None:
        self._script = scripts.kernel(redis, "change")

    async def apply(self, lock: Lock, change: Change, *, acquire: bool = False) -> None:
        """Write ``change`` fenced by ``lock`` (or taking it, ``acquire``); raises :class:`Fenced`,
        :class:`Locked` or :class:`Exists`, in which case nothing was written."""
        try:
            outcome = await self._script(
                keys=[lock.key, *change.keys], args=[lock.value, lock.ttl_ms, "1" if acquire else "0", *change.args]
            )
        except ResponseError as exc:
            text = str(exc)
            if "FENCED" in text:
                lock.held = False
                raise Fenced(lock.key) from None
            if "LOCKED" in text:
                raise Locked(lock.key) from None
            if "EXISTS" in text:
                raise Exists(lock.key) from None
            raise
        if acquire:
            lock.adopt()
        if outcome == 2:
            lock.held = False  # released by the change itself


def now_entry(
    state: str,
    system: str,
    *,
    document_id: str | None = None,
    correlation_id: str | None = None,
    detail: str | None = None,
) -> TimelineEntry:
    return TimelineEntry(
        at=utcnow(), state=state, system=system, document_id=document_id, correlation_id=correlation_id, detail=detail
    )
