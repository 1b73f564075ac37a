"""The collaborators of system-wms, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from services.system.wms.connector import WmsConnector
from shared.deps import Wiring
from shared.events import EventBus


@dataclass(frozen=True, slots=True)
class Parts:
    wms: WmsConnector
    bus: EventBus


WIRING = Wiring("wms", Parts)
