"""The collaborators of system-erp, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from services.system.erp.connector import OdooConnector
from services.system.erp.price_feed import PriceFeed
from shared.deps import Wiring


@dataclass(frozen=True, slots=True)
class Parts:
    erp: OdooConnector
    price_feed: PriceFeed


WIRING = Wiring("erp_parts", Parts)
