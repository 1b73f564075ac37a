"""The collaborators of system-pos, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from services.system.pos.connector import SquareConnector
from services.system.pos.pickups import Pickups, StoreReturns
from shared.deps import provide
from shared.events import EventBus


@dataclass(frozen=True, slots=True)
class Parts:
    pos: SquareConnector
    pickups: Pickups
    store_returns: StoreReturns
    bus: EventBus


def parts(state: State) -> Parts:
    found: Parts = state.pos_parts
    return found


DEPENDENCIES = provide("pos_parts", Parts)
