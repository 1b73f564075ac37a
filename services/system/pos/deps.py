"""The collaborators of system-pos, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from services.system.pos.connector import SquareConnector
from services.system.pos.pickups import Pickups, StoreReturns
from shared.deps import Wiring
from shared.events import EventBus


@dataclass(frozen=True, slots=True)
class Parts:
    pos: SquareConnector
    pickups: Pickups
    store_returns: StoreReturns
    bus: EventBus


WIRING = Wiring("pos_parts", Parts)
