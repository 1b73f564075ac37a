"""The stock projection: built once at start from system-API snapshots, kept fresh from the event streams.

Build: one replica (under a lease) pages through every DC's stock (system-wms) and every store's stock
(system-pos) and writes it with ``snapshot.lua``; the others wait for the ``built`` mark. The consumer group is
created *before* the build reads anything, so every event published from then on is delivered; events the
snapshot already includes are harmless (absolute counts apply only if newer, deltas only if the projection's
as_of predates them).

Fresh: every worker is one consumer of the group on ``inventory`` and ``fulfilment``; each fact is applied by
``apply.lua`` (once per event id, with the reservation it settles and the availability.changed it causes).

Store pickups (DESIGN §4, "Store stock promised to pickups"): ``pickup.held`` carries the POS's absolute counts
after the units left the till; they and the release of the order's allocation for those lines are one update, so
the units are subtracted once. ``pickup.completed`` moves no on-hand (the POS reports its counts itself) and only
consumes whatever allocation is left, e.g. of a task made before holds existed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis

from services.process.availability import sources
from services.process.availability.keys import GROUP, Keys
from services.process.availability.scripts import Scripts
from services.process.availability.settings import AvailabilitySettings
from services.process.availability.stores import Locations, dc_location
from shared.clock import now_ms, worker_id
from shared.events import Consumer, EventBus
from shared.http import Upstreams
from shared.lease import Lease
from shared.models.events import (
    Event,
    InventoryAdjusted,
    InventoryCounted,
    PickupCompleted,
    PickupHeld,
    ReceiptReceived,
    ShipmentDispatched,
)
from shared.models.fulfilment import FulfilmentLine
from shared.models.inventory import StockPosition

log = logging.getLogger("omnigate.availability.projection")
DOMAINS = ("inventory", "fulfilment")
BATCH = 500
SPLIT_REF = re.compile(r"^(.+)-\d+$")
# Sources that stamp with whole seconds (the WMS): see apply.lua's `inclusive`.
SECOND_PRECISION = frozenset({"wms"})


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def safety_stock(settings: AvailabilitySettings, location: str) -> int:
    return (
        settings.availability_dc_safety_stock
        if location.startswith("dc-")
        else settings.availability_store_safety_stock
    )


def _lines(lines: list[FulfilmentLine]) -> list[dict[str, object]]:
    return [{"sku": line.sku, "qty": line.qty} for line in lines]


@dataclass(frozen=True, slots=True)
class Fact:
    """What one event means to the projection: apply.lua's ``op`` at a location with that op's own fields, the
    payload's own stamp if it carries one (else the event's), and the fulfilment ref whose reservations it settles.
    """

    op: str
    location: str
    fields: dict[str, object]
    as_of: datetime | None = None
    ref: str | None = None


P = TypeVar("P", bound=msgspec.Struct)


def reading(payload: type[P], fact: Callable[[P], Fact]) -> Callable[[Event], Fact]:
    """Read an event's payload as ``payload`` (lax, as it crossed JSON) and say what it means."""
    return lambda event: fact(msgspec.convert(event.payload, payload, strict=False))


# Event type -> its fact. `inclusive` goes with every change, but only moves (delta, ship, receive) read it.
FACTS: dict[str, Callable[[Event], Fact]] = {
    "inventory.counted": reading(
        InventoryCounted, lambda c: Fact("count", c.location, {"sku": c.sku, "on_hand": c.on_hand}, as_of=c.as_of)
    ),
    "inventory.adjusted": reading(
        InventoryAdjusted, lambda a: Fact("delta", a.location, {"sku": a.sku, "delta": a.delta}, as_of=a.as_of)
    ),
    "shipment.dispatched": reading(
        ShipmentDispatched, lambda s: Fact("ship", s.location, {"lines": _lines(s.lines)}, ref=s.order_ref)
    ),
    "pickup.held": reading(
        PickupHeld,
        lambda h: Fact(
            "hold",
            h.store,
            {
                "lines": _lines(h.lines),
                "counts": [
                    {"sku": c.sku, "loc": c.location, "on_hand": c.on_hand, "at": ms(c.as_of)} for c in h.counts
                ],
            },
            ref=h.task_ref,
        ),
    ),
    "pickup.completed": reading(
        PickupCompleted, lambda p: Fact("consume", p.store, {"lines": _lines(p.lines)}, ref=p.task_ref)
    ),
    "receipt.received": reading(ReceiptReceived, lambda r: Fact("receive", r.location, {"lines": _lines(r.lines)})),
}


def snapshot_row(settings: AvailabilitySettings, position: StockPosition) -> list[Any]:
    return [
        position.sku,
        position.location,
        position.on_hand,
        position.in_transit,
        safety_stock(settings, position.location),
        ms(position.as_of),
        position.source,
    ]


