"""Where process-availability keeps its state in Redis: one place, so every module and Lua script agrees.

Layout (``K`` = ``<key_prefix>omnigate.availability:``):

- ``K sku:<sku>`` hash, one per SKU, every location in it, so a single-SKU read is one HGETALL. Fields are
  ``<location>|<term>``: ``oh`` on hand, ``it`` in transit, ``ss`` safety stock, ``rs`` reserved, ``t`` as_of of
  the on-hand figure (epoch ms), ``rt`` as_of of the reserved figure, ``src`` the system of record.
- ``K locations`` hash location id -> canonical Location JSON; ``K ship-locations`` set of the stores that ship
  (DCs always ship, by their ``dc-`` prefix).
- ``K built`` the time the start-up projection finished; ``K fresh`` the time up to which the event consumers
  had applied every event (staleness is measured from it).
- ``K res:<order id>`` hash, one reservation set; ``K res-expiry`` sorted set of held sets by deadline.
- ``K applied:<event id>`` marks a fact applied once (deltas never apply twice, even if re-delivered).
- ``K prices`` hash sku -> Price JSON (``K prices:next`` while a sync runs, with ``K prices:next-differed``, the
  set of SKUs whose synced price differed from the one held when the sync read it); ``K prices:touched`` set of
  the SKUs ``price.changed`` events wrote since the last sync swap; ``K prices-meta`` hash.
- ``K recon:<id>`` one reconciliation report.
"""

from __future__ import annotations

NAME = "process-availability"
GROUP = "process-availability"
DOMAIN = "availability"
# Prices' stream: system-erp's ``price.changed`` come in on it, our ``price.applied`` go out on it (price_event.lua).
CATALOG = "catalog"


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.base = f"{prefix}omnigate.availability:"
        self.locations = self.base + "locations"
        self.ship_locations = self.base + "ship-locations"
        self.built = self.base + "built"
        self.fresh = self.base + "fresh"
        self.res_expiry = self.base + "res-expiry"
        self.prices = self.base + "prices"
        self.prices_next = self.base + "prices:next"
        self.prices_next_differed = self.base + "prices:next-differed"
        self.prices_touched = self.base + "prices:touched"
        self.prices_meta = self.base + "prices-meta"

    def sku(self, sku: str) -> str:
        return f"{self.base}sku:{sku}"

    def reservation(self, order_id: str) -> str:
        return f"{self.base}res:{order_id}"

    def applied(self, event_id: str) -> str:
        return f"{self.base}applied:{event_id}"

    def reconciliation(self, recon_id: str) -> str:
        return f"{self.base}recon:{recon_id}"
