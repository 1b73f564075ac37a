"""ShipBob's stock changes as ``inventory.counted`` events: a leased poll of the inventory history, by cursor.

ShipBob sends no stock webhooks (2026-01 has no inventory or receiving topic), but documents an inventory history
per fulfilment centre (``POST /2026-01/inventory/history:query``: every movement of on-hand, with an increasing
``inventory_audit_event_id`` to page by). One replica polls it (kernel lease, fenced cursor writes): for each
centre it reads the movements past its cursor, then the current levels of the items they moved, and publishes
one absolute ``inventory.counted`` per item and centre, stamped with the time of that read (ShipBob's levels carry
no time of their own). Picks for orders and return restocks are left out: ShipBob reports them by webhook
(``order.shipped``, ``return.completed``), which the projection applies as moves; a count read after them
includes them and a move older than the count no longer applies, so nothing is subtracted twice. Event ids name
the centre, the last movement read and the SKU, so a round repeated after a crash publishes nothing twice (the
bus dedupes) before the cursor moves. The first round starts from the time it runs: the projection's own build
reads the levels as they were.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis.asyncio import Redis

from services.system.wms.connector import WmsConnector
from services.system.wms.mapping import SOURCE
from shared import replies
from shared.events import EventBus
from shared.lease import Lease
from shared.models.events import Event, InventoryCounted, event_payload

log = logging.getLogger("omnigate.system.wms.inventory_feed")

DOMAIN = "inventory"
# Movements ShipBob reports by webhook as facts of their own (shipment.dispatched, receipt.received).
REPORTED_ELSEWHERE = frozenset({"OrderPicked", "InventoryRestocked"})
MAX_PAGES = 20


class InventoryFeed:
    def __init__(self, wms: WmsConnector, bus: EventBus, redis: Redis, *, prefix: str) -> None:
        self.wms = wms
        self.bus = bus
        self.redis = redis
        self.cursor_key = f"{prefix}omnigate.wms:inventory-feed-cursor"

    async def poll(self, lease: Lease) -> int:
        """One round over every fulfilment centre; returns how many counts were published."""
        cursors = {replies.text(k): replies.text(v) for k, v in (await self.redis.hgetall(self.cursor_key)).items()}
        published = 0
        for centre in sorted((await self.wms.locations()).by_id):
            field = str(centre)
            if field not in cursors:
                if await lease.fence_ok():
                    await self.redis.hset(self.cursor_key, field, f"0|{datetime.now(UTC).isoformat()}")
                continue
            after, _, since = cursors[field].partition("|")
            published += await self._centre(lease, centre, int(after), since)
        return published

    async def _centre(self, lease: Lease, centre: int, after: int, since: str) -> int:
        published = 0
        for _ in range(MAX_PAGES):
            page = await self.wms.inventory_history(centre, after, since)
            events = page.data or []
            if not events:
                return published
            last = max(e.inventory_audit_event_id for e in events)
            moved = sorted({e.inventory_id for e in events if e.event_category not in REPORTED_ELSEWHERE})
            if moved:
                published += await self._publish_levels(centre, moved, last)
            if not await lease.fence_ok():
                return published
            await self.redis.hset(self.cursor_key, str(centre), f"{last}|{since}")
            after = last
            if page.next is None:
                return published
        return published

    async def _publish_levels(self, centre: int, inventory_ids: list[int], last: int) -> int:
        as_of = datetime.now(UTC)
        locations = await self.wms.locations()
        location = locations.location(centre)
        published = 0
        for start in range(0, len(inventory_ids), 100):
            for levels in await self.wms.levels_of(inventory_ids[start : start + 100], centre):
                for q in levels.locations or []:
                    if q.location_id != centre or not levels.sku:
                        continue
                    counted = InventoryCounted(
                        sku=levels.sku, location=location, on_hand=max(0, q.on_hand_quantity), as_of=as_of
                    )
                    event = Event(
                        id=f"{SOURCE}:history:{centre}:{last}:{levels.sku}",
                        type="inventory.counted",
                        occurred_at=as_of,
                        source=SOURCE,
                        key=f"{levels.sku}@{location}",
                        payload=event_payload(counted),
                    )
                    if await self.bus.publish(DOMAIN, event):
                        published += 1
        return published
