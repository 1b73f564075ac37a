"""Price changes in the ERP as events: ``price.changed`` on the ``catalog`` stream.

Odoo sends no webhooks, so the feed polls what real Odoo integrations poll: products whose ``write_date`` is
past the feed's cursor, in (write_date, id) order. It runs under a lease (one replica polls), publishes each
change with an id made of the product and its write date (a re-poll after a crash publishes nothing twice:
the bus dedupes), and only then moves the cursor. The first round starts from the newest change in the ERP
rather than replaying the whole catalogue: consumers take the catalogue from a full price sync.
Odoo stamps ``write_date`` to the second, so the cursor is (write_date, id) with ties broken by id.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from services.system.erp import mapping
from services.system.erp.connector import ALL_RECORDS, DEFAULT_CURRENCY, OdooConnector
from services.system.erp.mapping import PRODUCT_FIELDS, OdooProduct
from shared import replies
from shared.events import EventBus
from shared.lease import Lease
from shared.models.events import Event, event_payload

log = logging.getLogger("omnigate.system.erp.price_feed")

DOMAIN = "catalog"
PAGE = 500


class PriceFeed:
    def __init__(self, erp: OdooConnector, bus: EventBus, redis: Redis, *, prefix: str) -> None:
        self.erp = erp
        self.bus = bus
        self.redis = redis
        self.cursor_key = f"{prefix}omnigate.erp:price-feed-cursor"

    async def _cursor(self) -> tuple[str, int] | None:
        raw = await self.redis.hmget(self.cursor_key, ["write_date", "id"])
        if raw[0] is None or raw[1] is None:
            return None
        return replies.text(raw[0]), int(raw[1])

    async def _start_cursor(self) -> tuple[str, int] | None:
        newest = await self.erp.search_read(
            "product.product",
            OdooProduct,
            [],
            ["write_date"],
            limit=1,
            order="write_date desc, id desc",
            context=ALL_RECORDS,
        )
        if not newest or not newest[0].write_date:
            return None
        return str(newest[0].write_date), newest[0].id

    async def poll(self, lease: Lease) -> int:
        """One round: publish every price change past the cursor; returns how many were published."""
        cursor = await self._cursor()
        if cursor is None:
            cursor = await self._start_cursor()
            if cursor is not None and await lease.fence_ok():
                await self.redis.hset(self.cursor_key, mapping={"write_date": cursor[0], "id": cursor[1]})
            return 0
        published = 0
        while True:
            written, last_id = cursor
            domain: list[Any] = [
                "|",
                ["write_date", ">", written],
                "&",
                ["write_date", "=", written],
                ["id", ">", last_id],
            ]
            changed = await self.erp.search_read(
                "product.product",
                OdooProduct,
                domain,
                PRODUCT_FIELDS,
                limit=PAGE,
                order="write_date asc, id asc",
                context=ALL_RECORDS,
            )
            for product in changed:
                if product.default_code and product.write_date:
                    price = mapping.price(product, DEFAULT_CURRENCY)
                    event = Event(
                        id=f"erp:price:{product.id}:{product.write_date}",
                        type="price.changed",
                        occurred_at=price.as_of,
                        source="erp",
                        key=price.sku,
                        payload=event_payload(price),
                    )
                    if await self.bus.publish(DOMAIN, event):
                        published += 1
            if not changed:
                return published
            last = changed[-1]
            cursor = (str(last.write_date), last.id)
            if not await lease.fence_ok():
                return published  # a newer holder polls on; our events were deduped or theirs will be
            await self.redis.hset(self.cursor_key, mapping={"write_date": cursor[0], "id": cursor[1]})
            if len(changed) < PAGE:
                return published
