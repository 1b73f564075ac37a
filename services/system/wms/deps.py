"""The collaborators of system-wms, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from services.system.wms.connector import WmsConnector
from shared.deps import provide
from shared.events import EventBus


@dataclass(frozen=True, slots=True)
class Parts:
    wms: WmsConnector
    bus: EventBus


def parts(state: State) -> Parts:
    found: Parts = state.wms
    return found


DEPENDENCIES = provide("wms", Parts)
