"""The collaborators of system-erp, built once by app.py's lifespan and provided to handlers by type."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from services.system.erp.connector import OdooConnector
from services.system.erp.price_feed import PriceFeed
from shared.deps import provide


@dataclass(frozen=True, slots=True)
class Parts:
    erp: OdooConnector
    price_feed: PriceFeed


def parts(state: State) -> Parts:
    found: Parts = state.erp_parts
    return found


DEPENDENCIES = provide("erp_parts", Parts)
