"""Business purges of the gateway's response cache (gateway/cache.py, DESIGN §5).

process-availability publishes ``availability.changed`` (domain ``availability``) once its projection applied a
change of stock or a reservation, and ``price.applied`` once its price projection applied a new price: each drops
every cached answer tagged with the SKU (``sku:<SKU>``). Raw back-end facts (a POS sale, a WMS count, an ERP price
event) are never purged on: the projection may not have applied them yet, and an answer fetched in between would be
cached stale again.

Every gateway worker of every replica is a member of one consumer group (``gateway-cache``) on the state Redis's
streams, so each event purges once for the whole estate, the cache being one shared Redis; a failed purge is
redelivered by the kernel's consumer (shared/events.py).
"""

from __future__ import annotations

import logging
import re

from gateway.cache import ResponseCache
from shared.models.events import Event

log = logging.getLogger("omnigate.gateway.purge")

GROUP = "gateway-cache"
DOMAINS = ("availability", "catalog")
PURGING = frozenset({"availability.changed", "price.applied"})
_SKU = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class Purger:
    """The consumer's handler: one event, its SKU's cached answers dropped."""

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache

    async def handle(self, event: Event) -> None:
        if event.type not in PURGING:
            return
        sku = event.payload.get("sku")
        if not isinstance(sku, str) or not _SKU.match(sku):
            log.warning("event %s (%s) names no SKU to purge: skipped", event.id, event.type)
            return
        dropped = await self.cache.purge([f"sku:{sku}"])
        log.info("purged %d cached answers of sku %s on %s", dropped, sku, event.type)
