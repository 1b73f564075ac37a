"""The collaborators of system-wms, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from services.system.wms.connector import WmsConnector
from services.system.wms.inventory_feed import InventoryFeed
from shared.deps import Wiring
from shared.events import EventBus


@dataclass(frozen=True, slots=True)
class Parts:
    wms: WmsConnector
    bus: EventBus
    inventory_feed: InventoryFeed


WIRING = Wiring("wms", Parts)