class Projection:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        scripts: Scripts,
        http: Upstreams,
        settings: AvailabilitySettings,
        locations: Locations,
        bus: EventBus,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.http = http
        self.settings = settings
        self.locations = locations
        self.bus = bus
        self.consumer = Consumer(
            bus,
            group=GROUP,
            name=worker_id(),
            domains=DOMAINS,
            handler=self.apply,
            start_id="$",
            block_ms=500,
            claim_idle_ms=10_000,
        )

    # --- build ---------------------------------------------------------------------------------------------

    async def write_rows(self, rows: list[list[Any]], cause: str = "") -> list[list[Any]]:
        """Write snapshot rows (as_of-guarded); returns [sku, location, old, new] for each changed on-hand."""
        changed: list[list[Any]] = []
        for start in range(0, len(rows), BATCH):
            out = await self.scripts.call("snapshot", [], [msgspec.json.encode(rows[start : start + BATCH]), cause])
            decoded = msgspec.json.decode(out)
            if isinstance(decoded, list):
                changed.extend(decoded)
        return changed

    async def build(self, lease: Lease) -> int:
        """Read every snapshot and write it; returns the number of positions written."""
        stores = await sources.stores(self.http)
        written = 0
        dcs: set[str] = set()
        async for page in sources.dc_stock(self.http):
            dcs.update(p.location for p in page)
            await self._guarded_write(lease, [snapshot_row(self.settings, p) for p in page])
            written += len(page)
        for store in stores:
            async for page in sources.store_stock(self.http, store.id):
                await self._guarded_write(lease, [snapshot_row(self.settings, p) for p in page])
                written += len(page)
        await self.locations.replace([*(dc_location(d) for d in sorted(dcs)), *stores])
        await self.redis.set(self.keys.built, now_ms())
        return written

    async def _guarded_write(self, lease: Lease, rows: list[list[Any]]) -> None:
        if not await lease.renew():
            raise RuntimeError("lost the projection-build lease mid-build")
        await self.write_rows(rows)

    async def ensure_built(self) -> None:
        """Build once per estate: the lease holder builds, the other workers and replicas wait."""
        lease = Lease(self.redis, "availability-build", prefix=self.keys.prefix, ttl_ms=30_000)
        while not await self.redis.exists(self.keys.built):
            if await lease.acquire() is not None:
                try:
                    if not await self.redis.exists(self.keys.built):
                        count = await self.build(lease)
                        log.info("stock projection built: %d positions", count)
                finally:
                    await lease.release()
            else:
                await asyncio.sleep(0.2)

    # --- events ---------------------------------------------------------------------------------------------

    def change_for(self, event: Event) -> tuple[dict[str, object], list[str]] | None:
        """The projection change an event stands for, and the reservation sets it may settle."""
        read = FACTS.get(event.type)
        if read is None:
            return None  # pickup.ready, delivery.completed...: no stock moves
        fact = read(event)
        change: dict[str, object] = {
            "op": fact.op,
            "loc": fact.location,
            "at": ms(fact.as_of or event.occurred_at),
            "inclusive": event.source in SECOND_PRECISION,
            "src": event.source,
            "ss": safety_stock(self.settings, fact.location),
            **fact.fields,
        }
        return change, self._sets(fact.ref) if fact.ref is not None else []

    def _sets(self, ref: str) -> list[str]:
        """The reservation sets a fulfilment ref may settle: the ref's, and the order's a split ref
        ``<order id>-<n>`` stands for."""
        split = SPLIT_REF.match(ref)
        return [self.keys.reservation(ref), self.keys.reservation(split.group(1) if split else ref)]

    async def apply(self, event: Event) -> None:
        found = self.change_for(event)
        if found is None:
            return
        change, sets = found
        if not sets:
            sets = [self.keys.applied(event.id)] * 2  # placeholders: never reservation sets
        await self.scripts.call("apply", [self.keys.applied(event.id), *sets], [event.id, msgspec.json.encode(change)])

    async def consume(self, stop: asyncio.Event) -> None:
        """This worker's consumer: apply events, and mark how fresh the projection is when caught up."""
        while not await self.redis.exists(self.keys.built):
            await asyncio.sleep(0.2)
        await self.consumer.run(stop, drained=self._mark_fresh)

    async def _mark_fresh(self, started_ms: int) -> None:
        await self.redis.set(self.keys.fresh, started_ms)

    async def caught_up(self, timeout_s: float) -> bool:
        """Wait until the group has nothing undelivered or unacknowledged (reconciliation compares after)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            idle = True
            for stream in self.consumer.streams:
                for group in await self.redis.xinfo_groups(stream):
                    if group["name"] in (GROUP, GROUP.encode()) and (group.get("pending") or group.get("lag")):
                        idle = False
            if idle:
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)
