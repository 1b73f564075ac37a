"""The collaborators of system-wms, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from litestar.di import Provide

from services.system.wms.connector import WmsConnector
from shared.events import EventBus


@dataclass(frozen=True, slots=True)
class Parts:
    wms: WmsConnector
    bus: EventBus


def parts(state: State) -> Parts:
    found: Parts = state.wms
    return found


def wms(state: State) -> WmsConnector:
    return parts(state).wms


def bus(state: State) -> EventBus:
    return parts(state).bus


DEPENDENCIES = {fn.__name__: Provide(fn, sync_to_thread=False) for fn in (wms, bus)}
